//! Batches: 1..1000 consents, no duplicate (recipientType, type, recipient), a report per item.
//! PLACEHOLDER — being replaced by the consent work.

use crate::consent::{Options, ValidConsent};
use crate::diagnostic::{Diagnostic, Report};
use crate::json::Value;

/// Most consents IYS takes in one request (H125).
pub const MAX_BATCH: usize = 1000;

/// The outcome of a batch: problems with the batch as a whole, and one report per item, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchReport {
    /// Batch-level problems (not an array, empty, too large). Paths are `""`.
    pub diagnostics: Vec<Diagnostic>,
    /// One report per item, index = position; item paths are prefixed with `/{index}`.
    pub items: Vec<Report<ValidConsent>>,
}

impl BatchReport {
    /// True when the batch itself is fine and every item is valid.
    pub fn is_ok(&self) -> bool {
        self.diagnostics.iter().all(|d| !d.is_error()) && self.items.iter().all(Report::is_ok)
    }
}

/// Validates a batch given as JSON text (a bare array, as IYS expects).
pub fn validate_batch(json: &str, opts: &Options) -> BatchReport {
    match crate::json::parse(json) {
        Ok(v) => validate_batch_value(&v, opts),
        Err(d) => BatchReport { diagnostics: vec![d], items: Vec::new() },
    }
}

/// Validates a batch given as a parsed JSON value.
pub fn validate_batch_value(value: &Value, opts: &Options) -> BatchReport {
    let _ = (value, opts);
    BatchReport { diagnostics: Vec::new(), items: Vec::new() }
}
