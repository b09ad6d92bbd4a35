//! Dates, times, timestamps and intervals: Julian-day calendar arithmetic,
//! Postgres's text input (ISO, `Jan 5 2024`, `2024-01-05 BC`, time zone
//! offsets and abbreviations, the special words) and output (DateStyle ISO,
//! IntervalStyle postgres), and time zone names for `SET TimeZone`.
//! Representation: days / microseconds since 2000-01-01 (`POSTGRES_EPOCH_JDATE`),
//! with i32/i64 MIN/MAX meaning -infinity/infinity.

use std::sync::Arc;

use super::timezone::{load_named_zone, TimeZone};
use super::{Interval, Result, TypeContext, TypeError};

pub const USECS_PER_SEC: i64 = 1_000_000;
pub const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
pub const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
pub const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;
/// Julian day of 2000-01-01.
pub const POSTGRES_EPOCH_JDATE: i32 = 2_451_545;
/// Julian day of 1970-01-01.
pub const UNIX_EPOCH_JDATE: i32 = 2_440_588;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const UNIX_EPOCH_OFFSET_USECS: i64 =
    (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) as i64 * USECS_PER_DAY;
/// First valid Julian day (4714-11-24 BC).
const JULIAN_MIN_DAY: i32 = 0;
/// Last valid date: 5874897-12-31.
const DATE_END_JDATE: i32 = 2_147_483_494;
/// Timestamps end at 294277-01-01 00:00:00 (exclusive).
const TIMESTAMP_END_JDATE: i32 = 109_203_528;
pub const MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
pub const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

pub const DATE_NEG_INF: i32 = i32::MIN;
pub const DATE_POS_INF: i32 = i32::MAX;
pub const TS_NEG_INF: i64 = i64::MIN;
pub const TS_POS_INF: i64 = i64::MAX;

/// Julian day number of a proleptic Gregorian date (astronomical years:
/// 0 is 1 BC). Postgres's `date2j`.
pub fn date2j(year: i32, month: i32, day: i32) -> i32 {
    let (mut y, mut m) = (year as i64, month as i64);
    if m > 2 {
        m += 1;
        y += 4800;
    } else {
        m += 13;
        y += 4799;
    }
    let century = y.div_euclid(100);
    let mut julian = y * 365 - 32167;
    julian += y.div_euclid(4) - century + century.div_euclid(4);
    julian += 7834 * m / 256 + day as i64;
    julian as i32
}

/// Inverse of `date2j`: (year, month, day).
pub fn j2date(jd: i32) -> (i32, i32, i32) {
    let mut julian = (jd as i64 + 32044) as u64;
    let mut quad = julian / 146097;
    let extra = (julian - quad * 146097) * 4 + 3;
    julian += 60 + quad * 3 + extra / 146097;
    quad = julian / 1461;
    julian -= quad * 1461;
    let mut y = (julian * 4 / 1461) as i64;
    julian = if y != 0 {
        (julian + 305) % 365
    } else {
        (julian + 306) % 366
    } + 123;
    y += (quad * 4) as i64;
    let year = (y - 4800) as i32;
    let quad = julian * 2141 / 65536;
    let day = (julian - 7834 * quad / 256) as i32;
    let month = ((quad + 10) % 12 + 1) as i32;
    (year, month, day)
}

/// Day of week, 0 = Sunday.
pub fn day_of_week(jd: i32) -> i32 {
    (jd + 1).rem_euclid(7)
}

pub fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i32, month: i32) -> i32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(year) {
                29
            } else {
                28
            }
        }
    }
}

/// Broken-down timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Tm {
    pub year: i32,
    pub month: i32,
    pub day: i32,
    pub hour: i32,
    pub minute: i32,
    pub second: i32,
    pub usec: i32,
}

/// Split a (finite) timestamp into its fields.
pub fn ts2tm(ts: i64) -> Tm {
    let days = ts.div_euclid(USECS_PER_DAY);
    let time = ts.rem_euclid(USECS_PER_DAY);
    let (year, month, day) = j2date((days + POSTGRES_EPOCH_JDATE as i64) as i32);
    Tm {
        year,
        month,
        day,
        hour: (time / USECS_PER_HOUR) as i32,
        minute: (time / USECS_PER_MINUTE % 60) as i32,
        second: (time / USECS_PER_SEC % 60) as i32,
        usec: (time % USECS_PER_SEC) as i32,
    }
}

/// Join fields into a timestamp, checking the range.
pub fn tm2ts(tm: &Tm) -> Option<i64> {
    let jd = date2j(tm.year, tm.month, tm.day);
    let days = jd as i64 - POSTGRES_EPOCH_JDATE as i64;
    let t = tm.hour as i64 * USECS_PER_HOUR
        + tm.minute as i64 * USECS_PER_MINUTE
        + tm.second as i64 * USECS_PER_SEC
        + tm.usec as i64;
    let ts = days.checked_mul(USECS_PER_DAY)?.checked_add(t)?;
    if is_valid_timestamp(ts) {
        Some(ts)
    } else {
        None
    }
}

pub fn is_valid_timestamp(ts: i64) -> bool {
    (MIN_TIMESTAMP..END_TIMESTAMP).contains(&ts)
}

pub fn is_valid_date(days: i32) -> bool {
    let jd = days as i64 + POSTGRES_EPOCH_JDATE as i64;
    (JULIAN_MIN_DAY as i64..=DATE_END_JDATE as i64).contains(&jd)
}

/// Date -> timestamp at midnight (`date2timestamp`).
pub fn date_to_timestamp(d: i32) -> Result<i64> {
    match d {
        DATE_NEG_INF => Ok(TS_NEG_INF),
        DATE_POS_INF => Ok(TS_POS_INF),
        _ => {
            if d as i64 + POSTGRES_EPOCH_JDATE as i64 >= TIMESTAMP_END_JDATE as i64 {
                return Err(TypeError::DatetimeFieldOverflow(
                    "date out of range for timestamp".into(),
                ));
            }
            Ok(d as i64 * USECS_PER_DAY)
        }
    }
}

/// Timestamp -> date (truncating the time).
pub fn timestamp_to_date(ts: i64) -> i32 {
    match ts {
        TS_NEG_INF => DATE_NEG_INF,
        TS_POS_INF => DATE_POS_INF,
        _ => ts.div_euclid(USECS_PER_DAY) as i32,
    }
}

// ---------------------------------------------------------------- output

fn push_year(out: &mut String, year: i32) {
    let y = if year > 0 { year } else { 1 - year };
    out.push_str(&format!("{y:04}"));
}

fn push_frac(out: &mut String, usec: i64) {
    if usec != 0 {
        let s = format!("{usec:06}");
        out.push('.');
        out.push_str(s.trim_end_matches('0'));
    }
}

