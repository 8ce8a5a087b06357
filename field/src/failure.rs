//! Why a command failed, the message the person reads, and the exit code scripts see.

use client_core::Error;
use schema::Message;
use schema::fields::InvalidPath;
use schema::ids::InvalidId;
use std::io;

/// Exit code for input that cannot be taken as it is (clap uses the same for usage errors).
const EXIT_INVALID_INPUT: u8 = 2;
/// Exit code for every other failure.
const EXIT_FAILURE: u8 = 1;

/// A failed command.
#[derive(Debug)]
pub enum Failure {
    /// The person typed something that cannot be taken; nothing was stored.
    Input(Message),
    /// The store or the machine failed.
    Other(Message),
    /// Writing the output failed (for example the reader of a pipe went away).
    Output(io::Error),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Input(_) => EXIT_INVALID_INPUT,
            Failure::Other(_) | Failure::Output(_) => EXIT_FAILURE,
        }
    }

    /// Whether the output went to a reader that stopped listening, which is no failure
    /// (`doorstep-field list | head`).
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, Failure::Output(err) if err.kind() == io::ErrorKind::BrokenPipe)
    }

    pub fn message(&self) -> Message {
        match self {
            Failure::Input(message) | Failure::Other(message) => message.clone(),
            Failure::Output(err) => Message::new(
                format!("无法输出结果：{err}"),
                format!("The output could not be written: {err}"),
            ),
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        let message = err.message();
        match err {
            // Each of these names something the person typed: a value, a household that
            // is not here, a village not assigned to this device.
            Error::InvalidInput(_) | Error::HouseholdNotFound(_) | Error::VillageNotAssigned(_) => {
                Failure::Input(message)
            }
            _ => Failure::Other(message),
        }
    }
}

impl From<InvalidId> for Failure {
    fn from(err: InvalidId) -> Self {
        Failure::Input(err.message)
    }
}

impl From<InvalidPath> for Failure {
    fn from(err: InvalidPath) -> Self {
        Failure::Input(err.message)
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure::Output(err)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(err: serde_json::Error) -> Self {
        match err.io_error_kind() {
            Some(kind) => Failure::Output(io::Error::new(kind, err)),
            None => Failure::Other(Message::new(
                format!("无法生成 JSON：{err}"),
                format!("The JSON could not be written: {err}"),
            )),
        }
    }
}
