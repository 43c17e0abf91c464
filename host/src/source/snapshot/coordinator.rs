//! Scheduling table snapshots: up to `parallel_tables` at once, each over its own connection, chunk
//! after chunk, handing every chunk to the binlog reader through a bounded channel.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::change::TableName;
use crate::config::{SnapshotConfig, SnapshotMode, SourceConfig};
use crate::metrics::{Metrics, TableSnapshotMetrics};
use crate::shutdown::Shutdown;
use crate::source::SourceError;
use crate::source::connect::connect_with_retry;
use crate::source::schema::{load_catalog_table, schema_from_catalog};
use crate::source::snapshot::chunk::{ChunkReader, SnapshotChunk, chunk_query};
use crate::source::snapshot::progress::{KeyValue, SnapshotState, TableProgress};

/// How often a table's progress is logged when stderr is not a terminal.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Shows snapshot progress: one bar per table on an interactive terminal, else a log line every
/// [`PROGRESS_INTERVAL`] with rows done, the estimate, the rate and the time left.
/// Either way, the same numbers go to the metrics.
#[derive(Clone)]
struct ProgressDisplay {
    bars: Option<indicatif::MultiProgress>,
    metrics: Arc<Metrics>,
}

impl ProgressDisplay {
    fn new(metrics: Arc<Metrics>) -> Self {
        let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Self {
            bars: interactive.then(indicatif::MultiProgress::new),
            metrics,
        }
    }

    fn table(&self, table: &TableName, estimated_rows: u64) -> TableProgressDisplay {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(indicatif::ProgressBar::new(estimated_rows.max(1)));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>24} [{bar:30}] {human_pos}/{human_len} rows, {per_sec}, ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(table.object_name());
            bar
        });
        TableProgressDisplay {
            table: table.clone(),
            metrics: self.metrics.snapshot.table(table, estimated_rows),
            bar,
            estimated_rows,
            started: Instant::now(),
            last_report: Instant::now(),
            rows_done: 0,
        }
    }
}

struct TableProgressDisplay {
    table: TableName,
    metrics: TableSnapshotMetrics,
    bar: Option<indicatif::ProgressBar>,
    estimated_rows: u64,
    started: Instant,
    last_report: Instant,
    rows_done: u64,
}

impl TableProgressDisplay {
    fn advance(&mut self, rows: u64) {
        self.rows_done += rows;
        self.metrics.chunk_read(rows);
        if let Some(bar) = &self.bar {
            if self.rows_done > bar.length().unwrap_or(0) {
                bar.set_length(self.rows_done);
            }
            bar.set_position(self.rows_done);
            return;
        }
        if self.last_report.elapsed() >= PROGRESS_INTERVAL {
            self.last_report = Instant::now();
            let rate = self.rows_done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            let remaining = self.estimated_rows.saturating_sub(self.rows_done) as f64 / rate.max(1.0);
            tracing::info!(
                table = %self.table,
                rows_done = self.rows_done,
                estimated_rows = self.estimated_rows,
                rows_per_second = rate as u64,
                eta_seconds = remaining as u64,
                "snapshot progress"
            );
        }
    }

    fn finish(&self) {
        self.metrics.finished();
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        tracing::info!(
            table = %self.table,
            rows = self.rows_done,
            seconds = self.started.elapsed().as_secs_f64(),
            "snapshot of {} read",
            self.table
        );
    }
}

pub struct SnapshotCoordinator {
    source: SourceConfig,
    settings: SnapshotConfig,
    work: VecDeque<(TableName, TableProgress)>,
    requests: mpsc::Receiver<TableName>,
    gates: mpsc::Sender<oneshot::Sender<()>>,
    chunks: mpsc::Sender<SnapshotChunk>,
    metrics: Arc<Metrics>,
}

impl SnapshotCoordinator {
    /// `state` is the checkpointed progress: tables not `Done` are (re)started where they stood.
    pub fn new(
        source: SourceConfig,
        settings: SnapshotConfig,
        state: &SnapshotState,
        requests: mpsc::Receiver<TableName>,
        gates: mpsc::Sender<oneshot::Sender<()>>,
        chunks: mpsc::Sender<SnapshotChunk>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let work = state
            .iter()
            .filter(|(_, progress)| **progress != TableProgress::Done)
            .filter_map(|(name, progress)| {
                let (database, table) = name.split_once('.')?;
                Some((TableName::new(database, table), progress.clone()))
            })
            .collect();
        Self {
            source,
            settings,
            work,
            requests,
            gates,
            chunks,
            metrics,
        }
    }

