//! The [`Plugin`] trait an author implements, and the [`Adapter`] that exports it as the component's
//! `full-plugin` world.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::exports::sluice::plugin::{ddl_policy, filter, mapping, plugin};
use crate::change::Change;
use crate::config::Config;
use crate::run::{self, Tables};
use crate::types::{
    ChangeBatch, DdlDecision, DdlEvent, Interest, PluginError, RowMapping, Table, TableMapping, Verdict,
};

/// A sluice plugin, written as plain methods over plain types.
///
/// Every role method has a default that keeps what the host or an earlier plugin chose, so a plugin
/// overrides only the roles it plays. A role method's error fails the whole call; the host then applies
/// the plugin's failure policy, so say what the operator should fix.
pub trait Plugin: Sized + 'static {
    /// Validates the plugin's config and builds its state. Called once per loaded version, before any
    /// other method. Reject unknown keys ([`Config::check_keys`]) with `invalid-config`.
    fn init(config: &Config) -> Result<Self, PluginError>;

    /// Which tables, operations and column values the plugin wants; the host shows it nothing else.
    /// By default: every table and operation, and no column values.
    fn interest(&self) -> Interest {
        Interest::everything()
    }

    /// Filter role: keep, drop or mask one change. By default: keep.
    fn filter(&self, change: &Change<'_>) -> Result<Verdict, PluginError> {
        let _ = change;
        Ok(Verdict::Keep)
    }

    /// Mapping role: how one table's changes are published, given what was chosen so far. Called once
    /// per table shape. By default: `previous`.
    fn map_table(&self, table: &Table, previous: TableMapping) -> Result<TableMapping, PluginError> {
        let _ = table;
        Ok(previous)
    }

    /// Mapping role: choices for one row of a table whose mapping set `per_row`. By default: none.
    fn map_row(&self, change: &Change<'_>) -> Result<RowMapping, PluginError> {
        let _ = change;
        Ok(RowMapping::unchanged())
    }

    /// DDL policy role: what to do with one statement, given the decision so far. By default:
    /// `previous`.
    fn decide_ddl(&self, event: &DdlEvent, previous: DdlDecision) -> Result<DdlDecision, PluginError> {
        let _ = event;
        Ok(previous)
    }
}

thread_local! {
    /// The plugin built by the last successful `init`. A component instance runs one call at a time on
    /// its only thread; the `Any` lets the generic [`Adapter`] keep one slot for whichever plugin type
    /// the component exports.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };

    /// The table shapes the host has shown this instance.
    static TABLES: RefCell<Tables> = RefCell::new(Tables::default());
}

/// Runs a batch role on the plugin, once the batch's new tables are remembered.
fn with_batch<P: Plugin, R>(
    batch: ChangeBatch,
    call: impl FnOnce(&P, &Tables, &ChangeBatch) -> Result<R, PluginError>,
) -> Result<R, PluginError> {
    let mut batch = batch;
    TABLES.with_borrow_mut(|tables| {
        tables.remember(std::mem::take(&mut batch.new_tables));
        with_plugin(|plugin: &P| call(plugin, tables, &batch))
    })
}

/// Runs `call` on the plugin that `init` built.
fn with_plugin<P: Plugin, R>(call: impl FnOnce(&P) -> Result<R, PluginError>) -> Result<R, PluginError> {
    INSTANCE.with_borrow(
        |instance| match instance.as_ref().and_then(|instance| instance.downcast_ref::<P>()) {
            Some(plugin) => call(plugin),
            None => Err(PluginError::Other(
                "the plugin was called before a successful init".to_owned(),
            )),
        },
    )
}

/// Implements the generated `full-plugin` exports for plugin `P`; [`crate::export_plugin!`] exports
/// it. Calling its methods natively drives the glue exactly as the host would.
pub struct Adapter<P>(PhantomData<P>);

impl<P: Plugin> plugin::Guest for Adapter<P> {
    fn init(config: Vec<(String, String)>) -> Result<Interest, PluginError> {
        let plugin = P::init(&Config::new(config))?;
        let interest = plugin.interest();
        INSTANCE.with_borrow_mut(|instance| *instance = Some(Box::new(plugin)));
        Ok(interest)
    }
}

impl<P: Plugin> filter::Guest for Adapter<P> {
    fn filter(batch: ChangeBatch) -> Result<filter::Filtered, PluginError> {
        with_batch(batch, run::filtered::<P>)
    }
}

impl<P: Plugin> mapping::Guest for Adapter<P> {
    fn map_table(table: Table, previous: TableMapping) -> Result<TableMapping, PluginError> {
        with_plugin(|plugin: &P| plugin.map_table(&table, previous))
    }

    fn map_rows(batch: ChangeBatch) -> Result<Vec<RowMapping>, PluginError> {
        with_batch(batch, run::map_rows::<P>)
    }
}

