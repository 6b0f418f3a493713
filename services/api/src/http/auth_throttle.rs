//! A brake on guessing tokens: a client address that failed to authenticate
//! `AUTH_FAILURES_PER_MINUTE` times within a minute gets 429 (with
//! `Retry-After`) for every `/v1` request until that minute is over, before
//! its token is even looked up.
//!
//! Counted per IP address, in fixed one-minute windows, in this process's
//! memory: each api replica brakes on its own, which is enough to make
//! guessing 256-bit tokens hopeless and keeps a flood of bad tokens off
//! PostgreSQL. Requests with a valid token are never counted. Behind a
//! proxy every client shares the proxy's address; raise the limit (or set
//! 0 to turn the brake off) there.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Length of one counting window.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered before expired windows are swept out.
const SWEEP_AT: usize = 10_000;

/// Failed authentications per client address.
#[derive(Debug)]
pub struct AuthThrottle {
    limit: u32,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl AuthThrottle {
    /// A throttle allowing `limit` failures a minute per address (0: none
    /// is ever throttled).
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` while `addr` is over its limit.
    pub fn check(&self, addr: IpAddr) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(&addr) {
            Some(window) if window.failures >= self.limit => {
                let left = WINDOW.saturating_sub(window.started.elapsed());
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(left.as_secs().max(1))
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication from `addr`.
    pub fn failed(&self, addr: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        let window = windows.entry(addr).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn an_address_is_braked_after_its_limit_and_others_are_not() {
        let throttle = AuthThrottle::new(3);
        let guesser = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        for _ in 0..3 {
            assert_eq!(throttle.check(guesser), Ok(()));
            throttle.failed(guesser);
        }
        let wait = throttle.check(guesser).expect_err("braked");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(throttle.check(other), Ok(()));
    }

    #[test]
    fn a_limit_of_zero_never_brakes() {
        let throttle = AuthThrottle::new(0);
        let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..100 {
            throttle.failed(addr);
        }
        assert_eq!(throttle.check(addr), Ok(()));
    }
}
