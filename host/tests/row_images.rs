//! Proves `source::row_images` (the binlog reader's own row parser) equal to the driver's row iterator
//! followed by `decode_row`, on every rows event of every recorded binlog in
//! `../shared/mysql-binlogs/` (MySQL 5.6 to 9.x, MariaDB 10.5): the same values for every row image,
//! and an error exactly where the driver's path fails.

use std::fs::File;
use std::io::{BufReader, Cursor};
use std::path::PathBuf;

use mysql_common::binlog::BinlogFile;
use mysql_common::binlog::consts::{BinlogVersion, EventType};
use mysql_common::binlog::events::{EventData, RowsEventData, TransactionPayloadEvent};
use sluice::change::{ColumnValue, TableSchema};
use sluice::source::decode::decode_row;
use sluice::source::row_images::RowImages;
use sluice::source::schema::table_schema;

type Images = (Option<Vec<ColumnValue>>, Option<Vec<ColumnValue>>);

fn fixtures() -> Vec<PathBuf> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/mysql-binlogs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|e| panic!("the recorded binlogs must be in {}: {e}", directory.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_none_or(|extension| extension != "md"))
        .collect();
    files.sort();
    files
}

/// The driver's path: its row iterator, then `decode_row` per image; stops at the first error.
fn through_the_driver(
    rows: &RowsEventData<'_>,
    table_map: &mysql_common::binlog::events::TableMapEvent<'_>,
    schema: &TableSchema,
) -> Result<Vec<Images>, ()> {
    let mut decoded = Vec::new();
    for row in rows.rows(table_map) {
        let (before, after) = row.map_err(|_| ())?;
        let before = before
            .map(|image| decode_row(schema, image))
            .transpose()
            .map_err(|_| ())?;
        let after = after
            .map(|image| decode_row(schema, image))
            .transpose()
            .map_err(|_| ())?;
        decoded.push((before, after));
    }
    Ok(decoded)
}

fn through_row_images(
    rows: &RowsEventData<'_>,
    table_map: &mysql_common::binlog::events::TableMapEvent<'_>,
    schema: &TableSchema,
) -> Result<Vec<Images>, ()> {
    RowImages::new(rows, table_map, schema)
        .map_err(|_| ())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ())
}

#[test]
fn row_images_decode_every_recorded_row_as_the_driver_path_does() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (mut events, mut rows, mut refused) = (0, 0, 0);
    for path in fixtures() {
        let Ok(file) = File::open(&path) else { continue };
        let Ok(mut binlog) = BinlogFile::new(BinlogVersion::Version4, BufReader::new(file)) else {
            continue;
        };
        while let Some(Ok(event)) = binlog.next() {
            let mut batch = vec![event];
            if batch[0].header().event_type_raw() == EventType::TRANSACTION_PAYLOAD_EVENT as u8 {
                let payload: TransactionPayloadEvent<'_> = batch[0].read_event().unwrap();
                let mut inner = Cursor::new(payload.danger_decompress());
                while let Ok(Some(embedded)) = binlog.reader_mut().read_decompressed(&mut inner) {
                    batch.push(embedded);
                }
            }
            for event in &batch {
                let Ok(Some(EventData::RowsEvent(rows_event))) = event.read_data() else {
                    continue;
                };
                if matches!(rows_event, RowsEventData::PartialUpdateRowsEvent(_)) {
                    continue; // refused by the reader before any row is read
                }
                let Some(table_map) = binlog.reader().get_tme(rows_event.table_id()) else {
                    continue;
                };
                let Ok(schema) = runtime.block_on(table_schema(table_map, None)) else {
                    continue;
                };
                let expected = through_the_driver(&rows_event, table_map, &schema);
                let actual = through_row_images(&rows_event, table_map, &schema);
                assert_eq!(actual, expected, "{}: a rows event of {}", path.display(), schema.name);
                events += 1;
                match expected {
                    Ok(images) => rows += images.len(),
                    Err(()) => refused += 1,
                }
            }
        }
    }
    assert!(events >= 50 && rows >= 50, "{events} rows events, {rows} rows compared");
    assert!(refused > 0, "the fixtures include rows the decoder refuses");
}
