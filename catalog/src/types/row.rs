//! Tuple encoding for heap rows. Layout (little-endian):
//!
//! ```text
//! u16 column count | null bitmap, ceil(count/8) bytes, bit set = NULL |
//! for each non-NULL column: u8 tag, then the payload for that tag
//! ```
//!
//! Fixed-size payloads are stored raw; text, bytea, json and jsonb are
//! `u32 length + bytes`; numeric is `u8 kind` (0 finite, 1 NaN, 2 +inf,
//! 3 -inf) then for finite `i16 scale, u16 length, two's complement LE bytes`;
//! arrays are `u32 count` then each element as `tag + payload` (tag 0 = NULL).
//! The tag makes a tuple readable without its schema; `decode_row` uses the
//! schema only for the column count, so rows written before ALTER TABLE ADD
//! COLUMN decode with `None` for the new trailing columns.

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

/// Encode a row (one value per column, NULLs included) into tuple bytes.
pub fn encode_row(values: &[Value], out: &mut Vec<u8>) {
    let n = values.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    let bitmap_at = out.len();
    out.resize(bitmap_at + n.div_ceil(8), 0);
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
/// in order (`encode_text_value`, or nothing for a NULL).
pub fn begin_row(n: usize, out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&(n as u16).to_le_bytes());
    let at = out.len();
    out.resize(at + n.div_ceil(8), 0);
    at
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
    match ty {
        DataType::Int2 => {
            let v = super::text_io::parse_int(s, i16::MIN as i64, i16::MAX as i64, "smallint")?;
            out.push(T_INT2);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        DataType::Int4 => {
            let v = super::text_io::parse_int(s, i32::MIN as i64, i32::MAX as i64, "integer")?;
            out.push(T_INT4);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        DataType::Int8 => {
            let v = super::text_io::parse_int(s, i64::MIN, i64::MAX, "bigint")?;
            out.push(T_INT8);
            out.extend_from_slice(&v.to_le_bytes());
        }
        DataType::Text | DataType::Varchar(None) | DataType::Char(None) => {
            put_bytes(out, T_TEXT, s.as_bytes())
        }
        DataType::Varchar(Some(_)) if within.is_some() => put_bytes(out, T_TEXT, s.as_bytes()),
        DataType::Char(Some(n)) if within.is_some() => {
            let pad = *n as usize - within.unwrap_or(0);
            out.push(T_TEXT);
            out.extend_from_slice(&((s.len() + pad) as u32).to_le_bytes());
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

fn put_bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(b) => out.extend_from_slice(&[T_BOOL, *b as u8]),
        Value::Int2(i) => {
            out.push(T_INT2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Int4(i) => {
            out.push(T_INT4);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Int8(i) => {
            out.push(T_INT8);
            out.extend_from_slice(&i.to_le_bytes());
        }
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
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = u32::from_le_bytes(self.arr()?) as usize;
        self.take(len)
    }
    fn string(&mut self) -> Result<String> {
        let b = self.bytes()?;
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
            T_BOOL => 1,
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
            T_TEXT => Value::Text(self.string()?),
            T_BYTEA => Value::Bytea(self.bytes()?.to_vec()),
            T_JSON => Value::Json(self.string()?),
            T_JSONB => Value::Jsonb(self.string()?),
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

/// Decode tuple bytes written by `encode_row`. `types` lists the columns now in
/// the table; a tuple written before ALTER TABLE ADD COLUMN has fewer values and
/// the missing trailing columns decode as `None` so the caller can supply the
/// column's default.
pub fn decode_row(bytes: &[u8], types: &[DataType]) -> Result<Vec<Option<Value>>> {
    let mut r = Reader { b: bytes, at: 0 };
    let stored = u16::from_le_bytes(r.arr()?) as usize;
    let bitmap = r.take(stored.div_ceil(8))?;
    let want = types.len();
    let mut out = Vec::with_capacity(want);
    for i in 0..stored.min(want) {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
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
    let stored = u16::from_le_bytes(r.arr()?) as usize;
    let bitmap = r.take(stored.div_ceil(8))?;
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
        if i >= last {
            out.push(Value::Null);
        } else if bitmap[i / 8] & (1 << (i % 8)) != 0 {
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
    let stored = u16::from_le_bytes(r.arr()?) as usize;
    let bitmap = r.take(stored.div_ceil(8))?;
    if i >= stored {
        return Ok(None);
    }
    let is_null = |j: usize| bitmap[j / 8] & (1 << (j % 8)) != 0;
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
        assert!(decode_row(&[1, 0, 0, 99], &[DataType::Text]).is_err());
    }
}
