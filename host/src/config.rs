//! The daemon's configuration: one TOML file, read in two phases.
//!
//! [`RawConfig`] mirrors the file exactly (unknown keys are refused, so a typo never passes silently);
//! [`Config::from_toml_str`] validates it into the runtime [`Config`], whose parts are ready to use.
//! Every key is documented in `examples/sluice.toml`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::change::TableName;
use crate::sink::partitioner::{PartitionPolicy, Partitioning};
use crate::source::position::BinlogPosition;

/// Why a configuration could not be used. Each message names the key or file to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file `{path}` is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("config key `{key}` names environment variable `{variable}`, which is not set")]
    MissingEnv { key: String, variable: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub source: RawSource,
    pub kafka: RawKafka,
    pub checkpoint: RawCheckpoint,
    #[serde(default)]
    pub pipeline: RawPipeline,
    #[serde(default)]
    pub snapshot: RawSnapshot,
    #[serde(default)]
    pub plugins: Vec<RawPlugin>,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub ddl: RawDdl,
}

/// `[ddl]`: what happens to DDL statements of the captured tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDdl {
    /// The decision before any `ddl-policy` plugin: `ignore` (default) or `forward`.
    #[serde(default)]
    pub default: DdlDefault,
    /// The topic of forwarded DDL records; default: the table's mapped topic, else `kafka.topic`.
    pub topic: Option<String>,
    /// When a captured table is renamed to a name `source.tables` does not select: `follow` (default)
    /// keeps capturing it under the new name, `stop` stops capturing it.
    #[serde(default)]
    pub on_rename: OnRename,
}

/// `ddl.default`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DdlDefault {
    /// Publish nothing for a DDL statement unless a plugin forwards it.
    #[default]
    Ignore,
    /// Publish every DDL statement of the captured tables as a DTS `DDL` record unless a plugin says
    /// otherwise.
    Forward,
}

/// `ddl.on_rename`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRename {
    #[default]
    Follow,
    Stop,
}

/// The validated `[ddl]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DdlConfig {
    pub default: DdlDefault,
    pub topic: Option<String>,
    pub on_rename: OnRename,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Serve `/metrics` (Prometheus text), `/health` and `/ready` over HTTP.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The address to listen on. Loopback by default: expose it deliberately.
    #[serde(default = "default_metrics_address")]
    pub address: String,
    /// `/ready` answers 503 while the stream is further behind the source than this.
    #[serde(default = "default_ready_max_lag_seconds")]
    pub ready_max_lag_seconds: u64,
}

fn default_ready_max_lag_seconds() -> u64 {
    crate::metrics::DEFAULT_READY_MAX_LAG_SECONDS as u64
}

impl Default for RawMetrics {
    fn default() -> Self {
        Self {
            enabled: true,
            address: default_metrics_address(),
            ready_max_lag_seconds: default_ready_max_lag_seconds(),
        }
    }
}

/// When sluice snapshots the captured tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMode {
    /// Snapshot the selected tables when there is no checkpoint yet, then stream.
    Initial,
    /// Only stream.
    Never,
    /// Snapshot, then exit once every snapshot row is acknowledged.
    InitialOnly,
    /// Like `initial`, and snapshot again when the checkpointed position is no longer on the server.
    WhenNeeded,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnapshot {
    /// `initial` (default), `never`, `initial_only` or `when_needed`.
    #[serde(default = "default_snapshot_mode")]
    pub mode: SnapshotMode,
    /// Rows per chunk; each chunk is one short read-only transaction and one checkpoint step.
    #[serde(default = "default_chunk_size")]
    pub chunk_size: usize,
    /// Tables snapshotted at the same time, each over its own connection.
    #[serde(default = "default_parallel_tables")]
    pub parallel_tables: usize,
    /// On a server without a lock-free consistent point (MySQL), allow a brief global read lock
    /// (FLUSH TABLES WITH READ LOCK, needs RELOAD) per chunk. Off by default.
    #[serde(default)]
    pub allow_global_lock: bool,
    /// A `database.table` whose inserted rows ask for a re-snapshot of the table named in their
    /// `target` column, e.g. `INSERT INTO ops.sluice_signal (target) VALUES ('shop.orders')`.
    pub signal_table: Option<String>,
}

