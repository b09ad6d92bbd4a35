//! Postgres's `numeric`: text form, typmod rounding, the base-10000 digit
//! form used by the binary protocol, and arithmetic with Postgres's result
//! scales (`select_div_scale`). Values are `BigDecimal`s whose scale is the
//! display scale (`dscale`) and is never negative.

use super::{Numeric, Result, TypeError};
use bigdecimal::num_bigint::{BigInt, Sign};
use bigdecimal::num_traits::{Signed, ToPrimitive, Zero};
use bigdecimal::BigDecimal;
use std::cmp::Ordering;

/// Fewest significant digits of a quotient (`NUMERIC_MIN_SIG_DIGITS`).
pub const MIN_SIG_DIGITS: i64 = 16;
/// Largest display scale a computed result gets (`NUMERIC_MAX_DISPLAY_SCALE`).
pub const MAX_DISPLAY_SCALE: i64 = 1000;

/// A finite numeric from its unscaled integer and display scale.
pub fn from_parts(digits: BigInt, scale: i64) -> Numeric {
    if scale < 0 {
        let m = digits * pow10(-scale as u32);
        Numeric::Finite(BigDecimal::new(m, 0))
    } else {
        Numeric::Finite(BigDecimal::new(digits, scale))
    }
}

/// `10^n` as a BigInt.
pub fn pow10(n: u32) -> BigInt {
    num_pow(BigInt::from(10), n)
}

fn num_pow(b: BigInt, mut e: u32) -> BigInt {
    let mut base = b;
    let mut acc = BigInt::from(1);
    while e > 0 {
        if e & 1 == 1 {
            acc *= &base;
        }
        e >>= 1;
        if e > 0 {
            base = &base * &base;
        }
    }
    acc
}

/// The unscaled digits and the (non-negative) scale of a finite value.
pub fn parts(d: &BigDecimal) -> (BigInt, i64) {
    let (i, s) = d.as_bigint_and_exponent();
    if s < 0 {
        (i * pow10(-s as u32), 0)
    } else {
        (i, s)
    }
}

fn invalid(s: &str) -> TypeError {
    TypeError::InvalidTextRepresentation {
        type_name: "numeric".into(),
        value: s.into(),
    }
}

/// Parse numeric text input (`numeric_in`): decimal with optional exponent,
/// `NaN`, `Infinity`/`inf` with optional sign, surrounding whitespace.
pub fn parse(s: &str) -> Result<Numeric> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => return Ok(Numeric::NaN),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(Numeric::PosInf),
        "-infinity" | "-inf" => return Ok(Numeric::NegInf),
        _ => {}
    }
    let b = t.as_bytes();
    let mut i = 0;
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut digits = String::new();
    let mut frac = 0i64;
    let mut seen_digit = false;
    let mut seen_point = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            digits.push(c as char);
            seen_digit = true;
            if seen_point {
                frac += 1;
            }
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else if c == b'_' && seen_digit && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            // PG16 allows underscores; PG15 does not. Reject like PG15.
            return Err(invalid(s));
        } else {
            break;
        }
        i += 1;
    }
    if !seen_digit {
        return Err(invalid(s));
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let mut eneg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            eneg = b[i] == b'-';
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(invalid(s));
        }
        exp = t[start..i].parse::<i64>().map_err(|_| {
            TypeError::NumericValueOutOfRange("value overflows numeric format".into())
        })?;
        if exp > 1000 {
            return Err(TypeError::NumericValueOutOfRange(
                "value overflows numeric format".into(),
            ));
        }
        if eneg {
            exp = -exp;
        }
        if exp < -1000 {
            return Err(TypeError::NumericValueOutOfRange(
                "value overflows numeric format".into(),
            ));
        }
    }
    if i != b.len() {
        return Err(invalid(s));
    }
    let mut int: BigInt = digits.parse().map_err(|_| invalid(s))?;
    if neg {
        int = -int;
    }
    let scale = (frac - exp).max(0);
    // value = int * 10^(exp - frac); display scale = max(frac - exp, 0)
    let shift = exp - frac;
    let unscaled = if shift >= 0 {
        int * pow10(shift as u32)
    } else {
        let extra = scale + shift; // >= 0
        int * pow10(extra as u32)
    };
    Ok(Numeric::Finite(BigDecimal::new(unscaled, scale)))
}

