//! Reading a statement's verb and object, and the names that follow them.
//!
//! Each reader returns `None` when the names it expects are not there; the statement is then
//! [`DdlKind::Unknown`].

use super::cursor::Cursor;
use super::tokens::Token;
use super::{
    Classified, DdlKind, DdlStatement, KeyChange, NotDdl, TableRename, TransactionEffect, alter_table, definition,
};

/// Objects of `CREATE`, `ALTER` or `DROP` that are DDL of kind [`DdlKind::Other`].
const OTHER_OBJECTS: &[&str] = &[
    "USER",
    "ROLE",
    "PROCEDURE",
    "FUNCTION",
    "TRIGGER",
    "EVENT",
    "SERVER",
    "TABLESPACE",
    "UNDO",
    "LOGFILE",
    "SEQUENCE",
    "SPATIAL",
    "RESOURCE",
    "PACKAGE",
    "INSTANCE",
    "AGGREGATE",
];

/// Verbs of statements that are DDL of kind [`DdlKind::Other`] whatever follows.
const OTHER_VERBS: &[&str] = &[
    "GRANT",
    "REVOKE",
    "SET",
    "FLUSH",
    "INSTALL",
    "UNINSTALL",
    "RESET",
    "PURGE",
    "LOCK",
    "UNLOCK",
    "CALL",
    "DO",
    "KILL",
    "CACHE",
    "IMPORT",
    "BACKUP",
];

/// Verbs of table maintenance, `VERB [NO_WRITE_TO_BINLOG|LOCAL] TABLE a, b`.
const MAINTENANCE_VERBS: &[&str] = &["ANALYZE", "OPTIMIZE", "REPAIR", "CHECK", "CHECKSUM"];

/// Index kinds that may come between `CREATE` and `INDEX`.
const INDEX_KINDS: &[&str] = &["UNIQUE", "FULLTEXT", "SPATIAL", "VECTOR"];

fn transaction(effect: TransactionEffect) -> Classified {
    Classified::NotDdl(NotDdl::TransactionControl(effect))
}

pub(super) fn classify_tokens(tokens: &[Token], default_database: &str) -> Classified {
    let mut cursor = Cursor::new(without_statement_variables(tokens), default_database);
    let Some(verb) = cursor.next_keyword() else {
        return Classified::Ddl(DdlStatement::unknown());
    };
    let statement = match verb.as_str() {
        "BEGIN" if cursor.is_at_end() || cursor.is_keyword(0, "WORK") => return transaction(TransactionEffect::Begins),
        "START" if cursor.is_keyword(0, "TRANSACTION") => return transaction(TransactionEffect::Begins),
        "XA" if cursor.is_any_keyword(0, &["START", "BEGIN"]) => return transaction(TransactionEffect::Begins),
        "RELEASE" if cursor.is_keyword(0, "SAVEPOINT") => return transaction(TransactionEffect::Continues),
        "SAVEPOINT" => return transaction(TransactionEffect::Continues),
        "ROLLBACK" if cursor.is_keyword(0, "TO") || cursor.is_keyword(0, "WORK") && cursor.is_keyword(1, "TO") => {
            return transaction(TransactionEffect::Continues);
        }
        "COMMIT" | "ROLLBACK" | "XA" => return transaction(TransactionEffect::Ends),
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" => return Classified::NotDdl(NotDdl::DataChange),
        "LOAD" if cursor.is_any_keyword(0, &["DATA", "XML"]) => return Classified::NotDdl(NotDdl::DataChange),
        "LOAD" => Some(DdlStatement::new(DdlKind::Other)),
        "CREATE" => create_statement(&mut cursor),
        "ALTER" => alter_statement(&mut cursor),
        "DROP" => drop_statement(&mut cursor),
        "RENAME" => rename_statement(&mut cursor),
        "TRUNCATE" => truncate_statement(&mut cursor),
        _ if MAINTENANCE_VERBS.contains(&verb.as_str()) => Some(table_maintenance(&mut cursor)),
        _ if OTHER_VERBS.contains(&verb.as_str()) => Some(DdlStatement::new(DdlKind::Other)),
        _ => None,
    };
    Classified::Ddl(statement.unwrap_or_else(DdlStatement::unknown))
}

