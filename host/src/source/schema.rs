//! The shape of each captured table, as the binlog's TABLE_MAP events describe it.
//!
//! Decoding follows the TABLE_MAP event, never a guess: it gives every column's type and type
//! metadata. The *names* of columns, their signedness, charsets, ENUM/SET labels and the primary key
//! come from the event's optional metadata when the server writes it (`binlog_row_metadata=FULL`,
//! MySQL >= 8.0.1, MariaDB >= 10.5). A server that writes less is completed from
//! the schema history ([`crate::source::schema_history`]), which knows the table's shape at the
//! event's position, and otherwise from `information_schema`, checked against the event.

use std::collections::HashMap;
use std::sync::Arc;

use mysql_async::Conn;
use mysql_async::binlog::events::{OptionalMetadataField, TableMapEvent};
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;

use crate::change::{Charset, ColumnSchema, TableName, TableSchema, type_code};
use crate::source::SourceError;
use crate::source::schema_history::TableShape;

/// What `information_schema` says about one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    pub name: String,
    /// `DATA_TYPE`, e.g. `int` or `varchar`.
    pub data_type: String,
    /// `COLUMN_TYPE`, e.g. `int(10) unsigned` or `enum('a','b')`.
    pub column_type: String,
    pub charset: Option<String>,
    /// `NUMERIC_PRECISION` and `NUMERIC_SCALE` for DECIMAL, `DATETIME_PRECISION` for temporal types.
    pub precision: u32,
    pub scale: u32,
    pub nullable: bool,
}

/// What `information_schema` says about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogTable {
    pub columns: Vec<CatalogColumn>,
    /// The primary key's columns, or when there is none, those of the first unique key whose columns
    /// are all NOT NULL (it identifies rows as well); empty when there is neither.
    pub primary_key: Vec<usize>,
    /// `PRIMARY`, or the name of the unique key used in its place.
    pub key_name: String,
}

/// Reads table and collation facts from `information_schema` over its own connection.
pub struct SchemaCatalog {
    /// A pool rather than one connection, so a lookup after the server restarted reconnects.
    pool: mysql_async::Pool,
    /// Collation id → charset name.
    collations: HashMap<u16, String>,
    tables: HashMap<TableName, Option<CatalogTable>>,
}

impl SchemaCatalog {
    pub async fn new(pool: mysql_async::Pool) -> Result<Self, SourceError> {
        let mut conn = pool
            .get_conn()
            .await
            .map_err(SourceError::query("connecting to read information_schema"))?;
        let rows: Vec<(u16, String)> = conn
            .query("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL")
            .await
            .map_err(SourceError::query("reading information_schema.COLLATIONS"))?;
        Ok(Self {
            pool,
            collations: rows.into_iter().collect(),
            tables: HashMap::new(),
        })
    }

    pub fn charset_of_collation(&self, collation: u16) -> Option<&str> {
        self.collations.get(&collation).map(String::as_str)
    }

    /// The catalog entry of a table, read once and remembered; `None` if the table does not exist.
    pub async fn table(&mut self, name: &TableName) -> Result<Option<&CatalogTable>, SourceError> {
        if !self.tables.contains_key(name) {
            let table = self.load(name).await?;
            self.tables.insert(name.clone(), table);
        }
        Ok(self.tables.get(name).and_then(Option::as_ref))
    }

    /// Forgets what was read about a table, so the next lookup reads it again.
    pub fn forget(&mut self, name: &TableName) {
        self.tables.remove(name);
    }

    async fn load(&mut self, name: &TableName) -> Result<Option<CatalogTable>, SourceError> {
        let mut conn = self
            .pool
            .get_conn()
            .await
            .map_err(SourceError::query("connecting to read information_schema"))?;
        load_catalog_table(&mut conn, name).await
    }
}

