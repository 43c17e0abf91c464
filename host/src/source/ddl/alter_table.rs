//! The action list of an `ALTER TABLE`: column changes, a rename, partition operations.
//!
//! Actions are separated by commas outside parentheses. Each is recognised by its leading words;
//! what follows them is skipped up to the next separator, noting a `PARTITION` keyword on the way
//! (partition options follow the last action without a comma: `... ENGINE=InnoDB PARTITION BY ...`).
//! `PARTITION` is a reserved word, so bare it is always the keyword. An action that is not
//! recognised changes nothing here; the list is a hint, never the whole truth.

use super::cursor::Cursor;
use super::{ColumnAction, ColumnChange};
use crate::change::TableName;

/// Words after `ADD` or `DROP` that start something other than a column.
const NOT_COLUMNS: &[&str] = &[
    "INDEX",
    "KEY",
    "FULLTEXT",
    "SPATIAL",
    "UNIQUE",
    "PRIMARY",
    "CONSTRAINT",
    "FOREIGN",
    "CHECK",
];

/// Verbs that, followed by `PARTITION`, operate on partitions.
const PARTITION_VERBS: &[&str] = &[
    "ADD",
    "DROP",
    "TRUNCATE",
    "REORGANIZE",
    "COALESCE",
    "EXCHANGE",
    "ANALYZE",
    "CHECK",
    "OPTIMIZE",
    "REBUILD",
    "REPAIR",
    "DISCARD",
    "IMPORT",
    "CONVERT",
];

/// What an `ALTER TABLE`'s actions do, as far as they were read.
#[derive(Debug, Default)]
pub(super) struct AlterTableActions {
    pub(super) column_changes: Vec<ColumnChange>,
    /// The new name of `RENAME [TO|AS] name`.
    pub(super) renamed_to: Option<TableName>,
    /// Tables other than the altered one that the actions touch, in order: the new name, the other
    /// table of a partition exchange or conversion.
    pub(super) other_tables: Vec<TableName>,
    pub(super) partition: bool,
}

/// Reads the actions from here to the end of the statement.
pub(super) fn read_actions(cursor: &mut Cursor) -> AlterTableActions {
    let mut actions = AlterTableActions::default();
    loop {
        read_action(cursor, &mut actions);
        actions.partition |= cursor.skip_to_separator_noting_partition();
        // A `)` outside parentheses here is stray: step over it too.
        if !cursor.eat_symbol(',') && !cursor.eat_symbol(')') {
            return actions;
        }
    }
}

fn read_action(cursor: &mut Cursor, actions: &mut AlterTableActions) {
    if cursor.is_any_keyword(0, PARTITION_VERBS) && cursor.is_keyword(1, "PARTITION") {
        actions.partition = true;
        let verb_is_exchange = cursor.is_keyword(0, "EXCHANGE");
        let verb_is_convert = cursor.is_keyword(0, "CONVERT");
        cursor.advance(2);
        // EXCHANGE PARTITION p WITH TABLE u; CONVERT PARTITION p TO TABLE u.
        let partner_follows = cursor.identifier().is_some()
            && (verb_is_exchange && cursor.eat_keywords(&["WITH", "TABLE"])
                || verb_is_convert && cursor.eat_keywords(&["TO", "TABLE"]));
        if partner_follows {
            actions.other_tables.extend(cursor.table_name());
        }
        return;
    }
    let Some(verb) = cursor.next_keyword() else {
        return;
    };
    match verb.as_str() {
        "ADD" => add_action(cursor, actions),
        "DROP" => drop_action(cursor, actions),
        "MODIFY" => {
            cursor.eat_keyword("COLUMN");
            column_change(cursor, actions, ColumnAction::Modify);
        }
        "CHANGE" => {
            cursor.eat_keyword("COLUMN");
            column_change(cursor, actions, ColumnAction::Change);
        }
        // ALTER [COLUMN] c ..., but not ALTER INDEX|KEY|CHECK|CONSTRAINT.
        "ALTER" if !cursor.is_any_keyword(0, &["INDEX", "KEY", "CHECK", "CONSTRAINT"]) => {
            cursor.eat_keyword("COLUMN");
            column_change(cursor, actions, ColumnAction::Alter);
        }
        "RENAME" => rename_action(cursor, actions),
        "REMOVE" if cursor.eat_keyword("PARTITIONING") => actions.partition = true,
        "PARTITION" => actions.partition = true,
        // MariaDB: CONVERT TABLE u TO PARTITION p.
        "CONVERT" if cursor.eat_keyword("TABLE") => {
            actions.partition = true;
            actions.other_tables.extend(cursor.table_name());
        }
        _ => {}
    }
}

