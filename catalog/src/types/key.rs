//! Order-preserving index key encoding.
//!
//! The engine's index access methods are type-agnostic: they store keys as byte
//! strings and order them with plain `memcmp` (`&[u8]`'s `Ord`), and hash
//! indexes hash the bytes. This module turns SQL values into such byte strings
//! so that, for two values of one column type, the order of the encodings is
//! exactly [`compare`](super::compare)'s order (Postgres's default btree
//! opclass order) and equal values encode to equal bytes.
//!
//! Layout of one column (before the DESC inversion):
//!
//! ```text
//! marker  0x01 NULL sorting low | 0x02 value | 0x03 NULL sorting high
//! payload (values only), by type:
//!   bool                1 byte 0/1
//!   int2/int4/int8      big-endian two's complement with the sign bit flipped
//!   oid                 big-endian u32
//!   float4/float8       IEEE bits: negatives inverted, positives sign-flipped,
//!                       -0 as +0, every NaN as all-ones (above +Infinity)
//!   numeric             class byte (-Inf, <0, 0, >0, +Inf, NaN), then for
//!                       finite non-zero values the decimal exponent E (i32,
//!                       sign-flipped) and the normalized digits two per byte
//!                       (1..=100) ending in 0x00; negatives invert E+digits
//!   text family, bytea  bytes with 0x00 escaped as 0x00 0xFF, ending 0x00 0x01
//!   date, time, timestamp[tz]  as the integers they are
//!   interval            total span (months*30 days + days + micros) as i128
//!   uuid                16 raw bytes
//!   array               per element 0x01 + element payload, or 0x02 for a
//!                       NULL element (NULL elements sort high, as in
//!                       `compare`), ending 0x00
//! ```
//!
//! Every column encoding is prefix-free, so concatenated multi-column keys
//! compare column by column, and an encoded prefix of the leading columns
//! bounds a range scan. A DESC column inverts every byte of its encoding;
//! because the set of encodings is prefix-free, two encodings always differ
//! at some byte inside both, so inversion exactly reverses their order. The
//! NULL marker is chosen so that NULLs land where `nulls_first` says after
//! the inversion.
//!
//! Equal values encode identically, which makes decoding canonical rather than
//! exact: numeric loses its display scale (`1.00` decodes as `1`), intervals
//! come back in one canonical form with the same span, `-0.0` as `0.0`, and
//! `char(n)` is re-padded to `n`. An index that must return the original
//! representation of such types stores it again after the key
//! (`IndexDef::key_copies`).
//!
//! This module must not allocate per value beyond the output buffer (numerics
//! wider than 38 digits are the one exception) and must never panic on input.

use super::{datetime, numeric, value_type, DataType, Interval, Numeric, Result, TypeError, Value};
use bigdecimal::num_bigint::{BigInt, Sign};
use bigdecimal::num_traits::ToPrimitive;
use std::ops::Bound;

/// How one key column sorts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct KeyColumn {
    pub descending: bool,
    pub nulls_first: bool,
}

impl KeyColumn {
    /// `ASC NULLS LAST`, Postgres's default.
    pub const ASC: KeyColumn = KeyColumn {
        descending: false,
        nulls_first: false,
    };
    /// `DESC NULLS FIRST`, Postgres's default for DESC.
    pub const DESC: KeyColumn = KeyColumn {
        descending: true,
        nulls_first: true,
    };

    /// A key column from `[ASC|DESC] [NULLS FIRST|LAST]`, applying Postgres's
    /// default (NULLS FIRST exactly when DESC) when NULLS is not given.
    pub fn new(descending: bool, nulls_first: Option<bool>) -> KeyColumn {
        KeyColumn {
            descending,
            nulls_first: nulls_first.unwrap_or(descending),
        }
    }

    /// The byte every byte of this column is XORed with.
    fn mask(self) -> u8 {
        if self.descending {
            0xFF
        } else {
            0x00
        }
    }

    /// The pre-inversion marker of a NULL: low when NULLs must come first in
    /// the final (possibly inverted) byte order.
    fn null_marker(self) -> u8 {
        if self.nulls_first != self.descending {
            MARK_NULL_LOW
        } else {
            MARK_NULL_HIGH
        }
    }
}

const MARK_NULL_LOW: u8 = 0x01;
const MARK_VALUE: u8 = 0x02;
const MARK_NULL_HIGH: u8 = 0x03;

const NUM_NEG_INF: u8 = 0x01;
const NUM_NEG: u8 = 0x02;
const NUM_ZERO: u8 = 0x03;
const NUM_POS: u8 = 0x04;
const NUM_POS_INF: u8 = 0x05;
const NUM_NAN: u8 = 0x06;

/// More trailing blanks than an entry can hold mean a corrupt hint.
const MAX_HINT_BLANKS: usize = 1 << 16;

const ELEM_END: u8 = 0x00;
const ELEM_VALUE: u8 = 0x01;
const ELEM_NULL: u8 = 0x02;

