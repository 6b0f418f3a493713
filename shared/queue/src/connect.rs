//! Opens connections named for the RabbitMQ management UI, and sessions:
//! a connection with the topology declared and a publisher ready.
//!
//! lapin's own auto-recovery is left off: callers run a supervisor that
//! reconnects from scratch, re-declares the topology and re-consumes, which
//! is simpler to reason about than a half-recovered channel.

use crate::{BrokerAddress, Names, Publisher, QueueError, RetryTiers, topology};
use lapin::{Channel, Connection, ConnectionProperties, DefaultConnectionBuilder};
use std::time::Duration;

/// Longest wait for the AMQP handshake: lapin has no bound of its own, and a
/// broker that accepts TCP but never answers (a node still booting) would
/// otherwise hold a supervisor's reconnect loop for ever.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `address` (its vhost is honoured, over TLS for `amqps://`)
/// under `connection_name`, which the management UI shows in its Connections
/// tab; a handshake not done within [`CONNECT_TIMEOUT`] is
/// [`QueueError::ConnectTimeout`].
pub async fn connect(
    address: &BrokerAddress,
    connection_name: &str,
) -> Result<Connection, QueueError> {
    connect_within(address, connection_name, CONNECT_TIMEOUT).await
}

/// [`connect`] with another bound on the handshake.
pub async fn connect_within(
    address: &BrokerAddress,
    connection_name: &str,
    timeout: Duration,
) -> Result<Connection, QueueError> {
    let props = ConnectionProperties::default().with_connection_name(connection_name.into());
    let builder = DefaultConnectionBuilder::new()?
        .with_uri_str(address.url().to_owned())
        .with_properties(props)
        .with_tls_config(address.tls_config());
    match tokio::time::timeout(timeout, builder.connect()).await {
        Ok(connected) => Ok(connected?),
        Err(_) => Err(QueueError::ConnectTimeout(timeout)),
    }
}

/// An open connection with the whole topology declared: the channel that
/// declared it (a consumer keeps it, a publisher-only process closes it) and
/// a confirm-mode [`Publisher`].
pub struct Session {
    /// The connection.
    pub connection: Connection,
    /// The channel the topology was declared on.
    pub channel: Channel,
    /// Confirmed publishing under `names`.
    pub publisher: Publisher,
}

/// Connects (as [`connect`]), declares the topology of `names` with its
/// retry `tiers` and work-queue `delivery_limit`, and opens a publisher
/// that names `app_id` in its messages: the sequence the api and every
/// worker run on each (re)connect.
pub async fn open_session(
    address: &BrokerAddress,
    connection_name: &str,
    names: &Names,
    tiers: &RetryTiers,
    delivery_limit: i64,
    app_id: &str,
) -> Result<Session, QueueError> {
    let connection = connect(address, connection_name).await?;
    let channel = connection.create_channel().await?;
    topology::declare(&channel, names, tiers, delivery_limit).await?;
    let publisher = Publisher::open(&connection, names.clone(), app_id).await?;
    Ok(Session {
        connection,
        channel,
        publisher,
    })
}

/// Reconnect delays for supervisors: 100 ms doubling to 5 s, with jitter, forever.
pub fn reconnect_backoff() -> impl Iterator<Item = std::time::Duration> + Send {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(100))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_broker_that_never_answers_the_handshake_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // Takes the connection and says nothing, as a node still booting can.
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
        let timeout = Duration::from_millis(300);
        let outcome =
            connect_within(&BrokerAddress::plain(&url), "connect-timeout-test", timeout).await;
        assert!(
            matches!(outcome, Err(QueueError::ConnectTimeout(t)) if t == timeout),
            "{:?}",
            outcome.err()
        );
        silent.abort();
    }
}
