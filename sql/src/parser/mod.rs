//! Parsing: the only module that imports `sqlparser`. It parses with the
//! PostgreSQL dialect, turns sqlparser's errors into Postgres's
//! `syntax error at or near "x"` with a character position, and re-exports the
//! AST under `Sql*` names (and the whole AST as `ast`) for the binder.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

use crate::error::{Result, SqlError};

pub mod depth;

/// sqlparser's AST, for the binder.
pub mod ast {
    pub use sqlparser::ast::*;
    pub use sqlparser::tokenizer::Span;
}

pub use sqlparser::ast::{
    DataType as SqlDataType, Expr as SqlExpr, Ident as SqlIdent, ObjectName as SqlObjectName,
    Query as SqlQuery, Select as SqlSelect, SelectItem as SqlSelectItem, SetExpr as SqlSetExpr,
    Statement as SqlStatement, Value as SqlValue,
};

/// Postgres nests expressions far deeper than sqlparser's default of 50.
const RECURSION_LIMIT: usize = 1000;

/// Parse a query string into statements (empty for an empty string).
pub fn parse(sql: &str) -> Result<Vec<SqlStatement>> {
    let dialect = PostgreSqlDialect {};
    let parser = Parser::new(&dialect).with_recursion_limit(RECURSION_LIMIT);
    let mut parser = parser
        .try_with_sql(sql)
        .map_err(|e| convert_error(sql, e))?;
    let stmts = match parser.parse_statements() {
        Ok(v) => v,
        // Several statements, one of which only parses alone (CHECKPOINT,
        // VACUUM, REINDEX, a rewritten INSERT): each on its own.
        Err(e) if split_statements(sql).is_some() => parse_each(sql, e)?,
        Err(e) => match parse_maintenance(sql).or_else(|| parse_comment_on(sql)) {
            Some(st) => vec![st],
            None if ctas_column_names(sql).is_some() => {
                // `CREATE TABLE t (a, b) AS query`: parsed without the
                // names, which are put back as columns of no type.
                let (text, names) = ctas_column_names(sql).unwrap_or_default();
                let mut v = Parser::new(&dialect)
                    .with_recursion_limit(RECURSION_LIMIT)
                    .try_with_sql(&text)
                    .and_then(|mut p| p.parse_statements())
                    .map_err(|_| convert_error(sql, e))?;
                if let [SqlStatement::CreateTable(ct)] = v.as_mut_slice() {
                    ct.columns = names
                        .into_iter()
                        .map(|name| ast::ColumnDef {
                            name,
                            data_type: SqlDataType::Unspecified,
                            options: vec![],
                        })
                        .collect();
                }
                v
            }
            None => match rewrite_for_sqlparser(sql) {
                // Postgres syntax sqlparser lacks, rewritten into a form it takes.
                Some((text, overriding)) => {
                    let mut v = Parser::new(&dialect)
                        .with_recursion_limit(RECURSION_LIMIT)
                        .try_with_sql(&text)
                        .and_then(|mut p| p.parse_statements())
                        .map_err(|_| convert_error(sql, e))?;
                    if let (Some(o), [SqlStatement::Insert(ins)]) = (overriding, v.as_mut_slice()) {
                        ins.settings = Some(vec![ast::Setting {
                            key: SqlIdent::new(OVERRIDING_KEY),
                            value: SqlExpr::Identifier(SqlIdent::new(match o {
                                Overriding::System => "system",
                                Overriding::User => "user",
                            })),
                        }]);
                    }
                    v
                }
                None => {
                    return Err(
                        wildcard_followed_by_word(sql).unwrap_or_else(|| convert_error(sql, e))
                    );
                }
            },
        },
    };
    let stmts = depth::check_depth(stmts)?;
    for st in &stmts {
        if let SqlStatement::Query(q) = st {
            check_wildcard_alias(sql, &q.body)?;
        }
    }
    Ok(stmts)
}

/// `INSERT ... OVERRIDING {SYSTEM|USER} VALUE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overriding {
    System,
    User,
}

/// sqlparser's Insert has no OVERRIDING clause; the parser records it in the
/// (ClickHouse-only, never otherwise set for Postgres) `settings` field under
/// this key, and `insert_overriding` reads it back.
const OVERRIDING_KEY: &str = "sargdb.overriding";

/// The OVERRIDING clause of a parsed INSERT.
pub fn insert_overriding(ins: &ast::Insert) -> Option<Overriding> {
    let s = ins
        .settings
        .as_ref()?
        .iter()
        .find(|s| s.key.value == OVERRIDING_KEY)?;
    match &s.value {
        SqlExpr::Identifier(i) if i.value == "system" => Some(Overriding::System),
        SqlExpr::Identifier(i) if i.value == "user" => Some(Overriding::User),
        _ => None,
    }
}