/// `2024-01-05`, `0044-03-15 BC`, `infinity`.
pub fn format_date(d: i32) -> String {
    match d {
        DATE_NEG_INF => "-infinity".into(),
        DATE_POS_INF => "infinity".into(),
        _ => {
            let (y, m, day) = j2date(d + POSTGRES_EPOCH_JDATE);
            let mut out = String::with_capacity(13);
            push_year(&mut out, y);
            out.push_str(&format!("-{m:02}-{day:02}"));
            if y <= 0 {
                out.push_str(" BC");
            }
            out
        }
    }
}

/// `10:11:12.5`.
pub fn format_time(t: i64) -> String {
    let mut out = format!(
        "{:02}:{:02}:{:02}",
        t / USECS_PER_HOUR,
        t / USECS_PER_MINUTE % 60,
        t / USECS_PER_SEC % 60
    );
    push_frac(&mut out, t % USECS_PER_SEC);
    out
}

fn format_ts_body(ts: i64, out: &mut String) -> i32 {
    let tm = ts2tm(ts);
    push_year(out, tm.year);
    out.push_str(&format!(
        "-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.month, tm.day, tm.hour, tm.minute, tm.second
    ));
    push_frac(out, tm.usec as i64);
    tm.year
}

/// `2024-01-05 10:11:12.5`.
pub fn format_timestamp(ts: i64) -> String {
    match ts {
        TS_NEG_INF => "-infinity".into(),
        TS_POS_INF => "infinity".into(),
        _ => {
            let mut out = String::with_capacity(26);
            let y = format_ts_body(ts, &mut out);
            if y <= 0 {
                out.push_str(" BC");
            }
            out
        }
    }
}

/// `+00`, `+05:30`, `-03:00:15`.
pub fn format_offset(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let a = offset_secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    if s != 0 {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    } else if m != 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}")
    }
}

/// Unix seconds (floor) of a finite timestamp in microseconds since 2000.
pub fn usecs_to_unix_secs(ts: i64) -> i64 {
    ts.div_euclid(USECS_PER_SEC) + UNIX_EPOCH_OFFSET_USECS / USECS_PER_SEC
}

/// Local wall-clock time in `tz` of a timestamptz; infinities unchanged.
pub fn utc_to_local(ts: i64, tz: &TimeZone) -> i64 {
    if ts == TS_NEG_INF || ts == TS_POS_INF {
        return ts;
    }
    let off = tz.offset_at(usecs_to_unix_secs(ts));
    ts.saturating_add(off as i64 * USECS_PER_SEC)
}

/// The timestamptz a local wall-clock time in `tz` means (Postgres's
/// `DetermineTimeZoneOffset` rule); infinities unchanged.
pub fn local_to_utc(ts: i64, tz: &TimeZone) -> i64 {
    if ts == TS_NEG_INF || ts == TS_POS_INF {
        return ts;
    }
    let off = tz.offset_for_local(usecs_to_unix_secs(ts));
    ts.saturating_sub(off as i64 * USECS_PER_SEC)
}

/// `2024-01-05 10:11:12.5+00` in the session's time zone.
pub fn format_timestamptz(ts: i64, ctx: &TypeContext) -> String {
    match ts {
        TS_NEG_INF => "-infinity".into(),
        TS_POS_INF => "infinity".into(),
        _ => {
            let off = ctx.offset_at(ts);
            let local = ts.saturating_add(off as i64 * USECS_PER_SEC);
            let mut out = String::with_capacity(32);
            let y = format_ts_body(local, &mut out);
            out.push_str(&format_offset(off));
            if y <= 0 {
                out.push_str(" BC");
            }
            out
        }
    }
}

/// IntervalStyle postgres: `1 year 2 mons 3 days 04:05:06`, `-1 days +02:00:00`.
pub fn format_interval(iv: &Interval) -> String {
    let year = iv.months / 12;
    let mon = iv.months % 12;
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [(year, "year"), (mon, "mon"), (iv.days, "day")] {
        if value == 0 {
            continue;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        out.push_str(&format!(
            "{value} {unit}{}",
            if value != 1 { "s" } else { "" }
        ));
        is_before = value < 0;
        is_zero = false;
    }
    let t = iv.micros;
    if is_zero || t != 0 {
        let minus = t < 0;
        let a = t.unsigned_abs();
        let hour = a / USECS_PER_HOUR as u64;
        let min = a / USECS_PER_MINUTE as u64 % 60;
        let sec = a / USECS_PER_SEC as u64 % 60;
        let frac = a % USECS_PER_SEC as u64;
        if !is_zero {
            out.push(' ');
        }
        out.push_str(if minus {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        });
        out.push_str(&format!("{hour:02}:{min:02}:{sec:02}"));
        push_frac(&mut out, frac as i64);
    }
    out
}

// ---------------------------------------------------------------- input

fn bad(type_name: &str, s: &str) -> TypeError {
    TypeError::InvalidDatetimeFormat {
        type_name: type_name.into(),
        value: s.into(),
    }
}

fn field_overflow(s: &str) -> TypeError {
    TypeError::DatetimeFieldOverflow(format!("date/time field value out of range: \"{s}\""))
}

/// Offset east of UTC, in seconds, for a time zone abbreviation or a
/// fixed-offset name accepted in timestamp literals.
fn zone_abbrev(name: &str) -> Option<i32> {
    let h = 3600;
    Some(match name {
        "utc" | "gmt" | "z" | "zulu" | "ut" | "etc/utc" | "etc/gmt" | "uct" | "universal" => 0,
        "est" => -5 * h,
        "edt" => -4 * h,
        "cst" => -6 * h,
        "cdt" => -5 * h,
        "mst" => -7 * h,
        "mdt" => -6 * h,
        "pst" => -8 * h,
        "pdt" => -7 * h,
        "akst" => -9 * h,
        "akdt" => -8 * h,
        "hst" => -10 * h,
        "wet" => 0,
        "west" => h,
        "bst" => h,
        "cet" | "met" => h,
        "cest" | "mest" => 2 * h,
        "eet" => 2 * h,
        "eest" => 3 * h,
        "msk" => 3 * h,
        "ist" => 2 * h,
        "jst" => 9 * h,
        "kst" => 9 * h,
        "aest" => 10 * h,
        "aedt" => 11 * h,
        "nzst" => 12 * h,
        "nzdt" => 13 * h,
        _ => return None,
    })
}

/// Parse a numeric offset `+02`, `-05:30`, `+0530`, `+05:30:15` (ISO sign:
/// east positive). `s` starts with the sign.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if rest.is_empty() || !rest.bytes().all(|c| c.is_ascii_digit() || c == b':') {
        return None;
    }
    let (h, m, sec): (i32, i32, i32) = if rest.contains(':') {
        let p: Vec<&str> = rest.split(':').collect();
        if p.len() > 3 || p.iter().any(|x| x.is_empty()) {
            return None;
        }
        (
            p[0].parse().ok()?,
            p.get(1).map_or(Some(0), |x| x.parse().ok())?,
            p.get(2).map_or(Some(0), |x| x.parse().ok())?,
        )
    } else {
        match rest.len() {
            1 | 2 => (rest.parse().ok()?, 0, 0),
            3 | 4 => {
                let split = rest.len() - 2;
                (rest[..split].parse().ok()?, rest[split..].parse().ok()?, 0)
            }
            5 | 6 => {
                let split = rest.len() - 4;
                (
                    rest[..split].parse().ok()?,
                    rest[split..split + 2].parse().ok()?,
                    rest[split + 2..].parse().ok()?,
                )
            }
            _ => return None,
        }
    };
    if h > 15 || m > 59 || sec > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + sec))
}

