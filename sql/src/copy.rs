//! COPY: bulk load and unload in Postgres's text, CSV and binary formats.
//!
//! `COPY t [(cols)] FROM STDIN` and `COPY {t [(cols)] | (query)} TO STDOUT`
//! with Postgres's options (FORMAT, DELIMITER, NULL, HEADER, QUOTE, ESCAPE,
//! FORCE_QUOTE, FORCE_NOT_NULL, FORCE_NULL, FREEZE, ENCODING) and the
//! pre-9.0 option syntax psql's `\copy` still passes through. The statement
//! is parsed here by hand because sqlparser's COPY wants inline data after
//! `FROM STDIN;`, which the wire protocol never sends.
//!
//! Incoming data is decoded as it arrives (`Session::copy_data`) and handed
//! to the normal INSERT plan in batches of `BATCH_ROWS`, so defaults,
//! sequences, constraints and index maintenance all apply and a 100 MB load
//! never sits in memory at once. This module owns no protocol framing: the
//! server turns `CopyStart` into CopyInResponse / CopyOutResponse and feeds
//! CopyData payloads in.

use std::sync::Arc;

use sargdb_catalog::types::{parse_binary, parse_text, TypeContext};
use sargdb_catalog::{DataType, TableDef, Value};

use crate::binder::bound::BoundExpr;
use crate::binder::Binder;
use crate::error::{Result, SqlError};
use crate::executor;
use crate::locks::LockMode;
use crate::parser::{self, SqlStatement};
use crate::planner::{self, plan::Plan};
use crate::session::{ColumnDesc, Session, StatementResult, TxnStatus};

/// Rows decoded before they are inserted as one batch.
const BATCH_ROWS: usize = 1000;
/// Postgres's MAX_COPY_DATA_DISPLAY: longer values are cut in CONTEXT lines.
const MAX_DISPLAY: usize = 100;
/// The binary format's signature (11 bytes).
const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Whether a query string is a COPY statement (its first word is COPY).
pub fn is_copy(sql: &str) -> bool {
    let b = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            match sql[i + 2..].find("*/") {
                Some(e) => i = i + 2 + e + 2,
                None => return false,
            }
        } else {
            break;
        }
    }
    b.len() >= i + 4
        && b[i..i + 4].eq_ignore_ascii_case(b"copy")
        && b.get(i + 4)
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$'))
}

/// The data format of a COPY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

#[derive(Clone, Debug, PartialEq)]
enum ForceList {
    None,
    All,
    Cols(Vec<String>),
}

#[derive(Clone, Debug)]
struct CopyOptions {
    format: CopyFormat,
    delim: u8,
    null: Vec<u8>,
    header: bool,
    quote: u8,
    escape: u8,
    force_quote: ForceList,
    force_not_null: Vec<String>,
    force_null: Vec<String>,
}

/// What the server must do next for a COPY statement.
pub enum CopyStart {
    /// COPY ... FROM STDIN: send CopyInResponse, then feed the data.
    In(CopyIn),
    /// COPY ... TO STDOUT: send CopyOutResponse and the chunks.
    Out(CopyOut),
}

/// Statements after the COPY in the same query string, to run after it.
pub type Rest = Option<String>;

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
enum Source {
    Table {
        name: Vec<String>,
        columns: Option<Vec<String>>,
    },
    Query(String),
}

#[derive(Debug)]
struct CopyStmt {
    source: Source,
    from: bool,
    /// STDIN / STDOUT (else a file or program).
    std: bool,
    options: Vec<(String, Option<OptArg>, usize)>,
    rest: Rest,
}

