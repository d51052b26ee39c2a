//! `iys upload`: sends a provider's consents through the relay (a drop-in IYS), waits for the
//! outcomes, writes a report of every input record, and resumes after an interruption without
//! sending any item twice.
//!
//! Files in `--out DIR`:
//!
//! - `plan.json`: what is to be sent: the input's SHA-256, the iysCode/brandCode, and every batch
//!   file with its SHA-256, item count, item range and the input index of each item. Written once
//!   (atomically); a rerun with the same input reuses it without validating again (the
//!   consentDate window alone is re-checked right before each POST, see [`Upload::expired`]).
//! - `batches/batch-NNNNN.json`, `batches/rejects.ndjson`: as `iys batch` writes them (FILE input).
//! - `upload.journal`: append-only JSON lines, each fsynced before the next step (see [`Entry`]).
//! - `report.ndjson`: one line per input record, rewritten at the end of every run.
//!
//! The journal is the source of truth. For each batch: `send` (hash, item range, the items of
//! this attempt, and the attempt's `Idempotency-Key`) is written *before* the POST; `sent`
//! (requestId and subrequest ids) after the answer; `done` (every item's outcome) once no item is
//! `enqueue`. On a rerun, a batch with a requestId is only polled. A batch whose last `send` has
//! no `sent` (a crash, a 5xx or a lost answer between POST and answer) is posted again with the
//! same items and the same key: the relay answers a key it already queued with its stored answer
//! (the same requestId) and queues nothing, so no item is queued twice (IYS itself has no such
//! key). Only an attempt that cannot be re-sent that way (a server that does not honour keys,
//! such as IYS itself, see [`Upload::honours_keys`]; a `send` without a key, written by an older
//! version; a key older than [`KEY_TRUSTED_MS`], which the relay may have forgotten; a
//! requestId the relay no longer knows, `lost`) is looked up item by item, `--reconcile-after`
//! seconds after it was sent, with `POST …/consents/status`: the items IYS already holds in the
//! same state (status, consentDate, source) are recorded as `found` (accepted) and only the
//! others are sent, as a new attempt.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use iys_core::consent::{validate_consent, Options};
use iys_core::diagnostic::Code;
use iys_core::wire::{BatchItemStatus, BatchResponse, BatchStatusItem, ErrorBody, TokenResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::batch::sha256_file;
use crate::error::CliError;
use crate::http::{Answer, Failure, Http};
use crate::input::Format;
use crate::progress::group;
use crate::{batch, report, Judge, Tally};
use iys_ledger::hex;

/// A secret (password, token): never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What `iys upload` was asked to do.
#[derive(Debug)]
pub struct Settings {
    /// The relay's base URL.
    pub relay: String,
    /// Username for the token.
    pub user: String,
    /// Password for the token (never printed).
    pub password: Secret,
    /// The SP's IYS code (path).
    pub iys_code: u64,
    /// The brand code (path).
    pub brand_code: u64,
    /// Output directory (plan, batches, journal, report).
    pub out: PathBuf,
    /// A consent file, or a directory of `iys batch` output.
    pub input: PathBuf,
    /// Input format.
    pub format: Option<Format>,
    /// Timeout of one HTTP call.
    pub timeout: Duration,
    /// Post at most this many new batches in this run.
    pub max_batches: Option<u64>,
    /// Post and exit without waiting for outcomes.
    pub no_wait: bool,
    /// How long after an unanswered POST the items are looked up.
    pub reconcile_after: Duration,
    /// Give up waiting for outcomes after this long (a rerun continues).
    pub wait_max: Duration,
    /// Print the summary as JSON.
    pub json: bool,
    /// `--now` was given: the re-check of the consentDate window before a POST uses it, not the
    /// clock.
    pub now_fixed: bool,
}

const PLAN: &str = "plan.json";
const JOURNAL: &str = "upload.journal";
const REPORT: &str = "report.ndjson";
const BATCH_DIR: &str = "batches";

/// Transient failures in a row before a call gives up (the journal lets a rerun continue).
const MAX_TRIES: u32 = 8;
/// The first back-off; it doubles up to [`MAX_BACKOFF`], with jitter.
const BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Poll cadence: from the first to the last, doubling while nothing settles.
const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(15);
/// How long after its `send` an attempt is re-sent with its `Idempotency-Key` rather than looked
/// up: the relay keeps a key 24 h (crates/iys-worker/README.md, "Idempotency keys"); an hour of
/// margin for clocks.
const KEY_TRUSTED_MS: i64 = 23 * 3600 * 1000;

// ---- plan -------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    version: u32,
    /// `file` (validated and batched here) or `dir` (an `iys batch` directory).
    mode: String,
    input_sha256: String,
    iys_code: u64,
    brand_code: u64,
    /// Input records (FILE mode; in DIR mode the batch items).
    records: u64,
    /// Local rejects file (FILE mode), relative to `--out`.
    rejects: Option<String>,
    batches: Vec<PlanBatch>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanBatch {
    /// Relative to `--out`, or absolute (DIR mode).
    file: String,
    sha256: String,
    count: u32,
    /// Ordinal of the first item among all batch items.
    first: u64,
    /// Input index of each item (FILE mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    indices: Option<Vec<u64>>,
}

fn count_items(path: &Path) -> Result<u32, CliError> {
    let bytes = fs::read(path).map_err(|e| CliError::io(format!("cannot read {}", path.display()), &e))?;
    // A larger batch file of an `iys batch` directory would be refused whole (413): refused before
    // planning instead.
    if bytes.len() > batch::RELAY_MAX_BODY {
        return Err(CliError::usage(format!(
            "{} is {} bytes; the relay takes at most {} bytes a batch (split it)",
            path.display(),
            bytes.len(),
            batch::RELAY_MAX_BODY
        )));
    }
    let items: Vec<Value> = serde_json::from_slice(&bytes)
        .map_err(|_| CliError::usage(format!("{} is not a JSON array of consents", path.display())))?;
    if items.is_empty() || items.len() > iys_core::batch::MAX_BATCH {
        return Err(CliError::usage(format!(
            "{} holds {} consents; a batch holds 1 to {}",
            path.display(),
            items.len(),
            iys_core::batch::MAX_BATCH
        )));
    }
    u32::try_from(items.len()).map_err(|_| CliError::usage("batch too large"))
}

fn make_plan(s: &Settings, judge: Judge) -> Result<Plan, CliError> {
    let plan_path = s.out.join(PLAN);
    fs::create_dir_all(&s.out).map_err(|e| CliError::io(format!("cannot create {}", s.out.display()), &e))?;
    if s.input.is_dir() {
        // Only a directory a successful `iys batch` finished, unchanged since: one left by a
        // killed or failed run holds valid batch files but not the whole input.
        let mut files = batch::verified_files(&s.input)?;
        files.sort_by(|a, b| a.name.cmp(&b.name));
        if files.is_empty() {
            return Err(CliError::usage(format!("{} holds no batch-*.json files", s.input.display())));
        }
        let dir =
            fs::canonicalize(&s.input).map_err(|e| CliError::io(format!("cannot read {}", s.input.display()), &e))?;
        let mut batches = Vec::new();
        let mut all = Sha256::new();
        let mut first = 0u64;
        for f in files {
            let (name, sha256) = (f.name, f.sha256);
            let path = dir.join(&name);
            let count = count_items(&path)?;
            if count != f.count {
                return Err(CliError::usage(format!(
                    "{}: {name} holds {count} consents, its manifest says {}; delete the directory and run `iys batch` again",
                    s.input.display(),
                    f.count
                )));
            }
            all.update(format!("{name} {sha256}\n"));
            batches.push(PlanBatch { file: path.to_string_lossy().into_owned(), sha256, count, first, indices: None });
            first += u64::from(count);
        }
        let plan = Plan {
            version: 1,
            mode: "dir".into(),
            input_sha256: hex(&all.finalize()),
            iys_code: s.iys_code,
            brand_code: s.brand_code,
            records: first,
            rejects: None,
            batches,
        };
        return check_or_keep(&plan_path, plan, s);
    }
    if s.input == Path::new("-") {
        return Err(CliError::usage("upload needs a file (a rerun must read the same input): not standard input"));
    }
    let input_sha256 = sha256_file(&s.input)?;
    if plan_path.exists() {
        let plan = read_plan(&plan_path)?;
        if plan.input_sha256 != input_sha256 {
            return Err(CliError::usage(format!(
                "{} holds the upload of another input (its SHA-256 differs); choose another --out",
                s.out.display()
            )));
        }
        return check_or_keep(&plan_path, plan, s);
    }
    if s.out.join(JOURNAL).exists() {
        return Err(CliError::usage(format!(
            "{} holds a journal but no plan; it was not written by this command: choose another --out",
            s.out.display()
        )));
    }
    // No plan yet: batch afresh (files left by an interrupted planning are removed first).
    let dir = s.out.join(BATCH_DIR);
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let manifest = name == batch::MANIFEST || name == format!("{}.tmp", batch::MANIFEST);
            if manifest || name == "rejects.ndjson" || (name.starts_with("batch-") && name.ends_with(".json")) {
                fs::remove_file(e.path()).map_err(|err| CliError::io(format!("cannot remove {name}"), &err))?;
            }
        }
    }
    let w = batch::write(&s.input, s.format, judge, &dir, true)?;
    let mut batches = Vec::new();
    let mut first = 0u64;
    for (i, indices) in (1..).zip(w.indices) {
        let path = batch::batch_path(&dir, i);
        let count = u32::try_from(indices.len()).map_err(|_| CliError::usage("batch too large"))?;
        batches.push(PlanBatch {
            file: format!("{BATCH_DIR}/{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()),
            sha256: sha256_file(&path)?,
            count,
            first,
            indices: Some(indices),
        });
        first += u64::from(count);
    }
    let plan = Plan {
        version: 1,
        mode: "file".into(),
        input_sha256,
        iys_code: s.iys_code,
        brand_code: s.brand_code,
        records: w.records,
        rejects: Some(format!("{BATCH_DIR}/rejects.ndjson")),
        batches,
    };
    let bytes = serde_json::to_vec(&plan).map_err(|_| CliError::usage("cannot serialise the plan"))?;
    batch::write_atomically(&plan_path, &bytes)?;
    Ok(plan)
}

