//! Which partition a message goes to, decided by sluice rather than left to librdkafka.
//!
//! Exactly-once delivery compares each message with the tail of the partition it goes to, so the
//! partition must be known before the send and must be the same on every run: it is a pure function
//! of the change, the configuration and the topic's partition count.
//!
//! `kafka.partitioning` (overridden per table by `kafka.partitioning_by_table`) chooses what is
//! hashed, with Kafka's murmur2 (`murmur2(bytes) & 0x7fffffff % partitions`, the Java client's
//! `DefaultPartitioner`, also librdkafka's `murmur2` partitioner, so consumers and other producers
//! agree on where a key lives):
//! - `primary_key` (default): the message key, so every change of a row lands on one partition, in
//!   order. A message without a key (a table without a primary key) goes to partition 0.
//! - `table`: the source table's `database.table`, so a table's changes keep their order across rows.
//! - `single`: nothing; everything goes to partition 0, in the stream's order.
//! - `{ columns = [...] }`: the named columns' values (in the message key's JSON form), so rows that
//!   agree on them share a partition. A table the policy applies to must have every named column.
//!
//! A partition a mapping plugin chose for a row wins over the policy.
//!
//! The encoder stage computes each row's hash ([`RowHasher`]); the sink, which knows the partition
//! count, turns it into the partition ([`partition_of_hash`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::change::{RowChange, TableName, TableSchema};
use crate::encode::{EncodeError, OutMessage, key};

/// The seed of Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
const KAFKA_SEED: u32 = 0x9747_b28c;

/// How many table shapes the hasher remembers before it starts over.
const REMEMBERED_TABLES: usize = 4096;

/// What a table's messages are spread over the partitions by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PartitionPolicy {
    /// The message key.
    #[default]
    PrimaryKey,
    /// The source table's `database.table`.
    Table,
    /// Nothing: partition 0.
    Single,
    /// These columns' values, by name.
    Columns(Vec<String>),
}

/// The configured policies: one for every table, and overrides by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partitioning {
    pub default: PartitionPolicy,
    pub by_table: HashMap<TableName, PartitionPolicy>,
}

impl Partitioning {
    /// The policy of `table`.
    pub fn policy(&self, table: &TableName) -> &PartitionPolicy {
        self.by_table.get(table).unwrap_or(&self.default)
    }

    /// The first column the policy of `table` names that `columns` lacks (with the setting that named it).
    pub fn missing_column<'a>(&'a self, table: &TableName, columns: &[&str]) -> Option<(&'static str, &'a str)> {
        let PartitionPolicy::Columns(named) = self.policy(table) else {
            return None;
        };
        let setting = if self.by_table.contains_key(table) {
            "kafka.partitioning_by_table"
        } else {
            "kafka.partitioning"
        };
        named
            .iter()
            .find(|name| !columns.iter().any(|column| column.eq_ignore_ascii_case(name)))
            .map(|name| (setting, name.as_str()))
    }
}

/// Kafka's murmur2 of `bytes`.
pub fn hash(bytes: &[u8]) -> u32 {
    murmur2::murmur2(bytes, KAFKA_SEED)
}

/// The partition of a message whose policy hashed to `hash` (`None`: partition 0), in a topic of
/// `partitions` partitions.
pub fn partition_of_hash(hash: Option<u32>, partitions: i32) -> i32 {
    match hash {
        Some(hash) if partitions > 1 => ((hash & 0x7fff_ffff) % partitions as u32) as i32,
        _ => 0,
    }
}

/// The partition of `message` in a topic of `partitions` partitions: the one a plugin chose, else the
/// one its partitioning policy hashed it to.
pub fn partition_of(message: &OutMessage, partitions: i32) -> i32 {
    message
        .partition
        .unwrap_or_else(|| partition_of_hash(message.partition_hash, partitions))
}

/// The partition of a message with `key` under the default policy.
pub fn partition_for(key: Option<&[u8]>, partitions: i32) -> i32 {
    partition_of_hash(key.map(hash), partitions)
}

