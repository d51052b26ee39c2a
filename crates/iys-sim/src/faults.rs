//! Fault injection: a fraction of calls (optionally on one route, optionally only the next N)
//! answered 500 (H015), 503 (H192), 429 (H124) or any IYS error code with any status, held for a
//! while, or cut off with a reset; and batch items that settle as `failure` with a chosen code.

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
    /// `status` with IYS error `code` (status defaults to IYS's own for the code, iys-api.md §4).
    #[serde(rename = "code")]
    Code,
    /// Not an answer: items of batches taken from now on settle as `failure` with `code` (the
    /// consent is not stored), one item per hit. Never picked for a call, only by [`Faults::pick_item`].
    #[serde(rename = "item")]
    Item,
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
    /// For `code` and `item`: the IYS error code (`H` and three digits, e.g. `H123`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For `code`: the HTTP status, 400..=599 (default: IYS's status for the code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
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
    /// `reset`, `hold`, `hold=MS`, an IYS code `HNNN` or `HNNN=STATUS`, or `item=HNNN` (e.g.
    /// `503:0.2@batch`, `hold=5000@token#1`, `H123=400@batch#1`, `item=H179:0.5#3`).
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
        let (kind_text, value) = match kind_text.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (kind_text, None),
        };
        let mut f =
            Fault { kind: FaultKind::Hold, fraction, route, count, hold_ms: hold_default(), code: None, status: None };
        f.kind = match (kind_text, value) {
            ("500", None) => FaultKind::Error500,
            ("503", None) => FaultKind::Error503,
            ("429", None) => FaultKind::RateLimit,
            ("reset", None) => FaultKind::Reset,
            ("hold", ms) => {
                if let Some(ms) = ms {
                    f.hold_ms = ms.parse::<u64>().map_err(|_| format!("bad hold ms in {s:?}"))?;
                }
                FaultKind::Hold
            }
            ("item", Some(code)) => {
                f.code = Some(code.to_string());
                FaultKind::Item
            }
            (code, status) if code.starts_with('H') => {
                f.code = Some(code.to_string());
                f.status = status.map(|v| v.parse::<u16>().map_err(|_| format!("bad status in {s:?}"))).transpose()?;
                FaultKind::Code
            }
            _ => {
                return Err(format!(
                    "unknown fault kind in {s:?} (500, 503, 429, hold[=MS], reset, HNNN[=STATUS], item=HNNN)"
                ))
            }
        };
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
        let code_ok = |c: &Option<String>| c.as_deref().is_some_and(iys_core::diagnostic::is_iys_code);
        match self.kind {
            FaultKind::Code => {
                if !code_ok(&self.code) {
                    return Err("kind code needs code: H and three digits (e.g. H123)".into());
                }
                if self.status.is_some_and(|s| !(400..=599).contains(&s)) {
                    return Err("status must be between 400 and 599".into());
                }
            }
            FaultKind::Item => {
                if !code_ok(&self.code) {
                    return Err("kind item needs code: H and three digits (e.g. H179)".into());
                }
                if self.status.is_some() {
                    return Err("kind item takes no status (a batch item's error has none)".into());
                }
                if self.route != "*" && self.route != "batch" {
                    return Err("kind item applies to batch items only: route * or batch".into());
                }
            }
            _ if self.code.is_some() || self.status.is_some() => {
                return Err("code and status go with kind code or item only".into());
            }
            _ => {}
        }
        Ok(())
    }

    /// The status a `code` fault answers with.
    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| crate::routes::status_of(self.code.as_deref().unwrap_or("")))
    }

    /// The name the request log and stderr give the fault (the flag form's KIND).
    pub fn name(&self) -> String {
        let code = self.code.as_deref().unwrap_or("");
        match self.kind {
            FaultKind::Error500 => "500".to_string(),
            FaultKind::Error503 => "503".to_string(),
            FaultKind::RateLimit => "429".to_string(),
            FaultKind::Hold => format!("hold={}", self.hold_ms),
            FaultKind::Reset => "reset".to_string(),
            FaultKind::Code => format!("{code}={}", self.status()),
            FaultKind::Item => format!("item={code}"),
        }
    }
}