impl Default for RawSnapshot {
    fn default() -> Self {
        Self {
            mode: default_snapshot_mode(),
            chunk_size: default_chunk_size(),
            parallel_tables: default_parallel_tables(),
            allow_global_lock: false,
            signal_table: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Host name or address of the MySQL/MariaDB server.
    pub host: String,
    /// TCP port; 3306 by default.
    #[serde(default = "default_mysql_port")]
    pub port: u16,
    /// User with REPLICATION SLAVE, REPLICATION CLIENT and SELECT.
    pub user: String,
    /// The password, inline. Prefer `password_env` or `password_file`.
    pub password: Option<String>,
    /// Name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// Path of a file holding the password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// The replica server id sluice registers with; unique among the server's replicas.
    pub server_id: u32,
    /// Tables to capture, as `database.table` patterns where `*` matches any run of characters.
    pub tables: Vec<String>,
    /// Tables not to capture although `tables` selects them, as the same patterns.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    /// Where to start when there is no checkpoint: `current` (the server's current binlog end),
    /// `earliest` (the oldest binlog the server still has), or a position `mysql-bin.000003:4`.
    #[serde(default = "default_start")]
    pub start: String,
    /// Longest wait between two connection attempts, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub reconnect_max_backoff_ms: u64,
    /// TLS to the server (`[source.tls]`); see [`crate::security`].
    pub tls: Option<crate::security::RawSourceTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafka {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// The topic for changes a plugin does not route elsewhere.
    pub topic: String,
    /// Create a topic that does not exist yet when the first message for it is sent.
    #[serde(default = "default_true")]
    pub create_topics: bool,
    /// Partitions of a topic sluice creates.
    #[serde(default = "default_topic_partitions")]
    pub topic_partitions: i32,
    /// Replication factor of a topic sluice creates.
    #[serde(default = "default_topic_replication")]
    pub topic_replication: i32,
    /// `at_least_once` (default), `exactly_once` or `transactional`.
    #[serde(default)]
    pub delivery: Delivery,
    /// `transactional` only: the producer's `transactional.id` (default `sluice-<source.server_id>`).
    pub transactional_id: Option<String>,
    /// `transactional` only: the topic the checkpoint is committed to, inside each transaction.
    #[serde(default = "default_checkpoint_topic")]
    pub checkpoint_topic: String,
    /// Raw librdkafka producer properties, passed through unchanged (they win over sluice's own).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// What to do with a message larger than the producer accepts (`message.max.bytes`): `fail`
    /// (default: stop without advancing the checkpoint) or `dead_letter`.
    #[serde(default)]
    pub oversized_message: OversizedPolicyName,
    /// The topic of `oversized_message = "dead_letter"`: it receives the record without its column
    /// values, under the original key.
    pub oversized_dead_letter_topic: Option<String>,
    /// How messages spread over a topic's partitions: `primary_key` (default), `table`, `single`, or
    /// `{ columns = ["column", ...] }`.
    #[serde(default)]
    pub partitioning: RawPartitioning,
    /// Per-table policies by `database.table`, winning over `partitioning`.
    #[serde(default)]
    pub partitioning_by_table: BTreeMap<String, RawPartitioning>,
    /// SASL authentication (`[kafka.sasl]`); see [`crate::security`].
    pub sasl: Option<crate::security::RawKafkaSasl>,
    /// TLS to the brokers (`[kafka.tls]`); see [`crate::security`].
    pub tls: Option<crate::security::RawKafkaTls>,
}

/// A partitioning policy as written: a name, or the columns to hash.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "a partitioning policy: \"primary_key\", \"table\", \"single\" or { columns = [\"column\", ...] }"
)]
pub enum RawPartitioning {
    Named(PartitioningName),
    Columns(RawPartitionColumns),
}

impl Default for RawPartitioning {
    fn default() -> Self {
        RawPartitioning::Named(PartitioningName::PrimaryKey)
    }
}

/// The policies with a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitioningName {
    PrimaryKey,
    Table,
    Single,
}

/// `{ columns = [...] }`: hash these columns' values.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPartitionColumns {
    pub columns: Vec<String>,
}

impl RawPartitioning {
    /// The policy, or why it is not one (`setting` names where it was written).
    fn validate(self, setting: &str) -> Result<PartitionPolicy, ConfigError> {
        Ok(match self {
            RawPartitioning::Named(PartitioningName::PrimaryKey) => PartitionPolicy::PrimaryKey,
            RawPartitioning::Named(PartitioningName::Table) => PartitionPolicy::Table,
            RawPartitioning::Named(PartitioningName::Single) => PartitionPolicy::Single,
            RawPartitioning::Columns(RawPartitionColumns { columns }) => {
                if columns.is_empty() || columns.iter().any(|column| column.trim().is_empty()) {
                    return Err(invalid(setting, "`columns` must name at least one column, none empty"));
                }
                PartitionPolicy::Columns(columns)
            }
        })
    }
}

/// `kafka.oversized_message` as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OversizedPolicyName {
    #[default]
    Fail,
    DeadLetter,
}

/// What happens to a message larger than the producer accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OversizedPolicy {
    /// Stop the pipeline with an error naming the table, position, size and limit.
    Fail,
    /// Publish the record without its column values to `topic`, with a header saying why, and go on.
    DeadLetter { topic: String },
}

/// What a crash may do to the topics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Nothing lost; after a crash, what was sent since the last checkpoint is sent again.
    #[default]
    AtLeastOnce,
    /// Nothing lost and no binlog change doubled: on start, what each partition already holds is
    /// read back from its tail and skipped (`sink::exactly_once`).
    ExactlyOnce,
    /// Kafka transactions: the messages and the checkpoint are committed together, so `read_committed`
    /// consumers see every change once (`sink::transactional`). Needs a broker with transactions.
    Transactional,
}

