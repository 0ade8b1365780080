//! Smart detection (SPEC §3): picks the compression intensity from the prompt itself,
//! deterministically, without a model call, in microseconds.
//!
//! Owns the rule order and the [`Class`] → [`Intensity`] mapping. The word lists live in
//! `data/classifier/*.txt` (compiled in, see `lexicon`), fenced-code detection in
//! `fences`, the learned naive Bayes layer (`data/classifier/nb_weights.txt`, trained by
//! `data/classifier/train_nb.py`) in `nb`; the labelled prompts they were tuned on, and the measured precision and
//! recall, are in `data/classifier/prompts.jsonl` and `docs/classifier.md`.

mod fences;
mod lexicon;
mod nb;
mod system_terms;
mod trie;

use crate::Intensity;
use lexicon::{Category, FIRES, Scores, Seen, Source};

/// What the latest prompt is about, as far as compression is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Security,
    Legal,
    UserFacing,
    CodeHeavy,
    Explanation,
    Plain,
}

impl Class {
    /// Every class, in rule priority order.
    pub const ALL: [Class; 6] =
        [Class::Security, Class::Legal, Class::UserFacing, Class::CodeHeavy, Class::Explanation, Class::Plain];

    /// Security and legal answers are never compressed: a dropped caveat is what costs.
    /// Text for end users and code keep their detail (lite); explanations compress best.
    pub fn intensity(self) -> Intensity {
        match self {
            Class::Security | Class::Legal => Intensity::None,
            Class::UserFacing | Class::CodeHeavy => Intensity::Lite,
            Class::Explanation => Intensity::Ultra,
            Class::Plain => Intensity::Full,
        }
    }

    /// Stable name for logs, metrics and the labelled set.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Security => "security",
            Class::Legal => "legal",
            Class::UserFacing => "user_facing",
            Class::CodeHeavy => "code_heavy",
            Class::Explanation => "explanation",
            Class::Plain => "plain",
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies a request.
///
/// `latest_user`: text of the latest user message; `system`: the system prompt text ("" if
/// none). Security/Legal look at both; the other classes only at `latest_user`.
///
/// Rules, first match wins: security vocabulary → [`Class::Security`]; legal/compliance →
/// [`Class::Legal`]; the learned naive Bayes layer (`nb`, user text only) says "security or
/// legal" → whichever of the two the lists scored higher (ties: security); copy for end users → [`Class::UserFacing`]; two or more fenced code
/// blocks → [`Class::CodeHeavy`]; a request to explain → [`Class::Explanation`]; else
/// [`Class::Plain`].
pub fn classify(latest_user: &str, system: &str) -> Class {
    let lexicon = lexicon::lexicon();
    // Code spans are only looked for when there is a backtick or tilde run at all.
    let code = if has_code_marker(latest_user) {
        fences::code(latest_user)
    } else {
        fences::Code { spans: Vec::new(), blocks: 0 }
    };
    let mut seen = Seen::default();
    let mut user = Scores::default();
    lexicon.scan(latest_user, Source::User, &code.spans, &mut seen, &mut user);
    // The system prompt only adds to the bypass classes; `seen` is shared so a term in
    // both texts counts once.
    let mut both = user;
    if !system.is_empty() {
        for &term in system_terms::of(lexicon, system).iter() {
            lexicon.add(term, &mut seen, &mut both);
        }
    }
    if both.get(Category::Security) >= FIRES {
        Class::Security
    } else if both.get(Category::Legal) >= FIRES {
        Class::Legal
    } else if nb::model().fires(latest_user) {
        // The learned layer only says "security or legal"; both bypass compression. The
        // word lists' partial scores pick the name (ties: security).
        if both.get(Category::Legal) > both.get(Category::Security) { Class::Legal } else { Class::Security }
    } else if user.get(Category::UserFacing) >= FIRES {
        Class::UserFacing
    } else if code.blocks >= 2 {
        Class::CodeHeavy
    } else if user.get(Category::Explanation) >= FIRES {
        Class::Explanation
    } else {
        Class::Plain
    }
}

/// Compiles the word lists now instead of on the first request (about 20 ms); servers
/// call it once at start, like [`crate::tokens::warm_up`].
pub fn warm_up() {
    let _ = lexicon::lexicon();
    let _ = nb::model();
}

/// Cheap pre-check so the common prompt without code skips the code-span scan.
fn has_code_marker(text: &str) -> bool {
    text.contains('`') || text.contains("~~~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_intensities() {
        let names: Vec<_> = Class::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["security", "legal", "user_facing", "code_heavy", "explanation", "plain"]);
        let levels: Vec<_> = Class::ALL.iter().map(|c| c.intensity()).collect();
        use Intensity::*;
        assert_eq!(levels, [None, None, Lite, Lite, Ultra, Full]);
        assert_eq!(Class::UserFacing.to_string(), "user_facing");
    }

    #[test]
    fn empty_input_is_plain() {
        warm_up();
        assert_eq!(classify("", ""), Class::Plain);
    }
}
