//! The flat layout in which a batch crosses the boundary (`change-batch` and `filtered` in
//! `wit/plugin.wit`).
//!
//! Everything per change is bytes: each change's entry (table id, operation, first value: three
//! little-endian u32 words) in `changes`, where each carried value starts in `offsets` (u32 words), and
//! the values themselves in `data`, one after another, each a kind byte (the position of its case in
//! the contract's `column-value`) and a little-endian payload. A filter answers a u32 word per change
//! the same way. A batch then crosses as three blocks of memory whatever it holds: a list of records
//! or variants would cost a guest allocation per string and, in the Python and JavaScript glue, an
//! object built per element. The guest helpers decode a value only when the plugin reads it.
//!
//! Invariant: this encoding and the decoders of `plugins/sluice-guest/src/values.rs`,
//! `plugins/reference-python/sluice_plugin.py` and `plugins/reference-js/sluice_plugin.js` agree; the
//! round-trip test below and the three-language equivalence test (`tests/tests/plugin_languages.rs`)
//! hold them to it.

use crate::change::{ColumnSchema, ColumnValue, Operation, type_code};

/// Bytes per change in a batch's `changes`: table id, operation, first value.
pub const CHANGE_BYTES: usize = 12;

/// The words of a filter's verdicts: keep, drop, or `EDIT_SETS + n` for keeping the change with the
/// answer's edit set `n`.
pub mod verdict {
    pub const KEEP: u32 = 0;
    pub const DROP: u32 = 1;
    pub const EDIT_SETS: u32 = 2;
}

/// Appends one change's entry to a batch's `changes`.
pub fn write_change(changes: &mut Vec<u8>, table_id: u32, operation: Operation, first_value: u32) {
    let operation: u32 = match operation {
        Operation::Insert => 0,
        Operation::Update => 1,
        Operation::Delete => 2,
    };
    let mut entry = [0; CHANGE_BYTES];
    entry[..4].copy_from_slice(&table_id.to_le_bytes());
    entry[4..8].copy_from_slice(&operation.to_le_bytes());
    entry[8..].copy_from_slice(&first_value.to_le_bytes());
    changes.extend_from_slice(&entry);
}

/// How many changes a batch's `changes` describes.
pub fn change_count(changes: &[u8]) -> usize {
    changes.len() / CHANGE_BYTES
}

/// The u32 words of `bytes` (a whole number of them, or `None`).
pub fn words(bytes: &[u8]) -> Option<impl ExactSizeIterator<Item = u32> + '_> {
    bytes.len().is_multiple_of(4).then(|| {
        bytes
            .chunks_exact(4)
            .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
    })
}

