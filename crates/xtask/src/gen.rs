//! A deterministic generator of realistic consent CSV files, for benchmarks of `iys check`.
//!
//! The file looks like a spreadsheet export: Excel's UTF-8 BOM, `;` separators, CRLF line ends,
//! a header of IYS field names. About 85 % of the rows are valid when checked with
//! `--now` [`REFERENCE_NOW`] (consent dates fall in the 3 business days before it); many of the
//! valid ones are written the human way (`0532 123 45 67`) and are normalised by `iys check`;
//! the rest carry the mistakes real exports have (dates before 2015, impossible dates, a wrong
//! date format, letters in phone numbers, Turkish letters in e-mail addresses, `RED` for `RET`,
//! an e-mail recipient for a call consent, …). A few rows repeat an earlier recipient, so
//! `iys batch` has duplicates to find. Only std is used; the same seed gives the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The "now" the generated dates are relative to: pass it as `iys check --now`.
/// (A Wednesday with no Turkish public holiday in the week before.)
pub const REFERENCE_NOW: &str = "2025-11-19 12:00:00";

/// The header line, in the order IYS lists the fields.
pub const HEADER: &str = "recipientType;type;source;recipient;status;consentDate;retailerCode;retailerAccess";

/// xorshift64* — small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Never zero; spread the seed's bits.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const MOBILE_PREFIXES: [u16; 24] = [
    501, 505, 506, 507, 530, 531, 532, 533, 534, 535, 536, 537, 538, 539, 541, 542, 543, 544, 545, 546, 551, 552, 553,
    555,
];
const LANDLINE_PREFIXES: [u16; 6] = [212, 216, 232, 312, 322, 242];
const SOURCES: [&str; 10] = [
    "HS_WEB",
    "HS_FIZIKSEL_ORTAM",
    "HS_ISLAK_IMZA",
    "HS_CAGRI_MERKEZI",
    "HS_SOSYAL_MEDYA",
    "HS_EPOSTA",
    "HS_MESAJ",
    "HS_MOBIL",
    "HS_EORTAM",
    "HS_ETKINLIK",
];
const FIRST: [&str; 12] =
    ["ali", "ayse", "mehmet", "fatma", "mustafa", "zeynep", "emre", "elif", "can", "deniz", "burak", "selin"];
const LAST: [&str; 10] = ["yilmaz", "kaya", "demir", "sahin", "celik", "yildiz", "aydin", "ozturk", "arslan", "dogan"];
const DOMAINS: [&str; 7] = [
    "example.com",
    "example.com.tr",
    "posta.example.org",
    "mail.example.net",
    "firma.example.tr",
    "example.co",
    "ornek.example",
];

/// A phone number written in one of the ways people write it.
fn phone(rng: &mut Rng, mobile: bool) -> String {
    let prefix =
        if mobile { MOBILE_PREFIXES[rng.below(24) as usize] } else { LANDLINE_PREFIXES[rng.below(6) as usize] };
    let sub = 1_000_000 + rng.below(9_000_000);
    let national = format!("{prefix}{sub:07}");
    let (a, b, c) = (&national[3..6], &national[6..8], &national[8..10]);
    match rng.below(10) {
        0..=3 => format!("+90{national}"),
        4 => format!("0{prefix} {a} {b} {c}"),
        5 => format!("0{prefix}{a}{b}{c}"),
        6 => format!("({prefix}) {a}-{b}-{c}"),
        7 => format!("+90 {prefix} {a} {b} {c}"),
        8 => format!("90{national}"),
        _ => format!("{prefix} {a} {b}{c}"),
    }
}

fn email(rng: &mut Rng) -> String {
    let first = rng.pick(&FIRST);
    let last = rng.pick(&LAST);
    let domain = rng.pick(&DOMAINS);
    let n = rng.below(1_000_000);
    match rng.below(4) {
        0 => format!("{first}.{last}{n}@{domain}"),
        1 => format!("{first}{n}@{domain}"),
        2 => format!("{first}_{last}.{n}@{domain}"),
        _ => format!("{first}.{last}{n}+kampanya@{domain}"),
    }
}

