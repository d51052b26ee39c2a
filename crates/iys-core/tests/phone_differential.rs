//! Differential test: our Turkish phone parser against the `phonenumber` crate (libphonenumber
//! metadata) on 100,000 generated inputs written the ways people write numbers.
//!
//! The two read written input the same way but judge validity by different rules: we follow the
//! IYS spec's strict TR profile (`+90` and 10 digits, the first 2–5, or 850 / 800), libphonenumber
//! whitelists number blocks. So the verdicts must agree wherever the two rules agree by definition,
//! and the differences are asserted one by one:
//!
//! - **profile accepts, crate refuses**: 10-digit numbers starting 2–5 in blocks the metadata does
//!   not list (`+905992000000`, `+905813334455`, `+902111234567`). We must give exactly the number
//!   the crate reads from the same input, and the crate must refuse that number in its wire form
//!   too (so the difference is the block, not the reading).
//! - **crate accepts, profile refuses**: 444 xxxx (7 digits), 900/888/898 premium rate, 811, and
//!   800 numbers of 12–13 digits. We must refuse them, and the crate's number must be outside the
//!   profile.
//!
//! Every category must occur, so the test still fails if either side changes its rule. Other
//! documented categories, each asserted precisely instead of skipped:
//!
//! - **letters**: inputs with letters outside `tel:` and an extension marker. We reject them
//!   (`recipient/phone-letters`); the crate turns letters into keypad digits.
//! - **oracle input rewritten** (not a divergence, a way around crate limits, counted anyway):
//!   before the crate sees an input, Arabic-Indic, Persian and full-width digits become ASCII
//!   (libphonenumber reads them; the crate does not), zero-width and bidi marks are removed and
//!   every Unicode space becomes `' '` (libphonenumber's punctuation set lacks most of them; we
//!   drop them), the Turkish extension marker `dahili` becomes `ext`, and a leading `' '` keeps the
//!   crate on its natural-language parser for inputs that are not `tel:` URIs (without a blank
//!   the crate tries RFC 3966 first and reads `+90532-123…` as country code 90532).
//! - **+90 00**: after `+90` (or `0090`), a national part starting `00`. libphonenumber drops
//!   one national prefix `0` (what is left starts with `0` and is never valid); the crate drops
//!   two. We assert that we reject.
//!
//! `IYS_PHONE_DUMP=<file>` writes the corpus and our verdicts as JSON lines, for a one-off
//! comparison with another libphonenumber port outside this test (the last one, with
//! google-libphonenumber 3.x, predates the strict profile and so compared block lists).

use iys_core::recipient::phone::{self, is_invisible};
use iys_core::recipient::{Mode, Phone, Recipient};
use phonenumber::country::Id;

#[path = "support/xorshift.rs"]
mod xorshift;
use xorshift::Rng;

const AREA: &[&str] = &[
    "212", "216", "222", "224", "226", "228", "232", "236", "242", "246", "248", "252", "256", "258", "262", "264",
    "266", "272", "274", "276", "282", "284", "286", "288", "312", "318", "322", "324", "326", "328", "332", "338",
    "342", "344", "346", "348", "352", "354", "356", "358", "362", "364", "366", "368", "370", "372", "374", "376",
    "378", "380", "382", "384", "386", "388", "392", "412", "414", "416", "422", "424", "426", "428", "432", "434",
    "436", "438", "442", "446", "452", "454", "456", "458", "462", "464", "466", "472", "474", "476", "478", "482",
    "484", "486", "488",
];
const MOBILE: &[&str] = &[
    "501", "505", "506", "507", "530", "531", "532", "533", "534", "535", "536", "537", "538", "539", "541", "542",
    "543", "544", "545", "546", "549", "551", "552", "553", "554", "555", "559", "510", "516", "524", "562", "564",
    "572", "574", "575", "594", "596",
];
const BAD: &[&str] = &[
    "561", "123", "100", "111", "199", "600", "700", "777", "513", "560", "590", "599", "851", "801", "901", "999",
    "211", "200",
];
const FOREIGN: &[(&str, usize)] = &[
    ("1", 10),
    ("44", 10),
    ("49", 11),
    ("33", 9),
    ("7", 10),
    ("380", 9),
    ("994", 9),
    ("964", 10),
    ("31", 9),
    ("357", 8),
    ("98", 10),
    ("9", 9),
];

