//! Turkey's wall clock and business days. Pure: no clock is read here; callers pass "now".
//!
//! # The clock
//!
//! consentDate is a wall-clock time in Europe/Istanbul, written `YYYY-MM-DD HH:mm:ss`. Turkey has used
//! fixed UTC+3 since 2016 but followed EET/EEST (UTC+2 / UTC+3) before, so consentDates of 2015–2016
//! can name an hour the clocks skipped, or one they repeated. The model, checked hour by hour against
//! the tz database in `tests/time_tz.rs`:
//!
//! | period | rule |
//! |---|---|
//! | 2007–2015 | EU rules: UTC+3 from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October, else UTC+2 |
//! | 2011, 2014 | DST started a day late (Monday 2011-03-28, 2014-03-31, 01:00 UTC; exam and election days) |
//! | 2015 | DST ended two weeks late, 2015-11-08 01:00 UTC (an election on 1 November) |
//! | from 2016-03-27 01:00 UTC | UTC+3 for good (the clocks never went back after 2016-09-07) |
//! | before 2007 | Turkey's own rule (1996–2006): UTC+3 from the last Sunday of March to the last Sunday of October, both at 01:00 standard time |
//!
//! Instants from 1996 on are exact; earlier ones follow the 1996–2006 rule, which is only an
//! approximation of what Turkey did then (nothing in IYS reaches back that far: consentDate starts in 2015).
//!
//! So `2016-03-27 03:30:00` never happened (the clocks went from 03:00 to 04:00): [`LocalDateTime::parse`]
//! refuses it as [`DateError::Invalid`]. `2015-11-08 03:30:00` happened twice; [`LocalDateTime::to_unix`]
//! picks the first (the summer-time one, UTC+3).
//!
//! ```
//! use iys_core::time::{DateError, LocalDateTime};
//! let t = LocalDateTime::parse("2024-06-14 10:00:00").unwrap();
//! assert_eq!(t.to_unix(), Some(1_718_348_400)); // 07:00 UTC
//! assert_eq!(LocalDateTime::from_unix(1_718_348_400), t);
//! assert_eq!(LocalDateTime::parse("2016-03-27 03:30:00"), Err(DateError::Invalid));
//! assert_eq!(LocalDateTime::parse("2024-06-14T10:00:00"), Err(DateError::Format));
//! ```
//!
//! # Business days
//!
//! IYS accepts a consentDate at most 3 business days ("iş günü") before now. [`business_day_cutoff`]
//! gives the oldest accepted wall-clock time, defined as: start from today's date, step back one day at a
//! time, and count each business day stepped onto; the day on which the count reaches `rule.days` is the
//! cutoff day, and the cutoff is that day at now's time of day. Today itself is never counted. A business
//! day is Monday to Friday and (when [`BusinessDays::count_holidays`] is set, the default) not a public
//! holiday ([`holidays`]). Arife (Bayram eve) and 28 October are half-days and count as business days.
//!
//! - Now Monday 2024-03-11 10:00 → Friday (1), Thursday (2), Wednesday (3): cutoff **Wednesday
//!   2024-03-06 10:00**. A consentDate of 2024-03-06 09:59:59 is too old; 10:00:00 is accepted.
//! - Now Monday 2024-06-24 10:00 → Friday 21 (1), Thursday 20 (2); Wednesday 19 to Sunday 16 are Kurban
//!   Bayramı, Saturday 15 is the weekend (and arife), Friday 14 (3): cutoff **2024-06-14 10:00**.
//!   Without holidays it would be Wednesday 2024-06-19 10:00.
//! - Now Sunday 2024-03-10 15:00 → Friday (1), Thursday (2), Wednesday (3): cutoff 2024-03-06 15:00.
//!
//! ```
//! use iys_core::time::{business_day_cutoff, BusinessDays, LocalDateTime};
//! let now = LocalDateTime::parse("2024-06-24 10:00:00").unwrap();
//! let cutoff = business_day_cutoff(now, BusinessDays::default());
//! assert_eq!(cutoff.to_string(), "2024-06-14 10:00:00");
//! let weekends_only = BusinessDays { days: 3, count_holidays: false };
//! assert_eq!(business_day_cutoff(now, weekends_only).to_string(), "2024-06-19 10:00:00");
//! ```
//!
//! The cutoff is a wall-clock value and is compared as one (`LocalDateTime` orders by its fields).

use alloc::string::String;
use core::fmt;

pub mod holidays;

pub use holidays::is_public_holiday;