/// A session time zone for `SET TimeZone`, read as Postgres's
/// `check_timezone` does: a bare number is hours east of UTC (shown as
/// `<+05>-05`); else an IANA name from the system zoneinfo files (any case;
/// shown as the file is spelled); else a POSIX TZ string (`UTC+3`, `-05:30`,
/// `EST5EDT,M3.2.0,M11.1.0`: offsets west of UTC). Abbreviations such as `PST`
/// are refused, as in Postgres. `None` for an unknown name.
pub fn parse_timezone(name: &str) -> Option<Arc<TimeZone>> {
    let t = name.trim();
    if let Some(z) = numeric_hours_zone(t) {
        return Some(z);
    }
    if let Some(z) = load_named_zone(t) {
        return Some(z);
    }
    if let Some(z) = TimeZone::from_posix(t, t) {
        return Some(Arc::new(z));
    }
    // Without tzdata installed, keep UTC and a few fixed regions working.
    let l = t.to_ascii_lowercase();
    let bare_abbrev =
        zone_abbrev(&l).is_some() && !matches!(l.as_str(), "utc" | "gmt" | "etc/utc" | "etc/gmt");
    if bare_abbrev {
        return None;
    }
    legacy_fixed_zone(t)
}

/// The zone of `timestamp AT TIME ZONE name`, read as Postgres's
/// `timestamptz_zone` does: a time zone abbreviation (fixed offset, even
/// `CET` in summer), else a zone name or POSIX string as for `SET TimeZone`.
pub fn parse_zone_name(name: &str) -> Option<Arc<TimeZone>> {
    let t = name.trim();
    let l = t.to_ascii_lowercase();
    if let Some(off) = zone_abbrev(&l) {
        return Some(Arc::new(TimeZone::fixed(t, off, &t.to_ascii_uppercase())));
    }
    if let Some(z) = load_named_zone(t) {
        return Some(z);
    }
    if let Some(z) = TimeZone::from_posix(t, t) {
        return Some(Arc::new(z));
    }
    legacy_fixed_zone(t)
}

/// A zone named inside a date/time literal (`... America/New_York`).
fn parse_literal_zone(word: &str) -> Option<Arc<TimeZone>> {
    load_named_zone(word).or_else(|| legacy_fixed_zone(word))
}

/// `SET TimeZone = 5.5`: hours east of UTC, named like Postgres's
/// `pg_tzset_offset` (`<+05:30>-05:30`).
fn numeric_hours_zone(t: &str) -> Option<Arc<TimeZone>> {
    let hours: f64 = t.parse().ok()?;
    if !hours.is_finite() || hours.abs() >= 168.0 {
        return None;
    }
    let east = (hours * 3600.0) as i32;
    let a = east.unsigned_abs();
    let mut digits = format!("{:02}", a / 3600);
    if !a.is_multiple_of(3600) {
        digits.push_str(&format!(":{:02}", a / 60 % 60));
        if !a.is_multiple_of(60) {
            digits.push_str(&format!(":{:02}", a % 60));
        }
    }
    let (abbrev, posix) = if east >= 0 {
        (format!("+{digits}"), format!("-{digits}"))
    } else {
        (format!("-{digits}"), format!("+{digits}"))
    };
    let name = format!("<{abbrev}>{posix}");
    Some(Arc::new(TimeZone::fixed(&name, east, &abbrev)))
}

fn legacy_fixed_zone(t: &str) -> Option<Arc<TimeZone>> {
    let (off, canon) = parse_fixed_timezone(t)?;
    let abbrev = if canon.chars().all(|c| c.is_ascii_alphabetic()) && canon.len() <= 5 {
        canon.clone()
    } else {
        format_offset(off)
    };
    Some(Arc::new(TimeZone::fixed(&canon, off, &abbrev)))
}

/// A fixed-offset session time zone: returns the offset east of UTC in
/// seconds and the name `SHOW TimeZone` prints. Accepts UTC/GMT and the
/// abbreviations above, POSIX `UTC+3` / `<+03>-03` style (west positive, as
/// Postgres reads it), and a few fixed-offset region names.
fn parse_fixed_timezone(name: &str) -> Option<(i32, String)> {
    let t = name.trim();
    let l = t.to_ascii_lowercase();
    if let Some(off) = zone_abbrev(&l) {
        let canon = match l.as_str() {
            "utc" | "etc/utc" => "UTC".to_string(),
            "gmt" | "etc/gmt" => "GMT".to_string(),
            _ => t.to_string(),
        };
        return Some((off, canon));
    }
    let region = match l.as_str() {
        "asia/tokyo" => Some(9 * 3600),
        "asia/kolkata" | "asia/calcutta" => Some(5 * 3600 + 1800),
        "asia/shanghai" => Some(8 * 3600),
        "asia/singapore" => Some(8 * 3600),
        "etc/utc+0" | "etc/gmt+0" | "etc/gmt-0" => Some(0),
        _ => None,
    };
    if let Some(off) = region {
        return Some((off, t.to_string()));
    }
    // A bare offset "+02" / "-05:30" is ISO (east positive).
    if t.starts_with('+') || t.starts_with('-') {
        return parse_offset(t).map(|off| (off, t.to_string()));
    }
    // POSIX: "UTC+3" / "GMT-5" mean hours WEST of Greenwich.
    let rest = if l.starts_with("utc") || l.starts_with("gmt") {
        &t[3..]
    } else {
        t
    };
    if rest.starts_with('+') || rest.starts_with('-') {
        if let Some(off) = parse_offset(rest) {
            return Some((-off, t.to_string()));
        }
    }
    // Etc/GMT+5 also follows the POSIX sign.
    if let Some(r) = l.strip_prefix("etc/gmt") {
        if let Some(off) = parse_offset(r) {
            return Some((-off, t.to_string()));
        }
    }
    None
}

/// Fields found while reading a date/time string.
#[derive(Default, Debug)]
struct Parsed {
    year: Option<i32>,
    month: Option<i32>,
    day: Option<i32>,
    hour: i32,
    minute: i32,
    second: i32,
    usec: i64,
    has_time: bool,
    tz: Option<i32>,
    /// A zone name in the text (`2024-03-10 02:30 America/New_York`).
    zone: Option<Arc<TimeZone>>,
    bc: bool,
    pm: Option<bool>,
    /// Numbers seen without a known role (`Jan 5 2024`: 5 and 2024).
    loose: Vec<(i64, usize)>,
}

