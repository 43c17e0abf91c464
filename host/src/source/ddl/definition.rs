//! Column and table definitions: what the schema history needs of `CREATE TABLE t (...)` and of
//! `ALTER TABLE ... ADD|MODIFY|CHANGE`.
//!
//! A column definition is `name type [(args)] [attributes] [FIRST | AFTER c]`. Only three things
//! are read from it: the base type, the labels of an `ENUM` or `SET`, and an inline `PRIMARY KEY`;
//! `FIRST`/`AFTER c` (which ends an `ALTER` action) says where it goes. Everything else (lengths,
//! `NOT NULL`, `DEFAULT expr`, `GENERATED ALWAYS AS (expr) STORED`, `COMMENT '...'`, `REFERENCES`,
//! `CHECK (...)`) is skipped up to the next `,` or `)` outside parentheses, or to a bare
//! `PARTITION` (reserved, so never part of a column; partition options follow an `ALTER`'s last
//! action without a comma).
//!
//! A table's list mixes columns with keys and constraints. An element is a column unless it starts
//! with a word that cannot be a bare column name (`PRIMARY`, `INDEX`, `KEY`, `UNIQUE`, `CONSTRAINT`,
//! `FOREIGN`, `CHECK`, `FULLTEXT`, `SPATIAL` are reserved) or with `PERIOD FOR` or `VECTOR INDEX`; of
//! those only a primary key matters here.
//!
//! A definition that cannot be read fully (no type; an `ENUM` label that is not a plain string
//! literal, such as `X'61'`) is None rather than partly right, and so is a table definition with
//! such a column: the history must not apply a guess.

use super::cursor::Cursor;
use super::tokens::Token;
use super::{ColumnDefinition, ColumnPlacement, TableDefinition};

/// Words that start an element of a table's definition list (or of `ALTER TABLE ADD|DROP`) that is
/// not a column.
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

/// Type names of more than one word, with the base type they stand for; longest first where one
/// starts another.
const MULTI_WORD_TYPES: &[(&[&str], &str)] = &[
    (&["NATIONAL", "CHARACTER", "VARYING"], "varchar"),
    (&["NATIONAL", "CHAR", "VARYING"], "varchar"),
    (&["NATIONAL", "VARCHAR"], "varchar"),
    (&["NATIONAL", "CHARACTER"], "char"),
    (&["NATIONAL", "CHAR"], "char"),
    (&["NCHAR", "VARCHAR"], "varchar"),
    (&["NCHAR", "VARYING"], "varchar"),
    (&["CHARACTER", "VARYING"], "varchar"),
    (&["CHAR", "VARYING"], "varchar"),
    (&["DOUBLE", "PRECISION"], "double"),
    (&["LONG", "VARBINARY"], "mediumblob"),
    (&["LONG", "VARCHAR"], "mediumtext"),
];

/// One-word synonyms, lowercased, with the base type the server stores. `REAL` is `double` unless
/// the session ran with `REAL_AS_FLOAT`.
const SYNONYMS: &[(&str, &str)] = &[
    ("bool", "tinyint"),
    ("boolean", "tinyint"),
    ("int1", "tinyint"),
    ("int2", "smallint"),
    ("int3", "mediumint"),
    ("middleint", "mediumint"),
    ("integer", "int"),
    ("int4", "int"),
    ("int8", "bigint"),
    ("serial", "bigint"),
    ("dec", "decimal"),
    ("numeric", "decimal"),
    ("fixed", "decimal"),
    ("real", "double"),
    ("float8", "double"),
    ("float4", "float"),
    ("character", "char"),
    ("nchar", "char"),
    ("nvarchar", "varchar"),
    ("long", "mediumtext"),
];

/// A column's definition and placement, as far as they could be read.
#[derive(Debug)]
pub(super) struct ColumnSpec {
    pub(super) definition: Option<ColumnDefinition>,
    pub(super) placement: Option<ColumnPlacement>,
}