/// The statement after MariaDB's `SET STATEMENT var = value [, ...] FOR` prefixes, if any.
fn without_statement_variables(mut tokens: &[Token]) -> &[Token] {
    while tokens.first().is_some_and(|token| token.is_keyword("SET"))
        && tokens.get(1).is_some_and(|token| token.is_keyword("STATEMENT"))
    {
        let mut cursor = Cursor::new(tokens, "");
        if !cursor.skip_past_keyword("FOR") {
            break;
        }
        tokens = cursor.rest();
    }
    tokens
}

/// `CREATE [OR REPLACE] [modifiers] object ...`
fn create_statement(cursor: &mut Cursor) -> Option<DdlStatement> {
    let or_replace = cursor.eat_keywords(&["OR", "REPLACE"]);
    let mut temporary = false;
    loop {
        if cursor.eat_keyword("TEMPORARY") {
            temporary = true;
        } else if cursor.is_any_keyword(0, INDEX_KINDS) && cursor.is_any_keyword(1, &["INDEX", "KEY"]) {
            cursor.advance(1);
        } else if !skip_object_modifier(cursor) {
            break;
        }
    }
    let object = cursor.next_keyword()?;
    let mut statement = match object.as_str() {
        "DATABASE" | "SCHEMA" => {
            let if_not_exists = cursor.eat_if_not_exists();
            let mut statement = DdlStatement::new(DdlKind::CreateDatabase);
            statement.database = Some(cursor.identifier()?);
            statement.flags.if_not_exists = if_not_exists;
            statement
        }
        "TABLE" => create_table(cursor)?,
        "INDEX" => {
            let if_not_exists = cursor.eat_if_not_exists();
            let mut statement = index_on_table(cursor, DdlKind::CreateIndex)?;
            statement.flags.if_not_exists = if_not_exists;
            statement
        }
        "VIEW" => {
            let if_not_exists = cursor.eat_if_not_exists();
            let mut statement = DdlStatement::new(DdlKind::CreateView);
            statement.tables.push(cursor.table_name()?);
            statement.flags.if_not_exists = if_not_exists;
            statement
        }
        _ if OTHER_OBJECTS.contains(&object.as_str()) => {
            let mut statement = DdlStatement::new(DdlKind::Other);
            statement.flags.if_not_exists = cursor.eat_if_not_exists();
            statement
        }
        _ => return None,
    };
    statement.flags.or_replace = or_replace;
    statement.flags.temporary = temporary;
    Some(statement)
}

/// After `CREATE [TEMPORARY] TABLE`: the new table, and the source of `LIKE` or the definition.
fn create_table(cursor: &mut Cursor) -> Option<DdlStatement> {
    let mut statement = DdlStatement::new(DdlKind::CreateTable);
    statement.flags.if_not_exists = cursor.eat_if_not_exists();
    statement.tables.push(cursor.table_name()?);
    let like = cursor.eat_keyword("LIKE") || cursor.is_symbol(0, '(') && cursor.is_keyword(1, "LIKE");
    if like {
        cursor.eat_symbol('(');
        cursor.eat_keyword("LIKE");
        statement.tables.push(cursor.table_name()?);
    } else if cursor.is_symbol(0, '(') {
        statement.table_definition = definition::table_definition(cursor);
    }
    statement.flags.starts_transaction = cursor.ends_with_keywords(&["START", "TRANSACTION"]);
    Some(statement)
}

