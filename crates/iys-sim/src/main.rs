//! `iys-sim`: a local stand-in for IYS's consent API. See README.md.

use std::io::Write;
use std::sync::Arc;

use iys_sim::accounts::Accounts;
use iys_sim::faults::Fault;
use iys_sim::{server, App, Config};

const USAGE: &str = "\
iys-sim: a local stand-in for IYS's consent API (loopback only)

USAGE: iys-sim [--port N] [--state FILE] [--accounts FILE] [--fault SPEC]... [--seed N]
               [--batch-delay-ms N] [--no-business-day-window] [--quiet]

  --port N                 port on 127.0.0.1; 0 (default) picks a free one
  --state FILE             keep records across restarts (JSON, written atomically)
  --accounts FILE          accounts TOML (default: the built-in accounts.default.toml)
  --fault SPEC             KIND[:FRACTION][@ROUTE][#COUNT]; KIND = 500 | 503 | 429 | reset | hold[=MS]
                           | HNNN[=STATUS] (any IYS error) | item=HNNN (batch items fail)
  --seed N                 seed for fault fractions (reproducible drills)
  --batch-delay-ms N       how long async batch items stay `enqueue`
  --no-business-day-window do not apply the 3-business-day consentDate rule
  --quiet                  no per-request lines on stderr

The first line on stdout is the bound address, e.g. 127.0.0.1:41234.";

fn parse_args() -> Result<Config, String> {
    let mut config = Config::default();
    let mut batch_delay = None;
    let mut no_window = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| args.next()).ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--port" => config.port = value("--port")?.parse().map_err(|_| "--port: not a port".to_string())?,
            "--state" => config.state = Some(value("--state")?.into()),
            "--accounts" => {
                let path = value("--accounts")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("--accounts {path}: {e}"))?;
                config.accounts = Some(Accounts::from_toml(&text)?);
            }
            "--fault" => config.faults.push(Fault::parse_flag(&value("--fault")?)?),
            "--seed" => config.seed = Some(value("--seed")?.parse().map_err(|_| "--seed: not a number".to_string())?),
            "--batch-delay-ms" => {
                batch_delay =
                    Some(value("--batch-delay-ms")?.parse::<u64>().map_err(|_| "--batch-delay-ms: not a number")?)
            }
            "--no-business-day-window" => no_window = true,
            "--quiet" => config.quiet = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if batch_delay.is_some() || no_window {
        let accounts = config.accounts.get_or_insert_with(Accounts::builtin);
        if let Some(ms) = batch_delay {
            accounts.limits.batch_delay_ms = ms;
        }
        if no_window {
            accounts.limits.business_day_window = false;
        }
    }
    Ok(config)
}

fn main() {
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("iys-sim: {e}");
            std::process::exit(2);
        }
    };
    let app = match App::new(&config) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("iys-sim: {e}");
            std::process::exit(1);
        }
    };
    let listener = match server::bind(config.port) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("iys-sim: cannot listen on 127.0.0.1:{}: {e}", config.port);
            std::process::exit(1);
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("iys-sim: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{addr}");
    let _ = out.flush();
    server::serve(app, listener);
}
