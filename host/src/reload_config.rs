//! SIGHUP: the config file read again, and what can change live applied to the running pipeline.
//!
//! `cli` reads and validates the file on each SIGHUP; an invalid file is refused there with its error
//! and the running config stays. A valid one reaches [`run`], which compares it with the config in
//! force ([`compare`]) and applies, without a restart:
//!
//! - **plugins**: a plugin whose `path`, `config`, `cpu_budget_ms` or `memory_limit_mib` changed is
//!   loaded with its new settings (off the hot path, by the same code as at startup) and swapped in
//!   at the next transaction boundary, as a hot reload is; its file watcher follows the new path. A
//!   version that fails to load is refused and the running one stays.
//! - **table selection additions**: new `source.tables` patterns. The binlog reader captures them from
//!   its next transaction boundary on, and the existing tables they newly match are snapshotted while
//!   streaming (the snapshot coordinator's ad-hoc path, as for a signal row): each chunk is published
//!   at its consistent point, so no change of the new table is lost between the two.
//!
//! Everything else (the source address, the brokers, removing a table pattern, adding or removing a
//! plugin, ...) is logged as "needs a restart: <keys>" and ignored.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use tokio::sync::mpsc;

use crate::change::TableName;
use crate::config::{Config, PluginConfig, SnapshotMode, TablePattern};
use crate::metrics::Metrics;
use crate::plugin::chain::{ChainUpdate, load_version};
use crate::plugin::engine::{PluginEngine, content_hash};
use crate::plugin::reload::{self, Reloaded};
use crate::source::binlog::TableAddition;

/// What a new config changes, sorted by what can be applied live.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Chain indexes of plugins whose path or settings changed (same name, same place).
    pub plugins: Vec<usize>,
    /// `source.tables` patterns the new config adds (none removed).
    pub added_tables: Vec<TablePattern>,
    /// Keys whose change needs a restart; they are ignored.
    pub needs_restart: Vec<String>,
}

/// Compares the config in force with a new one.
pub fn compare(old: &Config, new: &Config) -> Changes {
    let mut changes = Changes::default();
    let mut key = |name: &str, differs: bool| {
        if differs {
            changes.needs_restart.push(name.to_owned());
        }
    };
    let (a, b) = (&old.source, &new.source);
    key("source.host", a.host != b.host);
    key("source.port", a.port != b.port);
    key("source.user", a.user != b.user);
    key("source.password", a.password != b.password);
    key("source.server_id", a.server_id != b.server_id);
    key("source.start", a.start != b.start);
    key("source.exclude_tables", a.exclude_tables != b.exclude_tables);
    key("source.tls", a.tls != b.tls);
    key(
        "source.reconnect_max_backoff_ms",
        a.reconnect_max_backoff_ms != b.reconnect_max_backoff_ms,
    );
    let (a, b) = (&old.kafka, &new.kafka);
    key("kafka.bootstrap_servers", a.bootstrap_servers != b.bootstrap_servers);
    key("kafka.topic", a.topic != b.topic);
    key("kafka.create_topics", a.create_topics != b.create_topics);
    key("kafka.topic_partitions", a.topic_partitions != b.topic_partitions);
    key("kafka.topic_replication", a.topic_replication != b.topic_replication);
    key("kafka.delivery", a.delivery != b.delivery);
    key("kafka.transactional_id", a.transactional_id != b.transactional_id);
    key("kafka.checkpoint_topic", a.checkpoint_topic != b.checkpoint_topic);
    key("kafka.options", a.options != b.options);
    key("kafka.oversized_message", a.oversized != b.oversized);
    key("kafka.sasl", a.security.sasl != b.security.sasl);
    key("kafka.tls", a.security.tls != b.security.tls);
    key("kafka.partitioning", a.partitioning != b.partitioning);
    key("checkpoint.path", old.checkpoint.path != new.checkpoint.path);
    key(
        "checkpoint.interval_ms",
        old.checkpoint.interval_ms != new.checkpoint.interval_ms,
    );
    key(
        "checkpoint.schema_history_path",
        old.checkpoint.schema_history_path != new.checkpoint.schema_history_path,
    );
    key("ddl", old.ddl != new.ddl);
    let (a, b) = (&old.pipeline, &new.pipeline);
    key("pipeline.batch_max_changes", a.batch_max_changes != b.batch_max_changes);
    key("pipeline.channel_capacity", a.channel_capacity != b.channel_capacity);
    key("pipeline.max_in_flight", a.max_in_flight != b.max_in_flight);
    key("pipeline.plugin_cache_dir", a.plugin_cache_dir != b.plugin_cache_dir);
    key(
        "pipeline.heartbeat_interval_ms",
        a.heartbeat_interval != b.heartbeat_interval,
    );
    key("pipeline.shutdown_timeout_ms", a.shutdown_timeout != b.shutdown_timeout);
    let (a, b) = (&old.snapshot, &new.snapshot);
    key("snapshot.mode", a.mode != b.mode);
    key("snapshot.chunk_size", a.chunk_size != b.chunk_size);
    key("snapshot.parallel_tables", a.parallel_tables != b.parallel_tables);
    key("snapshot.allow_global_lock", a.allow_global_lock != b.allow_global_lock);
    key("snapshot.signal_table", a.signal_table != b.signal_table);
    key("metrics", old.metrics_address != new.metrics_address);
    key(
        "metrics.ready_max_lag_seconds",
        old.ready_max_lag_seconds != new.ready_max_lag_seconds,
    );

    let removed: Vec<&TablePattern> = old
        .source
        .tables
        .iter()
        .filter(|pattern| !new.source.tables.contains(pattern))
        .collect();
    if removed.is_empty() {
        changes.added_tables = new
            .source
            .tables
            .iter()
            .filter(|pattern| !old.source.tables.contains(pattern))
            .cloned()
            .collect();
    } else {
        changes
            .needs_restart
            .push("source.tables (a pattern was removed; only additions apply live)".into());
    }

    let names = |plugins: &[PluginConfig]| plugins.iter().map(|plugin| plugin.name.clone()).collect::<Vec<_>>();
    if names(&old.plugins) != names(&new.plugins) {
        changes.needs_restart.push(
            "plugins (added, removed, renamed or reordered; only a plugin's path and settings apply live)".into(),
        );
    } else {
        for (index, (a, b)) in old.plugins.iter().zip(&new.plugins).enumerate() {
            if a.on_failure != b.on_failure {
                changes.needs_restart.push(format!("plugins[{index}].on_failure"));
            }
            if a.reload != b.reload {
                changes.needs_restart.push(format!("plugins[{index}].reload"));
            }
            if a.path != b.path || a.config != b.config || a.limits != b.limits {
                changes.plugins.push(index);
            }
        }
    }
    changes
}

