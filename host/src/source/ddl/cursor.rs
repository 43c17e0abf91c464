//! Reading tokens from the front: keywords, names, and skipping what does not matter.

use super::tokens::Token;
use crate::change::TableName;

/// A position in a statement's tokens, with the default database that completes its table names.
pub(super) struct Cursor<'a> {
    tokens: &'a [Token],
    position: usize,
    default_database: &'a str,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(tokens: &'a [Token], default_database: &'a str) -> Self {
        Self {
            tokens,
            position: 0,
            default_database,
        }
    }

    pub(super) fn default_database(&self) -> &'a str {
        self.default_database
    }

    pub(super) fn peek(&self, offset: usize) -> Option<&'a Token> {
        self.tokens.get(self.position + offset)
    }

    pub(super) fn advance(&mut self, count: usize) {
        self.position = (self.position + count).min(self.tokens.len());
    }

    /// The tokens from here to the end.
    pub(super) fn rest(&self) -> &'a [Token] {
        self.tokens.get(self.position..).unwrap_or_default()
    }

    pub(super) fn is_at_end(&self) -> bool {
        self.position >= self.tokens.len()
    }

    /// The bare word here, upper-cased, consumed.
    pub(super) fn next_keyword(&mut self) -> Option<String> {
        match self.peek(0) {
            Some(Token::Word(word)) => {
                self.advance(1);
                Some(word.to_ascii_uppercase())
            }
            _ => None,
        }
    }

    /// True if the token `offset` ahead is the bare word `keyword`.
    pub(super) fn is_keyword(&self, offset: usize, keyword: &str) -> bool {
        self.peek(offset).is_some_and(|token| token.is_keyword(keyword))
    }

    /// True if the token `offset` ahead is one of the bare words `keywords`.
    pub(super) fn is_any_keyword(&self, offset: usize, keywords: &[&str]) -> bool {
        keywords.iter().any(|keyword| self.is_keyword(offset, keyword))
    }

    /// Consumes `keyword` if it is next.
    pub(super) fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(0, keyword);
        if found {
            self.advance(1);
        }
        found
    }

    /// Consumes the words `keywords` if all of them come next, in order; otherwise nothing.
    pub(super) fn eat_keywords(&mut self, keywords: &[&str]) -> bool {
        let found = keywords
            .iter()
            .enumerate()
            .all(|(offset, keyword)| self.is_keyword(offset, keyword));
        if found {
            self.advance(keywords.len());
        }
        found
    }

    /// True if the statement's last tokens are the bare words `keywords`.
    pub(super) fn ends_with_keywords(&self, keywords: &[&str]) -> bool {
        let Some(start) = self.tokens.len().checked_sub(keywords.len()) else {
            return false;
        };
        self.tokens[start..]
            .iter()
            .zip(keywords)
            .all(|(token, keyword)| token.is_keyword(keyword))
    }

    pub(super) fn eat_if_exists(&mut self) -> bool {
        self.eat_keywords(&["IF", "EXISTS"])
    }

    pub(super) fn eat_if_not_exists(&mut self) -> bool {
        self.eat_keywords(&["IF", "NOT", "EXISTS"])
    }

    pub(super) fn is_symbol(&self, offset: usize, symbol: char) -> bool {
        self.peek(offset) == Some(&Token::Symbol(symbol))
    }

    pub(super) fn eat_symbol(&mut self, symbol: char) -> bool {
        let found = self.is_symbol(0, symbol);
        if found {
            self.advance(1);
        }
        found
    }

    /// At `(`: the tokens inside it up to its matching `)`, all consumed (an unclosed one runs to the
    /// end). None, consuming nothing, if no `(` is next.
    pub(super) fn parenthesised(&mut self) -> Option<&'a [Token]> {
        if !self.eat_symbol('(') {
            return None;
        }
        let start = self.position;
        let mut depth = 0usize;
        while let Some(token) = self.peek(0) {
            self.advance(1);
            match token {
                Token::Symbol('(') => depth += 1,
                Token::Symbol(')') if depth == 0 => {
                    return self.tokens.get(start..self.position - 1);
                }
                Token::Symbol(')') => depth -= 1,
                _ => {}
            }
        }
        self.tokens.get(start..)
    }

    /// A bare or quoted identifier, consumed.
    pub(super) fn identifier(&mut self) -> Option<String> {
        match self.peek(0) {
            Some(Token::Word(name) | Token::Quoted(name)) => {
                self.advance(1);
                Some(name.clone())
            }
            _ => None,
        }
    }

    /// `table` or `database.table`; an unqualified name is in the default database.
    pub(super) fn table_name(&mut self) -> Option<TableName> {
        let first = self.identifier()?;
        if !self.eat_symbol('.') {
            return Some(TableName::new(self.default_database, first));
        }
        let table = self.identifier()?;
        Some(TableName::new(first, table))
    }

    /// One or more table names separated by commas.
    pub(super) fn table_names(&mut self) -> Option<Vec<TableName>> {
        let mut tables = vec![self.table_name()?];
        while self.eat_symbol(',') {
            tables.push(self.table_name()?);
        }
        Some(tables)
    }

    /// Skips MariaDB's lock-wait option: `WAIT n` or `NOWAIT`.
    pub(super) fn skip_wait_option(&mut self) {
        if self.eat_keyword("NOWAIT") {
            return;
        }
        if self.is_keyword(0, "WAIT") && matches!(self.peek(1), Some(Token::Word(_))) {
            self.advance(2);
        }
    }

    /// Skips `= value` (as after `ALGORITHM`), the `=` being optional.
    pub(super) fn skip_assignment(&mut self) {
        self.eat_symbol('=');
        self.advance(1);
    }

    /// Skips `= user` after `DEFINER`: `'name'@'host'`, `` `name`@`host` ``, `name@host` (a dotted
    /// host too), a role, or `CURRENT_USER[()]`.
    pub(super) fn skip_definer(&mut self) {
        self.eat_symbol('=');
        if self.eat_keyword("CURRENT_USER") {
            if self.is_symbol(0, '(') && self.is_symbol(1, ')') {
                self.advance(2);
            }
            return;
        }
        self.advance(1);
        if self.eat_symbol('@') {
            self.advance(1);
            while self.is_symbol(0, '.') && matches!(self.peek(1), Some(Token::Word(_))) {
                self.advance(2);
            }
        }
    }

    /// Moves to the next bare `keyword` outside parentheses and past it; false (at the end) if there is
    /// none.
    pub(super) fn skip_past_keyword(&mut self, keyword: &str) -> bool {
        let mut depth = 0usize;
        while let Some(token) = self.peek(0) {
            self.advance(1);
            match token {
                Token::Symbol('(') => depth += 1,
                Token::Symbol(')') => depth = depth.saturating_sub(1),
                _ if depth == 0 && token.is_keyword(keyword) => return true,
                _ => {}
            }
        }
        false
    }

    /// Moves to the next `,` or `)` outside parentheses (without consuming it) or to the end; true
    /// if it passed the bare word `PARTITION` on the way (as in a trailing `PARTITION BY`).
    pub(super) fn skip_to_separator_noting_partition(&mut self) -> bool {
        let mut depth = 0usize;
        let mut passed_partition = false;
        while let Some(token) = self.peek(0) {
            match token {
                Token::Symbol(',' | ')') if depth == 0 => break,
                Token::Symbol('(') => depth += 1,
                Token::Symbol(')') => depth -= 1,
                _ if depth == 0 && token.is_keyword("PARTITION") => passed_partition = true,
                _ => {}
            }
            self.advance(1);
        }
        passed_partition
    }
}