/// What `information_schema` says about a table now; `None` if it does not exist.
pub async fn load_catalog_table(conn: &mut Conn, name: &TableName) -> Result<Option<CatalogTable>, SourceError> {
    #[allow(clippy::type_complexity)]
    let columns: Vec<(
        String,
        String,
        String,
        Option<String>,
        Option<u32>,
        Option<u32>,
        Option<u32>,
        String,
    )> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, NUMERIC_PRECISION, NUMERIC_SCALE, \
             DATETIME_PRECISION, IS_NULLABLE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&name.database, &name.table),
        )
        .await
        .map_err(SourceError::query("reading information_schema.COLUMNS"))?;
    if columns.is_empty() {
        return Ok(None);
    }
    let key_columns: Vec<(String, String)> = conn
        .exec(
            // STATISTICS, not TABLE_CONSTRAINTS: MariaDB shows a user with only SELECT the former.
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
             ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
            (&name.database, &name.table),
        )
        .await
        .map_err(SourceError::query(
            "reading the keys in information_schema.KEY_COLUMN_USAGE",
        ))?;
    let columns: Vec<CatalogColumn> = columns
        .into_iter()
        .map(
            |(
                name,
                data_type,
                column_type,
                charset,
                numeric_precision,
                numeric_scale,
                datetime_precision,
                nullable,
            )| {
                let data_type = data_type.to_ascii_lowercase();
                let (precision, scale) = if data_type == "decimal" {
                    (numeric_precision.unwrap_or(0), numeric_scale.unwrap_or(0))
                } else {
                    (0, datetime_precision.unwrap_or(0))
                };
                CatalogColumn {
                    name,
                    data_type,
                    column_type,
                    charset,
                    precision,
                    scale,
                    nullable: nullable.eq_ignore_ascii_case("YES"),
                }
            },
        )
        .collect();
    let (key_name, primary_key) = choose_row_key(&columns, &key_columns);
    Ok(Some(CatalogTable {
        columns,
        primary_key,
        key_name,
    }))
}

/// The key that identifies rows: the primary key, else the first unique key over NOT NULL columns.
/// `keys` lists `(constraint, column)` with the primary key first, each key's columns in order.
fn choose_row_key(columns: &[CatalogColumn], keys: &[(String, String)]) -> (String, Vec<usize>) {
    let mut start = 0;
    while start < keys.len() {
        let name = &keys[start].0;
        let end = start
            + keys[start..]
                .iter()
                .take_while(|(constraint, _)| constraint == name)
                .count();
        let indexes: Option<Vec<usize>> = keys[start..end]
            .iter()
            .map(|(_, column)| columns.iter().position(|c| &c.name == column))
            .collect();
        if let Some(indexes) = indexes
            && (name == "PRIMARY" || indexes.iter().all(|&index| !columns[index].nullable))
        {
            return (name.clone(), indexes);
        }
        start = end;
    }
    ("PRIMARY".to_owned(), Vec::new())
}

/// The tables whose changes `captures` selects, as `information_schema` lists them now.
pub async fn captured_tables(
    conn: &mut Conn,
    captures: impl Fn(&str, &str) -> bool,
) -> Result<Vec<TableName>, SourceError> {
    let tables: Vec<(String, String)> = conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' \
             AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME",
        )
        .await
        .map_err(SourceError::query("listing tables in information_schema.TABLES"))?;
    Ok(tables
        .into_iter()
        .filter(|(database, table)| captures(database, table))
        .map(|(database, table)| TableName::new(database, table))
        .collect())
}

/// The binlog type code a column of this `information_schema` `DATA_TYPE` has in TABLE_MAP events.
fn binlog_type_code(data_type: &str) -> Option<u8> {
    Some(match data_type {
        "tinyint" => type_code::TINY,
        "smallint" => type_code::SHORT,
        "mediumint" => type_code::INT24,
        "int" | "integer" => type_code::LONG,
        "bigint" => type_code::LONGLONG,
        "decimal" | "numeric" => type_code::NEWDECIMAL,
        "float" => type_code::FLOAT,
        "double" | "real" => type_code::DOUBLE,
        "bit" => type_code::BIT,
        "date" => type_code::NEWDATE,
        "datetime" => type_code::DATETIME2,
        "timestamp" => type_code::TIMESTAMP2,
        "time" => type_code::TIME2,
        "year" => type_code::YEAR,
        "char" | "binary" => type_code::STRING,
        "varchar" | "varbinary" => type_code::VARCHAR,
        "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            type_code::BLOB
        }
        "enum" => type_code::ENUM,
        "set" => type_code::SET,
        "json" => type_code::JSON,
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon"
        | "geometrycollection" => type_code::GEOMETRY,
        _ => return None,
    })
}