fn month_from_name(w: &str) -> Option<i32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let w = w.trim_end_matches('.');
    M.iter()
        .position(|m| *m == w)
        .or_else(|| FULL.iter().position(|m| *m == w))
        .or_else(|| if w == "sept" { Some(8) } else { None })
        .map(|i| i as i32 + 1)
}

fn is_weekday(w: &str) -> bool {
    const D: [&str; 14] = [
        "sun",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    D.contains(&w.trim_end_matches('.')) || w == "tues" || w == "thur" || w == "thurs"
}

/// Parse `HH:MM[:SS[.frac]]`.
fn parse_clock(s: &str, p: &mut Parsed) -> Option<()> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let num = |x: &str| -> Option<i32> {
        if x.is_empty() || x.len() > 9 || !x.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            x.parse().ok()
        }
    };
    p.hour = num(parts[0])?;
    if parts.len() == 2 && parts[1].contains('.') {
        // MM:SS.frac is not accepted as a time; Postgres reads "10:30.5" as min:sec.
        let (m, f) = parts[1].split_once('.')?;
        p.minute = num(parts[0])?;
        p.hour = 0;
        p.second = num(m)?;
        p.usec = parse_frac(f)?;
    } else {
        p.minute = num(parts[1])?;
        if let Some(sec) = parts.get(2) {
            let (si, f) = sec.split_once('.').unwrap_or((sec, ""));
            p.second = num(si)?;
            if sec.contains('.') {
                p.usec = parse_frac(f)?;
            }
        }
    }
    p.has_time = true;
    Some(())
}

/// Fraction digits to microseconds, rounding at the 7th digit.
fn parse_frac(f: &str) -> Option<i64> {
    if !f.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if f.is_empty() {
        return Some(0);
    }
    let mut digits: Vec<u8> = f.bytes().take(7).collect();
    while digits.len() < 7 {
        digits.push(b'0');
    }
    let v: i64 = std::str::from_utf8(&digits).ok()?.parse().ok()?;
    Some((v + 5) / 10)
}

/// Read a date part: `2024-01-05`, `01/05/2024`, `2024/01/05`, `20240105`,
/// `2024-jan-05`.
fn parse_date_token(tok: &str, p: &mut Parsed) -> Option<()> {
    let seps: &[char] = &['-', '/', '.'];
    let parts: Vec<&str> = tok.split(seps).collect();
    if parts.len() == 1 {
        if tok.len() == 8 && tok.bytes().all(|c| c.is_ascii_digit()) {
            p.year = Some(tok[0..4].parse().ok()?);
            p.month = Some(tok[4..6].parse().ok()?);
            p.day = Some(tok[6..8].parse().ok()?);
            return Some(());
        }
        return None;
    }
    if parts.len() != 3 || parts.iter().any(|x| x.is_empty()) {
        return None;
    }
    let as_num = |x: &str| -> Option<i32> {
        if x.bytes().all(|c| c.is_ascii_digit()) && x.len() <= 9 {
            x.parse().ok()
        } else {
            None
        }
    };
    // Month names inside (2024-jan-05, 05-jan-2024).
    if let Some(m) = month_from_name(parts[1]) {
        let a = as_num(parts[0])?;
        let c = as_num(parts[2])?;
        p.month = Some(m);
        if parts[0].len() >= 3 {
            p.year = Some(a);
            p.day = Some(c);
        } else {
            p.day = Some(a);
            p.year = Some(year_2digit(c, parts[2].len()));
        }
        return Some(());
    }
    let a = as_num(parts[0])?;
    let b = as_num(parts[1])?;
    let c = as_num(parts[2])?;
    if parts[0].len() >= 3 {
        p.year = Some(a);
        p.month = Some(b);
        p.day = Some(c);
    } else {
        // DateStyle MDY
        p.month = Some(a);
        p.day = Some(b);
        p.year = Some(year_2digit(c, parts[2].len()));
    }
    Some(())
}

/// Two-digit years: 70-99 -> 19xx, 00-69 -> 20xx (Postgres's rule).
fn year_2digit(y: i32, len: usize) -> i32 {
    if len <= 2 {
        if y < 70 {
            y + 2000
        } else {
            y + 1900
        }
    } else {
        y
    }
}

/// Split a string into tokens: runs of alphanumerics and `-/.:+` with the
/// sign of a trailing offset split off a time.
fn tokenize(s: &str) -> Vec<String> {
    let mut toks = Vec::new();
    for raw in s.split(|c: char| c.is_whitespace() || c == ',') {
        if raw.is_empty() {
            continue;
        }
        // ISO 'T' separator: 2024-01-05t10:00:00
        let mut piece = raw.to_string();
        if let Some(pos) = find_t_separator(&piece) {
            let rest = piece.split_off(pos + 1);
            piece.pop();
            toks.push(piece);
            piece = rest;
        }
        // Time with a trailing zone: 10:00:00+02, 10:00:00z, 10:00-05:30
        if piece.contains(':') || piece.bytes().next().is_some_and(|c| c.is_ascii_digit()) {
            if let Some(pos) = piece.find(':') {
                if let Some(off) = piece[pos..].find(['+', '-']) {
                    let zone = piece.split_off(pos + off);
                    toks.push(piece);
                    toks.push(zone);
                    continue;
                }
                if piece.ends_with('z') {
                    piece.pop();
                    toks.push(piece);
                    toks.push("z".into());
                    continue;
                }
            }
        }
        // 2024-01-05+02 has no colon: leave it to the date reader.
        toks.push(piece);
    }
    toks
}

fn find_t_separator(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (1..b.len().saturating_sub(1))
        .find(|&i| b[i] == b't' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit())
}

