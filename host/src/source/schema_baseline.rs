//! The schema history's first versions, read from `information_schema` where that is provably the
//! stream's starting point.
//!
//! `information_schema` describes tables as they are *now*. That is the shape at the stream's start
//! position only if nothing was logged between that position and the read: sluice reads the binlog's
//! end position, then the captured tables' definitions, then the end position again, and keeps the
//! definitions only when both reads name the start position. (A DDL statement is logged when it
//! completes, so one still running during the read could in principle be seen by the catalog before
//! its binlog event; the TABLE_MAP check in `source::schema` catches a shape that does not match.)
//! Tables that already have a version keep their history. When the check fails — the server was
//! busy, or the stream resumes behind the end — nothing is recorded here, and a table without history
//! is read when first met instead, with that assumption logged.

use mysql_async::Conn;

use crate::config::{SourceConfig, StartPosition};
use crate::source::SourceError;
use crate::source::binlog::resolve_start;
use crate::source::position::BinlogPosition;
use crate::source::schema::{captured_tables, load_catalog_table, schema_from_catalog};
use crate::source::schema_history::{SchemaHistory, TableShape, TableState};

/// How often the catalog is read again when the server logged something during a read.
const ATTEMPTS: usize = 3;

/// Records, at `start`, the catalog's shape of every captured table the history does not know yet,
/// when the catalog provably describes `start`. Returns how many tables it recorded.
pub async fn record_baseline(
    conn: &mut Conn,
    source: &SourceConfig,
    history: &mut SchemaHistory,
    start: &BinlogPosition,
) -> Result<usize, SourceError> {
    let tables = captured_tables(conn, |database, table| source.captures(database, table)).await?;
    let unknown: Vec<_> = tables
        .into_iter()
        .filter(|table| history.state_at(table, start).is_none())
        .collect();
    if unknown.is_empty() {
        return Ok(0);
    }
    for _ in 0..ATTEMPTS {
        if resolve_start(conn, &StartPosition::Current).await? != *start {
            // The stream starts behind the binlog's end: the catalog describes a later point.
            return Ok(0);
        }
        let mut shapes = Vec::with_capacity(unknown.len());
        for table in &unknown {
            if let Some(catalog) = load_catalog_table(conn, table).await? {
                // A type sluice cannot decode is reported when a row of it is met, not here.
                if let Ok(schema) = schema_from_catalog(table, &catalog) {
                    shapes.push((table, TableShape::of_schema(&schema)));
                }
            }
        }
        if resolve_start(conn, &StartPosition::Current).await? != *start {
            continue;
        }
        let recorded = shapes.len();
        for (table, shape) in shapes {
            history.record(table, start, TableState::Known(shape), "catalog_at_start");
        }
        history.save()?;
        tracing::info!(
            tables = recorded,
            position = %start,
            "schema history: shapes of the captured tables read from information_schema at the start position"
        );
        return Ok(recorded);
    }
    Ok(0)
}