/// A date in the window before [`REFERENCE_NOW`] (a Wednesday noon): Monday 00:00 to Wednesday 11:59.
fn recent_date(rng: &mut Rng) -> String {
    let (month, rest) = REFERENCE_NOW.split_at(8); // "2025-11-", "19 12:00:00"
    let wednesday: u64 = rest.get(..2).and_then(|d| d.parse().ok()).unwrap_or(19);
    let secs = rng.below(2 * 86_400 + 12 * 3_600);
    let day = wednesday - 2 + secs / 86_400;
    let rest = secs % 86_400;
    format!("{month}{day:02} {:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60)
}

struct Row {
    recipient_type: &'static str,
    kind: &'static str,
    source: String,
    recipient: String,
    status: &'static str,
    date: String,
    retailer_code: String,
    retailer_access: String,
}

fn valid_row(rng: &mut Rng) -> Row {
    let kind = match rng.below(10) {
        0..=4 => "MESAJ",
        5..=6 => "ARAMA",
        _ => "EPOSTA",
    };
    let recipient = if kind == "EPOSTA" {
        email(rng)
    } else {
        {
            let mobile = rng.below(10) != 0;
            phone(rng, mobile)
        }
    };
    let tacir = rng.below(10) == 0;
    let mut row = Row {
        recipient_type: if tacir { "TACIR" } else { "BIREYSEL" },
        kind,
        source: rng.pick(&SOURCES).to_owned(),
        recipient,
        status: if rng.below(8) == 0 { "RET" } else { "ONAY" },
        date: recent_date(rng),
        retailer_code: String::new(),
        retailer_access: String::new(),
    };
    match rng.below(20) {
        // A new TACIR record may leave out source and date.
        0 if tacir => {
            row.source.clear();
            row.date.clear();
        }
        1 => {
            row.source = "HS_KARAR".to_owned();
            row.status = "RET";
        }
        2 | 3 => {
            row.retailer_code = (1000 + rng.below(90_000)).to_string();
            row.retailer_access = format!("{}|{}", 1000 + rng.below(500), 2000 + rng.below(500));
        }
        _ => {}
    }
    row
}

/// Turns a valid row into an invalid one, the way real exports go wrong.
fn spoil(rng: &mut Rng, row: &mut Row) {
    match rng.below(14) {
        0 => row.date = "1990-01-01 00:00:00".to_owned(),
        1 => row.date = "2025-02-30 10:00:00".to_owned(),
        2 => row.date = "18.11.2025 10:30".to_owned(),
        3 => row.date = "2025-11-18T10:30:00".to_owned(),
        4 => row.date = "2024-03-12 09:00:00".to_owned(), // far outside the window
        5 => row.date = "2026-01-05 10:00:00".to_owned(), // in the future
        6 => {
            row.kind = "MESAJ";
            row.recipient = format!("0532 ABC {:02} {:02}", rng.below(100), rng.below(100));
        }
        7 => {
            row.kind = "ARAMA";
            row.recipient = format!("0532 {}", 100 + rng.below(900));
        }
        8 => {
            row.kind = "EPOSTA";
            row.recipient = format!("{}şe.{}@örnek.com.tr", rng.pick(&FIRST), rng.pick(&LAST));
        }
        9 => {
            row.kind = "EPOSTA";
            row.recipient = format!("{}.{}.example.com", rng.pick(&FIRST), rng.pick(&LAST));
        }
        10 => row.status = "RED",
        11 => {
            row.kind = "ARAMA";
            row.recipient = email(rng);
        }
        12 => {
            row.recipient_type = "BIREYSEL";
            row.source.clear();
        }
        _ => {
            row.source = "HS_KARAR".to_owned();
            row.status = "ONAY";
        }
    }
}

/// Writes `rows` consent rows (plus the header) to `path`; the same `seed` gives the same file.
pub fn write_consents_csv(path: &Path, rows: u64, seed: u64) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    out.write_all(b"\xEF\xBB\xBF")?;
    out.write_all(HEADER.as_bytes())?;
    out.write_all(b"\r\n")?;
    let mut rng = Rng::new(seed);
    let mut previous: Option<(String, &'static str)> = None;
    for _ in 0..rows {
        let mut row = valid_row(&mut rng);
        let roll = rng.below(100);
        if roll < 14 {
            spoil(&mut rng, &mut row);
        } else if roll < 15 {
            // The same recipient and channel again (a duplicate for `iys batch`).
            if let Some((recipient, kind)) = &previous {
                row.recipient.clone_from(recipient);
                row.kind = kind;
                row.recipient_type = "BIREYSEL";
                if row.source.is_empty() {
                    row.source = "HS_WEB".to_owned();
                    row.date = recent_date(&mut rng);
                }
            }
        }
        writeln!(
            out,
            "{};{};{};{};{};{};{};{}\r",
            row.recipient_type,
            row.kind,
            row.source,
            row.recipient,
            row.status,
            row.date,
            row.retailer_code,
            row.retailer_access
        )?;
        previous = Some((row.recipient, row.kind));
    }
    out.flush()
}
