//! The web console in a real browser (headless Chromium through chromedriver)
//! against a real api, workers, PostgreSQL and RabbitMQ. Every test gets its
//! own database, vhost and browser, and ends by checking that the page logged
//! no console error.
//!
//! - `auth`: the signed-out guard, sign-in with a bad and a good token, sign-out,
//!   a revoked token sending an open page back to sign-in.
//! - `runs_list`: the live runs list, filters in the query string, scoped tokens.
//! - `run_page`: a run followed live to its end; Cancel through the confirmation;
//!   Retry of a failed run followed to its new attempt's end.
//! - `review`: Approve (as the project says, or keeping the branch) and Reject
//!   of an `llm` run, its diff per file.
//! - `follow_up`: a follow-up message continuing a finished `llm` run.
//! - `workers`: the workers page and each worker's sandbox.
//! - `projects`: creating and editing projects (admin only).
//! - `roles`: a viewer is offered no action.
//! - `submit`: the submit form and the api's 422 messages next to the field.
//! - `screenshots`: the main pages at laptop and phone sizes.

mod auth;
mod follow_up;
mod projects;
mod review;
mod roles;
mod run_page;
mod runs_list;
mod screenshots;
mod submit;
mod support;
mod workers;
