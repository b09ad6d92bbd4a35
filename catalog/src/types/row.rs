//! Tuple encoding for heap rows. Layout (little-endian):
//!
//! ```text
//! header: one byte h
//!   h & 0x80 == 0: the column count is h & 0x3F (0..=63)
//!   h & 0x80 != 0: the column count is the u16 that follows (h & 0x3F = 0)
//!   h & 0x40: a null bitmap follows, ceil(count/8) bytes, bit set = NULL;
//!             without it no column is NULL
//! for each non-NULL column: u8 tag, then the payload for that tag
//! ```
//!
//! Fixed-size payloads are stored raw, except integers: an int2, int4 or
//! int8 whose value fits fewer bytes is stored as its low bytes under a
//! tag that says how many (sign-extended on decode; 1 to 7 bytes). Text,
//! bytea, json and jsonb are `u32 length + bytes`, or `u8 length + bytes`
//! under their short tags when shorter than 256 bytes; numeric is `u8 kind`
//! (0 finite, 1 NaN, 2 +inf, 3 -inf) then for finite `i16 scale, u16
//! length, two's complement LE bytes`; arrays are `u32 count` then each
//! element as `tag + payload` (tag 0 = NULL).
//! The tag makes a tuple readable without its schema; `decode_row` uses the
//! schema only for the column count, so rows written before ALTER TABLE ADD
//! COLUMN decode with `None` for the new trailing columns.
//!
//! Why so compact: a heap row is read through the buffer pool, so every
//! byte saved here is more rows per page and fewer pool misses (an
//! `(int, int)` row is 9 bytes here, 13 before the short forms).

use super::{numeric, DataType, Interval, Numeric, Result, TypeError, Value};
use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;

const T_NULL: u8 = 0;
const T_BOOL: u8 = 1;
const T_INT2: u8 = 2;
const T_INT4: u8 = 3;
const T_INT8: u8 = 4;
const T_FLOAT4: u8 = 5;
const T_FLOAT8: u8 = 6;
const T_NUMERIC: u8 = 7;
const T_TEXT: u8 = 8;
const T_BYTEA: u8 = 9;
const T_DATE: u8 = 10;
const T_TIME: u8 = 11;
const T_TIMESTAMP: u8 = 12;
const T_TIMESTAMPTZ: u8 = 13;
const T_INTERVAL: u8 = 14;
const T_UUID: u8 = 15;
const T_JSON: u8 = 16;
const T_JSONB: u8 = 17;
const T_OID: u8 = 18;
const T_ARRAY: u8 = 19;
// Integers in fewer bytes than their type's width: the tag says how many.
const T_INT2_1: u8 = 20;
/// `T_INT4_N + n - 1` for n = 1..=3 bytes.
const T_INT4_N: u8 = 21;
/// `T_INT8_N + n - 1` for n = 1..=7 bytes.
const T_INT8_N: u8 = 24;
const T_INT4_3: u8 = T_INT4_N + 2;
const T_INT8_7: u8 = T_INT8_N + 6;
// Variable-length values shorter than 256 bytes: a u8 length.
const T_TEXT_S: u8 = 31;
const T_BYTEA_S: u8 = 32;
const T_JSON_S: u8 = 33;
const T_JSONB_S: u8 = 34;

/// Header flag: the column count is a u16 after the header byte.
const H_LONG: u8 = 0x80;
/// Header flag: a null bitmap follows the count.
const H_NULLS: u8 = 0x40;
/// Largest column count of the one-byte header.
const H_SHORT_MAX: usize = 0x3F;

/// Write the header of a row of `n` columns; with `nulls`, a zeroed null
/// bitmap after it, whose position is returned.
fn put_header(n: usize, nulls: bool, out: &mut Vec<u8>) -> usize {
    let flag = if nulls { H_NULLS } else { 0 };
    if n <= H_SHORT_MAX {
        out.push(n as u8 | flag);
    } else {
        out.push(H_LONG | flag);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    }
    let at = out.len();
    if nulls {
        out.resize(at + n.div_ceil(8), 0);
    }
    at
}

