//! `mintoken proxy`: the local agent proxy (SPEC §15). A developer points Claude Code,
//! Codex or any OpenAI/Anthropic SDK at `http://127.0.0.1:8788`; requests go on to the
//! real APIs with the client's own credentials, their old tool results compressed
//! (`mintoken-compress` context compression), and everything the upstream answers —
//! status, headers, streamed bytes — comes back as it was sent. No account, no database.
//!
//! Module map: [`server`] (listener, routes, `/health`, `/`), [`forward`] (compress,
//! send upstream, relay the answer and observe usage on the side), [`headers`] (what
//! crosses the proxy), [`usage`] (token usage read from relayed bodies), [`console`] (the
//! per-request line), [`telemetry`] (optional reports to a mintoken server),
//! [`config_file`] (`~/.mintoken/config.json`, `login`/`status`).

pub mod commands;
pub mod config_file;
pub mod console;
mod forward;
pub mod headers;
mod server;
pub mod telemetry;
pub mod usage;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use mintoken_compress::ContextLevel;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use console::Console;

use crate::secret::Secret;

pub const DEFAULT_ANTHROPIC_UPSTREAM: &str = "https://api.anthropic.com";
pub const DEFAULT_OPENAI_UPSTREAM: &str = "https://api.openai.com";

/// Everything `mintoken proxy` is started with.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    pub level: ContextLevel,
    /// Base URLs without a version path (a trailing `/v1` is accepted and removed).
    pub anthropic_upstream: String,
    pub openai_upstream: String,
    /// A mintoken server to send usage reports to, with the key to send them under.
    pub server: Option<String>,
    pub key: Option<Secret<String>>,
    pub console: Console,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], config_file::DEFAULT_PORT)),
            level: ContextLevel::Standard,
            anthropic_upstream: DEFAULT_ANTHROPIC_UPSTREAM.to_owned(),
            openai_upstream: DEFAULT_OPENAI_UPSTREAM.to_owned(),
            server: None,
            key: None,
            console: Console::Stdout,
        }
    }
}

/// The local CLI's names for the levels (`light` is SPEC §4's `conservative`).
pub fn level_name(level: ContextLevel) -> &'static str {
    match level {
        ContextLevel::Conservative => "light",
        ContextLevel::Standard => "standard",
        ContextLevel::Aggressive => "aggressive",
    }
}

/// `https://api.openai.com/v1/` → `https://api.openai.com`; refuses what is not http(s).
pub(crate) fn normalise_upstream(what: &str, url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    match reqwest::Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(trimmed.to_owned()),
        _ => Err(format!("--{what}-upstream must be an http:// or https:// URL, got {url:?}")),
    }
}

/// A running local proxy. Dropping it stops the server.
pub struct LocalProxy {
    pub addr: SocketAddr,
    config: ProxyConfig,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl LocalProxy {
    /// Binds, then serves in a background task.
    pub async fn start(mut config: ProxyConfig) -> Result<LocalProxy, String> {
        crate::proxy::upstream::install_crypto_provider();
        config.anthropic_upstream = normalise_upstream("anthropic", &config.anthropic_upstream)?;
        config.openai_upstream = normalise_upstream("openai", &config.openai_upstream)?;
        if let Some(server) = &config.server {
            config.server = Some(normalise_upstream("server", server)?);
            if config.key.is_none() {
                return Err("--server needs a mintoken key: run `mintoken login --key mt_live_…` or set MINTOKEN_KEY"
                    .to_owned());
            }
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // The tokenizer takes a moment to load; do it now rather than on the first request.
        tokio::task::spawn_blocking(mintoken_compress::tokens::warm_up);
        let app = server::router(&config)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(crate::server::without_nagle(listener), app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                eprintln!("mintoken proxy: server stopped: {e}");
            }
        });
        Ok(LocalProxy { addr, config, stop: Some(stop), task })
    }

    /// The base URL agents and SDKs are pointed at (an unspecified listen address is shown
    /// as loopback).
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The start-up text: where it listens, the level, the upstreams, and the two lines to
    /// paste into the agent's environment.
    pub fn banner(&self) -> String {
        let c = &self.config;
        let telemetry = match (&c.server, &c.key) {
            (Some(server), Some(key)) => format!("{server} (key {})", config_file::mask(key.expose())),
            _ => "off".to_owned(),
        };
        let base = self.base_url();
        let exposed = if self.addr.ip().is_loopback() {
            String::new()
        } else {
            "  warning: listening beyond this machine; the proxy has no authentication of its own\n".to_owned()
        };
        format!(
            "mintoken proxy listening on http://{addr}\n{exposed}  \
             context compression: {level}\n  \
             anthropic upstream:  {anthropic}\n  \
             openai upstream:     {openai}\n  \
             usage reports:       {telemetry}\n\n\
             Point your agent at it (Claude Code, Codex, SDKs):\n  \
             export ANTHROPIC_BASE_URL={base}\n  \
             export OPENAI_BASE_URL={base}/v1\n",
            addr = self.addr,
            level = level_name(c.level),
            anthropic = c.anthropic_upstream,
            openai = c.openai_upstream,
        )
    }

    /// Stops accepting, lets requests in flight finish, and returns when the server is done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for LocalProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_lose_a_trailing_version() {
        assert_eq!(normalise_upstream("openai", "https://api.openai.com/v1/").unwrap(), "https://api.openai.com");
        assert_eq!(normalise_upstream("openai", "http://127.0.0.1:9/").unwrap(), "http://127.0.0.1:9");
        assert!(normalise_upstream("openai", "api.openai.com").is_err());
        assert!(normalise_upstream("openai", "ftp://x").is_err());
    }
}