/// A table's schema as `information_schema` describes it, with the type codes the binlog uses, so
/// snapshot rows and streamed rows of a table look alike.
pub fn schema_from_catalog(name: &TableName, table: &CatalogTable) -> Result<TableSchema, SourceError> {
    let mut columns = Vec::with_capacity(table.columns.len());
    for (index, column) in table.columns.iter().enumerate() {
        let type_code = binlog_type_code(&column.data_type).ok_or_else(|| SourceError::UnsupportedColumnType {
            table: name.clone(),
            column: index,
            detail: format!("column `{}` has type `{}`", column.name, column.column_type),
        })?;
        let is_binary_type =
            matches!(column.data_type.as_str(), "binary" | "varbinary") || column.data_type.ends_with("blob");
        let charset = match (&column.charset, is_binary_type) {
            (Some(charset), false) => Charset { name: charset.clone() },
            _ => Charset::binary(),
        };
        let elements = if matches!(type_code, type_code::ENUM | type_code::SET) {
            parse_labels(&column.column_type)
        } else {
            Vec::new()
        };
        let fixed_length = if column.data_type == "binary" {
            declared_length(&column.column_type)
        } else {
            0
        };
        columns.push(ColumnSchema {
            name: column.name.clone(),
            type_code,
            unsigned: column.column_type.contains("unsigned"),
            charset,
            precision: column.precision,
            scale: column.scale,
            elements,
            fixed_length,
        });
    }
    Ok(TableSchema {
        name: name.clone(),
        columns,
        primary_key: table.primary_key.clone(),
        key_name: table.key_name.clone(),
    })
}

/// The charset of the collations a server uses by default, for decoding without a server to ask.
pub fn well_known_charset(collation: u16) -> Option<&'static str> {
    Some(match collation {
        63 => "binary",
        8 | 47 | 48 | 49 | 5 | 15 | 31 | 94 => "latin1",
        33 | 83 | 192..=215 | 223 => "utf8mb3",
        45 | 46 | 224..=247 | 255..=323 => "utf8mb4",
        28 | 87 => "gbk",
        11 | 65 => "ascii",
        _ => return None,
    })
}

/// The optional metadata of one TABLE_MAP event, spread out per column.
#[derive(Debug, Default)]
struct OptionalMetadata {
    names: Vec<String>,
    /// One flag per numeric column, in column order.
    unsigned_numeric: Vec<bool>,
    /// Collation per character column, in column order.
    character_collations: Vec<u16>,
    /// Collation per ENUM/SET column, in column order.
    enum_set_collations: Vec<u16>,
    /// Labels per ENUM column and per SET column, each in column order, as bytes in the column's charset.
    enum_labels: Vec<Vec<Vec<u8>>>,
    set_labels: Vec<Vec<Vec<u8>>>,
    primary_key: Option<Vec<usize>>,
}

/// Whether the server lists a collation for a column of this type in the optional metadata's charset
/// fields: the character types and GEOMETRY (MySQL's and MariaDB's `is_character_type`; the driver's
/// leaves GEOMETRY out, which would shift every later column's charset).
fn has_collation_metadata(column_type: &ColumnType) -> bool {
    column_type.is_character_type() || *column_type == ColumnType::MYSQL_TYPE_GEOMETRY
}

fn spread_collations(default: u16, overrides: impl Iterator<Item = (usize, u16)>, count: usize) -> Vec<u16> {
    let mut collations = vec![default; count];
    for (index, collation) in overrides {
        if let Some(slot) = collations.get_mut(index) {
            *slot = collation;
        }
    }
    collations
}

