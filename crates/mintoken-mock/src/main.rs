//! `mintoken-mock`: the fake upstream as a standalone process, for Python
//! tests and benchmarks that drive it through the `/_mock/` control routes.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use mintoken_mock::{MockServer, RazorpaySettings};

/// Fake OpenAI / Anthropic / Gemini upstream (and Razorpay Orders API) for mintoken's tests and benchmarks.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: SocketAddr,
    /// Do not record requests and streamed chunks (`/_mock/requests` and
    /// `/_mock/chunks` stay empty): for benchmarks, where the log would grow
    /// without bound and add a lock per request.
    #[arg(long)]
    no_record: bool,
    /// Key id the fake Razorpay (`POST /v1/orders`) accepts.
    #[arg(long, default_value = mintoken_mock::RAZORPAY_KEY_ID)]
    razorpay_key_id: String,
    /// Key secret the fake Razorpay accepts.
    #[arg(long, default_value = mintoken_mock::RAZORPAY_KEY_SECRET)]
    razorpay_key_secret: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let server = match MockServer::start_on(args.listen).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mintoken-mock: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    server.set_recording(!args.no_record);
    server.set_razorpay(RazorpaySettings {
        key_id: args.razorpay_key_id,
        key_secret: args.razorpay_key_secret,
        ..Default::default()
    });
    // The SIGTERM handler is in place before the banner: a script may stop the mock as
    // soon as it has read it (without a handler, SIGTERM would kill it uncleanly).
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    // Scripts wait for this exact line before sending traffic.
    println!("mintoken-mock listening on {}", server.base_url());
    #[cfg(unix)]
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    drop(server);
    ExitCode::SUCCESS
}
