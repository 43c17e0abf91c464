//! Reading one chunk of one table at a consistent point. See the module doc of `snapshot`.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::change::{ColumnSchema, ColumnValue, Operation, Origin, RowChange, TableSchema, TransactionInfo, type_code};
use crate::source::SourceError;
use crate::source::decode::decode_selected;
use crate::source::position::{BinlogPosition, RecordPosition};
use crate::source::snapshot::progress::{KeyValue, ProgressUpdate, TableProgress};

/// Rows of one table as of one binlog position.
#[derive(Debug)]
pub struct SnapshotChunk {
    pub table: Arc<TableSchema>,
    pub rows: Vec<Vec<ColumnValue>>,
    /// The consistent point: the rows are the table's state after every transaction before it.
    pub at: BinlogPosition,
    /// How many rows this table's snapshot read before this chunk: the rows' positions count on from
    /// it, so chunks read at the same point still give every row its own position.
    pub first_row: u64,
    /// The table's progress once this chunk is published.
    pub progress: TableProgress,
}

impl SnapshotChunk {
    /// Splits the chunk into its rows, as INSERT changes at the chunk's point (read at `timestamp`,
    /// seconds since the epoch), and the table's progress once they are published.
    pub fn into_changes(self, timestamp: u32) -> (Vec<RowChange>, ProgressUpdate) {
        let transaction = Arc::new(TransactionInfo {
            id: "".into(),
            start: self.at.clone(),
        });
        let changes = self
            .rows
            .into_iter()
            .enumerate()
            .map(|(index, row)| RowChange {
                origin: Origin::Snapshot,
                table: self.table.clone(),
                operation: Operation::Insert,
                before: None,
                after: Some(row),
                position: RecordPosition {
                    event: self.at.clone(),
                    row_index: self.first_row + index as u64,
                },
                timestamp,
                transaction: transaction.clone(),
            })
            .collect();
        (
            changes,
            ProgressUpdate {
                table: self.table.name.object_name(),
                progress: self.progress,
            },
        )
    }
}

fn quote(identifier: &str) -> String {
    format!("`{}`", identifier.replace('`', "``"))
}

/// How a column is selected so its value arrives as the binlog carries it: character data as its raw
/// bytes in the column's charset (the session would convert it to its own charset), ENUM and SET as
/// their labels in UTF-8 (information_schema, where the schema's labels come from, cannot hold
/// characters outside the BMP on MariaDB).
fn value_expression(column: &ColumnSchema) -> String {
    let name = quote(&column.name);
    match column.type_code {
        type_code::ENUM | type_code::SET => format!("CONVERT({name} USING utf8mb4)"),
        code if type_code::is_string_or_blob(code) && !column.charset.is_binary() => {
            format!("CAST({name} AS BINARY)")
        }
        _ => name,
    }
}

/// The `SELECT` of a chunk: every column's value in table order (see [`value_expression`]), then the
/// primary key's columns as they are, keyset-paginated on the primary key.
pub fn chunk_query(table: &TableSchema, after_key: bool, chunk_size: usize) -> String {
    let mut columns: Vec<String> = table.columns.iter().map(value_expression).collect();
    let key: Vec<String> = table
        .primary_key
        .iter()
        .map(|&i| quote(&table.columns[i].name))
        .collect();
    columns.extend(key.iter().cloned());
    let mut sql = format!(
        "SELECT {} FROM {}.{}",
        columns.join(", "),
        quote(&table.name.database),
        quote(&table.name.table)
    );
    if table.primary_key.is_empty() {
        return sql;
    }
    if after_key {
        let marks = vec!["?"; key.len()].join(", ");
        sql.push_str(&format!(" WHERE ({}) > ({marks})", key.join(", ")));
    }
    sql.push_str(&format!(" ORDER BY {} LIMIT {chunk_size}", key.join(", ")));
    sql
}

/// Reads chunks over one connection, each in its own read-only transaction.
pub struct ChunkReader {
    conn: Conn,
    chunk_size: usize,
    allow_global_lock: bool,
}

impl ChunkReader {
    pub async fn new(mut conn: Conn, chunk_size: usize, allow_global_lock: bool) -> Result<Self, SourceError> {
        // TIMESTAMP values are read as UTC civil times and turned into epoch seconds.
        conn.query_drop("SET time_zone = '+00:00'")
            .await
            .map_err(SourceError::query("setting the snapshot session's time zone"))?;
        conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await
            .map_err(SourceError::query("setting the snapshot session's isolation level"))?;
        Ok(Self {
            conn,
            chunk_size,
            allow_global_lock,
        })
    }