fn read_optional_metadata(event: &TableMapEvent<'_>, types: &[ColumnType]) -> std::io::Result<OptionalMetadata> {
    let character_count = types.iter().filter(|t| has_collation_metadata(t)).count();
    let enum_set_count = types.iter().filter(|t| t.is_enum_or_set_type()).count();
    let mut metadata = OptionalMetadata::default();
    for field in event.iter_optional_meta() {
        match field? {
            OptionalMetadataField::Signedness(bits) => {
                metadata.unsigned_numeric = bits.iter().map(|bit| *bit).collect();
            }
            OptionalMetadataField::DefaultCharset(charsets) => {
                let overrides = charsets
                    .iter_non_default()
                    .collect::<std::io::Result<Vec<_>>>()?
                    .into_iter()
                    .map(|c| (c.column_index() as usize, c.charset()));
                metadata.character_collations =
                    spread_collations(charsets.default_charset(), overrides, character_count);
            }
            OptionalMetadataField::ColumnCharset(charsets) => {
                metadata.character_collations = charsets.iter_charsets().collect::<std::io::Result<_>>()?;
            }
            OptionalMetadataField::EnumAndSetDefaultCharset(charsets) => {
                let overrides = charsets
                    .iter_non_default()
                    .collect::<std::io::Result<Vec<_>>>()?
                    .into_iter()
                    .map(|c| (c.column_index() as usize, c.charset()));
                metadata.enum_set_collations = spread_collations(charsets.default_charset(), overrides, enum_set_count);
            }
            OptionalMetadataField::EnumAndSetColumnCharset(charsets) => {
                metadata.enum_set_collations = charsets.iter_charsets().collect::<std::io::Result<_>>()?;
            }
            OptionalMetadataField::ColumnName(names) => {
                metadata.names = names
                    .iter_names()
                    .map(|name| name.map(|name| name.name().into_owned()))
                    .collect::<std::io::Result<_>>()?;
            }
            OptionalMetadataField::EnumStrValue(values) => {
                for labels in values.iter_values() {
                    metadata
                        .enum_labels
                        .push(labels?.values().iter().map(|v| v.value_raw().to_vec()).collect());
                }
            }
            OptionalMetadataField::SetStrValue(values) => {
                for labels in values.iter_values() {
                    metadata
                        .set_labels
                        .push(labels?.values().iter().map(|v| v.value_raw().to_vec()).collect());
                }
            }
            OptionalMetadataField::SimplePrimaryKey(key) => {
                metadata.primary_key = Some(
                    key.iter_indexes()
                        .map(|index| index.map(|i| i as usize))
                        .collect::<std::io::Result<_>>()?,
                );
            }
            OptionalMetadataField::PrimaryKeyWithPrefix(key) => {
                metadata.primary_key = Some(
                    key.iter_keys()
                        .map(|key| key.map(|key| key.column_index() as usize))
                        .collect::<std::io::Result<_>>()?,
                );
            }
            _ => {}
        }
    }
    Ok(metadata)
}

/// The charsets whose ENUM/SET labels [`labels_as_text`] turns into text itself.
const TEXT_LABEL_CHARSETS: &[&str] = &["utf8mb4", "utf8mb3", "utf8", "ascii", "latin1", "binary"];

/// ENUM/SET labels from the binlog, as bytes in `charset`, turned into text; `None` when the charset is
/// not one of [`TEXT_LABEL_CHARSETS`] or a label is not valid in it.
fn labels_as_text(labels: &[Vec<u8>], charset: &str) -> Option<Vec<String>> {
    labels
        .iter()
        .map(|label| match charset {
            "latin1" => Some(label.iter().map(|&byte| latin1_char(byte)).collect()),
            _ if TEXT_LABEL_CHARSETS.contains(&charset) => String::from_utf8(label.clone()).ok(),
            _ => None,
        })
        .collect()
}

/// A byte of MySQL's `latin1`, which is Windows-1252 with the five bytes it leaves undefined mapped to
/// the control characters of the same number.
fn latin1_char(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{2C6}',
        '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}',
        '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}',
        '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
    ];
    match byte {
        0x80..=0x9F => HIGH[(byte - 0x80) as usize],
        _ => char::from(byte),
    }
}