fn read_plan(path: &Path) -> Result<Plan, CliError> {
    let bytes = fs::read(path).map_err(|e| CliError::io(format!("cannot read {}", path.display()), &e))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| CliError::usage(format!("{} is not a plan of this command", path.display())))
}

/// Keeps an existing plan after checking it matches; writes `plan` when there is none.
fn check_or_keep(plan_path: &Path, plan: Plan, s: &Settings) -> Result<Plan, CliError> {
    let kept = if plan_path.exists() { read_plan(plan_path)? } else { plan.clone() };
    if kept.input_sha256 != plan.input_sha256 {
        return Err(CliError::usage(format!(
            "{} holds the upload of another input; choose another --out",
            s.out.display()
        )));
    }
    if (kept.iys_code, kept.brand_code) != (s.iys_code, s.brand_code) {
        return Err(CliError::usage(format!(
            "{} holds an upload for iysCode {} brandCode {}; rerun with those codes or choose another --out",
            s.out.display(),
            kept.iys_code,
            kept.brand_code
        )));
    }
    if !plan_path.exists() {
        let bytes = serde_json::to_vec(&kept).map_err(|_| CliError::usage("cannot serialise the plan"))?;
        batch::write_atomically(plan_path, &bytes)?;
    }
    Ok(kept)
}

// ---- journal ----------------------------------------------------------------------------------

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "lowercase")]
enum Entry {
    /// Written before a POST: the batch file's hash, its item range, this attempt's items
    /// (absent: all of them), the time (Unix ms) and the attempt's `Idempotency-Key` (absent in
    /// journals of older versions, whose attempts are looked up instead of re-sent).
    Send {
        batch: u64,
        sha256: String,
        range: [u64; 2],
        attempt: u32,
        items: Option<Vec<u32>>,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// The POST was answered with a requestId.
    Sent {
        batch: u64,
        attempt: u32,
        #[serde(rename = "requestId")]
        request_id: String,
        subs: Vec<String>,
    },
    /// The batch-result query no longer knows the requestId: look the items up.
    Lost { batch: u64, attempt: u32 },
    /// Items of an unanswered attempt that IYS already holds in the same state.
    Found { batch: u64, attempt: u32, items: Vec<ItemOutcome> },
    /// The whole request was refused (a 4xx other than 401/429).
    Refused { batch: u64, attempt: u32, status: u16, code: String, message: String },
    /// Some items were refused, each with its own error: named by index in a 422 of the attempt
    /// (`status`), or, before sending (no `status`; `attempt` is then the last one sent, 0 for
    /// none), by the local re-check of the consentDate window. The batch's other open items are
    /// sent again as a new attempt.
    #[serde(rename = "refused-items")]
    RefusedItems {
        batch: u64,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        items: Vec<ItemOutcome>,
    },
    /// Every item of the attempt settled.
    Done { batch: u64, attempt: u32, outcomes: Vec<ItemOutcome> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemOutcome {
    item: u32,
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    creation_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// An item's final outcome (in memory).
#[derive(Debug, Clone)]
struct Outcome {
    o: ItemOutcome,
    found: bool,
    request_id: Option<String>,
}

#[derive(Debug)]
struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    /// Opens (creating) the journal and returns its entries; a torn last line is cut off.
    fn open(path: &Path) -> Result<(Journal, Vec<Entry>), CliError> {
        let err = |e: &std::io::Error| CliError::io(format!("cannot open {}", path.display()), e);
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path).map_err(|e| err(&e))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(|e| err(&e))?;
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if whole < text.len() {
            file.set_len(whole as u64).and_then(|()| file.sync_all()).map_err(|e| err(&e))?;
        }
        // A journal just created must survive a power loss with its name: its entries' fsyncs
        // (sync_data) do not cover the directory entry.
        batch::sync_dir(path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
        let mut entries = Vec::new();
        for (n, line) in text[..whole].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let e = serde_json::from_slice(line)
                .map_err(|_| CliError::usage(format!("{} line {} is not a journal entry", path.display(), n + 1)))?;
            entries.push(e);
        }
        Ok((Journal { file, path: path.to_path_buf() }, entries))
    }

    /// Appends one entry and fsyncs it.
    fn append(&mut self, e: &Entry) -> Result<(), CliError> {
        let mut line = serde_json::to_vec(e).map_err(|_| CliError::usage("cannot serialise a journal entry"))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| CliError::io(format!("cannot write {}", self.path.display()), &e))
    }
}

// ---- batch state ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Never sent.
    Fresh,
    /// Sent, no answer known: look the items up before sending again.
    Unsure,
    /// Items looked up; the rest still to be sent.
    Reconciled,
    /// Has a requestId: poll.
    Posted,
    /// Every item has an outcome.
    Final,
}

#[derive(Debug)]
struct BatchRun {
    phase: Phase,
    attempt: u32,
    items: Vec<u32>,
    request_id: Option<String>,
    subs: Vec<String>,
    sent_at: i64,
    /// The last attempt's `Idempotency-Key`, while re-sending it is safe.
    key: Option<String>,
    /// Re-sends of the last attempt in this run, and when the next may go (Unix ms).
    resends: u32,
    resend_at: i64,
    outcomes: Vec<Option<Outcome>>,
    /// Told the user once that a settled answer lacked some items.
    incomplete_noted: bool,
}

