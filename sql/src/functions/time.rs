//! Date/time functions: now() and friends (from the transaction/statement
//! timestamps in the call context), date_trunc, date_part/extract, age,
//! make_*, justify_*, to_char (timestamps, intervals and numbers), to_date,
//! to_timestamp. Timestamptz fields are computed in the session time zone.

use super::{arg_f64, arg_i64, arg_text, CallContext};
use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;
use sargdb_catalog::types::datetime::{
    self as dt, date2j, day_of_week, days_in_month, j2date, tm2ts, ts2tm, Tm, POSTGRES_EPOCH_JDATE,
    UNIX_EPOCH_OFFSET_USECS, USECS_PER_DAY, USECS_PER_HOUR, USECS_PER_MINUTE, USECS_PER_SEC,
};
use sargdb_catalog::types::{numeric, Interval, Numeric, TypeError, Value};

fn err(msg: String) -> TypeError {
    TypeError::InvalidParameterValue(msg)
}

/// The timestamptz meaning a local wall-clock time in the session zone.
fn local_to_utc(ctx: &CallContext, local: i64) -> i64 {
    ctx.types.to_utc(local)
}

fn is_inf(ts: i64) -> bool {
    ts == i64::MIN || ts == i64::MAX
}

/// ISO 8601 week number (`date2isoweek`).
fn iso_week(year: i32, mon: i32, mday: i32) -> i32 {
    let dayn = date2j(year, mon, mday);
    let mut day4 = date2j(year, 1, 4);
    // Direct port with j2day semantics: day0 = j2day(day4 - 1)
    let j2day = |j: i32| (j + 1).rem_euclid(7);
    let mut z = j2day(day4 - 1);
    if dayn < day4 - z {
        day4 = date2j(year - 1, 1, 4);
        z = j2day(day4 - 1);
    }
    let mut result = (dayn - (day4 - z)) / 7 + 1;
    if result >= 52 {
        let d4 = date2j(year + 1, 1, 4);
        let z2 = j2day(d4 - 1);
        if dayn >= d4 - z2 {
            result = (dayn - (d4 - z2)) / 7 + 1;
        }
    }
    result
}

/// ISO 8601 week-numbering year (`date2isoyear`).
fn iso_year(year: i32, mon: i32, mday: i32) -> i32 {
    let j2day = |j: i32| (j + 1).rem_euclid(7);
    let dayn = date2j(year, mon, mday);
    let mut y = year;
    let mut day4 = date2j(y, 1, 4);
    let mut z = j2day(day4 - 1);
    if dayn < day4 - z {
        y -= 1;
        day4 = date2j(y, 1, 4);
        z = j2day(day4 - 1);
    }
    let result = (dayn - (day4 - z)) / 7 + 1;
    if result >= 52 {
        let d4 = date2j(y + 1, 1, 4);
        let z2 = j2day(d4 - 1);
        if dayn >= d4 - z2 {
            y += 1;
        }
    }
    y
}

/// Value as (unscaled, scale) so extract() and date_part() share one table.
fn field_value(
    field: &str,
    ts_local: i64,
    ts_utc: i64,
    type_name: &str,
    ctx: &CallContext,
    is_date: bool,
) -> Result<(i64, i64), TypeError> {
    let tm = ts2tm(ts_local);
    let jd = date2j(tm.year, tm.month, tm.day);
    let sec_us = tm.second as i64 * USECS_PER_SEC + tm.usec as i64;
    let f = field.to_ascii_lowercase();
    let unsupported = || err(format!("unit \"{f}\" not supported for type {type_name}"));
    if is_date
        && matches!(
            f.as_str(),
            "hour"
                | "minute"
                | "second"
                | "milliseconds"
                | "microseconds"
                | "timezone"
                | "timezone_hour"
                | "timezone_minute"
        )
    {
        return Err(unsupported());
    }
    Ok(match f.as_str() {
        "year" | "years" | "y" | "yr" | "yrs" => {
            ((if tm.year > 0 { tm.year } else { tm.year - 1 }) as i64, 0)
        }
        "month" | "months" | "mon" | "mons" => (tm.month as i64, 0),
        "day" | "days" | "d" => (tm.day as i64, 0),
        "hour" | "hours" | "h" | "hr" | "hrs" => (tm.hour as i64, 0),
        "minute" | "minutes" | "m" | "min" | "mins" => (tm.minute as i64, 0),
        "second" | "seconds" | "s" | "sec" | "secs" => (sec_us, 6),
        "milliseconds" | "millisecond" | "ms" | "msec" | "msecs" => (sec_us, 3),
        "microseconds" | "microsecond" | "us" | "usec" | "usecs" => (sec_us, 0),
        "epoch" => {
            if is_date {
                ((ts_utc + UNIX_EPOCH_OFFSET_USECS) / USECS_PER_SEC, 0)
            } else {
                (ts_utc + UNIX_EPOCH_OFFSET_USECS, 6)
            }
        }
        "dow" => (day_of_week(jd) as i64, 0),
        "isodow" => {
            let d = day_of_week(jd);
            (if d == 0 { 7 } else { d } as i64, 0)
        }
        "doy" => ((jd - date2j(tm.year, 1, 1) + 1) as i64, 0),
        "week" => (iso_week(tm.year, tm.month, tm.day) as i64, 0),
        "isoyear" => {
            let y = iso_year(tm.year, tm.month, tm.day);
            ((if y > 0 { y } else { y - 1 }) as i64, 0)
        }
        "quarter" => (((tm.month - 1) / 3 + 1) as i64, 0),
        "decade" | "decades" => {
            let y = tm.year;
            (
                (if y >= 0 {
                    y / 10
                } else {
                    -((8 - (y - 1)) / 10)
                }) as i64,
                0,
            )
        }
        "century" | "centuries" => {
            let y = tm.year;
            (
                (if y > 0 {
                    (y + 99) / 100
                } else {
                    -((99 - (y - 1)) / 100)
                }) as i64,
                0,
            )
        }
        "millennium" | "millennia" => {
            let y = tm.year;
            (
                (if y > 0 {
                    (y + 999) / 1000
                } else {
                    -((999 - (y - 1)) / 1000)
                }) as i64,
                0,
            )
        }
        "julian" => (jd as i64, 0),
        "timezone" if type_name == "timestamp with time zone" => {
            (ctx.types.offset_at(ts_utc) as i64, 0)
        }
        "timezone_hour" if type_name == "timestamp with time zone" => {
            ((ctx.types.offset_at(ts_utc) / 3600) as i64, 0)
        }
        "timezone_minute" if type_name == "timestamp with time zone" => {
            ((ctx.types.offset_at(ts_utc) / 60 % 60) as i64, 0)
        }
        _ => {
            return Err(err(format!(
                "unit \"{f}\" not recognized for type {type_name}"
            )))
        }
    })
}

