//! Properties over generated statements.
//!
//! Soup (random text, random bytes, random fragments of SQL) must never make the classifier panic.
//! Structured statements are built as pieces (keywords, names, symbols, literals) together with
//! what they mean, then rendered with random keyword case, random quoting and escaping of names
//! and literals, comments and whitespace between tokens, executable comments around runs of
//! tokens, and leading and trailing junk: the classification must be what was built.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use columns::{ColumnType, PrimaryKey, column_type, placement, primary_key, table_body, write_placement};

mod columns;

/// One token of a generated statement, before rendering.
#[derive(Debug, Clone)]
enum Piece {
    Keyword(&'static str),
    Name(String),
    Symbol(char),
    Literal(String),
}

/// A generated statement and what it must classify as.
#[derive(Debug, Clone)]
struct Built {
    pieces: Vec<Piece>,
    expected: Classified,
}

/// A table reference as generated: maybe qualified.
#[derive(Debug, Clone)]
struct TableRef {
    database: Option<String>,
    name: String,
}

impl TableRef {
    fn resolve(&self, default_database: &str) -> TableName {
        let database = self.database.as_deref().unwrap_or(default_database);
        TableName::new(database, self.name.clone())
    }
}

/// Appends pieces.
#[derive(Debug, Default)]
struct Writer {
    pieces: Vec<Piece>,
}

impl Writer {
    /// Appends each whitespace-separated word of `words` as a keyword (or a number).
    fn keywords(&mut self, words: &'static str) -> &mut Self {
        self.pieces.extend(words.split_whitespace().map(Piece::Keyword));
        self
    }

    fn keywords_if(&mut self, condition: bool, words: &'static str) -> &mut Self {
        if condition {
            self.keywords(words);
        }
        self
    }

    fn name(&mut self, name: &str) -> &mut Self {
        self.pieces.push(Piece::Name(name.to_owned()));
        self
    }

    fn table(&mut self, reference: &TableRef) -> &mut Self {
        if let Some(database) = &reference.database {
            self.name(database).symbol('.');
        }
        self.name(&reference.name)
    }

    fn tables(&mut self, references: &[TableRef]) -> &mut Self {
        for (index, reference) in references.iter().enumerate() {
            if index > 0 {
                self.symbol(',');
            }
            self.table(reference);
        }
        self
    }

    fn symbol(&mut self, symbol: char) -> &mut Self {
        self.pieces.push(Piece::Symbol(symbol));
        self
    }

    fn literal(&mut self, text: &str) -> &mut Self {
        self.pieces.push(Piece::Literal(text.to_owned()));
        self
    }

    fn built(&mut self, expected: Classified) -> Built {
        Built {
            pieces: std::mem::take(&mut self.pieces),
            expected,
        }
    }
}

// ---- generation -------------------------------------------------------------------------------

/// A name: mostly one that may stay bare (never a keyword: it holds a digit), sometimes one that
/// needs quoting (spaces, dots, quotes, comment markers, non-ASCII).
fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z]{1,3}[0-9][a-z0-9_]{0,4}",
        1 => "[A-Za-z0-9 _.`\"'*;#é表\\\\-]{1,8}",
    ]
}

fn table_ref() -> impl Strategy<Value = TableRef> {
    (proptest::option::of(identifier()), identifier()).prop_map(|(database, name)| TableRef { database, name })
}

/// String literal content with quotes, backslashes and SQL in it.
fn literal_text() -> impl Strategy<Value = String> {
    "[a-z ',;`\"()*/#\\\\-]{0,10}"
}

fn default_database() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z]{1,6}"]
}

fn ddl(statement: DdlStatement) -> Classified {
    Classified::Ddl(statement)
}

fn statement_with(kind: DdlKind, tables: Vec<TableName>, flags: DdlFlags) -> DdlStatement {
    let mut statement = DdlStatement::new(kind);
    statement.tables = tables;
    statement.flags = flags;
    statement
}

