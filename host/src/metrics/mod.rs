//! What the daemon counts, and where an operator reads it.
//!
//! One [`Metrics`] per running pipeline owns its own Prometheus registry (nothing process-global, so
//! several pipelines in one process, as in the tests, never mix their numbers). Stages hold cheap
//! handles to the series they update; [`endpoint`] serves the registry as Prometheus text, with
//! `/health` and `/ready` beside it.
//!
//! Names follow Prometheus conventions: `sluice_` prefix, `_total` for counters, base units.

pub mod endpoint;
pub mod stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::change::TableName;
use crate::plugin::PluginError;

/// How far behind the source `/ready` still reports ready, unless `metrics.ready_max_lag_seconds` says.
pub const DEFAULT_READY_MAX_LAG_SECONDS: f64 = 300.0;

/// The `table` label: `database.table`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: String,
}

impl From<&TableName> for TableLabel {
    fn from(table: &TableName) -> Self {
        Self {
            table: table.object_name(),
        }
    }
}

/// Every series of one pipeline.
pub struct Metrics {
    registry: Registry,
    ready: AtomicBool,
    /// `/ready` also needs the source lag under this many seconds.
    ready_max_lag_seconds: f64,
    pub snapshot: SnapshotMetrics,
    pub plugins: PluginMetrics,
    pub stream: stream::StreamMetrics,
    /// What `/status` reports beside the counters.
    pub status: crate::status::StatusBoard,
}

/// The `plugin` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    pub plugin: String,
}

/// The `plugin` and `policy` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginPolicyLabel {
    pub plugin: String,
    pub policy: String,
}

/// The `plugin` and `call` labels: which plugin, and which of its functions (`filter`, `map_rows`,
/// `map_table`, ...).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginCallLabel {
    pub plugin: String,
    pub call: &'static str,
}

/// The `plugin` and `kind` labels of a failed call: `trap` (including a spent CPU budget), `error`
/// (the plugin returned one) or `bad_answer` (it broke the contract).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginErrorLabel {
    pub plugin: String,
    pub kind: &'static str,
}

/// The buckets of `sluice_plugin_call_seconds`: 10 µs to about 2.6 s, each 4 times the last.
fn call_seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

/// Plugin versions, calls and failures.
pub struct PluginMetrics {
    swaps: Family<PluginLabel, Counter>,
    refusals: Family<PluginLabel, Counter>,
    failures: Family<PluginPolicyLabel, Counter>,
    call_seconds: Family<PluginCallLabel, Histogram, fn() -> Histogram>,
    call_changes: Family<PluginCallLabel, Counter>,
    call_errors: Family<PluginErrorLabel, Counter>,
}

impl Default for PluginMetrics {
    fn default() -> Self {
        Self {
            swaps: Family::default(),
            refusals: Family::default(),
            failures: Family::default(),
            call_seconds: Family::new_with_constructor(call_seconds_histogram),
            call_changes: Family::default(),
            call_errors: Family::default(),
        }
    }
}

impl PluginMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "swaps",
            "New plugin versions swapped in at a transaction boundary",
            self.swaps.clone(),
        );
        registry.register(
            "refusals",
            "New plugin files refused (not a component, wrong contract, failed init); the old version kept running",
            self.refusals.clone(),
        );
        registry.register(
            "failures",
            "Changes a plugin trapped or failed on, by the policy applied (skip, dead_letter)",
            self.failures.clone(),
        );
        registry.register_with_unit(
            "call",
            "Time of one call into a plugin (a whole batch of changes for filter and map_rows), by function",
            Unit::Seconds,
            self.call_seconds.clone(),
        );
        registry.register(
            "call_changes",
            "Changes handed to plugin calls, by function: with sluice_plugin_call_seconds, the time per change",
            self.call_changes.clone(),
        );
        registry.register(
            "call_errors",
            "Plugin calls that failed, by kind: trap (a trap or a spent CPU budget), error (the plugin returned one), \
             bad_answer (it broke the contract)",
            self.call_errors.clone(),
        );
    }

    fn label(plugin: &str) -> PluginLabel {
        PluginLabel {
            plugin: plugin.to_owned(),
        }
    }

    pub fn swapped(&self, plugin: &str) {
        self.swaps.get_or_create(&Self::label(plugin)).inc();
    }

    pub fn refused(&self, plugin: &str) {
        self.refusals.get_or_create(&Self::label(plugin)).inc();
    }

    /// One call of `plugin`'s function `call` over `changes` changes took `elapsed`; `error` if it failed.
    /// Once per call, never per change.
    pub fn called(
        &self,
        plugin: &str,
        call: &'static str,
        changes: usize,
        elapsed: Duration,
        error: Option<&PluginError>,
    ) {
        let label = PluginCallLabel {
            plugin: plugin.to_owned(),
            call,
        };
        self.call_seconds.get_or_create(&label).observe(elapsed.as_secs_f64());
        if changes > 0 {
            self.call_changes.get_or_create(&label).inc_by(changes as u64);
        }
        let kind = match error {
            None => return,
            Some(PluginError::Trapped { .. }) => "trap",
            Some(PluginError::Failed { .. }) => "error",
            Some(PluginError::WrongDecisionCount { .. } | PluginError::BadAnswer { .. }) => "bad_answer",
            Some(_) => "other",
        };
        let label = PluginErrorLabel {
            plugin: label.plugin,
            kind,
        };
        self.call_errors.get_or_create(&label).inc();
    }

    pub fn failed(&self, plugin: &str, policy: &str) {
        let label = PluginPolicyLabel {
            plugin: plugin.to_owned(),
            policy: policy.to_owned(),
        };
        self.failures.get_or_create(&label).inc();
    }
}