/// Where the applied changes go.
pub struct Targets {
    /// The plugin engine, when the daemon runs plugins.
    pub engine: Option<PluginEngine>,
    pub chain: mpsc::Sender<ChainUpdate>,
    pub tables: mpsc::Sender<TableAddition>,
    pub metrics: Arc<Metrics>,
}

/// Applies each new config the daemon is handed, until the sender goes away.
pub async fn run(mut current: Config, mut configs: mpsc::Receiver<Config>, targets: Targets) {
    while let Some(new) = configs.recv().await {
        let changes = compare(&current, &new);
        if !changes.needs_restart.is_empty() {
            tracing::warn!(
                "config reload: needs a restart: {}; these changes are ignored",
                changes.needs_restart.join(", ")
            );
        }
        if changes.plugins.is_empty() && changes.added_tables.is_empty() {
            tracing::info!("config reload: nothing to apply live");
            continue;
        }
        if !changes.plugins.is_empty() {
            apply_plugins(&mut current, &new, &changes.plugins, &targets).await;
        }
        if !changes.added_tables.is_empty() {
            apply_tables(&mut current, &new, &targets).await;
        }
    }
}

/// Loads the changed plugins with their new settings and hands them to the chain, with a file watcher
/// of the new settings. A plugin that fails to load keeps its running version (and old settings).
async fn apply_plugins(current: &mut Config, new: &Config, indexes: &[usize], targets: &Targets) {
    let Some(engine) = &targets.engine else {
        return;
    };
    let mut versions = Vec::new();
    for &index in indexes {
        let settings = &new.plugins[index];
        match load_version(engine, settings).await {
            Ok(version) => {
                tracing::info!(
                    plugin = %settings.name,
                    path = %settings.path.display(),
                    version = version.code.version(),
                    "config reload: plugin loaded with its new settings; it takes over at the next transaction boundary"
                );
                current.plugins[index] = settings.clone();
                versions.push(Reloaded { index, version });
            }
            Err(error) => {
                tracing::error!(
                    plugin = %settings.name,
                    "config reload: the plugin's new settings are refused, the running version keeps running: {error}"
                );
                targets.metrics.plugins.refused(&settings.name);
            }
        }
    }
    if versions.is_empty() {
        return;
    }
    // The watcher compares file contents with what runs: the new versions, and for the others the file
    // as it is (a file changed but not reloaded yet is then looked at once more, harmlessly).
    let loaded: Vec<(usize, String)> = versions
        .iter()
        .map(|reloaded| (reloaded.index, reloaded.version.code.version().to_owned()))
        .collect();
    let mut running = Vec::with_capacity(current.plugins.len());
    for (index, plugin) in current.plugins.iter().enumerate() {
        let hash = match loaded.iter().find(|(loaded, _)| *loaded == index) {
            Some((_, hash)) => hash.clone(),
            None => tokio::fs::read(&plugin.path)
                .await
                .map(|bytes| content_hash(&bytes))
                .unwrap_or_default(),
        };
        running.push(hash);
    }
    let watcher = reload::watch(engine.clone(), &current.plugins, running, targets.metrics.clone());
    let _ = targets.chain.send(ChainUpdate { versions, watcher }).await;
}

