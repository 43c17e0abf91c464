//! The schema history: what each captured table looked like at each point of the binlog.
//!
//! A TABLE_MAP event always gives a table's column count, types and type metadata, and decoding
//! follows it. What it may leave out — column names, ENUM/SET labels, the primary key — the server
//! writes only with `binlog_row_metadata=FULL` (MySQL >= 8.0.1, MariaDB >= 10.5). When it does, the
//! event is the truth and this history merely records it. When it does not, rows are named from
//! here: every version of a table's *shape* (its columns' names, base types and labels, and its key),
//! each valid from a binlog position on, so a change at position `p` is decoded with the shape in
//! force at `p` — also after a restart from a position before later DDL.
//!
//! # Where each version comes from
//! - **A TABLE_MAP with full metadata**: exact at its own position. Recorded when it differs from
//!   the history's shape at that point.
//! - **Applying a parsed DDL statement** (`source::ddl`) to the shape before it: `CREATE TABLE` with
//!   a column list, `CREATE TABLE ... LIKE`, `ALTER TABLE` column and primary-key changes (with
//!   `FIRST`/`AFTER`), renames, `DROP`. The new version starts at the position right after the
//!   statement. This is the normal path, because it is the only one that is right whatever the
//!   stream's lag: `information_schema` describes the table *now*, which for a stream that is behind
//!   (a backlog, a restart from an old position) is a later point than the DDL's.
//! - **`information_schema` at the start position** (`source::schema_baseline`): at start, for the
//!   captured tables the history does not know, when the binlog's end is the stream's start position
//!   both before and after the catalog is read — then the catalog provably describes that point.
//!   This is how a first start on an existing database gets its versions.
//! - **`information_schema`, once per table**, when a table is still met without a version (the
//!   server was busy at start, or a DDL could not be read): sluice reads the catalog and keeps the
//!   result only if it matches the TABLE_MAP being decoded (same column count, ENUM/SET where the
//!   event has them). This is the one assumption: that no DDL on the table lies between the stream's
//!   position and the moment of the read; the log names every table whose shape was taken this way.
//!
//! A statement whose effect cannot be read (a column definition the classifier gave up on, `CREATE
//! TABLE ... SELECT` without a column list) records the table as *unknown* from there on, which sends
//! the next TABLE_MAP back to the catalog, checked against the event as above.
//!
//! # Persistence
//! The history is a JSON file next to the checkpoint (`checkpoint.schema_history_path`), rewritten
//! atomically whenever a version is added. Versions are keyed by position, so the file may run ahead
//! of the checkpoint: after a crash, the replayed DDL finds its version already there and adds
//! nothing. Positions compare by binlog file and offset; after a failover to a server with other
//! file names, the history starts over from the catalog.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::change::{TableName, TableSchema, type_code};
use crate::checkpoint::replace_file_atomically;
use crate::source::SourceError;
use crate::source::ddl::{ColumnAction, ColumnChange, ColumnPlacement, DdlKind, DdlStatement, KeyChange};
use crate::source::position::BinlogPosition;

/// One column of a table shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeColumn {
    pub name: String,
    /// The base type, lowercased (`int`, `varchar`, `enum`, ...); empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_type: String,
    /// ENUM labels or SET members, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// What decoding needs to know about a table beyond its TABLE_MAP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableShape {
    pub columns: Vec<ShapeColumn>,
    /// The key's columns, by name, in key order; empty when the table has none.
    #[serde(default)]
    pub key: Vec<String>,
    /// `PRIMARY`, or the unique key standing in for it.
    #[serde(default = "primary")]
    pub key_name: String,
}

fn primary() -> String {
    "PRIMARY".to_owned()
}

impl TableShape {
    /// The shape of a decoded schema (names, labels and key; base types from the type codes).
    pub fn of_schema(schema: &TableSchema) -> Self {
        Self {
            columns: schema
                .columns
                .iter()
                .map(|column| ShapeColumn {
                    name: column.name.clone(),
                    data_type: base_type_of_code(column.type_code).to_owned(),
                    labels: column.elements.clone(),
                })
                .collect(),
            key: schema
                .primary_key
                .iter()
                .map(|&index| schema.columns[index].name.clone())
                .collect(),
            key_name: schema.key_name.clone(),
        }
    }

