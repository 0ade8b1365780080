//! Configuration: one typed struct with defaults, assembled from the TOML file, then
//! the environment, then flags (flags win; clap already merges env and flags), and
//! validated once at start-up.

use crate::analytics::prices::{PriceOverride, PriceTable};
use crate::cli::{LogFormat, ServeArgs, StoreArgs};
use crate::plans::{PlanOverride, Plans};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shape of the TOML file. Every field is optional; unknown fields are an error so
/// a typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_max_connections: Option<u32>,
    openai_base_url: Option<String>,
    anthropic_base_url: Option<String>,
    google_base_url: Option<String>,
    log_format: Option<LogFormat>,
    jwt_secret: Option<Secret<String>>,
    signup_enabled: Option<bool>,
    access_token_ttl_secs: Option<u64>,
    refresh_token_ttl_secs: Option<u64>,
    upstream_connect_timeout_secs: Option<u64>,
    upstream_timeout_secs: Option<u64>,
    header_read_timeout_secs: Option<u64>,
    request_body_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    default_plan: Option<String>,
    playground_allow_private_base_urls: Option<bool>,
    /// Proxies in front of mintoken that append to `X-Forwarded-For` (0: trust none).
    trusted_proxy_hops: Option<u8>,
    #[serde(default)]
    admin_emails: Vec<String>,
    #[serde(default)]
    plans: BTreeMap<String, PlanOverride>,
    /// Days usage rows are kept before being rolled up into monthly aggregates (0 = forever).
    usage_retention_days: Option<u32>,
    /// Per-model price overrides: `[prices."gpt-4o"] input_per_mtok = 2.5, output_per_mtok = 10`.
    #[serde(default)]
    prices: BTreeMap<String, PriceOverride>,
    /// `[billing.razorpay]` and `[billing.prices]` (docs/billing.md).
    #[serde(default)]
    billing: FileBilling,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBilling {
    #[serde(default)]
    razorpay: FileRazorpay,
    /// Price per plan in paise, over the defaults; 0 takes a plan off sale.
    prices: Option<BTreeMap<String, u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRazorpay {
    key_id: Option<String>,
    key_secret: Option<Secret<String>>,
    base_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// PostgreSQL connection pool size per instance (SQLite uses a fixed small pool).
    pub database_max_connections: u32,
    pub openai_base_url: String,
    pub anthropic_base_url: String,
    pub google_base_url: String,
    pub log_format: LogFormat,
    /// HS256 secret for access tokens; generated into the data dir when not configured.
    pub jwt_secret: Option<Secret<String>>,
    pub signup_enabled: bool,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub upstream_connect_timeout: Duration,
    pub upstream_timeout: Duration,
    /// A client must send a request's whole head (request line and headers) within this
    /// long, else the connection is closed (slowloris). It also closes a keep-alive
    /// connection left idle this long.
    pub header_read_timeout: Duration,
    /// A client must send a request's whole body within this long from its head, else
    /// the request fails (408 on the proxy routes) and the connection is closed.
    pub request_body_timeout: Duration,
    /// How long a graceful shutdown waits for in-flight requests and streams.
    pub shutdown_grace: Duration,
    pub default_plan: String,
    pub plans: Plans,
    /// Usage rows older than this many days become monthly aggregates; 0 keeps them.
    pub usage_retention_days: u32,
    /// Model prices for analytics: the shipped table with the file's overrides.
    pub prices: PriceTable,
    /// Lets the playground's `custom_base_url` reach loopback, private and link-local
    /// addresses (off: the server would otherwise call any internal service a user names).
    pub playground_allow_private_base_urls: bool,
    /// How many trusted proxies stand in front and append the address they saw to
    /// `X-Forwarded-For`; 0 (default) ignores the header and uses the TCP peer. Only
    /// the login limiter reads client addresses (see `auth::login_limiter`).
    pub trusted_proxy_hops: u8,
    /// Accounts allowed to use the `/v1/admin/*` routes (lower-cased emails).
    pub admin_emails: Vec<String>,
    /// Paid plans through Razorpay (SPEC §10).
    pub billing: Billing,
}

/// Billing settings. Billing is on only when Razorpay credentials are configured.
#[derive(Debug, Clone)]
pub struct Billing {
    /// `None`: not configured (both `key_id` and `key_secret` are needed).
    pub razorpay: Option<Razorpay>,
    /// Plans that can be bought, with their price in paise (INR).
    pub prices: BTreeMap<String, u64>,
}

#[derive(Debug, Clone)]
pub struct Razorpay {
    /// Public: the browser's Checkout needs it.
    pub key_id: String,
    pub key_secret: Secret<String>,
    /// Without a trailing slash; `/v1/orders` is appended.
    pub base_url: String,
}

/// Default prices in paise: ₹499 for pro, ₹1,999 for team.
pub const DEFAULT_PRICES: [(&str, u64); 2] = [("pro", 49_900), ("team", 199_900)];
/// Razorpay refuses orders under ₹1.00.
const MIN_PRICE_PAISE: u64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Configuration for administration commands: only the store settings matter.
    pub fn for_store(store: &StoreArgs) -> Result<Config, ConfigError> {
        Config::load(&ServeArgs { store: store.clone(), ..Default::default() })
    }

    pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.store.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let jwt_secret =
            std::env::var("MINTOKEN_JWT_SECRET").ok().filter(|s| !s.is_empty()).map(Secret::new).or(file.jwt_secret);
        let billing = billing(file.billing, file.default_plan.as_deref().unwrap_or("free"))?;
        let config = Config {
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8787))),
            data_dir: args.store.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("./mintoken-data")),
            database_url: args.store.database_url.clone().or(file.database_url).filter(|u| !u.is_empty()),
            database_max_connections: file.database_max_connections.unwrap_or(10).max(1),
            openai_base_url: base_url(args.openai_base_url.clone().or(file.openai_base_url), "https://api.openai.com")?,
            anthropic_base_url: base_url(
                args.anthropic_base_url.clone().or(file.anthropic_base_url),
                "https://api.anthropic.com",
            )?,
            google_base_url: base_url(
                args.google_base_url.clone().or(file.google_base_url),
                "https://generativelanguage.googleapis.com",
            )?,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            jwt_secret,
            signup_enabled: args.signup_enabled.or(file.signup_enabled).unwrap_or(true),
            access_token_ttl: secs(file.access_token_ttl_secs, 3600),
            refresh_token_ttl: secs(file.refresh_token_ttl_secs, 30 * 24 * 3600),
            upstream_connect_timeout: secs(file.upstream_connect_timeout_secs, 10),
            upstream_timeout: secs(args.upstream_timeout_secs.or(file.upstream_timeout_secs), 120),
            header_read_timeout: secs(file.header_read_timeout_secs, 30),
            request_body_timeout: secs(file.request_body_timeout_secs, 60),
            shutdown_grace: secs(file.shutdown_grace_secs, 30),
            default_plan: file.default_plan.unwrap_or_else(|| "free".to_owned()),
            plans: Plans::with_overrides(&file.plans),
            usage_retention_days: file.usage_retention_days.unwrap_or(90),
            prices: PriceTable::with_overrides(&file.prices).map_err(ConfigError::Invalid)?,
            playground_allow_private_base_urls: file.playground_allow_private_base_urls.unwrap_or(false),
            trusted_proxy_hops: file.trusted_proxy_hops.unwrap_or(0),
            admin_emails: file.admin_emails.iter().map(|e| e.trim().to_lowercase()).collect(),
            billing,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.plans.get(&self.default_plan).is_none() {
            let known: Vec<_> = self.plans.names().collect();
            return Err(ConfigError::Invalid(format!(
                "default_plan {:?} is not a plan; known plans: {}",
                self.default_plan,
                known.join(", ")
            )));
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(ConfigError::Invalid("jwt_secret must be at least 32 characters".into()));
        }
        for (plan, paise) in &self.billing.prices {
            if self.plans.get(plan).is_none() {
                let known: Vec<_> = self.plans.names().collect();
                return Err(ConfigError::Invalid(format!(
                    "[billing.prices] names {plan:?}, which is not a plan; known plans: {}",
                    known.join(", ")
                )));
            }
            if *paise < MIN_PRICE_PAISE {
                return Err(ConfigError::Invalid(format!(
                    "[billing.prices] {plan} = {paise}: prices are in paise and Razorpay needs at least {MIN_PRICE_PAISE} (₹1.00)"
                )));
            }
        }
        if self.billing.prices.contains_key(&self.default_plan) {
            return Err(ConfigError::Invalid(format!(
                "[billing.prices] names {:?}, the plan new accounts start on (default_plan); it cannot be bought",
                self.default_plan
            )));
        }
        for (what, d) in [
            ("access_token_ttl_secs", self.access_token_ttl),
            ("upstream_timeout_secs", self.upstream_timeout),
            ("header_read_timeout_secs", self.header_read_timeout),
            ("request_body_timeout_secs", self.request_body_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::Invalid(format!("{what} must be greater than 0")));
            }
        }
        Ok(())
    }
}