/// Seconds in a day.
const DAY: i64 = 86_400;
/// Seconds in an hour.
const HOUR: i64 = 3_600;
/// Eastern European Time, UTC+2, in seconds.
const EET: i32 = 2 * 3_600;
/// Eastern European Summer Time and Turkey's time since 2016, UTC+3, in seconds.
const EEST: i32 = 3 * 3_600;
/// 2016-03-27 01:00 UTC: the last clock change; UTC+3 from here on.
const FIXED_UTC3_FROM: i64 = days_from_civil(2016, 3, 27) * DAY + HOUR;

/// A wall-clock date and time in Turkey, as IYS writes it (`YYYY-MM-DD HH:mm:ss`).
///
/// Fields are public, so a value built by hand may name a date that does not exist; [`LocalDateTime::parse`]
/// and [`LocalDateTime::from_unix`] only produce real ones. Ordering is by the fields, year first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDateTime {
    /// Year.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u8,
    /// Day, 1..=31.
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=59.
    pub second: u8,
}

impl fmt::Display for LocalDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire())
    }
}

/// Why a consentDate string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateError {
    /// Not exactly `YYYY-MM-DD HH:mm:ss` (H158).
    Format,
    /// Well-formed but not a real time in Turkey (H157): 31 February, 24:00, a skipped clock hour.
    Invalid,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateError::Format => "not written as YYYY-MM-DD HH:mm:ss",
            DateError::Invalid => "not a real date and time in Turkey",
        })
    }
}

impl core::error::Error for DateError {}

impl LocalDateTime {
    /// Parses exactly `YYYY-MM-DD HH:mm:ss` (ASCII digits) and checks it is a real time in Turkey.
    ///
    /// [`DateError::Format`] for anything but those 19 bytes (a `T`, a `Z` or offset, milliseconds,
    /// surrounding blanks, non-ASCII digits); [`DateError::Invalid`] for a date that is not in the
    /// calendar, an hour over 23, a minute or second over 59, or a time the clocks skipped.
    ///
    /// ```
    /// use iys_core::time::{DateError, LocalDateTime};
    /// assert!(LocalDateTime::parse("2024-02-29 23:59:59").is_ok());
    /// assert_eq!(LocalDateTime::parse("2023-02-29 12:00:00"), Err(DateError::Invalid));
    /// assert_eq!(LocalDateTime::parse("2024-01-01 24:00:00"), Err(DateError::Invalid));
    /// assert_eq!(LocalDateTime::parse("2024-01-01 12:00:00.000"), Err(DateError::Format));
    /// ```
    pub fn parse(s: &str) -> Result<Self, DateError> {
        Self::parse_unix(s).map(|(t, _)| t)
    }

    /// [`LocalDateTime::parse`] and the instant [`LocalDateTime::to_unix`] gives, in one go.
    pub(crate) fn parse_unix(s: &str) -> Result<(Self, i64), DateError> {
        let t = Self::parse_fields(s.as_bytes()).ok_or(DateError::Format)?;
        match t.to_unix() {
            Some(unix) => Ok((t, unix)),
            None => Err(DateError::Invalid),
        }
    }

    /// The fields of `YYYY-MM-DD HH:mm:ss` (unchecked beyond being digits), `None` for any other
    /// shape. The 19 bytes are read as three little-endian words (`YYYY-MM-`, `DD HH:mm`, and
    /// `HH:mm:ss` overlapping the second) and checked a word at a time.
    #[inline]
    fn parse_fields(b: &[u8]) -> Option<Self> {
        if b.len() != 19 {
            return None;
        }
        // Per word: the lanes that must be digits (0xFF), and the separators' bytes where they must be.
        const D0: u64 = 0x00FF_FF00_FFFF_FFFF;
        const S0: u64 = u64::from_le_bytes(*b"\0\0\0\0-\0\0-");
        const D1: u64 = 0xFFFF_00FF_FF00_FFFF;
        const S1: u64 = u64::from_le_bytes(*b"\0\0 \0\0:\0\0");
        const S2: u64 = u64::from_le_bytes(*b"\0\0:\0\0:\0\0");
        const ZEROS: u64 = 0x3030_3030_3030_3030;
        // The digit values of a word's digit lanes (0 elsewhere), when each of them is `0`..=`9`.
        fn digits(w: u64, lanes: u64, seps: u64) -> Option<u64> {
            if w & !lanes != seps {
                return None;
            }
            let t = (w ^ ZEROS) & lanes;
            // High nibbles clear: 0x30..=0x3F; and no lane reaching 10 once 6 is added to it.
            let ok =
                t & 0xF0F0_F0F0_F0F0_F0F0 == 0 && (t + (0x0606_0606_0606_0606 & lanes)) & 0x1010_1010_1010_1010 == 0;
            ok.then_some(t)
        }
        let d0 = digits(crate::json::word_at(b, 0)?, D0, S0)?;
        let d1 = digits(crate::json::word_at(b, 8)?, D1, S1)?;
        let d2 = digits(crate::json::word_at(b, 11)?, D1, S2)?;
        let lane = |w: u64, i: u32| ((w >> (8 * i)) & 0xFF) as u8;
        let two = |w: u64, i: u32| lane(w, i) * 10 + lane(w, i + 1);
        let year = i32::from(two(d0, 0)) * 100 + i32::from(two(d0, 2));
        Some(LocalDateTime {
            year,
            month: two(d0, 5),
            day: two(d1, 0),
            hour: two(d1, 3),
            minute: two(d1, 6),
            second: two(d2, 6),
        })
    }