fn create_table(default: String) -> impl Strategy<Value = Built> {
    (
        any::<(bool, bool, bool, bool)>(),
        table_ref(),
        0..5u8,
        table_ref(),
        vec(identifier(), 1..3),
        literal_text(),
        (table_body(), 0..3u8),
    )
        .prop_map(
            move |(
                (or_replace, temporary, if_not_exists, starts_transaction),
                table,
                body,
                source,
                columns,
                text,
                (definition, query),
            )| {
                let mut writer = Writer::default();
                writer
                    .keywords("CREATE")
                    .keywords_if(or_replace, "OR REPLACE")
                    .keywords_if(temporary, "TEMPORARY")
                    .keywords("TABLE")
                    .keywords_if(if_not_exists, "IF NOT EXISTS")
                    .table(&table);
                let mut tables = vec![table.resolve(&default)];
                let mut table_definition = None;
                match body {
                    0 => {
                        definition.write(&mut writer);
                        writer.keywords("ENGINE").symbol('=').keywords("InnoDB");
                        // A query after the list adds rows, and leaves the list the definition.
                        writer.keywords(["", "SELECT 1", "IGNORE AS SELECT 1"][usize::from(query % 3)]);
                        table_definition = Some(definition.definition());
                    }
                    1 | 2 => {
                        let parenthesised = body == 2;
                        if parenthesised {
                            writer.symbol('(');
                        }
                        writer.keywords("LIKE").table(&source);
                        if parenthesised {
                            writer.symbol(')');
                        }
                        tables.push(source.resolve(&default));
                    }
                    3 => {
                        writer
                            .keywords("AS SELECT")
                            .literal(&text)
                            .keywords("AS")
                            .name(&columns[0]);
                    }
                    _ => {
                        writer.keywords("SELECT 1 FROM").table(&source);
                    }
                }
                writer.keywords_if(starts_transaction, "START TRANSACTION");
                let flags = DdlFlags {
                    or_replace,
                    temporary,
                    if_not_exists,
                    starts_transaction,
                    ..DdlFlags::default()
                };
                let mut statement = statement_with(DdlKind::CreateTable, tables, flags);
                statement.table_definition = table_definition;
                writer.built(ddl(statement))
            },
        )
}

/// One generated `ALTER TABLE` action.
#[derive(Debug, Clone)]
enum Action {
    AddColumn {
        column: String,
        keyword: bool,
        conditional: bool,
        column_type: ColumnType,
        placement: Option<ColumnPlacement>,
    },
    AddColumns(Vec<(String, ColumnType)>),
    DropColumn {
        column: String,
        keyword: bool,
        conditional: bool,
    },
    Modify {
        column: String,
        keyword: bool,
        column_type: ColumnType,
        placement: Option<ColumnPlacement>,
    },
    Change {
        column: String,
        new_name: String,
        column_type: ColumnType,
        placement: Option<ColumnPlacement>,
    },
    AddPrimaryKey(PrimaryKey),
    DropPrimaryKey(u8),
    RenameColumn {
        column: String,
        new_name: String,
    },
    AlterColumn {
        column: String,
        keyword: bool,
    },
    AddIndex {
        index: String,
        column: String,
    },
    DropIndex(String),
    TableOption(u8),
    RenameTable {
        to: TableRef,
        word: u8,
    },
    Partition {
        operation: u8,
        partition: String,
        other: TableRef,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (identifier(), any::<(bool, bool)>(), column_type(), placement()).prop_map(
            |(column, (keyword, conditional), column_type, placement)| Action::AddColumn {
                column,
                keyword,
                conditional,
                column_type,
                placement,
            }
        ),
        vec((identifier(), column_type()), 1..3).prop_map(Action::AddColumns),
        (identifier(), any::<bool>(), any::<bool>()).prop_map(|(column, keyword, conditional)| Action::DropColumn {
            column,
            keyword,
            conditional
        }),
        (identifier(), any::<bool>(), column_type(), placement()).prop_map(
            |(column, keyword, column_type, placement)| Action::Modify {
                column,
                keyword,
                column_type,
                placement,
            }
        ),
        (identifier(), identifier(), column_type(), placement()).prop_map(
            |(column, new_name, column_type, placement)| Action::Change {
                column,
                new_name,
                column_type,
                placement,
            }
        ),
        primary_key().prop_map(Action::AddPrimaryKey),
        (0..3u8).prop_map(Action::DropPrimaryKey),
        (identifier(), identifier()).prop_map(|(column, new_name)| Action::RenameColumn { column, new_name }),
        (identifier(), any::<bool>()).prop_map(|(column, keyword)| Action::AlterColumn { column, keyword }),
        (identifier(), identifier()).prop_map(|(index, column)| Action::AddIndex { index, column }),
        identifier().prop_map(Action::DropIndex),
        (0..3u8).prop_map(Action::TableOption),
        (table_ref(), 0..3u8).prop_map(|(to, word)| Action::RenameTable { to, word }),
        (0..8u8, identifier(), table_ref()).prop_map(|(operation, partition, other)| Action::Partition {
            operation,
            partition,
            other
        }),
    ]
}

fn column_change(action: ColumnAction, column: &str, new_name: Option<&str>, conditional: bool) -> ColumnChange {
    ColumnChange {
        action,
        column: column.to_owned(),
        new_name: new_name.map(str::to_owned),
        conditional,
        definition: None,
        placement: None,
    }
}