impl BatchRun {
    fn new(count: u32) -> Self {
        BatchRun {
            phase: Phase::Fresh,
            attempt: 0,
            items: Vec::new(),
            request_id: None,
            subs: Vec::new(),
            sent_at: 0,
            key: None,
            resends: 0,
            resend_at: 0,
            outcomes: vec![None; count as usize],
            incomplete_noted: false,
        }
    }

    fn open_items(&self) -> Vec<u32> {
        self.items.iter().copied().filter(|&i| self.outcomes.get(i as usize).is_some_and(Option::is_none)).collect()
    }

    fn settle(&mut self, o: &ItemOutcome, found: bool) {
        let request_id = if found { None } else { self.request_id.clone() };
        if let Some(slot) = self.outcomes.get_mut(o.item as usize) {
            *slot = Some(Outcome { o: o.clone(), found, request_id });
        }
    }

    fn apply(&mut self, e: &Entry, plan: &PlanBatch, n: u64) -> Result<(), CliError> {
        match e {
            Entry::Send { sha256, attempt, items, at, key, .. } => {
                if *sha256 != plan.sha256 {
                    return Err(CliError::usage(format!(
                        "the journal's batch {n} has another hash than {}: the batch files changed",
                        plan.file
                    )));
                }
                self.attempt = *attempt;
                self.items = items.clone().unwrap_or_else(|| (0..plan.count).collect());
                self.request_id = None;
                self.subs.clear();
                self.sent_at = *at;
                self.key.clone_from(key);
                self.phase = Phase::Unsure;
            }
            Entry::Sent { request_id, subs, .. } => {
                self.request_id = Some(request_id.clone());
                self.subs.clone_from(subs);
                self.phase = Phase::Posted;
            }
            Entry::Lost { .. } => {
                // The relay lost the request (a restored database): its key went with it, so a
                // resend would queue again; look the items up instead.
                self.request_id = None;
                self.sent_at = 0;
                self.key = None;
                self.phase = Phase::Unsure;
            }
            Entry::Found { items, .. } => {
                for o in items {
                    self.settle(o, true);
                }
                self.phase = if self.open_items().is_empty() { Phase::Final } else { Phase::Reconciled };
            }
            Entry::Refused { code, message, .. } => {
                for i in self.open_items() {
                    let o = ItemOutcome {
                        item: i,
                        ok: false,
                        transaction_id: None,
                        creation_date: None,
                        code: Some(code.clone()),
                        message: Some(message.clone()),
                    };
                    self.settle(&o, false);
                }
                self.phase = Phase::Final;
            }
            Entry::RefusedItems { items, .. } => {
                for o in items {
                    self.settle(o, false);
                }
                self.phase = if self.outcomes.iter().all(Option::is_some) {
                    Phase::Final
                } else if self.phase == Phase::Fresh {
                    // Refused before the first POST: the batch is still to be sent (without them).
                    Phase::Fresh
                } else {
                    Phase::Reconciled
                };
            }
            Entry::Done { outcomes, .. } => {
                for o in outcomes {
                    self.settle(o, false);
                }
                self.phase = Phase::Final;
            }
        }
        Ok(())
    }
}

fn entry_batch(e: &Entry) -> u64 {
    match e {
        Entry::Send { batch, .. }
        | Entry::Sent { batch, .. }
        | Entry::Lost { batch, .. }
        | Entry::Found { batch, .. }
        | Entry::Refused { batch, .. }
        | Entry::RefusedItems { batch, .. }
        | Entry::Done { batch, .. } => *batch,
    }
}

// ---- client -----------------------------------------------------------------------------------

#[derive(Debug)]
struct Token {
    access: Secret,
    refresh: Secret,
    access_until: Instant,
    refresh_until: Instant,
    margin: Duration,
}

/// The longest token life believed (IYS's are 2 h and 4 h): a larger `expires_in` is the server's
/// mistake, and `Instant + Duration` would panic on an absurd one.
const MAX_TOKEN_LIFE: Duration = Duration::from_secs(24 * 3600);

fn token_of(t: TokenResponse, now: Instant) -> Token {
    let life = Duration::from_secs(t.expires_in).min(MAX_TOKEN_LIFE);
    let refresh_life = Duration::from_secs(t.refresh_expires_in).min(MAX_TOKEN_LIFE);
    Token {
        access: Secret(t.access_token),
        refresh: Secret(t.refresh_token),
        access_until: now.checked_add(life).unwrap_or(now),
        refresh_until: now.checked_add(refresh_life).unwrap_or(now),
        margin: (life / 4).min(Duration::from_secs(300)),
    }
}

/// Why a call did not produce an answer to act on.
enum CallErr {
    /// Stop the run (exit 2).
    Fatal(CliError),
    /// A POST that may have been received (5xx or no answer).
    Unsure(String),
}

impl From<CliError> for CallErr {
    fn from(e: CliError) -> Self {
        CallErr::Fatal(e)
    }
}

#[derive(Debug)]
struct Client {
    http: Http,
    user: String,
    password: Secret,
    token: Option<Token>,
    random: RandomState,
    draws: u64,
    bar: Option<ProgressBar>,
}

/// The relay's refusal of an `Idempotency-Key` (`request/idempotency-key`).
fn key_refusal(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v["errors"][0]["iysEdgeCode"].as_str() == Some("request/idempotency-key"))
}

/// The `Idempotency-Key` of one attempt: derived from the plan's input, the batch, its file and
/// the attempt's `send` (number and time), so it is the same for every POST of that attempt, also
/// after a crash and rerun (it is journaled), and differs between batches, attempts and uploads.
fn attempt_key(input_sha256: &str, batch: u64, batch_sha256: &str, attempt: u32, at: i64) -> String {
    let d = Sha256::digest(format!("{input_sha256}\n{batch}\n{batch_sha256}\n{attempt}\n{at}"));
    format!("iys-upload-{}", &hex(&d)[..48])
}

fn codes_of(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => {
            let mut codes: Vec<String> = b.errors.into_iter().map(|e| e.code).collect();
            if codes.is_empty() {
                codes.extend(b.code);
            }
            codes.join(",")
        }
        Err(_) => String::new(),
    }
}

/// The items a 422 names, each once with its first error: (position in the body sent, code,
/// message). `None` when some error names no item of the body (a refusal of the request as a
/// whole). An item is named by `index`, or by a `location` that starts with it (IYS's form).
/// `code` is the H-code, or the relay's stable code where IYS has none (`IYSEDGE`).
fn item_errors(body: &[u8], len: usize) -> Option<Vec<(usize, String, String)>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let errors = v.get("errors")?.as_array()?;
    if errors.is_empty() {
        return None;
    }
    let mut out: Vec<(usize, String, String)> = Vec::new();
    for e in errors {
        let index = e.get("index").and_then(Value::as_u64).or_else(|| e.get("location")?.get(0)?.as_u64())?;
        let index = usize::try_from(index).ok().filter(|&i| i < len)?;
        if out.iter().any(|(i, _, _)| *i == index) {
            continue;
        }
        let code = e.get("code").and_then(Value::as_str).unwrap_or_default();
        let code = match e.get("iysEdgeCode").and_then(Value::as_str) {
            Some(edge) if code.is_empty() || code == "IYSEDGE" => edge,
            _ => code,
        };
        let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
        out.push((index, code.to_string(), message.to_string()));
    }
    Some(out)
}