/// Parse the fields of a date / timestamp string (lower-cased, trimmed).
fn parse_fields(s: &str, type_name: &str, orig: &str) -> Result<Parsed> {
    let mut p = Parsed::default();
    let toks = tokenize(s);
    if toks.is_empty() {
        return Err(bad(type_name, orig));
    }
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].as_str();
        let first = t.as_bytes()[0];
        if t.contains(':') && first.is_ascii_digit() {
            if p.has_time {
                return Err(bad(type_name, orig));
            }
            parse_clock(t, &mut p).ok_or_else(|| bad(type_name, orig))?;
        } else if first == b'+' || (first == b'-' && p.has_time) {
            let off = parse_offset(t).ok_or_else(|| bad(type_name, orig))?;
            p.tz = Some(off);
        } else if first.is_ascii_digit() {
            if t.contains(['-', '/']) || (t.contains('.') && t.matches('.').count() == 2) {
                if p.year.is_some() {
                    return Err(bad(type_name, orig));
                }
                parse_date_token(t, &mut p).ok_or_else(|| bad(type_name, orig))?;
            } else if t.len() == 8 && t.bytes().all(|c| c.is_ascii_digit()) && p.year.is_none() {
                parse_date_token(t, &mut p).ok_or_else(|| bad(type_name, orig))?;
            } else if t.bytes().all(|c| c.is_ascii_digit()) && t.len() <= 9 {
                let v: i64 = t.parse().map_err(|_| bad(type_name, orig))?;
                p.loose.push((v, t.len()));
            } else if let Some(pos) = t.find(|c: char| c.is_ascii_alphabetic()) {
                // "5th"? or "10am"
                let (num, word) = t.split_at(pos);
                let v: i64 = num.parse().map_err(|_| bad(type_name, orig))?;
                match word {
                    "am" | "pm" => {
                        p.hour = v as i32;
                        p.has_time = true;
                        p.pm = Some(word == "pm");
                    }
                    "st" | "nd" | "rd" | "th" => p.loose.push((v, num.len())),
                    _ => return Err(bad(type_name, orig)),
                }
            } else {
                return Err(bad(type_name, orig));
            }
        } else if first == b'-' {
            return Err(bad(type_name, orig));
        } else {
            let w = t.trim_end_matches('.');
            if let Some(m) = month_from_name(w) {
                if p.month.is_some() {
                    return Err(bad(type_name, orig));
                }
                p.month = Some(m);
            } else if is_weekday(w) {
            } else if w == "bc" {
                p.bc = true;
            } else if w == "ad" {
            } else if w == "am" || w == "a.m" {
                p.pm = Some(false);
            } else if w == "pm" || w == "p.m" {
                p.pm = Some(true);
            } else if w == "at" || w == "on" {
            } else if let Some(off) = zone_abbrev(w) {
                p.tz = Some(off);
            } else if let Some(z) = parse_literal_zone(t) {
                p.zone = Some(z);
            } else {
                return Err(bad(type_name, orig));
            }
        }
        i += 1;
    }
    // Assign the loose numbers: with a month name they are day and year.
    let loose = std::mem::take(&mut p.loose);
    if !loose.is_empty() {
        if p.month.is_some() && p.day.is_none() && p.year.is_none() {
            match loose.as_slice() {
                [(a, la), (b, lb)] => {
                    if *la >= 3 || *a > 31 {
                        p.year = Some(*a as i32);
                        p.day = Some(*b as i32);
                    } else {
                        p.day = Some(*a as i32);
                        p.year = Some(year_2digit(*b as i32, *lb));
                    }
                }
                _ => return Err(bad(type_name, orig)),
            }
        } else if p.year.is_some() && p.month.is_some() && p.day.is_none() && loose.len() == 1 {
            p.day = Some(loose[0].0 as i32);
        } else {
            return Err(bad(type_name, orig));
        }
    }
    if let Some(pm) = p.pm {
        if p.hour > 12 {
            return Err(field_overflow(orig));
        }
        if pm && p.hour != 12 {
            p.hour += 12;
        } else if !pm && p.hour == 12 {
            p.hour = 0;
        }
    }
    if p.bc {
        if let Some(y) = p.year {
            if y <= 0 {
                return Err(bad(type_name, orig));
            }
            p.year = Some(1 - y);
        }
    } else if p.year == Some(0) {
        return Err(TypeError::DatetimeFieldOverflow(format!(
            "date/time field value out of range: \"{orig}\""
        )));
    }
    Ok(p)
}

fn check_time_fields(p: &Parsed, orig: &str) -> Result<()> {
    let ok = (0..=24).contains(&p.hour)
        && (0..60).contains(&p.minute)
        && (0..=60).contains(&p.second)
        && (p.hour < 24 || (p.minute == 0 && p.second == 0 && p.usec == 0));
    if ok {
        Ok(())
    } else {
        Err(field_overflow(orig))
    }
}

fn ymd(p: &Parsed, type_name: &str, orig: &str) -> Result<(i32, i32, i32)> {
    let (Some(y), Some(m), Some(d)) = (p.year, p.month, p.day) else {
        return Err(bad(type_name, orig));
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(field_overflow(orig));
    }
    Ok((y, m, d))
}

fn now_usecs() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    now - UNIX_EPOCH_OFFSET_USECS
}

/// Special words shared by date and timestamp input; value in UTC µs.
fn special(s: &str, ctx: &TypeContext) -> Option<i64> {
    let now_local = || ctx.to_local(now_usecs());
    let today = || now_local().div_euclid(USECS_PER_DAY) * USECS_PER_DAY;
    Some(match s {
        "epoch" => -UNIX_EPOCH_OFFSET_USECS,
        "infinity" | "+infinity" => TS_POS_INF,
        "-infinity" => TS_NEG_INF,
        "now" => now_local(),
        "today" => today(),
        "tomorrow" => today() + USECS_PER_DAY,
        "yesterday" => today() - USECS_PER_DAY,
        _ => return None,
    })
}

/// `date_in`.
pub fn parse_date(s: &str, ctx: &TypeContext) -> Result<i32> {
    let l = s.trim().to_ascii_lowercase();
    if let Some(ts) = special(&l, ctx) {
        return Ok(match ts {
            TS_POS_INF => DATE_POS_INF,
            TS_NEG_INF => DATE_NEG_INF,
            _ => ts.div_euclid(USECS_PER_DAY) as i32,
        });
    }
    let p = parse_fields(&l, "date", s)?;
    let (y, m, d) = ymd(&p, "date", s)?;
    if p.has_time {
        check_time_fields(&p, s)?;
    }
    let days = date2j(y, m, d) as i64 - POSTGRES_EPOCH_JDATE as i64;
    if y < -4713
        || days > (DATE_END_JDATE - POSTGRES_EPOCH_JDATE) as i64
        || !is_valid_date(days as i32)
    {
        return Err(TypeError::DatetimeFieldOverflow(format!(
            "date out of range: \"{s}\""
        )));
    }
    Ok(days as i32)
}

/// `time_in`: `10:11:12.5`, `10:11`, `10am`, an optional (ignored) date.
pub fn parse_time(s: &str) -> Result<i64> {
    let l = s.trim().to_ascii_lowercase();
    if l == "allballs" {
        return Ok(0);
    }
    let l = if l.starts_with('t') && l.len() > 1 {
        l[1..].to_string()
    } else {
        l
    };
    let p = parse_fields(&l, "time without time zone", s)?;
    if !p.has_time {
        return Err(bad("time without time zone", s));
    }
    check_time_fields(&p, s)?;
    Ok(p.hour as i64 * USECS_PER_HOUR
        + p.minute as i64 * USECS_PER_MINUTE
        + p.second as i64 * USECS_PER_SEC
        + p.usec)
}

