//! The live event stream (Server-Sent Events) and the diff route.

use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;

/// (id, event) pairs of an SSE body, in order.
pub(crate) fn parse_sse(body: &str) -> Vec<(i64, String)> {
    body.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            Some((field("id:")?.parse().ok()?, field("event:")?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stream_delivers_every_event_in_order_ends_after_the_terminal_one_and_resumes() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 150})).await;
    let url = format!("{}/v1/runs/{id}/events/stream", api.base_url);

    let live = tokio::time::timeout(
        Duration::from_secs(20),
        api.http
            .get(&url)
            .bearer_auth(&api.token)
            .send()
            .await
            .expect("stream")
            .text(),
    )
    .await
    .expect("the stream ends once the run completed")
    .expect("body");
    let events = parse_sse(&live);
    let kinds: Vec<&str> = events.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "RUN_CREATED",
            "RUN_STARTED",
            "AGENT_THINKING",
            "PLAN_GENERATED",
            "EXECUTING",
            "RUN_COMPLETED"
        ]
    );
    assert_eq!(
        events.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );

    let resumed = api
        .http
        .get(&url)
        .bearer_auth(&api.token)
        .header("Last-Event-ID", "3")
        .send()
        .await
        .expect("stream")
        .text()
        .await
        .expect("body");
    let seqs: Vec<i64> = parse_sse(&resumed).iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, vec![4, 5, 6]);

    let (status, body) = api.get(&format!("/v1/runs/{id}/diff")).await;
    assert_eq!(status, 409, "a simulated run has no diff: {body}");
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stream_of_an_unknown_run_is_404() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let (status, body) = api
        .get(&format!("/v1/runs/{}/events/stream", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_streams_of_one_run_each_get_the_whole_timeline_and_end() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    let worker = WorkerHandle::spawn(&env, &[]).await;
    let project = api.project().await;
    let id = api.submit(&project, json!({"step_delay_ms": 100})).await;
    let url = format!("{}/v1/runs/{id}/events/stream", api.base_url);
    let streams = (0..3).map(|_| {
        let request = api.http.get(&url).bearer_auth(&api.token);
        async move {
            request
                .send()
                .await
                .expect("stream")
                .text()
                .await
                .expect("body")
        }
    });
    let bodies = tokio::time::timeout(
        Duration::from_secs(20),
        futures_util::future::join_all(streams),
    )
    .await
    .expect("every stream ends once the run completed");
    for body in bodies {
        let seqs: Vec<i64> = parse_sse(&body).iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6], "{body}");
    }
    worker.stop().await;
    api.stop().await;
}
