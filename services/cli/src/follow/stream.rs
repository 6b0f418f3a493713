//! The event-stream half of following: opening `/events/stream` (with
//! `Last-Event-ID` when resuming), telling an api without it apart from a
//! missing run, and reading events until a final one, an idle spell, the end
//! of the stream or a broken connection.

use super::{Follower, IDLE_RECHECK, StreamEnd};
use crate::exit::CliError;
use crate::model::RunEvent;
use crate::spinner::TICK;
use crate::sse::SseEvent;
use futures_util::StreamExt;
use reqwest::header::CONTENT_TYPE;
use tokio::time::{Instant, MissedTickBehavior};

impl<F: FnMut(&RunEvent)> Follower<'_, F> {
    /// The stream's response, or `None` when the api has no stream.
    pub(super) async fn open(&mut self) -> Result<Option<reqwest::Response>, CliError> {
        let last_id = match self.parser.last_event_id() {
            Some(id) => Some(id.to_owned()),
            None => (self.last_seq > 0).then(|| self.last_seq.to_string()),
        };
        let path = format!("{}/events/stream", self.run_path);
        match self.client.open_stream(&path, last_id.as_deref()).await {
            Ok(response) => {
                let is_stream = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("text/event-stream"));
                Ok(is_stream.then_some(response))
            }
            Err(CliError::Api {
                status: 404, code, ..
            }) if code == "not_found" => {
                // A missing route and a missing run answer alike; asking for
                // the run tells them apart (its 404 is the error to report).
                self.client.get(&self.run_path, &[]).await?;
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// Shows the events of one connection until it stops being worth reading.
    pub(super) async fn read(&mut self, response: reqwest::Response) -> StreamEnd {
        let mut body = response.bytes_stream();
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let idle = tokio::time::sleep(IDLE_RECHECK);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                chunk = body.next() => match chunk {
                    Some(Ok(bytes)) => {
                        self.failures = 0;
                        idle.as_mut().reset(Instant::now() + IDLE_RECHECK);
                        let mut accepted = false;
                        for sse in self.parser.push(&bytes) {
                            accepted |= run_event(&sse).is_some_and(|e| self.accept(e));
                        }
                        if accepted && self.last_is_final() {
                            return StreamEnd::FinalEvent;
                        }
                    }
                    Some(Err(err)) => return StreamEnd::Dropped(self.client.unreachable(&err)),
                    None => return StreamEnd::Ended,
                },
                _ = ticker.tick() => self.tick(),
                () = &mut idle => return StreamEnd::Idle,
            }
        }
    }
}

/// The run event an SSE event carries; the SSE id and name stand in for a
/// `seq` or `kind` missing from the data.
fn run_event(sse: &SseEvent) -> Option<RunEvent> {
    let mut event: RunEvent = serde_json::from_str(&sse.data).ok()?;
    if event.seq == 0 {
        event.seq = sse.id.as_deref()?.parse().ok()?;
    }
    if event.kind.is_empty() {
        event.kind.clone_from(&sse.event);
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sse_event_carries_a_run_event() {
        let sse = SseEvent {
            event: "RUN_STARTED".into(),
            data: r#"{"seq":2,"attempt":1,"kind":"RUN_STARTED","payload":{}}"#.into(),
            id: Some("2".into()),
        };
        let event = run_event(&sse).expect("a run event");
        assert_eq!(
            (event.seq, event.attempt, event.kind.as_str()),
            (2, 1, "RUN_STARTED")
        );
    }

    #[test]
    fn the_sse_id_and_name_fill_in_for_missing_fields() {
        let sse = SseEvent {
            event: "EXECUTING".into(),
            data: "{}".into(),
            id: Some("5".into()),
        };
        let event = run_event(&sse).expect("a run event");
        assert_eq!((event.seq, event.kind.as_str()), (5, "EXECUTING"));
        let keepalive = SseEvent {
            event: "message".into(),
            data: "ping".into(),
            id: None,
        };
        assert!(run_event(&keepalive).is_none());
    }
}
