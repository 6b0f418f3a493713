//! The connection loop: accepts TCP connections and serves HTTP/1.1 and
//! HTTP/2 on them with hyper, with the limits `axum::serve` does not offer.
//!
//! - **Header-read timeout** (`HEADER_READ_TIMEOUT_S`, 30 s): a connection
//!   whose next request's headers have not all arrived within it is closed.
//!   The clock runs from when the connection waits for a request, so the
//!   same limit also closes keep-alive connections left idle, and a client
//!   sending its headers a byte at a time can not hold a connection open.
//! - **Body-read timeout** (`BODY_READ_TIMEOUT_S`) is a layer of the router
//!   (see `routes::router`): a body that stalls gets a JSON 408.
//! - **HTTP/2 keep-alive pings**: a peer that stops answering them is
//!   dropped.
//! - Each request carries the peer's address (`ConnectInfo`), which the
//!   throttle on failed authentications keys on.
//!
//! A connection that sends nothing at all is closed after the header-read
//! timeout too. A request hyper can not parse gets a JSON error body like
//! every other (see [`crate::http::parse_errors`]).
//!
//! On `stop` the loop stops accepting and every connection is told to
//! finish its request in flight and close; the caller bounds the wait.

use crate::http::parse_errors::JsonParseErrors;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How often an idle HTTP/2 connection is pinged, and how long the answer
/// may take before the connection is dropped.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Limits of each connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest wait for a request's headers (and between requests).
    pub header_read_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` is cancelled, then waits for
/// the open connections to finish (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors or a connection reset before
                    // it was accepted: pause instead of spinning.
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let stopping = stop.clone();
        tokio::spawn(async move {
            // hyper's header timer starts once the protocol is known, which
            // takes a first byte: a client that connects and sends nothing
            // is cut here, and at once on stop (it has no request in flight).
            let mut first = [0u8; 1];
            let peeked = tokio::select! {
                () = stopping.cancelled() => return,
                peeked = tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)) => peeked,
            };
            match peeked {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(JsonParseErrors::new(stream)),
                TowerToHyperService::new(service),
            );
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(client.addr = %peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The peer address of a request served by [`serve`].
pub fn peer(request: &axum::extract::Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}
