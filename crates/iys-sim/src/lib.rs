//! # iys-sim
//!
//! A local stand-in for IYS's consent API, for the Worker's tests, the CLI's upload, fault and
//! load drills, and `cargo xtask dev`. It speaks IYS's wire format (iys-core's `wire` types),
//! applies IYS's stateless rules through iys-core and keeps the stateful ones itself.
//!
//! - [`accounts`]: integrator, service providers, brands, credentials, permissions, limits (TOML).
//! - [`auth`]: `POST /oauth2/token`, bearer checks, the hourly token and per-second request limits.
//! - [`store`]: consents, change log, async batches, tokens; the H174/H175/H178/H462/H463 rules.
//! - [`routes`]: the IYS routes; [`admin`]: the `/__sim/…` routes (faults, citizen, inspection, clock).
//! - [`faults`]: 500/503/429/any-code/hold/reset injection, failing batch items; [`persist`]: `--state FILE`, written atomically.
//! - [`server`]: the HTTP/1.1 loop ([`http`]) that applies faults and logs every request.
//!
//! **Invariant:** the sim binds loopback only, never logs tokens, passwords or raw recipients.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod clock;
pub mod faults;
pub mod http;
pub mod persist;
pub mod routes;
pub mod server;
pub mod store;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

use crate::accounts::Accounts;
use crate::clock::{Clock, Rng};
use crate::faults::Faults;
use crate::persist::Persist;
use crate::store::Store;

/// One line of the request log (the inspection route).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Order received.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path and query (never bodies: recipients stay out of the log).
    pub path: String,
    /// Route name, when the path is an IYS route.
    pub route: Option<&'static str>,
    /// Status answered; 0 for a connection reset.
    pub status: u16,
    /// IYS error codes answered, if any.
    pub codes: Vec<String>,
    /// The fault applied, if any.
    pub fault: Option<String>,
    /// When received (Turkey time, sim clock).
    pub time: String,
    /// When received, Unix ms (sim clock).
    pub at_ms: i64,
    /// How long the answer took, ms.
    pub duration_ms: u64,
}

/// Everything behind the lock.
#[derive(Debug)]
pub struct Sim {
    /// Accounts and limits (limits can be changed at run time).
    pub accounts: Accounts,
    /// Records.
    pub store: Store,
    /// Ids and tokens.
    pub rng: Rng,
    /// Fault fractions (seedable).
    pub fault_rng: Rng,
    /// Active fault rules.
    pub faults: Faults,
    /// Every request received.
    pub log: Vec<LogEntry>,
    /// Next log sequence number.
    pub log_seq: u64,
    /// Requests per username in the current clock second.
    pub per_second: HashMap<String, (i64, u32)>,
    /// Bumped on every change that `--state` must keep.
    pub generation: u64,
}

/// Settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Port on 127.0.0.1 (0: any free one).
    pub port: u16,
    /// `--state FILE`.
    pub state: Option<std::path::PathBuf>,
    /// Accounts (built-in default unless `--accounts FILE`).
    pub accounts: Option<Accounts>,
    /// Fault rules from `--fault`.
    pub faults: Vec<faults::Fault>,
    /// `--seed` for fault fractions.
    pub seed: Option<u64>,
    /// Do not print one line per request on stderr.
    pub quiet: bool,
}

/// The shared application.
#[derive(Debug)]
pub struct App {
    /// The sim clock.
    pub clock: Clock,
    /// State.
    pub sim: Mutex<Sim>,
    /// `--state` writer.
    pub persist: Option<Persist>,
    /// No per-request stderr lines.
    pub quiet: bool,
}

/// The largest request log kept; older entries are dropped.
pub const MAX_LOG: usize = 200_000;

impl App {
    /// Builds the app; loads `--state` if the file exists.
    pub fn new(config: &Config) -> Result<App, String> {
        let persist = config.state.clone().map(Persist::new);
        let store = match &persist {
            Some(p) => p.load()?,
            None => Store::default(),
        };
        let sim = Sim {
            accounts: config.accounts.clone().unwrap_or_else(Accounts::builtin),
            store,
            rng: Rng::random(),
            fault_rng: config.seed.map(Rng::seeded).unwrap_or_else(Rng::random),
            faults: Faults { rules: config.faults.clone() },
            log: Vec::new(),
            log_seq: 0,
            per_second: HashMap::new(),
            generation: 0,
        };
        Ok(App { clock: Clock::default(), sim: Mutex::new(sim), persist, quiet: config.quiet })
    }

    /// The state, locked (a panicked holder does not poison the sim).
    pub fn lock(&self) -> MutexGuard<'_, Sim> {
        self.sim.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `--state` if anything changed (called before answering a mutating request).
    pub fn save(&self) {
        let Some(p) = &self.persist else { return };
        let (generation, bytes) = {
            let sim = self.lock();
            if sim.generation == p.written() {
                return;
            }
            (sim.generation, serde_json::to_vec(&sim.store))
        };
        match bytes {
            Ok(b) => {
                if let Err(e) = p.write(generation, &b) {
                    eprintln!("iys-sim: could not write state: {e}");
                }
            }
            Err(e) => eprintln!("iys-sim: could not serialise state: {e}"),
        }
    }

    /// Settles due batch items; saves when something settled.
    pub fn tick(&self) {
        let now = self.clock.now_ms();
        let changed = {
            let mut sim = self.lock();
            let sim = &mut *sim;
            let changed = sim.store.settle(now, &mut sim.rng);
            if changed {
                sim.generation += 1;
            }
            changed
        };
        if changed {
            self.save();
        }
    }
}

/// A recipient masked for logs: `+90532*****67`, `a***@example.com`.
pub fn mask(recipient: &str) -> String {
    match recipient.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => {
            let chars: Vec<char> = recipient.chars().collect();
            if chars.len() <= 6 {
                return "*".repeat(chars.len());
            }
            let head: String = chars[..6].iter().collect();
            let tail: String = chars[chars.len() - 2..].iter().collect();
            format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masking() {
        assert_eq!(super::mask("+905321234567"), "+90532*****67");
        assert_eq!(super::mask("ali@example.com"), "a***@example.com");
        assert_eq!(super::mask("+90"), "***");
    }
}
