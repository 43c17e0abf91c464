//! Recorded changes: the JSON-lines format `sluice plugin test` reads, and what it prints.
//!
//! One change per line, self-contained (its table's shape included), so a plugin author can write
//! or record a file and test a plugin without a database or a broker:
//!
//! ```json
//! {"table":{"database":"shop","name":"orders","columns":[{"name":"id","type_code":3},{"name":"email","type_code":15}],"primary_key":[0]},
//!  "operation":"update","before":[{"int":1},{"text":"a@x"}],"after":[{"int":1},{"text":"b@x"}]}
//! ```
//!
//! Values are `"null"` or one of `{"int":-5}`, `{"uint":5}`, `{"float":1.5}`, `{"decimal":"-12.340"}`,
//! `{"text":"héllo"}`, `{"bytes":"00ff"}` (hex), `{"date":"2024-02-29"}`,
//! `{"time":"-838:59:59.000000"}`, `{"datetime":"2024-02-29 13:14:15.123456"}`,
//! `{"timestamp_micros":1704067200500000}`, `{"json":"{\"a\":1}"}`: the contract's `column-value`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::change::{
    Charset, ColumnSchema, Operation, Origin, RowChange, TableName, TableSchema, TransactionInfo, type_code,
};
use crate::plugin::chain::{DeadLetter, Routed, RoutedChange};
use crate::plugin::engine::wit;
use crate::plugin::lower::{lift_value, lower_value};
use crate::source::position::{BinlogPosition, RecordPosition};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedChange {
    pub table: RecordedTable,
    pub operation: RecordedOperation,
    #[serde(default)]
    pub before: Option<Vec<RecordedValue>>,
    #[serde(default)]
    pub after: Option<Vec<RecordedValue>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedTable {
    pub database: String,
    pub name: String,
    pub columns: Vec<RecordedColumn>,
    #[serde(default)]
    pub primary_key: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedColumn {
    pub name: String,
    pub type_code: u8,
    /// The column's charset; default `utf8mb4` for character and TEXT/BLOB type codes, else `binary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedOperation {
    Insert,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedValue {
    Null,
    Int(i64),
    Uint(u64),
    Float(f64),
    Decimal(String),
    Text(String),
    Bytes(String),
    Date(String),
    Time(String),
    Datetime(String),
    TimestampMicros(i64),
    Json(String),
}

/// What the chain made of one recorded change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Outcome {
    Drop,
    Keep {
        topic: Option<String>,
        key: Option<String>,
        partition: Option<i32>,
        object_name: String,
        fields: Vec<String>,
        before: Option<Vec<RecordedValue>>,
        after: Option<Vec<RecordedValue>>,
    },
    DeadLetter {
        topic: String,
        plugin: String,
        error: String,
    },
}

impl RecordedTable {
    pub fn to_schema(&self) -> Result<TableSchema, String> {
        let columns: Vec<ColumnSchema> = self
            .columns
            .iter()
            .map(|column| {
                let mut schema = ColumnSchema::new(column.name.clone(), column.type_code);
                schema.charset = match &column.charset {
                    Some(name) => Charset { name: name.clone() },
                    None if type_code::is_string_or_blob(column.type_code) => Charset { name: "utf8mb4".into() },
                    None => Charset::binary(),
                };
                schema
            })
            .collect();
        if let Some(bad) = self.primary_key.iter().find(|&&index| index >= columns.len()) {
            return Err(format!("primary_key index {bad} is past the {} columns", columns.len()));
        }
        Ok(TableSchema {
            name: TableName::new(self.database.clone(), self.name.clone()),
            columns,
            primary_key: self.primary_key.clone(),
            key_name: "PRIMARY".into(),
        })
    }
}

impl RecordedChange {
    /// The change as the chain sees it; `table` is its table's shape (shared between lines with equal
    /// shapes by the caller), `line` its position in the file.
    pub fn to_change(&self, table: Arc<TableSchema>, line: u64) -> Result<RowChange, String> {
        let image = |values: &Option<Vec<RecordedValue>>, name: &str| -> Result<_, String> {
            let Some(values) = values else { return Ok(None) };
            if values.len() != table.columns.len() {
                return Err(format!(
                    "`{name}` has {} values for the {} columns of {}",
                    values.len(),
                    table.columns.len(),
                    table.name
                ));
            }
            values
                .iter()
                .zip(&table.columns)
                .map(|(value, column)| Ok(lift_value(value.to_wit()?, column)))
                .collect::<Result<Vec<_>, String>>()
                .map(Some)
        };
        let before = image(&self.before, "before")?;
        let after = image(&self.after, "after")?;
        let operation = match self.operation {
            RecordedOperation::Insert => Operation::Insert,
            RecordedOperation::Update => Operation::Update,
            RecordedOperation::Delete => Operation::Delete,
        };
        let (needs_before, needs_after) = match operation {
            Operation::Insert => (false, true),
            Operation::Update => (true, true),
            Operation::Delete => (true, false),
        };
        if needs_before != before.is_some() || needs_after != after.is_some() {
            return Err(format!(
                "{:?} needs {}",
                self.operation,
                match operation {
                    Operation::Insert => "`after` and no `before`",
                    Operation::Update => "both `before` and `after`",
                    Operation::Delete => "`before` and no `after`",
                }
            ));
        }
        let position = BinlogPosition::new("recorded", line);
        Ok(RowChange {
            origin: Origin::Binlog,
            table,
            operation,
            before,
            after,
            position: RecordPosition {
                event: position.clone(),
                row_index: 0,
            },
            timestamp: 0,
            transaction: Arc::new(TransactionInfo {
                id: Arc::from(""),
                start: position,
            }),
        })
    }
}

impl RecordedTable {
    pub fn from_schema(table: &TableSchema) -> Self {
        Self {
            database: table.name.database.clone(),
            name: table.name.table.clone(),
            columns: table
                .columns
                .iter()
                .map(|column| RecordedColumn {
                    name: column.name.clone(),
                    type_code: column.type_code,
                    charset: Some(column.charset.name.clone()),
                })
                .collect(),
            primary_key: table.primary_key.clone(),
        }
    }
}

impl RecordedChange {
    /// The line `sluice run --record` writes for a change.
    pub fn from_change(change: &RowChange) -> Self {
        let image = |values: &Option<Vec<crate::change::ColumnValue>>| recorded_image(values, &change.table);
        Self {
            table: RecordedTable::from_schema(&change.table),
            operation: match change.operation {
                Operation::Insert => RecordedOperation::Insert,
                Operation::Update => RecordedOperation::Update,
                Operation::Delete => RecordedOperation::Delete,
            },
            before: image(&change.before),
            after: image(&change.after),
        }
    }
}

/// A row image in the recorded format.
fn recorded_image(values: &Option<Vec<crate::change::ColumnValue>>, table: &TableSchema) -> Option<Vec<RecordedValue>> {
    values.as_ref().map(|values| {
        values
            .iter()
            .zip(&table.columns)
            .map(|(value, column)| RecordedValue::from_wit(&lower_value(value, column)))
            .collect()
    })
}

/// Writes the row changes that enter the plugin chain to a file, one JSON line each: the input of
/// `sluice plugin test`, recorded from a live stream.
pub struct Recorder {
    out: std::io::BufWriter<std::fs::File>,
    path: std::path::PathBuf,
}

impl Recorder {
    pub fn create(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self {
            out: std::io::BufWriter::new(std::fs::File::create(path)?),
            path: path.to_owned(),
        })
    }

    /// Appends the rows of a batch and flushes, so the file is whole after every batch.
    pub fn record(&mut self, batch: &[crate::change::Change]) {
        use std::io::Write;
        let mut write = || -> std::io::Result<()> {
            for change in batch {
                if let crate::change::Change::Row(row) = change {
                    serde_json::to_writer(&mut self.out, &RecordedChange::from_change(row))?;
                    self.out.write_all(b"\n")?;
                }
            }
            self.out.flush()
        };
        if let Err(error) = write() {
            tracing::warn!(file = %self.path.display(), "cannot record changes: {error}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("`{text}` is not hex: odd length"));
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).map_err(|_| format!("`{text}` is not hex")))
        .collect()
}

fn numbers<const N: usize>(text: &str, separators: &[char], what: &str) -> Result<[u32; N], String> {
    let parts: Vec<&str> = text.split(separators).collect();
    let mut numbers = [0u32; N];
    if parts.len() > N || parts.len() < N - 1 {
        return Err(format!("`{text}` is not a {what}"));
    }
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        *slot = part.parse().map_err(|_| format!("`{text}` is not a {what}"))?;
    }
    if parts.len() == N {
        // The fraction, right-padded to microseconds.
        let fraction = parts[N - 1];
        if fraction.len() > 6 {
            return Err(format!("`{text}` has more than 6 fractional digits"));
        }
        numbers[N - 1] *= 10u32.pow(6 - fraction.len() as u32);
    }
    Ok(numbers)
}

impl RecordedValue {
    pub fn to_wit(&self) -> Result<wit::ColumnValue, String> {
        Ok(match self {
            RecordedValue::Null => wit::ColumnValue::Null,
            RecordedValue::Int(v) => wit::ColumnValue::Int(*v),
            RecordedValue::Uint(v) => wit::ColumnValue::Uint(*v),
            RecordedValue::Float(v) => wit::ColumnValue::Float(*v),
            RecordedValue::Decimal(text) => wit::ColumnValue::Decimal(text.clone()),
            RecordedValue::Text(text) => wit::ColumnValue::Text(text.clone()),
            RecordedValue::Bytes(text) => wit::ColumnValue::Bytes(unhex(text)?),
            RecordedValue::Json(text) => wit::ColumnValue::Json(text.clone()),
            RecordedValue::TimestampMicros(v) => wit::ColumnValue::TimestampMicros(*v),
            RecordedValue::Date(text) => {
                let not_a_date = || format!("`{text}` is not a date (YYYY-MM-DD)");
                let parts: Vec<u32> = text
                    .split('-')
                    .map(|part| part.parse().map_err(|_| not_a_date()))
                    .collect::<Result<_, _>>()?;
                let [year, month, day] = parts[..] else {
                    return Err(not_a_date());
                };
                wit::ColumnValue::Date(wit::Date {
                    year: year as u16,
                    month: month as u8,
                    day: day as u8,
                })
            }
            RecordedValue::Datetime(text) => {
                let [year, month, day, hour, minute, second, micro] =
                    numbers::<7>(text, &['-', ' ', ':', '.'], "datetime (YYYY-MM-DD HH:MM:SS[.ffffff])")?;
                wit::ColumnValue::Datetime(wit::Datetime {
                    date: wit::Date {
                        year: year as u16,
                        month: month as u8,
                        day: day as u8,
                    },
                    hour: hour as u8,
                    minute: minute as u8,
                    second: second as u8,
                    microsecond: micro,
                })
            }
            RecordedValue::Time(text) => {
                let (negative, magnitude) = match text.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, text.as_str()),
                };
                let [hours, minutes, seconds, microseconds] =
                    numbers::<4>(magnitude, &[':', '.'], "time ([-]HHH:MM:SS[.ffffff])")?;
                wit::ColumnValue::Time(wit::Time {
                    negative,
                    hours,
                    minutes: minutes as u8,
                    seconds: seconds as u8,
                    microseconds,
                })
            }
        })
    }

    pub fn from_wit(value: &wit::ColumnValue) -> Self {
        match value {
            wit::ColumnValue::Null => RecordedValue::Null,
            wit::ColumnValue::Int(v) => RecordedValue::Int(*v),
            wit::ColumnValue::Uint(v) => RecordedValue::Uint(*v),
            wit::ColumnValue::Float(v) => RecordedValue::Float(*v),
            wit::ColumnValue::Decimal(text) => RecordedValue::Decimal(text.clone()),
            wit::ColumnValue::Text(text) => RecordedValue::Text(text.clone()),
            wit::ColumnValue::Bytes(bytes) => RecordedValue::Bytes(hex(bytes)),
            wit::ColumnValue::Json(text) => RecordedValue::Json(text.clone()),
            wit::ColumnValue::TimestampMicros(v) => RecordedValue::TimestampMicros(*v),
            wit::ColumnValue::Date(date) => {
                RecordedValue::Date(format!("{:04}-{:02}-{:02}", date.year, date.month, date.day))
            }
            wit::ColumnValue::Datetime(dt) => RecordedValue::Datetime(format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
                dt.date.year, dt.date.month, dt.date.day, dt.hour, dt.minute, dt.second, dt.microsecond
            )),
            wit::ColumnValue::Time(time) => RecordedValue::Time(format!(
                "{}{:02}:{:02}:{:02}.{:06}",
                if time.negative { "-" } else { "" },
                time.hours,
                time.minutes,
                time.seconds,
                time.microseconds
            )),
        }
    }
}