fn default_checkpoint_topic() -> String {
    "sluice.checkpoints".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckpoint {
    /// The file holding the last acknowledged source position. Written atomically.
    pub path: PathBuf,
    /// How often the checkpoint file is rewritten while changes flow, in milliseconds.
    #[serde(default = "default_checkpoint_interval_ms")]
    pub interval_ms: u64,
    /// The schema history file; default: beside `path`, `<stem>.schema-history.json`.
    pub schema_history_path: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// Most changes in one batch (one plugin call, one encoder pass).
    #[serde(default = "default_batch_max_changes")]
    pub batch_max_changes: usize,
    /// Batches that may wait between two stages; bounds memory.
    #[serde(default = "default_channel_capacity")]
    pub channel_capacity: usize,
    /// Messages sent to Kafka but not yet acknowledged, at most.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Where compiled plugins are cached; default: `plugin-cache` beside the checkpoint file.
    pub plugin_cache_dir: Option<PathBuf>,
    /// Publish a DTS `HEARTBEAT` record to `kafka.topic` this often, in milliseconds; off when absent.
    pub heartbeat_interval_ms: Option<u64>,
    /// After SIGTERM/SIGINT, how long draining may take before the daemon gives up on what Kafka has
    /// not acknowledged and exits with code 6, in milliseconds.
    #[serde(default = "default_shutdown_timeout_ms")]
    pub shutdown_timeout_ms: u64,
}

impl Default for RawPipeline {
    fn default() -> Self {
        Self {
            batch_max_changes: default_batch_max_changes(),
            channel_capacity: default_channel_capacity(),
            max_in_flight: default_max_in_flight(),
            plugin_cache_dir: None,
            heartbeat_interval_ms: None,
            shutdown_timeout_ms: default_shutdown_timeout_ms(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    /// A short name used in logs and record tags.
    pub name: String,
    /// The component file (`.wasm`), relative to the config file's directory unless absolute.
    pub path: PathBuf,
    /// Passed to the plugin's `init`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// CPU time one call may take before it traps, in milliseconds.
    #[serde(default = "default_cpu_budget_ms")]
    pub cpu_budget_ms: u64,
    /// Linear memory one instance may use, in MiB.
    #[serde(default = "default_memory_limit_mib")]
    pub memory_limit_mib: usize,
    /// What happens to changes the plugin traps or fails on: `halt`, `skip` or `dead_letter`.
    #[serde(default)]
    pub on_failure: RawFailurePolicy,
    /// The topic of `on_failure = "dead_letter"`.
    pub dead_letter_topic: Option<String>,
    /// Load a new version when the file changes.
    #[serde(default = "default_true")]
    pub reload: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawFailurePolicy {
    #[default]
    Halt,
    Skip,
    DeadLetter,
}

fn default_snapshot_mode() -> SnapshotMode {
    SnapshotMode::Initial
}
fn default_chunk_size() -> usize {
    10_000
}
fn default_parallel_tables() -> usize {
    2
}
fn default_true() -> bool {
    true
}
fn default_topic_partitions() -> i32 {
    1
}
fn default_topic_replication() -> i32 {
    1
}
fn default_mysql_port() -> u16 {
    3306
}
fn default_start() -> String {
    "current".into()
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_checkpoint_interval_ms() -> u64 {
    1_000
}
fn default_batch_max_changes() -> usize {
    1_024
}
fn default_channel_capacity() -> usize {
    16
}
fn default_max_in_flight() -> usize {
    20_000
}
fn default_shutdown_timeout_ms() -> u64 {
    30_000
}
fn default_cpu_budget_ms() -> u64 {
    1_000
}
fn default_memory_limit_mib() -> usize {
    256
}
fn default_metrics_address() -> String {
    "127.0.0.1:9187".into()
}

/// A password or other secret. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is handed to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where to start reading when no checkpoint exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    Current,
    Earliest,
    At(BinlogPosition),
}

impl fmt::Display for StartPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPosition::Current => f.write_str("current"),
            StartPosition::Earliest => f.write_str("earliest"),
            StartPosition::At(position) => write!(f, "{position}"),
        }
    }
}

/// A `database.table` pattern where `*` matches any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePattern {
    text: String,
}

impl TablePattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((database, table)) = text.split_once('.') else {
            return Err(format!("table pattern `{text}` is not of the form `database.table`"));
        };
        if database.is_empty() || table.is_empty() {
            return Err(format!("table pattern `{text}` has an empty database or table part"));
        }
        Ok(Self { text: text.to_owned() })
    }

    /// The database part when it names one database (no `*`), e.g. `shop` of `shop.order*`.
    pub fn literal_database(&self) -> Option<&str> {
        let (database, _) = self.text.split_once('.')?;
        (!database.contains('*')).then_some(database)
    }

    pub fn matches(&self, database: &str, table: &str) -> bool {
        let mut name = String::with_capacity(database.len() + table.len() + 1);
        name.push_str(database);
        name.push('.');
        name.push_str(table);
        wildcard_match(self.text.as_bytes(), name.as_bytes())
    }
}

