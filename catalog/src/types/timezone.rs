//! Session time zones: IANA names read from the system's compiled TZif files
//! (`/usr/share/zoneinfo`, Debian's `tzdata`), POSIX TZ strings, and fixed
//! offsets. A [`TimeZone`] answers two questions, with Postgres 15's rules:
//! which UTC offset (and abbreviation) is in force at a UTC instant, and which
//! UTC instant a local wall-clock time means (`DetermineTimeZoneOffset`:
//! a nonexistent spring-forward time is read with the offset before the
//! change, an ambiguous fall-back time with the offset after it).
//!
//! Instants after the file's last transition follow the POSIX TZ footer of a
//! TZif v2+ file, so dates after 2037 still get daylight saving time; instants
//! before the first transition use the file's first local time type (LMT).
//! Leap-second records are skipped (Postgres ignores them too).
//!
//! Loaded zones are cached for the life of the process. This module reads
//! files only below the zoneinfo directory: names with `..`, a leading `/` or
//! other path tricks are refused before touching the file system.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::datetime::{date2j, day_of_week, days_in_month, is_leap, j2date, UNIX_EPOCH_JDATE};

const SECS_PER_DAY: i64 = 86_400;
/// Where Debian's tzdata installs the compiled zones.
const ZONEINFO_DIR: &str = "/usr/share/zoneinfo";
/// Postgres's TZ_STRLEN_MAX.
const MAX_NAME_LEN: usize = 255;
/// Real TZif files are a few KB; refuse anything absurd.
const MAX_FILE_LEN: u64 = 1 << 20;

/// One local time type of a zone: offset east of UTC, DST flag, abbreviation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalTimeType {
    pub utoff: i32,
    pub is_dst: bool,
    pub abbrev: String,
}

/// When a POSIX rule switches: `Jn`, `n` or `Mm.w.d`, plus seconds of local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuleDay {
    /// `Jn`: 1..=365, February 29 never counted.
    JulianNoLeap(i32),
    /// `n`: 0..=365, zero-based day of the year counting February 29.
    ZeroBased(i32),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    MonthWeekDay(i32, i32, i32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct DstRule {
    dst: LocalTimeType,
    start: (RuleDay, i32),
    end: (RuleDay, i32),
}

/// A POSIX TZ string such as `EST5EDT,M3.2.0,M11.1.0` (offsets west positive
/// in the text, kept east positive here).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PosixTz {
    std: LocalTimeType,
    dst: Option<DstRule>,
}

/// A time zone: transitions from a TZif file and/or a POSIX rule.
#[derive(Debug)]
pub struct TimeZone {
    /// The name `SHOW TimeZone` prints.
    name: String,
    /// Transition instants (Unix seconds, ascending) and the type index after each.
    transitions: Vec<(i64, usize)>,
    types: Vec<LocalTimeType>,
    /// Rule for instants after the last transition (or all of them if none).
    rule: Option<PosixTz>,
}

/// The offset in force on either side of the next transition after an instant.
struct Boundary {
    before: i32,
    at: i64,
    after: i32,
}

impl TimeZone {
    /// A zone with one fixed offset (seconds east of UTC) and no DST.
    pub fn fixed(name: &str, utoff: i32, abbrev: &str) -> TimeZone {
        TimeZone {
            name: name.to_string(),
            transitions: Vec::new(),
            types: Vec::new(),
            rule: Some(PosixTz {
                std: LocalTimeType {
                    utoff,
                    is_dst: false,
                    abbrev: abbrev.to_string(),
                },
                dst: None,
            }),
        }
    }

    /// UTC, the default session zone.
    pub fn utc() -> Arc<TimeZone> {
        static UTC: OnceLock<Arc<TimeZone>> = OnceLock::new();
        UTC.get_or_init(|| Arc::new(TimeZone::fixed("UTC", 0, "UTC")))
            .clone()
    }

