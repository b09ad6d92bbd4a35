//! Binary I/O: Postgres's send/recv formats, big-endian, as the extended
//! protocol carries them (numeric as base-10000 digits, timestamps as µs
//! since 2000-01-01, arrays with their dimension header, jsonb with its
//! version byte).

use super::{datetime, json, numeric, DataType, Interval, Numeric, Result, TypeError, Value};

fn bad(msg: &str) -> TypeError {
    TypeError::InvalidBinaryRepresentation(msg.into())
}

impl Value {
    /// Postgres's binary send format for this value as type `ty`.
    pub fn to_binary(&self, ty: &DataType) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_binary(ty, &mut out)?;
        Ok(out)
    }

    fn write_binary(&self, ty: &DataType, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Value::Null => return Err(bad("NULL has no binary form")),
            Value::Bool(b) => out.push(*b as u8),
            Value::Int2(i) => match ty {
                DataType::Int4 => out.extend_from_slice(&(*i as i32).to_be_bytes()),
                DataType::Int8 => out.extend_from_slice(&(*i as i64).to_be_bytes()),
                _ => out.extend_from_slice(&i.to_be_bytes()),
            },
            Value::Int4(i) => match ty {
                DataType::Int8 => out.extend_from_slice(&(*i as i64).to_be_bytes()),
                _ => out.extend_from_slice(&i.to_be_bytes()),
            },
            Value::Int8(i) => out.extend_from_slice(&i.to_be_bytes()),
            Value::Oid(i) => out.extend_from_slice(&i.to_be_bytes()),
            Value::Float4(f) => match ty {
                DataType::Float8 => out.extend_from_slice(&(*f as f64).to_bits().to_be_bytes()),
                _ => out.extend_from_slice(&f.to_bits().to_be_bytes()),
            },
            Value::Float8(f) => match ty {
                DataType::Float4 => out.extend_from_slice(&(*f as f32).to_bits().to_be_bytes()),
                _ => out.extend_from_slice(&f.to_bits().to_be_bytes()),
            },
            Value::Numeric(n) => write_numeric(n, out),
            Value::Text(s) | Value::Json(s) => {
                if matches!(ty, DataType::Jsonb) {
                    out.push(1);
                }
                out.extend_from_slice(s.as_bytes())
            }
            Value::Jsonb(s) => {
                if !matches!(ty, DataType::Json | DataType::Text) {
                    out.push(1);
                }
                out.extend_from_slice(s.as_bytes());
            }
            Value::Bytea(b) => out.extend_from_slice(b),
            Value::Date(d) => out.extend_from_slice(&d.to_be_bytes()),
            Value::Time(t) | Value::Timestamp(t) | Value::Timestamptz(t) => {
                out.extend_from_slice(&t.to_be_bytes())
            }
            Value::Interval(iv) => {
                out.extend_from_slice(&iv.micros.to_be_bytes());
                out.extend_from_slice(&iv.days.to_be_bytes());
                out.extend_from_slice(&iv.months.to_be_bytes());
            }
            Value::Uuid(u) => out.extend_from_slice(u),
            Value::Array(items) => {
                // An int2vector / oidvector is an array whose subscripts
                // start at 0 (its lower bound on the wire).
                let lower_bound: i32 = if ty.vector_element().is_some() { 0 } else { 1 };
                let elem = match ty {
                    DataType::Array(e) => (**e).clone(),
                    DataType::Int2Vector => DataType::Int2,
                    DataType::OidVector => DataType::Oid,
                    _ => items
                        .iter()
                        .find(|v| !v.is_null())
                        .map_or(DataType::Text, value_type),
                };
                let has_null = items.iter().any(Value::is_null);
                if items.is_empty() {
                    out.extend_from_slice(&0i32.to_be_bytes());
                    out.extend_from_slice(&0i32.to_be_bytes());
                    out.extend_from_slice(&elem.oid().to_be_bytes());
                    return Ok(());
                }
                out.extend_from_slice(&1i32.to_be_bytes());
                out.extend_from_slice(&(has_null as i32).to_be_bytes());
                out.extend_from_slice(&elem.oid().to_be_bytes());
                out.extend_from_slice(&(items.len() as i32).to_be_bytes());
                out.extend_from_slice(&lower_bound.to_be_bytes());
                for v in items {
                    if v.is_null() {
                        out.extend_from_slice(&(-1i32).to_be_bytes());
                        continue;
                    }
                    let at = out.len();
                    out.extend_from_slice(&[0; 4]);
                    v.write_binary(&elem, out)?;
                    let len = (out.len() - at - 4) as i32;
                    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
                }
            }
        }
        Ok(())
    }
}

