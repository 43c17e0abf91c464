//! Proves that every MySQL/MariaDB column type arrives exactly, in the DTS union branch and with the
//! `dataTypeNumber` of its type, both from the snapshot (rows there before the daemon starts) and from
//! the binlog (the same rows inserted, updated and deleted while streaming), with
//! `binlog_row_metadata` FULL, MINIMAL and NO_LOG.
//!
//! The server runs in a non-UTC time zone (`+05:30`) and the rows are written under a permissive
//! `sql_mode` (`ALLOW_INVALID_DATES`, no `NO_ZERO_DATE`), so zero, partial-zero and invalid dates exist.
//!
//! The canonical form each value is compared in, per [`Kind`] — the server side is a `SELECT` of the
//! same row, the sluice side the decoded Avro union value rendered the same way:
//! - integers, BIT, DECIMAL: decimal text (`CAST(c AS CHAR)`, `c + 0` for BIT); the `Integer`/`Decimal`
//!   branch's `value` as is;
//! - FLOAT and DOUBLE: the IEEE value the server returns over the binary protocol, printed with Rust's
//!   shortest round-trip form at the column's width (`f32` for FLOAT);
//! - character, binary, BLOB and TEXT data (and MariaDB's JSON, a LONGTEXT): `HEX(c)`, the raw bytes
//!   in the column's charset; the `Character`/`BinaryObject` branch's bytes in hex (and `charset`
//!   must be the column's charset);
//! - GEOMETRY: `HEX(c)` (MySQL's internal form: 4-byte little-endian SRID, then WKB), and the bytes
//!   after the SRID must equal `HEX(ST_AsBinary(c))`;
//! - DATE, DATETIME(n), TIME(n), YEAR: `CAST(c AS CHAR)`, with the column's fractional digits; the
//!   `DateTime` branch's parts printed the same way;
//! - TIMESTAMP(n): `UNIX_TIMESTAMP(c)` (time-zone independent), with the column's fractional digits;
//!   the `Timestamp` branch's seconds and microseconds printed the same way;
//! - ENUM, SET: `CONVERT(c USING utf8mb4)`; the `TextObject` branch's text.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use apache_avro::Schema;
use apache_avro::types::Value;
use mysql_async::prelude::Queryable;
use sluice::encode::dts_avro::RecordSchema;
use sluice_tests::daemon::{
    DecodedRecord, RunningDaemon, config_toml, current_position, decode_record, reference_schema,
};
use sluice_tests::harness::{Broker, MariaDb, MariaDbOptions, consume};

/// How a column's values are compared; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Integer,
    Bit,
    Decimal { precision: i32, scale: i32 },
    Float32,
    Float64,
    Bytes { charset: Option<&'static str> },
    Geometry,
    Date,
    DateTime { digits: u32 },
    Time { digits: u32 },
    Timestamp { digits: u32 },
    Year,
    Label,
}

/// One column of the test table.
struct Column {
    name: &'static str,
    definition: &'static str,
    kind: Kind,
    /// The DTS `dataTypeNumber`.
    type_number: i32,
    /// The DTS union branch (a named type of `Record.avsc`).
    branch: &'static str,
    /// SQL literals for the value rows, used in turn; empty for generated columns.
    values: &'static [&'static str],
}

const fn column(
    name: &'static str,
    definition: &'static str,
    kind: Kind,
    type_number: i32,
    branch: &'static str,
    values: &'static [&'static str],
) -> Column {
    Column {
        name,
        definition,
        kind,
        type_number,
        branch,
        values,
    }
}

