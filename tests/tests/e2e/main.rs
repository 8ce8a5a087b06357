//! End-to-end tests of the sync server and the register, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod at_rest;
mod cli;
mod convergence;
mod devices;
mod hardening;
mod hostile_input;
mod links;
mod review;
mod scope;
mod screening;
mod security;
mod statistics;
mod support;
mod two_servers;
