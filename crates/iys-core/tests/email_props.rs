//! E-mail properties, with the `email_address` crate as an oracle: we may be stricter (IYS is), never
//! looser. Every address we accept must also pass `email_address` with at least two domain labels and
//! no domain literals.

use email_address::{EmailAddress, Options};
use iys_core::recipient::email::validate;
use iys_core::recipient::{Mode, Recipient};
use proptest::prelude::*;

fn oracle_accepts(s: &str) -> bool {
    let options = Options { minimum_sub_domains: 2, allow_domain_literal: false, ..Options::default() };
    EmailAddress::parse_with_options(s, options).is_ok()
}

fn wire(s: &str, mode: Mode) -> Option<String> {
    validate(s, mode).value.as_ref().map(|r| r.wire().to_owned())
}

/// Invariants that hold for every input, valid or not.
fn check_invariants(s: &str) -> Result<(), TestCaseError> {
    for mode in [Mode::Strict, Mode::Normalize] {
        let r = validate(s, mode);
        let mut codes: Vec<_> = r.diagnostics.iter().map(|d| d.code).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        prop_assert_eq!(codes.len(), n, "one diagnostic per code for {:?}", s);
        prop_assert!(r.diagnostics.iter().all(|d| d.path.is_empty()));
        prop_assert_eq!(r.value.is_some(), r.is_ok(), "value iff no error for {:?}", s);
        if let Some(Recipient::Email(e)) = &r.value {
            let w = e.as_str();
            prop_assert!(oracle_accepts(w), "we accept {:?} ({:?}) but email_address does not", w, mode);
            prop_assert!(w.is_ascii() && w.len() <= 254);
            prop_assert_eq!(e.canonical(), w.to_ascii_lowercase());
            // The wire form is a fixed point: judged strictly it passes with nothing to say.
            let again = validate(w, Mode::Strict);
            prop_assert!(again.is_ok() && again.diagnostics.is_empty(), "{:?} -> {:?}", w, again.diagnostics);
            let again = validate(w, Mode::Normalize);
            prop_assert!(again.is_ok() && again.diagnostics.is_empty(), "{:?} -> {:?}", w, again.diagnostics);
        }
    }
    // Strict acceptance implies the same Normalize result, with no warning.
    if let Some(w) = wire(s, Mode::Strict) {
        let r = validate(s, Mode::Normalize);
        prop_assert_eq!(r.value.as_ref().map(|v| v.wire().to_owned()), Some(w));
        prop_assert!(r.diagnostics.is_empty());
    }
    Ok(())
}

/// Address-like strings: mostly the right alphabet, with a sprinkling of what IYS forbids.
fn address_like() -> impl Strategy<Value = String> {
    let local = prop_oneof![
        4 => "[A-Za-z0-9+_-]{1,12}(\\.[A-Za-z0-9+_-]{1,12}){0,3}",
        1 => "[A-Za-z0-9._+'\"!#%&(){}\\[\\] ü-]{0,70}",
        1 => "[a]{60,70}",
    ];
    let label = prop_oneof![
        6 => "[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?",
        1 => "xn--[a-z0-9]{1,10}",
        1 => "[A-Za-z0-9_+ö-]{0,8}",
        1 => "[b]{60,66}",
    ];
    let tld = prop_oneof![4 => "[A-Za-z]{2,6}", 1 => "[A-Za-z0-9-]{0,4}", 1 => Just(String::new())];
    let at = prop_oneof![8 => Just("@"), 1 => Just(""), 1 => Just("@@"), 1 => Just("＠")];
    let blank = prop_oneof![6 => Just(""), 1 => Just(" "), 1 => Just("\u{200b}"), 1 => Just("\u{a0}"), 1 => Just("\t")];
    (blank.clone(), local, at, prop::collection::vec(label, 0..5), tld, prop::bool::ANY, blank).prop_map(
        |(pre, local, at, labels, tld, trailing_dot, post)| {
            let mut domain = labels.join(".");
            if !domain.is_empty() {
                domain.push('.');
            }
            domain.push_str(&tld);
            if trailing_dot {
                domain.push('.');
            }
            format!("{pre}{local}{at}{domain}{post}")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn accepted_addresses_pass_the_oracle(s in address_like()) {
        check_invariants(&s)?;
    }

    #[test]
    fn well_formed_addresses_are_accepted(
        local in "[A-Za-z0-9+_-]{1,20}(\\.[A-Za-z0-9+_-]{1,20}){0,2}",
        labels in prop::collection::vec("[A-Za-z0-9]{2}([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", 1..4),
        tld in "[A-Za-z]{2,10}",
    ) {
        let s = format!("{local}@{}.{tld}", labels.join("."));
        prop_assert_eq!(wire(&s, Mode::Strict), Some(s.clone()));
        prop_assert!(oracle_accepts(&s));
    }

    #[test]
    fn no_input_panics(s in "\\PC{0,80}") {
        check_invariants(&s)?;
    }

    #[test]
    fn no_input_panics_any_chars(s in ".{0,300}") {
        check_invariants(&s)?;
    }
}

#[test]
fn anchors_tricky_cases_against_the_oracle() {
    let local64 = "a".repeat(64);
    let local65 = "a".repeat(65);
    let label63 = "b".repeat(63);
    let label64 = "b".repeat(64);
    let long249 = format!("{local64}@{}.{}.{}.com", "c".repeat(63), "d".repeat(63), "e".repeat(52));
    assert_eq!(long249.len(), 249);
    let cases: Vec<(String, bool)> = vec![
        ("user@ex..com".into(), false),
        ("user@xn--bcher-kva.example".into(), true),
        ("ü@örnek.com.tr".into(), false),
        ("a@b".into(), false),
        ("user@örnek.com.tr".into(), false),
        ("User.Name+tag@Example.COM".into(), true),
        ("user@example.com.".into(), false),
        (".user@example.com".into(), false),
        ("us..er@example.com".into(), false),
        ("user.@example.com".into(), false),
        ("\"quoted local\"@example.com".into(), false),
        ("user@[192.168.1.1]".into(), false),
        ("user@192.168.1.1".into(), false),
        ("user@localhost".into(), false),
        (format!("{local64}@example.com"), true),
        (format!("{local65}@example.com"), false),
        ("user@-example.com".into(), false),
        ("user@example-.com".into(), false),
        ("user name@example.com".into(), false),
        ("user@example.c".into(), false),
        ("user@example.com ".into(), false),
        (" user@example.com".into(), false),
        (format!("user@{label63}.com"), true),
        (format!("user@{label64}.com"), false),
        (long249, true),
        ("user@exam_ple.com".into(), false),
        ("user+@example.com".into(), true),
        ("o'neil@example.ie".into(), false),
    ];
    for (s, want) in &cases {
        assert_eq!(validate(s, Mode::Strict).is_ok(), *want, "{s:?}");
        if *want {
            assert!(oracle_accepts(s), "{s:?}");
        }
        check_invariants(s).expect("invariants");
    }
}

/// The address-like generator reaches both sides of the rule, so the oracle property means something.
#[test]
fn generator_covers_valid_and_invalid() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = address_like();
    let (mut ok, mut normalized, total) = (0, 0, 2000);
    for _ in 0..total {
        let s = strategy.new_tree(&mut runner).expect("value").current();
        let r = validate(&s, Mode::Normalize);
        if r.is_ok() {
            ok += 1;
            if !r.diagnostics.is_empty() {
                normalized += 1;
            }
        }
    }
    assert!(ok > total / 10 && ok < total * 9 / 10, "{ok} of {total} accepted");
    assert!(normalized > 0, "{normalized} normalized");
}
