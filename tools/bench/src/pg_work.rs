//! PostgreSQL work per run: `pg_stat_database` counters of the bench's own
//! database (transactions, row writes, blocks read), cluster-wide WAL bytes
//! from `pg_stat_wal`, postgres CPU from the `/proc` sampler and, when
//! `pg_stat_statements` is loaded and usable, the statements by total time —
//! each as a delta over the measured window divided by the number of runs.
//! Reads statistics views only; it never resets them or changes a setting.

use crate::cpu::CpuUsage;
use crate::stats::round;
use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Statements listed in the profile.
const TOP_STATEMENTS: usize = 8;
/// Characters of a statement's text shown.
const STATEMENT_CHARS: usize = 80;

/// Counters of the current database and the cluster's WAL, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counters {
    xact_commit: i64,
    xact_rollback: i64,
    tup_inserted: i64,
    tup_updated: i64,
    tup_deleted: i64,
    blks_read: i64,
    /// Cluster-wide, so it includes other databases' writes.
    wal_bytes: f64,
}

impl Counters {
    async fn read(db: &Client) -> anyhow::Result<Self> {
        // Each query is its own transaction, so the stats snapshot is fresh.
        let row = db
            .query_one(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, \
                 blks_read, (SELECT wal_bytes::float8 FROM pg_stat_wal) \
                 FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .await
            .context("cannot read pg_stat_database")?;
        Ok(Self {
            xact_commit: row.get(0),
            xact_rollback: row.get(1),
            tup_inserted: row.get(2),
            tup_updated: row.get(3),
            tup_deleted: row.get(4),
            blks_read: row.get(5),
            wal_bytes: row.get::<_, Option<f64>>(6).unwrap_or(0.0),
        })
    }
}

/// Calls and total execution time of one statement (`queryid`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatementCounters {
    /// Its text, as `pg_stat_statements` normalised it.
    pub query: String,
    /// Executions.
    pub calls: i64,
    /// Rows returned or affected.
    pub rows: i64,
    /// Executor time, ms.
    pub total_ms: f64,
}

/// `pg_stat_statements` of the current database, by `queryid`; `Err` with
/// the reason when the view cannot be read (not preloaded, not installed in
/// this database, no privilege to create it).
pub(crate) async fn statements(db: &Client) -> Result<HashMap<i64, StatementCounters>, String> {
    let rows = db
        .query(
            "SELECT queryid, query, calls, rows, total_exec_time FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND queryid IS NOT NULL",
            &[],
        )
        .await
        .map_err(|err| db_error_text(&err))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                StatementCounters {
                    query: r.get::<_, Option<String>>(1).unwrap_or_default(),
                    calls: r.get(2),
                    rows: r.get(3),
                    total_ms: r.get(4),
                },
            )
        })
        .collect())
}

/// Sessions on the current database other than this one.
pub(crate) async fn other_sessions(db: &Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .context("cannot count the database's sessions")?
        .get(0))
}

fn db_error_text(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map_or_else(|| err.to_string(), |db| db.message().to_owned())
}

/// What was read before the load.
#[derive(Debug)]
pub struct Probe {
    before: Counters,
    statements: Result<HashMap<i64, StatementCounters>, String>,
}

impl Probe {
    /// Reads the counters now, just before the load. Creates the
    /// `pg_stat_statements` extension in the bench database when the server
    /// allows it (a fresh database has no extension).
    pub async fn start(db: &Client) -> anyhow::Result<Self> {
        let created = db
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .map_err(|err| db_error_text(&err));
        let statements = match created {
            Ok(()) => statements(db).await,
            Err(reason) => Err(reason),
        };
        Ok(Self {
            before: Counters::read(db).await?,
            statements,
        })
    }

