//! `iys batch`: IYS-ready batch files of at most 1000 valid, normalised, de-duplicated consents,
//! plus `rejects.ndjson` with the diagnostics of every record left out.
//!
//! De-duplication is by (recipientType, type, recipient in wire form) across the whole file, as
//! IYS's H194 does within one request: the first record wins and each later one is rejected with
//! `batch/duplicate` (param `first` = the first record's index). The set of keys seen is the only
//! thing that grows with the input: a 128-bit hash of each key plus the first index (24 bytes a
//! distinct valid consent, about 50 MB of table for two million).
//!
//! The last thing a successful run writes is `manifest.json` (atomically, after every batch file
//! and the directory are synced): each batch file's name, item count and SHA-256, and the totals.
//! `iys upload DIR` sends only a directory whose files match it, so the batch files left by a run
//! that was killed or failed half-way (valid JSON arrays, but not all of the input) are never
//! taken for the whole input.

use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use iys_core::batch::MAX_BATCH;
use iys_core::consent::Consent;
use iys_core::diagnostic::{Code, Diagnostic, Lang};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::check::{self, Evaluated, RecordJson};
use crate::error::CliError;
use crate::input::{Format, RawRecord};
use crate::progress::group;
use crate::{pipeline, report, Judge, Tally};
use iys_ledger::hex;

/// The name of batch file `n` (1-based).
fn batch_name(n: u64) -> String {
    format!("batch-{n:05}.json")
}

const REJECTS: &str = "rejects.ndjson";

/// Written last by a successful `iys batch`; `iys upload DIR` refuses a directory without it.
pub const MANIFEST: &str = "manifest.json";

/// What `iys upload` says of a batch directory it will not send.
const INCOMPLETE: &str = "this directory is from an interrupted or failed `iys batch`, or was changed since: \
                          delete it and run `iys batch` again";

/// `DIR/manifest.json`: the batch files a successful `iys batch` wrote, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// The writer, e.g. `iys 0.1.0`.
    pub tool: String,
    /// Records read.
    pub records: u64,
    /// Consents in the batch files.
    pub valid: u64,
    /// Records in `rejects.ndjson`.
    pub rejected: u64,
    /// Of those, duplicates.
    pub duplicates: u64,
    /// Every `batch-NNNNN.json` of the directory.
    pub files: Vec<ManifestFile>,
}

/// One batch file of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// `batch-NNNNN.json`.
    pub name: String,
    /// Consents in it.
    pub count: u32,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
}

/// The relay's body limit (`MAX_BODY` in crates/iys-worker/src/relay.rs): a larger body is refused
/// whole (413), which would refuse every item of the batch.
pub const RELAY_MAX_BODY: usize = 2 * 1024 * 1024;

/// A batch file is closed before it would pass this, 100 KiB below [`RELAY_MAX_BODY`]. (1000 plain
/// consents take about 200 KB; long `retailerAccess` lists make a batch this big.)
pub const MAX_BATCH_BYTES: usize = RELAY_MAX_BODY - 100 * 1024;

/// A hasher for keys that are already uniformly random hashes: it passes them through.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64);
    }
}

/// Two independently keyed SipHash states: together a 128-bit fingerprint of a key.
#[derive(Debug)]
struct Fingerprint(RandomState, RandomState);

impl Fingerprint {
    fn of(&self, c: &Consent) -> u128 {
        let key = (c.recipient_type.as_str(), c.kind.as_str(), c.recipient.as_str());
        (u128::from(self.0.hash_one(key)) << 64) | u128::from(self.1.hash_one(key))
    }
}

enum Outcome {
    Valid { index: u64, key: u128, consent: Vec<u8>, e: Box<Evaluated> },
    Rejected(Vec<u8>),
}

