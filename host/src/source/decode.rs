//! Turning the driver's binlog values into sluice's typed [`ColumnValue`]s.
//!
//! The driver decodes the wire format of each column; this module gives each value its meaning from
//! the column's schema: signedness (the driver cannot know it without `binlog_row_metadata`), ENUM
//! labels, SET members, BIT numbers, the zero YEAR, and TIMESTAMP's seconds-since-epoch form.

use mysql_async::Value;
use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;

use crate::change::{ColumnSchema, ColumnValue, DateTimeValue, TableSchema, TimeValue, type_code};

/// Why one value could not be given a meaning. The caller adds the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{column}` ({}, type code {type_code}): {detail}", type_name(*.type_code))]
pub struct ValueError {
    pub column: String,
    pub type_code: u8,
    pub detail: String,
}

/// The SQL name of a binlog column type, for messages.
pub fn type_name(type_code: u8) -> &'static str {
    match type_code {
        type_code::DECIMAL | type_code::NEWDECIMAL => "DECIMAL",
        type_code::TINY => "TINYINT",
        type_code::SHORT => "SMALLINT",
        type_code::INT24 => "MEDIUMINT",
        type_code::LONG => "INT",
        type_code::LONGLONG => "BIGINT",
        type_code::FLOAT => "FLOAT",
        type_code::DOUBLE => "DOUBLE",
        type_code::TIMESTAMP | type_code::TIMESTAMP2 => "TIMESTAMP",
        type_code::DATE | type_code::NEWDATE => "DATE",
        type_code::TIME | type_code::TIME2 => "TIME",
        type_code::DATETIME | type_code::DATETIME2 => "DATETIME",
        type_code::YEAR => "YEAR",
        type_code::VARCHAR | type_code::VAR_STRING => "VARCHAR/VARBINARY",
        type_code::STRING => "CHAR/BINARY",
        type_code::BIT => "BIT",
        type_code::JSON => "JSON",
        type_code::ENUM => "ENUM",
        type_code::SET => "SET",
        type_code::TINY_BLOB | type_code::MEDIUM_BLOB | type_code::LONG_BLOB | type_code::BLOB => "BLOB/TEXT",
        type_code::GEOMETRY => "GEOMETRY",
        type_code::NULL => "whole row",
        _ => "unknown type",
    }
}

/// Decodes one row image, aligned with `schema.columns`.
pub fn decode_row(schema: &TableSchema, mut row: BinlogRow) -> Result<Vec<ColumnValue>, ValueError> {
    if row.len() != schema.columns.len() {
        return Err(image_width_error(schema, row.len()));
    }
    let mut values = Vec::with_capacity(schema.columns.len());
    for (index, column) in schema.columns.iter().enumerate() {
        let value = row
            .take(index)
            .ok_or_else(|| error(column, "missing from the row image"))?;
        values.push(decode_value(column, value)?);
    }
    Ok(values)
}

/// A row image with `width` columns where the schema has another number.
pub(crate) fn image_width_error(schema: &TableSchema, width: usize) -> ValueError {
    ValueError {
        column: String::from("*"),
        type_code: type_code::NULL,
        detail: format!(
            "the row image has {width} of {} columns; set binlog_row_image=FULL on the server (MySQL leaves \
             the hidden columns of functional indexes out even then: such tables cannot be captured)",
            schema.columns.len()
        ),
    }
}

fn error(column: &ColumnSchema, detail: impl Into<String>) -> ValueError {
    ValueError {
        column: column.name.clone(),
        type_code: column.type_code,
        detail: detail.into(),
    }
}

/// The byte width of an integer column, for reinterpreting a signed read as unsigned.
fn integer_bits(type_code: u8) -> u32 {
    match type_code {
        type_code::TINY => 8,
        type_code::SHORT => 16,
        type_code::INT24 => 24,
        type_code::LONG => 32,
        _ => 64,
    }
}