/// A column change with the definition and placement it must read as.
fn defined(
    change: ColumnChange,
    column_type: &ColumnType,
    primary_key: bool,
    placement: &Option<ColumnPlacement>,
) -> ColumnChange {
    ColumnChange {
        definition: Some(column_type.definition(primary_key)),
        placement: placement.clone(),
        ..change
    }
}

/// Writes one action and adds what it means to `statement`.
fn write_action(writer: &mut Writer, action: &Action, table: &TableName, default: &str, statement: &mut DdlStatement) {
    let changes = &mut statement.column_changes;
    match action {
        Action::AddColumn {
            column,
            keyword,
            conditional,
            column_type,
            placement,
        } => {
            writer
                .keywords("ADD")
                .keywords_if(*keyword, "COLUMN")
                .keywords_if(*conditional, "IF NOT EXISTS")
                .name(column);
            column_type.write(writer, false);
            write_placement(writer, placement);
            let change = column_change(ColumnAction::Add, column, None, *conditional);
            changes.push(defined(change, column_type, false, placement));
        }
        Action::AddColumns(columns) => {
            writer.keywords("ADD COLUMN").symbol('(');
            for (index, (column, column_type)) in columns.iter().enumerate() {
                if index > 0 {
                    writer.symbol(',');
                }
                writer.name(column);
                column_type.write(writer, false);
                let change = column_change(ColumnAction::Add, column, None, false);
                changes.push(defined(change, column_type, false, &None));
            }
            writer.symbol(')');
        }
        Action::DropColumn {
            column,
            keyword,
            conditional,
        } => {
            writer
                .keywords("DROP")
                .keywords_if(*keyword, "COLUMN")
                .keywords_if(*conditional, "IF EXISTS")
                .name(column);
            changes.push(column_change(ColumnAction::Drop, column, None, *conditional));
        }
        Action::Modify {
            column,
            keyword,
            column_type,
            placement,
        } => {
            writer.keywords("MODIFY").keywords_if(*keyword, "COLUMN").name(column);
            // An inline primary key where the type allows it.
            let primary_key = matches!(column_type, ColumnType::Int { not_null: true, .. });
            column_type.write(writer, primary_key);
            write_placement(writer, placement);
            let change = column_change(ColumnAction::Modify, column, None, false);
            changes.push(defined(change, column_type, primary_key, placement));
        }
        Action::Change {
            column,
            new_name,
            column_type,
            placement,
        } => {
            writer.keywords("CHANGE COLUMN").name(column).name(new_name);
            column_type.write(writer, false);
            write_placement(writer, placement);
            let change = column_change(ColumnAction::Change, column, Some(new_name), false);
            changes.push(defined(change, column_type, false, placement));
        }
        Action::AddPrimaryKey(key) => {
            writer.keywords("ADD");
            key.write(writer);
            statement.key_changes.push(KeyChange::AddPrimaryKey(key.columns()));
        }
        Action::DropPrimaryKey(form) => {
            match form {
                0 => writer.keywords("DROP PRIMARY KEY"),
                1 => writer.keywords("DROP INDEX").name("PRIMARY"),
                _ => writer.keywords("DROP KEY").name("primary"),
            };
            statement.key_changes.push(KeyChange::DropPrimaryKey);
        }
        Action::RenameColumn { column, new_name } => {
            writer
                .keywords("RENAME COLUMN")
                .name(column)
                .keywords("TO")
                .name(new_name);
            changes.push(column_change(ColumnAction::Rename, column, Some(new_name), false));
        }
        Action::AlterColumn { column, keyword } => {
            writer.keywords("ALTER").keywords_if(*keyword, "COLUMN").name(column);
            writer.keywords("SET DEFAULT").literal("x");
            changes.push(column_change(ColumnAction::Alter, column, None, false));
        }
        Action::AddIndex { index, column } => {
            writer
                .keywords("ADD UNIQUE INDEX")
                .name(index)
                .symbol('(')
                .name(column)
                .symbol(')');
        }
        Action::DropIndex(index) => {
            writer.keywords("DROP INDEX").name(index);
        }
        Action::TableOption(option) => {
            let (name, value) = match option {
                0 => ("ENGINE", "InnoDB"),
                1 => ("ALGORITHM", "INPLACE"),
                _ => ("LOCK", "NONE"),
            };
            writer.keywords(name).symbol('=').keywords(value);
        }
        Action::RenameTable { to, word } => {
            writer.keywords("RENAME");
            writer.keywords(["", "TO", "AS"][usize::from(*word % 3)]);
            writer.table(to);
            let to = to.resolve(default);
            statement.tables.push(to.clone());
            statement.renames.push(TableRename {
                from: table.clone(),
                to,
            });
        }
        Action::Partition {
            operation,
            partition,
            other,
        } => {
            statement.flags.partition = true;
            match operation {
                0 => {
                    writer
                        .keywords("ADD PARTITION")
                        .symbol('(')
                        .keywords("PARTITION")
                        .name(partition);
                    writer
                        .keywords("VALUES LESS THAN")
                        .symbol('(')
                        .keywords("10")
                        .symbol(')')
                        .symbol(')');
                }
                1 => {
                    writer.keywords("DROP PARTITION").name(partition);
                }
                2 => {
                    writer.keywords("TRUNCATE PARTITION").name(partition);
                }
                3 => {
                    writer
                        .keywords("EXCHANGE PARTITION")
                        .name(partition)
                        .keywords("WITH TABLE")
                        .table(other);
                    writer.keywords("WITHOUT VALIDATION");
                    statement.tables.push(other.resolve(default));
                }
                4 => {
                    writer.keywords("REMOVE PARTITIONING");
                }
                5 => {
                    writer.keywords("COALESCE PARTITION 2");
                }
                6 => {
                    writer
                        .keywords("CONVERT PARTITION")
                        .name(partition)
                        .keywords("TO TABLE")
                        .table(other);
                    statement.tables.push(other.resolve(default));
                }
                _ => {
                    writer
                        .keywords("CONVERT TABLE")
                        .table(other)
                        .keywords("TO PARTITION")
                        .name(partition);
                    writer
                        .keywords("VALUES LESS THAN")
                        .symbol('(')
                        .keywords("10")
                        .symbol(')');
                    statement.tables.push(other.resolve(default));
                }
            }
        }
    }
}