/// The kind byte of each `column-value` case.
pub mod kind {
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

/// Appends `value` of `column`, as the contract's `column-value` would type it, to `data`.
pub fn write_value(value: &ColumnValue, column: &ColumnSchema, data: &mut Vec<u8>) {
    match value {
        ColumnValue::Null => data.push(kind::NULL),
        ColumnValue::Int(v) => write_number(data, kind::INT, v.to_le_bytes()),
        ColumnValue::UInt(v) => write_number(data, kind::UINT, v.to_le_bytes()),
        ColumnValue::Float(v) => write_number(data, kind::FLOAT, v.to_le_bytes()),
        ColumnValue::Decimal(text) => write_bytes(data, kind::DECIMAL, text.as_bytes()),
        ColumnValue::Text(bytes) => write_text(data, bytes, &column.charset.name),
        ColumnValue::Bytes(bytes) => write_bytes(data, kind::BYTES, bytes),
        ColumnValue::DateTime(dt) => {
            let is_date = matches!(column.type_code, type_code::DATE | type_code::NEWDATE);
            data.push(if is_date { kind::DATE } else { kind::DATETIME });
            data.extend_from_slice(&dt.year.to_le_bytes());
            data.extend_from_slice(&[dt.month, dt.day]);
            if !is_date {
                data.extend_from_slice(&[dt.hour, dt.minute, dt.second]);
                data.extend_from_slice(&dt.microsecond.to_le_bytes());
            }
        }
        ColumnValue::Time(time) => {
            data.extend_from_slice(&[kind::TIME, u8::from(time.negative)]);
            data.extend_from_slice(&time.hours.to_le_bytes());
            data.extend_from_slice(&[time.minutes, time.seconds]);
            data.extend_from_slice(&time.microseconds.to_le_bytes());
        }
        ColumnValue::Timestamp { seconds, microseconds } => {
            let micros = seconds * 1_000_000 + i64::from(*microseconds);
            write_number(data, kind::TIMESTAMP_MICROS, micros.to_le_bytes());
        }
        ColumnValue::Year(year) => write_number(data, kind::INT, i64::from(*year).to_le_bytes()),
        ColumnValue::Label(label) => write_bytes(data, kind::TEXT, label.as_bytes()),
        ColumnValue::Json(json) => write_bytes(data, kind::JSON, json.as_bytes()),
    }
}

fn write_number(data: &mut Vec<u8>, kind: u8, bytes: [u8; 8]) {
    data.push(kind);
    data.extend_from_slice(&bytes);
}

fn write_bytes(data: &mut Vec<u8>, kind: u8, bytes: &[u8]) {
    data.push(kind);
    data.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    data.extend_from_slice(bytes);
}

/// Character data as UTF-8 text where its charset allows (as `lower::lower_value` does), else as bytes.
fn write_text(data: &mut Vec<u8>, bytes: &[u8], charset: &str) {
    if charset.starts_with("utf8") || charset == "ascii" {
        // Most text is ASCII, which a word-at-a-time check settles faster than UTF-8 validation.
        if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
            return write_bytes(data, kind::TEXT, bytes);
        }
    } else if charset == "latin1" {
        data.push(kind::TEXT);
        let length_at = data.len();
        data.extend_from_slice(&[0; 4]);
        for &byte in bytes {
            let mut buffer = [0; 2];
            data.extend_from_slice(char::from(byte).encode_utf8(&mut buffer).as_bytes());
        }
        let length = (data.len() - length_at - 4) as u32;
        data[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
        return;
    }
    write_bytes(data, kind::BYTES, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Charset, DateTimeValue, TimeValue};
    use crate::plugin::engine::wit;
    use crate::plugin::lower::lower_value;

    /// Reads one value back, as the guest helpers do.
    fn read_value(data: &[u8]) -> (wit::ColumnValue, usize) {
        let u16_at = |at: usize| u16::from_le_bytes(data[at..at + 2].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        let text_at = |at: usize| {
            let length = u32_at(at) as usize;
            (data[at + 4..at + 4 + length].to_vec(), 1 + 4 + length)
        };
        let string = |(bytes, size): (Vec<u8>, usize)| (String::from_utf8(bytes).unwrap(), size);
        let date = || wit::Date {
            year: u16_at(1),
            month: data[3],
            day: data[4],
        };
        match data[0] {
            kind::NULL => (wit::ColumnValue::Null, 1),
            kind::INT => (wit::ColumnValue::Int(u64_at(1) as i64), 9),
            kind::UINT => (wit::ColumnValue::Uint(u64_at(1)), 9),
            kind::FLOAT => (wit::ColumnValue::Float(f64::from_bits(u64_at(1))), 9),
            kind::TIMESTAMP_MICROS => (wit::ColumnValue::TimestampMicros(u64_at(1) as i64), 9),
            kind::DECIMAL => {
                let (text, size) = string(text_at(1));
                (wit::ColumnValue::Decimal(text), size)
            }
            kind::TEXT => {
                let (text, size) = string(text_at(1));
                (wit::ColumnValue::Text(text), size)
            }
            kind::JSON => {
                let (text, size) = string(text_at(1));
                (wit::ColumnValue::Json(text), size)
            }
            kind::BYTES => {
                let (bytes, size) = text_at(1);
                (wit::ColumnValue::Bytes(bytes), size)
            }
            kind::DATE => (wit::ColumnValue::Date(date()), 5),
            kind::TIME => (
                wit::ColumnValue::Time(wit::Time {
                    negative: data[1] == 1,
                    hours: u32_at(2),
                    minutes: data[6],
                    seconds: data[7],
                    microseconds: u32_at(8),
                }),
                12,
            ),
            kind::DATETIME => (
                wit::ColumnValue::Datetime(wit::Datetime {
                    date: date(),
                    hour: data[5],
                    minute: data[6],
                    second: data[7],
                    microsecond: u32_at(8),
                }),
                12,
            ),
            other => panic!("unknown kind {other}"),
        }
    }

    fn column(type_code: u8, charset: &str) -> ColumnSchema {
        let mut column = ColumnSchema::new("c", type_code);
        column.charset = Charset { name: charset.into() };
        column
    }

    #[test]
    fn a_change_entry_is_three_little_endian_words_and_verdicts_read_back_as_words() {
        let mut changes = Vec::new();
        write_change(&mut changes, 7, Operation::Insert, 0);
        write_change(&mut changes, 0x0102_0304, Operation::Delete, 5);
        assert_eq!(change_count(&changes), 2);
        assert_eq!(changes.len(), 2 * CHANGE_BYTES);
        let read: Vec<u32> = words(&changes).unwrap().collect();
        assert_eq!(read, [7, 0, 0, 0x0102_0304, 2, 5]);
        assert_eq!(&changes[12..16], &[4, 3, 2, 1]);
        assert!(words(&[0, 0, 0]).is_none());
        assert_eq!(words(&[]).unwrap().len(), 0);
    }

    #[test]
    fn every_value_reads_back_as_the_typed_contract_value() {
        let moment = DateTimeValue {
            year: 2024,
            month: 5,
            day: 1,
            hour: 12,
            minute: 30,
            second: 59,
            microsecond: 250_000,
        };
        let cases = [
            (ColumnValue::Null, column(type_code::LONG, "binary")),
            (ColumnValue::Int(-5), column(type_code::LONGLONG, "binary")),
            (ColumnValue::UInt(u64::MAX), column(type_code::LONGLONG, "binary")),
            (ColumnValue::Float(-1.5), column(type_code::DOUBLE, "binary")),
            (
                ColumnValue::Decimal("-12.340".into()),
                column(type_code::NEWDECIMAL, "binary"),
            ),
            (
                ColumnValue::Text("hé".as_bytes().to_vec()),
                column(type_code::VARCHAR, "utf8mb4"),
            ),
            (
                ColumnValue::Text(vec![b'h', 0xe9]),
                column(type_code::VARCHAR, "latin1"),
            ),
            (
                ColumnValue::Text(vec![0xff, 0xfe]),
                column(type_code::VARCHAR, "utf8mb4"),
            ),
            (ColumnValue::Text(vec![1, 2]), column(type_code::VARCHAR, "sjis")),
            (ColumnValue::Bytes(vec![0, 1, 2]), column(type_code::BLOB, "binary")),
            (ColumnValue::DateTime(moment), column(type_code::DATE, "binary")),
            (ColumnValue::DateTime(moment), column(type_code::DATETIME2, "binary")),
            (
                ColumnValue::Time(TimeValue {
                    negative: true,
                    hours: 838,
                    minutes: 59,
                    seconds: 58,
                    microseconds: 1,
                }),
                column(type_code::TIME2, "binary"),
            ),
            (
                ColumnValue::Timestamp {
                    seconds: -2,
                    microseconds: 500_000,
                },
                column(type_code::TIMESTAMP2, "binary"),
            ),
            (ColumnValue::Year(2024), column(type_code::YEAR, "binary")),
            (ColumnValue::Label("a,b".into()), column(type_code::SET, "utf8mb4")),
            (ColumnValue::Json("{\"a\":1}".into()), column(type_code::JSON, "binary")),
        ];
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for (value, column) in &cases {
            offsets.push(data.len());
            write_value(value, column, &mut data);
        }
        offsets.push(data.len());
        for (index, (value, column)) in cases.iter().enumerate() {
            let (read, size) = read_value(&data[offsets[index]..]);
            assert_eq!(read, lower_value(value, column), "case {index}");
            assert_eq!(size, offsets[index + 1] - offsets[index], "size of case {index}");
        }
    }
}
