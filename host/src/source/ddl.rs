//! What a statement in a binlog QUERY event is: the DDL classifier.
//!
//! Under ROW format, row changes arrive as rows events; a QUERY event carries either transaction
//! control (`BEGIN`, `COMMIT`, `XA ...`, `SAVEPOINT`) or a statement the replica must run as text,
//! which is DDL. [`classify`] reads that text, with the event's default database (the session's
//! `USE`), and says which [`DdlKind`] it is, which tables it touches (unqualified names completed
//! with the default database; an empty default database leaves the database part empty), the
//! renames it makes, and its flags (`IF [NOT] EXISTS`, `OR REPLACE`, `TEMPORARY`, partitioning).
//! The kinds are those of the `ddl-policy` plugin contract (`wit/plugin.wit`), one to one.
//!
//! # How it reads
//! Two small steps. `tokens` splits the text into words, quoted identifiers, string literals and
//! symbols: comments (`/* */`, `-- `, `#`) are dropped, while executable comments (`/*! */`,
//! `/*!50100 */`, MariaDB's `/*M! */` and `/*M!100100 */`) are opened and their content read as code
//! whatever the version they name (the server that logged the statement ran it). Backtick and
//! double-quoted identifiers are unescaped; string literals (`''` and `\'` escapes) become a token
//! holding their unescaped content (an `ENUM` label), never read as code. `statement` then reads
//! the tokens from the front, keyword by keyword, as far as it needs: the verb (`CREATE`, `ALTER`,
//! `DROP`, `RENAME`, `TRUNCATE`, ...), the object (`TABLE`, `INDEX`, `VIEW`, `DATABASE`, ...), its
//! names, for `ALTER TABLE` its list of actions (`alter_table`), and the column and table
//! definitions (`definition`). Keywords compare case-insensitively and are never quoted:
//! `` `table` `` is a name.
//!
//! Why not a SQL parser crate: a full grammar is not the goal (we need the kind, the names and a few
//! facts of column definitions, not an AST), and the general-purpose parsers reject much of what
//! servers actually log — MariaDB's `CREATE OR REPLACE`, `ALTER ONLINE TABLE`, `WAIT n`/`NOWAIT`,
//! `ADD COLUMN IF NOT EXISTS`, `CONVERT PARTITION`, version-gated executable comments — and a parse
//! failure would lose even the verb. Reading only what it needs also means the rest of a statement
//! (a view's query, a routine's body, a column's default expression) cannot make the
//! classification fail.
//!
//! # What it recognises
//! - databases: `CREATE|ALTER|DROP {DATABASE|SCHEMA}` (an `ALTER DATABASE` without a name is about
//!   the default database);
//! - tables: `CREATE [OR REPLACE] [TEMPORARY] TABLE [IF NOT EXISTS] t` (with `LIKE s`, `(LIKE s)`,
//!   `[AS] SELECT ...`, or a definition; MySQL's trailing `START TRANSACTION` is flagged), `ALTER [ONLINE|OFFLINE] [IGNORE] TABLE [IF EXISTS] t
//!   [WAIT n|NOWAIT] ...`, `DROP [TEMPORARY] TABLE[S] [IF EXISTS] a, b`, `RENAME TABLE[S] a TO b, c TO
//!   d`, `TRUNCATE [TABLE] t`;
//! - indexes: `CREATE [OR REPLACE] [ONLINE|OFFLINE] [UNIQUE|FULLTEXT|SPATIAL|VECTOR] INDEX i ON t`,
//!   `DROP INDEX [IF EXISTS] i ON t`;
//! - views: `CREATE [OR REPLACE] [ALGORITHM=..] [DEFINER=..] [SQL SECURITY ..] VIEW v`, `ALTER ... VIEW
//!   v`, `DROP VIEW [IF EXISTS] v, w`;
//! - MariaDB's `SET STATEMENT var = value FOR statement`: read as the statement after `FOR`;
//! - [`DdlKind::Other`]: users, roles and grants (`GRANT`, `REVOKE`, `CREATE USER`, `RENAME USER`,
//!   `SET PASSWORD`, ...), routines, triggers, events, servers, tablespaces, sequences, plugins,
//!   `SET`, `FLUSH`, and table maintenance (`ANALYZE|OPTIMIZE|REPAIR TABLE a, b`, whose tables are
//!   listed);
//! - not DDL at all ([`Classified::NotDdl`]): transaction control, and data changes logged as
//!   statements (`INSERT`, `UPDATE`, `DELETE`, `REPLACE`, `LOAD DATA`), which a session with
//!   `binlog_format=STATEMENT` can still write.
//!
//! `ALTER TABLE` is read action by action (its top-level comma-separated list): `RENAME [TO|AS] u`
//! is a rename (the statement stays an [`DdlKind::AlterTable`], with the pair in `renames`);
//! partition operations (`ADD|DROP|TRUNCATE|REORGANIZE|COALESCE|EXCHANGE|... PARTITION`, `REMOVE
//! PARTITIONING`, `PARTITION BY`) set the `partition` flag, and `EXCHANGE PARTITION p WITH TABLE u`,
//! MariaDB's `CONVERT PARTITION p TO TABLE u` and `CONVERT TABLE u TO PARTITION p` also touch `u`.
//!
//! # What the schema history gets
//! When TABLE_MAP events carry no column names (`binlog_row_metadata=MINIMAL`), the schema history
//! builds each table's next version by applying its DDL to the previous one. It needs, per column in
//! order, the name and (for `ENUM`/`SET`) the labels, and the primary key; the TABLE_MAP gives the
//! rest. So `definition` reads, and nothing more:
//! - `CREATE TABLE t (...)` (also with a query after the list: under ROW format the server logs
//!   `CREATE TABLE ... SELECT` as the full definition it made, then the rows): a
//!   [`TableDefinition`], every column in order (generated ones too: they are in the rows) with its
//!   [`ColumnDefinition`], and the primary key, inline or a `[CONSTRAINT [c]] PRIMARY KEY (a(10), b)`
//!   element; other keys, `FOREIGN KEY`, `CHECK` and `PERIOD FOR` elements are skipped;
//! - `ALTER TABLE`'s [`ColumnChange`]s in order (`ADD [COLUMN] [IF NOT EXISTS] c ...` or a list `ADD
//!   (a ..., b ...)`, `DROP`, `MODIFY`, `CHANGE old new`, `RENAME COLUMN`, `ALTER COLUMN`), each
//!   `ADD`, `MODIFY` and `CHANGE` with its new definition and its `FIRST` or `AFTER c`;
//! - the [`KeyChange`]s: `ADD [CONSTRAINT [c]] PRIMARY KEY (...)`, `DROP PRIMARY KEY`, and the
//!   index or constraint named `PRIMARY` dropped (``DROP INDEX|KEY|CONSTRAINT `PRIMARY` `` in an
//!   `ALTER`, ``DROP INDEX `PRIMARY` ON t``).
//!
//! A definition is the base type (synonyms resolved: `INTEGER` is `int`), the `ENUM`/`SET` labels
//! (unescaped, trailing spaces stripped as the server does) and an inline `PRIMARY KEY`. Names are
//! kept as written (unquoted); the history compares them case-insensitively, as the server does.
//! A definition that cannot be read fully is None, never a guess: a column change without one
//! still names its column, and a `CREATE TABLE` list with an unreadable element has no
//! [`TableDefinition`]. Only declared primary keys are reported: a table without one whose first
//! `UNIQUE NOT NULL` key the server promotes is the history's to work out.
//!
//! # What becomes unknown
//! Anything else: an empty statement, a verb or object it does not know (`WITH ... UPDATE`, `BEGIN NOT
//! ATOMIC`, Oracle-mode syntax), or a known form whose names cannot be read. The classifier never
//! fails and never panics. An [`DdlKind::Unknown`] statement does not stop the stream: like every
//! DDL statement it goes to the `ddl-policy` plugin with its text, which decides.
//!
//! Assumed: backslash escapes in string literals (no `NO_BACKSLASH_ESCAPES`; a literal ending in a
//! backslash under that mode may be misread), and double-quoted text in a name position is an
//! identifier (`ANSI_QUOTES`; elsewhere it is never read as code either way).

