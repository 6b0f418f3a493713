//! PostgreSQL's work per second over a window of wall time, for workloads
//! whose cost is a rate rather than a per-run figure (runs held in flight):
//! transactions and row writes of the bench's own database
//! (`pg_stat_database`, and by table from `pg_stat_user_tables`) and the
//! cluster's WAL position (`pg_current_wal_lsn()`, exact and immediate) and,
//! when `pg_stat_statements` is there (`--private-postgres`), the workers'
//! lease renewals. Reads statistics views only; it never resets them or
//! changes a setting.
//!
//! A backend publishes its table and database counters at most once a
//! second, and one that published less than a second ago defers the next
//! publication up to 10 s, so a window's counts are blurred at its edges by
//! up to that much; callers use windows of many seconds that start well
//! after a burst. `pg_stat_statements` counts each statement as it ends.

use crate::stats::round;
use anyhow::Context;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use tokio_postgres::Client;

/// Inserted, updated and deleted rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Writes {
    inserted: i64,
    updated: i64,
    deleted: i64,
}

impl Writes {
    fn total(self) -> i64 {
        self.inserted + self.updated + self.deleted
    }
}

/// The counters at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    xact_commit: i64,
    xact_rollback: i64,
    writes: Writes,
    /// Row writes by table.
    tables: HashMap<String, i64>,
    /// `pg_current_wal_lsn()` in bytes: cluster-wide.
    wal_bytes: f64,
    /// Executions and rows of the lease renewal, when `pg_stat_statements`
    /// can be read.
    renewals: Option<(i64, i64)>,
    /// Text, executions and rows by `queryid`, when `pg_stat_statements` can
    /// be read.
    statements: HashMap<i64, (String, i64, i64)>,
}

impl Snapshot {
    /// Reads the counters now.
    pub async fn read(db: &Client) -> anyhow::Result<Self> {
        // Each query is its own transaction, so the stats snapshot is fresh.
        let row = db
            .query_one(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, \
                 (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8 \
                 FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .await
            .context("cannot read pg_stat_database")?;
        let tables = db
            .query(
                "SELECT relname::text, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables",
                &[],
            )
            .await
            .context("cannot read pg_stat_user_tables")?;
        Ok(Self {
            at: Instant::now(),
            xact_commit: row.get(0),
            xact_rollback: row.get(1),
            writes: Writes {
                inserted: row.get(2),
                updated: row.get(3),
                deleted: row.get(4),
            },
            tables: tables.iter().map(|r| (r.get(0), r.get(1))).collect(),
            wal_bytes: row.get(5),
            renewals: renewals(db).await,
            statements: statements(db).await,
        })
    }
}

/// Every statement of the current database in `pg_stat_statements` (none
/// without it): text, executions and rows.
async fn statements(db: &Client) -> HashMap<i64, (String, i64, i64)> {
    crate::pg_work::statements(db)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(id, s)| (id, (s.query, s.calls, s.rows)))
        .collect()
}

/// Executions and rows of `renew_leases` (`shared/store/src/claim.rs`),
/// found by the start of its text; None without `pg_stat_statements`.
async fn renewals(db: &Client) -> Option<(i64, i64)> {
    let row = db
        .query_one(
            "SELECT coalesce(sum(calls), 0)::int8, coalesce(sum(rows), 0)::int8 \
             FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query LIKE 'UPDATE runs r SET lease_until%'",
            &[],
        )
        .await
        .ok()?;
    Some((row.get(0), row.get(1)))
}

/// Tables listed by their row writes.
const TOP_TABLES: usize = 6;
/// Statements listed by their rows.
const TOP_STATEMENTS: usize = 5;

/// PostgreSQL's work per second between two snapshots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PgRates {
    /// Committed transactions in the bench database per second.
    pub xact_per_s: f64,
    /// Rolled-back transactions per second.
    pub rollback_per_s: f64,
    /// Rows inserted + updated + deleted per second.
    pub row_writes_per_s: f64,
    /// Rows updated per second.
    pub rows_updated_per_s: f64,
    /// Rows inserted per second.
    pub rows_inserted_per_s: f64,
    /// Row writes per second of the tables written most, largest first.
    pub row_writes_by_table: BTreeMap<String, f64>,
    /// WAL the whole cluster wrote per second, KiB (other databases' too).
    pub wal_kib_per_s: f64,
    /// Cores every `postgres` process used over the window (CPU seconds per
    /// second, other databases' work included).
    pub cpu_cores: f64,
    /// Lease renewal statements per second (`pg_stat_statements`).
    pub renewal_statements_per_s: Option<f64>,
    /// Leases renewed per second: the renewals' rows (`pg_stat_statements`).
    pub leases_renewed_per_s: Option<f64>,
    /// The statements that returned or changed the most rows, most first
    /// (`pg_stat_statements`; empty without it).
    pub statements_by_rows: Vec<StatementRate>,
}