/// A national number (no prefix) and a label for the category counts.
fn national(rng: &mut Rng) -> (String, &'static str) {
    match rng.below(20) {
        0..=5 => (format!("{}{}", rng.pick(MOBILE), rng.digits(7)), "mobile"),
        6..=8 => (format!("{}{}", rng.pick(AREA), rng.digits(7)), "fixed"),
        9 => (format!("850{}", rng.digits(7)), "850"),
        10 => {
            let extra = rng.pick(&[0usize, 0, 2, 3]);
            (format!("800{}", rng.digits(7 + extra)), "800")
        }
        11 => (format!("444{}", rng.digits(4)), "444"),
        12 => (format!("{}{}", rng.pick(&["900", "888", "898"]), rng.digits(7)), "premium"),
        13 => {
            let n = match rng.below(4) {
                0 => format!("561011{}", rng.digits(4)),
                1 => format!("56161{}", rng.digits(5)),
                2 => format!("592{}{}", rng.pick(&["211", "212", "461"]), rng.digits(4)),
                _ => format!("{}{}", rng.pick(&["512", "811"]), rng.digits(7)),
            };
            (n, "special")
        }
        14..=15 => (format!("{}{}", rng.pick(BAD), rng.digits(7)), "bad-prefix"),
        16 => {
            let (n, _) = national(rng);
            let cut = 1 + rng.below(4);
            (n[..n.len().saturating_sub(cut)].to_owned(), "short")
        }
        17 => {
            let (n, _) = national(rng);
            let more = 1 + rng.below(4);
            (format!("{n}{}", rng.digits(more)), "long")
        }
        _ => {
            let len = 6 + rng.below(8);
            (rng.digits(len), "random")
        }
    }
}

/// Groups digits the way people do.
fn group(rng: &mut Rng, digits: &str, sep: &str) -> String {
    let sizes: &[usize] = match rng.below(4) {
        0 => &[digits.len()],
        1 => &[3, 3, 2, 2, 2, 2],
        2 => &[3, 3, 4, 4],
        _ => &[3, 4, 3],
    };
    let mut out = String::new();
    let mut rest = digits;
    for (i, &n) in sizes.iter().cycle().enumerate() {
        if rest.is_empty() {
            break;
        }
        let n = n.min(rest.len());
        if i > 0 {
            out.push_str(sep);
        }
        if i == 0 && rest.len() > 7 && rng.chance(15) {
            out.push('(');
            out.push_str(&rest[..n]);
            out.push(')');
        } else {
            out.push_str(&rest[..n]);
        }
        rest = &rest[n..];
    }
    out
}

fn script(rng: &mut Rng, s: &str) -> (String, bool) {
    let base = match rng.below(40) {
        0 => '\u{0660}',
        1 => '\u{06F0}',
        2 => '\u{FF10}',
        _ => return (s.to_owned(), false),
    };
    let mapped = s
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(u32::from(base) + (c as u32 - '0' as u32)).unwrap_or(c)
            } else {
                c
            }
        })
        .collect();
    (mapped, true)
}

/// One generated input.
struct Case {
    /// What was written.
    input: String,
    /// Letters were inserted (we reject those).
    letters: bool,
    /// The national digits as written after the country code or prefix (`0` included for the
    /// `+90 0` form); empty for foreign numbers.
    after_prefix: String,
    /// The prefix form (`+90`, `0090`, `90`, `0`, `bare`, `tel`, `foreign`, …).
    form: &'static str,
}

fn input(rng: &mut Rng, stats: &mut Stats) -> Case {
    let (input, letters, after_prefix, form) = write(rng, stats);
    Case { input, letters, after_prefix, form }
}

