//! DTS Avro `Record` encoding, byte-compatible with the schema DTS consumers read.
//!
//! `Record.avsc` beside this file is a verbatim copy of the DTS schema; a test proves it equals the
//! shared reference. Each message value is one `Record`, Avro binary without a container header.
//!
//! Choices the published material leaves open (also stated in the README's format section):
//! - `version` is [`RECORD_VERSION`];
//! - `id` increases by one per published record and is kept in the checkpoint, so a record re-sent
//!   after a restart carries the same id;
//! - `sourcePosition` is `file:offset#row` (see [`crate::source::position`]), `safeSourcePosition` the
//!   start of the enclosing transaction as `file:offset`, `sourceTxid` the GTID (empty without one);
//! - `tags` holds `pk_uk_info`, a JSON object `{"PRIMARY":["col",...]}` (empty object without a key),
//!   and `snapshot` = `true` on snapshot (full-data) rows, which are `INSERT`s;
//! - `dataTypeNumber` is the binlog column type, except DATE, reported as 10 rather than the binlog's
//!   internal NEWDATE 14;
//! - `Integer.precision` is the column's storage size in bytes; `Float.precision`/`scale` are 0;
//! - TEXT columns (binlog type BLOB with a non-binary charset) are carried as `Character` with their
//!   charset; BLOB and BINARY data as `BinaryObject`; `BinaryObject.type` and `TextObject.type` are
//!   the MySQL type name (`BLOB`, `ENUM`, `SET`, `JSON`).

use std::collections::HashMap;
use std::sync::OnceLock;

use apache_avro::Schema;
use apache_avro::types::Value;

use crate::change::{ColumnSchema, ColumnValue, Operation, Origin, RowChange, TimeValue, type_code};
use crate::encode::EncodeError;
use crate::plugin::chain::RoutedChange;

/// The DTS schema, verbatim.
pub const RECORD_AVSC: &str = include_str!("Record.avsc");
/// The `version` field sluice writes.
pub const RECORD_VERSION: i32 = 1;

/// Union branch indexes of the image item type, in the order `Record.avsc` declares them.
mod branch {
    pub const NULL: u32 = 0;
    pub const INTEGER: u32 = 1;
    pub const CHARACTER: u32 = 2;
    pub const DECIMAL: u32 = 3;
    pub const FLOAT: u32 = 4;
    pub const TIMESTAMP: u32 = 5;
    pub const DATETIME: u32 = 6;
    pub const BINARY_GEOMETRY: u32 = 8;
    pub const BINARY_OBJECT: u32 = 10;
    pub const TEXT_OBJECT: u32 = 11;
}

/// The parsed schema: the `Record` type and the named types it refers to.
pub struct RecordSchema {
    pub record: Schema,
    pub all: Vec<Schema>,
}

/// The schema, parsed once.
pub fn record_schema() -> &'static RecordSchema {
    static SCHEMA: OnceLock<RecordSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let parsed = Schema::parse_str(RECORD_AVSC).expect("Record.avsc is valid Avro");
        let Schema::Union(union) = parsed else {
            panic!("Record.avsc is a list of named types")
        };
        let all = union.variants().to_vec();
        let record = all
            .iter()
            .find(|schema| matches!(schema, Schema::Record(record) if record.name.name == "Record"))
            .cloned()
            .expect("Record.avsc defines Record");
        RecordSchema { record, all }
    })
}

/// Decodes one message value back into an Avro value (for tests, the demo and tooling).
pub fn decode(mut payload: &[u8]) -> Result<Value, apache_avro::Error> {
    let schema = record_schema();
    apache_avro::from_avro_datum_schemata(&schema.record, schema.all.iter().collect(), &mut payload, None)
}

/// Encodes routed changes as DTS Avro records.
pub struct DtsAvroEncoder {
    source_version: String,
}

impl DtsAvroEncoder {
    /// `source_version` is the server's version string, carried in `source.version`.
    pub fn new(source_version: impl Into<String>) -> Self {
        Self {
            source_version: source_version.into(),
        }
    }

    pub fn encode(&self, id: i64, routed: &RoutedChange) -> Result<Vec<u8>, EncodeError> {
        let change = &routed.change;
        let object_name = routed
            .routing
            .object_name
            .clone()
            .unwrap_or_else(|| change.table.name.object_name());
        let value = self.record(id, change, object_name.clone());
        let schema = record_schema();
        apache_avro::to_avro_datum_schemata(&schema.record, schema.all.iter().collect(), value).map_err(|error| {
            EncodeError {
                object: object_name,
                detail: error.to_string(),
            }
        })
    }