/// One element of a table's definition list.
#[derive(Debug)]
pub(super) enum TableElement {
    Column {
        name: String,
        spec: ColumnSpec,
    },
    /// `[CONSTRAINT [c]] PRIMARY KEY (...)`: its columns, None if they could not be read.
    PrimaryKey(Option<Vec<String>>),
    /// Another key, index, constraint or period.
    Other,
    /// Neither a column nor a key.
    Unreadable,
}

/// Whether what comes next is a key, index, constraint or period rather than a column name.
pub(super) fn starts_other_than_column(cursor: &Cursor) -> bool {
    cursor.is_any_keyword(0, NOT_COLUMNS)
        || cursor.is_keyword(0, "PERIOD") && cursor.is_keyword(1, "FOR")
        || cursor.is_keyword(0, "VECTOR") && cursor.is_any_keyword(1, &["INDEX", "KEY"])
}

/// At the `(` after `CREATE TABLE t`: the definition its list gives, the cursor past the `)`. None
/// if the parenthesis holds a query (`CREATE TABLE t (SELECT ...)`) or an element that cannot be
/// read.
pub(super) fn table_definition(cursor: &mut Cursor) -> Option<TableDefinition> {
    if !cursor.eat_symbol('(') || cursor.is_any_keyword(0, &["SELECT", "WITH", "VALUES", "TABLE"]) {
        return None;
    }
    let mut definition = TableDefinition {
        columns: Vec::new(),
        primary_key: Vec::new(),
    };
    loop {
        match table_element(cursor) {
            TableElement::Column { name, spec } => {
                let column = spec.definition?;
                if column.primary_key {
                    definition.primary_key = vec![name.clone()];
                }
                definition.columns.push((name, column));
            }
            TableElement::PrimaryKey(columns) => definition.primary_key = columns?,
            TableElement::Other => {}
            TableElement::Unreadable => return None,
        }
        skip_to_separator(cursor);
        if !cursor.eat_symbol(',') {
            return cursor.eat_symbol(')').then_some(definition);
        }
    }
}

/// One element of a table's definition list (or of `ALTER TABLE ... ADD`), read up to the next
/// separator at most.
pub(super) fn table_element(cursor: &mut Cursor) -> TableElement {
    if cursor.eat_keyword("CONSTRAINT") {
        // `CONSTRAINT [symbol] PRIMARY KEY|UNIQUE|FOREIGN KEY|CHECK ...`
        if !cursor.is_any_keyword(0, NOT_COLUMNS) {
            let _symbol = cursor.identifier();
        }
        if !cursor.is_any_keyword(0, NOT_COLUMNS) {
            return TableElement::Unreadable;
        }
    }
    if cursor.eat_keywords(&["PRIMARY", "KEY"]) {
        return TableElement::PrimaryKey(primary_key_columns(cursor));
    }
    if starts_other_than_column(cursor) {
        return TableElement::Other;
    }
    match cursor.identifier() {
        Some(name) => TableElement::Column {
            name,
            spec: column_spec(cursor),
        },
        None => TableElement::Unreadable,
    }
}

/// After `PRIMARY KEY`: `[IF NOT EXISTS] [name] [USING type] (part, ...)`, each part `column
/// [(length)] [ASC|DESC]`. The columns in key order; None if a part is not a column.
fn primary_key_columns(cursor: &mut Cursor) -> Option<Vec<String>> {
    cursor.eat_if_not_exists();
    if !cursor.is_symbol(0, '(') && !cursor.is_any_keyword(0, &["USING", "TYPE"]) {
        // An index name, which a primary key ignores.
        let _name = cursor.identifier();
    }
    if cursor.eat_keyword("USING") || cursor.eat_keyword("TYPE") {
        cursor.advance(1);
    }
    let parts = cursor.parenthesised()?;
    let mut parts = Cursor::new(parts, "");
    let mut columns = Vec::new();
    loop {
        columns.push(parts.identifier()?);
        let _length = parts.parenthesised();
        let _order = parts.eat_keyword("ASC") || parts.eat_keyword("DESC");
        if !parts.eat_symbol(',') {
            return parts.is_at_end().then_some(columns);
        }
    }
}

