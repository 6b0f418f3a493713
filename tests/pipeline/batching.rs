//! The hot path's batch writes (`store::batch`) against their one-run
//! counterparts: a batch holding a fenced-out attempt, a cancelled run, a
//! duplicate delivery or a run whose project was deleted answers each of
//! them exactly as the one-run write does alone (the same answer, the same
//! run row and timeline, on twin runs), the good items of a batch share one
//! transaction (one `xmin`), token checks read together see what each
//! would alone, and a batch whose statement fails still writes
//! the items that would have succeeded alone.

use agent_runner_domain::{EventKind, RunStatus};
use agent_runner_store::access::Role;
use agent_runner_store::attempt::{self, Ending, NewEvent};
use agent_runner_store::batch::claims::claim_many;
use agent_runner_store::batch::endings::{Finishing, finish_many};
use agent_runner_store::batch::submits::create_many;
use agent_runner_store::batch::token_checks::authenticate_many;
use agent_runner_store::claim::{self, Claim};
use agent_runner_store::projects::{self, NewProject};
use agent_runner_store::runs::{self, Created, Idempotency, NewRun};
use agent_runner_store::tokens;
use agent_runner_store::{Pool, StoreError};
use agent_runner_tests::TestEnv;
use serde_json::json;
use uuid::Uuid;

const LEASE_S: f64 = 30.0;

async fn project(pool: &Pool, name: &str, settings: serde_json::Value) -> Uuid {
    projects::create(
        pool,
        &NewProject {
            name: name.into(),
            repo_url: None,
            default_branch: "main".into(),
            settings,
        },
    )
    .await
    .expect("project")
    .id
}

fn new_run(project_id: Uuid, goal: &str, key: Option<(Uuid, &str)>) -> NewRun {
    NewRun {
        project_id,
        goal: goal.into(),
        agent: "simulated".into(),
        params: json!({}),
        max_attempts: 3,
        timeout_s: 60,
        priority: 0,
        idempotency: key.map(|(token_id, key)| Idempotency {
            token_id,
            key: key.into(),
        }),
        traceparent: None,
    }
}

async fn queued(pool: &Pool, project_id: Uuid) -> Uuid {
    match runs::create(pool, &new_run(project_id, "g", None))
        .await
        .expect("create")
    {
        Created::New { run, .. } => run.id,
        Created::Existing(_) => panic!("a new run"),
    }
}

/// The transactions that last wrote these runs' rows.
async fn writers(pool: &Pool, ids: &[Uuid]) -> usize {
    let client = pool.get().await.expect("client");
    let row = client
        .query_one(
            "SELECT count(DISTINCT xmin::text)::int FROM runs WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .expect("xmin");
    row.get::<_, i32>(0) as usize
}

/// A run as a reader sees it, without its ids and times: status, attempt,
/// error, result, and the timeline's (seq, attempt, kind).
async fn seen(pool: &Pool, id: Uuid) -> String {
    let client = pool.get().await.expect("client");
    let run = client
        .query_one(
            "SELECT status, attempt, error, result::text, worker_id, cancel_requested FROM runs WHERE id = $1",
            &[&id],
        )
        .await
        .expect("run");
    let events = client
        .query(
            "SELECT seq, attempt, kind FROM events WHERE run_id = $1 ORDER BY seq",
            &[&id],
        )
        .await
        .expect("events");
    let timeline: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{}:{}:{}",
                e.get::<_, i32>(0),
                e.get::<_, i32>(1),
                e.get::<_, String>(2)
            )
        })
        .collect();
    format!(
        "{} a{} err={:?} result={:?} worker={:?} cancel={} [{}]",
        run.get::<_, String>(0),
        run.get::<_, i32>(1),
        run.get::<_, Option<String>>(2),
        run.get::<_, Option<String>>(3),
        run.get::<_, Option<String>>(4),
        run.get::<_, bool>(5),
        timeline.join(" ")
    )
}