fn alter_table(default: String) -> impl Strategy<Value = Built> {
    let actions = vec(action(), 1..5).prop_filter("at most one table rename", |actions| {
        actions
            .iter()
            .filter(|action| matches!(action, Action::RenameTable { .. }))
            .count()
            <= 1
    });
    (any::<(bool, bool, bool, bool)>(), table_ref(), 0..3u8, actions).prop_map(
        move |((online, ignore, if_exists, partition_by), table, wait, actions)| {
            let mut writer = Writer::default();
            writer
                .keywords("ALTER")
                .keywords_if(online, "ONLINE")
                .keywords_if(ignore, "IGNORE")
                .keywords("TABLE")
                .keywords_if(if_exists, "IF EXISTS")
                .table(&table);
            writer.keywords(["", "WAIT 10", "NOWAIT"][usize::from(wait % 3)]);
            let resolved = table.resolve(&default);
            let mut statement = DdlStatement::new(DdlKind::AlterTable);
            statement.tables.push(resolved.clone());
            statement.flags.if_exists = if_exists;
            for (index, action) in actions.iter().enumerate() {
                if index > 0 {
                    writer.symbol(',');
                }
                write_action(&mut writer, action, &resolved, &default, &mut statement);
            }
            if partition_by {
                // Partition options follow the last action without a comma.
                writer
                    .keywords("PARTITION BY HASH")
                    .symbol('(')
                    .keywords("id")
                    .symbol(')');
                writer.keywords("PARTITIONS 4");
                statement.flags.partition = true;
            }
            writer.built(ddl(statement))
        },
    )
}

fn drop_table(default: String) -> impl Strategy<Value = Built> {
    (any::<(bool, bool)>(), vec(table_ref(), 1..4), 0..5u8).prop_map(
        move |((temporary, if_exists), tables, trailing)| {
            let mut writer = Writer::default();
            writer
                .keywords("DROP")
                .keywords_if(temporary, "TEMPORARY")
                .keywords("TABLE")
                .keywords_if(if_exists, "IF EXISTS")
                .tables(&tables);
            writer.keywords(["", "RESTRICT", "CASCADE", "WAIT 5", "NOWAIT"][usize::from(trailing % 5)]);
            let tables = tables.iter().map(|table| table.resolve(&default)).collect();
            let flags = DdlFlags {
                temporary,
                if_exists,
                ..DdlFlags::default()
            };
            writer.built(ddl(statement_with(DdlKind::DropTable, tables, flags)))
        },
    )
}

fn rename_table(default: String) -> impl Strategy<Value = Built> {
    (any::<bool>(), vec((table_ref(), table_ref(), any::<bool>()), 1..4)).prop_map(move |(plural, pairs)| {
        let mut writer = Writer::default();
        writer.keywords(if plural { "RENAME TABLES" } else { "RENAME TABLE" });
        let mut statement = DdlStatement::new(DdlKind::RenameTable);
        for (index, (from, to, wait)) in pairs.iter().enumerate() {
            if index > 0 {
                writer.symbol(',');
            }
            writer.table(from).keywords_if(*wait, "WAIT 2").keywords("TO").table(to);
            let (from, to) = (from.resolve(&default), to.resolve(&default));
            statement.tables.extend([from.clone(), to.clone()]);
            statement.renames.push(TableRename { from, to });
        }
        writer.built(ddl(statement))
    })
}