/// The statements of a multi-statement string that sqlparser refused
/// whole (`e`), parsed one by one. A syntax error in a piece is reported at
/// its place in the whole string when a maintenance statement explains why
/// the whole failed; otherwise the whole string's error stands.
fn parse_each(sql: &str, e: ParserError) -> Result<Vec<SqlStatement>> {
    let pieces = split_statements(sql).unwrap_or_default();
    let mut out = vec![];
    for p in &pieces {
        match parse(p) {
            Ok(v) => out.extend(v),
            Err(SqlError::Syntax {
                message,
                position: Some(pos),
            }) if pieces.iter().any(|q| parse_maintenance(q).is_some()) => {
                let offset = (p.as_ptr() as usize).saturating_sub(sql.as_ptr() as usize);
                let chars_before = sql.get(..offset).map_or(0, |b| b.chars().count());
                return Err(SqlError::Syntax {
                    message,
                    position: Some(pos + chars_before),
                });
            }
            Err(_) => {
                return Err(wildcard_followed_by_word(sql).unwrap_or_else(|| convert_error(sql, e)))
            }
        }
    }
    Ok(out)
}

/// `CREATE TABLE name (a, b, ...) AS ...` (a column name list, which
/// sqlparser does not take): the text without the list, and the names.
fn ctas_column_names(sql: &str) -> Option<(String, Vec<SqlIdent>)> {
    use sqlparser::keywords::Keyword as K;
    use sqlparser::tokenizer::Token;
    let toks = significant_tokens(sql)?;
    let kw = |i: usize, k: K| {
        matches!(toks.get(i).map(|t| &t.token),
            Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword == k)
    };
    if !kw(0, K::CREATE) {
        return None;
    }
    let table_at = (0..toks.len()).find(|&i| kw(i, K::TABLE))?;
    let open = toks.iter().position(|t| t.token == Token::LParen)?;
    if open <= table_at + 1 {
        return None;
    }
    let mut names = vec![];
    let mut i = open + 1;
    loop {
        match &toks.get(i)?.token {
            Token::Word(w) => names.push(match w.quote_style {
                Some(q) => SqlIdent::with_quote(q, w.value.clone()),
                None => SqlIdent::new(w.value.to_lowercase()),
            }),
            _ => return None,
        }
        match toks.get(i + 1)?.token {
            Token::Comma => i += 2,
            Token::RParen => break,
            _ => return None,
        }
    }
    let close = i + 1;
    if !kw(close + 1, K::AS) {
        return None;
    }
    let offsets = TokenOffsets::new(sql);
    let byte_at = |i: usize| offsets.at(toks.get(i)?.span.start);
    let (from, to) = (byte_at(open)?, byte_at(close)? + 1);
    Some((format!("{} {}", &sql[..from], sql.get(to..)?), names))
}

/// `sql` with its comments replaced by blanks (None if it does not tokenize).
fn without_comments(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
    let toks = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    Some(
        toks.iter()
            .map(|t| match t {
                Token::Whitespace(
                    Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
                ) => " ".to_string(),
                t => t.to_string(),
            })
            .collect(),
    )
}

/// Byte offsets into `sql` of tokens' starts, from the tokenizer's 1-based
/// line and column (columns count characters).
struct TokenOffsets<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> TokenOffsets<'a> {
    fn new(sql: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        TokenOffsets { sql, line_starts }
    }

    /// The byte where a token starting at `loc` begins; None past the text.
    fn at(&self, loc: sqlparser::tokenizer::Location) -> Option<usize> {
        let ls = *self.line_starts.get((loc.line as usize).checked_sub(1)?)?;
        let col = (loc.column as usize).checked_sub(1)?;
        self.sql[ls..].char_indices().nth(col).map(|(b, _)| ls + b)
    }
}

/// A query string of several statements cut at its top-level semicolons
/// (found by the tokenizer, so those in quotes, dollar quotes and comments
/// do not count), empty pieces dropped; None for one statement or text
/// that does not tokenize.
fn split_statements(sql: &str) -> Option<Vec<&str>> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = PostgreSqlDialect {};
    let toks = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .ok()?;
    let offsets = TokenOffsets::new(sql);
    let mut pieces = vec![];
    let mut start = 0;
    for t in toks.iter().filter(|t| t.token == Token::SemiColon) {
        let at = offsets.at(t.span.start)?;
        if sql.as_bytes().get(at) != Some(&b';') || at < start {
            return None;
        }
        pieces.push(&sql[start..at]);
        start = at + 1;
    }
    pieces.push(&sql[start..]);
    let pieces: Vec<&str> = pieces
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect();
    (pieces.len() > 1).then_some(pieces)
}

