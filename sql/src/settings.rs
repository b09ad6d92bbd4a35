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
    /// `search_path(user)` as last computed: the generation and user it was
    /// computed for (statements ask for it at every execution).
    search_path_cache: std::cell::RefCell<Option<(u64, String, std::sync::Arc<Vec<String>>)>>,
    /// Bumped by every change, so callers can cache values derived from
    /// settings.
    generation: u64,
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
            search_path_cache: Default::default(),
            generation: 0,
        }
    }

    fn info(name: &str) -> Option<&'static (&'static str, &'static str, &'static str, bool)> {
        PARAMS.iter().find(|p| p.0 == name)
    }

    /// Changes every time a setting is set or reset.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn get(&self, name: &str) -> Result<String> {
        // Names compare case-insensitively (ASCII only, as in Postgres);
        // most callers already pass them in lower case.
        let found = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.values.get(&name.to_ascii_lowercase())
        } else {
            self.values.get(name)
        };
        found.cloned().ok_or_else(|| {
            SqlError::UndefinedObject(format!(
                "unrecognized configuration parameter \"{}\"",
                name.to_ascii_lowercase()
            ))
        })
    }

    /// Set a value (already validated by the caller where needed).
    pub fn set(&mut self, name: &str, value: String) -> Result<()> {
        self.generation += 1;
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
    pub fn search_path(&self, user: &str) -> std::sync::Arc<Vec<String>> {
        if let Some((g, u, sp)) = &*self.search_path_cache.borrow() {
            if *g == self.generation && u == user {
                return sp.clone();
            }
        }
        let sp: Vec<String> = self
            .values
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
            .unwrap_or_default();
        let sp = std::sync::Arc::new(sp);
        *self.search_path_cache.borrow_mut() =
            Some((self.generation, user.to_string(), sp.clone()));
        sp
    }
}

/// One row of `pg_settings`: a parameter, its value in this session and
/// what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingRow {
    pub name: String,
    pub setting: String,
    pub unit: Option<&'static str>,
    pub category: &'static str,
    pub short_desc: &'static str,
    pub context: &'static str,
    pub vartype: &'static str,
    pub source: &'static str,
    pub min_val: Option<&'static str>,
    pub max_val: Option<&'static str>,
    pub enumvals: Option<&'static [&'static str]>,
    pub boot_val: String,
    pub reset_val: String,
}

/// (name, category, description, context, vartype, unit, min, max, enum values)
type Describe = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static [&'static str]>,
);

const LOCALE: &str = "Client Connection Defaults / Locale and Formatting";
const STATEMENT: &str = "Client Connection Defaults / Statement Behavior";
const PRESET: &str = "Preset Options";
const ISOLATION: &[&str] = &[
    "serializable",
    "repeatable read",
    "read committed",
    "read uncommitted",
];
const MAX_MS: &str = "2147483647";