    /// The name `SHOW TimeZone` prints (file-name case for IANA zones).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Offset east of UTC (seconds) in force at a Unix-seconds instant.
    pub fn offset_at(&self, unix_secs: i64) -> i32 {
        self.type_at(unix_secs).utoff
    }

    /// The local time type in force at a Unix-seconds instant.
    pub fn type_at(&self, t: i64) -> LocalTimeType {
        match self.transitions.last() {
            // After the last transition (or with none): the footer rule.
            Some(&(last, ty)) if t >= last => match &self.rule {
                Some(rule) => rule.type_at(t),
                None => self.types[ty].clone(),
            },
            None => match &self.rule {
                Some(rule) => rule.type_at(t),
                None => self.default_type(),
            },
            Some(_) => {
                // The last transition at or before t; before the first, type 0.
                let i = self.transitions.partition_point(|&(at, _)| at <= t);
                match i.checked_sub(1) {
                    Some(j) => self.types[self.transitions[j].1].clone(),
                    None => self.default_type(),
                }
            }
        }
    }

    fn default_type(&self) -> LocalTimeType {
        match (self.types.first(), &self.rule) {
            (Some(t), _) => t.clone(),
            (None, Some(r)) => r.std.clone(),
            (None, None) => LocalTimeType {
                utoff: 0,
                is_dst: false,
                abbrev: "UTC".into(),
            },
        }
    }

    /// The first transition strictly after `t` (Postgres's
    /// `pg_next_dst_boundary`), with the offsets on either side.
    fn next_boundary(&self, t: i64) -> Option<Boundary> {
        let n = self.transitions.len();
        if n > 0 && t < self.transitions[n - 1].0 {
            let i = self.transitions.partition_point(|&(at, _)| at <= t);
            let before = if i == 0 {
                // Postgres: the lowest-numbered standard-time type.
                self.types
                    .iter()
                    .find(|ty| !ty.is_dst)
                    .or(self.types.first())
                    .map_or(0, |ty| ty.utoff)
            } else {
                self.types[self.transitions[i - 1].1].utoff
            };
            let (at, ty) = self.transitions[i];
            return Some(Boundary {
                before,
                at,
                after: self.types[ty].utoff,
            });
        }
        self.rule.as_ref()?.next_boundary(t)
    }

    /// Offset to subtract from a local wall-clock time (Unix seconds of the
    /// local fields read as UTC) to get UTC: Postgres's
    /// `DetermineTimeZoneOffset`.
    pub fn offset_for_local(&self, local: i64) -> i32 {
        let prev = local.saturating_sub(SECS_PER_DAY);
        let Some(b) = self.next_boundary(prev) else {
            return self.type_at(prev).utoff;
        };
        let before_time = local - b.before as i64;
        let after_time = local - b.after as i64;
        if before_time < b.at && after_time < b.at {
            return b.before;
        }
        if before_time >= b.at && after_time >= b.at {
            return b.after;
        }
        // Nonexistent (spring forward): before; ambiguous (fall back): after.
        if before_time > after_time {
            b.before
        } else {
            b.after
        }
    }

    /// Parse a TZif file's bytes (version 1, 2 or 3).
    pub fn from_tzif(name: &str, data: &[u8]) -> Option<TimeZone> {
        let mut r = Reader { data, pos: 0 };
        let h1 = Header::read(&mut r)?;
        if h1.version >= b'2' {
            // Skip the 32-bit block; read the 64-bit one and the footer.
            r.skip(h1.block_len(4))?;
            let h2 = Header::read(&mut r)?;
            let mut zone = h2.read_block(&mut r, 8, name)?;
            let footer = r.rest();
            if let Some(text) = footer
                .strip_prefix(b"\n")
                .and_then(|f| f.split(|&c| c == b'\n').next())
            {
                let text = std::str::from_utf8(text).ok()?;
                if !text.is_empty() {
                    zone.rule = PosixTz::parse(text);
                }
            }
            Some(zone)
        } else {
            h1.read_block(&mut r, 4, name)
        }
    }

