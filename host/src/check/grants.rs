//! What `SHOW GRANTS` says the user may do, as far as sluice cares.
//!
//! The lines are read, never printed: MariaDB shows the password hash in them
//! (`... IDENTIFIED BY PASSWORD '*D821...'`). Privileges are kept by the level they were granted at:
//! global (`*.*`), per database (whose name may hold the LIKE wildcards `%` and `_`, `\_` being a
//! literal underscore), and per table. Column-level grants (`SELECT (a, b) ON t`) do not let sluice
//! read whole rows, so they are not counted. Privileges that come from roles are not expanded by
//! `SHOW GRANTS`; the roles are listed so a missing privilege can say it may come from one of them.

use std::collections::BTreeSet;

use crate::change::TableName;

/// The privileges of one user, by level.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Grants {
    global: BTreeSet<String>,
    /// `(database name pattern, privileges)`.
    databases: Vec<(String, BTreeSet<String>)>,
    /// `(database, table, privileges)`.
    tables: Vec<(String, String, BTreeSet<String>)>,
    /// Roles granted to the user, as written (`` `reader` `` or `` `reader`@`%` ``).
    roles: Vec<String>,
}

impl Grants {
    /// Reads the lines of `SHOW GRANTS`. Lines it does not understand are skipped.
    pub fn parse<S: AsRef<str>>(lines: &[S]) -> Self {
        let mut grants = Self::default();
        for line in lines {
            grants.add_line(line.as_ref().trim());
        }
        grants
    }

    fn add_line(&mut self, line: &str) {
        let Some(rest) = strip_prefix_ignore_case(line, "GRANT ") else {
            return;
        };
        let Some(to) = find_outside_quotes(rest, " TO ") else {
            return;
        };
        let (granted, _grantee) = rest.split_at(to);
        let Some(on) = find_outside_quotes(granted, " ON ") else {
            // `GRANT role[, role] TO user`: roles, not privileges.
            self.roles
                .extend(split_top_level(granted).into_iter().map(|role| role.trim().to_owned()));
            return;
        };
        let privileges: BTreeSet<String> = split_top_level(&granted[..on])
            .into_iter()
            .filter(|privilege| !privilege.contains('('))
            .map(normalise_privilege)
            .collect();
        let object = granted[on + " ON ".len()..].trim();
        if find_outside_quotes(object, " ").is_some() {
            // `FUNCTION f`, `PROCEDURE p`, `PROXY` targets: not about tables.
            return;
        }
        match split_object(object) {
            Some((database, table)) if database == "*" && table == "*" => self.global.extend(privileges),
            Some((database, table)) if table == "*" => self.databases.push((database, privileges)),
            Some((database, table)) => self.tables.push((database, table, privileges)),
            None => {}
        }
    }

    /// Whether `privilege` (upper case, e.g. `REPLICATION SLAVE`) is held on `*.*`.
    pub fn has_global(&self, privilege: &str) -> bool {
        holds(&self.global, privilege)
    }

    /// Whether whole rows of `table` may be selected.
    pub fn can_select(&self, table: &TableName) -> bool {
        self.can_select_in_database(&table.database, Some(&table.table))
    }

    /// Whether SELECT is held on all of `database`, or (with `table`) on that table; without `table`,
    /// on any table of it.
    pub fn can_select_in_database(&self, database: &str, table: Option<&str>) -> bool {
        self.has_global("SELECT")
            || self
                .databases
                .iter()
                .any(|(pattern, privileges)| holds(privileges, "SELECT") && like_match(pattern, database))
            || self.tables.iter().any(|(grant_database, grant_table, privileges)| {
                grant_database == database
                    && table.is_none_or(|table| grant_table == table)
                    && holds(privileges, "SELECT")
            })
    }

    /// The roles granted to the user, whose privileges `SHOW GRANTS` does not show.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
}

fn holds(privileges: &BTreeSet<String>, privilege: &str) -> bool {
    privileges.contains("ALL PRIVILEGES") || privileges.contains(privilege)
}

