//! Building row changes and batches natively, laid out as the host sends them, for unit tests of a
//! plugin's role methods and of the batch glue.

use crate::change::{Change, Image};
use crate::plans::Shape;
use crate::types::{ChangeBatch, ColumnValue, Operation, Table};
use crate::values::encode;

/// One row change, with its carried values encoded as the host sends them.
#[derive(Clone, Debug, PartialEq)]
pub struct RowChange {
    /// Index into the tables of [`ChangeBatch::of`].
    pub table: u32,
    pub operation: Operation,
    before: Vec<ColumnValue>,
    after: Vec<ColumnValue>,
    /// `before` then `after`, encoded, and where each value starts (little-endian u32s).
    data: Vec<u8>,
    offsets: Vec<u8>,
}

impl RowChange {
    fn new(table: u32, operation: Operation, before: Vec<ColumnValue>, after: Vec<ColumnValue>) -> RowChange {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for value in before.iter().chain(&after) {
            offsets.extend_from_slice(&(data.len() as u32).to_le_bytes());
            encode(value, &mut data);
        }
        RowChange {
            table,
            operation,
            before,
            after,
            data,
            offsets,
        }
    }

    /// An insert into table `table`, with the carried values of the new row.
    pub fn insert(table: u32, after: Vec<ColumnValue>) -> RowChange {
        RowChange::new(table, Operation::Insert, Vec::new(), after)
    }

    /// An update of a row of table `table`.
    pub fn update(table: u32, before: Vec<ColumnValue>, after: Vec<ColumnValue>) -> RowChange {
        RowChange::new(table, Operation::Update, before, after)
    }

    /// A delete from table `table`, with the carried values of the removed row.
    pub fn delete(table: u32, before: Vec<ColumnValue>) -> RowChange {
        RowChange::new(table, Operation::Delete, before, Vec::new())
    }

    /// The change as a role method sees it, of `table`.
    pub(crate) fn of<'a>(&'a self, table: &'a Table, shape: Shape) -> Change<'a> {
        let (before, after) = self.offsets.split_at(self.before.len() * 4);
        Change::from_parts(
            table,
            shape,
            self.operation,
            Image::new(&self.data, before),
            Image::new(&self.data, after),
        )
    }
}

impl ChangeBatch {
    /// A batch of `changes` of `tables`, as the host would send it to an instance that was shown none
    /// of them yet: table `i` gets the id `i` and is listed in `new_tables`.
    pub fn of(tables: Vec<Table>, changes: Vec<RowChange>) -> ChangeBatch {
        let mut batch = ChangeBatch {
            new_tables: tables
                .into_iter()
                .enumerate()
                .map(|(id, table)| Table { id: id as u32, ..table })
                .collect(),
            changes: Vec::new(),
            offsets: Vec::new(),
            data: Vec::new(),
        };
        for change in &changes {
            let operation: u32 = match change.operation {
                Operation::Insert => 0,
                Operation::Update => 1,
                Operation::Delete => 2,
            };
            let first = (batch.offsets.len() / 4) as u32;
            for word in [change.table, operation, first] {
                batch.changes.extend_from_slice(&word.to_le_bytes());
            }
            let base = batch.data.len() as u32;
            for offset in change.offsets.chunks_exact(4) {
                let offset = u32::from_le_bytes([offset[0], offset[1], offset[2], offset[3]]);
                batch.offsets.extend_from_slice(&(base + offset).to_le_bytes());
            }
            batch.data.extend_from_slice(&change.data);
        }
        batch
    }
}

#[cfg(test)]
impl<'a> Change<'a> {
    /// `row` as a change of the table `tables` knows under `id`, as the batch glue would show it.
    pub(crate) fn from_shown(tables: &'a crate::run::Tables, id: u32, row: &'a RowChange) -> Change<'a> {
        let (table, shape) = tables.shape(id).expect("a known table");
        row.of(table, *shape)
    }
}