/// One statement's executions and rows per second.
#[derive(Debug, Clone, Serialize)]
pub struct StatementRate {
    /// The first characters of its normalised text, on one line.
    pub query: String,
    /// Executions per second.
    pub calls_per_s: f64,
    /// Rows returned or changed per second.
    pub rows_per_s: f64,
}

impl PgRates {
    /// The rates from `before` to `after`, with the postgres CPU measured
    /// over the same window.
    pub fn between(before: &Snapshot, after: &Snapshot, postgres_cores: f64) -> Self {
        let secs = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let rate = |delta: i64| round(delta as f64 / secs, 1);
        let mut by_table: Vec<(String, i64)> = after
            .tables
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    n - before.tables.get(name).copied().unwrap_or(0),
                )
            })
            .filter(|(_, delta)| *delta > 0)
            .collect();
        by_table.sort_by_key(|(_, delta)| std::cmp::Reverse(*delta));
        let mut statements: Vec<(String, i64, i64)> = after
            .statements
            .iter()
            .map(|(id, (query, calls, rows))| {
                let (c0, r0) = before.statements.get(id).map_or((0, 0), |b| (b.1, b.2));
                (query.clone(), calls - c0, rows - r0)
            })
            .filter(|(_, calls, _)| *calls > 0)
            .collect();
        statements.sort_by_key(|(_, _, rows)| std::cmp::Reverse(*rows));
        let renewals = before
            .renewals
            .zip(after.renewals)
            .map(|(b, a)| (a.0 - b.0, a.1 - b.1));
        Self {
            xact_per_s: rate(after.xact_commit - before.xact_commit),
            rollback_per_s: rate(after.xact_rollback - before.xact_rollback),
            row_writes_per_s: rate(after.writes.total() - before.writes.total()),
            rows_updated_per_s: rate(after.writes.updated - before.writes.updated),
            rows_inserted_per_s: rate(after.writes.inserted - before.writes.inserted),
            row_writes_by_table: by_table
                .into_iter()
                .take(TOP_TABLES)
                .map(|(name, delta)| (name, rate(delta)))
                .collect(),
            wal_kib_per_s: round((after.wal_bytes - before.wal_bytes) / 1024.0 / secs, 1),
            cpu_cores: round(postgres_cores, 3),
            renewal_statements_per_s: renewals.map(|(calls, _)| rate(calls)),
            leases_renewed_per_s: renewals.map(|(_, rows)| rate(rows)),
            statements_by_rows: statements
                .into_iter()
                .take(TOP_STATEMENTS)
                .map(|(query, calls, rows)| StatementRate {
                    query: query
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .chars()
                        .take(70)
                        .collect(),
                    calls_per_s: rate(calls),
                    rows_per_s: rate(rows),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn snapshot(at: Instant, commits: i64, updated: i64, runs: i64, wal: f64) -> Snapshot {
        Snapshot {
            at,
            xact_commit: commits,
            xact_rollback: 0,
            writes: Writes {
                inserted: 0,
                updated,
                deleted: 0,
            },
            tables: HashMap::from([("runs".to_owned(), runs), ("idle".to_owned(), 7)]),
            wal_bytes: wal,
            renewals: Some((commits, runs)),
            statements: HashMap::from([(1, ("UPDATE  runs\n SET".to_owned(), commits, runs))]),
        }
    }

    #[test]
    fn rates_are_deltas_over_the_window() {
        let start = Instant::now();
        let before = snapshot(start, 100, 1000, 1000, 0.0);
        let after = snapshot(
            start + Duration::from_secs(10),
            150,
            5000,
            5000,
            10.0 * 2048.0,
        );
        let r = PgRates::between(&before, &after, 0.25);
        assert_eq!((r.xact_per_s, r.row_writes_per_s), (5.0, 400.0));
        assert_eq!(r.rows_updated_per_s, 400.0);
        assert_eq!(r.wal_kib_per_s, 2.0);
        assert_eq!(r.cpu_cores, 0.25);
        assert_eq!(r.renewal_statements_per_s, Some(5.0));
        assert_eq!(r.leases_renewed_per_s, Some(400.0));
        assert_eq!(r.statements_by_rows.len(), 1);
        assert_eq!(r.statements_by_rows[0].query, "UPDATE runs SET");
        assert_eq!(r.statements_by_rows[0].rows_per_s, 400.0);
        assert_eq!(
            r.row_writes_by_table,
            BTreeMap::from([("runs".to_owned(), 400.0)])
        );
    }
}
