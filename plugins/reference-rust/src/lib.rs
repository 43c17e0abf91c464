//! The sluice reference plugin in Rust: the same behaviour as `plugins/reference-python` and
//! `plugins/reference-js`, configured by the same keys (see the README):
//!
//! - filter: drops the deletes of the `drop_deletes_of` table, and masks the `mask_column` column with
//!   `***` where it holds a value;
//! - mapping: routes every table to the topic `topic_template` names;
//! - ddl-policy: keeps the decision made before it.

use std::cell::RefCell;
use std::rc::Rc;

use sluice_guest::{
    Change, ColumnValue, Config, DdlDecision, DdlEvent, Interest, MaskedColumn, Operation, Plans, Plugin, PluginError,
    Table, TableMapping, Verdict,
};

/// The config keys, in the order an error message lists them.
pub const KNOWN_KEYS: [&str; 3] = ["drop_deletes_of", "mask_column", "topic_template"];

/// What a masked value is published as.
pub const MASKED_TEXT: &str = "***";

/// The reference plugin's validated config.
#[derive(Debug)]
pub struct Reference {
    /// `database.table` whose deletes are dropped.
    drop_deletes_of: Option<String>,
    /// The column whose values are masked, in every table that has it.
    mask_column: Option<String>,
    /// The parsed `topic_template`.
    topic_template: Option<Vec<TopicPart>>,
    /// What each table shape's changes need, worked out once per shape.
    plans: Plans<TablePlan>,
    /// The edit masking column `n` (an index into a table's columns), shared by every table whose
    /// masked column is column `n`: the glue then recognises the edit set of a batch by its address
    /// alone, and sends it once.
    masks: RefCell<Vec<Option<Rc<[MaskedColumn]>>>>,
}

/// What the filter needs of one table shape.
#[derive(Debug)]
struct TablePlan {
    /// Whether it is the `drop_deletes_of` table.
    drops_deletes: bool,
    mask: MaskPlan,
}

/// How a table shape's `mask_column` is masked.
#[derive(Debug)]
enum MaskPlan {
    /// No `mask_column`, or the table has no such column.
    Nothing,
    /// By this edit of column `column`, shared by every masked change of the shape, so masking
    /// allocates nothing per change.
    Column { column: u32, edit: Rc<[MaskedColumn]> },
    /// Rows do not carry the column: an error rather than a leak.
    Uncarried(String),
}

#[derive(Debug, PartialEq, Eq)]
enum TopicPart {
    Literal(String),
    Database,
    Table,
}

/// Splits a template at its `{database}` and `{table}` placeholders; everything else is literal.
fn parse_template(template: &str) -> Vec<TopicPart> {
    let mut parts = Vec::new();
    let mut rest = template;
    loop {
        let next = [("{database}", TopicPart::Database), ("{table}", TopicPart::Table)]
            .into_iter()
            .filter_map(|(placeholder, part)| rest.find(placeholder).map(|at| (at, placeholder.len(), part)))
            .min_by_key(|&(at, _, _)| at);
        let Some((at, length, part)) = next else {
            if !rest.is_empty() {
                parts.push(TopicPart::Literal(rest.to_owned()));
            }
            return parts;
        };
        if at > 0 {
            parts.push(TopicPart::Literal(rest[..at].to_owned()));
        }
        parts.push(part);
        rest = &rest[at + length..];
    }
}

impl Reference {
    fn topic(&self, parts: &[TopicPart], table: &Table) -> String {
        parts
            .iter()
            .map(|part| match part {
                TopicPart::Literal(text) => text.as_str(),
                TopicPart::Database => &table.database,
                TopicPart::Table => &table.name,
            })
            .collect()
    }

    /// The edit that masks column `column`.
    fn mask(&self, column: u32) -> Rc<[MaskedColumn]> {
        let mut masks = self.masks.borrow_mut();
        let index = column as usize;
        if masks.len() <= index {
            masks.resize(index + 1, None);
        }
        masks[index]
            .get_or_insert_with(|| vec![MaskedColumn::replace(column, ColumnValue::text(MASKED_TEXT))].into())
            .clone()
    }

    fn plan(&self, table: &Table) -> TablePlan {
        let name = self.mask_column.as_deref();
        let mask = match name.and_then(|name| Some((name, table.column_index(name)?))) {
            None => MaskPlan::Nothing,
            Some((_, column)) if table.carried_position(column).is_some() => MaskPlan::Column {
                column,
                edit: self.mask(column),
            },
            Some((name, _)) => MaskPlan::Uncarried(format!(
                "column `{name}` of `{}.{}` was not carried, although the interest names it",
                table.database, table.name
            )),
        };
        TablePlan {
            drops_deletes: self.drops_deletes_of(table),
            mask,
        }
    }