mod alter_table;
mod cursor;
mod definition;
mod statement;
mod tokens;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use crate::change::TableName;

/// Reads one statement as a binlog QUERY event carries it. `default_database` is the event's
/// database (the session's `USE`; may be empty).
pub fn classify(statement_text: &str, default_database: &str) -> Classified {
    let tokens = tokens::tokenize(statement_text);
    statement::classify_tokens(&tokens, default_database)
}

/// What a QUERY event's statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A DDL statement, or one the classifier could not read ([`DdlKind::Unknown`]).
    Ddl(DdlStatement),
    /// Not DDL: it changes no schema and goes to no DDL policy.
    NotDdl(NotDdl),
}

/// Why a statement is not DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotDdl {
    /// `BEGIN`, `START TRANSACTION`, `COMMIT`, `ROLLBACK`, `XA ...`, `SAVEPOINT`, `RELEASE SAVEPOINT`,
    /// with what it does to the transaction being read.
    TransactionControl(TransactionEffect),
    /// `INSERT`, `UPDATE`, `DELETE`, `REPLACE`, `LOAD DATA|XML`: rows logged as a statement (the
    /// session ran with `binlog_format=STATEMENT`), whose row changes are not in the stream.
    DataChange,
}

/// What a transaction-control statement does to the transaction a binlog reader is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionEffect {
    /// `BEGIN [WORK]`, `START TRANSACTION`, `XA START|BEGIN`: a transaction starts.
    Begins,
    /// `SAVEPOINT`, `RELEASE SAVEPOINT`, `ROLLBACK [WORK] TO`: it goes on.
    Continues,
    /// `COMMIT`, `ROLLBACK`, `XA END|PREPARE|COMMIT|ROLLBACK`: it ends.
    Ends,
}

