//! Login throttling: after `allowed` failed sign-ins for a handle (or five
//! times as many from one address), each further attempt waits, from 1 s
//! and doubling with each failure up to 15 minutes. A success clears the
//! handle's count. Guessing a password then costs days, not minutes, while
//! the owner who mistypes a few times notices nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(60 * 60);
/// Past this many remembered keys, old ones are swept on the next failure.
const SWEEP_AT: usize = 10_000;
/// An address may fail this many times more than one handle.
const ADDRESS_FACTOR: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Handle(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Debug)]
pub struct LoginThrottle {
    /// Failures before waits begin; 0 turns throttling off.
    allowed: u32,
    // A std Mutex: held for a lookup, never across an await.
    failures: Mutex<HashMap<Key, Failures>>,
}

impl LoginThrottle {
    pub fn new(allowed: u32) -> LoginThrottle {
        LoginThrottle {
            allowed,
            failures: Mutex::default(),
        }
    }

    /// How long a sign-in for `handle` from `address` must still wait, if at all.
    pub fn wait(&self, handle: &str, address: Option<IpAddr>) -> Option<Duration> {
        if self.allowed == 0 {
            return None;
        }
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let handle_wait = failures
            .get(&Key::Handle(handle.to_owned()))
            .and_then(|f| remaining(*f, self.allowed, now));
        let address_wait = address
            .and_then(|a| failures.get(&Key::Address(a)))
            .and_then(|f| remaining(*f, self.allowed * ADDRESS_FACTOR, now));
        handle_wait.max(address_wait)
    }

    pub fn failed(&self, handle: &str, address: Option<IpAddr>) {
        if self.allowed == 0 {
            return;
        }
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, f| now.duration_since(f.last) < MEMORY);
        }
        let keys = std::iter::once(Key::Handle(handle.to_owned())).chain(address.map(Key::Address));
        for key in keys {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.duration_since(entry.last) >= MEMORY {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    pub fn succeeded(&self, handle: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.remove(&Key::Handle(handle.to_owned()));
    }
}

/// The wait left after `f`, once more than `allowed` failures were made.
fn remaining(f: Failures, allowed: u32, now: Instant) -> Option<Duration> {
    let over = f.count.checked_sub(allowed)?;
    let wait = Duration::from_secs(1u64 << over.min(10)).min(LONGEST_WAIT);
    let until = f.last + wait;
    (until > now).then(|| until - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_begin_after_the_allowance_and_double() {
        let throttle = LoginThrottle::new(3);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert_eq!(throttle.wait("ana", Some(ip)), None);
            throttle.failed("ana", Some(ip));
        }
        assert_eq!(throttle.wait("ana", Some(ip)), Some(Duration::from_secs(1)));
        assert_eq!(
            throttle.wait("ben", None),
            None,
            "other handles are not held"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(throttle.wait("ana", None), None);
        throttle.failed("ana", None);
        assert_eq!(throttle.wait("ana", None), Some(Duration::from_secs(2)));
        throttle.succeeded("ana");
        assert_eq!(throttle.wait("ana", None), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_trying_many_handles_is_held() {
        let throttle = LoginThrottle::new(2);
        let ip: IpAddr = [10, 0, 0, 2].into();
        for n in 0..10 {
            throttle.failed(&format!("user{n}"), Some(ip));
        }
        assert_eq!(
            throttle.wait("someone", Some(ip)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(throttle.wait("someone", None), None);
    }

    #[test]
    fn zero_turns_it_off() {
        let throttle = LoginThrottle::new(0);
        for _ in 0..100 {
            throttle.failed("ana", None);
        }
        assert_eq!(throttle.wait("ana", None), None);
    }
}
