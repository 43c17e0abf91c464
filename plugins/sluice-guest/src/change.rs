//! [`Change`]: one row change together with its table, as a role method sees it.

use crate::plans::Shape;
use crate::types::{Operation, Table};
use crate::values::Value;

/// The carried values of one row image, read lazily from the batch.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    data: &'a [u8],
    /// Where each carried value starts in `data`: a little-endian u32 each.
    offsets: &'a [u8],
}

impl<'a> Image<'a> {
    pub(crate) fn new(data: &'a [u8], offsets: &'a [u8]) -> Image<'a> {
        Image { data, offsets }
    }

    /// How many values it carries: as many as the table's `carried` columns, or none if absent.
    pub fn len(&self) -> usize {
        self.offsets.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Where the value at `position` starts in `data`.
    fn start(&self, position: usize) -> Option<usize> {
        let at = position.checked_mul(4)?;
        let word = self.offsets.get(at..at + 4)?;
        Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize)
    }

    /// The value at `position` of the table's `carried` order, decoded now.
    pub fn get(&self, position: usize) -> Option<Value<'a>> {
        Value::decode(self.data.get(self.start(position)?..)?)
    }

    /// Whether the value at `position` is SQL NULL, read without decoding the value.
    pub fn is_null(&self, position: usize) -> Option<bool> {
        self.data
            .get(self.start(position)?)
            .map(|&kind| kind == crate::values::NULL_KIND)
    }

    /// Every carried value, in the table's `carried` order.
    pub fn values(&self) -> impl Iterator<Item = Option<Value<'a>>> + '_ {
        (0..self.len()).map(|position| self.get(position))
    }
}

/// One row change of a batch and the table it belongs to.
///
/// Rows carry only the values of the columns the plugin named in its [`crate::Interest`], in the
/// table's `carried` order; the accessors here look values up by column name or index through that
/// order, so plugin logic never deals with carried positions. A value is decoded when it is read.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    table: &'a Table,
    shape: Shape,
    operation: Operation,
    before: Image<'a>,
    after: Image<'a>,
}

impl<'a> Change<'a> {
    pub(crate) fn from_parts(
        table: &'a Table,
        shape: Shape,
        operation: Operation,
        before: Image<'a>,
        after: Image<'a>,
    ) -> Self {
        Change {
            table,
            shape,
            operation,
            before,
            after,
        }
    }

    /// `change` of `table`, for unit tests of a role method. Each such change counts as a table shape
    /// of its own, so a [`crate::Plans`] works its plan out anew.
    pub fn new(table: &'a Table, change: &'a crate::RowChange) -> Change<'a> {
        change.of(table, Shape::new(table.id))
    }

    /// Which table shape, as the instance was shown it, the change belongs to: the key of
    /// [`crate::Plans`].
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The table the change belongs to.
    pub fn table(&self) -> &'a Table {
        self.table
    }

    /// Insert, update or delete.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The carried values before the change; empty for an insert.
    pub fn before(&self) -> Image<'a> {
        self.before
    }

    /// The carried values after the change; empty for a delete.
    pub fn after(&self) -> Image<'a> {
        self.after
    }

    /// The value of the column named `name` before the change: `None` for an insert, or when the
    /// table has no such column or rows do not carry it (the plugin's interest did not name it).
    pub fn before_value(&self, name: &str) -> Option<Value<'a>> {
        self.before.get(self.table.carried_position_of(name)?)
    }

    /// The value of the column named `name` after the change: `None` for a delete, or when the table
    /// has no such column or rows do not carry it.
    pub fn after_value(&self, name: &str) -> Option<Value<'a>> {
        self.after.get(self.table.carried_position_of(name)?)
    }

    /// Whether column `column` (an index into the table's `columns`) holds a value other than NULL
    /// before or after the change; reads no value beyond its kind.
    pub fn holds_value_at(&self, column: u32) -> bool {
        let Some(position) = self.table.carried_position(column) else {
            return false;
        };
        [self.before, self.after]
            .iter()
            .any(|image| image.is_null(position) == Some(false))
    }

    /// The value of column `column` (an index into the table's `columns`) before the change.
    pub fn before_at(&self, column: u32) -> Option<Value<'a>> {
        self.before.get(self.table.carried_position(column)?)
    }

    /// The value of column `column` (an index into the table's `columns`) after the change.
    pub fn after_at(&self, column: u32) -> Option<Value<'a>> {
        self.after.get(self.table.carried_position(column)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RowChange;
    use crate::types::ColumnValue;

    #[test]
    fn values_are_found_through_the_carried_columns() {
        let table = Table::new("shop", "orders", &[("id", 3), ("email", 15), ("note", 252)]).carrying(&["email"]);
        let change = RowChange::update(0, vec![ColumnValue::text("a@x")], vec![ColumnValue::Null]);
        let change = Change::new(&table, &change);
        assert_eq!(change.operation(), Operation::Update);
        assert_eq!(change.before_value("email"), Some(Value::Text("a@x")));
        assert_eq!(change.after_value("email"), Some(Value::Null));
        assert_eq!(change.after_at(1), Some(Value::Null));
        // The table has `id`, but rows do not carry it; `missing` it does not have at all.
        assert_eq!(change.after_value("id"), None);
        assert_eq!(change.after_value("missing"), None);
        assert_eq!(change.after_at(0), None);
        assert!(change.holds_value_at(1));
        assert!(!change.holds_value_at(0));
        let nulls = RowChange::update(0, vec![ColumnValue::Null], vec![ColumnValue::Null]);
        assert!(!Change::new(&table, &nulls).holds_value_at(1));
    }

    #[test]
    fn an_insert_has_no_before_value_and_a_delete_no_after_value() {
        let table = Table::new("shop", "orders", &[("id", 3)]);
        let insert = RowChange::insert(0, vec![ColumnValue::Int(1)]);
        let delete = RowChange::delete(0, vec![ColumnValue::Int(1)]);
        assert_eq!(Change::new(&table, &insert).before_value("id"), None);
        assert!(Change::new(&table, &insert).before().is_empty());
        assert_eq!(Change::new(&table, &insert).after_value("id"), Some(Value::Int(1)));
        assert_eq!(Change::new(&table, &delete).after_value("id"), None);
        assert_eq!(Change::new(&table, &delete).before_value("id"), Some(Value::Int(1)));
    }
}