fn as_unsigned(value: i64, bits: u32) -> u64 {
    if bits == 64 {
        value as u64
    } else {
        (value as u64) & ((1u64 << bits) - 1)
    }
}

/// A signed integer of `bits` bits, from a read that may have taken its bits as unsigned (the driver
/// reads MEDIUMINT that way).
fn as_signed(value: i64, bits: u32) -> i64 {
    let unused = 64 - bits;
    (value << unused) >> unused
}

/// The value's bytes as text, reusing their allocation.
fn text(column: &ColumnSchema, bytes: Vec<u8>) -> Result<String, ValueError> {
    String::from_utf8(bytes).map_err(|_| error(column, "value is not valid text"))
}

/// The value's bytes as borrowed text.
fn text_ref<'a>(column: &ColumnSchema, bytes: &'a [u8]) -> Result<&'a str, ValueError> {
    std::str::from_utf8(bytes).map_err(|_| error(column, "value is not valid text"))
}

/// A TIMESTAMP as the driver reads it from the binlog: `seconds[.fraction]` since the epoch.
fn binlog_timestamp(column: &ColumnSchema, bytes: &[u8]) -> Result<ColumnValue, ValueError> {
    let text = text_ref(column, bytes)?;
    let bad = || error(column, format!("bad TIMESTAMP `{text}`"));
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let seconds = seconds.parse().map_err(|_| bad())?;
    if !fraction.bytes().all(|digit| digit.is_ascii_digit()) {
        return Err(bad());
    }
    // The first six digits, right-padded with zeros: microseconds.
    let mut microseconds = 0u32;
    for position in 0..6 {
        let digit = fraction.as_bytes().get(position).map_or(0, |digit| digit - b'0');
        microseconds = microseconds * 10 + digit as u32;
    }
    Ok(ColumnValue::Timestamp { seconds, microseconds })
}

