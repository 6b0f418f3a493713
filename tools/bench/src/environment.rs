//! One isolated system under test: a fresh database `ar_bench_<random>`
//! (migrated, with an admin token), a fresh queue prefix of the same name,
//! the api and workers started on demand, and a teardown that stops them and
//! removes the database, queues and exchanges again. Nothing outside that
//! name is ever touched.

use crate::api::Api;
use crate::args::Args;
use crate::cpu::Roles;
use crate::rabbitmq::Management;
use agent_runner_fleet::{self as processes, Fleet, Launcher};
use anyhow::{Context, bail};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// How long the api gets to become ready, and the workers to consume.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh database and queue prefix, and the processes running on them.
#[derive(Debug)]
pub struct BenchEnv {
    /// `ar_bench_<random>`: database name and queue prefix.
    pub name: String,
    /// Starts processes configured for this environment.
    pub launcher: Launcher,
    /// A connection to the bench database, for polling and figures.
    pub db: Client,
    /// The api and workers.
    pub fleet: Fleet,
    /// An admin api token.
    pub token: String,
    /// `http://127.0.0.1:<port>` once the api runs.
    pub base: String,
    /// The project runs are submitted to, once the api runs.
    pub project_id: Uuid,
    db_task: JoinHandle<()>,
    mgmt: Management,
    admin_url: String,
    keep: bool,
}

impl BenchEnv {
    /// Creates and migrates the database and creates a token.
    pub async fn create(args: &Args) -> anyhow::Result<Self> {
        processes::ensure_binaries(&args.bin_dir)?;
        let name = format!("ar_bench_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let mgmt = Management::new(&args.rabbitmq_mgmt_url, &args.amqp_url)?;
        let (admin, admin_task) = connect(&args.database_admin_url).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .context("cannot create the bench database")?;
        drop(admin);
        admin_task.abort();
        let database_url = database_url_for(&args.database_admin_url, &name)?;
        let launcher = Launcher {
            bin_dir: args.bin_dir.clone(),
            log_dir: args.log_dir.clone(),
            name: name.clone(),
            database_url: database_url.clone(),
            amqp_url: args.amqp_url.clone(),
            env: Vec::new(),
        };
        let prepared = async {
            launcher.api_command(&["migrate"]).await?;
            let token = launcher
                .api_command(&["token", "create", "--name", "bench", "--admin"])
                .await?;
            let (db, db_task) = connect(&database_url).await?;
            anyhow::Ok((token, db, db_task))
        }
        .await;
        match prepared {
            Ok((token, db, db_task)) => Ok(Self {
                name,
                launcher,
                db,
                fleet: Fleet::default(),
                token,
                base: String::new(),
                project_id: Uuid::nil(),
                db_task,
                mgmt,
                admin_url: args.database_admin_url.clone(),
                keep: args.keep,
            }),
            Err(err) => {
                drop_database(&args.database_admin_url, &name).await;
                Err(err)
            }
        }
    }

    /// Starts the api on a free port, waits for `/readyz`, creates the project.
    pub async fn start_api(&mut self) -> anyhow::Result<()> {
        let addr = processes::free_local_addr()?;
        self.fleet.api = Some(self.launcher.spawn_api(addr)?);
        self.base = format!("http://{addr}");
        let api = Api::new(&self.base, &self.token)?;
        tokio::select! {
            ready = api.wait_ready(START_TIMEOUT) => ready?,
            dead = watch_dead(&mut self.fleet) => return Err(dead),
        }
        self.project_id = api.create_project(&self.name, None).await?;
        Ok(())
    }

    /// Starts `count` more workers and waits until all of them consume.
    pub async fn start_workers(&mut self, count: u32, concurrency: u16) -> anyhow::Result<()> {
        for _ in 0..count {
            let index = self.fleet.workers.len();
            let worker = self.launcher.spawn_worker(index, concurrency)?;
            self.fleet.workers.push(worker);
        }
        let total = self.fleet.workers.len();
        let deadline = Instant::now() + START_TIMEOUT;
        let query = "SELECT count(*) FROM workers WHERE stopped_at IS NULL AND id LIKE $1";
        let pattern = format!("{}-w%", self.name);
        loop {
            let live: i64 = self.db.query_one(query, &[&pattern]).await?.get(0);
            if usize::try_from(live).unwrap_or(0) >= total {
                break;
            }
            self.fleet.ensure_alive()?;
            if Instant::now() >= deadline {
                bail!("only {live} of {total} workers registered within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let queue = format!("{}.work", self.name);
        if !self
            .mgmt
            .wait_consumers(&queue, total, START_TIMEOUT)
            .await?
        {
            eprintln!(
                "bench: fewer than {total} consumers on {queue} after {START_TIMEOUT:?}; going on"
            );
        }
        Ok(())
    }

    /// The management api client of the broker the environment uses.
    pub fn mgmt(&self) -> &Management {
        &self.mgmt
    }

    /// Pids of the api and workers, for CPU attribution.
    pub fn roles(&self) -> Roles {
        Roles {
            api: self.fleet.api.as_ref().map(|p| p.pid),
            workers: self.fleet.workers.iter().map(|p| p.pid).collect(),
        }
    }

    /// Resident memory (MiB) of the api and of each worker, now.
    pub fn rss_mb(&self) -> (f64, Vec<f64>) {
        let api = self
            .fleet
            .api
            .as_ref()
            .and_then(|p| p.rss_mb())
            .unwrap_or(0.0);
        (
            api,
            self.fleet
                .workers
                .iter()
                .map(|p| p.rss_mb().unwrap_or(0.0))
                .collect(),
        )
    }

    /// Stops the processes and, unless `--keep`, removes the database,
    /// queues and exchanges. Problems are reported, never fatal.
    pub async fn teardown(mut self) {
        self.fleet.stop_all().await;
        drop(self.db);
        self.db_task.abort();
        if self.keep {
            eprintln!("bench: kept database and queue prefix {}", self.name);
            return;
        }
        drop_database(&self.admin_url, &self.name).await;
        if let Err(err) = self.mgmt.delete_prefixed(&self.name).await {
            eprintln!(
                "bench: cannot delete the {}.* queues and exchanges: {err:#}",
                self.name
            );
        }
    }
}

/// Resolves when a process of `fleet` has died, with the error saying so.
async fn watch_dead(fleet: &mut Fleet) -> anyhow::Error {
    loop {
        if let Err(err) = fleet.ensure_alive() {
            return err;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(url: &str) -> anyhow::Result<(Client, JoinHandle<()>)> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let task = tokio::spawn(async move {
        if let Err(err) = connection.await {
            eprintln!("bench: database connection ended: {err}");
        }
    });
    Ok((client, task))
}

async fn drop_database(admin_url: &str, name: &str) {
    let dropped = async {
        let (admin, task) = connect(admin_url).await?;
        let result = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        task.abort();
        result.context("DROP DATABASE failed")
    };
    if let Err(err) = dropped.await {
        eprintln!("bench: cannot drop database {name}: {err:#}");
    }
}

/// `admin_url` with its database replaced by `name`.
fn database_url_for(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse(admin_url).context("--database-admin-url is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_database_url_keeps_everything_but_the_database() {
        let url = database_url_for(
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
            "ar_bench_x",
        )
        .expect("valid");
        assert_eq!(
            url,
            "postgres://postgres@127.0.0.1:5432/ar_bench_x?sslmode=disable"
        );
    }
}