/// Writes consents into `batch-NNNNN.json` files of at most [`MAX_BATCH`] each and at most
/// [`MAX_BATCH_BYTES`] (a single larger consent gets a file of its own): bare JSON arrays.
struct Batches {
    dir: PathBuf,
    file: Option<BufWriter<File>>,
    in_file: usize,
    /// Bytes written to the open file.
    bytes: usize,
    files: u64,
    /// The input index of every item of every file, when asked for (`iys upload`).
    indices: Option<Vec<Vec<u64>>>,
    /// SHA-256 of the open file's bytes so far (for the manifest, without reading it back).
    sha: Sha256,
    /// The files closed so far.
    closed: Vec<ManifestFile>,
}

impl Batches {
    fn push(&mut self, index: u64, consent: &[u8]) -> Result<(), CliError> {
        // With the separator before it and the closing `\n]\n` after it.
        if self.in_file == MAX_BATCH || (self.file.is_some() && self.bytes + 2 + consent.len() + 3 > MAX_BATCH_BYTES) {
            self.close()?;
        }
        if let Some(indices) = &mut self.indices {
            if self.file.is_none() {
                indices.push(Vec::with_capacity(MAX_BATCH));
            }
            if let Some(last) = indices.last_mut() {
                last.push(index);
            }
        }
        let file = match &mut self.file {
            Some(f) => {
                f.write_all(b",\n").map_err(|e| CliError::io("cannot write a batch file", &e))?;
                self.sha.update(b",\n");
                self.bytes += 2;
                f
            }
            None => {
                self.files += 1;
                let path = self.dir.join(batch_name(self.files));
                let f =
                    File::create(&path).map_err(|e| CliError::io(format!("cannot create {}", path.display()), &e))?;
                let f = self.file.insert(BufWriter::new(f));
                f.write_all(b"[\n").map_err(|e| CliError::io("cannot write a batch file", &e))?;
                self.sha = Sha256::new();
                self.sha.update(b"[\n");
                self.bytes = 2;
                f
            }
        };
        file.write_all(consent).map_err(|e| CliError::io("cannot write a batch file", &e))?;
        self.sha.update(consent);
        self.bytes += consent.len();
        self.in_file += 1;
        Ok(())
    }

    fn close(&mut self) -> Result<(), CliError> {
        if let Some(mut f) = self.file.take() {
            // Synced: the manifest, or `iys upload`'s plan, names this file and its hash next.
            let closed = f.write_all(b"\n]\n").and_then(|()| f.flush()).and_then(|()| f.get_ref().sync_all());
            if let Err(e) = closed {
                drop(f);
                let _ = fs::remove_file(self.dir.join(batch_name(self.files)));
                return Err(self.err(&e));
            }
            self.sha.update(b"\n]\n");
            let sha = std::mem::take(&mut self.sha);
            let count = u32::try_from(self.in_file).map_err(|_| CliError::usage("batch too large"))?;
            self.closed.push(ManifestFile { name: batch_name(self.files), count, sha256: hex(&sha.finalize()) });
        }
        self.in_file = 0;
        Ok(())
    }

    /// After a failure: the open file has no closing `]`, and the items it lacks are not written
    /// anywhere, so it is removed rather than left for something to take as a batch.
    fn abandon(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(self.dir.join(batch_name(self.files)));
        }
    }

    fn err(&self, e: &std::io::Error) -> CliError {
        CliError::io(format!("cannot write {}", self.dir.join(batch_name(self.files)).display()), e)
    }
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    records: u64,
    valid: u64,
    rejected: u64,
    duplicates: u64,
    batches: u64,
    out: &'a str,
}

#[derive(Debug, Serialize)]
struct SummaryLine<'a> {
    summary: Summary<'a>,
}

fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    fs::create_dir_all(dir).map_err(|e| CliError::io(format!("cannot create {}", dir.display()), &e))?;
    let entries = fs::read_dir(dir).map_err(|e| CliError::io(format!("cannot read {}", dir.display()), &e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == REJECTS || name == MANIFEST || (name.starts_with("batch-") && name.ends_with(".json")) {
            return Err(CliError::usage(format!(
                "{} already holds batch files ({name}); choose an empty directory or remove them first",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// What [`write`] wrote.
#[derive(Debug, Default)]
pub struct Written {
    /// Records read.
    pub records: u64,
    /// Valid, distinct consents written to batch files.
    pub valid: u64,
    /// Records in `rejects.ndjson`.
    pub rejected: u64,
    /// Of those, duplicates.
    pub duplicates: u64,
    /// Batch files written (`batch-00001.json` …).
    pub files: u64,
    /// With `keep_indices`: the input index of each item of each batch file.
    pub indices: Vec<Vec<u64>>,
}

/// The path of batch file `n` (1-based) in `dir`.
pub fn batch_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(batch_name(n))
}

/// Runs `iys batch`.
pub fn run(file: &Path, format: Option<Format>, judge: Judge, dir: &Path, json: bool) -> Result<Tally, CliError> {
    let w = write(file, format, judge, dir, false)?;
    let (records, valid, rejected, duplicates) = (w.records, w.valid, w.rejected, w.duplicates);
    let rejects_path = dir.join(REJECTS);
    let lang = judge.lang;

    let out_name = dir.display().to_string();
    let mut out = std::io::stdout().lock();
    let text = if json {
        let mut buf = Vec::new();
        let summary = Summary { records, valid, rejected, duplicates, batches: w.files, out: &out_name };
        report::json_line(&mut buf, &SummaryLine { summary });
        buf
    } else {
        match lang {
            Lang::En => format!(
                "{} records: {} consents in {} batch files, {} rejected ({} duplicates) → {}\n",
                group(records),
                group(valid),
                w.files,
                group(rejected),
                group(duplicates),
                rejects_path.display()
            ),
            Lang::Tr => format!(
                "{} kayıt: {} izin {} toplu dosyada, {} reddedildi ({} tekrar) → {}\n",
                group(records),
                group(valid),
                w.files,
                group(rejected),
                group(duplicates),
                rejects_path.display()
            ),
        }
        .into_bytes()
    };
    out.write_all(&text).and_then(|()| out.flush()).map_err(|e| CliError::output(&e))?;
    Ok(Tally { valid, invalid: rejected })
}

/// Validates, de-duplicates and batches `file` into `dir` (which must hold no earlier batches).
pub fn write(
    file: &Path,
    format: Option<Format>,
    judge: Judge,
    dir: &Path,
    keep_indices: bool,
) -> Result<Written, CliError> {
    let (records, progress) = crate::open_records(file, format)?;
    prepare_dir(dir)?;
    let lang = judge.lang;
    let fingerprint = Fingerprint(RandomState::new(), RandomState::new());
    let work = |raw: RawRecord| {
        let e = check::evaluate(raw, &judge.options);
        match e.report.value.as_ref().filter(|_| e.report.is_ok()) {
            Some(valid) => {
                let consent = valid.consent();
                let key = fingerprint.of(consent);
                let text = serde_json::to_vec(consent).unwrap_or_default();
                Outcome::Valid { index: e.index, key, consent: text, e: Box::new(e) }
            }
            None => {
                let mut buf = Vec::with_capacity(256);
                report::json_line(&mut buf, &RecordJson::new(&e, lang));
                Outcome::Rejected(buf)
            }
        }
    };

    let rejects_path = dir.join(REJECTS);
    let rejects = File::create(&rejects_path)
        .map_err(|e| CliError::io(format!("cannot create {}", rejects_path.display()), &e))?;
    let mut rejects = BufWriter::with_capacity(1 << 16, rejects);
    let reject_err = |e: &std::io::Error| CliError::io(format!("cannot write {}", rejects_path.display()), e);
    let mut batches = Batches {
        dir: dir.to_path_buf(),
        file: None,
        in_file: 0,
        bytes: 0,
        files: 0,
        indices: keep_indices.then(Vec::new),
        sha: Sha256::new(),
        closed: Vec::new(),
    };
    let mut seen: HashMap<u128, u64, BuildHasherDefault<PassThrough>> = HashMap::default();
    let (mut valid, mut rejected, mut duplicates) = (0u64, 0u64, 0u64);

    let ran = pipeline::run(records, work, |results: Vec<Outcome>| {
        for outcome in results {
            match outcome {
                Outcome::Valid { index, key, consent, e } => match seen.get(&key) {
                    Some(&first) => {
                        duplicates += 1;
                        rejected += 1;
                        let mut e = *e;
                        e.report.value = None;
                        e.report
                            .diagnostics
                            .push(Diagnostic::new(Code::BatchDuplicate, "").with("first", first.to_string()));
                        let mut buf = Vec::new();
                        report::json_line(&mut buf, &RecordJson::new(&e, lang));
                        rejects.write_all(&buf).map_err(|e| reject_err(&e))?;
                    }
                    None => {
                        seen.insert(key, index);
                        valid += 1;
                        batches.push(index, &consent)?;
                    }
                },
                Outcome::Rejected(line) => {
                    rejected += 1;
                    rejects.write_all(&line).map_err(|e| reject_err(&e))?;
                }
            }
        }
        progress.update(valid + rejected, rejected);
        Ok(())
    });
    if let Err(e) = ran.and_then(|()| batches.close()) {
        // The records rejected so far stay readable; nothing here passes for a finished batch.
        batches.abandon();
        let _ = rejects.flush();
        // `iys upload FILE` (keep_indices) clears its own batches/ on a rerun; `iys batch` refuses
        // a directory that holds any, so its user must clear it.
        let then = if keep_indices {
            "a rerun batches the input again"
        } else {
            "`iys upload` refuses it; delete it before running `iys batch` again"
        };
        return Err(e.note(format!("{} is incomplete (no {MANIFEST}): {then}", dir.display())));
    }
    if valid + rejected == 0 {
        // Nothing was read that could be a record: "0 records, nothing rejected" would read as
        // success. The empty rejects file goes too, so that a rerun into DIR is not refused.
        // (Checked before the manifest: a directory of no records is no finished batch.)
        progress.finish(0);
        drop(rejects);
        fs::remove_file(&rejects_path).map_err(|e| reject_err(&e))?;
        return Err(CliError::usage(format!(
            "{} holds no records (a CSV header without rows, an empty JSON array, or blank lines): nothing to batch",
            crate::input::display_name(file)
        )));
    }
    rejects.flush().and_then(|()| rejects.get_ref().sync_all()).map_err(|e| reject_err(&e))?;
    // The files' directory entries too, before the manifest (or a plan) can point at them.
    let here = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    sync_dir(here)?;
    let manifest = Manifest {
        version: 1,
        tool: concat!("iys ", env!("CARGO_PKG_VERSION")).to_string(),
        records: valid + rejected,
        valid,
        rejected,
        duplicates,
        files: std::mem::take(&mut batches.closed),
    };
    write_manifest(here, &manifest)?;
    progress.finish(valid + rejected);
    Ok(Written {
        records: valid + rejected,
        valid,
        rejected,
        duplicates,
        files: batches.files,
        indices: batches.indices.take().unwrap_or_default(),
    })
}

/// Syncs a directory, so that the names created or renamed in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), CliError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| CliError::io(format!("cannot sync {}", dir.display()), &e))
}

/// Writes `path` so that it is either absent (or as before) or whole: a temp file beside it,
/// synced, renamed over, and the directory synced. (The manifest here; `iys upload`'s plan.)
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp");
    let err = |e: &std::io::Error| CliError::io(format!("cannot write {}", path.display()), e);
    let mut f = File::create(&tmp).map_err(|e| err(&e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| err(&e))?;
    fs::rename(&tmp, path).map_err(|e| err(&e))?;
    sync_dir(path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

/// Writes `dir/manifest.json` atomically ([`write_atomically`]).
fn write_manifest(dir: &Path, m: &Manifest) -> Result<(), CliError> {
    let mut bytes = serde_json::to_vec_pretty(m).map_err(|_| CliError::usage("cannot serialise the manifest"))?;
    bytes.push(b'\n');
    write_atomically(&dir.join(MANIFEST), &bytes)
}

/// The lowercase hex SHA-256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String, CliError> {
    let mut f = File::open(path).map_err(|e| CliError::io(format!("cannot open {}", path.display()), &e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| CliError::io(format!("cannot read {}", path.display()), &e))?;
    Ok(hex(&h.finalize()))
}

/// The batch files of an `iys batch` directory, checked against its manifest: every file it
/// names is there with its hash, and no other `batch-*.json` is. Anything else (no manifest: the
/// run was killed or failed; a file missing, added or edited since) is a usage error that says
/// to batch again, before anything is sent.
pub fn verified_files(dir: &Path) -> Result<Vec<ManifestFile>, CliError> {
    let refuse = |why: String| CliError::usage(format!("{}: {why}; {INCOMPLETE}", dir.display()));
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(refuse(format!("no {MANIFEST}"))),
        Err(e) => return Err(CliError::io(format!("cannot read {}", path.display()), &e)),
    };
    let m: Manifest = serde_json::from_slice(&bytes)
        .ok()
        .filter(|m: &Manifest| m.version == 1)
        .ok_or_else(|| refuse(format!("{MANIFEST} is not one `iys batch` writes")))?;
    let mut present: Vec<String> = fs::read_dir(dir)
        .map_err(|e| CliError::io(format!("cannot read {}", dir.display()), &e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("batch-") && n.ends_with(".json"))
        .collect();
    present.sort();
    let mut named: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    named.sort_unstable();
    if let Some(n) = named.iter().find(|n| !present.iter().any(|p| p == *n)) {
        return Err(refuse(format!("{n}, named in {MANIFEST}, is missing")));
    }
    if let Some(p) = present.iter().find(|p| !named.contains(&p.as_str())) {
        return Err(refuse(format!("{p} is not named in {MANIFEST}")));
    }
    if named.windows(2).any(|w| w[0] == w[1]) {
        return Err(refuse(format!("{MANIFEST} names a file twice")));
    }
    for f in &m.files {
        if sha256_file(&dir.join(&f.name))? != f.sha256 {
            return Err(refuse(format!("{} does not match its SHA-256 in {MANIFEST}", f.name)));
        }
    }
    Ok(m.files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_file_closes_before_its_body_passes_the_relay_limit() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut b = Batches {
            dir: dir.path().to_path_buf(),
            file: None,
            in_file: 0,
            bytes: 0,
            files: 0,
            indices: Some(Vec::new()),
            sha: Sha256::new(),
            closed: Vec::new(),
        };
        // 300 items of 10 kB: about 3 MB, far fewer than MAX_BATCH items.
        let item = format!("{{\"pad\":\"{}\"}}", "x".repeat(10_000));
        for i in 0..300 {
            b.push(i, item.as_bytes()).expect("push");
        }
        b.close().expect("close");
        assert_eq!(b.files, 2);
        let mut total = 0;
        for n in 1..=b.files {
            let bytes = fs::read(batch_path(dir.path(), n)).expect("a batch file");
            assert!(bytes.len() <= MAX_BATCH_BYTES, "file {n}: {} bytes", bytes.len());
            let items: Vec<serde_json::Value> = serde_json::from_slice(&bytes).expect("a JSON array");
            total += items.len();
        }
        assert_eq!(total, 300);
        let per_file: Vec<usize> = b.indices.unwrap_or_default().iter().map(Vec::len).collect();
        assert_eq!(per_file.iter().sum::<usize>(), 300);
        assert!(per_file[0] > 150, "the first file is filled up to the limit: {per_file:?}");
    }
}
