//! The batch glue: how a batch call becomes per-change calls of a [`Plugin`]'s methods.
//!
//! It runs on the daemon's hot path, once per batch of typically 64 to 1024 changes. It remembers the
//! table shapes the host shows the instance (each once, in a batch's `new_tables`) in [`Tables`], and
//! walks the batch's bytes (an entry per change, value offsets, values), handing each change to the
//! plugin as a [`Change`] whose values are decoded only if the plugin reads them. Plugin tests can call [`filter`] and [`map_rows`] to drive a
//! plugin over a whole batch without the thread-local the component uses.

use crate::bindings::exports::sluice::plugin::filter::Filtered;
use crate::change::{Change, Image};
use crate::plans::Shape;
use crate::plugin::Plugin;
use std::rc::Rc;

use crate::types::{ChangeBatch, MaskedColumn, Operation, PluginError, RowMapping, Table, Verdict};

/// The table shapes the host has shown this instance, by id, each with its [`Shape`] key.
#[derive(Debug, Default)]
pub struct Tables {
    by_id: Vec<Option<(Table, Shape)>>,
}

impl Tables {
    /// Keeps `tables` under their ids, replacing what was known under the same ids.
    pub fn remember(&mut self, tables: impl IntoIterator<Item = Table>) {
        for table in tables {
            let id = table.id as usize;
            if self.by_id.len() <= id {
                self.by_id.resize_with(id + 1, || None);
            }
            let shape = Shape::new(table.id);
            self.by_id[id] = Some((table, shape));
        }
    }

    /// The table shape known under `id`.
    pub fn get(&self, id: u32) -> Option<&Table> {
        self.by_id
            .get(id as usize)
            .and_then(Option::as_ref)
            .map(|(table, _)| table)
    }

    pub(crate) fn shape(&self, id: u32) -> Option<&(Table, Shape)> {
        self.by_id.get(id as usize).and_then(Option::as_ref)
    }
}

/// The words of the answer's verdicts (`filtered` in `wit/plugin.wit`).
const KEEP: u32 = 0;
const DROP: u32 = 1;
const EDIT_SETS: u32 = 2;

/// Bytes per change in a batch's `changes`.
const CHANGE_BYTES: usize = 12;

/// How many changes `batch` holds.
pub fn change_count(batch: &ChangeBatch) -> usize {
    batch.changes.len() / CHANGE_BYTES
}

/// One verdict per change of `batch`, in order, from [`Plugin::filter`]; for tests, as the plugin
/// returned them (the component sends [`filtered`]'s form).
pub fn filter<P: Plugin>(plugin: &P, batch: &ChangeBatch) -> Result<Vec<Verdict>, PluginError> {
    let mut tables = Tables::default();
    tables.remember(batch.new_tables.iter().cloned());
    let mut verdicts = Vec::with_capacity(change_count(batch));
    per_change(&tables, batch, |change| {
        verdicts.push(plugin.filter(change)?);
        Ok(())
    })?;
    Ok(verdicts)
}

/// The answer the component sends for a batch: a verdict per change, each distinct set of column
/// edits listed once. `tables` must already know the batch's `new_tables`.
pub fn filtered<P: Plugin>(plugin: &P, tables: &Tables, batch: &ChangeBatch) -> Result<Filtered, PluginError> {
    let mut answer = Filtered {
        verdicts: Vec::with_capacity(change_count(batch) * 4),
        edits: Vec::new(),
    };
    let mut listed = Vec::new();
    per_change(tables, batch, |change| {
        let word = match plugin.filter(change)? {
            Verdict::Keep => KEEP,
            Verdict::Drop => DROP,
            Verdict::KeepMasked(edits) => EDIT_SETS + edit_set(&mut listed, &mut answer.edits, edits),
        };
        answer.verdicts.extend_from_slice(&word.to_le_bytes());
        Ok(())
    })?;
    Ok(answer)
}

/// How many of the latest edit sets a new one is compared with before it is listed anew: plugins
/// usually answer a table's changes with the same edits, and a batch's tables interleave.
const EDIT_SETS_COMPARED: usize = 8;

