//! Positions in the source's binary log.
//!
//! A [`BinlogPosition`] names a point between two events: the binlog file and the byte offset of the
//! next event to read. Streaming resumes from exactly such a point, so the checkpoint only ever holds
//! positions that sit on a transaction boundary (the offset just past a commit).
//!
//! A [`RecordPosition`] names one row inside a rows event: the event's own start and the row's index
//! in it. It is what each published record carries in `sourcePosition`.
//!
//! A [`StreamPoint`] is where a published record sits in the stream, read back from its DTS
//! `sourcePosition` and `snapshot` tag: the record's own position for a binlog row, or, for a
//! snapshot row, the binlog point its chunk was read at. Exactly-once delivery compares it with the tail of a partition.
//!
//! An UPDATE that changes the row's key is published as two records, a DELETE under the old key and
//! an INSERT under the new one (see `encode::key_change`). Each needs its own point, ordered within the
//! row, so that exactly-once delivery can tell which of the two a partition already holds: a
//! [`KeyChangeHalf`] after the row index.
//!
//! Text forms (stable; documented in the README):
//! - `BinlogPosition`: `mysql-bin.000003:1234`
//! - `RecordPosition`: `mysql-bin.000003:1234#2`
//! - `StreamPoint`: either of the two, or a record position with the half of a key change:
//!   `mysql-bin.000003:1234#2.0` (the DELETE), `mysql-bin.000003:1234#2.1` (the INSERT)

use std::fmt;
use std::str::FromStr;

/// A point between two events of the source's binlog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinlogPosition {
    /// The binlog file name, e.g. `mysql-bin.000003`.
    pub file: String,
    /// Byte offset of the next event in that file.
    pub offset: u64,
}

impl BinlogPosition {
    pub fn new(file: impl Into<String>, offset: u64) -> Self {
        Self {
            file: file.into(),
            offset,
        }
    }
}

impl BinlogPosition {
    /// Whether this position is at or past `other` in the server's log. Binlog files are ordered by
    /// the number after the last `.` (`mysql-bin.000009` < `mysql-bin.000010` < `mysql-bin.1000000`).
    pub fn is_at_or_past(&self, other: &BinlogPosition) -> bool {
        (file_number(&self.file), self.offset) >= (file_number(&other.file), other.offset)
    }
}

fn file_number(file: &str) -> u64 {
    file.rsplit_once('.')
        .and_then(|(_, number)| number.parse().ok())
        .unwrap_or(0)
}

impl fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

/// Why a position's text form could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParsePositionError {
    #[error("position `{0}` is not of the form `<binlog file>:<offset>`, e.g. `mysql-bin.000003:4`")]
    MissingOffset(String),
    #[error("position `{0}` has an offset that is not a whole number")]
    BadOffset(String),
    #[error("position `{0}` names no binlog file")]
    EmptyFile(String),
    #[error("record position `{0}` is not of the form `<binlog file>:<offset>#<row>`")]
    MissingRowIndex(String),
    #[error("record position `{0}` ends in a key-change half other than `.0` (delete) or `.1` (insert)")]
    BadHalf(String),
}

impl FromStr for BinlogPosition {
    type Err = ParsePositionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (file, offset) = text
            .rsplit_once(':')
            .ok_or_else(|| ParsePositionError::MissingOffset(text.to_owned()))?;
        if file.is_empty() {
            return Err(ParsePositionError::EmptyFile(text.to_owned()));
        }
        let offset = offset
            .parse()
            .map_err(|_| ParsePositionError::BadOffset(text.to_owned()))?;
        Ok(Self::new(file, offset))
    }
}

/// One row of one rows event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordPosition {
    /// Where the rows event starts.
    pub event: BinlogPosition,
    /// The row's index within the event; for a snapshot row, its index in the table's snapshot.
    pub row_index: u64,
}

impl fmt::Display for RecordPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.event, self.row_index)
    }
}

impl FromStr for RecordPosition {
    type Err = ParsePositionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (event, row_index) = text
            .rsplit_once('#')
            .ok_or_else(|| ParsePositionError::MissingRowIndex(text.to_owned()))?;
        let row_index = row_index
            .parse()
            .map_err(|_| ParsePositionError::MissingRowIndex(text.to_owned()))?;
        Ok(Self {
            event: event.parse()?,
            row_index,
        })
    }
}

