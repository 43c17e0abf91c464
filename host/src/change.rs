//! The events that flow from the source through the pipeline.
//!
//! The reader turns binlog events into a closed set of [`Change`]s. Row images hold typed
//! [`ColumnValue`]s aligned with the table's [`TableSchema`], which every row shares through an `Arc`
//! so a schema is built once per table map, not once per row.

use std::fmt;
use std::sync::Arc;

use crate::source::ddl::DdlStatement;
use crate::source::gtid::GtidSet;
use crate::source::position::{BinlogPosition, RecordPosition};
use crate::source::snapshot::progress::ProgressUpdate;

/// A MySQL column type code, as in the binlog's TABLE_MAP event and DTS's `dataTypeNumber`
/// (`DECIMAL 0 ... GEOMETRY 255`). For ENUM and SET this is the real type (247, 248), not the
/// `STRING` (254) under which the binlog declares them.
pub type TypeCode = u8;

/// Well-known type codes.
pub mod type_code {
    use super::TypeCode;
    pub const DECIMAL: TypeCode = 0;
    pub const TINY: TypeCode = 1;
    pub const SHORT: TypeCode = 2;
    pub const LONG: TypeCode = 3;
    pub const FLOAT: TypeCode = 4;
    pub const DOUBLE: TypeCode = 5;
    pub const NULL: TypeCode = 6;
    pub const TIMESTAMP: TypeCode = 7;
    pub const LONGLONG: TypeCode = 8;
    pub const INT24: TypeCode = 9;
    pub const DATE: TypeCode = 10;
    pub const TIME: TypeCode = 11;
    pub const DATETIME: TypeCode = 12;
    pub const YEAR: TypeCode = 13;
    pub const NEWDATE: TypeCode = 14;
    pub const VARCHAR: TypeCode = 15;
    pub const BIT: TypeCode = 16;
    pub const TIMESTAMP2: TypeCode = 17;
    pub const DATETIME2: TypeCode = 18;
    pub const TIME2: TypeCode = 19;
    pub const JSON: TypeCode = 245;
    pub const NEWDECIMAL: TypeCode = 246;
    pub const ENUM: TypeCode = 247;
    pub const SET: TypeCode = 248;
    pub const TINY_BLOB: TypeCode = 249;
    pub const MEDIUM_BLOB: TypeCode = 250;
    pub const LONG_BLOB: TypeCode = 251;
    pub const BLOB: TypeCode = 252;
    pub const VAR_STRING: TypeCode = 253;
    pub const STRING: TypeCode = 254;
    pub const GEOMETRY: TypeCode = 255;

    /// The codes that carry bytes as strings or blobs: CHAR, VARCHAR, BINARY, VARBINARY, TEXT and BLOB
    /// (text or binary by the column's charset).
    pub fn is_string_or_blob(code: TypeCode) -> bool {
        matches!(
            code,
            VARCHAR | VAR_STRING | STRING | BLOB | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB
        )
    }
}

/// A database-qualified table name. Its `Display` backtick-quotes both parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub database: String,
    pub table: String,
}

impl TableName {
    pub fn new(database: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            table: table.into(),
        }
    }

    /// `database.table`, unquoted: the DTS `objectName` form.
    pub fn object_name(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`.`{}`",
            self.database.replace('`', "``"),
            self.table.replace('`', "``")
        )
    }
}

/// How a character column's bytes are to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charset {
    /// The MySQL charset name (`utf8mb4`, `latin1`, `binary`, ...), as DTS's `Character.charset`.
    pub name: String,
}

impl Charset {
    pub fn binary() -> Self {
        Self { name: "binary".into() }
    }

    pub fn is_binary(&self) -> bool {
        self.name == "binary"
    }
}

/// One column of a captured table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSchema {
    pub name: String,
    pub type_code: TypeCode,
    /// Declared UNSIGNED (numeric columns only).
    pub unsigned: bool,
    /// The character set for character, TEXT, ENUM and SET columns; `binary` for the rest.
    pub charset: Charset,
    /// DECIMAL precision (total digits); 0 where it does not apply.
    pub precision: u32,
    /// DECIMAL scale, or the fractional-seconds digits of temporal types; 0 where it does not apply.
    pub scale: u32,
    /// ENUM labels or SET members, in declaration order; empty for other types.
    pub elements: Vec<String>,
    /// For BINARY(n): n, the byte length the server pads values to with zero bytes (the binlog leaves
    /// the padding out); 0 for other types.
    pub fixed_length: u32,
}

