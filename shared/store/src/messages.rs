//! Follow-up messages posted to a finished run: stored in `run_messages` and
//! continued as a new attempt of the run, through the outbox like a retry.

use crate::StoreError;
use crate::runs::{self, RetryOutcome, Run};
use agent_runner_domain::{EventKind, RunStatus};
use deadpool_postgres::Pool;
use serde_json::json;
use uuid::Uuid;

/// States a run can be continued from with a message. A REJECTED run is not
/// among them: its branch was discarded.
pub const CONTINUABLE: [RunStatus; 4] = [
    RunStatus::Completed,
    RunStatus::Failed,
    RunStatus::Cancelled,
    RunStatus::AwaitingApproval,
];

/// What posting a message did.
#[derive(Debug, Clone)]
pub enum PostOutcome {
    /// The message is stored and the run QUEUED again; publish `outbox_id`.
    Requeued {
        /// The run.
        run: Run,
        /// Its new outbox row.
        outbox_id: i64,
    },
    /// The run is in a state that can not be continued, or a review of it is
    /// in progress.
    NotContinuable(Run),
    /// No such run.
    NotFound,
}

/// Stores `body` as the run's next message and re-queues the run for a new
/// attempt, with a MESSAGE_POSTED event and an outbox row (carrying
/// `traceparent`), in one transaction.
pub async fn post(
    pool: &Pool,
    run_id: Uuid,
    body: &str,
    traceparent: Option<&str>,
) -> Result<PostOutcome, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let inserted = tx
        .query_opt(
            "WITH m AS (INSERT INTO run_messages (run_id, body)
                        SELECT id, $2 FROM runs WHERE id = $1 RETURNING id)
             SELECT m.id, (SELECT count(*) FROM run_messages WHERE run_id = $1) + 1 FROM m",
            &[&run_id, &body],
        )
        .await?;
    let Some(inserted) = inserted else {
        return Ok(PostOutcome::NotFound);
    };
    let message_id: i64 = inserted.get(0);
    let number: i64 = inserted.get(1);
    let from: Vec<&str> = CONTINUABLE.iter().map(|s| s.as_str()).collect();
    let payload = json!({"message_id": message_id, "number": number, "message": body});
    let Some((run, outbox_id)) = runs::requeue_in(
        &tx,
        run_id,
        &from,
        EventKind::MessagePosted,
        &payload,
        traceparent,
    )
    .await?
    else {
        // Dropping the transaction rolls the message back.
        return Ok(match runs::not_requeued(&tx, run_id).await? {
            RetryOutcome::NotRetryable(run) => PostOutcome::NotContinuable(run),
            _ => PostOutcome::NotFound,
        });
    };
    tx.commit().await?;
    Ok(PostOutcome::Requeued { run, outbox_id })
}
