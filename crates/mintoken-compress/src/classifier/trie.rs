//! The word lists' spellings as a trie of bytes, walked anchored from a word edge.
//!
//! A walk starts where a word starts and only goes forward, so it needs no failure links:
//! a plain trie is the whole automaton. Most nodes have a child or two: they keep their
//! children's bytes side by side, and a step scans them. The few wide nodes (more than
//! [`NARROW`] children, near the root) have a row indexed by byte class instead, so a step
//! is one load. It replaced aho-corasick's contiguous NFA (issue 9): ~0.4 MB instead of
//! ~3 MB, and fewer instructions per prompt (docs/classifier.md).

use std::collections::HashMap;

/// A node of the trie; [`Trie::ROOT`] is the empty prefix. The [`ENDS`] bit is set on the
/// ids a step returns when a spelling ends at that node, so a walk learns it without a load.
pub(super) type NodeId = u32;

const ENDS: u32 = 1 << 31;

/// `children` of a wide node.
const WIDE: u32 = u32::MAX;

/// No spelling ends at this node.
const NO_PATTERN: u32 = u32::MAX;

/// A node with more children than this gets a row by byte class.
const NARROW: usize = 4;

#[derive(Clone, Copy)]
struct Node {
    /// Where the children start in `labels` and `targets` (narrow nodes), or in `rows`
    /// (wide ones, `children` == [`WIDE`]).
    first: u32,
    children: u32,
}

pub(super) struct Trie {
    nodes: Vec<Node>,
    /// Per node, the index of the spelling that ends there, or [`NO_PATTERN`].
    patterns: Vec<u32>,
    /// Per narrow node, its children's bytes, and the child each leads to.
    labels: Vec<u8>,
    targets: Vec<NodeId>,
    /// Per wide node, its child for each byte class ([`Trie::ROOT`], never a child, for none).
    rows: Vec<NodeId>,
    /// The class of each byte: 0 for bytes in no spelling, then one per distinct byte.
    class: [u16; 256],
    /// The byte of each class (class 0's is never used).
    byte_of: Vec<u8>,
}

impl Trie {
    pub(super) const ROOT: NodeId = 0;

    /// The trie of `texts` (distinct, non-empty); spelling `i` is `texts[i]`.
    pub(super) fn new(texts: &[String]) -> Result<Trie, String> {
        // Built as a map of edges, then laid out flat. Both are one allocation each, large
        // enough to go back to the system when freed (a list per node would stay behind in
        // the heap, resident for nothing).
        let mut child_of: HashMap<(u32, u8), u32> = HashMap::new();
        let mut patterns = vec![NO_PATTERN];
        for (index, text) in texts.iter().enumerate() {
            let mut node = 0;
            for &byte in text.as_bytes() {
                let next = u32::try_from(patterns.len()).ok().filter(|&id| id < ENDS).ok_or("too many trie nodes")?;
                node = *child_of.entry((node, byte)).or_insert_with(|| {
                    patterns.push(NO_PATTERN);
                    next
                });
            }
            let pattern = &mut patterns[node as usize];
            if node == 0 || *pattern != NO_PATTERN {
                return Err(format!("empty or repeated spelling {text:?}"));
            }
            *pattern = u32::try_from(index).map_err(|_| "too many spellings")?;
        }
        let mut edges: Vec<(u32, u8, u32)> =
            child_of.into_iter().map(|((node, label), child)| (node, label, child)).collect();
        edges.sort_unstable();
        let mut class = [0u16; 256];
        let mut byte_of = vec![0u8];
        for &b in texts.iter().flat_map(|t| t.as_bytes()) {
            if class[usize::from(b)] == 0 {
                class[usize::from(b)] = byte_of.len() as u16; // at most 256 + 1 classes
                byte_of.push(b);
            }
        }
        let id = |child: u32| if patterns[child as usize] == NO_PATTERN { child } else { child | ENDS };
        let mut nodes = Vec::with_capacity(patterns.len());
        let (mut labels, mut targets) = (Vec::with_capacity(edges.len()), Vec::with_capacity(edges.len()));
        let mut rows = Vec::new();
        // Offsets below are bounded by the node count (checked above) times the classes.
        let mut rest = edges.as_slice();
        for node in 0..patterns.len() as u32 {
            let (list, after) = rest.split_at(rest.iter().take_while(|&&(parent, ..)| parent == node).count());
            rest = after;
            nodes.push(if list.len() > NARROW {
                let first = rows.len();
                rows.resize(first + byte_of.len(), Trie::ROOT);
                for &(_, label, child) in list {
                    rows[first + usize::from(class[usize::from(label)])] = id(child);
                }
                Node { first: first as u32, children: WIDE }
            } else {
                let first = labels.len() as u32;
                labels.extend(list.iter().map(|&(_, label, _)| label));
                targets.extend(list.iter().map(|&(.., child)| id(child)));
                Node { first, children: list.len() as u32 }
            });
        }
        Ok(Trie { nodes, patterns, labels, targets, rows, class, byte_of })
    }

