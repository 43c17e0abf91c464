//! Deciding where a run starts: the checkpoint if there is one and the server still has its binlog,
//! else `source.start`; and which tables still owe a snapshot.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use std::sync::Arc;

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::{Config, SnapshotMode};
use crate::pipeline::RunError;
use crate::source::SourceError;
use crate::source::binlog::resolve_start;
use crate::source::gtid::{GtidSet, MariaDbGtidList};
use crate::source::position::BinlogPosition;
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

/// Whether the server is MariaDB (else MySQL or a MySQL-compatible server).
async fn is_mariadb(conn: &mut Conn) -> Result<bool, SourceError> {
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(SourceError::query("reading the server version"))?;
    Ok(version.is_some_and(|version| version.contains("MariaDB")))
}

/// The GTID state at `position`, when the server can tell: on MariaDB always (`BINLOG_GTID_POS`), on
/// MySQL with `gtid_mode=ON` when `position` is the server's current end.
async fn gtid_at(conn: &mut Conn, position: &BinlogPosition) -> Result<Option<GtidSet>, SourceError> {
    if is_mariadb(conn).await? {
        let text: Option<Option<String>> = conn
            .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&position.file, position.offset))
            .await
            .map_err(SourceError::query("reading the GTID position of the start position"))?;
        return Ok(match text.flatten() {
            Some(text) => text.parse().ok().map(GtidSet::MariaDb),
            None => None,
        });
    }
    let status: Option<mysql_async::Row> = match conn.query_first("SHOW MASTER STATUS").await {
        Ok(row) => row,
        Err(_) => conn
            .query_first("SHOW BINARY LOG STATUS")
            .await
            .map_err(SourceError::query("reading the executed GTID set"))?,
    };
    let Some(row) = status else { return Ok(None) };
    let (file, offset, executed): (Option<String>, Option<u64>, Option<String>) = (row.get(0), row.get(1), row.get(4));
    if file.as_deref() != Some(position.file.as_str()) || offset != Some(position.offset) {
        return Ok(None);
    }
    Ok(executed
        .filter(|text| !text.trim().is_empty())
        .and_then(|text| text.replace('\n', "").parse().ok().map(GtidSet::MySql)))
}

/// The GTID list at the start of the oldest binlog file MariaDB still has, and that file.
async fn oldest_gtid_list(conn: &mut Conn) -> Result<Option<(String, MariaDbGtidList)>, SourceError> {
    let Some(oldest) = binlog_files(conn).await?.into_iter().next() else {
        return Ok(None);
    };
    let events: Vec<mysql_async::Row> = conn
        .query(format!(
            "SHOW BINLOG EVENTS IN '{}' LIMIT 4",
            oldest.replace('\'', "''")
        ))
        .await
        .map_err(SourceError::query("reading the GTID list of the oldest binlog"))?;
    for event in events {
        let (kind, info): (Option<String>, Option<String>) = (event.get(2), event.get(5));
        if kind.as_deref() == Some("Gtid_list") {
            let list = info.unwrap_or_default();
            let list = list.trim().trim_start_matches('[').trim_end_matches(']');
            return Ok(list.parse().ok().map(|list| (oldest, list)));
        }
    }
    Ok(None)
}

/// Whether the server still has the binlog from `checkpoint` on: by GTID when the checkpoint has
/// one (the file names may be another server's after a failover), else by file name.
async fn ensure_resumable(conn: &mut Conn, checkpoint: &Checkpoint) -> Result<(), SourceError> {
    match checkpoint.gtid.as_deref() {
        Some(GtidSet::MariaDb(list)) if !list.is_empty() => {
            if let Some((oldest_file, oldest)) = oldest_gtid_list(conn).await?
                && !list.is_at_or_past(&oldest)
            {
                return Err(SourceError::PurgedGtid {
                    gtid: list.to_string(),
                    oldest_file,
                    oldest: oldest.to_string(),
                });
            }
            Ok(())
        }
        // MySQL refuses a purged GTID set itself when the stream starts, naming what is missing.
        Some(GtidSet::MySql(set)) if !set.is_empty() => Ok(()),
        _ => {
            if binlog_files(conn).await?.contains(&checkpoint.position.file) {
                Ok(())
            } else {
                Err(SourceError::PurgedBinlog {
                    position: checkpoint.position.to_string(),
                    file: checkpoint.position.file.clone(),
                })
            }
        }
    }
}

/// The checkpoint this run starts from, stored before anything streams so that a restart before the
/// first commit neither skips ahead nor forgets an owed snapshot.
pub async fn starting_checkpoint(
    conn: &mut Conn,
    config: &Config,
    store: &CheckpointStore,
) -> Result<Checkpoint, RunError> {
    if let Some(checkpoint) = store.load()? {
        let purged = match ensure_resumable(conn, &checkpoint).await {
            Ok(()) => {
                match &checkpoint.gtid {
                    Some(gtid) if !gtid.is_empty() => {
                        tracing::info!(position = %checkpoint.position, %gtid, "resuming from checkpoint by GTID")
                    }
                    _ => tracing::info!(position = %checkpoint.position, "resuming from checkpoint"),
                }
                return Ok(checkpoint);
            }
            Err(purged) => purged,
        };
        if config.snapshot.mode != SnapshotMode::WhenNeeded {
            return Err(purged.into());
        }
        tracing::warn!(
            position = %checkpoint.position,
            "the checkpointed position is purged ({purged}); snapshotting again as snapshot.mode = \"when_needed\" allows"
        );
        let position = resolve_start(conn, &crate::config::StartPosition::Current).await?;
        let gtid = gtid_at(conn, &position).await?.map(Arc::new);
        let snapshot = fresh_snapshot_state(conn, config).await?;
        let checkpoint = Checkpoint {
            position,
            gtid,
            next_record_id: checkpoint.next_record_id,
            snapshot,
        };
        store.store(&checkpoint)?;
        return Ok(checkpoint);
    }
    let position = resolve_start(conn, &config.source.start).await?;
    let gtid = gtid_at(conn, &position).await?.map(Arc::new);
    let snapshot = fresh_snapshot_state(conn, config).await?;
    let checkpoint = Checkpoint {
        position,
        gtid,
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
