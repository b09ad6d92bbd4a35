//! The COPY statement: a small tokenizer and parser for Postgres's COPY
//! grammar (new `WITH (...)` and old keyword option syntax) and
//! `process_options`, Postgres's ProcessCopyOptions with its checks,
//! messages and defaults. Parsed by hand because sqlparser's COPY expects
//! inline data after `FROM STDIN;`.

use super::Rest;
use crate::error::{Result, SqlError};

/// The data format of a COPY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum ForceList {
    None,
    All,
    Cols(Vec<String>),
}

#[derive(Clone, Debug)]
pub(super) struct CopyOptions {
    pub(super) format: CopyFormat,
    pub(super) delim: u8,
    pub(super) null: Vec<u8>,
    pub(super) header: bool,
    pub(super) quote: u8,
    pub(super) escape: u8,
    pub(super) force_quote: ForceList,
    pub(super) force_not_null: Vec<String>,
    pub(super) force_null: Vec<String>,
    pub(super) freeze: bool,
}

// ---------------------------------------------------------------------------
// The statement
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    QWord(String),
    Str(String),
    Num(String),
    Sym(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn syntax_at(sql: &str, t: Option<&Token>) -> SqlError {
    match t {
        Some(t) => SqlError::Syntax {
            message: format!("syntax error at or near \"{}\"", &sql[t.start..t.end]),
            position: Some(sql[..t.start].chars().count() + 1),
        },
        None => SqlError::Syntax {
            message: "syntax error at end of input".into(),
            position: Some(sql.chars().count() + 1),
        },
    }
}

fn tokenize(sql: &str) -> Result<Vec<Token>> {
    let b = sql.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    let unterminated = |what: &str| SqlError::Syntax {
        message: format!("unterminated {what}"),
        position: None,
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b[i..].starts_with(b"--") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if b[i..].starts_with(b"/*") {
            match sql[i + 2..].find("*/") {
                Some(e) => i = i + 2 + e + 2,
                None => return Err(unterminated("/* comment")),
            }
            continue;
        }
        let tok = if (c == b'e' || c == b'E') && b.get(i + 1) == Some(&b'\'') {
            // E'...': backslash escapes.
            i += 2;
            let mut s = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(unterminated("quoted string")),
                    Some(b'\'') if b.get(i + 1) == Some(&b'\'') => {
                        s.push(b'\'');
                        i += 2;
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let n = b
                            .get(i + 1)
                            .copied()
                            .ok_or_else(|| unterminated("quoted string"))?;
                        i += 2;
                        match n {
                            b'n' => s.push(b'\n'),
                            b't' => s.push(b'\t'),
                            b'r' => s.push(b'\r'),
                            b'b' => s.push(8),
                            b'f' => s.push(12),
                            b'v' => s.push(11),
                            b'0'..=b'7' => {
                                let mut v = (n - b'0') as u32;
                                let mut k = 0;
                                while k < 2 && matches!(b.get(i), Some(b'0'..=b'7')) {
                                    v = v * 8 + (b[i] - b'0') as u32;
                                    i += 1;
                                    k += 1;
                                }
                                s.push(v as u8);
                            }
                            b'x' => {
                                let mut v = 0u32;
                                let mut k = 0;
                                while k < 2 && b.get(i).is_some_and(|h| h.is_ascii_hexdigit()) {
                                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                                    i += 1;
                                    k += 1;
                                }
                                s.push(v as u8);
                            }
                            other => s.push(other),
                        }
                    }
                    Some(&x) => {
                        s.push(x);
                        i += 1;
                    }
                }
            }
            Tok::Str(String::from_utf8_lossy(&s).into_owned())
        } else if c == b'\'' {
            i += 1;
            let mut s = String::new();
            loop {
                match sql[i..].find('\'') {
                    None => return Err(unterminated("quoted string")),
                    Some(e) => {
                        s.push_str(&sql[i..i + e]);
                        i += e + 1;
                        if b.get(i) == Some(&b'\'') {
                            s.push('\'');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            Tok::Str(s)
        } else if c == b'"' {
            i += 1;
            let mut s = String::new();
            loop {
                match sql[i..].find('"') {
                    None => return Err(unterminated("quoted identifier")),
                    Some(e) => {
                        s.push_str(&sql[i..i + e]);
                        i += e + 1;
                        if b.get(i) == Some(&b'"') {
                            s.push('"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            Tok::QWord(s)
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            Tok::Word(sql[start..i].to_lowercase())
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            Tok::Num(sql[start..i].to_string())
        } else {
            let ch = sql[i..].chars().next().unwrap_or(' ');
            i += ch.len_utf8();
            Tok::Sym(ch)
        };
        out.push(Token { tok, start, end: i });
    }
    Ok(out)
}

#[derive(Debug)]
pub(super) enum Source {
    Table {
        name: Vec<String>,
        columns: Option<Vec<String>>,
    },
    Query(String),
}

#[derive(Debug)]
pub(super) struct CopyStmt {
    pub(super) source: Source,
    pub(super) from: bool,
    /// STDIN / STDOUT (else a file or program).
    pub(super) std: bool,
    pub(super) options: Vec<(String, Option<OptArg>, usize)>,
    pub(super) rest: Rest,
}

#[derive(Clone, Debug)]
pub(super) enum OptArg {
    Str(String),
    List(Vec<String>),
    Star,
}

struct P<'a> {
    sql: &'a str,
    toks: Vec<Token>,
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }
    fn err(&self) -> SqlError {
        syntax_at(self.sql, self.toks.get(self.i))
    }
    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.word(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn sym(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Sym(c))
    }
    fn expect_sym(&mut self, c: char) -> Result<()> {
        if self.sym(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err())
        }
    }
    fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Some(Tok::Word(w)) | Some(Tok::QWord(w)) => {
                let w = w.clone();
                self.i += 1;
                Ok(w)
            }
            _ => Err(self.err()),
        }
    }
    fn ident_list(&mut self) -> Result<Vec<String>> {
        self.expect_sym('(')?;
        let mut v = vec![self.ident()?];
        while self.sym(',') {
            self.i += 1;
            v.push(self.ident()?);
        }
        self.expect_sym(')')?;
        Ok(v)
    }
    fn string(&mut self) -> Result<String> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.i += 1;
                Ok(s)
            }
            _ => Err(self.err()),
        }
    }
    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .map_or(self.sql.chars().count() + 1, |t| {
                self.sql[..t.start].chars().count() + 1
            })
    }
}

