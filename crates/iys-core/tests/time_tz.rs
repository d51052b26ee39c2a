//! Turkey's clock in `iys_core::time` against the tz database (jiff with its bundled tzdb).

use iys_core::time::{utc_offset, DateError, LocalDateTime};
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

fn istanbul() -> TimeZone {
    TimeZone::get("Europe/Istanbul").expect("bundled tzdb has Europe/Istanbul")
}

fn to_jiff(t: LocalDateTime) -> DateTime {
    let small = |v: u8| i8::try_from(v).expect("small field");
    DateTime::new(
        i16::try_from(t.year).expect("year in jiff's range"),
        small(t.month),
        small(t.day),
        small(t.hour),
        small(t.minute),
        small(t.second),
        0,
    )
    .expect("valid civil datetime")
}

fn from_jiff(dt: DateTime) -> LocalDateTime {
    let small = |v: i8| u8::try_from(v).expect("non-negative field");
    LocalDateTime {
        year: i32::from(dt.year()),
        month: small(dt.month()),
        day: small(dt.day()),
        hour: small(dt.hour()),
        minute: small(dt.minute()),
        second: small(dt.second()),
    }
}

fn unix(y: i16, m: i8, d: i8, h: i8) -> i64 {
    let dt = DateTime::new(y, m, d, h, 0, 0, 0).expect("date");
    jiff::tz::Offset::UTC.to_timestamp(dt).expect("in range").as_second()
}

/// What jiff says about a wall-clock time: the first instant, or `None` in a gap.
fn jiff_first_instant(tz: &TimeZone, t: LocalDateTime) -> Option<i64> {
    let dt = to_jiff(t);
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok().map(Timestamp::as_second),
        // In a fold the earlier instant is the one with the larger (pre-transition) offset.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok().map(Timestamp::as_second),
        AmbiguousOffset::Gap { .. } => None,
    }
}

#[test]
fn from_unix_matches_tzdb_every_hour_2000_to_2030() {
    let tz = istanbul();
    let (start, end) = (unix(2000, 1, 1, 0), unix(2030, 1, 1, 0));
    let mut mismatches = Vec::new();
    for s in (start..end).step_by(3600) {
        let want = from_jiff(tz.to_datetime(Timestamp::from_second(s).expect("ts")));
        let got = LocalDateTime::from_unix(s);
        let want_offset = tz.to_offset(Timestamp::from_second(s).expect("ts")).seconds();
        if got != want || utc_offset(s) != want_offset {
            mismatches.push((s, got.to_string(), want.to_string()));
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches, first: {:?}", mismatches.len(), mismatches.first());
}

#[test]
fn to_unix_matches_tzdb_every_local_hour_2014_to_2030() {
    let tz = istanbul();
    let mut t = DateTime::new(2014, 1, 1, 0, 0, 0, 0).expect("start");
    let end = DateTime::new(2030, 1, 1, 0, 0, 0, 0).expect("end");
    let mut checked = 0u32;
    while t < end {
        let local = from_jiff(t);
        assert_eq!(local.to_unix(), jiff_first_instant(&tz, local), "{local}");
        if let Some(u) = local.to_unix() {
            assert_eq!(LocalDateTime::from_unix(u), local, "round trip {local}");
        }
        t = t.checked_add(jiff::Span::new().hours(1)).expect("next hour");
        checked += 1;
    }
    assert!(checked > 140_000);
}

/// Every clock change from 2000 to 2017, found from the tzdb, checked second by second around it.
#[test]
fn every_transition_edge_matches_tzdb() {
    let tz = istanbul();
    let mut transitions = Vec::new();
    let (start, end) = (unix(2000, 1, 1, 0), unix(2018, 1, 1, 0));
    for s in (start..end).step_by(3600) {
        let a = tz.to_offset(Timestamp::from_second(s).expect("ts"));
        let b = tz.to_offset(Timestamp::from_second(s + 3600).expect("ts"));
        if a != b {
            transitions.push(s + 3600);
        }
    }
    // 2 a year in 2000–2015, then 2016's spring change only.
    assert_eq!(transitions.len(), 16 * 2 + 1, "{transitions:?}");
    for &edge in &transitions {
        // Instants: every second from 2 hours before to 2 hours after.
        for s in (edge - 2 * 3600)..(edge + 2 * 3600) {
            let want = from_jiff(tz.to_datetime(Timestamp::from_second(s).expect("ts")));
            assert_eq!(LocalDateTime::from_unix(s), want, "from_unix({s})");
        }
        // Wall times: every second of the 4 wall-clock hours around it, gap and fold included.
        let mut wall = to_jiff(LocalDateTime::from_unix(edge - 2 * 3600));
        for _ in 0..4 * 3600 {
            let local = from_jiff(wall);
            assert_eq!(local.to_unix(), jiff_first_instant(&tz, local), "to_unix({local})");
            assert_eq!(LocalDateTime::parse(&local.to_string()).is_ok(), local.to_unix().is_some(), "{local}");
            wall = wall.checked_add(jiff::Span::new().seconds(1)).expect("next second");
        }
    }
}

#[test]
fn gap_times_are_rejected_by_parse_and_fold_times_accepted() {
    let tz = istanbul();
    let gaps = [
        "2011-03-28 03:00:00",
        "2011-03-28 03:59:59",
        "2014-03-31 03:00:00",
        "2014-03-31 03:30:00",
        "2015-03-29 03:00:00",
        "2015-03-29 03:59:59",
        "2016-03-27 03:00:00",
        "2016-03-27 03:59:59",
        "2006-03-26 01:00:00",
    ];
    for s in gaps {
        assert_eq!(LocalDateTime::parse(s), Err(DateError::Invalid), "{s}");
        let dt: DateTime = s.replace(' ', "T").parse().expect("jiff parses");
        assert!(matches!(tz.to_ambiguous_timestamp(dt).offset(), AmbiguousOffset::Gap { .. }), "{s}");
    }
    let edges_ok = ["2016-03-27 02:59:59", "2016-03-27 04:00:00", "2011-03-27 03:30:00", "2014-03-30 03:30:00"];
    for s in edges_ok {
        assert!(LocalDateTime::parse(s).is_ok(), "{s}");
    }
    let folds = ["2015-11-08 03:00:00", "2015-11-08 03:59:59", "2014-10-26 03:30:00", "2006-10-29 01:30:00"];
    for s in folds {
        let t = LocalDateTime::parse(s).expect(s);
        let dt: DateTime = s.replace(' ', "T").parse().expect("jiff parses");
        assert!(matches!(tz.to_ambiguous_timestamp(dt).offset(), AmbiguousOffset::Fold { .. }), "{s}");
        assert_eq!(t.to_unix(), jiff_first_instant(&tz, t), "{s}");
    }
    // 2015-10-25 was not a change in Turkey (the EU changed; Turkey waited for the 1 November election).
    let dt: DateTime = "2015-10-25T03:30:00".parse().expect("jiff parses");
    assert!(!tz.to_ambiguous_timestamp(dt).is_ambiguous());
}
