//! The vocabulary of agent-runner, shared by the api, the worker and the store.
//!
//! - [`status`]: the run state machine and which transitions it allows.
//! - [`event`]: the kinds of timeline events a run records.
//! - [`message`]: the job message that travels on RabbitMQ.
//! - [`submission`]: validation of what a client submits.
//! - [`branch`]: a run's branch as a portable git bundle.
//! - [`repo`]: which repository URLs and branch names a client may give.
//! - [`secret`]: which values are secrets, and their masked form.
//! - [`llm_settings`]: what an `llm` run's params and a project's settings may say.
//! - [`scheduling`]: a run's priority and its project's concurrency limit and weight.
//! - [`allowance`]: a model endpoint's shared allowance and what holds a call back.
//! - [`budget`]: a project's token budgets and what a run over them is told.
//!
//! This crate does no I/O: it is plain data and the rules over it.

pub mod allowance;
pub mod branch;
pub mod budget;
pub mod event;
pub mod llm_settings;
pub mod message;
pub mod repo;
pub mod scheduling;
pub mod secret;
pub mod status;
pub mod submission;

pub use branch::BranchSnapshot;
pub use event::EventKind;
pub use message::JobMessage;
pub use status::RunStatus;
pub use submission::{RunSubmission, SubmissionError};
