//! Benchmark only, behind the `bench` feature (off by default, so no app build has it): the
//! timing loop of `scripts/mobile-bench`, and one export that runs it from the foreign side.
//!
//! [`direct_times`] makes the benchmark's calls directly in Rust on a `DoorstepStore`. The
//! `ffi_bench` example runs it in a process of its own; `DoorstepStore::bench_direct` runs the
//! very same loop inside the JVM, on the thread the Kotlin benchmark measures from, so the
//! Kotlin timings have a Rust yardstick that shares their process (allocator arenas, caches,
//! the JVM's own threads) and differs from them by the boundary alone.

use crate::household::Household;
use crate::store::DoorstepStore;
use std::time::Instant;

/// Medians of calls made directly in Rust, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct DirectTimes {
    /// `household(id)`.
    pub household_read: f64,
    /// The same read, then the record lowered into the `RustBuffer` a foreign caller
    /// receives, and that buffer freed: what the scaffolding adds on the Rust side.
    pub household_read_lowered: f64,
    /// `unsynced_changes()`, one SQL `COUNT`.
    pub unsynced_count: f64,
    /// `set_field` on `place`, alternating two values, so each is a real durable change.
    pub field_edit: f64,
}

#[uniffi::export]
impl DoorstepStore {
    /// Benchmark only (feature `bench`): [`direct_times`], run where the caller is.
    pub fn bench_direct(&self, household: String, place: String, samples: u32) -> DirectTimes {
        direct_times(self, &household, &place, samples as usize)
    }
}

/// Times `samples` reads and counts and a tenth as many edits (at least 20), each after a
/// warm-up, the same protocol as the Kotlin side's. Panics if a call fails: a benchmark on a
/// store that refuses its calls measures nothing.
pub fn direct_times(
    store: &DoorstepStore,
    household: &str,
    place: &str,
    samples: usize,
) -> DirectTimes {
    let read = || {
        store
            .household(household.to_owned())
            .unwrap_or_else(|e| panic!("household({household}): {e}"))
    };
    let household_read = median_micros(samples, |_| drop(std::hint::black_box(read())));
    let household_read_lowered = median_micros(samples, |_| {
        <Household as uniffi::Lower<crate::UniFfiTag>>::lower(read()).destroy();
    });
    let unsynced_count = median_micros(samples, |_| {
        std::hint::black_box(store.unsynced_changes().unwrap_or_else(|e| panic!("{e}")));
    });
    let field_edit = median_micros((samples / 10).max(20), |i| {
        let value = if i % 2 == 0 { "吕梁" } else { "太原" };
        store
            .set_field(household.to_owned(), place.to_owned(), value.to_owned())
            .unwrap_or_else(|e| panic!("set_field({place}): {e}"));
    });
    DirectTimes {
        household_read,
        household_read_lowered,
        unsynced_count,
        field_edit,
    }
}

/// Median microseconds per call, after a warm-up of twice as many calls: what the Kotlin
/// side needs for the JIT to settle, kept the same here so both sides run alike.
pub fn median_micros(samples: usize, mut call: impl FnMut(usize)) -> f64 {
    for i in 0..2 * samples {
        call(i);
    }
    let mut times: Vec<f64> = (0..samples)
        .map(|i| {
            let start = Instant::now();
            call(i);
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