/// Hands the grown table selection to the reader, with the existing tables it newly matches to
/// snapshot (none with `snapshot.mode = "never"`).
async fn apply_tables(current: &mut Config, new: &Config, targets: &Targets) {
    let snapshot = if current.snapshot.mode == SnapshotMode::Never {
        Vec::new()
    } else {
        match newly_matched_tables(current, &new.source.tables).await {
            Ok(tables) => tables,
            Err(error) => {
                tracing::error!(
                    "config reload: cannot list the tables the new source.tables patterns match, so the change is \
                     not applied (send SIGHUP again): {error}"
                );
                return;
            }
        }
    };
    tracing::info!(
        snapshot = %snapshot.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        "config reload: source.tables grows; new tables are captured from the next transaction, existing ones snapshotted"
    );
    current.source.tables = new.source.tables.clone();
    let _ = targets
        .tables
        .send(TableAddition {
            tables: new.source.tables.clone(),
            snapshot,
        })
        .await;
}

/// The base tables on the server that `patterns` match and the config in force does not capture.
async fn newly_matched_tables(
    current: &Config,
    patterns: &[TablePattern],
) -> Result<Vec<TableName>, mysql_async::Error> {
    let mut conn = mysql_async::Conn::new(crate::source::connect::connection_options(&current.source)).await?;
    let rows: Vec<(String, String)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
        .await?;
    let _ = conn.disconnect().await;
    let mut tables: Vec<TableName> = rows
        .into_iter()
        .filter(|(database, table)| {
            patterns.iter().any(|pattern| pattern.matches(database, table)) && !current.source.captures(database, table)
        })
        .map(|(database, table)| TableName::new(database, table))
        .collect();
    tables.sort();
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
        [source]
        host = "127.0.0.1"
        user = "sluice"
        password = "pw"
        server_id = 7
        tables = ["shop.orders"]

        [kafka]
        bootstrap_servers = "127.0.0.1:9092"
        topic = "changes"

        [checkpoint]
        path = "checkpoint.json"

        [[plugins]]
        name = "router"
        path = "router.wasm"
        [plugins.config]
        topic_template = "{table}"
    "#;

    fn config(text: &str) -> Config {
        Config::from_toml_str(text, Path::new("/etc/sluice")).unwrap()
    }

    #[test]
    fn an_unchanged_config_changes_nothing() {
        assert_eq!(compare(&config(BASE), &config(BASE)), Changes::default());
    }

    #[test]
    fn a_plugin_setting_and_an_added_table_apply_live() {
        let new = BASE
            .replace(
                r#"tables = ["shop.orders"]"#,
                r#"tables = ["shop.orders", "shop.items"]"#,
            )
            .replace(r#"topic_template = "{table}""#, r#"topic_template = "x.{table}""#);
        let changes = compare(&config(BASE), &config(&new));
        assert_eq!(changes.plugins, [0]);
        assert_eq!(changes.added_tables, [TablePattern::parse("shop.items").unwrap()]);
        assert!(changes.needs_restart.is_empty(), "{changes:?}");
    }

    #[test]
    fn the_source_the_brokers_and_a_removed_table_need_a_restart() {
        let new = BASE
            .replace(r#"host = "127.0.0.1""#, r#"host = "db2""#)
            .replace(r#"password = "pw""#, r#"password = "pw2""#)
            .replace("127.0.0.1:9092", "kafka:9092")
            .replace(r#"tables = ["shop.orders"]"#, r#"tables = ["shop.items"]"#);
        let changes = compare(&config(BASE), &config(&new));
        assert_eq!(
            changes.needs_restart,
            [
                "source.host",
                "source.password",
                "kafka.bootstrap_servers",
                "source.tables (a pattern was removed; only additions apply live)"
            ]
        );
        assert!(changes.added_tables.is_empty());
        assert!(changes.plugins.is_empty());
    }

    #[test]
    fn a_renamed_plugin_needs_a_restart() {
        let new = BASE.replace(r#"name = "router""#, r#"name = "other""#);
        let changes = compare(&config(BASE), &config(&new));
        assert!(changes.needs_restart[0].starts_with("plugins ("), "{changes:?}");
        assert!(changes.plugins.is_empty());
    }
}
