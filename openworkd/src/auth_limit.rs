//! Failed-authentication limits: more than 20 failed authentications from
//! one address within a minute, and every request from it is answered
//! `429 too_many_requests` until the minute has passed. Loopback addresses
//! are exempt unless configured otherwise: a local app retrying with a stale
//! token must not lock itself out, and a 128-bit token cannot be guessed
//! from there anyway.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures tolerated within one window.
pub const MAX_FAILURES: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; the oldest windows are forgotten first.
const TRACKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Default)]
pub struct AuthLimiter {
    windows: Mutex<HashMap<IpAddr, Window>>,
}

impl AuthLimiter {
    /// How long `ip` is still refused, if it is.
    pub fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock();
        let window = windows.get(&ip)?;
        let left = WINDOW.checked_sub(now.duration_since(window.started))?;
        (window.failures > MAX_FAILURES && !left.is_zero()).then_some(left)
    }

    /// Count a failed authentication from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut windows = self.windows.lock();
        if windows.len() >= TRACKED && !windows.contains_key(&ip) {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
            if windows.len() >= TRACKED {
                return;
            }
        }
        let window = windows.entry(ip).or_insert(Window {
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

/// Whether failures from `ip` are counted.
pub fn limited(ip: IpAddr, limit_loopback: bool) -> bool {
    limit_loopback || !ip.is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twenty_first_failure_blocks_until_the_window_ends() {
        let limiter = AuthLimiter::default();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            limiter.failed(ip, start);
        }
        assert_eq!(limiter.blocked_for(ip, start), None);
        limiter.failed(ip, start);
        let left = limiter.blocked_for(ip, start + Duration::from_secs(10));
        assert_eq!(left, Some(Duration::from_secs(50)));
        assert_eq!(limiter.blocked_for(other, start), None);
        assert_eq!(limiter.blocked_for(ip, start + WINDOW), None);
        // A new window starts from nothing.
        limiter.failed(ip, start + WINDOW);
        assert_eq!(limiter.blocked_for(ip, start + WINDOW), None);
        assert!(!limited("127.0.0.2".parse().unwrap(), false));
        assert!(limited("127.0.0.2".parse().unwrap(), true));
    }
}