/// `timestamp_in` / `timestamptz_in`. For timestamptz a missing zone means
/// the session zone, and the result is UTC; for timestamp any zone given is
/// ignored.
pub fn parse_timestamp(s: &str, ctx: &TypeContext, with_tz: bool) -> Result<i64> {
    let type_name = if with_tz {
        "timestamp with time zone"
    } else {
        "timestamp"
    };
    let l = s.trim().to_ascii_lowercase();
    if let Some(ts) = special(&l, ctx) {
        if ts == TS_POS_INF || ts == TS_NEG_INF {
            return Ok(ts);
        }
        // special() gives local wall time; timestamptz wants UTC.
        return Ok(if with_tz { ctx.to_utc(ts) } else { ts });
    }
    let p = parse_fields(&l, type_name, s)?;
    let (y, m, d) = ymd(&p, type_name, s)?;
    check_time_fields(&p, s)?;
    let tm = Tm {
        year: y,
        month: m,
        day: d,
        hour: p.hour,
        minute: p.minute,
        second: p.second.min(59),
        usec: p.usec as i32,
    };
    let out_of_range =
        || TypeError::DatetimeFieldOverflow(format!("timestamp out of range: \"{s}\""));
    let mut ts = tm2ts(&Tm {
        hour: 0,
        minute: 0,
        second: 0,
        usec: 0,
        ..tm
    })
    .ok_or_else(out_of_range)?;
    ts += p.hour as i64 * USECS_PER_HOUR
        + p.minute as i64 * USECS_PER_MINUTE
        + p.second as i64 * USECS_PER_SEC
        + p.usec;
    if with_tz {
        ts = match (p.tz, &p.zone) {
            (Some(off), _) => ts - off as i64 * USECS_PER_SEC,
            (None, Some(zone)) => local_to_utc(ts, zone),
            (None, None) => ctx.to_utc(ts),
        };
    }
    if !is_valid_timestamp(ts) {
        return Err(out_of_range());
    }
    Ok(ts)
}

/// `interval_in`: `1 day`, `2 hours 30 minutes`, `1 day 02:00:00`,
/// `-1 mons`, `@ 1 hour ago`, `1.5 days`, ISO 8601 `P1Y2M3DT4H5M6S`.
pub fn parse_interval(s: &str) -> Result<Interval> {
    let l = s.trim().to_ascii_lowercase();
    let err = || TypeError::InvalidDatetimeFormat {
        type_name: "interval".into(),
        value: s.into(),
    };
    let overflow = || TypeError::DatetimeFieldOverflow("interval out of range".into());
    if l.is_empty() {
        return Err(err());
    }
    if let Some(rest) = l.strip_prefix('p') {
        return parse_iso_interval(rest).ok_or_else(err);
    }
    let mut acc = Acc::default();
    let l = l.strip_prefix('@').unwrap_or(&l).trim();
    let mut toks: Vec<String> = Vec::new();
    for raw in l.split_whitespace() {
        // split "1day" / "10min" into number and unit
        let b = raw.as_bytes();
        let numeric_head = b[0].is_ascii_digit() || b[0] == b'-' || b[0] == b'+' || b[0] == b'.';
        if numeric_head && !raw.contains(':') {
            if let Some(pos) = raw.find(|c: char| c.is_ascii_alphabetic()) {
                toks.push(raw[..pos].to_string());
                toks.push(raw[pos..].to_string());
                continue;
            }
        }
        toks.push(raw.to_string());
    }
    let mut ago = false;
    let mut i = 0;
    let mut any = false;
    while i < toks.len() {
        let t = toks[i].as_str();
        if t == "ago" {
            if i + 1 != toks.len() {
                return Err(err());
            }
            ago = true;
            i += 1;
            continue;
        }
        if t.contains(':') {
            let (neg, body) = match t.as_bytes()[0] {
                b'-' => (true, &t[1..]),
                b'+' => (false, &t[1..]),
                _ => (false, t),
            };
            let mut p = Parsed::default();
            parse_clock(body, &mut p).ok_or_else(err)?;
            if p.minute >= 60 || p.second >= 60 {
                return Err(TypeError::DatetimeFieldOverflow(format!(
                    "interval field value out of range: \"{s}\""
                )));
            }
            let us = p.hour as i64 * USECS_PER_HOUR
                + p.minute as i64 * USECS_PER_MINUTE
                + p.second as i64 * USECS_PER_SEC
                + p.usec;
            acc.micros += if neg { -(us as f64) } else { us as f64 };
            any = true;
            i += 1;
            continue;
        }
        let v: f64 = match t.parse::<f64>() {
            Ok(v) if t.bytes().any(|c| c.is_ascii_digit()) && !t.contains(['e', 'i', 'n']) => v,
            _ => return Err(err()),
        };
        let unit = toks.get(i + 1).map(|u| u.as_str());
        let consumed_unit = match unit.and_then(unit_of) {
            Some(u) => {
                acc.add(u, v);
                true
            }
            None => {
                if unit.is_some() && unit != Some("ago") {
                    return Err(err());
                }
                acc.add(Unit::Second, v);
                false
            }
        };
        any = true;
        i += if consumed_unit { 2 } else { 1 };
    }
    if !any {
        return Err(err());
    }
    let mut iv = acc.finish().ok_or_else(overflow)?;
    if ago {
        iv = Interval {
            months: iv.months.checked_neg().ok_or_else(overflow)?,
            days: iv.days.checked_neg().ok_or_else(overflow)?,
            micros: iv.micros.checked_neg().ok_or_else(overflow)?,
        };
    }
    Ok(iv)
}

#[derive(Clone, Copy, Debug)]
enum Unit {
    Micro,
    Milli,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Decade,
    Century,
    Millennium,
}

fn unit_of(w: &str) -> Option<Unit> {
    Some(match w {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "microsecon" => Unit::Micro,
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "millisecon" => Unit::Milli,
        "second" | "seconds" | "s" | "sec" | "secs" => Unit::Second,
        "minute" | "minutes" | "m" | "min" | "mins" => Unit::Minute,
        "hour" | "hours" | "h" | "hr" | "hrs" => Unit::Hour,
        "day" | "days" | "d" => Unit::Day,
        "week" | "weeks" | "w" => Unit::Week,
        "month" | "months" | "mon" | "mons" => Unit::Month,
        "year" | "years" | "y" | "yr" | "yrs" => Unit::Year,
        "decade" | "decades" | "dec" | "decs" => Unit::Decade,
        "century" | "centuries" | "c" | "cent" => Unit::Century,
        "millennium" | "millennia" | "mil" | "mils" => Unit::Millennium,
        _ => return None,
    })
}

/// Accumulates interval fields, cascading fractions down like Postgres
/// (`1.5 months` = 1 mon 15 days, `1.5 days` = 1 day 12:00:00).
#[derive(Default)]
struct Acc {
    months: f64,
    days: f64,
    micros: f64,
}

