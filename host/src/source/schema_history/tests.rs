use super::*;
use crate::source::ddl::{Classified, classify};

fn at(offset: u64) -> BinlogPosition {
    BinlogPosition::new("mysql-bin.000001", offset)
}

fn table(name: &str) -> TableName {
    TableName::new("shop", name)
}

fn statement(text: &str) -> DdlStatement {
    match classify(text, "shop") {
        Classified::Ddl(statement) => statement,
        other => panic!("`{text}` is not DDL: {other:?}"),
    }
}

/// A history that captures `shop.orders*`, after `statements` ran one after the other, 100 bytes
/// apart from offset 1000 on.
fn history_after(statements: &[&str]) -> SchemaHistory {
    let mut history = SchemaHistory::in_memory();
    for (index, text) in statements.iter().enumerate() {
        let here = at(1000 + 100 * index as u64);
        let after = at(1000 + 100 * index as u64 + 50);
        history.apply_ddl(
            &statement(text),
            &here,
            &after,
            |table| table.database == "shop" && table.table.starts_with("orders"),
            true,
        );
    }
    history
}

fn names(history: &SchemaHistory, table: &TableName, position: BinlogPosition) -> Vec<String> {
    history
        .shape_at(table, &position)
        .unwrap_or_else(|| {
            panic!(
                "no shape of {table} at {position}: {:?}",
                history.state_at(table, &position)
            )
        })
        .columns
        .iter()
        .map(|column| column.name.clone())
        .collect()
}

const CREATE: &str = "CREATE TABLE orders (id BIGINT PRIMARY KEY, b INT, c VARCHAR(10))";

#[test]
fn each_version_holds_from_the_end_of_its_statement() {
    let history = history_after(&[
        CREATE,
        "ALTER TABLE orders ADD COLUMN a0 INT FIRST",
        "ALTER TABLE orders ADD COLUMN mid INT AFTER b",
        "ALTER TABLE orders ADD COLUMN z INT",
        "ALTER TABLE orders DROP COLUMN c",
        "ALTER TABLE orders RENAME COLUMN b TO b2",
        "ALTER TABLE orders CHANGE COLUMN z zz BIGINT FIRST",
    ]);
    let orders = table("orders");
    assert_eq!(names(&history, &orders, at(1050)), ["id", "b", "c"]);
    assert_eq!(
        names(&history, &orders, at(1120)),
        ["id", "b", "c"],
        "before the ALTER ends"
    );
    assert_eq!(names(&history, &orders, at(1150)), ["a0", "id", "b", "c"]);
    assert_eq!(names(&history, &orders, at(1250)), ["a0", "id", "b", "mid", "c"]);
    assert_eq!(names(&history, &orders, at(1350)), ["a0", "id", "b", "mid", "c", "z"]);
    assert_eq!(names(&history, &orders, at(1450)), ["a0", "id", "b", "mid", "z"]);
    assert_eq!(names(&history, &orders, at(1550)), ["a0", "id", "b2", "mid", "z"]);
    assert_eq!(names(&history, &orders, at(9999)), ["zz", "a0", "id", "b2", "mid"]);
    assert_eq!(
        history.shape_at(&orders, &at(9999)).unwrap().key_indexes(),
        Some(vec![2])
    );
}

#[test]
fn enum_labels_and_keys_follow_modify_and_key_changes() {
    let history = history_after(&[
        "CREATE TABLE orders (id INT NOT NULL, state ENUM('new','paid'), CONSTRAINT pk PRIMARY KEY (id))",
        "ALTER TABLE orders MODIFY state ENUM('new','paid','shipped')",
        "ALTER TABLE orders DROP PRIMARY KEY, ADD PRIMARY KEY (id, state)",
    ]);
    let orders = table("orders");
    let shape = |offset| history.shape_at(&orders, &at(offset)).unwrap().clone();
    assert_eq!(shape(1050).columns[1].labels, ["new", "paid"]);
    assert_eq!(shape(1050).key, ["id"]);
    assert_eq!(shape(1150).columns[1].labels, ["new", "paid", "shipped"]);
    assert_eq!(shape(1250).key, ["id", "state"]);
}

#[test]
fn a_renamed_table_is_followed_and_the_old_name_is_gone() {
    let history = history_after(&[CREATE, "RENAME TABLE orders TO archive"]);
    let (orders, archive) = (table("orders"), table("archive"));
    assert!(history.is_followed(&archive), "renamed from a captured table");
    assert_eq!(names(&history, &archive, at(1150)), ["id", "b", "c"]);
    assert_eq!(history.state_at(&orders, &at(1150)), Some(&TableState::Absent));
    assert_eq!(names(&history, &orders, at(1050)), ["id", "b", "c"]);
}

