//! Proves that every column value survives the whole path from the binlog to a DTS consumer: random
//! column types and values, written in the binlog's wire format, are read by the driver, given their
//! meaning by `decode_value`, encoded by the DTS Avro encoder and decoded with the shared DTS schema
//! into the union branch, fields and `dataTypeNumber` that the DTS mapping (`../shared/dts-avro/NOTES.md`)
//! and the README's "Column types" give them. The expected value is computed here from the generated
//! input alone, never from sluice's own conversions.

use std::sync::{Arc, LazyLock};

use apache_avro::schema::Schema;
use apache_avro::types::Value as Avro;
use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::proto::MyDeserialize;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::Value as Json;
use sluice::change::{
    Charset, ColumnSchema, ColumnValue, Operation, Origin, RowChange, TableName, TableSchema, TransactionInfo,
    type_code,
};
use sluice::encode::dts_avro::{DtsAvroEncoder, RecordSchema};
use sluice::plugin::chain::{RoutedChange, Routing};
use sluice::source::decode::decode_value;
use sluice::source::position::{BinlogPosition, RecordPosition};

/// The shared DTS schema, parsed on its own (not the copy bundled into the encoder).
static SHARED_SCHEMA: LazyLock<RecordSchema> = LazyLock::new(|| {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/dts-avro/Record.avsc");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("the DTS schema must sit at {}: {error}", path.display()));
    RecordSchema::parse(&text).expect("the shared Record.avsc parses")
});

/// The names of the image item union's branches, in the order the shared schema declares them.
static IMAGE_BRANCHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let Schema::Record(record) = &SHARED_SCHEMA.record else {
        panic!("Record is not a record")
    };
    let images = record
        .fields
        .iter()
        .find(|field| field.name == "afterImages")
        .expect("Record has afterImages");
    let Schema::Union(images) = &images.schema else {
        panic!("afterImages is not a union")
    };
    let Some(Schema::Array(array)) = images.variants().get(2) else {
        panic!("afterImages' third branch is not an array")
    };
    let Schema::Union(items) = array.items.as_ref() else {
        panic!("image items are not a union")
    };
    items
        .variants()
        .iter()
        .map(|variant| match variant {
            Schema::Null => "null".to_owned(),
            Schema::Ref { name } => name.name.clone(),
            other => panic!("unexpected image item type {other:?}"),
        })
        .collect()
});

fn branch(name: &str) -> u32 {
    IMAGE_BRANCHES
        .iter()
        .position(|branch| branch == name)
        .unwrap_or_else(|| panic!("the image union has no {name} branch")) as u32
}

/// One generated column: its schema, its value as the binlog carries it, and what a DTS consumer must read.
#[derive(Debug, Clone)]
struct Case {
    column: ColumnSchema,
    /// The column type and metadata the TABLE_MAP event gives the driver.
    wire_type: ColumnType,
    metadata: Vec<u8>,
    /// Whether the driver is told the column is UNSIGNED (only with `binlog_row_metadata=FULL`).
    signedness_known: bool,
    /// The value's bytes in the rows event.
    wire: Vec<u8>,
    expected: Expected,
    /// The DTS `dataTypeNumber` (NOTES.md; DATE is 10, not the binlog's NEWDATE 14).
    data_type_number: i32,
}

/// The union branch and fields a consumer must decode.
#[derive(Debug, Clone)]
enum Expected {
    Integer {
        precision: i32,
        value: String,
    },
    Character {
        charset: String,
        value: Vec<u8>,
    },
    Decimal {
        value: String,
        precision: i32,
        scale: i32,
    },
    /// A FLOAT: carried as the double of its shortest decimal form.
    Float(f32),
    /// A DOUBLE: carried bit for bit.
    Double(f64),
    Timestamp {
        seconds: i64,
        micros: i32,
    },
    /// year, month, day, hour, minute, second, microseconds
    DateTime([Option<i32>; 7]),
    Geometry(Vec<u8>),
    BinaryObject {
        type_name: &'static str,
        value: Vec<u8>,
    },
    TextObject {
        type_name: &'static str,
        value: String,
    },
    /// MySQL binary JSON: a TextObject whose text is this document.
    Json(Json),
}

fn case(column: ColumnSchema, wire_type: ColumnType, metadata: Vec<u8>, wire: Vec<u8>, expected: Expected) -> Case {
    let data_type_number = match column.type_code {
        type_code::NEWDATE => 10,
        code => code as i32,
    };
    Case {
        column,
        wire_type,
        metadata,
        signedness_known: false,
        wire,
        expected,
        data_type_number,
    }
}

fn column(type_code: u8, charset: &str) -> ColumnSchema {
    let mut column = ColumnSchema::new("c", type_code);
    column.charset = Charset { name: charset.into() };
    column
}

// ---- numbers ----

