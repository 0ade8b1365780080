//! The word lists of smart detection and the scan that turns a text into scores.
//!
//! Owns the list syntax (documented in `data/classifier/README.md`), their compilation,
//! once, into a trie (`trie`) and substring finders, the word-boundary checks, the rule
//! that a longer match hides the shorter matches inside it (how `neutral.txt` cancels "injection" in
//! "dependency injection"), and the guardrail cues of system prompts. The lists are
//! compiled into the binary with `include_str!`, so nothing is read at run time.
//!
//! Speed: a spelling may only start where a word starts (except the few `*spellings`),
//! so instead of feeding every byte to an unanchored automaton, the trie of spellings is
//! walked from each word edge until no spelling goes on, usually after a byte or two, and
//! the rest of each word is skipped. That is several times faster on long prompts than an
//! overlapping search, and still linear in the text. The trie takes ~0.4 MB; an
//! aho-corasick DFA took 11.5 MB of the server's resident memory, and its contiguous NFA
//! ~3 MB and more instructions per prompt (docs/classifier.md).

use std::collections::HashMap;
use std::sync::LazyLock;

use memchr::memmem;

use super::trie::{NodeId, Trie};

/// What a list entry stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Category {
    Security,
    Legal,
    UserFacing,
    Explanation,
    /// Benign phrases: they only hide what they contain.
    Neutral,
    /// Refusal cues, only meaningful in system prompts.
    Guard,
}

impl Category {
    /// Index into [`Scores`] for the categories that are scored.
    fn slot(self) -> Option<usize> {
        match self {
            Category::Security => Some(0),
            Category::Legal => Some(1),
            Category::UserFacing => Some(2),
            Category::Explanation => Some(3),
            Category::Neutral | Category::Guard => None,
        }
    }

    fn weighted(self) -> bool {
        self.slot().is_some()
    }
}

/// A category fires when the distinct terms found weigh this much: one strong term
/// (weight 2) or two different weak ones (weight 1).
pub(super) const FIRES: u32 = 2;

/// Sum of the weights of the distinct terms found, per scored category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Scores([u32; 4]);

impl Scores {
    pub(super) fn get(&self, category: Category) -> u32 {
        category.slot().map_or(0, |i| self.0[i])
    }
}

/// Upper bound on the number of terms, so the per-call "already counted" set is a small
/// array on the stack instead of an allocation. Checked when the lists are compiled.
const MAX_TERMS: usize = 2048;

/// Terms already counted during one classification, across the user and system texts,
/// so that a term present in both still counts once.
pub(super) struct Seen([u64; MAX_TERMS / 64]);

impl Default for Seen {
    fn default() -> Self {
        Seen([0; MAX_TERMS / 64])
    }
}

impl Seen {
    /// Marks `term`; true if it was not marked before.
    fn insert(&mut self, term: u16) -> bool {
        let (word, bit) = (usize::from(term) / 64, 1u64 << (term % 64));
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }
}

/// Where the scanned text comes from: guardrail cues only apply to system prompts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    User,
    System,
}

/// One spelling as it appears in the trie or a finder, with its right boundary rule (the
/// left one is decided by which holds it: `*spelling` may start inside a word).
#[derive(Clone, Copy, Debug)]
struct Entry {
    term: u16,
    /// `spelling*`: letters may follow it (a stem).
    open_right: bool,
}

#[derive(Clone, Copy, Debug)]
struct Term {
    category: Category,
    weight: u8,
}

pub(super) struct Lexicon {
    /// Spellings that start at a word edge (nearly all), walked anchored from each edge.
    edge: Trie,
    edge_entries: Vec<Vec<Entry>>,
    /// Bytes of the scanned text (before folding) an edge spelling can start with: a
    /// walk from any other byte dies at once, so it is not started (most spaces,
    /// punctuation and digits are skipped this way).
    edge_first: [bool; 256],
    /// The first two steps of every walk, as one lookup.
    pairs: FirstPairs,
    /// Spellings open on the left (`*lücke`), which may start inside a word: very few
    /// (two today), so each is one SIMD substring search over the text, cheaper than an
    /// overlapping automaton search (which cannot skip ahead), with its entries.
    inner: Vec<(memmem::Finder<'static>, Vec<Entry>)>,
    terms: Vec<Term>,
}

/// The distinct texts of the trie or the finders and, per text, every spelling with that
/// exact text (the same text may be listed in two lists, or once as a word and once as a
/// stem).
#[derive(Default)]
struct Patterns {
    texts: Vec<String>,
    entries: Vec<Vec<Entry>>,
    index: HashMap<String, usize>,
}

impl Patterns {
    fn add(&mut self, text: String, entry: Entry) {
        let id = *self.index.entry(text.clone()).or_insert_with(|| {
            self.texts.push(text);
            self.entries.push(Vec::new());
            self.entries.len() - 1
        });
        self.entries[id].push(entry);
    }
}

/// A boundary-checked match of one spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hit {
    start: usize,
    end: usize,
    term: u16,
}

