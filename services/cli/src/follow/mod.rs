//! Following a run's timeline until the run ends or pauses for approval.
//!
//! The event stream (`/v1/runs/{id}/events/stream`, Server-Sent Events) is
//! preferred. When it drops it is reopened with `Last-Event-ID` after a
//! backoff, giving up after [`MAX_FAILURES`] failures in a row. An api without
//! the stream (404 `not_found` for the route while the run exists, or a 2xx
//! that is not an event stream) is polled instead: `/events?after=SEQ` every
//! 500 ms.
//!
//! The run's own status decides when the watch is over. A terminal event is
//! only the cue to look, because a run may have been retried since; once the
//! status is final, the events not seen yet are fetched so the timeline is
//! complete. This module shows nothing itself: events go to a callback, and
//! the spinner is only ticked.

use crate::client::ApiClient;
use crate::exit::CliError;
use crate::model::{self, Run, RunEvent};
use crate::spinner::Spinner;
use crate::sse::SseParser;
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

mod poll;
mod stream;

/// Failed connections in a row before the watch gives up (exit 5).
const MAX_FAILURES: u32 = 5;
/// First reconnection delay; it doubles with each failure in a row.
const BACKOFF_START: Duration = Duration::from_millis(250);
/// Longest reconnection delay.
const BACKOFF_MAX: Duration = Duration::from_secs(4);
/// Delay between two polls of `/events`.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Events asked for per poll (the api's maximum).
const POLL_PAGE: usize = 1000;
/// Empty polls between two checks of the run's status.
const EMPTY_POLLS_PER_STATUS_CHECK: u32 = 4;
/// A silent stream is checked (status, then a fresh connection) this often.
const IDLE_RECHECK: Duration = Duration::from_secs(60);

/// How a followed run ended.
#[derive(Debug)]
pub struct Followed {
    /// Its status: terminal, or `AWAITING_APPROVAL`.
    pub status: String,
    /// The run as the api last showed it (absent when the api could not be
    /// asked and the final event had to do).
    pub run: Option<Value>,
}

/// Follows run `run_id`, calling `on_event` once per event in order (from the
/// first one), until the run is terminal or awaits approval.
pub async fn follow(
    client: &ApiClient,
    run_id: Uuid,
    spinner: &mut Spinner,
    on_event: impl FnMut(&RunEvent),
) -> Result<Followed, CliError> {
    let follower = Follower {
        client,
        run_path: format!("/v1/runs/{run_id}"),
        spinner,
        on_event,
        last_seq: 0,
        last_kind: None,
        failures: 0,
        parser: SseParser::new(),
    };
    follower.run().await
}

/// Why reading one connection stopped.
enum StreamEnd {
    /// The latest event ends a watch (if the run's status agrees).
    FinalEvent,
    /// Nothing arrived for [`IDLE_RECHECK`].
    Idle,
    /// The server closed the stream.
    Ended,
    /// The connection broke.
    Dropped(CliError),
}

struct Follower<'a, F> {
    client: &'a ApiClient,
    run_path: String,
    spinner: &'a mut Spinner,
    on_event: F,
    /// Highest seq shown; events at or below it are duplicates.
    last_seq: i64,
    /// Kind of the event with `last_seq`.
    last_kind: Option<String>,
    /// Failed connections (or polls) in a row.
    failures: u32,
    parser: SseParser,
}