/// One written input: text, letters inserted, national digits after the prefix, form.
fn write(rng: &mut Rng, stats: &mut Stats) -> (String, bool, String, &'static str) {
    if rng.chance(4) {
        let (cc, len) = rng.pick(FOREIGN);
        let prefix = rng.pick(&["+", "00", "+ ", "00 "]);
        stats.bump("form:foreign");
        let digits = rng.digits(len);
        return (format!("{prefix}{cc} {}", group(rng, &digits, " ")), false, String::new(), "foreign");
    }
    let (nat, label) = national(rng);
    stats.bump(&format!("range:{label}"));
    if rng.chance(6) {
        // An RFC 3966 URI.
        let mut s = format!("tel:+90-{}", group(rng, &nat, "-"));
        if rng.chance(30) {
            let n = 1 + rng.below(4);
            s.push_str(&format!(";ext={}", rng.digits(n)));
        }
        stats.bump("form:tel");
        return (s, false, nat, "tel");
    }
    let sep = rng.pick(&[" ", " ", "", "-", ".", "/", "\u{a0}", "\u{2009}", "\u{202f}", " - ", "\u{2013}"]);
    let body = group(rng, &nat, sep);
    let (prefix, form) = rng.pick(&[
        ("+90 ", "+90"),
        ("+90", "+90"),
        ("+90 0", "+90 0"),
        ("0090 ", "0090"),
        ("00 90 ", "0090"),
        ("0090", "0090"),
        ("90", "90"),
        ("90 ", "90"),
        ("0", "0"),
        ("0 ", "0"),
        ("", "bare"),
        ("", "bare"),
        ("\u{ff0b}90 ", "+90"),
    ]);
    stats.bump(&format!("form:{form}"));
    let mut s = format!("{prefix}{body}");
    if rng.chance(5) {
        let n = 1 + rng.below(5);
        let ext = rng.digits(n);
        let marker = rng.pick(&[" ext. ", " ext ", " x", " #", " EXT:", " extension ", " dahili "]);
        s.push_str(&format!("{marker}{ext}"));
        stats.bump("ext");
    }
    let (s, other_script) = script(rng, &s);
    if other_script {
        stats.bump("unicode-digits");
    }
    let mut s = s;
    if rng.chance(5) {
        let mark = rng.pick(&["\u{202a}", "\u{200e}", "\u{200f}", "\u{feff}", "\u{2066}"]);
        let end = rng.pick(&["\u{202c}", "\u{200e}", "\u{2069}", "\u{200b}", ""]);
        s = format!("{mark}{s}{end}");
        stats.bump("bidi");
    }
    if rng.chance(3) {
        let at = s.char_indices().map(|(i, _)| i).nth(rng.below(s.chars().count().max(1))).unwrap_or(0);
        s.insert(at, '\u{200b}');
        stats.bump("zero-width-inside");
    }
    if rng.chance(3) {
        s = format!("  {s} ");
    }
    let letters = if rng.chance(2) {
        let at = s.char_indices().map(|(i, _)| i).nth(rng.below(s.chars().count().max(1))).unwrap_or(0);
        let letters = rng.pick(&["ab", "abc", "O", "l"]).to_string();
        s.insert_str(at, &letters);
        true
    } else {
        false
    };
    let after_prefix = if form == "+90 0" { format!("0{nat}") } else { nat };
    (s, letters, after_prefix, form)
}

/// What the crate is given for `s` (see the module docs).
fn oracle_input(s: &str) -> String {
    let mut t: String = s
        .chars()
        .filter(|&c| !is_invisible(c))
        .map(|c| match c {
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x660) as u8),
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x6F0) as u8),
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .collect();
    t = t.replace(" dahili ", " ext ");
    if t.trim_start().starts_with("tel:") {
        t.trim_start().to_owned()
    } else {
        format!(" {t}")
    }
}

/// The crate's verdict: E.164 when valid and Turkish.
fn crate_e164(s: &str) -> Option<String> {
    let n = phonenumber::parse(Some(Id::TR), s).ok()?;
    if !phonenumber::is_valid(&n) || n.country().id() != Some(Id::TR) {
        return None;
    }
    Some(n.format().mode(phonenumber::Mode::E164).to_string())
}

/// The number the crate reads from `s`, valid or not, when it is a +90 number.
fn crate_read(s: &str) -> Option<String> {
    let n = phonenumber::parse(Some(Id::TR), s).ok()?;
    (n.code().value() == 90).then(|| n.format().mode(phonenumber::Mode::E164).to_string())
}

/// The spec's strict TR profile, written out independently of the parser: `^\+90[0-9]{10}$` with
/// the first national digit 2–5, or 850 / 800.
fn in_profile(e164: &str) -> bool {
    let Some(national) = e164.strip_prefix("+90") else { return false };
    national.len() == 10
        && national.bytes().all(|b| b.is_ascii_digit())
        && (matches!(national.as_bytes()[0], b'2'..=b'5') || national.starts_with("850") || national.starts_with("800"))
}

fn ours(s: &str) -> Option<String> {
    let report = phone::validate(s, Mode::Normalize);
    // The lean `Phone::parse` is the same parser without diagnostics: same number and type, or the
    // code of the error `validate` reports.
    let lean = Phone::parse(s);
    match (&report.value, &lean) {
        (Some(Recipient::Phone(p)), Ok(q)) => assert_eq!(p, q, "{s:?}: Phone::parse differs from validate"),
        (None, Err(code)) => {
            let first = report.errors().next().map(|d| d.code);
            assert_eq!(first, Some(*code), "{s:?}: Phone::parse error differs from validate's");
        }
        _ => panic!("{s:?}: validate {report:?}, Phone::parse {lean:?}"),
    }
    match report.value {
        Some(Recipient::Phone(p)) => Some(p.e164().to_owned()),
        _ => None,
    }
}

