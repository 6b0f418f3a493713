//! Fair share: while the runs that want a worker slot (running and waiting)
//! outnumber the live workers' slots, each project may hold at most its
//! weighted share of them, so one project's backlog cannot starve another.
//!
//! The share is weighted max-min fair ("water-filling"): the slots are split
//! in proportion to `settings.weight` among the projects that want slots; a
//! project that wants less than its part (counting its own limit) keeps only
//! what it wants, and what it leaves is split among the others the same
//! way. Only projects whose share is below what they want get a row in
//! `project_shares`, which [`crate::admission`] reads; with no contention the
//! table is empty. A project over its share is not preempted: its new runs
//! wait until its running ones end.

use crate::StoreError;
use crate::admission::OWN_LIMIT_SQL;
use deadpool_postgres::Pool;
use uuid::Uuid;

/// What one project wants, as [`shares`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// The project.
    pub project_id: Uuid,
    /// Its `settings.weight`.
    pub weight: u32,
    /// Slots it could use now: running plus waiting runs, capped by its own
    /// limit.
    pub wants: i64,
}

/// The share of each project whose share is below what it wants, for
/// `slots` worker slots; empty when every project can have what it wants.
pub fn shares(slots: i64, demands: &[Demand]) -> Vec<(Uuid, i64)> {
    let total: i64 = demands.iter().map(|d| d.wants).sum();
    if total <= slots || demands.is_empty() {
        return Vec::new();
    }
    // Projects still splitting the slots, and what is left for them.
    let mut open: Vec<Demand> = demands.iter().copied().filter(|d| d.wants > 0).collect();
    let mut left = slots.max(0);
    loop {
        let weights: i64 = open.iter().map(|d| i64::from(d.weight)).sum();
        if weights == 0 {
            return Vec::new();
        }
        // Those who want no more than their part are served and leave.
        let (served, rest): (Vec<Demand>, Vec<Demand>) = open
            .iter()
            .partition(|d| d.wants * weights <= left * i64::from(d.weight));
        if served.is_empty() {
            break;
        }
        left -= served.iter().map(|d| d.wants).sum::<i64>();
        open = rest;
        if open.is_empty() {
            return Vec::new();
        }
    }
    let weights: i64 = open.iter().map(|d| i64::from(d.weight)).sum();
    // Whole slots by largest remainder; at least one each, so every
    // project with waiting runs progresses.
    let mut parts: Vec<(Uuid, i64, i64)> = open
        .iter()
        .map(|d| {
            let exact = left * i64::from(d.weight);
            (d.project_id, exact / weights, exact % weights)
        })
        .collect();
    let mut spare = left - parts.iter().map(|p| p.1).sum::<i64>();
    parts.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    for part in &mut parts {
        if spare == 0 {
            break;
        }
        part.1 += 1;
        spare -= 1;
    }
    // A share of every slot holds nothing back (a lone project with a
    // backlog): no row, so its claims keep the fast path.
    parts
        .into_iter()
        .map(|(id, n, _)| (id, n.max(1)))
        .filter(|(_, n)| *n < slots)
        .collect()
}

