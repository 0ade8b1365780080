//! The management API's bodies as Rust types. Responses are built as these structs and
//! serialized, so `GET /openapi.json` (whose schemas are derived from them) cannot drift
//! from what the handlers send. Request bodies are still read field by field by
//! [`super::body::JsonObject`] (for errors that name the field); the request types here
//! give their schema, and [`RequestBody::FIELDS`] is the allow-list the handlers enforce,
//! checked against the schema's properties by a test.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request body type: its schema goes into the document, and its field names are the
/// only ones the handler accepts (others → 422).
pub trait RequestBody: JsonSchema {
    const FIELDS: &'static [&'static str];
}

/// Every error of the management API.
#[derive(Serialize, JsonSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do about it.
    pub detail: String,
}

/// Sign-up and log-in.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Compared case-insensitively.
    #[schemars(email, length(max = 254))]
    pub email: String,
    /// 8 to 256 characters.
    #[schemars(length(min = 8, max = 256))]
    pub password: String,
}

impl RequestBody for Credentials {
    const FIELDS: &'static [&'static str] = &["email", "password"];
}

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The single-use refresh token of the last session response.
    #[schemars(length(min = 1))]
    pub refresh_token: String,
}

impl RequestBody for RefreshRequest {
    const FIELDS: &'static [&'static str] = &["refresh_token"];
}

/// A Supabase-shaped session (SPEC §5).
#[derive(Serialize, JsonSchema)]
pub struct Session {
    /// HS256 JWT; send it as `Authorization: Bearer …` to the other management routes.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Unix time (seconds) the access token expires.
    pub expires_at: i64,
    /// Single use: `POST /v1/auth/refresh` spends it and answers a new one.
    pub refresh_token: String,
    pub user: UserView,
}

#[derive(Serialize, JsonSchema)]
pub struct UserView {
    pub id: String,
    /// Always `authenticated`.
    pub aud: &'static str,
    /// Always `authenticated`.
    pub role: &'static str,
    pub email: String,
    pub plan: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub app_metadata: AppMetadata,
    /// Always empty; kept for Supabase clients.
    pub user_metadata: EmptyObject,
}

#[derive(Serialize, JsonSchema)]
pub struct AppMetadata {
    pub provider: &'static str,
    pub providers: [&'static str; 1],
    pub plan: String,
}

#[derive(Serialize, JsonSchema)]
pub struct EmptyObject {}

/// Key settings: the body of `POST /v1/auth/keys` (absent fields take the defaults) and of
/// `PATCH /v1/auth/keys/{id}` (absent fields are left unchanged).
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeySettingsRequest {
    /// Unique among the account's active keys (default `Default`); surrounding spaces
    /// are trimmed; no control characters.
    #[schemars(
        length(min = 1, max = 100),
        pattern(r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub name: Option<String>,
    /// Default `full`.
    pub intensity: Option<IntensityName>,
    /// Default false.
    pub auto_compress_input: Option<bool>,
    /// Default true.
    pub smart_detect_enabled: Option<bool>,
    /// Default false.
    pub context_compress: Option<bool>,
    /// Default `standard`.
    pub context_compress_level: Option<ContextLevelName>,
    /// Share of requests sent without the skill, so analytics can measure the saving
    /// (default 0).
    #[schemars(range(min = 0, max = 100))]
    pub holdout_percent: Option<u8>,
}

impl RequestBody for KeySettingsRequest {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "intensity",
        "auto_compress_input",
        "smart_detect_enabled",
        "context_compress",
        "context_compress_level",
        "holdout_percent",
    ];
}

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntensityName {
    None,
    Lite,
    Full,
    Ultra,
}

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContextLevelName {
    /// Also accepted as `light`.
    Conservative,
    Standard,
    Aggressive,
}

/// An API key as every key route shows it: never the raw key (see [`KeyCreated`]).
#[derive(Serialize, JsonSchema)]
pub struct KeyView {
    pub id: String,
    /// `mt_live_` and the key's next 4 characters.
    pub key_prefix: String,
    pub name: String,
    pub intensity: &'static str,
    pub auto_compress_input: bool,
    pub smart_detect_enabled: bool,
    pub context_compress: bool,
    pub context_compress_level: &'static str,
    pub holdout_percent: u8,
    /// The org the key belongs to; null for a personal key.
    pub org_id: Option<String>,
    pub is_active: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; null until the key's first proxied request.
    pub last_used_at: Option<String>,
}

/// The answer to `POST /v1/auth/keys`: the key and, this once, its raw string.
#[derive(Serialize, JsonSchema)]
pub struct KeyCreated {
    #[serde(flatten)]
    pub key: KeyView,
    /// `mt_live_…`: shown in this response only; only its hash is stored.
    pub raw_key: String,
}

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCreateRequest {
    pub rule_type: RuleTypeName,
    /// A regular expression (Rust `regex` syntax), matched case-insensitively.
    #[schemars(length(min = 1, max = 1000), extend("format" = "regex"))]
    pub pattern: String,
    /// Higher first (default 0).
    #[schemars(range(min = -1_000_000, max = 1_000_000))]
    pub priority: Option<i64>,
}

impl RequestBody for RuleCreateRequest {
    const FIELDS: &'static [&'static str] = &["rule_type", "pattern", "priority"];
}

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleTypeName {
    NeverCompress,
    AlwaysCompress,
    KeepExact,
    Abbreviation,
}