#[derive(Default)]
struct Stats(std::collections::BTreeMap<String, usize>);

impl Stats {
    fn bump(&mut self, key: &str) {
        *self.0.entry(key.to_owned()).or_default() += 1;
    }
}

#[test]
fn agrees_with_libphonenumber_metadata() {
    const N: usize = 100_000;
    let started = std::time::Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut stats = Stats::default();
    let mut mismatches = Vec::new();
    // `IYS_PHONE_DUMP=<file>` writes every input with our verdict as JSON lines, for a
    // comparison with another libphonenumber port outside this test.
    let mut dump = std::env::var_os("IYS_PHONE_DUMP").map(|_| String::new());
    for _ in 0..N {
        let case = input(&mut rng, &mut stats);
        let s = case.input.as_str();
        let got = ours(s);
        if let Some(d) = dump.as_mut() {
            let json = |v: &str| {
                v.chars()
                    .map(|c| {
                        if c == '"' || c == '\\' || c.is_control() {
                            format!("\\u{:04x}", c as u32)
                        } else {
                            c.to_string()
                        }
                    })
                    .collect::<String>()
            };
            d.push_str(&format!(
                "{{\"input\":\"{}\",\"ours\":\"{}\",\"letters\":{}}}\n",
                json(s),
                json(got.as_deref().unwrap_or("")),
                case.letters
            ));
        }
        if case.letters {
            stats.bump("excluded:letters");
            let r = phone::validate(s, Mode::Normalize);
            assert!(r.diagnostics.iter().any(|d| d.code.as_str() == "recipient/phone-letters"), "{s:?}: {r:?}");
            continue;
        }
        let oracle = oracle_input(s);
        if oracle != s {
            stats.bump("oracle-input-rewritten");
        }
        // `+90 00…`: libphonenumber drops one national prefix, the crate two.
        let international = matches!(case.form, "+90" | "+90 0" | "0090" | "tel");
        if international && case.after_prefix.starts_with("00") {
            stats.bump("divergence:+90-00");
            assert_eq!(got, None, "{s:?}: a national number starting with 0 is never valid");
            continue;
        }
        let want = crate_e164(&oracle);
        let verdict = match (&got, &want) {
            (Some(g), Some(w)) if g == w => Ok("valid"),
            (None, None) => Ok("invalid"),
            // The profile takes a number outside the metadata's blocks: the crate read the same
            // number from the input and refuses it in its wire form too.
            (Some(g), None) => {
                if in_profile(g) && !g.starts_with("+908") && crate_read(&oracle).as_ref() == Some(g) {
                    assert_eq!(crate_e164(&format!(" {g}")), None, "{s:?}");
                    Ok("divergence:profile-accepts")
                } else {
                    Err(())
                }
            }
            // The metadata takes a number the profile refuses.
            (None, Some(w)) if !in_profile(w) => Ok(match w.get(3..6) {
                Some("444") if w.len() == 10 => "divergence:crate-accepts-444",
                Some("900" | "888" | "898") => "divergence:crate-accepts-premium",
                Some("811") => "divergence:crate-accepts-811",
                Some("800") if w.len() > 13 => "divergence:crate-accepts-800-long",
                _ => "divergence:crate-accepts-other",
            }),
            _ => Err(()),
        };
        match verdict {
            Ok(label) => stats.bump(label),
            Err(()) => mismatches.push(format!("{s:?} (oracle {oracle:?}): ours {got:?}, crate {want:?}")),
        }
    }
    if let (Some(path), Some(d)) = (std::env::var_os("IYS_PHONE_DUMP"), dump) {
        std::fs::write(path, d).expect("write the dump");
    }
    for (k, v) in &stats.0 {
        println!("{k:>28}: {v}");
    }
    println!("{N} inputs in {:.2} s, {} mismatches", started.elapsed().as_secs_f64(), mismatches.len());
    for m in mismatches.iter().take(40) {
        println!("  {m}");
    }
    assert!(mismatches.is_empty(), "{} mismatches", mismatches.len());
    // Both rules at work: plenty of agreement both ways, and every documented difference seen.
    for key in ["valid", "invalid", "divergence:profile-accepts"] {
        assert!(stats.0.get(key).copied().unwrap_or(0) > 1_000, "{key}: {:?}", stats.0.get(key));
    }
    for key in ["444", "premium", "811", "800-long"] {
        let key = format!("divergence:crate-accepts-{key}");
        assert!(stats.0.get(&key).copied().unwrap_or(0) > 100, "{key}: {:?}", stats.0.get(&key));
    }
    assert_eq!(stats.0.get("divergence:crate-accepts-other"), None, "a difference nobody documented");
}