/// Text output (`numeric_out`): plain notation with exactly `dscale` digits
/// after the point.
pub fn format(n: &Numeric) -> String {
    match n {
        Numeric::NaN => "NaN".into(),
        Numeric::PosInf => "Infinity".into(),
        Numeric::NegInf => "-Infinity".into(),
        Numeric::Finite(d) => format_decimal(d),
    }
}

/// Plain text of a finite decimal with its scale.
pub fn format_decimal(d: &BigDecimal) -> String {
    let (int, scale) = parts(d);
    let neg = int.sign() == Sign::Minus;
    let mut digits = int.abs().to_string();
    let scale = scale as usize;
    if digits.len() <= scale {
        let pad = scale + 1 - digits.len();
        digits.insert_str(0, &"0".repeat(pad));
    }
    let mut out = String::with_capacity(digits.len() + 2);
    if neg && !int.is_zero() {
        out.push('-');
    }
    let split = digits.len() - scale;
    out.push_str(&digits[..split]);
    if scale > 0 {
        out.push('.');
        out.push_str(&digits[split..]);
    }
    out
}

/// Round half away from zero to `scale` digits after the point (scale may
/// be negative: round to tens, hundreds...). The result's display scale is
/// `max(scale, 0)`.
pub fn round(d: &BigDecimal, scale: i64) -> BigDecimal {
    let (int, s) = parts(d);
    if scale >= s {
        return BigDecimal::new(int * pow10((scale - s) as u32), scale);
    }
    let drop = (s - scale) as u32;
    let div = pow10(drop);
    let q = round_div(&int, &div);
    if scale >= 0 {
        BigDecimal::new(q, scale)
    } else {
        BigDecimal::new(q * pow10((-scale) as u32), 0)
    }
}

/// Truncate toward zero to `scale` digits.
pub fn trunc(d: &BigDecimal, scale: i64) -> BigDecimal {
    let (int, s) = parts(d);
    if scale >= s {
        return BigDecimal::new(int * pow10((scale - s) as u32), scale);
    }
    let div = pow10((s - scale) as u32);
    let q = &int / &div; // BigInt division truncates toward zero
    if scale >= 0 {
        BigDecimal::new(q, scale)
    } else {
        BigDecimal::new(q * pow10((-scale) as u32), 0)
    }
}