/// What the chain made of one change, for printing.
pub fn outcome(routed: &Routed) -> Option<Outcome> {
    match routed {
        Routed::Commit(_) | Routed::Ddl(_) => None,
        Routed::DeadLetter(DeadLetter {
            topic, plugin, error, ..
        }) => Some(Outcome::DeadLetter {
            topic: topic.clone(),
            plugin: plugin.clone(),
            error: error.clone(),
        }),
        Routed::Row(RoutedChange { change, routing }) => {
            let image = |values: &Option<Vec<crate::change::ColumnValue>>| recorded_image(values, &change.table);
            let key = routing
                .key
                .clone()
                .or_else(|| crate::encode::key::primary_key(change))
                .map(|key| String::from_utf8_lossy(&key).into_owned());
            Some(Outcome::Keep {
                topic: routing.topic.as_deref().map(str::to_owned),
                key,
                partition: routing.partition,
                object_name: routing
                    .object_name
                    .as_deref()
                    .map_or_else(|| change.table.name.object_name(), str::to_owned),
                fields: change.table.columns.iter().map(|column| column.name.clone()).collect(),
                before: image(&change.before),
                after: image(&change.after),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_line_reads_into_a_change_and_its_values_print_back_the_same() {
        let line = r#"{"table":{"database":"shop","name":"orders","columns":[{"name":"id","type_code":3},{"name":"email","type_code":15},{"name":"at","type_code":18},{"name":"span","type_code":19},{"name":"raw","type_code":252,"charset":"binary"}],"primary_key":[0]},"operation":"insert","after":[{"int":1},{"text":"a@x"},{"datetime":"2024-02-29 13:14:15.123456"},{"time":"-838:59:59.000000"},{"bytes":"00ff"}]}"#;
        let recorded: RecordedChange = serde_json::from_str(line).unwrap();
        let table = Arc::new(recorded.table.to_schema().unwrap());
        let change = recorded.to_change(table, 1).unwrap();
        let routed = Routed::Row(RoutedChange {
            change,
            routing: Default::default(),
        });
        let Some(Outcome::Keep { after, key, fields, .. }) = outcome(&routed) else {
            panic!("kept")
        };
        assert_eq!(after, recorded.after);
        assert_eq!(key.as_deref(), Some("[1]"));
        assert_eq!(fields, ["id", "email", "at", "span", "raw"]);
    }

    #[test]
    fn a_change_records_as_a_line_that_reads_back_into_the_same_change() {
        let line = r#"{"table":{"database":"shop","name":"orders","columns":[{"name":"id","type_code":3,"charset":"binary"},{"name":"email","type_code":15,"charset":"latin1"}],"primary_key":[0]},"operation":"update","before":[{"int":1},{"text":"é"}],"after":[{"int":1},"null"]}"#;
        let recorded: RecordedChange = serde_json::from_str(line).unwrap();
        let table = Arc::new(recorded.table.to_schema().unwrap());
        let change = recorded.to_change(table.clone(), 1).unwrap();
        let again = RecordedChange::from_change(&change);
        assert_eq!(again, recorded);
        assert_eq!(again.to_change(table, 1).unwrap(), change);
    }

    #[test]
    fn an_image_of_the_wrong_width_or_operation_is_refused_with_the_reason() {
        let line = r#"{"table":{"database":"shop","name":"t","columns":[{"name":"id","type_code":3}]},"operation":"delete","after":[{"int":1}]}"#;
        let recorded: RecordedChange = serde_json::from_str(line).unwrap();
        let table = Arc::new(recorded.table.to_schema().unwrap());
        let error = recorded.to_change(table.clone(), 1).unwrap_err();
        assert!(error.contains("`before` and no `after`"), "{error}");
        let line = r#"{"table":{"database":"shop","name":"t","columns":[{"name":"id","type_code":3}]},"operation":"insert","after":[{"int":1},"null"]}"#;
        let recorded: RecordedChange = serde_json::from_str(line).unwrap();
        let error = recorded.to_change(table, 1).unwrap_err();
        assert!(error.contains("has 2 values for the 1 columns"), "{error}");
    }
}
