//! [`Value`]: one carried value, read lazily from the byte layout the host sends (`change-batch` in
//! `wit/plugin.wit`), and the encoder the native test constructors use to build that layout.
//!
//! A value is decoded only when the plugin reads it, and text borrows the batch's bytes, so reading a
//! value allocates nothing.

use crate::types::{ColumnValue, Date, Datetime, Time};

/// The kind byte of SQL NULL.
pub(crate) const NULL_KIND: u8 = kind::NULL;

/// The kind byte of each `column-value` case: its position in the WIT variant.
mod kind {
    pub const NULL: u8 = 0;
    pub const INT: u8 = 1;
    pub const UINT: u8 = 2;
    pub const FLOAT: u8 = 3;
    pub const DECIMAL: u8 = 4;
    pub const TEXT: u8 = 5;
    pub const BYTES: u8 = 6;
    pub const DATE: u8 = 7;
    pub const TIME: u8 = 8;
    pub const DATETIME: u8 = 9;
    pub const TIMESTAMP_MICROS: u8 = 10;
    pub const JSON: u8 = 11;
}

/// One column's value, borrowed from the batch: the cases of [`ColumnValue`], with text as `&str`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    Int(i64),
    Uint(u64),
    Float(f64),
    /// DECIMAL, as exact decimal text.
    Decimal(&'a str),
    /// A character column, as UTF-8.
    Text(&'a str),
    /// A binary column, or character data not valid in its charset.
    Bytes(&'a [u8]),
    Date(Date),
    Time(Time),
    Datetime(Datetime),
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    TimestampMicros(i64),
    /// JSON text.
    Json(&'a str),
}

impl<'a> Value<'a> {
    /// Whether this is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a character column.
    pub fn as_text(&self) -> Option<&'a str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The value of a signed integer column.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// The value as an owned [`ColumnValue`], for example to publish it in an edit.
    pub fn to_column_value(&self) -> ColumnValue {
        match *self {
            Value::Null => ColumnValue::Null,
            Value::Int(v) => ColumnValue::Int(v),
            Value::Uint(v) => ColumnValue::Uint(v),
            Value::Float(v) => ColumnValue::Float(v),
            Value::Decimal(text) => ColumnValue::Decimal(text.to_owned()),
            Value::Text(text) => ColumnValue::Text(text.to_owned()),
            Value::Bytes(bytes) => ColumnValue::Bytes(bytes.to_vec()),
            Value::Date(date) => ColumnValue::Date(date),
            Value::Time(time) => ColumnValue::Time(time),
            Value::Datetime(datetime) => ColumnValue::Datetime(datetime),
            Value::TimestampMicros(v) => ColumnValue::TimestampMicros(v),
            Value::Json(text) => ColumnValue::Json(text.to_owned()),
        }
    }

    /// Reads the value whose encoding starts at `data[0]`; `None` if the bytes are not a value.
    pub(crate) fn decode(data: &'a [u8]) -> Option<Value<'a>> {
        let (&kind, payload) = data.split_first()?;
        let bytes = |size: usize| payload.get(..size);
        let u16_at = |at: usize| Some(u16::from_le_bytes(payload.get(at..at + 2)?.try_into().ok()?));
        let u32_at = |at: usize| Some(u32::from_le_bytes(payload.get(at..at + 4)?.try_into().ok()?));
        let u64_at = || Some(u64::from_le_bytes(bytes(8)?.try_into().ok()?));
        let run = || payload.get(4..4 + u32_at(0)? as usize);
        let text = || std::str::from_utf8(run()?).ok();
        let date = || {
            Some(Date {
                year: u16_at(0)?,
                month: *payload.get(2)?,
                day: *payload.get(3)?,
            })
        };
        Some(match kind {
            kind::NULL => Value::Null,
            kind::INT => Value::Int(u64_at()? as i64),
            kind::UINT => Value::Uint(u64_at()?),
            kind::FLOAT => Value::Float(f64::from_bits(u64_at()?)),
            kind::DECIMAL => Value::Decimal(text()?),
            kind::TEXT => Value::Text(text()?),
            kind::BYTES => Value::Bytes(run()?),
            kind::DATE => Value::Date(date()?),
            kind::TIME => Value::Time(Time {
                negative: *payload.first()? == 1,
                hours: u32_at(1)?,
                minutes: *payload.get(5)?,
                seconds: *payload.get(6)?,
                microseconds: u32_at(7)?,
            }),
            kind::DATETIME => Value::Datetime(Datetime {
                date: date()?,
                hour: *payload.get(4)?,
                minute: *payload.get(5)?,
                second: *payload.get(6)?,
                microsecond: u32_at(7)?,
            }),
            kind::TIMESTAMP_MICROS => Value::TimestampMicros(u64_at()? as i64),
            kind::JSON => Value::Json(text()?),
            _ => return None,
        })
    }
}

impl PartialEq<ColumnValue> for Value<'_> {
    fn eq(&self, other: &ColumnValue) -> bool {
        self.to_column_value() == *other
    }
}

/// Appends `value` in the flat layout, as the host writes it.
pub(crate) fn encode(value: &ColumnValue, data: &mut Vec<u8>) {
    let run = |data: &mut Vec<u8>, kind: u8, bytes: &[u8]| {
        data.push(kind);
        data.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        data.extend_from_slice(bytes);
    };
    let date = |data: &mut Vec<u8>, date: &Date| {
        data.extend_from_slice(&date.year.to_le_bytes());
        data.extend_from_slice(&[date.month, date.day]);
    };
    match value {
        ColumnValue::Null => data.push(kind::NULL),
        ColumnValue::Int(v) => {
            data.push(kind::INT);
            data.extend_from_slice(&v.to_le_bytes());
        }
        ColumnValue::Uint(v) => {
            data.push(kind::UINT);
            data.extend_from_slice(&v.to_le_bytes());
        }
        ColumnValue::Float(v) => {
            data.push(kind::FLOAT);
            data.extend_from_slice(&v.to_le_bytes());
        }
        ColumnValue::TimestampMicros(v) => {
            data.push(kind::TIMESTAMP_MICROS);
            data.extend_from_slice(&v.to_le_bytes());
        }
        ColumnValue::Decimal(text) => run(data, kind::DECIMAL, text.as_bytes()),
        ColumnValue::Text(text) => run(data, kind::TEXT, text.as_bytes()),
        ColumnValue::Json(text) => run(data, kind::JSON, text.as_bytes()),
        ColumnValue::Bytes(bytes) => run(data, kind::BYTES, bytes),
        ColumnValue::Date(value) => {
            data.push(kind::DATE);
            date(data, value);
        }
        ColumnValue::Time(time) => {
            data.extend_from_slice(&[kind::TIME, u8::from(time.negative)]);
            data.extend_from_slice(&time.hours.to_le_bytes());
            data.extend_from_slice(&[time.minutes, time.seconds]);
            data.extend_from_slice(&time.microseconds.to_le_bytes());
        }
        ColumnValue::Datetime(datetime) => {
            data.push(kind::DATETIME);
            date(data, &datetime.date);
            data.extend_from_slice(&[datetime.hour, datetime.minute, datetime.second]);
            data.extend_from_slice(&datetime.microsecond.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_reads_back_as_it_was_written() {
        let date = Date {
            year: 2024,
            month: 5,
            day: 1,
        };
        let values = [
            ColumnValue::Null,
            ColumnValue::Int(-7),
            ColumnValue::Uint(u64::MAX),
            ColumnValue::Float(2.5),
            ColumnValue::Decimal("-12.340".into()),
            ColumnValue::text("hé"),
            ColumnValue::Bytes(vec![0, 255]),
            ColumnValue::Date(date),
            ColumnValue::Time(Time {
                negative: true,
                hours: 838,
                minutes: 59,
                seconds: 59,
                microseconds: 1,
            }),
            ColumnValue::Datetime(Datetime {
                date,
                hour: 23,
                minute: 59,
                second: 58,
                microsecond: 999_999,
            }),
            ColumnValue::TimestampMicros(-1),
            ColumnValue::Json("{}".into()),
        ];
        for value in values {
            let mut data = Vec::new();
            encode(&value, &mut data);
            assert_eq!(Value::decode(&data).map(|read| read.to_column_value()), Some(value));
        }
    }

    #[test]
    fn truncated_or_unknown_bytes_are_no_value() {
        assert_eq!(Value::decode(&[]), None);
        assert_eq!(Value::decode(&[1, 0, 0]), None);
        assert_eq!(Value::decode(&[5, 9, 0, 0, 0, b'a']), None);
        assert_eq!(Value::decode(&[200]), None);
    }
}