    /// Whether `drop_deletes_of` is `database.table` of `table`, compared without building the name.
    fn drops_deletes_of(&self, table: &Table) -> bool {
        self.drop_deletes_of.as_deref().is_some_and(|qualified| {
            qualified.len() == table.database.len() + 1 + table.name.len()
                && qualified.starts_with(table.database.as_str())
                && qualified[table.database.len()..].starts_with('.')
                && qualified.ends_with(table.name.as_str())
        })
    }
}

impl Plugin for Reference {
    fn init(config: &Config) -> Result<Self, PluginError> {
        config.check_keys(&KNOWN_KEYS)?;
        if let Some((key, _)) = config.pairs().iter().find(|(_, value)| value.is_empty()) {
            return Err(PluginError::InvalidConfig(format!("config key `{key}` is empty")));
        }
        let drop_deletes_of = config.get("drop_deletes_of").map(str::to_owned);
        if let Some(name) = drop_deletes_of.as_deref().filter(|name| !name.contains('.')) {
            return Err(PluginError::InvalidConfig(format!(
                "drop_deletes_of `{name}` is not a `database.table` name"
            )));
        }
        Ok(Reference {
            drop_deletes_of,
            mask_column: config.get("mask_column").map(str::to_owned),
            topic_template: config.get("topic_template").map(parse_template),
            plans: Plans::new(),
            masks: RefCell::new(Vec::new()),
        })
    }

    fn interest(&self) -> Interest {
        Interest::everything().with_columns(self.mask_column.iter().cloned())
    }

    fn filter(&self, change: &Change<'_>) -> Result<Verdict, PluginError> {
        let plan = self.plans.of(change, |table| self.plan(table));
        if plan.drops_deletes && change.operation() == Operation::Delete {
            return Ok(Verdict::Drop);
        }
        match &plan.mask {
            MaskPlan::Nothing => Ok(Verdict::Keep),
            MaskPlan::Uncarried(message) => Err(PluginError::Other(message.clone())),
            // One edit covers both images: mask when either image holds a value (see the README).
            MaskPlan::Column { column, edit } if change.holds_value_at(*column) => {
                Ok(Verdict::KeepMasked(edit.clone()))
            }
            MaskPlan::Column { .. } => Ok(Verdict::Keep),
        }
    }

    fn map_table(&self, table: &Table, previous: TableMapping) -> Result<TableMapping, PluginError> {
        Ok(match &self.topic_template {
            Some(parts) => TableMapping {
                topic: Some(self.topic(parts, table)),
                ..previous
            },
            None => previous,
        })
    }

    fn decide_ddl(&self, _event: &DdlEvent, previous: DdlDecision) -> Result<DdlDecision, PluginError> {
        Ok(previous)
    }
}

sluice_guest::export_plugin!(Reference);

#[cfg(test)]
mod tests {
    use sluice_guest::{ChangeBatch, RowChange, run};

    use super::*;

    fn reference(config: &[(&str, &str)]) -> Reference {
        Reference::init(&Config::from_pairs(config)).unwrap()
    }

