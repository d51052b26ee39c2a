//! Fault injection: a fraction of calls (optionally on one route, optionally only the next N)
//! answered 500 (H015), 503 (H192) or 429 (H124), held for a while, or cut off with a reset.

use serde::{Deserialize, Serialize};

use crate::clock::Rng;

/// What happens to a call the fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// 500 with H015.
    #[serde(rename = "500")]
    Error500,
    /// 503 with H192.
    #[serde(rename = "503")]
    Error503,
    /// 429 with H124.
    #[serde(rename = "429")]
    RateLimit,
    /// Held for `holdMs`, then answered normally (the client should have given up by then).
    #[serde(rename = "hold")]
    Hold,
    /// The connection is reset (RST) without an answer.
    #[serde(rename = "reset")]
    Reset,
}

/// One fault rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// The share of matching calls hit, 0..=1 (default 1).
    #[serde(default = "one")]
    pub fraction: f64,
    /// Route name (see [`crate::routes::route_name`]) or `*` for every IYS route (default).
    #[serde(default = "star")]
    pub route: String,
    /// Only the next N hits, then the rule is spent (default: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// For `hold`: how long, ms (default 35000, past a 30 s client timeout).
    #[serde(default = "hold_default")]
    pub hold_ms: u64,
}

fn one() -> f64 {
    1.0
}
fn star() -> String {
    "*".to_string()
}
fn hold_default() -> u64 {
    35_000
}

impl Fault {
    /// Parses the flag form `KIND[:FRACTION][@ROUTE][#COUNT]`, with KIND one of `500`, `503`, `429`,
    /// `reset`, `hold` or `hold=MS` (e.g. `503:0.2@batch`, `hold=5000@token#1`).
    pub fn parse_flag(s: &str) -> Result<Fault, String> {
        let (rest, count) = match s.split_once('#') {
            Some((r, c)) => (r, Some(c.parse::<u64>().map_err(|_| format!("bad count in {s:?}"))?)),
            None => (s, None),
        };
        let (rest, route) = match rest.split_once('@') {
            Some((r, route)) => (r, route.to_string()),
            None => (rest, star()),
        };
        let (kind_text, fraction) = match rest.split_once(':') {
            Some((k, f)) => (k, f.parse::<f64>().map_err(|_| format!("bad fraction in {s:?}"))?),
            None => (rest, 1.0),
        };
        let (kind_text, hold_ms) = match kind_text.split_once('=') {
            Some((k, ms)) => (k, ms.parse::<u64>().map_err(|_| format!("bad hold ms in {s:?}"))?),
            None => (kind_text, hold_default()),
        };
        let kind = match kind_text {
            "500" => FaultKind::Error500,
            "503" => FaultKind::Error503,
            "429" => FaultKind::RateLimit,
            "hold" => FaultKind::Hold,
            "reset" => FaultKind::Reset,
            _ => return Err(format!("unknown fault kind in {s:?} (500, 503, 429, hold[=MS], reset)")),
        };
        let f = Fault { kind, fraction, route, count, hold_ms };
        f.check()?;
        Ok(f)
    }

    /// Checks the values are usable.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.fraction) {
            return Err("fraction must be between 0 and 1".into());
        }
        if self.route != "*" && !crate::routes::ROUTE_NAMES.contains(&self.route.as_str()) {
            return Err(format!("unknown route {:?}; one of * {}", self.route, crate::routes::ROUTE_NAMES.join(" ")));
        }
        Ok(())
    }
}

/// The active rules.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// In order; the first rule that hits wins.
    pub rules: Vec<Fault>,
}

impl Faults {
    /// Decides whether a call on `route` is hit; spends counted rules.
    pub fn pick(&mut self, route: &str, rng: &mut Rng) -> Option<Fault> {
        let mut hit = None;
        for (i, f) in self.rules.iter_mut().enumerate() {
            if f.route != "*" && f.route != route {
                continue;
            }
            if f.fraction < 1.0 && rng.fraction() >= f.fraction {
                continue;
            }
            if let Some(n) = f.count.as_mut() {
                *n = n.saturating_sub(1);
            }
            hit = Some((i, f.clone()));
            break;
        }
        let (i, f) = hit?;
        if self.rules.get(i).is_some_and(|r| r.count == Some(0)) {
            self.rules.remove(i);
        }
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_forms() {
        let f = Fault::parse_flag("503:0.25@batch#3").expect("parse");
        assert_eq!((f.kind, f.fraction, f.route.as_str(), f.count), (FaultKind::Error503, 0.25, "batch", Some(3)));
        let f = Fault::parse_flag("hold=1500").expect("parse");
        assert_eq!((f.kind, f.hold_ms, f.route.as_str()), (FaultKind::Hold, 1500, "*"));
        assert!(Fault::parse_flag("404").is_err());
        assert!(Fault::parse_flag("500:2").is_err());
        assert!(Fault::parse_flag("500@nowhere").is_err());
    }

    #[test]
    fn counted_rules_are_spent_and_fractions_hold_roughly() {
        let mut faults = Faults { rules: vec![Fault::parse_flag("reset@add#2").expect("parse")] };
        let mut rng = Rng::seeded(3);
        assert!(faults.pick("token", &mut rng).is_none());
        assert!(faults.pick("add", &mut rng).is_some());
        assert!(faults.pick("add", &mut rng).is_some());
        assert!(faults.pick("add", &mut rng).is_none());
        assert!(faults.rules.is_empty());
        let mut faults = Faults { rules: vec![Fault::parse_flag("500:0.3").expect("parse")] };
        let hits = (0..10_000).filter(|_| faults.pick("add", &mut rng).is_some()).count();
        assert!((2500..3500).contains(&hits), "{hits}");
    }
}