impl fmt::Display for TablePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Matches `text` against `pattern`, where `*` in the pattern matches any run of bytes.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

/// The validated source settings.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub server_id: u32,
    pub tables: Vec<TablePattern>,
    /// Tables `tables` selects that are not captured all the same.
    pub exclude_tables: Vec<TablePattern>,
    pub start: StartPosition,
    pub reconnect_max_backoff_ms: u64,
    /// TLS to the server; plaintext when `None`.
    pub tls: Option<crate::security::SourceTls>,
}

impl SourceConfig {
    /// Whether a change of this table is captured: `tables` selects it and `exclude_tables` does not.
    pub fn captures(&self, database: &str, table: &str) -> bool {
        self.tables.iter().any(|pattern| pattern.matches(database, table))
            && !self
                .exclude_tables
                .iter()
                .any(|pattern| pattern.matches(database, table))
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    pub topic: String,
    pub create_topics: bool,
    pub topic_partitions: i32,
    pub topic_replication: i32,
    pub delivery: Delivery,
    /// Set when `delivery` is `transactional`.
    pub transactional_id: Option<String>,
    pub checkpoint_topic: String,
    pub options: BTreeMap<String, String>,
    pub oversized: OversizedPolicy,
    /// Which partition each message goes to (see [`crate::sink::partitioner`]).
    pub partitioning: Partitioning,
    /// SASL and TLS, applied to every Kafka client by `sink::kafka::client_config`.
    pub security: crate::security::KafkaSecurity,
}

#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    pub path: PathBuf,
    pub interval_ms: u64,
    /// The schema history file.
    pub schema_history_path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub batch_max_changes: usize,
    pub channel_capacity: usize,
    pub max_in_flight: usize,
    pub plugin_cache_dir: PathBuf,
    /// How often a DTS `HEARTBEAT` record is published; `None` for never.
    pub heartbeat_interval: Option<std::time::Duration>,
    /// How long a requested shutdown may take to drain.
    pub shutdown_timeout: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct SnapshotConfig {
    pub mode: SnapshotMode,
    pub chunk_size: usize,
    pub parallel_tables: usize,
    pub allow_global_lock: bool,
    pub signal_table: Option<TableName>,
}

#[derive(Debug, Clone)]
pub struct PluginConfig {
    pub name: String,
    pub path: PathBuf,
    pub config: BTreeMap<String, String>,
    pub limits: crate::plugin::PluginLimits,
    pub on_failure: crate::plugin::FailurePolicy,
    pub reload: bool,
}

impl PluginConfig {
    /// A plugin outside the daemon (`sluice plugin test`, benchmarks): default limits, halting on
    /// failure, no reload.
    pub fn fixed(name: impl Into<String>, path: impl Into<PathBuf>, config: BTreeMap<String, String>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            config,
            limits: crate::plugin::PluginLimits::default(),
            on_failure: crate::plugin::FailurePolicy::Halt,
            reload: false,
        }
    }
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: SourceConfig,
    pub kafka: KafkaConfig,
    pub checkpoint: CheckpointConfig,
    pub pipeline: PipelineConfig,
    pub snapshot: SnapshotConfig,
    pub plugins: Vec<PluginConfig>,
    /// Where metrics are served; `None` when disabled.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// `/ready` needs the source lag under this.
    pub ready_max_lag_seconds: u64,
    /// Record the changes entering the plugin chain to this file (`sluice run --record`).
    pub record_changes: Option<PathBuf>,
    pub ddl: DdlConfig,
}