    /// Runs until every table is done and (unless the mode is `initial_only`) the reader stops asking
    /// for re-snapshots, or until shutdown.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), SourceError> {
        let mut running: JoinSet<(TableName, Result<(), SourceError>)> = JoinSet::new();
        let mut active: HashSet<TableName> = HashSet::new();
        let mut requests_open = self.settings.mode != SnapshotMode::InitialOnly;
        let display = ProgressDisplay::new(self.metrics.clone());
        loop {
            while running.len() < self.settings.parallel_tables {
                let Some((table, progress)) = self.work.pop_front() else {
                    break;
                };
                if !active.insert(table.clone()) {
                    continue;
                }
                let job = TableSnapshot {
                    display: display.clone(),
                    source: self.source.clone(),
                    settings: self.settings.clone(),
                    table: table.clone(),
                    gates: self.gates.clone(),
                    chunks: self.chunks.clone(),
                    shutdown: shutdown.clone(),
                };
                running.spawn(async move { (table, job.run(progress).await) });
            }
            if running.is_empty() && self.work.is_empty() && !requests_open {
                tracing::info!("snapshot finished");
                return Ok(());
            }
            tokio::select! {
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    let (table, result) = joined.unwrap_or_else(|panic| panic!("a table snapshot panicked: {panic}"));
                    active.remove(&table);
                    result?;
                }
                request = self.requests.recv(), if requests_open => match request {
                    Some(table) if active.contains(&table) => {
                        tracing::warn!(table = %table, "re-snapshot of {table} asked for while it is being snapshotted; ignored");
                    }
                    Some(table) => {
                        tracing::info!(table = %table, "re-snapshot of {table} requested");
                        self.work.push_back((table, TableProgress::Pending));
                    }
                    None => requests_open = false,
                },
                _ = shutdown.wait() => return Ok(()),
            }
        }
    }
}

/// The snapshot of one table.
struct TableSnapshot {
    display: ProgressDisplay,
    source: SourceConfig,
    settings: SnapshotConfig,
    table: TableName,
    gates: mpsc::Sender<oneshot::Sender<()>>,
    chunks: mpsc::Sender<SnapshotChunk>,
    shutdown: Shutdown,
}

impl TableSnapshot {
    async fn run(mut self, progress: TableProgress) -> Result<(), SourceError> {
        let Some(mut conn) = connect_with_retry(&self.source, "snapshot", &mut self.shutdown).await? else {
            return Ok(());
        };
        let Some(catalog) = load_catalog_table(&mut conn, &self.table).await? else {
            tracing::warn!(table = %self.table, "table {} no longer exists; nothing to snapshot", self.table);
            return Ok(());
        };
        let schema = Arc::new(schema_from_catalog(&self.table, &catalog)?);
        if schema.primary_key.is_empty() {
            tracing::warn!(
                table = %self.table,
                "table {} has no primary key: it is read in one scan, cannot resume mid-table, and its rows \
                 may be published twice by a re-snapshot",
                self.table
            );
        }
        let estimated_rows: u64 = conn
            .exec_first(
                "SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&self.table.database, &self.table.table),
            )
            .await
            .map_err(SourceError::query("estimating table size"))?
            .unwrap_or(0);
        let mut reader = ChunkReader::new(conn, self.settings.chunk_size, self.settings.allow_global_lock).await?;
        let mut after: Option<Vec<KeyValue>> = match progress {
            TableProgress::Pending => None,
            TableProgress::After(key) => Some(key),
            TableProgress::Done => return Ok(()),
        };
        tracing::info!(table = %self.table, resume = after.is_some(), estimated_rows, "snapshot of {} started", self.table);
        let first_query = chunk_query(&schema, false, self.settings.chunk_size);
        let next_query = chunk_query(&schema, true, self.settings.chunk_size);
        let mut progress_display = self.display.table(&self.table, estimated_rows);
        loop {
            if self.shutdown.is_triggered() {
                return Ok(());
            }
            // Wait until the binlog reader holds still at a transaction boundary: the chunk's point is
            // then at or after the stream's, and the reader publishes the chunk when it gets there.
            let (gate, opened) = oneshot::channel();
            if self.gates.send(gate).await.is_err() || opened.await.is_err() {
                return Ok(());
            }
            let query = if after.is_some() { &next_query } else { &first_query };
            let chunk = reader
                .read(&schema, query, after.as_deref(), progress_display.rows_done)
                .await?;
            progress_display.advance(chunk.rows.len() as u64);
            let finished = chunk.progress == TableProgress::Done;
            after = match &chunk.progress {
                TableProgress::After(key) => Some(key.clone()),
                _ => None,
            };
            if self.chunks.send(chunk).await.is_err() {
                return Ok(());
            }
            if finished {
                progress_display.finish();
                return Ok(());
            }
        }
    }
}