/// Append the encoding of one column value. Postgres defaults: ASC -> NULLS
/// LAST, DESC -> NULLS FIRST (the caller fills `nulls_first` accordingly, or
/// uses [`KeyColumn::new`]).
///
/// The value must be of the column's type; integer values are accepted in any
/// integer column they fit, float4 in float8, integers in numeric, date in
/// timestamp columns, and any string value in a character or json column.
pub fn encode_key_value(v: &Value, ty: &DataType, col: KeyColumn, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    if v.is_null() {
        out.push(col.null_marker());
    } else {
        out.push(MARK_VALUE);
        if let Err(e) = encode_payload(v, ty, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    if col.descending {
        invert(&mut out[start..]);
    }
    Ok(())
}

/// Encode a multi-column key.
pub fn encode_key(values: &[Value], types: &[DataType], cols: &[KeyColumn]) -> Result<Vec<u8>> {
    if values.len() != types.len() || values.len() != cols.len() {
        return Err(TypeError::InvalidParameterValue(format!(
            "index key has {} values for {} types and {} key columns",
            values.len(),
            types.len(),
            cols.len()
        )));
    }
    let mut out = Vec::with_capacity(values.len() * 9);
    for ((v, ty), col) in values.iter().zip(types).zip(cols) {
        encode_key_value(v, ty, *col, &mut out)?;
    }
    Ok(out)
}

/// Decode a key back into values (for index-only scans). The bytes must hold
/// exactly the given columns; see [`decode_key_prefix`] for keys with a suffix.
pub fn decode_key(bytes: &[u8], types: &[DataType], cols: &[KeyColumn]) -> Result<Vec<Value>> {
    let (values, used) = decode_key_prefix(bytes, types, cols)?;
    if used != bytes.len() {
        return Err(corrupt("trailing bytes after the last key column"));
    }
    Ok(values)
}

/// Decode the leading `types.len()` columns of a key and return them with the
/// number of bytes they took (the rest may be a suffix such as a row id).
pub fn decode_key_prefix(
    bytes: &[u8],
    types: &[DataType],
    cols: &[KeyColumn],
) -> Result<(Vec<Value>, usize)> {
    let mut values = Vec::with_capacity(types.len());
    let used = decode_key_prefix_with(bytes, types, cols, |_, v| values.push(v))?;
    Ok((values, used))
}

/// `decode_key_prefix` handing each column's value to `f` (with its
/// position in the key) instead of collecting them: an index-only scan
/// puts them straight into its row.
pub fn decode_key_prefix_with(
    bytes: &[u8],
    types: &[DataType],
    cols: &[KeyColumn],
    mut f: impl FnMut(usize, Value),
) -> Result<usize> {
    if types.len() != cols.len() {
        return Err(TypeError::InvalidParameterValue(format!(
            "index key has {} types for {} key columns",
            types.len(),
            cols.len()
        )));
    }
    let mut r = KeyReader {
        buf: bytes,
        pos: 0,
        mask: 0,
    };
    for (i, (ty, col)) in types.iter().zip(cols).enumerate() {
        r.mask = col.mask();
        let v = match r.byte()? {
            MARK_VALUE => decode_payload(&mut r, ty)?,
            MARK_NULL_LOW | MARK_NULL_HIGH => Value::Null,
            m => return Err(corrupt(&format!("bad column marker {m:#04x}"))),
        };
        f(i, v);
    }
    Ok(r.pos)
}

/// Whether `decode_key` returns exactly the value that was encoded for a
/// column of this type (not merely an equal one), so an index-only scan may
/// return it: false for numeric (display scale), floats (-0), interval
/// (canonical form) and unsized char (trailing blanks).
pub fn decodes_exactly(ty: &DataType) -> bool {
    match ty {
        DataType::Numeric(_)
        | DataType::Float4
        | DataType::Float8
        | DataType::Interval
        | DataType::Char(None)
        | DataType::Unknown => false,
        DataType::Array(elem) => decodes_exactly(elem),
        _ => true,
    }
}

/// `s` without its trailing blanks (character(n)'s padding), a byte at a
/// time: `str::trim_end_matches(' ')` decodes UTF-8 backwards char by
/// char, which showed in ANALYZE's profile of a char(84) column.
fn trim_blanks(s: &str) -> &str {
    let end = s.bytes().rposition(|b| b != b' ').map_or(0, |i| i + 1);
    // A blank is one byte, so `end` is on a character boundary.
    &s[..end]
}

/// Whether a column of this type that does not decode exactly has an exact
/// hint (`encode_exact_hint`): the scalar types whose key is canonical.
pub fn has_exact_hint(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Numeric(_)
            | DataType::Float4
            | DataType::Float8
            | DataType::Interval
            | DataType::Char(None)
    )
}

/// Append the few bytes that, together with the value `decode_key` gives
/// back for `v`'s key, restore `v` exactly (`apply_exact_hint`): a float's
/// sign of zero (1 byte), a finite numeric's display scale, an interval's
/// months and days (the key holds the total span), an unsized bpchar's
/// trailing blanks (varints). Nothing for NULL, numeric NaN/infinities and
/// types without a hint.
pub fn encode_exact_hint(v: &Value, ty: &DataType, out: &mut Vec<u8>) {
    match (ty, v) {
        (_, Value::Null) => {}
        (DataType::Float4 | DataType::Float8, Value::Float4(f)) => {
            out.push((*f == 0.0 && f.is_sign_negative()) as u8)
        }
        (DataType::Float4 | DataType::Float8, Value::Float8(f)) => {
            out.push((*f == 0.0 && f.is_sign_negative()) as u8)
        }
        (DataType::Float4 | DataType::Float8, _) => out.push(0),
        (DataType::Numeric(_), Value::Numeric(Numeric::Finite(d))) => {
            put_varint(zigzag(d.as_bigint_and_scale().1), out)
        }
        (DataType::Numeric(_), Value::Numeric(_)) => {}
        (DataType::Numeric(_), _) => put_varint(0, out),
        (DataType::Interval, Value::Interval(iv)) => {
            put_varint(zigzag(iv.months as i64), out);
            put_varint(zigzag(iv.days as i64), out);
        }
        (DataType::Char(None), Value::Text(t)) => {
            let blanks = t.len() - trim_blanks(t).len();
            put_varint(blanks as u64, out)
        }
        _ => {}
    }
}

/// `decoded` (a key column's value from `decode_key`) made exact with its
/// hint at the start of `bytes`; also the hint's length.
pub fn apply_exact_hint(decoded: Value, ty: &DataType, bytes: &[u8]) -> Result<(Value, usize)> {
    let mut at = 0;
    let v = match (ty, decoded) {
        (_, Value::Null) => Value::Null,
        (DataType::Float4 | DataType::Float8, v) => {
            let neg_zero = *bytes.first().ok_or_else(|| corrupt("missing float hint"))? == 1;
            at = 1;
            match v {
                Value::Float4(f) if neg_zero && f == 0.0 => Value::Float4(-0.0),
                Value::Float8(f) if neg_zero && f == 0.0 => Value::Float8(-0.0),
                v => v,
            }
        }
        (DataType::Numeric(_), Value::Numeric(Numeric::Finite(d))) => {
            let scale = unzigzag(get_varint(bytes, &mut at)?);
            if scale > d.as_bigint_and_scale().1 {
                Value::Numeric(Numeric::Finite(d.with_scale(scale)))
            } else {
                Value::Numeric(Numeric::Finite(d))
            }
        }
        (DataType::Interval, Value::Interval(iv)) => {
            let months = i32::try_from(unzigzag(get_varint(bytes, &mut at)?))
                .map_err(|_| corrupt("interval hint"))?;
            let days = i32::try_from(unzigzag(get_varint(bytes, &mut at)?))
                .map_err(|_| corrupt("interval hint"))?;
            let span = datetime::interval_span(&iv);
            let rest = span
                - months as i128 * 30 * datetime::USECS_PER_DAY as i128
                - days as i128 * datetime::USECS_PER_DAY as i128;
            let micros = i64::try_from(rest).map_err(|_| corrupt("interval hint"))?;
            Value::Interval(Interval {
                months,
                days,
                micros,
            })
        }
        (DataType::Char(None), Value::Text(mut t)) => {
            let blanks = get_varint(bytes, &mut at)?;
            let blanks = usize::try_from(blanks)
                .ok()
                .filter(|&b| b <= MAX_HINT_BLANKS)
                .ok_or_else(|| corrupt("bpchar hint"))?;
            t.extend(std::iter::repeat_n(' ', blanks));
            Value::Text(t)
        }
        (_, v) => v,
    };
    Ok((v, at))
}

fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn put_varint(mut u: u64, out: &mut Vec<u8>) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let mut u: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at).ok_or_else(|| corrupt("hint ends early"))?;
        *at += 1;
        u |= ((b & 0x7F) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(u);
        }
    }
    Err(corrupt("hint varint too long"))
}

/// Smallest byte string greater than every string that starts with `prefix`
/// (None if none exists, i.e. the prefix is empty or all 0xFF): the exclusive
/// upper bound of a prefix range scan.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut out = prefix[..=last].to_vec();
    out[last] += 1;
    Some(out)
}

