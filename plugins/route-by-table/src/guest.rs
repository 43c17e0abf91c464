//! The component glue: the `row-plugin` world's exports, implemented over [`Router`].
//!
//! The host calls `init` once and then `handle` once per batch, on one instance that runs one call at
//! a time, so the router lives in a thread-local: there is only one thread.

use std::cell::RefCell;

use crate::rules::{Route, Router};

wit_bindgen::generate!({
    path: "../../wit",
    world: "row-plugin",
});

use exports::sluice::plugin::row_handler::Guest;
use sluice::plugin::types::{ChangeBatch, Decision, PluginError, Routing};

thread_local! {
    /// The router built by the last successful `init`.
    static ROUTER: RefCell<Option<Router>> = const { RefCell::new(None) };
}

struct RouteByTable;

impl Guest for RouteByTable {
    fn init(config: Vec<(String, String)>) -> Result<(), PluginError> {
        let router = Router::from_config(&config).map_err(|error| PluginError::InvalidConfig(error.to_string()))?;
        ROUTER.with_borrow_mut(|slot| *slot = Some(router));
        Ok(())
    }

    fn handle(batch: ChangeBatch) -> Result<Vec<Decision>, PluginError> {
        ROUTER.with_borrow(|router| {
            let router = router
                .as_ref()
                .ok_or_else(|| PluginError::Other("route-by-table: handle was called before init".to_owned()))?;
            // One decision per table, computed once; each change then only clones its table's.
            let table_decisions = batch
                .tables
                .iter()
                .map(|table| match router.decide(&table.database, &table.name) {
                    Ok(route) => Ok(decision(route)),
                    Err(error) => Err(PluginError::Other(error.to_string())),
                })
                .collect::<Result<Vec<_>, _>>()?;
            batch
                .changes
                .iter()
                .map(|change| {
                    table_decisions.get(change.table as usize).cloned().ok_or_else(|| {
                        PluginError::Other(format!(
                            "route-by-table: the change at {} refers to table {} but the batch lists {} tables",
                            change.position,
                            change.table,
                            batch.tables.len()
                        ))
                    })
                })
                .collect()
        })
    }
}

fn decision(route: Route) -> Decision {
    match route {
        Route::Drop => Decision::Drop,
        Route::Keep { topic } => Decision::Keep(Routing {
            topic: Some(topic),
            key: None,
            object_name: None,
        }),
    }
}

// The exported symbols (`sluice:plugin/row-handler@0.1.0#handle`, ...) are component ABI names that a
// native linker rejects, so only a wasm32 build exports them.
#[cfg(target_arch = "wasm32")]
export!(RouteByTable);

#[cfg(test)]
mod tests {
    //! The glue, driven natively through the generated types. Each test runs on its own thread, so
    //! each starts with no router.

    use super::*;
    use sluice::plugin::types::{Operation, RowChange, Table};

    fn table(database: &str, name: &str) -> Table {
        Table {
            database: database.to_owned(),
            name: name.to_owned(),
            columns: vec![],
            primary_key: vec![],
        }
    }

    fn change(table: u32) -> RowChange {
        RowChange {
            table,
            operation: Operation::Insert,
            before: None,
            after: Some(vec![]),
            position: format!("mysql-bin.000001:4#{table}"),
            commit_timestamp: 0,
            transaction_id: String::new(),
        }
    }

    fn topic(decision: &Decision) -> Option<&str> {
        match decision {
            Decision::Drop => None,
            Decision::Keep(routing) => {
                assert!(routing.key.is_none() && routing.object_name.is_none());
                Some(routing.topic.as_deref().expect("a kept change names its topic"))
            }
        }
    }

    #[test]
    fn every_change_gets_its_tables_decision_in_order() {
        let config = vec![("drop_tables".to_owned(), "demo.audit_*".to_owned())];
        RouteByTable::init(config).unwrap();
        let batch = ChangeBatch {
            tables: vec![table("demo", "orders"), table("demo", "audit_log")],
            changes: vec![change(0), change(1), change(1), change(0)],
        };
        let decisions = RouteByTable::handle(batch).unwrap();
        let topics: Vec<_> = decisions.iter().map(topic).collect();
        assert_eq!(topics, [Some("demo.orders"), None, None, Some("demo.orders")]);
    }

    #[test]
    fn an_empty_batch_gets_no_decisions() {
        RouteByTable::init(vec![]).unwrap();
        let batch = ChangeBatch {
            tables: vec![],
            changes: vec![],
        };
        assert!(RouteByTable::handle(batch).unwrap().is_empty());
    }

    #[test]
    fn a_bad_config_is_an_invalid_config_error() {
        let error = RouteByTable::init(vec![("x".to_owned(), String::new())]).unwrap_err();
        assert!(matches!(error, PluginError::InvalidConfig(message) if message.starts_with("unknown config key `x`")));
    }

    #[test]
    fn handle_before_init_is_an_error() {
        let batch = ChangeBatch {
            tables: vec![table("demo", "t")],
            changes: vec![change(0)],
        };
        assert!(matches!(RouteByTable::handle(batch), Err(PluginError::Other(_))));
    }

    #[test]
    fn a_change_naming_a_missing_table_is_an_error() {
        RouteByTable::init(vec![]).unwrap();
        let batch = ChangeBatch {
            tables: vec![table("demo", "t")],
            changes: vec![change(0), change(1)],
        };
        let Err(PluginError::Other(message)) = RouteByTable::handle(batch) else {
            panic!("expected an error")
        };
        assert!(
            message.contains("refers to table 1 but the batch lists 1 tables"),
            "{message}"
        );
    }
}
