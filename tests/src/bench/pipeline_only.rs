//! "Pipeline-only": the daemon's stages with the Kafka sink replaced by counting and discarding.
//!
//! The source (the binlog reader, or the snapshot's chunk reader), the plugin chain and the encoder run
//! as the daemon runs them: separate tasks joined by bounded channels of `pipeline.channel_capacity`
//! batches of at most `pipeline.batch_max_changes` changes, the chain and encoder built from the same
//! config file (`sluice::Config`), each row encoded as DTS Avro and given its message key. What would
//! go to Kafka is counted and dropped. The benchmark runs this in a child process of its own
//! (`sluice-bench pipeline-only ...`), so that the process's CPU time and peak memory are the
//! pipeline's alone; the child prints one [`Report`] line on stdout.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use sluice::change::{Change, TableName};
use sluice::config::StartPosition;
use sluice::encode::dts_avro::DtsAvroEncoder;
use sluice::encode::key;
use sluice::plugin::chain::{PluginChain, Routed};
use sluice::plugin::engine::PluginEngine;
use sluice::source::binlog::{BinlogReader, SnapshotHandoff};
use sluice::source::connect::{connection_options, metadata_pool};
use sluice::source::schema::{SchemaCatalog, load_catalog_table, schema_from_catalog};
use sluice::source::snapshot::chunk::{ChunkReader, chunk_query};
use sluice::source::snapshot::progress::TableProgress;
use tokio::sync::mpsc;

use super::usage::own_cpu_seconds;

/// Where the rows come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The binlog from `source.start` (a `file:offset`), until the expected rows were seen.
    Binlog,
    /// A snapshot of the config's first table, chunk by chunk (`snapshot.chunk_size`).
    Snapshot,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Binlog => "binlog",
            Source::Snapshot => "snapshot",
        }
    }

    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "binlog" => Ok(Source::Binlog),
            "snapshot" => Ok(Source::Snapshot),
            other => anyhow::bail!("unknown pipeline-only source `{other}`: binlog or snapshot"),
        }
    }
}

/// What one pipeline-only run measured, from the first row read to the last encoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    pub rows: u64,
    /// Payload plus key bytes of every message that would have been sent.
    pub bytes: u64,
    pub seconds: f64,
    /// CPU time of the measured part only (plugins compiled and the catalog loaded before it).
    pub cpu_seconds: f64,
}

impl Report {
    /// The one line a child prints.
    pub fn to_line(&self) -> String {
        format!(
            "pipeline-only rows={} bytes={} seconds={} cpu_seconds={}",
            self.rows, self.bytes, self.seconds, self.cpu_seconds
        )
    }

    /// Reads the line [`Report::to_line`] wrote, among any other output.
    pub fn from_output(output: &str) -> anyhow::Result<Self> {
        let line = output
            .lines()
            .find(|line| line.starts_with("pipeline-only "))
            .context("the pipeline-only child printed no report")?;
        let field = |name: &str| -> anyhow::Result<&str> {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
                .with_context(|| format!("no {name} in `{line}`"))
        };
        Ok(Report {
            rows: field("rows")?.parse()?,
            bytes: field("bytes")?.parse()?,
            seconds: field("seconds")?.parse()?,
            cpu_seconds: field("cpu_seconds")?.parse()?,
        })
    }
}