    /// The child of `node` along `byte`, if a spelling goes on that way.
    pub(super) fn step(&self, node: NodeId, byte: u8) -> Option<NodeId> {
        let Node { first, children } = self.nodes[(node & !ENDS) as usize];
        let first = first as usize;
        if children == WIDE {
            let child = self.rows[first + usize::from(self.class[usize::from(byte)])];
            return (child != Trie::ROOT).then_some(child);
        }
        let labels = &self.labels[first..first + children as usize];
        let at = labels.iter().position(|&label| label == byte)?;
        Some(self.targets[first + at])
    }

    /// The spelling that ends at `node`, if any.
    pub(super) fn pattern(&self, node: NodeId) -> Option<usize> {
        (node & ENDS != 0).then(|| self.patterns[(node & !ENDS) as usize] as usize)
    }

    /// The class of `byte`: 0 for bytes in no spelling, else one class per byte.
    pub(super) fn class(&self, byte: u8) -> u16 {
        self.class[usize::from(byte)]
    }

    /// The number of classes, class 0 included.
    pub(super) fn classes(&self) -> usize {
        self.byte_of.len()
    }

    /// The byte of a class other than 0.
    pub(super) fn byte_of(&self, class: usize) -> u8 {
        self.byte_of[class]
    }

    /// Bytes held (for the documentation of the classifier's memory).
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<Node>()
            + self.patterns.len() * 4
            + self.labels.len()
            + (self.targets.len() + self.rows.len()) * std::mem::size_of::<NodeId>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(trie: &Trie, text: &str) -> Vec<usize> {
        let mut node = Trie::ROOT;
        let mut found = Vec::new();
        for &byte in text.as_bytes() {
            let Some(next) = trie.step(node, byte) else { break };
            node = next;
            found.extend(trie.pattern(node));
        }
        found
    }

    #[test]
    fn walks_report_every_spelling_that_is_a_prefix() {
        let texts: Vec<String> = ["sql", "sql injection", "sqlite", "ssh", "é", "éa"].map(String::from).to_vec();
        let trie = Trie::new(&texts).unwrap();
        assert_eq!(walk(&trie, "sql injections"), [0, 1]);
        assert_eq!(walk(&trie, "sqlit"), [0]);
        assert_eq!(walk(&trie, "ssh"), [3]);
        assert_eq!(walk(&trie, "éab"), [4, 5]);
        assert_eq!(walk(&trie, "xsql"), Vec::<usize>::new());
    }

    #[test]
    fn wide_nodes_are_searched_like_narrow_ones() {
        // The root gets 127 children: a row by class, not a list.
        let texts: Vec<String> = (1..=255u8).map(|b| format!("{}z", char::from(b))).filter(|t| t.is_ascii()).collect();
        let trie = Trie::new(&texts).unwrap();
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(walk(&trie, text), [i]);
        }
        assert!(trie.step(Trie::ROOT, 0).is_none());
    }

    #[test]
    fn empty_and_repeated_spellings_are_refused() {
        assert!(Trie::new(&["a".into(), "a".into()]).is_err());
        assert!(Trie::new(&["".into()]).is_err());
    }
}
