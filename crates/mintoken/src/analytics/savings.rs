//! What the skill saved, honestly: the statistics of treated vs. holdout requests, and
//! the saving model that turns a usage cell into tokens saved — measured where there is
//! enough holdout data for its (provider, model, intensity), else estimated from a
//! per-intensity expected ratio and labelled as such. `docs/analytics.md` states the
//! formulas; keep the two in sync.

use crate::store::UsageCell;
use std::collections::HashMap;

/// The playground compares with and without the skill on demand: its requests count in
/// totals, but are no sample of real traffic, so they never enter a measurement.
pub const PLAYGROUND_ENDPOINT: &str = "playground";

/// Each of the two groups needs this many measurable requests before a measurement
/// replaces the estimate (the usual floor for a normal approximation of a mean).
pub const MIN_SAMPLES: i64 = 30;

/// Two-sided 95 % normal quantile.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Expected share of output tokens a level removes, used when nothing is measured: the
/// saving of a request that produced `o` tokens is `o · r / (1 − r)` (its baseline
/// would have been `o / (1 − r)`). Conservative on purpose; see docs/analytics.md for
/// where the figures come from.
pub fn expected_ratio(intensity: &str) -> Option<f64> {
    match intensity {
        "lite" => Some(0.20),
        "full" => Some(0.30),
        "ultra" => Some(0.40),
        _ => None,
    }
}

/// Count, sum and sum of squares of output tokens: enough for a mean and a variance.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    pub n: i64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl Sample {
    pub fn add(&mut self, cell: &UsageCell) {
        self.n += cell.requests;
        self.sum += cell.output_tokens as f64;
        self.sum_sq += cell.output_tokens_sq;
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.sum / self.n as f64 }
    }

    /// Unbiased sample variance (0 below two samples; never negative from rounding).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = self.n as f64;
        ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }
}

/// Treated vs. holdout output tokens for one (provider, model, intensity).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    pub treated: Sample,
    pub holdout: Sample,
    /// `1 − mean_treated / mean_holdout`.
    pub reduction: f64,
    /// 95 % interval of the reduction (delta method, normal approximation).
    pub reduction_ci95: (f64, f64),
    /// `mean_holdout − mean_treated`, output tokens per request.
    pub tokens_per_request: f64,
    /// 95 % interval of that difference (Welch standard error, normal approximation).
    pub tokens_per_request_ci95: (f64, f64),
    /// Both groups have [`MIN_SAMPLES`]: the measurement replaces the estimate.
    pub sufficient: bool,
}

/// Compares the groups; `None` when either has fewer than two requests or the holdout
/// mean is zero (no ratio to speak of).
pub fn measure(treated: Sample, holdout: Sample) -> Option<Measurement> {
    if treated.n < 2 || holdout.n < 2 {
        return None;
    }
    let (mt, mh) = (treated.mean(), holdout.mean());
    if mh <= 0.0 {
        return None;
    }
    let (vt, vh) = (treated.variance() / treated.n as f64, holdout.variance() / holdout.n as f64);
    let ratio = mt / mh;
    // Var(mt/mh) ≈ (Var(mt) + ratio² Var(mh)) / mh²  (first-order delta method; the
    // groups are independent).
    let se_reduction = (vt + ratio * ratio * vh).sqrt() / mh;
    let se_diff = (vt + vh).sqrt();
    let reduction = 1.0 - ratio;
    let diff = mh - mt;
    Some(Measurement {
        treated,
        holdout,
        reduction,
        reduction_ci95: (reduction - Z_95 * se_reduction, reduction + Z_95 * se_reduction),
        tokens_per_request: diff,
        tokens_per_request_ci95: (diff - Z_95 * se_diff, diff + Z_95 * se_diff),
        sufficient: treated.n >= MIN_SAMPLES && holdout.n >= MIN_SAMPLES,
    })
}

/// (provider, model, intensity): what a measurement is about.
pub type PairKey = (String, String, String);

pub fn pair_key(cell: &UsageCell) -> PairKey {
    (cell.provider.clone(), cell.model.clone(), cell.intensity.clone())
}

/// Whether a cell's requests are samples for a measurement, and of which group.
fn sample_group(cell: &UsageCell) -> Option<bool> {
    let eligible = cell.measurable && cell.endpoint != PLAYGROUND_ENDPOINT && expected_ratio(&cell.intensity).is_some();
    eligible.then_some(cell.holdout)
}

/// Every measurement the cells allow, by (provider, model, intensity).
pub fn measurements(cells: &[UsageCell]) -> HashMap<PairKey, Measurement> {
    let mut groups: HashMap<PairKey, (Sample, Sample)> = HashMap::new();
    for cell in cells {
        if let Some(holdout) = sample_group(cell) {
            let (treated, held) = groups.entry(pair_key(cell)).or_default();
            if holdout { held.add(cell) } else { treated.add(cell) }
        }
    }
    groups.into_iter().filter_map(|(k, (t, h))| measure(t, h).map(|m| (k, m))).collect()
}