/// Decodes one value of one column.
pub fn decode_value(column: &ColumnSchema, value: BinlogValue<'_>) -> Result<ColumnValue, ValueError> {
    let value = match value {
        BinlogValue::Value(value) => value,
        BinlogValue::Jsonb(json) => {
            let json: serde_json::Value = json
                .try_into()
                .map_err(|e| error(column, format!("undecodable binary JSON: {e}")))?;
            return Ok(ColumnValue::Json(json.to_string()));
        }
        BinlogValue::JsonDiff(_) => {
            return Err(error(
                column,
                "partial JSON update (binlog_row_value_options=PARTIAL_JSON) is not supported; set binlog_row_value_options='' on the server",
            ));
        }
    };
    if value == Value::NULL {
        return Ok(ColumnValue::Null);
    }
    let code = column.type_code;
    match (code, value) {
        (
            type_code::TINY | type_code::SHORT | type_code::INT24 | type_code::LONG | type_code::LONGLONG,
            Value::Int(v),
        ) => Ok(if column.unsigned {
            ColumnValue::UInt(as_unsigned(v, integer_bits(code)))
        } else {
            ColumnValue::Int(as_signed(v, integer_bits(code)))
        }),
        (
            type_code::TINY | type_code::SHORT | type_code::INT24 | type_code::LONG | type_code::LONGLONG,
            Value::UInt(v),
        ) => Ok(if column.unsigned {
            ColumnValue::UInt(v)
        } else {
            ColumnValue::Int(as_signed(v as i64, integer_bits(code)))
        }),
        (type_code::FLOAT, Value::Float(v)) => {
            // Widen through the shortest decimal form, so FLOAT 3.14 reads 3.14, not 3.140000104904175.
            Ok(ColumnValue::Float(v.to_string().parse().unwrap_or(v as f64)))
        }
        (type_code::DOUBLE, Value::Double(v)) => Ok(ColumnValue::Float(v)),
        (type_code::NEWDECIMAL | type_code::DECIMAL, Value::Bytes(bytes)) => {
            Ok(ColumnValue::Decimal(text(column, bytes)?))
        }
        (type_code::TIMESTAMP, Value::Int(seconds)) => Ok(ColumnValue::Timestamp {
            seconds,
            microseconds: 0,
        }),
        (type_code::TIMESTAMP2, Value::Bytes(bytes)) => binlog_timestamp(column, &bytes),
        (
            type_code::DATE | type_code::NEWDATE | type_code::DATETIME | type_code::DATETIME2,
            Value::Date(year, month, day, hour, minute, second, microsecond),
        ) => Ok(ColumnValue::DateTime(DateTimeValue {
            year,
            month,
            day,
            hour,
            minute,
            second,
            microsecond,
        })),
        (type_code::TIME, _) => Err(error(
            column,
            "the column uses the pre-5.6.4 TIME format, which the binlog driver cannot read exactly (it \
             loses hours past 255 and the sign); rebuild the table in the current format with \
             `ALTER TABLE ... FORCE` (MariaDB: with `mysql56_temporal_format=ON`)",
        )),
        (type_code::TIME2, Value::Time(negative, days, hours, minutes, seconds, microseconds)) => {
            let time = TimeValue {
                negative,
                hours: days * 24 + hours as u32,
                minutes,
                seconds,
                microseconds,
            };
            let time = if code == type_code::TIME2 && matches!(column.scale, 1 | 2) {
                undo_driver_time_wrap(time)
            } else {
                time
            };
            if time.microseconds > 999_999 || time.minutes > 59 || time.seconds > 59 {
                return Err(error(column, format!("TIME value out of range: {time:?}")));
            }
            Ok(ColumnValue::Time(time))
        }
        (type_code::YEAR, Value::Bytes(bytes)) => {
            let year: u16 = text_ref(column, &bytes)?
                .parse()
                .map_err(|_| error(column, "bad YEAR"))?;
            // The binlog stores YEAR as an offset from 1900 and the zero year as 0.
            Ok(ColumnValue::Year(if year == 1900 { 0 } else { year }))
        }
        (type_code::BIT, Value::Bytes(bytes)) => {
            if bytes.len() > 8 {
                return Err(error(column, "BIT value wider than 64 bits"));
            }
            Ok(ColumnValue::UInt(
                bytes.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64),
            ))
        }
        (type_code::ENUM, Value::Int(index)) => enum_label(column, index as u64),
        (type_code::SET, Value::Bytes(bytes)) => {
            let bits = bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64);
            Ok(set_members(column, bits))
        }
        (type_code::JSON, Value::Bytes(bytes)) => Ok(ColumnValue::Json(text(column, bytes)?)),
        (code, Value::Bytes(bytes)) if type_code::is_string_or_blob(code) => Ok(if column.charset.is_binary() {
            ColumnValue::Bytes(pad_binary(column, bytes))
        } else {
            ColumnValue::Text(bytes)
        }),
        (type_code::GEOMETRY, Value::Bytes(bytes)) => Ok(ColumnValue::Bytes(bytes)),
        (_, other) => Err(error(
            column,
            format!("unsupported value {other:?} for this column type"),
        )),
    }
}

/// The label of ENUM index `index` (0 is the empty value MySQL stores for an invalid one).
fn enum_label(column: &ColumnSchema, index: u64) -> Result<ColumnValue, ValueError> {
    if index == 0 {
        return Ok(ColumnValue::Label(String::new()));
    }
    column
        .elements
        .get(index as usize - 1)
        .map(|label| ColumnValue::Label(label.clone()))
        .ok_or_else(|| error(column, format!("ENUM index {index} has no label")))
}

/// The members of a SET whose bit `i` stands for member `i`, joined by `,` in declaration order.
fn set_members(column: &ColumnSchema, bits: u64) -> ColumnValue {
    let mut members = String::new();
    for (index, member) in column.elements.iter().enumerate().take(64) {
        if bits & (1 << index) != 0 {
            if !members.is_empty() {
                members.push(',');
            }
            members.push_str(member);
        }
    }
    ColumnValue::Label(members)
}

