//! [`Change`]: one row change together with its table, as a role method sees it.

use crate::types::{ColumnValue, Operation, RowChange, Table};

/// One row change of a batch and the table it belongs to.
///
/// Rows carry only the values of the columns the plugin named in its [`crate::Interest`], in the
/// table's `carried` order; the accessors here look values up by column name or index through that
/// order, so plugin logic never deals with carried positions.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    table: &'a Table,
    change: &'a RowChange,
}

impl<'a> Change<'a> {
    /// `change` of `table`. The glue resolves the change's table index; tests call this directly.
    pub fn new(table: &'a Table, change: &'a RowChange) -> Change<'a> {
        Change { table, change }
    }

    /// The table the change belongs to.
    pub fn table(&self) -> &'a Table {
        self.table
    }

    /// The change as the host handed it over.
    pub fn row_change(&self) -> &'a RowChange {
        self.change
    }

    /// Insert, update or delete.
    pub fn operation(&self) -> Operation {
        self.change.operation
    }

    /// The carried values before the change, in the table's `carried` order; empty for an insert.
    pub fn before(&self) -> &'a [ColumnValue] {
        &self.change.before
    }

    /// The carried values after the change, in the table's `carried` order; empty for a delete.
    pub fn after(&self) -> &'a [ColumnValue] {
        &self.change.after
    }

    /// The value of the column named `name` before the change: `None` for an insert, or when the
    /// table has no such column or rows do not carry it (the plugin's interest did not name it).
    pub fn before_value(&self, name: &str) -> Option<&'a ColumnValue> {
        let position = self.table.carried_position_of(name)?;
        self.change.before.get(position)
    }

    /// The value of the column named `name` after the change: `None` for a delete, or when the table
    /// has no such column or rows do not carry it.
    pub fn after_value(&self, name: &str) -> Option<&'a ColumnValue> {
        let position = self.table.carried_position_of(name)?;
        self.change.after.get(position)
    }

    /// The value of column `column` (an index into the table's `columns`) before the change.
    pub fn before_at(&self, column: u32) -> Option<&'a ColumnValue> {
        self.change.before.get(self.table.carried_position(column)?)
    }

    /// The value of column `column` (an index into the table's `columns`) after the change.
    pub fn after_at(&self, column: u32) -> Option<&'a ColumnValue> {
        self.change.after.get(self.table.carried_position(column)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_through_the_carried_columns() {
        let table = Table::new("shop", "orders", &[("id", 3), ("email", 15), ("note", 252)]).carrying(&["email"]);
        let change = RowChange::update(0, vec![ColumnValue::text("a@x")], vec![ColumnValue::Null]);
        let change = Change::new(&table, &change);
        assert_eq!(change.operation(), Operation::Update);
        assert_eq!(change.before_value("email"), Some(&ColumnValue::text("a@x")));
        assert_eq!(change.after_value("email"), Some(&ColumnValue::Null));
        assert_eq!(change.after_at(1), Some(&ColumnValue::Null));
        // The table has `id`, but rows do not carry it; `missing` it does not have at all.
        assert_eq!(change.after_value("id"), None);
        assert_eq!(change.after_value("missing"), None);
        assert_eq!(change.after_at(0), None);
    }

    #[test]
    fn an_insert_has_no_before_value_and_a_delete_no_after_value() {
        let table = Table::new("shop", "orders", &[("id", 3)]);
        let insert = RowChange::insert(0, vec![ColumnValue::Int(1)]);
        let delete = RowChange::delete(0, vec![ColumnValue::Int(1)]);
        assert_eq!(Change::new(&table, &insert).before_value("id"), None);
        assert_eq!(
            Change::new(&table, &insert).after_value("id"),
            Some(&ColumnValue::Int(1))
        );
        assert_eq!(Change::new(&table, &delete).after_value("id"), None);
        assert_eq!(
            Change::new(&table, &delete).before_value("id"),
            Some(&ColumnValue::Int(1))
        );
    }
}
