//! The token endpoint's throttle (crates/iys-worker/src/throttle.rs) on real workerd: attempts at
//! `POST /oauth2/token` are counted per client address by the rate limiting binding
//! (`AUTH_ATTEMPTS`, 100 per 60 s in `wrangler.toml`); past the limit the answer is 429
//! `request/rate-limited` with `Retry-After`, before any password work — the right password
//! included — and the refusal is on the ledger. The relayed API is not behind this door. A relay of
//! its own: the flood would lock the shared suites' test client out of the token endpoint.

#[path = "support/worker.rs"]
mod support;

use iys_tests::consent_date;
use serde_json::{json, Value};
use support::{Opts, Relay, Resp};

/// `simple.limit` of `AUTH_ATTEMPTS` in `wrangler.toml`.
const LIMIT: usize = 100;

fn grant(username: &str, password: &str) -> String {
    json!({"grant_type": "password", "username": username, "password": password}).to_string()
}

fn token(r: &Relay, username: &str, password: &str) -> Resp {
    r.req("POST", "/oauth2/token", &[("Content-Type", "application/json")], Some(&grant(username, password)))
}

#[test]
fn token_attempts_past_the_limit_are_refused_before_any_password_work_and_recorded() {
    let r = Relay::start(Opts::default());
    let (_, user, pass) = r.create_provider(
        &json!({"name": "throttled", "scopes": [{"iysCode": 600001, "brands": [600001], "types": ["MESAJ"]}]}),
    );
    let (user, pass) = (user.as_str(), pass.as_str());
    let first = token(&r, user, pass);
    assert_eq!(first.status, 200, "{}", first.body);
    let access = first.json()["access_token"].as_str().unwrap_or_default().to_string();

    // Wrong passwords until the first refusal. The binding counts in fixed windows, so a window may
    // turn over during the loop: the first 429 comes after at least LIMIT attempts (the one above
    // included) and at most 2 × LIMIT.
    let mut answered = 1;
    let refused = loop {
        let t = token(&r, user, "not-the-password");
        if t.status == 429 {
            break t;
        }
        assert_eq!(t.status, 401, "a wrong password before the limit: {}", t.body);
        answered += 1;
        assert!(answered <= 2 * LIMIT, "no 429 after {answered} attempts");
    };
    assert!(answered >= LIMIT, "refused after only {answered} attempts (limit {LIMIT})");
    assert_eq!(refused.json()["errors"][0]["iysEdgeCode"], "request/rate-limited", "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("60"));

    // The right password is refused too while the window lasts: nothing is checked past the limit.
    let right = token(&r, user, pass);
    assert_eq!(right.status, 429, "{}", right.body);

    // The throttle is the token endpoint's alone: a provider with a token is relayed as before.
    let consent = json!({"recipient": "+905321110001", "recipientType": "BIREYSEL", "type": "MESAJ",
                         "status": "ONAY", "source": "HS_WEB", "consentDate": consent_date()});
    let add = r.req(
        "POST",
        "/sps/600001/brands/600001/consents",
        &[("Authorization", &format!("Bearer {access}")), ("Content-Type", "application/json")],
        Some(&consent.to_string()),
    );
    assert_eq!(add.status, 200, "{}", add.body);

    // Every attempt is on the ledger, the refusals with their outcome, no password in it.
    let ex = r.admin("GET", "/admin/ledger/export?after=0&limit=5000", None);
    assert_eq!(ex.status, 200, "{}", ex.body);
    let rows: Vec<Value> = ex.body.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let outcomes = |o: &str| rows.iter().filter(|row| row["kind"] == "inbound:token" && row["outcome"] == o).count();
    assert_eq!(outcomes("429 request/rate-limited"), 2, "the two refusals");
    assert_eq!(outcomes("401 auth/bad-credentials") + outcomes("200"), answered, "the answered attempts");
    assert!(!ex.body.contains(pass) && !ex.body.contains("not-the-password"), "a password in the ledger");
    let v = r.admin("GET", "/admin/ledger/verify", None).json();
    assert_eq!(v["ok"], true, "{v}");
}
