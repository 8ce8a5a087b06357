//! End-to-end tests of the sync server and the register, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod convergence;
mod hostile_input;
mod links;
mod review;
mod scope;
mod support;
mod two_servers;
