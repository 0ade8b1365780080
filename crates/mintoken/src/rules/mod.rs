//! Custom intensity rules (SPEC §3): a user's regular expressions that force an
//! intensity when they match the prompt. `never_compress` → `none`, `always_compress` →
//! `ultra`; `keep_exact` and `abbreviation` are stored for planned features and have no
//! effect yet. The highest-priority matching rule wins; on a tie `never_compress` wins.
//!
//! Patterns use the `regex` crate, whose matching is linear in the input (no
//! backtracking), and are compiled with a size cap, so no rule can stall a request.

pub mod cache;

use mintoken_compress::Intensity;
use regex::{RegexSet, RegexSetBuilder};
use std::fmt;
use std::str::FromStr;

/// Longest accepted pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 1_000;
/// Compiled-program size cap per pattern: large enough for any sensible rule, small
/// enough that a pathological one is refused at creation.
const COMPILED_SIZE_LIMIT: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleType {
    NeverCompress,
    AlwaysCompress,
    KeepExact,
    Abbreviation,
}

impl RuleType {
    pub const ALLOWED: &'static str = "never_compress, always_compress, keep_exact, abbreviation";

    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::NeverCompress => "never_compress",
            RuleType::AlwaysCompress => "always_compress",
            RuleType::KeepExact => "keep_exact",
            RuleType::Abbreviation => "abbreviation",
        }
    }

    /// The intensity a matching rule forces; `None` for the types without effect yet.
    pub fn intensity(self) -> Option<Intensity> {
        match self {
            RuleType::NeverCompress => Some(Intensity::None),
            RuleType::AlwaysCompress => Some(Intensity::Ultra),
            RuleType::KeepExact | RuleType::Abbreviation => None,
        }
    }
}

impl fmt::Display for RuleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuleType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [RuleType::NeverCompress, RuleType::AlwaysCompress, RuleType::KeepExact, RuleType::Abbreviation]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("`rule_type` must be one of: {}", RuleType::ALLOWED))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub rule_type: RuleType,
    pub pattern: String,
    pub priority: i64,
    pub created_at: i64,
}

/// Checks a pattern the way it will be compiled; `Err` says what is wrong.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("`pattern` must not be empty".to_owned());
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("`pattern` is longer than {MAX_PATTERN_LEN} bytes"));
    }
    compile(&[pattern]).map(|_| ()).map_err(|e| format!("`pattern` is not a valid regular expression: {e}"))
}

/// Matching is case-insensitive, like the built-in classifier.
fn compile(patterns: &[&str]) -> Result<RegexSet, regex::Error> {
    RegexSetBuilder::new(patterns).case_insensitive(true).size_limit(COMPILED_SIZE_LIMIT).build()
}

/// A user's effective rules, compiled once into one set matched in a single pass.
#[derive(Debug)]
pub struct RuleSet {
    set: RegexSet,
    /// (priority, type) per pattern of `set`, same order.
    rules: Vec<(i64, RuleType)>,
}

impl RuleSet {
    /// Only rules with an effect take part. A stored pattern that no longer compiles
    /// (impossible unless edited by hand) is skipped and logged, not fatal.
    pub fn new(rules: &[Rule]) -> RuleSet {
        let effective: Vec<&Rule> =
            rules.iter().filter(|r| r.rule_type.intensity().is_some() && compile(&[&r.pattern]).is_ok()).collect();
        if effective.len() < rules.iter().filter(|r| r.rule_type.intensity().is_some()).count() {
            tracing::warn!("a stored rule pattern does not compile and is ignored");
        }
        let set = compile(&effective.iter().map(|r| r.pattern.as_str()).collect::<Vec<_>>())
            .unwrap_or_else(|_| RegexSet::empty());
        RuleSet { set, rules: effective.iter().map(|r| (r.priority, r.rule_type)).collect() }
    }

    /// The intensity the winning rule forces, if any rule matches any of `texts`.
    pub fn decide(&self, texts: &[&str]) -> Option<Intensity> {
        if self.rules.is_empty() {
            return None;
        }
        let mut best: Option<(i64, RuleType)> = None;
        for text in texts {
            for i in self.set.matches(text).iter() {
                let candidate = self.rules[i];
                let wins = match best {
                    None => true,
                    Some((p, t)) => {
                        candidate.0 > p
                            || (candidate.0 == p
                                && candidate.1 == RuleType::NeverCompress
                                && t != RuleType::NeverCompress)
                    }
                };
                if wins {
                    best = Some(candidate);
                }
            }
        }
        best.and_then(|(_, t)| t.intensity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(t: RuleType, pattern: &str, priority: i64) -> Rule {
        Rule { id: pattern.into(), rule_type: t, pattern: pattern.into(), priority, created_at: 0 }
    }

    #[test]
    fn highest_priority_wins_and_never_compress_wins_ties() {
        let set = RuleSet::new(&[
            rule(RuleType::AlwaysCompress, "summar", 1),
            rule(RuleType::NeverCompress, "patient", 5),
            rule(RuleType::AlwaysCompress, "patient summary", 5),
            rule(RuleType::KeepExact, "summary", 99),
        ]);
        assert_eq!(set.decide(&["Give me a SUMMARY"]), Some(Intensity::Ultra));
        assert_eq!(set.decide(&["patient summary please"]), Some(Intensity::None));
        assert_eq!(set.decide(&["nothing here"]), None);
        assert_eq!(set.decide(&["", "patient"]), Some(Intensity::None), "any text can match");
    }

    #[test]
    fn invalid_patterns_are_explained() {
        assert!(validate_pattern("(unclosed").unwrap_err().contains("not a valid regular expression"));
        assert!(validate_pattern("").is_err());
        assert!(validate_pattern(&"a".repeat(1001)).unwrap_err().contains("longer than"));
        assert!(validate_pattern(r"\w{1000}{1000}").is_err(), "compiled size is capped");
        assert!(validate_pattern(r"(a+)+$").is_ok(), "safe here: matching is linear-time");
    }
}
