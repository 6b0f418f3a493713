//! Cancel requests reach running agents through Postgres `NOTIFY run_cancel`
//! (sent by the api in the same transaction that sets `cancel_requested`).
//! A dedicated connection LISTENs and stops the matching in-flight run; the
//! heartbeat catches any notification missed while reconnecting. `listening`
//! turns true once `LISTEN` is in place, so the worker starts consuming only
//! then: a notification sent before it would be lost.

use crate::inflight::{InFlight, StopReason};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Listens until `shutdown` fires, reconnecting as needed; `listening` says
/// whether `LISTEN` is in place.
pub async fn run(
    database_url: String,
    inflight: InFlight,
    shutdown: CancellationToken,
    listening: watch::Sender<bool>,
) {
    loop {
        let result = listen(&database_url, &inflight, &shutdown, &listening).await;
        listening.send_replace(false);
        if let Err(err) = result {
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
    listening: &watch::Sender<bool>,
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
    listening.send_replace(true);
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