const LISTS: [(Category, &str, &str); 6] = [
    (Category::Security, "security.txt", include_str!("../../data/classifier/security.txt")),
    (Category::Legal, "legal.txt", include_str!("../../data/classifier/legal.txt")),
    (Category::UserFacing, "user_facing.txt", include_str!("../../data/classifier/user_facing.txt")),
    (Category::Explanation, "explanation.txt", include_str!("../../data/classifier/explanation.txt")),
    (Category::Neutral, "neutral.txt", include_str!("../../data/classifier/neutral.txt")),
    (Category::Guard, "guard.txt", include_str!("../../data/classifier/guard.txt")),
];

/// The compiled lists; built on first use (a few ms), then shared.
pub(super) fn lexicon() -> &'static Lexicon {
    static LEXICON: LazyLock<Lexicon> =
        LazyLock::new(|| Lexicon::compile(&LISTS).unwrap_or_else(|e| panic!("classifier word lists: {e}")));
    &LEXICON
}

/// The lists parsed: the spellings of the trie and of the finders, and the terms.
struct Parsed {
    edge: Patterns,
    inner: Patterns,
    terms: Vec<Term>,
}

/// Parses the lists. The data is fixed at compile time, so an error is a bug caught by the
/// unit tests, not a run-time condition; it is still reported with file and line.
fn parse(lists: &[(Category, &str, &str)]) -> Result<Parsed, String> {
    let (mut edge, mut inner) = (Patterns::default(), Patterns::default());
    let mut terms: Vec<Term> = Vec::new();
    for &(category, file, source) in lists {
        for (n, raw) in source.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |what: &str| format!("{file}:{}: {what}", n + 1);
            let (weight, spellings) = if category.weighted() {
                let (w, rest) = line.split_once(char::is_whitespace).ok_or_else(|| at("weight without spellings"))?;
                let weight =
                    w.parse::<u8>().ok().filter(|w| (1..=9).contains(w)).ok_or_else(|| at("weight must be 1-9"))?;
                (weight, rest)
            } else {
                (0, line)
            };
            let term = u16::try_from(terms.len()).ok().filter(|&t| usize::from(t) < MAX_TERMS);
            let term = term.ok_or_else(|| at("more than MAX_TERMS terms"))?;
            terms.push(Term { category, weight });
            for spelling in spellings.split('|') {
                let spelling = spelling.trim();
                let open_left = spelling.starts_with('*');
                let open_right = spelling.len() > 1 && spelling.ends_with('*');
                let text = fold(&spelling.trim_matches('*').to_lowercase());
                if text.is_empty() || text.contains('*') {
                    return Err(at(&format!("bad spelling {spelling:?}")));
                }
                let entry = Entry { term, open_right };
                // The scanned text is folded for ASCII only (see `fold`), so a spelling
                // that starts with another letter also gets its capitalised form
                // (sentence-initial "Écris", "Über").
                let mut forms = vec![text.clone()];
                let mut chars = text.chars();
                if let Some(first) = chars.next().filter(|c| !c.is_ascii()) {
                    let capitalised: String = first.to_uppercase().chain(chars).collect();
                    if capitalised != text {
                        forms.push(capitalised);
                    }
                }
                let patterns = if open_left { &mut inner } else { &mut edge };
                for form in forms {
                    patterns.add(form, entry);
                }
            }
        }
    }
    Ok(Parsed { edge, inner, terms })
}