impl Config {
    /// Reads and validates a config file. Relative paths in it are taken from the file's directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml_str(&text, base).map_err(|error| match error {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Validates config text; relative paths are taken from `base`.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: error.to_string().trim_end().to_owned(),
        })?;
        Self::validate(raw, base)
    }

    fn validate(raw: RawConfig, base: &Path) -> Result<Self, ConfigError> {
        let source = validate_source(raw.source, base)?;
        if raw.kafka.bootstrap_servers.trim().is_empty() {
            return Err(invalid(
                "kafka.bootstrap_servers",
                "must name at least one broker, e.g. `127.0.0.1:9092`",
            ));
        }
        if raw.kafka.topic.trim().is_empty() {
            return Err(invalid("kafka.topic", "must not be empty"));
        }
        if raw.kafka.topic_partitions < 1 {
            return Err(invalid("kafka.topic_partitions", "must be at least 1"));
        }
        if raw.kafka.topic_replication < 1 {
            return Err(invalid("kafka.topic_replication", "must be at least 1"));
        }
        let pipeline = raw.pipeline;
        if pipeline.batch_max_changes == 0 {
            return Err(invalid("pipeline.batch_max_changes", "must be at least 1"));
        }
        if pipeline.channel_capacity == 0 {
            return Err(invalid("pipeline.channel_capacity", "must be at least 1"));
        }
        if pipeline.max_in_flight == 0 {
            return Err(invalid("pipeline.max_in_flight", "must be at least 1"));
        }
        if pipeline.heartbeat_interval_ms == Some(0) {
            return Err(invalid(
                "pipeline.heartbeat_interval_ms",
                "must be at least 1; leave it out to publish no heartbeats",
            ));
        }
        if pipeline.shutdown_timeout_ms == 0 {
            return Err(invalid("pipeline.shutdown_timeout_ms", "must be at least 1"));
        }
        let oversized = match (raw.kafka.oversized_message, raw.kafka.oversized_dead_letter_topic) {
            (OversizedPolicyName::DeadLetter, Some(topic)) if !topic.trim().is_empty() => {
                OversizedPolicy::DeadLetter { topic }
            }
            (OversizedPolicyName::DeadLetter, _) => {
                return Err(invalid(
                    "kafka.oversized_dead_letter_topic",
                    "`oversized_message = \"dead_letter\"` needs the topic to publish oversized records to",
                ));
            }
            (OversizedPolicyName::Fail, Some(_)) => {
                return Err(invalid(
                    "kafka.oversized_dead_letter_topic",
                    "is only used with `oversized_message = \"dead_letter\"`",
                ));
            }
            (OversizedPolicyName::Fail, None) => OversizedPolicy::Fail,
        };
        let snapshot = raw.snapshot;
        if snapshot.chunk_size == 0 {
            return Err(invalid("snapshot.chunk_size", "must be at least 1"));
        }
        if snapshot.parallel_tables == 0 {
            return Err(invalid("snapshot.parallel_tables", "must be at least 1"));
        }
        let signal_table = match snapshot.signal_table {
            None => None,
            Some(text) => match text.split_once('.') {
                Some((database, table)) if !database.is_empty() && !table.is_empty() && !text.contains('*') => {
                    Some(TableName::new(database, table))
                }
                _ => {
                    return Err(invalid(
                        "snapshot.signal_table",
                        format!("`{text}` is not a `database.table` name"),
                    ));
                }
            },
        };
        let checkpoint_path = base.join(&raw.checkpoint.path);
        let metrics_address = if raw.metrics.enabled {
            let address = raw.metrics.address.parse().map_err(|_| {
                invalid(
                    "metrics.address",
                    format!("`{}` is not an `ip:port` address", raw.metrics.address),
                )
            })?;
            Some(address)
        } else {
            None
        };
        let mut plugins = Vec::with_capacity(raw.plugins.len());
        for (index, plugin) in raw.plugins.into_iter().enumerate() {
            if plugin.name.trim().is_empty() {
                return Err(invalid(&format!("plugins[{index}].name"), "must not be empty"));
            }
            if plugins.iter().any(|known: &PluginConfig| known.name == plugin.name) {
                return Err(invalid(
                    &format!("plugins[{index}].name"),
                    format!("plugin name `{}` is used twice; names must be unique", plugin.name),
                ));
            }
            let key = |name: &str| format!("plugins[{index}].{name}");
            if plugin.cpu_budget_ms == 0 {
                return Err(invalid(&key("cpu_budget_ms"), "must be at least 1"));
            }
            if plugin.memory_limit_mib == 0 {
                return Err(invalid(&key("memory_limit_mib"), "must be at least 1"));
            }
            let on_failure = match (plugin.on_failure, plugin.dead_letter_topic) {
                (RawFailurePolicy::DeadLetter, Some(topic)) if !topic.trim().is_empty() => {
                    crate::plugin::FailurePolicy::DeadLetter { topic }
                }
                (RawFailurePolicy::DeadLetter, _) => {
                    return Err(invalid(
                        &key("dead_letter_topic"),
                        "`on_failure = \"dead_letter\"` needs the topic to publish failed changes to",
                    ));
                }
                (_, Some(_)) => {
                    return Err(invalid(
                        &key("dead_letter_topic"),
                        "is only used with `on_failure = \"dead_letter\"`",
                    ));
                }
                (RawFailurePolicy::Halt, None) => crate::plugin::FailurePolicy::Halt,
                (RawFailurePolicy::Skip, None) => crate::plugin::FailurePolicy::Skip,
            };
            plugins.push(PluginConfig {
                name: plugin.name,
                path: base.join(plugin.path),
                config: plugin.config,
                limits: crate::plugin::PluginLimits {
                    cpu_budget: std::time::Duration::from_millis(plugin.cpu_budget_ms),
                    memory_bytes: plugin.memory_limit_mib << 20,
                },
                on_failure,
                reload: plugin.reload,
            });
        }
        let security =
            crate::security::KafkaSecurity::validate(raw.kafka.sasl, raw.kafka.tls, &raw.kafka.options, base)?;
        let transactional_id = (raw.kafka.delivery == Delivery::Transactional).then(|| {
            raw.kafka
                .transactional_id
                .clone()
                .unwrap_or_else(|| format!("sluice-{}", source.server_id))
        });
        let mut partitioning = Partitioning {
            default: raw.kafka.partitioning.validate("kafka.partitioning")?,
            by_table: Default::default(),
        };
        for (name, policy) in raw.kafka.partitioning_by_table {
            let setting = format!("kafka.partitioning_by_table.\"{name}\"");
            let table = match name.split_once('.') {
                Some((database, table)) if !database.is_empty() && !table.is_empty() && !name.contains('*') => {
                    TableName::new(database, table)
                }
                _ => return Err(invalid(&setting, format!("`{name}` is not a `database.table` name"))),
            };
            partitioning.by_table.insert(table, policy.validate(&setting)?);
        }
        Ok(Self {
            source,
            kafka: KafkaConfig {
                bootstrap_servers: raw.kafka.bootstrap_servers,
                topic: raw.kafka.topic,
                create_topics: raw.kafka.create_topics,
                topic_partitions: raw.kafka.topic_partitions,
                topic_replication: raw.kafka.topic_replication,
                delivery: raw.kafka.delivery,
                transactional_id,
                checkpoint_topic: raw.kafka.checkpoint_topic,
                options: raw.kafka.options,
                oversized,
                partitioning,
                security,
            },
            checkpoint: CheckpointConfig {
                path: checkpoint_path.clone(),
                interval_ms: raw.checkpoint.interval_ms,
                schema_history_path: match raw.checkpoint.schema_history_path {
                    Some(path) => base.join(path),
                    None => crate::source::schema_history::default_path(&checkpoint_path),
                },
            },
            pipeline: PipelineConfig {
                batch_max_changes: pipeline.batch_max_changes,
                channel_capacity: pipeline.channel_capacity,
                max_in_flight: pipeline.max_in_flight,
                heartbeat_interval: pipeline.heartbeat_interval_ms.map(std::time::Duration::from_millis),
                shutdown_timeout: std::time::Duration::from_millis(pipeline.shutdown_timeout_ms),
                plugin_cache_dir: match pipeline.plugin_cache_dir {
                    Some(directory) => base.join(directory),
                    None => checkpoint_path
                        .parent()
                        .map_or_else(|| PathBuf::from("plugin-cache"), |parent| parent.join("plugin-cache")),
                },
            },
            snapshot: SnapshotConfig {
                mode: snapshot.mode,
                chunk_size: snapshot.chunk_size,
                parallel_tables: snapshot.parallel_tables,
                allow_global_lock: snapshot.allow_global_lock,
                signal_table,
            },
            plugins,
            metrics_address,
            ready_max_lag_seconds: raw.metrics.ready_max_lag_seconds,
            record_changes: None,
            ddl: DdlConfig {
                default: raw.ddl.default,
                topic: match raw.ddl.topic {
                    Some(topic) if topic.trim().is_empty() => {
                        return Err(invalid("ddl.topic", "must not be empty (leave it out for the default)"));
                    }
                    topic => topic,
                },
                on_rename: raw.ddl.on_rename,
            },
        })
    }
}

