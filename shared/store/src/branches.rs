//! `run_branches`: the snapshot (git bundle) of each run's branch, written by
//! [`attempt::finish`](crate::attempt::finish) with the attempt's ending and read
//! by whichever worker continues or reviews the run; deleted with a
//! rejection ([`requests::close_review`](crate::run_requests::close_review)).

use crate::StoreError;
use agent_runner_domain::BranchSnapshot;
use deadpool_postgres::Pool;
use uuid::Uuid;

/// The run's latest branch snapshot, if an attempt stored one.
pub async fn get(pool: &Pool, run_id: Uuid) -> Result<Option<BranchSnapshot>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT branch, start_commit, head_commit, bundle FROM run_branches WHERE run_id = $1",
            &[&run_id],
        )
        .await?;
    Ok(row.map(|row| BranchSnapshot {
        branch: row.get(0),
        start_commit: row.get(1),
        head_commit: row.get(2),
        bundle: row.get(3),
    }))
}