/// The natural type of a value (no modifiers).
pub fn value_type(v: &Value) -> DataType {
    match v {
        Value::Null => DataType::Unknown,
        Value::Bool(_) => DataType::Bool,
        Value::Int2(_) => DataType::Int2,
        Value::Int4(_) => DataType::Int4,
        Value::Int8(_) => DataType::Int8,
        Value::Float4(_) => DataType::Float4,
        Value::Float8(_) => DataType::Float8,
        Value::Numeric(_) => DataType::Numeric(None),
        Value::Text(_) => DataType::Text,
        Value::Bytea(_) => DataType::Bytea,
        Value::Date(_) => DataType::Date,
        Value::Time(_) => DataType::Time,
        Value::Timestamp(_) => DataType::Timestamp,
        Value::Timestamptz(_) => DataType::Timestamptz,
        Value::Interval(_) => DataType::Interval,
        Value::Uuid(_) => DataType::Uuid,
        Value::Json(_) => DataType::Json,
        Value::Jsonb(_) => DataType::Jsonb,
        Value::Oid(_) => DataType::Oid,
        Value::Array(items) => DataType::Array(Box::new(
            items
                .iter()
                .find(|v| !v.is_null())
                .map_or(DataType::Text, value_type),
        )),
    }
}

fn write_numeric(n: &Numeric, out: &mut Vec<u8>) {
    let (weight, digits, sign, dscale): (i16, Vec<i16>, u16, u16) = match n {
        Numeric::NaN => (0, vec![], 0xC000, 0),
        Numeric::PosInf => (0, vec![], 0xD000, 0),
        Numeric::NegInf => (0, vec![], 0xF000, 0),
        Numeric::Finite(d) => {
            let (w, digits, neg, dscale) = numeric::to_base10000(d);
            (w, digits, if neg { 0x4000 } else { 0 }, dscale)
        }
    };
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

fn take<const N: usize>(b: &[u8], at: &mut usize) -> Result<[u8; N]> {
    let s = b
        .get(*at..*at + N)
        .ok_or_else(|| bad("insufficient data left in message"))?;
    *at += N;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

fn exact<const N: usize>(b: &[u8]) -> Result<[u8; N]> {
    if b.len() != N {
        return Err(bad(if b.len() < N {
            "insufficient data left in message"
        } else {
            "incorrect binary data format"
        }));
    }
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    Ok(a)
}

fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        TypeError::CharacterNotInRepertoire(format!("0x{:02x}", b.get(at).copied().unwrap_or(0)))
    })
}