const INTEGER: &str = "Integer";
const CHARACTER: &str = "Character";
const BINARY_OBJECT: &str = "BinaryObject";
const DATE_TIME: &str = "DateTime";
const UTF8MB4: Kind = Kind::Bytes {
    charset: Some("utf8mb4"),
};
const LATIN1: Kind = Kind::Bytes {
    charset: Some("latin1"),
};
const GBK: Kind = Kind::Bytes { charset: Some("gbk") };
const BINARY: Kind = Kind::Bytes {
    charset: Some("binary"),
};
const BLOB: Kind = Kind::Bytes { charset: None };

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    column("i8", "TINYINT", Kind::Integer, 1, INTEGER, &["-128", "127", "0", "-1"]),
    column("u8", "TINYINT UNSIGNED", Kind::Integer, 1, INTEGER, &["0", "255", "1", "128"]),
    column("i16", "SMALLINT", Kind::Integer, 2, INTEGER, &["-32768", "32767", "0"]),
    column("u16", "SMALLINT UNSIGNED", Kind::Integer, 2, INTEGER, &["0", "65535", "32768"]),
    column("i24", "MEDIUMINT", Kind::Integer, 9, INTEGER, &["-8388608", "8388607", "-1"]),
    column("u24", "MEDIUMINT UNSIGNED", Kind::Integer, 9, INTEGER, &["0", "16777215", "8388608"]),
    column("i32", "INT", Kind::Integer, 3, INTEGER, &["-2147483648", "2147483647", "0"]),
    column("u32", "INT UNSIGNED", Kind::Integer, 3, INTEGER, &["0", "4294967295", "2147483648"]),
    column("i64", "BIGINT", Kind::Integer, 8, INTEGER, &["-9223372036854775808", "9223372036854775807", "-1"]),
    column("u64", "BIGINT UNSIGNED", Kind::Integer, 8, INTEGER, &["0", "18446744073709551615", "9223372036854775808"]),
    column("bit1", "BIT(1)", Kind::Bit, 16, INTEGER, &["b'0'", "b'1'"]),
    column("bit7", "BIT(7)", Kind::Bit, 16, INTEGER, &["b'1111111'", "0", "b'1000000'"]),
    column("bit8", "BIT(8)", Kind::Bit, 16, INTEGER, &["255", "0", "128"]),
    column("bit17", "BIT(17)", Kind::Bit, 16, INTEGER, &["131071", "65536", "1"]),
    column("bit63", "BIT(63)", Kind::Bit, 16, INTEGER, &["9223372036854775807", "0", "4611686018427387905"]),
    column("bit64", "BIT(64)", Kind::Bit, 16, INTEGER, &["18446744073709551615", "9223372036854775808", "0", "1"]),
    column("dec_max", "DECIMAL(65,30)", Kind::Decimal { precision: 65, scale: 30 }, 246, "Decimal", &[
        "-99999999999999999999999999999999999.999999999999999999999999999999",
        "99999999999999999999999999999999999.999999999999999999999999999999",
        "-0.000000000000000000000000000001", "0",
    ]),
    column("dec_int", "DECIMAL(65,0)", Kind::Decimal { precision: 65, scale: 0 }, 246, "Decimal", &[
        "99999999999999999999999999999999999999999999999999999999999999999",
        "-99999999999999999999999999999999999999999999999999999999999999999", "-1",
    ]),
    column("dec_money", "DECIMAL(12,2) UNSIGNED", Kind::Decimal { precision: 12, scale: 2 }, 246, "Decimal", &[
        "0.01", "9999999999.99", "0",
    ]),
    column("dec_fraction", "DECIMAL(5,5)", Kind::Decimal { precision: 5, scale: 5 }, 246, "Decimal", &[
        "-0.99999", "0.00001", "0",
    ]),
    column("f32", "FLOAT", Kind::Float32, 4, "Float", &["3.14", "3.4028234e38", "1.17549435e-38", "-1.4e-45"]),
    column("f64", "DOUBLE", Kind::Float64, 5, "Float", &[
        "0.1", "1.7976931348623157e308", "-2.2250738585072014e-308", "4.9e-324",
    ]),
    column("day", "DATE", Kind::Date, 10, DATE_TIME, &["'2024-02-29'", "'0000-00-00'", "'2024-00-00'", "'2024-02-31'"]),
    column("dt0", "DATETIME", Kind::DateTime { digits: 0 }, 18, DATE_TIME, &[
        "'9999-12-31 23:59:59'", "'0000-00-00 00:00:00'", "'2024-00-15 10:00:00'", "'1000-01-01 00:00:00'",
    ]),
    column("dt1", "DATETIME(1)", Kind::DateTime { digits: 1 }, 18, DATE_TIME, &["'2024-02-29 13:14:15.1'", "'2024-02-29 00:00:00.9'"]),
    column("dt2", "DATETIME(2)", Kind::DateTime { digits: 2 }, 18, DATE_TIME, &["'2024-02-29 13:14:15.12'", "'0000-00-00 00:00:00'"]),
    column("dt3", "DATETIME(3)", Kind::DateTime { digits: 3 }, 18, DATE_TIME, &["'2024-02-29 13:14:15.123'", "'1999-12-31 23:59:59.999'"]),
    column("dt4", "DATETIME(4)", Kind::DateTime { digits: 4 }, 18, DATE_TIME, &["'2024-02-29 13:14:15.1234'", "'2024-02-29 13:14:15.0001'"]),
    column("dt5", "DATETIME(5)", Kind::DateTime { digits: 5 }, 18, DATE_TIME, &["'2024-02-29 13:14:15.12345'", "'2024-00-00 00:00:00.00001'"]),
    column("dt6", "DATETIME(6)", Kind::DateTime { digits: 6 }, 18, DATE_TIME, &[
        "'9999-12-31 23:59:59.999999'", "'1000-01-01 00:00:00.000001'", "'0000-00-00 00:00:00'",
    ]),
    column("ts0", "TIMESTAMP NULL", Kind::Timestamp { digits: 0 }, 17, "Timestamp", &[
        "'2024-01-01 05:30:00'", "'1970-01-01 05:30:01'", "'2038-01-19 08:44:07'", "'0000-00-00 00:00:00'",
    ]),
    column("ts1", "TIMESTAMP(1) NULL", Kind::Timestamp { digits: 1 }, 17, "Timestamp", &["'2024-01-01 05:30:00.5'", "'0000-00-00 00:00:00'"]),
    column("ts2", "TIMESTAMP(2) NULL", Kind::Timestamp { digits: 2 }, 17, "Timestamp", &["'2024-01-01 05:30:00.25'", "'2000-02-29 12:00:00.01'"]),
    column("ts3", "TIMESTAMP(3) NULL", Kind::Timestamp { digits: 3 }, 17, "Timestamp", &["'2024-01-01 05:30:00.125'", "'1970-01-01 05:30:01.001'"]),
    column("ts4", "TIMESTAMP(4) NULL", Kind::Timestamp { digits: 4 }, 17, "Timestamp", &["'2024-01-01 05:30:00.1234'", "'2038-01-19 08:44:07.9999'"]),
    column("ts5", "TIMESTAMP(5) NULL", Kind::Timestamp { digits: 5 }, 17, "Timestamp", &["'2024-01-01 05:30:00.12345'", "'0000-00-00 00:00:00'"]),
    column("ts6", "TIMESTAMP(6) NULL", Kind::Timestamp { digits: 6 }, 17, "Timestamp", &[
        "'2024-01-01 05:30:00.500000'", "'2038-01-19 08:44:07.999999'", "'1970-01-01 05:30:01.000001'",
    ]),
    column("tm0", "TIME", Kind::Time { digits: 0 }, 19, DATE_TIME, &["'-838:59:59'", "'838:59:59'", "'25:30:00'", "'00:00:00'"]),
    column("tm1", "TIME(1)", Kind::Time { digits: 1 }, 19, DATE_TIME, &["'-00:00:00.1'", "'100:00:00.9'"]),
    column("tm2", "TIME(2)", Kind::Time { digits: 2 }, 19, DATE_TIME, &["'-12:34:56.78'", "'23:59:59.99'"]),
    column("tm3", "TIME(3)", Kind::Time { digits: 3 }, 19, DATE_TIME, &["'25:30:00.250'", "'-1:00:00.001'"]),
    column("tm4", "TIME(4)", Kind::Time { digits: 4 }, 19, DATE_TIME, &["'-838:59:59.0000'", "'00:00:00.0001'"]),
    column("tm5", "TIME(5)", Kind::Time { digits: 5 }, 19, DATE_TIME, &["'47:00:00.00001'", "'-47:00:00.99999'"]),
    column("tm6", "TIME(6)", Kind::Time { digits: 6 }, 19, DATE_TIME, &[
        "'-838:59:59.000000'", "'838:59:59.000000'", "'-00:00:00.000001'", "'123:45:06.789012'",
    ]),
    column("yr", "YEAR", Kind::Year, 13, DATE_TIME, &["1901", "2155", "0", "2024"]),
    column("char_utf8", "CHAR(10) CHARACTER SET utf8mb4", UTF8MB4, 254, CHARACTER, &["'héllo🐬'", "''", "'a'"]),
    column("varchar_utf8", "VARCHAR(60) CHARACTER SET utf8mb4", UTF8MB4, 15, CHARACTER, &[
        "'🐬🎉 emoji 日本語'", "''", "'  trailing spaces  '",
    ]),
    column("varchar_utf8_bin", "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", UTF8MB4, 15, CHARACTER, &["'Ünïcödé 🐬'", "'a'"]),
    column("char_latin1", "CHAR(5) CHARACTER SET latin1", LATIN1, 254, CHARACTER, &["'ab'", "'ÿÀ'", "''"]),
    column("varchar_latin1_bin", "VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_bin", LATIN1, 15, CHARACTER, &["'café ÿ'", "'x'"]),
    column("varchar_gbk", "VARCHAR(20) CHARACTER SET gbk", GBK, 15, CHARACTER, &["'中文字符'", "'abc'"]),
    column("char_gbk_bin", "CHAR(4) CHARACTER SET gbk COLLATE gbk_bin", GBK, 254, CHARACTER, &["'汉字'", "'z'"]),
    column("tinytext_latin1", "TINYTEXT CHARACTER SET latin1", LATIN1, 252, CHARACTER, &["'déjà vu'", "''"]),
    column("text_utf8", "TEXT CHARACTER SET utf8mb4", UTF8MB4, 252, CHARACTER, &["'🐬 long text'", "REPEAT('é🐬', 1000)"]),
    column("mediumtext_gbk", "MEDIUMTEXT CHARACTER SET gbk", GBK, 252, CHARACTER, &["'数据库'", "''"]),
    column("longtext_utf8_bin", "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", UTF8MB4, 252, CHARACTER, &["REPEAT('x', 70000)", "'🐬'"]),
    column("json_doc", "JSON", UTF8MB4, 252, CHARACTER, &[
        "'{\"a\": [1, 2.5, null, true], \"🐬\": \"x\"}'", "'[]'", "'\"text\"'", "'-1.5e300'",
    ]),
    column("bin4", "BINARY(4)", BINARY, 254, CHARACTER, &["'ab'", "x'00ff0000'", "x'61626364'", "''"]),
    column("varbin", "VARBINARY(10)", BINARY, 15, CHARACTER, &["x'00ff00'", "''", "x'20'"]),
    column("tinyblob", "TINYBLOB", BLOB, 252, BINARY_OBJECT, &["x'00ff'", "''"]),
    column("blob", "BLOB", BLOB, 252, BINARY_OBJECT, &["x'000102fffefd'", "REPEAT(x'ff00', 3000)"]),
    column("mediumblob", "MEDIUMBLOB", BLOB, 252, BINARY_OBJECT, &["x'deadbeef'", "''"]),
    column("longblob", "LONGBLOB", BLOB, 252, BINARY_OBJECT, &["REPEAT(x'00', 70000)", "x'01'"]),
    column("size", "ENUM('small','médium','🐬') CHARACTER SET utf8mb4", Kind::Label, 247, "TextObject", &["'médium'", "'🐬'", "''", "'small'"]),
    column("size_latin1", "ENUM('café','naïve') CHARACTER SET latin1", Kind::Label, 247, "TextObject", &["'naïve'", "'café'"]),
    column("flags", "SET('a','b','c','d','e','f','g','h','i') CHARACTER SET utf8mb4", Kind::Label, 248, "TextObject", &[
        "'a,i'", "''", "'b,c,d,e,f,g,h'",
    ]),
    column("flags_wide", "SET('m1','m2','m3','m4','m5','m6','m7','m8','m9','m10','m11','m12','m13','m14','m15','m16',\
        'm17','m18','m19','m20','m21','m22','m23','m24','m25','m26','m27','m28','m29','m30','m31','m32','m33','m34','m35',\
        'm36','m37','m38','m39','m40','m41','m42','m43','m44','m45','m46','m47','m48','m49','m50','m51','m52','m53','m54',\
        'm55','m56','m57','m58','m59','m60','m61','m62','m63','m64')", Kind::Label, 248, "TextObject", &["'m1,m64'", "'m33'", "''"]),
    column("geometry", "GEOMETRY", Kind::Geometry, 255, "BinaryGeometry", &[
        "ST_GeomFromText('POINT(1 2)')", "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326)",
    ]),
    column("point", "POINT", Kind::Geometry, 255, "BinaryGeometry", &["ST_GeomFromText('POINT(-1.5 1e300)')", "POINT(0, 0)"]),
    column("linestring", "LINESTRING", Kind::Geometry, 255, "BinaryGeometry", &["ST_GeomFromText('LINESTRING(0 0,1 1,2 0)', 3857)"]),
    column("polygon", "POLYGON", Kind::Geometry, 255, "BinaryGeometry", &["ST_GeomFromText('POLYGON((0 0,4 0,4 4,0 0),(1 1,2 1,2 2,1 1))')"]),
    column("multipoint", "MULTIPOINT", Kind::Geometry, 255, "BinaryGeometry", &["ST_GeomFromText('MULTIPOINT(0 0,1 1)')"]),
    column("multilinestring", "MULTILINESTRING", Kind::Geometry, 255, "BinaryGeometry", &["ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))')"]),
    column("multipolygon", "MULTIPOLYGON", Kind::Geometry, 255, "BinaryGeometry", &["ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)))')"]),
    column("collection", "GEOMETRYCOLLECTION", Kind::Geometry, 255, "BinaryGeometry", &[
        "ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))')",
    ]),
    column("gen_virtual", "BIGINT AS (i32 + 1) VIRTUAL", Kind::Integer, 8, INTEGER, &[]),
    column("gen_stored", "VARCHAR(70) CHARACTER SET utf8mb4 AS (CONCAT('<', varchar_utf8, '>')) STORED", UTF8MB4, 15, CHARACTER, &[]),
];

