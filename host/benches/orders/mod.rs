// Each benchmark uses only some of these.
#![allow(dead_code)]

//! The benchmark suite's 9-column orders table (`sluice-bench`'s shape): its schema and the values of
//! row `id` in each form the pipeline meets them.

use std::sync::Arc;

use mysql_common::binlog::row::BinlogRow;
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use mysql_common::value::Value;
use sluice::change::{Charset, ColumnSchema, ColumnValue, DateTimeValue, TableName, TableSchema, type_code};

/// BIGINT key, INT, VARCHAR, DECIMAL(10,2), INT, VARCHAR, DATETIME(3), TIMESTAMP(3), TINYINT.
pub fn table() -> Arc<TableSchema> {
    table_named("bench", "orders")
}

/// [`table`] under another name.
pub fn table_named(database: &str, name: &str) -> Arc<TableSchema> {
    let text = |name: &str| {
        let mut column = ColumnSchema::new(name, type_code::VARCHAR);
        column.charset = Charset { name: "utf8mb4".into() };
        column
    };
    let mut amount = ColumnSchema::new("amount", type_code::NEWDECIMAL);
    amount.precision = 10;
    amount.scale = 2;
    let mut created_at = ColumnSchema::new("created_at", type_code::DATETIME2);
    created_at.scale = 3;
    let mut updated_at = ColumnSchema::new("updated_at", type_code::TIMESTAMP2);
    updated_at.scale = 3;
    Arc::new(TableSchema {
        name: TableName::new(database, name),
        columns: vec![
            ColumnSchema::new("id", type_code::LONGLONG),
            ColumnSchema::new("customer_id", type_code::LONG),
            text("status"),
            amount,
            ColumnSchema::new("quantity", type_code::LONG),
            text("note"),
            created_at,
            updated_at,
            ColumnSchema::new("flags", type_code::TINY),
        ],
        primary_key: vec![0],
        key_name: "PRIMARY".into(),
    })
}

fn status(id: i64) -> &'static str {
    ["new", "paid", "shipped"][(id % 3) as usize]
}

fn amount(id: i64) -> String {
    format!("{}.{:02}", (id % 100_000) / 100, id % 100)
}

/// Row `id` as sluice's decoded image.
pub fn image(id: i64) -> Vec<ColumnValue> {
    image_with_status(id, status(id))
}

/// [`image`] with another `status`.
pub fn image_with_status(id: i64, status: &str) -> Vec<ColumnValue> {
    vec![
        ColumnValue::Int(id),
        ColumnValue::Int(id % 50_000),
        ColumnValue::Text(status.as_bytes().to_vec()),
        ColumnValue::Decimal(amount(id)),
        ColumnValue::Int(id % 7),
        ColumnValue::Text(format!("order note {id}").into_bytes()),
        ColumnValue::DateTime(DateTimeValue {
            year: 2024,
            month: 5,
            day: 1,
            hour: 12,
            minute: 0,
            second: 0,
            microsecond: 250_000,
        }),
        ColumnValue::Timestamp {
            seconds: 1_714_638_600,
            microseconds: 500_000,
        },
        ColumnValue::Int(id % 2),
    ]
}

/// Row `id` as the binlog driver hands it over (a rows event's row image).
pub fn binlog_row(id: i64) -> BinlogRow {
    let columns: Arc<[Column]> = [
        ColumnType::MYSQL_TYPE_LONGLONG,
        ColumnType::MYSQL_TYPE_LONG,
        ColumnType::MYSQL_TYPE_VARCHAR,
        ColumnType::MYSQL_TYPE_NEWDECIMAL,
        ColumnType::MYSQL_TYPE_LONG,
        ColumnType::MYSQL_TYPE_VARCHAR,
        ColumnType::MYSQL_TYPE_DATETIME2,
        ColumnType::MYSQL_TYPE_TIMESTAMP2,
        ColumnType::MYSQL_TYPE_TINY,
    ]
    .into_iter()
    .map(Column::new)
    .collect();
    let value = |value: Value| Some(BinlogValue::Value(value));
    BinlogRow::new(
        vec![
            value(Value::Int(id)),
            value(Value::Int(id % 50_000)),
            value(Value::Bytes(status(id).as_bytes().to_vec())),
            value(Value::Bytes(amount(id).into_bytes())),
            value(Value::Int(id % 7)),
            value(Value::Bytes(format!("order note {id}").into_bytes())),
            value(Value::Date(2024, 5, 1, 12, 0, 0, 250_000)),
            value(Value::Bytes(b"1714638600.500".to_vec())),
            value(Value::Int(id % 2)),
        ],
        columns,
    )
}

/// Row `id` as a snapshot chunk's `SELECT` returns it over the binary protocol.
pub fn selected_row(id: i64) -> Vec<Value> {
    vec![
        Value::Int(id),
        Value::Int(id % 50_000),
        Value::Bytes(status(id).as_bytes().to_vec()),
        Value::Bytes(amount(id).into_bytes()),
        Value::Int(id % 7),
        Value::Bytes(format!("order note {id}").into_bytes()),
        Value::Date(2024, 5, 1, 12, 0, 0, 250_000),
        Value::Date(2024, 5, 2, 8, 30, 0, 500_000),
        Value::Int(id % 2),
    ]
}
