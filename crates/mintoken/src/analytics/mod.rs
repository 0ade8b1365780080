//! Analytics: what a user's requests cost and what mintoken saved them, over a period.
//! Every report is built the same way: the store sums usage into cells (per key,
//! provider, model, endpoint, intensity, holdout flag; per-request rows and monthly
//! aggregates alike), `savings` turns each cell into tokens saved, and `prices` into
//! dollars. Reports only ever read the caller's own cells.

pub mod calendar;
pub mod period;
pub mod prices;
pub mod retention;
pub mod savings;

use crate::clock::rfc3339;
use crate::store::{CellQuery, KeyRecord, Store, StoreError, UsageCell, UsageScope};
use period::{Bucket, Period};
use prices::PriceTable;
use savings::{Basis, CellSavings, Measurement, PairKey, cell_savings, expected_ratio, measurements};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Reads a user's cells for a period (one bucket covering it all).
async fn cells(store: &Store, scope: UsageScope<'_>, p: Period) -> Result<Vec<UsageCell>, StoreError> {
    let q = CellQuery { start_ms: p.start_ms, end_ms: p.end_ms, bucket_ms: p.end_ms - p.start_ms };
    store.usage_cells(scope, q).await
}

/// Running totals of a set of cells.
#[derive(Clone, Debug, Default)]
struct Totals {
    requests: i64,
    input_tokens: i64,
    output_tokens: i64,
    holdout_requests: i64,
    saved: CellSavings,
    cost_usd: f64,
    unpriced_models: BTreeSet<String>,
    unpriced_requests: i64,
}

impl Totals {
    fn add(&mut self, cell: &UsageCell, s: &CellSavings, prices: &PriceTable) {
        self.requests += cell.requests;
        self.input_tokens += cell.input_tokens;
        self.output_tokens += cell.output_tokens;
        if cell.holdout {
            self.holdout_requests += cell.requests;
        }
        self.saved.output_measured += s.output_measured;
        self.saved.output_estimated += s.output_estimated;
        self.saved.context += s.context;
        self.saved.skill += s.skill;
        match prices.lookup(&cell.model) {
            Some((_, entry)) => self.cost_usd += cell_cost(s, entry.price),
            None => {
                self.unpriced_models.insert(cell.model.clone());
                self.unpriced_requests += cell.requests;
            }
        }
    }

    fn tokens_saved(&self) -> i64 {
        self.saved.net().round() as i64
    }

    /// The figures every report shares.
    fn fields(&self) -> Map<String, Value> {
        let basis = match (self.saved.output_measured != 0.0, self.saved.output_estimated != 0.0) {
            (true, true) => "mixed",
            (true, false) => "measured",
            (false, true) => "estimated",
            (false, false) => "none",
        };
        let mut m = Map::new();
        m.insert("requests".into(), json!(self.requests));
        m.insert("input_tokens".into(), json!(self.input_tokens));
        m.insert("output_tokens".into(), json!(self.output_tokens));
        m.insert("tokens_saved".into(), json!(self.tokens_saved()));
        m.insert("cost_saved_usd".into(), json!(usd(self.cost_usd)));
        m.insert("output_tokens_saved".into(), json!(self.saved.output().round() as i64));
        m.insert("output_tokens_saved_measured".into(), json!(self.saved.output_measured.round() as i64));
        m.insert("output_tokens_saved_estimated".into(), json!(self.saved.output_estimated.round() as i64));
        m.insert("context_tokens_saved".into(), json!(self.saved.context));
        m.insert("skill_input_tokens".into(), json!(self.saved.skill));
        m.insert("holdout_requests".into(), json!(self.holdout_requests));
        m.insert("savings_basis".into(), json!(basis));
        m.insert("estimated".into(), json!(self.saved.output_estimated != 0.0));
        m.insert("unpriced_models".into(), json!(self.unpriced_models));
        m
    }
}

/// Dollars saved by one cell: output saved at the output price, context saved minus the
/// skill's tokens at the input price.
fn cell_cost(s: &CellSavings, p: prices::Price) -> f64 {
    p.usd((s.context - s.skill) as f64, s.output())
}

/// USD rounded to a millionth of a dollar (finer is noise, and keeps JSON short).
fn usd(v: f64) -> f64 {
    (v * 1_000_000.0).round() / 1_000_000.0
}

fn period_fields(p: Period) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("period_start".into(), json!(rfc3339(p.start_ms)));
    m.insert("period_end".into(), json!(rfc3339(p.end_ms)));
    m
}

fn cost_note(prices: &PriceTable, t: &Totals) -> Value {
    json!({
        "currency": "USD",
        "prices_as_of": prices.as_of,
        "unpriced_models": t.unpriced_models,
        "unpriced_requests": t.unpriced_requests,
        "note": if t.unpriced_models.is_empty() {
            "every model was priced".to_owned()
        } else {
            "models not in the price table count as $0; add them under [prices.\"model\"] in the configuration".to_owned()
        },
    })
}