fn integer() -> impl Strategy<Value = Case> {
    let widths = prop_oneof![
        Just((type_code::TINY, ColumnType::MYSQL_TYPE_TINY, 1u32)),
        Just((type_code::SHORT, ColumnType::MYSQL_TYPE_SHORT, 2)),
        Just((type_code::INT24, ColumnType::MYSQL_TYPE_INT24, 3)),
        Just((type_code::LONG, ColumnType::MYSQL_TYPE_LONG, 4)),
        Just((type_code::LONGLONG, ColumnType::MYSQL_TYPE_LONGLONG, 8)),
    ];
    (widths, any::<bool>(), any::<bool>(), any::<u64>(), 0..8u8).prop_map(
        |((code, wire_type, bytes), unsigned, signedness_known, random, pick)| {
            let bits = bytes * 8;
            let (min, max): (i128, i128) = if unsigned {
                (0, (1i128 << bits) - 1)
            } else {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            };
            let value = match pick {
                0 => min,
                1 => max,
                2 => 0,
                3 => min + 1,
                4 => max - 1,
                _ => min + (random as i128).rem_euclid(max - min + 1),
            };
            let wire = (value as u128 as u64).to_le_bytes()[..bytes as usize].to_vec();
            let mut column = column(code, "binary");
            column.unsigned = unsigned;
            let expected = Expected::Integer {
                precision: bytes as i32,
                value: value.to_string(),
            };
            Case {
                signedness_known: unsigned && signedness_known,
                ..case(column, wire_type, vec![], wire, expected)
            }
        },
    )
}

/// MySQL's binary DECIMAL: groups of nine digits in four bytes, shorter leading and trailing groups in
/// fewer, negative values inverted, the first bit flipped.
fn decimal_binary(integer_digits: &[u8], fraction_digits: &[u8], negative: bool) -> Vec<u8> {
    const GROUP_BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    fn push(out: &mut Vec<u8>, digits: &[u8], bytes: usize) {
        let value = digits.iter().fold(0u32, |acc, &digit| acc * 10 + digit as u32);
        out.extend_from_slice(&value.to_be_bytes()[4 - bytes..]);
    }
    let mut out = Vec::new();
    let lead = integer_digits.len() % 9;
    if lead > 0 {
        push(&mut out, &integer_digits[..lead], GROUP_BYTES[lead]);
    }
    for group in integer_digits[lead..].chunks(9) {
        push(&mut out, group, 4);
    }
    for group in fraction_digits.chunks(9) {
        push(&mut out, group, GROUP_BYTES[group.len()]);
    }
    if negative {
        out.iter_mut().for_each(|byte| *byte = !*byte);
    }
    out[0] ^= 0x80;
    out
}

fn decimal() -> impl Strategy<Value = Case> {
    (1u32..=65)
        .prop_flat_map(|precision| (Just(precision), 0..=precision.min(30)))
        .prop_flat_map(|(precision, scale)| {
            let count = precision as usize;
            let digits = prop_oneof![
                3 => vec(0u8..=9, count),
                1 => Just(vec![9u8; count]),
                1 => vec(prop_oneof![6 => Just(0u8), 1 => 0u8..=9], count),
            ];
            (Just(precision), Just(scale), digits, any::<bool>())
        })
        .prop_map(|(precision, scale, digits, negative)| {
            let (integer_digits, fraction_digits) = digits.split_at((precision - scale) as usize);
            let negative = negative && digits.iter().any(|&digit| digit != 0);
            // SELECT's text: a sign, the integer part without leading zeros, exactly `scale` decimals.
            let mut text = String::from(if negative { "-" } else { "" });
            let integer: String = integer_digits
                .iter()
                .skip_while(|&&digit| digit == 0)
                .map(|digit| char::from(b'0' + digit))
                .collect();
            text.push_str(if integer.is_empty() { "0" } else { &integer });
            if scale > 0 {
                text.push('.');
                text.extend(fraction_digits.iter().map(|digit| char::from(b'0' + digit)));
            }
            let mut column = column(type_code::NEWDECIMAL, "binary");
            column.precision = precision;
            column.scale = scale;
            let wire = decimal_binary(integer_digits, fraction_digits, negative);
            let expected = Expected::Decimal {
                value: text,
                precision: precision as i32,
                scale: scale as i32,
            };
            case(
                column,
                ColumnType::MYSQL_TYPE_NEWDECIMAL,
                vec![precision as u8, scale as u8],
                wire,
                expected,
            )
        })
}

fn float() -> impl Strategy<Value = Case> {
    use proptest::num::f32;
    let value = prop_oneof![
        4 => f32::POSITIVE | f32::NEGATIVE | f32::NORMAL | f32::SUBNORMAL | f32::ZERO,
        1 => prop_oneof![Just(f32::MAX), Just(f32::MIN), Just(f32::MIN_POSITIVE), Just(1e-45), Just(0.1)],
    ];
    value.prop_map(|value| {
        case(
            column(type_code::FLOAT, "binary"),
            ColumnType::MYSQL_TYPE_FLOAT,
            vec![4],
            value.to_le_bytes().to_vec(),
            Expected::Float(value),
        )
    })
}

fn double() -> impl Strategy<Value = Case> {
    use proptest::num::f64;
    let value = prop_oneof![
        4 => f64::POSITIVE | f64::NEGATIVE | f64::NORMAL | f64::SUBNORMAL | f64::ZERO,
        1 => prop_oneof![Just(f64::MAX), Just(f64::MIN), Just(f64::MIN_POSITIVE), Just(5e-324), Just(-1.5e300)],
    ];
    value.prop_map(|value| {
        case(
            column(type_code::DOUBLE, "binary"),
            ColumnType::MYSQL_TYPE_DOUBLE,
            vec![8],
            value.to_le_bytes().to_vec(),
            Expected::Double(value),
        )
    })
}