impl ColumnSchema {
    /// A column of the given type with the binary charset and no precision, scale or labels; callers
    /// set what else applies.
    pub fn new(name: impl Into<String>, type_code: TypeCode) -> Self {
        Self {
            name: name.into(),
            type_code,
            unsigned: false,
            charset: Charset::binary(),
            precision: 0,
            scale: 0,
            elements: Vec::new(),
            fixed_length: 0,
        }
    }
}

/// The shape of a captured table at the time of a change.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub name: TableName,
    pub columns: Vec<ColumnSchema>,
    /// Indexes into `columns` of the key that identifies rows, in key order: the primary key, or when
    /// there is none, a unique key over NOT NULL columns; empty when the table has neither.
    pub primary_key: Vec<usize>,
    /// `PRIMARY`, or the name of the unique key `primary_key` stands for.
    pub key_name: String,
}

/// A MySQL `TIME` value: a signed duration of at most 838:59:59.999999.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeValue {
    pub negative: bool,
    pub hours: u32,
    pub minutes: u8,
    pub seconds: u8,
    pub microseconds: u32,
}

/// A calendar date with an optional time of day, with no time zone. Zero parts are legal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeValue {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub microsecond: u32,
}

/// A typed column value. Which variant a column holds follows from its type code.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValue {
    Null,
    /// Signed integers (TINYINT .. BIGINT).
    Int(i64),
    /// UNSIGNED integers, and BIT values.
    UInt(u64),
    /// FLOAT and DOUBLE.
    Float(f64),
    /// DECIMAL as exact text.
    Decimal(String),
    /// Character data, as the raw bytes in the column's charset.
    Text(Vec<u8>),
    /// Binary data: BINARY, VARBINARY, BLOB, GEOMETRY (WKB with the SRID prefix).
    Bytes(Vec<u8>),
    /// DATE (time parts zero) and DATETIME.
    DateTime(DateTimeValue),
    /// TIME.
    Time(TimeValue),
    /// TIMESTAMP: seconds and microseconds since the epoch, UTC.
    Timestamp {
        seconds: i64,
        microseconds: u32,
    },
    /// YEAR.
    Year(u16),
    /// ENUM label or SET members joined by `,`.
    Label(String),
    /// JSON text.
    Json(String),
}

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Insert,
    Update,
    Delete,
}

/// Facts about the transaction a change belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInfo {
    /// The GTID (`domain-server-sequence` on MariaDB) or empty when the server has none.
    pub id: Arc<str>,
    /// Where the transaction started: a position a consumer can resume from safely.
    pub start: BinlogPosition,
}

/// Where a row change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A rows event of the binlog.
    Binlog,
    /// A snapshot chunk: the row as it was at the chunk's consistent point.
    Snapshot,
}

/// One row change.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    pub origin: Origin,
    pub table: Arc<TableSchema>,
    pub operation: Operation,
    pub before: Option<Vec<ColumnValue>>,
    pub after: Option<Vec<ColumnValue>>,
    pub position: RecordPosition,
    /// The binlog event's timestamp, seconds since the epoch.
    pub timestamp: u32,
    pub transaction: Arc<TransactionInfo>,
}

/// The end of a source transaction (or of a snapshot chunk): everything before it is one atomic unit,
/// and `resume_from` is the position right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub resume_from: BinlogPosition,
    /// The GTID state after this transaction, when the stream tracks one.
    pub gtids: Option<Arc<GtidSet>>,
    /// Snapshot progress that becomes durable with this commit.
    pub progress: Vec<ProgressUpdate>,
}

/// One DDL statement of the binlog that concerns the captured tables (or that nobody could read).
#[derive(Debug, Clone, PartialEq)]
pub struct DdlChange {
    /// What the classifier made of it.
    pub statement: Arc<DdlStatement>,
    /// The text as the server logged it.
    pub text: Arc<str>,
    /// The session's default database when it ran (may be empty).
    pub database: String,
    /// The QUERY event's position (row index 0).
    pub position: RecordPosition,
    /// The event's timestamp, seconds since the epoch.
    pub timestamp: u32,
    pub transaction: Arc<TransactionInfo>,
}

/// What the source emits, in binlog order.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Row(RowChange),
    /// Always followed by the [`Commit`] that ends it (DDL commits implicitly), except for MySQL's
    /// atomic `CREATE TABLE ... SELECT`, whose rows and XID come first.
    Ddl(DdlChange),
    Commit(Commit),
}