fn truncate_table(default: String) -> impl Strategy<Value = Built> {
    (any::<bool>(), table_ref()).prop_map(move |(keyword, table)| {
        let mut writer = Writer::default();
        writer.keywords("TRUNCATE").keywords_if(keyword, "TABLE").table(&table);
        let statement = statement_with(
            DdlKind::TruncateTable,
            vec![table.resolve(&default)],
            DdlFlags::default(),
        );
        writer.built(ddl(statement))
    })
}

fn index(default: String) -> impl Strategy<Value = Built> {
    (
        any::<(bool, bool, bool, bool)>(),
        0..4u8,
        identifier(),
        table_ref(),
        identifier(),
    )
        .prop_map(
            move |((create, or_replace, online, conditional), index_kind, index, table, column)| {
                let mut writer = Writer::default();
                let mut flags = DdlFlags::default();
                let kind = if create {
                    writer.keywords("CREATE").keywords_if(or_replace, "OR REPLACE");
                    writer.keywords_if(online, "ONLINE");
                    writer.keywords(["", "UNIQUE", "FULLTEXT", "SPATIAL"][usize::from(index_kind % 4)]);
                    writer
                        .keywords("INDEX")
                        .keywords_if(conditional, "IF NOT EXISTS")
                        .name(&index);
                    writer.keywords_if(online, "USING BTREE").keywords("ON").table(&table);
                    writer.symbol('(').name(&column).symbol(')');
                    flags.or_replace = or_replace;
                    flags.if_not_exists = conditional;
                    DdlKind::CreateIndex
                } else {
                    writer.keywords("DROP").keywords_if(online, "ONLINE").keywords("INDEX");
                    writer
                        .keywords_if(conditional, "IF EXISTS")
                        .name(&index)
                        .keywords("ON")
                        .table(&table);
                    writer.keywords_if(or_replace, "ALGORITHM = INPLACE");
                    flags.if_exists = conditional;
                    DdlKind::DropIndex
                };
                let mut statement = statement_with(kind, vec![table.resolve(&default)], flags);
                statement.index = Some(index);
                writer.built(ddl(statement))
            },
        )
}

/// `DEFINER = ...` in one of the forms servers write and users type.
fn write_definer(writer: &mut Writer, form: u8, user: &str, host: &str) {
    writer.keywords("DEFINER").symbol('=');
    match form % 5 {
        0 => writer.literal(user).symbol('@').literal(host),
        1 => writer.name(user).symbol('@').name(host),
        2 => writer.keywords("CURRENT_USER"),
        3 => writer.keywords("CURRENT_USER").symbol('(').symbol(')'),
        _ => writer.name(user),
    };
}

fn view(default: String) -> impl Strategy<Value = Built> {
    (
        0..3u8,
        any::<(bool, bool, bool, bool)>(),
        0..6u8,
        (identifier(), identifier()),
        vec(table_ref(), 1..3),
        vec(identifier(), 0..3),
    )
        .prop_map(
            move |(verb, (or_replace, algorithm, security, conditional), definer, (user, host), views, columns)| {
                let mut writer = Writer::default();
                let mut flags = DdlFlags::default();
                let (kind, views) = if verb == 2 {
                    writer
                        .keywords("DROP VIEW")
                        .keywords_if(conditional, "IF EXISTS")
                        .tables(&views);
                    flags.if_exists = conditional;
                    (DdlKind::DropView, views)
                } else {
                    let create = verb == 0;
                    writer.keywords(if create { "CREATE" } else { "ALTER" });
                    writer.keywords_if(create && or_replace, "OR REPLACE");
                    writer.keywords_if(algorithm, "ALGORITHM = MERGE");
                    if definer < 5 {
                        write_definer(&mut writer, definer, &user, &host);
                    }
                    writer.keywords_if(security, "SQL SECURITY INVOKER").keywords("VIEW");
                    writer.keywords_if(create && conditional, "IF NOT EXISTS");
                    let view = views[..1].to_vec();
                    writer.tables(&view);
                    if !columns.is_empty() {
                        writer.symbol('(');
                        for (index, column) in columns.iter().enumerate() {
                            if index > 0 {
                                writer.symbol(',');
                            }
                            writer.name(column);
                        }
                        writer.symbol(')');
                    }
                    writer
                        .keywords("AS SELECT")
                        .literal(&user)
                        .keywords("FROM")
                        .tables(&views);
                    flags.or_replace = create && or_replace;
                    flags.if_not_exists = create && conditional;
                    (
                        if create {
                            DdlKind::CreateView
                        } else {
                            DdlKind::AlterView
                        },
                        view,
                    )
                };
                let views = views.iter().map(|view| view.resolve(&default)).collect();
                writer.built(ddl(statement_with(kind, views, flags)))
            },
        )
}