fn bit() -> impl Strategy<Value = Case> {
    (1u32..=64, any::<u64>(), 0..4u8).prop_map(|(width, random, pick)| {
        let max = if width == 64 { u64::MAX } else { (1 << width) - 1 };
        let value = match pick {
            0 => 0,
            1 => max,
            _ => random & max,
        };
        let bytes = width.div_ceil(8) as usize;
        let expected = Expected::Integer {
            // The schema does not carry n, so BIT(n) is reported as the 8-byte unsigned value it is read into.
            precision: 8,
            value: value.to_string(),
        };
        case(
            column(type_code::BIT, "binary"),
            ColumnType::MYSQL_TYPE_BIT,
            vec![(width % 8) as u8, (width / 8) as u8],
            value.to_be_bytes()[8 - bytes..].to_vec(),
            expected,
        )
    })
}

// ---- dates and times ----

/// Microseconds kept to `digits` fractional digits, as the column stores them.
fn truncated(micros: u32, digits: u32) -> u32 {
    micros - micros % 10u32.pow(6 - digits)
}

/// The fractional-seconds bytes of TIMESTAMP2 and DATETIME2.
fn fraction_bytes(micros: u32, digits: u32) -> Vec<u8> {
    match digits {
        1 | 2 => vec![(micros / 10_000) as u8],
        3 | 4 => ((micros / 100) as u16).to_be_bytes().to_vec(),
        5 | 6 => micros.to_be_bytes()[1..].to_vec(),
        _ => vec![],
    }
}

fn with_zero<T: std::fmt::Debug + Clone + 'static>(
    values: impl Strategy<Value = T> + 'static,
    zero: T,
) -> BoxedStrategy<T> {
    prop_oneof![4 => values, 1 => Just(zero)].boxed()
}

/// Calendar parts, zero and partial-zero dates and impossible days (`ALLOW_INVALID_DATES`) included.
fn calendar() -> impl Strategy<Value = (u16, u8, u8)> {
    (
        with_zero(1u16..=9999, 0),
        with_zero(1u8..=12, 0),
        with_zero(1u8..=31, 0),
    )
}

fn date() -> impl Strategy<Value = Case> {
    calendar().prop_map(|(year, month, day)| {
        let packed = (year as u32) << 9 | (month as u32) << 5 | day as u32;
        let parts = [
            Some(year as i32),
            Some(month as i32),
            Some(day as i32),
            None,
            None,
            None,
            None,
        ];
        case(
            column(type_code::NEWDATE, "binary"),
            ColumnType::MYSQL_TYPE_NEWDATE,
            vec![],
            packed.to_le_bytes()[..3].to_vec(),
            Expected::DateTime(parts),
        )
    })
}

fn datetime() -> impl Strategy<Value = Case> {
    (
        0u32..=6,
        calendar(),
        (0u8..=23, 0u8..=59, 0u8..=59),
        0u32..=999_999,
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(digits, (year, month, day), (hour, minute, second), micros, old_format)| {
                let parts = |micros: u32| {
                    [
                        year as i32,
                        month as i32,
                        day as i32,
                        hour as i32,
                        minute as i32,
                        second as i32,
                        micros as i32,
                    ]
                    .map(Some)
                };
                if old_format {
                    // DATETIME before MySQL 5.6.4: YYYYMMDDhhmmss as a number, no fraction.
                    let number = year as u64 * 10_000_000_000
                        + month as u64 * 100_000_000
                        + day as u64 * 1_000_000
                        + hour as u64 * 10_000
                        + minute as u64 * 100
                        + second as u64;
                    return case(
                        column(type_code::DATETIME, "binary"),
                        ColumnType::MYSQL_TYPE_DATETIME,
                        vec![],
                        number.to_le_bytes().to_vec(),
                        Expected::DateTime(parts(0)),
                    );
                }
                let micros = truncated(micros, digits);
                let year_month = year as i64 * 13 + month as i64;
                let packed =
                    ((year_month << 5 | day as i64) << 17) | (hour as i64) << 12 | (minute as i64) << 6 | second as i64;
                let mut wire = ((packed + 0x80_0000_0000) as u64).to_be_bytes()[3..].to_vec();
                wire.extend(fraction_bytes(micros, digits));
                let mut column = column(type_code::DATETIME2, "binary");
                column.scale = digits;
                case(
                    column,
                    ColumnType::MYSQL_TYPE_DATETIME2,
                    vec![digits as u8],
                    wire,
                    Expected::DateTime(parts(micros)),
                )
            },
        )
}

fn timestamp() -> impl Strategy<Value = Case> {
    (
        0u32..=6,
        with_zero(prop_oneof![0u32..=i32::MAX as u32, Just(i32::MAX as u32)], 0),
        0u32..=999_999,
        prop::bool::weighted(0.1),
    )
        .prop_map(|(digits, seconds, micros, old_format)| {
            if old_format {
                return case(
                    column(type_code::TIMESTAMP, "binary"),
                    ColumnType::MYSQL_TYPE_TIMESTAMP,
                    vec![],
                    seconds.to_le_bytes().to_vec(),
                    Expected::Timestamp {
                        seconds: seconds as i64,
                        micros: 0,
                    },
                );
            }
            let micros = truncated(micros, digits);
            let mut wire = seconds.to_be_bytes().to_vec();
            wire.extend(fraction_bytes(micros, digits));
            let mut column = column(type_code::TIMESTAMP2, "binary");
            column.scale = digits;
            let expected = Expected::Timestamp {
                seconds: seconds as i64,
                micros: micros as i32,
            };
            case(
                column,
                ColumnType::MYSQL_TYPE_TIMESTAMP2,
                vec![digits as u8],
                wire,
                expected,
            )
        })
}

