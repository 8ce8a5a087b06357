//! End-to-end tests of the sync server and the register, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod at_rest;
mod cli;
mod comparison;
mod console;
mod console_comparison;
mod console_reports;
mod console_work;
mod convergence;
mod data_key;
mod devices;
mod duplicates;
mod edge;
mod field_sync;
mod foreign_client;
mod hardening;
mod hostile_input;
mod id_numbers;
mod indicators;
mod links;
mod member_status;
mod old_layout;
mod operator_cli;
mod photos;
mod photos_server;
mod review;
mod rosters;
mod scope;
mod screening;
mod security;
mod statistics;
mod subsidies;
mod support;
mod tasks;
mod two_servers;
