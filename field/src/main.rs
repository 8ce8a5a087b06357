//! `doorstep-field`, the command-line field client: a thin layer over the device store for
//! volunteers on laptops, demos, tests and load generation.
//!
//! Every rule lives in the store; this binary parses what was typed, calls the store once
//! or twice, and prints the result for a person (Chinese first, then English) or as JSON.

mod args;
mod commands;
mod failure;
mod field_list;
mod generate;
mod photo;
mod render;
mod sync;

use clap::Parser;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Usage errors are clap's own: it prints them and exits with 2.
    let cli = args::Cli::parse();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut err = io::stderr().lock();
    let result = commands::run(cli, &mut out, &mut err)
        .and_then(|()| out.flush().map_err(failure::Failure::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.is_closed_pipe() => ExitCode::SUCCESS,
        Err(failure) => {
            let message = failure.message();
            // Nothing more can be done if stderr itself is gone; the exit code still tells.
            let _ = writeln!(err, "错误：{}\nerror: {}", message.zh, message.en);
            ExitCode::from(failure.exit_code())
        }
    }
}