// TIME before MySQL 5.6.4 (type 11, no fraction) is left out: the driver reads its signed 3-byte
// HHMMSS as unsigned and keeps the hours in a `u8`, so 838:59:59 arrives as 70:59:59 and negative values
// as garbage; `decode_value` cannot recover what the driver dropped.

/// TIME2 as MySQL writes it (`my_time_packed_to_binary`): the packed value `±(hms << 24 | micros)`,
/// split into an integer part (shifted, so negative values borrow one) and a fraction.
fn time_binary(packed: i64, digits: u32) -> Vec<u8> {
    let integer_part = (packed >> 24) + 0x80_0000;
    let fraction = packed % (1 << 24);
    let mut wire = (integer_part as u32).to_be_bytes()[1..].to_vec();
    match digits {
        1 | 2 => wire.push((fraction / 10_000) as i8 as u8),
        3 | 4 => wire.extend(((fraction / 100) as i16).to_be_bytes()),
        5 | 6 => wire = ((packed + 0x8000_0000_0000) as u64).to_be_bytes()[2..].to_vec(),
        _ => {}
    }
    wire
}

fn time() -> impl Strategy<Value = Case> {
    (
        0u32..=6,
        any::<bool>(),
        prop_oneof![0u32..=838, Just(838), 24u32..=100],
        0u8..=59,
        0u8..=59,
        with_zero(0u32..=999_999, 0),
    )
        .prop_map(|(digits, negative, hours, minutes, seconds, micros)| {
            // The range ends at ±838:59:59.000000.
            let micros = if (hours, minutes, seconds) == (838, 59, 59) {
                0
            } else {
                truncated(micros, digits)
            };
            let negative = negative && (hours, minutes, seconds, micros) != (0, 0, 0, 0);
            let magnitude = ((hours as i64) << 12 | (minutes as i64) << 6 | seconds as i64) << 24 | micros as i64;
            let packed = if negative { -magnitude } else { magnitude };
            let sign = if negative { -1 } else { 1 };
            let parts = [
                None,
                None,
                None,
                Some(sign * hours as i32),
                Some(sign * minutes as i32),
                Some(sign * seconds as i32),
                Some(sign * micros as i32),
            ];
            let mut column = column(type_code::TIME2, "binary");
            column.scale = digits;
            case(
                column,
                ColumnType::MYSQL_TYPE_TIME2,
                vec![digits as u8],
                time_binary(packed, digits),
                Expected::DateTime(parts),
            )
        })
}

fn year() -> impl Strategy<Value = Case> {
    with_zero(prop_oneof![1901u16..=2155, Just(1901), Just(2155)], 0).prop_map(|year| {
        let stored = if year == 0 { 0 } else { (year - 1900) as u8 };
        case(
            column(type_code::YEAR, "binary"),
            ColumnType::MYSQL_TYPE_YEAR,
            vec![],
            vec![stored],
            Expected::DateTime([Some(year as i32), None, None, None, None, None, None]),
        )
    })
}

// ---- strings and binary data ----

const CHARSETS: [&str; 4] = ["utf8mb4", "latin1", "gbk", "binary"];

fn bytes_per_character(charset: &str) -> u32 {
    match charset {
        "utf8mb4" => 4,
        "gbk" => 2,
        _ => 1,
    }
}

/// Up to `characters` characters of valid text in `charset` (any bytes for latin1 and binary).
fn text_in(charset: &'static str, characters: usize) -> BoxedStrategy<Vec<u8>> {
    match charset {
        "utf8mb4" => vec(
            prop_oneof![4 => any::<char>(), 1 => Just('🐬'), 1 => Just('é'), 1 => Just(' ')],
            0..=characters,
        )
        .prop_map(|characters| characters.into_iter().collect::<String>().into_bytes())
        .boxed(),
        "gbk" => vec(
            prop_oneof![
                (0u8..0x80).prop_map(|byte| vec![byte]),
                (0x81u8..=0xfe, prop_oneof![0x40u8..=0x7e, 0x80u8..=0xfe]).prop_map(|(lead, trail)| vec![lead, trail]),
            ],
            0..=characters,
        )
        .prop_map(|characters| characters.concat())
        .boxed(),
        _ => vec(any::<u8>(), 0..=characters).boxed(),
    }
}

fn length_prefix(length: usize, prefix_bytes: usize) -> Vec<u8> {
    (length as u32).to_le_bytes()[..prefix_bytes].to_vec()
}

fn charset() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&CHARSETS[..])
}

/// CHAR(n) in a character set: the binlog and `SELECT` both drop the trailing spaces.
fn char_column() -> impl Strategy<Value = Case> {
    (prop::sample::select(&CHARSETS[..3]), 1u32..=255)
        .prop_flat_map(|(charset, length)| (Just(charset), Just(length), text_in(charset, length.min(24) as usize)))
        .prop_map(|(charset, length, mut text)| {
            while text.last() == Some(&b' ') {
                text.pop();
            }
            let byte_length = length * bytes_per_character(charset);
            let metadata = vec![0xfe ^ ((byte_length & 0x300) >> 4) as u8, (byte_length & 0xff) as u8];
            let mut wire = length_prefix(text.len(), if byte_length < 256 { 1 } else { 2 });
            wire.extend(&text);
            let expected = Expected::Character {
                charset: charset.into(),
                value: text,
            };
            case(
                column(type_code::STRING, charset),
                ColumnType::MYSQL_TYPE_STRING,
                metadata,
                wire,
                expected,
            )
        })
}

