//! Splitting a statement into tokens: comments dropped, executable comments opened, quoting undone.
//!
//! The scanner walks the bytes and only ever stops at ASCII bytes, which in UTF-8 are always
//! character boundaries, so every slice it takes is valid text. It never fails: an unterminated
//! comment, identifier or literal simply runs to the end of the statement.

/// One token of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// A bare word: a keyword, an unquoted identifier or a number.
    Word(String),
    /// A `` `backtick` `` or `"double-quoted"` identifier, unescaped.
    Quoted(String),
    /// A `'string literal'`, unescaped; its content is never code.
    Literal(String),
    /// Any other character: `.`, `,`, `(`, `)`, `=`, `@`, `;`, ...
    Symbol(char),
}

impl Token {
    /// True for the bare word `keyword`, in any case.
    pub(super) fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

/// The tokens of `text`, without the semicolons that lead or end it.
pub(super) fn tokenize(text: &str) -> Vec<Token> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        position: 0,
        open_executable_comments: 0,
        tokens: Vec::new(),
    };
    scanner.scan();
    let mut tokens = scanner.tokens;
    while tokens.last() == Some(&Token::Symbol(';')) {
        tokens.pop();
    }
    let leading_semicolons = tokens.iter().take_while(|token| **token == Token::Symbol(';')).count();
    tokens.drain(..leading_semicolons);
    tokens
}

/// A byte that may be part of a bare word: MySQL's unquoted identifier characters (ASCII letters,
/// digits, `_`, `$`, and anything beyond ASCII).
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || !byte.is_ascii()
}

/// A string literal's content with its backslash escapes undone, as the server reads them: `\0`,
/// `\b`, `\n`, `\r`, `\t`, `\Z` are control characters, `\%` and `\_` keep their backslash (they
/// are `LIKE` escapes), and any other escaped character stands for itself.
fn unescape_literal(raw: &str) -> String {
    let mut value = String::with_capacity(raw.len());
    let mut characters = raw.chars();
    while let Some(character) = characters.next() {
        if character != '\\' {
            value.push(character);
            continue;
        }
        match characters.next() {
            Some('0') => value.push('\0'),
            Some('b') => value.push('\u{8}'),
            Some('n') => value.push('\n'),
            Some('r') => value.push('\r'),
            Some('t') => value.push('\t'),
            Some('Z') => value.push('\u{1a}'),
            Some(kept @ ('%' | '_')) => {
                value.push('\\');
                value.push(kept);
            }
            Some(escaped) => value.push(escaped),
            None => value.push('\\'),
        }
    }
    value
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    position: usize,
    /// How many `/*!` or `/*M!` are open, so that their `*/` is dropped rather than read as symbols.
    open_executable_comments: usize,
    tokens: Vec<Token>,
}

impl Scanner<'_> {
    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.position + offset).copied()
    }

    fn scan(&mut self) {
        while let Some(byte) = self.peek(0) {
            match byte {
                _ if byte.is_ascii_whitespace() => self.position += 1,
                b'/' if self.peek(1) == Some(b'*') => self.comment(),
                b'*' if self.peek(1) == Some(b'/') && self.open_executable_comments > 0 => {
                    self.open_executable_comments -= 1;
                    self.position += 2;
                }
                b'-' if self.is_double_dash_comment() => self.skip_line(),
                b'#' => self.skip_line(),
                b'`' => {
                    let name = self.quoted(b'`', false);
                    self.tokens.push(Token::Quoted(name));
                }
                b'"' => {
                    let name = self.quoted(b'"', true);
                    self.tokens.push(Token::Quoted(name));
                }
                b'\'' => {
                    let raw = self.quoted(b'\'', true);
                    self.tokens.push(Token::Literal(unescape_literal(&raw)));
                }
                _ if is_word_byte(byte) => self.word(),
                _ => {
                    self.tokens.push(Token::Symbol(char::from(byte)));
                    self.position += 1;
                }
            }
        }
    }

    /// At `/*`: an executable comment is opened (its marker and version skipped), any other comment
    /// skipped to its `*/`.
    fn comment(&mut self) {
        let marker_length = match (self.peek(2), self.peek(3)) {
            (Some(b'!'), _) => 3,
            (Some(b'M'), Some(b'!')) => 4,
            _ => {
                let body = self.position + 2;
                let rest = self.bytes.get(body..).unwrap_or_default();
                self.position = match rest.windows(2).position(|pair| pair == b"*/") {
                    Some(end) => body + end + 2,
                    None => self.bytes.len(),
                };
                return;
            }
        };
        self.position += marker_length;
        self.open_executable_comments += 1;
        // A server version: 5 digits (`50100`) or 6 (`100100`); any other run of digits is code.
        let digits = self.bytes.get(self.position..).unwrap_or_default();
        let version_length = digits.iter().take_while(|byte| byte.is_ascii_digit()).count();
        if version_length == 5 || version_length == 6 {
            self.position += version_length;
        }
    }

    /// At `-`: whether `--` starts a comment here, which takes a space or a control character (or
    /// the end) after it; `a--b` is a minus a minus b.
    fn is_double_dash_comment(&self) -> bool {
        self.peek(1) == Some(b'-') && self.peek(2).is_none_or(|next| next == b' ' || next.is_ascii_control())
    }

    /// Skips a `-- ` or `#` comment up to the end of its line.
    fn skip_line(&mut self) {
        while let Some(byte) = self.peek(0) {
            self.position += 1;
            if byte == b'\n' {
                break;
            }
        }
    }

    /// Reads a quoted text starting at its opening `quote`; a doubled quote stands for one, and with
    /// `backslash_escapes` a backslash keeps the next character from closing it (both are kept).
    fn quoted(&mut self, quote: u8, backslash_escapes: bool) -> String {
        self.position += 1;
        let mut value = Vec::new();
        while let Some(byte) = self.peek(0) {
            self.position += 1;
            if byte == quote {
                if self.peek(0) != Some(quote) {
                    break;
                }
                self.position += 1;
            } else if byte == b'\\' && backslash_escapes {
                value.push(byte);
                if let Some(escaped) = self.peek(0) {
                    value.push(escaped);
                    self.position += 1;
                }
                continue;
            }
            value.push(byte);
        }
        String::from_utf8_lossy(&value).into_owned()
    }

    fn word(&mut self) {
        let start = self.position;
        while self.peek(0).is_some_and(is_word_byte) {
            self.position += 1;
        }
        let word = self.text.get(start..self.position).unwrap_or_default();
        self.tokens.push(Token::Word(word.to_owned()));
    }
}