    /// The key's column indexes, in key order; `None` if a key column is missing.
    pub fn key_indexes(&self) -> Option<Vec<usize>> {
        self.key.iter().map(|name| self.position_of(name)).collect()
    }

    fn position_of(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|column| column.name.eq_ignore_ascii_case(name))
    }

    /// Whether two shapes name the same columns (case-insensitively), labels and key; base types
    /// are not compared, as a TABLE_MAP knows them only as type codes.
    pub fn names_alike(&self, other: &TableShape) -> bool {
        let same_name = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        self.columns.len() == other.columns.len()
            && self
                .columns
                .iter()
                .zip(&other.columns)
                .all(|(a, b)| same_name(&a.name, &b.name) && a.labels == b.labels)
            && self.key.len() == other.key.len()
            && self.key.iter().zip(&other.key).all(|(a, b)| same_name(a, b))
    }

    /// Whether the shape fits a TABLE_MAP with these column type codes: same count, and ENUM/SET
    /// (declared as STRING in the event) only where the event may have them.
    pub fn fits(&self, type_codes: &[u8]) -> bool {
        self.columns.len() == type_codes.len()
            && self.columns.iter().zip(type_codes).all(|(column, &code)| {
                !matches!(column.data_type.as_str(), "enum" | "set")
                    || matches!(code, type_code::STRING | type_code::ENUM | type_code::SET)
            })
    }
}

/// The base type name of a binlog type code, as far as the shape needs it.
fn base_type_of_code(code: u8) -> &'static str {
    match code {
        type_code::ENUM => "enum",
        type_code::SET => "set",
        _ => "",
    }
}

/// A table's state from a position on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableState {
    Known(TableShape),
    /// A DDL changed it in a way that could not be read: ask the catalog (and check it).
    Unknown,
    /// It does not exist (dropped, or renamed away).
    Absent,
}

/// One version of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableVersion {
    /// Where it starts: right after the statement that made it, or the event it was read from.
    #[serde(with = "position_text")]
    pub from: BinlogPosition,
    pub state: TableState,
    /// How it was learnt: `table_map`, `ddl` or `catalog`.
    pub learnt_from: String,
}

