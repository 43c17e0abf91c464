//! How far the snapshot of each table got: the part of the checkpoint that makes a crash mid-table
//! resume at the last finished chunk instead of at row zero.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One primary-key column value, as stored in the checkpoint and bound back into the next chunk's
/// `WHERE (key) > (...)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyValue {
    Null,
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Text or binary key bytes, as lowercase hex (exact for any charset).
    Bytes(String),
    /// `YYYY-MM-DD HH:MM:SS.ffffff`, for temporal keys.
    Temporal(String),
}

impl KeyValue {
    /// The key value of a selected column, in a form the server compares like the original.
    pub fn from_sql(value: &mysql_async::Value) -> Self {
        use mysql_async::Value;
        match value {
            Value::NULL => KeyValue::Null,
            Value::Int(v) => KeyValue::Int(*v),
            Value::UInt(v) => KeyValue::UInt(*v),
            Value::Float(v) => KeyValue::Float(*v as f64),
            Value::Double(v) => KeyValue::Float(*v),
            Value::Bytes(bytes) => KeyValue::Bytes(bytes.iter().map(|b| format!("{b:02x}")).collect()),
            Value::Date(y, m, d, h, mi, s, us) => {
                KeyValue::Temporal(format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"))
            }
            Value::Time(negative, days, h, m, s, us) => {
                let sign = if *negative { "-" } else { "" };
                KeyValue::Temporal(format!("{sign}{}:{m:02}:{s:02}.{us:06}", days * 24 + *h as u32))
            }
        }
    }

    /// The value to bind as a statement parameter.
    pub fn to_sql(&self) -> mysql_async::Value {
        use mysql_async::Value;
        match self {
            KeyValue::Null => Value::NULL,
            KeyValue::Int(v) => Value::Int(*v),
            KeyValue::UInt(v) => Value::UInt(*v),
            KeyValue::Float(v) => Value::Double(*v),
            KeyValue::Bytes(hex) => Value::Bytes(
                (0..hex.len())
                    .step_by(2)
                    .filter_map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
                    .collect(),
            ),
            KeyValue::Temporal(text) => Value::Bytes(text.clone().into_bytes()),
        }
    }
}

/// Where the snapshot of one table stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "after")]
pub enum TableProgress {
    /// Not started: the next chunk starts at the first key.
    Pending,
    /// Every row with a key up to and including this one is published; the next chunk starts after it.
    After(Vec<KeyValue>),
    /// Finished.
    Done,
}

/// The snapshot progress of every table that has one, by `database.table`.
pub type SnapshotState = BTreeMap<String, TableProgress>;

/// A change to the snapshot state, carried by a commit so it is checkpointed only once everything
/// before it was acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    /// `database.table`.
    pub table: String,
    pub progress: TableProgress,
}

/// Applies an update to a state.
pub fn apply(state: &mut SnapshotState, update: &ProgressUpdate) {
    state.insert(update.table.clone(), update.progress.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_survive_the_checkpoint_and_bind_back_exactly() {
        let values = [
            mysql_async::Value::Int(-5),
            mysql_async::Value::UInt(u64::MAX),
            mysql_async::Value::Bytes(vec![0, 0xff, b'a']),
        ];
        for value in values {
            let key = KeyValue::from_sql(&value);
            let text = serde_json::to_string(&key).unwrap();
            let back: KeyValue = serde_json::from_str(&text).unwrap();
            assert_eq!(back.to_sql(), value);
        }
    }

    #[test]
    fn progress_serialises_readably() {
        let progress = TableProgress::After(vec![KeyValue::Int(42), KeyValue::Bytes("6575".into())]);
        let text = serde_json::to_string(&progress).unwrap();
        assert_eq!(text, r#"{"state":"after","after":[{"int":42},{"bytes":"6575"}]}"#);
        assert_eq!(serde_json::from_str::<TableProgress>(&text).unwrap(), progress);
        assert_eq!(
            serde_json::to_string(&TableProgress::Done).unwrap(),
            r#"{"state":"done"}"#
        );
    }
}