/// Bytes needed to store `v` sign-extended (1..=8).
fn int_width(v: i64) -> usize {
    // Redundant sign bits: the bytes above the first that differs from
    // the sign can be dropped.
    let significant = 64 - (v ^ (v >> 63)).leading_zeros() as usize + 1;
    significant.div_ceil(8)
}

/// An integer of a type `width` bytes wide: its full form under `full`
/// when it needs every byte, else its low bytes under `short + n - 1`.
fn put_int(out: &mut Vec<u8>, v: i64, width: usize, full: u8, short: u8) {
    let n = int_width(v);
    let (tag, n) = if n >= width {
        (full, width)
    } else {
        (short + n as u8 - 1, n)
    };
    // One copy of a fixed size, then cut to length: no call to memcpy
    // for a few bytes of variable length.
    let mut b = [0u8; 9];
    b[0] = tag;
    b[1..].copy_from_slice(&v.to_le_bytes());
    let at = out.len();
    out.extend_from_slice(&b);
    out.truncate(at + 1 + n);
}

/// `encode_text_value` of a field still in bytes, for the one case that
/// needs no UTF-8 check first: an integer column and a field of plain
/// digits that fits it. `false` (nothing written) otherwise.
pub fn encode_plain_int(bytes: &[u8], ty: &DataType, out: &mut Vec<u8>) -> bool {
    let Some(l) = IntLayout::of(ty) else {
        return false;
    };
    match super::text_io::plain_digits(bytes) {
        Some(v) if v >= l.min && v <= l.max => {
            put_int(out, v, l.width, l.full, l.short);
            true
        }
        _ => false,
    }
}

/// An integer type's range, its name in errors and its stored form
/// (`put_int`).
struct IntLayout {
    min: i64,
    max: i64,
    name: &'static str,
    width: usize,
    full: u8,
    short: u8,
}

impl IntLayout {
    fn of(ty: &DataType) -> Option<IntLayout> {
        let (min, max, name, width, full, short) = match ty {
            DataType::Int2 => (
                i16::MIN as i64,
                i16::MAX as i64,
                "smallint",
                2,
                T_INT2,
                T_INT2_1,
            ),
            DataType::Int4 => (
                i32::MIN as i64,
                i32::MAX as i64,
                "integer",
                4,
                T_INT4,
                T_INT4_N,
            ),
            DataType::Int8 => (i64::MIN, i64::MAX, "bigint", 8, T_INT8, T_INT8_N),
            _ => return None,
        };
        Some(IntLayout {
            min,
            max,
            name,
            width,
            full,
            short,
        })
    }
}

/// Encode a row (one value per column, NULLs included) into tuple bytes.
pub fn encode_row(values: &[Value], out: &mut Vec<u8>) {
    let n = values.len().min(u16::MAX as usize);
    let nulls = values[..n].iter().any(Value::is_null);
    let bitmap_at = put_header(n, nulls, out);
    for (i, v) in values.iter().take(n).enumerate() {
        if v.is_null() {
            out[bitmap_at + i / 8] |= 1 << (i % 8);
        } else {
            encode_value(v, out);
        }
    }
}

/// Start a row of `n` columns in `out`, every column non-NULL so far;
/// returns where its NULL bitmap is (`set_row_null`). The columns follow
/// in order (`encode_text_value`, or nothing for a NULL). The row always
/// has a bitmap (all zero if no column turns out NULL).
pub fn begin_row(n: usize, out: &mut Vec<u8>) -> usize {
    put_header(n.min(u16::MAX as usize), true, out)
}

/// Mark column `i` of the row whose bitmap is at `bitmap_at` NULL.
pub fn set_row_null(out: &mut [u8], bitmap_at: usize, i: usize) {
    out[bitmap_at + i / 8] |= 1 << (i % 8);
}

