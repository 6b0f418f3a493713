//! Cancel requests reach running agents through Postgres `NOTIFY run_cancel`
//! (sent by the api in the same transaction that sets `cancel_requested`).
//! A dedicated connection LISTENs and stops the matching in-flight run; the
//! heartbeat catches any notification missed while reconnecting.

use crate::inflight::{InFlight, StopReason};
use futures_util::StreamExt;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Listens until `shutdown` fires, reconnecting as needed.
pub async fn run(database_url: String, inflight: InFlight, shutdown: CancellationToken) {
    loop {
        if let Err(err) = listen(&database_url, &inflight, &shutdown).await {
            tracing::warn!(error = %err, "cancel listener disconnected; reconnecting");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn listen(
    database_url: &str,
    inflight: &InFlight,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let (client, mut connection) = tokio_postgres::connect(database_url, NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "cancel listener connection failed");
                    break;
                }
            }
        }
    });
    client.batch_execute("LISTEN run_cancel").await?;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            payload = rx.recv() => match payload {
                Some(payload) => {
                    if let Ok(run_id) = payload.parse::<Uuid>()
                        && inflight.stop(run_id, StopReason::CancelRequested)
                    {
                        tracing::info!(run.id = %run_id, "cancel requested; stopping the run");
                    }
                }
                None => anyhow::bail!("notification stream ended"),
            }
        }
    }
    driver.abort();
    Ok(())
}