fn label(claim: &Result<Claim, StoreError>) -> String {
    match claim {
        Ok(Claim::Claimed { run, limited, .. }) => {
            format!("claimed a{} limited={limited}", run.attempt)
        }
        Ok(Claim::Parked { reason, .. }) => format!("parked {}", reason.as_str()),
        Ok(Claim::OverBudget(e)) => format!("over budget {e}"),
        Ok(Claim::Finished) => "finished".into(),
        Ok(Claim::LeaseLive) => "lease live".into(),
        Ok(Claim::Cancelled) => "cancelled".into(),
        Ok(Claim::NotFound) => "not found".into(),
        Err(e) => format!("error {e}"),
    }
}

/// The runs of one claim scenario: which delivery stands for which case.
struct ClaimCase {
    deliveries: Vec<Uuid>,
    runs: Vec<Uuid>,
    claimable: Vec<Uuid>,
}

/// Two claimable runs (the first delivered twice), a finished run, a run
/// cancelled while queued, a run whose lease another worker holds, a run of
/// a project at its limit, and a run that does not exist.
async fn claim_case(pool: &Pool, twin: &str) -> ClaimCase {
    let free = project(pool, &format!("free-{twin}"), json!({})).await;
    let limited = project(
        pool,
        &format!("limited-{twin}"),
        json!({"max_concurrent_runs": 1}),
    )
    .await;
    let a = queued(pool, free).await;
    let b = queued(pool, free).await;
    let finished = queued(pool, free).await;
    claim::claim(pool, finished, "w-other", LEASE_S)
        .await
        .expect("claim");
    attempt::finish(
        pool,
        finished,
        1,
        &[],
        &Ending::Completed {
            result: json!({}),
            branch: None,
        },
    )
    .await
    .expect("finish");
    let cancelled = queued(pool, free).await;
    runs::cancel(pool, cancelled).await.expect("cancel");
    let leased = queued(pool, free).await;
    claim::claim(pool, leased, "w-other", LEASE_S)
        .await
        .expect("claim");
    let holder = queued(pool, limited).await;
    claim::claim(pool, holder, "w-other", LEASE_S)
        .await
        .expect("claim");
    let over_limit = queued(pool, limited).await;
    let unknown = Uuid::now_v7();
    ClaimCase {
        deliveries: vec![a, b, a, finished, cancelled, leased, over_limit, unknown],
        runs: vec![a, b, finished, cancelled, leased, over_limit],
        claimable: vec![a, b],
    }
}

#[tokio::test]
async fn a_batch_of_claims_answers_each_delivery_as_its_claim_alone_would() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    let batch = claim_case(pool, "batch").await;
    let alone = claim_case(pool, "alone").await;

    let together = claim_many(pool, batch.deliveries.clone(), "w1", LEASE_S).await;
    let mut one_by_one = Vec::new();
    for id in &alone.deliveries {
        one_by_one.push(claim::claim(pool, *id, "w1", LEASE_S).await);
    }
    let together: Vec<String> = together.iter().map(label).collect();
    let one_by_one: Vec<String> = one_by_one.iter().map(label).collect();
    assert_eq!(together, one_by_one);
    assert_eq!(
        together,
        [
            "claimed a1 limited=false",
            "claimed a1 limited=false",
            "lease live",
            "finished",
            "finished",
            "lease live",
            "parked project_limit",
            "not found",
        ]
    );
    for (b, a) in batch.runs.iter().zip(&alone.runs) {
        assert_eq!(seen(pool, *b).await, seen(pool, *a).await);
    }
    assert_eq!(
        writers(pool, &batch.claimable).await,
        1,
        "the claimable runs were claimed in one statement"
    );
}

fn ended(result: &str) -> Ending {
    Ending::Completed {
        result: json!({ "r": result }),
        branch: None,
    }
}

fn thinking() -> Vec<NewEvent> {
    vec![
        NewEvent {
            kind: EventKind::AgentThinking,
            payload: json!({"step": 1}),
        },
        NewEvent {
            kind: EventKind::Executing,
            payload: json!({"step": 2}),
        },
    ]
}