/// Upper case, single spaces, and MariaDB's names mapped to the ones sluice documents.
fn normalise_privilege(privilege: &str) -> String {
    let words: Vec<&str> = privilege.split_whitespace().collect();
    let name = words.join(" ").to_ascii_uppercase();
    match name.as_str() {
        "ALL" => "ALL PRIVILEGES".to_owned(),
        // MariaDB 10.5 renamed REPLICATION CLIENT; the old name is an alias.
        "BINLOG MONITOR" => "REPLICATION CLIENT".to_owned(),
        _ => name,
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// The byte offset of `needle` (ASCII, matched ignoring case) outside backtick and quote pairs.
fn find_outside_quotes(text: &str, needle: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut quote: Option<u8> = None;
    for (index, &byte) in bytes.iter().enumerate() {
        match quote {
            Some(open) if byte == open => quote = None,
            Some(_) => {}
            None if matches!(byte, b'`' | b'\'' | b'"') => quote = Some(byte),
            None => {
                if bytes.len() - index >= needle.len()
                    && bytes[index..index + needle.len()].eq_ignore_ascii_case(needle.as_bytes())
                {
                    return Some(index);
                }
            }
        }
    }
    None
}

/// Splits at commas outside parentheses and quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<char>, 0);
    for (index, character) in text.char_indices() {
        match (quote, character) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '`' | '\'' | '"') => quote = Some(character),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                parts.push(text[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts.retain(|part| !part.is_empty());
    parts
}

/// `` `db`.`table` ``, `db.*` or `*.*` into its two unquoted parts.
fn split_object(object: &str) -> Option<(String, String)> {
    let (database, rest) = take_identifier(object)?;
    let rest = rest.strip_prefix('.')?;
    let (table, rest) = take_identifier(rest)?;
    rest.is_empty().then_some((database, table))
}

/// One identifier, backtick-quoted (with `` `` `` for a backtick) or bare, and what follows it.
fn take_identifier(text: &str) -> Option<(String, &str)> {
    if let Some(quoted) = text.strip_prefix('`') {
        let mut name = String::new();
        let mut characters = quoted.char_indices().peekable();
        while let Some((index, character)) = characters.next() {
            if character == '`' {
                if characters.peek().is_some_and(|&(_, next)| next == '`') {
                    characters.next();
                    name.push('`');
                } else {
                    return Some((name, &quoted[index + 1..]));
                }
            } else {
                name.push(character);
            }
        }
        None
    } else {
        let end = text.find('.').unwrap_or(text.len());
        (end > 0).then(|| (text[..end].to_owned(), &text[end..]))
    }
}

/// SQL LIKE as grant tables use it: `%` any run, `_` one character, `\` escapes the next one.
fn like_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    like_from(&pattern, &text)
}

fn like_from(pattern: &[char], text: &[char]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some('%') => (0..=text.len()).any(|skip| like_from(&pattern[1..], &text[skip..])),
        Some('_') => !text.is_empty() && like_from(&pattern[1..], &text[1..]),
        Some('\\') if pattern.len() > 1 => text.first() == Some(&pattern[1]) && like_from(&pattern[2..], &text[1..]),
        Some(&literal) => text.first() == Some(&literal) && like_from(&pattern[1..], &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(database: &str, table: &str) -> TableName {
        TableName::new(database, table)
    }

    #[test]
    fn mariadb_global_grants_count_binlog_monitor_as_replication_client() {
        let grants = Grants::parse(&[
            "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `sluice`@`%` \
             IDENTIFIED BY PASSWORD '*D821809F681A40A6E379B50D0463EFAE20BDD122'",
        ]);
        for privilege in ["SELECT", "RELOAD", "REPLICATION SLAVE", "REPLICATION CLIENT"] {
            assert!(grants.has_global(privilege), "{privilege}");
        }
        assert!(grants.can_select(&table("shop", "orders")));
        assert!(grants.roles().is_empty());
    }

    #[test]
    fn all_privileges_hold_everything() {
        let grants = Grants::parse(&["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"]);
        assert!(grants.has_global("REPLICATION SLAVE"));
        assert!(grants.can_select(&table("any", "thing")));
    }

    #[test]
    fn database_and_table_grants_select_only_what_they_name() {
        let grants = Grants::parse(&[
            "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `sluice`@`%`",
            "GRANT SELECT ON `shop`.* TO `sluice`@`%`",
            "GRANT SELECT ON `a\\_b`.* TO `sluice`@`%`",
            "GRANT SELECT ON `logs%`.* TO `sluice`@`%`",
            "GRANT SELECT, INSERT ON `crm`.`customers` TO `sluice`@`%`",
            "GRANT SELECT (`id`, `name`) ON `crm`.`orders` TO `sluice`@`%`",
        ]);
        assert!(!grants.has_global("SELECT"));
        assert!(grants.can_select(&table("shop", "orders")));
        assert!(grants.can_select(&table("a_b", "t")));
        assert!(
            !grants.can_select(&table("axb", "t")),
            "an escaped underscore is literal"
        );
        assert!(grants.can_select(&table("logs_2024", "t")));
        assert!(grants.can_select(&table("crm", "customers")));
        assert!(
            !grants.can_select(&table("crm", "orders")),
            "a column grant is not whole rows"
        );
        assert!(grants.can_select_in_database("crm", None));
        assert!(!grants.can_select_in_database("hr", None));
    }

    #[test]
    fn mysql_grants_with_dynamic_privileges_and_roles() {
        let grants = Grants::parse(&[
            "GRANT REPLICATION SLAVE ON *.* TO `sluice`@`%`",
            "GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `sluice`@`%`",
            "GRANT `reader`@`%`,`ops` TO `sluice`@`%`",
        ]);
        assert!(grants.has_global("REPLICATION SLAVE"));
        assert!(grants.has_global("BACKUP_ADMIN"));
        assert!(!grants.has_global("REPLICATION CLIENT"));
        assert_eq!(grants.roles(), ["`reader`@`%`", "`ops`"]);
    }

    #[test]
    fn quoted_names_with_keywords_and_backticks_are_read_whole() {
        let grants = Grants::parse(&["GRANT SELECT ON `on to`.`we``ird` TO `sluice`@`%`"]);
        assert!(grants.can_select(&table("on to", "we`ird")));
        assert!(!grants.can_select(&table("on to", "weird")));
    }
}