/// How far the snapshots got, per table.
#[derive(Default)]
pub struct SnapshotMetrics {
    rows_read: Family<TableLabel, Counter>,
    chunks_read: Family<TableLabel, Counter>,
    rows_done: Family<TableLabel, Gauge>,
    rows_estimated: Family<TableLabel, Gauge>,
    running: Family<TableLabel, Gauge>,
    finished: Family<TableLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::with_ready_max_lag(DEFAULT_READY_MAX_LAG_SECONDS)
    }

    /// Metrics whose `/ready` requires the source lag under `seconds`.
    pub fn with_ready_max_lag(seconds: f64) -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let stream = stream::StreamMetrics::default();
        stream.register(&mut registry);
        let snapshot = SnapshotMetrics::default();
        snapshot.register(registry.sub_registry_with_prefix("snapshot"));
        let plugins = PluginMetrics::default();
        plugins.register(registry.sub_registry_with_prefix("plugin"));
        Self {
            registry,
            ready: AtomicBool::new(false),
            ready_max_lag_seconds: seconds,
            snapshot,
            plugins,
            stream,
            status: crate::status::StatusBoard::default(),
        }
    }

    /// What `/status` answers (see [`crate::status`]).
    pub fn status_report(&self) -> crate::status::StatusReport {
        let ready = self.is_ready();
        self.status.report(
            self.stream.totals(),
            self.stream.lag_seconds(),
            self.stream.in_flight(),
            ready,
        )
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.stream.refresh_lag();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// Marks the pipeline as ready (streaming) or not, for `/ready`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Streaming, and not further behind the source than the configured lag.
    pub fn is_ready(&self) -> bool {
        self.stream.refresh_lag();
        self.ready.load(Ordering::Relaxed)
            && self
                .stream
                .lag_seconds()
                .is_none_or(|lag| lag <= self.ready_max_lag_seconds)
    }
}

impl SnapshotMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "rows_read",
            "Rows read by table snapshots, over all runs",
            self.rows_read.clone(),
        );
        registry.register(
            "chunks_read",
            "Chunks read by table snapshots, over all runs",
            self.chunks_read.clone(),
        );
        registry.register(
            "rows_done",
            "Rows read by the current or last snapshot of the table",
            self.rows_done.clone(),
        );
        registry.register(
            "rows_estimated",
            "The server's estimate of the table's rows when its snapshot started",
            self.rows_estimated.clone(),
        );
        registry.register(
            "running",
            "1 while the table is being snapshotted, else 0",
            self.running.clone(),
        );
        registry.register(
            "tables_finished",
            "Table snapshots read to the end",
            self.finished.clone(),
        );
    }

    /// Starts counting a table's snapshot, resumed after `rows_done` rows.
    pub fn table(&self, table: &TableName, estimated_rows: u64) -> TableSnapshotMetrics {
        let label = TableLabel::from(table);
        let metrics = TableSnapshotMetrics {
            rows_read: self.rows_read.get_or_create_owned(&label),
            chunks_read: self.chunks_read.get_or_create_owned(&label),
            rows_done: self.rows_done.get_or_create_owned(&label),
            running: self.running.get_or_create_owned(&label),
            finished: self.finished.get_or_create_owned(&label),
        };
        self.rows_estimated
            .get_or_create(&label)
            .set(i64::try_from(estimated_rows).unwrap_or(i64::MAX));
        metrics.rows_done.set(0);
        metrics.running.set(1);
        metrics
    }
}

/// The series of one table's snapshot.
pub struct TableSnapshotMetrics {
    rows_read: Counter,
    chunks_read: Counter,
    rows_done: Gauge,
    running: Gauge,
    finished: Counter,
}

