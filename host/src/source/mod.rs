//! The source: a MySQL or MariaDB server's binary log, read as a replica would.
//!
//! `connect` reaches the server, `preconditions` checks its settings, `schema` describes captured
//! tables, `decode` gives values their meaning, `row_images` reads a rows event's rows into them, `heartbeat` reads what an idle stream's heartbeats
//! prove, `binlog` turns events into [`crate::change::Change`]s, `ddl` tells what a QUERY event's
//! statement is, `position` names places in the log and `gtid` the same places by transaction id.

pub mod binlog;
pub mod connect;
pub mod ddl;
pub mod decode;
pub mod gtid;
pub mod heartbeat;
pub mod position;
pub mod preconditions;
pub mod row_images;
pub mod schema;
pub mod schema_baseline;
pub mod schema_history;
pub mod snapshot;

use crate::change::TableName;

/// Why the source stopped. Transient errors are retried inside the source; what reaches the caller
/// needs an operator.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot log in to MySQL at {address} as `{user}`: {source}; check source.user and the password setting")]
    Connect {
        address: String,
        user: String,
        source: mysql_async::Error,
    },
    #[error("MySQL query failed while {doing}: {source}")]
    Query {
        doing: &'static str,
        source: mysql_async::Error,
    },
    #[error("the server cannot be streamed from: {0}")]
    Setting(#[from] preconditions::SettingMismatch),
    #[error("table {table} column #{column} has a type sluice cannot decode: {detail}")]
    UnsupportedColumnType {
        table: TableName,
        column: usize,
        detail: String,
    },
    #[error("cannot decode a change of table {table}: {detail}")]
    Decode { table: TableName, detail: String },
    #[error("the binlog stream failed: {0}")]
    Stream(mysql_async::Error),
    #[error("the server has no binary log to start from; is log_bin on?")]
    NoBinlog,
    #[error(
        "the server offers no lock-free consistent snapshot point (binlog_snapshot_file is a MariaDB \
         feature); set snapshot.allow_global_lock = true to allow a brief FLUSH TABLES WITH READ LOCK per chunk, \
         or snapshot.mode = \"never\""
    )]
    NoConsistentPoint,
    #[error(
        "the checkpointed position {position} is no longer on the server (binlog file `{file}` was purged); \
         set snapshot.mode = \"when_needed\" to snapshot the tables again, or delete the checkpoint to start \
         from source.start"
    )]
    PurgedBinlog { position: String, file: String },
    #[error(
        "the checkpointed GTID position {gtid} is no longer on the server (the binlog holding it was purged: \
         the oldest binlog `{oldest_file}` starts after {oldest}); set snapshot.mode = \"when_needed\" to snapshot the tables again, or delete \
         the checkpoint to start from source.start"
    )]
    PurgedGtid {
        gtid: String,
        oldest_file: String,
        oldest: String,
    },
    #[error("schema history `{path}`: {detail}")]
    SchemaHistory { path: std::path::PathBuf, detail: String },
}

impl SourceError {
    /// Wraps a query error with what was being done, for `map_err`.
    pub fn query(doing: &'static str) -> impl FnOnce(mysql_async::Error) -> SourceError {
        move |source| SourceError::Query { doing, source }
    }
}
