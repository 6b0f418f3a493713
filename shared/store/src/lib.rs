//! The PostgreSQL store: the source of truth for runs and everything around them.
//!
//! - [`pool`]: connection pool from a `DATABASE_URL`.
//! - [`access`]: token roles and the project scope that filters reads.
//! - [`migrate`]: embedded migrations, applied once under an advisory lock.
//! - [`projects`], [`runs`], [`events`], [`outbox`], [`workers`], [`tokens`]:
//!   one module per table family.
//! - [`waiting`]: why a run that is not running waits.
//! - [`allowance`]: model endpoints' rate limits shared by every worker.
//! - [`usage`]: tokens and runs per project and day, and the token budgets.
//! - [`stalls`]: RUNNING runs that went silent, marked with RUN_STALLED.
//! - [`stats`]: runs by status, and finished runs per minute, for the console's overview.
//! - [`sessions`]: the web console's sign-in sessions, each acting as its token.
//! - [`messages`]: follow-up messages, continued as new attempts of a run.
//! - [`run_requests`]: run requests (approve, reject, exec) answered by the worker holding
//!   a run's worktree.
//! - [`branches`]: each run's branch as a git bundle, for any worker.
//! - [`claim`]: how a worker takes a run for an attempt and keeps its lease.
//! - [`admission`]: per-project limits at the claim: start now, or wait parked and be woken.
//! - [`fair_share`]: the weighted share of the workers each contending project may use.
//! - [`attempt`]: the fenced writes of an attempt (events, ending, retry).
//! - [`batch`]: the hot path's writes for many runs per statement (submits,
//!   claims, endings), each answering as its one-run counterpart.
//!
//! Every state change is one SQL statement guarded by the expected state (and
//! attempt): the database, never the process, decides who won.

pub mod access;
pub mod admission;
pub mod allowance;
pub mod attempt;
pub mod batch;
pub mod branches;
pub mod claim;
mod error;
pub mod events;
pub mod fair_share;
pub mod messages;
pub mod migrate;
pub mod outbox;
pub mod pool;
pub mod projects;
pub mod reaper;
pub mod run_requests;
pub mod runs;
pub mod sessions;
pub mod stalls;
pub mod stats;
pub mod tokens;
pub mod usage;
pub mod waiting;
pub mod workers;

pub use deadpool_postgres::Pool;
pub use error::StoreError;