/// A BINARY(n) value with the zero bytes the binlog leaves out put back, as `SELECT` returns it.
fn pad_binary(column: &ColumnSchema, mut bytes: Vec<u8>) -> Vec<u8> {
    if column.type_code == type_code::STRING && bytes.len() < column.fixed_length as usize {
        bytes.resize(column.fixed_length as usize, 0);
    }
    bytes
}

/// The binlog's packed TIME: `hours << 12 | minutes << 6 | seconds` in the bits above 24, and the
/// microseconds below.
fn packed_time(time: &TimeValue) -> i64 {
    let hms = ((time.hours as i64) << 12) | ((time.minutes as i64) << 6) | time.seconds as i64;
    let magnitude = (hms << 24) + time.microseconds as i64;
    if time.negative { -magnitude } else { magnitude }
}

/// What the driver adds to a negative TIME(1)/TIME(2) with a fraction: `u32` arithmetic wraps its
/// fraction to `(frac - 256 + 2^32) * 10^4`, i.e. 2^32 * 10^4 too much — exactly 625 hours.
const DRIVER_TIME_WRAP: i64 = (1 << 32) * 10_000;

/// Repairs a TIME(1)/TIME(2) binlog value the driver (mysql_common 0.37/0.38, `my_time_packed_from_binary`)
/// decoded wrongly: it shifts every negative value with a non-zero fraction by [`DRIVER_TIME_WRAP`], so
/// the driver never yields a correct negative value with a fraction. A shifted value shows either as
/// negative with a fraction, or, when the shift made it positive, with more than 999999 microseconds;
/// both are recognised and undone.
fn undo_driver_time_wrap(time: TimeValue) -> TimeValue {
    let wrapped = (time.negative && time.microseconds != 0) || (!time.negative && time.microseconds > 999_999);
    if !wrapped {
        return time;
    }
    let packed = packed_time(&time) - DRIVER_TIME_WRAP;
    let magnitude = packed.unsigned_abs();
    let hms = magnitude >> 24;
    TimeValue {
        negative: packed < 0,
        hours: (hms >> 12) as u32,
        minutes: ((hms >> 6) & 63) as u8,
        seconds: (hms & 63) as u8,
        microseconds: (magnitude & 0xFF_FFFF) as u32,
    }
}