/// Decode Postgres's binary receive format for `ty`.
pub fn parse_binary(bytes: &[u8], ty: &DataType) -> Result<Value> {
    Ok(match ty {
        DataType::Bool => Value::Bool(exact::<1>(bytes)?[0] != 0),
        DataType::Int2 => Value::Int2(i16::from_be_bytes(exact(bytes)?)),
        DataType::Int4 => Value::Int4(i32::from_be_bytes(exact(bytes)?)),
        DataType::Int8 => Value::Int8(i64::from_be_bytes(exact(bytes)?)),
        DataType::Oid
        | DataType::Regclass
        | DataType::Regtype
        | DataType::Regproc
        | DataType::Regprocedure
        | DataType::Regnamespace
        | DataType::Regrole => Value::Oid(u32::from_be_bytes(exact(bytes)?)),
        DataType::Float4 => Value::Float4(f32::from_bits(u32::from_be_bytes(exact(bytes)?))),
        DataType::Float8 => Value::Float8(f64::from_bits(u64::from_be_bytes(exact(bytes)?))),
        DataType::Numeric(m) => {
            let mut at = 0;
            let ndigits = i16::from_be_bytes(take(bytes, &mut at)?);
            let weight = i16::from_be_bytes(take(bytes, &mut at)?);
            let sign = u16::from_be_bytes(take(bytes, &mut at)?);
            let dscale = u16::from_be_bytes(take(bytes, &mut at)?);
            if ndigits < 0 {
                return Err(bad("invalid length in external \"numeric\" value"));
            }
            let mut digits = Vec::with_capacity(ndigits as usize);
            for _ in 0..ndigits {
                let d = i16::from_be_bytes(take(bytes, &mut at)?);
                if !(0..10000).contains(&d) {
                    return Err(bad("invalid digit in external \"numeric\" value"));
                }
                digits.push(d);
            }
            let n = match sign {
                0xC000 => Numeric::NaN,
                0xD000 => Numeric::PosInf,
                0xF000 => Numeric::NegInf,
                0 | 0x4000 => {
                    if dscale > 0x3FFF {
                        return Err(bad("invalid scale in external \"numeric\" value"));
                    }
                    Numeric::Finite(numeric::from_base10000(
                        weight,
                        &digits,
                        sign == 0x4000,
                        dscale,
                    ))
                }
                _ => return Err(bad("invalid sign in external \"numeric\" value")),
            };
            match m {
                Some((p, s)) => Value::Numeric(numeric::apply_typmod(n, *p, *s)?),
                None => Value::Numeric(n),
            }
        }
        DataType::Text | DataType::Unknown => Value::Text(utf8(bytes)?),
        DataType::Varchar(_) | DataType::Char(_) | DataType::Name => {
            Value::Text(super::text_io::apply_char_limit(utf8(bytes)?, ty, false)?)
        }
        DataType::Bytea => Value::Bytea(bytes.to_vec()),
        DataType::Date => Value::Date(i32::from_be_bytes(exact(bytes)?)),
        DataType::Time => Value::Time(i64::from_be_bytes(exact(bytes)?)),
        DataType::Timestamp | DataType::Timestamptz => {
            let t = i64::from_be_bytes(exact(bytes)?);
            if t != i64::MIN && t != i64::MAX && !datetime::is_valid_timestamp(t) {
                return Err(TypeError::DatetimeFieldOverflow(
                    "timestamp out of range".into(),
                ));
            }
            if matches!(ty, DataType::Timestamp) {
                Value::Timestamp(t)
            } else {
                Value::Timestamptz(t)
            }
        }
        DataType::Interval => {
            let mut at = 0;
            let micros = i64::from_be_bytes(take(bytes, &mut at)?);
            let days = i32::from_be_bytes(take(bytes, &mut at)?);
            let months = i32::from_be_bytes(take(bytes, &mut at)?);
            if at != bytes.len() {
                return Err(bad("incorrect binary data format"));
            }
            Value::Interval(Interval {
                months,
                days,
                micros,
            })
        }
        DataType::Uuid => Value::Uuid(exact(bytes)?),
        DataType::Json => {
            let s = utf8(bytes)?;
            if json::parse(&s).is_none() {
                return Err(TypeError::InvalidTextRepresentation {
                    type_name: "json".into(),
                    value: s,
                });
            }
            Value::Json(s)
        }
        DataType::Jsonb => {
            let (v, rest) = bytes
                .split_first()
                .ok_or_else(|| bad("insufficient data left in message"))?;
            if *v != 1 {
                return Err(bad(&format!("unsupported jsonb version number {v}")));
            }
            let s = utf8(rest)?;
            Value::Jsonb(
                json::normalize(&s).ok_or(TypeError::InvalidTextRepresentation {
                    type_name: "json".into(),
                    value: s,
                })?,
            )
        }
        DataType::Int2Vector | DataType::OidVector => {
            let elem = ty.vector_element().unwrap_or(DataType::Int2);
            return parse_binary(bytes, &DataType::Array(Box::new(elem)));
        }
        DataType::Array(elem) => {
            let mut at = 0;
            let ndim = i32::from_be_bytes(take(bytes, &mut at)?);
            let _flags = i32::from_be_bytes(take(bytes, &mut at)?);
            let _oid = u32::from_be_bytes(take(bytes, &mut at)?);
            if ndim == 0 {
                return Ok(Value::Array(Vec::new()));
            }
            if ndim != 1 {
                return Err(bad("multidimensional arrays are not supported"));
            }
            let n = i32::from_be_bytes(take(bytes, &mut at)?);
            let _lb = i32::from_be_bytes(take(bytes, &mut at)?);
            if n < 0 || n as usize > bytes.len() {
                return Err(bad("insufficient data left in message"));
            }
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let len = i32::from_be_bytes(take(bytes, &mut at)?);
                if len == -1 {
                    items.push(Value::Null);
                    continue;
                }
                if len < 0 {
                    return Err(bad("insufficient data left in message"));
                }
                let end = at + len as usize;
                let b = bytes
                    .get(at..end)
                    .ok_or_else(|| bad("insufficient data left in message"))?;
                items.push(parse_binary(b, elem)?);
                at = end;
            }
            if at != bytes.len() {
                return Err(bad("incorrect binary data format in array element"));
            }
            Value::Array(items)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TypeContext;

    #[test]
    fn numeric_wire_format() {
        let v = super::super::parse_text(
            "-12345.678",
            &DataType::Numeric(None),
            &TypeContext::default(),
        )
        .unwrap();
        let b = v.to_binary(&DataType::Numeric(None)).unwrap();
        // ndigits 3, weight 1, sign neg, dscale 3, digits 1 2345 6780
        assert_eq!(
            b,
            vec![0, 3, 0, 1, 0x40, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C]
        );
        assert_eq!(parse_binary(&b, &DataType::Numeric(None)).unwrap(), v);
    }

    #[test]
    fn round_trips() {
        let ctx = TypeContext::default();
        let cases = [
            (DataType::Int4, "42"),
            (DataType::Float8, "1.5"),
            (DataType::Text, "héllo"),
            (DataType::Date, "2024-01-05"),
            (DataType::Timestamp, "2024-01-05 10:11:12.5"),
            (DataType::Interval, "1 year 2 days 00:00:01"),
            (DataType::Uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            (DataType::Jsonb, "{\"a\": 1}"),
            (DataType::Array(Box::new(DataType::Int4)), "{1,NULL,3}"),
            (DataType::Numeric(None), "0.0001"),
            (DataType::Numeric(None), "NaN"),
        ];
        for (ty, s) in cases {
            let v = super::super::parse_text(s, &ty, &ctx).unwrap();
            let b = v.to_binary(&ty).unwrap();
            assert_eq!(parse_binary(&b, &ty).unwrap(), v, "{s}");
        }
        let b = Value::Jsonb("{}".into())
            .to_binary(&DataType::Jsonb)
            .unwrap();
        assert_eq!(b[0], 1);
        assert_eq!(
            Value::Date(0).to_binary(&DataType::Date).unwrap(),
            vec![0, 0, 0, 0]
        );
    }
}