/// The index of `edits` among the sets listed so far (`listed`, in the same order as `sets`), listing
/// it if no recent set is the same one or equal.
fn edit_set(listed: &mut Vec<Rc<[MaskedColumn]>>, sets: &mut Vec<Vec<MaskedColumn>>, edits: Rc<[MaskedColumn]>) -> u32 {
    let recent = listed.len().saturating_sub(EDIT_SETS_COMPARED);
    let found = listed[recent..]
        .iter()
        .rposition(|known| Rc::ptr_eq(known, &edits))
        .or_else(|| listed[recent..].iter().rposition(|known| *known == edits));
    if let Some(found) = found {
        return (recent + found) as u32;
    }
    sets.push(edits.to_vec());
    listed.push(edits);
    (sets.len() - 1) as u32
}

/// One row mapping per change of `batch`, in order, from [`Plugin::map_row`]. `tables` must already
/// know the batch's `new_tables`.
pub fn map_rows<P: Plugin>(plugin: &P, tables: &Tables, batch: &ChangeBatch) -> Result<Vec<RowMapping>, PluginError> {
    let mut mappings = Vec::with_capacity(change_count(batch));
    per_change(tables, batch, |change| {
        mappings.push(plugin.map_row(change)?);
        Ok(())
    })?;
    Ok(mappings)
}

/// The little-endian u32 word at byte `at` of `bytes`, if it is there.
fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