/// Decodes one value of a row read with `SELECT` over the binary protocol. The server hands most types
/// over in the same shapes the binlog does; TIMESTAMP (a civil time in the session's zone, which the
/// snapshot sets to UTC), YEAR, ENUM, SET and JSON differ, and TIME needs none of the binlog's repairs;
/// they are handled here.
pub fn decode_selected(column: &ColumnSchema, value: Value) -> Result<ColumnValue, ValueError> {
    if value == Value::NULL {
        return Ok(ColumnValue::Null);
    }
    match (column.type_code, value) {
        (type_code::TIMESTAMP | type_code::TIMESTAMP2, Value::Date(year, month, day, hour, minute, second, micros)) => {
            if (year, month, day) == (0, 0, 0) {
                return Ok(ColumnValue::Timestamp {
                    seconds: 0,
                    microseconds: 0,
                });
            }
            let days = days_from_civil(year as i64, month as i64, day as i64);
            let seconds = days * 86_400 + hour as i64 * 3_600 + minute as i64 * 60 + second as i64;
            Ok(ColumnValue::Timestamp {
                seconds,
                microseconds: micros,
            })
        }
        (type_code::TIME | type_code::TIME2, Value::Time(negative, days, hours, minutes, seconds, microseconds)) => {
            Ok(ColumnValue::Time(TimeValue {
                negative,
                hours: days * 24 + hours as u32,
                minutes,
                seconds,
                microseconds,
            }))
        }
        (type_code::YEAR, Value::Int(year)) => Ok(ColumnValue::Year(year as u16)),
        (type_code::YEAR, Value::UInt(year)) => Ok(ColumnValue::Year(year as u16)),
        (type_code::ENUM | type_code::SET, Value::Bytes(bytes)) => Ok(ColumnValue::Label(text(column, bytes)?)),
        (type_code::JSON, Value::Bytes(bytes)) => Ok(ColumnValue::Json(text(column, bytes)?)),
        (_, value) => decode_value(column, BinlogValue::Value(value)),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Charset;

    fn column(type_code: u8, unsigned: bool) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            type_code,
            unsigned,
            charset: Charset::binary(),
            precision: 0,
            scale: 0,
            elements: vec!["a".into(), "b".into(), "c".into()],
            fixed_length: 0,
        }
    }

    fn decode(column: &ColumnSchema, value: Value) -> ColumnValue {
        decode_value(column, BinlogValue::Value(value)).unwrap()
    }

    #[test]
    fn unsigned_integers_read_without_signedness_metadata_are_reinterpreted() {
        assert_eq!(
            decode(&column(type_code::TINY, true), Value::Int(-1)),
            ColumnValue::UInt(255)
        );
        assert_eq!(
            decode(&column(type_code::INT24, true), Value::Int(-1)),
            ColumnValue::UInt(16_777_215)
        );
        assert_eq!(
            decode(&column(type_code::LONGLONG, true), Value::Int(-1)),
            ColumnValue::UInt(u64::MAX)
        );
        assert_eq!(
            decode(&column(type_code::LONG, false), Value::Int(-5)),
            ColumnValue::Int(-5)
        );
    }

    #[test]
    fn enum_set_bit_and_year_get_their_meaning() {
        assert_eq!(
            decode(&column(type_code::ENUM, false), Value::Int(2)),
            ColumnValue::Label("b".into())
        );
        assert_eq!(
            decode(&column(type_code::SET, false), Value::Bytes(vec![0b101])),
            ColumnValue::Label("a,c".into())
        );
        assert_eq!(
            decode(&column(type_code::BIT, false), Value::Bytes(vec![1, 2])),
            ColumnValue::UInt(258)
        );
        assert_eq!(
            decode(&column(type_code::YEAR, false), Value::Bytes(b"1900".to_vec())),
            ColumnValue::Year(0)
        );
        assert_eq!(
            decode(&column(type_code::YEAR, false), Value::Bytes(b"2024".to_vec())),
            ColumnValue::Year(2024)
        );
    }

    #[test]
    fn timestamps_and_floats_keep_their_exact_value() {
        assert_eq!(
            decode(
                &column(type_code::TIMESTAMP2, false),
                Value::Bytes(b"1700000000.5".to_vec())
            ),
            ColumnValue::Timestamp {
                seconds: 1_700_000_000,
                microseconds: 500_000
            }
        );
        assert_eq!(
            decode(&column(type_code::FLOAT, false), Value::Float(1.1)),
            ColumnValue::Float(1.1)
        );
    }

    #[test]
    fn binlog_timestamps_read_their_fraction_as_microseconds() {
        let column = column(type_code::TIMESTAMP2, false);
        let timestamp = |text: &str| decode(&column, Value::Bytes(text.as_bytes().to_vec()));
        let expected = |seconds, microseconds| ColumnValue::Timestamp { seconds, microseconds };
        assert_eq!(timestamp("1700000000"), expected(1_700_000_000, 0));
        assert_eq!(timestamp("1700000000.25"), expected(1_700_000_000, 250_000));
        assert_eq!(timestamp("1700000000.123456"), expected(1_700_000_000, 123_456));
        assert_eq!(timestamp("1700000000.1234567"), expected(1_700_000_000, 123_456));
        let bad = decode_value(&column, BinlogValue::Value(Value::Bytes(b"17.x".to_vec()))).unwrap_err();
        assert!(bad.detail.contains("bad TIMESTAMP `17.x`"), "{bad}");
    }

    #[test]
    fn selected_timestamps_become_epoch_seconds() {
        let column = column(type_code::TIMESTAMP2, false);
        let value = decode_selected(&column, Value::Date(2024, 1, 1, 0, 0, 0, 500_000)).unwrap();
        assert_eq!(
            value,
            ColumnValue::Timestamp {
                seconds: 1_704_067_200,
                microseconds: 500_000
            }
        );
        let value = decode_selected(&column, Value::Date(1970, 1, 1, 0, 0, 1, 0)).unwrap();
        assert_eq!(
            value,
            ColumnValue::Timestamp {
                seconds: 1,
                microseconds: 0
            }
        );
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn selected_labels_and_years_keep_their_meaning() {
        assert_eq!(
            decode_selected(&column(type_code::ENUM, false), Value::Bytes(b"b".to_vec())).unwrap(),
            ColumnValue::Label("b".into())
        );
        assert_eq!(
            decode_selected(&column(type_code::YEAR, false), Value::Int(2155)).unwrap(),
            ColumnValue::Year(2155)
        );
        assert_eq!(
            decode_selected(&column(type_code::LONG, true), Value::Int(7)).unwrap(),
            ColumnValue::UInt(7)
        );
    }

    #[test]
    fn old_format_time_is_refused_naming_the_fix_rather_than_decoded_wrongly() {
        let column = column(type_code::TIME, false);
        let value = BinlogValue::Value(Value::Time(false, 2, 22, 59, 59, 0));
        let error = decode_value(&column, value).unwrap_err();
        assert_eq!(error.column, column.name);
        assert!(error.detail.contains("pre-5.6.4 TIME format"), "{error}");
        assert!(error.detail.contains("ALTER TABLE ... FORCE"), "{error}");
    }

    #[test]
    fn negative_fractional_times_the_driver_shifts_are_repaired() {
        let mut column = column(type_code::TIME2, false);
        column.scale = 1;
        // -00:00:00.1 arrives shifted by 625 hours: 624:63:63 and 2^24 - 100000 microseconds.
        let shifted = Value::Time(false, 26, 0, 63, 63, (1 << 24) - 100_000);
        let expected = TimeValue {
            negative: true,
            hours: 0,
            minutes: 0,
            seconds: 0,
            microseconds: 100_000,
        };
        assert_eq!(decode(&column, shifted), ColumnValue::Time(expected));
        // -700:00:00.5 arrives as -75:00:00.5, still negative.
        let shifted = Value::Time(true, 3, 3, 0, 0, 500_000);
        let expected = TimeValue {
            negative: true,
            hours: 700,
            minutes: 0,
            seconds: 0,
            microseconds: 500_000,
        };
        assert_eq!(decode(&column, shifted), ColumnValue::Time(expected));
        // Values the driver decodes right stay as they are.
        let whole = Value::Time(true, 1, 1, 2, 3, 0);
        assert_eq!(
            decode(&column, whole.clone()),
            decode(&self::column(type_code::TIME2, false), whole)
        );
        // The snapshot reads TIME over the binary protocol, which has no such shift.
        let selected = decode_selected(&column, Value::Time(true, 0, 0, 0, 0, 100_000)).unwrap();
        assert_eq!(
            selected,
            ColumnValue::Time(TimeValue {
                negative: true,
                hours: 0,
                minutes: 0,
                seconds: 0,
                microseconds: 100_000
            })
        );
    }

    #[test]
    fn text_follows_the_charset() {
        let mut text_column = column(type_code::VARCHAR, false);
        text_column.charset = Charset { name: "utf8mb4".into() };
        assert_eq!(
            decode(&text_column, Value::Bytes(b"hi".to_vec())),
            ColumnValue::Text(b"hi".to_vec())
        );
        assert_eq!(
            decode(&column(type_code::VARCHAR, false), Value::Bytes(b"hi".to_vec())),
            ColumnValue::Bytes(b"hi".to_vec())
        );
    }
}
