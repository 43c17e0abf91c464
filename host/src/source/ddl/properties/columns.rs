//! Generated column definitions, placements, primary keys and table definition lists, each with
//! what it must read as.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use super::{Writer, identifier, literal_text};
use crate::source::ddl::{ColumnDefinition, ColumnPlacement, TableDefinition};

/// A column's type and attributes, as generated.
#[derive(Debug, Clone)]
pub(super) enum ColumnType {
    /// `INT [UNSIGNED] [NOT NULL]`
    Int { unsigned: bool, not_null: bool },
    /// `VARCHAR(10) DEFAULT 'text' COMMENT 'text'`
    Varchar { text: String },
    /// `DECIMAL(10,2)`
    Decimal,
    /// `ENUM|SET('label', ...) [CHARACTER SET utf8mb4 COLLATE utf8mb4_bin] [DEFAULT 'label']`
    Labelled {
        set: bool,
        labels: Vec<String>,
        charset: bool,
    },
    /// `INT [GENERATED ALWAYS] AS (other + 1) STORED|VIRTUAL`
    Generated { always: bool, stored: bool, other: String },
    /// A synonym of a base type.
    Synonym(u8),
}

/// Synonyms as written, with the base type they stand for.
const SYNONYMS: &[(&str, &str)] = &[
    ("INTEGER", "int"),
    ("BOOLEAN", "tinyint"),
    ("DOUBLE PRECISION", "double"),
    ("NATIONAL VARCHAR ( 5 )", "varchar"),
    ("NUMERIC ( 6 , 1 )", "decimal"),
];

pub(super) fn column_type() -> impl Strategy<Value = ColumnType> {
    prop_oneof![
        any::<(bool, bool)>().prop_map(|(unsigned, not_null)| ColumnType::Int { unsigned, not_null }),
        literal_text().prop_map(|text| ColumnType::Varchar { text }),
        Just(ColumnType::Decimal),
        (any::<bool>(), vec(literal_text(), 1..4), any::<bool>())
            .prop_map(|(set, labels, charset)| ColumnType::Labelled { set, labels, charset }),
        (any::<(bool, bool)>(), identifier()).prop_map(|((always, stored), other)| ColumnType::Generated {
            always,
            stored,
            other
        }),
        (0..SYNONYMS.len()).prop_map(|index| ColumnType::Synonym(u8::try_from(index).unwrap_or(0))),
    ]
}

