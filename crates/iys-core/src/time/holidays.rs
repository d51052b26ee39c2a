//! Turkish public holidays ("resmî tatil", Law 2429 on national and general holidays).
//!
//! Two kinds:
//! - **Fixed national holidays**, the same date every year: 1 January, 23 April, 1 May, 19 May,
//!   15 July (from 2017), 30 August and 29 October.
//! - **Religious holidays** that follow the Hijri calendar and move about 11 days earlier each Gregorian
//!   year: Ramazan Bayramı (3 days) and Kurban Bayramı (4 days). Their first days come from
//!   [`RAMAZAN_BAYRAMI`] and [`KURBAN_BAYRAMI`], the dates of the Diyanet İşleri Başkanlığı calendar, for
//!   [`FIRST_TABLE_YEAR`]..=[`LAST_TABLE_YEAR`]. Outside those years only the fixed holidays are known.
//!
//! What is **not** a holiday here, on purpose:
//! - **Arife** (the eve of each Bayram) and 28 October are half-days: offices close at 13:00. They count as
//!   business days, because consents are collected and recorded during the morning.
//! - Extra days off the government sometimes grants around a Bayram ("idari izin", bridging to a 9-day
//!   break) are administrative leave for public servants, announced each year; they are not public
//!   holidays and are not modelled.
//!
//! ```
//! use iys_core::time::holidays::{holiday_name, is_public_holiday};
//! assert!(is_public_holiday(2024, 4, 10)); // Ramazan Bayramı, day 1
//! assert!(!is_public_holiday(2024, 4, 9)); // arife: a half-day, still a business day
//! assert_eq!(holiday_name(2024, 6, 19), Some("Kurban Bayramı"));
//! ```

use super::{days_from_civil, is_valid_date};

/// The first year of the Bayram tables.
pub const FIRST_TABLE_YEAR: i32 = 2015;
/// The last year of the Bayram tables.
pub const LAST_TABLE_YEAR: i32 = 2035;

/// First days of Ramazan Bayramı (Eid al-Fitr), `(year, month, day)`, Diyanet calendar. 3 days each.
/// 2033 has two: the Hijri year is shorter than the Gregorian one.
pub const RAMAZAN_BAYRAMI: &[(i32, u8, u8)] = &[
    (2015, 7, 17),
    (2016, 7, 5),
    (2017, 6, 25),
    (2018, 6, 15),
    (2019, 6, 4),
    (2020, 5, 24),
    (2021, 5, 13),
    (2022, 5, 2),
    (2023, 4, 21),
    (2024, 4, 10),
    (2025, 3, 30),
    (2026, 3, 20),
    (2027, 3, 9),
    (2028, 2, 26),
    (2029, 2, 14),
    (2030, 2, 4),
    (2031, 1, 24),
    (2032, 1, 14),
    (2033, 1, 2),
    (2033, 12, 23),
    (2034, 12, 12),
    (2035, 12, 1),
];

/// First days of Kurban Bayramı (Eid al-Adha), `(year, month, day)`, Diyanet calendar. 4 days each.
pub const KURBAN_BAYRAMI: &[(i32, u8, u8)] = &[
    (2015, 9, 24),
    (2016, 9, 12),
    (2017, 9, 1),
    (2018, 8, 21),
    (2019, 8, 11),
    (2020, 7, 31),
    (2021, 7, 20),
    (2022, 7, 9),
    (2023, 6, 28),
    (2024, 6, 16),
    (2025, 6, 6),
    (2026, 5, 27),
    (2027, 5, 16),
    (2028, 5, 5),
    (2029, 4, 24),
    (2030, 4, 13),
    (2031, 4, 2),
    (2032, 3, 22),
    (2033, 3, 11),
    (2034, 3, 1),
    (2035, 2, 18),
];

/// Length of Ramazan Bayramı in days.
const RAMAZAN_DAYS: i64 = 3;
/// Length of Kurban Bayramı in days.
const KURBAN_DAYS: i64 = 4;