/// The `n` of a `COLUMN_TYPE` such as `binary(16)`; 0 without one.
fn declared_length(column_type: &str) -> u32 {
    column_type
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(length, _)| length.parse().ok())
        .unwrap_or(0)
}

/// Parses the labels of `enum('a','b')` / `set('x','y')` as `information_schema` prints them.
pub fn parse_labels(column_type: &str) -> Vec<String> {
    let Some(open) = column_type.find('(') else {
        return Vec::new();
    };
    let inner = column_type[open + 1..]
        .strip_suffix(')')
        .unwrap_or(&column_type[open + 1..]);
    let mut labels = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                '\\' => {
                    if let Some(escaped) = chars.next() {
                        label.push(escaped);
                    }
                }
                other => label.push(other),
            }
        }
        labels.push(label);
    }
    labels
}

/// Builds the schema of the table an event maps, completing missing metadata from the catalog.
///
/// Without a catalog (decoding a recorded binlog file offline), names and keys come from the event
/// alone and charsets from [`well_known_charset`].
pub async fn table_schema(
    event: &TableMapEvent<'_>,
    catalog: Option<&mut SchemaCatalog>,
) -> Result<TableSchema, SourceError> {
    table_schema_with(event, catalog, None).await.map(|(schema, _)| schema)
}

/// Where a table schema's column names came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamesFrom {
    /// The TABLE_MAP's own optional metadata (`binlog_row_metadata=FULL`).
    Event,
    /// The schema history's shape at the event's position.
    History,
    /// `information_schema`, read now, which matched the event.
    Catalog,
    /// Nothing matched: columns are named by position (`@1`, `@2`, ...).
    Positions,
}