/// The outcomes in a batch result with no `enqueue` item, for the attempt's `items` (with
/// subrequest ids `subs`): matched by subrequest id, else by position. `None` when some item of
/// `open` has no outcome in it, so that the batch is not recorded `done` with items left pending.
fn settled_outcomes(
    list: &[BatchStatusItem],
    subs: &[String],
    items: &[u32],
    open: &[u32],
) -> Option<Vec<ItemOutcome>> {
    let by_sub: HashMap<&str, u32> = subs.iter().zip(items).map(|(s, &i)| (s.as_str(), i)).collect();
    let mut outcomes: Vec<ItemOutcome> = Vec::with_capacity(list.len());
    for (k, it) in list.iter().enumerate() {
        let item = by_sub.get(it.sub_request_id.as_str()).copied().or_else(|| items.get(k).copied());
        let Some(item) = item else { continue };
        let error = it.error.as_ref();
        outcomes.push(ItemOutcome {
            item,
            ok: it.status == BatchItemStatus::Success,
            transaction_id: it.transaction_id.clone(),
            creation_date: it.creation_date.clone(),
            code: error.map(|e| e.code.clone()),
            message: error.map(|e| e.message.clone()),
        });
    }
    open.iter().all(|i| outcomes.iter().any(|o| o.item == *i)).then_some(outcomes)
}

fn first_error(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => match b.errors.into_iter().next() {
            Some(e) => (e.code, e.message),
            None => (b.code.unwrap_or_default(), b.message.unwrap_or_default()),
        },
        Err(_) => (String::new(), String::new()),
    }
}

impl Client {
    fn note(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("iys: {msg}")),
            None => eprintln!("iys: {msg}"),
        }
    }

    /// Exponential back-off with jitter: a random time in [d/2, d], d = 250 ms · 2^n (≤ 30 s).
    fn backoff(&mut self, n: u32) -> Duration {
        let d = BACKOFF.saturating_mul(1u32 << n.min(7)).min(MAX_BACKOFF);
        self.draws += 1;
        let r = self.random.hash_one(self.draws);
        let half = d / 2;
        half + Duration::from_nanos(r % (u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1)))
    }

    fn grant(&mut self, body: &Value, what: &str) -> Result<Token, CliError> {
        let bytes = serde_json::to_vec(body).map_err(|_| CliError::usage("cannot serialise the token request"))?;
        let mut failures = 0u32;
        loop {
            let r = self.http.post_json("/oauth2/token", None, &bytes);
            let (why, wait) = match r {
                Ok(a) if a.status == 200 => {
                    let t: TokenResponse = serde_json::from_slice(&a.body)
                        .map_err(|_| CliError::usage("the relay's token answer is not a token"))?;
                    return Ok(token_of(t, Instant::now()));
                }
                Ok(a) if a.status == 429 && codes_of(&a.body).contains("H084") => {
                    return Err(CliError::usage(
                        "the relay refused a token: too many token requests this hour (H084); wait about an hour and rerun",
                    ));
                }
                Ok(a) if a.status == 429 || a.status >= 500 => {
                    let wait = a.retry_after.map(|d| d.min(MAX_RETRY_AFTER));
                    (format!("HTTP {} {}", a.status, codes_of(&a.body)), wait)
                }
                Ok(a) => {
                    return Err(CliError::usage(format!(
                        "the relay refused the {what} for user {:?}: HTTP {} {}",
                        self.user,
                        a.status,
                        codes_of(&a.body)
                    )));
                }
                Err(f) => (f.text().to_string(), None),
            };
            failures += 1;
            if failures >= MAX_TRIES {
                return Err(CliError::usage(format!("cannot get a token from the relay: {why}")));
            }
            let wait = wait.unwrap_or_else(|| self.backoff(failures - 1));
            self.note(&format!("token: {why}; retrying in {:.1} s", wait.as_secs_f64()));
            std::thread::sleep(wait);
        }
    }

    /// A valid access token: cached, refreshed before expiry, or a new one.
    fn bearer(&mut self) -> Result<String, CliError> {
        let now = Instant::now();
        if let Some(t) = &self.token {
            if now + t.margin < t.access_until {
                return Ok(t.access.0.clone());
            }
        }
        if let Some(old) = self.token.take() {
            if now + Duration::from_secs(5) < old.refresh_until {
                let body = json!({"grant_type": "refresh_token", "refresh_token": old.refresh.0});
                if let Ok(t) = self.grant(&body, "token refresh") {
                    let access = t.access.0.clone();
                    self.token = Some(t);
                    return Ok(access);
                }
            }
        }
        let body = json!({"username": self.user, "password": self.password.0, "grant_type": "password"});
        let t = self.grant(&body, "password login")?;
        let access = t.access.0.clone();
        self.token = Some(t);
        Ok(access)
    }

    /// One call with retries. `submit`: a batch POST, which is retried only when it cannot have
    /// been taken (429, connection refused); a 5xx or a lost answer makes it [`CallErr::Unsure`].
    /// `key`: a batch POST's `Idempotency-Key` header.
    fn call(
        &mut self,
        what: &str,
        path: &str,
        body: Option<&[u8]>,
        submit: bool,
        key: Option<&str>,
    ) -> Result<Answer, CallErr> {
        let mut failures = 0u32;
        let mut reauthed = false;
        loop {
            let bearer = self.bearer()?;
            let r = match (body, key) {
                (Some(b), Some(k)) => self.http.post_json_keyed(path, Some(&bearer), b, k),
                (Some(b), None) => self.http.post_json(path, Some(&bearer), b),
                (None, _) => self.http.get(path, Some(&bearer)),
            };
            let (why, wait) = match r {
                Ok(a) if a.status == 401 && !reauthed => {
                    // RST's rule: a fresh token once, then the same call once more.
                    reauthed = true;
                    self.token = None;
                    continue;
                }
                Ok(a) if a.status == 429 => {
                    (format!("HTTP 429 {}", codes_of(&a.body)), a.retry_after.map(|d| d.min(MAX_RETRY_AFTER)))
                }
                Ok(a) if a.status == 409 && key_refusal(&a.body) => {
                    // The relay is still queueing this key's first request: ask again for its answer.
                    (
                        "HTTP 409 (this batch's first request is still being queued)".to_string(),
                        a.retry_after.map(|d| d.min(MAX_RETRY_AFTER)),
                    )
                }
                Ok(a) if a.status >= 500 => {
                    let why = format!("HTTP {} {}", a.status, codes_of(&a.body));
                    if submit {
                        return Err(CallErr::Unsure(why));
                    }
                    (why, None)
                }
                Ok(a) => return Ok(a),
                Err(Failure::NotSent(t)) => (t, None),
                Err(Failure::Unknown(t)) => {
                    if submit {
                        return Err(CallErr::Unsure(t));
                    }
                    (t, None)
                }
            };
            failures += 1;
            if failures >= MAX_TRIES {
                return Err(CallErr::Fatal(CliError::usage(format!(
                    "{what}: the relay kept failing ({why}); rerun the same command to continue (nothing is sent twice)"
                ))));
            }
            let wait = wait.unwrap_or_else(|| self.backoff(failures - 1));
            self.note(&format!("{what}: {why}; retrying in {:.1} s", wait.as_secs_f64()));
            std::thread::sleep(wait);
        }
    }
}

// ---- the run ----------------------------------------------------------------------------------

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Debug)]
struct Upload<'a> {
    s: &'a Settings,
    plan: Plan,
    runs: Vec<BatchRun>,
    journal: Journal,
    client: Client,
    base: String,
    /// Whether the server honours `Idempotency-Key` ([`Upload::honours_keys`]), once asked.
    keys_honoured: Option<bool>,
    /// The consent rules, for the re-check of the consentDate window before each POST.
    judge: Judge,
}

