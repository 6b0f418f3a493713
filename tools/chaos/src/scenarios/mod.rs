//! The nine scenarios and what they share: a fresh system under test, the
//! load running while the fault is injected, waiting until every accepted
//! run is terminal (replacing dead workers, as a deployment would), the
//! verdict, and the recovery time measured from the database.
//!
//! - [`kill`]: SIGKILL a worker mid-load, twice.
//! - [`outage`]: restart RabbitMQ, restart PostgreSQL, submit while
//!   RabbitMQ is stopped.
//! - [`shutdown`]: SIGTERM every worker mid-load, then start new ones.
//! - [`cancel`]: cancel 50 running runs.
//! - [`poison`]: a run that crashes every worker that takes it.
//! - [`api`]: restart the api mid-load (SIGTERM, then SIGKILL).
//! - [`limits`]: a project's concurrency limit through a worker kill and both
//!   dependencies' restarts.

mod api;
mod cancel;
mod kill;
mod limits;
mod outage;
mod poison;
mod shutdown;

use crate::invariants::{self, Expect, Tally};
use crate::load::{self, Answers};
use crate::private_pg::PrivatePostgres;
use crate::system::{Shape, Sut};
use agent_runner_test_fixtures::rabbit_node::RabbitNode;
use anyhow::bail;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long accepted runs get to finish once the fault is over.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);
/// Requests sent during an outage may be answered a little after it.
pub const OUTAGE_SLACK_S: f64 = 2.0;

/// The private services and the suite's settings.
pub struct Infra {
    /// The private PostgreSQL.
    pub pg: PrivatePostgres,
    /// The private RabbitMQ.
    pub mq: RabbitNode,
    /// Where the api and worker binaries are.
    pub bin_dir: PathBuf,
    /// Where the logs of this round go.
    pub log_dir: PathBuf,
    /// Runs of load per scenario.
    pub runs: usize,
    /// Keep the databases afterwards.
    pub keep: bool,
}

/// A scenario's name, in the order they run.
pub const ALL: [&str; 9] = [
    "worker-kill",
    "rabbitmq-restart",
    "postgres-restart",
    "workers-sigterm",
    "submit-while-rabbitmq-down",
    "cancel-running",
    "poison-message",
    "api-restart",
    "limited-project",
];

/// What one scenario produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its name.
    pub name: &'static str,
    /// The verdict.
    pub tally: Tally,
    /// Seconds to recover (see the README's table legend), when measured.
    pub recovery_s: Option<f64>,
    /// Anything worth knowing (workers replaced, cancel latencies, …).
    pub note: String,
}

/// Runs scenario `name` in a fresh system named `system`.
pub async fn run(infra: &mut Infra, name: &'static str, system: &str) -> anyhow::Result<Outcome> {
    let outcome = match name {
        "worker-kill" => kill::run(infra, system).await,
        "rabbitmq-restart" => outage::rabbitmq_restart(infra, system).await,
        "postgres-restart" => outage::postgres_restart(infra, system).await,
        "workers-sigterm" => shutdown::run(infra, system).await,
        "submit-while-rabbitmq-down" => outage::submit_while_rabbitmq_down(infra, system).await,
        "cancel-running" => cancel::run(infra, system).await,
        "poison-message" => poison::run(infra, system).await,
        "api-restart" => api::run(infra, system).await,
        "limited-project" => limits::run(infra, system).await,
        other => bail!("unknown scenario `{other}`; known: {}", ALL.join(", ")),
    };
    infra.ensure_up().await?;
    outcome.map(|mut o| {
        o.name = name;
        o
    })
}

impl Infra {
    /// Starts whatever a failed scenario left stopped.
    pub async fn ensure_up(&mut self) -> anyhow::Result<()> {
        if crate::system::connect(&self.pg.admin_url()).await.is_err() {
            self.pg.start().await?;
        }
        if !self.mq.is_running() {
            self.mq.start().await?;
        }
        Ok(())
    }
}

/// A scenario in progress.
pub struct Run {
    /// The system under test.
    pub sut: Sut,
    /// The submitting client.
    pub client: load::Client,
    /// What each accepted run must end as.
    pub expected: HashMap<Uuid, Expect>,
    /// Windows in which 503s are expected.
    pub outages: Vec<(f64, f64)>,
    /// Windows in which the api process was down: refused connections are
    /// expected.
    pub api_down: Vec<(f64, f64)>,
    reader: (CancellationToken, JoinHandle<()>),
    keep: bool,
}

/// The simulated params of the load: four short steps.
pub fn quick() -> Value {
    json!({"step_delay_ms": 100})
}

