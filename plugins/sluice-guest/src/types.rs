//! The plain types a plugin sees and returns: the generated WIT types, re-exported under short names,
//! with constructors for tests and accessors for plugin logic.

use std::rc::Rc;

pub use crate::bindings::exports::sluice::plugin::ddl_policy::{DdlDecision, DdlEvent, DdlKind, TableRef};
pub use crate::bindings::exports::sluice::plugin::filter::{ColumnEdit, MaskedColumn};
pub use crate::bindings::exports::sluice::plugin::mapping::{ObjectName, RowMapping, TableMapping};
pub use crate::bindings::sluice::plugin::types::{
    ChangeBatch, Column, ColumnValue, Date, Datetime, Interest, Operation, PluginError, Table, Time,
};

/// The fate of one change, as [`crate::Plugin::filter`] decides it.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Publish it as it is.
    Keep,
    /// Publish nothing for it. Later plugins do not see it.
    Drop,
    /// Publish it with these columns edited (`vec![...].into()`). Later plugins see the edited values.
    /// The glue sends each distinct set of edits once per batch, however many changes share it; a
    /// plugin that keeps an edit set and returns clones of it allocates nothing per change.
    KeepMasked(Rc<[MaskedColumn]>),
}

impl Table {
    /// A table with these `(name, type code)` columns, no primary key, carrying every column's value,
    /// under id 0.
    pub fn new(database: &str, name: &str, columns: &[(&str, u8)]) -> Table {
        Table {
            id: 0,
            database: database.to_owned(),
            name: name.to_owned(),
            columns: columns
                .iter()
                .map(|&(name, type_code)| Column {
                    name: name.to_owned(),
                    type_code,
                })
                .collect(),
            primary_key: Vec::new(),
            carried: (0..columns.len() as u32).collect(),
        }
    }

    /// The same table with this primary key (indexes into `columns`).
    pub fn with_primary_key(mut self, primary_key: impl IntoIterator<Item = u32>) -> Table {
        self.primary_key = primary_key.into_iter().collect();
        self
    }

    /// The same table carrying only the values of the named columns, in this order, as the host does
    /// for a plugin whose [`Interest`] names them. Names the table does not have are skipped.
    pub fn carrying(mut self, column_names: &[&str]) -> Table {
        self.carried = column_names.iter().filter_map(|name| self.column_index(name)).collect();
        self
    }

    /// `database.table`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.database, self.name)
    }

    /// The index into `columns` of the column named `name` (exact, case-sensitive match).
    pub fn column_index(&self, name: &str) -> Option<u32> {
        self.columns
            .iter()
            .position(|column| column.name == name)
            .map(|index| index as u32)
    }

    /// Where the value of column `column` (an index into `columns`) sits in a row's carried values,
    /// if rows carry it.
    pub fn carried_position(&self, column: u32) -> Option<usize> {
        self.carried.iter().position(|&carried| carried == column)
    }

    /// Where the value of the column named `name` sits in a row's carried values, if rows carry it.
    /// Looks only at the carried columns, which are the few the plugin asked for.
    pub fn carried_position_of(&self, name: &str) -> Option<usize> {
        self.carried.iter().position(|&column| {
            self.columns
                .get(column as usize)
                .is_some_and(|carried| carried.name == name)
        })
    }
}

impl ColumnValue {
    /// Whether this is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, ColumnValue::Null)
    }

    /// The text of a character column.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ColumnValue::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The value of a signed integer column.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ColumnValue::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// A text value, for building test rows: `ColumnValue::text("a@x")`.
    pub fn text(text: &str) -> ColumnValue {
        ColumnValue::Text(text.to_owned())
    }
}

impl Interest {
    /// Every table and operation, no column values.
    pub fn everything() -> Interest {
        Interest {
            tables: Vec::new(),
            operations: Vec::new(),
            columns: Vec::new(),
        }
    }

    /// Only tables matching these `database.table` patterns (`*` matches any run of characters).
    pub fn with_tables<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Interest {
        self.tables = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Only these operations.
    pub fn with_operations(mut self, operations: impl IntoIterator<Item = Operation>) -> Interest {
        self.operations = operations.into_iter().collect();
        self
    }

    /// Rows carry the values of these columns (`*`: every column).
    pub fn with_columns<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Interest {
        self.columns = names.into_iter().map(Into::into).collect();
        self
    }
}

impl MaskedColumn {
    /// Publish `value` instead of column `column`'s value, in both row images.
    pub fn replace(column: u32, value: ColumnValue) -> MaskedColumn {
        MaskedColumn {
            column,
            edit: ColumnEdit::Replace(value),
        }
    }

    /// Leave column `column` out of the published record.
    pub fn remove(column: u32) -> MaskedColumn {
        MaskedColumn {
            column,
            edit: ColumnEdit::Remove,
        }
    }
}

impl TableMapping {
    /// A mapping that keeps every earlier choice.
    pub fn unchanged() -> TableMapping {
        TableMapping {
            topic: None,
            object_name: None,
            column_names: Vec::new(),
            key_columns: None,
            per_row: false,
        }
    }
}

impl RowMapping {
    /// A row mapping that keeps the table's mapping.
    pub fn unchanged() -> RowMapping {
        RowMapping {
            topic: None,
            key: None,
            partition: None,
        }
    }
}

impl PluginError {
    /// An `invalid-config` error.
    pub fn invalid_config(message: impl Into<String>) -> PluginError {
        PluginError::InvalidConfig(message.into())
    }

    /// An `other` error.
    pub fn other(message: impl Into<String>) -> PluginError {
        PluginError::Other(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> Table {
        Table::new("shop", "orders", &[("id", 3), ("email", 15), ("note", 252)])
    }

    #[test]
    fn columns_are_found_by_exact_name() {
        let table = orders();
        assert_eq!(table.column_index("email"), Some(1));
        assert_eq!(table.column_index("Email"), None);
        assert_eq!(table.qualified_name(), "shop.orders");
    }

    #[test]
    fn carried_positions_follow_the_carried_order_not_the_table_order() {
        let table = orders().carrying(&["note", "missing", "id"]);
        assert_eq!(table.carried, [2, 0]);
        assert_eq!(table.carried_position_of("note"), Some(0));
        assert_eq!(table.carried_position_of("id"), Some(1));
        assert_eq!(table.carried_position_of("email"), None);
        assert_eq!(table.carried_position(0), Some(1));
        assert_eq!(table.carried_position(1), None);
    }

    #[test]
    fn value_accessors_match_only_their_case() {
        assert!(ColumnValue::Null.is_null());
        assert_eq!(ColumnValue::text("a").as_text(), Some("a"));
        assert_eq!(ColumnValue::Int(3).as_text(), None);
        assert_eq!(ColumnValue::Int(-3).as_int(), Some(-3));
        assert_eq!(ColumnValue::Uint(3).as_int(), None);
    }
}
