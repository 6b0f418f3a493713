//! The web console, served by the api itself: a page of plain ES modules
//! (`services/api/console/`, embedded at build time by `build.rs`) that
//! reads and acts through the same `/v1` routes as every other client,
//! signed in with a session cookie (`/v1/session`,
//! [`crate::http::session_cookie`]).
//!
//! - [`assets`]: the embedded files and their content types.
//! - [`pages`]: `/` (a redirect), `/ui/…` (the page, for every client-side
//!   route) and `/ui/assets/…`.
//!
//! These routes are not part of the api's OpenAPI document: they answer
//! the page, never data. They need no session: the page holds no run data
//! and shows only the sign-in form until `/v1/session` says who is signed in.

pub mod assets;
pub mod pages;