    /// The earlier byte-by-byte form of [`LocalDateTime::parse_fields`], which it must agree with.
    #[cfg(test)]
    fn parse_fields_reference(b: &[u8]) -> Option<Self> {
        if b.len() != 19 {
            return None;
        }
        const SHAPE: &[u8; 19] = b"0000-00-00 00:00:00";
        let shape_ok = b.iter().zip(SHAPE).all(|(&c, &t)| if t == b'0' { c.is_ascii_digit() } else { c == t });
        if !shape_ok {
            return None;
        }
        let num = |from: usize, to: usize| -> u32 {
            b.get(from..to).unwrap_or_default().iter().fold(0, |acc, &c| acc * 10 + u32::from(c - b'0'))
        };
        let small = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
        Some(LocalDateTime {
            year: i32::try_from(num(0, 4)).unwrap_or(0),
            month: small(num(5, 7)),
            day: small(num(8, 10)),
            hour: small(num(11, 13)),
            minute: small(num(14, 16)),
            second: small(num(17, 19)),
        })
    }

    /// `YYYY-MM-DD HH:mm:ss`, as IYS writes it: the same text as `Display` (a year outside 0..=9999
    /// as `{:04}` writes it: `-001`, `12345`), made without `core::fmt` to keep the wasm build small.
    ///
    /// ```
    /// use iys_core::time::LocalDateTime;
    /// let t = LocalDateTime { year: 2024, month: 6, day: 4, hour: 9, minute: 5, second: 0 };
    /// assert_eq!(t.to_wire(), "2024-06-04 09:05:00");
    /// ```
    pub fn to_wire(self) -> String {
        fn push(out: &mut String, n: u32, width: usize) {
            let mut digits = [b'0'; 10];
            let mut rest = n;
            let mut len = 0;
            for slot in digits.iter_mut().rev() {
                *slot = b'0' + (rest % 10) as u8;
                rest /= 10;
                len += 1;
                if rest == 0 && len >= width {
                    break;
                }
            }
            for &d in digits.get(digits.len() - len..).unwrap_or_default() {
                out.push(char::from(d));
            }
        }
        let mut out = String::with_capacity(19);
        if self.year < 0 {
            out.push('-');
        }
        push(&mut out, self.year.unsigned_abs(), if self.year < 0 { 3 } else { 4 });
        for (sep, n) in [('-', self.month), ('-', self.day), (' ', self.hour), (':', self.minute), (':', self.second)] {
            out.push(sep);
            push(&mut out, u32::from(n), 2);
        }
        out
    }

    /// Whether the fields name a real calendar date and a time of day (`23:59:59` at most). Says
    /// nothing about clock changes; [`LocalDateTime::to_unix`] does.
    pub fn is_valid(self) -> bool {
        is_valid_date(self.year, self.month, self.day) && self.hour <= 23 && self.minute <= 59 && self.second <= 59
    }

