//! The plan table: what each plan allows. Defaults follow the product contract; a
//! deployment overrides any field per plan in its TOML file (`[plans.pro]` …).

use serde::Deserialize;
use std::collections::BTreeMap;

/// Limits of one plan. `monthly_output_tokens == 0` means unlimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanLimits {
    pub monthly_output_tokens: u64,
    pub requests_per_minute: u32,
    pub max_keys: u32,
    pub max_orgs: u32,
    pub max_members_per_org: u32,
    pub max_rules: u32,
    pub smart_detection: bool,
    pub input_compression: bool,
    pub max_body_bytes: usize,
}

/// A partial plan from the configuration file; unset fields keep the default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanOverride {
    pub monthly_output_tokens: Option<u64>,
    pub requests_per_minute: Option<u32>,
    pub max_keys: Option<u32>,
    pub max_orgs: Option<u32>,
    pub max_members_per_org: Option<u32>,
    pub max_rules: Option<u32>,
    pub smart_detection: Option<bool>,
    pub input_compression: Option<bool>,
    pub max_body_bytes: Option<usize>,
}

impl PlanLimits {
    fn apply(&mut self, o: &PlanOverride) {
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = o.$field { self.$field = v; } )* };
        }
        take!(
            monthly_output_tokens,
            requests_per_minute,
            max_keys,
            max_orgs,
            max_members_per_org,
            max_rules,
            smart_detection,
            input_compression,
            max_body_bytes
        );
    }
}

/// All plans by name.
#[derive(Clone, Debug)]
pub struct Plans(BTreeMap<String, PlanLimits>);

impl Plans {
    /// The built-in table, then each override applied on top. An override may also
    /// define a new plan name; it starts from the `free` limits.
    pub fn with_overrides(overrides: &BTreeMap<String, PlanOverride>) -> Self {
        let mut plans = Self::defaults();
        for (name, o) in overrides {
            let base = plans.0.get("free").cloned().unwrap_or_else(|| default_limits("free"));
            plans.0.entry(name.clone()).or_insert(base).apply(o);
        }
        plans
    }

    fn defaults() -> Self {
        let table = ["free", "pro", "team", "enterprise"].map(|n| (n.to_owned(), default_limits(n)));
        Plans(table.into_iter().collect())
    }

    pub fn get(&self, name: &str) -> Option<&PlanLimits> {
        self.0.get(name)
    }

    /// Limits for a user's plan; an unknown name (e.g. a plan removed from the
    /// configuration) falls back to `free` rather than failing the request.
    pub fn limits(&self, name: &str) -> &PlanLimits {
        self.0.get(name).or_else(|| self.0.get("free")).unwrap_or(&FREE_FALLBACK)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

static FREE_FALLBACK: PlanLimits = PlanLimits {
    monthly_output_tokens: 100_000,
    requests_per_minute: 20,
    max_keys: 2,
    max_orgs: 0,
    max_members_per_org: 0,
    max_rules: 5,
    smart_detection: false,
    input_compression: false,
    max_body_bytes: 100 * 1000,
};

fn default_limits(name: &str) -> PlanLimits {
    let (tokens, rpm, keys, orgs, members, rules, paid, body) = match name {
        "pro" => (2_000_000, 120, 10, 1, 5, 50, true, 1_000_000),
        "team" => (10_000_000, 300, 50, 5, 25, 200, true, 5_000_000),
        "enterprise" => (0, 1000, 200, 50, 200, 1000, true, 10_000_000),
        _ => return FREE_FALLBACK.clone(),
    };
    PlanLimits {
        monthly_output_tokens: tokens,
        requests_per_minute: rpm,
        max_keys: keys,
        max_orgs: orgs,
        max_members_per_org: members,
        max_rules: rules,
        smart_detection: paid,
        input_compression: paid,
        max_body_bytes: body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let plans = Plans::with_overrides(&BTreeMap::new());
        assert_eq!(plans.limits("free").max_body_bytes, 100_000);
        assert_eq!(plans.limits("pro").monthly_output_tokens, 2_000_000);
        assert_eq!(plans.limits("enterprise").monthly_output_tokens, 0);
        assert_eq!(plans.limits("no-such-plan"), plans.limits("free"));
    }

    #[test]
    fn overrides_change_only_the_fields_given() {
        let mut o = BTreeMap::new();
        o.insert("pro".to_owned(), PlanOverride { max_keys: Some(3), ..Default::default() });
        let plans = Plans::with_overrides(&o);
        assert_eq!(plans.limits("pro").max_keys, 3);
        assert_eq!(plans.limits("pro").requests_per_minute, 120);
    }
}