impl Lexicon {
    /// Parses the lists and builds the trie, the finders and the tables.
    fn compile(lists: &[(Category, &str, &str)]) -> Result<Lexicon, String> {
        let Parsed { edge, inner, terms } = parse(lists)?;
        let edge_trie = Trie::new(&edge.texts).map_err(|e| format!("edge spellings: {e}"))?;
        let mut folded_first = [false; 256];
        for text in &edge.texts {
            folded_first[usize::from(text.as_bytes()[0])] = true;
        }
        let edge_first = std::array::from_fn(|b| folded_first[usize::from(FOLD[b])]);
        let pairs = FirstPairs::new(&edge_trie);
        Ok(Lexicon {
            pairs,
            edge: edge_trie,
            edge_entries: edge.entries,
            edge_first,
            inner: inner
                .texts
                .iter()
                .zip(inner.entries)
                .map(|(text, entries)| (memmem::Finder::new(text.as_bytes()).into_owned(), entries))
                .collect(),
            terms,
        })
    }

    /// Pushes every boundary-checked match of an edge-anchored spelling.
    fn edge_hits(&self, text: &str, folded: &[u8], hits: &mut Vec<Hit>) {
        let bytes = text.as_bytes();
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            // A walk starts at a word's first character, or at a non-word character like
            // the quote of `"license":`, when a spelling can start with that byte.
            if self.edge_first[usize::from(byte)] {
                self.walk(text, folded, at, hits);
            }
            let (is_word, len) = char_at(text, at);
            at += len;
            if is_word {
                // Inside a word nothing can start (the left boundary): most bytes of a
                // text are skipped here, a table load each.
                at = word_end(text, at);
            }
        }
    }

    /// Walks the trie from `start` until no spelling goes on, pushing every spelling
    /// passed (a spelling inside a longer one is found too; the hiding rule decides).
    fn walk(&self, text: &str, folded: &[u8], start: usize, hits: &mut Vec<Hit>) {
        let (mut node, from) = match self.pairs.after(&folded[start..]) {
            Pair::Dead => return,
            Pair::At(node) => (node, start + 2),
            Pair::Walk => (Trie::ROOT, start),
        };
        for (offset, &byte) in folded[from..].iter().enumerate() {
            let Some(next) = self.edge.step(node, byte) else { break };
            node = next;
            let Some(pattern) = self.edge.pattern(node) else { continue };
            let end = from + offset + 1;
            for entry in &self.edge_entries[pattern] {
                if entry.open_right || ends_word(text, end) {
                    hits.push(Hit { start, end, term: entry.term });
                }
            }
        }
    }

    /// Adds to `scores` the weights of the terms of `text` not yet in `seen`.
    pub(super) fn scan(
        &self,
        text: &str,
        source: Source,
        code: &[std::ops::Range<usize>],
        seen: &mut Seen,
        scores: &mut Scores,
    ) {
        self.each_counted(text, source, code, |term| self.add(term, seen, scores));
    }

    /// The scored terms of `text`, each once, in order: what [`Lexicon::scan`] would add
    /// from an empty `seen`, to be added later with [`Lexicon::add`].
    pub(super) fn terms(&self, text: &str, source: Source) -> Vec<u16> {
        let mut seen = Seen::default();
        let mut terms = Vec::new();
        self.each_counted(text, source, &[], |term| {
            if seen.insert(term) {
                terms.push(term);
            }
        });
        terms
    }

    /// Adds `term`'s weight to `scores` unless `seen` already holds it.
    pub(super) fn add(&self, term: u16, seen: &mut Seen, scores: &mut Scores) {
        let Term { category, weight } = self.terms[usize::from(term)];
        if let Some(slot) = category.slot()
            && seen.insert(term)
        {
            scores.0[slot] += u32::from(weight);
        }
    }

    /// Calls `each` with every scored term of `text` that counts, repeats included.
    ///
    /// `code`: sorted byte ranges of code (fenced or inline). Identifiers like `user`,
    /// `token` or a `contracts` module say nothing about what is asked, so inside code
    /// user-facing and explanation terms are ignored, and so are weak security and legal
    /// terms; strong ones ("sql injection", "gdpr") still count there, because missing a
    /// security or legal prompt is the expensive error.
    fn each_counted(&self, text: &str, source: Source, code: &[std::ops::Range<usize>], mut each: impl FnMut(u16)) {
        let folded: Vec<u8> = text.bytes().map(|b| FOLD[usize::from(b)]).collect();
        let mut hits: Vec<Hit> = Vec::new();
        self.edge_hits(text, &folded, &mut hits);
        for (finder, entries) in &self.inner {
            // Every occurrence, overlapping ones included: the next search starts one byte on.
            let mut from = 0;
            while let Some(at) = finder.find(&folded[from..]) {
                let (start, end) = (from + at, from + at + finder.needle().len());
                for entry in entries {
                    if entry.open_right || ends_word(text, end) {
                        hits.push(Hit { start, end, term: entry.term });
                    }
                }
                from = start + 1;
            }
        }
        if hits.is_empty() {
            return;
        }
        // Longest first among equal starts, so a containing match is always seen before
        // the matches it contains.
        hits.sort_unstable_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        let mut cover_end = 0; // furthest end of the spans before the current one
        let mut span = None;
        let mut hidden = false;
        hits.retain(|h| {
            if span != Some((h.start, h.end)) {
                if let Some((_, end)) = span {
                    cover_end = cover_end.max(end);
                }
                span = Some((h.start, h.end));
                // Every earlier span starts before this one, or at the same place and is
                // longer: reaching as far means containing it. Identical spans (one text
                // in two lists) share the verdict.
                hidden = cover_end >= h.end;
            }
            !hidden
        });
        let cues: Vec<(usize, usize)> = match source {
            Source::System => hits
                .iter()
                .filter(|h| self.terms[usize::from(h.term)].category == Category::Guard)
                .map(|h| (h.start, h.end))
                .collect(),
            Source::User => Vec::new(),
        };
        let mut code = code.iter().peekable();
        for hit in &hits {
            let term = self.terms[usize::from(hit.term)];
            if !term.category.weighted() {
                continue;
            }
            while code.next_if(|r| r.end <= hit.start).is_some() {}
            let in_code = code.peek().is_some_and(|r| r.start <= hit.start);
            let bypass = matches!(term.category, Category::Security | Category::Legal);
            if in_code && !(bypass && u32::from(term.weight) >= FIRES) {
                continue;
            }
            if bypass && cues.iter().any(|&(s, e)| same_sentence(text, (s, e), (hit.start, hit.end))) {
                continue;
            }
            each(hit.term);
        }
    }
}

