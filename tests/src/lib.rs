//! Test support for end-to-end tests against real PostgreSQL and RabbitMQ.
//!
//! Each [`TestEnv`] gets its own database (created from `TEST_DATABASE_URL`,
//! migrated), its own RabbitMQ vhost (created through the management API at
//! `TEST_RABBITMQ_MGMT_URL`) and its own queue prefix; the api and workers it
//! spawns run in-process on port 0 ([`ApiProcess`] runs the api binary
//! instead, for signals and exit codes). Nothing is shared between tests.
//! [`Browser`] drives a headless Chromium for the console's tests.

mod binaries;
mod browser;
mod env;
mod outage;
mod process;
mod rabbit;
mod spawn;

pub use binaries::binary;
pub use browser::{Browser, LAPTOP, PHONE};
pub use env::TestEnv;
pub use outage::{Outage, host_port};
pub use process::ApiProcess;
pub use rabbit::Rabbit;
pub use spawn::{ApiHandle, WorkerHandle};
