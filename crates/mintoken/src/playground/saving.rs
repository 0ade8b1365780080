//! What the skill saved in one comparison, reported as measured: a run with the skill
//! that answered longer is a negative saving, not a zero.

use crate::proxy::dialect::Tokens;
use serde::Serialize;

#[derive(Debug, PartialEq, Serialize)]
pub struct Saving {
    /// Output tokens without the skill minus output tokens with it.
    pub output_tokens: i64,
    /// That difference as a percentage of the output without the skill (one decimal);
    /// `null` when the run without the skill produced no output.
    pub percent: Option<f64>,
    /// Total tokens (input + output) without the skill minus with it: the output saved
    /// net of the input the injected skill costs.
    pub net_tokens: i64,
}

pub fn between(without: Tokens, with: Tokens) -> Saving {
    let output_tokens = without.output - with.output;
    let percent = (without.output > 0).then(|| (output_tokens as f64 * 1000.0 / without.output as f64).round() / 10.0);
    let net_tokens = (without.input + without.output) - (with.input + with.output);
    Saving { output_tokens, percent, net_tokens }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(input: i64, output: i64) -> Tokens {
        Tokens { input, output }
    }

    #[test]
    fn positive_negative_and_empty_baselines() {
        assert_eq!(between(t(10, 40), t(70, 10)), Saving { output_tokens: 30, percent: Some(75.0), net_tokens: -30 });
        assert_eq!(between(t(10, 30), t(70, 40)), Saving { output_tokens: -10, percent: Some(-33.3), net_tokens: -70 });
        assert_eq!(between(t(10, 0), t(70, 3)), Saving { output_tokens: -3, percent: None, net_tokens: -63 });
    }
}