/// Claimed runs whose endings come in one batch: two plain endings (the
/// first sent twice), an attempt fenced out by a later one, a run whose
/// cancel was requested while it ran, and a failure.
async fn ending_case(pool: &Pool, project_id: Uuid) -> (Vec<Finishing>, Vec<Uuid>, Vec<Uuid>) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        let id = queued(pool, project_id).await;
        claim::claim(pool, id, "w1", LEASE_S).await.expect("claim");
        ids.push(id);
    }
    let [a, b, fenced, cancel, failed] = ids[..] else {
        unreachable!()
    };
    // Another worker takes `fenced` over after its lease ran out.
    let client = pool.get().await.expect("client");
    client
        .execute(
            "UPDATE runs SET lease_until = clock_timestamp() - interval '1 second' WHERE id = $1",
            &[&fenced],
        )
        .await
        .expect("expire");
    claim::claim(pool, fenced, "w2", LEASE_S)
        .await
        .expect("take over");
    runs::cancel(pool, cancel).await.expect("cancel");
    let finishing = |run_id, ending| Finishing {
        run_id,
        attempt: 1,
        before: thinking(),
        ending,
    };
    let endings = vec![
        finishing(a, ended("a")),
        finishing(b, ended("b")),
        finishing(a, ended("a")),
        finishing(fenced, ended("fenced")),
        finishing(cancel, ended("cancel")),
        finishing(
            failed,
            Ending::Failed {
                error: "boom".into(),
            },
        ),
    ];
    (endings, ids, vec![a, b, cancel, failed])
}

fn outcome(finished: &Result<Option<RunStatus>, StoreError>) -> String {
    match finished {
        Ok(Some(status)) => status.as_str().to_owned(),
        Ok(None) => "fenced out".to_owned(),
        Err(e) => format!("error {e}"),
    }
}

#[tokio::test]
async fn a_batch_of_endings_answers_each_attempt_as_its_ending_alone_would() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    let p = project(pool, "p", json!({})).await;
    let (batch, batch_runs, batch_won) = ending_case(pool, p).await;
    let (alone, alone_runs, _) = ending_case(pool, p).await;

    let together = finish_many(pool, batch).await;
    let mut one_by_one = Vec::new();
    for f in &alone {
        one_by_one.push(attempt::finish(pool, f.run_id, f.attempt, &f.before, &f.ending).await);
    }
    let together: Vec<String> = together.iter().map(outcome).collect();
    let one_by_one: Vec<String> = one_by_one.iter().map(outcome).collect();
    assert_eq!(together, one_by_one);
    assert_eq!(
        together,
        [
            "COMPLETED",
            "COMPLETED",
            "fenced out",
            "fenced out",
            "CANCELLED",
            "FAILED"
        ]
    );
    for (b, a) in batch_runs.iter().zip(&alone_runs) {
        assert_eq!(seen(pool, *b).await, seen(pool, *a).await);
    }
    assert!(
        seen(pool, batch_runs[0]).await.ends_with(
            "[1:0:RUN_CREATED 2:1:RUN_STARTED 3:1:AGENT_THINKING 4:1:EXECUTING 5:1:RUN_COMPLETED]"
        ),
        "{}",
        seen(pool, batch_runs[0]).await
    );
    assert_eq!(
        writers(pool, &batch_won).await,
        1,
        "the endings that applied were written in one statement"
    );
}

#[tokio::test]
async fn an_ending_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_written() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    let p = project(pool, "p", json!({})).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = queued(pool, p).await;
        claim::claim(pool, id, "w1", LEASE_S).await.expect("claim");
        ids.push(id);
    }
    // PostgreSQL text cannot hold a NUL: this ending fails the statement.
    let endings = vec![
        Finishing {
            run_id: ids[0],
            attempt: 1,
            before: thinking(),
            ending: ended("a"),
        },
        Finishing {
            run_id: ids[1],
            attempt: 1,
            before: vec![],
            ending: Ending::Failed {
                error: "bad\0error".into(),
            },
        },
        Finishing {
            run_id: ids[2],
            attempt: 1,
            before: vec![],
            ending: ended("c"),
        },
    ];
    let answers: Vec<String> = finish_many(pool, endings)
        .await
        .iter()
        .map(outcome)
        .collect();
    assert_eq!(answers[0], "COMPLETED");
    assert!(answers[1].starts_with("error"), "{answers:?}");
    assert_eq!(answers[2], "COMPLETED");
    assert!(seen(pool, ids[1]).await.starts_with("RUNNING a1"));
}