/// Billing from the file, with `MINTOKEN_RAZORPAY_KEY_ID` / `MINTOKEN_RAZORPAY_KEY_SECRET`
/// winning over it (secrets are kept off the command line, so there are no flags).
fn billing(file: FileBilling, default_plan: &str) -> Result<Billing, ConfigError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let key_id = env("MINTOKEN_RAZORPAY_KEY_ID").or(file.razorpay.key_id).filter(|v| !v.trim().is_empty());
    let key_secret = env("MINTOKEN_RAZORPAY_KEY_SECRET")
        .map(Secret::new)
        .or(file.razorpay.key_secret)
        .filter(|v| !v.expose().trim().is_empty());
    let base_url = base_url(file.razorpay.base_url, "https://api.razorpay.com")?;
    let razorpay = match (key_id, key_secret) {
        (Some(key_id), Some(key_secret)) => Some(Razorpay { key_id: key_id.trim().to_owned(), key_secret, base_url }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::Invalid(
                "[billing.razorpay] has key_id but no key_secret: set both (or MINTOKEN_RAZORPAY_KEY_SECRET), or neither to leave billing off".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid(
                "[billing.razorpay] has key_secret but no key_id: set both (or MINTOKEN_RAZORPAY_KEY_ID), or neither to leave billing off".into(),
            ));
        }
    };
    // The file's entries override the defaults; 0 takes a plan off sale. A default price for
    // the plan accounts start on is dropped (a deployment starting everyone on pro sells
    // team only); naming that plan explicitly is refused by `validate`.
    let mut prices: BTreeMap<String, u64> =
        DEFAULT_PRICES.iter().filter(|(p, _)| *p != default_plan).map(|(p, a)| ((*p).to_owned(), *a)).collect();
    for (plan, paise) in file.prices.unwrap_or_default() {
        if paise == 0 {
            prices.remove(&plan);
        } else {
            prices.insert(plan, paise);
        }
    }
    Ok(Billing { razorpay, prices })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
}

