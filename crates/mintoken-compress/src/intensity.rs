//! Output-compression intensity levels and their parsing.

use std::fmt;
use std::str::FromStr;

/// How strongly the model is asked to shorten its answer.
///
/// `None` is the explicit bypass: nothing is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Intensity {
    None,
    Lite,
    #[default]
    Full,
    Ultra,
}

impl Intensity {
    /// Every level, in increasing strength.
    pub const ALL: [Intensity; 4] = [Intensity::None, Intensity::Lite, Intensity::Full, Intensity::Ultra];

    /// The accepted spellings, for error messages that must list them.
    pub const ALLOWED: &'static str = "lite, full, ultra, none";

    pub fn as_str(self) -> &'static str {
        match self {
            Intensity::None => "none",
            Intensity::Lite => "lite",
            Intensity::Full => "full",
            Intensity::Ultra => "ultra",
        }
    }
}

impl fmt::Display for Intensity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value was not one of [`Intensity::ALLOWED`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIntensityError;

impl fmt::Display for ParseIntensityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "intensity must be one of: {}", Intensity::ALLOWED)
    }
}

impl std::error::Error for ParseIntensityError {}

impl FromStr for Intensity {
    type Err = ParseIntensityError;

    /// Case-insensitive and tolerant of surrounding blanks, because the value often
    /// arrives in a hand-written header or query string.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Intensity::ALL.into_iter().find(|level| level.as_str().eq_ignore_ascii_case(s)).ok_or(ParseIntensityError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_level_case_insensitively() {
        for level in Intensity::ALL {
            assert_eq!(level.as_str().parse::<Intensity>(), Ok(level));
            assert_eq!(level.as_str().to_uppercase().parse::<Intensity>(), Ok(level));
        }
        assert_eq!(" ultra ".parse::<Intensity>(), Ok(Intensity::Ultra));
    }

    #[test]
    fn rejects_unknown_values_and_names_the_allowed_ones() {
        let err = "max".parse::<Intensity>().unwrap_err();
        assert_eq!(err.to_string(), "intensity must be one of: lite, full, ultra, none");
        assert!("".parse::<Intensity>().is_err());
    }
}