    /// The instant (Unix seconds) of this wall-clock time in Turkey; for a repeated hour, the first.
    /// `None` for a time the clocks skipped, or for fields that are not a real date and time.
    ///
    /// ```
    /// use iys_core::time::LocalDateTime;
    /// let t = |s| LocalDateTime::parse(s).unwrap();
    /// // 2015-11-08 03:30 happened at 00:30 UTC (UTC+3) and again at 01:30 UTC (UTC+2): the first wins.
    /// assert_eq!(t("2015-11-08 03:30:00").to_unix(), Some(1_446_942_600));
    /// let gap = LocalDateTime { year: 2016, month: 3, day: 27, hour: 3, minute: 0, second: 0 };
    /// assert_eq!(gap.to_unix(), None);
    /// ```
    pub fn to_unix(self) -> Option<i64> {
        if !self.is_valid() {
            return None;
        }
        let naive = self.naive_seconds();
        if naive - i64::from(EEST) >= FIXED_UTC3_FROM {
            // Since 2016 the offset is UTC+3 throughout: what the search below finds first.
            return Some(naive - i64::from(EEST));
        }
        // A wall time is real at offset `o` when the zone's offset at `naive - o` is `o`. UTC+3 first:
        // where both work (the repeated hour), that is the earlier instant.
        [EEST, EET].into_iter().map(|o| naive - i64::from(o)).find(|&t| i64::from(utc_offset(t)) == naive - t)
    }

    /// The wall-clock time as seconds since 1970-01-01 00:00:00 on the same wall clock (no offset
    /// applied). For real dates and times this orders exactly as the fields do.
    pub(crate) fn naive_seconds(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * DAY
            + i64::from(self.hour) * HOUR
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// [`LocalDateTime::naive_seconds`] of [`LocalDateTime::from_unix`]`(unix)`, without the calendar
    /// arithmetic where the year cannot overflow.
    pub(crate) fn naive_seconds_at(unix: i64) -> i64 {
        // ±2^40 s is about ±34,800 years: from_unix's year fits an i32 there, so its fields are
        // exactly the local seconds.
        const SAFE: i64 = 1 << 40;
        if (-SAFE..SAFE).contains(&unix) {
            unix + i64::from(utc_offset(unix))
        } else {
            LocalDateTime::from_unix(unix).naive_seconds()
        }
    }

    /// Turkey's wall clock at a Unix instant.
    ///
    /// ```
    /// use iys_core::time::LocalDateTime;
    /// assert_eq!(LocalDateTime::from_unix(0).to_string(), "1970-01-01 02:00:00");
    /// assert_eq!(LocalDateTime::from_unix(1_446_946_200).to_string(), "2015-11-08 03:30:00");
    /// ```
    pub fn from_unix(unix: i64) -> Self {
        let local = unix.saturating_add(i64::from(utc_offset(unix)));
        let secs = local.rem_euclid(DAY);
        let (year, month, day) = civil_from_days(local.div_euclid(DAY));
        LocalDateTime {
            year: i32::try_from(year).unwrap_or(if year < 0 { i32::MIN } else { i32::MAX }),
            month,
            day,
            hour: (secs / HOUR) as u8,
            minute: (secs % HOUR / 60) as u8,
            second: (secs % 60) as u8,
        }
    }
}

/// Turkey's UTC offset, in seconds, at a Unix instant: 7200 (EET) or 10800 (EEST, and since 2016).
///
/// ```
/// use iys_core::time::utc_offset;
/// assert_eq!(utc_offset(1_420_070_400), 7_200); // 2015-01-01
/// assert_eq!(utc_offset(1_735_689_600), 10_800); // 2025-01-01
/// ```
pub fn utc_offset(unix: i64) -> i32 {
    if unix >= FIXED_UTC3_FROM {
        return EEST;
    }
    let (year, _, _) = civil_from_days(unix.div_euclid(DAY));
    let (start, end) = summer_time(year);
    if (start..end).contains(&unix) {
        EEST
    } else {
        EET
    }
}

/// The summer-time period `[start, end)` of a year before 2016's permanent change, in Unix seconds.
fn summer_time(year: i64) -> (i64, i64) {
    let at = |y: i64, m: u8, d: u8, utc_hour: i64| days_from_civil_i64(y, m, d) * DAY + utc_hour * HOUR;
    if year < 2007 {
        // 01:00 standard time (UTC+2) on the last Sundays: Saturday 23:00 UTC.
        return (last_sunday(year, 3) * DAY - HOUR, last_sunday(year, 10) * DAY - HOUR);
    }
    let start = match year {
        2011 => at(2011, 3, 28, 1),
        2014 => at(2014, 3, 31, 1),
        _ => last_sunday(year, 3) * DAY + HOUR,
    };
    let end = match year {
        2015 => at(2015, 11, 8, 1),
        _ => last_sunday(year, 10) * DAY + HOUR,
    };
    (start, end)
}

/// The day number (days since 1970-01-01) of the last Sunday of a month.
fn last_sunday(year: i64, month: u8) -> i64 {
    let last = days_from_civil_i64(year, month, days_in_month_i64(year, month));
    last - weekday(last)
}

/// The business-day rule: consentDate may be at most `days` business days before now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BusinessDays {
    /// How many business days back are allowed (IYS: 3).
    pub days: u32,
    /// Whether Turkish public holidays count as non-business days (weekends always do).
    pub count_holidays: bool,
}