impl TableSnapshotMetrics {
    pub fn chunk_read(&self, rows: u64) {
        self.rows_read.inc_by(rows);
        self.chunks_read.inc();
        self.rows_done.inc_by(i64::try_from(rows).unwrap_or(i64::MAX));
    }

    pub fn finished(&self) {
        self.finished.inc();
        self.running.set(0);
    }
}

impl Drop for TableSnapshotMetrics {
    /// A snapshot that stops early (shutdown, error) is no longer running either.
    fn drop(&mut self) {
        self.running.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_snapshot_shows_in_the_text_format() {
        let metrics = Metrics::new();
        let table = TableName::new("shop", "orders");
        let progress = metrics.snapshot.table(&table, 1000);
        progress.chunk_read(400);
        progress.chunk_read(250);
        let text = metrics.render();
        assert!(
            text.contains(r#"sluice_snapshot_rows_done{table="shop.orders"} 650"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_snapshot_rows_read_total{table="shop.orders"} 650"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_snapshot_chunks_read_total{table="shop.orders"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_snapshot_rows_estimated{table="shop.orders"} 1000"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_snapshot_running{table="shop.orders"} 1"#),
            "{text}"
        );
        progress.finished();
        let text = metrics.render();
        assert!(
            text.contains(r#"sluice_snapshot_running{table="shop.orders"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_snapshot_tables_finished_total{table="shop.orders"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_second_snapshot_of_a_table_restarts_its_rows_done_but_not_its_totals() {
        let metrics = Metrics::new();
        let table = TableName::new("shop", "orders");
        metrics.snapshot.table(&table, 10).chunk_read(10);
        metrics.snapshot.table(&table, 12).chunk_read(3);
        let text = metrics.render();
        assert!(
            text.contains(r#"sluice_snapshot_rows_done{table="shop.orders"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_snapshot_rows_read_total{table="shop.orders"} 13"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_snapshot_running{table="shop.orders"} 0"#),
            "{text}"
        );
    }

    #[test]
    fn plugin_calls_are_timed_per_call_and_failures_counted_by_kind() {
        let metrics = Metrics::new();
        let plugins = &metrics.plugins;
        plugins.called("router", "filter", 500, Duration::from_micros(300), None);
        plugins.called("router", "filter", 200, Duration::from_millis(30), None);
        let trap = PluginError::Trapped {
            name: "router".into(),
            detail: "unreachable".into(),
        };
        plugins.called("router", "map_rows", 1, Duration::from_micros(5), Some(&trap));
        let text = metrics.render();
        for expected in [
            r#"sluice_plugin_call_seconds_count{plugin="router",call="filter"} 2"#,
            r#"sluice_plugin_call_seconds_bucket{le="0.00064",plugin="router",call="filter"} 1"#,
            r#"sluice_plugin_call_seconds_bucket{le="0.04096",plugin="router",call="filter"} 2"#,
            r#"sluice_plugin_call_changes_total{plugin="router",call="filter"} 700"#,
            r#"sluice_plugin_call_seconds_count{plugin="router",call="map_rows"} 1"#,
            r#"sluice_plugin_call_errors_total{plugin="router",kind="trap"} 1"#,
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        assert!(!text.contains(r#"kind="error""#), "{text}");
    }

    /// Every series the example Grafana dashboard charts is one the daemon serves (a family shows in
    /// the text only once it has a sample, so each gets one here).
    #[test]
    fn every_series_the_example_dashboard_charts_is_served() {
        let metrics = Metrics::new();
        let _progress = metrics.snapshot.table(&TableName::new("shop", "orders"), 10);
        metrics.plugins.swapped("router");
        metrics.plugins.refused("router");
        metrics.plugins.failed("router", "skip");
        let trap = PluginError::Trapped {
            name: "router".into(),
            detail: "unreachable".into(),
        };
        metrics
            .plugins
            .called("router", "filter", 10, Duration::from_millis(1), Some(&trap));
        metrics
            .stream
            .count_changes("shop.orders".into(), crate::change::Operation::Insert, 1);
        let text = metrics.render();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/grafana-dashboard.json");
        let dashboard = std::fs::read_to_string(&path).unwrap();
        let mut charted: Vec<&str> = dashboard
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("sluice_"))
            .collect();
        charted.sort();
        charted.dedup();
        assert!(charted.len() >= 10, "{charted:?}");
        for series in charted {
            let family = ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| series.strip_suffix(suffix))
                .unwrap_or(series);
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "the dashboard charts {series}, which /metrics does not serve:\n{text}"
            );
        }
    }
}
