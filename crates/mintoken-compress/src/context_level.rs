//! Context-compression levels for long agent sessions.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ContextLevel {
    Conservative,
    #[default]
    Standard,
    Aggressive,
}

impl ContextLevel {
    pub const ALLOWED: &'static str = "conservative (or light), standard, aggressive";

    pub fn as_str(self) -> &'static str {
        match self {
            ContextLevel::Conservative => "conservative",
            ContextLevel::Standard => "standard",
            ContextLevel::Aggressive => "aggressive",
        }
    }
}

impl fmt::Display for ContextLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseContextLevelError;

impl fmt::Display for ParseContextLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "context_compress_level must be one of: {}", ContextLevel::ALLOWED)
    }
}

impl std::error::Error for ParseContextLevelError {}

impl FromStr for ContextLevel {
    type Err = ParseContextLevelError;

    /// `light` is the local CLI's name for `conservative`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "conservative" | "light" => Ok(ContextLevel::Conservative),
            "standard" => Ok(ContextLevel::Standard),
            "aggressive" => Ok(ContextLevel::Aggressive),
            _ => Err(ParseContextLevelError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContextLevel;

    #[test]
    fn light_is_an_alias_of_conservative() {
        assert_eq!("light".parse(), Ok(ContextLevel::Conservative));
        assert_eq!("Aggressive".parse(), Ok(ContextLevel::Aggressive));
        assert!("max".parse::<ContextLevel>().is_err());
    }
}