/// What each session parameter is, for pg_settings.
const DESCRIBE: &[Describe] = &[
    (
        "application_name",
        "Reporting and Logging / What to Log",
        "Sets the application name reported in statistics and logs.",
        "user",
        "string",
        None,
        None,
        None,
        None,
    ),
    (
        "client_encoding",
        LOCALE,
        "Sets the client's character set encoding.",
        "user",
        "string",
        None,
        None,
        None,
        None,
    ),
    (
        "client_min_messages",
        STATEMENT,
        "Sets the message levels that are sent to the client.",
        "user",
        "enum",
        None,
        None,
        None,
        Some(&[
            "debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice", "warning", "error",
        ]),
    ),
    (
        "datestyle",
        LOCALE,
        "Sets the display format for date and time values.",
        "user",
        "string",
        None,
        None,
        None,
        None,
    ),
    (
        "default_transaction_isolation",
        STATEMENT,
        "Sets the isolation level of each new transaction.",
        "user",
        "enum",
        None,
        None,
        None,
        Some(ISOLATION),
    ),
    (
        "default_transaction_read_only",
        STATEMENT,
        "Sets the default read-only status of new transactions.",
        "user",
        "bool",
        None,
        None,
        None,
        None,
    ),
    (
        "extra_float_digits",
        LOCALE,
        "Sets the number of digits displayed for floating-point values.",
        "user",
        "integer",
        None,
        Some("-15"),
        Some("3"),
        None,
    ),
    (
        "idle_in_transaction_session_timeout",
        STATEMENT,
        "Sets the maximum allowed idle time within a transaction.",
        "user",
        "integer",
        Some("ms"),
        Some("0"),
        Some(MAX_MS),
        None,
    ),
    (
        "in_hot_standby",
        PRESET,
        "Shows whether hot standby is currently active.",
        "internal",
        "bool",
        None,
        None,
        None,
        None,
    ),
    (
        "integer_datetimes",
        PRESET,
        "Shows whether datetimes are integer based.",
        "internal",
        "bool",
        None,
        None,
        None,
        None,
    ),
    (
        "intervalstyle",
        LOCALE,
        "Sets the display format for interval values.",
        "user",
        "enum",
        None,
        None,
        None,
        Some(&["postgres", "postgres_verbose", "sql_standard", "iso_8601"]),
    ),
    (
        "is_superuser",
        PRESET,
        "Shows whether the current user is a superuser.",
        "internal",
        "bool",
        None,
        None,
        None,
        None,
    ),
    (
        "lock_timeout",
        STATEMENT,
        "Sets the maximum allowed duration of any wait for a lock.",
        "user",
        "integer",
        Some("ms"),
        Some("0"),
        Some(MAX_MS),
        None,
    ),
    (
        "max_identifier_length",
        PRESET,
        "Shows the maximum identifier length.",
        "internal",
        "integer",
        None,
        Some("63"),
        Some("63"),
        None,
    ),
    (
        "search_path",
        STATEMENT,
        "Sets the schema search order for names that are not schema-qualified.",
        "user",
        "string",
        None,
        None,
        None,
        None,
    ),
    (
        "server_encoding",
        PRESET,
        "Shows the server (database) character set encoding.",
        "internal",
        "string",
        None,
        None,
        None,
        None,
    ),
    (
        "server_version",
        PRESET,
        "Shows the server version.",
        "internal",
        "string",
        None,
        None,
        None,
        None,
    ),
    (
        "server_version_num",
        PRESET,
        "Shows the server version as an integer.",
        "internal",
        "integer",
        None,
        Some("150004"),
        Some("150004"),
        None,
    ),
    (
        "session_authorization",
        "Developer Options",
        "Sets the session user name.",
        "user",
        "string",
        None,
        None,
        None,
        None,
    ),
    (
        "standard_conforming_strings",
        "Version and Platform Compatibility / Previous PostgreSQL Versions",
        "Causes '...' strings to treat backslashes literally.",
        "user",
        "bool",
        None,
        None,
        None,
        None,
    ),
    (
        "statement_timeout",
        STATEMENT,
        "Sets the maximum allowed duration of any statement.",
        "user",
        "integer",
        Some("ms"),
        Some("0"),
        Some(MAX_MS),
        None,
    ),
    (
        "timezone",
        LOCALE,
        "Sets the time zone for displaying and interpreting time stamps.",
        "user",
        "string",
        None,
        None,
        None,
        None,
    ),
    (
        "transaction_isolation",
        STATEMENT,
        "Sets the current transaction's isolation level.",
        "user",
        "enum",
        None,
        None,
        None,
        Some(ISOLATION),
    ),
    (
        "transaction_read_only",
        STATEMENT,
        "Sets the current transaction's read-only status.",
        "user",
        "bool",
        None,
        None,
        None,
        None,
    ),
    (
        "work_mem",
        "Resource Usage / Memory",
        "Sets the maximum memory to be used for query workspaces.",
        "user",
        "integer",
        Some("kB"),
        Some("64"),
        Some("2147483647"),
        None,
    ),
    (
        "synchronous_commit",
        "Write-Ahead Log / Settings",
        "Sets the current transaction's synchronization level.",
        "user",
        "enum",
        None,
        None,
        None,
        Some(&["local", "remote_write", "remote_apply", "on", "off"]),
    ),
    (
        "bytea_output",
        STATEMENT,
        "Sets the output format for bytea.",
        "user",
        "enum",
        None,
        None,
        None,
        Some(&["escape", "hex"]),
    ),
    (
        "row_security",
        STATEMENT,
        "Enable row security.",
        "user",
        "bool",
        None,
        None,
        None,
        None,
    ),
    (
        "jit",
        "Query Tuning / Other Planner Options",
        "Allow JIT compilation.",
        "user",
        "bool",
        None,
        None,
        None,
        None,
    ),
    (
        "enable_seqscan",
        "Query Tuning / Planner Method Configuration",
        "Enables the planner's use of sequential-scan plans.",
        "user",
        "bool",
        None,
        None,
        None,
        None,
    ),
];

/// A size setting written with a unit ("4MB") in the parameter's unit (kB).
fn in_kb(v: &str) -> String {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let Ok(n) = n.parse::<u64>() else {
        return v.to_string();
    };
    match unit.trim().to_ascii_lowercase().as_str() {
        "" | "kb" => n.to_string(),
        "mb" => (n * 1024).to_string(),
        "gb" => (n * 1024 * 1024).to_string(),
        _ => v.to_string(),
    }
}

impl Settings {
    /// pg_settings rows for the session parameters, in name order.
    pub fn rows(&self) -> Vec<SettingRow> {
        let mut out: Vec<SettingRow> = PARAMS
            .iter()
            .map(|(n, display, default, _)| {
                let d = DESCRIBE.iter().find(|d| d.0 == *n);
                let value = self.values.get(*n).cloned().unwrap_or_default();
                let norm = |v: &str| {
                    if d.is_some_and(|d| d.5 == Some("kB")) {
                        in_kb(v)
                    } else {
                        v.to_string()
                    }
                };
                SettingRow {
                    name: display.to_string(),
                    setting: norm(&value),
                    unit: d.and_then(|d| d.5),
                    category: d.map_or("Customized Options", |d| d.1),
                    short_desc: d.map_or("", |d| d.2),
                    context: d.map_or("user", |d| d.3),
                    vartype: d.map_or("string", |d| d.4),
                    source: if value == *default {
                        "default"
                    } else {
                        "session"
                    },
                    min_val: d.and_then(|d| d.6),
                    max_val: d.and_then(|d| d.7),
                    enumvals: d.and_then(|d| d.8),
                    boot_val: norm(default),
                    reset_val: norm(default),
                }
            })
            .collect();
        out.sort_by_key(|r| r.name.to_lowercase());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_described_and_current() {
        for (n, ..) in PARAMS {
            assert!(
                DESCRIBE.iter().any(|d| d.0 == *n),
                "{n} lacks a description"
            );
        }
        let mut s = Settings::new("alice");
        s.set("work_mem", "8MB".into()).unwrap();
        let rows = s.rows();
        let wm = rows.iter().find(|r| r.name == "work_mem").unwrap();
        assert_eq!((wm.setting.as_str(), wm.unit), ("8192", Some("kB")));
        assert_eq!((wm.source, wm.boot_val.as_str()), ("session", "4096"));
        let tz = rows.iter().find(|r| r.name == "TimeZone").unwrap();
        assert_eq!((tz.setting.as_str(), tz.source), ("UTC", "default"));
    }
}