    /// A zone from a POSIX TZ string alone (`EST5EDT,M3.2.0,M11.1.0`, `<+03>-03`).
    pub fn from_posix(name: &str, spec: &str) -> Option<TimeZone> {
        let rule = PosixTz::parse(spec)?;
        Some(TimeZone {
            name: name.to_string(),
            transitions: Vec::new(),
            types: Vec::new(),
            rule: Some(rule),
        })
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }
}

/// A TZif header: magic, version, and the six counts.
struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn read(r: &mut Reader) -> Option<Header> {
        if r.take(4)? != b"TZif" {
            return None;
        }
        let version = r.u8()?;
        r.skip(15)?;
        let mut c = [0usize; 6];
        for x in &mut c {
            *x = r.u32()? as usize;
        }
        Some(Header {
            version,
            isutcnt: c[0],
            isstdcnt: c[1],
            leapcnt: c[2],
            timecnt: c[3],
            typecnt: c[4],
            charcnt: c[5],
        })
    }

    fn block_len(&self, tsize: usize) -> usize {
        self.timecnt * tsize
            + self.timecnt
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (tsize + 4)
            + self.isstdcnt
            + self.isutcnt
    }

    fn read_block(&self, r: &mut Reader, tsize: usize, name: &str) -> Option<TimeZone> {
        if self.typecnt == 0 || self.typecnt > 256 {
            return None;
        }
        let mut times = Vec::with_capacity(self.timecnt);
        for _ in 0..self.timecnt {
            times.push(if tsize == 8 {
                r.i64()?
            } else {
                r.i32()? as i64
            });
        }
        let idx = r.take(self.timecnt)?;
        let mut raw_types = Vec::with_capacity(self.typecnt);
        for _ in 0..self.typecnt {
            let utoff = r.i32()?;
            let is_dst = r.u8()? != 0;
            let ai = r.u8()? as usize;
            raw_types.push((utoff, is_dst, ai));
        }
        let chars = r.take(self.charcnt)?;
        r.skip(self.leapcnt * (tsize + 4) + self.isstdcnt + self.isutcnt)?;
        let types = raw_types
            .into_iter()
            .map(|(utoff, is_dst, ai)| {
                let tail = chars.get(ai..).unwrap_or(&[]);
                let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
                LocalTimeType {
                    utoff,
                    is_dst,
                    abbrev: String::from_utf8_lossy(&tail[..end]).into_owned(),
                }
            })
            .collect::<Vec<_>>();
        let mut transitions = Vec::with_capacity(self.timecnt);
        for (t, &i) in times.into_iter().zip(idx) {
            if i as usize >= types.len() {
                return None;
            }
            transitions.push((t, i as usize));
        }
        if transitions.windows(2).any(|w| w[0].0 >= w[1].0) {
            return None;
        }
        Some(TimeZone {
            name: name.to_string(),
            transitions,
            types,
            rule: None,
        })
    }
}

impl PosixTz {
    /// Parse `std offset [dst [offset] [,start[/time],end[/time]]]`.
    fn parse(s: &str) -> Option<PosixTz> {
        let mut p = PosixParser {
            s: s.as_bytes(),
            pos: 0,
        };
        let std_abbrev = p.abbrev()?;
        let std_off = -p.offset()?;
        let std = LocalTimeType {
            utoff: std_off,
            is_dst: false,
            abbrev: std_abbrev,
        };
        if p.done() {
            return Some(PosixTz { std, dst: None });
        }
        let dst_abbrev = p.abbrev().filter(|a| !a.is_empty())?;
        let dst_off = if p.peek().is_some_and(|c| c != b',') {
            -p.offset()?
        } else {
            std_off + 3600
        };
        let dst = LocalTimeType {
            utoff: dst_off,
            is_dst: true,
            abbrev: dst_abbrev,
        };
        // Without rules POSIX leaves the dates to the implementation; tzcode
        // uses the US rules.
        let (start, end) = if p.done() {
            (
                (RuleDay::MonthWeekDay(3, 2, 0), 7200),
                (RuleDay::MonthWeekDay(11, 1, 0), 7200),
            )
        } else {
            p.expect(b',')?;
            let start = p.rule()?;
            p.expect(b',')?;
            let end = p.rule()?;
            (start, end)
        };
        if !p.done() {
            return None;
        }
        Some(PosixTz {
            std,
            dst: Some(DstRule { dst, start, end }),
        })
    }

