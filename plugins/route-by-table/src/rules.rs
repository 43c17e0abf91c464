//! The routing rules as plain Rust over plain strings.
//!
//! Nothing here knows about WebAssembly or the generated bindings, so the rules are unit-tested
//! natively with `cargo test`. [`Router::from_config`] validates the whole config up front: a bad
//! pattern or template fails `init` with a message naming the key, instead of failing later on some
//! batch. [`Router::drops`] is then asked once per change, and [`Router::decide`] once per table shape.

use std::fmt;

/// The config keys this plugin reads, in the order the error message lists them.
pub const KNOWN_KEYS: [&str; 2] = ["drop_tables", "topic_template"];

/// The `topic_template` used when the config gives none.
pub const DEFAULT_TOPIC_TEMPLATE: &str = "{database}.{table}";

/// What to do with the changes of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The table matches a `drop_tables` pattern: publish nothing.
    Drop,
    /// Publish to this topic.
    Keep { topic: String },
}

/// The validated config: which tables to drop and how to name the topics of the others.
#[derive(Clone, Debug)]
pub struct Router {
    drop_patterns: Vec<TablePattern>,
    topic_template: TopicTemplate,
}

impl Router {
    /// Validates the plugin's `config` table, given as the key/value pairs the host passes to `init`.
    pub fn from_config(config: &[(String, String)]) -> Result<Router, ConfigError> {
        let mut drop_tables: Option<&str> = None;
        let mut topic_template: Option<&str> = None;
        for (key, value) in config {
            let slot = match key.as_str() {
                "drop_tables" => &mut drop_tables,
                "topic_template" => &mut topic_template,
                _ => return Err(ConfigError::UnknownKey { key: key.clone() }),
            };
            if slot.replace(value.as_str()).is_some() {
                return Err(ConfigError::RepeatedKey { key: key.clone() });
            }
        }
        let drop_patterns = drop_tables
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(TablePattern::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let topic_template = TopicTemplate::parse(topic_template.unwrap_or(DEFAULT_TOPIC_TEMPLATE))?;
        Ok(Router {
            drop_patterns,
            topic_template,
        })
    }

    /// Whether the changes of the table named `qualified` (`database.table`) are dropped.
    pub fn drops(&self, qualified: &str) -> bool {
        self.drop_patterns.iter().any(|pattern| pattern.matches(qualified))
    }

    /// Decides what to do with the changes of table `database`.`table`.
    pub fn decide(&self, database: &str, table: &str) -> Result<Route, TopicError> {
        if self.drops(&format!("{database}.{table}")) {
            return Ok(Route::Drop);
        }
        let topic = self.topic_template.render(database, table);
        match topic_name_problem(&topic) {
            None => Ok(Route::Keep { topic }),
            Some(problem) => Err(TopicError {
                database: database.to_owned(),
                table: table.to_owned(),
                topic,
                problem,
            }),
        }
    }
}

/// A `drop_tables` entry such as `demo.audit_*`: literal text in which `*` matches any run of
/// characters (including none, and including `.`). Matching is case-sensitive.
#[derive(Clone, Debug)]
struct TablePattern {
    /// The pattern split at its `*`s: one part for a pattern without `*`, else the text before the
    /// first `*`, the texts between `*`s, and the text after the last `*`.
    parts: Vec<String>,
}

impl TablePattern {
    fn parse(text: &str) -> Result<TablePattern, ConfigError> {
        // A qualified name always contains a `.`; without `.` or `*` the entry can never match, which
        // is almost surely a table name written without its database.
        if !text.contains(['.', '*']) {
            return Err(ConfigError::PatternNeverMatches {
                pattern: text.to_owned(),
            });
        }
        Ok(TablePattern {
            parts: text.split('*').map(str::to_owned).collect(),
        })
    }