pub(super) fn parse_copy(sql: &str) -> Result<CopyStmt> {
    let toks = tokenize(sql)?;
    let mut p = P { sql, toks, i: 0 };
    if !p.eat_word("copy") {
        return Err(p.err());
    }
    let mut options: Vec<(String, Option<OptArg>, usize)> = vec![];
    if p.word("binary") {
        options.push(("format".into(), Some(OptArg::Str("binary".into())), p.pos()));
        p.i += 1;
    }
    let source = if p.sym('(') {
        let open = p.i;
        let mut depth = 0usize;
        let mut close = None;
        for (k, t) in p.toks.iter().enumerate().skip(open) {
            match t.tok {
                Tok::Sym('(') => depth += 1,
                Tok::Sym(')') => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else {
            p.i = p.toks.len();
            return Err(p.err());
        };
        let text = sql[p.toks[open].end..p.toks[close].start].to_string();
        p.i = close + 1;
        Source::Query(text)
    } else {
        let mut name = vec![p.ident()?];
        while p.sym('.') {
            p.i += 1;
            name.push(p.ident()?);
        }
        let columns = if p.sym('(') {
            Some(p.ident_list()?)
        } else {
            None
        };
        Source::Table { name, columns }
    };
    let from = if p.eat_word("from") {
        true
    } else if p.eat_word("to") {
        false
    } else {
        return Err(p.err());
    };
    if from && matches!(source, Source::Query(_)) {
        // Postgres's grammar has no COPY (query) FROM.
        p.i -= 1;
        return Err(p.err());
    }
    let std = match p.peek() {
        Some(Tok::Word(w)) if w == "stdin" || w == "stdout" => {
            p.i += 1;
            true
        }
        Some(Tok::Word(w)) if w == "program" => {
            p.i += 1;
            p.string()?;
            false
        }
        Some(Tok::Str(_)) => {
            p.i += 1;
            false
        }
        _ => return Err(p.err()),
    };
    // Options: WITH ( ... ), ( ... ), or the old keyword syntax.
    let with = p.eat_word("with");
    if p.sym('(') {
        p.i += 1;
        loop {
            let pos = p.pos();
            let name = match p.peek() {
                Some(Tok::Word(w)) | Some(Tok::QWord(w)) => w.clone(),
                _ => return Err(p.err()),
            };
            p.i += 1;
            let arg = match p.peek() {
                Some(Tok::Str(s)) | Some(Tok::Num(s)) | Some(Tok::Word(s))
                | Some(Tok::QWord(s)) => {
                    let s = s.clone();
                    p.i += 1;
                    Some(OptArg::Str(s))
                }
                Some(Tok::Sym('*')) => {
                    p.i += 1;
                    Some(OptArg::Star)
                }
                Some(Tok::Sym('(')) => Some(OptArg::List(p.ident_list()?)),
                _ => None,
            };
            options.push((name, arg, pos));
            if p.sym(',') {
                p.i += 1;
                continue;
            }
            p.expect_sym(')')?;
            break;
        }
    } else {
        let _ = with;
        loop {
            let pos = p.pos();
            let Some(Tok::Word(w)) = p.peek().cloned() else {
                break;
            };
            if w == "where" {
                break;
            }
            p.i += 1;
            match w.as_str() {
                "binary" => {
                    options.push(("format".into(), Some(OptArg::Str("binary".into())), pos))
                }
                "csv" => options.push(("format".into(), Some(OptArg::Str("csv".into())), pos)),
                "header" => options.push(("header".into(), None, pos)),
                "freeze" => options.push(("freeze".into(), None, pos)),
                "delimiter" | "null" | "quote" | "escape" | "encoding" => {
                    p.eat_word("as");
                    let s = p.string()?;
                    options.push((w.clone(), Some(OptArg::Str(s)), pos));
                }
                "force" => {
                    if p.eat_word("quote") {
                        let arg = if p.sym('*') {
                            p.i += 1;
                            OptArg::Star
                        } else {
                            let mut v = vec![p.ident()?];
                            while p.sym(',') {
                                p.i += 1;
                                v.push(p.ident()?);
                            }
                            OptArg::List(v)
                        };
                        options.push(("force_quote".into(), Some(arg), pos));
                    } else if p.eat_word("not") {
                        if !p.eat_word("null") {
                            return Err(p.err());
                        }
                        let mut v = vec![p.ident()?];
                        while p.sym(',') {
                            p.i += 1;
                            v.push(p.ident()?);
                        }
                        options.push(("force_not_null".into(), Some(OptArg::List(v)), pos));
                    } else {
                        return Err(p.err());
                    }
                }
                _ => {
                    p.i -= 1;
                    return Err(p.err());
                }
            }
        }
    }
    if p.word("where") {
        if !from {
            return Err(p.err());
        }
        return Err(SqlError::FeatureNotSupported("COPY FROM ... WHERE".into()));
    }
    let mut rest = None;
    if p.sym(';') {
        let end = p.toks[p.i].end;
        let tail = &sql[end..];
        if tokenize(tail).map(|t| !t.is_empty()).unwrap_or(true) {
            rest = Some(tail.to_string());
        }
        p.i = p.toks.len();
    }
    if p.i < p.toks.len() {
        return Err(p.err());
    }
    Ok(CopyStmt {
        source,
        from,
        std,
        options,
        rest,
    })
}

fn one_byte(v: &str, what: &str) -> Result<u8> {
    match v.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => Err(SqlError::FeatureNotSupportedMsg(format!(
            "COPY {what} must be a single one-byte character"
        ))),
    }
}

fn bool_opt(name: &str, arg: &Option<OptArg>) -> Result<bool> {
    match arg {
        None => Ok(true),
        Some(OptArg::Str(s)) => match s.to_lowercase().as_str() {
            "true" | "on" | "1" | "yes" => Ok(true),
            "false" | "off" | "0" | "no" => Ok(false),
            _ => Err(SqlError::SyntaxNoPosition(format!(
                "{name} requires a Boolean value"
            ))),
        },
        Some(_) => Err(SqlError::SyntaxNoPosition(format!(
            "{name} requires a Boolean value"
        ))),
    }
}

fn str_opt(name: &str, arg: &Option<OptArg>) -> Result<String> {
    match arg {
        Some(OptArg::Str(s)) => Ok(s.clone()),
        _ => Err(SqlError::SyntaxNoPosition(format!(
            "{name} requires a string value"
        ))),
    }
}

fn list_opt(name: &str, arg: &Option<OptArg>) -> Result<Vec<String>> {
    match arg {
        Some(OptArg::List(v)) => Ok(v.clone()),
        _ => Err(SqlError::SyntaxNoPosition(format!(
            "argument to option \"{name}\" must be a list of column names"
        ))),
    }
}

/// Postgres's ProcessCopyOptions: the options with their checks and defaults.
pub(super) fn process_options(
    opts: &[(String, Option<OptArg>, usize)],
    from: bool,
) -> Result<CopyOptions> {
    let mut seen: Vec<&str> = vec![];
    let mut format = CopyFormat::Text;
    let (mut delim, mut null, mut quote, mut escape) = (None, None, None, None);
    let mut header = false;
    let mut freeze = false;
    let mut force_quote = ForceList::None;
    let (mut force_not_null, mut force_null) = (vec![], vec![]);
    for (name, arg, _pos) in opts {
        let key = match name.as_str() {
            "format" | "freeze" | "delimiter" | "null" | "header" | "quote" | "escape"
            | "force_quote" | "force_not_null" | "force_null" | "encoding" => name.as_str(),
            other => {
                return Err(SqlError::SyntaxNoPosition(format!(
                    "option \"{other}\" not recognized"
                )))
            }
        };
        if seen.contains(&key) {
            return Err(SqlError::SyntaxNoPosition(
                "conflicting or redundant options".into(),
            ));
        }
        seen.push(key);
        match key {
            "format" => {
                let f = str_opt(name, arg)?;
                format = match f.to_lowercase().as_str() {
                    "text" => CopyFormat::Text,
                    "csv" => CopyFormat::Csv,
                    "binary" => CopyFormat::Binary,
                    _ => {
                        return Err(SqlError::InvalidParameterValue(format!(
                            "COPY format \"{f}\" not recognized"
                        )))
                    }
                }
            }
            "freeze" => freeze = bool_opt(name, arg)?,
            "delimiter" => delim = Some(str_opt(name, arg)?),
            "null" => null = Some(str_opt(name, arg)?),
            "header" => {
                header = match arg {
                    Some(OptArg::Str(s)) if s.eq_ignore_ascii_case("match") => {
                        if !from {
                            return Err(SqlError::FeatureNotSupportedMsg(
                                "cannot use \"match\" with HEADER in COPY TO".into(),
                            ));
                        }
                        true
                    }
                    _ => bool_opt(name, arg)?,
                }
            }
            "quote" => quote = Some(str_opt(name, arg)?),
            "escape" => escape = Some(str_opt(name, arg)?),
            "force_quote" => {
                force_quote = match arg {
                    Some(OptArg::Star) => ForceList::All,
                    _ => ForceList::Cols(list_opt(name, arg)?),
                }
            }
            "force_not_null" => force_not_null = list_opt(name, arg)?,
            "force_null" => force_null = list_opt(name, arg)?,
            "encoding" => {
                let e = str_opt(name, arg)?;
                let norm = e.to_lowercase().replace(['-', '_'], "");
                if norm != "utf8" && norm != "unicode" && norm != "sqlascii" {
                    return Err(SqlError::FeatureNotSupportedMsg(format!(
                        "COPY encoding \"{e}\" (only UTF8) is not supported"
                    )));
                }
            }
            _ => {}
        }
    }
    let binary = format == CopyFormat::Binary;
    let csv = format == CopyFormat::Csv;
    if binary && delim.is_some() {
        return Err(SqlError::SyntaxNoPosition(
            "cannot specify DELIMITER in BINARY mode".into(),
        ));
    }
    if binary && null.is_some() {
        return Err(SqlError::SyntaxNoPosition(
            "cannot specify NULL in BINARY mode".into(),
        ));
    }
    if binary && header {
        return Err(SqlError::SyntaxNoPosition(
            "cannot specify HEADER in BINARY mode".into(),
        ));
    }
    let delim = match &delim {
        Some(d) => one_byte(d, "delimiter")?,
        None if csv => b',',
        None => b'\t',
    };
    if delim == b'\n' || delim == b'\r' {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY delimiter cannot be newline or carriage return".into(),
        ));
    }
    let null = null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() });
    if null.contains(['\n', '\r']) {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY null representation cannot use newline or carriage return".into(),
        ));
    }
    if format == CopyFormat::Text && b"\\.abcdefghijklmnopqrstuvwxyz0123456789".contains(&delim) {
        return Err(SqlError::FeatureNotSupportedMsg(format!(
            "COPY delimiter cannot be \"{}\"",
            delim as char
        )));
    }
    if !csv && quote.is_some() {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY quote available only in CSV mode".into(),
        ));
    }
    let quote = match &quote {
        Some(q) => one_byte(q, "quote")?,
        None => b'"',
    };
    if csv && delim == quote {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY delimiter and quote must be different".into(),
        ));
    }
    if !csv && escape.is_some() {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY escape available only in CSV mode".into(),
        ));
    }
    let escape = match &escape {
        Some(e) => one_byte(e, "escape")?,
        None => quote,
    };
    if !csv && force_quote != ForceList::None {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY force quote available only in CSV mode".into(),
        ));
    }
    if force_quote != ForceList::None && from {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY force quote only available using COPY TO".into(),
        ));
    }
    if !csv && !force_not_null.is_empty() {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY force not null available only in CSV mode".into(),
        ));
    }
    if !force_not_null.is_empty() && !from {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY force not null only available using COPY FROM".into(),
        ));
    }
    if !csv && !force_null.is_empty() {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY force null available only in CSV mode".into(),
        ));
    }
    if !force_null.is_empty() && !from {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY force null only available using COPY FROM".into(),
        ));
    }
    if !binary && null.as_bytes().contains(&delim) {
        return Err(SqlError::FeatureNotSupportedMsg(
            "COPY delimiter must not appear in the NULL specification".into(),
        ));
    }
    if csv && null.as_bytes().contains(&quote) {
        return Err(SqlError::FeatureNotSupportedMsg(
            "CSV quote character must not appear in the NULL specification".into(),
        ));
    }
    Ok(CopyOptions {
        format,
        delim,
        null: null.into_bytes(),
        header,
        quote,
        escape,
        force_quote,
        force_not_null,
        force_null,
        freeze,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_statements() {
        let s = parse_copy("copy pgbench_accounts from stdin with (freeze on)").unwrap();
        assert!(s.from && s.std);
        let s = parse_copy(
            "COPY public.t (a, \"B\") FROM STDIN WITH CSV HEADER DELIMITER AS ';' NULL 'x'",
        )
        .unwrap();
        let o = process_options(&s.options, true).unwrap();
        assert_eq!(o.format, CopyFormat::Csv);
        assert_eq!(o.delim, b';');
        assert!(o.header);
        let s = parse_copy("copy (select 1, ';') to stdout; select 2").unwrap();
        assert!(matches!(&s.source, Source::Query(q) if q == "select 1, ';'"));
        assert_eq!(s.rest.as_deref(), Some(" select 2"));
        assert!(parse_copy("copy t from").is_err());
        let s = parse_copy("copy t to stdout (format binary, delimiter ',')").unwrap();
        assert!(process_options(&s.options, false).is_err());
        let s = parse_copy("copy t from stdin (delimiter E'\\t')").unwrap();
        assert_eq!(process_options(&s.options, true).unwrap().delim, b'\t');
    }
}