/// The Turkish name of the public holiday on a date, or `None` for an ordinary day (or a date that
/// does not exist).
///
/// ```
/// use iys_core::time::holidays::holiday_name;
/// assert_eq!(holiday_name(2023, 10, 29), Some("Cumhuriyet Bayramı"));
/// assert_eq!(holiday_name(2016, 7, 15), None); // 15 July is a holiday from 2017
/// assert_eq!(holiday_name(2017, 7, 15), Some("Demokrasi ve Millî Birlik Günü"));
/// ```
// Inlined into `is_public_holiday`, which then needs none of the names (the wasm build never names one).
#[inline]
pub fn holiday_name(year: i32, month: u8, day: u8) -> Option<&'static str> {
    if !is_valid_date(year, month, day) {
        return None;
    }
    let fixed = match (month, day) {
        (1, 1) => Some("Yılbaşı"),
        (4, 23) => Some("Ulusal Egemenlik ve Çocuk Bayramı"),
        (5, 1) => Some("Emek ve Dayanışma Günü"),
        (5, 19) => Some("Atatürk'ü Anma, Gençlik ve Spor Bayramı"),
        (7, 15) if year >= 2017 => Some("Demokrasi ve Millî Birlik Günü"),
        (8, 30) => Some("Zafer Bayramı"),
        (10, 29) => Some("Cumhuriyet Bayramı"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let n = days_from_civil(year, month, day);
    if in_table(RAMAZAN_BAYRAMI, RAMAZAN_DAYS, n) {
        return Some("Ramazan Bayramı");
    }
    if in_table(KURBAN_BAYRAMI, KURBAN_DAYS, n) {
        return Some("Kurban Bayramı");
    }
    None
}

/// Whether a date is a Turkish public holiday (see the module docs for what counts).
///
/// ```
/// use iys_core::time::holidays::is_public_holiday;
/// assert!(is_public_holiday(2025, 1, 1));
/// assert!(is_public_holiday(2033, 12, 25)); // the second Ramazan Bayramı of 2033
/// assert!(!is_public_holiday(2025, 10, 28)); // a half-day
/// ```
pub fn is_public_holiday(year: i32, month: u8, day: u8) -> bool {
    holiday_name(year, month, day).is_some()
}

/// Whether day number `n` falls within `len` days of a first day in `table`.
fn in_table(table: &[(i32, u8, u8)], len: i64, n: i64) -> bool {
    table.iter().any(|&(y, m, d)| {
        let first = days_from_civil(y, m, d);
        (first..first + len).contains(&n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_real_sorted_dates_within_their_years() {
        for table in [RAMAZAN_BAYRAMI, KURBAN_BAYRAMI] {
            let days: Vec<i64> = table.iter().map(|&(y, m, d)| days_from_civil(y, m, d)).collect();
            for &(y, m, d) in table {
                assert!(is_valid_date(y, m, d), "{y}-{m}-{d}");
                assert!((FIRST_TABLE_YEAR..=LAST_TABLE_YEAR).contains(&y));
            }
            // Consecutive Bayrams of one kind are one Hijri year apart: 354 or 355 days.
            for w in days.windows(2) {
                assert!(matches!(w[1] - w[0], 354 | 355), "{w:?}");
            }
        }
        // Every Gregorian year of the range has at least one of each.
        for y in FIRST_TABLE_YEAR..=LAST_TABLE_YEAR {
            assert!(RAMAZAN_BAYRAMI.iter().any(|e| e.0 == y), "{y}");
            assert!(KURBAN_BAYRAMI.iter().any(|e| e.0 == y), "{y}");
        }
        // Kurban Bayramı (10 Zilhicce) is 67..=69 days after Ramazan Bayramı (1 Şevval): Şevval and
        // Zilkade have 29 or 30 days each, then 9 more. (The last Ramazan Bayramı's Kurban is past the table.)
        for &(y, m, d) in &RAMAZAN_BAYRAMI[..RAMAZAN_BAYRAMI.len() - 1] {
            let r = days_from_civil(y, m, d);
            assert!(
                KURBAN_BAYRAMI.iter().any(|&(ky, km, kd)| matches!(days_from_civil(ky, km, kd) - r, 67..=69)),
                "{y}-{m}-{d}"
            );
        }
    }

    #[test]
    fn holidays_table() {
        type Case = ((i32, u8, u8), Option<&'static str>);
        let cases: &[Case] = &[
            ((2024, 1, 1), Some("Yılbaşı")),
            ((2024, 4, 23), Some("Ulusal Egemenlik ve Çocuk Bayramı")),
            ((2024, 5, 1), Some("Emek ve Dayanışma Günü")),
            ((2024, 5, 19), Some("Atatürk'ü Anma, Gençlik ve Spor Bayramı")),
            ((2016, 7, 15), None),
            ((2017, 7, 15), Some("Demokrasi ve Millî Birlik Günü")),
            ((2024, 8, 30), Some("Zafer Bayramı")),
            ((2024, 10, 28), None),
            ((2024, 10, 29), Some("Cumhuriyet Bayramı")),
            // Ramazan Bayramı 2024: arife 9 April (half-day), 10–12 April.
            ((2024, 4, 9), None),
            ((2024, 4, 10), Some("Ramazan Bayramı")),
            ((2024, 4, 12), Some("Ramazan Bayramı")),
            ((2024, 4, 13), None),
            // Kurban Bayramı 2024: arife 15 June, 16–19 June.
            ((2024, 6, 15), None),
            ((2024, 6, 16), Some("Kurban Bayramı")),
            ((2024, 6, 19), Some("Kurban Bayramı")),
            ((2024, 6, 20), None),
            // 2033: two Ramazan Bayramı.
            ((2033, 1, 2), Some("Ramazan Bayramı")),
            ((2033, 1, 4), Some("Ramazan Bayramı")),
            ((2033, 12, 23), Some("Ramazan Bayramı")),
            ((2033, 12, 25), Some("Ramazan Bayramı")),
            ((2033, 12, 26), None),
            // Outside the table: fixed holidays only.
            ((2040, 1, 1), Some("Yılbaşı")),
            ((2040, 3, 3), None),
            // Not a date.
            ((2024, 2, 30), None),
            ((2024, 13, 1), None),
            ((2024, 0, 0), None),
        ];
        for &((y, m, d), want) in cases {
            assert_eq!(holiday_name(y, m, d), want, "{y}-{m}-{d}");
            assert_eq!(is_public_holiday(y, m, d), want.is_some(), "{y}-{m}-{d}");
        }
    }

    #[test]
    fn holiday_count_per_year() {
        // 7 fixed days (6 before 2017) + 3 + 4 Bayram days, less any overlap; 2033 has 3 more.
        let count = |y: i32| {
            (1..=12u8)
                .flat_map(|m| (1..=31u8).map(move |d| (m, d)))
                .filter(|&(m, d)| is_public_holiday(y, m, d))
                .count()
        };
        assert_eq!(count(2016), 13);
        assert_eq!(count(2024), 14);
        assert_eq!(count(2033), 17);
    }
}
