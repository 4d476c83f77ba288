//! Capped exponential backoff with seeded jitter, for reconnecting and for accept errors.
//!
//! Each failure doubles the delay up to a cap; the delay actually slept is drawn uniformly from
//! its upper half ("equal jitter"), so nodes that lost a peer at the same instant do not redial in
//! lockstep. The jitter comes from a [`Rng`] seeded by the caller (node id, peer id), never from
//! an OS source, so a run's choices depend only on what was seeded (STYLE 2.3).

use crate::rng::Rng;
use std::time::Duration;

/// Delays for successive retries of one operation.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    /// The delay after the first failure.
    base: Duration,
    /// No delay exceeds this.
    max: Duration,
    /// The next delay before jitter.
    next: Duration,
    rng: Rng,
}

impl Backoff {
    /// A backoff starting at `base`, doubling to at most `max`.
    pub(crate) fn new(base: Duration, max: Duration, seed: u64) -> Self {
        assert!(base > Duration::ZERO, "a zero base never grows");
        assert!(base <= max, "base {base:?} above cap {max:?}");
        Backoff {
            base,
            max,
            next: base,
            rng: Rng::new(seed),
        }
    }

    /// The delay to wait before the next attempt; grows the following one.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.max);
        let half_us = (ceiling.as_micros() / 2) as u64;
        let delay = Duration::from_micros(half_us + self.rng.range(0, half_us));
        debug_assert!(
            delay <= self.max,
            "jittered delay {delay:?} above cap {:?}",
            self.max
        );
        delay
    }

    /// Forgets past failures: the next delay is `base` again.
    pub(crate) fn reset(&mut self) {
        self.next = self.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stay_under_the_cap() {
        let base = Duration::from_millis(10);
        let max = Duration::from_millis(300);
        let mut backoff = Backoff::new(base, max, 1);
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
        assert!(
            delays[0] >= base / 2 && delays[0] <= base,
            "first delay {:?}",
            delays[0]
        );
        assert!(delays.iter().all(|d| *d <= max), "{delays:?}");
        assert!(delays[9] >= max / 2, "reaches the cap: {delays:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= base);
    }

    #[test]
    fn same_seed_same_delays() {
        let make = || Backoff::new(Duration::from_millis(5), Duration::from_secs(1), 9);
        let (mut a, mut b) = (make(), make());
        for _ in 0..20 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }
}
