//! Process lifecycle of the binaries: their `main` ([`run_main`]), the
//! shutdown signal they pass to the library as a future, and the
//! `healthcheck` subcommands' probe.

use agent_runner_config::{ConfigError, Env};
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// A binary's `main`: telemetry and `config` from the environment (a
/// malformed setting: exit 2 with a message naming it), then `work`; the
/// spans still buffered are exported before the exit code (0, or 1 with
/// the error on stderr) is returned. `service` names the spans by default.
pub async fn run_main<C, W>(
    service: &str,
    config: impl FnOnce(&Env) -> Result<C, ConfigError>,
    work: impl FnOnce(C) -> W,
) -> ExitCode
where
    W: Future<Output = anyhow::Result<()>>,
{
    let env = Env::process();
    let telemetry = match agent_runner_telemetry::init_from_env(&env, service) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let config = match config(&env) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let outcome = work(config).await;
    // Off the runtime's threads: a gRPC exporter needs them to send.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut sigterm) => {
            tokio::select! {
                _ = sigterm.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _interrupted = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutdown requested");
}

/// GETs `/healthz` on `addr` (an unspecified IP means this host) with a
/// plain HTTP/1.1 request, so images need no HTTP client; Ok on 200.
pub async fn probe_healthz(mut addr: SocketAddr) -> anyhow::Result<()> {
    use anyhow::Context;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = Duration::from_secs(3);
    let mut stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
        .await
        .context("timed out connecting")??;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(timeout, stream.read_to_string(&mut response))
        .await
        .context("timed out reading")??;
    anyhow::ensure!(
        response.starts_with("HTTP/1.1 200"),
        "unhealthy: {}",
        response.lines().next().unwrap_or("")
    );
    Ok(())
}