    fn init_error(config: &[(&str, &str)]) -> String {
        match Reference::init(&Config::from_pairs(config)) {
            Err(PluginError::InvalidConfig(message)) => message,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    fn users() -> Table {
        Table::new("shop", "users", &[("id", 3), ("email", 15)]).carrying(&["email"])
    }

    fn masked() -> Verdict {
        Verdict::KeepMasked(vec![MaskedColumn::replace(1, ColumnValue::text("***"))].into())
    }

    #[test]
    fn deletes_of_the_configured_table_only_are_dropped() {
        let plugin = reference(&[("drop_deletes_of", "shop.orders")]);
        let batch = ChangeBatch::of(
            vec![
                Table::new("shop", "orders", &[("id", 3)]).carrying(&[]),
                Table::new("shop", "orders_archive", &[("id", 3)]).carrying(&[]),
                Table::new("shop.o", "rders", &[("id", 3)]).carrying(&[]),
            ],
            vec![
                RowChange::delete(0, vec![]),
                RowChange::insert(0, vec![]),
                RowChange::update(0, vec![], vec![]),
                RowChange::delete(1, vec![]),
                RowChange::delete(2, vec![]),
            ],
        );
        let verdicts = run::filter(&plugin, &batch).unwrap();
        assert_eq!(
            verdicts,
            [
                Verdict::Drop,
                Verdict::Keep,
                Verdict::Keep,
                Verdict::Keep,
                Verdict::Keep
            ]
        );
    }

    #[test]
    fn the_masked_column_is_carried_and_masked_where_it_holds_a_value() {
        let plugin = reference(&[("mask_column", "email")]);
        assert_eq!(plugin.interest().columns, ["email"]);
        let table = users();
        let text = || ColumnValue::text("a@x");
        let verdict = |change: RowChange| plugin.filter(&Change::new(&table, &change)).unwrap();
        assert_eq!(verdict(RowChange::insert(0, vec![text()])), masked());
        assert_eq!(verdict(RowChange::insert(0, vec![ColumnValue::Null])), Verdict::Keep);
        assert_eq!(verdict(RowChange::delete(0, vec![text()])), masked());
        assert_eq!(
            verdict(RowChange::update(0, vec![ColumnValue::Null], vec![ColumnValue::Null])),
            Verdict::Keep
        );
        // Either image holding a value masks both: an edit covers both images.
        assert_eq!(
            verdict(RowChange::update(0, vec![ColumnValue::Null], vec![text()])),
            masked()
        );
        assert_eq!(
            verdict(RowChange::update(0, vec![text()], vec![ColumnValue::Null])),
            masked()
        );
    }

    #[test]
    fn a_table_without_the_masked_column_is_kept_as_it_is() {
        let plugin = reference(&[("mask_column", "email")]);
        let table = Table::new("shop", "items", &[("id", 3)]).carrying(&["email"]);
        let change = RowChange::insert(0, vec![]);
        assert_eq!(plugin.filter(&Change::new(&table, &change)).unwrap(), Verdict::Keep);
    }

    #[test]
    fn an_uncarried_masked_column_is_an_error_rather_than_a_leak() {
        let plugin = reference(&[("mask_column", "email")]);
        let table = Table::new("shop", "users", &[("id", 3), ("email", 15)]).carrying(&["id"]);
        let change = RowChange::insert(0, vec![ColumnValue::Int(1)]);
        assert!(plugin.filter(&Change::new(&table, &change)).is_err());
    }

    #[test]
    fn every_table_is_routed_by_the_template_keeping_earlier_choices() {
        let plugin = reference(&[("topic_template", "cdc.{database}.{table}.{table}")]);
        let previous = TableMapping {
            key_columns: Some(vec![0]),
            ..TableMapping::unchanged()
        };
        let mapping = plugin.map_table(&users(), previous).unwrap();
        assert_eq!(mapping.topic.as_deref(), Some("cdc.shop.users.users"));
        assert_eq!(mapping.key_columns, Some(vec![0]));
        // Placeholders inside names are not expanded again.
        let odd = Table::new("{table}", "t", &[]);
        let mapping = plugin.map_table(&odd, TableMapping::unchanged()).unwrap();
        assert_eq!(mapping.topic.as_deref(), Some("cdc.{table}.t.t"));
    }

    #[test]
    fn without_a_template_the_previous_mapping_stays() {
        let previous = TableMapping {
            topic: Some("chosen".to_owned()),
            ..TableMapping::unchanged()
        };
        let mapping = reference(&[]).map_table(&users(), previous.clone()).unwrap();
        assert_eq!(mapping, previous);
        assert!(reference(&[]).interest().columns.is_empty());
    }

    #[test]
    fn bad_configs_are_invalid_config_errors_naming_the_key() {
        assert_eq!(
            init_error(&[("mask", "email")]),
            "unknown config key `mask`; known keys: drop_deletes_of, mask_column, topic_template"
        );
        assert_eq!(init_error(&[("mask_column", "")]), "config key `mask_column` is empty");
        assert_eq!(
            init_error(&[("drop_deletes_of", "orders")]),
            "drop_deletes_of `orders` is not a `database.table` name"
        );
    }

    #[test]
    fn ddl_keeps_the_previous_decision() {
        let event = DdlEvent {
            database: "shop".to_owned(),
            statement: "ALTER TABLE users ADD note TEXT".to_owned(),
            kind: sluice_guest::DdlKind::AlterTable,
            tables: vec![],
            position: String::new(),
        };
        let decision = reference(&[]).decide_ddl(&event, DdlDecision::Forward).unwrap();
        assert_eq!(decision, DdlDecision::Forward);
    }
}
