//! The workers page: each live worker with its command sandbox, a chip per
//! layer, and a warning where commands run unconfined or not at all.

use crate::support::Console;
use agent_runner_store::access::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_page_shows_each_sandbox_and_warns_when_there_is_none() {
    let c = Console::signed_in(Role::Viewer).await;
    // A simulated worker runs no commands: it reports no sandbox.
    let worker = c.worker().await;
    c.env
        .sql(
            "INSERT INTO workers (id, hostname, concurrency, metrics_addr, sandbox) VALUES
               ('w-layers', 'box-a', 2, '127.0.0.1:9101',
                'namespaces,landlock_fs,landlock_scope,seccomp,rlimits,pids_cgroup'),
               ('w-off', 'box-b', 1, '127.0.0.1:9102', 'off'),
               ('w-missing', 'box-c', 1, '127.0.0.1:9103', 'unavailable: bwrap not found')",
            &[],
        )
        .await;
    let b = &c.browser;
    b.goto("/ui/workers").await;
    b.wait_for_text("#workers-body", "w-missing").await;
    b.wait_for_text("#workers-body", &worker.id).await;
    b.wait_for_text("#workers-summary", "4 workers").await;

    let row = |id: &str| format!("#workers-body tr[data-worker=\"{id}\"]");
    assert_eq!(
        b.texts(&format!("{} .sandbox .chip", row("w-layers")))
            .await,
        [
            "namespaces",
            "Landlock files",
            "Landlock scope",
            "seccomp",
            "limits",
            "pids cgroup"
        ]
    );
    assert_eq!(b.count(&format!("{} .chip-warn", row("w-layers"))).await, 0);
    assert_eq!(
        b.texts(&format!("{} .sandbox .chip-warn", row("w-off")))
            .await,
        ["off: no sandbox"]
    );
    assert_eq!(
        b.texts(&format!("{} .sandbox .chip-warn", row("w-missing")))
            .await,
        ["unavailable: bwrap not found"]
    );
    assert_eq!(
        b.text(&format!("{} .sandbox", row(&worker.id)))
            .await
            .trim(),
        "—"
    );
    assert_eq!(
        b.count(&format!("{} .sandbox .chip", row(&worker.id)))
            .await,
        0
    );
    worker.stop().await;
    c.finish().await;
}
