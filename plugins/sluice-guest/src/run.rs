//! The batch glue: how a batch call becomes per-change calls of a [`Plugin`]'s methods.
//!
//! It runs on the daemon's hot path, once per batch of typically 64 to 1024 changes: it resolves each
//! change's table by index and collects the answers into one vector sized once. Plugin tests can call
//! these functions to drive a plugin over a whole batch without the thread-local the component uses.

use crate::change::Change;
use crate::plugin::Plugin;
use crate::types::{ChangeBatch, PluginError, RowChange, RowMapping, Table, Verdict};

/// One verdict per change of `batch`, in order, from [`Plugin::filter`].
pub fn filter<P: Plugin>(plugin: &P, batch: &ChangeBatch) -> Result<Vec<Verdict>, PluginError> {
    per_change(batch, |change| plugin.filter(change))
}

/// One row mapping per change of `batch`, in order, from [`Plugin::map_row`].
pub fn map_rows<P: Plugin>(plugin: &P, batch: &ChangeBatch) -> Result<Vec<RowMapping>, PluginError> {
    per_change(batch, |change| plugin.map_row(change))
}

fn per_change<T>(
    batch: &ChangeBatch,
    mut decide: impl FnMut(&Change<'_>) -> Result<T, PluginError>,
) -> Result<Vec<T>, PluginError> {
    let mut answers = Vec::with_capacity(batch.changes.len());
    for (index, change) in batch.changes.iter().enumerate() {
        let table = table_of(&batch.tables, index, change)?;
        answers.push(decide(&Change::new(table, change))?);
    }
    Ok(answers)
}

fn table_of<'a>(tables: &'a [Table], index: usize, change: &RowChange) -> Result<&'a Table, PluginError> {
    tables.get(change.table as usize).ok_or_else(|| {
        PluginError::Other(format!(
            "change {index} of the batch refers to table {} but the batch lists {} tables",
            change.table,
            tables.len()
        ))
    })
}

/// A compile-time check used by [`crate::export_plugin!`]: `P` implements [`Plugin`].
#[doc(hidden)]
pub fn assert_plugin<P: Plugin>() {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::types::{ColumnValue, MaskedColumn};

    /// Masks `email` in `shop.users` when it is not NULL; keeps everything else.
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
                    Verdict::KeepMasked(vec![MaskedColumn::replace(column, ColumnValue::text("***"))])
                }
                _ => Verdict::Keep,
            })
        }
    }

    #[test]
    fn each_change_is_decided_with_its_own_table_in_order() {
        let batch = ChangeBatch {
            tables: vec![
                Table::new("shop", "items", &[("id", 3)]).carrying(&["email"]),
                Table::new("shop", "users", &[("id", 3), ("email", 15)]).carrying(&["email"]),
            ],
            changes: vec![
                RowChange::insert(1, vec![ColumnValue::text("a@x")]),
                RowChange::insert(0, vec![]),
                RowChange::insert(1, vec![ColumnValue::Null]),
            ],
        };
        let verdicts = filter(&MaskEmail, &batch).unwrap();
        assert_eq!(
            verdicts,
            [
                Verdict::KeepMasked(vec![MaskedColumn::replace(1, ColumnValue::text("***"))]),
                Verdict::Keep,
                Verdict::Keep,
            ]
        );
        assert_eq!(map_rows(&MaskEmail, &batch).unwrap().len(), 3);
    }

    #[test]
    fn a_change_naming_a_missing_table_is_an_error() {
        let batch = ChangeBatch {
            tables: vec![Table::new("shop", "items", &[("id", 3)])],
            changes: vec![RowChange::insert(0, vec![]), RowChange::insert(1, vec![])],
        };
        let Err(PluginError::Other(message)) = filter(&MaskEmail, &batch) else {
            panic!("expected an error");
        };
        assert_eq!(
            message,
            "change 1 of the batch refers to table 1 but the batch lists 1 tables"
        );
    }

    #[test]
    fn an_empty_batch_gets_no_answers() {
        let batch = ChangeBatch {
            tables: vec![],
            changes: vec![],
        };
        assert!(filter(&MaskEmail, &batch).unwrap().is_empty());
    }
}