/// After `[CREATE|DROP] INDEX [IF [NOT] EXISTS]`: `name [USING type] ON table`.
fn index_on_table(cursor: &mut Cursor, kind: DdlKind) -> Option<DdlStatement> {
    let mut statement = DdlStatement::new(kind);
    statement.index = Some(cursor.identifier()?);
    if !cursor.skip_past_keyword("ON") {
        return None;
    }
    statement.tables.push(cursor.table_name()?);
    Some(statement)
}

/// Skips one of the modifiers that may come between `CREATE`/`ALTER` and the object:
/// `ALGORITHM = x`, `DEFINER = user`, `SQL SECURITY x`, `ONLINE`, `OFFLINE`. False if there is none.
fn skip_object_modifier(cursor: &mut Cursor) -> bool {
    if cursor.eat_keyword("ALGORITHM") {
        cursor.skip_assignment();
    } else if cursor.eat_keyword("DEFINER") {
        cursor.skip_definer();
    } else if cursor.eat_keywords(&["SQL", "SECURITY"]) {
        cursor.advance(1);
    } else if !cursor.eat_keyword("ONLINE") && !cursor.eat_keyword("OFFLINE") {
        return false;
    }
    true
}

/// `ALTER [modifiers] object ...`
fn alter_statement(cursor: &mut Cursor) -> Option<DdlStatement> {
    while cursor.eat_keyword("IGNORE") || skip_object_modifier(cursor) {}
    let object = cursor.next_keyword()?;
    match object.as_str() {
        "TABLE" => {
            let if_exists = cursor.eat_if_exists();
            let table = cursor.table_name()?;
            cursor.skip_wait_option();
            let actions = alter_table::read_actions(cursor);
            let mut statement = DdlStatement::new(DdlKind::AlterTable);
            statement.tables.push(table.clone());
            statement.tables.extend(actions.other_tables);
            statement.renames = actions
                .renamed_to
                .into_iter()
                .map(|to| TableRename {
                    from: table.clone(),
                    to,
                })
                .collect();
            statement.column_changes = actions.column_changes;
            statement.key_changes = actions.key_changes;
            statement.flags.if_exists = if_exists;
            statement.flags.partition = actions.partition;
            Some(statement)
        }
        "DATABASE" | "SCHEMA" => {
            let mut statement = DdlStatement::new(DdlKind::AlterDatabase);
            statement.database = if names_database(cursor) {
                cursor.identifier()
            } else {
                Some(cursor.default_database().to_owned()).filter(|name| !name.is_empty())
            };
            Some(statement)
        }
        "VIEW" => {
            let mut statement = DdlStatement::new(DdlKind::AlterView);
            statement.tables.push(cursor.table_name()?);
            Some(statement)
        }
        _ if OTHER_OBJECTS.contains(&object.as_str()) => {
            let mut statement = DdlStatement::new(DdlKind::Other);
            statement.flags.if_exists = cursor.eat_if_exists();
            Some(statement)
        }
        _ => None,
    }
}

/// After `ALTER DATABASE`: whether a name comes next, rather than the options of the default
/// database (`ALTER DATABASE CHARACTER SET ...`). `DEFAULT`, `CHARACTER`, `COLLATE` and `READ` are
/// reserved words, never a bare name; `CHARSET`, `ENCRYPTION` and `COMMENT` are a name only when an
/// option follows them.
fn names_database(cursor: &Cursor) -> bool {
    const RESERVED_OPTIONS: &[&str] = &["DEFAULT", "CHARACTER", "COLLATE", "READ"];
    const UNRESERVED_OPTIONS: &[&str] = &["CHARSET", "ENCRYPTION", "COMMENT"];
    match cursor.peek(0) {
        Some(Token::Quoted(_)) => true,
        Some(Token::Word(_)) if cursor.is_any_keyword(0, RESERVED_OPTIONS) => false,
        Some(Token::Word(_)) if cursor.is_any_keyword(0, UNRESERVED_OPTIONS) => {
            cursor.is_any_keyword(1, RESERVED_OPTIONS) || cursor.is_any_keyword(1, UNRESERVED_OPTIONS)
        }
        Some(Token::Word(_)) => true,
        _ => false,
    }
}

