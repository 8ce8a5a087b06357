//! Requests refused before any person or device was identified: a missing or forged
//! credential, a body or query the server cannot read. They are counted, for `GET /metrics`,
//! and sampled into the log, never audited.
//!
//! The audit log keeps the acts of identified people and devices for six months and cannot be
//! pruned sooner; a row per anonymous refusal would let anyone with a network connection fill
//! it (millions of rows a day at the per-client rate limit). Refusals of a known credential (a
//! revoked device, an ended session, a role or area refusal) stay audited where they are
//! decided. The counters are per process, like the rate limits.

use axum::http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an anonymous request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No device token or staff session where one is needed.
    NoCredentials,
    /// A token no device or session has.
    UnknownToken,
    /// A request that cannot be read: a malformed body, query or path, or text with control
    /// characters (400).
    Malformed,
    /// A body over its limit (413).
    TooLarge,
    /// A body of the wrong media type (415).
    WrongMediaType,
    /// A body of the wrong shape (422).
    WrongShape,
}

impl Reason {
    const ALL: [Reason; 6] = [
        Reason::NoCredentials,
        Reason::UnknownToken,
        Reason::Malformed,
        Reason::TooLarge,
        Reason::WrongMediaType,
        Reason::WrongShape,
    ];

    /// The metric's label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoCredentials => "no_credentials",
            Reason::UnknownToken => "unknown_token",
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::WrongMediaType => "wrong_media_type",
            Reason::WrongShape => "wrong_shape",
        }
    }

    /// The reason for a refusal answered with `status`, if it is one refused for its form.
    pub fn of_status(status: StatusCode) -> Option<Reason> {
        match status {
            StatusCode::BAD_REQUEST => Some(Reason::Malformed),
            StatusCode::PAYLOAD_TOO_LARGE => Some(Reason::TooLarge),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Some(Reason::WrongMediaType),
            StatusCode::UNPROCESSABLE_ENTITY => Some(Reason::WrongShape),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A refusal is logged at most once in this many seconds per reason, with the running count:
/// a flood must not become a flood of log lines either.
pub const LOG_EVERY_SECS: u64 = 10;

struct Counter {
    total: AtomicU64,
    /// The second (since the epoch) this reason was last logged.
    logged_at: AtomicU64,
}

impl Counter {
    const fn new() -> Counter {
        Counter {
            total: AtomicU64::new(0),
            logged_at: AtomicU64::new(0),
        }
    }
}

static COUNTERS: [Counter; Reason::ALL.len()] = [const { Counter::new() }; Reason::ALL.len()];

/// Counts an anonymous refusal of `target` (method and path) from `client` at `now` (seconds),
/// and logs it if no refusal for the same reason was logged in the last [`LOG_EVERY_SECS`]
/// seconds.
pub fn count(reason: Reason, client: &str, target: &str, now: i64) {
    let counter = &COUNTERS[reason.index()];
    let total = counter.total.fetch_add(1, Ordering::Relaxed) + 1;
    let now = now.max(0) as u64;
    let last = counter.logged_at.load(Ordering::Relaxed);
    let due = now >= last + LOG_EVERY_SECS
        && counter
            .logged_at
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
    if due {
        tracing::warn!(
            reason = reason.as_str(),
            %client,
            %target,
            total,
            "refused an anonymous request; others for the same reason go unlogged for {LOG_EVERY_SECS} s"
        );
    }
}

/// How many anonymous requests were refused for `reason` since the process started.
pub fn total(reason: Reason) -> u64 {
    COUNTERS[reason.index()].total.load(Ordering::Relaxed)
}

/// `GET /metrics`: the counters in the Prometheus text format. Counts only, nothing about
/// who was refused.
pub async fn metrics() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let mut text = String::from(
        "# HELP doorstep_anonymous_refusals_total Requests refused before any person or device was identified.\n\
         # TYPE doorstep_anonymous_refusals_total counter\n",
    );
    for reason in Reason::ALL {
        text.push_str(&format!(
            "doorstep_anonymous_refusals_total{{reason=\"{}\"}} {}\n",
            reason.as_str(),
            total(reason)
        ));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_reason() {
        let before = total(Reason::WrongShape);
        let others = total(Reason::TooLarge);
        let now = 1_800_000_000;
        count(Reason::WrongShape, "192.0.2.1", "POST /api/v1/login", now);
        count(Reason::WrongShape, "192.0.2.1", "POST /api/v1/login", now);
        assert!(total(Reason::WrongShape) >= before + 2);
        assert_eq!(Reason::of_status(StatusCode::UNAUTHORIZED), None);
        assert_eq!(
            Reason::of_status(StatusCode::PAYLOAD_TOO_LARGE),
            Some(Reason::TooLarge)
        );
        // Other tests may count too large bodies at the same time, never fewer.
        assert!(total(Reason::TooLarge) >= others);
    }
}
