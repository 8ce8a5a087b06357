//! A request's CPU work spread over the machine's cores.
//!
//! Ingest holds the write transaction while it loads and merges a batch of household
//! documents (on SQLite, the only writer), so that work is what bounds how fast a county's
//! phones can sync. The households of a batch are independent documents: each is merged on
//! whichever core is free.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

/// `work` applied to every item, on as many threads as there are cores (the calling thread
/// one of them), each taking the next item when it is done with one, so a large household
/// does not hold up the rest. Results come back in the order of `items`. A panic in `work`
/// is raised again on the calling thread.
pub fn map<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(work).collect();
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let worker = || {
        let mut done = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((position, item)) = next else {
                return done;
            };
            done.push((position, work(item)));
        }
    };
    let mut results = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut results = worker();
        for helper in helpers {
            match helper.join() {
                Ok(done) => results.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    });
    results.sort_unstable_by_key(|(position, _)| *position);
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_results_keep_the_order_of_the_items_however_long_each_takes() {
        let items: Vec<u64> = (0..200).collect();
        let squares = map(items, |n| {
            // Uneven work, so the threads finish items out of order.
            if n % 7 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            n * n
        });
        assert_eq!(squares, (0..200).map(|n| n * n).collect::<Vec<u64>>());
    }

    #[test]
    fn test_no_items_and_one_item() {
        assert!(map(Vec::<u8>::new(), |n| n).is_empty());
        assert_eq!(map(vec![3], |n| n + 1), vec![4]);
    }

    #[test]
    fn test_a_panic_in_the_work_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            map((0..50).collect::<Vec<u32>>(), |n| {
                assert!(n != 31, "item 31");
                n
            })
        });
        assert!(caught.is_err());
    }
}