impl Default for BusinessDays {
    fn default() -> Self {
        BusinessDays { days: 3, count_holidays: true }
    }
}

/// The oldest wall-clock time that is still within `rule` of `now`: step back from now's date one day at
/// a time; the day on which the `rule.days`-th business day is reached, at now's time of day. See the
/// [module docs](self#business-days) for the definition and examples. `rule.days == 0` gives `now`.
///
/// ```
/// use iys_core::time::{business_day_cutoff, BusinessDays, LocalDateTime};
/// let now = LocalDateTime::parse("2024-03-11 10:00:00").unwrap(); // a Monday
/// assert_eq!(business_day_cutoff(now, BusinessDays::default()).to_string(), "2024-03-06 10:00:00");
/// ```
pub fn business_day_cutoff(now: LocalDateTime, rule: BusinessDays) -> LocalDateTime {
    let mut n = days_from_civil(now.year, now.month, now.day);
    let mut left = rule.days;
    while left > 0 {
        n -= 1;
        if is_business_day_number(n, rule.count_holidays) {
            left -= 1;
        }
    }
    let (year, month, day) = civil_from_days(n);
    LocalDateTime { year: i32::try_from(year).unwrap_or(i32::MIN), month, day, ..now }
}

/// Whether a date is a business day: Monday to Friday, and not a public holiday when `count_holidays`.
/// `false` for a date that does not exist.
///
/// ```
/// use iys_core::time::is_business_day;
/// assert!(is_business_day(2024, 6, 14, true)); // Friday
/// assert!(!is_business_day(2024, 6, 15, true)); // Saturday
/// assert!(!is_business_day(2024, 6, 17, true)); // Monday, Kurban Bayramı
/// assert!(is_business_day(2024, 6, 17, false));
/// ```
pub fn is_business_day(year: i32, month: u8, day: u8, count_holidays: bool) -> bool {
    is_valid_date(year, month, day) && is_business_day_number(days_from_civil(year, month, day), count_holidays)
}

/// [`is_business_day`] for a day number.
fn is_business_day_number(n: i64, count_holidays: bool) -> bool {
    if matches!(weekday(n), 0 | 6) {
        return false;
    }
    if !count_holidays {
        return true;
    }
    let (year, month, day) = civil_from_days(n);
    match i32::try_from(year) {
        Ok(year) => !is_public_holiday(year, month, day),
        Err(_) => true,
    }
}