/// Rows with values, then one row of NULLs.
const VALUE_ROWS: usize = 4;
const ROWS: usize = VALUE_ROWS + 1;
/// Binlog rows are the snapshot rows' values under ids offset by this.
const BINLOG_IDS: usize = 100;

fn create_table() -> String {
    let mut sql = String::from("CREATE TABLE shop.types (id INT PRIMARY KEY");
    for column in COLUMNS {
        let _ = write!(sql, ", `{}` {}", column.name, column.definition);
    }
    sql.push_str(") DEFAULT CHARSET = utf8mb4");
    sql
}

fn writable() -> impl Iterator<Item = &'static Column> {
    COLUMNS.iter().filter(|column| !column.values.is_empty())
}

/// The SQL literal of a column in value row `row` (`ROWS - 1` is the NULL row).
fn literal(column: &Column, row: usize) -> &'static str {
    if row >= VALUE_ROWS {
        "NULL"
    } else {
        column.values[row % column.values.len()]
    }
}

fn insert(id: usize, row: usize) -> String {
    let names: Vec<String> = writable().map(|column| format!("`{}`", column.name)).collect();
    let values: Vec<&str> = writable().map(|column| literal(column, row)).collect();
    format!(
        "INSERT INTO shop.types (id, {}) VALUES ({id}, {})",
        names.join(", "),
        values.join(", ")
    )
}