    /// Whether `qualified` (`database.table`) matches. Byte-wise comparison is exact for UTF-8: a
    /// literal part can only match starting at a character boundary.
    fn matches(&self, qualified: &str) -> bool {
        let (first, rest) = self.parts.split_first().expect("split yields at least one part");
        let Some((last, middle)) = rest.split_last() else {
            return qualified == first;
        };
        if qualified.len() < first.len() + last.len()
            || !qualified.starts_with(first.as_str())
            || !qualified.ends_with(last.as_str())
        {
            return false;
        }
        // Between the fixed prefix and suffix, taking each middle part at its leftmost occurrence
        // leaves the most room for the parts after it, so it finds a match whenever one exists.
        let mut between = &qualified[first.len()..qualified.len() - last.len()];
        for part in middle {
            match between.find(part.as_str()) {
                Some(at) => between = &between[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A parsed `topic_template`.
#[derive(Clone, Debug)]
struct TopicTemplate {
    segments: Vec<Segment>,
}

#[derive(Clone, Debug)]
enum Segment {
    Literal(String),
    Database,
    Table,
}

impl TopicTemplate {
    fn parse(template: &str) -> Result<TopicTemplate, ConfigError> {
        let invalid = |problem: TemplateProblem| ConfigError::InvalidTemplate {
            template: template.to_owned(),
            problem,
        };
        if template.is_empty() {
            return Err(invalid(TemplateProblem::Empty));
        }
        let mut segments = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(after_brace) = rest.strip_prefix('{') {
                let close = after_brace
                    .find('}')
                    .ok_or_else(|| invalid(TemplateProblem::UnmatchedBrace))?;
                segments.push(match &after_brace[..close] {
                    "database" => Segment::Database,
                    "table" => Segment::Table,
                    other => {
                        return Err(invalid(TemplateProblem::UnknownPlaceholder(other.to_owned())));
                    }
                });
                rest = &after_brace[close + 1..];
            } else {
                let end = rest.find(['{', '}']).unwrap_or(rest.len());
                if end == 0 {
                    return Err(invalid(TemplateProblem::UnmatchedBrace));
                }
                let literal = &rest[..end];
                if let Some(character) = literal.chars().find(|&c| !is_topic_character(c)) {
                    return Err(invalid(TemplateProblem::InvalidCharacter(character)));
                }
                segments.push(Segment::Literal(literal.to_owned()));
                rest = &rest[end..];
            }
        }
        Ok(TopicTemplate { segments })
    }

    fn render(&self, database: &str, table: &str) -> String {
        let mut topic = String::new();
        for segment in &self.segments {
            topic.push_str(match segment {
                Segment::Literal(text) => text,
                Segment::Database => database,
                Segment::Table => table,
            });
        }
        topic
    }
}

/// The longest topic name Kafka accepts.
const MAX_TOPIC_LENGTH: usize = 249;

fn is_topic_character(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Why Kafka would reject `topic`, if it would.
fn topic_name_problem(topic: &str) -> Option<String> {
    if topic.is_empty() {
        Some("it is empty".to_owned())
    } else if topic == "." || topic == ".." {
        Some(format!("`{topic}` is reserved"))
    } else if topic.len() > MAX_TOPIC_LENGTH {
        Some(format!(
            "it is {} characters long, the limit is {MAX_TOPIC_LENGTH}",
            topic.len()
        ))
    } else {
        topic
            .chars()
            .find(|&c| !is_topic_character(c))
            .map(|c| format!("it contains `{c}`; Kafka allows only ASCII letters, digits, `.`, `_` and `-`"))
    }
}

/// Why the plugin's `config` table is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    UnknownKey { key: String },
    RepeatedKey { key: String },
    PatternNeverMatches { pattern: String },
    InvalidTemplate { template: String, problem: TemplateProblem },
}

/// What is wrong with a `topic_template`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateProblem {
    Empty,
    UnmatchedBrace,
    UnknownPlaceholder(String),
    InvalidCharacter(char),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey { key } => {
                write!(f, "unknown config key `{key}`; known keys: {}", KNOWN_KEYS.join(", "))
            }
            ConfigError::RepeatedKey { key } => {
                write!(f, "config key `{key}` is given more than once")
            }
            ConfigError::PatternNeverMatches { pattern } => write!(
                f,
                "drop_tables entry `{pattern}` can never match: entries are matched against `database.table`, \
                 e.g. `{pattern}.*` or `*.{pattern}`"
            ),
            ConfigError::InvalidTemplate { template, problem } => {
                write!(f, "topic_template `{template}` ")?;
                match problem {
                    TemplateProblem::Empty => {
                        write!(f, "is empty; the default is `{DEFAULT_TOPIC_TEMPLATE}`")
                    }
                    TemplateProblem::UnmatchedBrace => write!(
                        f,
                        "has an unmatched `{{` or `}}`; the placeholders are `{{database}}` and `{{table}}`"
                    ),
                    TemplateProblem::UnknownPlaceholder(name) => write!(
                        f,
                        "has an unknown placeholder `{{{name}}}`; the placeholders are `{{database}}` and `{{table}}`"
                    ),
                    TemplateProblem::InvalidCharacter(c) => write!(
                        f,
                        "contains `{c}`, which a Kafka topic name cannot; use ASCII letters, digits, `.`, `_` and `-`"
                    ),
                }
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// A kept table whose rendered topic Kafka would reject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicError {
    pub database: String,
    pub table: String,
    pub topic: String,
    /// Why Kafka would reject the topic, e.g. `it contains `$`; ...`.
    pub problem: String,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table `{}`.`{}` is routed to topic `{}`, which Kafka rejects because {}; change topic_template \
             or add the table to drop_tables",
            self.database, self.table, self.topic, self.problem
        )
    }
}

impl std::error::Error for TopicError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(config: &[(&str, &str)]) -> Result<Router, ConfigError> {
        let config: Vec<(String, String)> = config
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        Router::from_config(&config)
    }

    fn keep(topic: &str) -> Route {
        Route::Keep {
            topic: topic.to_owned(),
        }
    }

    #[test]
    fn empty_config_keeps_every_table_on_a_database_dot_table_topic() {
        let router = configured(&[]).unwrap();
        assert_eq!(router.decide("demo", "orders").unwrap(), keep("demo.orders"));
    }

    #[test]
    fn tables_matching_a_drop_pattern_are_dropped() {
        let router = configured(&[("drop_tables", "demo.audit_*, *.tmp ,shop.carts")]).unwrap();
        assert_eq!(router.decide("demo", "audit_log").unwrap(), Route::Drop);
        assert_eq!(router.decide("demo", "audit_").unwrap(), Route::Drop);
        assert_eq!(router.decide("anything", "tmp").unwrap(), Route::Drop);
        assert_eq!(router.decide("shop", "carts").unwrap(), Route::Drop);
        assert_eq!(router.decide("demo", "orders").unwrap(), keep("demo.orders"));
        assert_eq!(router.decide("other", "audit_log").unwrap(), keep("other.audit_log"));
        assert_eq!(router.decide("demo", "tmpx").unwrap(), keep("demo.tmpx"));
        assert_eq!(router.decide("shop", "carts2").unwrap(), keep("shop.carts2"));
    }

    #[test]
    fn drop_patterns_are_case_sensitive_and_anchored() {
        let router = configured(&[("drop_tables", "demo.audit")]).unwrap();
        assert_eq!(router.decide("demo", "audit").unwrap(), Route::Drop);
        assert_eq!(router.decide("Demo", "audit").unwrap(), keep("Demo.audit"));
        assert_eq!(router.decide("xdemo", "audit").unwrap(), keep("xdemo.audit"));
        assert_eq!(router.decide("demo", "audits").unwrap(), keep("demo.audits"));
    }

    #[test]
    fn star_matches_any_run_including_empty_and_dots() {
        let pattern = TablePattern::parse("a*b*c").unwrap();
        assert!(pattern.matches("abc"));
        assert!(pattern.matches("a.b.c"));
        assert!(pattern.matches("axxbyybzzc"));
        assert!(!pattern.matches("acb"));
        // Prefix and suffix must not overlap.
        assert!(!TablePattern::parse("ab*ba").unwrap().matches("aba"));
        assert!(TablePattern::parse("ab*ba").unwrap().matches("abba"));
        assert!(TablePattern::parse("*").unwrap().matches("x.y"));
        assert!(TablePattern::parse("**.t").unwrap().matches("d.t"));
        assert!(TablePattern::parse("*é*.t").unwrap().matches("café.t"));
    }

    #[test]
    fn empty_drop_entries_are_ignored() {
        let router = configured(&[("drop_tables", " , demo.t ,, ")]).unwrap();
        assert_eq!(router.drop_patterns.len(), 1);
        assert_eq!(router.decide("demo", "t").unwrap(), Route::Drop);
        assert!(configured(&[("drop_tables", "")]).unwrap().drop_patterns.is_empty());
    }

    #[test]
    fn a_drop_entry_that_can_never_match_is_rejected() {
        let error = configured(&[("drop_tables", "demo.a, audit")]).unwrap_err();
        assert_eq!(
            error,
            ConfigError::PatternNeverMatches {
                pattern: "audit".to_owned()
            }
        );
        assert!(error.to_string().contains("`audit.*` or `*.audit`"), "{error}");
    }

    #[test]
    fn topic_template_placeholders_are_rendered() {
        let router = configured(&[("topic_template", "cdc-{database}_{table}.v1")]).unwrap();
        assert_eq!(router.decide("demo", "orders").unwrap(), keep("cdc-demo_orders.v1"));
        let router = router_with_template("all-changes");
        assert_eq!(router.decide("demo", "orders").unwrap(), keep("all-changes"));
        let router = router_with_template("{table}{table}");
        assert_eq!(router.decide("demo", "t").unwrap(), keep("tt"));
    }

    fn router_with_template(template: &str) -> Router {
        configured(&[("topic_template", template)]).unwrap()
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_known_ones() {
        let error = configured(&[("drop_table", "demo.x")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown config key `drop_table`; known keys: drop_tables, topic_template"
        );
    }

    #[test]
    fn a_repeated_key_is_rejected() {
        let error = configured(&[("topic_template", "a"), ("topic_template", "b")]).unwrap_err();
        assert_eq!(
            error,
            ConfigError::RepeatedKey {
                key: "topic_template".to_owned()
            }
        );
    }

    #[test]
    fn malformed_topic_templates_are_rejected() {
        let problem = |template: &str| match configured(&[("topic_template", template)]).unwrap_err() {
            ConfigError::InvalidTemplate { problem, .. } => problem,
            other => panic!("unexpected error {other:?}"),
        };
        assert_eq!(problem(""), TemplateProblem::Empty);
        assert_eq!(problem("{database"), TemplateProblem::UnmatchedBrace);
        assert_eq!(problem("x}"), TemplateProblem::UnmatchedBrace);
        assert_eq!(
            problem("{db}.{table}"),
            TemplateProblem::UnknownPlaceholder("db".to_owned())
        );
        assert_eq!(problem("{}"), TemplateProblem::UnknownPlaceholder(String::new()));
        assert_eq!(problem("cdc/{table}"), TemplateProblem::InvalidCharacter('/'));
        let message = configured(&[("topic_template", "{db}")]).unwrap_err().to_string();
        assert_eq!(
            message,
            "topic_template `{db}` has an unknown placeholder `{db}`; the placeholders are `{database}` and `{table}`"
        );
    }

    #[test]
    fn a_table_whose_topic_kafka_would_reject_is_an_error_naming_the_table() {
        let router = configured(&[]).unwrap();
        let error = router.decide("demo", "price$").unwrap_err();
        assert_eq!(error.topic, "demo.price$");
        assert!(
            error
                .to_string()
                .starts_with("table `demo`.`price$` is routed to topic `demo.price$`"),
            "{error}"
        );
        // The same table is fine once dropped.
        let router = configured(&[("drop_tables", "demo.price$")]).unwrap();
        assert_eq!(router.decide("demo", "price$").unwrap(), Route::Drop);
        // Too long.
        let long = "t".repeat(MAX_TOPIC_LENGTH);
        assert!(configured(&[]).unwrap().decide("demo", &long).is_err());
    }

    #[test]
    fn topic_name_rules_match_kafka() {
        assert_eq!(topic_name_problem("a.B_c-9"), None);
        assert!(topic_name_problem("").is_some());
        assert!(topic_name_problem(".").is_some());
        assert!(topic_name_problem("..").is_some());
        assert!(topic_name_problem("...").is_none());
        assert!(topic_name_problem(&"x".repeat(MAX_TOPIC_LENGTH)).is_none());
        assert!(topic_name_problem(&"x".repeat(MAX_TOPIC_LENGTH + 1)).is_some());
        assert!(topic_name_problem("café").is_some());
    }
}