/// Day of the week of a day number: 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday).
fn weekday(n: i64) -> i64 {
    (n + 4).rem_euclid(7)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month_i64(year: i64, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether `(year, month, day)` is a date of the proleptic Gregorian calendar.
pub(crate) fn is_valid_date(year: i32, month: u8, day: u8) -> bool {
    day >= 1 && day <= days_in_month_i64(i64::from(year), month)
}

/// Days since 1970-01-01 of a (valid) civil date.
pub(crate) const fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    days_from_civil_i64(year as i64, month, day)
}

/// Days since 1970-01-01 of a civil date, counting years from March so the leap day comes last.
const fn days_from_civil_i64(year: i64, month: u8, day: u8) -> i64 {
    let (m, d) = (month as i64, day as i64);
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // 0..=399
    let month_from_march = (m + 9) % 12; // March = 0 … February = 11
    let day_of_year = (153 * month_from_march + 2) / 5 + d - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468 // 719468 = days from 0000-03-01 to 1970-01-01
}

/// The civil date `(year, month, day)` of a day number; the inverse of [`days_from_civil`].
fn civil_from_days(n: i64) -> (i64, u8, u8) {
    let z = n.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // 0..=146096
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xorshift::Rng;

    fn t(s: &str) -> LocalDateTime {
        LocalDateTime::parse(s).expect(s)
    }

    #[test]
    fn word_parse_agrees_with_the_byte_parse() {
        let bases = ["2025-11-18 10:00:00", "0000-00-00 00:00:00", "9999-99-99 99:99:99", "2016-03-27 03:30:00"];
        let bytes: Vec<u8> = (0..=255u8).collect();
        let mut n = 0;
        for base in bases {
            for at in 0..19 {
                for &c in &bytes {
                    let mut b = base.as_bytes().to_vec();
                    b[at] = c;
                    assert_eq!(LocalDateTime::parse_fields(&b), LocalDateTime::parse_fields_reference(&b), "{b:?}");
                    n += usize::from(LocalDateTime::parse_fields(&b).is_some());
                }
            }
            for len in 0..24 {
                let b: Vec<u8> = base.bytes().cycle().take(len).collect();
                assert_eq!(LocalDateTime::parse_fields(&b), LocalDateTime::parse_fields_reference(&b));
            }
        }
        assert_eq!(n, 4 * (14 * 10 + 5));
        // Every field's digits, and the instant, through the public parse.
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        for _ in 0..200_000 {
            let x = rng.next();
            let d = |k: u32| char::from(b'0' + (x.rotate_right(3 * k) % 10) as u8);
            let s: String = "0000-00-00 00:00:00"
                .chars()
                .enumerate()
                .map(|(i, t)| if t == '0' { d(i as u32) } else { t })
                .collect();
            let b = s.as_bytes();
            let got = LocalDateTime::parse_fields(b);
            assert_eq!(got, LocalDateTime::parse_fields_reference(b), "{s}");
            if let Some(t) = got {
                let reference = if t.is_valid() {
                    let naive = t.naive_seconds();
                    [EEST, EET]
                        .into_iter()
                        .map(|o| naive - i64::from(o))
                        .find(|&u| i64::from(utc_offset(u)) == naive - u)
                } else {
                    None
                };
                assert_eq!(t.to_unix(), reference, "{s}");
            }
        }
    }

    #[test]
    fn naive_seconds_at_is_the_wall_clock_of_from_unix() {
        let edges = [i64::MIN, i64::MIN + 1, -(1 << 40) - 1, -(1 << 40), 0, (1 << 40) - 1, 1 << 40, i64::MAX];
        let mut unix = -(1i64 << 41);
        let mut all: Vec<i64> = edges.to_vec();
        while unix < 1 << 41 {
            all.push(unix);
            unix += 9_876_543_211;
        }
        all.extend((1_420_000_000..1_480_000_000).step_by(1_799));
        for u in all {
            assert_eq!(LocalDateTime::naive_seconds_at(u), LocalDateTime::from_unix(u).naive_seconds(), "{u}");
        }
    }

    #[test]
    fn to_wire_writes_what_the_format_string_would() {
        for year in [i32::MIN, -12_345, -100, -5, 0, 7, 99, 2024, 9_999, 10_000, 273_000, i32::MAX] {
            for (month, day, hour, minute, second) in [(1, 2, 3, 4, 5), (12, 31, 23, 59, 59), (10, 10, 0, 0, 0)] {
                let t = LocalDateTime { year, month, day, hour, minute, second };
                let want = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
                assert_eq!(t.to_wire(), want);
                assert_eq!(t.to_string(), want);
            }
        }
    }

    #[test]
    fn parse_table() {
        use DateError::{Format, Invalid};
        type Fields = (i32, u8, u8, u8, u8, u8);
        let cases: &[(&str, Result<Fields, DateError>)] = &[
            ("2024-06-14 10:20:30", Ok((2024, 6, 14, 10, 20, 30))),
            ("2015-05-01 00:00:00", Ok((2015, 5, 1, 0, 0, 0))),
            ("2024-02-29 23:59:59", Ok((2024, 2, 29, 23, 59, 59))),
            ("2000-02-29 12:00:00", Ok((2000, 2, 29, 12, 0, 0))),
            ("0000-01-01 00:00:00", Ok((0, 1, 1, 0, 0, 0))),
            ("9999-12-31 23:59:59", Ok((9999, 12, 31, 23, 59, 59))),
            // Format.
            ("", Err(Format)),
            ("2024-06-14", Err(Format)),
            ("2024-06-14T10:20:30", Err(Format)),
            ("2024-06-14 10:20:30Z", Err(Format)),
            ("2024-06-14 10:20:30+03:00", Err(Format)),
            ("2024-06-14 10:20:30.000", Err(Format)),
            ("2024-06-14 10:20:30 ", Err(Format)),
            (" 2024-06-14 10:20:30", Err(Format)),
            ("2024-06-14  10:20:3", Err(Format)),
            ("2024/06/14 10:20:30", Err(Format)),
            ("2024-6-14 10:20:30", Err(Format)),
            ("24-06-14 10:20:300", Err(Format)),
            ("2024-06-14 10:20:3a", Err(Format)),
            ("+024-06-14 10:20:30", Err(Format)),
            ("2024-06-14\t10:20:30", Err(Format)),
            ("2024-06-14 10.20.30", Err(Format)),
            ("٢٠٢٤-٠٦-١٤ ١٠:٢٠:٣٠", Err(Format)),
            ("２０２４-06-14 10:20:30", Err(Format)),
            ("2024-06-1é 10:20:30", Err(Format)),
            // Invalid.
            ("2023-02-29 12:00:00", Err(Invalid)),
            ("1900-02-29 12:00:00", Err(Invalid)),
            ("2024-02-30 12:00:00", Err(Invalid)),
            ("2024-04-31 12:00:00", Err(Invalid)),
            ("2024-00-10 12:00:00", Err(Invalid)),
            ("2024-13-10 12:00:00", Err(Invalid)),
            ("2024-01-00 12:00:00", Err(Invalid)),
            ("2024-01-32 12:00:00", Err(Invalid)),
            ("2024-01-01 24:00:00", Err(Invalid)),
            ("2024-01-01 23:60:00", Err(Invalid)),
            ("2024-01-01 23:59:60", Err(Invalid)),
            ("2024-01-01 99:99:99", Err(Invalid)),
            // Skipped hours.
            ("2016-03-27 03:00:00", Err(Invalid)),
            ("2016-03-27 03:59:59", Err(Invalid)),
            ("2015-03-29 03:00:00", Err(Invalid)),
            ("2014-03-31 03:30:00", Err(Invalid)),
            ("2011-03-28 03:30:00", Err(Invalid)),
            // Around them, all fine.
            ("2016-03-27 02:59:59", Ok((2016, 3, 27, 2, 59, 59))),
            ("2016-03-27 04:00:00", Ok((2016, 3, 27, 4, 0, 0))),
            ("2014-03-30 03:30:00", Ok((2014, 3, 30, 3, 30, 0))),
            ("2015-11-08 03:30:00", Ok((2015, 11, 8, 3, 30, 0))),
            ("2016-10-30 03:30:00", Ok((2016, 10, 30, 3, 30, 0))),
        ];
        for (input, want) in cases {
            let got = LocalDateTime::parse(input).map(|t| (t.year, t.month, t.day, t.hour, t.minute, t.second));
            assert_eq!(&got, want, "{input:?}");
            if let Ok(v) = LocalDateTime::parse(input) {
                assert_eq!(v.to_string(), *input, "Display round-trips");
            }
        }
    }

    #[test]
    fn offsets_table() {
        // (instant as UTC wall time, expected offset in hours)
        let utc = |y, m, d, h| days_from_civil(y, m, d) * DAY + i64::from(h) * HOUR;
        let cases = [
            (utc(2015, 3, 29, 0), 2),
            (utc(2015, 3, 29, 1), 3),
            (utc(2015, 10, 25, 1), 3), // the EU ended DST; Turkey did not
            (utc(2015, 11, 8, 0), 3),
            (utc(2015, 11, 8, 1), 2),
            (utc(2014, 3, 30, 1), 2), // delayed a day
            (utc(2014, 3, 31, 0), 2),
            (utc(2014, 3, 31, 1), 3),
            (utc(2011, 3, 27, 1), 2),
            (utc(2011, 3, 28, 1), 3),
            (utc(2016, 3, 27, 0), 2),
            (utc(2016, 3, 27, 1), 3),
            (utc(2016, 10, 30, 1), 3), // no change any more
            (utc(2016, 12, 31, 0), 3),
            (utc(2030, 1, 1, 0), 3),
            (utc(2006, 3, 25, 22), 2), // 2006-03-26 01:00 EET = Saturday 23:00 UTC
            (utc(2006, 3, 25, 23), 3),
            (utc(2006, 10, 28, 22), 3),
            (utc(2006, 10, 28, 23), 2),
        ];
        for (unix, hours) in cases {
            assert_eq!(utc_offset(unix), hours * 3600, "{}", LocalDateTime::from_unix(unix));
        }
    }

    #[test]
    fn repeated_hour_picks_the_first() {
        let first = t("2015-11-08 03:00:00").to_unix().expect("real");
        assert_eq!(first, days_from_civil(2015, 11, 8) * DAY); // 00:00 UTC
        assert_eq!(LocalDateTime::from_unix(first), t("2015-11-08 03:00:00"));
        assert_eq!(LocalDateTime::from_unix(first + HOUR), t("2015-11-08 03:00:00"));
        assert_eq!(LocalDateTime::from_unix(first + HOUR - 1), t("2015-11-08 03:59:59"));
        assert_eq!(LocalDateTime::from_unix(first + 2 * HOUR), t("2015-11-08 04:00:00"));
    }

    #[test]
    fn from_unix_extremes_do_not_panic() {
        for unix in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let v = LocalDateTime::from_unix(unix);
            assert!(v.month >= 1 && v.month <= 12 && v.day >= 1 && v.hour < 24, "{unix}: {v:?}");
        }
        let far = LocalDateTime { year: i32::MIN, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
        assert!(far.to_unix().is_some());
        let far = LocalDateTime { year: i32::MAX, month: 12, day: 31, hour: 23, minute: 59, second: 59 };
        assert_eq!(far.to_unix().map(LocalDateTime::from_unix), Some(far));
        let bad = LocalDateTime { year: 2024, month: 2, day: 30, hour: 0, minute: 0, second: 0 };
        assert_eq!(bad.to_unix(), None);
    }

    #[test]
    fn civil_round_trip() {
        for n in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(n);
            let y = i32::try_from(y).expect("small");
            assert!(is_valid_date(y, m, d));
            assert_eq!(days_from_civil(y, m, d), n);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(weekday(days_from_civil(2024, 6, 14)), 5); // Friday
    }

    #[test]
    fn business_day_cutoff_table() {
        let on = BusinessDays::default();
        let off = BusinessDays { days: 3, count_holidays: false };
        let cases = [
            // Plain weeks.
            ("2024-03-11 10:00:00", on, "2024-03-06 10:00:00"), // Monday -> Wednesday before
            ("2024-03-12 10:00:00", on, "2024-03-07 10:00:00"), // Tuesday -> Thursday before
            ("2024-03-13 10:00:00", on, "2024-03-08 10:00:00"), // Wednesday -> Friday before
            ("2024-03-14 10:00:00", on, "2024-03-11 10:00:00"), // Thursday -> Monday
            ("2024-03-15 23:59:59", on, "2024-03-12 23:59:59"), // Friday -> Tuesday
            ("2024-03-16 00:00:00", on, "2024-03-13 00:00:00"), // Saturday -> Wednesday
            ("2024-03-17 15:00:00", on, "2024-03-13 15:00:00"), // Sunday -> Wednesday
            // Kurban Bayramı 2024 (16–19 June; arife 15th is a Saturday anyway).
            ("2024-06-24 10:00:00", on, "2024-06-14 10:00:00"),
            ("2024-06-24 10:00:00", off, "2024-06-19 10:00:00"),
            ("2024-06-20 10:00:00", on, "2024-06-12 10:00:00"),
            // Ramazan Bayramı 2024 (10–12 April; arife 9 April is a business day).
            ("2024-04-15 09:00:00", on, "2024-04-05 09:00:00"),
            ("2024-04-11 09:00:00", on, "2024-04-05 09:00:00"),
            ("2024-04-10 09:00:00", on, "2024-04-05 09:00:00"),
            ("2024-04-12 09:00:00", on, "2024-04-05 09:00:00"),
            // Across the new year and 1 January.
            ("2025-01-03 08:00:00", on, "2024-12-30 08:00:00"),
            ("2025-01-03 08:00:00", off, "2024-12-31 08:00:00"),
            // Republic Day: 28 October is a half-day (business day), 29th a holiday.
            ("2024-10-31 12:00:00", on, "2024-10-25 12:00:00"),
            // Days 0 and 1.
            ("2024-03-11 10:00:00", BusinessDays { days: 0, count_holidays: true }, "2024-03-11 10:00:00"),
            ("2024-03-11 10:00:00", BusinessDays { days: 1, count_holidays: true }, "2024-03-08 10:00:00"),
            ("2024-03-11 10:00:00", BusinessDays { days: 10, count_holidays: true }, "2024-02-26 10:00:00"),
            // Leap day.
            ("2024-03-04 10:00:00", on, "2024-02-28 10:00:00"),
        ];
        for (now, rule, want) in cases {
            assert_eq!(business_day_cutoff(t(now), rule).to_string(), want, "{now} {rule:?}");
        }
    }

    #[test]
    fn business_day_table() {
        assert!(is_business_day(2024, 4, 9, true), "arife is a business day");
        assert!(!is_business_day(2024, 4, 10, true));
        assert!(is_business_day(2024, 10, 28, true), "28 October half-day is a business day");
        assert!(!is_business_day(2024, 10, 29, true));
        assert!(!is_business_day(2024, 2, 30, false), "not a date");
        assert!(!is_business_day(2024, 3, 9, false), "Saturday");
    }
}