/// The secret of a `password` / `password_env` / `password_file` triple in `section` (at most one may
/// be set); `None` when none is. A file's trailing newline is ignored.
pub(crate) fn resolve_secret(
    section: &str,
    inline: Option<String>,
    variable: Option<String>,
    file: Option<PathBuf>,
    base: &Path,
) -> Result<Option<Secret>, ConfigError> {
    let given = [inline.is_some(), variable.is_some(), file.is_some()];
    if given.iter().filter(|&&set| set).count() > 1 {
        return Err(invalid(
            &format!("{section}.password"),
            "set only one of `password`, `password_env` and `password_file`",
        ));
    }
    if let Some(password) = inline {
        Ok(Some(Secret::new(password)))
    } else if let Some(variable) = variable {
        let value = std::env::var(&variable).map_err(|_| ConfigError::MissingEnv {
            key: format!("{section}.password_env"),
            variable: variable.clone(),
        })?;
        Ok(Some(Secret::new(value)))
    } else if let Some(path) = file {
        let path = base.join(path);
        let value = std::fs::read_to_string(&path).map_err(|error| {
            invalid(
                &format!("{section}.password_file"),
                format!("cannot read `{}`: {error}", path.display()),
            )
        })?;
        Ok(Some(Secret::new(value.trim_end_matches(['\r', '\n']))))
    } else {
        Ok(None)
    }
}