/// Lower and upper bounds of a key range scan, in key bytes.
pub type KeyBounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Byte bounds for an index scan of the keys that start with `prefix` (the
/// encoded equality columns before this one, possibly empty) and whose next
/// column, of type `ty` sorted by `col`, is non-NULL and within the SQL bounds
/// `lower`/`upper` (in the type's ascending order, as in `x > 5 AND x <= 9`).
/// Later key columns may follow in the keys; they are all included. On a
/// DESC column the SQL lower bound becomes the byte upper bound.
///
/// Feed the result to `ScanKey::Range`. For `IS NULL` scan the prefix
/// `prefix + encode_key_value(NULL)`; for equality use `ScanKey::Prefix`.
pub fn range_bounds(
    prefix: &[u8],
    ty: &DataType,
    col: KeyColumn,
    lower: Bound<&Value>,
    upper: Bound<&Value>,
) -> Result<KeyBounds> {
    let with = |v: &Value| -> Result<Vec<u8>> {
        let mut k = Vec::with_capacity(prefix.len() + 10);
        k.extend_from_slice(prefix);
        encode_key_value(v, ty, col, &mut k)?;
        Ok(k)
    };
    // In byte order, which SQL bound comes first.
    let (low, high) = if col.descending {
        (upper, lower)
    } else {
        (lower, upper)
    };
    let null = with(&Value::Null)?;
    let byte_low = match low {
        // Skip the NULLs when they sit at the low end.
        Bound::Unbounded if col.nulls_first => match prefix_successor(&null) {
            Some(s) => Bound::Included(s),
            None => return Err(no_successor()),
        },
        Bound::Unbounded if prefix.is_empty() => Bound::Unbounded,
        Bound::Unbounded => Bound::Included(prefix.to_vec()),
        Bound::Included(v) => Bound::Included(with(v)?),
        Bound::Excluded(v) => {
            let k = with(v)?;
            match prefix_successor(&k) {
                Some(s) => Bound::Included(s),
                None => return Err(no_successor()),
            }
        }
    };
    let byte_high = match high {
        Bound::Unbounded if !col.nulls_first => Bound::Excluded(null),
        Bound::Unbounded => match prefix_successor(prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        },
        Bound::Excluded(v) => Bound::Excluded(with(v)?),
        Bound::Included(v) => match prefix_successor(&with(v)?) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        },
    };
    Ok((byte_low, byte_high))
}

/// Cannot happen: a column encoding holds its marker byte, never 0xFF.
fn no_successor() -> TypeError {
    TypeError::InvalidParameterValue("index key has no successor".into())
}

fn invert(bytes: &mut [u8]) {
    for b in bytes {
        *b = !*b;
    }
}

fn corrupt(what: &str) -> TypeError {
    TypeError::InvalidBinaryRepresentation(format!("corrupt index key: {what}"))
}

fn mismatch(v: &Value, ty: &DataType) -> TypeError {
    TypeError::CannotCoerce {
        from: value_type(v).display_name(),
        to: ty.display_name(),
    }
}

fn out_of_range(ty: &DataType) -> TypeError {
    TypeError::NumericValueOutOfRange(format!("{} out of range", ty.error_name()))
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int2(i) => Some(*i as i64),
        Value::Int4(i) => Some(*i as i64),
        Value::Int8(i) => Some(*i),
        Value::Oid(i) => Some(*i as i64),
        _ => None,
    }
}

