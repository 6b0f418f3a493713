//! The shared model allowance in PostgreSQL (`store::allowance`), asked as
//! the workers ask it: one slot per interval however many ask at once, a
//! reply's tokens holding the next call back once a minute's worth is out,
//! a 429's block, and keys that do not share.

use agent_runner_domain::allowance::{Admission, Allowance, Limit};
use agent_runner_store::allowance;
use agent_runner_tests::TestEnv;
use std::time::Duration;

fn limits(key: &str, rpm: Option<u32>, tpm: Option<u32>) -> Allowance {
    Allowance {
        key: key.to_owned(),
        requests_per_minute: rpm,
        tokens_per_minute: tpm,
    }
}

/// The wait and the limit of an admission that holds the call back.
fn held(admission: Admission) -> (Duration, Limit) {
    match admission {
        Admission::Wait { wait, limit } => (wait, limit),
        Admission::Go => panic!("the call was let through"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_calls_asking_at_once_only_one_gets_the_requests_slot() {
    let env = TestEnv::new().await;
    let a = limits("http://model/v1/chat/completions m", Some(60), None);
    let asks: Vec<_> = (0..12)
        .map(|_| {
            let pool = env.pool.clone();
            let a = a.clone();
            tokio::spawn(async move { allowance::acquire(&pool, &a).await.expect("acquire") })
        })
        .collect();
    let mut went = 0;
    for ask in asks {
        match ask.await.expect("task") {
            Admission::Go => went += 1,
            Admission::Wait { wait, limit } => {
                assert_eq!(limit, Limit::Requests);
                assert!(wait <= Duration::from_secs(1), "{wait:?}");
            }
        }
    }
    assert_eq!(went, 1, "one call per second at 60 a minute");

    // Another model on the same endpoint has an allowance of its own.
    let other = limits("http://model/v1/chat/completions other", Some(60), None);
    assert_eq!(
        allowance::acquire(&env.pool, &other)
            .await
            .expect("acquire"),
        Admission::Go
    );
    // Once the interval has passed, the next call goes.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(
        allowance::acquire(&env.pool, &a).await.expect("acquire"),
        Admission::Go
    );
}

#[tokio::test]
async fn tokens_past_a_minutes_worth_hold_the_next_call_back_until_they_are_paid_off() {
    let env = TestEnv::new().await;
    // 600 a minute: each token takes 100 ms to pay off.
    let a = limits("http://model/v1/chat/completions m", None, Some(600));
    assert_eq!(
        allowance::acquire(&env.pool, &a).await.expect("acquire"),
        Admission::Go
    );
    allowance::charge_tokens(&env.pool, &a, 500)
        .await
        .expect("charge");
    assert_eq!(
        allowance::acquire(&env.pool, &a).await.expect("acquire"),
        Admission::Go,
        "500 tokens are within a minute's 600"
    );
    allowance::charge_tokens(&env.pool, &a, 200)
        .await
        .expect("charge");
    // 700 tokens = 70 s of allowance: 10 s past the minute's burst.
    let (wait, limit) = held(allowance::acquire(&env.pool, &a).await.expect("acquire"));
    assert_eq!(limit, Limit::Tokens);
    assert!(
        wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
        "{wait:?}"
    );
    // A worker without a tokens limit is not held back by them.
    let unlimited = limits(&a.key, None, None);
    assert_eq!(
        allowance::acquire(&env.pool, &unlimited)
            .await
            .expect("acquire"),
        Admission::Go
    );
}

#[tokio::test]
async fn a_retry_after_blocks_every_call_to_the_endpoint_and_a_shorter_one_does_not_shorten_it() {
    let env = TestEnv::new().await;
    let a = limits("http://model/v1/chat/completions m", None, None);
    allowance::block_until(&env.pool, &a.key, Duration::from_secs(5))
        .await
        .expect("block");
    allowance::block_until(&env.pool, &a.key, Duration::from_secs(1))
        .await
        .expect("block");
    let (wait, limit) = held(allowance::acquire(&env.pool, &a).await.expect("acquire"));
    assert_eq!(limit, Limit::RetryAfter);
    assert!(
        wait > Duration::from_secs(4) && wait <= Duration::from_secs(5),
        "{wait:?}"
    );
    // With limits too, the block is the longest wait and takes no slot.
    let limited = limits(&a.key, Some(60), Some(600));
    let (_, limit) = held(
        allowance::acquire(&env.pool, &limited)
            .await
            .expect("acquire"),
    );
    assert_eq!(limit, Limit::RetryAfter);
    let other = limits("http://elsewhere/v1/chat/completions m", None, None);
    assert_eq!(
        allowance::acquire(&env.pool, &other)
            .await
            .expect("acquire"),
        Admission::Go
    );
}
