//! The shared fixture corpus (`tests/fixtures/*.json`, format in `tests/fixtures/README.md`): loading
//! cases, and running one case natively against `iys-core`.
//!
//! Fixture files are read with `iys_core::json`, not serde_json, so object keys keep their order and
//! numbers their exact text (the corpus runner would otherwise reorder unknown fields or round big
//! numbers). Expected and actual values are compared as `serde_json::Value`s.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use iys_core::batch::validate_batch;
use iys_core::consent::{validate_consent, Options};
use iys_core::json::{self, Value};
use iys_core::recipient::{validate_recipient, Mode};
use iys_core::time::{BusinessDays, LocalDateTime};
use iys_core::Diagnostic;

/// `now` when a case does not set it: a Wednesday, so 3 business days back is Friday 2025-03-07 15:00:00.
pub const DEFAULT_NOW: &str = "2025-03-12 15:00:00";

/// What a case validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One consent (`validate_consent`).
    Consent,
    /// A batch (`validate_batch`).
    Batch,
    /// One recipient string (`validate_recipient`).
    Recipient,
}

/// One expected diagnostic: code and path always; params only those listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedDiagnostic {
    /// `area/reason`.
    pub code: String,
    /// JSON Pointer.
    pub path: String,
    /// Params that must be present with exactly these values (others are not checked).
    pub params: Vec<(String, String)>,
}

/// One fixture case.
#[derive(Clone, Debug)]
pub struct Case {
    /// File stem, e.g. `consent-date`.
    pub file: String,
    /// Unique within its file.
    pub name: String,
    /// What to validate.
    pub kind: Kind,
    /// For consents and batches: the JSON text to validate. For recipients: the string itself.
    pub input: String,
    /// Strict or normalize.
    pub mode: Mode,
    /// `YYYY-MM-DD HH:mm:ss`, Turkey time.
    pub now: String,
    /// Whether the 3-business-day window is on.
    pub window: bool,
    /// Expected `ok`.
    pub ok: bool,
    /// Expected normalised value; `None` when the case does not check it.
    pub value: Option<serde_json::Value>,
    /// Expected diagnostics, in order.
    pub diagnostics: Vec<ExpectedDiagnostic>,
}

impl Case {
    /// `file/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.file, self.name)
    }

    /// The options the case asks for.
    pub fn options(&self) -> Result<Options, String> {
        let now = LocalDateTime::parse(&self.now)
            .ok()
            .and_then(LocalDateTime::to_unix)
            .ok_or_else(|| format!("bad now {:?}", self.now))?;
        Ok(Options { mode: self.mode, now, window: self.window.then(BusinessDays::default) })
    }
}

/// `tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every case of every `*.json` file in `dir`, files in name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut cases = Vec::new();
    for path in paths {
        cases.extend(load_file(&path)?);
    }
    Ok(cases)
}

/// The cases of one fixture file.
pub fn load_file(path: &Path) -> Result<Vec<Case>, String> {
    let file = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let root = json::parse(&text).map_err(|d| format!("{file}: {d:?}"))?;
    let Some(Value::Array(list)) = root.get("cases") else {
        return Err(format!("{file}: no \"cases\" array"));
    };
    let mut names = std::collections::HashSet::new();
    let mut cases = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let case = read_case(&file, v).map_err(|e| format!("{file} case {i}: {e}"))?;
        if !names.insert(case.name.clone()) {
            return Err(format!("{file}: duplicate case name {}", case.name));
        }
        cases.push(case);
    }
    Ok(cases)
}

fn string<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| format!("{key} must be a string"))
}

fn to_serde(v: &Value) -> Result<serde_json::Value, String> {
    serde_json::from_str(&v.to_json()).map_err(|e| e.to_string())
}