/// After `ADD`: a column (`[COLUMN] [IF NOT EXISTS] c ...` or a parenthesised list of them), or an
/// index, key, constraint, period or versioning, which is not a column change.
fn add_action(cursor: &mut Cursor, actions: &mut AlterTableActions) {
    let explicit_column = cursor.eat_keyword("COLUMN");
    if !explicit_column && is_not_a_column(cursor) {
        return;
    }
    let conditional = cursor.eat_if_not_exists();
    if !cursor.eat_symbol('(') {
        push_column_change(cursor, actions, ColumnAction::Add, conditional);
        return;
    }
    loop {
        push_column_change(cursor, actions, ColumnAction::Add, conditional);
        let _ = cursor.skip_to_separator_noting_partition();
        if !cursor.eat_symbol(',') {
            cursor.eat_symbol(')');
            return;
        }
    }
}

/// After `DROP`: `[COLUMN] [IF EXISTS] c`, or an index, key, constraint, period or versioning.
fn drop_action(cursor: &mut Cursor, actions: &mut AlterTableActions) {
    if !cursor.eat_keyword("COLUMN") && is_not_a_column(cursor) {
        return;
    }
    column_change(cursor, actions, ColumnAction::Drop);
}

/// After `RENAME`: `COLUMN [IF EXISTS] a TO b`, `INDEX|KEY a TO b`, or the table's new name.
fn rename_action(cursor: &mut Cursor, actions: &mut AlterTableActions) {
    if cursor.eat_keyword("COLUMN") {
        let conditional = cursor.eat_if_exists();
        let Some(column) = cursor.identifier() else {
            return;
        };
        let new_name = if cursor.eat_keyword("TO") {
            cursor.identifier()
        } else {
            None
        };
        actions.column_changes.push(ColumnChange {
            action: ColumnAction::Rename,
            column,
            new_name,
            conditional,
        });
        return;
    }
    if cursor.is_any_keyword(0, &["INDEX", "KEY"]) {
        return;
    }
    if !cursor.eat_keyword("TO") {
        cursor.eat_keyword("AS");
    }
    if let Some(new_name) = cursor.table_name() {
        actions.other_tables.push(new_name.clone());
        actions.renamed_to = Some(new_name);
    }
}

/// After `ADD` or `DROP` without `COLUMN`: whether what follows is not a column.
fn is_not_a_column(cursor: &Cursor) -> bool {
    cursor.is_any_keyword(0, NOT_COLUMNS)
        || cursor.is_keyword(0, "PARTITION")
        || cursor.is_keyword(0, "PERIOD") && cursor.is_keyword(1, "FOR")
        || cursor.is_keyword(0, "SYSTEM") && cursor.is_keyword(1, "VERSIONING")
        || cursor.is_keyword(0, "VECTOR") && cursor.is_any_keyword(1, &["INDEX", "KEY"])
}

/// `[IF EXISTS] column` (and for `CHANGE` the new name), as the change `action`.
fn column_change(cursor: &mut Cursor, actions: &mut AlterTableActions, action: ColumnAction) {
    let conditional = cursor.eat_if_exists();
    push_column_change(cursor, actions, action, conditional);
}

fn push_column_change(cursor: &mut Cursor, actions: &mut AlterTableActions, action: ColumnAction, conditional: bool) {
    let Some(column) = cursor.identifier() else {
        return;
    };
    let new_name = match action {
        ColumnAction::Change => cursor.identifier(),
        _ => None,
    };
    actions.column_changes.push(ColumnChange {
        action,
        column,
        new_name,
        conditional,
    });
}