fn database(default: String) -> impl Strategy<Value = Built> {
    (0..3u8, any::<(bool, bool, bool)>(), identifier(), 0..3u8).prop_map(
        move |(verb, (or_replace, conditional, named), name, options)| {
            let mut writer = Writer::default();
            let mut statement;
            match verb {
                0 => {
                    writer
                        .keywords("CREATE")
                        .keywords_if(or_replace, "OR REPLACE")
                        .keywords("DATABASE");
                    writer.keywords_if(conditional, "IF NOT EXISTS").name(&name);
                    statement = DdlStatement::new(DdlKind::CreateDatabase);
                    statement.flags.or_replace = or_replace;
                    statement.flags.if_not_exists = conditional;
                    statement.database = Some(name);
                }
                1 => {
                    writer.keywords("ALTER SCHEMA");
                    statement = DdlStatement::new(DdlKind::AlterDatabase);
                    if named {
                        writer.name(&name);
                        statement.database = Some(name);
                    } else {
                        statement.database = Some(default.clone()).filter(|name| !name.is_empty());
                    }
                }
                _ => {
                    writer
                        .keywords("DROP DATABASE")
                        .keywords_if(conditional, "IF EXISTS")
                        .name(&name);
                    statement = DdlStatement::new(DdlKind::DropDatabase);
                    statement.flags.if_exists = conditional;
                    statement.database = Some(name);
                }
            }
            if verb < 2 {
                writer.keywords(
                    [
                        "DEFAULT CHARACTER SET = utf8mb4",
                        "CHARACTER SET latin1 COLLATE latin1_bin",
                        "COLLATE = utf8mb4_bin",
                    ][usize::from(options % 3)],
                );
            }
            writer.built(ddl(statement))
        },
    )
}

fn other(default: String) -> impl Strategy<Value = Built> {
    (
        0..6u8,
        identifier(),
        identifier(),
        literal_text(),
        vec(table_ref(), 1..3),
        any::<bool>(),
    )
        .prop_map(move |(form, name, host, text, tables, conditional)| {
            let mut writer = Writer::default();
            let mut statement = DdlStatement::new(DdlKind::Other);
            match form {
                0 => {
                    writer
                        .keywords("GRANT SELECT , INSERT ON")
                        .table(&tables[0])
                        .keywords("TO");
                    writer.literal(&name).symbol('@').literal(&host);
                }
                1 => {
                    writer.keywords("CREATE USER").keywords_if(conditional, "IF NOT EXISTS");
                    writer
                        .literal(&name)
                        .symbol('@')
                        .literal(&host)
                        .keywords("IDENTIFIED BY")
                        .literal(&text);
                    statement.flags.if_not_exists = conditional;
                }
                2 => {
                    write_definer(writer.keywords("CREATE"), 1, &name, &host);
                    writer.keywords("PROCEDURE").name(&name).symbol('(').symbol(')');
                    writer
                        .keywords("BEGIN DROP TABLE")
                        .table(&tables[0])
                        .symbol(';')
                        .keywords("END");
                }
                3 => {
                    writer
                        .keywords("CREATE TRIGGER")
                        .name(&name)
                        .keywords("BEFORE INSERT ON")
                        .table(&tables[0]);
                    writer
                        .keywords("FOR EACH ROW SET NEW")
                        .symbol('.')
                        .name(&host)
                        .symbol('=')
                        .literal(&text);
                }
                4 => {
                    writer
                        .keywords("DROP EVENT")
                        .keywords_if(conditional, "IF EXISTS")
                        .name(&name);
                    statement.flags.if_exists = conditional;
                }
                _ => {
                    writer
                        .keywords("ANALYZE")
                        .keywords_if(conditional, "NO_WRITE_TO_BINLOG");
                    writer.keywords("TABLE").tables(&tables);
                    statement.tables = tables.iter().map(|table| table.resolve(&default)).collect();
                }
            }
            writer.built(ddl(statement))
        })
}

