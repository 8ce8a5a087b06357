//! Retried requests and links cut at any byte: nothing lost, nothing duplicated.