/// Encode a column given in its text form (COPY) as `parse_text` and then
/// `encode_row` would, without a `Value` in between for integers and
/// character types (the text is copied once, char(n) padded in place).
pub fn encode_text_value(
    s: &str,
    ty: &DataType,
    ctx: &super::TypeContext,
    out: &mut Vec<u8>,
) -> Result<()> {
    // For char(n) and varchar(n): the characters in `s` when they are
    // within the limit (its bytes bound them from above).
    let within = match ty {
        DataType::Varchar(Some(n)) | DataType::Char(Some(n)) => {
            let n = *n as usize;
            if s.len() <= n && s.is_ascii() {
                Some(s.len())
            } else {
                Some(s.chars().count()).filter(|&c| c <= n)
            }
        }
        _ => None,
    };
    if let Some(l) = IntLayout::of(ty) {
        let v = super::text_io::parse_int(s, l.min, l.max, l.name)?;
        put_int(out, v, l.width, l.full, l.short);
        return Ok(());
    }
    match ty {
        DataType::Text | DataType::Varchar(None) | DataType::Char(None) => {
            put_bytes(out, T_TEXT, s.as_bytes())
        }
        DataType::Varchar(Some(_)) if within.is_some() => put_bytes(out, T_TEXT, s.as_bytes()),
        DataType::Char(Some(n)) if within.is_some() => {
            let pad = *n as usize - within.unwrap_or(0);
            put_len(out, T_TEXT, s.len() + pad);
            out.extend_from_slice(s.as_bytes());
            out.resize(out.len() + pad, b' ');
        }
        // Everything else (and a char(n)/varchar(n) value over its limit,
        // which errors or drops trailing spaces) through a `Value`.
        _ => {
            // (A present field never parses as NULL.)
            encode_value(&super::text_io::parse_text(s, ty, ctx)?, out);
        }
    }
    Ok(())
}