fn secs(value: Option<u64>, default: u64) -> Duration {
    Duration::from_secs(value.unwrap_or(default))
}

/// Base URLs are stored without a trailing slash; mintoken appends `/v1/…` itself.
fn base_url(value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| default.to_owned());
    let url = url.trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError::Invalid(format!("upstream base URL {url:?} must start with http:// or https://")));
    }
    match reqwest::Url::parse(&url) {
        Ok(parsed) if parsed.query().is_none() && parsed.fragment().is_none() => Ok(url),
        Ok(_) => Err(ConfigError::Invalid(format!("upstream base URL {url:?} must not have a query or fragment"))),
        Err(e) => Err(ConfigError::Invalid(format!("upstream base URL {url:?} is not a valid URL: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nopenai_base_url = \"http://file/\"\n[plans.free]\nmax_keys = 7\n",
        )
        .unwrap();
        let args = ServeArgs {
            store: StoreArgs { config: Some(path), ..Default::default() },
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.openai_base_url, "http://file");
        assert_eq!(c.plans.limits("free").max_keys, 7);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let args =
            ServeArgs { store: StoreArgs { config: Some(path.clone()), ..Default::default() }, ..Default::default() };
        assert!(Config::load(&args).unwrap_err().to_string().contains("lisen"));
        std::fs::write(&path, "default_plan = \"gold\"\n").unwrap();
        assert!(Config::load(&args).unwrap_err().to_string().contains("gold"));
    }

    #[test]
    fn retention_and_price_overrides_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        let args =
            ServeArgs { store: StoreArgs { config: Some(path.clone()), ..Default::default() }, ..Default::default() };
        std::fs::write(&path, "").unwrap();
        assert_eq!(Config::load(&args).unwrap().usage_retention_days, 90);
        std::fs::write(&path, "usage_retention_days = 0\n[prices.\"gpt-4o\"]\noutput_per_mtok = 7\n").unwrap();
        let c = Config::load(&args).unwrap();
        assert_eq!(c.usage_retention_days, 0);
        assert_eq!(c.prices.lookup("gpt-4o-2024-08-06").unwrap().1.price.output_per_mtok, 7.0);
        std::fs::write(&path, "[prices.\"x\"]\ninput_per_mtok = 1\nbogus = 2\n").unwrap();
        assert!(Config::load(&args).unwrap_err().to_string().contains("bogus"));
        std::fs::write(&path, "[prices.\"x\"]\ninput_per_mtok = 1\n").unwrap();
        assert!(Config::load(&args).unwrap_err().to_string().contains("both"));
    }

    #[test]
    fn billing_needs_both_keys_and_sane_prices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        let args =
            ServeArgs { store: StoreArgs { config: Some(path.clone()), ..Default::default() }, ..Default::default() };
        let load = |toml: &str| {
            std::fs::write(&path, toml).unwrap();
            Config::load(&args)
        };
        let c = load("").unwrap();
        assert!(c.billing.razorpay.is_none());
        assert_eq!(c.billing.prices, [("pro".to_owned(), 49_900), ("team".to_owned(), 199_900)].into());
        let c = load("[billing.razorpay]\nkey_id = \"rzp_test_1\"\nkey_secret = \"s\"\nbase_url = \"http://fake/\"\n[billing.prices]\nteam = 0\nenterprise = 900000\n").unwrap();
        let rp = c.billing.razorpay.unwrap();
        assert_eq!(
            (rp.key_id.as_str(), rp.key_secret.expose().as_str(), rp.base_url.as_str()),
            ("rzp_test_1", "s", "http://fake")
        );
        assert_eq!(c.billing.prices, [("enterprise".to_owned(), 900_000), ("pro".to_owned(), 49_900)].into());
        let c = load("default_plan = \"pro\"\n").unwrap();
        assert_eq!(c.billing.prices, [("team".to_owned(), 199_900)].into());
        assert!(format!("{rp:?}").contains("[redacted]") && !format!("{rp:?}").contains("\"s\""));
        for (toml, says) in [
            ("[billing.razorpay]\nkey_id = \"rzp_test_1\"\n", "no key_secret"),
            ("[billing.razorpay]\nkey_secret = \"s\"\n", "no key_id"),
            ("[billing.prices]\ngold = 100\n", "not a plan"),
            ("[billing.prices]\npro = 99\n", "at least 100"),
            ("[billing.prices]\nfree = 100\n", "default_plan"),
            ("default_plan = \"pro\"\n[billing.prices]\npro = 100\n", "default_plan"),
            ("[billing.razorpay]\nbase_url = \"ftp://x\"\n", "http://"),
            ("[billing.razorpay]\nkey = \"x\"\n", "key"),
        ] {
            let e = load(toml).unwrap_err().to_string();
            assert!(e.contains(says), "{toml}: {e}");
        }
    }
}