/// Where a walk stands after its first two bytes.
#[derive(Clone, Copy)]
enum Pair {
    /// It died within them: no spelling starts with these two bytes.
    Dead,
    /// It lives on from this node, no spelling having ended within the two bytes.
    At(NodeId),
    /// A spelling ends within them (or fewer than two bytes are left): take every step.
    Walk,
}

/// The first two steps of the anchored walk as one table lookup. A walk starts at every
/// word edge; walks that die within two bytes (no spelling starts with them) cost one
/// load, and the others start two steps in, past the widest nodes of the trie (~12 % fewer
/// instructions for the scan of the harness's prompt, measured when the walk was an
/// aho-corasick NFA; docs/BENCHMARKS.md). The byte classes are the trie's, so the table is
/// (distinct spelling bytes + 1)² entries: 68² today, ~37 KB.
struct FirstPairs {
    class: [u16; 256],
    classes: usize,
    table: Vec<Pair>,
}

impl FirstPairs {
    fn new(trie: &Trie) -> FirstPairs {
        let classes = trie.classes();
        let step = |node, class: usize| match class {
            0 => None, // bytes in no spelling
            _ => trie.step(node, trie.byte_of(class)),
        };
        let ends = |node| trie.pattern(node).is_some();
        let mut table = Vec::with_capacity(classes * classes);
        for first in 0..classes {
            for second in 0..classes {
                table.push(match step(Trie::ROOT, first) {
                    None => Pair::Dead,
                    Some(one) if ends(one) => Pair::Walk,
                    Some(one) => match step(one, second) {
                        None => Pair::Dead,
                        Some(two) if ends(two) => Pair::Walk,
                        Some(two) => Pair::At(two),
                    },
                });
            }
        }
        FirstPairs { class: std::array::from_fn(|b| trie.class(b as u8)), classes, table }
    }

    /// Where a walk over `folded` (from its start) stands after two bytes.
    fn after(&self, folded: &[u8]) -> Pair {
        match folded {
            [a, b, ..] => {
                let (a, b) = (usize::from(self.class[usize::from(*a)]), usize::from(self.class[usize::from(*b)]));
                self.table[a * self.classes + b]
            }
            _ => Pair::Walk,
        }
    }
}

