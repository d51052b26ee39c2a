//! E-mail addresses by IYS's rules. PLACEHOLDER — being replaced by the e-mail work.

use super::{Mode, Recipient};
use crate::diagnostic::{Code, Diagnostic, Report};

/// An e-mail address that passes IYS's rules, as written (case is never rewritten).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The address exactly as accepted.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The documented canonical form: the whole address in ASCII lower case. Never applied unless asked.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// Judges an e-mail input.
pub fn validate(input: &str, mode: Mode) -> Report<Recipient> {
    let _ = mode;
    if input.matches('@').count() == 1 {
        return Report::from_parts(Some(Recipient::Email(Email(input.to_owned()))), Vec::new());
    }
    Report::from_parts(None, vec![Diagnostic::new(Code::EmailMissingAt, "")])
}