fn update(id: usize, row: usize) -> String {
    let assignments: Vec<String> = writable()
        .map(|column| format!("`{}` = {}", column.name, literal(column, row)))
        .collect();
    format!("UPDATE shop.types SET {} WHERE id = {id}", assignments.join(", "))
}

/// The server-side expression of a column's canonical form.
fn canonical_sql(column: &Column) -> String {
    let name = format!("`{}`", column.name);
    match column.kind {
        Kind::Integer | Kind::Decimal { .. } | Kind::Date | Kind::DateTime { .. } | Kind::Time { .. } | Kind::Year => {
            format!("CAST({name} AS CHAR)")
        }
        Kind::Bit => format!("CAST({name} + 0 AS CHAR)"),
        Kind::Float32 | Kind::Float64 => name,
        Kind::Bytes { .. } => format!("HEX({name})"),
        Kind::Geometry => format!("CONCAT(HEX({name}), '/', HEX(ST_AsBinary({name})))"),
        Kind::Timestamp { .. } => format!("CAST(UNIX_TIMESTAMP({name}) AS CHAR)"),
        Kind::Label => format!("CONVERT({name} USING utf8mb4)"),
    }
}

/// The canonical form of a server value (read over the binary protocol).
fn canonical_server(column: &Column, value: mysql_async::Value) -> Option<String> {
    use mysql_async::Value as Sql;
    match (column.kind, value) {
        (_, Sql::NULL) => None,
        (Kind::Float32, Sql::Float(v)) => Some(format!("{v:?}")),
        (Kind::Float64, Sql::Double(v)) => Some(format!("{v:?}")),
        (Kind::Geometry, Sql::Bytes(bytes)) => {
            // The internal form; the part after the SRID is checked against ST_AsBinary when rendering.
            let text = String::from_utf8(bytes).expect("HEX is ASCII");
            let (internal, wkb) = text.split_once('/').expect("two parts");
            assert_eq!(
                &internal[8..],
                wkb,
                "column `{}`: after its SRID, the internal form is WKB",
                column.name
            );
            Some(internal.to_owned())
        }
        (Kind::Timestamp { digits }, Sql::Bytes(bytes)) => {
            // UNIX_TIMESTAMP of the zero TIMESTAMP is `0` without fractional digits.
            let text = String::from_utf8(bytes).expect("a number");
            Some(match text.split_once('.') {
                None if digits > 0 => format!("{text}.{}", "0".repeat(digits as usize)),
                _ => text,
            })
        }
        (_, Sql::Bytes(bytes)) => Some(String::from_utf8(bytes).expect("canonical forms are UTF-8")),
        (_, other) => Some(format!("unexpected server value {other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02X}");
            text
        })
}

