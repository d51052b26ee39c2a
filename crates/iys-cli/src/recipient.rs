//! `iys recipient`: one result per input (arguments, or lines of standard input for `-`).

use std::io::{BufRead, BufReader, Write};

use iys_core::diagnostic::{Code, Diagnostic, Lang, Report};
use iys_core::recipient::{guess_kind, validate_recipient, Mode, Recipient};
use serde::Serialize;

use crate::error::CliError;
use crate::report::{self, DiagnosticJson};
use crate::{pipeline, Tally};

/// Longest stdin line read as one input.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Serialize)]
struct RecipientJson<'a> {
    input: &'a str,
    ok: bool,
    value: Option<&'a str>,
    kind: &'static str,
    #[serde(rename = "type")]
    number_type: Option<&'static str>,
    errors: Vec<DiagnosticJson<'a>>,
    warnings: Vec<DiagnosticJson<'a>>,
}

fn render(input: &str, report: &Report<Recipient>, lang: Lang, json: bool) -> Vec<u8> {
    let ok = report.is_ok();
    let value = report.value.as_ref().filter(|_| ok);
    let kind = value.map_or_else(|| guess_kind(input), Recipient::kind);
    let number_type = match value {
        Some(Recipient::Phone(p)) => Some(p.number_type().as_str()),
        _ => None,
    };
    if json {
        let mut buf = Vec::with_capacity(256);
        let line = RecipientJson {
            input,
            ok,
            value: value.map(Recipient::wire),
            kind: kind.as_str(),
            number_type,
            errors: report::errors_json(&report.diagnostics, lang),
            warnings: report::warnings_json(&report.diagnostics, lang),
        };
        report::json_line(&mut buf, &line);
        return buf;
    }
    let mut s = String::new();
    // The input as typed, but with control characters written out (it goes to a terminal).
    let input = report::escaped(input);
    match value {
        Some(v) => {
            s.push_str(&format!("ok      {input} → {} ({}", report::escaped(v.wire()), kind.as_str()));
            if let Some(t) = number_type {
                s.push_str(", ");
                s.push_str(t);
            }
            s.push_str(")\n");
        }
        None => s.push_str(&format!("invalid {input}\n")),
    }
    for d in &report.diagnostics {
        s.push_str("        ");
        report::human(&mut s, d, lang);
        s.push('\n');
    }
    s.into_bytes()
}

/// One input: text, or a line that was not UTF-8 / too long.
enum Input {
    Text(String),
    Unreadable(String, Diagnostic),
}

/// Runs `iys recipient`.
pub fn run(inputs: &[String], mode: Mode, lang: Lang, json: bool) -> Result<Tally, CliError> {
    let stdin = inputs.iter().any(|i| i == "-");
    if stdin && inputs.len() > 1 {
        return Err(CliError::usage("`-` (read standard input) must be the only INPUT"));
    }
    let source: Box<dyn Iterator<Item = Result<Input, CliError>> + Send + '_> = if stdin {
        Box::new(StdinLines { reader: BufReader::with_capacity(1 << 16, std::io::stdin()), done: false })
    } else {
        Box::new(inputs.iter().cloned().map(|s| Ok(Input::Text(s))))
    };
    let work = |input: Input| -> (bool, Vec<u8>) {
        match input {
            Input::Text(text) => {
                let report = validate_recipient(&text, mode);
                (report.is_ok(), render(&text, &report, lang, json))
            }
            Input::Unreadable(text, d) => {
                let report = Report::from_parts(None, vec![d]);
                (false, render(&text, &report, lang, json))
            }
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut tally = Tally::default();
    pipeline::run(source, work, |results| {
        for (ok, text) in results {
            if ok {
                tally.valid += 1;
            } else {
                tally.invalid += 1;
            }
            out.write_all(&text).map_err(|e| CliError::output(&e))?;
        }
        Ok(())
    })?;
    out.flush().map_err(|e| CliError::output(&e))?;
    Ok(tally)
}

struct StdinLines<R> {
    reader: R,
    done: bool,
}

impl<R: BufRead> Iterator for StdinLines<R> {
    type Item = Result<Input, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut line = Vec::new();
        match crate::input::read_line_capped(&mut self.reader, &mut line, MAX_LINE) {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some(true)) => {}
            Ok(Some(false)) => {
                return Some(Ok(Input::Unreadable(
                    String::new(),
                    Diagnostic::new(Code::StringTooLong, "")
                        .with("field", "recipient")
                        .with("limit", MAX_LINE.to_string()),
                )));
            }
            Err(e) => {
                self.done = true;
                return Some(Err(CliError::io("cannot read standard input", &e)));
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(Ok(match String::from_utf8(line) {
            Ok(s) => Input::Text(s),
            Err(e) => Input::Unreadable(
                String::from_utf8_lossy(e.as_bytes()).into_owned(),
                Diagnostic::new(Code::InvalidUtf8, ""),
            ),
        }))
    }
}
