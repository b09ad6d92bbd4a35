//! JSON validation and jsonb normalization. `json` keeps the input text
//! verbatim once it is known to be valid; `jsonb` prints like Postgres's
//! `jsonb_out`: keys sorted by (length, bytes), duplicate keys last-wins,
//! `", "` and `": "` separators, numbers as numeric text.

use super::numeric;

/// A parsed JSON document.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// Normalized numeric text.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Sorted by (key length, key bytes), keys unique.
    Object(Vec<(String, Json)>),
}

struct Parser<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    depth: usize,
}

/// Parse JSON text; None when it is not valid JSON.
pub fn parse(s: &str) -> Option<Json> {
    let mut p = Parser {
        b: s.as_bytes(),
        s,
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return None;
    }
    Some(v)
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn lit(&mut self, w: &str) -> bool {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> Option<Json> {
        if self.i >= self.b.len() {
            return None;
        }
        match self.b[self.i] {
            b'n' => self.lit("null").then_some(Json::Null),
            b't' => self.lit("true").then_some(Json::Bool(true)),
            b'f' => self.lit("false").then_some(Json::Bool(false)),
            b'"' => self.string().map(Json::String),
            b'[' => {
                self.depth += 1;
                if self.depth > 6400 {
                    return None;
                }
                self.i += 1;
                self.ws();
                let mut items = Vec::new();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(Json::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value()?);
                    self.ws();
                    match self.b.get(self.i)? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
                self.depth -= 1;
                Some(Json::Array(items))
            }
            b'{' => {
                self.depth += 1;
                if self.depth > 6400 {
                    return None;
                }
                self.i += 1;
                self.ws();
                let mut items: Vec<(String, Json)> = Vec::new();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(Json::Object(items));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return None;
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value()?;
                    items.push((k, v));
                    self.ws();
                    match self.b.get(self.i)? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
                self.depth -= 1;
                // Last duplicate wins; then Postgres's key order.
                let mut uniq: Vec<(String, Json)> = Vec::with_capacity(items.len());
                for (k, v) in items.into_iter().rev() {
                    if !uniq.iter().any(|(k2, _)| *k2 == k) {
                        uniq.push((k, v));
                    }
                }
                uniq.sort_by(|a, b| {
                    a.0.len()
                        .cmp(&b.0.len())
                        .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
                });
                Some(Json::Object(uniq))
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }
    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        let int_start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let int_len = self.i - int_start;
        if int_len == 0 || (int_len > 1 && self.b[int_start] == b'0') {
            return None;
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let f = self.i;
            while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if f == self.i {
                return None;
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let f = self.i;
            while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if f == self.i {
                return None;
            }
        }
        let text = &self.s[start..self.i];
        let n = numeric::parse(text).ok()?;
        Some(Json::Number(numeric::format(&n)))
    }
    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(h, 16).ok()?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        Some(v)
    }
    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.b.len() && self.b[self.i] != b'"' && self.b[self.i] != b'\\' {
                if self.b[self.i] < 0x20 {
                    return None;
                }
                self.i += 1;
            }
            out.push_str(&self.s[start..self.i]);
            match self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                _ => {
                    self.i += 1;
                    let c = *self.b.get(self.i)?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if !self.lit("\\u") {
                                    return None;
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            } else if (0xDC00..0xE000).contains(&cp) || cp == 0 {
                                return None;
                            }
                            out.push(char::from_u32(cp)?);
                        }
                        _ => return None,
                    }
                }
            }
        }
    }
}

/// Escape a string the way Postgres's `escape_json` does.
pub fn escape_into(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// jsonb text output.
pub fn write(j: &Json, out: &mut String) {
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::String(s) => escape_into(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(v, out);
            }
            out.push(']');
        }
        Json::Object(items) => {
            out.push('{');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                escape_into(k, out);
                out.push_str(": ");
                write(v, out);
            }
            out.push('}');
        }
    }
}

/// Normalized jsonb text for valid JSON input.
pub fn normalize(s: &str) -> Option<String> {
    let j = parse(s)?;
    let mut out = String::with_capacity(s.len());
    write(&j, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonb_normal_form() {
        assert_eq!(
            normalize(r#"{"b":[1,2],"a":1}"#).unwrap(),
            r#"{"a": 1, "b": [1, 2]}"#
        );
        assert_eq!(
            normalize(r#"{"aa":1,"b":2,"a":3,"a":4}"#).unwrap(),
            r#"{"a": 4, "b": 2, "aa": 1}"#
        );
        assert_eq!(
            normalize(r#" [1.50, 1e2, -0, "x\u00e9\n"] "#).unwrap(),
            "[1.50, 100, 0, \"x\u{e9}\\n\"]"
        );
        assert!(normalize("{").is_none());
        assert!(normalize("[1,]").is_none());
        assert!(normalize("01").is_none());
        assert!(normalize("").is_none());
    }
}
