//! The server's one reading of the wall clock.
//!
//! Session expiry, lockout, enrollment-code expiry, a village's grace period, audit times and
//! "today" for validation all ask a `Clock`, never the system directly, so a test can move
//! time (`Clock::manual`) instead of waiting for it.

use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the time comes from: the system, or a hand that tests move.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

/// Moves a manual clock. Only tests hold one.
#[derive(Debug, Clone)]
pub struct ClockHand(Arc<AtomicI64>);

impl Clock {
    /// The system's clock: what the server runs on.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that stands at `start` (to the second) until its hand moves it.
    pub fn manual(start: Timestamp) -> (Clock, ClockHand) {
        let seconds = Arc::new(AtomicI64::new(start.as_second()));
        (
            Clock {
                manual: Some(Arc::clone(&seconds)),
            },
            ClockHand(seconds),
        )
    }

    pub fn now(&self) -> Timestamp {
        match &self.manual {
            None => Timestamp::now(),
            Some(seconds) => Timestamp::from_second(seconds.load(Ordering::SeqCst))
                .unwrap_or(Timestamp::UNIX_EPOCH),
        }
    }

    /// Seconds since the Unix epoch: how the database stores every time.
    pub fn now_seconds(&self) -> i64 {
        self.now().as_second()
    }

    /// Today in China (UTC+8), the date validation and ages are reckoned by.
    pub fn today(&self) -> jiff::civil::Date {
        schema::china_date(self.now())
    }
}

impl ClockHand {
    pub fn advance(&self, by: SignedDuration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_its_hand_moves_it() {
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let (clock, hand) = Clock::manual(start);
        assert_eq!(clock.now(), start);
        hand.advance(SignedDuration::from_hours(25));
        assert_eq!(clock.now_seconds(), 1_800_000_000 + 25 * 3600);
        // A copy of the clock reads the same hand.
        assert_eq!(clock.clone().now(), clock.now());
    }

    #[test]
    fn the_system_clock_moves_on_its_own() {
        let clock = Clock::system();
        assert!(clock.now_seconds() > 1_700_000_000);
    }
}
