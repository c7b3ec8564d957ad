//! The login and registration throttle (`--auth-rate-limit N/period`).
//!
//! Logins count **failed** attempts only, per user name and per client address: a
//! script that logs in on every call (the CVAT 1.1 CLI does) is never throttled, while
//! guessing a password is, from one address or from many against one user.
//! Registrations count every attempt per address (each success makes an account).
//! `Retry-After` is the real time until the oldest counted attempt leaves the window.
//!
//! Written here rather than with `governor` (used before): a GCRA limiter cannot be
//! asked whether a key is blocked without spending a cell, and only failures may spend
//! them. Memory is bounded: at most [`MAX_KEYS`] keys, expired ones dropped first.
//! The counts are per replica (documented in the README).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Rate;

/// Most keys kept; past it, keys whose attempts all left the window are dropped, and
/// if that is not enough, new user-name keys are not recorded (addresses still are).
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// Failed logins from an address.
    LoginFrom(IpAddr),
    /// Failed logins as a user name (lower case).
    LoginAs(String),
    /// Registrations from an address.
    RegisterFrom(IpAddr),
}

#[derive(Clone, Default)]
pub struct AuthLimiter(Option<Arc<Inner>>);

struct Inner {
    count: usize,
    per: Duration,
    seen: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl AuthLimiter {
    pub fn new(rate: Option<Rate>) -> AuthLimiter {
        AuthLimiter(rate.map(|r| {
            Arc::new(Inner {
                count: r.count.max(1) as usize,
                per: r.per,
                seen: Mutex::new(HashMap::new()),
            })
        }))
    }

    /// `Err(seconds to wait)` when any of `keys` has used up its allowance.
    pub fn blocked(&self, keys: &[Key]) -> Result<(), u64> {
        self.blocked_at(keys, Instant::now())
    }

    /// Counts an attempt against each of `keys`.
    pub fn record(&self, keys: &[Key]) {
        self.record_at(keys, Instant::now())
    }

    fn blocked_at(&self, keys: &[Key], now: Instant) -> Result<(), u64> {
        let Some(inner) = &self.0 else { return Ok(()) };
        let mut seen = inner.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for k in keys {
            let Some(times) = seen.get_mut(k) else {
                continue;
            };
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= inner.per)
            {
                times.pop_front();
            }
            if times.len() >= inner.count {
                // free again when enough of the oldest attempts have left the window
                let oldest = times[times.len() - inner.count];
                wait = wait.max(inner.per - now.duration_since(oldest));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.as_secs_f64().ceil().max(1.0) as u64)
        }
    }

    fn record_at(&self, keys: &[Key], now: Instant) {
        let Some(inner) = &self.0 else { return };
        let mut seen = inner.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_KEYS {
            seen.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < inner.per)
            });
        }
        for k in keys {
            if seen.len() >= MAX_KEYS && matches!(k, Key::LoginAs(_)) && !seen.contains_key(k) {
                continue;
            }
            let times = seen.entry(k.clone()).or_default();
            times.push_back(now);
            while times.len() > inner.count {
                times.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(count: u32, secs: u64) -> AuthLimiter {
        AuthLimiter::new(Some(Rate {
            count,
            per: Duration::from_secs(secs),
        }))
    }

    #[test]
    fn failures_block_until_the_oldest_leaves_the_window() {
        let l = limiter(3, 60);
        let t0 = Instant::now();
        let keys = [Key::LoginAs("bob".into())];
        for i in 0..3 {
            assert!(l.blocked_at(&keys, t0 + Duration::from_secs(i)).is_ok());
            l.record_at(&keys, t0 + Duration::from_secs(i));
        }
        // the first failure (t0) leaves at t0+60: 50 s to wait at t0+10
        assert_eq!(l.blocked_at(&keys, t0 + Duration::from_secs(10)), Err(50));
        assert!(l.blocked_at(&keys, t0 + Duration::from_secs(60)).is_ok());
        // other keys are free
        assert!(l.blocked_at(&[Key::LoginAs("ann".into())], t0).is_ok());
    }

    #[test]
    fn off_when_no_rate() {
        let l = AuthLimiter::new(None);
        let k = [Key::LoginFrom(IpAddr::from([127, 0, 0, 1]))];
        for _ in 0..100 {
            l.record(&k);
        }
        assert!(l.blocked(&k).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let l = limiter(5, 60);
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            l.record_at(&[Key::LoginAs(format!("u{i}"))], t0);
        }
        let n = l.0.as_ref().unwrap().seen.lock().unwrap().len();
        assert!(n <= MAX_KEYS, "{n}");
    }
}
