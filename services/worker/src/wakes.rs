//! Publishing the parked runs that the admission woke: after an ending that
//! freed a slot of a limited project, or when a newcomer parked behind a
//! better-ranked run. Each woken run has an outbox row (written with the
//! wake), marked sent once the broker confirmed the publish; should the
//! publish fail, the api's relay publishes the row.

use agent_runner_domain::JobMessage;
use agent_runner_queue::{JobProperties, Publisher};
use agent_runner_store::outbox::{self, Pending};
use agent_runner_store::{Pool, admission};
use uuid::Uuid;

/// Wakes the project's parked runs for its free slots and publishes them.
pub async fn after_ending(pool: &Pool, publisher: &Publisher, project_id: Uuid) {
    match admission::wake(pool, project_id).await {
        Ok(woken) => publish(pool, publisher, woken).await,
        Err(err) => {
            tracing::warn!(error = %err, project.id = %project_id, "could not wake parked runs; the api's scheduler will")
        }
    }
}

/// Publishes woken runs and marks their outbox rows sent.
pub async fn publish(pool: &Pool, publisher: &Publisher, woken: Vec<Pending>) {
    if woken.is_empty() {
        return;
    }
    let mut sent = Vec::with_capacity(woken.len());
    for pending in woken {
        let msg = JobMessage::ExecuteRun {
            run_id: pending.run_id,
        };
        let props = JobProperties {
            attempt: pending.attempt,
            project_id: Some(pending.project_id),
            reason: None,
            traceparent: None,
        };
        match publisher.publish_job(&msg, &props).await {
            Ok(()) => sent.push(pending.id),
            Err(err) => {
                tracing::warn!(error = %err, run.id = %pending.run_id, "could not publish a woken run; the outbox relay will");
                break;
            }
        }
    }
    tracing::debug!(woken = sent.len(), "published woken runs");
    if let Err(err) = outbox::mark_sent_many(pool, &sent).await {
        tracing::warn!(error = %err, "could not mark woken runs published; the relay may repeat them");
    }
}