/// Which of the two records an UPDATE that changed the row's key was published as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyChangeHalf {
    /// The DELETE under the old key, published first.
    Delete,
    /// The INSERT under the new key, published second.
    Insert,
}

impl KeyChangeHalf {
    /// The sub-index after the row index in the text form, which also orders the halves.
    pub fn sub_index(self) -> u8 {
        match self {
            KeyChangeHalf::Delete => 0,
            KeyChangeHalf::Insert => 1,
        }
    }
}

/// Where a published message sits in the change stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamPoint {
    /// A binlog row: the row itself.
    Row(RecordPosition),
    /// One of the two records of a binlog UPDATE that changed the row's key.
    RowHalf(RecordPosition, KeyChangeHalf),
    /// A snapshot row: every binlog event before this point was published before it.
    Before(BinlogPosition),
}

impl StreamPoint {
    /// Whether the binlog record at `record` comes no later than this point in the stream, so a
    /// partition whose last message carries this point already holds `record` if `record` went to
    /// that partition. A snapshot row (`record` a [`StreamPoint::Before`]) is never covered: it is
    /// always sent again.
    pub fn covers(&self, record: &StreamPoint) -> bool {
        let Some(record) = record.row_order() else {
            return false;
        };
        match self {
            StreamPoint::Row(_) | StreamPoint::RowHalf(..) => Some(record) <= self.row_order(),
            StreamPoint::Before(point) => (record.0, record.1) < (file_number(&point.file), point.offset),
        }
    }

    /// A binlog record's place in the stream: file number, event offset, row, half (a whole row
    /// orders with its DELETE half, so a tail written before a split covers only that half).
    fn row_order(&self) -> Option<(u64, u64, u64, u8)> {
        let (row, sub_index) = match self {
            StreamPoint::Row(row) => (row, 0),
            StreamPoint::RowHalf(row, half) => (row, half.sub_index()),
            StreamPoint::Before(_) => return None,
        };
        Some((file_number(&row.event.file), row.event.offset, row.row_index, sub_index))
    }
}

impl fmt::Display for StreamPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamPoint::Row(row) => row.fmt(f),
            StreamPoint::RowHalf(row, half) => write!(f, "{row}.{}", half.sub_index()),
            StreamPoint::Before(point) => point.fmt(f),
        }
    }
}

impl FromStr for StreamPoint {
    type Err = ParsePositionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some((_, row)) = text.rsplit_once('#') else {
            return text.parse().map(StreamPoint::Before);
        };
        let Some((_, half)) = row.split_once('.') else {
            return text.parse().map(StreamPoint::Row);
        };
        let half = match half {
            "0" => KeyChangeHalf::Delete,
            "1" => KeyChangeHalf::Insert,
            _ => return Err(ParsePositionError::BadHalf(text.to_owned())),
        };
        let record = &text[..text.len() - 2];
        Ok(StreamPoint::RowHalf(record.parse()?, half))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binlog_position_round_trips_through_text() {
        for text in ["mysql-bin.000003:1234", "bin:4", "host:with:colons.000001:99"] {
            let position: BinlogPosition = text.parse().unwrap();
            assert_eq!(position.to_string(), text);
        }
        let position: BinlogPosition = "host:with:colons.000001:99".parse().unwrap();
        assert_eq!(position.file, "host:with:colons.000001");
        assert_eq!(position.offset, 99);
    }

    #[test]
    fn positions_order_by_file_number_then_offset() {
        let at = |file: &str, offset| BinlogPosition::new(file, offset);
        assert!(at("b.000002", 4).is_at_or_past(&at("b.000001", 900)));
        assert!(at("b.000001", 900).is_at_or_past(&at("b.000001", 900)));
        assert!(!at("b.000001", 899).is_at_or_past(&at("b.000001", 900)));
        assert!(at("b.1000000", 4).is_at_or_past(&at("b.999999", 4)));
    }

