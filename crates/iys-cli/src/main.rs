//! `iys`: bulk validation of IYS consent files. Every judgement comes from `iys-core`; this binary
//! only reads files, runs the core on every core of the machine, and writes reports and batches.

mod batch;
mod check;
mod error;
mod http;
mod input;
mod ledger;
mod pipeline;
mod progress;
mod recipient;
mod report;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use iys_core::consent::Options;
use iys_core::diagnostic::Lang;
use iys_core::recipient::Mode;
use iys_core::time::{BusinessDays, LocalDateTime};

use crate::error::CliError;
use crate::input::Format;

/// mimalloc instead of glibc malloc: per-thread heaps, so a record allocated by the reader thread
/// and freed by a worker costs no lock (see `pipeline`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Validate, normalise, batch and upload IYS (İleti Yönetim Sistemi) consents.
///
/// Exit codes: 0 all valid (accepted), 1 some invalid (refused), 2 usage, I/O or network error.
#[derive(Debug, Parser)]
#[command(name = "iys", version, about, long_about = None)]
struct Cli {
    /// Language of the messages.
    #[arg(long, value_enum, global = true, default_value = "tr")]
    lang: LangArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check phone numbers and e-mail addresses: one result per input.
    Recipient(RecipientArgs),
    /// Check consent records from CSV, a JSON array or NDJSON: one result per record, then a summary.
    Check(CheckArgs),
    /// Write IYS-ready batch files (≤1000 valid, normalised, de-duplicated consents each) and a rejects file.
    Batch(BatchArgs),
    /// Send consents through the relay (validated and batched as `batch` does), wait for the
    /// outcomes, write a report of every record; a rerun resumes without sending anything twice.
    Upload(UploadArgs),
    /// Check a ledger exported by the relay.
    #[command(subcommand)]
    Ledger(LedgerCommand),
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Verify the hash chain of an export (`GET /admin/ledger/export`, JSON lines).
    Verify(LedgerVerifyArgs),
}

#[derive(Debug, Args)]
struct LedgerVerifyArgs {
    /// Print the verdict as one JSON object.
    #[arg(long)]
    json: bool,
    /// The export must end exactly at this hash (the `headHash` of the relay's
    /// `/admin/ledger/verify` when the export was taken): also catches rows cut from the end.
    #[arg(long, value_name = "HASH", conflicts_with_all = ["head_seq", "head_hash"], value_parser = ledger::parse_head_hash)]
    head: Option<String>,
    /// With --head-hash: a head recorded earlier (the relay's `/admin/ledger/verify` prints
    /// `headSeq`/`headHash` and the writer's `recordedHeadSeq`/`recordedHeadHash`). The export must
    /// reach it, with that hash at that seq, and may extend past it; one that ends before it fails
    /// with reason `tail` (rows deleted at the end).
    #[arg(long, value_name = "N", requires = "head_hash", value_parser = clap::value_parser!(i64).range(1..))]
    head_seq: Option<i64>,
    /// With --head-seq: the hash of the head row (64 hex digits).
    #[arg(long, value_name = "HEX", requires = "head_seq", value_parser = ledger::parse_head_hash)]
    head_hash: Option<String>,
    /// The exported ledger (JSON lines).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
struct UploadArgs {
    /// The relay's base URL (https://…; http:// for a local simulator).
    #[arg(long, value_name = "URL")]
    relay: String,
    /// Username for the relay's token.
    #[arg(long, value_name = "USER")]
    user: String,
    /// Password (default: the IYS_PASSWORD environment variable, which keeps it out of `ps`).
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// The service provider's IYS code (the `/sps/{iysCode}` of the path).
    #[arg(long, value_name = "CODE")]
    iys_code: u64,
    /// The brand code (the `/brands/{brandCode}` of the path).
    #[arg(long, value_name = "CODE")]
    brand_code: u64,
    /// Directory for plan.json, batches/, upload.journal and report.ndjson; rerun with the same
    /// input and DIR to resume.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the summary as a JSON object.
    #[arg(long)]
    json: bool,
    /// Timeout of one HTTP call, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
    /// Send at most N new batches in this run (a rerun sends the next ones).
    #[arg(long, value_name = "N")]
    max_batches: Option<u64>,
    /// Send and stop without waiting for the outcomes (a rerun collects them).
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait after a POST that got no answer (or a 5xx) before its items are looked up
    /// (only where it cannot be re-sent with its Idempotency-Key: a server that does not honour
    /// keys, such as IYS itself; an attempt journaled without a key or over 23 h old).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    reconcile_after: u64,
    /// Give up waiting for outcomes after this many seconds (a rerun continues).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    wait_max: u64,
    #[command(flatten)]
    consent: ConsentArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LangArg {
    /// Türkçe.
    Tr,
    /// English.
    En,
}

#[derive(Debug, Args)]
struct RecipientArgs {
    /// One JSON object per input, one per line.
    #[arg(long)]
    json: bool,
    /// Accept only the exact wire form, as IYS does (H121 otherwise).
    #[arg(long)]
    strict: bool,
    /// Phone numbers or e-mail addresses; `-` alone reads one per line from standard input.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<String>,
}

/// What `check` and `batch` share: how to read the file and how to judge its records.
#[derive(Debug, Args)]
struct ConsentArgs {
    /// Judge recipients as IYS does: wire form only (H121 otherwise), as the relay does.
    #[arg(long)]
    strict: bool,
    /// "Now" in Turkey time, for the consentDate rules (default: the system clock).
    #[arg(long, value_name = "YYYY-MM-DD HH:MM:SS")]
    now: Option<String>,
    /// Do not apply IYS's 3-business-day window to consentDate (e.g. for an archive).
    #[arg(long)]
    no_window: bool,
    /// Input format (default: from the file extension, else from the first character).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// The consent file; `-` reads standard input (`check` and `batch`). `upload` takes a file or a
    /// directory written by `iys batch`, not `-` (a resumable upload needs its input again).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// One JSON object per record, then a summary object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    consent: ConsentArgs,
}

#[derive(Debug, Args)]
struct BatchArgs {
    /// Directory for batch-00001.json … and rejects.ndjson (created if missing; must not hold earlier batches).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the summary as a JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    consent: ConsentArgs,
}

/// Everything a command needs to judge consents.
#[derive(Debug, Clone, Copy)]
pub struct Judge {
    /// Core options (mode, now, window).
    pub options: Options,
    /// Message language.
    pub lang: Lang,
}

fn judge(args: &ConsentArgs, lang: Lang) -> Result<Judge, CliError> {
    let now = match &args.now {
        Some(text) => {
            let local = LocalDateTime::parse(text).map_err(|_| {
                CliError::usage(format!("--now {text:?} is not a real time in Turkey written as YYYY-MM-DD HH:MM:SS"))
            })?;
            local.to_unix().ok_or_else(|| {
                CliError::usage(format!("--now {text:?} does not exist in Turkey (clocks skipped it)"))
            })?
        }
        None => {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|_| CliError::usage("the system clock is before 1970; pass --now"))?;
            i64::try_from(since.as_secs())
                .map_err(|_| CliError::usage("the system clock is out of range; pass --now"))?
        }
    };
    let mode = if args.strict { Mode::Strict } else { Mode::Normalize };
    let window = if args.no_window { None } else { Some(BusinessDays::default()) };
    Ok(Judge { options: Options { mode, now, window }, lang })
}

/// Records that the command found valid and invalid; decides the exit code.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Valid records.
    pub valid: u64,
    /// Invalid records.
    pub invalid: u64,
}