/// A table's policy, resolved against its columns.
enum Resolved {
    MessageKey,
    /// The hash of the table's name, computed once.
    Fixed(Option<u32>),
    Columns(Vec<usize>),
}

/// Computes each row's partition hash under the configured policies. Held by the encoder stage.
pub struct RowHasher {
    partitioning: Partitioning,
    /// By the address of the table's schema, which the entry keeps alive so it is never reused.
    resolved: HashMap<usize, (Arc<TableSchema>, Resolved)>,
}

impl RowHasher {
    pub fn new(partitioning: Partitioning) -> Self {
        Self {
            partitioning,
            resolved: HashMap::new(),
        }
    }

    /// The partition hash of `change`, published under the message key `key`; `None` for partition 0.
    pub fn hash(&mut self, change: &RowChange, key: Option<&[u8]>) -> Result<Option<u32>, EncodeError> {
        let address = Arc::as_ptr(&change.table) as usize;
        if !self.resolved.contains_key(&address) {
            if self.resolved.len() >= REMEMBERED_TABLES {
                self.resolved.clear();
            }
            let resolved = self.resolve(&change.table)?;
            self.resolved.insert(address, (change.table.clone(), resolved));
        }
        Ok(match &self.resolved[&address].1 {
            Resolved::MessageKey => key.map(hash),
            Resolved::Fixed(hash) => *hash,
            Resolved::Columns(columns) => key::columns_key(change, columns).as_deref().map(hash),
        })
    }

    fn resolve(&self, table: &TableSchema) -> Result<Resolved, EncodeError> {
        Ok(match self.partitioning.policy(&table.name) {
            PartitionPolicy::PrimaryKey => Resolved::MessageKey,
            PartitionPolicy::Single => Resolved::Fixed(None),
            PartitionPolicy::Table => Resolved::Fixed(Some(hash(table.name.object_name().as_bytes()))),
            PartitionPolicy::Columns(names) => {
                let columns: Vec<&str> = table.columns.iter().map(|column| column.name.as_str()).collect();
                if let Some((setting, column)) = self.partitioning.missing_column(&table.name, &columns) {
                    return Err(missing_column_error(&table.name, setting, column));
                }
                Resolved::Columns(
                    names
                        .iter()
                        .filter_map(|name| columns.iter().position(|column| column.eq_ignore_ascii_case(name)))
                        .collect(),
                )
            }
        })
    }
}