/// The tokens of `sql` without whitespace and comments, with their places.
fn significant_tokens(sql: &str) -> Option<Vec<sqlparser::tokenizer::TokenWithSpan>> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let toks = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    Some(
        toks.into_iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect(),
    )
}

/// The field name `(expr).*` is parsed as (a quoted `"*"`): sqlparser's
/// Postgres dialect does not take `.*` after a parenthesized expression, so
/// the text is rewritten to `(expr)."*"` and the binder expands the field.
pub const RECORD_STAR_FIELD: &str = "*";

/// `(expr).*` anywhere in `sql`, rewritten to `(expr)."*"`.
fn rewrite_record_star(
    sql: &str,
    toks: &[sqlparser::tokenizer::TokenWithSpan],
    offsets: &TokenOffsets,
) -> Option<String> {
    use sqlparser::tokenizer::Token;
    let mut out = String::new();
    let mut done = 0;
    for w in toks.windows(3) {
        if let [a, b, c] = w {
            if a.token == Token::RParen && b.token == Token::Period && c.token == Token::Mul {
                let start = offsets.at(b.span.start)?;
                // `*` is one byte.
                let end = offsets.at(c.span.start)? + 1;
                out.push_str(&sql[done..start]);
                out.push_str(".\"*\"");
                done = end;
            }
        }
    }
    if done == 0 {
        return None;
    }
    out.push_str(&sql[done..]);
    Some(out)
}

