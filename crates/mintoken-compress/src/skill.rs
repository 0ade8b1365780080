//! The compression skills: short instructions prepended to the system prompt so the
//! model answers with the same information in fewer words.
//!
//! The texts are constants on purpose: they must be byte-identical on every request so
//! provider-side prompt caches keep hitting. Savings come from the model saying less,
//! not from lexical tricks (abbreviations and arrows save no tokens under BPE
//! tokenizers), so the texts ask for less prose and never for a private shorthand.
//! Golden tests below pin every byte; change them only on purpose.

use crate::Intensity;

/// Separates the skill from a system prompt it is prepended to.
pub const SEPARATOR: &str = "\n\n";

const LITE: &str = "\
Answer concisely. Cut filler: no preamble, no restating the question, no closing \
summary or offers of further help. Keep full sentences and all the information the \
user needs. Keep code, commands, numbers, units, error messages, names and technical \
terms exactly as they are, and keep every negation and caveat. Answer in the user's \
language. For security warnings and irreversible or destructive actions, write in \
normal, complete prose.";

const FULL: &str = "\
Answer in as few words as the content allows. No preamble, no restating the \
question, no pleasantries, no closing summary. Lead with the answer. Prefer short \
sentences, fragments and terse bullet lists over paragraphs; give each fact once. \
Omit explanations the user did not ask for. Keep code, commands, numbers, units, \
error messages, names and technical terms exactly as they are, and keep every \
negation and caveat. Do not invent abbreviations. Answer in the user's language. For \
security warnings and irreversible or destructive actions, write in normal, complete \
prose.";

const ULTRA: &str = "\
Be maximally terse. Give only the answer: the result, the code, the command or the \
key facts, with no preamble, restatement, pleasantries, transitions or summary. Use \
fragments and bare lists; one line per point; no examples unless asked. Keep code, \
commands, numbers, units, error messages, names and technical terms exactly as they \
are, and keep every negation and caveat. Do not invent abbreviations. Answer in the \
user's language. For security warnings and irreversible or destructive actions, \
write in normal, complete prose.";

/// The skill text for a level, or `None` for the bypass level.
pub fn text(level: Intensity) -> Option<&'static str> {
    match level {
        Intensity::None => None,
        Intensity::Lite => Some(LITE),
        Intensity::Full => Some(FULL),
        Intensity::Ultra => Some(ULTRA),
    }
}

/// `skill + SEPARATOR + existing`, the one way a skill is joined to a system prompt.
pub fn prepend(skill: &str, existing: &str) -> String {
    if existing.is_empty() {
        return skill.to_owned();
    }
    let mut joined = String::with_capacity(skill.len() + SEPARATOR.len() + existing.len());
    joined.push_str(skill);
    joined.push_str(SEPARATOR);
    joined.push_str(existing);
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a over the bytes: a golden value that changes when any byte does.
    fn fingerprint(s: &str) -> u64 {
        s.bytes().fold(0xcbf29ce484222325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
    }

    #[test]
    fn none_injects_nothing() {
        assert_eq!(text(Intensity::None), None);
    }

    #[test]
    fn texts_are_pinned_byte_for_byte() {
        let pinned = [
            (Intensity::Lite, 438, 0x733ffc3cacad6c6a),
            (Intensity::Full, 575, 0xa153949f60429a41),
            (Intensity::Ultra, 530, 0xbe60a38af2021c5a),
        ];
        for (level, len, hash) in pinned {
            let t = text(level).unwrap();
            assert_eq!((level, t.len(), fingerprint(t)), (level, len, hash), "skill text for {level} changed");
        }
    }

    #[test]
    fn every_level_keeps_exact_content_and_safety_prose() {
        for level in [Intensity::Lite, Intensity::Full, Intensity::Ultra] {
            let t = text(level).unwrap();
            for must in [
                "code",
                "numbers",
                "error messages",
                "negation",
                "user's language",
                "security warnings",
                "irreversible",
            ] {
                assert!(t.contains(must), "{level} skill must mention {must:?}");
            }
            assert!(!t.contains("  ") && !t.ends_with(' '), "{level}: stray blanks");
        }
    }

    /// The costs published in docs/compression.md; all within the 250-token budget.
    #[test]
    fn every_skill_costs_what_the_docs_say() {
        let costs: Vec<_> = [Intensity::Lite, Intensity::Full, Intensity::Ultra]
            .into_iter()
            .map(|level| (level, crate::tokens::count(text(level).unwrap())))
            .collect();
        assert_eq!(costs, [(Intensity::Lite, 90), (Intensity::Full, 119), (Intensity::Ultra, 113)]);
        assert!(costs.iter().all(|(_, c)| *c <= 250));
    }

    #[test]
    fn prepend_joins_with_one_blank_line() {
        assert_eq!(prepend("S", "You are helpful."), "S\n\nYou are helpful.");
        assert_eq!(prepend("S", ""), "S");
    }
}