/// The kind of a DDL statement; one to one with the contract's `ddl-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DdlKind {
    CreateDatabase,
    AlterDatabase,
    DropDatabase,
    CreateTable,
    AlterTable,
    DropTable,
    RenameTable,
    TruncateTable,
    CreateIndex,
    DropIndex,
    CreateView,
    AlterView,
    DropView,
    /// Recognised, but not about tables, databases, views or indexes (users, grants, routines,
    /// triggers, events, `SET`, `FLUSH`, table maintenance, ...).
    Other,
    /// Not recognised; the statement text is all there is.
    Unknown,
}

/// One classified DDL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlStatement {
    pub kind: DdlKind,
    /// Every table (or view) it touches, in statement order, with the default database filled in:
    /// both names of each rename, the source of `CREATE TABLE ... LIKE`, the other table of a
    /// partition exchange.
    pub tables: Vec<TableName>,
    /// `RENAME TABLE a TO b, c TO d` and `ALTER TABLE a RENAME TO b`, pair by pair.
    pub renames: Vec<TableRename>,
    /// For `ALTER TABLE`, the column changes it makes, in order (see the module doc).
    pub column_changes: Vec<ColumnChange>,
    /// For `ALTER TABLE` (`ADD [CONSTRAINT [c]] PRIMARY KEY (..)`, `DROP PRIMARY KEY`, ``DROP INDEX
    /// `PRIMARY` ``) and ``DROP INDEX `PRIMARY` ON t``, the primary key changes it makes, in order.
    /// A key declared inline in a column's definition is in that [`ColumnDefinition`] instead.
    pub key_changes: Vec<KeyChange>,
    /// For `CREATE TABLE t (...)`, the definition its list gives; None for `LIKE`, for a table
    /// defined by a query alone, and for a list that could not be read.
    pub table_definition: Option<TableDefinition>,
    /// The database a `CREATE|ALTER|DROP DATABASE` is about.
    pub database: Option<String>,
    /// The index a `CREATE INDEX` or `DROP INDEX` names.
    pub index: Option<String>,
    pub flags: DdlFlags,
}

impl DdlStatement {
    /// A statement of `kind` that touches nothing yet.
    pub fn new(kind: DdlKind) -> Self {
        Self {
            kind,
            tables: Vec::new(),
            renames: Vec::new(),
            column_changes: Vec::new(),
            key_changes: Vec::new(),
            table_definition: None,
            database: None,
            index: None,
            flags: DdlFlags::default(),
        }
    }