/// Turkish text for an injected code: IYS's meaning for the resend list (iys-api.md §4), a
/// generic line for any other code.
pub fn message(code: &str) -> String {
    match code {
        "H015" | "H412" | "H470" => "Beklenmeyen bir hata oluştu.".into(),
        "H101" => "Birincil veri kaydedilemedi.".into(),
        "H102" => "Şifreleme işlemi başarısız oldu.".into(),
        "H103" => "Sunucu tarafında arama yapılamadı.".into(),
        "H123" => "Servis şu anda yoğun, lütfen daha sonra tekrar deneyin.".into(),
        "H124" => "Saniye başına istek limitine ulaşıldı.".into(),
        "H179" => "İzin tarihi karşılaştırması yapılamadı.".into(),
        "H192" => "İstek zaman aşımına uğradı.".into(),
        _ => format!("İstek işlenemedi ({code})."),
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
        self.pick_where(rng, |f| f.kind != FaultKind::Item && (f.route == "*" || f.route == route))
    }

    /// Decides whether one batch item is hit by an `item` rule: `(code, message)` to settle it
    /// with; spends counted rules (COUNT counts items).
    pub fn pick_item(&mut self, rng: &mut Rng) -> Option<(String, String)> {
        let f = self.pick_where(rng, |f| f.kind == FaultKind::Item)?;
        let code = f.code.unwrap_or_default();
        let msg = message(&code);
        Some((code, msg))
    }

    fn pick_where(&mut self, rng: &mut Rng, applies: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut hit = None;
        for (i, f) in self.rules.iter_mut().enumerate() {
            if !applies(f) {
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
    fn code_and_item_flag_forms() {
        let f = Fault::parse_flag("H123=400:0.5@batch#2").expect("parse");
        assert_eq!(
            (f.kind, f.code.as_deref(), f.status(), f.fraction, f.route.as_str(), f.count),
            (FaultKind::Code, Some("H123"), 400, 0.5, "batch", Some(2))
        );
        assert_eq!(f.name(), "H123=400");
        // Without a status: IYS's own for the code (H179 is 500, H353 403).
        assert_eq!(Fault::parse_flag("H179").expect("parse").status(), 500);
        assert_eq!(Fault::parse_flag("H353@add").expect("parse").status(), 403);
        let f = Fault::parse_flag("item=H179:0.25#3").expect("parse");
        assert_eq!((f.kind, f.code.as_deref(), f.fraction, f.count), (FaultKind::Item, Some("H179"), 0.25, Some(3)));
        for bad in ["H12=400", "H1234", "HABC", "H123=200", "H123=abc", "item", "item=X179", "item=H179@add", "500=1"] {
            assert!(Fault::parse_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_stays_backward_compatible() {
        let old: Fault = serde_json::from_value(serde_json::json!({"kind": "503", "route": "batch"})).expect("old");
        assert_eq!((old.kind, old.code.as_deref(), old.status), (FaultKind::Error503, None, None));
        let back = serde_json::to_value(&old).expect("json");
        assert!(back.get("code").is_none() && back.get("status").is_none(), "{back}");
        let new: Fault =
            serde_json::from_value(serde_json::json!({"kind": "code", "code": "H123", "status": 400})).expect("new");
        assert_eq!((new.kind, new.status(), new.check()), (FaultKind::Code, 400, Ok(())));
        let with_code: Fault =
            serde_json::from_value(serde_json::json!({"kind": "500", "code": "H123"})).expect("shape");
        assert!(with_code.check().is_err(), "a code on a fixed kind is refused");
    }

    #[test]
    fn item_rules_are_only_picked_per_item() {
        let mut faults = Faults {
            rules: vec![
                Fault::parse_flag("item=H179#2").expect("parse"),
                Fault::parse_flag("item=H175#1").expect("parse"),
            ],
        };
        let mut rng = Rng::seeded(5);
        // A call on the batch route is never answered by an item rule.
        assert!(faults.pick("batch", &mut rng).is_none());
        let got: Vec<Option<String>> = (0..4).map(|_| faults.pick_item(&mut rng).map(|(c, _)| c)).collect();
        assert_eq!(got, [Some("H179".into()), Some("H179".into()), Some("H175".into()), None]);
        assert!(faults.rules.is_empty());
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