fn totals_of(cells: &[UsageCell], measured: &HashMap<PairKey, Measurement>, prices: &PriceTable) -> Totals {
    let mut t = Totals::default();
    for c in cells {
        t.add(c, &cell_savings(c, measured), prices);
    }
    t
}

/// `GET /v1/analytics/summary`.
pub async fn summary(
    store: &Store,
    prices: &PriceTable,
    scope: UsageScope<'_>,
    p: Period,
) -> Result<Value, StoreError> {
    let cells = cells(store, scope, p).await?;
    let measured = measurements(&cells);
    let t = totals_of(&cells, &measured, prices);
    let mut f = t.fields();
    let mut m = Map::new();
    // The SPEC's names first, then the breakdown under its own names.
    for (spec, ours) in [
        ("total_requests", "requests"),
        ("total_input_tokens", "input_tokens"),
        ("total_output_tokens", "output_tokens"),
        ("total_tokens_saved", "tokens_saved"),
        ("total_cost_saved_usd", "cost_saved_usd"),
    ] {
        m.insert(spec.into(), f.shift_remove(ours).unwrap_or(Value::Null));
    }
    m.extend(period_fields(p));
    f.shift_remove("unpriced_models"); // in `cost`
    m.extend(f);
    m.insert("cost".into(), cost_note(prices, &t));
    Ok(Value::Object(m))
}

/// `GET /v1/analytics/timeseries`; `p` is already aligned to `bucket`.
pub async fn timeseries(
    store: &Store,
    prices: &PriceTable,
    scope: UsageScope<'_>,
    p: Period,
    bucket: Bucket,
) -> Result<Value, StoreError> {
    let width = bucket.width_ms();
    let q = CellQuery { start_ms: p.start_ms, end_ms: p.end_ms, bucket_ms: width };
    let cells = store.usage_cells(scope, q).await?;
    // Measurements over the whole period, so the buckets add up to the summary's figures.
    let measured = measurements(&cells);
    let count = ((p.end_ms - p.start_ms) / width).max(0) as usize;
    let mut buckets = vec![Totals::default(); count];
    let mut all = Totals::default();
    for c in &cells {
        let s = cell_savings(c, &measured);
        all.add(c, &s, prices);
        if let Some(t) = usize::try_from(c.bucket).ok().and_then(|i| buckets.get_mut(i)) {
            t.add(c, &s, prices);
        }
    }
    let series: Vec<Value> = buckets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let start = p.start_ms + i as i64 * width;
            let mut b = Map::new();
            b.insert("start".into(), json!(rfc3339(start)));
            b.insert("end".into(), json!(rfc3339(start + width)));
            b.extend(t.fields());
            // Listed once for the whole series, in `cost`.
            b.shift_remove("unpriced_models");
            Value::Object(b)
        })
        .collect();
    let mut m = period_fields(p);
    m.insert("bucket".into(), json!(bucket.as_str()));
    m.insert("buckets".into(), Value::Array(series));
    m.insert("cost".into(), cost_note(prices, &all));
    Ok(Value::Object(m))
}

/// `GET /v1/analytics/by-key`: the user's active keys (with or without usage) and every
/// revoked key that has usage in the period.
pub async fn by_key(store: &Store, prices: &PriceTable, scope: UsageScope<'_>, p: Period) -> Result<Value, StoreError> {
    let cells = cells(store, scope, p).await?;
    let measured = measurements(&cells);
    let keys = match scope {
        UsageScope::Personal(user_id) => store.list_keys(user_id).await?,
        UsageScope::Org(org_id) => store.list_org_keys(org_id).await?,
    };
    let mut per_key: BTreeMap<&str, Totals> = BTreeMap::new();
    let mut all = Totals::default();
    for c in &cells {
        let s = cell_savings(c, &measured);
        all.add(c, &s, prices);
        per_key.entry(c.key_id.as_str()).or_default().add(c, &s, prices);
    }
    let empty = Totals::default();
    let key_json = |id: &str, key: Option<&KeyRecord>, t: &Totals| {
        let mut m = Map::new();
        m.insert("id".into(), json!(id));
        m.insert("name".into(), json!(key.map(|k| k.settings.name.as_str())));
        m.insert("key_prefix".into(), json!(key.map(|k| k.key_prefix.as_str())));
        m.insert("is_active".into(), json!(key.is_some_and(KeyRecord::is_active)));
        m.extend(t.fields());
        Value::Object(m)
    };
    let mut out: Vec<Value> = Vec::new();
    for k in &keys {
        match per_key.remove(k.id.as_str()) {
            Some(t) => out.push(key_json(&k.id, Some(k), &t)),
            None if k.is_active() => out.push(key_json(&k.id, Some(k), &empty)),
            None => {}
        }
    }
    // Usage of a key no longer listed (cannot happen while keys are never deleted, but
    // totals must still add up if one ever is).
    for (id, t) in &per_key {
        out.push(key_json(id, None, t));
    }
    out.sort_by_key(|v| std::cmp::Reverse(v["requests"].as_i64().unwrap_or(0)));
    let mut m = period_fields(p);
    m.insert("keys".into(), Value::Array(out));
    m.insert("cost".into(), cost_note(prices, &all));
    Ok(Value::Object(m))
}