    /// The transitions (into DST, out of DST) of a year, as Unix seconds.
    fn year_transitions(rule: &DstRule, std_off: i32, year: i32) -> (i64, i64) {
        let start = rule_day_unix(year, rule.start.0) + rule.start.1 as i64 - std_off as i64;
        let end = rule_day_unix(year, rule.end.0) + rule.end.1 as i64 - rule.dst.utoff as i64;
        (start, end)
    }

    fn type_at(&self, t: i64) -> LocalTimeType {
        let Some(rule) = &self.dst else {
            return self.std.clone();
        };
        let year = year_of(t + self.std.utoff as i64);
        let (start, end) = Self::year_transitions(rule, self.std.utoff, year);
        let in_dst = if start < end {
            start <= t && t < end
        } else {
            !(end <= t && t < start)
        };
        if in_dst {
            rule.dst.clone()
        } else {
            self.std.clone()
        }
    }

    fn next_boundary(&self, t: i64) -> Option<Boundary> {
        let rule = self.dst.as_ref()?;
        let year = year_of(t + self.std.utoff as i64);
        let mut cands = Vec::with_capacity(6);
        for y in [year - 1, year, year + 1] {
            let (s, e) = Self::year_transitions(rule, self.std.utoff, y);
            cands.push(s);
            cands.push(e);
        }
        let at = cands.into_iter().filter(|&c| c > t).min()?;
        Some(Boundary {
            before: self.type_at(at - 1).utoff,
            at,
            after: self.type_at(at).utoff,
        })
    }
}

/// Calendar year of a Unix-seconds value (read as local wall time).
fn year_of(local: i64) -> i32 {
    let days = local.div_euclid(SECS_PER_DAY);
    // Clamp to what j2date handles; such instants are outside timestamps anyway.
    let jd = (days + UNIX_EPOCH_JDATE as i64).clamp(0, i32::MAX as i64 / 2) as i32;
    j2date(jd).0
}

/// Unix seconds of local midnight of a rule day in `year`.
fn rule_day_unix(year: i32, day: RuleDay) -> i64 {
    let jan1 = date2j(year, 1, 1) as i64;
    let jd = match day {
        RuleDay::JulianNoLeap(n) => {
            let leap_shift = i64::from(is_leap(year) && n >= 60);
            jan1 + n as i64 - 1 + leap_shift
        }
        RuleDay::ZeroBased(n) => jan1 + n as i64,
        RuleDay::MonthWeekDay(m, w, d) => {
            let first = date2j(year, m, 1);
            let mut mday = 1 + (d - day_of_week(first)).rem_euclid(7) + 7 * (w - 1);
            let dim = days_in_month(year, m);
            while mday > dim {
                mday -= 7;
            }
            first as i64 + mday as i64 - 1
        }
    };
    (jd - UNIX_EPOCH_JDATE as i64) * SECS_PER_DAY
}