/// `a / b` rounded half away from zero.
fn round_div(a: &BigInt, b: &BigInt) -> BigInt {
    let q = a / b;
    let r = a - &q * b;
    if (r.abs() * 2u32) >= b.abs() {
        if (a.sign() == Sign::Minus) != (b.sign() == Sign::Minus) {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

/// Apply `numeric(precision, scale)`: round to the scale and check that the
/// value fits (`numeric field overflow`).
pub fn apply_typmod(n: Numeric, precision: u32, scale: i32) -> Result<Numeric> {
    match n {
        Numeric::NaN => Ok(Numeric::NaN),
        Numeric::PosInf | Numeric::NegInf => Err(TypeError::NumericValueOutOfRange(
            "numeric field overflow".into(),
        )),
        Numeric::Finite(d) => {
            let r = round(&d, scale as i64);
            let (int, s) = parts(&r);
            if !int.is_zero() {
                // digits before the decimal point must be <= precision - scale
                let ndig = int.abs().to_string().len() as i64;
                let int_digits = ndig - s;
                if int_digits > precision as i64 - scale as i64 {
                    return Err(TypeError::NumericValueOutOfRange(
                        "numeric field overflow".into(),
                    ));
                }
            }
            // A negative typmod scale keeps display scale 0.
            let r = if scale < 0 {
                BigDecimal::new(int, s)
            } else {
                r
            };
            Ok(Numeric::Finite(r))
        }
    }
}

/// Base-10000 form: (weight, digits) with leading/trailing zero digits
/// stripped, as Postgres's `NumericVar` holds it.
pub fn to_base10000(d: &BigDecimal) -> (i16, Vec<i16>, bool, u16) {
    let (int, scale) = parts(d);
    let neg = int.sign() == Sign::Minus;
    if int.is_zero() {
        return (0, Vec::new(), false, scale as u16);
    }
    let mut s = int.abs().to_string();
    let scale_u = scale as usize;
    // Pad the fraction to a multiple of 4 digits and the integer part to a
    // multiple of 4 digits so groups align on the decimal point.
    let frac_pad = (4 - scale_u % 4) % 4;
    s.push_str(&"0".repeat(frac_pad));
    let frac_groups = (scale_u + frac_pad) / 4;
    if s.len() < scale_u + frac_pad {
        let pad = scale_u + frac_pad - s.len();
        s.insert_str(0, &"0".repeat(pad));
    }
    let int_len = s.len() as i64 - (scale_u + frac_pad) as i64;
    let int_pad = if int_len > 0 {
        ((4 - int_len % 4) % 4) as usize
    } else {
        0
    };
    s.insert_str(0, &"0".repeat(int_pad));
    let groups: Vec<i16> = s
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |a, &b| a * 10 + (b - b'0') as i16))
        .collect();
    let int_groups = groups.len() as i64 - frac_groups as i64;
    let mut weight = int_groups - 1;
    let mut start = 0;
    while start < groups.len() && groups[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = groups.len();
    while end > start && groups[end - 1] == 0 {
        end -= 1;
    }
    (
        weight as i16,
        groups[start..end].to_vec(),
        neg,
        scale as u16,
    )
}

/// Inverse of `to_base10000`.
pub fn from_base10000(weight: i16, digits: &[i16], neg: bool, dscale: u16) -> BigDecimal {
    let mut int = BigInt::zero();
    for d in digits {
        int = int * 10000 + *d as i32;
    }
    // value = int * 10000^(weight - (n-1))
    let exp10 = 4 * (weight as i64 - (digits.len() as i64 - 1));
    let scale = dscale as i64;
    let shift = exp10 + scale;
    let unscaled = if shift >= 0 {
        int * pow10(shift as u32)
    } else {
        let div = pow10((-shift) as u32);
        round_div(&int, &div)
    };
    BigDecimal::new(if neg { -unscaled } else { unscaled }, scale)
}

/// Postgres's `select_div_scale`: the display scale of `a / b`.
pub fn div_scale(a: &BigDecimal, b: &BigDecimal) -> i64 {
    let (w1, d1, _, s1) = to_base10000(a);
    let (w2, d2, _, s2) = to_base10000(b);
    let (weight1, first1) = if d1.is_empty() {
        (0, 0)
    } else {
        (w1 as i64, d1[0])
    };
    let (weight2, first2) = if d2.is_empty() {
        (0, 0)
    } else {
        (w2 as i64, d2[0])
    };
    let mut qweight = weight1 - weight2;
    if first1 <= first2 {
        qweight -= 1;
    }
    let mut rscale = MIN_SIG_DIGITS - qweight * 4;
    rscale = rscale.max(s1 as i64).max(s2 as i64).max(0);
    rscale.min(MAX_DISPLAY_SCALE)
}

/// `a / b` to `rscale` digits, rounded half away from zero.
pub fn div_to_scale(a: &BigDecimal, b: &BigDecimal, rscale: i64) -> Result<BigDecimal> {
    let (ai, as_) = parts(a);
    let (bi, bs) = parts(b);
    if bi.is_zero() {
        return Err(TypeError::DivisionByZero);
    }
    // a/b = (ai/10^as) / (bi/10^bs); scaled by 10^rscale:
    // ai * 10^(rscale + bs - as) / bi
    let shift = rscale + bs - as_;
    let (num, den) = if shift >= 0 {
        (ai * pow10(shift as u32), bi)
    } else {
        (ai, bi * pow10((-shift) as u32))
    };
    Ok(BigDecimal::new(round_div(&num, &den), rscale))
}

/// Exact sum/difference with the larger display scale.
pub fn add(a: &BigDecimal, b: &BigDecimal) -> BigDecimal {
    let (ai, as_) = parts(a);
    let (bi, bs) = parts(b);
    let s = as_.max(bs);
    let x = ai * pow10((s - as_) as u32) + bi * pow10((s - bs) as u32);
    BigDecimal::new(x, s)
}

/// Exact product; display scale is the sum of the scales.
pub fn mul(a: &BigDecimal, b: &BigDecimal) -> BigDecimal {
    let (ai, as_) = parts(a);
    let (bi, bs) = parts(b);
    BigDecimal::new(ai * bi, as_ + bs)
}

/// Postgres's numeric `%`: `a - trunc(a / b) * b`, scale max of both.
pub fn rem(a: &BigDecimal, b: &BigDecimal) -> Result<BigDecimal> {
    let (ai, as_) = parts(a);
    let (bi, bs) = parts(b);
    if bi.is_zero() {
        return Err(TypeError::DivisionByZero);
    }
    let s = as_.max(bs);
    let x = ai * pow10((s - as_) as u32);
    let y = bi * pow10((s - bs) as u32);
    Ok(BigDecimal::new(x % y, s))
}

/// Sign of a finite value as -1, 0, 1.
pub fn signum(d: &BigDecimal) -> i32 {
    match d.sign() {
        Sign::Minus => -1,
        Sign::NoSign => 0,
        Sign::Plus => 1,
    }
}

/// Compare numerics; NaN sorts after everything, +-Infinity beyond finite.
pub fn cmp(a: &Numeric, b: &Numeric) -> Ordering {
    fn rank(n: &Numeric) -> i32 {
        match n {
            Numeric::NegInf => 0,
            Numeric::Finite(_) => 1,
            Numeric::PosInf => 2,
            Numeric::NaN => 3,
        }
    }
    match (a, b) {
        (Numeric::Finite(x), Numeric::Finite(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Value as f64 (`numeric_float8`).
pub fn to_f64(n: &Numeric) -> f64 {
    match n {
        Numeric::NaN => f64::NAN,
        Numeric::PosInf => f64::INFINITY,
        Numeric::NegInf => f64::NEG_INFINITY,
        Numeric::Finite(d) => format_decimal(d).parse::<f64>().unwrap_or(f64::NAN),
    }
}

/// Value from an f64 (`float8_numeric`): the shortest round-trip digits,
/// limited to 15 significant digits like Postgres (`DBL_DIG`).
pub fn from_f64(f: f64, sig_digits: usize) -> Numeric {
    if f.is_nan() {
        return Numeric::NaN;
    }
    if f.is_infinite() {
        return if f > 0.0 {
            Numeric::PosInf
        } else {
            Numeric::NegInf
        };
    }
    // %.{sig}g, then parse back
    let s = format!("{:.*e}", sig_digits.saturating_sub(1), f);
    match parse(&s) {
        Ok(Numeric::Finite(d)) => {
            // strip trailing zeros like %g does
            let (int, scale) = parts(&d);
            let mut int = int;
            let mut scale = scale;
            while scale > 0 && (&int % 10u32).is_zero() {
                int /= 10u32;
                scale -= 1;
            }
            Numeric::Finite(BigDecimal::new(int, scale))
        }
        Ok(n) => n,
        Err(_) => Numeric::NaN,
    }
}

/// Integer conversion rounding half away from zero (`numeric_int8`).
pub fn to_i64_round(n: &Numeric) -> Option<i64> {
    match n {
        Numeric::Finite(d) => {
            let r = round(d, 0);
            r.as_bigint_and_exponent().0.to_i64()
        }
        _ => None,
    }
}

/// Numeric from an integer (scale 0).
pub fn from_i64(i: i64) -> Numeric {
    Numeric::Finite(BigDecimal::new(BigInt::from(i), 0))
}

/// Remove trailing fractional zeros (for hashing and `trim_scale`).
pub fn normalize(d: &BigDecimal) -> BigDecimal {
    let (mut int, mut scale) = parts(d);
    if int.is_zero() {
        return BigDecimal::new(int, 0);
    }
    while scale > 0 && (&int % 10u32).is_zero() {
        int /= 10u32;
        scale -= 1;
    }
    BigDecimal::new(int, scale)
}

/// Square root of a non-negative value to `rscale` digits, rounded half up.
pub fn sqrt(a: &BigDecimal, rscale: i64) -> BigDecimal {
    let (ai, as_) = parts(a);
    // sqrt(ai / 10^as) * 10^(rscale+1) = sqrt(ai * 10^(2*(rscale+1) - as))
    let mut exp = 2 * (rscale + 1) - as_;
    let mut v = ai;
    if exp < 0 {
        // make the shift even and non-negative
        let k = (-exp + 1) / 2;
        exp += 2 * k;
        v = &v / pow10((2 * k) as u32);
        let r = (v * pow10(exp as u32)).sqrt() * pow10(k as u32);
        return round(&BigDecimal::new(r, rscale + 1), rscale);
    }
    let r = (v * pow10(exp as u32)).sqrt();
    round(&BigDecimal::new(r, rscale + 1), rscale)
}

/// Postgres's `numeric_sqrt` result scale (from the base-10000 weight).
pub fn sqrt_scale(a: &BigDecimal) -> i64 {
    let (w, d, _, dscale) = to_base10000(a);
    let weight = if d.is_empty() { 0 } else { w as i64 };
    let sweight = (weight + 1) * 4 / 2 - 1;
    let rscale = MIN_SIG_DIGITS - sweight;
    rscale.max(dscale as i64).max(0).min(MAX_DISPLAY_SCALE)
}

/// Truncated decimal weight of ln(x) (`estimate_ln_dweight`).
pub fn ln_dweight(x: &BigDecimal) -> i64 {
    let f = to_f64(&Numeric::Finite(x.clone()));
    if (0.9..=1.1).contains(&f) {
        let d = (f - 1.0).abs();
        if d == 0.0 {
            return 0;
        }
        return d.log10().floor() as i64;
    }
    let l = f.ln().abs();
    if l == 0.0 {
        0
    } else {
        l.log10() as i64
    }
}

/// e^x to `rscale` digits.
pub fn exp(x: &BigDecimal, rscale: i64) -> BigDecimal {
    let ctx = bigdecimal::Context::default()
        .with_prec((rscale.max(0) as u64 + 40).max(60))
        .unwrap_or_default();
    round(&x.exp_with_context(&ctx), rscale)
}

/// ln(x) for x > 0 to `rscale` digits, by Newton's method on exp.
pub fn ln(x: &BigDecimal, rscale: i64) -> BigDecimal {
    let prec = (rscale.max(0) as u64 + 40).max(60);
    let ctx = bigdecimal::Context::default()
        .with_prec(prec)
        .unwrap_or_default();
    let f = to_f64(&Numeric::Finite(x.clone()));
    let mut y = match from_f64(f.ln(), 17) {
        Numeric::Finite(d) => d,
        _ => BigDecimal::zero(),
    };
    let two = BigDecimal::from(2);
    for _ in 0..8 {
        let ey = y.exp_with_context(&ctx);
        let num = (x - &ey) * &two;
        let den = x + &ey;
        let step = (num / den).with_prec(prec);
        y = (&y + &step).with_prec(prec);
        if step.abs() < BigDecimal::new(BigInt::from(1), rscale + 10) {
            break;
        }
    }
    round(&y, rscale)
}

/// Power with Postgres's result scale for the common cases.
pub fn power(a: &BigDecimal, b: &BigDecimal) -> Result<BigDecimal> {
    let (bi, bs) = parts(b);
    let a_zero = a.is_zero();
    if a_zero && signum(b) < 0 {
        return Err(TypeError::InvalidArgumentForPower(
            "zero raised to a negative power is undefined".into(),
        ));
    }
    let b_is_int = normalize(b).fractional_digit_count() <= 0;
    if signum(a) < 0 && !b_is_int {
        return Err(TypeError::InvalidArgumentForPower(
            "a negative number raised to a non-integer power yields a complex result".into(),
        ));
    }
    let (_, as_) = parts(a);
    let af = to_f64(&Numeric::Finite(a.clone()));
    let bf = to_f64(&Numeric::Finite(b.clone()));
    // Estimated decimal weight of the result.
    let est = if a_zero { 0.0 } else { bf * af.abs().log10() };
    if est > 131072.0 {
        return Err(TypeError::NumericValueOutOfRange(
            "value overflows numeric format".into(),
        ));
    }
    let mut rscale = MIN_SIG_DIGITS - est as i64;
    rscale = rscale.max(as_).max(bs).max(0).min(MAX_DISPLAY_SCALE);
    if b_is_int {
        // Postgres 15 (power_var): integer exponents get at least 16 digits.
        let rscale = MIN_SIG_DIGITS.max(as_).min(MAX_DISPLAY_SCALE);
        let e = (&bi / pow10(bs as u32)).to_i64().unwrap_or(i64::MAX);
        if e.unsigned_abs() <= 100_000 {
            let (ai, ascale) = parts(a);
            let p = num_pow(ai.abs(), e.unsigned_abs() as u32);
            let neg = ai.sign() == Sign::Minus && e % 2 != 0;
            let p = if neg { -p } else { p };
            let exact = BigDecimal::new(p, ascale * e.unsigned_abs() as i64);
            if e >= 0 {
                return Ok(round(&exact, rscale));
            }
            let one = BigDecimal::new(BigInt::from(1), 0);
            return div_to_scale(&one, &exact, rscale);
        }
    }
    if bf == 0.5 {
        return Ok(sqrt(a, rscale));
    }
    let r = af.powf(bf);
    if !r.is_finite() {
        return Err(TypeError::NumericValueOutOfRange(
            "value overflows numeric format".into(),
        ));
    }
    match from_f64(r, 17) {
        Numeric::Finite(d) => Ok(round(&d, rscale)),
        _ => Err(TypeError::NumericValueOutOfRange(
            "value overflows numeric format".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> BigDecimal {
        match parse(s).unwrap() {
            Numeric::Finite(d) => d,
            _ => panic!(),
        }
    }

    #[test]
    fn parse_and_format() {
        assert_eq!(format(&parse("1.50").unwrap()), "1.50");
        assert_eq!(format(&parse(" -0.001 ").unwrap()), "-0.001");
        assert_eq!(format(&parse("1e3").unwrap()), "1000");
        assert_eq!(format(&parse("1.5e-3").unwrap()), "0.0015");
        assert_eq!(format(&parse(".5").unwrap()), "0.5");
        assert_eq!(format(&parse("-0").unwrap()), "0");
        assert_eq!(format(&parse("inf").unwrap()), "Infinity");
        assert!(parse("1.2.3").is_err());
        assert!(parse("abc").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn division_scale() {
        let one = n("1");
        let three = n("3");
        let q = div_to_scale(&one, &three, div_scale(&one, &three)).unwrap();
        assert_eq!(format_decimal(&q), "0.33333333333333333333");
        let q = div_to_scale(&n("10"), &n("4"), div_scale(&n("10"), &n("4"))).unwrap();
        assert_eq!(format_decimal(&q), "2.5000000000000000");
        let q = div_to_scale(&n("2"), &n("3"), div_scale(&n("2"), &n("3"))).unwrap();
        assert_eq!(format_decimal(&q), "0.66666666666666666667");
    }

    #[test]
    fn typmod_rounding() {
        let r = apply_typmod(parse("2.345").unwrap(), 5, 2).unwrap();
        assert_eq!(format(&r), "2.35");
        let r = apply_typmod(parse("-2.345").unwrap(), 5, 2).unwrap();
        assert_eq!(format(&r), "-2.35");
        assert!(apply_typmod(parse("1000").unwrap(), 5, 2).is_err());
        assert!(apply_typmod(parse("999.995").unwrap(), 5, 2).is_err());
        assert_eq!(
            format(&apply_typmod(parse("999.994").unwrap(), 5, 2).unwrap()),
            "999.99"
        );
    }

    #[test]
    fn base10000_round_trip() {
        for s in [
            "0",
            "1",
            "12345.6789",
            "-0.00012",
            "10000",
            "1.5",
            "123456789012345678901234.5",
        ] {
            let d = n(s);
            let (w, digits, neg, dscale) = to_base10000(&d);
            assert_eq!(format_decimal(&from_base10000(w, &digits, neg, dscale)), s);
        }
        let (w, digits, _, _) = to_base10000(&n("12345.6789"));
        assert_eq!((w, digits), (1, vec![1, 2345, 6789]));
    }
}