fn validate_source(raw: RawSource, base: &Path) -> Result<SourceConfig, ConfigError> {
    let password = resolve_secret("source", raw.password, raw.password_env, raw.password_file, base)?;
    if raw.server_id == 0 {
        return Err(invalid(
            "source.server_id",
            "must be a non-zero id unique among the server's replicas",
        ));
    }
    if raw.tables.is_empty() {
        return Err(invalid(
            "source.tables",
            "name at least one `database.table` pattern, e.g. `shop.*`",
        ));
    }
    let tables = raw
        .tables
        .iter()
        .map(|text| TablePattern::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| invalid("source.tables", message))?;
    let exclude_tables = raw
        .exclude_tables
        .iter()
        .map(|text| TablePattern::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| invalid("source.exclude_tables", message))?;
    let start = match raw.start.as_str() {
        "current" => StartPosition::Current,
        "earliest" => StartPosition::Earliest,
        position => StartPosition::At(position.parse().map_err(|error| {
            invalid(
                "source.start",
                format!("expected `current`, `earliest` or a binlog position: {error}"),
            )
        })?),
    };
    Ok(SourceConfig {
        host: raw.host,
        port: raw.port,
        user: raw.user,
        password,
        server_id: raw.server_id,
        tables,
        exclude_tables,
        start,
        reconnect_max_backoff_ms: raw.reconnect_max_backoff_ms.max(1),
        tls: raw
            .tls
            .map(|tls| crate::security::SourceTls::validate(tls, base))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [source]
        host = "127.0.0.1"
        user = "sluice"
        password = "pw"
        server_id = 7
        tables = ["shop.*"]

        [kafka]
        bootstrap_servers = "127.0.0.1:9092"
        topic = "changes"

        [checkpoint]
        path = "state/checkpoint.json"
    "#;

    #[test]
    fn minimal_config_gets_defaults_and_resolves_paths() {
        let config = Config::from_toml_str(MINIMAL, Path::new("/etc/sluice")).unwrap();
        assert_eq!(config.source.port, 3306);
        assert_eq!(config.source.start, StartPosition::Current);
        assert_eq!(
            config.checkpoint.path,
            PathBuf::from("/etc/sluice/state/checkpoint.json")
        );
        assert_eq!(config.pipeline.batch_max_changes, 1024);
        assert!(config.source.captures("shop", "orders"));
        assert!(!config.source.captures("crm", "orders"));
    }

    #[test]
    fn snapshot_settings_default_to_an_initial_snapshot() {
        let config = Config::from_toml_str(MINIMAL, Path::new(".")).unwrap();
        assert_eq!(config.snapshot.mode, SnapshotMode::Initial);
        let text = format!("{MINIMAL}\n[snapshot]\nmode = \"when_needed\"\nsignal_table = \"ops.signal\"\n");
        let config = Config::from_toml_str(&text, Path::new(".")).unwrap();
        assert_eq!(config.snapshot.mode, SnapshotMode::WhenNeeded);
        assert_eq!(config.snapshot.signal_table, Some(TableName::new("ops", "signal")));
        let text = format!("{MINIMAL}\n[snapshot]\nmode = \"sometimes\"\n");
        assert!(
            Config::from_toml_str(&text, Path::new("."))
                .unwrap_err()
                .to_string()
                .contains("sometimes")
        );
    }

    #[test]
    fn partitioning_defaults_to_the_primary_key_and_takes_names_columns_and_table_overrides() {
        let config = Config::from_toml_str(MINIMAL, Path::new(".")).unwrap();
        assert_eq!(config.kafka.partitioning, Partitioning::default());
        assert_eq!(config.kafka.partitioning.default, PartitionPolicy::PrimaryKey);
        let with = |lines: &str| MINIMAL.replace("topic = \"changes\"", &format!("topic = \"changes\"\n{lines}"));
        let config = Config::from_toml_str(
            &with(
                "partitioning = \"table\"\n\
                 partitioning_by_table = { \"shop.orders\" = { columns = [\"customer_id\", \"region\"] }, \"shop.audit\" = \"single\" }",
            ),
            Path::new("."),
        )
        .unwrap();
        let partitioning = &config.kafka.partitioning;
        assert_eq!(partitioning.default, PartitionPolicy::Table);
        assert_eq!(
            partitioning.policy(&TableName::new("shop", "orders")),
            &PartitionPolicy::Columns(vec!["customer_id".into(), "region".into()])
        );
        assert_eq!(
            partitioning.policy(&TableName::new("shop", "audit")),
            &PartitionPolicy::Single
        );
        assert_eq!(
            partitioning.policy(&TableName::new("shop", "items")),
            &PartitionPolicy::Table
        );

        for (lines, expected) in [
            ("partitioning = \"tables\"", "a partitioning policy"),
            ("partitioning = { columns = [] }", "kafka.partitioning"),
            ("partitioning = { column = [\"id\"] }", "a partitioning policy"),
            (
                "partitioning_by_table = { \"orders\" = \"single\" }",
                "`orders` is not a `database.table` name",
            ),
        ] {
            let error = Config::from_toml_str(&with(lines), Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{lines}: {error}");
        }
    }

    #[test]
    fn delivery_settings_default_to_failing_and_no_heartbeats() {
        let config = Config::from_toml_str(MINIMAL, Path::new(".")).unwrap();
        assert_eq!(config.kafka.oversized, OversizedPolicy::Fail);
        assert_eq!(config.pipeline.heartbeat_interval, None);
        assert_eq!(config.pipeline.shutdown_timeout, std::time::Duration::from_secs(30));
        let text = MINIMAL.replace(
            "topic = \"changes\"",
            "topic = \"changes\"\noversized_message = \"dead_letter\"\noversized_dead_letter_topic = \"big\"",
        ) + "\n[pipeline]\nheartbeat_interval_ms = 500\nshutdown_timeout_ms = 2000\n";
        let config = Config::from_toml_str(&text, Path::new(".")).unwrap();
        assert_eq!(
            config.kafka.oversized,
            OversizedPolicy::DeadLetter { topic: "big".into() }
        );
        assert_eq!(
            config.pipeline.heartbeat_interval,
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(config.pipeline.shutdown_timeout, std::time::Duration::from_secs(2));
        let no_topic = MINIMAL.replace(
            "topic = \"changes\"",
            "topic = \"changes\"\noversized_message = \"dead_letter\"",
        );
        let error = Config::from_toml_str(&no_topic, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(error.contains("kafka.oversized_dead_letter_topic"), "{error}");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let text = MINIMAL.replace("server_id = 7", "server_id = 7\nserverid = 8");
        let error = Config::from_toml_str(&text, Path::new(".")).unwrap_err().to_string();
        assert!(error.contains("unknown field `serverid`"), "{error}");
    }

    #[test]
    fn a_bad_start_position_names_the_key() {
        let text = MINIMAL.replace("tables = [\"shop.*\"]", "tables = [\"shop.*\"]\nstart = \"mysql-bin\"");
        let error = Config::from_toml_str(&text, Path::new(".")).unwrap_err().to_string();
        assert!(error.starts_with("config key `source.start`"), "{error}");
    }

    #[test]
    fn explicit_start_position_is_parsed() {
        let text = MINIMAL.replace(
            "tables = [\"shop.*\"]",
            "tables = [\"shop.*\"]\nstart = \"mysql-bin.000002:1234\"",
        );
        let config = Config::from_toml_str(&text, Path::new(".")).unwrap();
        assert_eq!(
            config.source.start,
            StartPosition::At(BinlogPosition::new("mysql-bin.000002", 1234))
        );
    }

    #[test]
    fn a_missing_password_variable_is_named() {
        let text = MINIMAL.replace(
            "password = \"pw\"",
            "password_env = \"SLUICE_TEST_SURELY_UNSET_VARIABLE\"",
        );
        let error = Config::from_toml_str(&text, Path::new(".")).unwrap_err().to_string();
        assert!(error.contains("SLUICE_TEST_SURELY_UNSET_VARIABLE"), "{error}");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = Config::from_toml_str(MINIMAL, Path::new(".")).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("\"pw\""), "{debug}");
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn the_documented_example_config_is_accepted() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sluice.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let raw: RawConfig = toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        assert_eq!(raw.plugins.len(), 1);
        let inline = text.replace("password_env = \"SLUICE_MYSQL_PASSWORD\"", "password = \"x\"");
        let config = Config::from_toml_str(&inline, Path::new("/etc/sluice")).unwrap();
        assert_eq!(
            config.plugins[0].path,
            PathBuf::from("/etc/sluice/plugins/route_by_table.wasm")
        );
        assert_eq!(
            config.kafka.options.get("compression.type").map(String::as_str),
            Some("lz4")
        );
    }

    #[test]
    fn excluded_tables_are_not_captured_though_selected() {
        let text = MINIMAL.replace(
            "tables = [\"shop.*\"]",
            "tables = [\"shop.*\"]\nexclude_tables = [\"shop.audit_*\"]",
        );
        let config = Config::from_toml_str(&text, Path::new(".")).unwrap();
        assert!(config.source.captures("shop", "orders"));
        assert!(!config.source.captures("shop", "audit_log"));
        let text = MINIMAL.replace(
            "tables = [\"shop.*\"]",
            "tables = [\"shop.*\"]\nexclude_tables = [\"nodot\"]",
        );
        let error = Config::from_toml_str(&text, Path::new(".")).unwrap_err().to_string();
        assert!(error.contains("source.exclude_tables"), "{error}");
    }

    #[test]
    fn table_patterns_match_with_wildcards() {
        let pattern = TablePattern::parse("shop.order*").unwrap();
        assert!(pattern.matches("shop", "orders"));
        assert!(pattern.matches("shop", "order"));
        assert!(!pattern.matches("shop", "customers"));
        assert!(!pattern.matches("shopx", "orders"));
        let any = TablePattern::parse("*.*_log").unwrap();
        assert!(any.matches("a", "audit_log"));
        assert!(!any.matches("a", "audit_logs"));
        assert!(TablePattern::parse("nodot").is_err());
        assert_eq!(pattern.literal_database(), Some("shop"));
        assert_eq!(any.literal_database(), None);
    }
}