mod position_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::source::position::BinlogPosition;

    pub fn serialize<S: Serializer>(position: &BinlogPosition, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(position)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BinlogPosition, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Everything known about one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct TableHistory {
    /// Captured because a captured table was renamed to it (`ddl.on_rename = "follow"`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    followed: bool,
    /// In `from` order.
    versions: Vec<TableVersion>,
}

/// The file's form.
#[derive(Debug, Default, Serialize, Deserialize)]
struct HistoryFile {
    /// By `database.table`.
    tables: BTreeMap<String, TableHistory>,
}

/// The schema history of the captured tables, kept in one file.
#[derive(Debug)]
pub struct SchemaHistory {
    path: Option<PathBuf>,
    tables: BTreeMap<String, TableHistory>,
    /// The tables whose history is `followed`: an index for [`SchemaHistory::follows`], which the
    /// reader asks per event (usually empty).
    followed: Vec<TableName>,
}

/// The key of a table in the history.
fn key(table: &TableName) -> String {
    table.object_name()
}

impl SchemaHistory {
    /// An empty history that is never written (offline decoding, tests).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            tables: BTreeMap::new(),
            followed: Vec::new(),
        }
    }

    /// The history stored at `path`, or an empty one if there is no file yet.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let tables = match std::fs::read_to_string(path) {
            Ok(text) => {
                let file: HistoryFile = serde_json::from_str(&text).map_err(|error| SourceError::SchemaHistory {
                    path: path.to_owned(),
                    detail: format!(
                        "it is damaged ({error}); restore it, or delete it to rebuild it from information_schema"
                    ),
                })?;
                file.tables
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => {
                return Err(SourceError::SchemaHistory {
                    path: path.to_owned(),
                    detail: format!("cannot read it: {error}"),
                });
            }
        };
        let followed = tables
            .iter()
            .filter(|(_, history)| history.followed)
            .filter_map(|(name, _)| name.split_once('.'))
            .map(|(database, table)| TableName::new(database, table))
            .collect();
        Ok(Self {
            path: Some(path.to_owned()),
            tables,
            followed,
        })
    }

    /// The table's state at `position`: that of its last version starting at or before it. Before
    /// the first version, the first version's state (nothing earlier is known).
    pub fn state_at(&self, table: &TableName, position: &BinlogPosition) -> Option<&TableState> {
        let versions = &self.tables.get(&key(table))?.versions;
        versions
            .iter()
            .rev()
            .find(|version| position.is_at_or_past(&version.from))
            .or_else(|| versions.first())
            .map(|version| &version.state)
    }

    /// The shape at `position`, when known.
    pub fn shape_at(&self, table: &TableName, position: &BinlogPosition) -> Option<&TableShape> {
        match self.state_at(table, position)? {
            TableState::Known(shape) => Some(shape),
            TableState::Unknown | TableState::Absent => None,
        }
    }

    /// Whether the table is captured because a captured table was renamed to it.
    pub fn is_followed(&self, table: &TableName) -> bool {
        self.follows(&table.database, &table.table)
    }

    /// [`Self::is_followed`] by name, without allocating: the reader asks it for every event.
    pub fn follows(&self, database: &str, table: &str) -> bool {
        self.followed
            .iter()
            .any(|followed| followed.database == database && followed.table == table)
    }

    /// Records that `table` is `state` from `from` on, unless a version starts there already (a
    /// replayed statement). Returns whether anything changed.
    pub fn record(&mut self, table: &TableName, from: &BinlogPosition, state: TableState, learnt_from: &str) -> bool {
        let versions = &mut self.tables.entry(key(table)).or_default().versions;
        if versions.iter().any(|version| version.from == *from) {
            return false;
        }
        let at = versions
            .iter()
            .position(|version| !from.is_at_or_past(&version.from))
            .unwrap_or(versions.len());
        versions.insert(
            at,
            TableVersion {
                from: from.clone(),
                state,
                learnt_from: learnt_from.to_owned(),
            },
        );
        true
    }

    /// Records what a DDL statement at `at` (its event) does to the tables it touches, from `after`
    /// on. `captured` says whether a table is captured (by the config or by a followed rename);
    /// `follow_renames` whether a captured table renamed to an uncaptured name stays captured.
    /// Returns whether anything changed.
    pub fn apply_ddl(
        &mut self,
        statement: &DdlStatement,
        at: &BinlogPosition,
        after: &BinlogPosition,
        config_captured: impl Fn(&TableName) -> bool,
        follow_renames: bool,
    ) -> bool {
        let mut changed = false;
        let shape_before = |history: &Self, table: &TableName| history.shape_at(table, at).cloned();
        // Which touched tables are captured (by the config or a followed rename), decided before the
        // history changes.
        let captured_tables: Vec<TableName> = statement
            .tables
            .iter()
            .chain(statement.renames.iter().map(|rename| &rename.from))
            .filter(|table| config_captured(table) || self.is_followed(table))
            .cloned()
            .collect();
        let captured = |table: &TableName| captured_tables.contains(table);
        match statement.kind {
            DdlKind::CreateTable => {
                let Some(table) = statement.tables.first() else {
                    return false;
                };
                if !captured(table) || statement.flags.temporary {
                    return false;
                }
                let state = if let Some(definition) = &statement.table_definition {
                    TableState::Known(TableShape {
                        columns: definition
                            .columns
                            .iter()
                            .map(|(name, column)| ShapeColumn {
                                name: name.clone(),
                                data_type: column.data_type.clone(),
                                labels: column.labels.clone(),
                            })
                            .collect(),
                        key: definition.primary_key.clone(),
                        key_name: primary(),
                    })
                } else if let Some(source) = statement.tables.get(1) {
                    // CREATE TABLE t LIKE s.
                    shape_before(self, source).map_or(TableState::Unknown, TableState::Known)
                } else {
                    TableState::Unknown
                };
                changed |= self.record(table, after, state, "ddl");
            }
            DdlKind::AlterTable => {
                let Some(table) = statement.tables.first() else {
                    return false;
                };
                if !captured(table) {
                    return false;
                }
                let state = match shape_before(self, table) {
                    Some(shape) => altered(shape, &statement.column_changes, &statement.key_changes)
                        .map_or(TableState::Unknown, TableState::Known),
                    None => TableState::Unknown,
                };
                match statement.renames.first() {
                    Some(rename) => {
                        changed |= self.record(table, after, TableState::Absent, "ddl");
                        changed |= self.rename_to(&rename.to, after, state, &config_captured, follow_renames);
                    }
                    None => changed |= self.record(table, after, state, "ddl"),
                }
            }
            DdlKind::RenameTable => {
                // Pair by pair, as the server does: `RENAME TABLE a TO tmp, b TO a, tmp TO b` swaps.
                let mut pending: Vec<(TableName, Option<TableState>)> = Vec::new();
                let state_now =
                    |history: &Self, pending: &[(TableName, Option<TableState>)], table: &TableName| match pending
                        .iter()
                        .rev()
                        .find(|(name, _)| name == table)
                    {
                        Some((_, state)) => state.clone(),
                        None => history.state_at(table, at).cloned(),
                    };
                for rename in &statement.renames {
                    let moved = state_now(self, &pending, &rename.from);
                    let was_captured = match pending.iter().rev().find(|(name, _)| *name == rename.from) {
                        Some((_, state)) => matches!(state, Some(state) if *state != TableState::Absent),
                        None => captured(&rename.from),
                    };
                    pending.push((rename.from.clone(), was_captured.then_some(TableState::Absent)));
                    pending.push((
                        rename.to.clone(),
                        was_captured.then(|| moved.unwrap_or(TableState::Unknown)),
                    ));
                }
                // The last state of each name wins.
                let mut last: BTreeMap<String, (TableName, Option<TableState>)> = BTreeMap::new();
                for (table, state) in pending {
                    last.insert(key(&table), (table, state));
                }
                for (table, state) in last.into_values() {
                    let Some(state) = state else { continue };
                    if matches!(state, TableState::Absent) {
                        if self.tables.contains_key(&key(&table)) {
                            changed |= self.record(&table, after, state, "ddl");
                        }
                    } else {
                        changed |= self.rename_to(&table, after, state, &config_captured, follow_renames);
                    }
                }
            }
            DdlKind::DropTable if !statement.flags.temporary => {
                for table in statement.tables.iter().filter(|table| captured(table)) {
                    changed |= self.record(table, after, TableState::Absent, "ddl");
                }
            }
            DdlKind::DropDatabase => {
                let Some(database) = &statement.database else {
                    return false;
                };
                let tables: Vec<TableName> = self
                    .tables
                    .keys()
                    .filter_map(|name| name.split_once('.'))
                    .filter(|(db, _)| db == database)
                    .map(|(db, table)| TableName::new(db, table))
                    .collect();
                for table in tables {
                    changed |= self.record(&table, after, TableState::Absent, "ddl");
                }
            }
            DdlKind::CreateIndex | DdlKind::DropIndex | DdlKind::Other | DdlKind::Unknown => {
                // An index may be a table's identifying unique key, and an unknown statement may be
                // anything: the touched tables' next TABLE_MAP checks against the catalog again.
                for table in statement.tables.iter().filter(|table| captured(table)) {
                    if statement.kind != DdlKind::Other || statement.tables.is_empty() {
                        changed |= self.record(table, after, TableState::Unknown, "ddl");
                    }
                }
            }
            _ => {}
        }
        changed
    }

    /// `table` is `state` from `after` on, having been renamed from a captured table.
    fn rename_to(
        &mut self,
        table: &TableName,
        after: &BinlogPosition,
        state: TableState,
        captured: &impl Fn(&TableName) -> bool,
        follow_renames: bool,
    ) -> bool {
        if !captured(table) && !follow_renames {
            return false;
        }
        let followed = !captured(table);
        let history = self.tables.entry(key(table)).or_default();
        let newly_followed = followed && !history.followed;
        history.followed |= followed;
        if newly_followed {
            self.followed.push(table.clone());
        }
        self.record(table, after, state, "ddl") || newly_followed
    }

    /// Writes the history to its file, if it has one.
    pub fn save(&self) -> Result<(), SourceError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = HistoryFile {
            tables: self.tables.clone(),
        };
        let text = serde_json::to_string_pretty(&file).expect("a schema history serialises");
        replace_file_atomically(path, &text).map_err(|error| SourceError::SchemaHistory {
            path: path.clone(),
            detail: format!("cannot write it: {error}; check checkpoint.schema_history_path and the disk"),
        })
    }
}