/// The one normalisation of scanned text: ASCII letters lower-cased, and `_`, `-` and
/// ASCII whitespace made a plain space, so that "SQL-Injection", `sql_injection` and a
/// phrase broken over two lines all match "sql injection". It maps byte to byte, so
/// match offsets are offsets into the original text, and costs one pass instead of a
/// case-insensitive automaton (which was twice the size and slower).
const fn fold_byte(b: u8) -> u8 {
    match b {
        b'_' | b'-' | b'\t' | b'\n' | b'\r' => b' ',
        _ => b.to_ascii_lowercase(),
    }
}

/// [`fold_byte`] as a table: one load per byte of every scanned text.
static FOLD: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = fold_byte(b as u8);
        b += 1;
    }
    table
};

/// Which bytes are ASCII word characters (letters and digits), as a table for the scan;
/// bytes of non-ASCII characters are not (they are decoded, see [`char_at`]).
static ASCII_WORD: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

/// Whether the character at byte `at` (a character boundary) is a word character, and its
/// length. Bytes, not chars, for speed: ASCII is decided from the byte, and only a
/// non-ASCII character is decoded (to tell "é" from "¿" or "—").
fn char_at(text: &str, at: usize) -> (bool, usize) {
    match text.as_bytes()[at] {
        byte if byte.is_ascii() => (ASCII_WORD[usize::from(byte)], 1),
        _ => text[at..].chars().next().map_or((false, 1), |c| (is_word_char(c), c.len_utf8())),
    }
}

/// The end of the word that goes on at `at`: the first position (a character boundary)
/// whose character is not a word character.
fn word_end(text: &str, mut at: usize) -> usize {
    let bytes = text.as_bytes();
    loop {
        while bytes.get(at).is_some_and(|&b| ASCII_WORD[usize::from(b)]) {
            at += 1;
        }
        match bytes.get(at) {
            Some(byte) if !byte.is_ascii() => match char_at(text, at) {
                (true, len) => at += len,
                (false, _) => return at,
            },
            _ => return at,
        }
    }
}

/// [`fold_byte`] applied to a spelling of the lists.
fn fold(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii() { char::from(fold_byte(c as u8)) } else { c }).collect()
}

/// Letters and digits of any script make words; everything else (spaces, punctuation,
/// `_`, `-`) separates them, so `sql_injection` and `CVE-2024-3094` still match.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn ends_word(text: &str, end: usize) -> bool {
    !text[end..].chars().next().is_some_and(is_word_char)
}