    /// Reads the counters again and divides the deltas by `runs`. Call it
    /// once the api and workers have stopped: a backend flushes its
    /// `pg_stat_database` counters only every few seconds, and at exit, so
    /// this first waits until no other session is on the database.
    pub async fn finish(self, db: &Client, runs: u64, cpu: &CpuUsage) -> anyhow::Result<PgWork> {
        wait_sessions_gone(db).await?;
        let after = Counters::read(db).await?;
        let statements = match self.statements {
            Ok(before) => statements(db)
                .await
                .map(|after| StatementProfile::from_deltas(&before, &after, runs)),
            Err(reason) => Err(reason),
        };
        let postgres_cpu_s = cpu.cores_used.get("postgres").copied().unwrap_or(0.0) * cpu.wall_s;
        Ok(PgWork::new(
            &self.before,
            &after,
            runs,
            postgres_cpu_s,
            statements,
        ))
    }
}

/// Waits (up to 10 s) until the bench's connection is the only session on
/// its database, then a moment more for the exiting backends' last flush.
async fn wait_sessions_gone(db: &Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let others = other_sessions(db).await?;
        if others == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

/// PostgreSQL work per run over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct PgWork {
    /// Committed transactions in the bench database / runs.
    pub xact_commit_per_run: f64,
    /// Rolled-back transactions / runs.
    pub xact_rollback_per_run: f64,
    /// Rows inserted / runs.
    pub rows_inserted_per_run: f64,
    /// Rows updated / runs.
    pub rows_updated_per_run: f64,
    /// Rows deleted / runs.
    pub rows_deleted_per_run: f64,
    /// Inserted + updated + deleted / runs.
    pub row_writes_per_run: f64,
    /// Blocks read from outside shared buffers / runs.
    pub blks_read_per_run: f64,
    /// WAL written by the whole cluster / runs, KiB (other databases'
    /// writes included).
    pub wal_kib_per_run: f64,
    /// CPU time of every `postgres` process over the window / runs, ms
    /// (other databases' work included).
    pub cpu_ms_per_run: f64,
    /// The statement profile, when `pg_stat_statements` could be read.
    pub statements: Option<StatementProfile>,
    /// Why there is no statement profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements_unavailable: Option<String>,
}

impl PgWork {
    fn new(
        before: &Counters,
        after: &Counters,
        runs: u64,
        postgres_cpu_s: f64,
        statements: Result<StatementProfile, String>,
    ) -> Self {
        let n = runs.max(1) as f64;
        let per_run = |a: i64, b: i64| round((a - b) as f64 / n, 2);
        let (statements, statements_unavailable) = match statements {
            Ok(profile) => (Some(profile), None),
            Err(reason) => (None, Some(reason)),
        };
        Self {
            xact_commit_per_run: per_run(after.xact_commit, before.xact_commit),
            xact_rollback_per_run: per_run(after.xact_rollback, before.xact_rollback),
            rows_inserted_per_run: per_run(after.tup_inserted, before.tup_inserted),
            rows_updated_per_run: per_run(after.tup_updated, before.tup_updated),
            rows_deleted_per_run: per_run(after.tup_deleted, before.tup_deleted),
            row_writes_per_run: per_run(
                after.tup_inserted + after.tup_updated + after.tup_deleted,
                before.tup_inserted + before.tup_updated + before.tup_deleted,
            ),
            blks_read_per_run: per_run(after.blks_read, before.blks_read),
            wal_kib_per_run: round((after.wal_bytes - before.wal_bytes) / 1024.0 / n, 2),
            cpu_ms_per_run: round(postgres_cpu_s * 1000.0 / n, 3),
            statements,
            statements_unavailable,
        }
    }
}

/// Statements executed over the window, by total execution time.
#[derive(Debug, Clone, Serialize)]
pub struct StatementProfile {
    /// Statement executions / runs.
    pub calls_per_run: f64,
    /// Execution time of all statements / runs, ms.
    pub exec_ms_per_run: f64,
    /// The statements that took the most time, largest first.
    pub top: Vec<TopStatement>,
}

/// One statement of the profile.
#[derive(Debug, Clone, Serialize)]
pub struct TopStatement {
    /// The first characters of its normalised text.
    pub query: String,
    /// Executions / runs.
    pub calls_per_run: f64,
    /// Mean execution time, ms.
    pub mean_ms: f64,
    /// Its share of all statements' execution time (0..1).
    pub share: f64,
}

