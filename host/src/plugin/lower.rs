//! Turning sluice's tables and values into the contract's types ("lowering"), and plugin-chosen
//! values back.
//!
//! Only what a plugin asked for crosses the boundary: the rows of its tables and operations, and of
//! each row only the values of its carried columns. A table's shape is lowered once per plugin and
//! table, and sent to each instance once; row values cross in the flat layout of `flat`.

use crate::change::{ColumnSchema, ColumnValue, DateTimeValue, TableSchema, TimeValue, type_code};
use crate::plugin::engine::wit;

/// The contract's view of a table, under the id the plugin's batches refer to it by, with the columns
/// this plugin's rows carry.
pub fn lower_table(table: &TableSchema, id: u32, carried: &[u32]) -> wit::Table {
    wit::Table {
        id,
        database: table.name.database.clone(),
        name: table.name.table.clone(),
        columns: table
            .columns
            .iter()
            .map(|column| wit::Column {
                name: column.name.clone(),
                type_code: column.type_code,
            })
            .collect(),
        primary_key: table.primary_key.iter().map(|&index| index as u32).collect(),
        carried: carried.to_vec(),
    }
}

/// Character data as UTF-8 text where its charset allows, else as bytes.
fn lower_text(bytes: &[u8], charset: &str) -> wit::ColumnValue {
    if charset.starts_with("utf8") || charset == "ascii" {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return wit::ColumnValue::Text(text.to_owned());
        }
    } else if charset == "latin1" {
        return wit::ColumnValue::Text(bytes.iter().map(|&byte| byte as char).collect());
    }
    wit::ColumnValue::Bytes(bytes.to_vec())
}

pub fn lower_value(value: &ColumnValue, column: &ColumnSchema) -> wit::ColumnValue {
    match value {
        ColumnValue::Null => wit::ColumnValue::Null,
        ColumnValue::Int(v) => wit::ColumnValue::Int(*v),
        ColumnValue::UInt(v) => wit::ColumnValue::Uint(*v),
        ColumnValue::Float(v) => wit::ColumnValue::Float(*v),
        ColumnValue::Decimal(text) => wit::ColumnValue::Decimal(text.clone()),
        ColumnValue::Text(bytes) => lower_text(bytes, &column.charset.name),
        ColumnValue::Bytes(bytes) => wit::ColumnValue::Bytes(bytes.clone()),
        ColumnValue::DateTime(dt) => {
            let date = wit::Date {
                year: dt.year,
                month: dt.month,
                day: dt.day,
            };
            if matches!(column.type_code, type_code::DATE | type_code::NEWDATE) {
                wit::ColumnValue::Date(date)
            } else {
                wit::ColumnValue::Datetime(wit::Datetime {
                    date,
                    hour: dt.hour,
                    minute: dt.minute,
                    second: dt.second,
                    microsecond: dt.microsecond,
                })
            }
        }
        ColumnValue::Time(time) => wit::ColumnValue::Time(wit::Time {
            negative: time.negative,
            hours: time.hours,
            minutes: time.minutes,
            seconds: time.seconds,
            microseconds: time.microseconds,
        }),
        ColumnValue::Timestamp { seconds, microseconds } => {
            wit::ColumnValue::TimestampMicros(seconds * 1_000_000 + *microseconds as i64)
        }
        ColumnValue::Year(year) => wit::ColumnValue::Int(*year as i64),
        ColumnValue::Label(label) => wit::ColumnValue::Text(label.clone()),
        ColumnValue::Json(json) => wit::ColumnValue::Json(json.clone()),
    }
}

/// A value a plugin chose for a column (a mask), in the column's own terms where they agree, else in
/// the closest form that keeps its meaning: text in the column's charset when it is a text column.
pub fn lift_value(value: wit::ColumnValue, column: &ColumnSchema) -> ColumnValue {
    let text_column = !column.charset.is_binary();
    match value {
        wit::ColumnValue::Null => ColumnValue::Null,
        wit::ColumnValue::Int(v) => ColumnValue::Int(v),
        wit::ColumnValue::Uint(v) => ColumnValue::UInt(v),
        wit::ColumnValue::Float(v) => ColumnValue::Float(v),
        wit::ColumnValue::Decimal(text) => ColumnValue::Decimal(text),
        wit::ColumnValue::Text(text) if column.charset.name == "latin1" && text.chars().all(|c| (c as u32) < 256) => {
            ColumnValue::Text(text.chars().map(|c| c as u8).collect())
        }
        wit::ColumnValue::Text(text) if text_column => ColumnValue::Text(text.into_bytes()),
        wit::ColumnValue::Text(text) => ColumnValue::Bytes(text.into_bytes()),
        wit::ColumnValue::Bytes(bytes) => ColumnValue::Bytes(bytes),
        wit::ColumnValue::Date(date) => ColumnValue::DateTime(DateTimeValue {
            year: date.year,
            month: date.month,
            day: date.day,
            hour: 0,
            minute: 0,
            second: 0,
            microsecond: 0,
        }),
        wit::ColumnValue::Datetime(dt) => ColumnValue::DateTime(DateTimeValue {
            year: dt.date.year,
            month: dt.date.month,
            day: dt.date.day,
            hour: dt.hour,
            minute: dt.minute,
            second: dt.second,
            microsecond: dt.microsecond,
        }),
        wit::ColumnValue::Time(time) => ColumnValue::Time(TimeValue {
            negative: time.negative,
            hours: time.hours,
            minutes: time.minutes,
            seconds: time.seconds,
            microseconds: time.microseconds,
        }),
        wit::ColumnValue::TimestampMicros(micros) => ColumnValue::Timestamp {
            seconds: micros.div_euclid(1_000_000),
            microseconds: micros.rem_euclid(1_000_000) as u32,
        },
        wit::ColumnValue::Json(json) => ColumnValue::Json(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Charset;

    fn column(name: &str, type_code: u8, charset: &str) -> ColumnSchema {
        let mut column = ColumnSchema::new(name, type_code);
        column.charset = Charset { name: charset.into() };
        column
    }

    #[test]
    fn text_lowers_by_charset_and_lifts_back_into_it() {
        let latin1 = column("name", type_code::VARCHAR, "latin1");
        let lowered = lower_value(&ColumnValue::Text(vec![b'h', 0xe9]), &latin1);
        assert_eq!(lowered, wit::ColumnValue::Text("hé".into()));
        assert_eq!(lift_value(lowered, &latin1), ColumnValue::Text(vec![b'h', 0xe9]));
        let utf8 = column("name", type_code::VARCHAR, "utf8mb4");
        assert_eq!(
            lift_value(wit::ColumnValue::Text("***".into()), &utf8),
            ColumnValue::Text(b"***".to_vec())
        );
        let binary = column("raw", type_code::BLOB, "binary");
        assert_eq!(
            lift_value(wit::ColumnValue::Text("***".into()), &binary),
            ColumnValue::Bytes(b"***".to_vec())
        );
    }

    #[test]
    fn timestamps_before_the_epoch_lift_to_a_positive_fraction() {
        let stamp = column("at", type_code::TIMESTAMP2, "binary");
        assert_eq!(
            lift_value(wit::ColumnValue::TimestampMicros(-1), &stamp),
            ColumnValue::Timestamp {
                seconds: -1,
                microseconds: 999_999
            }
        );
    }
}