impl ColumnType {
    /// Writes the type and its attributes, and `PRIMARY KEY` after them if `primary_key`.
    pub(super) fn write(&self, writer: &mut Writer, primary_key: bool) {
        match self {
            ColumnType::Int { unsigned, not_null } => {
                writer
                    .keywords("INT")
                    .keywords_if(*unsigned, "UNSIGNED")
                    .keywords_if(*not_null, "NOT NULL");
            }
            ColumnType::Varchar { text } => {
                writer.keywords("VARCHAR").symbol('(').keywords("10").symbol(')');
                writer
                    .keywords("DEFAULT")
                    .literal(text)
                    .keywords("COMMENT")
                    .literal(text);
            }
            ColumnType::Decimal => {
                writer.keywords("DECIMAL").symbol('(').keywords("10").symbol(',');
                writer.keywords("2").symbol(')');
            }
            ColumnType::Labelled { set, labels, charset } => {
                writer.keywords(if *set { "SET" } else { "ENUM" }).symbol('(');
                for (index, label) in labels.iter().enumerate() {
                    if index > 0 {
                        writer.symbol(',');
                    }
                    writer.literal(label);
                }
                writer.symbol(')');
                writer.keywords_if(*charset, "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
                writer.keywords("DEFAULT").literal(&labels[0]);
            }
            ColumnType::Generated { always, stored, other } => {
                writer.keywords("INT").keywords_if(*always, "GENERATED ALWAYS");
                writer.keywords("AS").symbol('(').name(other).symbol('+').keywords("1");
                writer.symbol(')').keywords(if *stored { "STORED" } else { "VIRTUAL" });
            }
            ColumnType::Synonym(index) => {
                writer.keywords(SYNONYMS[usize::from(*index)].0);
            }
        }
        writer.keywords_if(primary_key, "PRIMARY KEY");
    }

    /// What the type must read as.
    pub(super) fn definition(&self, primary_key: bool) -> ColumnDefinition {
        let (data_type, labels) = match self {
            ColumnType::Int { .. } | ColumnType::Generated { .. } => ("int", Vec::new()),
            ColumnType::Varchar { .. } => ("varchar", Vec::new()),
            ColumnType::Decimal => ("decimal", Vec::new()),
            ColumnType::Labelled { set, labels, .. } => {
                // The server strips trailing spaces from labels.
                let labels = labels
                    .iter()
                    .map(|label| label.trim_end_matches(' ').to_owned())
                    .collect();
                (if *set { "set" } else { "enum" }, labels)
            }
            ColumnType::Synonym(index) => (SYNONYMS[usize::from(*index)].1, Vec::new()),
        };
        ColumnDefinition {
            data_type: data_type.to_owned(),
            labels,
            primary_key,
        }
    }
}

pub(super) fn placement() -> impl Strategy<Value = Option<ColumnPlacement>> {
    prop_oneof![
        Just(None),
        Just(Some(ColumnPlacement::First)),
        identifier().prop_map(|column| Some(ColumnPlacement::After(column))),
    ]
}

pub(super) fn write_placement(writer: &mut Writer, placement: &Option<ColumnPlacement>) {
    match placement {
        None => {}
        Some(ColumnPlacement::First) => {
            writer.keywords("FIRST");
        }
        Some(ColumnPlacement::After(column)) => {
            writer.keywords("AFTER").name(column);
        }
    }
}

/// One part of a primary key: the column, maybe a prefix length, maybe an order.
#[derive(Debug, Clone)]
pub(super) struct KeyPart {
    column: String,
    length: bool,
    order: u8,
}

/// A table's or an `ALTER TABLE ADD`'s primary key: `[CONSTRAINT [name]] PRIMARY KEY [USING
/// BTREE] (parts) [USING HASH]`.
#[derive(Debug, Clone)]
pub(super) struct PrimaryKey {
    /// 0: no `CONSTRAINT`; 1: `CONSTRAINT` alone; 2: `CONSTRAINT name`.
    constraint: u8,
    name: String,
    using: u8,
    parts: Vec<KeyPart>,
}

fn key_part() -> impl Strategy<Value = KeyPart> {
    (identifier(), any::<bool>(), 0..3u8).prop_map(|(column, length, order)| KeyPart { column, length, order })
}

pub(super) fn primary_key() -> impl Strategy<Value = PrimaryKey> {
    (0..3u8, identifier(), 0..3u8, vec(key_part(), 1..4)).prop_map(|(constraint, name, using, parts)| PrimaryKey {
        constraint,
        name,
        using,
        parts,
    })
}

impl PrimaryKey {
    pub(super) fn write(&self, writer: &mut Writer) {
        if self.constraint > 0 {
            writer.keywords("CONSTRAINT");
            if self.constraint == 2 {
                writer.name(&self.name);
            }
        }
        writer
            .keywords("PRIMARY KEY")
            .keywords_if(self.using == 1, "USING BTREE");
        writer.symbol('(');
        for (index, part) in self.parts.iter().enumerate() {
            if index > 0 {
                writer.symbol(',');
            }
            writer.name(&part.column);
            if part.length {
                writer.symbol('(').keywords("10").symbol(')');
            }
            writer.keywords(["", "ASC", "DESC"][usize::from(part.order % 3)]);
        }
        writer
            .symbol(')')
            .keywords_if(self.using == 2, "USING HASH COMMENT 'pk'");
    }

