//! Properties of the phone parser: it never panics, normalising is idempotent, and every
//! normalised value passes the strict (wire-form) check.

use iys_core::recipient::phone;
use iys_core::recipient::{Mode, Recipient};
use proptest::prelude::*;

/// The diagnostics other than the 850/800 warning, which every such number carries in both modes.
fn besides_non_geographic(r: &iys_core::diagnostic::Report<Recipient>) -> Vec<&str> {
    r.diagnostics.iter().map(|d| d.code.as_str()).filter(|c| *c != "recipient/phone-non-geographic").collect()
}

fn wire(input: &str) -> Option<String> {
    match phone::validate(input, Mode::Normalize).value {
        Some(Recipient::Phone(p)) => Some(p.e164().to_owned()),
        _ => None,
    }
}

/// Inputs that look like phone numbers: mostly a prefix, a number from a Turkish range with
/// separators, digits in another script now and then, and a suffix; otherwise random pieces.
fn phoneish() -> impl Strategy<Value = String> {
    prop_oneof![3 => written(), 1 => pieces()]
}

fn written() -> impl Strategy<Value = String> {
    let prefix =
        prop::sample::select(vec!["", "0", "+90", "+90 ", "0090 ", "00 90", "90", "tel:+90-", "\u{ff0b}90", " "]);
    let national = "5[0-9]{9}|212[0-9]{7}|444[0-9]{4}|850[0-9]{7}|800[0-9]{7,10}|8[0-9]{9}|9[0-9]{9}|[0-9]{6,12}";
    let seps = prop::collection::vec(
        prop::sample::select(vec!["", "", "", " ", "-", ".", "\u{a0}", "\u{2009}", "\u{200b}", "/", ")"]),
        14,
    );
    let suffix = prop::sample::select(vec!["", "", " ext. 12", " x9", ";ext=3", "#45", " dahili 7", "\u{202c}", " "]);
    let script = prop::sample::select(vec![0u32, 0, 0, 0x660, 0x6f0, 0xff10]);
    (prefix, national, seps, suffix, script).prop_map(|(prefix, national, seps, suffix, script)| {
        let mut out = prefix.to_owned();
        for (c, sep) in national.chars().zip(seps.iter().chain(std::iter::repeat(&""))) {
            match char::from_u32(script + (c as u32 - '0' as u32)) {
                Some(d) if script != 0 => out.push(d),
                _ => out.push(c),
            }
            out.push_str(sep);
        }
        out.push_str(suffix);
        out
    })
}

fn pieces() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[0-9]{1,4}",
        1 => Just("+90".to_owned()),
        1 => Just("0090".to_owned()),
        1 => Just("0".to_owned()),
        1 => Just("532".to_owned()),
        1 => Just("444".to_owned()),
        1 => "[ \\-./()\u{a0}\u{2009}\u{200b}\u{202a}\u{202c}+#;:=]",
        1 => "[\u{660}-\u{669}\u{6f0}-\u{6f9}\u{ff10}-\u{ff19}\u{ff0b}]",
        1 => prop_oneof![Just("tel:"), Just(" ext. "), Just(" x"), Just(";ext="), Just(" dahili "), Just("ab")].prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_any_string(s in "\\PC{0,40}") {
        let _ = phone::validate(&s, Mode::Normalize);
        let _ = phone::validate(&s, Mode::Strict);
    }

    #[test]
    fn never_panics_on_any_chars(s in ".{0,40}") {
        let _ = phone::validate(&s, Mode::Normalize);
        let _ = phone::validate(&s, Mode::Strict);
    }

    #[test]
    fn normalize_is_idempotent_and_strict_accepts_its_output(s in phoneish()) {
        let n = phone::validate(&s, Mode::Normalize);
        let strict = phone::validate(&s, Mode::Strict);
        if let Some(w) = wire(&s) {
            prop_assert!(n.is_ok());
            // normalize(wire) == wire, with no warning but the 850/800 one.
            let again = phone::validate(&w, Mode::Normalize);
            prop_assert_eq!(wire(&w), Some(w.clone()));
            prop_assert!(besides_non_geographic(&again).is_empty(), "{:?}", again.diagnostics);
            let non_geographic = w.starts_with("+90850") || w.starts_with("+90800");
            prop_assert_eq!(again.diagnostics.len(), usize::from(non_geographic), "{:?}", again.diagnostics);
            // The wire form passes Strict, and Strict accepts the input only if it is the wire form.
            let ok = phone::validate(&w, Mode::Strict);
            prop_assert!(ok.is_ok() && besides_non_geographic(&ok).is_empty(), "{:?}", ok.diagnostics);
            // The profile: +90 and 10 digits, the first 2-5, or 850/800 (so at most 13 characters).
            let national = w.strip_prefix("+90").unwrap_or_default();
            prop_assert!(national.len() == 10 && national.bytes().all(|b| b.is_ascii_digit()), "{}", w);
            prop_assert!(matches!(national.as_bytes()[0], b'2'..=b'5') || non_geographic, "{}", w);
            prop_assert_eq!(strict.is_ok(), s == w);
            if s != w {
                prop_assert_eq!(strict.diagnostics[0].code.as_str(), "recipient/phone-not-wire-form");
                prop_assert_eq!(strict.diagnostics[0].param("wire"), Some(w.as_str()));
            }
        } else {
            prop_assert!(!n.is_ok());
            prop_assert!(!strict.is_ok());
            // Both modes explain a failure the same way.
            prop_assert_eq!(n.diagnostics, strict.diagnostics);
        }
    }
}

/// The idempotence property is only worth something if many generated inputs parse.
#[test]
fn the_generator_makes_valid_numbers_often() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = phoneish();
    let mut valid = 0;
    for _ in 0..2000 {
        let Ok(tree) = strategy.new_tree(&mut runner) else { continue };
        if wire(&tree.current()).is_some() {
            valid += 1;
        }
    }
    assert!(valid >= 100, "only {valid} of 2000 generated inputs are valid numbers");
}