struct PosixParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl PosixParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn done(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }
    /// `EST` or `<+0530>`; Postgres (unlike IANA) allows an empty or short
    /// standard-time name, so `-05:30` alone is a zone.
    fn abbrev(&mut self) -> Option<String> {
        if self.peek() == Some(b'<') {
            self.pos += 1;
            let inner = self.pos;
            while self.peek()? != b'>' {
                let c = self.peek()?;
                if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b':')) {
                    return None;
                }
                self.pos += 1;
            }
            let a = String::from_utf8_lossy(&self.s[inner..self.pos]).into_owned();
            self.pos += 1;
            return Some(a);
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }
    fn number(&mut self) -> Option<i32> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) && self.pos - start < 4 {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()?
            .parse()
            .ok()
    }
    /// `[+-]hh[:mm[:ss]]` in seconds (sign as written).
    fn hms(&mut self, max_hours: i32) -> Option<i32> {
        let sign = match self.peek()? {
            b'+' => {
                self.pos += 1;
                1
            }
            b'-' => {
                self.pos += 1;
                -1
            }
            _ => 1,
        };
        let h = self.number()?;
        if h > max_hours {
            return None;
        }
        let mut secs = h * 3600;
        for mult in [60, 1] {
            if self.peek() == Some(b':') {
                self.pos += 1;
                let v = self.number()?;
                if v > 59 {
                    return None;
                }
                secs += v * mult;
            } else {
                break;
            }
        }
        Some(sign * secs)
    }
    fn offset(&mut self) -> Option<i32> {
        self.hms(24)
    }
    fn rule(&mut self) -> Option<(RuleDay, i32)> {
        let day = match self.peek()? {
            b'J' => {
                self.pos += 1;
                let n = self.number()?;
                (1..=365).contains(&n).then_some(RuleDay::JulianNoLeap(n))?
            }
            b'M' => {
                self.pos += 1;
                let m = self.number()?;
                self.expect(b'.')?;
                let w = self.number()?;
                self.expect(b'.')?;
                let d = self.number()?;
                ((1..=12).contains(&m) && (1..=5).contains(&w) && (0..=6).contains(&d))
                    .then_some(RuleDay::MonthWeekDay(m, w, d))?
            }
            _ => {
                let n = self.number()?;
                (0..=365).contains(&n).then_some(RuleDay::ZeroBased(n))?
            }
        };
        let time = if self.peek() == Some(b'/') {
            self.pos += 1;
            self.hms(167)?
        } else {
            7200
        };
        Some((day, time))
    }
}

/// Whether `name` is safe to resolve below the zoneinfo directory.
fn safe_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('/')
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+'))
        })
}

/// Resolve a name case-insensitively to a file, returning its path and the
/// name spelled as the file system spells it (what Postgres shows).
fn resolve(dir: &Path, name: &str) -> Option<(PathBuf, String)> {
    let mut path = dir.to_path_buf();
    let mut canon = Vec::new();
    for part in name.split('/') {
        let exact = path.join(part);
        if exact.exists() {
            path = exact;
            canon.push(part.to_string());
            continue;
        }
        let found = std::fs::read_dir(&path)
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .find(|f| f.eq_ignore_ascii_case(part))?;
        path = path.join(&found);
        canon.push(found);
    }
    Some((path, canon.join("/")))
}

fn load_file(dir: &Path, name: &str) -> Option<TimeZone> {
    if !safe_zone_name(name) {
        return None;
    }
    let (path, canon) = resolve(dir, name)?;
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE_LEN {
        return None;
    }
    let data = std::fs::read(&path).ok()?;
    TimeZone::from_tzif(&canon, &data)
}

