//! Command-line interface: sub-commands and their flags. Flag and environment names of
//! `serve` are part of the interface (SPEC §14); keep them stable.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "mintoken",
    version,
    about = "A self-hostable proxy for the OpenAI, Anthropic and Gemini APIs that makes you pay for fewer tokens."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the proxy and management API (embedded SQLite by default).
    Serve(ServeArgs),
    /// Administer user accounts of a self-hosted instance.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Administer mintoken API keys of a self-hosted instance.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Compress a request body read from stdin (context compression, and optionally input
    /// compression); prints the transformed body on stdout and a metrics line on stderr.
    Compress(CompressArgs),
    /// Run the local agent proxy for Claude Code, Codex and SDKs: forwards to the Anthropic
    /// and OpenAI APIs with your own keys and compresses long sessions on the way.
    Proxy(ProxyArgs),
    /// Save a mintoken key to ~/.mintoken/config.json (owner-only) for usage reports.
    Login(LoginArgs),
    /// Show the local configuration (key masked) and whether a proxy is running.
    Status(StatusArgs),
    /// Print the version.
    Version,
}

#[derive(Args, Debug, Clone)]
pub struct ProxyArgs {
    /// Address to listen on (keep it on loopback: the proxy has no authentication of its own).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on [default: `port` in ~/.mintoken/config.json, else 8788]
    #[arg(long)]
    pub port: Option<u16>,
    /// Context-compression level: light, standard or aggressive.
    #[arg(long, default_value = "standard")]
    pub level: String,
    /// Anthropic API base URL.
    #[arg(long, default_value = crate::local_proxy::DEFAULT_ANTHROPIC_UPSTREAM)]
    pub anthropic_upstream: String,
    /// OpenAI API base URL (a trailing /v1 is accepted).
    #[arg(long, default_value = crate::local_proxy::DEFAULT_OPENAI_UPSTREAM)]
    pub openai_upstream: String,
    /// Report usage (token counts, model, duration; never bodies) to this mintoken server,
    /// under the key from `mintoken login` or MINTOKEN_KEY.
    #[arg(long)]
    pub server: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// Your mintoken key (mt_live_…).
    #[arg(long)]
    pub key: String,
    /// Also save the mintoken server to report usage to.
    #[arg(long)]
    pub server: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Port to look for a running proxy on [default: from the config file, else 8788]
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Args, Debug, Clone)]
pub struct CompressArgs {
    /// Context-compression level: conservative (or light), standard, aggressive.
    #[arg(long, default_value = "standard")]
    pub level: String,
    /// The request's API: openai, responses, anthropic, gemini [default: detected from the body]
    #[arg(long)]
    pub api: Option<String>,
    /// Also apply input compression to user-authored text.
    #[arg(long)]
    pub input_compress: bool,
}

/// Where the store is; shared by `serve` and the administration commands so they work
/// on the same database.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "MINTOKEN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: SQLite database and generated secrets [default: ./mintoken-data]
    #[arg(long, env = "MINTOKEN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…) [default: SQLite file in the data dir]
    #[arg(long, env = "MINTOKEN_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8787]
    #[arg(long, env = "MINTOKEN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// OpenAI upstream base URL, without a version path [default: https://api.openai.com]
    #[arg(long, env = "MINTOKEN_OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// Anthropic upstream base URL [default: https://api.anthropic.com]
    #[arg(long, env = "MINTOKEN_ANTHROPIC_BASE_URL")]
    pub anthropic_base_url: Option<String>,
    /// Google Gemini upstream base URL [default: https://generativelanguage.googleapis.com]
    #[arg(long, env = "MINTOKEN_GOOGLE_BASE_URL")]
    pub google_base_url: Option<String>,
    /// Log format [default: text]
    #[arg(long, env = "MINTOKEN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Allow new accounts through POST /v1/auth/signup [default: true]
    #[arg(long, env = "MINTOKEN_SIGNUP_ENABLED")]
    pub signup_enabled: Option<bool>,
    /// Upstream total timeout in seconds [default: 120]
    #[arg(long, env = "MINTOKEN_UPSTREAM_TIMEOUT_SECS")]
    pub upstream_timeout_secs: Option<u64>,
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create an account (prompts for nothing: give --password or get a generated one).
    Create {
        #[arg(long)]
        email: String,
        /// Password; when absent a random one is generated and printed once.
        #[arg(long, env = "MINTOKEN_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Move an account to another plan (free, pro, team, enterprise, or a configured one).
    SetPlan {
        email: String,
        plan: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key for a user and print the raw key once.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "Default")]
        name: String,
        /// lite, full, ultra or none
        #[arg(long, default_value = "full")]
        intensity: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List a user's keys (never the raw key).
    List {
        #[arg(long)]
        user: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id; it is refused at once.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}