impl<F: FnMut(&RunEvent)> Follower<'_, F> {
    async fn run(mut self) -> Result<Followed, CliError> {
        loop {
            let response = match self.open().await {
                Ok(Some(response)) => response,
                Ok(None) => return self.poll().await,
                Err(err) if err.is_transient() => {
                    self.failed(err)?;
                    self.backoff().await;
                    continue;
                }
                Err(err) => return Err(err),
            };
            self.parser.reconnected();
            let end = self.read(response).await;
            if let Some(done) = self.settle().await? {
                return Ok(done);
            }
            match end {
                // A final event from before a retry, or a quiet run: reconnect.
                StreamEnd::FinalEvent | StreamEnd::Idle => {}
                StreamEnd::Ended => {
                    self.failed(CliError::Unreachable {
                        url: self.client.base_url().to_owned(),
                        detail: "the event stream ended before the run finished".to_owned(),
                    })?;
                    self.backoff().await;
                }
                StreamEnd::Dropped(err) => {
                    self.failed(err)?;
                    self.backoff().await;
                }
            }
        }
    }

    /// `Some` when the run's status ends the watch (after fetching the events
    /// not seen yet); `None` to keep following.
    async fn settle(&mut self) -> Result<Option<Followed>, CliError> {
        let body = match self.client.get(&self.run_path, &[]).await {
            Ok(body) => body,
            Err(err) if err.is_transient() => {
                // The api went away right after the final event: trust the event.
                let status = self
                    .last_kind
                    .as_deref()
                    .and_then(model::final_status_of_kind);
                return Ok(status.map(|s| Followed {
                    status: s.to_owned(),
                    run: None,
                }));
            }
            Err(err) => return Err(err),
        };
        let run: Run = serde_json::from_value(body.clone()).map_err(|err| {
            CliError::Client(format!(
                "the api answered with something that is not a run: {err}"
            ))
        })?;
        if !model::ends_watch(&run.status) {
            return Ok(None);
        }
        self.catch_up().await?;
        Ok(Some(Followed {
            status: run.status,
            run: Some(body),
        }))
    }

    /// Shows the events after `last_seq` that the stream did not deliver.
    async fn catch_up(&mut self) -> Result<(), CliError> {
        loop {
            let events = match self.fetch_events().await {
                Ok(events) => events,
                // The run is over; a missing tail is not worth failing for.
                Err(err) if err.is_transient() => return Ok(()),
                Err(err) => return Err(err),
            };
            let count = events.len();
            for event in events {
                self.accept(event);
            }
            if count < POLL_PAGE {
                return Ok(());
            }
        }
    }

    async fn fetch_events(&self) -> Result<Vec<RunEvent>, CliError> {
        let query = [
            ("after", self.last_seq.to_string()),
            ("limit", POLL_PAGE.to_string()),
        ];
        let body = self
            .client
            .get(&format!("{}/events", self.run_path), &query)
            .await?;
        Ok(model::list_of(&body, "events"))
    }

    /// Shows `event` unless it was seen already; true when shown.
    fn accept(&mut self, event: RunEvent) -> bool {
        if event.seq <= self.last_seq {
            return false;
        }
        self.last_seq = event.seq;
        self.spinner.clear();
        (self.on_event)(&event);
        self.last_kind = Some(event.kind);
        true
    }

    fn last_is_final(&self) -> bool {
        self.last_kind
            .as_deref()
            .and_then(model::final_status_of_kind)
            .is_some()
    }

    fn failed(&mut self, err: CliError) -> Result<(), CliError> {
        self.failures += 1;
        if self.failures >= MAX_FAILURES {
            Err(err)
        } else {
            Ok(())
        }
    }

    async fn backoff(&mut self) {
        let exponent = self.failures.saturating_sub(1).min(16);
        let delay = match self.parser.retry_ms() {
            Some(ms) => Duration::from_millis(ms),
            None => BACKOFF_START.saturating_mul(1 << exponent),
        };
        self.pause(delay.min(BACKOFF_MAX)).await;
    }

    /// Sleeps for `delay`, keeping the spinner turning.
    async fn pause(&mut self, delay: Duration) {
        let state = self.spinner_state();
        self.spinner.pause(delay, &state).await;
    }

    fn tick(&mut self) {
        let state = self.spinner_state();
        self.spinner.tick(&state);
    }

    /// What the spinner line says: the last event's kind.
    fn spinner_state(&self) -> String {
        self.last_kind
            .as_deref()
            .unwrap_or("waiting for events")
            .to_owned()
    }
}