/// BINARY(n): the binlog leaves out the trailing zero bytes that `SELECT` returns.
fn binary_column() -> impl Strategy<Value = Case> {
    (1u32..=255, vec(any::<u8>(), 0..=32)).prop_map(|(length, mut value)| {
        value.resize(length as usize, 0);
        let mut stored = value.clone();
        while stored.last() == Some(&0) {
            stored.pop();
        }
        let mut wire = length_prefix(stored.len(), 1);
        wire.extend(&stored);
        let mut column = column(type_code::STRING, "binary");
        column.fixed_length = length;
        let expected = Expected::Character {
            charset: "binary".into(),
            value,
        };
        case(
            column,
            ColumnType::MYSQL_TYPE_STRING,
            vec![0xfe, length as u8],
            wire,
            expected,
        )
    })
}

/// VARCHAR(n) and VARBINARY(n).
fn varchar_column() -> impl Strategy<Value = Case> {
    (
        charset(),
        prop_oneof![1u32..=63, 64u32..=16_383],
        prop::bool::weighted(0.2),
    )
        .prop_flat_map(|(charset, length, var_string)| {
            let length = length.min(65_535 / bytes_per_character(charset));
            (
                Just(charset),
                Just(length),
                Just(var_string),
                text_in(charset, length.min(32) as usize),
            )
        })
        .prop_map(|(charset, length, var_string, text)| {
            let byte_length = length * bytes_per_character(charset);
            let mut wire = length_prefix(text.len(), if byte_length < 256 { 1 } else { 2 });
            wire.extend(&text);
            let (code, wire_type) = if var_string {
                (type_code::VAR_STRING, ColumnType::MYSQL_TYPE_VAR_STRING)
            } else {
                (type_code::VARCHAR, ColumnType::MYSQL_TYPE_VARCHAR)
            };
            let expected = Expected::Character {
                charset: charset.into(),
                value: text,
            };
            case(
                column(code, charset),
                wire_type,
                (byte_length as u16).to_le_bytes().to_vec(),
                wire,
                expected,
            )
        })
}

/// TEXT and BLOB of every size (the binlog declares them all BLOB, 252; the other codes are the
/// sizes' own). MariaDB's JSON is a LONGTEXT and arrives as one.
fn blob_column() -> impl Strategy<Value = Case> {
    let code = prop_oneof![
        6 => Just((type_code::BLOB, ColumnType::MYSQL_TYPE_BLOB, "BLOB")),
        1 => Just((type_code::TINY_BLOB, ColumnType::MYSQL_TYPE_TINY_BLOB, "TINYBLOB")),
        1 => Just((type_code::MEDIUM_BLOB, ColumnType::MYSQL_TYPE_MEDIUM_BLOB, "MEDIUMBLOB")),
        1 => Just((type_code::LONG_BLOB, ColumnType::MYSQL_TYPE_LONG_BLOB, "LONGBLOB")),
    ];
    (code, charset(), 1usize..=4, any::<bool>())
        .prop_flat_map(|(code, charset, prefix_bytes, json)| {
            let content = if json && charset == "utf8mb4" {
                json_value().prop_map(|json| json.to_string().into_bytes()).boxed()
            } else {
                text_in(charset, 64)
            };
            (Just(code), Just(charset), Just(prefix_bytes), content)
        })
        .prop_map(|((code, wire_type, type_name), charset, prefix_bytes, content)| {
            let mut wire = length_prefix(content.len(), prefix_bytes);
            wire.extend(&content);
            let expected = if charset == "binary" {
                Expected::BinaryObject {
                    type_name,
                    value: content,
                }
            } else {
                Expected::Character {
                    charset: charset.into(),
                    value: content,
                }
            };
            case(
                column(code, charset),
                wire_type,
                vec![prefix_bytes as u8],
                wire,
                expected,
            )
        })
}

fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _éß日🐬]{0,6}"
}

fn enum_column() -> impl Strategy<Value = Case> {
    prop_oneof![8 => 1usize..=10, 1 => 250usize..=300]
        .prop_flat_map(|count| (vec(label(), count), 0..=count, any::<bool>()))
        .prop_map(|(labels, index, wide)| {
            let width = if labels.len() > 255 || wide { 2 } else { 1 };
            let expected = Expected::TextObject {
                type_name: "ENUM",
                // Index 0 is the empty value MySQL stores for an invalid one.
                value: if index == 0 {
                    String::new()
                } else {
                    labels[index - 1].clone()
                },
            };
            let mut column = column(type_code::ENUM, "utf8mb4");
            column.elements = labels;
            let wire = (index as u16).to_le_bytes()[..width].to_vec();
            case(
                column,
                ColumnType::MYSQL_TYPE_ENUM,
                vec![type_code::ENUM, width as u8],
                wire,
                expected,
            )
        })
}

fn set_column() -> impl Strategy<Value = Case> {
    (1usize..=64)
        .prop_flat_map(|count| (vec("[a-zA-Z0-9 _éß日🐬]{1,6}", count), any::<u64>(), 0..4u8))
        .prop_map(|(members, random, pick)| {
            let all = if members.len() == 64 {
                u64::MAX
            } else {
                (1 << members.len()) - 1
            };
            let bits = match pick {
                0 => 0,
                1 => all,
                _ => random & all,
            };
            let chosen: Vec<&str> = members
                .iter()
                .enumerate()
                .filter(|(index, _)| bits >> index & 1 == 1)
                .map(|(_, member)| member.as_str())
                .collect();
            let expected = Expected::TextObject {
                type_name: "SET",
                value: chosen.join(","),
            };
            let bytes = members.len().div_ceil(8);
            let mut column = column(type_code::SET, "utf8mb4");
            column.elements = members;
            let wire = bits.to_le_bytes()[..bytes].to_vec();
            case(
                column,
                ColumnType::MYSQL_TYPE_SET,
                vec![type_code::SET, bytes as u8],
                wire,
                expected,
            )
        })
}

