//! Runs every case of the shared fixture corpus (`tests/fixtures/*.json`) natively.

use std::collections::BTreeSet;

use iys_core::Code;
use iys_tests::fixture::{check, fixtures_dir, load_dir, Kind};

#[test]
fn every_fixture_case_passes() {
    let cases = load_dir(&fixtures_dir()).expect("fixtures load");
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(problems) = check(case) {
            failures.push(format!("{}\n{problems}", case.id()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn corpus_is_large_and_covers_every_consent_batch_and_json_code() {
    let cases = load_dir(&fixtures_dir()).expect("fixtures load");
    assert!(cases.len() >= 120, "only {} cases", cases.len());
    for kind in [Kind::Consent, Kind::Batch, Kind::Recipient] {
        assert!(cases.iter().any(|c| c.kind == kind), "no {kind:?} case");
    }
    let used: BTreeSet<&str> = cases.iter().flat_map(|c| c.diagnostics.iter().map(|d| d.code.as_str())).collect();
    for code in &used {
        assert!(code.parse::<Code>().is_ok(), "fixture names unknown code {code}");
    }
    let must: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| c.from_validation())
        .map(|c| c.as_str())
        .filter(|s| s.starts_with("consent/") || s.starts_with("batch/"))
        .chain(["request/invalid-json", "request/json-too-deep", "recipient/empty", "recipient/normalized"])
        .chain(["recipient/phone-not-wire-form", "recipient/phone-not-mobile", "recipient/email-not-wire-form"])
        .chain(["recipient/phone-non-geographic"])
        .collect();
    let missing: Vec<&&str> = must.iter().filter(|c| !used.contains(**c)).collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}