    fn record(&self, id: i64, change: &RowChange, object_name: String) -> Value {
        let (operation_index, operation_name) = match change.operation {
            Operation::Insert => (0, "INSERT"),
            Operation::Update => (1, "UPDATE"),
            Operation::Delete => (2, "DELETE"),
        };
        let columns = &change.table.columns;
        let fields = Value::Array(
            columns
                .iter()
                .map(|column| {
                    Value::Record(vec![
                        ("name".into(), Value::String(column.name.clone())),
                        ("dataTypeNumber".into(), Value::Int(data_type_number(column))),
                    ])
                })
                .collect(),
        );
        let image = |image: &Option<Vec<ColumnValue>>| match image {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(values) => Value::Union(
                2,
                Box::new(Value::Array(
                    values
                        .iter()
                        .zip(columns)
                        .map(|(value, column)| image_value(value, column))
                        .collect(),
                )),
            ),
        };
        let key_columns: Vec<&str> = change
            .table
            .primary_key
            .iter()
            .map(|&index| columns[index].name.as_str())
            .collect();
        let pk_uk_info = if key_columns.is_empty() {
            "{}".to_owned()
        } else {
            serde_json::json!({ "PRIMARY": key_columns }).to_string()
        };
        Value::Record(vec![
            ("version".into(), Value::Int(RECORD_VERSION)),
            ("id".into(), Value::Long(id)),
            ("sourceTimestamp".into(), Value::Long(change.timestamp as i64)),
            ("sourcePosition".into(), Value::String(change.position.to_string())),
            (
                "safeSourcePosition".into(),
                Value::String(change.transaction.start.to_string()),
            ),
            ("sourceTxid".into(), Value::String(change.transaction.id.to_string())),
            (
                "source".into(),
                Value::Record(vec![
                    ("sourceType".into(), Value::Enum(0, "MySQL".into())),
                    ("version".into(), Value::String(self.source_version.clone())),
                ]),
            ),
            ("operation".into(), Value::Enum(operation_index, operation_name.into())),
            (
                "objectName".into(),
                Value::Union(1, Box::new(Value::String(object_name))),
            ),
            ("processTimestamps".into(), Value::Union(0, Box::new(Value::Null))),
            ("tags".into(), Value::Map(tags(change, pk_uk_info))),
            ("fields".into(), Value::Union(2, Box::new(fields))),
            ("beforeImages".into(), image(&change.before)),
            ("afterImages".into(), image(&change.after)),
            ("bornTimestamp".into(), Value::Long(change.timestamp as i64 * 1000)),
        ])
    }
}

/// The `dataTypeNumber` of a column: its binlog type code, except that DATE columns, which the binlog
/// stores as the internal NEWDATE (14), are reported as DATE (10), as the server reports them to clients.
fn data_type_number(column: &ColumnSchema) -> i32 {
    match column.type_code {
        type_code::NEWDATE => type_code::DATE as i32,
        code => code as i32,
    }
}

/// `pk_uk_info` always; `snapshot` = `true` on rows read by a snapshot rather than the binlog.
fn tags(change: &RowChange, pk_uk_info: String) -> HashMap<String, Value> {
    let mut tags = HashMap::from([("pk_uk_info".to_owned(), Value::String(pk_uk_info))]);
    if change.origin == Origin::Snapshot {
        tags.insert("snapshot".to_owned(), Value::String("true".into()));
    }
    tags
}

fn integer_size(type_code: u8) -> i32 {
    match type_code {
        type_code::TINY => 1,
        type_code::SHORT => 2,
        type_code::INT24 => 3,
        type_code::LONG => 4,
        _ => 8,
    }
}

fn type_name(column: &ColumnSchema) -> &'static str {
    match column.type_code {
        type_code::ENUM => "ENUM",
        type_code::SET => "SET",
        type_code::JSON => "JSON",
        type_code::GEOMETRY => "GEOMETRY",
        type_code::TINY_BLOB => "TINYBLOB",
        type_code::MEDIUM_BLOB => "MEDIUMBLOB",
        type_code::LONG_BLOB => "LONGBLOB",
        type_code::STRING => "BINARY",
        type_code::VARCHAR | type_code::VAR_STRING => "VARBINARY",
        _ => "BLOB",
    }
}

fn union(branch: u32, fields: Vec<(&str, Value)>) -> Value {
    Value::Union(
        branch,
        Box::new(Value::Record(
            fields
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )),
    )
}