/// Rewrite one statement that uses Postgres syntax sqlparser does not take:
/// `OVERRIDING SYSTEM|USER VALUE` in INSERT (cut out and returned),
/// CREATE SEQUENCE options in an order other than sqlparser's fixed one,
/// and `(expr).*`.
fn rewrite_for_sqlparser(sql: &str) -> Option<(String, Option<Overriding>)> {
    use sqlparser::keywords::Keyword as K;
    use sqlparser::tokenizer::Token;
    let toks = significant_tokens(sql)?;
    if let Some(text) = rewrite_record_star(sql, &toks, &TokenOffsets::new(sql)) {
        return Some((text, None));
    }
    let kw = |i: usize| match toks.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    // Byte offsets of token starts (the end of the text past the last).
    let offsets = TokenOffsets::new(sql);
    let byte_at = |i: usize| -> Option<usize> {
        Some(offsets.at(toks.get(i)?.span.start).unwrap_or(sql.len()))
    };
    if kw(0) == Some(K::INSERT) {
        let word = |i: usize, w: &str| matches!(toks.get(i).map(|t| &t.token), Some(Token::Word(x)) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
        let i = (1..toks.len()).find(|&i| word(i, "overriding"))?;
        let o = match (kw(i + 1), kw(i + 2)) {
            (Some(K::SYSTEM), Some(K::VALUE)) => Overriding::System,
            (Some(K::USER), Some(K::VALUE)) => Overriding::User,
            _ => return None,
        };
        let (a, b) = (byte_at(i)?, byte_at(i + 3).unwrap_or(sql.len()));
        return Some((format!("{} {}", &sql[..a], &sql[b..]), Some(o)));
    }
    // CREATE [TEMP|TEMPORARY] SEQUENCE [IF NOT EXISTS] name [AS type] options...
    let mut i = 1;
    if kw(0) != Some(K::CREATE) {
        return None;
    }
    if matches!(kw(i), Some(K::TEMP | K::TEMPORARY)) {
        i += 1;
    }
    if kw(i) != Some(K::SEQUENCE) {
        return None;
    }
    let first = (i + 1..toks.len()).find(|&j| {
        matches!(
            kw(j),
            Some(
                K::INCREMENT
                    | K::MINVALUE
                    | K::MAXVALUE
                    | K::NO
                    | K::START
                    | K::CACHE
                    | K::CYCLE
                    | K::OWNED
            )
        )
    })?;
    let end = toks
        .iter()
        .position(|t| matches!(t.token, Token::SemiColon | Token::EOF))
        .unwrap_or(toks.len());
    let rank = |j: usize| match (kw(j), kw(j + 1)) {
        (Some(K::INCREMENT), _) => Some(1),
        (Some(K::MINVALUE), _) | (Some(K::NO), Some(K::MINVALUE)) => Some(2),
        (Some(K::MAXVALUE), _) | (Some(K::NO), Some(K::MAXVALUE)) => Some(3),
        (Some(K::START), _) => Some(4),
        (Some(K::CACHE), _) => Some(5),
        (Some(K::CYCLE), _) | (Some(K::NO), Some(K::CYCLE)) => Some(6),
        (Some(K::OWNED), _) => Some(7),
        _ => None,
    };
    let mut clauses: Vec<(u8, usize, usize)> = vec![];
    let mut j = first;
    while j < end {
        let r = rank(j)?;
        let mut k = j + if kw(j) == Some(K::NO) { 2 } else { 1 };
        while k < end && rank(k).is_none() {
            k += 1;
        }
        clauses.push((r, byte_at(j)?, byte_at(k).unwrap_or(sql.len())));
        j = k;
    }
    clauses.sort_by_key(|c| c.0);
    let mut out = sql[..byte_at(first)?].to_string();
    for (_, a, b) in &clauses {
        out.push_str(sql[*a..*b].trim_end());
        out.push(' ');
    }
    out.push_str(&sql[byte_at(end).unwrap_or(sql.len())..]);
    Some((out, None))
}

/// After a parse error: a select-list `*` followed by a word that cannot
/// follow it in Postgres (`SELECT * FORM t`) is where Postgres reports the
/// error; sqlparser takes the word as an alias and fails later.
fn wildcard_followed_by_word(sql: &str) -> Option<SqlError> {
    use sqlparser::keywords::Keyword as K;
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = PostgreSqlDialect {};
    let toks = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .ok()?;
    let toks: Vec<_> = toks
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    for (i, t) in toks.iter().enumerate() {
        if t.token != Token::Mul || i == 0 {
            continue;
        }
        let prev_ok = match &toks[i - 1].token {
            Token::Comma | Token::Period => true,
            Token::Word(w) => matches!(w.keyword, K::SELECT | K::DISTINCT | K::ALL),
            _ => false,
        };
        let Some(next) = toks.get(i + 1) else {
            continue;
        };
        let Token::Word(w) = &next.token else {
            continue;
        };
        let allowed = w.quote_style.is_none()
            && matches!(
                w.keyword,
                K::FROM
                    | K::INTO
                    | K::WHERE
                    | K::GROUP
                    | K::HAVING
                    | K::WINDOW
                    | K::ORDER
                    | K::LIMIT
                    | K::OFFSET
                    | K::FETCH
                    | K::FOR
                    | K::UNION
                    | K::INTERSECT
                    | K::EXCEPT
                    | K::RETURNING
                    | K::ON
            );
        if prev_ok && !allowed {
            let start = next.span.start;
            return Some(SqlError::Syntax {
                message: format!("syntax error at or near \"{}\"", w.value),
                position: (start.line > 0).then(|| offset_of(sql, start.line, start.column)),
            });
        }
    }
    None
}

/// sqlparser's Postgres dialect accepts `SELECT * alias` (BigQuery syntax);
/// Postgres does not: `SELECT * FORM t` is a syntax error at "FORM".
fn check_wildcard_alias(sql: &str, body: &SqlSetExpr) -> Result<()> {
    match body {
        SqlSetExpr::Select(s) => {
            for item in &s.projection {
                let opts = match item {
                    SqlSelectItem::Wildcard(o) | SqlSelectItem::QualifiedWildcard(_, o) => o,
                    _ => continue,
                };
                if let Some(alias) = &opts.opt_alias {
                    let start = alias.span.start;
                    let mut pos =
                        (start.line > 0).then(|| offset_of(sql, start.line, start.column));
                    let mut tok = alias.value.clone();
                    // With `AS`, Postgres stops at the keyword.
                    if let Some(p) = pos {
                        let before: String = sql.chars().take(p.saturating_sub(1)).collect();
                        let trimmed = before.trim_end();
                        if trimmed.len() >= 2
                            && trimmed[trimmed.len() - 2..].eq_ignore_ascii_case("as")
                        {
                            tok = trimmed[trimmed.len() - 2..].to_string();
                            pos = Some(trimmed.chars().count() - 1);
                        }
                    }
                    return Err(SqlError::Syntax {
                        message: format!("syntax error at or near \"{tok}\""),
                        position: pos,
                    });
                }
            }
            Ok(())
        }
        SqlSetExpr::SetOperation { left, right, .. } => {
            check_wildcard_alias(sql, left)?;
            check_wildcard_alias(sql, right)
        }
        SqlSetExpr::Query(q) => check_wildcard_alias(sql, &q.body),
        _ => Ok(()),
    }
}

/// Parse a single expression (stored DEFAULT and CHECK texts).
pub fn parse_expr(sql: &str) -> Result<SqlExpr> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .map_err(|e| convert_error(sql, e))?;
    parser.parse_expr().map_err(|e| convert_error(sql, e))
}

