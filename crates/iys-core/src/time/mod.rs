//! Turkey's wall clock and business days. PLACEHOLDER — being replaced by the time work.
//!
//! consentDate is a wall-clock time in Europe/Istanbul: UTC+3 since 2016-09-07, but EET/EEST
//! (UTC+2 / UTC+3) before, so 2015–2016 have a skipped hour and a repeated hour.

use core::fmt;

/// A wall-clock date and time in Turkey, as IYS writes it (`YYYY-MM-DD HH:mm:ss`).
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
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
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

impl LocalDateTime {
    /// Parses exactly `YYYY-MM-DD HH:mm:ss` (ASCII digits) and checks it is a real time in Turkey.
    pub fn parse(s: &str) -> Result<Self, DateError> {
        let _ = s;
        Err(DateError::Format)
    }

    /// The instant (Unix seconds) of this wall-clock time in Turkey; for a repeated hour, the first.
    /// `None` for a time the clocks skipped.
    pub fn to_unix(self) -> Option<i64> {
        None
    }

    /// Turkey's wall clock at a Unix instant.
    pub fn from_unix(unix: i64) -> Self {
        let _ = unix;
        LocalDateTime { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0 }
    }
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

/// The oldest wall-clock time that is still within `rule` of `now`.
pub fn business_day_cutoff(now: LocalDateTime, rule: BusinessDays) -> LocalDateTime {
    let _ = rule;
    now
}

/// Whether a date is a Turkish public holiday (fixed holidays, and Ramazan/Kurban Bayramı from the table).
pub fn is_public_holiday(year: i32, month: u8, day: u8) -> bool {
    let _ = (year, month, day);
    false
}
