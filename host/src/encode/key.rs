//! The default Kafka message key: the primary-key values of the row.
//!
//! The key is a JSON array of the key columns' values, in key order: integers as JSON numbers,
//! everything else as JSON strings of its text form (binary values as `0x`-prefixed hex), SQL NULL as
//! `null`. Examples: `[42]`, `[7,"EU"]`. Deletes are keyed by their before image, inserts and
//! updates by their after image, so every change of one row lands on one partition in order.
//! A table without a primary key gets no key.

use crate::change::{ColumnValue, RowChange, TimeValue};

pub fn primary_key(change: &RowChange) -> Option<Vec<u8>> {
    columns_key(change, &change.table.primary_key)
}

/// The key made of the given columns (indexes into the table's columns), in the same form.
pub fn columns_key(change: &RowChange, columns: &[usize]) -> Option<Vec<u8>> {
    let image = change.after.as_ref().or(change.before.as_ref())?;
    if columns.is_empty() {
        return None;
    }
    let values: Vec<serde_json::Value> = columns
        .iter()
        .filter_map(|&index| image.get(index))
        .map(key_value)
        .collect();
    serde_json::to_vec(&values).ok()
}

fn key_value(value: &ColumnValue) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        ColumnValue::Null => Json::Null,
        ColumnValue::Int(v) => Json::from(*v),
        ColumnValue::UInt(v) => Json::from(*v),
        ColumnValue::Year(v) => Json::from(*v),
        other => Json::String(text_form(other)),
    }
}

/// The canonical text of a value, as MySQL would print it.
pub fn text_form(value: &ColumnValue) -> String {
    match value {
        ColumnValue::Null => "NULL".into(),
        ColumnValue::Int(v) => v.to_string(),
        ColumnValue::UInt(v) => v.to_string(),
        ColumnValue::Float(v) => v.to_string(),
        ColumnValue::Decimal(text) | ColumnValue::Label(text) | ColumnValue::Json(text) => text.clone(),
        ColumnValue::Text(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        ColumnValue::Bytes(bytes) => {
            let mut hex = String::with_capacity(2 + bytes.len() * 2);
            hex.push_str("0x");
            for byte in bytes {
                hex.push_str(&format!("{byte:02x}"));
            }
            hex
        }
        ColumnValue::DateTime(dt) => {
            let mut text = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second
            );
            if dt.microsecond != 0 {
                text.push_str(&format!(".{:06}", dt.microsecond));
            }
            text
        }
        ColumnValue::Time(TimeValue {
            negative,
            hours,
            minutes,
            seconds,
            microseconds,
        }) => {
            let sign = if *negative { "-" } else { "" };
            let mut text = format!("{sign}{hours:02}:{minutes:02}:{seconds:02}");
            if *microseconds != 0 {
                text.push_str(&format!(".{microseconds:06}"));
            }
            text
        }
        ColumnValue::Timestamp { seconds, microseconds } => {
            if *microseconds == 0 {
                seconds.to_string()
            } else {
                format!("{seconds}.{microseconds:06}")
            }
        }
        ColumnValue::Year(v) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::change::{ColumnSchema, Operation, TableName, TableSchema, TransactionInfo};
    use crate::source::position::{BinlogPosition, RecordPosition};

    fn change(primary_key: Vec<usize>, before: Option<Vec<ColumnValue>>, after: Option<Vec<ColumnValue>>) -> RowChange {
        let column = |name: &str| ColumnSchema::new(name, 3);
        RowChange {
            origin: crate::change::Origin::Binlog,
            table: Arc::new(TableSchema {
                name: TableName::new("shop", "orders"),
                columns: vec![column("id"), column("region")],
                primary_key,
                key_name: "PRIMARY".into(),
            }),
            operation: Operation::Update,
            before,
            after,
            position: RecordPosition {
                event: BinlogPosition::new("b.000001", 4),
                row_index: 0,
            },
            timestamp: 0,
            transaction: Arc::new(TransactionInfo {
                id: "".into(),
                start: BinlogPosition::new("b.000001", 4),
            }),
        }
    }

    #[test]
    fn keys_are_json_arrays_of_primary_key_values() {
        let row = vec![ColumnValue::Int(7), ColumnValue::Text(b"EU".to_vec())];
        assert_eq!(primary_key(&change(vec![0], None, Some(row.clone()))).unwrap(), b"[7]");
        assert_eq!(
            primary_key(&change(vec![0, 1], None, Some(row.clone()))).unwrap(),
            br#"[7,"EU"]"#
        );
        assert_eq!(
            primary_key(&change(vec![1, 0], Some(row), None)).unwrap(),
            br#"["EU",7]"#
        );
    }

    #[test]
    fn tables_without_a_primary_key_get_no_key() {
        assert_eq!(
            primary_key(&change(
                vec![],
                None,
                Some(vec![ColumnValue::Int(1), ColumnValue::Null])
            )),
            None
        );
    }

    #[test]
    fn binary_values_print_as_hex() {
        assert_eq!(text_form(&ColumnValue::Bytes(vec![0, 255])), "0x00ff");
    }
}