impl Upload<'_> {
    fn batch_file(&self, b: usize) -> PathBuf {
        let f = Path::new(&self.plan.batches[b].file);
        if f.is_absolute() {
            f.to_path_buf()
        } else {
            self.s.out.join(f)
        }
    }

    /// The batch file's bytes and items, checked against the plan's hash.
    fn load(&self, b: usize) -> Result<(Vec<u8>, Vec<Value>), CliError> {
        let path = self.batch_file(b);
        let bytes = fs::read(&path).map_err(|e| CliError::io(format!("cannot read {}", path.display()), &e))?;
        if hex(&Sha256::digest(&bytes)) != self.plan.batches[b].sha256 {
            return Err(CliError::usage(format!(
                "{} changed since it was planned; it will not be sent",
                path.display()
            )));
        }
        let items: Vec<Value> = serde_json::from_slice(&bytes)
            .map_err(|_| CliError::usage(format!("{} is not a JSON array", path.display())))?;
        Ok((bytes, items))
    }

    fn progress(&self) {
        if let Some(bar) = &self.client.bar {
            let (mut ok, mut refused) = (0u64, 0u64);
            for r in &self.runs {
                for o in r.outcomes.iter().flatten() {
                    if o.o.ok {
                        ok += 1;
                    } else {
                        refused += 1;
                    }
                }
            }
            let sent = self.runs.iter().filter(|r| r.phase != Phase::Fresh).count();
            bar.set_position(ok + refused);
            bar.set_message(format!(
                "{sent}/{} batches sent · {} accepted · {} refused",
                self.runs.len(),
                group(ok),
                group(refused)
            ));
        }
    }

    fn record(&mut self, b: usize, e: Entry) -> Result<(), CliError> {
        self.journal.append(&e)?;
        let plan = self.plan.batches[b].clone();
        self.runs[b].apply(&e, &plan, b as u64 + 1)?;
        self.progress();
        Ok(())
    }

    /// The body of an attempt: the batch file (`bytes`, read as `values`), or the items `items` of it.
    fn body_of(bytes: Vec<u8>, values: &[Value], items: Option<&[u32]>) -> Result<Vec<u8>, CliError> {
        Ok(match items {
            None => bytes,
            Some(list) => {
                let subset: Vec<&Value> = list.iter().filter_map(|&i| values.get(i as usize)).collect();
                serde_json::to_vec(&subset).map_err(|_| CliError::usage("cannot serialise a batch"))?
            }
        })
    }

    /// The items of `wanted` that the consentDate rules refuse now (the plan may be days old):
    /// each with the core's code (its H-code where IYS has one) and message. None with
    /// `--no-window`.
    fn expired(&self, values: &[Value], wanted: &[u32]) -> Vec<ItemOutcome> {
        if self.judge.options.window.is_none() {
            return Vec::new();
        }
        let now = if self.s.now_fixed { self.judge.options.now } else { now_ms().div_euclid(1000) };
        let options = Options { now, ..self.judge.options };
        let mut out = Vec::new();
        for &i in wanted {
            let Some(v) = values.get(i as usize) else { continue };
            let Ok(text) = serde_json::to_string(v) else { continue };
            let report = validate_consent(&text, &options);
            let timely = |c: Code| matches!(c, Code::DateTooOld | Code::DateInFuture);
            let hit = report
                .errors()
                .find(|d| timely(d.code))
                .map(|d| (d.code.iys_code().unwrap_or(d.code.as_str()).to_string(), d.message(self.judge.lang)));
            if let Some((code, message)) = hit {
                out.push(ItemOutcome {
                    item: i,
                    ok: false,
                    transaction_id: None,
                    creation_date: None,
                    code: Some(code),
                    message: Some(message),
                });
            }
        }
        out
    }

    /// Sends `items` of batch `b` (all of it when `None`) as a new attempt, with a new key: only
    /// those still open, and not those that have left the consentDate window since the plan
    /// (recorded as refused first, and never sent).
    fn post(&mut self, b: usize, items: Option<Vec<u32>>) -> Result<(), CliError> {
        let count = self.plan.batches[b].count;
        let wanted: Vec<u32> = items
            .unwrap_or_else(|| (0..count).collect())
            .into_iter()
            .filter(|&i| self.runs[b].outcomes.get(i as usize).is_some_and(Option::is_none))
            .collect();
        // (The batch file is read once for both the window check and the body.)
        let (bytes, values) = self.load(b)?;
        let expired = self.expired(&values, &wanted);
        let wanted: Vec<u32> = wanted.into_iter().filter(|i| !expired.iter().any(|o| o.item == *i)).collect();
        if !expired.is_empty() {
            self.client.note(&format!(
                "batch {}: {} items have left the consentDate window since the plan; not sent",
                b + 1,
                expired.len()
            ));
            let attempt = self.runs[b].attempt;
            self.record(b, Entry::RefusedItems { batch: b as u64 + 1, attempt, status: None, items: expired })?;
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let items = (wanted.len() != count as usize).then_some(wanted);
        let body = Self::body_of(bytes, &values, items.as_deref())?;
        // A token first: a login failure must not leave a `send` without a POST behind.
        self.client.bearer()?;
        let p = &self.plan.batches[b];
        let attempt = self.runs[b]
            .attempt
            .checked_add(1)
            .ok_or_else(|| CliError::usage(format!("batch {}: the journal's attempt number is out of range", b + 1)))?;
        let at = now_ms();
        let key = attempt_key(&self.plan.input_sha256, b as u64 + 1, &p.sha256, attempt, at);
        let send = Entry::Send {
            batch: b as u64 + 1,
            sha256: p.sha256.clone(),
            range: [p.first, p.first.saturating_add(u64::from(p.count))],
            attempt,
            items: items.clone(),
            at,
            key: Some(key.clone()),
        };
        self.record(b, send)?;
        self.submit(b, attempt, &body, Some(&key), false)
    }

    /// Sends the unanswered last attempt of batch `b` again: the same items, the same key. The
    /// relay answers a key it queued with its stored answer and queues nothing.
    fn resend(&mut self, b: usize) -> Result<(), CliError> {
        let run = &self.runs[b];
        let (attempt, key) = (run.attempt, run.key.clone());
        let count = self.plan.batches[b].count;
        let items = (run.items.len() != count as usize).then(|| run.items.clone());
        let (bytes, values) = self.load(b)?;
        let body = Self::body_of(bytes, &values, items.as_deref())?;
        self.client.note(&format!("batch {}: sending attempt {attempt} again with its key", b + 1));
        self.submit(b, attempt, &body, key.as_deref(), true)
    }

    /// One POST of attempt `attempt` of batch `b`, and what its answer means for the journal.
    /// `resend`: the attempt was POSTed before (its answer was lost), so it may be queued already.
    fn submit(&mut self, b: usize, attempt: u32, body: &[u8], key: Option<&str>, resend: bool) -> Result<(), CliError> {
        let path = format!("{}/consents/request", self.base);
        let what = format!("batch {}", b + 1);
        match self.client.call(&what, &path, Some(body), true, key) {
            Ok(a) if a.status == 200 => match serde_json::from_slice::<BatchResponse>(&a.body) {
                Ok(r) => {
                    let subs = r.sub_requests.into_iter().map(|s| s.sub_request_id).collect();
                    let sent = Entry::Sent { batch: b as u64 + 1, attempt, request_id: r.request_id, subs };
                    self.record(b, sent)
                }
                // The attempt stays unanswered in the journal: a rerun sends it again with its key
                // (or looks its items up where that is not safe).
                Err(_) => Err(CliError::usage(format!("{what}: the relay's answer has no requestId; rerun to continue"))),
            },
            Ok(a) if a.status == 401 => Err(CliError::usage(format!(
                "{what}: the relay answered 401 with a fresh token ({}); rerun to continue",
                codes_of(&a.body)
            ))),
            Ok(a) if key_refusal(&a.body) => Err(CliError::usage(format!(
                "{what}: the relay refused this attempt's Idempotency-Key (HTTP {}): the batch files or the journal changed; \
                 not sent",
                a.status
            ))),
            Ok(a) if resend => {
                // A refusal of a resend says nothing about the first POST, which may have been
                // queued (a relay that judges the batch again before replaying its stored answer
                // refuses what has since left the window). So nothing is recorded as refused: the
                // items are looked up (`reconcile`, `--reconcile-after` s after the send) and only
                // those IYS does not hold are sent, as a new attempt.
                self.client.note(&format!(
                    "{what}: HTTP {} {} to the resend of attempt {attempt}; looking its items up",
                    a.status,
                    codes_of(&a.body)
                ));
                self.runs[b].key = None;
                Ok(())
            }
            Ok(a) if a.status == 422 && item_errors(&a.body, self.runs[b].items.len()).is_some() => {
                // Refused for some items only (IYS's batch is all or nothing): those are refused,
                // each with its own error, and the others go again as a new attempt (`drive`).
                let sent = self.runs[b].items.clone();
                let items: Vec<ItemOutcome> = item_errors(&a.body, sent.len())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(pos, code, message)| {
                        Some(ItemOutcome {
                            item: *sent.get(pos)?,
                            ok: false,
                            transaction_id: None,
                            creation_date: None,
                            code: Some(code),
                            message: Some(message),
                        })
                    })
                    .collect();
                self.client.note(&format!(
                    "{what}: HTTP 422 for {} of its {} items; sending the others again",
                    items.len(),
                    sent.len()
                ));
                self.record(b, Entry::RefusedItems { batch: b as u64 + 1, attempt, status: Some(422), items })
            }
            Ok(a) => {
                let (code, message) = first_error(&a.body);
                self.client.note(&format!("{what}: refused whole: HTTP {} {code}", a.status));
                self.record(b, Entry::Refused { batch: b as u64 + 1, attempt, status: a.status, code, message })
            }
            Err(CallErr::Unsure(why)) => {
                // Not re-sent blindly: `drive` re-sends it with its key if the server honours
                // keys (`resendable`), else looks its items up `--reconcile-after` s after the send.
                self.client.note(&format!("{what}: {why}; no answer"));
                let r = &mut self.runs[b];
                r.resends += 1;
                r.resend_at = now_ms()
                    .saturating_add(i64::try_from(self.client.backoff(r.resends - 1).as_millis()).unwrap_or(0));
                Ok(())
            }
            Err(CallErr::Fatal(e)) => Err(e),
        }
    }

    /// Whether the unanswered last attempt of batch `b` is to be re-sent with its key (and now):
    /// it has one, young enough for the relay to hold it, and the server honours keys.
    fn resendable(&mut self, b: usize) -> Result<Option<bool>, CliError> {
        let r = &self.runs[b];
        if r.phase != Phase::Unsure || r.key.is_none() || now_ms().saturating_sub(r.sent_at) >= KEY_TRUSTED_MS {
            return Ok(None);
        }
        if !self.honours_keys()? {
            return Ok(None);
        }
        let r = &self.runs[b];
        if r.resends >= MAX_TRIES {
            return Err(CliError::usage(format!(
                "batch {}: the relay kept failing to answer; rerun the same command to continue (nothing is queued twice)",
                b + 1
            )));
        }
        Ok(Some(now_ms() >= r.resend_at))
    }

    /// Whether `--relay` honours `Idempotency-Key` (iys-edge's relay does; IYS itself, or a
    /// server standing in for it, does not, and there a resend would send twice). Asked once a run,
    /// only when a POST went unanswered: a batch route POST of `[]` with a key the relay must
    /// refuse (201 characters). The relay answers 400 `request/idempotency-key` before reading the
    /// body; any other server refuses the empty list. Nothing is queued or stored either way.
    fn honours_keys(&mut self) -> Result<bool, CliError> {
        if let Some(h) = self.keys_honoured {
            return Ok(h);
        }
        let path = format!("{}/consents/request", self.base);
        let probe = "k".repeat(201);
        let h = match self.client.call("Idempotency-Key check", &path, Some(b"[]"), false, Some(&probe)) {
            Ok(a) => a.status == 400 && key_refusal(&a.body),
            Err(CallErr::Fatal(e)) => return Err(e),
            Err(CallErr::Unsure(why)) => return Err(CliError::usage(format!("Idempotency-Key check: {why}"))),
        };
        if !h {
            self.client.note("the server does not honour Idempotency-Key: unanswered batches are looked up");
        }
        self.keys_honoured = Some(h);
        Ok(h)
    }

    /// Polls batch `b` once; true when it settled.
    fn poll(&mut self, b: usize) -> Result<bool, CliError> {
        let Some(request_id) = self.runs[b].request_id.clone() else { return Ok(false) };
        let path = format!("{}/consents/request/{request_id}", self.base);
        let what = format!("batch {} result", b + 1);
        let a = match self.client.call(&what, &path, None, false, None) {
            Ok(a) => a,
            Err(CallErr::Fatal(e)) => return Err(e),
            Err(CallErr::Unsure(why)) => return Err(CliError::usage(format!("{what}: {why}"))),
        };
        let attempt = self.runs[b].attempt;
        if a.status == 422 && codes_of(&a.body).contains("H093") {
            self.client.note(&format!("{what}: the relay no longer knows this request (H093); looking the items up"));
            self.record(b, Entry::Lost { batch: b as u64 + 1, attempt })?;
            return Ok(false);
        }
        if a.status != 200 {
            return Err(CliError::usage(format!("{what}: HTTP {} {}; rerun to continue", a.status, codes_of(&a.body))));
        }
        let list: Vec<BatchStatusItem> = serde_json::from_slice(&a.body)
            .map_err(|_| CliError::usage(format!("{what}: the answer is not a batch result")))?;
        if list.iter().any(|i| i.status == BatchItemStatus::Enqueue) {
            return Ok(false);
        }
        let run = &self.runs[b];
        let Some(outcomes) = settled_outcomes(&list, &run.subs, &run.items, &run.open_items()) else {
            // An answer without some of the items: not `done` (they would stay pending for good,
            // and every rerun would exit 2); polled again, within --wait-max.
            if !run.incomplete_noted {
                self.client.note(&format!("{what}: the answer lacks some items; asking again"));
                self.runs[b].incomplete_noted = true;
            }
            return Ok(false);
        };
        self.record(b, Entry::Done { batch: b as u64 + 1, attempt, outcomes })?;
        Ok(true)
    }

    /// Looks up every open item of an unanswered attempt; sends only those IYS does not hold in
    /// the same state and the relay does not hold in its queue (`x-iys-edge-queued` on the status
    /// answer: IYS does not have them *yet*). When every item still queued is under one relay
    /// request whose items match this attempt, that request is this attempt's (its answer was
    /// lost): it is adopted and polled. Otherwise nothing is sent now and the batch is looked up
    /// again later.
    fn reconcile(&mut self, b: usize) -> Result<(), CliError> {
        let (_, values) = self.load(b)?;
        let attempt = self.runs[b].attempt;
        let open = self.runs[b].open_items();
        let path = format!("{}/consents/status", self.base);
        let what = format!("batch {} look-up", b + 1);
        let mut found = Vec::new();
        let mut queued: Vec<String> = Vec::new();
        for &i in &open {
            let Some(v) = values.get(i as usize) else { continue };
            let q = json!({"recipient": v["recipient"], "recipientType": v["recipientType"], "type": v["type"]});
            let body = serde_json::to_vec(&q).map_err(|_| CliError::usage("cannot serialise a status query"))?;
            let a = match self.client.call(&what, &path, Some(&body), false, None) {
                Ok(a) => a,
                Err(CallErr::Fatal(e)) => return Err(e),
                Err(CallErr::Unsure(why)) => return Err(CliError::usage(format!("{what}: {why}"))),
            };
            if a.status == 200 {
                let rec: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
                let same = |k: &str| v.get(k).is_none_or(|x| x.is_null() || rec.get(k) == Some(x));
                if rec["status"] == v["status"] && same("consentDate") && same("source") {
                    found.push(ItemOutcome {
                        item: i,
                        ok: true,
                        transaction_id: rec["transactionId"].as_str().map(str::to_owned),
                        creation_date: rec["creationDate"].as_str().map(str::to_owned),
                        code: None,
                        message: None,
                    });
                    continue;
                }
            }
            if let Some(rid) = a.queued {
                queued.push(rid);
            }
        }
        let n = found.len();
        self.record(b, Entry::Found { batch: b as u64 + 1, attempt, items: found })?;
        if let Some(rid) = queued.first().cloned() {
            if queued.iter().all(|r| *r == rid) {
                if let Some(subs) = self.queued_subs(&rid, self.runs[b].items.len())? {
                    self.client.note(&format!(
                        "batch {}: {n} of {} items already in IYS; the rest are in the relay's queue under this attempt's \
                         request {rid}: following it",
                        b + 1,
                        open.len()
                    ));
                    return self.record(b, Entry::Sent { batch: b as u64 + 1, attempt, request_id: rid, subs });
                }
            }
            self.client.note(&format!(
                "batch {}: {} items are still in the relay's queue; nothing is sent now, they are looked up again later",
                b + 1,
                queued.len()
            ));
            self.runs[b].sent_at = now_ms();
            return Ok(());
        }
        self.client.note(&format!(
            "batch {}: {n} of {} items already in IYS in the same state; {} to send",
            b + 1,
            open.len(),
            open.len() - n
        ));
        let rest = self.runs[b].open_items();
        if !rest.is_empty() {
            self.post(b, Some(rest))?;
        }
        Ok(())
    }

    /// The subrequest ids of relay request `rid` in item order, when it has exactly `n` items (the
    /// attempt it is taken for); `None` when it cannot be read or does not match.
    fn queued_subs(&mut self, rid: &str, n: usize) -> Result<Option<Vec<String>>, CliError> {
        let path = format!("{}/consents/request/{rid}", self.base);
        let a = match self.client.call("relay request look-up", &path, None, false, None) {
            Ok(a) => a,
            Err(CallErr::Fatal(e)) => return Err(e),
            Err(CallErr::Unsure(_)) => return Ok(None),
        };
        let Ok(list) = serde_json::from_slice::<Vec<BatchStatusItem>>(&a.body) else { return Ok(None) };
        if a.status != 200 || list.len() != n {
            return Ok(None);
        }
        let mut subs = vec![None; n];
        for item in list {
            if let Some(slot) = usize::try_from(item.index).ok().and_then(|i| subs.get_mut(i)) {
                *slot = Some(item.sub_request_id);
            }
        }
        Ok(subs.into_iter().collect())
    }

    fn drive(&mut self) -> Result<(), CliError> {
        let mut posted_new = 0u64;
        for b in 0..self.runs.len() {
            let phase = self.runs[b].phase;
            match phase {
                Phase::Fresh => {
                    if self.s.max_batches.is_some_and(|m| posted_new >= m) {
                        continue;
                    }
                    posted_new += 1;
                    self.post(b, None)?;
                }
                Phase::Reconciled => {
                    let rest = self.runs[b].open_items();
                    self.post(b, Some(rest))?;
                }
                Phase::Unsure if self.resendable(b)? == Some(true) => self.resend(b)?,
                _ => {}
            }
            // Items refused by index leave the rest to send now (also with --no-wait); each
            // round settles at least one item, so this ends.
            while self.runs[b].phase == Phase::Reconciled {
                let rest = self.runs[b].open_items();
                self.post(b, Some(rest))?;
            }
        }
        if self.s.no_wait {
            return Ok(());
        }
        let started = Instant::now();
        let mut interval = POLL_FIRST;
        loop {
            let waiting: Vec<usize> = (0..self.runs.len())
                .filter(|&b| matches!(self.runs[b].phase, Phase::Posted | Phase::Unsure | Phase::Reconciled))
                .collect();
            if waiting.is_empty() {
                return Ok(());
            }
            if started.elapsed() > self.s.wait_max {
                return Err(CliError::usage(format!(
                    "{} batches still have no outcome after {} s; rerun the same command later to collect them (nothing is sent again)",
                    waiting.len(),
                    self.s.wait_max.as_secs()
                )));
            }
            let mut next_due: Option<i64> = None;
            let mut settled = false;
            for b in waiting {
                let phase = self.runs[b].phase;
                match phase {
                    Phase::Posted => settled |= self.poll(b)?,
                    Phase::Unsure if self.resendable(b)?.is_some() => {
                        if now_ms() >= self.runs[b].resend_at {
                            self.resend(b)?;
                            settled = true;
                        } else {
                            let due = self.runs[b].resend_at;
                            next_due = Some(next_due.map_or(due, |d| d.min(due)));
                        }
                    }
                    Phase::Unsure => {
                        let due = self.runs[b]
                            .sent_at
                            .saturating_add(i64::try_from(self.s.reconcile_after.as_millis()).unwrap_or(i64::MAX));
                        if now_ms() >= due {
                            self.reconcile(b)?;
                            settled = true;
                        } else {
                            next_due = Some(next_due.map_or(due, |d| d.min(due)));
                        }
                    }
                    Phase::Reconciled => {
                        let rest = self.runs[b].open_items();
                        self.post(b, Some(rest))?;
                        settled = true;
                    }
                    _ => {}
                }
            }
            interval = if settled { POLL_FIRST } else { (interval * 2).min(POLL_MAX) };
            let mut sleep = interval;
            if let Some(due) = next_due {
                let until = Duration::from_millis(u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0));
                sleep = sleep.min(until.max(Duration::from_millis(50)));
            }
            std::thread::sleep(sleep);
        }
    }
}

