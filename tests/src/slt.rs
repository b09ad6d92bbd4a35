//! The sqllogictest driver: runs `.slt` records over tokio-postgres.
//!
//! Statements and queries both go through the simple query protocol, so
//! each server formats values with its own text output functions and the
//! expected results in the files are exactly what PostgreSQL 15 prints.
//! NULL is written `NULL`, the empty string `(empty)`, newlines, carriage
//! returns and tabs inside values as `\n`, `\r`, `\t`, and leading or
//! trailing spaces (which the runner's whitespace normalization would drop,
//! e.g. char(n) padding) as `␣`. An error displays as
//! `<SQLSTATE>: <message>`, so `statement error 42P01: relation "t" does not
//! exist` checks both code and wording.

use std::time::Duration;

use async_trait::async_trait;
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio_postgres::SimpleQueryMessage;

/// An error returned by the server (or the connection) for one record.
#[derive(Debug, Clone)]
pub struct SltError {
    /// `<SQLSTATE>: <message>` for server errors, the client error otherwise.
    pub text: String,
    /// The SQLSTATE, if the server sent one.
    pub sqlstate: Option<String>,
}

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for SltError {}

impl From<tokio_postgres::Error> for SltError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => SltError {
                text: format!("{}: {}", db.code().code(), db.message()),
                sqlstate: Some(db.code().code().to_string()),
            },
            None => SltError {
                text: format!("client error: {e}"),
                sqlstate: None,
            },
        }
    }
}

/// One connection to the server under test.
pub struct PgDriver {
    client: tokio_postgres::Client,
    engine: &'static str,
}

impl PgDriver {
    /// Connects; `engine` is `"postgres"` or `"sargdb"` and is what
    /// `skipif` / `onlyif` conditions in the files match.
    pub async fn connect(conn_str: &str, engine: &'static str) -> Result<Self, SltError> {
        let client = crate::try_connect(conn_str).await?;
        Ok(PgDriver { client, engine })
    }
}

/// Formats one text value the way the .slt files write it.
fn format_value(v: Option<&str>) -> String {
    match v {
        None => "NULL".to_string(),
        Some("") => "(empty)".to_string(),
        Some(s) => {
            // One row is one line in the file: escape line breaks and tabs.
            let s = s
                .replace('\n', "\\n")
                .replace('\r', "\\r")
                .replace('\t', "\\t");
            let body = s.trim_matches(' ');
            if body.len() == s.len() {
                return s;
            }
            let lead = s.len() - s.trim_start_matches(' ').len();
            let trail = if body.is_empty() {
                0
            } else {
                s.len() - s.trim_end_matches(' ').len()
            };
            format!("{}{body}{}", "␣".repeat(lead), "␣".repeat(trail))
        }
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for PgDriver {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let messages = self.client.simple_query(sql).await?;
        let mut ncols: Option<usize> = None;
        let mut rows = Vec::new();
        let mut last_count = 0;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    // Only the last result set of a multi-statement string counts.
                    ncols = Some(cols.len());
                    rows.clear();
                }
                SimpleQueryMessage::Row(row) => {
                    if ncols.is_none() {
                        ncols = Some(row.len());
                    }
                    rows.push((0..row.len()).map(|i| format_value(row.get(i))).collect());
                }
                SimpleQueryMessage::CommandComplete(n) => last_count = n,
                _ => {}
            }
        }
        match ncols {
            Some(n) => Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            }),
            None => Ok(DBOutput::StatementComplete(last_count)),
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        self.engine
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.sqlstate.clone()
    }
}