impl StatementProfile {
    fn from_deltas(
        before: &HashMap<i64, StatementCounters>,
        after: &HashMap<i64, StatementCounters>,
        runs: u64,
    ) -> Self {
        let n = runs.max(1) as f64;
        let mut deltas: Vec<StatementCounters> = after
            .iter()
            .filter_map(|(id, a)| {
                let (calls0, ms0) = before.get(id).map_or((0, 0.0), |b| (b.calls, b.total_ms));
                let calls = a.calls - calls0;
                (calls > 0).then(|| StatementCounters {
                    query: a.query.clone(),
                    calls,
                    rows: a.rows - before.get(id).map_or(0, |b| b.rows),
                    total_ms: a.total_ms - ms0,
                })
            })
            .collect();
        deltas.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        let calls: i64 = deltas.iter().map(|d| d.calls).sum();
        let total_ms: f64 = deltas.iter().map(|d| d.total_ms).sum();
        Self {
            calls_per_run: round(calls as f64 / n, 2),
            exec_ms_per_run: round(total_ms / n, 3),
            top: deltas
                .iter()
                .take(TOP_STATEMENTS)
                .map(|d| TopStatement {
                    query: one_line(&d.query, STATEMENT_CHARS),
                    calls_per_run: round(d.calls as f64 / n, 2),
                    mean_ms: round(d.total_ms / d.calls as f64, 3),
                    share: round(d.total_ms / total_ms.max(1e-9), 3),
                })
                .collect(),
        }
    }
}

/// `text` with its whitespace runs collapsed, cut to `chars` characters.
fn one_line(text: &str, chars: usize) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(query: &str, calls: i64, total_ms: f64) -> StatementCounters {
        StatementCounters {
            query: query.to_owned(),
            calls,
            rows: 0,
            total_ms,
        }
    }

    #[test]
    fn counters_are_divided_by_the_runs() {
        let before = Counters {
            xact_commit: 100,
            tup_inserted: 10,
            wal_bytes: 0.0,
            ..Counters::default()
        };
        let after = Counters {
            xact_commit: 500,
            tup_inserted: 810,
            tup_updated: 300,
            tup_deleted: 100,
            wal_bytes: 1024.0 * 200.0,
            ..Counters::default()
        };
        let w = PgWork::new(&before, &after, 100, 0.25, Err("not loaded".to_owned()));
        assert_eq!(w.xact_commit_per_run, 4.0);
        assert_eq!(w.rows_inserted_per_run, 8.0);
        assert_eq!(w.row_writes_per_run, 12.0);
        assert_eq!(w.wal_kib_per_run, 2.0);
        assert_eq!(w.cpu_ms_per_run, 2.5);
        assert!(w.statements.is_none());
        assert_eq!(w.statements_unavailable.as_deref(), Some("not loaded"));
    }

    #[test]
    fn the_statement_profile_counts_only_what_ran_in_the_window() {
        let before = HashMap::from([(1, stmt("SELECT 1", 10, 5.0)), (2, stmt("idle", 3, 1.0))]);
        let after = HashMap::from([
            (1, stmt("SELECT 1", 210, 105.0)),
            (2, stmt("idle", 3, 1.0)),
            (3, stmt("UPDATE  runs\n SET x", 100, 300.0)),
        ]);
        let p = StatementProfile::from_deltas(&before, &after, 100);
        assert_eq!(p.calls_per_run, 3.0);
        assert_eq!(p.exec_ms_per_run, 4.0);
        assert_eq!(p.top.len(), 2);
        assert_eq!(p.top[0].query, "UPDATE runs SET x");
        assert_eq!(p.top[0].mean_ms, 3.0);
        assert_eq!(p.top[0].share, 0.75);
        assert_eq!(p.top[1].calls_per_run, 2.0);
    }

    #[test]
    fn long_statements_are_cut_to_one_line() {
        assert_eq!(one_line("a\n  b\tc", 80), "a b c");
        assert_eq!(one_line(&"x".repeat(100), 80).len(), 80);
    }
}