fn interval_field(field: &str, iv: &Interval) -> Result<(i64, i64), TypeError> {
    let f = field.to_ascii_lowercase();
    let t = iv.micros;
    Ok(match f.as_str() {
        "year" | "years" => ((iv.months / 12) as i64, 0),
        "month" | "months" | "mon" | "mons" => ((iv.months % 12) as i64, 0),
        "day" | "days" => (iv.days as i64, 0),
        "hour" | "hours" => (t / USECS_PER_HOUR, 0),
        "minute" | "minutes" | "min" | "mins" => (t / USECS_PER_MINUTE % 60, 0),
        "second" | "seconds" | "sec" | "secs" => (t % USECS_PER_MINUTE, 6),
        "milliseconds" | "ms" => (t % USECS_PER_MINUTE, 3),
        "microseconds" | "us" => (t % USECS_PER_MINUTE, 0),
        "quarter" => (((iv.months % 12) / 3 + 1) as i64, 0),
        "decade" => ((iv.months / 120) as i64, 0),
        "century" => ((iv.months / 1200) as i64, 0),
        "millennium" => ((iv.months / 12000) as i64, 0),
        "epoch" => {
            // 365.25 days a year, 30 days a month
            let secs_year = 36525 * 864 * USECS_PER_SEC; // 365.25 * 86400 * 1e6
            let us = t
                + secs_year * (iv.months / 12) as i64
                + 30 * USECS_PER_DAY * (iv.months % 12) as i64
                + USECS_PER_DAY * iv.days as i64;
            (us, 6)
        }
        _ => return Err(err(format!("unit \"{f}\" not supported for type interval"))),
    })
}

fn to_result(name: &str, (v, scale): (i64, i64)) -> Value {
    if name == "extract" {
        Value::Numeric(Numeric::Finite(BigDecimal::new(BigInt::from(v), scale)))
    } else {
        Value::Float8(v as f64 / 10f64.powi(scale as i32))
    }
}

fn trunc_tm(field: &str, tm: &mut Tm, type_name: &str) -> Result<(), TypeError> {
    let f = field.to_ascii_lowercase();
    match f.as_str() {
        "millennium" => {
            tm.year = if tm.year > 0 {
                ((tm.year + 999) / 1000) * 1000 - 999
            } else {
                -((999 - (tm.year - 1)) / 1000) * 1000 + 1
            };
            tm.month = 1;
            tm.day = 1;
            tm.hour = 0;
            tm.minute = 0;
            tm.second = 0;
            tm.usec = 0;
        }
        "century" => {
            tm.year = if tm.year > 0 {
                ((tm.year + 99) / 100) * 100 - 99
            } else {
                -((99 - (tm.year - 1)) / 100) * 100 + 1
            };
            *tm = Tm {
                month: 1,
                day: 1,
                ..Tm {
                    year: tm.year,
                    ..Default::default()
                }
            };
        }
        "decade" => {
            tm.year = if tm.year > 0 {
                (tm.year / 10) * 10
            } else {
                -((8 - (tm.year - 1)) / 10) * 10
            };
            *tm = Tm {
                year: tm.year,
                month: 1,
                day: 1,
                ..Default::default()
            };
        }
        "year" => {
            *tm = Tm {
                year: tm.year,
                month: 1,
                day: 1,
                ..Default::default()
            }
        }
        "quarter" => {
            *tm = Tm {
                year: tm.year,
                month: 3 * ((tm.month - 1) / 3) + 1,
                day: 1,
                ..Default::default()
            }
        }
        "month" => {
            *tm = Tm {
                year: tm.year,
                month: tm.month,
                day: 1,
                ..Default::default()
            }
        }
        "week" => {
            let jd = date2j(tm.year, tm.month, tm.day);
            let dow = (day_of_week(jd) + 6) % 7; // Monday = 0
            let (y, m, d) = j2date(jd - dow);
            *tm = Tm {
                year: y,
                month: m,
                day: d,
                ..Default::default()
            };
        }
        "day" => {
            *tm = Tm {
                year: tm.year,
                month: tm.month,
                day: tm.day,
                ..Default::default()
            }
        }
        "hour" => {
            *tm = Tm {
                minute: 0,
                second: 0,
                usec: 0,
                ..*tm
            }
        }
        "minute" => {
            *tm = Tm {
                second: 0,
                usec: 0,
                ..*tm
            }
        }
        "second" => tm.usec = 0,
        "milliseconds" => tm.usec = tm.usec / 1000 * 1000,
        "microseconds" => {}
        _ => {
            return Err(err(format!(
                "unit \"{f}\" not recognized for type {type_name}"
            )))
        }
    }
    Ok(())
}