/// `shape` after an `ALTER TABLE`'s column and key changes; `None` when one of them cannot be
/// applied with certainty (a definition that was not read, a column that is not there).
fn altered(mut shape: TableShape, changes: &[ColumnChange], keys: &[KeyChange]) -> Option<TableShape> {
    for change in changes {
        let existing = shape.position_of(&change.column);
        match change.action {
            ColumnAction::Add => {
                if existing.is_some() {
                    if change.conditional {
                        continue;
                    }
                    return None;
                }
                let definition = change.definition.as_ref()?;
                let column = ShapeColumn {
                    name: change.column.clone(),
                    data_type: definition.data_type.clone(),
                    labels: definition.labels.clone(),
                };
                let at = placement_index(&shape, change.placement.as_ref(), shape.columns.len())?;
                shape.columns.insert(at, column);
                if definition.primary_key {
                    shape.key = vec![change.column.clone()];
                    shape.key_name = primary();
                }
            }
            ColumnAction::Drop => {
                let Some(index) = existing else {
                    if change.conditional {
                        continue;
                    }
                    return None;
                };
                let removed = shape.columns.remove(index);
                shape.key.retain(|name| !name.eq_ignore_ascii_case(&removed.name));
            }
            ColumnAction::Modify | ColumnAction::Change => {
                let Some(index) = existing else {
                    if change.conditional {
                        continue;
                    }
                    return None;
                };
                let definition = change.definition.as_ref()?;
                let new_name = change.new_name.clone().unwrap_or_else(|| change.column.clone());
                let old = shape.columns.remove(index);
                let at = placement_index(&shape, change.placement.as_ref(), index)?;
                shape.columns.insert(
                    at,
                    ShapeColumn {
                        name: new_name.clone(),
                        data_type: definition.data_type.clone(),
                        labels: definition.labels.clone(),
                    },
                );
                rename_key_column(&mut shape, &old.name, &new_name);
                if definition.primary_key {
                    shape.key = vec![new_name];
                    shape.key_name = primary();
                }
            }
            ColumnAction::Rename => {
                let (Some(index), Some(new_name)) = (existing, &change.new_name) else {
                    if change.conditional {
                        continue;
                    }
                    return None;
                };
                let old = std::mem::replace(&mut shape.columns[index].name, new_name.clone());
                rename_key_column(&mut shape, &old, new_name);
            }
            ColumnAction::Alter => {}
        }
    }
    for change in keys {
        match change {
            KeyChange::AddPrimaryKey(columns) => {
                shape.key = columns.clone();
                shape.key_name = primary();
            }
            KeyChange::DropPrimaryKey => shape.key.clear(),
        }
    }
    shape.key_indexes()?;
    Some(shape)
}

/// Where a column goes: `FIRST`, `AFTER c`, or `default`.
fn placement_index(shape: &TableShape, placement: Option<&ColumnPlacement>, default: usize) -> Option<usize> {
    match placement {
        None => Some(default.min(shape.columns.len())),
        Some(ColumnPlacement::First) => Some(0),
        Some(ColumnPlacement::After(name)) => shape.position_of(name).map(|index| index + 1),
    }
}

fn rename_key_column(shape: &mut TableShape, old: &str, new: &str) {
    for name in &mut shape.key {
        if name.eq_ignore_ascii_case(old) {
            *name = new.to_owned();
        }
    }
}

/// Where the schema history lives when `checkpoint.schema_history_path` is not set: beside the
/// checkpoint file, named after it.
pub fn default_path(checkpoint: &Path) -> PathBuf {
    let mut name = checkpoint.file_stem().unwrap_or_default().to_os_string();
    name.push(".schema-history.json");
    checkpoint.with_file_name(name)
}

#[cfg(test)]
mod tests;