fn not_ddl() -> impl Strategy<Value = Built> {
    (0..8u8, identifier(), literal_text()).prop_map(|(form, name, text)| {
        let mut writer = Writer::default();
        let reason = match form {
            0 => {
                writer.keywords("BEGIN");
                NotDdl::TransactionControl(TransactionEffect::Begins)
            }
            1 => {
                writer.keywords("COMMIT");
                NotDdl::TransactionControl(TransactionEffect::Ends)
            }
            2 => {
                writer.keywords("ROLLBACK TO SAVEPOINT").name(&name);
                NotDdl::TransactionControl(TransactionEffect::Continues)
            }
            3 => {
                writer.keywords("XA START").literal(&text);
                NotDdl::TransactionControl(TransactionEffect::Begins)
            }
            4 => {
                writer.keywords("SAVEPOINT").name(&name);
                NotDdl::TransactionControl(TransactionEffect::Continues)
            }
            5 => {
                writer.keywords("START TRANSACTION");
                NotDdl::TransactionControl(TransactionEffect::Begins)
            }
            6 => {
                writer
                    .keywords("INSERT INTO")
                    .name(&name)
                    .keywords("VALUES")
                    .symbol('(')
                    .literal(&text)
                    .symbol(')');
                NotDdl::DataChange
            }
            _ => {
                writer.keywords("DELETE FROM").name(&name);
                NotDdl::DataChange
            }
        };
        writer.built(Classified::NotDdl(reason))
    })
}

/// A default database and a statement built in it.
fn built_statement() -> impl Strategy<Value = (String, Built)> {
    default_database().prop_flat_map(|default| {
        let statement = prop_oneof![
            create_table(default.clone()),
            alter_table(default.clone()),
            alter_table(default.clone()),
            drop_table(default.clone()),
            rename_table(default.clone()),
            truncate_table(default.clone()),
            index(default.clone()),
            view(default.clone()),
            database(default.clone()),
            other(default.clone()),
            not_ddl(),
        ];
        (Just(default), statement)
    })
}

// ---- rendering --------------------------------------------------------------------------------

/// Random choices for rendering, read in turn (and round again when used up).
struct Tape {
    values: Vec<u64>,
    read: usize,
}

