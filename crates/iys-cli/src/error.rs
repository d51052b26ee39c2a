//! Errors that stop a command: usage mistakes and I/O failures (exit code 2).

use std::fmt;
use std::io;

/// A failure of the command itself (not of a record): printed as `iys: error: …`, exit code 2.
#[derive(Debug)]
pub struct CliError {
    message: String,
    /// A closed pipe on the output (`iys check … | head`): end quietly.
    pub broken_pipe: bool,
}

impl CliError {
    /// A usage mistake or unreadable input.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError { message: message.into(), broken_pipe: false }
    }

    /// An I/O failure, with what we were doing.
    pub fn io(context: impl Into<String>, e: &io::Error) -> Self {
        CliError { message: format!("{}: {e}", context.into()), broken_pipe: e.kind() == io::ErrorKind::BrokenPipe }
    }

    /// The same failure, with what it left behind appended to the message.
    #[must_use]
    pub fn note(mut self, note: impl AsRef<str>) -> Self {
        self.message.push_str(". ");
        self.message.push_str(note.as_ref());
        self
    }

    /// A failure writing the output.
    pub fn output(e: &io::Error) -> Self {
        CliError::io("cannot write the output", e)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