impl Acc {
    fn add(&mut self, u: Unit, v: f64) {
        match u {
            Unit::Micro => self.micros += v,
            Unit::Milli => self.micros += v * 1000.0,
            Unit::Second => self.micros += v * 1e6,
            Unit::Minute => self.micros += v * 60e6,
            Unit::Hour => self.micros += v * 3600e6,
            Unit::Day => self.add_days(v),
            Unit::Week => self.add_days(v * 7.0),
            Unit::Month => self.add_months(v),
            Unit::Year => self.add_years(v, 1.0),
            Unit::Decade => self.add_years(v, 10.0),
            Unit::Century => self.add_years(v, 100.0),
            Unit::Millennium => self.add_years(v, 1000.0),
        }
    }
    fn add_days(&mut self, v: f64) {
        let whole = v.trunc();
        self.days += whole;
        self.micros += ((v - whole) * 86400e6).round();
    }
    fn add_months(&mut self, v: f64) {
        let whole = v.trunc();
        self.months += whole;
        self.add_days((v - whole) * 30.0);
    }
    fn add_years(&mut self, v: f64, per: f64) {
        let whole = v.trunc();
        self.months += whole * 12.0 * per;
        self.months += ((v - whole) * 12.0 * per).round();
    }
    fn finish(&self) -> Option<Interval> {
        let ok = |x: f64, lim: f64| x.abs() <= lim;
        if !ok(self.months, i32::MAX as f64)
            || !ok(self.days, i32::MAX as f64)
            || !ok(self.micros, 9.2e18)
        {
            return None;
        }
        Some(Interval {
            months: self.months as i32,
            days: self.days as i32,
            micros: self.micros.round() as i64,
        })
    }
}

fn parse_iso_interval(s: &str) -> Option<Interval> {
    let mut acc = Acc::default();
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in s.chars() {
        if c == 't' {
            in_time = true;
            continue;
        }
        if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' {
            num.push(c);
            continue;
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        let u = match (c, in_time) {
            ('y', false) => Unit::Year,
            ('m', false) => Unit::Month,
            ('w', false) => Unit::Week,
            ('d', false) => Unit::Day,
            ('h', true) => Unit::Hour,
            ('m', true) => Unit::Minute,
            ('s', true) => Unit::Second,
            _ => return None,
        };
        acc.add(u, v);
        any = true;
    }
    if !num.is_empty() || !any {
        return None;
    }
    acc.finish()
}

// ---------------------------------------------------------------- arithmetic

/// Add months to a timestamp, clamping the day to the month's end
/// (`timestamp_pl_interval`), then days and microseconds.
pub fn timestamp_add_interval(ts: i64, iv: &Interval) -> Result<i64> {
    if ts == TS_POS_INF || ts == TS_NEG_INF {
        return Ok(ts);
    }
    let overflow = || TypeError::DatetimeFieldOverflow("timestamp out of range".into());
    let mut ts = ts;
    if iv.months != 0 {
        let mut tm = ts2tm(ts);
        let total = tm.year as i64 * 12 + (tm.month as i64 - 1) + iv.months as i64;
        tm.year = total.div_euclid(12) as i32;
        tm.month = (total.rem_euclid(12) + 1) as i32;
        tm.day = tm.day.min(days_in_month(tm.year, tm.month));
        ts = tm2ts(&tm).ok_or_else(overflow)?;
    }
    if iv.days != 0 {
        let mut tm = ts2tm(ts);
        let jd = date2j(tm.year, tm.month, tm.day) as i64 + iv.days as i64;
        let (y, m, d) = j2date(i32::try_from(jd).map_err(|_| overflow())?);
        tm.year = y;
        tm.month = m;
        tm.day = d;
        ts = tm2ts(&tm).ok_or_else(overflow)?;
    }
    let ts = ts.checked_add(iv.micros).ok_or_else(overflow)?;
    if !is_valid_timestamp(ts) {
        return Err(overflow());
    }
    Ok(ts)
}

/// Move whole days out of the time part (`justify_hours`).
pub fn justify_hours(iv: Interval) -> Interval {
    let mut days = iv.days as i64 + iv.micros / USECS_PER_DAY;
    let mut micros = iv.micros % USECS_PER_DAY;
    if days > 0 && micros < 0 {
        micros += USECS_PER_DAY;
        days -= 1;
    } else if days < 0 && micros > 0 {
        micros -= USECS_PER_DAY;
        days += 1;
    }
    Interval {
        months: iv.months,
        days: days as i32,
        micros,
    }
}

/// Move whole months out of the days (`justify_days`).
pub fn justify_days(iv: Interval) -> Interval {
    let mut months = iv.months + iv.days / 30;
    let mut days = iv.days % 30;
    if months > 0 && days < 0 {
        days += 30;
        months -= 1;
    } else if months < 0 && days > 0 {
        days -= 30;
        months += 1;
    }
    Interval {
        months,
        days,
        micros: iv.micros,
    }
}

/// Both justifications (`justify_interval`).
pub fn justify_interval(iv: Interval) -> Interval {
    let mut months = iv.months as i64 + (iv.days / 30) as i64;
    let mut days = (iv.days % 30) as i64;
    let mut micros = iv.micros;
    days += micros / USECS_PER_DAY;
    micros %= USECS_PER_DAY;
    months += days / 30;
    days %= 30;
    if months > 0 && (days < 0 || (days == 0 && micros < 0)) {
        days += 30;
        months -= 1;
    } else if months < 0 && (days > 0 || (days == 0 && micros > 0)) {
        days -= 30;
        months += 1;
    }
    if days > 0 && micros < 0 {
        micros += USECS_PER_DAY;
        days -= 1;
    } else if days < 0 && micros > 0 {
        micros -= USECS_PER_DAY;
        days += 1;
    }
    Interval {
        months: months as i32,
        days: days as i32,
        micros,
    }
}

/// Interval as one number for comparison: months are 30 days, days 24 hours.
pub fn interval_span(iv: &Interval) -> i128 {
    iv.months as i128 * 30 * USECS_PER_DAY as i128
        + iv.days as i128 * USECS_PER_DAY as i128
        + iv.micros as i128
}

