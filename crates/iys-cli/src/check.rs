//! `iys check`: one result per record, then a summary.

use std::io::{IsTerminal, Write};
use std::path::Path;

use iys_core::consent::{validate_consent_value, Consent, Options, ValidConsent};
use iys_core::diagnostic::{Code, Lang, Report};
use iys_core::json::Value;
use serde::Serialize;

use crate::error::CliError;
use crate::input::{Format, RawRecord, Slice};
use crate::report::{self, DiagnosticJson};
use crate::{pipeline, Judge, Tally};

/// A record and the core's verdict on it.
#[derive(Debug)]
pub struct Evaluated {
    /// 0-based position among the input's records.
    pub index: u64,
    /// 1-based line where the record starts.
    pub line: u64,
    /// The core's report.
    pub report: Report<ValidConsent>,
}

/// Turns a raw record into a value and has the core judge it.
pub fn evaluate(raw: RawRecord, options: &Options) -> Evaluated {
    let (index, line) = (raw.index, raw.line);
    let report = match raw.into_value() {
        Ok(value) => validate_consent_value(&value, options),
        Err(d) => Report::from_parts(None, vec![d]),
    };
    Evaluated { index, line, report }
}

/// As [`evaluate`], with a CSV row's cells written into `scratch`, reused from record to record.
pub fn evaluate_in(raw: &RawRecord, options: &Options, scratch: &mut Vec<(String, Value)>) -> Evaluated {
    let report = raw.with_value(scratch, |value| match value {
        Ok(value) => validate_consent_value(value, options),
        Err(d) => Report::from_parts(None, vec![d]),
    });
    Evaluated { index: raw.index, line: raw.line, report }
}

/// Whether the core rewrote the record (a recipient brought into wire form, an extension dropped).
pub fn was_normalized(report: &Report<ValidConsent>) -> bool {
    report.diagnostics.iter().any(|d| matches!(d.code, Code::RecipientNormalized | Code::PhoneExtensionDropped))
}

/// The `--json` line of one record (also the line of `rejects.ndjson`).
#[derive(Debug, Serialize)]
pub struct RecordJson<'a> {
    /// 0-based position among the input's records.
    pub index: u64,
    /// 1-based line in the input.
    pub line: u64,
    /// Whether the record is valid.
    pub ok: bool,
    /// The normalised consent when valid, else null.
    pub consent: Option<&'a Consent>,
    /// The errors.
    pub errors: Vec<DiagnosticJson<'a>>,
    /// The warnings (e.g. each recipient rewritten into wire form).
    pub warnings: Vec<DiagnosticJson<'a>>,
}

impl<'a> RecordJson<'a> {
    /// The JSON line for `e`.
    pub fn new(e: &'a Evaluated, lang: Lang) -> Self {
        let ok = e.report.is_ok();
        RecordJson {
            index: e.index,
            line: e.line,
            ok,
            consent: e.report.value.as_ref().filter(|_| ok).map(ValidConsent::consent),
            errors: report::errors_json(&e.report.diagnostics, lang),
            warnings: report::warnings_json(&e.report.diagnostics, lang),
        }
    }
}

/// `record 3 (line 5): error … ` for every diagnostic of `e`.
pub fn human_lines(out: &mut String, e: &Evaluated, lang: Lang) {
    let Some((first, rest)) = e.report.diagnostics.split_first() else {
        return;
    };
    let start = out.len();
    out.push_str("record ");
    report::push_u64(out, e.index);
    out.push_str(" (line ");
    report::push_u64(out, e.line);
    out.push_str("): ");
    let prefix = start..out.len();
    report::human(out, first, lang);
    out.push('\n');
    for d in rest {
        out.extend_from_within(prefix.clone());
        report::human(out, d, lang);
        out.push('\n');
    }
}

/// The outcome of a slice of records: counts and their output, in order.
#[derive(Default)]
struct Checked {
    valid: u64,
    invalid: u64,
    normalized: u64,
    text: Vec<u8>,
}

#[derive(Debug, Serialize)]
struct Summary {
    records: u64,
    valid: u64,
    invalid: u64,
    normalized: u64,
}

#[derive(Debug, Serialize)]
struct SummaryLine {
    summary: Summary,
}

/// Runs `iys check`.
pub fn run(file: &Path, format: Option<Format>, judge: Judge, json: bool) -> Result<Tally, CliError> {
    let (slices, progress) = crate::open_slices(file, format, pipeline::SLICE)?;
    let lang = judge.lang;
    // One group of records per call: the CSV cells, the output and the counts are one buffer each
    // for the whole group, not one per record.
    let work = |slice: &Slice| {
        let mut scratch = Vec::new();
        let mut c = Checked::default();
        let mut human = String::with_capacity(if json { 0 } else { 32 * 1024 });
        let mut one = |e: Evaluated| {
            if e.report.is_ok() {
                c.valid += 1;
                c.normalized += u64::from(was_normalized(&e.report));
            } else {
                c.invalid += 1;
            }
            if json {
                report::json_line(&mut c.text, &RecordJson::new(&e, lang));
            } else {
                human_lines(&mut human, &e, lang);
            }
        };
        match slice {
            Slice::Records(records) => {
                for raw in records {
                    one(evaluate_in(raw, &judge.options, &mut scratch));
                }
            }
            Slice::Csv(rows) => rows.for_each_value(&mut scratch, |index, line, value| {
                let report = match value {
                    Ok(value) => validate_consent_value(value, &judge.options),
                    Err(d) => Report::from_parts(None, vec![d]),
                };
                one(Evaluated { index, line, report });
            }),
        }
        if !json {
            c.text = human.into_bytes();
        }
        c
    };

    let stdout = std::io::stdout();
    let shared_terminal = progress.is_drawn() && stdout.is_terminal();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut tally = Tally::default();
    let mut normalized = 0u64;
    pipeline::run_grouped(slices, work, |results: Vec<Checked>| {
        for r in &results {
            tally.valid += r.valid;
            tally.invalid += r.invalid;
            normalized += r.normalized;
        }
        let write = |out: &mut std::io::BufWriter<_>| -> std::io::Result<()> {
            for r in &results {
                out.write_all(&r.text)?;
            }
            if shared_terminal {
                out.flush()?;
            }
            Ok(())
        };
        progress.suspend(|| write(&mut out)).map_err(|e| CliError::output(&e))?;
        progress.update(tally.valid + tally.invalid, tally.invalid);
        Ok(())
    })?;

    let records = tally.valid + tally.invalid;
    progress.finish(records);
    if records == 0 {
        // Not an error (nothing in it is invalid), but a file with no records is seldom meant.
        eprintln!(
            "iys: warning: {} holds no records (a CSV header without rows, an empty JSON array, or blank lines)",
            crate::input::display_name(file)
        );
    }
    if json {
        let mut buf = Vec::new();
        let summary = Summary { records, valid: tally.valid, invalid: tally.invalid, normalized };
        report::json_line(&mut buf, &SummaryLine { summary });
        out.write_all(&buf).map_err(|e| CliError::output(&e))?;
    } else {
        let line = match lang {
            Lang::En => format!(
                "{records} records: {} valid, {} invalid; {normalized} normalised to the IYS form.\n",
                tally.valid, tally.invalid
            ),
            Lang::Tr => format!(
                "{records} kayıt: {} geçerli, {} geçersiz; {normalized} kayıt IYS biçimine dönüştürüldü.\n",
                tally.valid, tally.invalid
            ),
        };
        out.write_all(line.as_bytes()).map_err(|e| CliError::output(&e))?;
    }
    out.flush().map_err(|e| CliError::output(&e))?;
    Ok(tally)
}
