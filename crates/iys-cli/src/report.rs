//! How diagnostics are written: JSON objects (`--json`) and human lines.

use std::fmt::Write as _;

use iys_core::diagnostic::{Diagnostic, Lang};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// A diagnostic as the JSON output carries it.
#[derive(Debug, Serialize)]
pub struct DiagnosticJson<'a> {
    /// The stable `area/reason` code.
    pub code: &'static str,
    /// IYS's own H-code for the problem, or null.
    pub iys_code: Option<&'static str>,
    /// JSON Pointer into the record (`/recipient`), `""` for the record itself.
    pub path: &'a str,
    /// The message in the chosen language.
    pub message: String,
    /// The named values the message was built from.
    pub params: Params<'a>,
}

/// A diagnostic's params as a JSON object.
#[derive(Debug)]
pub struct Params<'a>(&'a [(&'static str, String)]);

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'a> DiagnosticJson<'a> {
    /// The JSON form of `d`, with its message in `lang`.
    pub fn new(d: &'a Diagnostic, lang: Lang) -> Self {
        DiagnosticJson {
            code: d.code.as_str(),
            iys_code: d.code.iys_code(),
            path: &d.path,
            message: d.message(lang),
            params: Params(&d.params),
        }
    }
}

/// The errors of `diags`, as JSON.
pub fn errors_json(diags: &[Diagnostic], lang: Lang) -> Vec<DiagnosticJson<'_>> {
    diags.iter().filter(|d| d.is_error()).map(|d| DiagnosticJson::new(d, lang)).collect()
}

/// The warnings of `diags`, as JSON.
pub fn warnings_json(diags: &[Diagnostic], lang: Lang) -> Vec<DiagnosticJson<'_>> {
    diags.iter().filter(|d| !d.is_error()).map(|d| DiagnosticJson::new(d, lang)).collect()
}

/// `error consent/date-before-2015 [H156] at /consentDate: <message>`.
pub fn human(out: &mut String, d: &Diagnostic, lang: Lang) {
    let _ = write!(out, "{} {}", d.severity().as_str(), d.code.as_str());
    if let Some(h) = d.code.iys_code() {
        let _ = write!(out, " [{h}]");
    }
    if !d.path.is_empty() {
        let _ = write!(out, " at {}", d.path);
    }
    out.push_str(": ");
    out.push_str(&d.message(lang));
}

/// Appends `value` as one JSON line to `out`.
pub fn json_line(out: &mut Vec<u8>, value: &impl Serialize) {
    // Serializing these plain structs into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, value).is_ok() {
        out.push(b'\n');
    }
}