/// At a column's type: its definition and placement, the cursor left at the next separator.
pub(super) fn column_spec(cursor: &mut Cursor) -> ColumnSpec {
    let typed = data_type(cursor);
    let mut primary_key = false;
    let mut placement = None;
    let mut depth = 0usize;
    while let Some(token) = cursor.peek(0) {
        match token {
            Token::Symbol(',' | ')') if depth == 0 => break,
            Token::Word(_) if depth == 0 && token.is_keyword("PARTITION") => break,
            Token::Symbol('(') => depth += 1,
            Token::Symbol(')') => depth -= 1,
            _ if depth > 0 => {}
            _ if token.is_keyword("PRIMARY") && cursor.is_keyword(1, "KEY") => {
                primary_key = true;
                cursor.advance(1);
            }
            // `UNIQUE KEY` is a unique key; `KEY` alone is the primary key.
            _ if token.is_keyword("UNIQUE") && cursor.is_keyword(1, "KEY") => cursor.advance(1),
            _ if token.is_keyword("KEY") => primary_key = true,
            _ if token.is_keyword("FIRST") => placement = Some(ColumnPlacement::First),
            _ if token.is_keyword("AFTER") => {
                if let Some(Token::Word(column) | Token::Quoted(column)) = cursor.peek(1) {
                    placement = Some(ColumnPlacement::After(column.clone()));
                    cursor.advance(1);
                }
            }
            _ => {}
        }
        cursor.advance(1);
    }
    ColumnSpec {
        definition: typed.map(|(data_type, labels)| ColumnDefinition {
            data_type,
            labels,
            primary_key,
        }),
        placement,
    }
}

/// The base type and, for `ENUM` and `SET`, the labels; the cursor past the type's arguments.
fn data_type(cursor: &mut Cursor) -> Option<(String, Vec<String>)> {
    let base_type = match MULTI_WORD_TYPES.iter().find(|(words, _)| cursor.eat_keywords(words)) {
        Some((_, base_type)) => (*base_type).to_owned(),
        None => {
            let word = cursor.next_keyword()?.to_ascii_lowercase();
            match SYNONYMS.iter().find(|(synonym, _)| *synonym == word) {
                Some((_, base_type)) => (*base_type).to_owned(),
                None => word,
            }
        }
    };
    let arguments = cursor.parenthesised();
    if base_type != "enum" && base_type != "set" {
        return Some((base_type, Vec::new()));
    }
    let labels = labels(arguments?)?;
    Some((base_type, labels))
}

/// The labels of `ENUM(...)` or `SET(...)`: string literals separated by commas, each maybe with a
/// character set introducer (`_utf8mb4'a'`, `N'a'`) and maybe split into adjacent literals (`'a'
/// 'b'` is `ab`). None if anything else is there.
fn labels(arguments: &[Token]) -> Option<Vec<String>> {
    let mut cursor = Cursor::new(arguments, "");
    let mut labels = Vec::new();
    loop {
        if matches!(cursor.peek(0), Some(Token::Word(word)) if is_introducer(word))
            && matches!(cursor.peek(1), Some(Token::Literal(_)))
        {
            cursor.advance(1);
        }
        let mut label = String::new();
        let mut parts = 0;
        while let Some(Token::Literal(part)) = cursor.peek(0) {
            label.push_str(part);
            parts += 1;
            cursor.advance(1);
        }
        if parts == 0 {
            return None;
        }
        // The server strips trailing spaces from ENUM and SET labels.
        label.truncate(label.trim_end_matches(' ').len());
        labels.push(label);
        if !cursor.eat_symbol(',') {
            return cursor.is_at_end().then_some(labels);
        }
    }
}

/// `_charset` or `N`, which may precede a string literal to name its character set.
fn is_introducer(word: &str) -> bool {
    word.starts_with('_') || word.eq_ignore_ascii_case("N")
}

/// Moves to the next `,` or `)` outside parentheses (without consuming it) or to the end.
fn skip_to_separator(cursor: &mut Cursor) {
    let _ = cursor.skip_to_separator_noting_partition();
}