    /// A statement the classifier could not read.
    pub fn unknown() -> Self {
        Self::new(DdlKind::Unknown)
    }
}

/// The modifiers of a DDL statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DdlFlags {
    /// The statement's own `IF EXISTS` (`DROP ...`, MariaDB's `ALTER TABLE IF EXISTS`, ...).
    pub if_exists: bool,
    /// The statement's own `IF NOT EXISTS` (`CREATE ...`).
    pub if_not_exists: bool,
    /// MariaDB's `CREATE OR REPLACE` (which drops an existing object first).
    pub or_replace: bool,
    /// `CREATE|DROP TEMPORARY TABLE`: a session's table, whose rows never reach a ROW binlog.
    pub temporary: bool,
    /// An `ALTER TABLE` that adds, drops, reorganises, exchanges or (re)defines partitions.
    pub partition: bool,
    /// `CREATE TABLE ... START TRANSACTION`: how MySQL >= 8.0.21 logs an atomic `CREATE TABLE ...
    /// SELECT`. Unlike other DDL it does not commit: the rows and an XID of the same transaction follow.
    pub starts_transaction: bool,
}

/// A table's old and new name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRename {
    pub from: TableName,
    pub to: TableName,
}

/// One column change of an `ALTER TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnChange {
    pub action: ColumnAction,
    /// The column as named before the change.
    pub column: String,
    /// The new name, for `CHANGE` and `RENAME COLUMN`.
    pub new_name: Option<String>,
    /// MariaDB's `IF [NOT] EXISTS` on the action: the server skips it, with a warning, when it does
    /// not apply.
    pub conditional: bool,
    /// `ADD`, `MODIFY`, `CHANGE`: the new definition, when it could be read.
    pub definition: Option<ColumnDefinition>,
    /// `ADD`, `MODIFY`, `CHANGE`: `FIRST` or `AFTER c`; None means where it was (`MODIFY`, `CHANGE`)
    /// or last (`ADD`).
    pub placement: Option<ColumnPlacement>,
}

/// What the schema history needs of a column's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition {
    /// The base type, lowercased, without length or attributes, synonyms resolved to the name
    /// `information_schema.COLUMNS.DATA_TYPE` gives: `int` (for `INTEGER`), `decimal` (for
    /// `NUMERIC`), `tinyint` (for `BOOLEAN`), `varchar`, `enum`, `set`, ...
    pub data_type: String,
    /// The labels of an `ENUM` or `SET`, in order, unescaped and without trailing spaces (which the
    /// server strips); empty for other types.
    pub labels: Vec<String>,
    /// Declared `PRIMARY KEY` (or just `KEY`) inline in the column's definition.
    pub primary_key: bool,
}

/// Where `ALTER TABLE ... ADD|MODIFY|CHANGE` puts a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnPlacement {
    First,
    /// `AFTER c`, `c` as written.
    After(String),
}

/// A change to the primary key, which identifies a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// The new key's columns, in key order. With MariaDB's `ADD PRIMARY KEY IF NOT EXISTS` the server
    /// skips it when the table already has a primary key (without it, that `ALTER` fails and is
    /// never logged).
    AddPrimaryKey(Vec<String>),
    DropPrimaryKey,
}

/// What `CREATE TABLE t (...)` defines: the columns in order and the primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// Every column, generated ones too (they are in the rows events), by name as written.
    pub columns: Vec<(String, ColumnDefinition)>,
    /// The primary key's columns in key order, declared inline or as a table constraint; empty if
    /// none was declared.
    pub primary_key: Vec<String>,
}

/// What an `ALTER TABLE` action does to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnAction {
    Add,
    Drop,
    /// `MODIFY`: a new definition, same name.
    Modify,
    /// `CHANGE old new ...`: a new definition and maybe a new name.
    Change,
    /// `RENAME COLUMN old TO new`.
    Rename,
    /// `ALTER [COLUMN] c SET|DROP DEFAULT`, `SET VISIBLE|INVISIBLE`.
    Alter,
}