impl Run {
    /// Starts a system of `shape` named `system` and the reader.
    pub async fn begin(infra: &Infra, system: &str, shape: Shape) -> anyhow::Result<Self> {
        let sut = Sut::start(
            system,
            &infra.pg.admin_url(),
            infra.pg.url_for(system),
            infra.mq.amqp_url(),
            infra.bin_dir.clone(),
            infra.log_dir.clone(),
            shape,
        )
        .await?;
        let client = load::Client {
            http: sut.http.clone(),
            base: sut.base.clone(),
            token: sut.token.clone(),
            project: sut.project,
            answers: Answers::default(),
            refused: Default::default(),
        };
        let reader = client.spawn_reader();
        Ok(Self {
            sut,
            client,
            expected: HashMap::new(),
            outages: Vec::new(),
            api_down: Vec::new(),
            reader,
            keep: infra.keep,
        })
    }

    /// Submits `n` quick runs at `rate` per second in the background.
    pub fn load(&self, n: usize, rate: f64) -> JoinHandle<Vec<Uuid>> {
        let client = self.client.clone();
        tokio::spawn(async move { client.submit_many(n, rate, quick()).await })
    }

    /// Records that `ids` must end as `expect`.
    pub fn expect(&mut self, ids: impl IntoIterator<Item = Uuid>, expect: Expect) {
        self.expected.extend(ids.into_iter().map(|id| (id, expect)));
    }

    /// Waits until the api answers `/readyz` again; returns when (epoch s).
    pub async fn wait_ready(&self) -> f64 {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        while !self.sut.ready().await && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        load::now()
    }

    /// Answers that were refused connections (no HTTP answer) so far.
    pub fn refused(&self) -> usize {
        self.client
            .answers
            .all()
            .iter()
            .filter(|a| a.status == 0)
            .count()
    }

    /// Marks an outage from `from` until the api is ready again.
    pub async fn outage_until_ready(&mut self, from: f64) {
        let ready = self.wait_ready().await;
        self.outages.push((from, ready + OUTAGE_SLACK_S));
    }

    /// Waits out a broker outage: `/readyz` fails meanwhile, but the api
    /// keeps answering every request (submissions go to the outbox), so no
    /// window for 503s is opened.
    pub async fn broker_outage_until_ready(&self) {
        self.wait_ready().await;
    }

    /// Replaces dead workers until `task` is done; returns its output.
    pub async fn supervise<T>(&mut self, mut task: JoinHandle<T>) -> anyhow::Result<T> {
        loop {
            tokio::select! {
                out = &mut task => return Ok(out?),
                () = tokio::time::sleep(Duration::from_millis(250)) => {
                    self.sut.replace_dead_workers()?;
                }
            }
        }
    }

    /// Waits until every accepted run is terminal (or the settle timeout),
    /// replacing dead workers meanwhile; fails if the api died.
    pub async fn settle(&mut self) -> anyhow::Result<()> {
        let ids: Vec<Uuid> = self.expected.keys().copied().collect();
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            self.sut.replace_dead_workers()?;
            if !self.sut.api_alive() {
                bail!("the api process died; see its log");
            }
            if let Ok(db) = self.sut.db().await {
                let open: i64 = db
                    .query_one(
                        "SELECT count(*) FROM runs WHERE id = ANY($1)
                         AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED')",
                        &[&ids],
                    )
                    .await?
                    .get(0);
                let found: i64 = db
                    .query_one("SELECT count(*) FROM runs WHERE id = ANY($1)", &[&ids])
                    .await?
                    .get(0);
                if open == 0 && found == ids.len() as i64 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// Seconds from `after` to the first run completed after it.
    pub async fn first_completion_after(&self, after: f64) -> anyhow::Result<Option<f64>> {
        let db = self.sut.db().await?;
        let first: Option<f64> = db
            .query_one(
                "SELECT extract(epoch FROM min(finished_at))::float8 FROM runs
                 WHERE status = 'COMPLETED' AND finished_at > to_timestamp($1)",
                &[&after],
            )
            .await?
            .get(0);
        Ok(first.map(|t| t - after))
    }

    /// Seconds from `after` until the last of `ids` finished.
    pub async fn last_finish_of(&self, ids: &[Uuid], after: f64) -> anyhow::Result<Option<f64>> {
        let db = self.sut.db().await?;
        let last: Option<f64> = db
            .query_one(
                "SELECT extract(epoch FROM max(finished_at))::float8 FROM runs WHERE id = ANY($1)",
                &[&ids],
            )
            .await?
            .get(0);
        Ok(last.map(|t| t - after))
    }

    /// Stops the reader, checks the invariants and tears the system down.
    pub async fn verdict(self) -> anyhow::Result<Tally> {
        let (stop, reader) = self.reader;
        stop.cancel();
        let _stopped = reader.await;
        let db = self.sut.db().await?;
        let tally = invariants::check(
            &db,
            &self.expected,
            &self.client.answers.all(),
            &self.outages,
            &self.api_down,
        )
        .await
        .map(|mut tally| {
            let refused = self.client.refused();
            if refused > 0 {
                tally
                    .violations
                    .push(format!("{refused} submissions were never accepted"));
            }
            tally
        });
        drop(db);
        self.sut.teardown(self.keep).await;
        tally
    }
}