#[derive(Serialize, JsonSchema)]
pub struct RuleView {
    pub id: String,
    pub rule_type: &'static str,
    pub pattern: String,
    pub priority: i64,
    /// False for rule types that have no effect yet (`keep_exact`, `abbreviation`).
    pub effective: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `GET /v1/plan`.
#[derive(Serialize, JsonSchema)]
pub struct PlanView {
    pub plan: String,
    pub limits: PlanLimitsView,
    pub usage: PlanUsage,
}

/// A plan's limits; 0 means unlimited where a limit can be.
#[derive(Serialize, JsonSchema)]
pub struct PlanLimitsView {
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

#[derive(Serialize, JsonSchema)]
pub struct PlanUsage {
    /// Start of the current calendar month (UTC), RFC 3339.
    pub period_start: String,
    pub output_tokens: i64,
    /// Null when the plan has no monthly limit.
    pub output_tokens_limit: Option<u64>,
    pub active_keys: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct AdminUser {
    pub id: String,
    pub email: String,
    pub plan: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[derive(Serialize, JsonSchema)]
pub struct UserList {
    pub users: Vec<AdminUser>,
}

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlanRequest {
    /// A plan of the server's configuration (by default free, pro, team, enterprise).
    pub plan: String,
}

impl RequestBody for SetPlanRequest {
    const FIELDS: &'static [&'static str] = &["plan"];
}

#[derive(Serialize, JsonSchema)]
pub struct PlanChanged {
    pub id: String,
    pub email: String,
    pub plan: String,
}

// The analytics reports are assembled as JSON maps in `crate::analytics`; these types give
// their guaranteed fields (SPEC §7). More fields follow (the breakdown); schemathesis's
// response check in CI holds the reports to these.

/// `GET /v1/analytics/summary`.
#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
pub struct AnalyticsSummary {
    pub total_requests: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub total_tokens_saved: i64,
    pub total_cost_saved_usd: f64,
    pub period_start: String,
    pub period_end: String,
    pub savings_basis: SavingsBasis,
    pub estimated: bool,
    pub cost: CostNote,
}

#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SavingsBasis {
    Measured,
    Estimated,
    Mixed,
    None,
}

/// How the dollar figures were priced.
#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
pub struct CostNote {
    pub currency: String,
    pub prices_as_of: String,
    pub unpriced_models: Vec<String>,
    pub unpriced_requests: i64,
    pub note: String,
}

/// `GET /v1/analytics/timeseries`.
#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
pub struct AnalyticsTimeseries {
    pub period_start: String,
    pub period_end: String,
    pub bucket: BucketName,
    /// One per bucket, in time order, with `start`, `end` and the summary's figures.
    pub buckets: Vec<Value>,
    pub cost: CostNote,
}

#[allow(dead_code)]
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BucketName {
    Hour,
    Day,
    Week,
}

/// `GET /v1/analytics/by-key`.
#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
pub struct AnalyticsByKey {
    pub period_start: String,
    pub period_end: String,
    /// Active keys (with or without usage) and revoked keys with usage in the period.
    pub keys: Vec<Value>,
    pub cost: CostNote,
}

/// `GET /v1/analytics/savings`.
#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
pub struct AnalyticsSavings {
    pub period_start: String,
    pub period_end: String,
    /// Per provider, model and intensity: measured or estimated savings.
    pub groups: Vec<Value>,
    pub totals: Value,
    pub cost: CostNote,
    pub method: Value,
}

/// The body of `POST /v1/orgs`.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgCreateRequest {
    /// 1 to 100 characters; surrounding spaces are trimmed; no control characters.
    #[schemars(
        length(min = 1, max = 100),
        pattern(r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub name: String,
    /// Unique across the server: lower-case letters, digits, `-` and `_`, starting with
    /// a letter or digit, at most 50 characters. Derived from the name when absent.
    #[schemars(length(min = 1, max = 50), pattern(r"^[a-z0-9][a-z0-9_-]*$"))]
    pub slug: Option<String>,
}

impl RequestBody for OrgCreateRequest {
    const FIELDS: &'static [&'static str] = &["name", "slug"];
}

/// A role that can be given by invitation.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InviteRoleName {
    Member,
    Admin,
}

/// Any role; `owner` transfers the ownership (the owner only).
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrgRoleName {
    Member,
    Admin,
    Owner,
}

/// The body of `POST /v1/orgs/{id}/members`.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// An existing account becomes a member at once; another email gets a pending
    /// invitation that becomes a membership when it signs up.
    #[schemars(email, length(max = 254))]
    pub email: String,
    /// Default `member`.
    pub role: Option<InviteRoleName>,
}