    /// Opens a consistent-snapshot transaction and returns the binlog position it sees.
    async fn begin_at_consistent_point(&mut self) -> Result<BinlogPosition, SourceError> {
        let conn = &mut self.conn;
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(SourceError::query("starting a consistent snapshot"))?;
        let status: Vec<(String, String)> = conn
            .query("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")
            .await
            .map_err(SourceError::query("reading binlog_snapshot_file/position"))?;
        let value = |name: &str| {
            status
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if let (Some(file), Some(offset)) = (value("binlog_snapshot_file"), value("binlog_snapshot_position"))
            && !file.is_empty()
            && let Ok(offset) = offset.parse()
        {
            return Ok(BinlogPosition::new(file, offset));
        }
        conn.query_drop("ROLLBACK")
            .await
            .map_err(SourceError::query("ending a snapshot transaction"))?;
        if !self.allow_global_lock {
            return Err(SourceError::NoConsistentPoint);
        }
        conn.query_drop("FLUSH TABLES WITH READ LOCK")
            .await
            .map_err(SourceError::query("taking the global read lock (needs RELOAD)"))?;
        let result = async {
            let row: Option<Row> = conn.query_first("SHOW MASTER STATUS").await?;
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                .await?;
            Ok::<_, mysql_async::Error>(row)
        }
        .await;
        conn.query_drop("UNLOCK TABLES")
            .await
            .map_err(SourceError::query("releasing the global read lock"))?;
        let row = result.map_err(SourceError::query(
            "reading the binlog position under the global read lock",
        ))?;
        let row = row.ok_or(SourceError::NoBinlog)?;
        let file: String = row.get(0).ok_or(SourceError::NoBinlog)?;
        let offset: u64 = row.get(1).ok_or(SourceError::NoBinlog)?;
        Ok(BinlogPosition::new(file, offset))
    }

    /// Reads the chunk after `after` (from the first key when `None`).
    pub async fn read(
        &mut self,
        table: &Arc<TableSchema>,
        query: &str,
        after: Option<&[KeyValue]>,
        first_row: u64,
    ) -> Result<SnapshotChunk, SourceError> {
        let at = self.begin_at_consistent_point().await?;
        let params: Vec<mysql_async::Value> = after.unwrap_or_default().iter().map(KeyValue::to_sql).collect();
        let rows: Result<Vec<Row>, _> = if params.is_empty() {
            self.conn.exec(query, ()).await
        } else {
            self.conn.exec(query, params).await
        };
        self.conn
            .query_drop("COMMIT")
            .await
            .map_err(SourceError::query("ending a snapshot transaction"))?;
        let rows = rows.map_err(|source| SourceError::Query {
            doing: "reading a snapshot chunk",
            source,
        })?;

        let full = !table.primary_key.is_empty() && rows.len() == self.chunk_size;
        let mut last_key = Vec::new();
        let mut decoded = Vec::with_capacity(rows.len());
        let row_count = rows.len();
        for (index, row) in rows.into_iter().enumerate() {
            let values = row.unwrap();
            if full && index + 1 == row_count {
                last_key = values[table.columns.len()..].iter().map(KeyValue::from_sql).collect();
            }
            let mut row_values = Vec::with_capacity(values.len());
            for (column, value) in table.columns.iter().zip(values) {
                row_values.push(decode_selected(column, value).map_err(|error| SourceError::Decode {
                    table: table.name.clone(),
                    detail: format!("snapshot row: {error}"),
                })?);
            }
            decoded.push(row_values);
        }
        let progress = if full {
            TableProgress::After(last_key)
        } else {
            TableProgress::Done
        };
        Ok(SnapshotChunk {
            table: table.clone(),
            rows: decoded,
            at,
            first_row,
            progress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Charset, TableName};

    fn table(primary_key: Vec<usize>) -> TableSchema {
        let column = |name: &str| ColumnSchema::new(name, 3);
        TableSchema {
            name: TableName::new("shop", "order`s"),
            columns: vec![column("a"), column("b"), column("c")],
            primary_key,
            key_name: "PRIMARY".into(),
        }
    }

    #[test]
    fn chunks_page_by_key_never_by_offset() {
        assert_eq!(
            chunk_query(&table(vec![2, 0]), true, 500),
            "SELECT `a`, `b`, `c`, `c`, `a` FROM `shop`.`order``s` WHERE (`c`, `a`) > (?, ?) ORDER BY `c`, `a` LIMIT 500"
        );
        assert_eq!(
            chunk_query(&table(vec![0]), false, 10),
            "SELECT `a`, `b`, `c`, `a` FROM `shop`.`order``s` ORDER BY `a` LIMIT 10"
        );
    }

    #[test]
    fn character_data_is_read_as_raw_bytes_and_labels_as_utf8() {
        let mut text = ColumnSchema::new("t", type_code::VARCHAR);
        text.charset = Charset { name: "latin1".into() };
        let table = TableSchema {
            name: TableName::new("db", "t"),
            columns: vec![
                text,
                ColumnSchema::new("e", type_code::ENUM),
                ColumnSchema::new("b", type_code::VARCHAR),
            ],
            primary_key: vec![0],
            key_name: "PRIMARY".into(),
        };
        assert_eq!(
            chunk_query(&table, false, 10),
            "SELECT CAST(`t` AS BINARY), CONVERT(`e` USING utf8mb4), `b`, `t` FROM `db`.`t` ORDER BY `t` LIMIT 10"
        );
    }

    #[test]
    fn a_table_without_a_key_is_one_scan() {
        assert_eq!(
            chunk_query(&table(vec![]), false, 10),
            "SELECT `a`, `b`, `c` FROM `shop`.`order``s`"
        );
    }
}