fn out_of_range() -> TypeError {
    TypeError::DatetimeFieldOverflow("timestamp out of range".into())
}

/// `age(a, b)`: field-by-field difference with borrowing (`timestamp_age`).
fn age(t1: i64, t2: i64) -> Result<Interval, TypeError> {
    if is_inf(t1) || is_inf(t2) {
        return Err(TypeError::DatetimeFieldOverflow(
            "cannot subtract infinite timestamps".into(),
        ));
    }
    let (a, b) = (ts2tm(t1), ts2tm(t2));
    let mut usec = a.usec as i64 - b.usec as i64;
    let mut sec = a.second - b.second;
    let mut min = a.minute - b.minute;
    let mut hour = a.hour - b.hour;
    let mut mday = a.day - b.day;
    let mut mon = a.month - b.month;
    let mut year = a.year - b.year;
    let neg = t1 < t2;
    if neg {
        usec = -usec;
        sec = -sec;
        min = -min;
        hour = -hour;
        mday = -mday;
        mon = -mon;
        year = -year;
    }
    while usec < 0 {
        usec += USECS_PER_SEC;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        mday -= 1;
    }
    while mday < 0 {
        if neg {
            mday += days_in_month(a.year, a.month);
        } else {
            mday += days_in_month(b.year, b.month);
        }
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    if neg {
        usec = -usec;
        sec = -sec;
        min = -min;
        hour = -hour;
        mday = -mday;
        mon = -mon;
        year = -year;
    }
    Ok(Interval {
        months: year * 12 + mon,
        days: mday,
        micros: hour as i64 * USECS_PER_HOUR
            + min as i64 * USECS_PER_MINUTE
            + sec as i64 * USECS_PER_SEC
            + usec,
    })
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn case_like(word: &str, pat: &str) -> String {
    if pat.chars().all(|c| c.is_ascii_uppercase()) {
        word.to_uppercase()
    } else if pat.chars().all(|c| c.is_ascii_lowercase()) {
        word.to_lowercase()
    } else {
        word.to_string()
    }
}

/// Fields for to_char: a broken-down time plus the zone text.
struct CharFields {
    tm: Tm,
    tz: String,
    offset: i32,
    /// Interval hours are not reduced modulo 24.
    total_hours: Option<i64>,
}

const PATTERNS: &[&str] = &[
    "FF1", "FF2", "FF3", "FF4", "FF5", "FF6", "HH24", "HH12", "HH", "MI", "SSSSS", "SSSS", "SS",
    "MS", "US", "A.M.", "P.M.", "a.m.", "p.m.", "AM", "PM", "am", "pm", "Y,YYY", "IYYY", "YYYY",
    "YYY", "YY", "Y", "MONTH", "Month", "month", "MON", "Mon", "mon", "MM", "DAY", "Day", "day",
    "DY", "Dy", "dy", "DDD", "DD", "ID", "D", "WW", "IW", "W", "Q", "J", "CC", "TZH", "TZM", "TZ",
    "tz", "OF", "BC", "AD", "B.C.", "A.D.",
];

fn to_char_time(f: &CharFields, fmt: &str) -> String {
    let tm = &f.tm;
    let mut out = String::new();
    let b = fmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch = fmt[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
            continue;
        }
        let mut fm = false;
        let mut j = i;
        if fmt[j..].starts_with("FM") || fmt[j..].starts_with("fm") {
            fm = true;
            j += 2;
        }
        let Some(pat) = PATTERNS.iter().find(|p| fmt[j..].starts_with(**p)) else {
            let ch = fmt[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        };
        i = j + pat.len();
        let num = |v: i64, width: usize| -> String {
            if fm {
                v.to_string()
            } else if v < 0 {
                format!("-{:0w$}", -v, w = width)
            } else {
                format!("{:0w$}", v, w = width)
            }
        };
        let jd = date2j(tm.year, tm.month, tm.day);
        let year = if tm.year > 0 { tm.year } else { 1 - tm.year } as i64;
        let hour12 = |h: i32| if h % 12 == 0 { 12 } else { h % 12 } as i64;
        let s = match *pat {
            "HH24" => num(f.total_hours.unwrap_or(tm.hour as i64), 2),
            "HH12" | "HH" => num(hour12(tm.hour), 2),
            "MI" => num(tm.minute as i64, 2),
            "SS" => num(tm.second as i64, 2),
            "SSSS" | "SSSSS" => {
                (tm.hour as i64 * 3600 + tm.minute as i64 * 60 + tm.second as i64).to_string()
            }
            "MS" => num(tm.usec as i64 / 1000, 3),
            "US" => num(tm.usec as i64, 6),
            "FF1" | "FF2" | "FF3" | "FF4" | "FF5" | "FF6" => {
                let n: u32 = pat[2..].parse().unwrap_or(6);
                num(tm.usec as i64 / 10i64.pow(6 - n), n as usize)
            }
            "AM" | "PM" => (if tm.hour >= 12 { "PM" } else { "AM" }).into(),
            "am" | "pm" => (if tm.hour >= 12 { "pm" } else { "am" }).into(),
            "A.M." | "P.M." => (if tm.hour >= 12 { "P.M." } else { "A.M." }).into(),
            "a.m." | "p.m." => (if tm.hour >= 12 { "p.m." } else { "a.m." }).into(),
            "Y,YYY" => format!("{},{:03}", year / 1000, year % 1000),
            "YYYY" => num(year, 4),
            "IYYY" => num(iso_year(tm.year, tm.month, tm.day) as i64, 4),
            "YYY" => num(year % 1000, 3),
            "YY" => num(year % 100, 2),
            "Y" => num(year % 10, 1),
            "MONTH" | "Month" | "month" => {
                let w = case_like(MONTHS[(tm.month - 1).clamp(0, 11) as usize], pat);
                if fm {
                    w
                } else {
                    format!("{w:<9}")
                }
            }
            "MON" | "Mon" | "mon" => {
                case_like(&MONTHS[(tm.month - 1).clamp(0, 11) as usize][..3], pat)
            }
            "MM" => num(tm.month as i64, 2),
            "DAY" | "Day" | "day" => {
                let w = case_like(DAYS[day_of_week(jd) as usize], pat);
                if fm {
                    w
                } else {
                    format!("{w:<9}")
                }
            }
            "DY" | "Dy" | "dy" => case_like(&DAYS[day_of_week(jd) as usize][..3], pat),
            "DDD" => num((jd - date2j(tm.year, 1, 1) + 1) as i64, 3),
            "DD" => num(tm.day as i64, 2),
            "D" => (day_of_week(jd) + 1).to_string(),
            "ID" => {
                let d = day_of_week(jd);
                (if d == 0 { 7 } else { d }).to_string()
            }
            "WW" => num(((jd - date2j(tm.year, 1, 1)) / 7 + 1) as i64, 2),
            "IW" => num(iso_week(tm.year, tm.month, tm.day) as i64, 2),
            "W" => ((tm.day - 1) / 7 + 1).to_string(),
            "Q" => ((tm.month - 1) / 3 + 1).to_string(),
            "J" => jd.to_string(),
            "CC" => num(((year + 99) / 100) * if tm.year > 0 { 1 } else { -1 }, 2),
            "TZ" => f.tz.to_uppercase(),
            "tz" => f.tz.to_lowercase(),
            "TZH" => format!(
                "{}{:02}",
                if f.offset < 0 { '-' } else { '+' },
                f.offset.abs() / 3600
            ),
            "TZM" => format!("{:02}", f.offset.abs() / 60 % 60),
            "OF" => dt::format_offset(f.offset),
            "BC" | "AD" => (if tm.year > 0 { "AD" } else { "BC" }).into(),
            "B.C." | "A.D." => (if tm.year > 0 { "A.D." } else { "B.C." }).into(),
            _ => String::new(),
        };
        out.push_str(&s);
    }
    out
}

/// to_char for numbers: 9, 0, '.', 'D', ',', 'G', 'S', 'MI', 'FM'.
fn to_char_number(n: &Numeric, fmt: &str) -> String {
    let fm = fmt.contains("FM") || fmt.contains("fm");
    let pat: String = fmt.replace("FM", "").replace("fm", "");
    let explicit_sign = pat.starts_with('S') || pat.ends_with('S') || pat.contains("MI");
    let body_pat: String = pat.replace("MI", "").replace('S', "");
    let (int_pat, frac_pat) = match body_pat.find(['.', 'D']) {
        Some(p) => (&body_pat[..p], Some(&body_pat[p + 1..])),
        None => (body_pat.as_str(), None),
    };
    let frac_digits = frac_pat.map_or(0, |f| f.chars().filter(|c| *c == '9' || *c == '0').count());
    let int_slots = int_pat.chars().filter(|c| *c == '9' || *c == '0').count();
    let d = match n {
        Numeric::Finite(d) => d.clone(),
        _ => {
            let w = int_slots + frac_digits + if frac_pat.is_some() { 1 } else { 0 };
            return format!(" {}", "#".repeat(w));
        }
    };
    let neg = numeric::signum(&d) < 0;
    let r = numeric::round(&d.abs(), frac_digits as i64);
    let txt = numeric::format_decimal(&r);
    let (ip, fp) = match txt.split_once('.') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (txt.clone(), String::new()),
    };
    let ip = if ip == "0" { String::new() } else { ip };
    if ip.len() > int_slots {
        let mut s = String::from(" ");
        for c in int_pat.chars() {
            s.push(if c == ',' || c == 'G' { ',' } else { '#' });
        }
        if let Some(f) = frac_pat {
            s.push('.');
            s.push_str(&"#".repeat(f.len()));
        }
        return s;
    }
    // integer part, right-aligned in the slots
    let digits: Vec<char> = ip.chars().collect();
    let mut out_int = String::new();
    let mut slot = 0;
    let first_digit_slot = int_slots - digits.len();
    let zero_from = int_pat
        .chars()
        .filter(|c| *c == '9' || *c == '0')
        .position(|c| c == '0')
        .unwrap_or(usize::MAX);
    let mut started = false;
    for c in int_pat.chars() {
        match c {
            '9' | '0' => {
                if slot >= first_digit_slot {
                    out_int.push(digits[slot - first_digit_slot]);
                    started = true;
                } else if slot >= zero_from || (slot + 1 == int_slots && frac_digits == 0) {
                    out_int.push('0');
                    started = true;
                } else {
                    out_int.push(' ');
                }
                slot += 1;
            }
            ',' | 'G' => out_int.push(if started { ',' } else { ' ' }),
            other => out_int.push(other),
        }
    }
    let mut frac = String::new();
    if let Some(fpat) = frac_pat {
        frac.push('.');
        let fd: Vec<char> = fp.chars().collect();
        let mut k = 0;
        for c in fpat.chars() {
            if c == '9' || c == '0' {
                frac.push(*fd.get(k).unwrap_or(&'0'));
                k += 1;
            } else {
                frac.push(c);
            }
        }
        if fm {
            // FM drops trailing zeros that come from 9 positions
            let zeros_ok = fpat.chars().rev().take_while(|c| *c == '9').count();
            let mut drop = 0;
            for ch in frac.chars().rev() {
                if ch == '0' && drop < zeros_ok {
                    drop += 1;
                } else {
                    break;
                }
            }
            frac.truncate(frac.len() - drop);
        }
    }
    // sign immediately before the first printed character
    let lead = out_int.len() - out_int.trim_start().len();
    let sign = if neg {
        "-"
    } else if explicit_sign && pat.starts_with('S') {
        "+"
    } else {
        " "
    };
    let mut s = String::new();
    s.push_str(&out_int[..lead]);
    if !(fm && sign == " ") {
        s.push_str(sign);
    }
    s.push_str(&out_int[lead..]);
    s.push_str(&frac);
    if fm {
        s = s.trim_start().to_string();
    }
    s
}

/// Parse text by a to_date / to_timestamp template.
fn parse_by_template(input: &str, fmt: &str) -> Result<(Tm, Option<i32>), TypeError> {
    let bad = || TypeError::InvalidDatetimeFormat {
        type_name: "date".into(),
        value: input.into(),
    };
    let mut tm = Tm {
        year: 1,
        month: 1,
        day: 1,
        ..Default::default()
    };
    let mut pm: Option<bool> = None;
    let mut tz = None;
    let s = input.as_bytes();
    let mut si = 0;
    let mut fi = 0;
    let fb = fmt.as_bytes();
    let mut bc = false;
    let take_num = |si: &mut usize, max: usize| -> Result<i64, TypeError> {
        while *si < s.len() && s[*si] == b' ' {
            *si += 1;
        }
        let start = *si;
        if *si < s.len() && (s[*si] == b'-' || s[*si] == b'+') {
            *si += 1;
        }
        while *si < s.len() && s[*si].is_ascii_digit() && *si - start < max {
            *si += 1;
        }
        input[start..*si].parse::<i64>().map_err(|_| bad())
    };
    while fi < fb.len() {
        let rest = &fmt[fi..];
        let rest = rest.strip_prefix("FM").unwrap_or(rest);
        fi = fmt.len() - rest.len();
        let Some(pat) = PATTERNS
            .iter()
            .find(|p| rest.starts_with(**p) || rest.to_uppercase().starts_with(**p))
        else {
            // separator: skip one char in the input if it is not alphanumeric
            fi += 1;
            if si < s.len() && !s[si].is_ascii_alphanumeric() {
                si += 1;
            }
            continue;
        };
        fi += pat.len();
        match pat.to_uppercase().as_str() {
            "YYYY" | "IYYY" => tm.year = take_num(&mut si, 9)? as i32,
            "YYY" | "YY" => {
                let y = take_num(&mut si, pat.len())? as i32;
                tm.year = if y < 70 {
                    2000 + y
                } else if y < 100 {
                    1900 + y
                } else {
                    y
                };
            }
            "Y" => tm.year = 2000 + take_num(&mut si, 1)? as i32,
            "MM" => tm.month = take_num(&mut si, 2)? as i32,
            "DD" => tm.day = take_num(&mut si, 2)? as i32,
            "DDD" => {
                let d = take_num(&mut si, 3)? as i32;
                let (y, m, dd) = j2date(date2j(tm.year, 1, 1) + d - 1);
                tm.year = y;
                tm.month = m;
                tm.day = dd;
            }
            "HH24" => tm.hour = take_num(&mut si, 2)? as i32,
            "HH12" | "HH" => tm.hour = take_num(&mut si, 2)? as i32,
            "MI" => tm.minute = take_num(&mut si, 2)? as i32,
            "SS" => tm.second = take_num(&mut si, 2)? as i32,
            "MS" => tm.usec = take_num(&mut si, 3)? as i32 * 1000,
            "US" => tm.usec = take_num(&mut si, 6)? as i32,
            "MONTH" | "MON" => {
                let word: String = input[si..]
                    .chars()
                    .take_while(|c| c.is_alphabetic())
                    .collect();
                let lw = word.to_lowercase();
                let m = MONTHS
                    .iter()
                    .position(|m| {
                        let ml = m.to_lowercase();
                        lw == ml || (lw.len() == 3 && ml.starts_with(&lw))
                    })
                    .ok_or_else(bad)?;
                tm.month = m as i32 + 1;
                si += word.len();
            }
            "DAY" | "DY" => {
                let word: String = input[si..]
                    .chars()
                    .take_while(|c| c.is_alphabetic())
                    .collect();
                si += word.len();
            }
            "AM" | "PM" | "A.M." | "P.M." => {
                let w = input[si..].to_uppercase();
                pm = Some(w.starts_with('P'));
                si += pat.len().min(input.len() - si);
            }
            "BC" | "AD" | "B.C." | "A.D." => {
                bc = input[si..].to_uppercase().starts_with('B');
                si += pat.len().min(input.len() - si);
            }
            "TZH" => tz = Some(take_num(&mut si, 2)? as i32 * 3600),
            _ => {}
        }
    }
    if let Some(p) = pm {
        if tm.hour == 12 {
            tm.hour = 0;
        }
        if p {
            tm.hour += 12;
        }
    }
    if bc {
        tm.year = 1 - tm.year;
    }
    if !(1..=12).contains(&tm.month) || tm.day < 1 || tm.day > days_in_month(tm.year, tm.month) {
        return Err(TypeError::DatetimeFieldOverflow(format!(
            "date/time field value out of range: \"{input}\""
        )));
    }
    Ok((tm, tz))
}

fn interval_tm(iv: &Interval) -> CharFields {
    let t = iv.micros;
    CharFields {
        tm: Tm {
            year: iv.months / 12,
            month: iv.months % 12,
            day: iv.days,
            hour: (t / USECS_PER_HOUR % 24) as i32,
            minute: (t / USECS_PER_MINUTE % 60) as i32,
            second: (t / USECS_PER_SEC % 60) as i32,
            usec: (t % USECS_PER_SEC) as i32,
        },
        tz: String::new(),
        offset: 0,
        total_hours: Some(t / USECS_PER_HOUR),
    }
}

/// The zone abbreviation to_char's `TZ` prints for a timestamptz.
fn tz_abbrev(ctx: &CallContext, utc: i64) -> String {
    ctx.types.abbrev_at(utc)
}

fn ts_fields(v: &Value, ctx: &CallContext) -> Option<(i64, i64, &'static str)> {
    match v {
        Value::Timestamp(t) => Some((*t, *t, "timestamp without time zone")),
        Value::Timestamptz(t) => Some((ctx.types.to_local(*t), *t, "timestamp with time zone")),
        Value::Date(d) => {
            let t = dt::date_to_timestamp(*d).ok()?;
            Some((t, t, "date"))
        }
        _ => None,
    }
}

/// Date/time functions; None when `name` is not one of them.
pub fn call(name: &str, args: &[Value], ctx: &CallContext) -> Result<Option<Value>, TypeError> {
    let v = match name {
        "now" | "current_timestamp" | "transaction_timestamp" => {
            Value::Timestamptz(ctx.transaction_timestamp)
        }
        "statement_timestamp" => Value::Timestamptz(ctx.statement_timestamp),
        "clock_timestamp" => Value::Timestamptz(dt::now()),
        "timeofday" => Value::Text(Value::Timestamptz(dt::now()).to_text(&ctx.types)),
        "localtimestamp" => Value::Timestamp(ctx.types.to_local(ctx.transaction_timestamp)),
        "current_date" => Value::Date(
            ctx.types
                .to_local(ctx.transaction_timestamp)
                .div_euclid(USECS_PER_DAY) as i32,
        ),
        "localtime" | "current_time" => Value::Time(
            ctx.types
                .to_local(ctx.transaction_timestamp)
                .rem_euclid(USECS_PER_DAY),
        ),
        "timezone" => {
            let name = arg_text(args, 0)?;
            let Some(zone) = dt::parse_zone_name(name) else {
                return Err(err(format!("time zone \"{name}\" not recognized")));
            };
            match args.get(1) {
                Some(Value::Timestamptz(t)) => Value::Timestamp(dt::utc_to_local(*t, &zone)),
                Some(Value::Timestamp(t)) => Value::Timestamptz(dt::local_to_utc(*t, &zone)),
                _ => return Err(super::bad_arg(1)),
            }
        }
        "date_trunc" => {
            let field = arg_text(args, 0)?;
            match args.get(1) {
                Some(Value::Interval(iv)) => {
                    let mut f = interval_tm(iv);
                    f.tm.hour = (iv.micros / USECS_PER_HOUR) as i32;
                    trunc_tm(field, &mut f.tm, "interval")?;
                    let tm = f.tm;
                    Value::Interval(Interval {
                        months: tm.year * 12 + tm.month,
                        days: tm.day,
                        micros: tm.hour as i64 * USECS_PER_HOUR
                            + tm.minute as i64 * USECS_PER_MINUTE
                            + tm.second as i64 * USECS_PER_SEC
                            + tm.usec as i64,
                    })
                }
                Some(v) => {
                    let Some((local, utc, tn)) = ts_fields(v, ctx) else {
                        return Err(super::bad_arg(1));
                    };
                    if is_inf(utc) {
                        return Ok(Some(v.clone()));
                    }
                    let mut tm = ts2tm(local);
                    trunc_tm(field, &mut tm, tn)?;
                    let t = tm2ts(&tm).ok_or_else(out_of_range)?;
                    match v {
                        Value::Timestamp(_) => Value::Timestamp(t),
                        _ => Value::Timestamptz(local_to_utc(ctx, t)),
                    }
                }
                None => return Err(super::bad_arg(1)),
            }
        }
        "date_part" | "extract" => {
            let field = arg_text(args, 0)?;
            match args.get(1) {
                Some(Value::Interval(iv)) => to_result(name, interval_field(field, iv)?),
                Some(Value::Time(t)) => {
                    let tm = ts2tm(*t);
                    let pair = match field.to_ascii_lowercase().as_str() {
                        "epoch" => (*t, 6),
                        "hour" | "minute" | "second" | "milliseconds" | "microseconds" => {
                            let _ = tm;
                            field_value(field, *t, *t, "time without time zone", ctx, false)?
                        }
                        f => {
                            return Err(err(format!(
                                "unit \"{f}\" not supported for type time without time zone"
                            )))
                        }
                    };
                    to_result(name, pair)
                }
                Some(v) => {
                    let Some((local, utc, tn)) = ts_fields(v, ctx) else {
                        return Err(super::bad_arg(1));
                    };
                    if is_inf(utc) {
                        let inf = if utc > 0 {
                            f64::INFINITY
                        } else {
                            f64::NEG_INFINITY
                        };
                        return Ok(Some(if name == "extract" {
                            Value::Numeric(if utc > 0 {
                                Numeric::PosInf
                            } else {
                                Numeric::NegInf
                            })
                        } else {
                            Value::Float8(inf)
                        }));
                    }
                    let is_date = matches!(v, Value::Date(_)) && name == "extract";
                    to_result(name, field_value(field, local, utc, tn, ctx, is_date)?)
                }
                None => return Err(super::bad_arg(1)),
            }
        }
        "age" => {
            let today = || {
                ctx.types
                    .to_local(ctx.transaction_timestamp)
                    .div_euclid(USECS_PER_DAY)
                    * USECS_PER_DAY
            };
            let local = |v: &Value| {
                ts_fields(v, ctx)
                    .map(|(l, _, _)| l)
                    .ok_or_else(|| super::bad_arg(0))
            };
            let (a, b) = if args.len() == 1 {
                (today(), local(&args[0])?)
            } else {
                (local(&args[0])?, local(&args[1])?)
            };
            Value::Interval(age(a, b)?)
        }
        "make_date" => {
            let (y, m, d) = (arg_i64(args, 0)?, arg_i64(args, 1)?, arg_i64(args, 2)?);
            let bad = || {
                TypeError::DatetimeFieldOverflow(format!(
                    "date field value out of range: {y}-{m:02}-{d:02}"
                ))
            };
            if y == 0 || !(1..=12).contains(&m) {
                return Err(bad());
            }
            let yy = if y < 0 { y + 1 } else { y } as i32;
            if d < 1 || d > days_in_month(yy, m as i32) as i64 {
                return Err(bad());
            }
            Value::Date(date2j(yy, m as i32, d as i32) - POSTGRES_EPOCH_JDATE)
        }
        "make_time" => {
            let (h, mi, s) = (arg_i64(args, 0)?, arg_i64(args, 1)?, arg_f64(args, 2)?);
            let us = (s * 1e6).round() as i64;
            if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60_000_000).contains(&us) {
                return Err(TypeError::DatetimeFieldOverflow(format!(
                    "time field value out of range: {h:02}:{mi:02}:{s:02}"
                )));
            }
            Value::Time(h * USECS_PER_HOUR + mi * USECS_PER_MINUTE + us)
        }
        "make_timestamp" | "make_timestamptz" => {
            let y = arg_i64(args, 0)?;
            let (m, d) = (arg_i64(args, 1)?, arg_i64(args, 2)?);
            let (h, mi, s) = (arg_i64(args, 3)?, arg_i64(args, 4)?, arg_f64(args, 5)?);
            let yy = if y < 0 { y + 1 } else { y } as i32;
            if y == 0 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(yy, m as i32) as i64 {
                return Err(TypeError::DatetimeFieldOverflow(format!(
                    "date field value out of range: {y}-{m:02}-{d:02}"
                )));
            }
            let us = (s * 1e6).round() as i64;
            if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60_000_000).contains(&us) {
                return Err(TypeError::DatetimeFieldOverflow(format!(
                    "time field value out of range: {h:02}:{mi:02}:{s:02}"
                )));
            }
            let day = tm2ts(&Tm {
                year: yy,
                month: m as i32,
                day: d as i32,
                ..Default::default()
            })
            .ok_or_else(out_of_range)?;
            let t = day + h * USECS_PER_HOUR + mi * USECS_PER_MINUTE + us;
            if name == "make_timestamp" {
                Value::Timestamp(t)
            } else {
                Value::Timestamptz(local_to_utc(ctx, t))
            }
        }
        "make_interval" => {
            let get = |i: usize| {
                if i < args.len() {
                    arg_i64(args, i)
                } else {
                    Ok(0)
                }
            };
            let secs = if args.len() > 6 {
                arg_f64(args, 6)?
            } else {
                0.0
            };
            let months = get(0)? * 12 + get(1)?;
            let days = get(2)? * 7 + get(3)?;
            let micros =
                get(4)? * USECS_PER_HOUR + get(5)? * USECS_PER_MINUTE + (secs * 1e6).round() as i64;
            let overflow = || TypeError::DatetimeFieldOverflow("interval out of range".into());
            Value::Interval(Interval {
                months: i32::try_from(months).map_err(|_| overflow())?,
                days: i32::try_from(days).map_err(|_| overflow())?,
                micros,
            })
        }
        "justify_days" | "justify_hours" | "justify_interval" => match args.first() {
            Some(Value::Interval(iv)) => Value::Interval(match name {
                "justify_days" => dt::justify_days(*iv),
                "justify_hours" => dt::justify_hours(*iv),
                _ => dt::justify_interval(*iv),
            }),
            _ => return Err(super::bad_arg(0)),
        },
        "isfinite" => Value::Bool(match args.first() {
            Some(Value::Date(d)) => *d != i32::MIN && *d != i32::MAX,
            Some(Value::Timestamp(t) | Value::Timestamptz(t)) => !is_inf(*t),
            _ => true,
        }),
        "to_char" => {
            let fmt = arg_text(args, 1)?;
            match &args[0] {
                Value::Interval(iv) => Value::Text(to_char_time(&interval_tm(iv), fmt)),
                Value::Numeric(n) => Value::Text(to_char_number(n, fmt)),
                Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => {
                    Value::Text(to_char_number(&numeric::from_i64(arg_i64(args, 0)?), fmt))
                }
                Value::Float4(_) | Value::Float8(_) => Value::Text(to_char_number(
                    &numeric::from_f64(arg_f64(args, 0)?, 15),
                    fmt,
                )),
                v => {
                    let Some((local, utc, tn)) = ts_fields(v, ctx) else {
                        return Err(super::bad_arg(0));
                    };
                    if is_inf(utc) {
                        return Ok(Some(Value::Null));
                    }
                    let (tz, offset) = if tn == "timestamp with time zone" {
                        (tz_abbrev(ctx, utc), ctx.types.offset_at(utc))
                    } else {
                        (String::new(), 0)
                    };
                    Value::Text(to_char_time(
                        &CharFields {
                            tm: ts2tm(local),
                            tz,
                            offset,
                            total_hours: None,
                        },
                        fmt,
                    ))
                }
            }
        }
        "to_date" => {
            let (tm, _) = parse_by_template(arg_text(args, 0)?, arg_text(args, 1)?)?;
            Value::Date(date2j(tm.year, tm.month, tm.day) - POSTGRES_EPOCH_JDATE)
        }
        "to_timestamp" if args.len() == 2 => {
            let (tm, tz) = parse_by_template(arg_text(args, 0)?, arg_text(args, 1)?)?;
            let t = tm2ts(&tm).ok_or_else(out_of_range)?;
            Value::Timestamptz(match tz {
                Some(o) => t - o as i64 * USECS_PER_SEC,
                None => local_to_utc(ctx, t),
            })
        }
        "to_timestamp" => {
            let s = arg_f64(args, 0)?;
            if s.is_nan() {
                return Err(TypeError::DatetimeFieldOverflow(
                    "timestamp cannot be NaN".into(),
                ));
            }
            if s.is_infinite() {
                return Ok(Some(Value::Timestamptz(if s > 0.0 {
                    i64::MAX
                } else {
                    i64::MIN
                })));
            }
            let us = (s * 1e6).round();
            if us.abs() > 9.2e18 {
                return Err(TypeError::DatetimeFieldOverflow(format!(
                    "timestamp out of range: \"{s}\""
                )));
            }
            let t = us as i64 - UNIX_EPOCH_OFFSET_USECS;
            if !dt::is_valid_timestamp(t) {
                return Err(TypeError::DatetimeFieldOverflow(format!(
                    "timestamp out of range: \"{s}\""
                )));
            }
            Value::Timestamptz(t)
        }
        "to_number" => {
            let s: String = arg_text(args, 0)?
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
                .collect();
            Value::Numeric(numeric::parse(&s)?)
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}