impl Tape {
    fn choose(&mut self, choices: usize) -> usize {
        let value = self
            .values
            .get(self.read % self.values.len().max(1))
            .copied()
            .unwrap_or(0);
        let rounds = u32::try_from(self.read / self.values.len().max(1)).unwrap_or(0);
        self.read += 1;
        let value = value.rotate_left(rounds.wrapping_mul(7));
        usize::try_from(value % u64::try_from(choices.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[self.choose(choices.len())]
    }

    fn one_in(&mut self, odds: usize) -> bool {
        self.choose(odds) == 0
    }
}

/// Comment text: quotes and SQL, but never `*/` and never a leading `!` (which would make it code).
const COMMENT_TEXTS: &[&str] = &[
    "",
    "c",
    "it's",
    "a `b` \"c\"",
    "DROP TABLE x;",
    "-- #",
    "**",
    "/ *",
    "é",
];

/// Whitespace and comments that may stand between two tokens.
fn separator(tape: &mut Tape) -> String {
    let text = tape.pick(COMMENT_TEXTS);
    match tape.choose(9) {
        0 => "\n".into(),
        1 => "\t ".into(),
        2 => "\r\n".into(),
        3 => format!("/*{text}*/"),
        4 => format!(" /* {text} */ "),
        5 => format!(" -- {text}\n"),
        6 => format!("#{text}\n"),
        _ => " ".into(),
    }
}

fn render_keyword(keyword: &str, tape: &mut Tape) -> String {
    let case_mask = tape.choose(usize::MAX);
    keyword
        .chars()
        .enumerate()
        .map(|(index, character)| {
            if case_mask >> (index % usize::BITS as usize) & 1 == 1 {
                character.to_ascii_lowercase()
            } else {
                character.to_ascii_uppercase()
            }
        })
        .collect()
}

fn can_stay_bare(name: &str) -> bool {
    name.starts_with(|character: char| character.is_ascii_alphabetic())
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
        && name.chars().any(|character| character.is_ascii_digit())
}

fn render_name(name: &str, tape: &mut Tape) -> String {
    let backticked = format!("`{}`", name.replace('`', "``"));
    let double_quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let mut forms = vec![backticked];
    if can_stay_bare(name) {
        forms.push(name.to_owned());
    }
    if !name.contains('\\') {
        forms.push(double_quoted);
    }
    let choice = tape.choose(forms.len());
    forms.swap_remove(choice)
}

fn render_literal(text: &str, tape: &mut Tape) -> String {
    let mut rendered = String::from("'");
    for character in text.chars() {
        match character {
            '\'' => rendered.push_str(tape.pick(&["''", "\\'"])),
            '\\' => rendered.push_str("\\\\"),
            _ => rendered.push(character),
        }
    }
    rendered.push('\'');
    rendered
}

fn render_piece(piece: &Piece, tape: &mut Tape) -> String {
    match piece {
        Piece::Keyword(keyword) => render_keyword(keyword, tape),
        Piece::Name(name) => render_name(name, tape),
        Piece::Symbol(symbol) => symbol.to_string(),
        Piece::Literal(text) => render_literal(text, tape),
    }
}

/// The statement's text: pieces with separators, some runs of them in executable comments, and
/// junk before and after.
fn render(pieces: &[Piece], tape: &mut Tape) -> String {
    let mut text = String::from(tape.pick(&["", " ", "\n", ";", " ; ", "/* lead */", "-- lead\n", "# lead\n"]));
    let mut executable_comment_ends_at = None;
    for (index, piece) in pieces.iter().enumerate() {
        let next_to_symbol =
            matches!(piece, Piece::Symbol(_)) || index > 0 && matches!(pieces.get(index - 1), Some(Piece::Symbol(_)));
        if index > 0 && !(next_to_symbol && tape.one_in(2)) {
            text.push_str(&separator(tape));
        }
        if executable_comment_ends_at.is_none() && tape.one_in(6) {
            text.push_str(tape.pick(&["/*!", "/*!50100 ", "/*!80016 ", "/*M!", "/*M!100100 "]));
            executable_comment_ends_at = Some(index + tape.choose(3));
        }
        text.push_str(&render_piece(piece, tape));
        if executable_comment_ends_at == Some(index) {
            text.push_str(tape.pick(&["*/", " */", "\n*/"]));
            executable_comment_ends_at = None;
        }
    }
    if executable_comment_ends_at.is_some() {
        text.push_str(" */");
    }
    text.push_str(tape.pick(&["", ";", " ;; ", "\n", " -- trail", "/* trail */;", "# trail"]));
    text
}

/// Fragments of SQL and of its lexical syntax, for soup.
const FRAGMENTS: &[&str] = &[
    "CREATE",
    "ALTER",
    "DROP",
    "RENAME",
    "TRUNCATE",
    "TABLE",
    "TABLES",
    "INDEX",
    "VIEW",
    "DATABASE",
    "SCHEMA",
    "IF",
    "NOT",
    "EXISTS",
    "OR",
    "REPLACE",
    "TEMPORARY",
    "ONLINE",
    "IGNORE",
    "ADD",
    "COLUMN",
    "MODIFY",
    "CHANGE",
    "PARTITION",
    "EXCHANGE",
    "CONVERT",
    "WITH",
    "TO",
    "AS",
    "LIKE",
    "ON",
    "WAIT",
    "NOWAIT",
    "DEFINER",
    "ALGORITHM",
    "SQL",
    "SECURITY",
    "CURRENT_USER",
    "BEGIN",
    "XA",
    "GRANT",
    "ANALYZE",
    "t",
    "db",
    "`",
    "``",
    "\"",
    "'",
    "\\",
    "''",
    "/*",
    "*/",
    "/*!",
    "/*!50100",
    "/*M!",
    "/*M!100100",
    "--",
    "-- ",
    "#",
    "\n",
    "(",
    ")",
    ",",
    ".",
    ";",
    "=",
    "@",
    "é",
    "表",
    "5",
];

fn assert_no_panic(text: &str) {
    // Classification returns whatever it returns; reaching here without a panic is the property.
    let _ = classify(text, "db");
    let _ = classify(text, "");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_text_never_panics(text in any::<String>()) {
        assert_no_panic(&text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        assert_no_panic(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_sql_fragments_never_panic(fragments in vec((select(FRAGMENTS), any::<bool>()), 0..48)) {
        let text: String = fragments
            .iter()
            .map(|(fragment, spaced)| if *spaced { format!("{fragment} ") } else { (*fragment).to_owned() })
            .collect();
        assert_no_panic(&text);
    }

    #[test]
    fn built_statements_classify_as_built(
        (default_database, built) in built_statement(),
        tape in vec(any::<u64>(), 64),
        statement_variables in any::<bool>(),
    ) {
        let mut pieces = Vec::new();
        if statement_variables {
            // MariaDB's per-statement variables, which leave the statement what it is.
            let mut writer = Writer::default();
            writer.keywords("SET STATEMENT max_statement_time").symbol('=').keywords("10 FOR");
            pieces = writer.pieces;
        }
        pieces.extend(built.pieces);
        let text = render(&pieces, &mut Tape { values: tape, read: 0 });
        prop_assert_eq!(classify(&text, &default_database), built.expected, "{}", text);
    }
}
