//! Deciding where a run starts: the checkpoint if there is one and the server still has its binlog,
//! else `source.start`; and which tables still owe a snapshot.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::{Config, SnapshotMode};
use crate::pipeline::RunError;
use crate::source::SourceError;
use crate::source::binlog::resolve_start;
use crate::source::schema::captured_tables;
use crate::source::snapshot::progress::{SnapshotState, TableProgress};

/// The binlog files the server still has.
async fn binlog_files(conn: &mut Conn) -> Result<Vec<String>, SourceError> {
    let rows: Vec<mysql_async::Row> = conn
        .query("SHOW BINARY LOGS")
        .await
        .map_err(SourceError::query("listing binary logs"))?;
    Ok(rows.into_iter().filter_map(|row| row.get::<String, _>(0)).collect())
}

/// Every captured table, pending, when the mode snapshots at all.
async fn fresh_snapshot_state(conn: &mut Conn, config: &Config) -> Result<SnapshotState, SourceError> {
    if config.snapshot.mode == SnapshotMode::Never {
        return Ok(SnapshotState::new());
    }
    let tables = captured_tables(conn, |database, table| config.source.captures(database, table)).await?;
    Ok(tables
        .into_iter()
        .map(|table| (table.object_name(), TableProgress::Pending))
        .collect())
}

/// The checkpoint this run starts from, stored before anything streams so that a restart before the
/// first commit neither skips ahead nor forgets an owed snapshot.
pub async fn starting_checkpoint(
    conn: &mut Conn,
    config: &Config,
    store: &CheckpointStore,
) -> Result<Checkpoint, RunError> {
    if let Some(checkpoint) = store.load()? {
        let files = binlog_files(conn).await?;
        if files.contains(&checkpoint.position.file) {
            tracing::info!(position = %checkpoint.position, "resuming from checkpoint");
            return Ok(checkpoint);
        }
        if config.snapshot.mode != SnapshotMode::WhenNeeded {
            return Err(SourceError::PurgedBinlog {
                position: checkpoint.position.to_string(),
                file: checkpoint.position.file.clone(),
            }
            .into());
        }
        tracing::warn!(
            position = %checkpoint.position,
            "the checkpointed binlog file is purged; snapshotting again as snapshot.mode = \"when_needed\" allows"
        );
        let position = resolve_start(conn, &crate::config::StartPosition::Current).await?;
        let snapshot = fresh_snapshot_state(conn, config).await?;
        let checkpoint = Checkpoint {
            position,
            next_record_id: checkpoint.next_record_id,
            snapshot,
        };
        store.store(&checkpoint)?;
        return Ok(checkpoint);
    }
    let position = resolve_start(conn, &config.source.start).await?;
    let snapshot = fresh_snapshot_state(conn, config).await?;
    let checkpoint = Checkpoint {
        position,
        next_record_id: 0,
        snapshot,
    };
    store.store(&checkpoint)?;
    tracing::info!(
        position = %checkpoint.position,
        start = %config.source.start,
        tables_to_snapshot = checkpoint.snapshot.len(),
        "no checkpoint yet; starting from source.start"
    );
    Ok(checkpoint)
}