/// [`table_schema`], preferring `known` (the schema history's shape at the event) to the catalog
/// for names, labels and the key when the event does not carry them and the shape fits the event.
pub async fn table_schema_with(
    event: &TableMapEvent<'_>,
    mut catalog: Option<&mut SchemaCatalog>,
    known: Option<&TableShape>,
) -> Result<(TableSchema, NamesFrom), SourceError> {
    let name = TableName::new(event.database_name(), event.table_name());
    let column_count = event.columns_count() as usize;
    let mut types = Vec::with_capacity(column_count);
    for index in 0..column_count {
        let column_type = event
            .get_column_type(index)
            .map_err(|error| SourceError::UnsupportedColumnType {
                table: name.clone(),
                column: index,
                detail: error.to_string(),
            })?
            .ok_or_else(|| SourceError::UnsupportedColumnType {
                table: name.clone(),
                column: index,
                detail: "the TABLE_MAP event declares fewer column types than columns".into(),
            })?;
        types.push(column_type);
    }
    let metadata = read_optional_metadata(event, &types).map_err(|error| SourceError::Decode {
        table: name.clone(),
        detail: format!("optional metadata: {error}"),
    })?;

    // ENUM/SET labels in a charset other than UTF-8 or latin1 are read from information_schema.
    let labels_need_catalog = metadata.enum_set_collations.iter().any(|&collation| {
        let charset = match catalog.as_deref() {
            Some(catalog) => catalog.charset_of_collation(collation),
            None => well_known_charset(collation),
        };
        !charset.is_some_and(|charset| TEXT_LABEL_CHARSETS.contains(&charset))
    });
    let has_full_metadata =
        metadata.names.len() == column_count && metadata.primary_key.is_some() && !labels_need_catalog;
    let type_codes: Vec<u8> = types.iter().map(|column_type| *column_type as u8).collect();
    let known = known.filter(|shape| !has_full_metadata && shape.fits(&type_codes));
    // With a known shape, the catalog is still asked for what the event may lack and names do not
    // change: signedness and charsets (servers that log no metadata at all), matched by name.
    let needs_catalog = !has_full_metadata
        && (known.is_none() || metadata.unsigned_numeric.is_empty() || metadata.character_collations.is_empty());
    let mut catalog_table = None;
    if needs_catalog && let Some(catalog) = catalog.as_deref_mut() {
        let mut found = catalog.table(&name).await?.cloned();
        if found.as_ref().is_some_and(|table| table.columns.len() != column_count) {
            // The table changed since it was read: read it again.
            catalog.forget(&name);
            found = catalog.table(&name).await?.cloned();
        }
        catalog_table = found.filter(|table| known.is_some() || table.columns.len() == column_count);
        if catalog_table.is_none() && known.is_none() {
            tracing::warn!(
                table = %name,
                "column names of {name} are unknown (no binlog_row_metadata=FULL and information_schema differs); \
                 columns are named by position"
            );
        }
    }

    let (mut numeric_index, mut character_index, mut enum_set_index, mut enum_index, mut set_index) = (0, 0, 0, 0, 0);
    let mut columns = Vec::with_capacity(column_count);
    for (index, column_type) in types.iter().enumerate() {
        let known_column = known.map(|shape| &shape.columns[index]);
        let catalog_column = match (&catalog_table, known_column) {
            (Some(table), Some(column)) => table
                .columns
                .iter()
                .find(|candidate| candidate.name.eq_ignore_ascii_case(&column.name)),
            (Some(table), None) => table.columns.get(index),
            (None, _) => None,
        };
        let raw_metadata = event.get_column_metadata(index).unwrap_or(&[]);
        let name = metadata
            .names
            .get(index)
            .cloned()
            .or_else(|| known_column.map(|c| c.name.clone()))
            .or_else(|| catalog_column.map(|c| c.name.clone()))
            .unwrap_or_else(|| format!("@{}", index + 1));

        let mut unsigned = false;
        if column_type.is_numeric_type() {
            unsigned = metadata
                .unsigned_numeric
                .get(numeric_index)
                .copied()
                .or_else(|| catalog_column.map(|c| c.column_type.contains("unsigned")))
                .unwrap_or(false);
            numeric_index += 1;
        }

        let mut charset = Charset::binary();
        let mut collation = None;
        if column_type.is_character_type() {
            collation = metadata.character_collations.get(character_index).copied();
            character_index += 1;
        } else if has_collation_metadata(column_type) {
            // GEOMETRY has a (binary) collation in the list, too.
            character_index += 1;
        } else if column_type.is_enum_or_set_type() {
            collation = metadata.enum_set_collations.get(enum_set_index).copied();
            enum_set_index += 1;
        }
        if column_type.is_character_type() || column_type.is_enum_or_set_type() {
            let from_event = collation.and_then(|id| match catalog.as_deref() {
                Some(catalog) => catalog.charset_of_collation(id).map(str::to_owned),
                None => well_known_charset(id).map(str::to_owned),
            });
            let from_catalog = catalog_column.and_then(|c| c.charset.clone());
            if let Some(found) = from_event.or(from_catalog) {
                charset = Charset { name: found };
            }
        }

        let mut raw_labels = None;
        if column_type.is_enum_type() {
            raw_labels = metadata.enum_labels.get(enum_index);
            enum_index += 1;
        } else if column_type.is_set_type() {
            raw_labels = metadata.set_labels.get(set_index);
            set_index += 1;
        }
        let mut elements = Vec::new();
        if column_type.is_enum_or_set_type() {
            // The binlog's labels are in the column's charset; information_schema's are text already.
            let from_event = raw_labels
                .and_then(|labels| labels_as_text(labels, &charset.name))
                .or_else(|| {
                    known_column
                        .map(|c| c.labels.clone())
                        .filter(|labels| !labels.is_empty())
                });
            let from_catalog = catalog_column.map(|c| parse_labels(&c.column_type));
            elements = match (from_event, from_catalog, raw_labels) {
                (Some(labels), _, _) => labels,
                (None, Some(labels), _) if !labels.is_empty() => labels,
                (None, _, Some(raw)) => raw
                    .iter()
                    .map(|label| String::from_utf8_lossy(label).into_owned())
                    .collect(),
                (None, _, None) => Vec::new(),
            };
        }

        let code = *column_type as u8;
        let (precision, scale) = match code {
            type_code::NEWDECIMAL => (
                raw_metadata.first().copied().unwrap_or(0) as u32,
                raw_metadata.get(1).copied().unwrap_or(0) as u32,
            ),
            type_code::TIME2 | type_code::DATETIME2 | type_code::TIMESTAMP2 => {
                (0, raw_metadata.first().copied().unwrap_or(0) as u32)
            }
            _ => (0, 0),
        };
        // A CHAR/BINARY column's metadata holds its real type and byte length (MySQL's
        // `Field_string::save_field_metadata`); BINARY values are padded back to it.
        let fixed_length = match raw_metadata {
            [real_type, low] if code == type_code::STRING && charset.is_binary() => {
                u32::from(*low) | ((u32::from(*real_type & 0x30) ^ 0x30) << 4)
            }
            _ => 0,
        };
        columns.push(ColumnSchema {
            name,
            type_code: code,
            unsigned,
            charset,
            precision,
            scale,
            elements,
            fixed_length,
        });
    }

    // The binlog names only a primary key; a table without one is keyed like its snapshot, by the
    // catalog's choice of unique key.
    let known_key = known.and_then(|shape| Some((shape.key_name.clone(), shape.key_indexes()?)));
    let (key_name, primary_key) = match metadata.primary_key.filter(|key| !key.is_empty()) {
        Some(key) => ("PRIMARY".to_owned(), key),
        None if known_key.is_some() => known_key.expect("checked"),
        None => catalog_table
            .as_ref()
            .map(|table| (table.key_name.clone(), table.primary_key.clone()))
            .unwrap_or_else(|| ("PRIMARY".to_owned(), Vec::new())),
    };
    let primary_key = primary_key.into_iter().filter(|&index| index < column_count).collect();
    let names_from = if metadata.names.len() == column_count {
        NamesFrom::Event
    } else if known.is_some() {
        NamesFrom::History
    } else if catalog_table.is_some() {
        NamesFrom::Catalog
    } else {
        NamesFrom::Positions
    };
    let schema = TableSchema {
        name,
        columns,
        primary_key,
        key_name,
    };
    Ok((schema, names_from))
}