/// `GET /v1/analytics/savings`: per provider, model and intensity.
pub async fn savings(
    store: &Store,
    prices: &PriceTable,
    scope: UsageScope<'_>,
    p: Period,
) -> Result<Value, StoreError> {
    let cells = cells(store, scope, p).await?;
    let measured = measurements(&cells);
    let mut groups: BTreeMap<PairKey, (Totals, f64)> = BTreeMap::new();
    let mut all = Totals::default();
    for c in &cells {
        let s = cell_savings(c, &measured);
        let (t, estimate) = groups.entry(savings::pair_key(c)).or_default();
        t.add(c, &s, prices);
        all.add(c, &s, prices);
        // What the estimate alone would say, shown beside a measurement for comparison.
        if let (Some(r), false) = (expected_ratio(&c.intensity), c.holdout) {
            *estimate += c.output_tokens as f64 * r / (1.0 - r);
        }
    }
    let mut rows: Vec<Value> = Vec::new();
    for ((provider, model, intensity), (t, estimate)) in &groups {
        let key = (provider.clone(), model.clone(), intensity.clone());
        let m = measured.get(&key);
        let basis = match t.saved.basis() {
            Basis::Measured => "measured",
            Basis::Estimated => "estimated",
            Basis::None if m.is_some_and(|m| m.sufficient) => "measured",
            Basis::None => "none",
        };
        let price = prices.lookup(model).map(|(name, e)| {
            json!({
                "matched": name,
                "input_per_mtok": e.price.input_per_mtok,
                "output_per_mtok": e.price.output_per_mtok,
                "source": e.source.as_str(),
            })
        });
        rows.push(json!({
            "provider": provider,
            "model": model,
            "intensity": intensity,
            "requests": t.requests,
            "treated_requests": t.requests - t.holdout_requests,
            "holdout_requests": t.holdout_requests,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "skill_input_tokens": t.saved.skill,
            "context_tokens_saved": t.saved.context,
            "basis": basis,
            "output_tokens_saved": t.saved.output().round() as i64,
            "estimated": expected_ratio(intensity).map(|r| json!({
                "kind": "estimated",
                "expected_ratio": r,
                "output_tokens_saved": estimate.round() as i64,
            })),
            "measured": m.map(measurement_json),
            "net_tokens_saved": t.tokens_saved(),
            "price": price,
            "net_cost_saved_usd": if t.unpriced_models.is_empty() { json!(usd(t.cost_usd)) } else { Value::Null },
        }));
    }
    rows.sort_by_key(|v| std::cmp::Reverse(v["requests"].as_i64().unwrap_or(0)));
    let mut m = period_fields(p);
    m.insert("groups".into(), Value::Array(rows));
    let mut totals = all.fields();
    totals.shift_remove("unpriced_models");
    m.insert("totals".into(), Value::Object(totals));
    m.insert("cost".into(), cost_note(prices, &all));
    m.insert(
        "method".into(),
        json!({
            "estimate": "treated output tokens × r / (1 − r), r the expected ratio of the intensity",
            "expected_ratios": {"lite": expected_ratio("lite"), "full": expected_ratio("full"), "ultra": expected_ratio("ultra")},
            "measurement": "1 − mean(treated) / mean(holdout) over 2xx requests with provider-reported usage, playground excluded; 95 % interval by the delta method (normal approximation, unequal variances)",
            "min_samples_per_group": savings::MIN_SAMPLES,
            "net": "output tokens saved + context tokens saved − skill input tokens",
        }),
    );
    Ok(Value::Object(m))
}

fn measurement_json(m: &Measurement) -> Value {
    let group = |s: &savings::Sample| {
        json!({
            "requests": s.n,
            "mean_output_tokens": s.mean(),
            "stddev_output_tokens": s.variance().sqrt(),
        })
    };
    json!({
        "kind": "measured",
        "treated": group(&m.treated),
        "holdout": group(&m.holdout),
        "reduction": m.reduction,
        "reduction_ci95": [m.reduction_ci95.0, m.reduction_ci95.1],
        "tokens_saved_per_request": m.tokens_per_request,
        "tokens_saved_per_request_ci95": [m.tokens_per_request_ci95.0, m.tokens_per_request_ci95.1],
        "confidence_level": 0.95,
        "method": "welch-normal-delta",
        "sufficient": m.sufficient,
    })
}
