//! A project's token budgets: a run that crosses the daily budget is
//! stopped at its next model call, FAILED naming the budget; a run that
//! would start over it fails before calling the model; the usage route
//! reports the tokens and runs by day; bad budget settings are refused.

use super::{ENDED, Setup};
use agent_runner_test_fixtures::fake_llm::{FakeLlm, Scripted, USAGE, calls, finish};
use agent_runner_tests::{ApiHandle, TestEnv};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_crossing_its_projects_daily_budget_fails_at_its_next_model_call_naming_the_budget() {
    let list = || calls(&[("l", "list_files", json!({}))]);
    // Each reply reports 15 tokens: two calls cross a budget of 20.
    let llm = FakeLlm::start(
        vec![],
        Some(Scripted::ByTurn(vec![
            list(),
            list(),
            list(),
            finish("f", "Done."),
        ])),
    )
    .await;
    let base_url = llm.base_url.clone();
    let settings = json!({"token_budget_daily": 20, "token_budget_monthly": 100000});
    let s = Setup::with_endpoint(llm, &base_url, settings, &[]).await;
    let (_, project) = s.api.get(&format!("/v1/projects/{}", s.project)).await;
    let name = project["name"].as_str().expect("name").to_owned();

    let id = s.submit("List three times").await;
    let run = s.wait(&id, &ENDED).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let used = 2 * USAGE.2;
    assert_eq!(
        run["error"],
        format!("project {name} is over its daily token budget: used {used} of 20 tokens"),
        "{run}"
    );
    assert_eq!(s.llm.requests().len(), 2, "no third call was sent");

    // A run that would start over the budget waits (`over_budget` is
    // "wait" by default), parked, without calling the model.
    let next = s.submit("List again").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, run) = s.api.get(&format!("/v1/runs/{next}")).await;
        if run["waiting"]["reason"] == "budget" {
            assert_eq!(run["status"], "QUEUED", "{run}");
            let detail = run["waiting"]["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains(&format!(
                    "is over its daily token budget: used {used} of 20"
                )),
                "{run}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not parked: {run}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(s.llm.requests().len(), 2, "the model was not called");
    let (status, _) = s
        .api
        .post(&format!("/v1/runs/{next}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200);

    let (status, usage) = s
        .api
        .get(&format!("/v1/projects/{}/usage?days=3", s.project))
        .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["project_id"], s.project.as_str());
    assert_eq!(
        usage["budget"],
        json!({"daily": 20, "monthly": 100000, "over_budget": "wait"})
    );
    assert_eq!(
        usage["exceeded"],
        json!({"period": "day", "used": used, "limit": 20})
    );
    assert_eq!(usage["today"]["tokens"], used);
    assert_eq!(usage["today"]["runs"], 1, "one run started today");
    assert_eq!(usage["this_month"]["tokens"], used);
    assert_eq!(usage["this_month"]["runs"], 1);
    let days = usage["days"].as_array().expect("days");
    assert_eq!(days.len(), 3, "{usage}");
    assert_eq!(days[0], usage["today"]);
    for day in &days[1..] {
        assert_eq!(
            (day["tokens"].clone(), day["runs"].clone()),
            (json!(0), json!(0))
        );
    }
    assert!(
        days[0]["day"].as_str() > days[1]["day"].as_str(),
        "today first: {usage}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn budget_settings_are_checked_by_name_and_the_usage_route_checks_its_query() {
    let env = TestEnv::new().await;
    let api = ApiHandle::spawn(&env, &[]).await;
    for (settings, key) in [
        (json!({"token_budget_daily": 0}), "token_budget_daily"),
        (
            json!({"token_budget_monthly": "lots"}),
            "token_budget_monthly",
        ),
        (json!({"over_budget": "queue"}), "over_budget"),
    ] {
        let (status, body) = api
            .post(
                "/v1/projects",
                json!({"name": format!("p-{}", uuid::Uuid::new_v4()), "settings": settings}),
            )
            .await;
        assert_eq!(status, 422, "{settings}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(key), "{settings}: {message}");
    }
    let project = api.project().await;
    let path = format!("/v1/projects/{project}");
    let (status, body) = api
        .request(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"settings": {"over_budget": "later"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = api
        .request(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"settings": {"token_budget_monthly": 5000, "over_budget": "fail"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, usage) = api.get(&format!("{path}/usage")).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(
        usage["budget"],
        json!({"daily": null, "monthly": 5000, "over_budget": "fail"})
    );
    assert!(usage["exceeded"].is_null(), "{usage}");
    assert_eq!(
        usage["days"].as_array().map(Vec::len),
        Some(30),
        "30 days by default"
    );
    assert_eq!(usage["today"]["tokens"], 0);
    for query in ["days=0", "days=367", "days=many", "weeks=2"] {
        let (status, body) = api.get(&format!("{path}/usage?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    let (status, _) = api
        .get(&format!("/v1/projects/{}/usage", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(status, 404);
    api.stop().await;
}
