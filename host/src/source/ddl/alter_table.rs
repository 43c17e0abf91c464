//! The action list of an `ALTER TABLE`: column changes, primary key changes, a rename, partition
//! operations.
//!
//! Actions are separated by commas outside parentheses. Each is recognised by its leading words;
//! what follows them is skipped up to the next separator, noting a `PARTITION` keyword on the way
//! (partition options follow the last action without a comma: `... ENGINE=InnoDB PARTITION BY ...`).
//! `PARTITION` is a reserved word, so bare it is always the keyword. A column's new definition and
//! placement, and a new primary key's columns, are read by `definition`. An action that is not
//! recognised changes nothing here.

use super::cursor::Cursor;
use super::definition::{self, ColumnSpec, TableElement};
use super::{ColumnAction, ColumnChange, KeyChange};
use crate::change::TableName;

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
    pub(super) key_changes: Vec<KeyChange>,
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
/// index, key, constraint, period or versioning, of which only a primary key is read.
fn add_action(cursor: &mut Cursor, actions: &mut AlterTableActions) {
    let explicit_column = cursor.eat_keyword("COLUMN");
    if !explicit_column && is_not_a_column(cursor) {
        if definition::starts_other_than_column(cursor) {
            add_element(cursor, actions, false);
        }
        return;
    }
    let conditional = cursor.eat_if_not_exists();
    if !cursor.eat_symbol('(') {
        push_column_change(cursor, actions, ColumnAction::Add, conditional);
        return;
    }
    loop {
        add_element(cursor, actions, conditional);
        let _ = cursor.skip_to_separator_noting_partition();
        if !cursor.eat_symbol(',') {
            cursor.eat_symbol(')');
            return;
        }
    }
}

/// One added column, primary key or other key, as a table's definition list has them.
fn add_element(cursor: &mut Cursor, actions: &mut AlterTableActions, conditional: bool) {
    match definition::table_element(cursor) {
        TableElement::Column { name, spec } => actions.column_changes.push(ColumnChange {
            action: ColumnAction::Add,
            column: name,
            new_name: None,
            conditional,
            definition: spec.definition,
            placement: spec.placement,
        }),
        TableElement::PrimaryKey(Some(columns)) => actions.key_changes.push(KeyChange::AddPrimaryKey(columns)),
        TableElement::PrimaryKey(None) | TableElement::Other | TableElement::Unreadable => {}
    }
}

/// After `DROP`: `[COLUMN] [IF EXISTS] c`, the primary key (`PRIMARY KEY`, or the index or
/// constraint named `PRIMARY`: ``INDEX|KEY|CONSTRAINT [IF EXISTS] `PRIMARY` ``), or another index,
/// key, constraint, period or versioning.
fn drop_action(cursor: &mut Cursor, actions: &mut AlterTableActions) {
    if cursor.eat_keyword("COLUMN") || !is_not_a_column(cursor) {
        column_change(cursor, actions, ColumnAction::Drop);
        return;
    }
    let drops_primary_key = if cursor.eat_keywords(&["PRIMARY", "KEY"]) {
        true
    } else if cursor.eat_keyword("INDEX") || cursor.eat_keyword("KEY") || cursor.eat_keyword("CONSTRAINT") {
        cursor.eat_if_exists();
        cursor
            .identifier()
            .is_some_and(|index| index.eq_ignore_ascii_case("PRIMARY"))
    } else {
        false
    };
    if drops_primary_key {
        actions.key_changes.push(KeyChange::DropPrimaryKey);
    }
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
            definition: None,
            placement: None,
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
    definition::starts_other_than_column(cursor)
        || cursor.is_keyword(0, "PARTITION")
        || cursor.is_keyword(0, "SYSTEM") && cursor.is_keyword(1, "VERSIONING")
}

/// `[IF EXISTS] column` (and for `CHANGE` the new name), as the change `action`.
fn column_change(cursor: &mut Cursor, actions: &mut AlterTableActions, action: ColumnAction) {
    let conditional = cursor.eat_if_exists();
    push_column_change(cursor, actions, action, conditional);
}

/// `column` (and for `CHANGE` the new name), then for `ADD`, `MODIFY` and `CHANGE` the new
/// definition and placement.
fn push_column_change(cursor: &mut Cursor, actions: &mut AlterTableActions, action: ColumnAction, conditional: bool) {
    let Some(column) = cursor.identifier() else {
        return;
    };
    let new_name = match action {
        ColumnAction::Change => cursor.identifier(),
        _ => None,
    };
    let spec = match action {
        ColumnAction::Add | ColumnAction::Modify | ColumnAction::Change => definition::column_spec(cursor),
        ColumnAction::Drop | ColumnAction::Rename | ColumnAction::Alter => ColumnSpec {
            definition: None,
            placement: None,
        },
    };
    actions.column_changes.push(ColumnChange {
        action,
        column,
        new_name,
        conditional,
        definition: spec.definition,
        placement: spec.placement,
    });
}