fn optional_int(value: Option<i32>) -> Value {
    match value {
        Some(value) => Value::Union(1, Box::new(Value::Int(value))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

fn datetime(parts: [Option<i32>; 7]) -> Value {
    let names = ["year", "month", "day", "hour", "minute", "second", "millis"];
    union(
        branch::DATETIME,
        names
            .into_iter()
            .zip(parts)
            .map(|(name, part)| (name, optional_int(part)))
            .collect(),
    )
}

/// One column value in the union branch DTS uses for its type.
fn image_value(value: &ColumnValue, column: &ColumnSchema) -> Value {
    match value {
        ColumnValue::Null => Value::Union(branch::NULL, Box::new(Value::Null)),
        ColumnValue::Int(v) => integer(column, v.to_string()),
        ColumnValue::UInt(v) => integer(column, v.to_string()),
        ColumnValue::Float(v) => union(
            branch::FLOAT,
            vec![
                ("value", Value::Double(*v)),
                ("precision", Value::Int(0)),
                ("scale", Value::Int(0)),
            ],
        ),
        ColumnValue::Decimal(text) => union(
            branch::DECIMAL,
            vec![
                ("value", Value::String(text.clone())),
                ("precision", Value::Int(column.precision as i32)),
                ("scale", Value::Int(column.scale as i32)),
            ],
        ),
        ColumnValue::Text(bytes) => union(
            branch::CHARACTER,
            vec![
                ("charset", Value::String(column.charset.name.clone())),
                ("value", Value::Bytes(bytes.clone())),
            ],
        ),
        ColumnValue::Bytes(bytes) => match column.type_code {
            type_code::GEOMETRY => union(
                branch::BINARY_GEOMETRY,
                vec![
                    ("type", Value::String("GEOMETRY".into())),
                    ("value", Value::Bytes(bytes.clone())),
                ],
            ),
            type_code::VARCHAR | type_code::VAR_STRING | type_code::STRING => union(
                branch::CHARACTER,
                vec![
                    ("charset", Value::String(column.charset.name.clone())),
                    ("value", Value::Bytes(bytes.clone())),
                ],
            ),
            _ => union(
                branch::BINARY_OBJECT,
                vec![
                    ("type", Value::String(type_name(column).into())),
                    ("value", Value::Bytes(bytes.clone())),
                ],
            ),
        },
        ColumnValue::DateTime(dt) => {
            let date = [Some(dt.year as i32), Some(dt.month as i32), Some(dt.day as i32)];
            if matches!(column.type_code, type_code::DATE | type_code::NEWDATE) {
                datetime([date[0], date[1], date[2], None, None, None, None])
            } else {
                datetime([
                    date[0],
                    date[1],
                    date[2],
                    Some(dt.hour as i32),
                    Some(dt.minute as i32),
                    Some(dt.second as i32),
                    Some(dt.microsecond as i32),
                ])
            }
        }
        ColumnValue::Time(TimeValue {
            negative,
            hours,
            minutes,
            seconds,
            microseconds,
        }) => {
            let sign = if *negative { -1 } else { 1 };
            datetime([
                None,
                None,
                None,
                Some(sign * *hours as i32),
                Some(sign * *minutes as i32),
                Some(sign * *seconds as i32),
                Some(sign * *microseconds as i32),
            ])
        }
        ColumnValue::Timestamp { seconds, microseconds } => union(
            branch::TIMESTAMP,
            vec![
                ("timestamp", Value::Long(*seconds)),
                ("millis", Value::Int(*microseconds as i32)),
            ],
        ),
        ColumnValue::Year(year) => datetime([Some(*year as i32), None, None, None, None, None, None]),
        ColumnValue::Label(label) | ColumnValue::Json(label) => union(
            branch::TEXT_OBJECT,
            vec![
                ("type", Value::String(type_name(column).into())),
                ("value", Value::String(label.clone())),
            ],
        ),
    }
}

fn integer(column: &ColumnSchema, value: String) -> Value {
    union(
        branch::INTEGER,
        vec![
            ("precision", Value::Int(integer_size(column.type_code))),
            ("value", Value::String(value)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::change::{Charset, DateTimeValue, TableName, TableSchema, TransactionInfo};
    use crate::plugin::chain::Routing;
    use crate::source::position::{BinlogPosition, RecordPosition};

    fn column(name: &str, type_code: u8, charset: &str) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            type_code,
            unsigned: false,
            charset: Charset { name: charset.into() },
            precision: 10,
            scale: 2,
            elements: vec![],
        }
    }

    fn sample() -> RoutedChange {
        let table = Arc::new(TableSchema {
            name: TableName::new("shop", "orders"),
            columns: vec![
                column("id", type_code::LONG, "binary"),
                column("note", type_code::VARCHAR, "utf8mb4"),
                column("amount", type_code::NEWDECIMAL, "binary"),
                column("created", type_code::DATETIME2, "binary"),
            ],
            primary_key: vec![0],
        });
        RoutedChange {
            change: RowChange {
                origin: Origin::Binlog,
                table,
                operation: Operation::Update,
                before: Some(vec![
                    ColumnValue::Int(1),
                    ColumnValue::Null,
                    ColumnValue::Decimal("9.99".into()),
                    ColumnValue::DateTime(DateTimeValue {
                        year: 2024,
                        month: 2,
                        day: 29,
                        hour: 23,
                        minute: 59,
                        second: 58,
                        microsecond: 0,
                    }),
                ]),
                after: Some(vec![
                    ColumnValue::Int(1),
                    ColumnValue::Text("héllo".as_bytes().to_vec()),
                    ColumnValue::Decimal("10.50".into()),
                    ColumnValue::DateTime(DateTimeValue {
                        year: 2024,
                        month: 3,
                        day: 1,
                        hour: 0,
                        minute: 0,
                        second: 1,
                        microsecond: 250,
                    }),
                ]),
                position: RecordPosition {
                    event: BinlogPosition::new("mysql-bin.000001", 900),
                    row_index: 1,
                },
                timestamp: 1_700_000_000,
                transaction: Arc::new(TransactionInfo {
                    id: "0-1-7".into(),
                    start: BinlogPosition::new("mysql-bin.000001", 800),
                }),
            },
            routing: Routing::default(),
        }
    }

    fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
        let Value::Record(fields) = record else {
            panic!("not a record: {record:?}")
        };
        &fields
            .iter()
            .find(|(field, _)| field == name)
            .unwrap_or_else(|| panic!("no field {name}"))
            .1
    }

    #[test]
    fn the_bundled_schema_is_the_shared_dts_schema() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/dts-avro/Record.avsc");
        let reference = std::fs::read_to_string(&shared)
            .unwrap_or_else(|error| panic!("the DTS reference schema must sit at {}: {error}", shared.display()));
        assert_eq!(RECORD_AVSC, reference);
    }

    #[test]
    fn an_update_round_trips_through_the_dts_schema() {
        let payload = DtsAvroEncoder::new("10.11.6-MariaDB").encode(42, &sample()).unwrap();
        let record = decode(&payload).unwrap();
        assert_eq!(field(&record, "id"), &Value::Long(42));
        assert_eq!(field(&record, "operation"), &Value::Enum(1, "UPDATE".into()));
        assert_eq!(
            field(&record, "objectName"),
            &Value::Union(1, Box::new(Value::String("shop.orders".into())))
        );
        assert_eq!(
            field(&record, "sourcePosition"),
            &Value::String("mysql-bin.000001:900#1".into())
        );
        assert_eq!(
            field(&record, "safeSourcePosition"),
            &Value::String("mysql-bin.000001:800".into())
        );
        assert_eq!(field(&record, "sourceTxid"), &Value::String("0-1-7".into()));
        let Value::Union(2, after) = field(&record, "afterImages") else {
            panic!("no after image")
        };
        let Value::Array(after) = after.as_ref() else { panic!() };
        assert_eq!(after.len(), 4);
        let Value::Union(branch, note) = &after[1] else {
            panic!()
        };
        assert_eq!(*branch, branch::CHARACTER);
        assert_eq!(field(note, "value"), &Value::Bytes("héllo".as_bytes().to_vec()));
        assert_eq!(field(note, "charset"), &Value::String("utf8mb4".into()));
        let Value::Union(branch, amount) = &after[2] else {
            panic!()
        };
        assert_eq!(*branch, branch::DECIMAL);
        assert_eq!(field(amount, "value"), &Value::String("10.50".into()));
        let Value::Union(branch, created) = &after[3] else {
            panic!()
        };
        assert_eq!(*branch, branch::DATETIME);
        assert_eq!(field(created, "millis"), &Value::Union(1, Box::new(Value::Int(250))));
        let Value::Union(2, before) = field(&record, "beforeImages") else {
            panic!("no before image")
        };
        let Value::Array(before) = before.as_ref() else {
            panic!()
        };
        assert_eq!(before[1], Value::Union(0, Box::new(Value::Null)));
    }

    #[test]
    fn a_plugin_chosen_object_name_replaces_the_source_name() {
        let mut routed = sample();
        routed.routing.object_name = Some("archive.orders_v2".into());
        let record = decode(&DtsAvroEncoder::new("x").encode(1, &routed).unwrap()).unwrap();
        assert_eq!(
            field(&record, "objectName"),
            &Value::Union(1, Box::new(Value::String("archive.orders_v2".into())))
        );
    }

    #[test]
    fn negative_times_carry_negative_parts() {
        let value = image_value(
            &ColumnValue::Time(TimeValue {
                negative: true,
                hours: 838,
                minutes: 59,
                seconds: 59,
                microseconds: 0,
            }),
            &column("t", type_code::TIME2, "binary"),
        );
        let Value::Union(branch, record) = value else { panic!() };
        assert_eq!(branch, branch::DATETIME);
        assert_eq!(field(&record, "hour"), &Value::Union(1, Box::new(Value::Int(-838))));
        assert_eq!(field(&record, "year"), &Value::Union(0, Box::new(Value::Null)));
    }
}