impl RequestBody for InviteRequest {
    const FIELDS: &'static [&'static str] = &["email", "role"];
}

/// The body of `PATCH /v1/orgs/{id}/members/{user_id}`.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    pub role: OrgRoleName,
}

impl RequestBody for RoleRequest {
    const FIELDS: &'static [&'static str] = &["role"];
}

/// An organization as one of its members sees it.
#[derive(Serialize, JsonSchema)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// The caller's role: `owner`, `admin` or `member`.
    pub role: &'static str,
    /// The owner's plan, which the org is on (its limits and quota).
    pub plan: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub member_count: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: &'static str,
    /// RFC 3339, UTC.
    pub joined_at: String,
}

/// A pending invitation of an email that has no account yet.
#[derive(Serialize, JsonSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `GET /v1/orgs/{id}`: the org, its members and its pending invitations.
#[derive(Serialize, JsonSchema)]
pub struct OrgDetail {
    #[serde(flatten)]
    pub org: OrgView,
    pub members: Vec<MemberView>,
    pub invitations: Vec<InvitationView>,
}

/// The answer to an invitation: a member (the email had an account) or a pending
/// invitation (it had none); tell them apart by `user_id` or `id`.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Invited {
    Member(MemberView),
    Invitation(InvitationView),
}

/// The body of `POST /v1/auth/keys`: the key settings, and `org_id` for an org key.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCreateRequest {
    /// Unique among the account's (or the org's) active keys (default `Default`);
    /// surrounding spaces are trimmed; no control characters.
    #[schemars(
        length(min = 1, max = 100),
        pattern(r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub name: Option<String>,
    /// Default `full`.
    pub intensity: Option<IntensityName>,
    /// Default false.
    pub auto_compress_input: Option<bool>,
    /// Default true.
    pub smart_detect_enabled: Option<bool>,
    /// Default false.
    pub context_compress: Option<bool>,
    /// Default `standard`.
    pub context_compress_level: Option<ContextLevelName>,
    /// Share of requests sent without the skill, so analytics can measure the saving
    /// (default 0).
    #[schemars(range(min = 0, max = 100))]
    pub holdout_percent: Option<u8>,
    /// Create the key for this org (its owner or an admin only): its usage counts
    /// against the org's plan. Absent or null: a personal key.
    pub org_id: Option<String>,
}

impl RequestBody for KeyCreateRequest {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "intensity",
        "auto_compress_input",
        "smart_detect_enabled",
        "context_compress",
        "context_compress_level",
        "holdout_percent",
        "org_id",
    ];
}

/// `POST /v1/billing/razorpay/order`.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// A plan that can be bought (by default `pro` or `team`; see
    /// `GET /v1/billing/razorpay/config`), higher than the account's current plan.
    pub plan: String,
}

impl RequestBody for OrderRequest {
    const FIELDS: &'static [&'static str] = &["plan"];
}

/// An order created at Razorpay: what Razorpay Checkout is opened with.
#[derive(Serialize, JsonSchema)]
pub struct OrderCreated {
    /// Razorpay's order id (`order_…`): Checkout's `order_id`.
    pub order_id: String,
    /// In paise.
    pub amount: u64,
    /// Always `INR`.
    pub currency: &'static str,
    /// Razorpay's public key id: Checkout's `key`.
    pub key_id: String,
    pub plan: String,
}

/// `POST /v1/billing/razorpay/verify`: the three fields Razorpay Checkout's success
/// handler receives, passed on as they are.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_]+$"))]
    pub razorpay_order_id: String,
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_]+$"))]
    pub razorpay_payment_id: String,
    /// Hex HMAC-SHA256 of `order_id|payment_id` with the key secret.
    #[schemars(length(min = 1, max = 128))]
    pub razorpay_signature: String,
}

impl RequestBody for VerifyRequest {
    const FIELDS: &'static [&'static str] = &["razorpay_order_id", "razorpay_payment_id", "razorpay_signature"];
}

/// A verified payment. Presenting the same payment again answers the same.
#[derive(Serialize, JsonSchema)]
pub struct PaymentVerified {
    /// Always `paid`.
    pub status: &'static str,
    /// The plan the order bought; the account is on it from its next request (or stays
    /// on a higher plan it already had).
    pub plan: String,
    pub order_id: String,
    pub payment_id: String,
}

/// `GET /v1/billing/razorpay/config`: what the dashboard needs to offer upgrades. Never
/// the key secret.
#[derive(Serialize, JsonSchema)]
pub struct BillingConfigView {
    /// False when the server has no Razorpay credentials: plans are then set by an
    /// operator (`mintoken users set-plan`).
    pub configured: bool,
    /// Razorpay's public key id; null when not configured.
    pub key_id: Option<String>,
    /// Always `INR`.
    pub currency: &'static str,
    /// Plans that can be bought and their price in paise.
    pub prices: std::collections::BTreeMap<String, u64>,
}