/// How a cell's output saving was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    Measured,
    Estimated,
    /// Nothing to save: held out, intensity `none`, or a failed request of a measured pair.
    None,
}

/// What one cell saved, in tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CellSavings {
    pub output_measured: f64,
    pub output_estimated: f64,
    pub context: i64,
    pub skill: i64,
}

impl CellSavings {
    pub fn output(&self) -> f64 {
        self.output_measured + self.output_estimated
    }

    /// Output and context tokens saved minus the skill's input tokens.
    pub fn net(&self) -> f64 {
        self.output() + self.context as f64 - self.skill as f64
    }

    pub fn basis(&self) -> Basis {
        if self.output_measured != 0.0 {
            Basis::Measured
        } else if self.output_estimated != 0.0 {
            Basis::Estimated
        } else {
            Basis::None
        }
    }
}

/// The saving model applied to one cell.
///
/// * Held-out requests and `none` save no output (and carried no skill).
/// * Treated requests of a pair with a sufficient measurement: each measurable request
///   saved `mean_holdout − its output` (so the cells of the pair add up to
///   `n_treated · (mean_holdout − mean_treated)`); failed ones saved nothing.
/// * Otherwise (and always for playground requests): the estimate `o · r / (1 − r)`.
///
/// Context savings (`before − after`) and the skill's input cost apply to every cell.
pub fn cell_savings(cell: &UsageCell, measured: &HashMap<PairKey, Measurement>) -> CellSavings {
    let mut s = CellSavings {
        context: cell.context_tokens_before - cell.context_tokens_after,
        skill: cell.skill_tokens,
        ..Default::default()
    };
    let Some(ratio) = expected_ratio(&cell.intensity) else { return s };
    if cell.holdout {
        return s;
    }
    let measurement = (cell.endpoint != PLAYGROUND_ENDPOINT)
        .then(|| measured.get(&pair_key(cell)))
        .flatten()
        .filter(|m| m.sufficient);
    match measurement {
        Some(m) if cell.measurable => {
            s.output_measured = cell.requests as f64 * m.holdout.mean() - cell.output_tokens as f64;
        }
        Some(_) => {}
        None => s.output_estimated = cell.output_tokens as f64 * ratio / (1.0 - ratio),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(intensity: &str, holdout: bool, outputs: &[i64]) -> UsageCell {
        UsageCell {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            endpoint: "chat.completions".into(),
            intensity: intensity.into(),
            holdout,
            measurable: true,
            requests: outputs.len() as i64,
            output_tokens: outputs.iter().sum(),
            output_tokens_sq: outputs.iter().map(|o| (o * o) as f64).sum(),
            skill_tokens: if holdout { 0 } else { 119 * outputs.len() as i64 },
            ..Default::default()
        }
    }

    #[test]
    fn variance_and_mean_match_the_textbook() {
        let c = cell("full", false, &[2, 4, 4, 4, 5, 5, 7, 9]);
        let mut s = Sample::default();
        s.add(&c);
        assert_eq!(s.mean(), 5.0);
        assert!((s.variance() - 32.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn constant_groups_measure_exactly() {
        let t = cell("full", false, &[60; 40]);
        let h = cell("full", true, &[100; 40]);
        let m = measurements(&[t.clone(), h]);
        let m = m.values().next().unwrap();
        assert!((m.reduction - 0.4).abs() < 1e-12);
        assert_eq!(m.reduction_ci95, (m.reduction, m.reduction));
        assert!(m.sufficient);
        let all = measurements(&[t.clone(), cell("full", true, &[100; 40])]);
        let s = cell_savings(&t, &all);
        assert_eq!(s.output_measured, 40.0 * 40.0);
        assert_eq!(s.basis(), Basis::Measured);
    }

    #[test]
    fn too_few_samples_keep_the_estimate() {
        let t = cell("full", false, &[60; 10]);
        let h = cell("full", true, &[100; 10]);
        let all = measurements(&[t.clone(), h]);
        assert!(!all.values().next().unwrap().sufficient);
        let s = cell_savings(&t, &all);
        assert!((s.output_estimated - 600.0 * 0.3 / 0.7).abs() < 1e-9);
        assert_eq!(s.basis(), Basis::Estimated);
        assert_eq!(s.skill, 1190);
    }

    #[test]
    fn playground_and_failed_requests_are_not_samples() {
        let mut p = cell("full", true, &[1000; 40]);
        p.endpoint = PLAYGROUND_ENDPOINT.into();
        let mut failed = cell("full", true, &[0; 40]);
        failed.measurable = false;
        assert!(measurements(&[cell("full", false, &[60; 40]), p, failed]).is_empty());
        assert_eq!(cell_savings(&cell("none", false, &[60; 3]), &HashMap::new()).output(), 0.0);
    }
}
