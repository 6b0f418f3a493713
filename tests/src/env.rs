//! A private database, vhost and prefix per test, torn down on drop.

use crate::rabbit::Rabbit;
use agent_runner_store::access::Role;
use agent_runner_store::{Pool, migrate, pool, tokens};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// One test's isolated slice of PostgreSQL and RabbitMQ.
pub struct TestEnv {
    /// Unique name used for the database, vhost and queue prefix.
    pub name: String,
    /// URL of the test's database.
    pub database_url: String,
    /// URL of the test's vhost.
    pub amqp_url: String,
    /// Queue prefix.
    pub prefix: String,
    /// Pool on the test's database.
    pub pool: Pool,
    /// Admin token (created in the test's database).
    pub token: String,
    /// Management-API access to the test's vhost.
    pub rabbit: Rabbit,
    admin_url: String,
}

fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://agent_runner:agent_runner@127.0.0.1:5432/postgres".into())
}

fn amqp_base() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{base}/{database}")
}

impl TestEnv {
    /// Creates the database (migrated), the vhost and an admin token.
    pub async fn new() -> Self {
        let mut env = Self::migrated_until(i32::MAX).await;
        let (token, _) = tokens::create(&env.pool, "test-admin", Role::Admin, None)
            .await
            .expect("token");
        env.token = token;
        env
    }

    /// Creates the database with the migrations up to version `last` only,
    /// and the vhost; no token (`token` is empty), as the schema before a
    /// migration may not have the columns tokens need now.
    pub async fn migrated_until(last: i32) -> Self {
        let name = format!("ar_test_{}", Uuid::new_v4().simple());
        let admin_url = admin_database_url();
        let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await.expect(
            "connect to TEST_DATABASE_URL (is PostgreSQL running? try scripts/services-up)",
        );
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let database_url = with_database(&admin_url, &name);
        let pool = pool::connect(&database_url, 8).expect("pool");
        migrate::run_until(&pool, last).await.expect("migrate");
        let rabbit = Rabbit::create_vhost(&name).await;
        let amqp_url = with_database(&amqp_base(), &name);
        Self {
            prefix: name.clone(),
            name,
            database_url,
            amqp_url,
            pool,
            token: String::new(),
            rabbit,
            admin_url,
        }
    }

    /// Creates a token with `role`, scoped to `projects` (ids) unless that is
    /// empty; returns its secret.
    pub async fn token_with(&self, role: Role, projects: &[&str]) -> String {
        let ids: Vec<Uuid> = projects
            .iter()
            .map(|p| p.parse().expect("a project id"))
            .collect();
        let scope = (!ids.is_empty()).then_some(ids.as_slice());
        let name = format!("{role}-{}", Uuid::new_v4().simple());
        let (secret, _) = tokens::create(&self.pool, &name, role, scope)
            .await
            .expect("token");
        secret
    }

    /// Runs one SQL query on the test's database and returns its rows.
    pub async fn sql(
        &self,
        query: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Vec<tokio_postgres::Row> {
        let client = self.pool.get().await.expect("pool connection");
        client.query(query, params).await.expect("query")
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin_url = self.admin_url.clone();
        let rabbit = self.rabbit.clone();
        // Tear down on a thread of its own: Drop cannot be async, and the
        // test's runtime may already be shutting down.
        let teardown = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                rabbit.delete_vhost().await;
                if let Ok((client, connection)) = tokio_postgres::connect(&admin_url, NoTls).await {
                    tokio::spawn(connection);
                    let _dropped = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _joined = teardown.join();
    }
}
