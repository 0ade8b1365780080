//! mintoken: a self-hostable proxy in front of the OpenAI, Anthropic and Google Gemini
//! APIs that injects a compression skill, meters usage per account and key, and
//! enforces plans. The binary (`main.rs`) is a thin shell over this library so tests
//! can run the real server in-process over a real socket.
#![deny(unsafe_code)] // one exception: proxy/json.rs, `valid_by_construction`

pub mod admin;
pub mod analytics;
pub mod api;
pub mod auth;
pub mod billing;
pub mod cache_sync;
pub mod cli;
pub mod cli_api;
pub mod clock;
pub mod compress_cmd;
pub mod config;
pub mod dashboard;
/// Bodies of the `fuzz/` targets, shared with `tests/fuzz_corpora.rs`; not an API.
#[doc(hidden)]
pub mod fuzz_entry;
pub mod local_proxy;
pub mod logging;
pub mod metering;
pub mod metrics;
pub mod plans;
pub mod playground;
pub mod proxy;
pub mod rules;
pub mod secret;
pub mod server;
pub mod store;