/// TABLE_MAP schemas by table id, rebuilt only when a table id is mapped differently.
#[derive(Default)]
pub struct TableMapCache {
    by_table_id: HashMap<u64, (Vec<u8>, Arc<TableSchema>)>,
}

impl TableMapCache {
    /// The schema for an event: reused when the same table id was mapped identically before, else
    /// built with `known(name)`, the schema history's shape, on offer; says where the names came from
    /// when it built one (`None` when cached).
    pub async fn schema_for(
        &mut self,
        event: &TableMapEvent<'_>,
        catalog: &mut SchemaCatalog,
        known: impl FnOnce(&TableName) -> Option<TableShape>,
    ) -> Result<(Arc<TableSchema>, Option<NamesFrom>), SourceError> {
        let fingerprint = table_map_fingerprint(event);
        if let Some((cached, schema)) = self.by_table_id.get(&event.table_id())
            && *cached == fingerprint
        {
            return Ok((schema.clone(), None));
        }
        let shape = known(&TableName::new(event.database_name(), event.table_name()));
        let (schema, names_from) = table_schema_with(event, Some(catalog), shape.as_ref()).await?;
        let schema = Arc::new(schema);
        self.by_table_id.insert(event.table_id(), (fingerprint, schema.clone()));
        Ok((schema, Some(names_from)))
    }

    /// Forgets every schema of `table`: after its DDL, the next TABLE_MAP builds it anew even if the
    /// event looks the same (a renamed column changes nothing a MINIMAL TABLE_MAP shows).
    pub fn forget(&mut self, table: &TableName) {
        self.by_table_id.retain(|_, (_, schema)| schema.name != *table);
    }
}

