//! A session's cache of parsed and described statements, by SQL text and
//! declared parameter types. Drivers that use the extended protocol without
//! naming their statements (pgbench `-M extended`, most ORMs) send the same
//! Parse for every execution; a hit skips parsing, binding for Describe and
//! (through the statement's own plan cache) planning. An entry is used only
//! while the catalog version, the session's settings generation and its
//! search_path are those it was made under.

use std::collections::HashMap;
use std::sync::Arc;

use crate::session::PreparedStatement;

/// Entries kept per session (the cache is cleared when it would grow past).
const CAPACITY: usize = 256;

struct Entry {
    param_oids: Vec<u32>,
    stmt: Arc<PreparedStatement>,
    catalog_version: u64,
    settings_gen: u64,
    search_path: Vec<String>,
}

/// What an entry must match to be reused.
pub struct Context<'a> {
    pub catalog_version: u64,
    pub settings_gen: u64,
    pub search_path: &'a [String],
}

#[derive(Default)]
pub struct StatementCache {
    by_sql: HashMap<String, Vec<Entry>>,
    len: usize,
}

impl StatementCache {
    pub fn get(
        &self,
        sql: &str,
        param_oids: &[u32],
        cx: &Context,
    ) -> Option<Arc<PreparedStatement>> {
        self.by_sql.get(sql)?.iter().find_map(|e| {
            (e.param_oids == param_oids
                && e.catalog_version == cx.catalog_version
                && e.settings_gen == cx.settings_gen
                && e.search_path == cx.search_path)
                .then(|| e.stmt.clone())
        })
    }

    pub fn put(
        &mut self,
        sql: &str,
        param_oids: &[u32],
        stmt: Arc<PreparedStatement>,
        cx: &Context,
    ) {
        if self.len >= CAPACITY {
            self.by_sql.clear();
            self.len = 0;
        }
        let list = self.by_sql.entry(sql.to_string()).or_default();
        let before = list.len();
        list.retain(|e| e.param_oids != param_oids);
        self.len -= before - list.len();
        list.push(Entry {
            param_oids: param_oids.to_vec(),
            stmt,
            catalog_version: cx.catalog_version,
            settings_gen: cx.settings_gen,
            search_path: cx.search_path.to_vec(),
        });
        self.len += 1;
    }
}
