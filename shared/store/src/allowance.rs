//! The model endpoints' allowances shared by every worker (`model_allowance`),
//! kept as GCRA theoretical arrival times, one row per endpoint and model.
//!
//! - Requests per minute: a call may go once `requests_tat` has passed; it
//!   moves the time on by 60 s / RPM. Calls are spaced evenly, with no
//!   burst: two workers never send closer together than the limit allows.
//! - Tokens per minute: a reply's tokens move `tokens_tat` on by
//!   tokens × 60 s / TPM ([`charge_tokens`]); a call may go while that time
//!   is less than a minute ahead (a minute's worth of tokens is the burst).
//!   Tokens are known only after the reply, so one reply may overshoot.
//! - A 429 with `Retry-After` sets `blocked_until` ([`block_until`]): no
//!   call goes before it, from any worker.
//!
//! The limits come from each caller (a worker's configuration), never from
//! the row. Each function is one statement; [`acquire`] locks the row for
//! that statement only, so two workers can not both take the same slot.
//! Waiting takes nothing: a call that waits asks again later, so a run
//! cancelled while it waits leaves no slot behind.

use crate::StoreError;
use agent_runner_domain::allowance::{Admission, Allowance, Limit};
use deadpool_postgres::Pool;
use std::time::Duration;

/// Seconds between two requests under `rpm` (0: no limit).
fn request_interval_s(allowance: &Allowance) -> f64 {
    allowance
        .requests_per_minute
        .filter(|rpm| *rpm > 0)
        .map_or(0.0, |rpm| 60.0 / f64::from(rpm))
}

/// Asks to send one request under `allowance`: [`Admission::Go`] takes its
/// slot; [`Admission::Wait`] says how long until every limit has room and
/// which one is furthest, taking nothing.
pub async fn acquire(pool: &Pool, allowance: &Allowance) -> Result<Admission, StoreError> {
    let interval_s = request_interval_s(allowance);
    let tokens_limited = allowance.tokens_per_minute.is_some_and(|tpm| tpm > 0);
    let client = pool.get().await?;
    // At most twice: the first call for a key creates its row.
    for _ in 0..2 {
        let row = client
            .query_opt(
                "WITH cur AS MATERIALIZED (
                     SELECT key, requests_tat, tokens_tat, blocked_until
                       FROM model_allowance WHERE key = $1 FOR UPDATE),
                 verdict AS MATERIALIZED (
                     SELECT key, requests_tat, now,
                            greatest(coalesce(blocked_until, now), now) - now AS blocked,
                            CASE WHEN $2::float8 > 0
                                 THEN greatest(coalesce(requests_tat, now), now) - now
                                 ELSE interval '0' END AS requests,
                            CASE WHEN $3::bool
                                 THEN greatest(coalesce(tokens_tat, now) - interval '60 seconds', now) - now
                                 ELSE interval '0' END AS tokens
                       FROM (SELECT cur.*, clock_timestamp() AS now FROM cur) c),
                 taken AS (
                     UPDATE model_allowance m
                        SET requests_tat = greatest(coalesce(v.requests_tat, v.now), v.now)
                                           + make_interval(secs => $2),
                            updated_at = v.now
                       FROM verdict v
                      WHERE m.key = v.key AND $2::float8 > 0
                        AND v.blocked = interval '0' AND v.requests = interval '0'
                        AND v.tokens = interval '0')
                 SELECT extract(epoch FROM blocked)::float8,
                        extract(epoch FROM requests)::float8,
                        extract(epoch FROM tokens)::float8
                   FROM verdict",
                &[&allowance.key, &interval_s, &tokens_limited],
            )
            .await?;
        if let Some(row) = row {
            return Ok(admission([
                (Limit::RetryAfter, row.get(0)),
                (Limit::Requests, row.get(1)),
                (Limit::Tokens, row.get(2)),
            ]));
        }
        if interval_s == 0.0 {
            // Nothing taken yet, nothing to take, never throttled.
            return Ok(Admission::Go);
        }
        let created = client
            .execute(
                "INSERT INTO model_allowance (key, requests_tat)
                 VALUES ($1, clock_timestamp() + make_interval(secs => $2))
                 ON CONFLICT (key) DO NOTHING",
                &[&allowance.key, &interval_s],
            )
            .await?;
        if created == 1 {
            return Ok(Admission::Go);
        }
    }
    // Another worker created the row between the two statements and its
    // slot is the one just gone: ask again shortly.
    Ok(Admission::Wait {
        wait: Duration::from_secs_f64(interval_s),
        limit: Limit::Requests,
    })
}

/// [`Admission::Go`] when every wait is zero, else the longest.
fn admission(waits: [(Limit, f64); 3]) -> Admission {
    let (limit, seconds) =
        waits
            .into_iter()
            .fold((Limit::Requests, 0.0_f64), |longest, (limit, s)| {
                if s > longest.1 { (limit, s) } else { longest }
            });
    if seconds <= 0.0 {
        Admission::Go
    } else {
        Admission::Wait {
            wait: Duration::from_secs_f64(seconds),
            limit,
        }
    }
}

/// Charges a reply's `tokens` to `allowance`'s tokens per minute (nothing
/// when it has no such limit).
pub async fn charge_tokens(
    pool: &Pool,
    allowance: &Allowance,
    tokens: u64,
) -> Result<(), StoreError> {
    let Some(tpm) = allowance.tokens_per_minute.filter(|tpm| *tpm > 0) else {
        return Ok(());
    };
    let cost_s = tokens as f64 * 60.0 / f64::from(tpm);
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO model_allowance AS a (key, tokens_tat)
             VALUES ($1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (key) DO UPDATE
                SET tokens_tat = greatest(coalesce(a.tokens_tat, clock_timestamp()), clock_timestamp())
                                 + make_interval(secs => $2),
                    updated_at = clock_timestamp()",
            &[&allowance.key, &cost_s],
        )
        .await?;
    Ok(())
}

/// The endpoint of `key` asked (429, `Retry-After`) to be left alone for
/// `wait`: no worker's call goes before then. A later block already set
/// stays.
pub async fn block_until(pool: &Pool, key: &str, wait: Duration) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO model_allowance AS a (key, blocked_until)
             VALUES ($1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (key) DO UPDATE
                SET blocked_until = greatest(a.blocked_until, EXCLUDED.blocked_until),
                    updated_at = clock_timestamp()",
            &[&key, &wait.as_secs_f64()],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_wait_names_the_limit_and_no_wait_means_go() {
        assert_eq!(
            admission([
                (Limit::RetryAfter, 0.0),
                (Limit::Requests, 0.0),
                (Limit::Tokens, 0.0)
            ]),
            Admission::Go
        );
        assert_eq!(
            admission([
                (Limit::RetryAfter, 2.0),
                (Limit::Requests, 0.5),
                (Limit::Tokens, 0.0)
            ]),
            Admission::Wait {
                wait: Duration::from_secs(2),
                limit: Limit::RetryAfter
            }
        );
    }
}