/// The error for a table without a column its partitioning policy hashes.
pub fn missing_column_error(table: &TableName, setting: &str, column: &str) -> EncodeError {
    EncodeError {
        object: table.object_name(),
        detail: format!(
            "{setting} hashes column `{column}`, which {table} does not have (as published, after plugins \
             renamed or removed columns); name columns it has, or give it its own policy in \
             kafka.partitioning_by_table"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{ColumnSchema, ColumnValue, Operation, Origin, TransactionInfo};
    use crate::source::position::{BinlogPosition, RecordPosition};

    /// The values of Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(hash(key) as i32, expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn keys_spread_over_partitions_and_keyless_messages_go_to_zero() {
        assert_eq!(partition_for(None, 8), 0);
        assert_eq!(partition_for(Some(b"anything"), 1), 0);
        let used: std::collections::BTreeSet<i32> =
            (0..200u32).map(|n| partition_for(Some(&n.to_be_bytes()), 8)).collect();
        assert_eq!(used, (0..8).collect(), "200 keys should reach all 8 partitions");
        for n in 0..200u32 {
            let partition = partition_for(Some(&n.to_be_bytes()), 8);
            assert_eq!(partition, partition_for(Some(&n.to_be_bytes()), 8));
            assert!((0..8).contains(&partition));
        }
    }

    fn table(name: &str) -> Arc<TableSchema> {
        Arc::new(TableSchema {
            name: TableName::new("shop", name),
            columns: vec![ColumnSchema::new("id", 3), ColumnSchema::new("Region", 15)],
            primary_key: vec![0],
            key_name: "PRIMARY".into(),
        })
    }

    fn insert(table: &Arc<TableSchema>, id: i64, region: &str) -> RowChange {
        RowChange {
            origin: Origin::Binlog,
            table: table.clone(),
            operation: Operation::Insert,
            before: None,
            after: Some(vec![
                ColumnValue::Int(id),
                ColumnValue::Text(region.as_bytes().to_vec()),
            ]),
            position: RecordPosition {
                event: BinlogPosition::new("b.000001", 4),
                row_index: 0,
            },
            timestamp: 0,
            transaction: Arc::new(TransactionInfo {
                id: "".into(),
                start: BinlogPosition::new("b.000001", 4),
            }),
        }
    }

    fn hasher(default: PartitionPolicy, by_table: &[(&str, PartitionPolicy)]) -> RowHasher {
        RowHasher::new(Partitioning {
            default,
            by_table: by_table
                .iter()
                .map(|(name, policy)| (TableName::new("shop", *name), policy.clone()))
                .collect(),
        })
    }

    #[test]
    fn each_policy_hashes_what_it_names() {
        let orders = table("orders");
        let row = insert(&orders, 7, "EU");
        let key = key::primary_key(&row);
        assert_eq!(key.as_deref(), Some(&b"[7]"[..]));

        let mut by_key = hasher(PartitionPolicy::PrimaryKey, &[]);
        assert_eq!(by_key.hash(&row, key.as_deref()).unwrap(), Some(hash(b"[7]")));
        assert_eq!(by_key.hash(&row, None).unwrap(), None, "no key: partition 0");

        let mut by_table = hasher(PartitionPolicy::Table, &[]);
        assert_eq!(by_table.hash(&row, key.as_deref()).unwrap(), Some(hash(b"shop.orders")));

        let mut single = hasher(PartitionPolicy::Single, &[]);
        assert_eq!(single.hash(&row, key.as_deref()).unwrap(), None);

        let mut by_region = hasher(PartitionPolicy::Columns(vec!["region".into()]), &[]);
        let region_hash = by_region.hash(&row, key.as_deref()).unwrap();
        assert_eq!(
            region_hash,
            Some(hash(br#"["EU"]"#)),
            "column names match case-insensitively"
        );
        let other_row_same_region = insert(&orders, 8, "EU");
        assert_eq!(
            by_region.hash(&other_row_same_region, Some(b"[8]")).unwrap(),
            region_hash
        );
        assert_ne!(
            by_region.hash(&insert(&orders, 7, "US"), Some(b"[7]")).unwrap(),
            region_hash
        );
    }

    #[test]
    fn a_table_override_wins_and_a_missing_column_names_table_and_column() {
        let orders = table("orders");
        let audit = table("audit");
        let mut hasher = hasher(
            PartitionPolicy::Columns(vec!["customer".into()]),
            &[("orders", PartitionPolicy::Single)],
        );
        assert_eq!(hasher.hash(&insert(&orders, 1, "EU"), Some(b"[1]")).unwrap(), None);
        let error = hasher
            .hash(&insert(&audit, 1, "EU"), Some(b"[1]"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("shop.audit"), "{error}");
        assert!(error.contains("kafka.partitioning hashes column `customer`"), "{error}");
    }

    #[test]
    fn a_plugins_partition_wins_over_the_policy() {
        let point = "b.000001:4#0".parse().unwrap();
        let mut message = OutMessage::new("orders".into(), Some(b"[7]".to_vec()), Vec::new(), point);
        assert_eq!(partition_of(&message, 4), partition_for(Some(b"[7]"), 4));
        message.partition_hash = None;
        assert_eq!(partition_of(&message, 4), 0, "the policy chose partition 0");
        message.partition = Some(3);
        assert_eq!(partition_of(&message, 4), 3);
    }

    #[test]
    fn the_partition_of_a_hash_is_the_java_clients() {
        // Java: Utils.toPositive(Utils.murmur2("foobar".getBytes())) % 4, murmur2 = -790332482.
        assert_eq!(
            partition_of_hash(Some(hash(b"foobar")), 4),
            (-790332482i32 & 0x7fff_ffff) % 4
        );
        assert_eq!(partition_of_hash(None, 4), 0);
        assert_eq!(partition_of_hash(Some(u32::MAX), 1), 0);
    }
}