#[test]
fn a_rename_to_an_uncaptured_name_is_not_followed_when_renames_stop_capture() {
    let mut history = history_after(&[CREATE]);
    history.apply_ddl(
        &statement("RENAME TABLE orders TO archive"),
        &at(2000),
        &at(2050),
        |table| table.table.starts_with("orders"),
        false,
    );
    assert!(!history.is_followed(&table("archive")));
    assert_eq!(history.state_at(&table("archive"), &at(2050)), None);
}

#[test]
fn a_swap_by_renames_swaps_the_shapes() {
    let history = history_after(&[
        CREATE,
        "CREATE TABLE orders_new (id BIGINT PRIMARY KEY, extra INT, b INT, c VARCHAR(10))",
        "RENAME TABLE orders TO orders_old, orders_new TO orders",
    ]);
    assert_eq!(names(&history, &table("orders"), at(1250)), ["id", "extra", "b", "c"]);
    assert_eq!(names(&history, &table("orders_old"), at(1250)), ["id", "b", "c"]);
    assert_eq!(
        history.state_at(&table("orders_new"), &at(1250)),
        Some(&TableState::Absent)
    );
}

#[test]
fn create_like_copies_and_drop_ends_a_table() {
    let history = history_after(&[CREATE, "CREATE TABLE orders_copy LIKE orders", "DROP TABLE orders"]);
    assert_eq!(names(&history, &table("orders_copy"), at(1150)), ["id", "b", "c"]);
    assert_eq!(history.state_at(&table("orders"), &at(1250)), Some(&TableState::Absent));
}

#[test]
fn what_cannot_be_applied_is_unknown_not_guessed() {
    let history = history_after(&[
        CREATE,
        "ALTER TABLE orders DROP COLUMN not_there",
        "ALTER TABLE orders ADD x INT",
    ]);
    let orders = table("orders");
    assert_eq!(history.state_at(&orders, &at(1150)), Some(&TableState::Unknown));
    assert_eq!(
        history.state_at(&orders, &at(1250)),
        Some(&TableState::Unknown),
        "nothing to apply the next ALTER to"
    );
}

#[test]
fn a_replayed_statement_adds_no_version_and_the_file_round_trips() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("schemas.json");
    let mut history = SchemaHistory::open(&path).unwrap();
    let create = statement(CREATE);
    let captured = |_: &TableName| true;
    assert!(history.apply_ddl(&create, &at(1000), &at(1050), captured, true));
    assert!(
        !history.apply_ddl(&create, &at(1000), &at(1050), captured, true),
        "replayed"
    );
    history.save().unwrap();
    let reopened = SchemaHistory::open(&path).unwrap();
    assert_eq!(reopened.tables, history.tables);
    std::fs::write(&path, "{ not json").unwrap();
    let error = SchemaHistory::open(&path).unwrap_err().to_string();
    assert!(error.contains("damaged") && error.contains("delete it"), "{error}");
}

#[test]
fn a_shape_fits_only_a_table_map_of_its_columns() {
    let history = history_after(&["CREATE TABLE orders (id INT PRIMARY KEY, state ENUM('a','b'))"]);
    let shape = history.shape_at(&table("orders"), &at(1050)).unwrap();
    assert!(shape.fits(&[type_code::LONG, type_code::STRING]));
    assert!(!shape.fits(&[type_code::LONG]), "column count");
    assert!(
        !shape.fits(&[type_code::LONG, type_code::LONG]),
        "an ENUM is logged as STRING"
    );
}

#[test]
fn the_default_file_sits_beside_the_checkpoint() {
    assert_eq!(
        default_path(Path::new("/var/lib/sluice/checkpoint.json")),
        Path::new("/var/lib/sluice/checkpoint.schema-history.json")
    );
}

#[test]
fn a_followed_rename_is_still_followed_after_reopening_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("schemas.json");
    let mut history = SchemaHistory::open(&path).unwrap();
    let only_orders = |table: &TableName| table.table == "orders";
    history.apply_ddl(&statement(CREATE), &at(1000), &at(1050), only_orders, true);
    history.apply_ddl(
        &statement("RENAME TABLE orders TO archive"),
        &at(1100),
        &at(1150),
        only_orders,
        true,
    );
    history.save().unwrap();
    let reopened = SchemaHistory::open(&path).unwrap();
    assert!(reopened.follows("shop", "archive"));
    assert!(
        !reopened.follows("shop", "orders"),
        "captured by the config, not followed"
    );
}