/// Look up an IANA zone name (any case) in the system zoneinfo directory.
/// Loaded zones are cached; `None` if there is no such zone file.
pub fn load_named_zone(name: &str) -> Option<Arc<TimeZone>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<TimeZone>>>> = OnceLock::new();
    let key = name.to_ascii_lowercase();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = cache.lock() {
        if let Some(z) = map.get(&key) {
            return Some(z.clone());
        }
    }
    let zone = Arc::new(load_file(Path::new(ZONEINFO_DIR), name)?);
    if let Ok(mut map) = cache.lock() {
        map.insert(key, zone.clone());
    }
    Some(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC date-time.
    fn unix(y: i32, m: i32, d: i32, h: i64, mi: i64) -> i64 {
        (date2j(y, m, d) - UNIX_EPOCH_JDATE) as i64 * SECS_PER_DAY + h * 3600 + mi * 60
    }

    fn ny() -> Arc<TimeZone> {
        load_named_zone("America/New_York").expect("tzdata installed")
    }

    #[test]
    fn posix_rules_parse() {
        let p = PosixTz::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(p.std.utoff, -5 * 3600);
        assert_eq!(p.dst.as_ref().unwrap().dst.utoff, -4 * 3600);
        let p = PosixTz::parse("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0").unwrap();
        assert_eq!(p.std.utoff, 37800);
        assert_eq!(p.std.abbrev, "+1030");
        let p = PosixTz::parse("IST-5:30").unwrap();
        assert_eq!((p.std.utoff, p.dst.is_none()), (19800, true));
        let p = PosixTz::parse("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1").unwrap();
        assert_eq!(p.dst.unwrap().start.1, -7200);
        assert_eq!(PosixTz::parse("-05:30").unwrap().std.utoff, 19800);
        assert!(PosixTz::parse("Z").is_none());
        assert_eq!(PosixTz::parse("<+05:30>-05:30").unwrap().std.utoff, 19800);
        assert!(PosixTz::parse("EST5EDT,").is_none());
        assert!(PosixTz::parse("EST5EDT,M13.1.0,M11.1.0").is_none());
    }

    #[test]
    fn new_york_offsets() {
        let z = ny();
        assert_eq!(z.name(), "America/New_York");
        assert_eq!(z.offset_at(unix(2024, 6, 1, 12, 0)), -4 * 3600);
        assert_eq!(z.offset_at(unix(2024, 1, 1, 12, 0)), -5 * 3600);
        assert_eq!(z.type_at(unix(2024, 1, 1, 12, 0)).abbrev, "EST");
        // DST starts 2024-03-10 07:00 UTC.
        assert_eq!(z.offset_at(unix(2024, 3, 10, 6, 59)), -5 * 3600);
        assert_eq!(z.offset_at(unix(2024, 3, 10, 7, 0)), -4 * 3600);
        // After 2037 the footer rule applies: 2100-07-01 is EDT.
        assert_eq!(z.offset_at(unix(2100, 7, 1, 0, 0)), -4 * 3600);
        assert_eq!(z.offset_at(unix(2100, 12, 1, 0, 0)), -5 * 3600);
        // Before 1883 New York kept local mean time.
        assert_eq!(z.offset_at(unix(1800, 1, 1, 0, 0)), -17762);
    }

    #[test]
    fn local_time_rules() {
        let z = ny();
        // 02:30 on the spring-forward day does not exist: read as EST.
        assert_eq!(z.offset_for_local(unix(2024, 3, 10, 2, 30)), -5 * 3600);
        // 01:30 on the fall-back day happens twice: Postgres takes EST.
        assert_eq!(z.offset_for_local(unix(2024, 11, 3, 1, 30)), -5 * 3600);
        assert_eq!(z.offset_for_local(unix(2024, 11, 3, 0, 30)), -4 * 3600);
        assert_eq!(z.offset_for_local(unix(2060, 3, 14, 2, 30)), -5 * 3600);
        assert_eq!(z.offset_for_local(unix(2060, 7, 1, 12, 0)), -4 * 3600);
    }

    #[test]
    fn names_resolve_case_insensitively_and_safely() {
        assert_eq!(
            load_named_zone("america/new_york").unwrap().name(),
            "America/New_York"
        );
        assert!(load_named_zone("Foo/Bar").is_none());
        assert!(load_named_zone("../etc/passwd").is_none());
        assert!(load_named_zone("/etc/passwd").is_none());
        assert!(load_named_zone("zone.tab").is_none());
    }

    #[test]
    fn lord_howe_half_hour_dst() {
        let z = load_named_zone("Australia/Lord_Howe").unwrap();
        assert_eq!(z.offset_at(unix(2024, 1, 15, 0, 0)), 11 * 3600);
        assert_eq!(z.offset_at(unix(2024, 7, 15, 0, 0)), 37800);
        assert_eq!(z.offset_at(unix(2080, 1, 15, 0, 0)), 11 * 3600);
        assert_eq!(z.offset_at(unix(2080, 7, 15, 0, 0)), 37800);
    }
}