/// JSON documents; doubles are kept to short decimals so that parsing their text is exact.
fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i16>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        (any::<i32>(), 0..6i32).prop_map(|(mantissa, exponent)| Json::from(mantissa as f64 / 10f64.powi(exponent))),
        "[a-zA-Z0-9 \"\\\\/\n\té日🐬]{0,12}".prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Json::Array),
            btree_map("[a-z_é🐬]{0,6}", inner, 0..5).prop_map(|members| Json::Object(members.into_iter().collect())),
        ]
    })
}

/// MySQL's binary JSON (`json_binary.cc`), small format: the type byte, then the value.
fn jsonb(value: &Json) -> Vec<u8> {
    let (kind, inline) = jsonb_kind(value);
    let mut out = vec![kind];
    match (kind, inline) {
        (0x04, Some(literal)) => out.push(literal as u8),
        (_, Some(small)) => out.extend(small.to_le_bytes()),
        (_, None) => jsonb_body(value, &mut out),
    }
    out
}

/// The type byte, and the 16-bit value for types a container stores in its entry.
fn jsonb_kind(value: &Json) -> (u8, Option<u16>) {
    match value {
        Json::Object(_) => (0x00, None),
        Json::Array(_) => (0x02, None),
        Json::Null => (0x04, Some(0)),
        Json::Bool(true) => (0x04, Some(1)),
        Json::Bool(false) => (0x04, Some(2)),
        Json::Number(number) => {
            if let Some(small) = number.as_i64().and_then(|int| i16::try_from(int).ok()) {
                (0x05, Some(small as u16))
            } else if number.is_i64() {
                (0x09, None)
            } else if number.is_u64() {
                (0x0a, None)
            } else {
                (0x0b, None)
            }
        }
        Json::String(_) => (0x0c, None),
    }
}

fn jsonb_body(value: &Json, out: &mut Vec<u8>) {
    match value {
        Json::Number(number) => {
            if let Some(int) = number.as_i64() {
                out.extend(int.to_le_bytes());
            } else if let Some(int) = number.as_u64() {
                out.extend(int.to_le_bytes());
            } else {
                out.extend(number.as_f64().unwrap().to_le_bytes());
            }
        }
        Json::String(text) => {
            let mut length = text.len();
            loop {
                let byte = (length & 0x7f) as u8;
                length >>= 7;
                if length == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            out.extend(text.as_bytes());
        }
        Json::Array(items) => jsonb_container(&[], &items.iter().collect::<Vec<_>>(), out),
        Json::Object(members) => {
            let keys: Vec<&str> = members.keys().map(String::as_str).collect();
            jsonb_container(&keys, &members.values().collect::<Vec<_>>(), out)
        }
        Json::Null | Json::Bool(_) => unreachable!("literals are inlined"),
    }
}

/// A small array (no keys) or object: count, size, key entries, value entries, keys, values; offsets
/// count from the start of the container.
fn jsonb_container(keys: &[&str], values: &[&Json], out: &mut Vec<u8>) {
    let start = out.len();
    let header = 4 + 4 * keys.len() + 3 * values.len();
    let mut body = vec![0u8; header];
    body[..2].copy_from_slice(&(values.len() as u16).to_le_bytes());
    for (index, key) in keys.iter().enumerate() {
        let entry = 4 + 4 * index;
        let offset = body.len() as u16;
        body[entry..entry + 2].copy_from_slice(&offset.to_le_bytes());
        body[entry + 2..entry + 4].copy_from_slice(&(key.len() as u16).to_le_bytes());
        body.extend(key.as_bytes());
    }
    for (index, value) in values.iter().enumerate() {
        let entry = 4 + 4 * keys.len() + 3 * index;
        let (kind, inline) = jsonb_kind(value);
        body[entry] = kind;
        let slot = match inline {
            Some(inline) => inline,
            None => {
                let offset = body.len() as u16;
                jsonb_body(value, &mut body);
                offset
            }
        };
        body[entry + 1..entry + 3].copy_from_slice(&slot.to_le_bytes());
    }
    let size = body.len() as u16;
    body[2..4].copy_from_slice(&size.to_le_bytes());
    out.truncate(start);
    out.extend(body);
}

/// MySQL 8's binary JSON column.
fn json_column() -> impl Strategy<Value = Case> {
    json_value().prop_map(|document| {
        let binary = jsonb(&document);
        let mut wire = length_prefix(binary.len(), 4);
        wire.extend(binary);
        case(
            column(type_code::JSON, "binary"),
            ColumnType::MYSQL_TYPE_JSON,
            vec![4],
            wire,
            Expected::Json(document),
        )
    })
}

/// GEOMETRY: a 4-byte SRID, then WKB (a point, or arbitrary bytes: the value is carried opaquely).
fn geometry_column() -> impl Strategy<Value = Case> {
    let wkb = prop_oneof![
        (any::<f64>(), any::<f64>()).prop_map(|(x, y)| {
            let mut point = vec![1, 1, 0, 0, 0];
            point.extend(x.to_le_bytes());
            point.extend(y.to_le_bytes());
            point
        }),
        vec(any::<u8>(), 0..64),
    ];
    (any::<u32>(), wkb).prop_map(|(srid, wkb)| {
        let mut value = srid.to_le_bytes().to_vec();
        value.extend(wkb);
        let mut wire = length_prefix(value.len(), 4);
        wire.extend(&value);
        case(
            column(type_code::GEOMETRY, "binary"),
            ColumnType::MYSQL_TYPE_GEOMETRY,
            vec![4],
            wire,
            Expected::Geometry(value),
        )
    })
}

/// A column of any type in scope, with a value.
fn any_column() -> impl Strategy<Value = Case> {
    prop_oneof![
        integer(),
        decimal(),
        float(),
        double(),
        bit(),
        date(),
        datetime(),
        timestamp(),
        time(),
        year(),
        char_column(),
        binary_column(),
        varchar_column(),
        blob_column(),
        enum_column(),
        set_column(),
        json_column(),
        geometry_column(),
    ]
}

// ---- the path ----

/// What the driver hands sluice for the case's bytes in a rows event.
fn driver_read(case: &Case) -> BinlogValue<'_> {
    let mut buffer = ParseBuf(&case.wire);
    let value = BinlogValue::deserialize(
        (case.wire_type, &case.metadata[..], case.signedness_known, false),
        &mut buffer,
    )
    .unwrap_or_else(|error| panic!("the driver cannot read {case:?}: {error}"));
    assert!(buffer.0.is_empty(), "the driver left bytes of {case:?} unread");
    value
}

