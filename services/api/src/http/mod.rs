//! The HTTP plumbing every route shares, apart from the routes themselves
//! and the background services: how connections are served, how requests
//! are authenticated, read, traced and counted, and how errors are answered.
//!
//! - [`serve`]: the connection loop, with its header-read and idle timeouts;
//!   [`parse_errors`]: JSON bodies for the requests hyper itself refuses.
//! - [`auth`], [`auth_throttle`]: bearer tokens, roles and scopes, and the
//!   brake on failed authentications; [`session_cookie`]: the console's
//!   session cookie and the cross-site check of what it may change.
//! - [`extract`]: extractors that answer with [`error::ApiError`].
//! - [`error`]: the one error type and its JSON body; [`panic_guard`]: a
//!   panicking handler answers a JSON 500.
//! - [`security_headers`]: headers on every answer.
//! - [`request_trace`], [`request_metrics`]: the request span and its metrics.

pub mod auth;
pub mod auth_throttle;
pub mod error;
pub mod extract;
pub mod panic_guard;
pub mod parse_errors;
pub mod request_metrics;
pub mod request_trace;
pub mod security_headers;
pub mod serve;
pub mod session_cookie;
