//! The polling half of following, for an api without the event stream:
//! `/events?after=SEQ` every 500 ms, checking the run's status after a final
//! event or a quiet spell.

use super::{EMPTY_POLLS_PER_STATUS_CHECK, Followed, Follower, POLL_INTERVAL, POLL_PAGE};
use crate::exit::CliError;
use crate::model::RunEvent;

impl<F: FnMut(&RunEvent)> Follower<'_, F> {
    /// Follows by polling until the run's status ends the watch.
    pub(super) async fn poll(mut self) -> Result<Followed, CliError> {
        let mut empty_polls = 0u32;
        loop {
            match self.fetch_events().await {
                Ok(events) => {
                    self.failures = 0;
                    let count = events.len();
                    let mut accepted = false;
                    for event in events {
                        accepted |= self.accept(event);
                    }
                    empty_polls = if count == 0 { empty_polls + 1 } else { 0 };
                    let quiet_long_enough = empty_polls >= EMPTY_POLLS_PER_STATUS_CHECK;
                    if quiet_long_enough {
                        empty_polls = 0;
                    }
                    let check = (accepted && self.last_is_final()) || quiet_long_enough;
                    let done = if check { self.settle().await? } else { None };
                    if let Some(done) = done {
                        return Ok(done);
                    }
                    if count < POLL_PAGE {
                        self.pause(POLL_INTERVAL).await;
                    }
                }
                Err(err) if err.is_transient() => {
                    self.failed(err)?;
                    self.backoff().await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}