fn field<'a>(record: &'a Avro, name: &str) -> &'a Avro {
    let Avro::Record(fields) = record else {
        panic!("not a record: {record:?}")
    };
    &fields
        .iter()
        .find(|(field, _)| field == name)
        .unwrap_or_else(|| panic!("no field {name} in {record:?}"))
        .1
}

fn avro_record(fields: Vec<(&str, Avro)>) -> Avro {
    Avro::Record(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

/// The decoded image item a consumer must see (for FLOAT, DOUBLE and JSON, checked separately).
fn expected_item(expected: &Expected) -> Avro {
    let (branch_name, fields) = match expected.clone() {
        Expected::Integer { precision, value } => (
            "Integer",
            vec![("precision", Avro::Int(precision)), ("value", Avro::String(value))],
        ),
        Expected::Character { charset, value } => (
            "Character",
            vec![("charset", Avro::String(charset)), ("value", Avro::Bytes(value))],
        ),
        Expected::Decimal {
            value,
            precision,
            scale,
        } => (
            "Decimal",
            vec![
                ("value", Avro::String(value)),
                ("precision", Avro::Int(precision)),
                ("scale", Avro::Int(scale)),
            ],
        ),
        Expected::Float(value) => (
            "Float",
            vec![
                ("value", Avro::Double(value as f64)),
                ("precision", Avro::Int(0)),
                ("scale", Avro::Int(0)),
            ],
        ),
        Expected::Double(value) => (
            "Float",
            vec![
                ("value", Avro::Double(value)),
                ("precision", Avro::Int(0)),
                ("scale", Avro::Int(0)),
            ],
        ),
        Expected::Timestamp { seconds, micros } => (
            "Timestamp",
            vec![("timestamp", Avro::Long(seconds)), ("millis", Avro::Int(micros))],
        ),
        Expected::DateTime(parts) => {
            let names = ["year", "month", "day", "hour", "minute", "second", "millis"];
            let fields = names
                .into_iter()
                .zip(parts)
                .map(|(name, part)| {
                    let part = match part {
                        None => Avro::Union(0, Box::new(Avro::Null)),
                        Some(part) => Avro::Union(1, Box::new(Avro::Int(part))),
                    };
                    (name, part)
                })
                .collect();
            ("DateTime", fields)
        }
        Expected::Geometry(value) => (
            "BinaryGeometry",
            vec![("type", Avro::String("GEOMETRY".into())), ("value", Avro::Bytes(value))],
        ),
        Expected::BinaryObject { type_name, value } => (
            "BinaryObject",
            vec![("type", Avro::String(type_name.into())), ("value", Avro::Bytes(value))],
        ),
        Expected::TextObject { type_name, value } => (
            "TextObject",
            vec![("type", Avro::String(type_name.into())), ("value", Avro::String(value))],
        ),
        Expected::Json(document) => (
            "TextObject",
            vec![
                ("type", Avro::String("JSON".into())),
                ("value", Avro::String(document.to_string())),
            ],
        ),
    };
    Avro::Union(branch(branch_name), Box::new(avro_record(fields)))
}

fn check_item(item: &Avro, expected: Option<&Expected>) -> Result<(), TestCaseError> {
    let Some(expected) = expected else {
        prop_assert_eq!(item, &Avro::Union(branch("null"), Box::new(Avro::Null)));
        return Ok(());
    };
    let Avro::Union(index, record) = item else {
        return Err(TestCaseError::fail(format!("not a union value: {item:?}")));
    };
    match expected {
        Expected::Float(stored) => {
            prop_assert_eq!(*index, branch("Float"));
            let Avro::Double(value) = field(record, "value") else {
                return Err(TestCaseError::fail(format!("no double in {record:?}")));
            };
            // The double of the FLOAT's shortest decimal form: it prints as the FLOAT does and narrows
            // back to the stored FLOAT.
            prop_assert_eq!(format!("{value}"), format!("{stored}"));
            prop_assert_eq!((*value as f32).to_bits(), stored.to_bits());
            prop_assert_eq!(field(record, "precision"), &Avro::Int(0));
            prop_assert_eq!(field(record, "scale"), &Avro::Int(0));
        }
        Expected::Double(stored) => {
            prop_assert_eq!(item, &expected_item(expected));
            let Avro::Double(value) = field(record, "value") else {
                return Err(TestCaseError::fail(format!("no double in {record:?}")));
            };
            prop_assert_eq!(value.to_bits(), stored.to_bits());
        }
        Expected::Json(document) => {
            prop_assert_eq!(*index, branch("TextObject"));
            prop_assert_eq!(field(record, "type"), &Avro::String("JSON".into()));
            let Avro::String(text) = field(record, "value") else {
                return Err(TestCaseError::fail(format!("no JSON text in {record:?}")));
            };
            let decoded: Json = serde_json::from_str(text).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(&decoded, document);
        }
        _ => prop_assert_eq!(item, &expected_item(expected)),
    }
    Ok(())
}

/// Reads every case through the driver (or as NULL where `nulls` says so) and `decode_value`, encodes
/// the row with the DTS encoder, decodes the record with the shared schema and checks every item and field.
fn round_trip(cases: &[Case], nulls: &[bool], operation: Operation, id: i64) -> Result<(), TestCaseError> {
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for (index, (case, &null)) in cases.iter().zip(nulls).enumerate() {
        let mut column = case.column.clone();
        column.name = format!("c{index}");
        let value = if null {
            BinlogValue::Value(Value::NULL)
        } else {
            driver_read(case)
        };
        let decoded =
            decode_value(&column, value).map_err(|error| TestCaseError::fail(format!("decoding {case:?}: {error}")))?;
        if null {
            prop_assert_eq!(&decoded, &ColumnValue::Null);
        }
        columns.push(column);
        row.push(decoded);
    }
    let table = Arc::new(TableSchema {
        name: TableName::new("db", "every_type"),
        columns,
        primary_key: vec![],
        key_name: "PRIMARY".into(),
    });
    let (before, after) = match operation {
        Operation::Insert => (None, Some(row)),
        Operation::Update => (Some(row.clone()), Some(row)),
        Operation::Delete => (Some(row), None),
    };
    let routed = RoutedChange {
        change: RowChange {
            origin: Origin::Binlog,
            table,
            operation,
            before,
            after,
            position: RecordPosition {
                event: BinlogPosition::new("mysql-bin.000001", 4),
                row_index: 0,
            },
            timestamp: 1_700_000_000,
            transaction: Arc::new(TransactionInfo {
                id: "".into(),
                start: BinlogPosition::new("mysql-bin.000001", 4),
            }),
        },
        routing: Routing::default(),
    };
    let payload = DtsAvroEncoder::new("8.0.36")
        .encode(id, &routed)
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    let record = SHARED_SCHEMA
        .decode(&payload)
        .map_err(|error| TestCaseError::fail(format!("the shared schema cannot decode the record: {error}")))?;

    prop_assert_eq!(field(&record, "id"), &Avro::Long(id));
    let expected_fields = cases
        .iter()
        .enumerate()
        .map(|(index, case)| {
            avro_record(vec![
                ("name", Avro::String(format!("c{index}"))),
                ("dataTypeNumber", Avro::Int(case.data_type_number)),
            ])
        })
        .collect();
    prop_assert_eq!(
        field(&record, "fields"),
        &Avro::Union(2, Box::new(Avro::Array(expected_fields)))
    );
    let expected_items: Vec<Option<&Expected>> = cases
        .iter()
        .zip(nulls)
        .map(|(case, &null)| (!null).then_some(&case.expected))
        .collect();
    for (image, present) in [
        ("beforeImages", operation != Operation::Insert),
        ("afterImages", operation != Operation::Delete),
    ] {
        let image = field(&record, image);
        if !present {
            prop_assert_eq!(image, &Avro::Union(0, Box::new(Avro::Null)));
            continue;
        }
        let Avro::Union(2, items) = image else {
            return Err(TestCaseError::fail(format!("no image array: {image:?}")));
        };
        let Avro::Array(items) = items.as_ref() else {
            return Err(TestCaseError::fail(format!("no image array: {items:?}")));
        };
        prop_assert_eq!(items.len(), cases.len());
        for ((item, expected), case) in items.iter().zip(&expected_items).zip(cases) {
            check_item(item, *expected).map_err(|error| TestCaseError::fail(format!("{error}\nin {case:?}")))?;
        }
    }
    Ok(())
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        Just(Operation::Insert),
        Just(Operation::Update),
        Just(Operation::Delete)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_type_round_trips_through_decode_encode_and_avro_decode(
        (cases, nulls) in vec(any_column(), 1..8)
            .prop_flat_map(|cases| { let count = cases.len(); (Just(cases), vec(prop::bool::weighted(0.1), count)) }),
        operation in operation(),
        id in any::<i64>(),
    ) {
        round_trip(&cases, &nulls, operation, id)?;
    }

    #[test]
    fn null_in_every_type_is_the_null_branch(cases in vec(any_column(), 1..16), operation in operation()) {
        round_trip(&cases, &vec![true; cases.len()], operation, 1)?;
    }
}