// ---- report -----------------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Counts {
    records: u64,
    accepted: u64,
    refused: u64,
    invalid: u64,
    pending: u64,
}

fn sent_line(u: &Upload<'_>, b: usize, i: usize, index: u64, value: Option<&Value>) -> (Value, Option<bool>) {
    let mut m = Map::new();
    m.insert("index".into(), json!(index));
    let o = u.runs[b].outcomes.get(i).and_then(Option::as_ref);
    let ok = o.map(|o| o.o.ok);
    m.insert("ok".into(), json!(ok));
    let state = match o {
        None => "pending",
        Some(o) if o.found => "found",
        Some(o) if o.o.ok => "accepted",
        Some(_) => "refused",
    };
    m.insert("state".into(), json!(state));
    m.insert("batch".into(), json!(b + 1));
    m.insert("item".into(), json!(i));
    if let Some(r) = value.and_then(|v| v.get("recipient")) {
        m.insert("recipient".into(), r.clone());
    }
    if let Some(o) = o {
        if let Some(r) = &o.request_id {
            m.insert("requestId".into(), json!(r));
        }
        let o = &o.o;
        for (k, v) in [
            ("transactionId", &o.transaction_id),
            ("creationDate", &o.creation_date),
            ("code", &o.code),
            ("message", &o.message),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
    }
    (Value::Object(m), ok)
}

/// Writes `report.ndjson`: one line per input record, in input order.
fn write_report(u: &Upload<'_>) -> Result<Counts, CliError> {
    let path = u.s.out.join(REPORT);
    let tmp = u.s.out.join("report.ndjson.tmp");
    let err = |e: &std::io::Error| CliError::io(format!("cannot write {}", path.display()), e);
    let mut out = BufWriter::new(File::create(&tmp).map_err(|e| err(&e))?);
    let mut c = Counts::default();
    let mut rejects = match &u.plan.rejects {
        Some(r) => {
            let p = u.s.out.join(r);
            let f = File::open(&p).map_err(|e| CliError::io(format!("cannot read {}", p.display()), &e))?;
            Some(BufReader::new(f).lines())
        }
        None => None,
    };
    let mut next_reject: Option<(u64, Value)> = None;
    let mut pull_reject = |next: &mut Option<(u64, Value)>| -> Result<(), CliError> {
        *next = None;
        if let Some(lines) = &mut rejects {
            for line in lines.by_ref() {
                let line = line.map_err(|e| CliError::io("cannot read the rejects", &e))?;
                if line.trim().is_empty() {
                    continue;
                }
                let mut v: Value = serde_json::from_str(&line).map_err(|_| CliError::usage("bad rejects line"))?;
                let index = v["index"].as_u64().unwrap_or(0);
                if let Some(m) = v.as_object_mut() {
                    m.remove("consent");
                    m.insert("state".into(), json!("invalid"));
                }
                *next = Some((index, v));
                break;
            }
        }
        Ok(())
    };
    pull_reject(&mut next_reject)?;
    let mut line = Vec::new();
    for b in 0..u.plan.batches.len() {
        let values = u.load(b).map(|(_, v)| v).unwrap_or_default();
        let pb = &u.plan.batches[b];
        for i in 0..pb.count as usize {
            let index = pb.indices.as_ref().and_then(|x| x.get(i).copied()).unwrap_or(pb.first + i as u64);
            while let Some((ri, v)) = next_reject.take() {
                if ri < index {
                    report::json_line(&mut line, &v);
                    c.invalid += 1;
                    pull_reject(&mut next_reject)?;
                } else {
                    next_reject = Some((ri, v));
                    break;
                }
            }
            let (v, ok) = sent_line(u, b, i, index, values.get(i));
            report::json_line(&mut line, &v);
            match ok {
                Some(true) => c.accepted += 1,
                Some(false) => c.refused += 1,
                None => c.pending += 1,
            }
            out.write_all(&line).map_err(|e| err(&e))?;
            line.clear();
        }
    }
    while let Some((_, v)) = next_reject.take() {
        report::json_line(&mut line, &v);
        c.invalid += 1;
        pull_reject(&mut next_reject)?;
    }
    out.write_all(&line).map_err(|e| err(&e))?;
    let f = out.into_inner().map_err(|e| err(e.error()))?;
    f.sync_all().map_err(|e| err(&e))?;
    fs::rename(&tmp, &path).map_err(|e| err(&e))?;
    c.records = c.accepted + c.refused + c.invalid + c.pending;
    Ok(c)
}

// ---- entry point ------------------------------------------------------------------------------

/// Runs `iys upload`.
pub fn run(s: &Settings, judge: Judge) -> Result<Tally, CliError> {
    let http = Http::new(&s.relay, s.timeout)?;
    let plan = make_plan(s, judge)?;
    let (journal, entries) = Journal::open(&s.out.join(JOURNAL))?;
    let mut runs: Vec<BatchRun> = plan.batches.iter().map(|b| BatchRun::new(b.count)).collect();
    for e in &entries {
        let n = entry_batch(e);
        let b = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&b| b < runs.len())
            .ok_or_else(|| CliError::usage(format!("the journal names batch {n}, which the plan does not have")))?;
        runs[b].apply(e, &plan.batches[b], n)?;
    }
    let total: u64 = plan.batches.iter().map(|b| u64::from(b.count)).sum();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner:.green} {elapsed_precise} [{wide_bar:.cyan/blue}] {pos}/{len} · {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let client = Client {
        http,
        user: s.user.clone(),
        password: s.password.clone(),
        token: None,
        random: RandomState::new(),
        draws: 0,
        bar,
    };
    let base = format!("/sps/{}/brands/{}", s.iys_code, s.brand_code);
    let mut u = Upload { s, plan, runs, journal, client, base, keys_honoured: None, judge };
    u.progress();
    let driven = u.drive();
    if let Some(bar) = &u.client.bar {
        bar.finish();
    }
    let c = write_report(&u)?;
    driven?;

    let report_path = s.out.join(REPORT);
    let mut out = std::io::stdout().lock();
    let text = if s.json {
        let mut buf = Vec::new();
        report::json_line(
            &mut buf,
            &json!({"summary": {
                "records": c.records, "accepted": c.accepted, "refused": c.refused,
                "invalid": c.invalid, "pending": c.pending, "batches": u.plan.batches.len(),
                "report": report_path.display().to_string(),
            }}),
        );
        buf
    } else {
        format!(
            "{} records: {} accepted, {} refused, {} invalid (not sent), {} pending → {}\n",
            group(c.records),
            group(c.accepted),
            group(c.refused),
            group(c.invalid),
            group(c.pending),
            report_path.display()
        )
        .into_bytes()
    };
    out.write_all(&text).and_then(|()| out.flush()).map_err(|e| CliError::output(&e))?;
    if c.pending > 0 {
        return Err(CliError::usage(format!(
            "{} records are not settled yet; rerun the same command to continue (the journal {} keeps what was sent)",
            group(c.pending),
            s.out.join(JOURNAL).display()
        )));
    }
    Ok(Tally { valid: c.accepted, invalid: c.refused + c.invalid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(items: &[(&str, &str)]) -> Vec<BatchStatusItem> {
        let list: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(k, (sub, status))| json!({"index": k, "status": status, "subrequestId": sub}))
            .collect();
        serde_json::from_value(Value::Array(list)).expect("a batch result")
    }

    #[test]
    fn an_absurd_token_life_is_clamped_not_a_panic() {
        let t: TokenResponse = serde_json::from_value(json!({"access_token": "a", "refresh_token": "r",
            "expires_in": u64::MAX, "refresh_expires_in": u64::MAX, "token_type": "bearer"}))
        .expect("a token");
        let now = Instant::now();
        let token = token_of(t, now);
        assert_eq!(token.access_until, now + MAX_TOKEN_LIFE);
        assert_eq!(token.refresh_until, now + MAX_TOKEN_LIFE);
        assert_eq!(token.margin, Duration::from_secs(300));
    }

    #[test]
    fn a_settled_result_is_done_only_when_it_has_every_open_item() {
        let subs: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_string()).collect();
        let (items, open) = ([4, 7, 9], [4, 7, 9]);
        // Matched by subrequest id, in any order.
        let all =
            settled_outcomes(&result(&[("c", "failure"), ("a", "success"), ("b", "success")]), &subs, &items, &open)
                .expect("every item has an outcome");
        let mut got: Vec<(u32, bool)> = all.iter().map(|o| (o.item, o.ok)).collect();
        got.sort_unstable();
        assert_eq!(got, [(4, true), (7, true), (9, false)]);
        // One item missing from the answer: not done.
        assert!(settled_outcomes(&result(&[("a", "success"), ("c", "success")]), &subs, &items, &open).is_none());
        // An item already settled (looked up) need not be in it.
        assert!(settled_outcomes(&result(&[("a", "success"), ("c", "success")]), &subs, &items, &[4, 9]).is_some());
    }
}