fn per_change(
    tables: &Tables,
    batch: &ChangeBatch,
    mut decide: impl FnMut(&Change<'_>) -> Result<(), PluginError>,
) -> Result<(), PluginError> {
    if !batch.changes.len().is_multiple_of(CHANGE_BYTES) || !batch.offsets.len().is_multiple_of(4) {
        return Err(PluginError::Other(format!(
            "the batch is malformed: {} bytes of changes and {} bytes of offsets",
            batch.changes.len(),
            batch.offsets.len()
        )));
    }
    for (index, entry) in batch.changes.chunks_exact(CHANGE_BYTES).enumerate() {
        let id = word(entry, 0).unwrap_or_default();
        let (table, shape) = tables.shape(id).ok_or_else(|| {
            PluginError::Other(format!(
                "change {index} of the batch refers to table {id}, which the host never showed this instance"
            ))
        })?;
        let carried = table.carried.len();
        let (operation, before, after) = match word(entry, 4) {
            Some(0) => (Operation::Insert, 0, carried),
            Some(1) => (Operation::Update, carried, carried),
            Some(2) => (Operation::Delete, carried, 0),
            other => {
                return Err(PluginError::Other(format!(
                    "change {index} of the batch has the unknown operation {other:?}"
                )));
            }
        };
        // The change's value offsets: 4 bytes each.
        let first = word(entry, 8).unwrap_or_default() as usize * 4;
        let values = batch
            .offsets
            .get(first..first + (before + after) * 4)
            .ok_or_else(|| PluginError::Other(format!("the values of change {index} of the batch are missing")))?;
        let (before, after) = values.split_at(before * 4);
        let (before, after) = (Image::new(&batch.data, before), Image::new(&batch.data, after));
        decide(&Change::from_parts(table, *shape, operation, before, after))?;
    }
    Ok(())
}

/// A compile-time check used by [`crate::export_plugin!`]: `P` implements [`Plugin`].
#[doc(hidden)]
pub fn assert_plugin<P: Plugin>() {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::rows::RowChange;
    use crate::types::ColumnValue;

    /// Masks `email` in tables that have it, when it is not NULL; keeps everything else.
    struct MaskEmail;

    impl Plugin for MaskEmail {
        fn init(_config: &Config) -> Result<Self, PluginError> {
            Ok(MaskEmail)
        }

        fn filter(&self, change: &Change<'_>) -> Result<Verdict, PluginError> {
            let Some(column) = change.table().column_index("email") else {
                return Ok(Verdict::Keep);
            };
            Ok(match change.after_value("email") {
                Some(value) if !value.is_null() => {
                    Verdict::KeepMasked(vec![MaskedColumn::replace(column, ColumnValue::text("***"))].into())
                }
                _ => Verdict::Keep,
            })
        }
    }

    fn words(bytes: &[u8]) -> Vec<u32> {
        (0..bytes.len() / 4)
            .map(|index| word(bytes, index * 4).unwrap())
            .collect()
    }

    fn batch() -> ChangeBatch {
        ChangeBatch::of(
            vec![
                Table::new("shop", "items", &[("id", 3)]).carrying(&["email"]),
                Table::new("shop", "users", &[("id", 3), ("email", 15)]).carrying(&["email"]),
                Table::new("shop", "admins", &[("email", 15)]).carrying(&["email"]),
            ],
            vec![
                RowChange::insert(1, vec![ColumnValue::text("a@x")]),
                RowChange::insert(0, vec![]),
                RowChange::insert(1, vec![ColumnValue::Null]),
                RowChange::update(2, vec![ColumnValue::Null], vec![ColumnValue::text("b@x")]),
                RowChange::insert(1, vec![ColumnValue::text("c@x")]),
            ],
        )
    }

    #[test]
    fn each_change_is_decided_with_its_own_table_in_order() {
        let masked = |column| Verdict::KeepMasked(vec![MaskedColumn::replace(column, ColumnValue::text("***"))].into());
        assert_eq!(
            filter(&MaskEmail, &batch()).unwrap(),
            [masked(1), Verdict::Keep, Verdict::Keep, masked(0), masked(1)]
        );
    }

    #[test]
    fn each_distinct_set_of_edits_is_sent_once() {
        let batch = batch();
        let mut tables = Tables::default();
        tables.remember(batch.new_tables.clone());
        let answer = filtered(&MaskEmail, &tables, &batch).unwrap();
        assert_eq!(
            words(&answer.verdicts),
            [EDIT_SETS, KEEP, KEEP, EDIT_SETS + 1, EDIT_SETS]
        );
        assert_eq!(
            answer.edits,
            [
                vec![MaskedColumn::replace(1, ColumnValue::text("***"))],
                vec![MaskedColumn::replace(0, ColumnValue::text("***"))],
            ]
        );
        assert_eq!(map_rows(&MaskEmail, &tables, &batch).unwrap().len(), 5);
    }

    #[test]
    fn tables_are_remembered_across_batches_and_replaced_by_id() {
        let first = batch();
        let mut tables = Tables::default();
        tables.remember(first.new_tables.clone());
        // A later batch refers to table 1 by id alone.
        let later = ChangeBatch {
            new_tables: Vec::new(),
            ..ChangeBatch::of(vec![], vec![RowChange::insert(1, vec![ColumnValue::text("d@x")])])
        };
        let answer = filtered(&MaskEmail, &tables, &later).unwrap();
        assert_eq!(words(&answer.verdicts), [EDIT_SETS]);
        // The host reuses id 1 for another shape, without `email`.
        tables.remember([Table {
            id: 1,
            ..Table::new("shop", "items", &[("id", 3)])
        }]);
        assert_eq!(words(&filtered(&MaskEmail, &tables, &later).unwrap().verdicts), [KEEP]);
    }

    #[test]
    fn a_change_of_an_unknown_table_is_an_error() {
        let batch = ChangeBatch {
            new_tables: Vec::new(),
            ..ChangeBatch::of(vec![], vec![RowChange::insert(3, vec![])])
        };
        let Err(PluginError::Other(message)) = filtered(&MaskEmail, &Tables::default(), &batch) else {
            panic!("expected an error");
        };
        assert_eq!(
            message,
            "change 0 of the batch refers to table 3, which the host never showed this instance"
        );
    }

    #[test]
    fn an_empty_batch_gets_no_answers() {
        let batch = ChangeBatch::of(vec![], vec![]);
        assert!(filter(&MaskEmail, &batch).unwrap().is_empty());
    }
}