fn read_case(file: &str, v: &Value) -> Result<Case, String> {
    let name = string(v, "name")?.to_owned();
    let kind = match string(v, "kind")? {
        "consent" => Kind::Consent,
        "batch" => Kind::Batch,
        "recipient" => Kind::Recipient,
        other => return Err(format!("{name}: unknown kind {other}")),
    };
    let input = match (v.get("input"), v.get("text")) {
        (Some(_), Some(_)) => return Err(format!("{name}: both input and text")),
        (None, Some(Value::String(t))) => t.clone(),
        (Some(Value::String(s)), None) if kind == Kind::Recipient => s.clone(),
        (Some(value), None) if kind != Kind::Recipient => value.to_json(),
        _ => return Err(format!("{name}: needs input (or text, for consents and batches)")),
    };
    let (mut mode, mut now, mut window) = (Mode::Strict, DEFAULT_NOW.to_owned(), true);
    if let Some(o) = v.get("options") {
        let Value::Object(entries) = o else { return Err(format!("{name}: options must be an object")) };
        for (k, val) in entries {
            match (k.as_str(), val) {
                ("mode", Value::String(m)) if m == "strict" => mode = Mode::Strict,
                ("mode", Value::String(m)) if m == "normalize" => mode = Mode::Normalize,
                ("now", Value::String(n)) => now = n.clone(),
                ("window", Value::Bool(b)) => window = *b,
                _ => return Err(format!("{name}: bad option {k}")),
            }
        }
    }
    let expect = v.get("expect").ok_or_else(|| format!("{name}: no expect"))?;
    let ok = match expect.get("ok") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(format!("{name}: expect.ok must be a boolean")),
    };
    let value = expect.get("value").map(to_serde).transpose()?;
    let Some(Value::Array(list)) = expect.get("diagnostics") else {
        return Err(format!("{name}: expect.diagnostics must be an array"));
    };
    let mut diagnostics = Vec::with_capacity(list.len());
    for d in list {
        let mut params = Vec::new();
        if let Some(p) = d.get("params") {
            let Value::Object(entries) = p else { return Err(format!("{name}: params must be an object")) };
            for (k, val) in entries {
                let val = val.as_str().ok_or_else(|| format!("{name}: param {k} must be a string"))?;
                params.push((k.clone(), val.to_owned()));
            }
        }
        diagnostics.push(ExpectedDiagnostic {
            code: string(d, "code")?.to_owned(),
            path: string(d, "path")?.to_owned(),
            params,
        });
    }
    Ok(Case { file: file.to_owned(), name, kind, input, mode, now, window, ok, value, diagnostics })
}

/// What running a case produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The report's `is_ok()`.
    pub ok: bool,
    /// The normalised value (see the README for its shape per kind).
    pub value: serde_json::Value,
    /// Every diagnostic, flattened in report order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Runs a case natively.
pub fn run(case: &Case) -> Result<Outcome, String> {
    let opts = case.options()?;
    let consent_value = |c: &iys_core::ValidConsent| serde_json::to_value(c.consent()).map_err(|e| e.to_string());
    Ok(match case.kind {
        Kind::Consent => {
            let r = validate_consent(&case.input, &opts);
            let value = r.value.as_ref().map(consent_value).transpose()?.unwrap_or_default();
            Outcome { ok: r.is_ok(), value, diagnostics: r.diagnostics }
        }
        Kind::Batch => {
            let r = validate_batch(&case.input, &opts);
            let value = if matches!(json::parse(&case.input), Ok(Value::Array(_))) {
                let items: Result<Vec<_>, String> = r
                    .items
                    .iter()
                    .map(|i| Ok(i.value.as_ref().map(consent_value).transpose()?.unwrap_or_default()))
                    .collect();
                serde_json::Value::Array(items?)
            } else {
                serde_json::Value::Null
            };
            let ok = r.is_ok();
            let mut diagnostics = r.diagnostics;
            diagnostics.extend(r.items.into_iter().flat_map(|i| i.diagnostics));
            Outcome { ok, value, diagnostics }
        }
        Kind::Recipient => {
            let r = validate_recipient(&case.input, case.mode);
            let value = r.value.as_ref().map_or(serde_json::Value::Null, |v| v.wire().into());
            Outcome { ok: r.is_ok(), value, diagnostics: r.diagnostics }
        }
    })
}

/// Runs a case and compares; `Err` describes every difference.
pub fn check(case: &Case) -> Result<(), String> {
    let got = run(case)?;
    let mut problems = String::new();
    if got.ok != case.ok {
        let _ = writeln!(problems, "  ok: expected {}, got {}", case.ok, got.ok);
    }
    if let Some(want) = &case.value {
        if *want != got.value {
            let _ = writeln!(problems, "  value: expected {want}\n         got      {}", got.value);
        }
    }
    let want: Vec<(&str, &str)> = case.diagnostics.iter().map(|d| (d.code.as_str(), d.path.as_str())).collect();
    let have: Vec<(&str, &str)> = got.diagnostics.iter().map(|d| (d.code.as_str(), d.path.as_str())).collect();
    if want != have {
        let _ = writeln!(problems, "  diagnostics: expected {want:?}\n               got      {have:?}");
    } else {
        for (w, h) in case.diagnostics.iter().zip(&got.diagnostics) {
            for (k, v) in &w.params {
                if h.param(k) != Some(v.as_str()) {
                    let _ = writeln!(problems, "  {} param {k}: expected {v:?}, got {:?}", w.code, h.param(k));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
