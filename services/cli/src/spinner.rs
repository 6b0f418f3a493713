//! The progress line on stderr while a watch waits for events: a spinner,
//! the run, what it is doing and for how long. Drawn only when stderr is a
//! terminal, so scripts and pipes never see it; cleared before every line of
//! real output and when dropped.

use std::io::Write;
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

/// How often the line is redrawn while waiting.
pub const TICK: Duration = Duration::from_millis(100);

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Erase the current terminal line and return to its start.
const CLEAR_LINE: &str = "\r\x1b[2K";

/// A one-line spinner on stderr.
#[derive(Debug)]
pub struct Spinner {
    enabled: bool,
    label: String,
    frame: usize,
    started: Instant,
    drawn: bool,
}

impl Spinner {
    /// A spinner that draws only when `enabled` (stderr is a terminal).
    pub fn new(enabled: bool, label: String) -> Self {
        Spinner {
            enabled,
            label,
            frame: 0,
            started: Instant::now(),
            drawn: false,
        }
    }

    /// Advances and redraws the line with the latest `state`.
    pub fn tick(&mut self, state: &str) {
        if !self.enabled {
            return;
        }
        self.frame = (self.frame + 1) % FRAMES.len();
        let elapsed = self.started.elapsed().as_secs();
        let mut err = std::io::stderr().lock();
        let _ignored = write!(
            err,
            "{CLEAR_LINE}{} {}  {state}  {}m{:02}s",
            FRAMES[self.frame],
            self.label,
            elapsed / 60,
            elapsed % 60
        );
        let _ignored = err.flush();
        self.drawn = true;
    }

    /// Sleeps for `delay`, redrawing the line with `state` every [`TICK`].
    pub async fn pause(&mut self, delay: Duration, state: &str) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let done = tokio::time::sleep(delay);
        tokio::pin!(done);
        loop {
            tokio::select! {
                () = &mut done => return,
                _ = ticker.tick() => self.tick(state),
            }
        }
    }

    /// Erases the line, if drawn.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ignored = write!(err, "{CLEAR_LINE}");
            let _ignored = err.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.clear();
    }
}