/// Current time in µs since 2000-01-01 UTC.
pub fn now() -> i64 {
    now_usecs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TypeContext {
        TypeContext::default()
    }

    #[test]
    fn julian_days() {
        assert_eq!(date2j(2000, 1, 1), POSTGRES_EPOCH_JDATE);
        assert_eq!(date2j(1970, 1, 1), UNIX_EPOCH_JDATE);
        for jd in [0, 1_000_000, 2_451_545, 2_460_000, 5_000_000] {
            let (y, m, d) = j2date(jd);
            assert_eq!(date2j(y, m, d), jd);
        }
    }

    #[test]
    fn date_io() {
        let d = parse_date("2024-01-05", &ctx()).unwrap();
        assert_eq!(format_date(d), "2024-01-05");
        assert_eq!(
            format_date(parse_date("Jan 5 2024", &ctx()).unwrap()),
            "2024-01-05"
        );
        assert_eq!(
            format_date(parse_date("January 5, 2024", &ctx()).unwrap()),
            "2024-01-05"
        );
        assert_eq!(
            format_date(parse_date("01/05/2024", &ctx()).unwrap()),
            "2024-01-05"
        );
        assert_eq!(
            format_date(parse_date("20240105", &ctx()).unwrap()),
            "2024-01-05"
        );
        assert_eq!(
            format_date(parse_date("2024-01-05 BC", &ctx()).unwrap()),
            "2024-01-05 BC"
        );
        assert_eq!(
            format_date(parse_date("epoch", &ctx()).unwrap()),
            "1970-01-01"
        );
        assert_eq!(
            format_date(parse_date("infinity", &ctx()).unwrap()),
            "infinity"
        );
        assert!(matches!(
            parse_date("2024-02-30", &ctx()),
            Err(TypeError::DatetimeFieldOverflow(_))
        ));
        assert!(matches!(
            parse_date("abc", &ctx()),
            Err(TypeError::InvalidDatetimeFormat { .. })
        ));
    }

    #[test]
    fn timestamp_io() {
        let ts = parse_timestamp("2024-01-05 10:11:12.5", &ctx(), false).unwrap();
        assert_eq!(format_timestamp(ts), "2024-01-05 10:11:12.5");
        let tz = parse_timestamp("2024-01-05 10:00:00+02", &ctx(), true).unwrap();
        assert_eq!(format_timestamptz(tz, &ctx()), "2024-01-05 08:00:00+00");
        let tz = parse_timestamp("2024-01-05T10:00:00Z", &ctx(), true).unwrap();
        assert_eq!(format_timestamptz(tz, &ctx()), "2024-01-05 10:00:00+00");
        let c = TypeContext::new(Arc::new(TimeZone::fixed("x", 19800, "x")));
        assert_eq!(format_timestamptz(tz, &c), "2024-01-05 15:30:00+05:30");
        let tz = parse_timestamp("2024-01-05 10:00:00 -05:30", &ctx(), true).unwrap();
        assert_eq!(format_timestamptz(tz, &ctx()), "2024-01-05 15:30:00+00");
        assert_eq!(format_time(parse_time("10:11").unwrap()), "10:11:00");
    }

    #[test]
    fn interval_io() {
        let f = |s: &str| format_interval(&parse_interval(s).unwrap());
        assert_eq!(f("1 day"), "1 day");
        assert_eq!(f("2 hours 30 minutes"), "02:30:00");
        assert_eq!(
            f("1 year 2 months 3 days 04:05:06"),
            "1 year 2 mons 3 days 04:05:06"
        );
        assert_eq!(f("-1 mons"), "-1 mons");
        assert_eq!(f("@ 1 hour ago"), "-01:00:00");
        assert_eq!(f("1.5 days"), "1 day 12:00:00");
        assert_eq!(f("1.5 months"), "1 mon 15 days");
        assert_eq!(f("P1Y2M3DT4H5M6S"), "1 year 2 mons 3 days 04:05:06");
        assert_eq!(f("-1 day 2 hours"), "-1 days +02:00:00");
        assert_eq!(f("0"), "00:00:00");
        assert_eq!(f("1 day -02:00:00"), "1 day -02:00:00");
        assert!(parse_interval("abc").is_err());
    }

    #[test]
    fn timezones() {
        assert_eq!(parse_timezone("UTC").unwrap().offset_at(0), 0);
        assert_eq!(parse_timezone("utc").unwrap().name(), "UTC");
        assert_eq!(parse_timezone("UTC+3").unwrap().offset_at(0), -3 * 3600);
        assert_eq!(parse_timezone("<+03>-03").unwrap().offset_at(0), 3 * 3600);
        assert!(parse_timezone("nowhere").is_none());
        assert!(parse_timezone("Foo/Bar").is_none());
        let z = parse_timezone("EST5EDT4,M3.2.0,M11.1.0").unwrap();
        assert_eq!(z.offset_at(1_720_000_000), -4 * 3600);
        // Postgres: a number is hours east; other offsets are POSIX (west).
        let z = parse_timezone("5.5").unwrap();
        assert_eq!((z.name(), z.offset_at(0)), ("<+05:30>-05:30", 19800));
        // SHOW's value must read back as the same zone (RESET, SET LOCAL).
        assert_eq!(parse_timezone(z.name()).unwrap().offset_at(0), 19800);
        assert_eq!(parse_timezone("-7").unwrap().name(), "<-07>+07");
        assert_eq!(parse_timezone("-05:30").unwrap().offset_at(0), 19800);
        assert!(parse_timezone("PST").is_none());
        assert!(parse_timezone("Z").is_none());
        // AT TIME ZONE takes abbreviations first: CET is +01 even in summer.
        assert_eq!(
            parse_zone_name("CET").unwrap().offset_at(1_720_000_000),
            3600
        );
        assert_eq!(parse_zone_name("pst").unwrap().offset_at(0), -8 * 3600);
    }

    fn zone_ctx(name: &str) -> TypeContext {
        TypeContext::new(parse_timezone(name).expect("tzdata installed"))
    }

    /// Outputs checked against PostgreSQL 15.
    #[test]
    fn named_zones_in_and_out() {
        let ny = zone_ctx("America/New_York");
        let rt =
            |s: &str, c: &TypeContext| format_timestamptz(parse_timestamp(s, c, true).unwrap(), c);
        assert_eq!(rt("2024-06-01 12:00:00+00", &ny), "2024-06-01 08:00:00-04");
        assert_eq!(rt("2024-01-01 12:00:00+00", &ny), "2024-01-01 07:00:00-05");
        assert_eq!(rt("2024-03-10 02:30", &ny), "2024-03-10 03:30:00-04");
        assert_eq!(rt("2024-11-03 01:30", &ny), "2024-11-03 01:30:00-05");
        assert_eq!(rt("2024-11-03 00:30", &ny), "2024-11-03 00:30:00-04");
        assert_eq!(rt("1800-01-01 00:00", &ny), "1800-01-01 00:00:00-04:56:02");
        assert_eq!(rt("2100-07-04 12:00", &ny), "2100-07-04 12:00:00-04");
        let utc = ctx();
        assert_eq!(
            rt("2024-07-01 12:00 Europe/Berlin", &utc),
            "2024-07-01 10:00:00+00"
        );
        assert_eq!(
            rt("2024-03-10 02:30 america/new_york", &utc),
            "2024-03-10 07:30:00+00"
        );
        let kolkata = zone_ctx("Asia/Kolkata");
        assert_eq!(
            rt("2024-01-05 10:00+00", &kolkata),
            "2024-01-05 15:30:00+05:30"
        );
        let lh = zone_ctx("Australia/Lord_Howe");
        assert_eq!(rt("2024-01-05 10:00+00", &lh), "2024-01-05 21:00:00+11");
        assert_eq!(rt("2024-07-05 10:00+00", &lh), "2024-07-05 20:30:00+10:30");
    }
}
