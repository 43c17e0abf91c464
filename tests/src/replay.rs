//! Replaying a topic the way a consumer would, to compare it with the table it came from, and a
//! workload that keeps writing while the daemon snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context;
use mysql_async::prelude::Queryable;

use crate::daemon::DecodedRecord;
use crate::harness::MariaDb;

/// Rows by primary-key values, each row as rendered text per column (`None` for NULL).
pub type TableState = BTreeMap<Vec<Option<String>>, Vec<Option<String>>>;

/// The primary-key column indexes a record declares in its `pk_uk_info` tag.
pub fn key_columns(record: &DecodedRecord) -> Vec<usize> {
    let info = record
        .tags
        .iter()
        .find(|(k, _)| k == "pk_uk_info")
        .map(|(_, v)| v.as_str())
        .unwrap_or("{}");
    let info: serde_json::Value = serde_json::from_str(info).unwrap_or_default();
    // `{"PRIMARY": [...]}`, or the unique key that stands in for it.
    let names: Vec<&str> = info
        .as_object()
        .and_then(|keys| keys.values().next())
        .and_then(|columns| columns.as_array())
        .map(|columns| columns.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    names
        .iter()
        .filter_map(|name| record.fields.iter().position(|(field, _)| field == name))
        .collect()
}

fn key_of(row: &[Option<String>], key: &[usize]) -> Vec<Option<String>> {
    key.iter().map(|&i| row[i].clone()).collect()
}

/// Applies records in order: inserts and snapshot rows upsert, updates move the row from its old key
/// to its new one, deletes remove.
pub fn replay<'a>(records: impl IntoIterator<Item = &'a DecodedRecord>) -> TableState {
    let mut state = TableState::new();
    for record in records {
        let key = key_columns(record);
        if let Some(before) = &record.before {
            state.remove(&key_of(before, &key));
        }
        if let Some(after) = &record.after {
            state.insert(key_of(after, &key), after.clone());
        }
    }
    state
}

/// A table's rows now, rendered as text by the server, keyed by the given key columns.
pub async fn select_state(db: &MariaDb, table: &str, key: &[usize]) -> anyhow::Result<TableState> {
    let mut conn = db.admin_conn().await?;
    let rows: Vec<mysql_async::Row> = conn.query(format!("SELECT * FROM {table}")).await?;
    let mut state = TableState::new();
    for row in rows {
        let values: Vec<Option<String>> = row
            .unwrap()
            .into_iter()
            .map(|value| match value {
                mysql_async::Value::NULL => None,
                mysql_async::Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
            })
            .collect();
        state.insert(key_of(&values, key), values);
    }
    Ok(state)
}

/// Asserts that no binlog change appears twice and no key appears twice among snapshot rows.
pub fn assert_nothing_doubled(records: &[DecodedRecord]) {
    let mut positions = BTreeSet::new();
    let mut snapshot_keys = BTreeSet::new();
    for record in records {
        if record.tags.iter().any(|(k, v)| k == "snapshot" && v == "true") {
            let key = key_of(
                record.after.as_ref().expect("snapshot rows have an after image"),
                &key_columns(record),
            );
            assert!(
                snapshot_keys.insert((record.object_name.clone(), key.clone())),
                "snapshot row {key:?} of {:?} published twice",
                record.object_name
            );
        } else {
            assert!(
                positions.insert(record.source_position.clone()),
                "binlog change at {} published twice",
                record.source_position
            );
        }
    }
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1)
    }
}

/// Keeps running short write transactions (inserts, updates, deletes) against tables until stopped.
pub struct Workload {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Workload {
    /// `statements` makes the statements of one transaction from a random generator.
    pub fn start(db: &MariaDb, seed: u64, statements: fn(&mut Random) -> Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let url = db.admin_url();
        let (stop_flag, counter) = (stop.clone(), done.clone());
        let task = tokio::spawn(async move {
            let mut conn = mysql_async::Conn::from_url(url).await.context("workload connection")?;
            let mut random = Random::new(seed);
            while !stop_flag.load(Ordering::Relaxed) {
                conn.query_drop("BEGIN").await?;
                for statement in statements(&mut random) {
                    conn.query_drop(statement).await?;
                }
                conn.query_drop("COMMIT").await?;
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        Self { stop, done, task }
    }

    /// Transactions committed so far.
    pub fn transactions(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Stops after the current transaction and returns how many committed.
    pub async fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.context("the workload panicked")??;
        Ok(self.done.load(Ordering::Relaxed))
    }
}

/// Inserts rows `ids` into `shop.items (id, note)`, one autocommitted statement each.
pub async fn insert_items(db: &MariaDb, ids: std::ops::RangeInclusive<i64>) -> anyhow::Result<()> {
    for id in ids {
        db.execute(&format!("INSERT INTO shop.items VALUES ({id}, 'item {id}')"))
            .await?;
    }
    Ok(())
}

/// The first column of each message's after image (an insert's `id`), in message order.
pub fn inserted_ids(messages: &[crate::harness::ConsumedMessage]) -> anyhow::Result<Vec<i64>> {
    let schema = crate::daemon::reference_schema()?;
    messages
        .iter()
        .map(|message| {
            let record = crate::daemon::decode_record(&schema, &message.payload)?;
            let after = record.after.context("an insert has an after image")?;
            Ok(after[0].as_deref().context("id is not NULL")?.parse()?)
        })
        .collect()
}