#[tokio::test]
async fn a_batch_of_submissions_answers_each_as_alone_even_with_a_deleted_project_in_it() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    let p = project(pool, "p", json!({})).await;
    let gone = project(pool, "gone", json!({})).await;
    let client = pool.get().await.expect("client");
    client
        .execute("DELETE FROM projects WHERE id = $1", &[&gone])
        .await
        .expect("delete");
    let token = Uuid::now_v7();
    let earlier = runs::create(pool, &new_run(p, "first", Some((token, "used"))))
        .await
        .expect("create");
    let Created::New { run: earlier, .. } = earlier else {
        panic!("a new run")
    };

    // Together: only good runs, one with a key sent twice in the batch.
    let good = vec![
        new_run(p, "one", None),
        new_run(p, "two", Some((token, "k"))),
        new_run(p, "two", Some((token, "k"))),
        new_run(p, "first", Some((token, "used"))),
        new_run(p, "other", Some((token, "used"))),
    ];
    let answers = create_many(pool, good).await;
    let new_ids: Vec<Uuid> = answers
        .iter()
        .filter_map(|a| match a {
            Ok(Created::New { run, .. }) => Some(run.id),
            _ => None,
        })
        .collect();
    assert_eq!(new_ids.len(), 2, "{answers:?}");
    assert!(matches!(&answers[0], Ok(Created::New { .. })));
    let Ok(Created::New { run: keyed, .. }) = &answers[1] else {
        panic!("{:?}", answers[1])
    };
    assert!(matches!(&answers[2], Ok(Created::Existing(r)) if r.id == keyed.id));
    assert!(matches!(&answers[3], Ok(Created::Existing(r)) if r.id == earlier.id));
    assert!(matches!(&answers[4], Err(StoreError::Conflict(_))));
    assert_eq!(writers(pool, &new_ids).await, 1, "one statement");
    for id in &new_ids {
        assert!(seen(pool, *id).await.ends_with("[1:0:RUN_CREATED]"));
        let outbox: i64 = client
            .query_one(
                "SELECT count(*) FROM outbox WHERE run_id = $1 AND attempt = 0",
                &[id],
            )
            .await
            .expect("outbox")
            .get(0);
        assert_eq!(outbox, 1);
    }

    // A run of the deleted project fails the statement: it alone is refused.
    let mixed = vec![
        new_run(p, "three", None),
        new_run(gone, "lost", None),
        new_run(p, "four", None),
    ];
    let answers = create_many(pool, mixed).await;
    assert!(matches!(&answers[0], Ok(Created::New { .. })));
    assert!(
        matches!(&answers[1], Err(StoreError::MissingReference(_))),
        "{:?}",
        answers[1]
    );
    assert!(matches!(&answers[2], Ok(Created::New { .. })));
    let alone = runs::create(pool, &new_run(gone, "lost", None)).await;
    assert!(matches!(alone, Err(StoreError::MissingReference(_))));
}

#[tokio::test]
async fn a_batch_of_token_checks_answers_each_secret_as_alone() {
    let env = TestEnv::new().await;
    let pool = &env.pool;
    let (live, _) = tokens::create(pool, "live", Role::Runner, None)
        .await
        .expect("token");
    let (revoked, _) = tokens::create(pool, "revoked", Role::Admin, None)
        .await
        .expect("token");
    assert!(tokens::revoke(pool, "revoked").await.expect("revoke"));
    let secrets = vec![
        live.clone(),
        revoked,
        "not-a-token".to_owned(),
        format!("{live}x"),
        env.token.clone(),
        live.clone(),
    ];
    let mut alone = Vec::new();
    for secret in &secrets {
        alone.push(tokens::authenticate(pool, secret).await.expect("check"));
    }
    let together: Vec<_> = authenticate_many(pool, secrets)
        .await
        .into_iter()
        .map(|checked| checked.expect("check"))
        .collect();
    assert_eq!(together, alone);
    let names: Vec<Option<&str>> = together
        .iter()
        .map(|p| p.as_ref().map(|p| p.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            Some("live"),
            None,
            None,
            None,
            Some("test-admin"),
            Some("live")
        ]
    );
}