/// Everything in a TABLE_MAP event that determines the schema built from it: the event's own bytes
/// (names, column types and metadata, null bitmap, optional metadata). Taken as bytes, not through
/// the parsed fields, whose `Debug` form may hold buffer addresses (the signedness bit slice does),
/// which would make every event of a table look new.
fn table_map_fingerprint(event: &TableMapEvent<'_>) -> Vec<u8> {
    use mysql_common::proto::MySerialize;
    let mut bytes = Vec::with_capacity(64 + 2 * event.columns_count() as usize);
    event.serialize(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TABLE_MAP events of a recorded file, each read into a buffer of its own.
    fn recorded_table_maps(file: &str) -> Vec<mysql_common::binlog::events::Event> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/mysql-binlogs")
            .join(file);
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut binlog =
            mysql_common::binlog::BinlogFile::new(mysql_common::binlog::consts::BinlogVersion::Version4, file).unwrap();
        let mut events = Vec::new();
        while let Some(Ok(event)) = binlog.next() {
            if event.header().event_type_raw() == mysql_common::binlog::consts::EventType::TABLE_MAP_EVENT as u8 {
                events.push(event);
            }
        }
        events
    }

    #[test]
    fn the_same_table_map_read_twice_has_the_same_fingerprint() {
        let file = "mariadb-bin.000001";
        let (first, second) = (recorded_table_maps(file), recorded_table_maps(file));
        assert!(!first.is_empty());
        for (a, b) in first.iter().zip(&second) {
            let (a, b): (TableMapEvent<'_>, TableMapEvent<'_>) = (a.read_event().unwrap(), b.read_event().unwrap());
            assert!(
                a.iter_optional_meta().next().is_some(),
                "the recording has optional metadata"
            );
            assert_eq!(
                table_map_fingerprint(&a),
                table_map_fingerprint(&b),
                "{}",
                a.table_name()
            );
        }
        let other = recorded_table_maps("mysql-enum-string-set.000001");
        let (a, b): (TableMapEvent<'_>, TableMapEvent<'_>) =
            (first[0].read_event().unwrap(), other[0].read_event().unwrap());
        assert_ne!(
            table_map_fingerprint(&a),
            table_map_fingerprint(&b),
            "another table differs"
        );
    }

    #[test]
    fn enum_and_set_labels_are_read_from_column_type() {
        assert_eq!(parse_labels("enum('small','large')"), vec!["small", "large"]);
        assert_eq!(parse_labels("set('a','it''s','c,d')"), vec!["a", "it's", "c,d"]);
        assert!(parse_labels("int(11)").is_empty());
    }

    #[test]
    fn rows_are_keyed_by_the_primary_key_else_a_not_null_unique_key() {
        let column = |name: &str, nullable: bool| CatalogColumn {
            name: name.into(),
            data_type: "int".into(),
            column_type: "int(11)".into(),
            charset: None,
            precision: 0,
            scale: 0,
            nullable,
        };
        let columns = vec![column("a", true), column("b", false), column("c", false)];
        let key = |constraint: &str, column: &str| (constraint.to_owned(), column.to_owned());
        assert_eq!(
            choose_row_key(&columns, &[key("PRIMARY", "c"), key("uk_b", "b")]),
            ("PRIMARY".to_owned(), vec![2])
        );
        assert_eq!(
            choose_row_key(&columns, &[key("uk_a", "a"), key("uk_bc", "b"), key("uk_bc", "c")]),
            ("uk_bc".to_owned(), vec![1, 2]),
            "a unique key over a nullable column does not identify rows"
        );
        assert_eq!(
            choose_row_key(&columns, &[key("uk_a", "a")]),
            ("PRIMARY".to_owned(), vec![])
        );
    }

    #[test]
    fn binlog_labels_become_text_in_their_charset() {
        assert_eq!(
            labels_as_text(&[b"caf\xe9".to_vec(), b"\x80".to_vec()], "latin1"),
            Some(vec!["café".to_owned(), "€".to_owned()])
        );
        assert_eq!(
            labels_as_text(&["🐬".as_bytes().to_vec()], "utf8mb4"),
            Some(vec!["🐬".to_owned()])
        );
        assert_eq!(
            labels_as_text(&[b"\xd6\xd0".to_vec()], "gbk"),
            None,
            "read from the catalog"
        );
        assert_eq!(declared_length("binary(16)"), 16);
    }

    #[test]
    fn default_charsets_spread_with_overrides() {
        assert_eq!(spread_collations(45, [(1, 8)].into_iter(), 3), vec![45, 8, 45]);
    }
}
