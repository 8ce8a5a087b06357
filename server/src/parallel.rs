//! A request's CPU work spread over the machine's cores.
//!
//! Ingest holds the write transaction while it loads and merges a batch of household
//! documents (on SQLite, the only writer), so that work is what bounds how fast a county's
//! phones can sync. The households of a batch are independent documents: each is merged on
//! whichever core is free.
//!
//! The work runs on rayon's global pool, one thread per core started once for the life of
//! the process: a busy server syncs many batches a minute, and starting (and ending) a
//! thread per core for every one of them was work of its own.

use rayon::prelude::*;

/// `work` applied to every item on the process's pool of a thread per core, each item a
/// task of its own, so a large household does not hold up the rest. Results come back in
/// the order of `items`. A panic in `work` is raised again on the calling thread. The
/// calling thread waits for the pool, so an async caller must allow for a blocked worker.
pub fn map<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    if items.len() <= 1 {
        // Nothing to share out: handing one item to the pool would only add the hop.
        return items.into_iter().map(work).collect();
    }
    // At most one item per task: rayon otherwise hands a thread a run of neighbouring
    // items, and one large household would hold up the others in its run.
    items.into_par_iter().with_max_len(1).map(work).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::thread::ThreadId;

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
        })
        .expect_err("the panic should reach the caller");
        let message = caught
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| caught.downcast_ref::<&str>().copied());
        assert_eq!(
            message,
            Some("item 31"),
            "the work's own panic, not another"
        );
    }

    #[test]
    fn test_every_batch_runs_on_the_same_long_lived_pool_threads() {
        let mut threads_seen: HashSet<ThreadId> = HashSet::new();
        for batch in 0..20u32 {
            let ran_on = map((0..16).map(|n| batch * 16 + n).collect(), |_| {
                (rayon::current_thread_index(), std::thread::current().id())
            });
            for (pool_index, thread) in ran_on {
                assert!(
                    pool_index.is_some(),
                    "batch {batch}: an item ran outside the pool"
                );
                threads_seen.insert(thread);
            }
        }
        // A thread's id is never given to another thread: a thread started per batch
        // would show as a new id each time, many more than the pool has.
        assert!(
            threads_seen.len() <= rayon::current_num_threads(),
            "{} threads for 20 batches, on a pool of {}",
            threads_seen.len(),
            rayon::current_num_threads()
        );
    }
}
