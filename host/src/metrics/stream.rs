//! What flows: changes by table and operation, bytes out, how far behind the source the stream is,
//! what Kafka holds unacknowledged, and where the checkpoint stands.
//!
//! The encoder counts per batch, not per change, so the hot path pays one label lookup per table and
//! operation of a batch rather than one per row.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::change::{Operation, RowChange};
use crate::source::position::BinlogPosition;

/// The `table` and `operation` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChangeLabel {
    pub table: String,
    pub operation: String,
}

/// The stream's series.
#[derive(Default)]
pub struct StreamMetrics {
    changes: Family<ChangeLabel, Counter>,
    bytes_out: Counter,
    messages_out: Counter,
    lag_seconds: Gauge<f64, AtomicU64>,
    in_flight: Gauge,
    checkpoint_file_number: Gauge,
    checkpoint_offset: Gauge,
    checkpoint_written: Gauge<f64, AtomicU64>,
    /// The source timestamp (seconds) of the newest change encoded, for the lag.
    newest_source_timestamp: AtomicI64,
    /// Row changes published, over all tables and operations (for `/status`).
    changes_total: AtomicU64,
}

impl StreamMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "changes",
            "Row changes published, by table and operation",
            self.changes.clone(),
        );
        registry.register(
            "bytes_out",
            "Bytes handed to Kafka (keys and values)",
            self.bytes_out.clone(),
        );
        registry.register("messages_out", "Messages handed to Kafka", self.messages_out.clone());
        registry.register(
            "source_lag_seconds",
            "Seconds between the source committing the newest change published and now",
            self.lag_seconds.clone(),
        );
        registry.register(
            "kafka_in_flight",
            "Messages sent to Kafka and not yet acknowledged",
            self.in_flight.clone(),
        );
        registry.register(
            "checkpoint_binlog_file_number",
            "The number of the binlog file the checkpoint names (mysql-bin.000042 is 42)",
            self.checkpoint_file_number.clone(),
        );
        registry.register(
            "checkpoint_binlog_offset",
            "The offset in that file the checkpoint names",
            self.checkpoint_offset.clone(),
        );
        registry.register(
            "checkpoint_written_timestamp_seconds",
            "When the checkpoint was last written, in seconds since the epoch (its age: time() minus this)",
            self.checkpoint_written.clone(),
        );
    }

    /// Counts one encoded batch: its changes by table and operation, and the newest source time.
    pub fn count_batch<'a>(&self, changes: impl IntoIterator<Item = &'a RowChange>) {
        let mut counts: HashMap<(*const (), Operation), (&'a RowChange, u64)> = HashMap::new();
        let mut newest = None;
        for change in changes {
            let key = (std::sync::Arc::as_ptr(&change.table) as *const (), change.operation);
            counts.entry(key).or_insert((change, 0)).1 += 1;
            newest = newest.max(Some(change.timestamp));
        }
        for ((_, operation), (change, count)) in counts {
            self.count_changes(change.table.name.object_name(), operation, count);
        }
        if let Some(newest) = newest {
            self.newest_source_timestamp
                .fetch_max(i64::from(newest), Ordering::Relaxed);
            self.refresh_lag();
        }
    }

    /// Counts `count` published changes of `table` (`database.table`).
    pub fn count_changes(&self, table: String, operation: Operation, count: u64) {
        let label = ChangeLabel {
            table,
            operation: operation_name(operation).to_owned(),
        };
        self.changes.get_or_create(&label).inc_by(count);
        self.changes_total.fetch_add(count, Ordering::Relaxed);
    }

    /// Changes, messages and bytes published so far.
    pub fn totals(&self) -> crate::status::Totals {
        crate::status::Totals {
            changes: self.changes_total.load(Ordering::Relaxed),
            messages: self.messages_out.get(),
            bytes: self.bytes_out.get(),
        }
    }

    /// Messages sent to Kafka and not yet acknowledged.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Counts messages handed to Kafka.
    pub fn sent(&self, messages: u64, bytes: u64) {
        self.messages_out.inc_by(messages);
        self.bytes_out.inc_by(bytes);
    }

    /// Recomputes the lag from the newest source time seen (an idle source reads as falling behind
    /// only by the heartbeat interval, since heartbeats carry no row times).
    pub fn refresh_lag(&self) {
        let newest = self.newest_source_timestamp.load(Ordering::Relaxed);
        if newest > 0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            self.lag_seconds.set((now - newest as f64).max(0.0));
        }
    }

    /// The current lag in seconds; `None` before the first change.
    pub fn lag_seconds(&self) -> Option<f64> {
        (self.newest_source_timestamp.load(Ordering::Relaxed) > 0).then(|| self.lag_seconds.get())
    }

    pub fn set_in_flight(&self, messages: usize) {
        self.in_flight.set(messages as i64);
    }

    /// Records a checkpoint write at `position`.
    pub fn checkpoint_written(&self, position: &BinlogPosition) {
        let number = position
            .file
            .rsplit_once('.')
            .and_then(|(_, number)| number.parse::<i64>().ok())
            .unwrap_or(0);
        self.checkpoint_file_number.set(number);
        self.checkpoint_offset.set(position.offset as i64);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.checkpoint_written.set(now);
    }
}

fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Insert => "INSERT",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
    }
}