    pub(super) fn columns(&self) -> Vec<String> {
        self.parts.iter().map(|part| part.column.clone()).collect()
    }
}

/// A `CREATE TABLE` definition list: columns, keys and constraints.
#[derive(Debug, Clone)]
pub(super) struct TableBody {
    columns: Vec<(String, ColumnType)>,
    key: TableKey,
    /// Keys and constraints other than the primary key, each before the column of its index (or at
    /// the end).
    others: Vec<(Index, u8)>,
}

/// How a generated table declares its primary key.
#[derive(Debug, Clone)]
enum TableKey {
    None,
    /// `PRIMARY KEY` in the definition of the column at this index.
    Inline(Index),
    /// A table constraint over the columns at these indexes.
    Constraint(PrimaryKey, Vec<Index>),
}

pub(super) fn table_body() -> impl Strategy<Value = TableBody> {
    let key = prop_oneof![
        Just(TableKey::None),
        any::<Index>().prop_map(TableKey::Inline),
        (primary_key(), vec(any::<Index>(), 1..3)).prop_map(|(key, columns)| TableKey::Constraint(key, columns)),
    ];
    (
        vec((identifier(), column_type()), 1..5),
        key,
        vec((any::<Index>(), 0..5u8), 0..3),
    )
        .prop_map(|(columns, key, others)| TableBody { columns, key, others })
}

impl TableBody {
    /// The primary key, if a table constraint declares it: its parts renamed to generated columns.
    fn key_constraint(&self) -> Option<PrimaryKey> {
        let TableKey::Constraint(key, indexes) = &self.key else {
            return None;
        };
        let mut key = key.clone();
        for (part, index) in key.parts.iter_mut().zip(indexes.iter().cycle()) {
            part.column = index.get(&self.columns).0.clone();
        }
        Some(key)
    }

    fn inline_key(&self) -> Option<usize> {
        match &self.key {
            TableKey::Inline(index) => Some(index.index(self.columns.len())),
            _ => None,
        }
    }

    /// Writes `( ... )`.
    pub(super) fn write(&self, writer: &mut Writer) {
        writer.symbol('(');
        let inline_key = self.inline_key();
        let mut first = true;
        let mut separate = |writer: &mut Writer| {
            if !std::mem::take(&mut first) {
                writer.symbol(',');
            }
        };
        for (position, (name, column_type)) in self.columns.iter().enumerate() {
            for (index, other) in &self.others {
                if index.index(self.columns.len() + 1) == position {
                    separate(writer);
                    self.write_other(writer, *other);
                }
            }
            separate(writer);
            writer.name(name);
            column_type.write(writer, inline_key == Some(position));
        }
        for (index, other) in &self.others {
            if index.index(self.columns.len() + 1) == self.columns.len() {
                separate(writer);
                self.write_other(writer, *other);
            }
        }
        if let Some(key) = self.key_constraint() {
            separate(writer);
            key.write(writer);
        }
        writer.symbol(')');
    }

    fn write_other(&self, writer: &mut Writer, other: u8) {
        let column = &self.columns[0].0;
        match other {
            0 => writer.keywords("UNIQUE KEY").name(column).symbol('(').name(column),
            1 => writer.keywords("INDEX").symbol('(').name(column),
            2 => writer
                .keywords("CONSTRAINT")
                .name(column)
                .keywords("FOREIGN KEY")
                .symbol('(')
                .name(column)
                .symbol(')')
                .keywords("REFERENCES u")
                .symbol('(')
                .keywords("id"),
            3 => writer
                .keywords("CHECK")
                .symbol('(')
                .name(column)
                .symbol('>')
                .symbol('(')
                .keywords("1")
                .symbol(')'),
            _ => writer.keywords("CONSTRAINT CHECK").symbol('(').literal(column),
        };
        writer.symbol(')');
    }

    /// What the list must read as.
    pub(super) fn definition(&self) -> TableDefinition {
        let inline_key = self.inline_key();
        let columns = self
            .columns
            .iter()
            .enumerate()
            .map(|(position, (name, column_type))| (name.clone(), column_type.definition(inline_key == Some(position))))
            .collect();
        let primary_key = match (inline_key, self.key_constraint()) {
            (Some(position), _) => vec![self.columns[position].0.clone()],
            (None, Some(key)) => key.columns(),
            (None, None) => Vec::new(),
        };
        TableDefinition { columns, primary_key }
    }
}
