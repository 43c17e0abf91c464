//! An UPDATE that changes a row's primary key, published as two records: a DELETE under the old key,
//! then an INSERT under the new key.
//!
//! # Why
//! Messages are keyed (and by default partitioned) by the primary key. Published as one UPDATE under
//! the new key, the change would sit in the new key's partition only: a consumer of the old key's
//! partition would never learn that the old key is gone (and a compacted topic would keep its last
//! record forever), and nothing would order the old key's earlier changes before the new key's. As a
//! DELETE in the old key's partition, sent before the INSERT in the new key's, every key's history is
//! complete and in order in its own partition. Every UPDATE that changes the key is split: an UPDATE
//! record under a key it no longer has would be wrong for every consumer, so there is no setting.
//!
//! Only the key sluice makes is considered: when a plugin chose the row's message key (per row, or its
//! table's key columns, or a mapping that removed columns), the change is published as one UPDATE
//! under the plugin's key.
//!
//! # Positions
//! Both records come from one binlog row. They carry its position with a half after it
//! (`file:offset#row.0` for the DELETE, `.1` for the INSERT; see [`crate::source::position`]), so
//! exactly-once delivery tells which of the two a partition already holds, and a restart between them
//! sends exactly the INSERT.

use crate::change::Operation;
use crate::plugin::chain::RoutedChange;

/// When `row` is an UPDATE that changed its primary key (and the message key is sluice's): turns it
/// into the DELETE under the old key, to publish first, and returns the INSERT under the new key, to
/// publish right after. Otherwise leaves `row` as it is and returns `None`.
pub fn split(row: &mut RoutedChange) -> Option<RoutedChange> {
    if !changes_primary_key(row) {
        return None;
    }
    let after = row.change.after.take();
    let before = row.change.before.take();
    // Without its images, the change is cheap to copy: its table and transaction are shared.
    let mut insert = RoutedChange {
        change: row.change.clone(),
        routing: row.routing.clone(),
    };
    row.change.operation = Operation::Delete;
    row.change.before = before;
    insert.change.operation = Operation::Insert;
    insert.change.after = after;
    Some(insert)
}

/// Whether `row` is an UPDATE whose before and after images differ in a primary-key column, keyed by
/// sluice.
fn changes_primary_key(row: &RoutedChange) -> bool {
    let change = &row.change;
    if change.operation != Operation::Update || row.routing.key.is_some() {
        return false;
    }
    let (Some(before), Some(after)) = (&change.before, &change.after) else {
        return false;
    };
    change
        .table
        .primary_key
        .iter()
        .any(|&column| before.get(column) != after.get(column))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::change::{ColumnSchema, ColumnValue, Origin, RowChange, TableName, TableSchema, TransactionInfo};
    use crate::encode::key;
    use crate::plugin::chain::Routing;
    use crate::source::position::{BinlogPosition, RecordPosition};

    fn update(primary_key: Vec<usize>, before: [i64; 2], after: [i64; 2]) -> RoutedChange {
        let image = |values: [i64; 2]| Some(values.iter().map(|&v| ColumnValue::Int(v)).collect());
        RoutedChange {
            change: RowChange {
                origin: Origin::Binlog,
                table: Arc::new(TableSchema {
                    name: TableName::new("shop", "orders"),
                    columns: vec![ColumnSchema::new("id", 3), ColumnSchema::new("qty", 3)],
                    primary_key,
                    key_name: "PRIMARY".into(),
                }),
                operation: Operation::Update,
                before: image(before),
                after: image(after),
                position: RecordPosition {
                    event: BinlogPosition::new("b.000001", 880),
                    row_index: 2,
                },
                timestamp: 1,
                transaction: Arc::new(TransactionInfo {
                    id: "0-1-5".into(),
                    start: BinlogPosition::new("b.000001", 700),
                }),
            },
            routing: Routing {
                topic: Some("orders".into()),
                ..Routing::default()
            },
        }
    }

    #[test]
    fn an_update_of_the_key_becomes_a_delete_under_the_old_key_then_an_insert_under_the_new() {
        let mut delete = update(vec![0], [1, 10], [2, 10]);
        let insert = split(&mut delete).unwrap();
        assert_eq!(delete.change.operation, Operation::Delete);
        assert_eq!(
            delete.change.before,
            Some(vec![ColumnValue::Int(1), ColumnValue::Int(10)])
        );
        assert_eq!(delete.change.after, None);
        assert_eq!(key::primary_key(&delete.change).as_deref(), Some(&b"[1]"[..]));
        assert_eq!(insert.change.operation, Operation::Insert);
        assert_eq!(insert.change.before, None);
        assert_eq!(
            insert.change.after,
            Some(vec![ColumnValue::Int(2), ColumnValue::Int(10)])
        );
        assert_eq!(key::primary_key(&insert.change).as_deref(), Some(&b"[2]"[..]));
        for half in [&delete, &insert] {
            assert_eq!(half.change.position.to_string(), "b.000001:880#2");
            assert_eq!(&*half.change.transaction.id, "0-1-5");
            assert_eq!(half.routing.topic.as_deref(), Some("orders"));
        }
    }

    #[test]
    fn other_changes_stay_whole() {
        let stays_whole = |mut row: RoutedChange| {
            let original = row.clone();
            let split_off = split(&mut row);
            split_off.is_none() && row == original
        };
        // The key is unchanged; only another column changed.
        assert!(stays_whole(update(vec![0], [1, 10], [1, 11])));
        // No primary key: nothing to change.
        assert!(stays_whole(update(vec![], [1, 10], [2, 11])));
        // A plugin chose the message key.
        let mut keyed = update(vec![0], [1, 10], [2, 10]);
        keyed.routing.key = Some(b"chosen".to_vec());
        assert!(stays_whole(keyed));
        // Not an update.
        let mut insert = update(vec![0], [1, 10], [2, 10]);
        insert.change.operation = Operation::Insert;
        insert.change.before = None;
        assert!(stays_whole(insert));
        // A change of the second key column counts.
        assert!(!stays_whole(update(vec![0, 1], [1, 10], [1, 11])));
    }
}
