//! Generated files. Each generator returns the full text of one committed file; `cargo xtask
//! codegen` writes them and `cargo xtask codegen --check` fails when one is stale.
//!
//! # `crates/iys-core/src/recipient/phone_tables.rs`
//!
//! libphonenumber's Turkish metadata (from the `phonenumber` crate's database) compiled into
//! plain tables, so that `iys-core` judges numbers without `phonenumber` or `regex` at run time:
//!
//! - every type's national-number pattern (fixed line, mobile, …) and the general pattern
//!   become one anchored multi-pattern DFA over the ten digits (`regex-automata`,
//!   `MatchKind::All`); the reachable part is read back digit by digit, with the end-of-input
//!   transition telling which patterns match a number that ends in a state;
//! - that automaton is minimised (Moore partition refinement) with every state from which no
//!   pattern can match merged into state 0, so "dead" is a single test at run time;
//! - each type's possible lengths become a bit mask. libphonenumber's build tool gives the
//!   general description the union of the types' lengths; the crate leaves it empty, so we
//!   compute the union here;
//! - the country calling codes in the database become a bit set (for "this is +44, not +90").

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;

use phonenumber::metadata::Descriptor;
use regex_automata::dfa::StartKind;
use regex_automata::dfa::{dense, Automaton};
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};

/// The types in the order of `iys_core::recipient::PhoneType`'s table index, then the general
/// description. The names are only used in comments.
const KINDS: [&str; 11] = [
    "fixed-line",
    "mobile",
    "toll-free",
    "premium-rate",
    "shared-cost",
    "personal-number",
    "voip",
    "pager",
    "uan",
    "voicemail",
    "general",
];

/// The full text of `crates/iys-core/src/recipient/phone_tables.rs`.
pub fn phone_tables() -> String {
    match build_phone_tables() {
        Ok(text) => text,
        // A generator failure is a bug in this file or in the metadata; fail loudly.
        Err(e) => panic!("phone_tables: {e}"),
    }
}

fn descriptors(meta: &phonenumber::Metadata) -> [Option<&Descriptor>; 11] {
    let d = meta.descriptors();
    [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
        Some(d.general()),
    ]
}

/// The pattern as written in the metadata, minus the layout whitespace (the crate compiles
/// them with `ignore_whitespace`; the TR patterns have no escaped blanks).
fn compact(pattern: &str) -> String {
    pattern.chars().filter(|c| !c.is_whitespace()).collect()
}