#[derive(Clone, Debug)]
enum OptArg {
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

fn parse_copy(sql: &str) -> Result<CopyStmt> {
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
fn process_options(opts: &[(String, Option<OptArg>, usize)], from: bool) -> Result<CopyOptions> {
    let mut seen: Vec<&str> = vec![];
    let mut format = CopyFormat::Text;
    let (mut delim, mut null, mut quote, mut escape) = (None, None, None, None);
    let mut header = false;
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
            "freeze" => {
                bool_opt(name, arg)?;
            }
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
    })
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn display_limited(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() <= MAX_DISPLAY {
        return s.into_owned();
    }
    let mut end = MAX_DISPLAY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

// ---------------------------------------------------------------------------
// COPY FROM
// ---------------------------------------------------------------------------

/// A COPY FROM STDIN in progress: decoder state and the INSERT plan.
pub struct CopyIn {
    opts: CopyOptions,
    table_name: String,
    names: Vec<String>,
    types: Vec<DataType>,
    /// Per target column: FORCE_NOT_NULL / FORCE_NULL.
    force_not_null: Vec<bool>,
    force_null: Vec<bool>,
    plan: Plan,
    tctx: TypeContext,
    buf: Vec<u8>,
    line_no: u64,
    header_pending: bool,
    /// Binary header not read yet.
    binary_header: bool,
    /// `\.` or the binary trailer seen: the rest is ignored.
    eof: bool,
    batch: Vec<Vec<BoundExpr>>,
    rows: u64,
    sequence_advanced: bool,
    /// Statements after the COPY in the same query string.
    pub rest: Rest,
}

impl CopyIn {
    /// Whether the data is in binary format (CopyInResponse's format code).
    pub fn is_binary(&self) -> bool {
        self.opts.format == CopyFormat::Binary
    }
    /// Number of columns the data carries.
    pub fn column_count(&self) -> usize {
        self.types.len()
    }

    fn line_context(&self, line: &[u8]) -> String {
        format!(
            "COPY {}, line {}: \"{}\"",
            self.table_name,
            self.line_no,
            display_limited(line)
        )
    }

    fn with_line(&self, e: SqlError, line: &[u8]) -> SqlError {
        SqlError::WithContext {
            source: Box::new(e),
            context: self.line_context(line),
        }
    }

    /// Splits complete lines (text, CSV) off the buffer and decodes them.
    fn decode_lines(&mut self, at_end: bool) -> Result<()> {
        let mut pos = 0;
        let csv = self.opts.format == CopyFormat::Csv;
        loop {
            if self.eof {
                pos = self.buf.len();
                break;
            }
            // Find the end of the next line.
            let b = &self.buf[pos..];
            let mut i = 0;
            let mut in_quote = false;
            let mut end = None;
            while i < b.len() {
                let c = b[i];
                if csv {
                    if in_quote {
                        if c == self.opts.escape
                            && self.opts.escape != self.opts.quote
                            && i + 1 < b.len()
                        {
                            let n = b[i + 1];
                            if n == self.opts.quote || n == self.opts.escape {
                                i += 2;
                                continue;
                            }
                        }
                        if c == self.opts.quote {
                            in_quote = false;
                        }
                    } else if c == self.opts.quote {
                        in_quote = true;
                    } else if c == b'\n' {
                        end = Some(i);
                        break;
                    }
                    i += 1;
                } else {
                    if c == b'\\' {
                        if i + 1 >= b.len() {
                            break;
                        }
                        i += 2;
                        continue;
                    }
                    if c == b'\n' {
                        end = Some(i);
                        break;
                    }
                    i += 1;
                }
            }
            let (line_end, next) = match end {
                Some(e) => (pos + e, pos + e + 1),
                None if at_end && pos < self.buf.len() => (self.buf.len(), self.buf.len()),
                None => break,
            };
            let mut line = std::mem::take(&mut self.buf);
            let res = {
                let mut l = &line[pos..line_end];
                if l.last() == Some(&b'\r') {
                    l = &l[..l.len() - 1];
                }
                self.decode_line(l)
            };
            // Put the buffer back before reporting anything.
            std::mem::swap(&mut self.buf, &mut line);
            res?;
            pos = next;
            if self.batch.len() >= BATCH_ROWS {
                break;
            }
        }
        self.buf.drain(..pos);
        Ok(())
    }

    fn decode_line(&mut self, line: &[u8]) -> Result<()> {
        self.line_no += 1;
        if self.header_pending {
            self.header_pending = false;
            return Ok(());
        }
        if line == b"\\." {
            self.eof = true;
            return Ok(());
        }
        let fields = match self.opts.format {
            CopyFormat::Csv => self.split_csv(line).map_err(|e| self.with_line(e, line))?,
            _ => self.split_text(line).map_err(|e| self.with_line(e, line))?,
        };
        let ncols = self.types.len();
        if fields.len() > ncols && !(ncols == 0 && fields.len() == 1 && line.is_empty()) {
            return Err(self.with_line(
                SqlError::BadCopyFormat("extra data after last expected column".into()),
                line,
            ));
        }
        if fields.len() < ncols {
            let e = SqlError::BadCopyFormat(format!(
                "missing data for column \"{}\"",
                self.names[fields.len()]
            ));
            return Err(self.with_line(e, line));
        }
        let mut row = Vec::with_capacity(ncols);
        for (k, f) in fields.into_iter().enumerate().take(ncols) {
            let ty = &self.types[k];
            let v = match f {
                None => Value::Null,
                Some(bytes) => {
                    let converted = std::str::from_utf8(&bytes)
                        .map_err(|e| {
                            let at = e.valid_up_to();
                            SqlError::Type(sargdb_catalog::TypeError::CharacterNotInRepertoire(
                                format!("0x{:02x}", bytes.get(at).copied().unwrap_or(0)),
                            ))
                        })
                        .and_then(|s| parse_text(s, ty, &self.tctx).map_err(SqlError::Type));
                    match converted {
                        Ok(v) => v,
                        Err(e) => {
                            let context = format!(
                                "COPY {}, line {}, column {}: \"{}\"",
                                self.table_name,
                                self.line_no,
                                self.names[k],
                                display_limited(&bytes)
                            );
                            return Err(SqlError::WithContext {
                                source: Box::new(e),
                                context,
                            });
                        }
                    }
                }
            };
            row.push(BoundExpr::Literal(v, ty.clone()));
        }
        self.batch.push(row);
        Ok(())
    }

    /// Postgres's CopyReadAttributesText: fields split on the delimiter,
    /// backslash escapes, the NULL string compared before de-escaping.
    fn split_text(&self, line: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut out = vec![];
        let mut i = 0;
        loop {
            let start = i;
            let mut v = Vec::new();
            let mut saw_escape = false;
            while i < line.len() && line[i] != self.opts.delim {
                let c = line[i];
                i += 1;
                if c != b'\\' {
                    v.push(c);
                    continue;
                }
                let Some(&n) = line.get(i) else {
                    v.push(b'\\');
                    break;
                };
                i += 1;
                saw_escape = true;
                match n {
                    b'0'..=b'7' => {
                        let mut x = (n - b'0') as u32;
                        for _ in 0..2 {
                            match line.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    x = x * 8 + (d - b'0') as u32;
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        v.push((x & 0xff) as u8);
                    }
                    b'x' if line.get(i).is_some_and(|h| h.is_ascii_hexdigit()) => {
                        let mut x = 0u32;
                        for _ in 0..2 {
                            match line.get(i) {
                                Some(h) if h.is_ascii_hexdigit() => {
                                    x = x * 16 + (*h as char).to_digit(16).unwrap_or(0);
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        v.push(x as u8);
                    }
                    b'b' => v.push(8),
                    b'f' => v.push(12),
                    b'n' => v.push(b'\n'),
                    b'r' => v.push(b'\r'),
                    b't' => v.push(b'\t'),
                    b'v' => v.push(11),
                    other => v.push(other),
                }
            }
            let raw = &line[start..i];
            let _ = saw_escape;
            if raw == &self.opts.null[..] {
                out.push(None);
            } else {
                out.push(Some(v));
            }
            if i < line.len() {
                i += 1; // the delimiter
                continue;
            }
            break;
        }
        Ok(out)
    }

    /// Postgres's CopyReadAttributesCSV.
    fn split_csv(&self, line: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        let (delim, quote, escape) = (self.opts.delim, self.opts.quote, self.opts.escape);
        let mut out = vec![];
        let mut i = 0;
        loop {
            let start = i;
            let mut v = Vec::new();
            let mut quoted = false;
            loop {
                // Unquoted part.
                while i < line.len() && line[i] != delim && line[i] != quote {
                    v.push(line[i]);
                    i += 1;
                }
                if i >= line.len() || line[i] == delim {
                    break;
                }
                // A quoted part.
                quoted = true;
                i += 1;
                loop {
                    let Some(&c) = line.get(i) else {
                        return Err(SqlError::BadCopyFormat(
                            "unterminated CSV quoted field".into(),
                        ));
                    };
                    i += 1;
                    if c == escape
                        && i < line.len()
                        && (line[i] == quote || line[i] == escape)
                        && (escape != quote || line[i] == quote)
                    {
                        v.push(line[i]);
                        i += 1;
                        continue;
                    }
                    if c == quote {
                        break;
                    }
                    v.push(c);
                }
            }
            let raw = &line[start..i];
            let k = out.len();
            let is_null_str = !quoted && raw == &self.opts.null[..];
            let quoted_null =
                quoted && v == self.opts.null && self.force_null.get(k).copied().unwrap_or(false);
            if (is_null_str && !self.force_not_null.get(k).copied().unwrap_or(false)) || quoted_null
            {
                out.push(None);
            } else {
                out.push(Some(v));
            }
            if i < line.len() {
                i += 1;
                continue;
            }
            break;
        }
        Ok(out)
    }

    /// Decodes complete binary tuples from the buffer.
    fn decode_binary(&mut self, at_end: bool) -> Result<()> {
        let mut pos = 0;
        if self.binary_header {
            if self.buf.len() < 19 {
                if at_end {
                    return Err(SqlError::BadCopyFormat(
                        "COPY file signature not recognized".into(),
                    ));
                }
                return Ok(());
            }
            if &self.buf[..11] != BINARY_SIGNATURE {
                return Err(SqlError::BadCopyFormat(
                    "COPY file signature not recognized".into(),
                ));
            }
            let flags =
                i32::from_be_bytes([self.buf[11], self.buf[12], self.buf[13], self.buf[14]]);
            if flags & (1 << 16) != 0 {
                return Err(SqlError::BadCopyFormat(
                    "invalid COPY file header (WITH OIDS)".into(),
                ));
            }
            if flags & !0xffff & !(1 << 16) != 0 {
                return Err(SqlError::BadCopyFormat(
                    "unrecognized critical flags in COPY file header".into(),
                ));
            }
            let ext = i32::from_be_bytes([self.buf[15], self.buf[16], self.buf[17], self.buf[18]]);
            let Ok(ext) = usize::try_from(ext) else {
                return Err(SqlError::BadCopyFormat(
                    "invalid COPY file header (missing length)".into(),
                ));
            };
            if self.buf.len() < 19 + ext {
                if at_end {
                    return Err(SqlError::BadCopyFormat(
                        "invalid COPY file header (wrong length)".into(),
                    ));
                }
                return Ok(());
            }
            pos = 19 + ext;
            self.binary_header = false;
        }
        let ncols = self.types.len();
        while !self.eof && self.batch.len() < BATCH_ROWS {
            let b = &self.buf[pos..];
            if b.is_empty() {
                break;
            }
            if b.len() < 2 {
                if at_end {
                    return Err(SqlError::BadCopyFormat(
                        "unexpected EOF in COPY data".into(),
                    ));
                }
                break;
            }
            let count = i16::from_be_bytes([b[0], b[1]]);
            if count == -1 {
                self.eof = true;
                pos += 2;
                break;
            }
            // Check the whole tuple is here before decoding any of it.
            let mut off = 2;
            let mut fields: Vec<Option<(usize, usize)>> = Vec::with_capacity(ncols);
            let mut complete = true;
            if count as i64 != ncols as i64 {
                self.line_no += 1;
                let e = SqlError::BadCopyFormat(format!(
                    "row field count is {count}, expected {ncols}"
                ));
                return Err(SqlError::WithContext {
                    source: Box::new(e),
                    context: format!("COPY {}, line {}", self.table_name, self.line_no),
                });
            }
            for _ in 0..ncols {
                if b.len() < off + 4 {
                    complete = false;
                    break;
                }
                let len = i32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
                off += 4;
                if len == -1 {
                    fields.push(None);
                    continue;
                }
                let Ok(len) = usize::try_from(len) else {
                    return Err(SqlError::BadCopyFormat("invalid field size".into()));
                };
                if b.len() < off + len {
                    complete = false;
                    break;
                }
                fields.push(Some((off, len)));
                off += len;
            }
            if !complete {
                if at_end {
                    return Err(SqlError::BadCopyFormat(
                        "unexpected EOF in COPY data".into(),
                    ));
                }
                break;
            }
            self.line_no += 1;
            let mut row = Vec::with_capacity(ncols);
            for (k, f) in fields.into_iter().enumerate() {
                let ty = &self.types[k];
                let v = match f {
                    None => Value::Null,
                    Some((o, l)) => {
                        parse_binary(&b[o..o + l], ty).map_err(|e| SqlError::WithContext {
                            source: Box::new(SqlError::Type(e)),
                            context: format!(
                                "COPY {}, line {}, column {}",
                                self.table_name, self.line_no, self.names[k]
                            ),
                        })?
                    }
                };
                row.push(BoundExpr::Literal(v, ty.clone()));
            }
            self.batch.push(row);
            pos += off;
        }
        if self.eof {
            pos = self.buf.len();
        }
        self.buf.drain(..pos);
        Ok(())
    }

    fn decode(&mut self, at_end: bool) -> Result<()> {
        match self.opts.format {
            CopyFormat::Binary => self.decode_binary(at_end),
            _ => self.decode_lines(at_end),
        }
    }
}

/// The Values node the decoded rows are put into.
fn values_slot(p: &mut Plan) -> Option<&mut Vec<Vec<BoundExpr>>> {
    if let Plan::Values { rows, .. } = p {
        return Some(rows);
    }
    p.children_mut().into_iter().find_map(values_slot)
}

// ---------------------------------------------------------------------------
// COPY TO
// ---------------------------------------------------------------------------

/// A COPY TO STDOUT's result, encoded chunk by chunk.
pub struct CopyOut {
    opts: CopyOptions,
    columns: Vec<ColumnDesc>,
    rows: std::vec::IntoIter<Vec<Value>>,
    count: usize,
    force_quote: Vec<bool>,
    started: bool,
    finished: bool,
    /// Statements after the COPY in the same query string.
    pub rest: Rest,
}

impl CopyOut {
    pub fn is_binary(&self) -> bool {
        self.opts.format == CopyFormat::Binary
    }
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }
    /// The command tag, `COPY n`.
    pub fn tag(&self) -> String {
        format!("COPY {}", self.count)
    }

    /// The next CopyData payload (header, one per row, trailer), or None.
    pub fn next_chunk(&mut self, ctx: &TypeContext) -> Option<Result<Vec<u8>>> {
        if !self.started {
            self.started = true;
            match self.opts.format {
                CopyFormat::Binary => {
                    let mut v = BINARY_SIGNATURE.to_vec();
                    v.extend_from_slice(&0i32.to_be_bytes());
                    v.extend_from_slice(&0i32.to_be_bytes());
                    // Postgres sends the header with the first row; alone is fine too.
                    return Some(Ok(v));
                }
                _ if self.opts.header => {
                    let mut v = vec![];
                    let names: Vec<Value> = self
                        .columns
                        .iter()
                        .map(|c| Value::Text(c.name.clone()))
                        .collect();
                    let no_force = vec![false; names.len()];
                    self.encode_text_row(&names, ctx, &no_force, &mut v);
                    return Some(Ok(v));
                }
                _ => {}
            }
        }
        match self.rows.next() {
            Some(row) => {
                let mut v = Vec::with_capacity(64);
                if self.opts.format == CopyFormat::Binary {
                    v.extend_from_slice(&(row.len() as i16).to_be_bytes());
                    for (k, val) in row.iter().enumerate() {
                        if val.is_null() {
                            v.extend_from_slice(&(-1i32).to_be_bytes());
                            continue;
                        }
                        let ty = self
                            .columns
                            .get(k)
                            .map(|c| &c.data_type)
                            .unwrap_or(&DataType::Text);
                        match val.to_binary(ty) {
                            Ok(bytes) => {
                                v.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                                v.extend_from_slice(&bytes);
                            }
                            Err(e) => return Some(Err(SqlError::Type(e))),
                        }
                    }
                } else {
                    let fq = std::mem::take(&mut self.force_quote);
                    self.encode_text_row(&row, ctx, &fq, &mut v);
                    self.force_quote = fq;
                }
                Some(Ok(v))
            }
            None if self.opts.format == CopyFormat::Binary && !self.finished => {
                self.finished = true;
                Some(Ok((-1i16).to_be_bytes().to_vec()))
            }
            None => None,
        }
    }

    fn encode_text_row(&self, row: &[Value], ctx: &TypeContext, force: &[bool], v: &mut Vec<u8>) {
        let o = &self.opts;
        for (k, val) in row.iter().enumerate() {
            if k > 0 {
                v.push(o.delim);
            }
            if val.is_null() {
                v.extend_from_slice(&o.null);
                continue;
            }
            let s = val.to_text(ctx);
            let s = s.as_bytes();
            if o.format == CopyFormat::Csv {
                let need = force.get(k).copied().unwrap_or(false)
                    || s == &o.null[..]
                    || (k == 0 && row.len() == 1 && s == b"\\.")
                    || s.iter()
                        .any(|&c| c == o.delim || c == o.quote || c == b'\n' || c == b'\r');
                if need {
                    v.push(o.quote);
                    for &c in s {
                        if c == o.quote || c == o.escape {
                            v.push(o.escape);
                        }
                        v.push(c);
                    }
                    v.push(o.quote);
                } else {
                    v.extend_from_slice(s);
                }
            } else {
                for &c in s {
                    match c {
                        b'\\' => v.extend_from_slice(b"\\\\"),
                        b'\n' => v.extend_from_slice(b"\\n"),
                        b'\r' => v.extend_from_slice(b"\\r"),
                        b'\t' => v.extend_from_slice(b"\\t"),
                        8 => v.extend_from_slice(b"\\b"),
                        12 => v.extend_from_slice(b"\\f"),
                        11 => v.extend_from_slice(b"\\v"),
                        c if c == o.delim => {
                            v.push(b'\\');
                            v.push(c);
                        }
                        c => v.push(c),
                    }
                }
            }
        }
        v.push(b'\n');
    }
}

// ---------------------------------------------------------------------------
// The session side
// ---------------------------------------------------------------------------

impl Session {
    /// Starts a COPY statement (`is_copy(sql)` holds). COPY TO runs its
    /// query here; COPY FROM returns the decoder to feed with `copy_data`.
    /// An error leaves the transaction as any failed statement does.
    pub fn copy_begin(&mut self, sql: &str) -> Result<CopyStart> {
        self.cancel_flag()
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let r = self.copy_begin_inner(sql);
        if r.is_err() {
            self.fail_transaction();
        }
        r
    }

    fn copy_begin_inner(&mut self, sql: &str) -> Result<CopyStart> {
        if self.transaction_status() == TxnStatus::Failed {
            return Err(SqlError::InFailedTransaction);
        }
        let stmt = parse_copy(sql)?;
        let opts = process_options(&stmt.options, stmt.from)?;
        if !stmt.std {
            let what = if stmt.from {
                "COPY FROM a file or program"
            } else {
                "COPY TO a file or program"
            };
            return Err(SqlError::FeatureNotSupportedMsg(format!(
                "{what} is not supported: use COPY ... {} (psql's \\copy)",
                if stmt.from { "FROM STDIN" } else { "TO STDOUT" }
            )));
        }
        if stmt.from {
            return self.copy_in_begin(stmt, opts).map(CopyStart::In);
        }
        let query = match &stmt.source {
            Source::Query(q) => {
                if !parser::parse(q)?.iter().all(|s| {
                    matches!(
                        s,
                        SqlStatement::Query(_)
                            | SqlStatement::Insert(_)
                            | SqlStatement::Update(_)
                            | SqlStatement::Delete(_)
                    )
                }) {
                    return Err(SqlError::SyntaxNoPosition(
                        "COPY query must be a SELECT, VALUES, INSERT, UPDATE or DELETE".into(),
                    ));
                }
                q.clone()
            }
            Source::Table { name, columns } => {
                let table = self.copy_table(name)?;
                let cols = match columns {
                    Some(c) => {
                        for n in c {
                            if table.column_index(n).is_none() {
                                return Err(SqlError::UndefinedColumnMsg {
                                    message: format!(
                                        "column \"{n}\" of relation \"{}\" does not exist",
                                        table.name
                                    ),
                                    position: None,
                                });
                            }
                        }
                        c.clone()
                    }
                    None => table.live_columns().map(|(_, c)| c.name.clone()).collect(),
                };
                if cols.is_empty() {
                    format!(
                        "SELECT FROM {}.{}",
                        quote_ident(&table.schema),
                        quote_ident(&table.name)
                    )
                } else {
                    format!(
                        "SELECT {} FROM {}.{}",
                        cols.iter()
                            .map(|c| quote_ident(c))
                            .collect::<Vec<_>>()
                            .join(", "),
                        quote_ident(&table.schema),
                        quote_ident(&table.name)
                    )
                }
            }
        };
        let mut results = self.simple_query(&query);
        if results.len() != 1 {
            return Err(SqlError::SyntaxNoPosition(
                "COPY query must be a single statement".into(),
            ));
        }
        let (columns, rows) = match results.pop() {
            Some(Ok(StatementResult::Rows { columns, rows, .. })) => (columns, rows),
            Some(Ok(_)) => {
                return Err(SqlError::FeatureNotSupportedMsg(
                    "COPY query must have a RETURNING clause".into(),
                ))
            }
            Some(Err(e)) => return Err(e),
            None => return Err(SqlError::Internal("COPY query produced nothing".into())),
        };
        let force_quote = match &opts.force_quote {
            ForceList::None => vec![false; columns.len()],
            ForceList::All => vec![true; columns.len()],
            ForceList::Cols(names) => {
                for n in names {
                    if !columns.iter().any(|c| &c.name == n) {
                        return Err(SqlError::InvalidColumnReference(format!(
                            "FORCE_QUOTE column \"{n}\" not referenced by COPY"
                        )));
                    }
                }
                columns.iter().map(|c| names.contains(&c.name)).collect()
            }
        };
        let count = rows.len();
        Ok(CopyStart::Out(CopyOut {
            opts,
            columns,
            rows: rows.into_iter(),
            count,
            force_quote,
            started: false,
            finished: false,
            rest: stmt.rest,
        }))
    }

    fn copy_table(&self, name: &[String]) -> Result<Arc<TableDef>> {
        let cat = self.current_catalog();
        let sp = self.search_path();
        let t = match name {
            [n] => cat.resolve_table(&sp, n),
            [s, n] | [_, s, n] => cat.table_in(s, n),
            _ => None,
        };
        match t {
            Some(t) => Ok(Arc::new(t.clone())),
            None => Err(SqlError::UndefinedTable {
                name: name.join("."),
                position: None,
            }),
        }
    }

    fn copy_in_begin(&mut self, stmt: CopyStmt, opts: CopyOptions) -> Result<CopyIn> {
        let Source::Table { name, columns } = &stmt.source else {
            return Err(SqlError::Internal("COPY FROM a query".into()));
        };
        // Lock before reading the catalog (writers plan against what
        // concurrent DDL committed; see `locks`).
        let table = self.copy_table(name)?;
        self.lock_table(table.oid, LockMode::Shared, &name.join("."))?;
        let table = self.copy_table(name)?;
        let targets: Vec<usize> = match columns {
            None => table.live_columns().map(|(i, _)| i).collect(),
            Some(cols) => {
                let mut v = vec![];
                for n in cols {
                    let i = table
                        .column_index(n)
                        .ok_or_else(|| SqlError::UndefinedColumnMsg {
                            message: format!(
                                "column \"{n}\" of relation \"{}\" does not exist",
                                table.name
                            ),
                            position: None,
                        })?;
                    if v.contains(&i) {
                        return Err(SqlError::DuplicateColumn(format!(
                            "column \"{n}\" specified more than once"
                        )));
                    }
                    v.push(i);
                }
                v
            }
        };
        let names: Vec<String> = targets
            .iter()
            .map(|&i| table.columns[i].name.clone())
            .collect();
        let types: Vec<DataType> = targets
            .iter()
            .map(|&i| table.columns[i].data_type.clone())
            .collect();
        let flags = |list: &[String], what: &str| -> Result<Vec<bool>> {
            for n in list {
                if !names.contains(n) {
                    return Err(SqlError::InvalidColumnReference(format!(
                        "{what} column \"{n}\" not referenced by COPY"
                    )));
                }
            }
            Ok(names.iter().map(|n| list.contains(n)).collect())
        };
        let force_not_null = flags(&opts.force_not_null, "FORCE_NOT_NULL")?;
        let force_null = flags(&opts.force_null, "FORCE_NULL")?;
        // The normal INSERT plan, its SELECT replaced by the decoded rows.
        let plan = if targets.is_empty() {
            None
        } else {
            let ins_sql = format!(
                "INSERT INTO {}.{} ({}) OVERRIDING SYSTEM VALUE SELECT {}",
                quote_ident(&table.schema),
                quote_ident(&table.name),
                names
                    .iter()
                    .map(|n| quote_ident(n))
                    .collect::<Vec<_>>()
                    .join(", "),
                (1..=types.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let stmts = parser::parse(&ins_sql)?;
            let Some(SqlStatement::Insert(ins)) = stmts.first() else {
                return Err(SqlError::Internal("COPY: INSERT did not parse".into()));
            };
            let catalog = self.current_catalog();
            let sp = self.search_path();
            let tctx = self.type_context();
            let mut b = Binder::new(&catalog, &sp, &tctx, &ins_sql, types.clone());
            let (mut plan, _) = b.bind_insert(ins)?;
            match &mut plan {
                Plan::Insert { input, .. } => match &mut **input {
                    Plan::Project { input: select, .. } => {
                        **select = Plan::Values {
                            rows: vec![],
                            types: types.clone(),
                        };
                    }
                    _ => return Err(SqlError::Internal("COPY: unexpected INSERT plan".into())),
                },
                _ => return Err(SqlError::Internal("COPY: unexpected INSERT plan".into())),
            }
            let engine = self.engine().clone();
            plan.annotate_sizes(&|s| engine.relation_pages(s).unwrap_or(0));
            let mut plan = planner::plan(plan);
            if values_slot(&mut plan).is_none() {
                return Err(SqlError::Internal(
                    "COPY: no VALUES in the INSERT plan".into(),
                ));
            }
            Some(plan)
        };
        let Some(plan) = plan else {
            return Err(SqlError::FeatureNotSupportedMsg(
                "COPY FROM into a table without columns is not supported".into(),
            ));
        };
        Ok(CopyIn {
            header_pending: opts.header && opts.format != CopyFormat::Binary,
            binary_header: opts.format == CopyFormat::Binary,
            opts,
            table_name: table.name.clone(),
            names,
            types,
            force_not_null,
            force_null,
            plan,
            tctx: self.type_context(),
            buf: Vec::new(),
            line_no: 0,
            eof: false,
            batch: Vec::with_capacity(BATCH_ROWS),
            rows: 0,
            sequence_advanced: false,
            rest: stmt.rest,
        })
    }

    /// Feeds one CopyData payload. On error the caller reports it and calls
    /// `fail_transaction` (or `copy_abort`).
    pub fn copy_data(&mut self, c: &mut CopyIn, data: &[u8]) -> Result<()> {
        c.buf.extend_from_slice(data);
        loop {
            c.decode(false)?;
            if c.batch.len() >= BATCH_ROWS {
                self.copy_flush(c)?;
                continue;
            }
            return Ok(());
        }
    }

    /// CopyDone: decodes what is left, inserts it, and ends the statement
    /// (an implicit transaction commits). Returns the tag `COPY n`.
    pub fn copy_done(&mut self, mut c: CopyIn) -> Result<String> {
        let r = (|| {
            loop {
                c.decode(true)?;
                let more = !c.buf.is_empty() && !c.eof;
                self.copy_flush(&mut c)?;
                if !more {
                    break;
                }
            }
            if c.sequence_advanced {
                self.engine().flush_wal()?;
            }
            self.sync()?;
            Ok(format!("COPY {}", c.rows))
        })();
        if r.is_err() {
            self.fail_transaction();
        }
        r
    }

    /// CopyFail (or an error): the statement fails with the client's message.
    pub fn copy_fail(&mut self, _c: CopyIn, message: &str) -> SqlError {
        self.fail_transaction();
        SqlError::CopyFailed(message.to_string())
    }

    /// Ends a COPY FROM that failed (`copy_data` returned an error).
    pub fn copy_abort(&mut self, _c: CopyIn) {
        self.fail_transaction();
    }

    fn copy_flush(&mut self, c: &mut CopyIn) -> Result<()> {
        if c.batch.is_empty() {
            return Ok(());
        }
        if self
            .cancel_flag()
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(SqlError::QueryCanceled);
        }
        let rows = std::mem::replace(&mut c.batch, Vec::with_capacity(BATCH_ROWS));
        let n = rows.len() as u64;
        if let Some(slot) = values_slot(&mut c.plan) {
            *slot = rows;
        }
        let plan = &c.plan;
        let (affected, seq) = self.with_exec(|ctx| {
            executor::run(plan, ctx)?;
            Ok((ctx.affected, ctx.sequence_advanced))
        })?;
        let _ = affected;
        c.sequence_advanced |= seq;
        c.rows += n;
        if let Some(slot) = values_slot(&mut c.plan) {
            slot.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_copy() {
        assert!(is_copy("copy t from stdin"));
        assert!(is_copy("  -- c\n COPY t to stdout"));
        assert!(!is_copy("copyx"));
        assert!(!is_copy("select 1"));
    }

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