impl<P: Plugin> ddl_policy::Guest for Adapter<P> {
    fn decide(event: DdlEvent, previous: DdlDecision) -> Result<DdlDecision, PluginError> {
        with_plugin(|plugin: &P| plugin.decide_ddl(&event, previous))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::RowChange;
    use crate::types::{ColumnValue, Operation};

    /// Drops deletes, maps every table to the topic `t`, halts on DDL.
    struct Strict {
        topic: String,
    }

    impl Plugin for Strict {
        fn init(config: &Config) -> Result<Self, PluginError> {
            config.check_keys(&["topic"])?;
            Ok(Strict {
                topic: config.get("topic").unwrap_or("t").to_owned(),
            })
        }

        fn interest(&self) -> Interest {
            Interest::everything().with_columns(["id"])
        }

        fn filter(&self, change: &Change<'_>) -> Result<Verdict, PluginError> {
            Ok(match change.operation() {
                Operation::Delete => Verdict::Drop,
                _ => Verdict::Keep,
            })
        }

        fn map_table(&self, _table: &Table, previous: TableMapping) -> Result<TableMapping, PluginError> {
            Ok(TableMapping {
                topic: Some(self.topic.clone()),
                ..previous
            })
        }

        fn decide_ddl(&self, event: &DdlEvent, _previous: DdlDecision) -> Result<DdlDecision, PluginError> {
            Ok(DdlDecision::Halt(format!("no DDL please: {}", event.statement)))
        }
    }

    /// Overrides nothing.
    struct Passive;

    impl Plugin for Passive {
        fn init(_config: &Config) -> Result<Self, PluginError> {
            Ok(Passive)
        }
    }

    fn batch() -> ChangeBatch {
        ChangeBatch::of(
            vec![Table::new("shop", "orders", &[("id", 3)])],
            vec![
                RowChange::insert(0, vec![ColumnValue::Int(1)]),
                RowChange::delete(0, vec![ColumnValue::Int(1)]),
            ],
        )
    }

    /// The verdict words of an answer: 0 keep, 1 drop, 2 + n masked.
    fn verdicts(answer: filter::Filtered) -> Vec<u32> {
        answer
            .verdicts
            .chunks_exact(4)
            .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            .collect()
    }

    #[test]
    fn init_returns_the_interest_and_keeps_the_plugin_for_later_calls() {
        let interest = <Adapter<Strict> as plugin::Guest>::init(vec![("topic".into(), "x".into())]).unwrap();
        assert_eq!(interest.columns, ["id"]);
        let answer = <Adapter<Strict> as filter::Guest>::filter(batch()).unwrap();
        assert_eq!(verdicts(answer), [0, 1]);
        let table = Table::new("shop", "orders", &[]);
        let mapping = <Adapter<Strict> as mapping::Guest>::map_table(table, TableMapping::unchanged()).unwrap();
        assert_eq!(mapping.topic.as_deref(), Some("x"));
    }

    #[test]
    fn calls_before_a_successful_init_are_errors() {
        assert!(<Adapter<Strict> as plugin::Guest>::init(vec![("x".into(), String::new())]).is_err());
        let error = <Adapter<Strict> as filter::Guest>::filter(batch()).unwrap_err();
        assert!(matches!(error, PluginError::Other(message) if message.contains("before a successful init")));
    }

    #[test]
    fn the_default_roles_keep_what_was_chosen_before() {
        <Adapter<Passive> as plugin::Guest>::init(vec![]).unwrap();
        assert_eq!(
            verdicts(<Adapter<Passive> as filter::Guest>::filter(batch()).unwrap()),
            [0, 0]
        );
        let previous = TableMapping {
            topic: Some("before".into()),
            ..TableMapping::unchanged()
        };
        let table = Table::new("shop", "orders", &[]);
        let mapping = <Adapter<Passive> as mapping::Guest>::map_table(table, previous.clone()).unwrap();
        assert_eq!(mapping, previous);
        assert_eq!(
            <Adapter<Passive> as mapping::Guest>::map_rows(batch()).unwrap(),
            [RowMapping::unchanged(), RowMapping::unchanged()]
        );
        let event = DdlEvent {
            database: "shop".into(),
            statement: "DROP TABLE orders".into(),
            kind: crate::types::DdlKind::DropTable,
            tables: vec![],
            position: "mysql-bin.000001:4".into(),
        };
        let decision = <Adapter<Passive> as ddl_policy::Guest>::decide(event.clone(), DdlDecision::Forward).unwrap();
        assert_eq!(decision, DdlDecision::Forward);
        <Adapter<Strict> as plugin::Guest>::init(vec![]).unwrap();
        let decision = <Adapter<Strict> as ddl_policy::Guest>::decide(event, DdlDecision::Forward).unwrap();
        assert_eq!(decision, DdlDecision::Halt("no DDL please: DROP TABLE orders".into()));
    }
}