/// Parse a type name (what `'integer'::regtype` reads); None if it is not
/// one, or if anything follows it.
pub fn parse_type_name(s: &str) -> Option<SqlDataType> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect).try_with_sql(s).ok()?;
    let t = parser.parse_data_type().ok()?;
    (parser.peek_token().token == sqlparser::tokenizer::Token::EOF).then_some(t)
}

/// Character offset (1-based) of a line/column pair in `sql`.
pub fn offset_of(sql: &str, line: u64, column: u64) -> usize {
    let mut off = 0usize;
    for (i, l) in sql.split('\n').enumerate() {
        if (i as u64) + 1 == line {
            return off + column as usize;
        }
        off += l.chars().count() + 1;
    }
    sql.chars().count() + 1
}

fn convert_error(sql: &str, e: ParserError) -> SqlError {
    let msg = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => return SqlError::StackDepthLimitExceeded,
    };
    // "Expected: X, found: Y at Line: l, Column: c"
    let (body, pos) = match msg.rfind(" at Line: ") {
        Some(i) => {
            let tail = &msg[i + " at Line: ".len()..];
            let mut parts = tail.split(", Column: ");
            let line = parts.next().and_then(|s| s.trim().parse::<u64>().ok());
            let col = parts.next().and_then(|s| s.trim().parse::<u64>().ok());
            let pos = match (line, col) {
                (Some(l), Some(c)) => Some(offset_of(sql, l, c)),
                _ => None,
            };
            (msg[..i].to_string(), pos)
        }
        None => (msg.clone(), None),
    };
    if let Some(i) = body.find("found: ") {
        let found = body[i + "found: ".len()..].trim();
        if found == "EOF" {
            return SqlError::Syntax {
                message: "syntax error at end of input".into(),
                position: Some(sql.chars().count() + 1),
            };
        }
        let tok = found.trim_matches('\'');
        return SqlError::Syntax {
            message: format!("syntax error at or near \"{tok}\""),
            position: pos,
        };
    }
    if body.contains("Unterminated string literal") {
        // Postgres quotes the rest of the input from the opening quote.
        let rest: String = pos
            .map(|p| sql.chars().skip(p.saturating_sub(1)).collect())
            .unwrap_or_else(|| "'".into());
        return SqlError::Syntax {
            message: format!(
                "unterminated quoted string at or near \"{}\"",
                rest.trim_end()
            ),
            position: pos,
        };
    }
    SqlError::Syntax {
        message: format!("syntax error: {body}"),
        position: pos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_token_and_position() {
        let e = parse("SELEC 1").unwrap_err();
        match e {
            SqlError::Syntax { message, position } => {
                assert_eq!(message, "syntax error at or near \"SELEC\"");
                assert_eq!(position, Some(1));
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = parse("SELECT * FROM").unwrap_err();
        assert!(e.to_string().contains("end of input"), "{e}");
    }

    #[test]
    fn postgres_syntax_sqlparser_lacks() {
        let v = parse("CREATE SEQUENCE s START 10 INCREMENT 5 NO CYCLE").unwrap();
        assert!(v[0].to_string().contains("INCREMENT 5"), "{}", v[0]);
        let v = parse("INSERT INTO t (a) OVERRIDING SYSTEM VALUE VALUES (1)").unwrap();
        let SqlStatement::Insert(ins) = &v[0] else {
            panic!("{:?}", v[0])
        };
        assert_eq!(insert_overriding(ins), Some(Overriding::System));
        let v = parse("INSERT INTO t VALUES (1)").unwrap();
        let SqlStatement::Insert(ins) = &v[0] else {
            panic!("{:?}", v[0])
        };
        assert_eq!(insert_overriding(ins), None);
        let e = parse("SELECT * FORM t").unwrap_err();
        assert_eq!(e.to_string(), "syntax error at or near \"FORM\"");
        assert_eq!(e.position(), Some(10));
    }

    #[test]
    fn several_statements() {
        assert_eq!(parse("select 1; select 2;").unwrap().len(), 2);
        assert!(parse("").unwrap().is_empty());
    }
}

/// Postgres maintenance commands sqlparser cannot parse (`VACUUM ANALYZE t`,
/// `VACUUM (ANALYZE) t`, `REINDEX ...`), as the session executes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Maintenance {
    Vacuum {
        table: Option<SqlObjectName>,
        full: bool,
        analyze: bool,
    },
    Reindex {
        kind: ReindexKind,
        name: SqlObjectName,
        concurrently: bool,
    },
    /// `CHECKPOINT`: write every dirty page (and the statistics) now.
    Checkpoint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReindexKind {
    Index,
    Table,
    Schema,
    Database,
    System,
}

/// sqlparser has no REINDEX statement and no VACUUM ANALYZE; the parser
/// records them in a `VacuumStatement` (whose Redshift-only `sort_only`,
/// `delete_only`, `recluster` and `threshold` fields Postgres never sets) and
/// `maintenance` reads them back, so the rest of the code sees only this enum.
const MAINT_MARK: &str = "sargdb.maintenance";

/// First name part of a `COMMENT ON CONSTRAINT c ON t` parsed into
/// sqlparser's `Statement::Comment` (which has no constraint kind): the
/// name reads `[mark, c, t...]`. A NUL cannot occur in an identifier a
/// client sends, so no real name looks like the mark.
const CONSTRAINT_MARK: &str = "\0sargdb.constraint";

/// What `COMMENT ON` names.
#[derive(Debug, PartialEq)]
pub enum CommentTarget {
    /// sqlparser's kinds with the object's name.
    Object(ast::CommentObject, SqlObjectName),
    /// `CONSTRAINT name ON table`.
    Constraint(SqlIdent, SqlObjectName),
}

/// The target of a parsed `COMMENT ON` statement.
pub fn comment_target(kind: &ast::CommentObject, name: &SqlObjectName) -> CommentTarget {
    let parts = &name.0;
    let first = parts.first().and_then(|p| p.as_ident());
    if first.is_some_and(|i| i.value == CONSTRAINT_MARK) && parts.len() >= 3 {
        if let Some(c) = parts[1].as_ident() {
            return CommentTarget::Constraint(c.clone(), ast::ObjectName(parts[2..].to_vec()));
        }
    }
    CommentTarget::Object(*kind, name.clone())
}

/// Hand-parse the `COMMENT ON` forms sqlparser does not take: `CONSTRAINT
/// name ON table`, `FUNCTION name(args)` (kept as its name, which is
/// refused later as unsupported) and a dollar-quoted comment.
fn parse_comment_on(sql: &str) -> Option<SqlStatement> {
    use sqlparser::keywords::Keyword as K;
    use sqlparser::tokenizer::Token;
    let toks = significant_tokens(sql)?;
    let mut toks: Vec<Token> = toks.into_iter().map(|t| t.token).collect();
    while toks.last() == Some(&Token::SemiColon) {
        toks.pop();
    }
    let kw = |i: usize, k: K| matches!(toks.get(i), Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword == k);
    if !(kw(0, K::COMMENT) && kw(1, K::ON)) {
        return None;
    }
    let ident = |t: &Token| match t {
        Token::Word(w) => Some(match w.quote_style {
            Some(q) => SqlIdent::with_quote(q, w.value.clone()),
            None => SqlIdent::new(w.value.to_lowercase()),
        }),
        _ => None,
    };
    // A dotted name from `i`; returns it and the index after it.
    let name_at = |mut i: usize| -> Option<(Vec<SqlIdent>, usize)> {
        let mut parts = vec![ident(toks.get(i)?)?];
        i += 1;
        while toks.get(i) == Some(&Token::Period) {
            parts.push(ident(toks.get(i + 1)?)?);
            i += 2;
        }
        Some((parts, i))
    };
    let (kind, mut parts, mut i) = if kw(2, K::CONSTRAINT) {
        let c = ident(toks.get(3)?)?;
        if !kw(4, K::ON) {
            return None;
        }
        let (table, i) = name_at(5)?;
        let mut parts = vec![SqlIdent::new(CONSTRAINT_MARK), c];
        parts.extend(table);
        (ast::CommentObject::Table, parts, i)
    } else {
        let kind = match toks.get(2)? {
            Token::Word(w) if w.quote_style.is_none() => match w.keyword {
                K::TABLE => ast::CommentObject::Table,
                K::COLUMN => ast::CommentObject::Column,
                K::INDEX => ast::CommentObject::Index,
                K::SEQUENCE => ast::CommentObject::Sequence,
                K::VIEW => ast::CommentObject::View,
                K::SCHEMA => ast::CommentObject::Schema,
                K::DATABASE => ast::CommentObject::Database,
                K::ROLE => ast::CommentObject::Role,
                K::FUNCTION => ast::CommentObject::Function,
                K::PROCEDURE => ast::CommentObject::Procedure,
                K::TYPE => ast::CommentObject::Type,
                _ => return None,
            },
            _ => return None,
        };
        let (parts, i) = name_at(3)?;
        (kind, parts, i)
    };
    // A function's argument list.
    if toks.get(i) == Some(&Token::LParen) {
        let close = i + toks[i..].iter().position(|t| *t == Token::RParen)?;
        i = close + 1;
    }
    if !kw(i, K::IS) || toks.len() != i + 2 {
        return None;
    }
    let comment = match &toks[i + 1] {
        Token::Word(w) if w.quote_style.is_none() && w.keyword == K::NULL => None,
        Token::SingleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::UnicodeStringLiteral(s) => Some(s.clone()),
        Token::DollarQuotedString(d) => Some(d.value.clone()),
        _ => return None,
    };
    if parts.is_empty() {
        return None;
    }
    Some(SqlStatement::Comment {
        object_type: kind,
        object_name: ast::ObjectName::from(std::mem::take(&mut parts)),
        comment,
        if_exists: false,
    })
}

/// The maintenance command a statement carries, if any.
pub fn maintenance(st: &SqlStatement) -> Option<Maintenance> {
    let SqlStatement::Vacuum(v) = st else {
        return None;
    };
    let kind = match v.threshold.as_ref().map(|t| &t.value) {
        Some(ast::Value::SingleQuotedString(s)) => {
            s.strip_prefix(MAINT_MARK).map(|k| k.to_string())
        }
        _ => None,
    };
    match kind.as_deref() {
        None => {
            // sqlparser's own VACUUM (Redshift's grammar) reads a bare
            // option word as a table name: `VACUUM ANALYZE`, `VACUUM FULL
            // VERBOSE`. In Postgres those words are keywords, so an
            // unquoted one is an option and the command covers every table.
            let option = v.table_name.as_ref().and_then(|n| match n.0.as_slice() {
                [ast::ObjectNamePart::Identifier(id)] if id.quote_style.is_none() => {
                    match id.value.to_ascii_lowercase().as_str() {
                        "analyze" | "analyse" => Some(true),
                        "verbose" | "freeze" => Some(false),
                        _ => None,
                    }
                }
                _ => None,
            });
            Some(Maintenance::Vacuum {
                table: if option.is_some() {
                    None
                } else {
                    v.table_name.clone()
                },
                full: v.full,
                analyze: option.unwrap_or(false),
            })
        }
        Some(":vacuum_analyze") => Some(Maintenance::Vacuum {
            table: v.table_name.clone(),
            full: v.full,
            analyze: true,
        }),
        Some(":checkpoint") => Some(Maintenance::Checkpoint),
        Some(k) => {
            let kind = match k {
                ":index" => ReindexKind::Index,
                ":table" => ReindexKind::Table,
                ":schema" => ReindexKind::Schema,
                ":database" => ReindexKind::Database,
                _ => ReindexKind::System,
            };
            Some(Maintenance::Reindex {
                kind,
                name: v.table_name.clone()?,
                concurrently: v.recluster,
            })
        }
    }
}

fn maint_statement(
    table: Option<SqlObjectName>,
    full: bool,
    mark: &str,
    concurrently: bool,
) -> SqlStatement {
    SqlStatement::Vacuum(ast::VacuumStatement {
        full,
        sort_only: false,
        delete_only: false,
        reindex: false,
        recluster: concurrently,
        table_name: table,
        threshold: Some(ast::Value::SingleQuotedString(format!("{MAINT_MARK}{mark}")).into()),
        boost: false,
    })
}

/// Hand-parse `VACUUM [FULL] [FREEZE] [VERBOSE] [ANALYZE] [name]`,
/// `VACUUM (opt, ...) [name]` and `REINDEX [(CONCURRENTLY)] kind
/// [CONCURRENTLY] name` and `CHECKPOINT` (a single statement, optional
/// trailing `;`).
fn parse_maintenance(sql: &str) -> Option<SqlStatement> {
    let uncommented;
    let sql = if sql.contains("--") || sql.contains("/*") {
        uncommented = without_comments(sql)?;
        uncommented.as_str()
    } else {
        sql
    };
    let text = sql.trim().trim_end_matches(';').trim();
    let mut words: Vec<String> = vec![];
    let mut rest = text;
    // Split off a parenthesized option list as one word.
    while !rest.is_empty() {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('(') {
            let end = r.find(')')?;
            words.push(format!("({})", &r[..end]));
            rest = &r[end + 1..];
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '(')
                .unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let name = |w: &str| -> Option<SqlObjectName> {
        let parts: Vec<SqlIdent> = w
            .split('.')
            .map(|p| {
                if p.len() >= 2 && p.starts_with('"') && p.ends_with('"') {
                    SqlIdent::with_quote('"', &p[1..p.len() - 1])
                } else {
                    SqlIdent::new(p.to_lowercase())
                }
            })
            .collect();
        if parts.iter().any(|p| p.value.is_empty()) {
            return None;
        }
        Some(ast::ObjectName::from(parts))
    };
    match upper.first().map(String::as_str) {
        Some("VACUUM") => {
            let (mut full, mut analyze) = (false, false);
            let mut table = None;
            for (i, w) in upper.iter().enumerate().skip(1) {
                match w.as_str() {
                    "FULL" => full = true,
                    "FREEZE" | "VERBOSE" => {}
                    "ANALYZE" | "ANALYSE" => analyze = true,
                    w if w.starts_with('(') => {
                        for opt in w.trim_matches(|c| c == '(' || c == ')').split(',') {
                            match opt.split_whitespace().next().unwrap_or("") {
                                "FULL" => full = true,
                                "ANALYZE" | "ANALYSE" => analyze = true,
                                _ => {}
                            }
                        }
                    }
                    _ if i == upper.len() - 1 => table = Some(name(&words[i])?),
                    _ => return None,
                }
            }
            let mark = if analyze {
                ":vacuum_analyze"
            } else {
                ":vacuum"
            };
            Some(maint_statement(table, full, mark, false))
        }
        Some("CHECKPOINT") if upper.len() == 1 => {
            Some(maint_statement(None, false, ":checkpoint", false))
        }
        Some("REINDEX") => {
            let mut concurrently = false;
            let mut kind = None;
            let mut target = None;
            for (i, w) in upper.iter().enumerate().skip(1) {
                match w.as_str() {
                    "(CONCURRENTLY)" | "CONCURRENTLY" => concurrently = true,
                    "INDEX" | "TABLE" | "SCHEMA" | "DATABASE" | "SYSTEM" if kind.is_none() => {
                        kind = Some(w.to_lowercase())
                    }
                    _ if i == upper.len() - 1 && kind.is_some() => target = Some(name(&words[i])?),
                    _ => return None,
                }
            }
            Some(maint_statement(
                Some(target?),
                false,
                &format!(":{}", kind?),
                concurrently,
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod maintenance_tests {
    use super::*;

    #[test]
    fn maintenance_among_other_statements() {
        assert_eq!(
            split_statements("SELECT 'a;b', $$;$$ /* ; */; CHECKPOINT -- ;\n;"),
            Some(vec!["SELECT 'a;b', $$;$$ /* ; */", " CHECKPOINT -- ;\n"])
        );
        assert_eq!(split_statements("SELECT 1;"), None);
        let v = parse("SELECT 1; CHECKPOINT; VACUUM t; SELECT 2").unwrap();
        assert_eq!(v.len(), 4);
        assert!(matches!(maintenance(&v[1]), Some(Maintenance::Checkpoint)));
        assert!(matches!(
            maintenance(&v[2]),
            Some(Maintenance::Vacuum { .. })
        ));
        // A syntax error after a maintenance statement is placed in the whole text.
        match parse("SELECT 1; CHECKPOINT; SELEC 2") {
            Err(SqlError::Syntax { position, .. }) => assert_eq!(position, Some(23)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vacuum_and_reindex_forms() {
        let one = |s: &str| maintenance(&parse(s).unwrap()[0]).unwrap();
        assert!(matches!(
            one("VACUUM ANALYZE pgbench_branches"),
            Maintenance::Vacuum {
                table: Some(_),
                analyze: true,
                ..
            }
        ));
        assert!(matches!(
            one("vacuum t"),
            Maintenance::Vacuum {
                table: Some(_),
                analyze: false,
                ..
            }
        ));
        assert!(matches!(
            one("VACUUM (ANALYZE, VERBOSE) t;"),
            Maintenance::Vacuum { analyze: true, .. }
        ));
        assert!(matches!(
            one("VACUUM"),
            Maintenance::Vacuum { table: None, .. }
        ));
        // Bare option words are options, not table names; quoted, a name.
        for (sql, analyze, full) in [
            ("vacuum analyze", true, false),
            ("VACUUM FULL ANALYZE;", true, true),
            ("VACUUM VERBOSE", false, false),
            ("VACUUM FREEZE", false, false),
        ] {
            assert_eq!(
                one(sql),
                Maintenance::Vacuum {
                    table: None,
                    full,
                    analyze
                },
                "{sql}"
            );
        }
        assert!(matches!(
            one("VACUUM \"analyze\""),
            Maintenance::Vacuum {
                table: Some(_),
                analyze: false,
                ..
            }
        ));
        match one("REINDEX (CONCURRENTLY) INDEX public.t_a_idx") {
            Maintenance::Reindex {
                kind: ReindexKind::Index,
                name,
                concurrently: true,
            } => assert_eq!(name.to_string(), "public.t_a_idx"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            one("REINDEX TABLE t"),
            Maintenance::Reindex {
                kind: ReindexKind::Table,
                concurrently: false,
                ..
            }
        ));
        assert!(parse("REINDEX t").is_err());
    }
}