fn run(cli: Cli) -> Result<Tally, CliError> {
    let lang = match cli.lang {
        LangArg::Tr => Lang::Tr,
        LangArg::En => Lang::En,
    };
    match cli.command {
        Command::Recipient(a) => {
            let mode = if a.strict { Mode::Strict } else { Mode::Normalize };
            recipient::run(&a.inputs, mode, lang, a.json)
        }
        Command::Check(a) => {
            let judge = judge(&a.consent, lang)?;
            check::run(&a.consent.file, a.consent.format, judge, a.json)
        }
        Command::Batch(a) => {
            let judge = judge(&a.consent, lang)?;
            batch::run(&a.consent.file, a.consent.format, judge, &a.out, a.json)
        }
        Command::Upload(a) => {
            let judge = judge(&a.consent, lang)?;
            let password = match a.password {
                Some(p) => p,
                None => {
                    std::env::var("IYS_PASSWORD").map_err(|_| CliError::usage("give --password or set IYS_PASSWORD"))?
                }
            };
            let now_fixed = a.consent.now.is_some();
            let settings = upload::Settings {
                relay: a.relay,
                user: a.user,
                password: upload::Secret(password),
                iys_code: a.iys_code,
                brand_code: a.brand_code,
                out: a.out,
                input: a.consent.file,
                format: a.consent.format,
                timeout: std::time::Duration::from_secs(a.timeout.max(1)),
                max_batches: a.max_batches,
                no_wait: a.no_wait,
                reconcile_after: std::time::Duration::from_secs(a.reconcile_after),
                wait_max: std::time::Duration::from_secs(a.wait_max),
                json: a.json,
                now_fixed,
            };
            upload::run(&settings, judge)
        }
        Command::Ledger(LedgerCommand::Verify(a)) => {
            let expected = a.head_seq.zip(a.head_hash).map(|(seq, hash)| iys_ledger::Head { seq, hash });
            ledger::run(&a.file, a.head.as_deref(), expected, a.json)
        }
    }
}

fn main() -> ExitCode {
    // clap prints usage errors and exits with 2, help and version with 0.
    let cli = Cli::parse();
    match run(cli) {
        Ok(t) if t.invalid == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) if e.broken_pipe => ExitCode::from(2),
        Err(e) => {
            eprintln!("iys: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Opens `file` and its record stream, with the format given or detected.
/// As [`open_records`], in groups of `per_slice` records (CSV rows in one buffer per group).
fn open_slices(
    file: &std::path::Path,
    format: Option<Format>,
    per_slice: usize,
) -> Result<(input::Slices, progress::Progress), CliError> {
    let (opened, format) = input::detect_format(input::open(file)?, file, format)?;
    let progress = progress::Progress::new(opened.len, std::sync::Arc::clone(&opened.read));
    Ok((input::slices(opened, format, per_slice)?, progress))
}

fn open_records(
    file: &std::path::Path,
    format: Option<Format>,
) -> Result<(input::Records, progress::Progress), CliError> {
    let (opened, format) = input::detect_format(input::open(file)?, file, format)?;
    let progress = progress::Progress::new(opened.len, std::sync::Arc::clone(&opened.read));
    Ok((input::records(opened, format)?, progress))
}