fn encode_payload(v: &Value, ty: &DataType, out: &mut Vec<u8>) -> Result<()> {
    match ty {
        DataType::Bool => match v {
            Value::Bool(b) => out.push(*b as u8),
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Int2 => {
            let i = int_of(v).ok_or_else(|| mismatch(v, ty))?;
            let i = i16::try_from(i).map_err(|_| out_of_range(ty))?;
            out.extend_from_slice(&((i as u16) ^ 0x8000).to_be_bytes());
        }
        DataType::Int4 => {
            let i = int_of(v).ok_or_else(|| mismatch(v, ty))?;
            let i = i32::try_from(i).map_err(|_| out_of_range(ty))?;
            out.extend_from_slice(&((i as u32) ^ (1 << 31)).to_be_bytes());
        }
        DataType::Int8 => {
            let i = int_of(v).ok_or_else(|| mismatch(v, ty))?;
            put_i64(i, out);
        }
        DataType::Oid
        | DataType::Regclass
        | DataType::Regtype
        | DataType::Regproc
        | DataType::Regprocedure
        | DataType::Regnamespace
        | DataType::Regrole => {
            let i = int_of(v).ok_or_else(|| mismatch(v, ty))?;
            let i = u32::try_from(i).map_err(|_| out_of_range(ty))?;
            out.extend_from_slice(&i.to_be_bytes());
        }
        DataType::Float4 => match v {
            Value::Float4(f) => out.extend_from_slice(&f32_key(*f).to_be_bytes()),
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Float8 => match v {
            Value::Float8(f) => out.extend_from_slice(&f64_key(*f).to_be_bytes()),
            Value::Float4(f) => out.extend_from_slice(&f64_key(*f as f64).to_be_bytes()),
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Numeric(_) => match v {
            Value::Numeric(n) => encode_numeric(n, out)?,
            _ => match int_of(v) {
                Some(i) => encode_numeric(&numeric::from_i64(i), out)?,
                None => return Err(mismatch(v, ty)),
            },
        },
        DataType::Text
        | DataType::Varchar(_)
        | DataType::Name
        | DataType::Json
        | DataType::Jsonb
        | DataType::Char(_) => match v {
            Value::Text(s) | Value::Json(s) | Value::Jsonb(s) => {
                let s = if matches!(ty, DataType::Char(_)) {
                    trim_blanks(s)
                } else {
                    s.as_str()
                };
                put_bytes(s.as_bytes(), out);
            }
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Bytea => match v {
            Value::Bytea(b) => put_bytes(b, out),
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Date => match v {
            Value::Date(d) => out.extend_from_slice(&((*d as u32) ^ (1 << 31)).to_be_bytes()),
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Time => match v {
            Value::Time(t) => put_i64(*t, out),
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Timestamp | DataType::Timestamptz => match v {
            Value::Timestamp(t) | Value::Timestamptz(t) => put_i64(*t, out),
            Value::Date(d) => put_i64(datetime::date_to_timestamp(*d)?, out),
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Interval => match v {
            Value::Interval(iv) => {
                let span = datetime::interval_span(iv);
                out.extend_from_slice(&((span as u128) ^ (1 << 127)).to_be_bytes());
            }
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Uuid => match v {
            Value::Uuid(u) => out.extend_from_slice(u),
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Int2Vector | DataType::OidVector => {
            let elem = ty.vector_element().unwrap_or(DataType::Int2);
            return encode_payload(v, &DataType::Array(Box::new(elem)), out);
        }
        DataType::Array(elem) => match v {
            Value::Array(items) => {
                for item in items {
                    if item.is_null() {
                        out.push(ELEM_NULL);
                    } else {
                        out.push(ELEM_VALUE);
                        encode_payload(item, elem, out)?;
                    }
                }
                out.push(ELEM_END);
            }
            _ => return Err(mismatch(v, ty)),
        },
        DataType::Unknown => return Err(mismatch(v, ty)),
    }
    Ok(())
}

fn put_i64(i: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes());
}

/// Bytes with 0x00 escaped as 0x00 0xFF and a 0x00 0x01 terminator: a string
/// that is a proper prefix of another ends in 0x00 0x01, which is below both
/// a following non-zero byte and an escaped zero (0x00 0xFF).
fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() + 2);
    // Text never holds a zero byte: one memchr instead of a byte loop.
    if !bytes.contains(&0) {
        out.extend_from_slice(bytes);
        out.extend_from_slice(&[0x00, 0x01]);
        return;
    }
    for chunk in bytes.split_inclusive(|&b| b == 0) {
        out.extend_from_slice(chunk);
        if chunk.last() == Some(&0) {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

fn f64_key(f: f64) -> u64 {
    if f.is_nan() {
        return u64::MAX;
    }
    // -0.0 == 0.0 in Postgres, so both get +0's bits.
    let bits = if f == 0.0 { 0 } else { f.to_bits() };
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn f64_from_key(k: u64) -> f64 {
    if k == u64::MAX {
        f64::NAN
    } else if k >> 63 == 1 {
        f64::from_bits(k ^ (1 << 63))
    } else {
        f64::from_bits(!k)
    }
}

fn f32_key(f: f32) -> u32 {
    if f.is_nan() {
        return u32::MAX;
    }
    let bits = if f == 0.0 { 0 } else { f.to_bits() };
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | (1 << 31)
    }
}

fn f32_from_key(k: u32) -> f32 {
    if k == u32::MAX {
        f32::NAN
    } else if k >> 31 == 1 {
        f32::from_bits(k ^ (1 << 31))
    } else {
        f32::from_bits(!k)
    }
}

/// Numeric: a class byte, then for finite non-zero values the magnitude as
/// 0.d1d2..dn x 10^E with d1 != 0 and dn != 0 (so equal values such as 1.0
/// and 1.00 share one form): E as a sign-flipped i32, then the digits two per
/// byte as 1..=100 (an odd last digit padded with 0), then 0x00. Within one
/// exponent a digit string that is a prefix of another is the smaller value,
/// and 0x00 sorts below every digit byte. Negative values invert that
/// magnitude encoding so larger magnitudes sort lower.
fn encode_numeric(n: &Numeric, out: &mut Vec<u8>) -> Result<()> {
    let d = match n {
        Numeric::NegInf => {
            out.push(NUM_NEG_INF);
            return Ok(());
        }
        Numeric::PosInf => {
            out.push(NUM_POS_INF);
            return Ok(());
        }
        Numeric::NaN => {
            out.push(NUM_NAN);
            return Ok(());
        }
        Numeric::Finite(d) => d,
    };
    let (int, scale) = d.as_bigint_and_scale();
    let negative = match int.sign() {
        Sign::NoSign => {
            out.push(NUM_ZERO);
            return Ok(());
        }
        Sign::Minus => true,
        Sign::Plus => false,
    };
    out.push(if negative { NUM_NEG } else { NUM_POS });
    let start = out.len();

    // Decimal digits of the magnitude: on the stack when it fits in u128.
    let mut small = [0u8; 39];
    let big;
    let digits: &[u8] = match int.magnitude().to_u128() {
        Some(mut m) => {
            let mut i = small.len();
            while m > 0 {
                i -= 1;
                small[i] = (m % 10) as u8;
                m /= 10;
            }
            &small[i..]
        }
        None => {
            big = int.magnitude().to_radix_be(10);
            &big
        }
    };
    let exponent = (digits.len() as i64)
        .checked_sub(scale)
        .and_then(|e| i32::try_from(e).ok())
        .ok_or_else(|| {
            TypeError::NumericValueOutOfRange("numeric value out of range for an index key".into())
        })?;
    let sig = digits.len() - digits.iter().rev().take_while(|&&x| x == 0).count();
    out.extend_from_slice(&((exponent as u32) ^ (1 << 31)).to_be_bytes());
    for pair in digits[..sig].chunks(2) {
        let lo = pair.get(1).copied().unwrap_or(0);
        out.push(pair[0] * 10 + lo + 1);
    }
    out.push(0x00);
    if negative {
        invert(&mut out[start..]);
    }
    Ok(())
}

/// Reads a column's bytes, undoing the DESC inversion through `mask`.
struct KeyReader<'a> {
    buf: &'a [u8],
    pos: usize,
    mask: u8,
}

impl KeyReader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| corrupt("key ends inside a column"))?;
        self.pos += 1;
        Ok(b ^ self.mask)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let end = self.pos + N;
        let src = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| corrupt("key ends inside a column"))?;
        let mut a = [0u8; N];
        for (d, s) in a.iter_mut().zip(src) {
            *d = s ^ self.mask;
        }
        self.pos = end;
        Ok(a)
    }

    fn i64(&mut self) -> Result<i64> {
        Ok((u64::from_be_bytes(self.array()?) ^ (1 << 63)) as i64)
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        loop {
            match self.byte()? {
                0x00 => match self.byte()? {
                    0x01 => return Ok(v),
                    0xFF => v.push(0),
                    b => return Err(corrupt(&format!("bad escape byte {b:#04x}"))),
                },
                b => v.push(b),
            }
        }
    }

    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| corrupt("text is not UTF-8"))
    }
}

fn decode_payload(r: &mut KeyReader<'_>, ty: &DataType) -> Result<Value> {
    Ok(match ty {
        DataType::Bool => match r.byte()? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(corrupt(&format!("bad boolean byte {b:#04x}"))),
        },
        DataType::Int2 => Value::Int2((u16::from_be_bytes(r.array()?) ^ 0x8000) as i16),
        DataType::Int4 => Value::Int4((u32::from_be_bytes(r.array()?) ^ (1 << 31)) as i32),
        DataType::Int8 => Value::Int8(r.i64()?),
        DataType::Oid
        | DataType::Regclass
        | DataType::Regtype
        | DataType::Regproc
        | DataType::Regprocedure
        | DataType::Regnamespace
        | DataType::Regrole => Value::Oid(u32::from_be_bytes(r.array()?)),
        DataType::Float4 => Value::Float4(f32_from_key(u32::from_be_bytes(r.array()?))),
        DataType::Float8 => Value::Float8(f64_from_key(u64::from_be_bytes(r.array()?))),
        DataType::Numeric(_) => Value::Numeric(decode_numeric(r)?),
        DataType::Text | DataType::Varchar(_) | DataType::Name => Value::Text(r.string()?),
        DataType::Char(n) => {
            let mut s = r.string()?;
            if let Some(n) = n {
                let len = s.chars().count();
                let pad = (*n as usize).saturating_sub(len);
                s.extend(std::iter::repeat_n(' ', pad));
            }
            Value::Text(s)
        }
        DataType::Json => Value::Json(r.string()?),
        DataType::Jsonb => Value::Jsonb(r.string()?),
        DataType::Bytea => Value::Bytea(r.bytes()?),
        DataType::Date => Value::Date((u32::from_be_bytes(r.array()?) ^ (1 << 31)) as i32),
        DataType::Time => Value::Time(r.i64()?),
        DataType::Timestamp => Value::Timestamp(r.i64()?),
        DataType::Timestamptz => Value::Timestamptz(r.i64()?),
        DataType::Interval => {
            let span = (u128::from_be_bytes(r.array()?) ^ (1 << 127)) as i128;
            Value::Interval(interval_from_span(span)?)
        }
        DataType::Uuid => Value::Uuid(r.array()?),
        DataType::Int2Vector | DataType::OidVector => {
            let elem = ty.vector_element().unwrap_or(DataType::Int2);
            return decode_payload(r, &DataType::Array(Box::new(elem)));
        }
        DataType::Array(elem) => {
            let mut items = Vec::new();
            loop {
                match r.byte()? {
                    ELEM_END => break,
                    ELEM_NULL => items.push(Value::Null),
                    ELEM_VALUE => items.push(decode_payload(r, elem)?),
                    b => return Err(corrupt(&format!("bad array element marker {b:#04x}"))),
                }
            }
            Value::Array(items)
        }
        DataType::Unknown => return Err(corrupt("key column of type unknown")),
    })
}

fn decode_numeric(r: &mut KeyReader<'_>) -> Result<Numeric> {
    let negative = match r.byte()? {
        NUM_NEG_INF => return Ok(Numeric::NegInf),
        NUM_POS_INF => return Ok(Numeric::PosInf),
        NUM_NAN => return Ok(Numeric::NaN),
        NUM_ZERO => return Ok(numeric::from_i64(0)),
        NUM_NEG => true,
        NUM_POS => false,
        b => return Err(corrupt(&format!("bad numeric class {b:#04x}"))),
    };
    if negative {
        r.mask ^= 0xFF;
    }
    let exponent = (u32::from_be_bytes(r.array()?) ^ (1 << 31)) as i32;
    let mut digits = Vec::new();
    loop {
        match r.byte()? {
            0 => break,
            b @ 1..=100 => {
                digits.push((b - 1) / 10);
                digits.push((b - 1) % 10);
            }
            b => return Err(corrupt(&format!("bad numeric digit byte {b:#04x}"))),
        }
    }
    if negative {
        r.mask ^= 0xFF;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        return Err(corrupt("numeric without digits"));
    }
    let sign = if negative { Sign::Minus } else { Sign::Plus };
    let int = BigInt::from_radix_be(sign, &digits, 10).ok_or_else(|| corrupt("numeric digits"))?;
    let scale = digits.len() as i64 - exponent as i64;
    Ok(numeric::from_parts(int, scale))
}

/// An interval with the given span: days and micros when the days fit,
/// otherwise as many whole months as possible first.
fn interval_from_span(span: i128) -> Result<Interval> {
    const DAY: i128 = datetime::USECS_PER_DAY as i128;
    const MONTH: i128 = 30 * DAY;
    let bad = || corrupt("interval span out of range");
    let days = span / DAY;
    if let Ok(days) = i32::try_from(days) {
        return Ok(Interval {
            months: 0,
            days,
            micros: (span % DAY) as i64,
        });
    }
    let clamp32 = |x: i128| x.clamp(i32::MIN as i128, i32::MAX as i128) as i32;
    let months = clamp32(span / MONTH);
    let rest = span - months as i128 * MONTH;
    let days = clamp32(rest / DAY);
    let micros = i64::try_from(rest - days as i128 * DAY).map_err(|_| bad())?;
    Ok(Interval {
        months,
        days,
        micros,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{compare, parse_text, TypeContext};
    use proptest::prelude::*;
    use std::cmp::Ordering;

    const ALL_COLS: [KeyColumn; 4] = [
        KeyColumn {
            descending: false,
            nulls_first: false,
        },
        KeyColumn {
            descending: false,
            nulls_first: true,
        },
        KeyColumn {
            descending: true,
            nulls_first: false,
        },
        KeyColumn {
            descending: true,
            nulls_first: true,
        },
    ];

    fn enc(v: &Value, ty: &DataType, col: KeyColumn) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key_value(v, ty, col, &mut out).expect("encode");
        out
    }

    fn num(s: &str) -> Value {
        parse_text(s, &DataType::Numeric(None), &TypeContext::default()).expect("numeric")
    }

    /// The order an index on `col` must produce, from `compare`.
    fn expected(a: &Value, b: &Value, ty: &DataType, col: KeyColumn) -> Ordering {
        match (a.is_null(), b.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) if col.nulls_first => Ordering::Less,
            (true, false) => Ordering::Greater,
            (false, true) if col.nulls_first => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let o = match (ty, a, b) {
                    // bpchar compares without trailing blanks.
                    (DataType::Char(_), Value::Text(x), Value::Text(y)) => {
                        trim_blanks(x).cmp(trim_blanks(y))
                    }
                    _ => compare(a, b),
                };
                if col.descending {
                    o.reverse()
                } else {
                    o
                }
            }
        }
    }

    fn is_proper_prefix(a: &[u8], b: &[u8]) -> bool {
        a.len() < b.len() && b.starts_with(a)
    }

    /// Order, equality, prefix-freeness and round trip for one pair.
    fn check_pair(
        a: &Value,
        b: &Value,
        ty: &DataType,
        col: KeyColumn,
    ) -> std::result::Result<(), TestCaseError> {
        let ea = enc(a, ty, col);
        let eb = enc(b, ty, col);
        prop_assert_eq!(
            ea.cmp(&eb),
            expected(a, b, ty, col),
            "{:?} vs {:?} as {:?} {:?}",
            a,
            b,
            ty,
            col
        );
        prop_assert!(
            !is_proper_prefix(&ea, &eb) && !is_proper_prefix(&eb, &ea),
            "prefix: {:?} {:?}",
            a,
            b
        );
        for (v, e) in [(a, &ea), (b, &eb)] {
            let back = decode_key(e, std::slice::from_ref(ty), &[col]).expect("decode");
            prop_assert_eq!(
                expected(&back[0], v, ty, col),
                Ordering::Equal,
                "round trip {:?} -> {:?}",
                v,
                back[0]
            );
            prop_assert_eq!(&enc(&back[0], ty, col), e);
        }
        Ok(())
    }

    fn col_strategy() -> impl Strategy<Value = KeyColumn> {
        (any::<bool>(), any::<bool>()).prop_map(|(descending, nulls_first)| KeyColumn {
            descending,
            nulls_first,
        })
    }

    fn nullable(s: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
        prop_oneof![1 => Just(Value::Null), 8 => s].boxed()
    }

    fn f64_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(0.0),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (-100i32..100).prop_map(|i| i as f64 / 4.0),
        ]
    }

    fn numeric_strategy() -> BoxedStrategy<Value> {
        let finite = (any::<i64>(), -3i64..12, 0u32..3).prop_map(|(m, scale, widen)| {
            // Sometimes a mantissa far wider than u128 to exercise the slow path.
            let mut int = BigInt::from(m);
            for _ in 0..widen {
                int = int * BigInt::from(m) + BigInt::from(7);
            }
            Value::Numeric(numeric::from_parts(int, scale))
        });
        let small = (-50i64..50, 0i64..4)
            .prop_map(|(m, s)| Value::Numeric(numeric::from_parts(BigInt::from(m), s)));
        prop_oneof![
            4 => finite,
            4 => small,
            1 => Just(Value::Numeric(Numeric::NaN)),
            1 => Just(Value::Numeric(Numeric::PosInf)),
            1 => Just(Value::Numeric(Numeric::NegInf)),
        ]
        .boxed()
    }

    fn text_strategy() -> BoxedStrategy<String> {
        prop_oneof!["[ab\\x00 ]{0,6}", any::<String>(), "[a-c]{0,3}( {0,3})",].boxed()
    }

    fn interval_strategy() -> BoxedStrategy<Value> {
        prop_oneof![
            (any::<i32>(), any::<i32>(), any::<i64>()),
            (-3i32..3, -40i32..40, -3i64..3),
            (
                -2i32..2,
                -60i32..60,
                prop_oneof![
                    Just(0i64),
                    Just(datetime::USECS_PER_DAY),
                    Just(-datetime::USECS_PER_DAY)
                ]
            ),
        ]
        .prop_map(|(months, days, micros)| {
            Value::Interval(Interval {
                months,
                days,
                micros,
            })
        })
        .boxed()
    }

    /// A type and a strategy for its values (NULL included).
    fn typed_values() -> Vec<(DataType, BoxedStrategy<Value>)> {
        vec![
            (
                DataType::Bool,
                nullable(any::<bool>().prop_map(Value::Bool)),
            ),
            (DataType::Int2, nullable(any::<i16>().prop_map(Value::Int2))),
            (DataType::Int4, nullable(any::<i32>().prop_map(Value::Int4))),
            (DataType::Int8, nullable(any::<i64>().prop_map(Value::Int8))),
            (DataType::Oid, nullable(any::<u32>().prop_map(Value::Oid))),
            (
                DataType::Float4,
                nullable(f64_strategy().prop_map(|f| Value::Float4(f as f32))),
            ),
            (
                DataType::Float8,
                nullable(f64_strategy().prop_map(Value::Float8)),
            ),
            (DataType::Numeric(None), nullable(numeric_strategy())),
            (
                DataType::Text,
                nullable(text_strategy().prop_map(Value::Text)),
            ),
            (
                DataType::Varchar(Some(10)),
                nullable(text_strategy().prop_map(Value::Text)),
            ),
            (
                DataType::Char(Some(6)),
                nullable(text_strategy().prop_map(Value::Text)),
            ),
            (
                DataType::Name,
                nullable(text_strategy().prop_map(Value::Text)),
            ),
            (
                DataType::Jsonb,
                nullable(text_strategy().prop_map(Value::Jsonb)),
            ),
            (
                DataType::Bytea,
                nullable(
                    prop::collection::vec(
                        prop_oneof![Just(0u8), Just(0xFF), Just(1), any::<u8>()],
                        0..6,
                    )
                    .prop_map(Value::Bytea),
                ),
            ),
            (
                DataType::Date,
                nullable(prop_oneof![any::<i32>(), -3i32..3].prop_map(Value::Date)),
            ),
            (
                DataType::Time,
                nullable((0i64..datetime::USECS_PER_DAY).prop_map(Value::Time)),
            ),
            (
                DataType::Timestamp,
                nullable(any::<i64>().prop_map(Value::Timestamp)),
            ),
            (
                DataType::Timestamptz,
                nullable(any::<i64>().prop_map(Value::Timestamptz)),
            ),
            (DataType::Interval, nullable(interval_strategy())),
            (
                DataType::Uuid,
                nullable(
                    prop_oneof![any::<[u8; 16]>(), Just([0u8; 16]), Just([0xFF; 16])]
                        .prop_map(Value::Uuid),
                ),
            ),
            (
                DataType::Array(Box::new(DataType::Int4)),
                nullable(
                    prop::collection::vec(nullable((-3i32..3).prop_map(Value::Int4)), 0..4)
                        .prop_map(Value::Array),
                ),
            ),
            (
                DataType::Array(Box::new(DataType::Text)),
                nullable(
                    prop::collection::vec(nullable("[a\\x00]{0,2}".prop_map(Value::Text)), 0..4)
                        .prop_map(Value::Array),
                ),
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn key_pairs_order_like_compare(
            (ty, a, b) in proptest::sample::select(typed_values().into_iter().enumerate().map(|(i, _)| i).collect::<Vec<_>>())
                .prop_flat_map(|i| {
                    let (ty, s) = typed_values().swap_remove(i);
                    (Just(ty), s.clone(), s)
                }),
            col in col_strategy(),
        ) {
            check_pair(&a, &b, &ty, col)?;
        }

        #[test]
        fn key_tuples_order_column_by_column(
            rows in proptest::collection::vec(
                (prop_oneof![Just(Value::Null), (-2i32..2).prop_map(Value::Int4)],
                 nullable("[a\\x00]{0,2}".prop_map(Value::Text)),
                 nullable(numeric_strategy())),
                2..6),
            cols in proptest::collection::vec(col_strategy(), 3),
        ) {
            let types = [DataType::Int4, DataType::Text, DataType::Numeric(None)];
            let keys: Vec<(Vec<Value>, Vec<u8>)> = rows
                .into_iter()
                .map(|(a, b, c)| {
                    let vals = vec![a, b, c];
                    let k = encode_key(&vals, &types, &cols).expect("encode");
                    (vals, k)
                })
                .collect();
            for (va, ka) in &keys {
                let back = decode_key(ka, &types, &cols).expect("decode");
                prop_assert_eq!(&encode_key(&back, &types, &cols).expect("re-encode"), ka);
                for (vb, kb) in &keys {
                    let want = va
                        .iter()
                        .zip(vb)
                        .zip(types.iter().zip(&cols))
                        .map(|((x, y), (ty, col))| expected(x, y, ty, *col))
                        .find(|o| *o != Ordering::Equal)
                        .unwrap_or(Ordering::Equal);
                    prop_assert_eq!(ka.cmp(kb), want);
                    // The encoded leading column is a prefix bound for the scan.
                    let mut lead = Vec::new();
                    encode_key_value(&va[0], &types[0], cols[0], &mut lead).expect("encode");
                    let in_range = kb.as_slice() >= lead.as_slice()
                        && prefix_successor(&lead).is_none_or(|s| kb.as_slice() < s.as_slice());
                    prop_assert_eq!(in_range, expected(&va[0], &vb[0], &types[0], cols[0]) == Ordering::Equal);
                }
            }
        }

        #[test]
        fn key_prefix_successor_bounds_all_extensions(prefix in proptest::collection::vec(prop_oneof![Just(0xFFu8), any::<u8>()], 0..5), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut ext = prefix.clone();
            ext.extend_from_slice(&tail);
            match prefix_successor(&prefix) {
                Some(s) => {
                    prop_assert!(s.as_slice() > prefix.as_slice());
                    prop_assert!(ext.as_slice() < s.as_slice());
                }
                None => prop_assert!(prefix.iter().all(|&b| b == 0xFF)),
            }
        }
    }

    fn in_bounds(k: &[u8], (lo, hi): &KeyBounds) -> bool {
        let above = match lo {
            Bound::Unbounded => true,
            Bound::Included(b) => k >= b.as_slice(),
            Bound::Excluded(b) => k > b.as_slice(),
        };
        let below = match hi {
            Bound::Unbounded => true,
            Bound::Included(b) => k <= b.as_slice(),
            Bound::Excluded(b) => k < b.as_slice(),
        };
        above && below
    }

    fn sql_in(v: &Value, lo: Bound<&Value>, hi: Bound<&Value>) -> bool {
        if v.is_null() {
            return false;
        }
        let above = match lo {
            Bound::Unbounded => true,
            Bound::Included(b) => compare(v, b) != Ordering::Less,
            Bound::Excluded(b) => compare(v, b) == Ordering::Greater,
        };
        let below = match hi {
            Bound::Unbounded => true,
            Bound::Included(b) => compare(v, b) != Ordering::Greater,
            Bound::Excluded(b) => compare(v, b) == Ordering::Less,
        };
        above && below
    }

    fn bound_strategy() -> impl Strategy<Value = Bound<i32>> {
        prop_oneof![
            Just(Bound::Unbounded),
            (-3i32..3).prop_map(Bound::Included),
            (-3i32..3).prop_map(Bound::Excluded),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A range scan over (a, b, c) with `a = eq` (or no prefix) and bounds on
        /// b returns exactly the keys SQL would, whatever the sort settings.
        #[test]
        fn key_range_bounds_select_like_sql(
            rows in proptest::collection::vec(
                (prop_oneof![Just(Value::Null), (-1i32..2).prop_map(Value::Int4)],
                 prop_oneof![Just(Value::Null), (-3i32..3).prop_map(Value::Int4)],
                 prop_oneof![Just(Value::Null), (-1i32..1).prop_map(Value::Int4)]),
                0..12),
            cols in proptest::collection::vec(col_strategy(), 3),
            eq in proptest::option::of(-1i32..2),
            lo in bound_strategy(),
            hi in bound_strategy(),
        ) {
            let types = [DataType::Int4, DataType::Int4, DataType::Int4];
            let lo = lo.map(Value::Int4);
            let hi = hi.map(Value::Int4);
            let eqv = eq.map(Value::Int4);
            let mut prefix = Vec::new();
            if let Some(v) = &eqv {
                encode_key_value(v, &types[0], cols[0], &mut prefix).expect("encode");
            }
            let (pos, ty) = if eqv.is_some() { (1, &types[1]) } else { (0, &types[0]) };
            let bounds = range_bounds(&prefix, ty, cols[pos], lo.as_ref(), hi.as_ref()).expect("bounds");
            for (a, b, c) in rows {
                let vals = vec![a, b, c];
                let k = encode_key(&vals, &types, &cols).expect("encode");
                let want = match &eqv {
                    Some(e) => !vals[0].is_null() && compare(&vals[0], e) == Ordering::Equal
                        && sql_in(&vals[1], lo.as_ref(), hi.as_ref()),
                    None => sql_in(&vals[0], lo.as_ref(), hi.as_ref()),
                };
                prop_assert_eq!(in_bounds(&k, &bounds), want, "{:?} {:?} {:?}", vals, cols, bounds);
            }
        }
    }

    fn assert_order(ty: &DataType, ascending: &[Value]) {
        for col in ALL_COLS {
            for w in ascending.windows(2) {
                let o = enc(&w[0], ty, col).cmp(&enc(&w[1], ty, col));
                let want = if col.descending {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
                assert_eq!(o, want, "{:?} < {:?} as {:?} {:?}", w[0], w[1], ty, col);
            }
        }
    }

    fn assert_same(ty: &DataType, a: &Value, b: &Value) {
        for col in ALL_COLS {
            assert_eq!(enc(a, ty, col), enc(b, ty, col), "{a:?} == {b:?}");
        }
    }

    #[test]
    fn key_float_nan_zero_infinity() {
        let ty = DataType::Float8;
        let vals: Vec<Value> = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE,
            0.0,
            5e-324,
            1.0,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
        ]
        .into_iter()
        .map(Value::Float8)
        .collect();
        assert_order(&ty, &vals);
        assert_same(&ty, &Value::Float8(-0.0), &Value::Float8(0.0));
        assert_same(&ty, &Value::Float8(f64::NAN), &Value::Float8(-f64::NAN));
        assert_same(&DataType::Float4, &Value::Float4(-0.0), &Value::Float4(0.0));
        assert_order(
            &DataType::Float4,
            &[Value::Float4(f32::INFINITY), Value::Float4(f32::NAN)],
        );
    }

    #[test]
    fn key_numeric_scale_does_not_matter() {
        let ty = DataType::Numeric(None);
        assert_same(&ty, &num("1.0"), &num("1.00"));
        assert_same(&ty, &num("1"), &num("1.000"));
        assert_same(&ty, &num("0"), &num("-0.00"));
        assert_same(&ty, &num("-120"), &num("-120.0"));
        let vals: Vec<Value> = [
            "-Infinity",
            "-1e20",
            "-101",
            "-100.5",
            "-100",
            "-1",
            "-0.01",
            "0",
            "0.001",
            "0.1",
            "0.11",
            "1",
            "1.01",
            "9.99",
            "10",
            "1e20",
            "Infinity",
            "NaN",
        ]
        .iter()
        .map(|s| num(s))
        .collect();
        assert_order(&ty, &vals);
        assert_order(
            &ty,
            &[
                Value::Int4(-1),
                num("-0.5"),
                Value::Int4(0),
                num("2.5"),
                Value::Int8(3),
            ],
        );
        // Decoding is canonical: the display scale is gone but the value is not.
        let back = decode_key(
            &enc(&num("1.50"), &ty, KeyColumn::ASC),
            std::slice::from_ref(&ty),
            &[KeyColumn::ASC],
        )
        .expect("decode");
        assert_eq!(back, vec![num("1.5")]);
    }

    #[test]
    fn key_text_null_empty_and_zero_bytes() {
        let ty = DataType::Text;
        let t = |s: &str| Value::Text(s.into());
        assert_order(
            &ty,
            &[
                t(""),
                t("\0"),
                t("\0\0"),
                t("\0a"),
                t("a"),
                t("a\0"),
                t("a\0\0"),
                t("a\u{1}"),
                t("ab"),
                t("b"),
            ],
        );
        // NULL vs the empty string: distinct, and on the right side.
        let null = enc(&Value::Null, &ty, KeyColumn::ASC);
        let empty = enc(&t(""), &ty, KeyColumn::ASC);
        assert!(empty < null);
        let (null_d, empty_d) = (
            enc(&Value::Null, &ty, KeyColumn::DESC),
            enc(&t(""), &ty, KeyColumn::DESC),
        );
        assert!(null_d < empty_d);
        for col in ALL_COLS {
            let n = enc(&Value::Null, &ty, col);
            let e = enc(&t(""), &ty, col);
            assert_eq!(n < e, col.nulls_first, "{col:?}");
        }
        // char(n) ignores trailing blanks and comes back padded.
        let c = DataType::Char(Some(4));
        assert_same(&c, &t("ab"), &t("ab  "));
        let back = decode_key(
            &enc(&t("ab"), &c, KeyColumn::ASC),
            std::slice::from_ref(&c),
            &[KeyColumn::ASC],
        )
        .expect("decode");
        assert_eq!(back, vec![t("ab  ")]);
        let b = DataType::Bytea;
        assert_order(
            &b,
            &[
                Value::Bytea(vec![]),
                Value::Bytea(vec![0]),
                Value::Bytea(vec![0, 0xFF]),
                Value::Bytea(vec![1]),
                Value::Bytea(vec![0xFF]),
            ],
        );
    }

    #[test]
    fn key_integer_extremes_and_widening() {
        assert_order(
            &DataType::Int8,
            &[
                Value::Int8(i64::MIN),
                Value::Int8(-1),
                Value::Int8(0),
                Value::Int8(1),
                Value::Int8(i64::MAX),
            ],
        );
        assert_order(
            &DataType::Int4,
            &[
                Value::Int4(i32::MIN),
                Value::Int4(-1),
                Value::Int4(0),
                Value::Int4(i32::MAX),
            ],
        );
        assert_order(
            &DataType::Int2,
            &[Value::Int2(i16::MIN), Value::Int2(0), Value::Int2(i16::MAX)],
        );
        assert_same(&DataType::Int8, &Value::Int4(7), &Value::Int8(7));
        let mut out = Vec::new();
        let err = encode_key_value(
            &Value::Int8(1 << 40),
            &DataType::Int4,
            KeyColumn::ASC,
            &mut out,
        );
        assert!(matches!(err, Err(TypeError::NumericValueOutOfRange(_))));
        assert!(
            out.is_empty(),
            "a failed encode leaves the buffer as it was"
        );
        let err = encode_key_value(
            &Value::Text("1".into()),
            &DataType::Int4,
            KeyColumn::ASC,
            &mut out,
        );
        assert!(matches!(err, Err(TypeError::CannotCoerce { .. })));
    }

    #[test]
    fn key_infinite_dates_and_timestamps() {
        use datetime::{DATE_NEG_INF, DATE_POS_INF, TS_NEG_INF, TS_POS_INF};
        assert_order(
            &DataType::Date,
            &[
                Value::Date(DATE_NEG_INF),
                Value::Date(-1),
                Value::Date(0),
                Value::Date(DATE_POS_INF),
            ],
        );
        assert_order(
            &DataType::Timestamp,
            &[
                Value::Timestamp(TS_NEG_INF),
                Value::Timestamp(0),
                Value::Timestamp(TS_POS_INF),
            ],
        );
        assert_same(
            &DataType::Timestamp,
            &Value::Date(1),
            &Value::Timestamp(datetime::USECS_PER_DAY),
        );
        assert_same(
            &DataType::Timestamptz,
            &Value::Date(DATE_POS_INF),
            &Value::Timestamptz(TS_POS_INF),
        );
    }

    #[test]
    fn key_interval_by_span() {
        let iv = |months, days, micros| {
            Value::Interval(Interval {
                months,
                days,
                micros,
            })
        };
        let ty = DataType::Interval;
        assert_same(&ty, &iv(1, 0, 0), &iv(0, 30, 0));
        assert_same(&ty, &iv(0, 1, 0), &iv(0, 0, datetime::USECS_PER_DAY));
        assert_order(
            &ty,
            &[
                iv(i32::MIN, i32::MIN, i64::MIN),
                iv(-1, 0, 0),
                iv(0, 0, -1),
                iv(0, 0, 0),
                iv(0, 29, 0),
                iv(1, 0, 1),
                iv(i32::MAX, i32::MAX, i64::MAX),
            ],
        );
        for v in [
            iv(i32::MIN, i32::MIN, i64::MIN),
            iv(i32::MAX, i32::MAX, i64::MAX),
            iv(5, -3, -7),
        ] {
            let back = decode_key(
                &enc(&v, &ty, KeyColumn::ASC),
                std::slice::from_ref(&ty),
                &[KeyColumn::ASC],
            )
            .expect("decode");
            assert_eq!(compare(&back[0], &v), Ordering::Equal);
        }
    }

    #[test]
    fn key_arrays_elementwise_then_length() {
        let ty = DataType::Array(Box::new(DataType::Int4));
        let a = |v: &[Option<i32>]| {
            Value::Array(
                v.iter()
                    .map(|x| x.map_or(Value::Null, Value::Int4))
                    .collect(),
            )
        };
        assert_order(
            &ty,
            &[
                a(&[]),
                a(&[Some(-1)]),
                a(&[Some(1)]),
                a(&[Some(1), Some(2)]),
                a(&[Some(1), None]),
                a(&[Some(2)]),
                a(&[None]),
                a(&[None, None]),
            ],
        );
    }

    #[test]
    fn key_decode_rejects_garbage() {
        let ty = [DataType::Text];
        assert!(decode_key(&[MARK_VALUE, b'a'], &ty, &[KeyColumn::ASC]).is_err());
        assert!(decode_key(&[0x07], &ty, &[KeyColumn::ASC]).is_err());
        assert!(decode_key(&[MARK_VALUE, 0, 1, 9], &ty, &[KeyColumn::ASC]).is_err());
        let (vals, used) =
            decode_key_prefix(&[MARK_VALUE, 0, 1, 9], &ty, &[KeyColumn::ASC]).expect("prefix");
        assert_eq!((vals, used), (vec![Value::Text(String::new())], 3));
        assert!(decode_key(
            &[MARK_VALUE, NUM_POS, 0x80, 0, 0, 1, 0xFA, 0],
            &[DataType::Numeric(None)],
            &[KeyColumn::ASC]
        )
        .is_err());
        assert!(encode_key(&[Value::Int4(1)], &[], &[]).is_err());
    }

    #[test]
    fn key_prefix_successor_edges() {
        assert_eq!(prefix_successor(&[]), None);
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[1, 2]), Some(vec![1, 3]));
    }

    /// Key, then decode, then the exact hint gives back the very value
    /// (its text output, which shows scale, -0, interval form, blanks),
    /// for every column order; the hint is all the bytes it wrote.
    #[test]
    fn exact_hints_restore_the_value() {
        let ctx = TypeContext::default();
        let cases: &[(DataType, &[&str])] = &[
            (
                DataType::Numeric(None),
                &[
                    "1.50",
                    "1.5",
                    "-0.000",
                    "0",
                    "12345678901234567890.123456789000",
                    "-2.10",
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "100",
                ],
            ),
            (DataType::Numeric(Some((10, 3))), &["1.500", "-7.000"]),
            (
                DataType::Float8,
                &["-0", "0", "NaN", "-Infinity", "1e300", "-1e-300", "2.5"],
            ),
            (
                DataType::Float4,
                &["-0", "0", "NaN", "Infinity", "1.5e-40", "-3.25"],
            ),
            (
                DataType::Interval,
                &[
                    "1 mon",
                    "30 days",
                    "720 hours",
                    "-1 day 2 hours",
                    "1 year -3 days",
                    "-2 mons",
                    "0",
                    "178000000 years",
                ],
            ),
            (DataType::Char(None), &["ab  ", "ab", "", " a", "   "]),
        ];
        for (ty, texts) in cases {
            assert!(!decodes_exactly(ty) && has_exact_hint(ty), "{ty:?}");
            for text in *texts {
                let v = parse_text(text, ty, &ctx).expect("value");
                for col in ALL_COLS {
                    let key = enc(&v, ty, col);
                    let decoded = decode_key(&key, std::slice::from_ref(ty), &[col]).unwrap();
                    let mut hint = vec![];
                    encode_exact_hint(&v, ty, &mut hint);
                    hint.extend_from_slice(b"rest");
                    let (back, used) = apply_exact_hint(decoded[0].clone(), ty, &hint).unwrap();
                    assert_eq!(back.to_text(&ctx), v.to_text(&ctx), "{ty:?} {text}");
                    assert_eq!(&hint[used..], b"rest", "{ty:?} {text}");
                }
            }
        }
        // NULL has no hint; a truncated hint is an error, not a panic.
        assert_eq!(
            apply_exact_hint(Value::Null, &DataType::Float8, &[]).unwrap(),
            (Value::Null, 0)
        );
        let iv = parse_text("1 mon", &DataType::Interval, &ctx).unwrap();
        assert!(apply_exact_hint(iv, &DataType::Interval, &[0x82]).is_err());
        assert!(apply_exact_hint(Value::Float8(0.0), &DataType::Float8, &[]).is_err());
    }
}