fn build_phone_tables() -> Result<String, String> {
    let db = &*phonenumber::metadata::DATABASE;
    let meta = db.by_id("TR").ok_or("no TR metadata")?;
    if meta.country_code() != 90 || meta.national_prefix() != Some("0") {
        return Err("unexpected TR country code or national prefix".into());
    }
    if meta.international_prefix().map(|r| r.as_str()) != Some("00") {
        return Err("unexpected TR international prefix (the parser hard-codes 00)".into());
    }
    if meta.national_prefix_for_parsing().is_some() || meta.national_prefix_transform_rule().is_some() {
        return Err("TR now has a national-prefix-for-parsing rule; the parser must learn it".into());
    }
    let descs = descriptors(meta);

    // Patterns: a type without a descriptor gets a pattern that never matches.
    let mut patterns = Vec::new();
    let mut sources = Vec::new();
    for d in descs {
        match d {
            Some(d) => {
                let p = compact(d.national_number().as_str());
                patterns.push(format!(r"(?:{p})\z"));
                sources.push(Some(p));
            }
            None => {
                patterns.push(r"[^\s\S]".to_owned());
                sources.push(None);
            }
        }
    }

    // Possible lengths; the general description gets the union of the types'.
    let mut lengths = [0u32; 11];
    for (i, d) in descs.iter().enumerate().take(10) {
        if let Some(d) = d {
            for &n in d.possible_length() {
                if n >= 32 {
                    return Err(format!("possible length {n} does not fit the mask"));
                }
                lengths[i] |= 1 << n;
            }
            if !d.possible_local_length().is_empty() {
                return Err("TR has local-only lengths now; the matcher must learn them".into());
            }
        }
    }
    lengths[10] = lengths[..10].iter().fold(0, |a, b| a | b);

    let dfa = dense::Builder::new()
        .configure(dense::Config::new().match_kind(MatchKind::All).start_kind(StartKind::Anchored).minimize(false))
        .syntax(regex_automata::util::syntax::Config::new().unicode(false).utf8(false))
        .build_many(&patterns)
        .map_err(|e| format!("dfa: {e}"))?;
    let start = dfa.start_state(&start::Config::new().anchored(Anchored::Yes)).map_err(|e| format!("start: {e}"))?;

    // Read back the reachable part over the ten digits.
    let mut index: HashMap<_, usize> = HashMap::new();
    let mut order = Vec::new();
    let mut queue = VecDeque::new();
    index.insert(start, 0);
    order.push(start);
    queue.push_back(start);
    let mut next: Vec<[usize; 10]> = Vec::new();
    let mut accept: Vec<u16> = Vec::new();
    while let Some(s) = queue.pop_front() {
        let mut row = [0usize; 10];
        for (d, slot) in row.iter_mut().enumerate() {
            let t = dfa.next_state(s, b'0' + d as u8);
            let id = match index.get(&t) {
                Some(&id) => id,
                None => {
                    let id = order.len();
                    index.insert(t, id);
                    order.push(t);
                    queue.push_back(t);
                    id
                }
            };
            *slot = id;
        }
        let eoi = dfa.next_eoi_state(s);
        let mut mask = 0u16;
        if dfa.is_match_state(eoi) {
            for i in 0..dfa.match_len(eoi) {
                mask |= 1 << dfa.match_pattern(eoi, i).as_usize();
            }
        }
        next.push(row);
        accept.push(mask);
    }

    let (start, next, accept) = minimize(0, &next, &accept);
    if next.len() > 256 {
        return Err(format!("{} states do not fit in u8", next.len()));
    }

    let mut codes = [0u8; 125];
    let mut code_list = BTreeSet::new();
    for m in db.iter() {
        code_list.insert(m.country_code());
    }
    for &c in &code_list {
        let c = usize::from(c);
        if c >= 1000 {
            return Err(format!("country code {c} has more than three digits"));
        }
        codes[c / 8] |= 1 << (c % 8);
    }

    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "// @generated by cargo xtask codegen — do not edit");
    let _ = writeln!(w, "//! Turkish number ranges, compiled from libphonenumber's TR metadata as shipped in the");
    let _ = writeln!(w, "//! `phonenumber` crate (see `crates/xtask/src/codegen.rs`). Patterns, as full matches:");
    let _ = writeln!(w, "//!");
    for (i, (kind, src)) in KINDS.iter().zip(&sources).enumerate() {
        let lens: Vec<String> = (0..32).filter(|n| lengths[i] & (1 << n) != 0).map(|n| n.to_string()).collect();
        match src {
            Some(p) => {
                let _ = writeln!(w, "//! - bit {i:2} {kind} (lengths {}): `{p}`", lens.join(","));
            }
            None => {
                let _ = writeln!(w, "//! - bit {i:2} {kind}: none");
            }
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "/// Bit of the general description in [`ACCEPT`] and [`LENGTHS`].");
    let _ = writeln!(w, "pub(super) const GENERAL: usize = 10;");
    let _ = writeln!(w, "/// The state before any digit. State 0 is dead: no pattern can match any more.");
    let _ = writeln!(w, "pub(super) const START: u8 = {start};");
    let _ = writeln!(w, "/// `NEXT[state][digit]`: the state after one more digit.");
    let _ = writeln!(w, "pub(super) static NEXT: [[u8; 10]; {}] = [", next.len());
    for row in &next {
        let cells: Vec<String> = row.iter().map(|s| s.to_string()).collect();
        let _ = writeln!(w, "    [{}],", cells.join(", "));
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(w, "/// `ACCEPT[state]`: the patterns (bits as above) that match the digits read so far.");
    let accepts: Vec<String> = accept.iter().map(|m| format!("{m:#x}")).collect();
    let _ = writeln!(w, "pub(super) static ACCEPT: [u16; {}] = [{}];", accept.len(), accepts.join(", "));
    let _ = writeln!(w, "/// `LENGTHS[bit]`: bit `n` set when `n` digits is a possible length for that pattern.");
    let lens: Vec<String> = lengths.iter().map(|m| format!("{m:#x}")).collect();
    let _ = writeln!(w, "pub(super) static LENGTHS: [u32; 11] = [{}];", lens.join(", "));
    let _ = writeln!(w, "/// Country calling codes in use (bit `c % 8` of byte `c / 8`), {} codes.", code_list.len());
    let bytes: Vec<String> = codes.iter().map(|b| format!("{b:#x}")).collect();
    let _ = writeln!(w, "pub(super) static COUNTRY_CODES: [u8; 125] = [{}];", bytes.join(", "));
    Ok(out)
}

/// Moore minimisation of a complete DFA over ten digits whose states are labelled by their
/// accept masks. States from which no accepting state is reachable become state 0; the other
/// classes are numbered in breadth-first order from the start, so the output is deterministic.
/// Returns (start, transitions, accept masks).
fn minimize(start: usize, next: &[[usize; 10]], accept: &[u16]) -> (usize, Vec<[usize; 10]>, Vec<u16>) {
    let n = next.len();
    // Live = can reach an accepting state.
    let mut live: Vec<bool> = accept.iter().map(|&m| m != 0).collect();
    loop {
        let mut changed = false;
        for s in 0..n {
            if !live[s] && next[s].iter().any(|&t| live[t]) {
                live[s] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Initial partition: dead states together; live states by accept mask.
    let mut class: Vec<usize> = vec![0; n];
    let mut keys: HashMap<(bool, u16), usize> = HashMap::new();
    for s in 0..n {
        let key = (live[s], if live[s] { accept[s] } else { 0 });
        let len = keys.len();
        class[s] = *keys.entry(key).or_insert(len);
    }
    let mut count = keys.len();
    loop {
        let mut sigs: HashMap<(usize, [usize; 10]), usize> = HashMap::new();
        let mut refined = vec![0; n];
        for s in 0..n {
            let mut row = [0usize; 10];
            for (d, slot) in row.iter_mut().enumerate() {
                *slot = class[next[s][d]];
            }
            let len = sigs.len();
            refined[s] = *sigs.entry((class[s], row)).or_insert(len);
        }
        let new_count = sigs.len();
        class = refined;
        if new_count == count {
            break;
        }
        count = new_count;
    }
    // Renumber: the dead class is 0 (always present: the DFA is complete over a subset of
    // bytes and anchored patterns end), then breadth-first from the start.
    let dead_class = (0..n).find(|&s| !live[s]).map(|s| class[s]);
    let mut number: HashMap<usize, usize> = HashMap::new();
    let mut rep: Vec<usize> = vec![usize::MAX];
    if let Some(c) = dead_class {
        number.insert(c, 0);
    }
    let mut queue = VecDeque::new();
    if let std::collections::hash_map::Entry::Vacant(e) = number.entry(class[start]) {
        e.insert(rep.len());
        rep.push(start);
    }
    queue.push_back(start);
    let mut seen = vec![false; n];
    seen[start] = true;
    while let Some(s) = queue.pop_front() {
        for &t in &next[s] {
            if let std::collections::hash_map::Entry::Vacant(e) = number.entry(class[t]) {
                e.insert(rep.len());
                rep.push(t);
            }
            if !seen[t] && live[t] {
                seen[t] = true;
                queue.push_back(t);
            }
        }
    }
    let mut out_next = vec![[0usize; 10]; rep.len()];
    let mut out_accept = vec![0u16; rep.len()];
    for (id, &s) in rep.iter().enumerate().skip(1) {
        for d in 0..10 {
            out_next[id][d] = number.get(&class[next[s][d]]).copied().unwrap_or(0);
        }
        out_accept[id] = accept[s];
    }
    (number.get(&class[start]).copied().unwrap_or(0), out_next, out_accept)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn tables_path() -> PathBuf {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        here.join("../iys-core/src/recipient/phone_tables.rs")
    }

    /// The codegen check for the phone tables; `IYS_REGEN=1` rewrites the file instead.
    #[test]
    fn tables_are_fresh() {
        let text = super::phone_tables();
        let path = tables_path();
        if std::env::var_os("IYS_REGEN").is_some() {
            std::fs::write(&path, &text).expect("write phone_tables.rs");
            return;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == text,
            "{} is stale: run `cargo xtask codegen` (or IYS_REGEN=1 cargo test -p xtask)",
            path.display()
        );
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(super::phone_tables(), super::phone_tables());
    }
}
