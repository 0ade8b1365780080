//! The sub-commands of the local CLI: `mintoken proxy`, `mintoken login`, `mintoken status`.

use std::net::SocketAddr;

use mintoken_compress::ContextLevel;

use super::config_file::{self, ConfigFile};
use super::{Console, LocalProxy, ProxyConfig, level_name};
use crate::cli::{LoginArgs, ProxyArgs, StatusArgs};
use crate::secret::Secret;

/// Runs the proxy until Ctrl-C / SIGTERM.
pub async fn proxy(args: ProxyArgs, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
    let file = ConfigFile::load()?;
    let level: ContextLevel = args
        .level
        .parse()
        .map_err(|_| format!("--level must be light, standard or aggressive, got {:?}", args.level))?;
    let port = args.port.or(file.port).unwrap_or(config_file::DEFAULT_PORT);
    let ip = args.host.parse().map_err(|_| format!("--host must be an IP address, got {:?}", args.host))?;
    let server = args.server.clone().or(file.server.clone());
    let key = if server.is_some() { config_file::effective_key(&file).map(|(k, _)| k) } else { None };
    if let Some(key) = &key {
        config_file::validate_key(key.expose())?;
    }
    let config = ProxyConfig {
        listen: SocketAddr::new(ip, port),
        level,
        anthropic_upstream: args.anthropic_upstream,
        openai_upstream: args.openai_upstream,
        server,
        key,
        console: Console::Stdout,
    };
    let proxy = LocalProxy::start(config).await?;
    println!("{}", proxy.banner());
    shutdown.await;
    println!("mintoken proxy: stopping");
    proxy.shutdown().await;
    Ok(())
}

pub fn login(args: LoginArgs) -> Result<(), String> {
    let key = args.key.trim().to_owned();
    config_file::validate_key(&key)?;
    let mut file = ConfigFile::load()?;
    file.key = Some(Secret::new(key.clone()));
    if let Some(server) = args.server {
        file.server = Some(super::normalise_upstream("server", &server)?);
    }
    let path = file.save()?;
    println!("Saved key {} to {} (readable by you only).", config_file::mask(&key), path.display());
    if std::env::var_os("MINTOKEN_KEY").is_some() {
        println!("Note: MINTOKEN_KEY is set in this environment and takes precedence over the saved key.");
    }
    Ok(())
}

pub async fn status(args: StatusArgs) -> Result<(), String> {
    let path = config_file::path()?;
    let file = ConfigFile::load()?;
    println!("mintoken {}", env!("CARGO_PKG_VERSION"));
    let found = if path.exists() { "" } else { " (not created yet)" };
    println!("config:  {}{found}", path.display());
    match config_file::effective_key(&file) {
        Some((key, source)) => println!("key:     {} (from {source})", config_file::mask(key.expose())),
        None => println!("key:     none (not needed for `mintoken proxy`; `mintoken login --key mt_live_…` saves one)"),
    }
    println!("server:  {}", file.server.as_deref().unwrap_or("none (usage is not reported)"));
    let port = args.port.or(file.port).unwrap_or(config_file::DEFAULT_PORT);
    let url = format!("http://127.0.0.1:{port}/health");
    match probe(&url).await {
        Some(health) => {
            let level = health.get("level").and_then(|v| v.as_str()).unwrap_or("?");
            println!("proxy:   running on http://127.0.0.1:{port} (level {level})");
            println!("         ANTHROPIC_BASE_URL=http://127.0.0.1:{port}");
            println!("         OPENAI_BASE_URL=http://127.0.0.1:{port}/v1");
        }
        None => println!(
            "proxy:   not running on port {port} (start it with `mintoken proxy`, level {} by default)",
            level_name(ContextLevel::Standard)
        ),
    }
    Ok(())
}

/// The `/health` answer of a mintoken proxy on that URL, if one answers.
async fn probe(url: &str) -> Option<serde_json::Value> {
    crate::proxy::upstream::install_crypto_provider();
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(2)).build().ok()?;
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body = response.bytes().await.ok()?;
    let health: serde_json::Value = serde_json::from_slice(&body).ok()?;
    (health.get("service").and_then(|s| s.as_str()) == Some("mintoken proxy")).then_some(health)
}
