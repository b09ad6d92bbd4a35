//! Session settings (SET / SHOW / RESET): the parameters clients read and
//! set, with Postgres's defaults and display names, and which of them are
//! reported to the client (ParameterStatus) when they change.

use std::collections::BTreeMap;

use crate::error::{Result, SqlError};

/// (lower-case name, display name, default, reported to the client)
const PARAMS: &[(&str, &str, &str, bool)] = &[
    ("application_name", "application_name", "", true),
    ("client_encoding", "client_encoding", "UTF8", true),
    (
        "client_min_messages",
        "client_min_messages",
        "notice",
        false,
    ),
    ("datestyle", "DateStyle", "ISO, MDY", true),
    (
        "default_transaction_isolation",
        "default_transaction_isolation",
        "read committed",
        false,
    ),
    (
        "default_transaction_read_only",
        "default_transaction_read_only",
        "off",
        true,
    ),
    ("extra_float_digits", "extra_float_digits", "1", false),
    (
        "idle_in_transaction_session_timeout",
        "idle_in_transaction_session_timeout",
        "0",
        false,
    ),
    ("in_hot_standby", "in_hot_standby", "off", true),
    ("integer_datetimes", "integer_datetimes", "on", true),
    ("intervalstyle", "IntervalStyle", "postgres", true),
    ("is_superuser", "is_superuser", "on", true),
    ("lock_timeout", "lock_timeout", "0", false),
    (
        "max_identifier_length",
        "max_identifier_length",
        "63",
        false,
    ),
    ("search_path", "search_path", "\"$user\", public", false),
    ("server_encoding", "server_encoding", "UTF8", true),
    ("server_version", "server_version", "15.4", true),
    ("server_version_num", "server_version_num", "150004", false),
    (
        "session_authorization",
        "session_authorization",
        "sargdb",
        true,
    ),
    (
        "standard_conforming_strings",
        "standard_conforming_strings",
        "on",
        true,
    ),
    ("statement_timeout", "statement_timeout", "0", false),
    ("timezone", "TimeZone", "UTC", true),
    (
        "transaction_isolation",
        "transaction_isolation",
        "read committed",
        false,
    ),
    (
        "transaction_read_only",
        "transaction_read_only",
        "off",
        false,
    ),
    ("work_mem", "work_mem", "4MB", false),
    ("synchronous_commit", "synchronous_commit", "on", false),
    ("bytea_output", "bytea_output", "hex", false),
    ("row_security", "row_security", "on", false),
    ("jit", "jit", "off", false),
    ("enable_seqscan", "enable_seqscan", "on", false),
];

#[derive(Clone, Debug)]
pub struct Settings {
    values: BTreeMap<String, String>,
    changed: Vec<(String, String)>,
}

impl Settings {
    pub fn new(user: &str) -> Settings {
        let mut values = BTreeMap::new();
        for (n, _, d, _) in PARAMS {
            values.insert(n.to_string(), d.to_string());
        }
        values.insert("session_authorization".into(), user.to_string());
        Settings {
            values,
            changed: vec![],
        }
    }

    fn info(name: &str) -> Option<&'static (&'static str, &'static str, &'static str, bool)> {
        PARAMS.iter().find(|p| p.0 == name)
    }

    pub fn get(&self, name: &str) -> Result<String> {
        let n = name.to_lowercase();
        self.values.get(&n).cloned().ok_or_else(|| {
            SqlError::UndefinedObject(format!("unrecognized configuration parameter \"{n}\""))
        })
    }

    /// Set a value (already validated by the caller where needed).
    pub fn set(&mut self, name: &str, value: String) -> Result<()> {
        let n = name.to_lowercase();
        let Some(info) = Self::info(&n) else {
            // Postgres accepts custom "a.b" parameters.
            if n.contains('.') {
                self.values.insert(n, value);
                return Ok(());
            }
            return Err(SqlError::UndefinedObject(format!(
                "unrecognized configuration parameter \"{n}\""
            )));
        };
        if matches!(
            n.as_str(),
            "server_version"
                | "server_version_num"
                | "server_encoding"
                | "integer_datetimes"
                | "max_identifier_length"
                | "in_hot_standby"
                | "is_superuser"
        ) {
            return Err(SqlError::CantChangeRuntimeParam(format!(
                "parameter \"{n}\" cannot be changed"
            )));
        }
        if n == "client_encoding"
            && !matches!(
                value.to_uppercase().replace(['-', '_'], "").as_str(),
                "UTF8" | "UNICODE"
            )
        {
            return Err(SqlError::InvalidParameterValue(format!(
                "invalid value for parameter \"client_encoding\": \"{value}\""
            )));
        }
        let value = if n == "client_encoding" {
            "UTF8".to_string()
        } else {
            value
        };
        if self.values.get(&n) != Some(&value) && info.3 {
            self.changed.push((info.1.to_string(), value.clone()));
        }
        self.values.insert(n, value);
        Ok(())
    }

    pub fn reset(&mut self, name: &str) -> Result<()> {
        let n = name.to_lowercase();
        let Some(info) = Self::info(&n) else {
            return Err(SqlError::UndefinedObject(format!(
                "unrecognized configuration parameter \"{n}\""
            )));
        };
        self.set(&n, info.2.to_string())
    }

    pub fn reset_all(&mut self) {
        for (n, _, d, _) in PARAMS {
            if !matches!(
                *n,
                "server_version"
                    | "server_version_num"
                    | "server_encoding"
                    | "integer_datetimes"
                    | "max_identifier_length"
                    | "in_hot_standby"
                    | "is_superuser"
                    | "session_authorization"
            ) {
                let _ = self.set(n, d.to_string());
            }
        }
    }

    pub fn take_changed(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.changed)
    }

    /// Schemas on search_path, "$user" resolved.
    pub fn search_path(&self, user: &str) -> Vec<String> {
        self.values
            .get("search_path")
            .map(|s| {
                s.split(',')
                    .map(|p| p.trim().trim_matches('"').to_string())
                    .map(|p| {
                        if p == "$user" {
                            user.to_string()
                        } else {
                            p.to_lowercase()
                        }
                    })
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}
