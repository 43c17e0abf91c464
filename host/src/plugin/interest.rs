//! What a plugin asked to be shown: tables, operations, and the columns its rows carry.

use crate::change::{Operation, RowChange, TableSchema};
use crate::config::TablePattern;
use crate::plugin::engine::wit;

/// A plugin's interest, checked once per change and once per table shape.
#[derive(Debug, Clone)]
pub struct Interest {
    /// Empty: every table.
    tables: Vec<TablePattern>,
    /// Indexed by [`operation_index`].
    operations: [bool; 3],
    columns: Columns,
}

#[derive(Debug, Clone)]
enum Columns {
    All,
    Named(Vec<String>),
}

fn operation_index(operation: Operation) -> usize {
    match operation {
        Operation::Insert => 0,
        Operation::Update => 1,
        Operation::Delete => 2,
    }
}

impl Interest {
    /// Everything, every column.
    pub fn everything() -> Self {
        Self {
            tables: Vec::new(),
            operations: [true; 3],
            columns: Columns::All,
        }
    }

    /// Reads a plugin's answer to `init`; a malformed table pattern is the plugin's error.
    pub fn from_wit(interest: wit::Interest) -> Result<Self, String> {
        let tables = interest
            .tables
            .iter()
            .map(|pattern| TablePattern::parse(pattern))
            .collect::<Result<Vec<_>, _>>()?;
        let mut operations = [interest.operations.is_empty(); 3];
        for operation in interest.operations {
            let operation = match operation {
                wit::Operation::Insert => Operation::Insert,
                wit::Operation::Update => Operation::Update,
                wit::Operation::Delete => Operation::Delete,
            };
            operations[operation_index(operation)] = true;
        }
        let columns = if interest.columns.iter().any(|name| name == "*") {
            Columns::All
        } else {
            Columns::Named(interest.columns)
        };
        Ok(Self {
            tables,
            operations,
            columns,
        })
    }

    pub fn wants_table(&self, table: &TableSchema) -> bool {
        self.tables.is_empty()
            || self
                .tables
                .iter()
                .any(|pattern| pattern.matches(&table.name.database, &table.name.table))
    }

    /// Whether the plugin is shown this change (its table's answer is cached by the caller).
    pub fn wants_operation(&self, change: &RowChange) -> bool {
        self.operations[operation_index(change.operation)]
    }

    /// Indexes of the table's columns whose values rows carry, in column order.
    pub fn carried(&self, table: &TableSchema) -> Vec<u32> {
        match &self.columns {
            Columns::All => (0..table.columns.len() as u32).collect(),
            Columns::Named(names) => table
                .columns
                .iter()
                .enumerate()
                .filter(|(_, column)| names.iter().any(|name| name.eq_ignore_ascii_case(&column.name)))
                .map(|(index, _)| index as u32)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{ColumnSchema, TableName, type_code};

    fn table(database: &str, name: &str) -> TableSchema {
        TableSchema {
            name: TableName::new(database, name),
            columns: vec![
                ColumnSchema::new("id", type_code::LONG),
                ColumnSchema::new("Email", type_code::VARCHAR),
                ColumnSchema::new("note", type_code::VARCHAR),
            ],
            primary_key: vec![0],
            key_name: "PRIMARY".into(),
        }
    }

    #[test]
    fn an_empty_interest_is_everything_and_carries_no_columns() {
        let interest = Interest::from_wit(wit::Interest {
            tables: vec![],
            operations: vec![],
            columns: vec![],
        })
        .unwrap();
        assert!(interest.wants_table(&table("shop", "orders")));
        assert!(interest.operations.iter().all(|wanted| *wanted));
        assert!(interest.carried(&table("shop", "orders")).is_empty());
    }

    #[test]
    fn tables_operations_and_columns_narrow_what_is_shown() {
        let interest = Interest::from_wit(wit::Interest {
            tables: vec!["shop.order*".into()],
            operations: vec![wit::Operation::Delete],
            columns: vec!["email".into(), "missing".into()],
        })
        .unwrap();
        assert!(interest.wants_table(&table("shop", "orders")));
        assert!(!interest.wants_table(&table("shop", "customers")));
        assert_eq!(interest.operations, [false, false, true]);
        assert_eq!(
            interest.carried(&table("shop", "orders")),
            vec![1],
            "names match case-insensitively"
        );
        let all = Interest::from_wit(wit::Interest {
            tables: vec![],
            operations: vec![],
            columns: vec!["*".into()],
        })
        .unwrap();
        assert_eq!(all.carried(&table("shop", "orders")), vec![0, 1, 2]);
    }

    #[test]
    fn a_malformed_table_pattern_is_refused() {
        let error = Interest::from_wit(wit::Interest {
            tables: vec!["orders".into()],
            operations: vec![],
            columns: vec![],
        })
        .unwrap_err();
        assert!(error.contains("`orders`"), "{error}");
    }
}