/// True when nothing between the two spans ends a sentence: a newline, or `.`, `!`, `?`
/// followed by a blank (so "security.txt" or "e.g" do not split a sentence).
fn same_sentence(text: &str, a: (usize, usize), b: (usize, usize)) -> bool {
    let (lo, hi) = (a.0.min(b.0), a.1.max(b.1));
    let between = &text.as_bytes()[lo..hi];
    !between.iter().enumerate().any(|(i, &byte)| {
        byte == b'\n'
            || (matches!(byte, b'.' | b'!' | b'?') && between.get(i + 1).is_some_and(|n| n.is_ascii_whitespace()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(text: &str, category: Category) -> u32 {
        let mut scores = Scores::default();
        lexicon().scan(text, Source::User, &[], &mut Seen::default(), &mut scores);
        scores.get(category)
    }

    #[test]
    fn shipped_lists_compile() {
        let lexicon = lexicon();
        assert!(lexicon.terms.len() > 100);
        assert!(lexicon.terms.iter().all(|t| t.category.weighted() == (t.weight > 0)));
    }

    /// The scan without its shortcuts, from an independent automaton: every match of an
    /// edge spelling anywhere in the text (aho-corasick, overlapping), kept when it starts
    /// where a word starts or at a non-word character, in the scan's order.
    fn reference_edge_hits(
        lexicon: &Lexicon,
        every: &aho_corasick::AhoCorasick,
        text: &str,
        folded: &[u8],
    ) -> Vec<Hit> {
        let mut edges = vec![false; text.len()];
        let mut prev_is_word = false;
        for (start, c) in text.char_indices() {
            edges[start] = !(prev_is_word && is_word_char(c));
            prev_is_word = is_word_char(c);
        }
        let mut hits = Vec::new();
        for m in every.find_overlapping_iter(folded).filter(|m| edges[m.start()]) {
            for entry in &lexicon.edge_entries[m.pattern().as_usize()] {
                if entry.open_right || ends_word(text, m.end()) {
                    hits.push(Hit { start: m.start(), end: m.end(), term: entry.term });
                }
            }
        }
        hits.sort_by_key(|h| (h.start, h.end));
        hits
    }

    /// The trie, the word skipping and the two-byte table find what an overlapping search
    /// finds, on texts made of the shipped spellings cut, joined and cased at random.
    #[test]
    fn the_scan_finds_what_an_overlapping_search_finds() {
        let lexicon = lexicon();
        let every = aho_corasick::AhoCorasick::new(parse(&LISTS).unwrap().edge.texts).unwrap();
        let mut words: Vec<String> = Vec::new();
        for (_, _, list) in LISTS {
            for line in list.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
                let spellings = line.trim_start_matches(|c: char| c.is_ascii_digit()).split('|');
                words.extend(spellings.map(|w| w.trim().trim_matches('*').to_owned()));
            }
        }
        let joins = [" ", "", "-", "_", ", ", "é", "\n", "'", "2", "s ", "—", "¿", "ß"];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut total = 0;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..1 + next(6) {
                let word = &words[next(words.len())];
                let word = if next(3) == 0 { word.to_uppercase() } else { word.clone() };
                // Cut at a character boundary, sometimes: spellings' prefixes walk far and die.
                let cut = word.char_indices().map(|(i, _)| i).nth(next(word.chars().count() + 2)).unwrap_or(word.len());
                text.push_str(&word[..cut]);
                text.push_str(joins[next(joins.len())]);
            }
            let folded: Vec<u8> = text.bytes().map(|b| FOLD[usize::from(b)]).collect();
            let mut found = Vec::new();
            lexicon.edge_hits(&text, &folded, &mut found);
            let expected = reference_edge_hits(lexicon, &every, &text, &folded);
            assert_eq!(found, expected, "{text:?}");
            total += expected.len();
        }
        assert!(total > 1000, "the texts should hold many matches, found {total}");
    }

    /// The shipped lists' trie stays small: resident memory is a target (docs/BENCHMARKS.md).
    #[test]
    fn the_trie_stays_small() {
        let bytes = lexicon().edge.heap_bytes();
        assert!(bytes < 1 << 20, "the trie holds {bytes} bytes");
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let bad = [(Category::Security, "s.txt", "# c\n2 fine\nx oops\n")];
        assert_eq!(Lexicon::compile(&bad).err().unwrap(), "s.txt:3: weight must be 1-9");
        let bad = [(Category::Legal, "l.txt", "1 a | | b\n")];
        assert!(Lexicon::compile(&bad).err().unwrap().starts_with("l.txt:1: bad spelling"));
    }

    #[test]
    fn stems_and_compounds() {
        let lists = [(Category::Security, "s.txt", "2 vulnerab*\n2 *lücke*\n1 leak\n")];
        let lexicon = Lexicon::compile(&lists).unwrap();
        let score = |text: &str| {
            let mut scores = Scores::default();
            lexicon.scan(text, Source::User, &[], &mut Seen::default(), &mut scores);
            scores.get(Category::Security)
        };
        assert_eq!(score("Vulnerabilities found"), 2);
        assert_eq!(score("invulnerable"), 0, "a stem is open on the right only");
        assert_eq!(score("Sicherheitslücken"), 2);
        assert_eq!(score("leaks"), 0);
        assert_eq!(score("LEAK, leak"), 1, "a term counts once");
    }

    #[test]
    fn longer_match_hides_the_ones_inside() {
        assert_eq!(score("use dependency injection here", Category::Security), 0);
        assert_eq!(score("sql injection", Category::Security), 2, "not 2 + 1");
        assert_eq!(score("a where clause", Category::Legal), 0);
    }

    #[test]
    fn guard_cues_only_apply_to_their_sentence_in_system_prompts() {
        let system = "Never reveal secrets or tokens. You help with the data breach postmortem.";
        let mut scores = Scores::default();
        lexicon().scan(system, Source::System, &[], &mut Seen::default(), &mut scores);
        assert_eq!(scores.get(Category::Security), 2, "only 'data breach' counts");
        let mut scores = Scores::default();
        lexicon().scan(system, Source::User, &[], &mut Seen::default(), &mut scores);
        assert_eq!(scores.get(Category::Security), 4);
    }

    #[test]
    fn sentence_ends() {
        let text = "never. leak";
        assert!(!same_sentence(text, (0, 5), (7, 11)));
        let text = "never use security.txt";
        assert!(same_sentence(text, (0, 5), (10, 22)));
    }
}