    #[test]
    fn record_position_round_trips_through_text() {
        let position = RecordPosition {
            event: BinlogPosition::new("mysql-bin.000001", 880),
            row_index: 3,
        };
        assert_eq!(position.to_string(), "mysql-bin.000001:880#3");
        assert_eq!(position.to_string().parse::<RecordPosition>().unwrap(), position);
    }

    #[test]
    fn stream_points_round_trip_and_cover_what_came_before_them() {
        let row = |text: &str| text.parse::<StreamPoint>().unwrap();
        for text in ["b.000002:880#3", "b.000002:880", "b.000002:880#3.0", "b.000002:880#3.1"] {
            assert_eq!(text.parse::<StreamPoint>().unwrap().to_string(), text);
        }
        let last_row: StreamPoint = "b.000002:880#3".parse().unwrap();
        assert!(last_row.covers(&row("b.000002:880#3")));
        assert!(last_row.covers(&row("b.000002:880#2")));
        assert!(last_row.covers(&row("b.000001:9000#0")));
        assert!(!last_row.covers(&row("b.000002:880#4")));
        assert!(!last_row.covers(&row("b.000002:990#0")));
        assert!(!last_row.covers(&row("b.000010:4#0")));
        let snapshot_point: StreamPoint = "b.000002:880".parse().unwrap();
        assert!(snapshot_point.covers(&row("b.000002:700#5")));
        assert!(!snapshot_point.covers(&row("b.000002:880#0")));
        assert!(!snapshot_point.covers(&row("b.000003:100#0")));
        assert!(!last_row.covers(&snapshot_point), "snapshot rows are never skipped");
    }

    #[test]
    fn the_halves_of_a_key_change_order_within_their_row() {
        let point = |text: &str| text.parse::<StreamPoint>().unwrap();
        assert_eq!(
            point("b.000002:880#3.1"),
            StreamPoint::RowHalf(
                RecordPosition {
                    event: BinlogPosition::new("b.000002", 880),
                    row_index: 3,
                },
                KeyChangeHalf::Insert
            )
        );
        let delete_written = point("b.000002:880#3.0");
        assert!(delete_written.covers(&point("b.000002:880#3.0")));
        assert!(
            !delete_written.covers(&point("b.000002:880#3.1")),
            "the insert half is still owed"
        );
        assert!(delete_written.covers(&point("b.000002:880#2.1")));
        assert!(!delete_written.covers(&point("b.000002:880#4")));
        let insert_written = point("b.000002:880#3.1");
        assert!(insert_written.covers(&point("b.000002:880#3.0")));
        assert!(insert_written.covers(&point("b.000002:880#3.1")));
        assert!(!insert_written.covers(&point("b.000002:880#4.0")));
        // A tail written as one record (before splitting existed) covers the row's first half only.
        let whole = point("b.000002:880#3");
        assert!(whole.covers(&point("b.000002:880#3.0")));
        assert!(!whole.covers(&point("b.000002:880#3.1")));
        // Hosts with colons and dots in the file name still parse.
        assert_eq!(point("host:a.b.000001:4#0.1").to_string(), "host:a.b.000001:4#0.1");
    }

    #[test]
    fn malformed_positions_are_refused_with_the_reason() {
        assert_eq!(
            "mysql-bin.000001".parse::<BinlogPosition>(),
            Err(ParsePositionError::MissingOffset("mysql-bin.000001".into()))
        );
        assert_eq!(
            "mysql-bin.000001:x".parse::<BinlogPosition>(),
            Err(ParsePositionError::BadOffset("mysql-bin.000001:x".into()))
        );
        assert_eq!(
            ":4".parse::<BinlogPosition>(),
            Err(ParsePositionError::EmptyFile(":4".into()))
        );
        assert!("mysql-bin.000001:4".parse::<RecordPosition>().is_err());
        assert_eq!(
            "b.000001:4#2.7".parse::<StreamPoint>(),
            Err(ParsePositionError::BadHalf("b.000001:4#2.7".into()))
        );
        assert!("b.000001:4#x.1".parse::<StreamPoint>().is_err());
        assert!(
            "b.000001:4#2.1".parse::<RecordPosition>().is_err(),
            "a record position has no half"
        );
    }
}
