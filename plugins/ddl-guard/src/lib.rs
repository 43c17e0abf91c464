//! `ddl-guard`: an example sluice plugin playing the `ddl-policy` role only.
//!
//! Config keys:
//! - `halt_on`: comma-separated DDL kinds that stop the pipeline before the statement, as the
//!   contract names them (`drop-table`, `drop-database`, `truncate-table`, `unknown`, ...);
//! - `otherwise`: `forward` (default) publishes every other statement as a DTS `DDL` record, `keep`
//!   leaves the decision made before this plugin.
//!
//! It wants no rows: its interest names a table pattern nothing matches, so the host never calls its
//! (default) filter and mapping.

use sluice_guest::{Config, DdlDecision, DdlEvent, DdlKind, Interest, Plugin, PluginError};

/// A table pattern no table matches (names cannot contain a NUL byte).
const NO_TABLE: &str = "\0.\0";

pub struct DdlGuard {
    halt_on: Vec<DdlKind>,
    forward_others: bool,
}

/// The contract's name of a DDL kind.
fn kind_name(kind: DdlKind) -> &'static str {
    match kind {
        DdlKind::CreateDatabase => "create-database",
        DdlKind::AlterDatabase => "alter-database",
        DdlKind::DropDatabase => "drop-database",
        DdlKind::CreateTable => "create-table",
        DdlKind::AlterTable => "alter-table",
        DdlKind::DropTable => "drop-table",
        DdlKind::RenameTable => "rename-table",
        DdlKind::TruncateTable => "truncate-table",
        DdlKind::CreateIndex => "create-index",
        DdlKind::DropIndex => "drop-index",
        DdlKind::CreateView => "create-view",
        DdlKind::AlterView => "alter-view",
        DdlKind::DropView => "drop-view",
        DdlKind::Other => "other",
        DdlKind::Unknown => "unknown",
    }
}

const ALL_KINDS: [DdlKind; 15] = [
    DdlKind::CreateDatabase,
    DdlKind::AlterDatabase,
    DdlKind::DropDatabase,
    DdlKind::CreateTable,
    DdlKind::AlterTable,
    DdlKind::DropTable,
    DdlKind::RenameTable,
    DdlKind::TruncateTable,
    DdlKind::CreateIndex,
    DdlKind::DropIndex,
    DdlKind::CreateView,
    DdlKind::AlterView,
    DdlKind::DropView,
    DdlKind::Other,
    DdlKind::Unknown,
];

impl Plugin for DdlGuard {
    fn init(config: &Config) -> Result<Self, PluginError> {
        config.check_keys(&["halt_on", "otherwise"])?;
        let mut halt_on = Vec::new();
        for name in config.get("halt_on").unwrap_or("").split(',').map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let kind = ALL_KINDS
                .into_iter()
                .find(|kind| kind_name(*kind) == name.replace('_', "-"))
                .ok_or_else(|| {
                    PluginError::InvalidConfig(format!(
                        "halt_on: `{name}` is not a DDL kind; use one of {}",
                        ALL_KINDS.map(kind_name).join(", ")
                    ))
                })?;
            halt_on.push(kind);
        }
        let forward_others = match config.get("otherwise").unwrap_or("forward") {
            "forward" => true,
            "keep" => false,
            other => {
                return Err(PluginError::InvalidConfig(format!(
                    "otherwise: `{other}` is neither `forward` nor `keep`"
                )));
            }
        };
        Ok(DdlGuard {
            halt_on,
            forward_others,
        })
    }

    fn interest(&self) -> Interest {
        Interest::everything().with_tables([NO_TABLE])
    }

    fn decide_ddl(&self, event: &DdlEvent, previous: DdlDecision) -> Result<DdlDecision, PluginError> {
        if self.halt_on.contains(&event.kind) {
            return Ok(DdlDecision::Halt(format!(
                "ddl-guard halts on {} (config `halt_on`)",
                kind_name(event.kind)
            )));
        }
        Ok(if self.forward_others { DdlDecision::Forward } else { previous })
    }
}

sluice_guest::export_plugin!(DdlGuard);

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(config: &[(&str, &str)]) -> Result<DdlGuard, PluginError> {
        DdlGuard::init(&Config::from_pairs(config))
    }

    fn event(kind: DdlKind) -> DdlEvent {
        DdlEvent {
            database: "shop".to_owned(),
            statement: "DROP TABLE orders".to_owned(),
            kind,
            tables: vec![],
            position: String::new(),
        }
    }

    #[test]
    fn listed_kinds_halt_and_the_rest_are_forwarded() {
        let guard = guard(&[("halt_on", "drop-table, drop_database")]).unwrap();
        let decision = guard.decide_ddl(&event(DdlKind::DropTable), DdlDecision::Ignore).unwrap();
        assert_eq!(decision, DdlDecision::Halt("ddl-guard halts on drop-table (config `halt_on`)".into()));
        assert!(matches!(
            guard.decide_ddl(&event(DdlKind::DropDatabase), DdlDecision::Ignore).unwrap(),
            DdlDecision::Halt(_)
        ));
        assert_eq!(
            guard.decide_ddl(&event(DdlKind::AlterTable), DdlDecision::Ignore).unwrap(),
            DdlDecision::Forward
        );
    }

    #[test]
    fn keep_leaves_the_previous_decision() {
        let guard = guard(&[("otherwise", "keep")]).unwrap();
        assert_eq!(
            guard.decide_ddl(&event(DdlKind::DropTable), DdlDecision::Ignore).unwrap(),
            DdlDecision::Ignore
        );
    }

    #[test]
    fn a_bad_kind_is_an_invalid_config_naming_it() {
        let Err(PluginError::InvalidConfig(message)) = guard(&[("halt_on", "drop-everything")]) else {
            panic!("expected invalid-config");
        };
        assert!(message.starts_with("halt_on: `drop-everything` is not a DDL kind"), "{message}");
    }
}