fn fraction(micros: i32, digits: u32) -> String {
    if digits == 0 {
        return String::new();
    }
    let scaled = micros.unsigned_abs() / 10u32.pow(6 - digits);
    format!(".{scaled:0width$}", width = digits as usize)
}

/// A named part of a DTS branch record.
fn part<'a>(parts: &'a [(String, Value)], name: &str) -> &'a Value {
    &parts
        .iter()
        .find(|(part, _)| part == name)
        .unwrap_or_else(|| panic!("no `{name}` in {parts:?}"))
        .1
}

fn optional_int(parts: &[(String, Value)], name: &str) -> Option<i32> {
    match part(parts, name) {
        Value::Union(_, inner) => match inner.as_ref() {
            Value::Int(value) => Some(*value),
            _ => None,
        },
        _ => None,
    }
}

/// The decoded Avro value of a column in the canonical form, checking the branch's side fields
/// (charset, precision and scale) on the way; `Err` describes a mismatch.
fn canonical_avro(column: &Column, branch: &str, parts: &[(String, Value)]) -> Result<String, String> {
    let unexpected = || Err(format!("unexpected {branch} value {parts:?}"));
    match column.kind {
        Kind::Integer | Kind::Bit => match part(parts, "value") {
            Value::String(value) => Ok(value.clone()),
            _ => unexpected(),
        },
        Kind::Decimal { precision, scale } => {
            let (Value::String(value), Value::Int(got_precision), Value::Int(got_scale)) =
                (part(parts, "value"), part(parts, "precision"), part(parts, "scale"))
            else {
                return unexpected();
            };
            if (*got_precision, *got_scale) != (precision, scale) {
                return Err(format!(
                    "DECIMAL({got_precision},{got_scale}) instead of ({precision},{scale})"
                ));
            }
            Ok(value.clone())
        }
        Kind::Float32 | Kind::Float64 => match part(parts, "value") {
            Value::Double(value) if column.kind == Kind::Float32 => Ok(format!("{:?}", *value as f32)),
            Value::Double(value) => Ok(format!("{value:?}")),
            _ => unexpected(),
        },
        Kind::Bytes { charset } => {
            if let Some(charset) = charset {
                match part(parts, "charset") {
                    Value::String(got) if got == charset => {}
                    other => return Err(format!("charset {other:?} instead of {charset}")),
                }
            }
            match part(parts, "value") {
                Value::Bytes(bytes) => Ok(hex(bytes)),
                _ => unexpected(),
            }
        }
        Kind::Geometry => match part(parts, "value") {
            Value::Bytes(bytes) => Ok(hex(bytes)),
            _ => unexpected(),
        },
        Kind::Label => match part(parts, "value") {
            Value::String(text) => Ok(text.clone()),
            _ => unexpected(),
        },
        Kind::Timestamp { digits } => match (part(parts, "timestamp"), part(parts, "millis")) {
            (Value::Long(seconds), Value::Int(micros)) => Ok(format!("{seconds}{}", fraction(*micros, digits))),
            _ => unexpected(),
        },
        Kind::Date | Kind::DateTime { .. } | Kind::Time { .. } | Kind::Year => {
            let get = |name| optional_int(parts, name);
            let (year, month, day) = (get("year"), get("month"), get("day"));
            let (hour, minute, second, micros) = (get("hour"), get("minute"), get("second"), get("millis"));
            match column.kind {
                Kind::Year => match (year, month, hour) {
                    (Some(year), None, None) => Ok(format!("{year:04}")),
                    _ => unexpected(),
                },
                Kind::Date => match (year, month, day, hour) {
                    (Some(year), Some(month), Some(day), None) => Ok(format!("{year:04}-{month:02}-{day:02}")),
                    _ => unexpected(),
                },
                Kind::DateTime { digits } => match (year, month, day, hour, minute, second, micros) {
                    (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s), Some(micros)) => Ok(format!(
                        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
                        fraction(micros, digits)
                    )),
                    _ => unexpected(),
                },
                Kind::Time { digits } => match (year, hour, minute, second, micros) {
                    (None, Some(h), Some(mi), Some(s), Some(micros)) => {
                        let negative = h < 0 || mi < 0 || s < 0 || micros < 0;
                        let sign = if negative { "-" } else { "" };
                        Ok(format!(
                            "{sign}{:02}:{:02}:{:02}{}",
                            h.unsigned_abs(),
                            mi.unsigned_abs(),
                            s.unsigned_abs(),
                            fraction(micros, digits)
                        ))
                    }
                    _ => unexpected(),
                },
                _ => unreachable!(),
            }
        }
    }
}

