//! The plugin: [`Router`] playing the filter role (drop the changes of dropped tables) and the mapping
//! role (choose each kept table's topic, once per table shape).

use sluice_guest::{Change, Config, Plans, Plugin, PluginError, Table, TableMapping, Verdict};

use crate::rules::{Route, Router};

/// The `route-by-table` plugin.
pub struct RouteByTable {
    router: Router,
    /// Per table shape: whether its changes are dropped, decided once rather than per change.
    drops: Plans<bool>,
}

impl Plugin for RouteByTable {
    fn init(config: &Config) -> Result<Self, PluginError> {
        let router =
            Router::from_config(config.pairs()).map_err(|error| PluginError::InvalidConfig(error.to_string()))?;
        Ok(RouteByTable {
            router,
            drops: Plans::new(),
        })
    }

    fn filter(&self, change: &Change<'_>) -> Result<Verdict, PluginError> {
        let drops = self
            .drops
            .of(change, |table| self.router.drops(&table.qualified_name()));
        Ok(if *drops { Verdict::Drop } else { Verdict::Keep })
    }

    fn map_table(&self, table: &Table, previous: TableMapping) -> Result<TableMapping, PluginError> {
        match self.router.decide(&table.database, &table.name) {
            // The filter drops every change of the table; nothing is published, so nothing to choose.
            Ok(Route::Drop) => Ok(previous),
            Ok(Route::Keep { topic }) => Ok(TableMapping {
                topic: Some(topic),
                ..previous
            }),
            Err(error) => Err(PluginError::Other(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_guest::{ChangeBatch, ColumnValue, RowChange, run};

    use super::*;

    fn plugin(config: &[(&str, &str)]) -> RouteByTable {
        RouteByTable::init(&Config::from_pairs(config)).unwrap()
    }

    fn table(database: &str, name: &str) -> Table {
        Table::new(database, name, &[("id", 3)])
    }

    #[test]
    fn changes_of_dropped_tables_are_dropped_and_the_rest_kept_in_order() {
        let plugin = plugin(&[("drop_tables", "demo.audit_*")]);
        let batch = ChangeBatch::of(
            vec![
                table("demo", "orders").carrying(&[]),
                table("demo", "audit_log").carrying(&[]),
            ],
            vec![
                RowChange::insert(0, vec![]),
                RowChange::insert(1, vec![]),
                RowChange::delete(1, vec![]),
                RowChange::update(0, vec![], vec![]),
            ],
        );
        let verdicts = run::filter(&plugin, &batch).unwrap();
        assert_eq!(verdicts, [Verdict::Keep, Verdict::Drop, Verdict::Drop, Verdict::Keep]);
    }

    #[test]
    fn a_kept_table_is_routed_to_its_templated_topic_keeping_earlier_choices() {
        let plugin = plugin(&[("topic_template", "cdc.{database}.{table}")]);
        let previous = TableMapping {
            key_columns: Some(vec![0]),
            topic: Some("earlier".to_owned()),
            ..TableMapping::unchanged()
        };
        let mapping = plugin.map_table(&table("demo", "orders"), previous).unwrap();
        assert_eq!(mapping.topic.as_deref(), Some("cdc.demo.orders"));
        assert_eq!(mapping.key_columns, Some(vec![0]));
    }

    #[test]
    fn a_dropped_table_keeps_the_previous_mapping() {
        let plugin = plugin(&[("drop_tables", "demo.price$")]);
        // Its topic would be invalid, but it is dropped, so that is no error.
        let mapping = plugin
            .map_table(&table("demo", "price$"), TableMapping::unchanged())
            .unwrap();
        assert_eq!(mapping, TableMapping::unchanged());
    }

    #[test]
    fn a_kept_table_whose_topic_kafka_rejects_is_an_error_naming_it() {
        let error = plugin(&[])
            .map_table(&table("demo", "price$"), TableMapping::unchanged())
            .unwrap_err();
        assert!(
            matches!(&error, PluginError::Other(message) if message.starts_with("table `demo`.`price$` is routed")),
            "{error:?}"
        );
    }

    #[test]
    fn a_bad_config_is_an_invalid_config_error() {
        let Err(PluginError::InvalidConfig(message)) = RouteByTable::init(&Config::from_pairs(&[("x", "")])) else {
            panic!("expected invalid-config");
        };
        assert!(message.starts_with("unknown config key `x`"), "{message}");
    }

    #[test]
    fn each_table_is_judged_by_its_own_name() {
        let plugin = plugin(&[("drop_tables", "d.t")]);
        let long = table("database", "a_long_table_name");
        let short = table("d", "t");
        let change = RowChange::insert(0, vec![ColumnValue::Int(1)]);
        assert_eq!(plugin.filter(&Change::new(&long, &change)).unwrap(), Verdict::Keep);
        assert_eq!(plugin.filter(&Change::new(&short, &change)).unwrap(), Verdict::Drop);
    }
}
