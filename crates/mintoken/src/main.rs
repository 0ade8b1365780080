//! The `mintoken` binary: parses the command line and runs the sub-command.
#![forbid(unsafe_code)]

use clap::Parser;
use mintoken::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mintoken: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Users(c) => mintoken::admin::users(c).await,
            Command::Keys(c) => mintoken::admin::keys(c).await,
            Command::Compress(args) => mintoken::compress_cmd::run(args),
            Command::Proxy(args) => mintoken::local_proxy::commands::proxy(args, shutdown_signal()).await,
            Command::Login(args) => mintoken::local_proxy::commands::login(args),
            Command::Status(args) => mintoken::local_proxy::commands::status(args).await,
            Command::Version => {
                println!("mintoken {}", env!("CARGO_PKG_VERSION"));
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mintoken: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: mintoken::cli::ServeArgs) -> Result<(), String> {
    let config = mintoken::config::Config::load(&args).map_err(|e| e.to_string())?;
    mintoken::logging::init(config.log_format);
    let server = mintoken::server::Server::start(config).await.map_err(|e| e.to_string())?;
    tracing::info!(addr = %server.addr, "listening");
    eprintln!("mintoken listening on http://{}", server.addr);
    shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight requests and flushing usage");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
