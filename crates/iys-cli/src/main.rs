//! `iys`: bulk validation of IYS consent files. Every judgement comes from `iys-core`; this binary
//! only reads files, runs the core on every core of the machine, and writes reports and batches.

mod batch;
mod check;
mod error;
mod input;
mod pipeline;
mod progress;
mod recipient;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use iys_core::consent::Options;
use iys_core::diagnostic::Lang;
use iys_core::recipient::Mode;
use iys_core::time::{BusinessDays, LocalDateTime};

use crate::error::CliError;
use crate::input::Format;

/// Validate, normalise and batch IYS (İleti Yönetim Sistemi) consents.
///
/// Exit codes: 0 all valid, 1 some invalid, 2 usage or I/O error.
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
    /// The consent file; `-` reads standard input.
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
fn open_records(
    file: &std::path::Path,
    format: Option<Format>,
) -> Result<(input::Records, progress::Progress), CliError> {
    let mut opened = input::open(file)?;
    let format = input::detect_format(&mut opened.reader, file, format)
        .map_err(|e| CliError::io(format!("cannot read {}", opened.name), &e))?;
    let progress = progress::Progress::new(opened.len, std::sync::Arc::clone(&opened.read));
    Ok((input::records(opened, format)?, progress))
}