/// The tag and length of a variable-length value of `len` bytes of kind
/// `tag` (T_TEXT, T_BYTEA, T_JSON or T_JSONB): the short form below 256.
fn put_len(out: &mut Vec<u8>, tag: u8, len: usize) {
    if len < 256 {
        let short = match tag {
            T_TEXT => T_TEXT_S,
            T_BYTEA => T_BYTEA_S,
            T_JSON => T_JSON_S,
            _ => T_JSONB_S,
        };
        out.extend_from_slice(&[short, len as u8]);
    } else {
        out.push(tag);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    put_len(out, tag, b.len());
    out.extend_from_slice(b);
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(b) => out.extend_from_slice(&[T_BOOL, *b as u8]),
        Value::Int2(i) => put_int(out, *i as i64, 2, T_INT2, T_INT2_1),
        Value::Int4(i) => put_int(out, *i as i64, 4, T_INT4, T_INT4_N),
        Value::Int8(i) => put_int(out, *i, 8, T_INT8, T_INT8_N),
        Value::Float4(f) => {
            out.push(T_FLOAT4);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Float8(f) => {
            out.push(T_FLOAT8);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Numeric(n) => {
            out.push(T_NUMERIC);
            match n {
                Numeric::Finite(d) => {
                    let (int, scale) = numeric::parts(d);
                    out.push(0);
                    out.extend_from_slice(&(scale as i16).to_le_bytes());
                    let bytes = int.to_signed_bytes_le();
                    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                    out.extend_from_slice(&bytes);
                }
                Numeric::NaN => out.push(1),
                Numeric::PosInf => out.push(2),
                Numeric::NegInf => out.push(3),
            }
        }
        Value::Text(s) => put_bytes(out, T_TEXT, s.as_bytes()),
        Value::Bytea(b) => put_bytes(out, T_BYTEA, b),
        Value::Json(s) => put_bytes(out, T_JSON, s.as_bytes()),
        Value::Jsonb(s) => put_bytes(out, T_JSONB, s.as_bytes()),
        Value::Date(d) => {
            out.push(T_DATE);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Value::Time(t) => {
            out.push(T_TIME);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Timestamp(t) => {
            out.push(T_TIMESTAMP);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Timestamptz(t) => {
            out.push(T_TIMESTAMPTZ);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Interval(iv) => {
            out.push(T_INTERVAL);
            out.extend_from_slice(&iv.months.to_le_bytes());
            out.extend_from_slice(&iv.days.to_le_bytes());
            out.extend_from_slice(&iv.micros.to_le_bytes());
        }
        Value::Uuid(u) => {
            out.push(T_UUID);
            out.extend_from_slice(u);
        }
        Value::Oid(o) => {
            out.push(T_OID);
            out.extend_from_slice(&o.to_le_bytes());
        }
        Value::Array(items) => {
            out.push(T_ARRAY);
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for it in items {
                encode_value(it, out);
            }
        }
    }
}

fn corrupt() -> TypeError {
    TypeError::InvalidBinaryRepresentation("corrupt tuple".into())
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or_else(corrupt)?;
        let s = self.b.get(self.at..end).ok_or_else(corrupt)?;
        self.at = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.arr::<1>()?[0])
    }
    /// The column count and null bitmap (None: no NULLs) of a row.
    fn header(&mut self) -> Result<(usize, Option<&'a [u8]>)> {
        let h = self.u8()?;
        let n = if h & H_LONG != 0 {
            if h & H_SHORT_MAX as u8 != 0 {
                return Err(corrupt());
            }
            u16::from_le_bytes(self.arr()?) as usize
        } else {
            (h & H_SHORT_MAX as u8) as usize
        };
        let bitmap = if h & H_NULLS != 0 {
            Some(self.take(n.div_ceil(8))?)
        } else {
            None
        };
        Ok((n, bitmap))
    }
    /// The length of a variable-length value: u8 under a short tag.
    fn len(&mut self, short: bool) -> Result<usize> {
        Ok(if short {
            self.u8()? as usize
        } else {
            u32::from_le_bytes(self.arr()?) as usize
        })
    }
    fn bytes(&mut self, short: bool) -> Result<&'a [u8]> {
        let len = self.len(short)?;
        self.take(len)
    }
    /// `n` low bytes of an integer, sign-extended.
    fn int(&mut self, n: usize) -> Result<i64> {
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(self.take(n)?);
        let shift = 64 - 8 * n as u32;
        Ok(i64::from_le_bytes(a)
            .wrapping_shl(shift)
            .wrapping_shr(shift))
    }
    fn string(&mut self, short: bool) -> Result<String> {
        let b = self.bytes(short)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| corrupt())
    }
    /// Step over one value without materializing it.
    fn skip(&mut self, depth: u32) -> Result<()> {
        if depth > 8 {
            return Err(corrupt());
        }
        let n = match self.u8()? {
            T_NULL => 0,
            T_BOOL | T_INT2_1 => 1,
            t @ T_INT4_N..=T_INT4_3 => (t - T_INT4_N + 1) as usize,
            t @ T_INT8_N..=T_INT8_7 => (t - T_INT8_N + 1) as usize,
            T_TEXT_S | T_BYTEA_S | T_JSON_S | T_JSONB_S => self.u8()? as usize,
            T_INT2 => 2,
            T_INT4 | T_FLOAT4 | T_DATE | T_OID => 4,
            T_INT8 | T_FLOAT8 | T_TIME | T_TIMESTAMP | T_TIMESTAMPTZ => 8,
            T_INTERVAL | T_UUID => 16,
            T_NUMERIC => match self.u8()? {
                0 => {
                    self.take(2)?;
                    u16::from_le_bytes(self.arr()?) as usize
                }
                1..=3 => 0,
                _ => return Err(corrupt()),
            },
            T_TEXT | T_BYTEA | T_JSON | T_JSONB => u32::from_le_bytes(self.arr()?) as usize,
            T_ARRAY => {
                let n = u32::from_le_bytes(self.arr()?) as usize;
                if n > self.b.len() - self.at {
                    return Err(corrupt());
                }
                for _ in 0..n {
                    self.skip(depth + 1)?;
                }
                0
            }
            _ => return Err(corrupt()),
        };
        self.take(n)?;
        Ok(())
    }
    fn value(&mut self, depth: u32) -> Result<Value> {
        if depth > 8 {
            return Err(corrupt());
        }
        Ok(match self.u8()? {
            T_NULL => Value::Null,
            T_BOOL => Value::Bool(self.u8()? != 0),
            T_INT2 => Value::Int2(i16::from_le_bytes(self.arr()?)),
            T_INT4 => Value::Int4(i32::from_le_bytes(self.arr()?)),
            T_INT8 => Value::Int8(i64::from_le_bytes(self.arr()?)),
            T_INT2_1 => Value::Int2(self.int(1)? as i16),
            t @ T_INT4_N..=T_INT4_3 => Value::Int4(self.int((t - T_INT4_N + 1) as usize)? as i32),
            t @ T_INT8_N..=T_INT8_7 => Value::Int8(self.int((t - T_INT8_N + 1) as usize)?),
            T_FLOAT4 => Value::Float4(f32::from_bits(u32::from_le_bytes(self.arr()?))),
            T_FLOAT8 => Value::Float8(f64::from_bits(u64::from_le_bytes(self.arr()?))),
            T_NUMERIC => Value::Numeric(match self.u8()? {
                0 => {
                    let scale = i16::from_le_bytes(self.arr()?);
                    let len = u16::from_le_bytes(self.arr()?) as usize;
                    let int = BigInt::from_signed_bytes_le(self.take(len)?);
                    Numeric::Finite(BigDecimal::new(int, scale as i64))
                }
                1 => Numeric::NaN,
                2 => Numeric::PosInf,
                3 => Numeric::NegInf,
                _ => return Err(corrupt()),
            }),
            t @ (T_TEXT | T_TEXT_S) => Value::Text(self.string(t == T_TEXT_S)?),
            t @ (T_BYTEA | T_BYTEA_S) => Value::Bytea(self.bytes(t == T_BYTEA_S)?.to_vec()),
            t @ (T_JSON | T_JSON_S) => Value::Json(self.string(t == T_JSON_S)?),
            t @ (T_JSONB | T_JSONB_S) => Value::Jsonb(self.string(t == T_JSONB_S)?),
            T_DATE => Value::Date(i32::from_le_bytes(self.arr()?)),
            T_TIME => Value::Time(i64::from_le_bytes(self.arr()?)),
            T_TIMESTAMP => Value::Timestamp(i64::from_le_bytes(self.arr()?)),
            T_TIMESTAMPTZ => Value::Timestamptz(i64::from_le_bytes(self.arr()?)),
            T_INTERVAL => Value::Interval(Interval {
                months: i32::from_le_bytes(self.arr()?),
                days: i32::from_le_bytes(self.arr()?),
                micros: i64::from_le_bytes(self.arr()?),
            }),
            T_UUID => Value::Uuid(self.arr()?),
            T_OID => Value::Oid(u32::from_le_bytes(self.arr()?)),
            T_ARRAY => {
                let n = u32::from_le_bytes(self.arr()?) as usize;
                if n > self.b.len() - self.at {
                    return Err(corrupt());
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            _ => return Err(corrupt()),
        })
    }
}

/// Decode every value of tuple bytes written by `encode_row` (values carry
/// their own types).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Value>> {
    let mut r = Reader { b: bytes, at: 0 };
    let (stored, bitmap) = r.header()?;
    let is_null = |i: usize| bitmap.is_some_and(|b| b[i / 8] & (1 << (i % 8)) != 0);
    let mut out = Vec::with_capacity(stored);
    for i in 0..stored {
        if is_null(i) {
            out.push(Value::Null);
        } else {
            out.push(r.value(0)?);
        }
    }
    Ok(out)
}

/// Decode tuple bytes written by `encode_row`. `types` lists the columns now in
/// the table; a tuple written before ALTER TABLE ADD COLUMN has fewer values and
/// the missing trailing columns decode as `None` so the caller can supply the
/// column's default.
pub fn decode_row(bytes: &[u8], types: &[DataType]) -> Result<Vec<Option<Value>>> {
    let mut r = Reader { b: bytes, at: 0 };
    let (stored, bitmap) = r.header()?;
    let is_null = |i: usize| bitmap.is_some_and(|b| b[i / 8] & (1 << (i % 8)) != 0);
    let want = types.len();
    let mut out = Vec::with_capacity(want);
    for i in 0..stored.min(want) {
        if is_null(i) {
            out.push(Some(Value::Null));
        } else {
            out.push(Some(r.value(0)?));
        }
    }
    out.resize(want, None);
    Ok(out)
}

/// Decode the first `want` columns of tuple bytes into `out` (appended),
/// materializing only the columns `needed` marks (the others come back as
/// NULL without being read into memory). Returns how many columns the tuple
/// stores, at most `want`: the caller supplies the missing trailing ones (see
/// `decode_row`).
pub fn decode_row_masked(
    bytes: &[u8],
    want: usize,
    needed: Option<&[bool]>,
    out: &mut Vec<Value>,
) -> Result<usize> {
    let mut r = Reader { b: bytes, at: 0 };
    let (stored, bitmap) = r.header()?;
    let is_null = |i: usize| bitmap.is_some_and(|b| b[i / 8] & (1 << (i % 8)) != 0);
    let n = stored.min(want);
    // Past the last needed column nothing more has to be read.
    let last = match needed {
        None => n,
        Some(m) => m[..n.min(m.len())]
            .iter()
            .rposition(|&b| b)
            .map_or(0, |i| i + 1),
    };
    out.reserve(n);
    for i in 0..n {
        if i >= last || is_null(i) {
            out.push(Value::Null);
        } else if needed.is_none_or(|m| m.get(i).copied().unwrap_or(true)) {
            out.push(r.value(0)?);
        } else {
            r.skip(0)?;
            out.push(Value::Null);
        }
    }
    Ok(n)
}

/// Column `i` of an encoded row, reading nothing past it (an index build's
/// per-row step for a one-column key); None when the row stores fewer
/// columns (one added since: its value is the column's default).
pub fn decode_column(bytes: &[u8], i: usize) -> Result<Option<Value>> {
    let mut r = Reader { b: bytes, at: 0 };
    let (stored, bitmap) = r.header()?;
    if i >= stored {
        return Ok(None);
    }
    let is_null = |j: usize| bitmap.is_some_and(|b| b[j / 8] & (1 << (j % 8)) != 0);
    if is_null(i) {
        return Ok(Some(Value::Null));
    }
    for j in 0..i {
        if !is_null(j) {
            r.skip(0)?;
        }
    }
    Ok(Some(r.value(0)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{parse_text, TypeContext};

    /// A row encoded field by field from text is the row `encode_row`
    /// makes of the parsed values, and a field that does not parse fails
    /// the same way.
    #[test]
    fn text_fields_encode_like_parsed_values() {
        let ctx = TypeContext::default();
        let cases: Vec<(DataType, &str)> = vec![
            (DataType::Int2, "-32768"),
            (DataType::Int2, "32768"),
            (DataType::Int4, " 42 "),
            (DataType::Int4, "4x"),
            (DataType::Int8, "-9223372036854775808"),
            (DataType::Text, "héllo\tworld"),
            (DataType::Varchar(None), ""),
            (DataType::Varchar(Some(3)), "abc"),
            (DataType::Varchar(Some(3)), "abcd"),
            (DataType::Varchar(Some(3)), "ab  "),
            (DataType::Varchar(Some(3)), "ééé"),
            (DataType::Char(Some(5)), "ab"),
            (DataType::Char(Some(5)), "éé"),
            (DataType::Char(Some(2)), "abc"),
            (DataType::Char(Some(2)), "a    "),
            (DataType::Char(Some(84)), ""),
            (DataType::Char(None), "x "),
            (DataType::Numeric(Some((5, 2))), "1.5"),
            (DataType::Bool, "t"),
            (DataType::Date, "2024-02-29"),
        ];
        for (ty, text) in cases {
            let expected = parse_text(text, &ty, &ctx).map(|v| {
                let mut b = vec![];
                encode_row(&[Value::Null, v], &mut b);
                b
            });
            let got = {
                let mut b = vec![];
                let at = begin_row(2, &mut b);
                set_row_null(&mut b, at, 0);
                encode_text_value(text, &ty, &ctx, &mut b).map(|()| b)
            };
            assert_eq!(got, expected, "{ty:?} {text:?}");
        }
    }

    /// decode_column agrees with decoding the whole row, column by column,
    /// NULLs and variable-width values included.
    #[test]
    fn decode_column_matches_the_whole_row() {
        let row = vec![
            Value::Int4(7),
            Value::Null,
            Value::Text("abc".into()),
            Value::Timestamp(1_700_000_000_000_000),
            Value::Null,
            Value::Int8(-3),
        ];
        let mut bytes = vec![];
        encode_row(&row, &mut bytes);
        for (i, v) in row.iter().enumerate() {
            assert_eq!(
                decode_column(&bytes, i).unwrap(),
                Some(v.clone()),
                "column {i}"
            );
        }
        assert_eq!(decode_column(&bytes, row.len()).unwrap(), None);
        assert!(decode_column(&bytes[..bytes.len() - 3], 5).is_err());
    }

    #[test]
    fn round_trip_all_kinds() {
        let c = TypeContext::default();
        let values = vec![
            Value::Int4(7),
            Value::Null,
            Value::Text("héllo".into()),
            parse_text("-123.4500", &DataType::Numeric(None), &c).unwrap(),
            Value::Numeric(Numeric::NaN),
            Value::Float8(f64::NAN),
            Value::Bool(true),
            Value::Bytea(vec![0, 1, 2]),
            Value::Interval(Interval {
                months: 1,
                days: -2,
                micros: 3,
            }),
            Value::Uuid([7; 16]),
            Value::Array(vec![Value::Int8(1), Value::Null]),
            Value::Timestamptz(123),
            Value::Jsonb("{}".into()),
        ];
        let mut buf = Vec::new();
        encode_row(&values, &mut buf);
        let types = vec![DataType::Unknown; values.len() + 2];
        let back = decode_row(&buf, &types).unwrap();
        assert_eq!(back.len(), values.len() + 2);
        for (a, b) in values.iter().zip(back.iter()) {
            match (a, b) {
                (Value::Float8(x), Some(Value::Float8(y))) => assert_eq!(x.to_bits(), y.to_bits()),
                _ => assert_eq!(Some(a), b.as_ref()),
            }
        }
        assert_eq!(back[values.len()], None);
    }

    #[test]
    fn masked_decode_skips_unneeded_columns() {
        let c = TypeContext::default();
        let values = vec![
            Value::Text("skip me".into()),
            parse_text("12.5", &DataType::Numeric(None), &c).unwrap(),
            Value::Array(vec![Value::Int4(1), Value::Text("x".into())]),
            Value::Null,
            Value::Int8(42),
            Value::Interval(Interval {
                months: 1,
                days: 2,
                micros: 3,
            }),
            Value::Text("last".into()),
        ];
        let mut buf = Vec::new();
        encode_row(&values, &mut buf);
        for mask in 0u32..(1 << values.len()) {
            let needed: Vec<bool> = (0..values.len()).map(|i| mask & (1 << i) != 0).collect();
            let mut out = vec![];
            let n = decode_row_masked(&buf, values.len() + 1, Some(&needed), &mut out).unwrap();
            assert_eq!(n, values.len());
            for (i, v) in values.iter().enumerate() {
                let want = if needed[i] { v.clone() } else { Value::Null };
                assert_eq!(out[i], want, "mask {mask:b} column {i}");
            }
        }
        let mut out = vec![];
        assert_eq!(decode_row_masked(&buf, 2, None, &mut out).unwrap(), 2);
        assert_eq!(out, values[..2].to_vec());
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let mut buf = Vec::new();
        encode_row(&[Value::Text("abc".into())], &mut buf);
        for cut in 0..buf.len() {
            assert!(decode_row(&buf[..cut], &[DataType::Text]).is_err());
        }
        // An unknown tag; a long header with count bits set; a bitmap cut short.
        assert!(decode_row(&[1, 99], &[DataType::Text]).is_err());
        assert!(decode_row(&[0x81, 1, 0, 3, 0, 0, 0, 0], &[DataType::Int4]).is_err());
        assert!(decode_row(&[0x80 | 0x40, 64, 0, 0], &[DataType::Int4]).is_err());
    }

    /// Integers at the edges of every stored width come back exactly, and
    /// take the bytes they need: an (int, int) row of small values is 9
    /// bytes (header, then tag + 3 bytes each).
    #[test]
    fn integers_round_trip_at_every_width() {
        let mut edges: Vec<i64> = vec![0, 1, -1];
        for bits in [8u32, 16, 24, 32, 40, 48, 56] {
            let hi = (1i64 << (bits - 1)) - 1;
            let lo = -(1i64 << (bits - 1));
            edges.extend([hi, hi + 1, lo, lo - 1]);
        }
        edges.extend([i64::MAX, i64::MIN]);
        for &e in &edges {
            let mut vals = vec![Value::Int8(e)];
            if let Ok(v) = i32::try_from(e) {
                vals.push(Value::Int4(v));
            }
            if let Ok(v) = i16::try_from(e) {
                vals.push(Value::Int2(v));
            }
            for v in vals {
                let mut b = vec![];
                encode_row(std::slice::from_ref(&v), &mut b);
                let back = decode_row(&b, &[DataType::Unknown]).unwrap();
                assert_eq!(back, vec![Some(v.clone())], "{v:?}");
                let mut skipped = vec![];
                decode_row_masked(&b, 1, Some(&[false]), &mut skipped).unwrap();
                assert_eq!(skipped, vec![Value::Null]);
                assert_eq!(decode_column(&b, 0).unwrap(), Some(v.clone()));
            }
        }
        let mut b = vec![];
        encode_row(&[Value::Int4(4_999_999), Value::Int4(-5)], &mut b);
        assert_eq!(b.len(), 1 + 4 + 2);
        assert_eq!(
            decode_row(&b, &[DataType::Int4, DataType::Int4]).unwrap(),
            vec![Some(Value::Int4(4_999_999)), Some(Value::Int4(-5))]
        );
    }

    /// Short and long forms of variable-length values, and rows with more
    /// columns than the one-byte header holds, with and without NULLs.
    #[test]
    fn long_values_and_wide_rows_round_trip() {
        for len in [0usize, 1, 255, 256, 70_000] {
            let s: String = "x".repeat(len);
            let row = vec![
                Value::Text(s.clone()),
                Value::Bytea(s.clone().into_bytes()),
                Value::Json(s.clone()),
                Value::Jsonb(s.clone()),
                Value::Int4(len as i32),
            ];
            let mut b = vec![];
            encode_row(&row, &mut b);
            let short = if len < 256 { 2 } else { 5 };
            assert_eq!(b.len(), 1 + 4 * (short + len) + 1 + int_width(len as i64));
            let back = decode_row(&b, &vec![DataType::Unknown; 5]).unwrap();
            assert_eq!(back, row.iter().cloned().map(Some).collect::<Vec<_>>());
            assert_eq!(decode_column(&b, 4).unwrap(), Some(Value::Int4(len as i32)));
        }
        for n in [62usize, 63, 64, 65, 300] {
            for with_null in [false, true] {
                let row: Vec<Value> = (0..n)
                    .map(|i| {
                        if with_null && i % 7 == 3 {
                            Value::Null
                        } else {
                            Value::Int4(i as i32 * 1000)
                        }
                    })
                    .collect();
                let mut b = vec![];
                encode_row(&row, &mut b);
                let back = decode_row(&b, &vec![DataType::Unknown; n + 1]).unwrap();
                let mut want: Vec<Option<Value>> = row.iter().cloned().map(Some).collect();
                want.push(None);
                assert_eq!(back, want, "{n} columns, NULLs {with_null}");
                let mut out = vec![];
                assert_eq!(decode_row_masked(&b, n, None, &mut out).unwrap(), n);
                assert_eq!(out, row);
            }
        }
    }
}
