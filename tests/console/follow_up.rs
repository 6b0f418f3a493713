//! A follow-up message on a finished `llm` run: sent from the page, it queues
//! the run again as a new attempt, which the page follows to its end without
//! a reload, the scripted model having received the message.

use crate::support::Review;
use agent_runner_store::access::Role;
use agent_runner_test_fixtures::fake_llm::changelog_in_two_steps;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follow_up_message_continues_a_finished_llm_run_as_a_new_attempt() {
    let r = Review::run(
        Role::Runner,
        "Start a changelog",
        changelog_in_two_steps(),
        false,
    )
    .await;
    let b = &r.console.browser;
    let (_, first) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    assert_eq!(first["status"], "COMPLETED", "{first}");
    b.goto(&format!("/ui/runs/{}", r.run_id)).await;
    r.console.wait_page_status("COMPLETED").await;
    b.wait_for_text("#llm-summary", "Started a changelog.")
        .await;
    assert_eq!(b.text("#run-attempt").await, "1 / 3");
    b.eval("window.__sameDocument = true;").await;

    b.fill("#follow-up", "Add a second entry").await;
    b.click("#follow-up-form button[type=submit]").await;
    b.wait_for_text("#action-result", "Message sent. The run is QUEUED again")
        .await;
    b.wait_for("#timeline [data-kind=\"MESSAGE_POSTED\"]").await;
    b.wait_for_text("#llm-summary", "Added a second entry.")
        .await;
    r.console.wait_page_status("COMPLETED").await;
    // The run's row can be read a moment before its last event arrives.
    b.wait_for("#timeline [data-kind=\"MESSAGE_POSTED\"] ~ [data-kind=\"RUN_COMPLETED\"]")
        .await;
    assert_eq!(b.text("#run-attempt").await, "2 / 3");
    let kinds = b.texts("#timeline .event-kind").await;
    let posted = kinds
        .iter()
        .position(|k| k == "MESSAGE_POSTED")
        .expect("MESSAGE_POSTED");
    assert!(
        kinds[posted..].iter().any(|k| k == "RUN_STARTED"),
        "a new attempt after the message: {kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("RUN_COMPLETED"));
    assert_eq!(
        kinds.iter().filter(|k| *k == "RUN_COMPLETED").count(),
        2,
        "{kinds:?}"
    );
    let conversation = b.text("#conversation").await;
    assert!(
        conversation.contains("Add a second entry"),
        "{conversation}"
    );
    // The box is offered again, empty, for the next message.
    assert_eq!(
        b.eval("return document.querySelector('#follow-up').value;")
            .await,
        ""
    );
    assert_eq!(b.eval("return window.__sameDocument === true;").await, true);

    // The model got the message as the last turn of the second attempt.
    let bodies = r.llm.bodies();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    let messages = bodies[2]["messages"].as_array().expect("messages");
    let last = messages.last().expect("a message");
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"], "Add a second entry");
    let (_, second) = r.console.api.get(&format!("/v1/runs/{}", r.run_id)).await;
    assert_eq!(second["attempt"], 2);
    assert_eq!(second["result"]["messages_handled"], 1);
    r.finish().await;
}
