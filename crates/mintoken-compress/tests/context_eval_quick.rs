//! The quick form of the context-compression evaluation (`examples/context_eval.rs`), run
//! by `cargo test`: a few dozen generated sessions per level must pass every invariant and
//! keep every needle in error lines, user messages and the recency window.

#[path = "../examples/context_eval/eval.rs"]
mod eval;
#[path = "../examples/context_eval/prng.rs"]
mod prng;
#[path = "../examples/context_eval/sessions.rs"]
mod sessions;

use eval::{LEVELS, Location};
use sessions::Config;

const SESSIONS: usize = 30;
const SEED: u64 = 42;
/// Shorter sessions than the full harness (10–150 steps) keep the debug-build test quick;
/// every kind of content still occurs.
const QUICK: Config = Config { min_turns: 10, max_turns: 40 };

#[test]
fn quick_eval_keeps_required_needles_and_invariants() {
    mintoken_compress::tokens::warm_up();
    for level in LEVELS {
        let s = eval::run(SEED, SESSIONS, QUICK, level);
        assert!(s.failures.is_empty(), "{level}: {:#?}", s.failures);
        assert_eq!(s.checks_passed, s.checks_total, "{level}");
        for location in Location::ALL.into_iter().filter(|l| l.required()) {
            let (retained, total) = s.retention(location);
            assert!(total > 0, "{level}: no needles planted in {}", location.label());
            assert_eq!(retained, total, "{level}: {} needles lost", location.label());
        }
        // Sanity: sessions this size engage at every level and actually shrink.
        assert!(s.engaged > SESSIONS / 2, "{level}: only {} sessions engaged", s.engaged);
        assert!(s.reduction() > 0.2, "{level}: reduction {:.3}", s.reduction());
        assert!(s.deduplicated > 0 && s.truncated > 0, "{level}: nothing deduplicated or truncated");
    }
}

#[test]
fn the_same_seed_gives_the_same_numbers() {
    let a = eval::run(7, 4, QUICK, mintoken_compress::ContextLevel::Standard);
    let b = eval::run(7, 4, QUICK, mintoken_compress::ContextLevel::Standard);
    assert_eq!((a.tokens_before, a.tokens_after, a.needles), (b.tokens_before, b.tokens_after, b.needles));
}