/// Live workers' slots and each project's demand, then the shares written
/// to `project_shares` (rows of projects no longer held back removed).
/// Returns how many projects are held to a share. `stale_s`: how long a
/// worker may be silent and still count.
pub async fn rebalance(pool: &Pool, stale_s: f64) -> Result<usize, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let slots: i64 = tx
        .query_one(
            "SELECT COALESCE(sum(concurrency), 0)::bigint FROM workers
             WHERE stopped_at IS NULL AND last_heartbeat > now() - make_interval(secs => $1)",
            &[&stale_s],
        )
        .await?
        .get(0);
    let rows = tx
        .query(
            &format!(
                "WITH d AS (
                    SELECT project_id, count(*) AS n FROM runs
                    WHERE status = 'RUNNING'
                       OR (status IN ('QUEUED', 'RETRYING') AND NOT cancel_requested)
                    GROUP BY project_id)
                 SELECT p.id,
                        CASE WHEN p.settings->>'weight' ~ '^[0-9]{{1,4}}$'
                             THEN (p.settings->>'weight')::int ELSE 1 END,
                        LEAST(d.n, COALESCE({OWN_LIMIT_SQL}, d.n))
                 FROM d JOIN projects p ON p.id = d.project_id"
            ),
            &[],
        )
        .await?;
    let demands: Vec<Demand> = rows
        .iter()
        .map(|row| Demand {
            project_id: row.get(0),
            weight: u32::try_from(row.get::<_, i32>(1)).unwrap_or(1).max(1),
            wants: row.get(2),
        })
        .collect();
    // No live worker: nothing to share (and nothing would start anyway).
    let shares = if slots > 0 {
        shares(slots, &demands)
    } else {
        Vec::new()
    };
    let ids: Vec<Uuid> = shares.iter().map(|s| s.0).collect();
    let slots_of: Vec<i32> = shares
        .iter()
        .map(|s| i32::try_from(s.1).unwrap_or(i32::MAX))
        .collect();
    tx.execute(
        "DELETE FROM project_shares WHERE project_id <> ALL($1)",
        &[&ids],
    )
    .await?;
    tx.execute(
        "INSERT INTO project_shares (project_id, slots)
         SELECT * FROM unnest($1::uuid[], $2::int[])
         ON CONFLICT (project_id) DO UPDATE SET slots = EXCLUDED.slots, updated_at = now()
         WHERE project_shares.slots <> EXCLUDED.slots",
        &[&ids, &slots_of],
    )
    .await?;
    tx.commit().await?;
    Ok(shares.len())
}

/// Removes every share, so no project is held to one (fair share turned
/// off); the scheduler then wakes their parked runs. Returns how many
/// shares were removed.
pub async fn clear(pool: &Pool) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    Ok(client.execute("DELETE FROM project_shares", &[]).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(n: u128, weight: u32, wants: i64) -> Demand {
        Demand {
            project_id: Uuid::from_u128(n),
            weight,
            wants,
        }
    }

    fn share_of(shares: &[(Uuid, i64)], n: u128) -> Option<i64> {
        shares
            .iter()
            .find(|s| s.0 == Uuid::from_u128(n))
            .map(|s| s.1)
    }

    #[test]
    fn no_contention_no_shares() {
        assert!(shares(16, &[demand(1, 1, 10), demand(2, 1, 6)]).is_empty());
        assert!(shares(16, &[]).is_empty());
    }

    #[test]
    fn a_lone_project_with_a_backlog_gets_no_share() {
        assert!(shares(16, &[demand(1, 1, 5000)]).is_empty());
        assert!(shares(16, &[demand(1, 1, 5000), demand(2, 1, 0)]).is_empty());
    }

    #[test]
    fn a_small_project_keeps_what_it_wants_and_the_big_one_gets_the_rest() {
        let s = shares(16, &[demand(1, 1, 5000), demand(2, 1, 5)]);
        assert_eq!(share_of(&s, 1), Some(11));
        assert_eq!(share_of(&s, 2), None, "the small project is not held back");
    }

    #[test]
    fn weights_split_the_slots_in_proportion() {
        let s = shares(16, &[demand(1, 3, 1000), demand(2, 1, 1000)]);
        assert_eq!(share_of(&s, 1), Some(12));
        assert_eq!(share_of(&s, 2), Some(4));
    }

    #[test]
    fn the_slots_are_all_given_out_and_everyone_gets_at_least_one() {
        let s = shares(
            10,
            &[demand(1, 1, 100), demand(2, 1, 100), demand(3, 1, 100)],
        );
        assert_eq!(s.iter().map(|x| x.1).sum::<i64>(), 10);
        let s = shares(
            2,
            &[demand(1, 1, 100), demand(2, 1, 100), demand(3, 1, 100)],
        );
        assert!(s.iter().all(|x| x.1 >= 1));
    }

    #[test]
    fn what_a_served_project_leaves_is_split_again() {
        // 3 wants 2, below its third; 1 and 2 split the remaining 10.
        let s = shares(12, &[demand(1, 1, 50), demand(2, 1, 50), demand(3, 1, 2)]);
        assert_eq!(share_of(&s, 1), Some(5));
        assert_eq!(share_of(&s, 2), Some(5));
        assert_eq!(share_of(&s, 3), None);
    }
}