/// The names of the image union's branches, in `Record.avsc` order, read from the schema.
fn branch_names(schema: &RecordSchema) -> Vec<String> {
    let Schema::Record(record) = &schema.record else {
        panic!("Record is a record")
    };
    let images = &record
        .fields
        .iter()
        .find(|f| f.name == "afterImages")
        .expect("afterImages")
        .schema;
    let Schema::Union(images) = images else {
        panic!("afterImages is a union")
    };
    let items = images
        .variants()
        .iter()
        .find_map(|variant| match variant {
            Schema::Array(array) => Some(&array.items),
            _ => None,
        })
        .expect("an array branch");
    let Schema::Union(items) = items.as_ref() else {
        panic!("image items are a union")
    };
    items
        .variants()
        .iter()
        .map(|variant| match variant {
            Schema::Null => "null".to_owned(),
            Schema::Record(record) => record.name.name.clone(),
            Schema::Ref { name } => name.name.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Every column's canonical server value for the row with `id`, in [`COLUMNS`] order.
async fn server_row(conn: &mut mysql_async::Conn, id: usize) -> anyhow::Result<Vec<Option<String>>> {
    let expressions: Vec<String> = COLUMNS.iter().map(canonical_sql).collect();
    let sql = format!("SELECT {} FROM shop.types WHERE id = ?", expressions.join(", "));
    let row: mysql_async::Row = conn
        .exec_first(sql, (id,))
        .await?
        .with_context(|| format!("no row {id}"))?;
    Ok(COLUMNS
        .iter()
        .zip(row.unwrap())
        .map(|(column, value)| canonical_server(column, value))
        .collect())
}

/// An ENUM/SET value as the binlog path labels it without `binlog_row_metadata=FULL`: the labels then
/// come from information_schema, where MariaDB stores characters outside the BMP as `?` (a documented
/// limitation; the snapshot, which reads the labels from the rows, is exact).
fn information_schema_form(label: &str) -> String {
    label.chars().map(|c| if c.len_utf8() == 4 { '?' } else { c }).collect()
}

/// Compares one decoded image with the server's canonical row; returns the mismatches. `labels_lossy`
/// applies [`information_schema_form`] to the server's ENUM/SET values.
fn compare_image(
    what: &str,
    branches: &[String],
    image: Option<&Vec<Value>>,
    id: usize,
    server: &[Option<String>],
    labels_lossy: bool,
) -> Vec<String> {
    let Some(image) = image else {
        return vec![format!("{what}: image missing")];
    };
    let mut mismatches = Vec::new();
    match &image[0] {
        Value::Union(_, id_value) if matches!(id_value.as_ref(), Value::Record(parts) if part(parts, "value") == &Value::String(id.to_string())) =>
            {}
        other => mismatches.push(format!("{what}: id {other:?} instead of {id}")),
    }
    for ((column, value), want) in COLUMNS.iter().zip(&image[1..]).zip(server) {
        let Value::Union(index, inner) = value else {
            mismatches.push(format!("{what} `{}`: not a union: {value:?}", column.name));
            continue;
        };
        let branch = branches[*index as usize].as_str();
        let got = match (inner.as_ref(), want) {
            (Value::Null, None) => continue,
            (Value::Null, Some(want)) => {
                mismatches.push(format!("{what} `{}`: NULL instead of {want}", column.name));
                continue;
            }
            (Value::Record(parts), _) => {
                if branch != column.branch {
                    mismatches.push(format!(
                        "{what} `{}`: branch {branch} instead of {}",
                        column.name, column.branch
                    ));
                    continue;
                }
                canonical_avro(column, branch, parts)
            }
            (other, _) => Err(format!("unexpected value {other:?}")),
        };
        let want = match want {
            Some(label) if labels_lossy && column.kind == Kind::Label => Some(information_schema_form(label)),
            other => other.clone(),
        };
        match (got, &want) {
            (Ok(got), Some(want)) if &got == want => {}
            (Ok(got), want) => mismatches.push(format!("{what} `{}`: {got} instead of {want:?}", column.name)),
            (Err(error), _) => mismatches.push(format!("{what} `{}`: {error}", column.name)),
        }
    }
    mismatches
}

async fn every_type_arrives_exactly_with(row_metadata: &str) -> anyhow::Result<()> {
    let options = MariaDbOptions {
        extra_args: vec![
            format!("--binlog-row-metadata={row_metadata}"),
            // A non-UTC zone: TIMESTAMP literals below are civil times in +05:30.
            "--default-time-zone=+05:30".into(),
        ],
        ..Default::default()
    };
    let (db, broker) = tokio::join!(MariaDb::start_with(options), Broker::start());
    let (db, broker) = (db?, broker?);
    let mut conn = db.admin_conn().await?;
    // Permissive: zero dates, partial-zero dates and invalid days are stored as written.
    conn.query_drop("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'").await?;
    conn.query_drop("CREATE DATABASE shop").await?;
    conn.query_drop(create_table()).await?;
    let zone: String = conn
        .query_first("SELECT @@session.time_zone")
        .await?
        .context("no zone")?;
    assert_eq!(zone, "+05:30", "the session runs in the server's non-UTC zone");
    // Ids 1..=ROWS exist before the daemon starts: the snapshot reads them.
    for row in 0..ROWS {
        conn.query_drop(insert(row + 1, row)).await?;
    }
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let config = config_toml(
        &db,
        &broker,
        &state.path().join("checkpoint.json"),
        &start,
        &["shop.*"],
        "types",
        &[],
    );
    let daemon = RunningDaemon::start(&config, state.path())?;
    let bootstrap = broker.bootstrap_servers();
    let snapshot = consume(&bootstrap, "types", ROWS, Duration::from_secs(60)).await?;
    assert_eq!(snapshot.len(), ROWS, "the snapshot rows");

    // The same values again while streaming, then each row updated to the next row's values, then
    // deleted: the binlog carries them.
    let mut inserted = Vec::new();
    for row in 0..ROWS {
        conn.query_drop(insert(BINLOG_IDS + row + 1, row)).await?;
        inserted.push(server_row(&mut conn, BINLOG_IDS + row + 1).await?);
    }
    let mut updated = Vec::new();
    for row in 0..ROWS {
        conn.query_drop(update(BINLOG_IDS + row + 1, (row + 1) % ROWS)).await?;
        updated.push(server_row(&mut conn, BINLOG_IDS + row + 1).await?);
    }
    conn.query_drop(format!("DELETE FROM shop.types WHERE id > {BINLOG_IDS}"))
        .await?;
    let mut snapshotted = Vec::new();
    for row in 0..ROWS {
        snapshotted.push(server_row(&mut conn, row + 1).await?);
    }
    // The zone is honoured: 2024-01-01 05:30:00.5 in +05:30 is 1704067200.5 seconds after the epoch.
    assert_eq!(
        snapshotted[0][COLUMNS.iter().position(|c| c.name == "ts6").unwrap()].as_deref(),
        Some("1704067200.500000")
    );

    let messages = consume(&bootstrap, "types", 4 * ROWS, Duration::from_secs(60)).await?;
    assert_eq!(messages.len(), 4 * ROWS, "binlog_row_metadata={row_metadata}");
    let schema = reference_schema()?;
    let branches = branch_names(&schema);
    let records: Vec<DecodedRecord> = messages
        .iter()
        .map(|message| decode_record(&schema, &message.payload))
        .collect::<Result<_, _>>()?;
    let operations: Vec<&str> = records.iter().map(|record| record.operation.as_str()).collect();
    let expected_operations: Vec<&str> = ["INSERT", "INSERT", "UPDATE", "DELETE"]
        .into_iter()
        .flat_map(|operation| std::iter::repeat_n(operation, ROWS))
        .collect();
    assert_eq!(operations, expected_operations);

    let mut expected_fields = vec![("id".to_owned(), 3)];
    expected_fields.extend(
        COLUMNS
            .iter()
            .map(|column| (column.name.to_owned(), column.type_number)),
    );
    let lossy = row_metadata != "FULL";
    let mut mismatches = Vec::new();
    for (index, record) in records.iter().enumerate() {
        assert!(
            record
                .tags
                .contains(&("pk_uk_info".into(), r#"{"PRIMARY":["id"]}"#.into())),
            "record {index}: {:?}",
            record.tags
        );
        let (phase, row) = (index / ROWS, index % ROWS);
        if record.fields != expected_fields {
            mismatches.push(format!("record {index}: fields {:?}", record.fields));
        }
        let is_snapshot = record.tags.iter().any(|(key, _)| key == "snapshot");
        assert_eq!(
            is_snapshot,
            phase == 0,
            "record {index}: only the first {ROWS} come from the snapshot"
        );
        let binlog_id = BINLOG_IDS + row + 1;
        match phase {
            0 => mismatches.extend(compare_image(
                &format!("snapshot row {row}"),
                &branches,
                record.after_values.as_ref(),
                row + 1,
                &snapshotted[row],
                false,
            )),
            1 => mismatches.extend(compare_image(
                &format!("binlog insert {row}"),
                &branches,
                record.after_values.as_ref(),
                binlog_id,
                &inserted[row],
                lossy,
            )),
            2 => {
                mismatches.extend(compare_image(
                    &format!("binlog update {row} before"),
                    &branches,
                    record.before_values.as_ref(),
                    binlog_id,
                    &inserted[row],
                    lossy,
                ));
                mismatches.extend(compare_image(
                    &format!("binlog update {row} after"),
                    &branches,
                    record.after_values.as_ref(),
                    binlog_id,
                    &updated[row],
                    lossy,
                ));
            }
            _ => mismatches.extend(compare_image(
                &format!("binlog delete {row}"),
                &branches,
                record.before_values.as_ref(),
                binlog_id,
                &updated[row],
                lossy,
            )),
        }
    }
    let keys: Vec<Option<&[u8]>> = messages.iter().map(|message| message.key.as_deref()).collect();
    let expected_keys: Vec<String> = (0..4 * ROWS)
        .map(|index| {
            let row = index % ROWS + 1;
            format!("[{}]", if index < ROWS { row } else { BINLOG_IDS + row })
        })
        .collect();
    let expected_keys: Vec<Option<&[u8]>> = expected_keys.iter().map(|key| Some(key.as_bytes())).collect();
    assert_eq!(keys, expected_keys, "message keys come from the primary key");
    // The binlog rows hold the snapshot rows' values: both paths agree with each other, too.
    for row in 0..ROWS {
        assert_eq!(
            inserted[row], snapshotted[row],
            "row {row}: the same literals give the same values"
        );
    }
    assert!(
        mismatches.is_empty(),
        "binlog_row_metadata={row_metadata}: {} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_arrives_exactly_with_full_row_metadata() -> anyhow::Result<()> {
    every_type_arrives_exactly_with("FULL").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_arrives_exactly_with_minimal_row_metadata() -> anyhow::Result<()> {
    every_type_arrives_exactly_with("MINIMAL").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_arrives_exactly_without_row_metadata() -> anyhow::Result<()> {
    every_type_arrives_exactly_with("NO_LOG").await
}
