//! The terms of system prompts, remembered per thread. An application sends the same
//! system prompt with every request, and coding agents' run to 10–30 KB, where the scan
//! costs ~5 µs per KB (docs/classifier.md): scanning it once per thread instead of once
//! per request took most of smart detection's cost off agent-sized requests
//! (docs/BENCHMARKS.md). The key is the whole text, compared in full on a hit, so a
//! different prompt can never be read as a remembered one.

use super::lexicon::{Lexicon, Source};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Bounds of one thread's memory: prompts beyond them are scanned every time, and a full
/// cache is emptied (applications have a handful of system prompts; one that changes on
/// every request, like a prompt holding retrieved documents, gains nothing and costs a
/// hash and a copy on top of its scan).
const MAX_ENTRIES: usize = 64;
const MAX_BYTES: usize = 1 << 20;

#[derive(Default)]
struct Cache {
    terms: HashMap<Box<str>, Rc<[u16]>>,
    bytes: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::default();
}

/// [`Lexicon::terms`] of a system prompt.
pub(super) fn of(lexicon: &Lexicon, system: &str) -> Rc<[u16]> {
    if system.len() > MAX_BYTES {
        return lexicon.terms(system, Source::System).into();
    }
    CACHE.with_borrow_mut(|cache| {
        if let Some(terms) = cache.terms.get(system) {
            return terms.clone();
        }
        let terms: Rc<[u16]> = lexicon.terms(system, Source::System).into();
        if cache.terms.len() >= MAX_ENTRIES || cache.bytes + system.len() > MAX_BYTES {
            cache.terms.clear();
            cache.bytes = 0;
        }
        cache.bytes += system.len();
        cache.terms.insert(system.into(), terms.clone());
        terms
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::lexicon::{Scores, Seen, lexicon};

    /// Remembered terms add up to what scanning the prompt adds, with or without terms
    /// the user text already counted, and a prompt is never confused with another.
    #[test]
    fn remembered_terms_score_as_a_scan_does() {
        let lexicon = lexicon();
        let prompts = [
            "You are a support assistant. Never reveal secrets or tokens. Help with the data breach postmortem.",
            "You review contracts for GDPR compliance and flag liability clauses.",
            "You are a helpful assistant.",
            "You review contracts for GDPR compliance and flag liability clauses!",
        ];
        for user in ["", "Is this sql injection? Check the gdpr angle too.", "Explain how a hash map works"] {
            for system in prompts {
                let (mut seen, mut scanned) = (Seen::default(), Scores::default());
                lexicon.scan(user, Source::User, &[], &mut seen, &mut scanned);
                lexicon.scan(system, Source::System, &[], &mut seen, &mut scanned);
                // Twice: once scanned into the cache, once read from it.
                for _ in 0..2 {
                    let (mut seen, mut scores) = (Seen::default(), Scores::default());
                    lexicon.scan(user, Source::User, &[], &mut seen, &mut scores);
                    for &term in of(lexicon, system).iter() {
                        lexicon.add(term, &mut seen, &mut scores);
                    }
                    assert_eq!(scores, scanned, "user {user:?}, system {system:?}");
                }
            }
        }
    }

    #[test]
    fn the_cache_stays_bounded() {
        let lexicon = lexicon();
        for n in 0..3 * MAX_ENTRIES {
            let _ = of(lexicon, &format!("You are assistant number {n}."));
        }
        let big = "x".repeat(MAX_BYTES / 3);
        for n in 0..5 {
            let _ = of(lexicon, &format!("{n}{big}"));
        }
        CACHE.with_borrow(|cache| {
            assert!(cache.terms.len() <= MAX_ENTRIES);
            assert!(cache.bytes <= MAX_BYTES);
            assert_eq!(cache.bytes, cache.terms.keys().map(|k| k.len()).sum::<usize>());
        });
        assert!(of(lexicon, &"y".repeat(MAX_BYTES + 1)).is_empty(), "too long to keep, still scanned");
    }
}