/// Runs the pipeline of `config_path` from `source` until `rows` rows were encoded. A snapshot reads
/// `table` (`database.table`).
pub async fn run(source: Source, config_path: &Path, table: &str, rows: u64) -> anyhow::Result<Report> {
    let config = sluice::Config::from_file(config_path)?;
    let metrics = Arc::new(sluice::metrics::Metrics::new());
    let engine = if config.plugins.is_empty() {
        None
    } else {
        Some(PluginEngine::new(Some(&config.pipeline.plugin_cache_dir))?)
    };
    let chain = PluginChain::load(&config.plugins, engine.as_ref(), metrics).await?;
    let capacity = config.pipeline.channel_capacity;
    let batch_size = config.pipeline.batch_max_changes;
    let (changes_tx, changes_rx) = mpsc::channel::<Vec<Change>>(capacity);
    let (routed_tx, routed_rx) = mpsc::channel::<Vec<Routed>>(capacity);
    let (stop_trigger, stop) = sluice::shutdown::channel();

    let (cpu, started);
    let reader = match source {
        Source::Binlog => {
            let catalog = SchemaCatalog::new(metadata_pool(&config.source)).await?;
            let StartPosition::At(start) = config.source.start.clone() else {
                anyhow::bail!("source.start must be a file:offset for a pipeline-only drain");
            };
            let reader = BinlogReader::new(
                config.source.clone(),
                catalog,
                batch_size,
                changes_tx,
                start,
                None,
                SnapshotHandoff::none(),
            );
            (cpu, started) = (own_cpu_seconds(), Instant::now());
            tokio::spawn(async move { reader.run(stop).await.map_err(anyhow::Error::from) })
        }
        Source::Snapshot => {
            let (database, table) = table.split_once('.').context("the table is not database.table")?;
            let table = TableName::new(database, table);
            let mut conn = mysql_async::Conn::new(connection_options(&config.source)).await?;
            let catalog = load_catalog_table(&mut conn, &table)
                .await?
                .context("the benchmark table")?;
            let schema = Arc::new(schema_from_catalog(&table, &catalog)?);
            let reader = ChunkReader::new(conn, config.snapshot.chunk_size, false).await?;
            (cpu, started) = (own_cpu_seconds(), Instant::now());
            tokio::spawn(read_snapshot(
                reader,
                schema,
                config.snapshot.chunk_size,
                batch_size,
                changes_tx,
            ))
        }
    };
    let chain = tokio::spawn(run_chain(chain, changes_rx, routed_tx));
    let (count, bytes) = encode_and_discard(routed_rx, rows).await?;
    let report = Report {
        rows: count,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: own_cpu_seconds() - cpu,
    };
    stop_trigger.trigger();
    reader.abort();
    chain.abort();
    anyhow::ensure!(count == rows, "the pipeline saw {count} of {rows} rows");
    Ok(report)
}

/// Reads every chunk of `schema`'s table and sends its rows as batches of row changes.
async fn read_snapshot(
    mut reader: ChunkReader,
    schema: Arc<sluice::change::TableSchema>,
    chunk_size: usize,
    batch_size: usize,
    output: mpsc::Sender<Vec<Change>>,
) -> anyhow::Result<()> {
    let first = chunk_query(&schema, false, chunk_size);
    let next = chunk_query(&schema, true, chunk_size);
    let (mut after, mut read) = (None, 0u64);
    loop {
        let query = if after.is_some() { &next } else { &first };
        let chunk = reader.read(&schema, query, after.as_deref(), read).await?;
        let progress = chunk.progress.clone();
        let (rows, _) = chunk.into_changes(0);
        read += rows.len() as u64;
        let mut rows = rows.into_iter().map(Change::Row).peekable();
        while rows.peek().is_some() {
            let batch: Vec<Change> = rows.by_ref().take(batch_size).collect();
            if output.send(batch).await.is_err() {
                return Ok(());
            }
        }
        match progress {
            TableProgress::After(key) => after = Some(key),
            _ => return Ok(()),
        }
    }
}

async fn run_chain(
    mut chain: PluginChain,
    mut input: mpsc::Receiver<Vec<Change>>,
    output: mpsc::Sender<Vec<Routed>>,
) -> anyhow::Result<()> {
    while let Some(batch) = input.recv().await {
        if output.send(chain.apply(batch).await?).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Encodes every routed row as the daemon's encoder stage does (payload and key), until `rows` rows;
/// returns the rows and the bytes that would have been sent.
async fn encode_and_discard(mut input: mpsc::Receiver<Vec<Routed>>, rows: u64) -> anyhow::Result<(u64, u64)> {
    let mut encoder = DtsAvroEncoder::new("bench");
    let (mut count, mut bytes) = (0u64, 0u64);
    while count < rows {
        let Some(batch) = input.recv().await else {
            break;
        };
        for routed in batch {
            if let Routed::Row(mut row) = routed {
                let payload = encoder.encode(count as i64, &row)?;
                let key = row.routing.key.take().or_else(|| key::primary_key(&row.change));
                bytes += (payload.len() + key.as_ref().map_or(0, Vec::len)) as u64;
                count += 1;
            }
        }
    }
    Ok((count, bytes))
}