/// `DROP [TEMPORARY] [ONLINE|OFFLINE] object ...`
fn drop_statement(cursor: &mut Cursor) -> Option<DdlStatement> {
    let mut temporary = false;
    loop {
        if cursor.eat_keyword("TEMPORARY") {
            temporary = true;
        } else if !cursor.eat_keyword("ONLINE") && !cursor.eat_keyword("OFFLINE") {
            break;
        }
    }
    let object = cursor.next_keyword()?;
    let if_exists = cursor.eat_if_exists();
    let mut statement = match object.as_str() {
        "TABLE" | "TABLES" => {
            let mut statement = DdlStatement::new(DdlKind::DropTable);
            statement.tables = cursor.table_names()?;
            statement
        }
        "VIEW" => {
            let mut statement = DdlStatement::new(DdlKind::DropView);
            statement.tables = cursor.table_names()?;
            statement
        }
        "DATABASE" | "SCHEMA" => {
            let mut statement = DdlStatement::new(DdlKind::DropDatabase);
            statement.database = Some(cursor.identifier()?);
            statement
        }
        "INDEX" => {
            let mut statement = index_on_table(cursor, DdlKind::DropIndex)?;
            // The primary key is the index named `PRIMARY`.
            if statement
                .index
                .as_deref()
                .is_some_and(|index| index.eq_ignore_ascii_case("PRIMARY"))
            {
                statement.key_changes.push(KeyChange::DropPrimaryKey);
            }
            statement
        }
        _ if OTHER_OBJECTS.contains(&object.as_str()) => DdlStatement::new(DdlKind::Other),
        _ => return None,
    };
    statement.flags.if_exists = if_exists;
    statement.flags.temporary = temporary;
    Some(statement)
}

/// `RENAME TABLE[S] [IF EXISTS] a [WAIT n|NOWAIT] TO b, c TO d`, or `RENAME USER ...`.
fn rename_statement(cursor: &mut Cursor) -> Option<DdlStatement> {
    if cursor.eat_keyword("USER") {
        return Some(DdlStatement::new(DdlKind::Other));
    }
    if !cursor.eat_keyword("TABLE") && !cursor.eat_keyword("TABLES") {
        return None;
    }
    let mut statement = DdlStatement::new(DdlKind::RenameTable);
    statement.flags.if_exists = cursor.eat_if_exists();
    loop {
        let from = cursor.table_name()?;
        cursor.skip_wait_option();
        if !cursor.eat_keyword("TO") {
            return None;
        }
        let to = cursor.table_name()?;
        statement.tables.push(from.clone());
        statement.tables.push(to.clone());
        statement.renames.push(TableRename { from, to });
        if !cursor.eat_symbol(',') {
            return Some(statement);
        }
    }
}

/// `TRUNCATE [TABLE] t`
fn truncate_statement(cursor: &mut Cursor) -> Option<DdlStatement> {
    cursor.eat_keyword("TABLE");
    let mut statement = DdlStatement::new(DdlKind::TruncateTable);
    statement.tables.push(cursor.table_name()?);
    Some(statement)
}

/// `ANALYZE|OPTIMIZE|REPAIR|... [NO_WRITE_TO_BINLOG|LOCAL] TABLE a, b`: other DDL, with its tables
/// when they can be read.
fn table_maintenance(cursor: &mut Cursor) -> DdlStatement {
    let mut statement = DdlStatement::new(DdlKind::Other);
    cursor.eat_keyword("NO_WRITE_TO_BINLOG");
    cursor.eat_keyword("LOCAL");
    if cursor.eat_keyword("TABLE") || cursor.eat_keyword("TABLES") {
        statement.tables = cursor.table_names().unwrap_or_default();
    }
    statement
}
