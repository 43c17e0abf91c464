//! Table-driven cases: each statement with the kind, tables, renames and flags it must read as.
//! The default database is `app` unless a case says otherwise.

use super::*;
use DdlKind::*;

const DEFAULT_DATABASE: &str = "app";

const NO_FLAGS: DdlFlags = DdlFlags {
    if_exists: false,
    if_not_exists: false,
    or_replace: false,
    temporary: false,
    partition: false,
    starts_transaction: false,
};
const IF_EXISTS: DdlFlags = DdlFlags {
    if_exists: true,
    ..NO_FLAGS
};
const IF_NOT_EXISTS: DdlFlags = DdlFlags {
    if_not_exists: true,
    ..NO_FLAGS
};
const TEMPORARY: DdlFlags = DdlFlags {
    temporary: true,
    ..NO_FLAGS
};
const PARTITION: DdlFlags = DdlFlags {
    partition: true,
    ..NO_FLAGS
};
const OR_REPLACE: DdlFlags = DdlFlags {
    or_replace: true,
    ..NO_FLAGS
};

/// A statement and what it must read as: its kind, its tables as `(database, table)`, its flags.
type Case = (&'static str, DdlKind, &'static [(&'static str, &'static str)], DdlFlags);

fn classify_ddl(statement: &str, default_database: &str) -> DdlStatement {
    match classify(statement, default_database) {
        Classified::Ddl(ddl) => ddl,
        Classified::NotDdl(reason) => panic!("{statement:?} read as not DDL ({reason:?})"),
    }
}

fn table(database: &str, name: &str) -> TableName {
    TableName::new(database, name)
}

fn assert_cases(cases: &[Case]) {
    for (statement, kind, tables, flags) in cases {
        let ddl = classify_ddl(statement, DEFAULT_DATABASE);
        let expected_tables: Vec<TableName> = tables.iter().map(|(database, name)| table(database, name)).collect();
        assert_eq!(ddl.kind, *kind, "kind of {statement:?}");
        assert_eq!(ddl.tables, expected_tables, "tables of {statement:?}");
        assert_eq!(ddl.flags, *flags, "flags of {statement:?}");
    }
}

#[test]
fn every_kind_is_recognised() {
    assert_cases(&[
        ("CREATE DATABASE shop", CreateDatabase, &[], NO_FLAGS),
        ("create schema if not exists shop", CreateDatabase, &[], IF_NOT_EXISTS),
        (
            "ALTER DATABASE shop CHARACTER SET utf8mb4",
            AlterDatabase,
            &[],
            NO_FLAGS,
        ),
        ("DROP DATABASE IF EXISTS shop", DropDatabase, &[], IF_EXISTS),
        (
            "CREATE TABLE t (id INT PRIMARY KEY)",
            CreateTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        ("ALTER TABLE t ADD COLUMN c INT", AlterTable, &[("app", "t")], NO_FLAGS),
        ("DROP TABLE t", DropTable, &[("app", "t")], NO_FLAGS),
        (
            "RENAME TABLE t TO u",
            RenameTable,
            &[("app", "t"), ("app", "u")],
            NO_FLAGS,
        ),
        ("TRUNCATE TABLE t", TruncateTable, &[("app", "t")], NO_FLAGS),
        ("TRUNCATE t", TruncateTable, &[("app", "t")], NO_FLAGS),
        ("CREATE INDEX i ON t (c)", CreateIndex, &[("app", "t")], NO_FLAGS),
        (
            "CREATE UNIQUE INDEX i USING BTREE ON t (c)",
            CreateIndex,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "CREATE FULLTEXT INDEX i ON t (body)",
            CreateIndex,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "CREATE SPATIAL INDEX i ON shop.t (g)",
            CreateIndex,
            &[("shop", "t")],
            NO_FLAGS,
        ),
        ("DROP INDEX i ON t", DropIndex, &[("app", "t")], NO_FLAGS),
        ("CREATE VIEW v AS SELECT 1", CreateView, &[("app", "v")], NO_FLAGS),
        ("ALTER VIEW v AS SELECT 2", AlterView, &[("app", "v")], NO_FLAGS),
        (
            "DROP VIEW IF EXISTS v, shop.w",
            DropView,
            &[("app", "v"), ("shop", "w")],
            IF_EXISTS,
        ),
        ("GRANT SELECT ON shop.* TO 'u'@'%'", Other, &[], NO_FLAGS),
        ("", Unknown, &[], NO_FLAGS),
    ]);
}

#[test]
fn statements_about_no_table_are_other() {
    assert_cases(&[
        ("GRANT SELECT ON *.* TO 'u'@'%'", Other, &[], NO_FLAGS),
        ("REVOKE ALL PRIVILEGES ON shop.* FROM u", Other, &[], NO_FLAGS),
        (
            "CREATE USER 'u'@'%' IDENTIFIED BY 'it''s; DROP TABLE x'",
            Other,
            &[],
            NO_FLAGS,
        ),
        ("CREATE USER IF NOT EXISTS u", Other, &[], IF_NOT_EXISTS),
        ("DROP USER IF EXISTS u", Other, &[], IF_EXISTS),
        ("RENAME USER a TO b", Other, &[], NO_FLAGS),
        ("SET PASSWORD FOR 'u'@'%' = 'x'", Other, &[], NO_FLAGS),
        ("CREATE ROLE r", Other, &[], NO_FLAGS),
        (
            "CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN DROP TABLE x; END",
            Other,
            &[],
            NO_FLAGS,
        ),
        (
            "CREATE DEFINER=`root`@`localhost` FUNCTION f(a INT) RETURNS INT RETURN a",
            Other,
            &[],
            NO_FLAGS,
        ),
        (
            "CREATE AGGREGATE FUNCTION f() RETURNS INT BEGIN END",
            Other,
            &[],
            NO_FLAGS,
        ),
        (
            "CREATE DEFINER=root@localhost TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1",
            Other,
            &[],
            NO_FLAGS,
        ),
        (
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
            Other,
            &[],
            NO_FLAGS,
        ),
        ("ALTER EVENT e DISABLE", Other, &[], NO_FLAGS),
        ("DROP PROCEDURE IF EXISTS p", Other, &[], IF_EXISTS),
        ("CREATE SEQUENCE s START WITH 1", Other, &[], NO_FLAGS),
        ("CREATE SPATIAL REFERENCE SYSTEM 4120 NAME 'x'", Other, &[], NO_FLAGS),
        ("CREATE TABLESPACE ts ADD DATAFILE 'ts.ibd'", Other, &[], NO_FLAGS),
        ("ALTER USER u IDENTIFIED BY 'p'", Other, &[], NO_FLAGS),
        ("ALTER INSTANCE ROTATE INNODB MASTER KEY", Other, &[], NO_FLAGS),
        ("SET GLOBAL read_only = 1", Other, &[], NO_FLAGS),
        ("FLUSH PRIVILEGES", Other, &[], NO_FLAGS),
        ("INSTALL PLUGIN p SONAME 'p.so'", Other, &[], NO_FLAGS),
        (
            "ANALYZE TABLE t, shop.u",
            Other,
            &[("app", "t"), ("shop", "u")],
            NO_FLAGS,
        ),
        ("OPTIMIZE NO_WRITE_TO_BINLOG TABLE t", Other, &[("app", "t")], NO_FLAGS),
        ("REPAIR LOCAL TABLE t", Other, &[("app", "t")], NO_FLAGS),
    ]);
}

#[test]
fn transaction_control_and_data_changes_are_not_ddl() {
    use TransactionEffect::{Begins, Continues, Ends};
    for (statement, effect) in [
        ("BEGIN", Begins),
        ("begin work", Begins),
        ("START TRANSACTION", Begins),
        ("COMMIT", Ends),
        ("COMMIT WORK", Ends),
        ("ROLLBACK", Ends),
        ("ROLLBACK TO SAVEPOINT s", Continues),
        ("ROLLBACK WORK TO s", Continues),
        ("SAVEPOINT s", Continues),
        ("RELEASE SAVEPOINT s", Continues),
        ("XA START 'x'", Begins),
        ("XA BEGIN 'x'", Begins),
        ("XA END 'x'", Ends),
        ("XA PREPARE 'x'", Ends),
        ("XA COMMIT 'x'", Ends),
        ("XA ROLLBACK 'x'", Ends),
        (" /* a comment */ COMMIT ; ", Ends),
    ] {
        assert_eq!(
            classify(statement, DEFAULT_DATABASE),
            Classified::NotDdl(NotDdl::TransactionControl(effect)),
            "{statement:?}"
        );
    }
    for statement in [
        "INSERT INTO t VALUES (1)",
        "update t set a = 1",
        "DELETE FROM t",
        "REPLACE INTO t VALUES (1)",
        "LOAD DATA INFILE 'f' INTO TABLE t",
        "SET STATEMENT sql_mode='' FOR INSERT INTO t VALUES (1)",
    ] {
        assert_eq!(
            classify(statement, DEFAULT_DATABASE),
            Classified::NotDdl(NotDdl::DataChange),
            "{statement:?}"
        );
    }
}

#[test]
fn what_cannot_be_read_is_unknown() {
    assert_cases(&[
        ("", Unknown, &[], NO_FLAGS),
        (" ; ;; ", Unknown, &[], NO_FLAGS),
        ("/* only a comment */", Unknown, &[], NO_FLAGS),
        ("BEGIN NOT ATOMIC SELECT 1; END", Unknown, &[], NO_FLAGS),
        ("WITH x AS (SELECT 1) UPDATE t SET a = 1", Unknown, &[], NO_FLAGS),
        ("SELECT 1", Unknown, &[], NO_FLAGS),
        ("CREATE FROB x", Unknown, &[], NO_FLAGS),
        ("DROP TABLE", Unknown, &[], NO_FLAGS),
        ("DROP TABLE a,", Unknown, &[], NO_FLAGS),
        ("CREATE TABLE db.", Unknown, &[], NO_FLAGS),
        ("RENAME TABLE a b", Unknown, &[], NO_FLAGS),
        ("CREATE INDEX i (c)", Unknown, &[], NO_FLAGS),
        ("`CREATE` TABLE t", Unknown, &[], NO_FLAGS),
        ("'DROP TABLE t'", Unknown, &[], NO_FLAGS),
        ("-- DROP TABLE t", Unknown, &[], NO_FLAGS),
    ]);
}

#[test]
fn comments_between_tokens_are_skipped() {
    assert_cases(&[
        ("  DROP TABLE t ;;  ", DropTable, &[("app", "t")], NO_FLAGS),
        (";DROP TABLE t", DropTable, &[("app", "t")], NO_FLAGS),
        (
            "/* lead */ DROP /* a */ TABLE/*b*/t/* c */",
            DropTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "DROP -- to the end of the line\nTABLE t",
            DropTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "DROP # hash comment ` ' \"\nTABLE t",
            DropTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        ("DROP TABLE t -- trailing", DropTable, &[("app", "t")], NO_FLAGS),
        ("DROP TABLE t --", DropTable, &[("app", "t")], NO_FLAGS),
        ("DROP TABLE t --\u{1}, u", DropTable, &[("app", "t")], NO_FLAGS),
        ("DROP TABLE t /* unterminated", DropTable, &[("app", "t")], NO_FLAGS),
        ("DROP/**/TABLE/***/t", DropTable, &[("app", "t")], NO_FLAGS),
        // `--` without a following space is two minus signs, not a comment.
        ("DROP TABLE t--x", DropTable, &[("app", "t")], NO_FLAGS),
    ]);
}

#[test]
fn executable_comments_are_code() {
    assert_cases(&[
        (
            "DROP /*!40005 TEMPORARY */ TABLE IF EXISTS t",
            DropTable,
            &[("app", "t")],
            DdlFlags {
                if_exists: true,
                temporary: true,
                ..NO_FLAGS
            },
        ),
        ("/*!DROP TABLE t*/", DropTable, &[("app", "t")], NO_FLAGS),
        ("/*!50100 DROP */ TABLE t", DropTable, &[("app", "t")], NO_FLAGS),
        ("/*!80016 DROP */ TABLE t", DropTable, &[("app", "t")], NO_FLAGS),
        ("/*M! DROP */ TABLE t", DropTable, &[("app", "t")], NO_FLAGS),
        (
            "/*M!100100 CREATE OR REPLACE */ TABLE t (a INT)",
            CreateTable,
            &[("app", "t")],
            OR_REPLACE,
        ),
        (
            "CREATE TABLE /*!32312 IF NOT EXISTS*/ t (a INT)",
            CreateTable,
            &[("app", "t")],
            IF_NOT_EXISTS,
        ),
        // A regular comment inside an executable one.
        (
            "/*!50100 DROP /* not code */ TABLE */ t",
            DropTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        // A string literal holding `*/` inside an executable comment.
        (
            "ALTER TABLE t /*!50100 COMMENT '*/ DROP TABLE x' */",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER TABLE t /*!50100 PARTITION BY HASH (id) PARTITIONS 4 */",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
    ]);
}

#[test]
fn quoted_names_are_unescaped() {
    assert_cases(&[
        ("DROP TABLE `t`", DropTable, &[("app", "t")], NO_FLAGS),
        ("DROP TABLE `a``b`", DropTable, &[("app", "a`b")], NO_FLAGS),
        ("DROP TABLE `shop`.`t`", DropTable, &[("shop", "t")], NO_FLAGS),
        ("DROP TABLE shop.`t`", DropTable, &[("shop", "t")], NO_FLAGS),
        (
            "DROP TABLE `db.with.dots`",
            DropTable,
            &[("app", "db.with.dots")],
            NO_FLAGS,
        ),
        ("DROP TABLE `d.b`.`t.x`", DropTable, &[("d.b", "t.x")], NO_FLAGS),
        ("DROP TABLE \"shop\".\"t\"", DropTable, &[("shop", "t")], NO_FLAGS),
        ("DROP TABLE \"a\"\"b\"", DropTable, &[("app", "a\"b")], NO_FLAGS),
        (
            "DROP TABLE `table`, `if`",
            DropTable,
            &[("app", "table"), ("app", "if")],
            NO_FLAGS,
        ),
        (
            "DROP TABLE `naïve`, 表",
            DropTable,
            &[("app", "naïve"), ("app", "表")],
            NO_FLAGS,
        ),
        (
            "DROP TABLE `a -- b`, `c /* d */`",
            DropTable,
            &[("app", "a -- b"), ("app", "c /* d */")],
            NO_FLAGS,
        ),
        ("DROP TABLE shop . t", DropTable, &[("shop", "t")], NO_FLAGS),
        (
            "DROP TABLE `unterminated",
            DropTable,
            &[("app", "unterminated")],
            NO_FLAGS,
        ),
        ("drop table T1", DropTable, &[("app", "T1")], NO_FLAGS),
        ("DrOp TaBlE t", DropTable, &[("app", "t")], NO_FLAGS),
        (
            "DROP TABLE t$1, _x",
            DropTable,
            &[("app", "t$1"), ("app", "_x")],
            NO_FLAGS,
        ),
    ]);
}

#[test]
fn string_literals_are_never_code() {
    let ddl = classify_ddl(
        "ALTER TABLE t ADD COLUMN a INT DEFAULT 'x'', DROP COLUMN b', \
         ADD COLUMN c TEXT COMMENT 'it\\'s, DROP COLUMN d', MODIFY e INT COMMENT '\\\\'",
        DEFAULT_DATABASE,
    );
    let columns: Vec<(ColumnAction, &str)> = ddl
        .column_changes
        .iter()
        .map(|change| (change.action, change.column.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            (ColumnAction::Add, "a"),
            (ColumnAction::Add, "c"),
            (ColumnAction::Modify, "e")
        ]
    );
    assert_cases(&[
        (
            "CREATE TABLE t (a CHAR(1) DEFAULT ';') -- ;",
            CreateTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "CREATE TABLE t COMMENT='`' SELECT '\"' AS x",
            CreateTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
    ]);
}

#[test]
fn the_default_database_completes_unqualified_names() {
    let ddl = classify_ddl("RENAME TABLE a TO other.b, other.c TO d", "shop");
    assert_eq!(
        ddl.tables,
        [
            table("shop", "a"),
            table("other", "b"),
            table("other", "c"),
            table("shop", "d")
        ]
    );
    let ddl = classify_ddl("DROP TABLE t", "");
    assert_eq!(ddl.tables, [table("", "t")], "no default database leaves it empty");
    let ddl = classify_ddl("ALTER DATABASE CHARACTER SET utf8mb4", "shop");
    assert_eq!(ddl.database.as_deref(), Some("shop"));
    let ddl = classify_ddl("ALTER DATABASE CHARACTER SET utf8mb4", "");
    assert_eq!(ddl.database, None);
}

#[test]
fn databases_are_named() {
    for (statement, kind, database) in [
        ("CREATE DATABASE `shop`", CreateDatabase, "shop"),
        (
            "CREATE DATABASE `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci */ \
             /*!80016 DEFAULT ENCRYPTION='N' */",
            CreateDatabase,
            "shop",
        ),
        (
            "CREATE SCHEMA IF NOT EXISTS shop DEFAULT CHARSET = latin1",
            CreateDatabase,
            "shop",
        ),
        ("CREATE OR REPLACE DATABASE shop", CreateDatabase, "shop"),
        ("ALTER DATABASE `shop` CHARACTER SET = utf8mb4", AlterDatabase, "shop"),
        ("ALTER DATABASE shop DEFAULT COLLATE utf8mb4_bin", AlterDatabase, "shop"),
        ("ALTER SCHEMA DEFAULT CHARACTER SET latin1", AlterDatabase, "app"),
        ("ALTER DATABASE COLLATE = utf8mb4_bin", AlterDatabase, "app"),
        ("ALTER DATABASE COMMENT 'x'", AlterDatabase, "app"),
        ("ALTER DATABASE comment COMMENT 'x'", AlterDatabase, "comment"),
        ("ALTER DATABASE charset CHARACTER SET latin1", AlterDatabase, "charset"),
        ("ALTER DATABASE shop READ ONLY = 1", AlterDatabase, "shop"),
        (
            "ALTER DATABASE `#mysql50#a-b` UPGRADE DATA DIRECTORY NAME",
            AlterDatabase,
            "#mysql50#a-b",
        ),
        ("DROP SCHEMA `shop`", DropDatabase, "shop"),
    ] {
        let ddl = classify_ddl(statement, DEFAULT_DATABASE);
        assert_eq!(ddl.kind, kind, "{statement:?}");
        assert_eq!(ddl.database.as_deref(), Some(database), "{statement:?}");
        assert!(ddl.tables.is_empty(), "{statement:?}");
    }
}

#[test]
fn tables_are_created_from_definitions_likes_and_selects() {
    assert_cases(&[
        (
            "CREATE TABLE IF NOT EXISTS shop.t (a INT, KEY k (a)) ENGINE=InnoDB",
            CreateTable,
            &[("shop", "t")],
            IF_NOT_EXISTS,
        ),
        (
            "CREATE TABLE t LIKE s",
            CreateTable,
            &[("app", "t"), ("app", "s")],
            NO_FLAGS,
        ),
        (
            "CREATE TABLE t (LIKE other.s)",
            CreateTable,
            &[("app", "t"), ("other", "s")],
            NO_FLAGS,
        ),
        (
            "CREATE TABLE t AS SELECT * FROM s",
            CreateTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        ("CREATE TABLE t SELECT a FROM s", CreateTable, &[("app", "t")], NO_FLAGS),
        (
            "CREATE TABLE t (a INT) IGNORE SELECT a FROM s",
            CreateTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "CREATE TEMPORARY TABLE tmp (a INT)",
            CreateTable,
            &[("app", "tmp")],
            TEMPORARY,
        ),
        (
            "CREATE TEMPORARY TABLE tmp LIKE t",
            CreateTable,
            &[("app", "tmp"), ("app", "t")],
            TEMPORARY,
        ),
        (
            "DROP TEMPORARY TABLE IF EXISTS tmp",
            DropTable,
            &[("app", "tmp")],
            DdlFlags {
                temporary: true,
                if_exists: true,
                ..NO_FLAGS
            },
        ),
    ]);
}

#[test]
fn drops_list_every_table() {
    assert_cases(&[
        (
            "DROP TABLE a, shop.b, `c`",
            DropTable,
            &[("app", "a"), ("shop", "b"), ("app", "c")],
            NO_FLAGS,
        ),
        ("DROP TABLES a, b", DropTable, &[("app", "a"), ("app", "b")], NO_FLAGS),
        (
            "DROP TABLE IF EXISTS a, b CASCADE",
            DropTable,
            &[("app", "a"), ("app", "b")],
            IF_EXISTS,
        ),
        ("DROP TABLE a RESTRICT", DropTable, &[("app", "a")], NO_FLAGS),
        (
            "DROP INDEX `PRIMARY` ON t ALGORITHM = INPLACE",
            DropIndex,
            &[("app", "t")],
            NO_FLAGS,
        ),
        ("DROP VIEW a, b", DropView, &[("app", "a"), ("app", "b")], NO_FLAGS),
    ]);
}

#[test]
fn renames_list_every_pair() {
    let ddl = classify_ddl("RENAME TABLE a TO b, shop.c TO `shop`.`d`", DEFAULT_DATABASE);
    assert_eq!(ddl.kind, RenameTable);
    assert_eq!(
        ddl.renames,
        [
            TableRename {
                from: table("app", "a"),
                to: table("app", "b")
            },
            TableRename {
                from: table("shop", "c"),
                to: table("shop", "d")
            },
        ]
    );
    assert_eq!(
        ddl.tables,
        [
            table("app", "a"),
            table("app", "b"),
            table("shop", "c"),
            table("shop", "d")
        ]
    );

    let ddl = classify_ddl("RENAME TABLES a TO b", DEFAULT_DATABASE);
    assert_eq!(ddl.renames.len(), 1, "MySQL's RENAME TABLES");

    for statement in [
        "ALTER TABLE a RENAME b",
        "ALTER TABLE a RENAME TO b",
        "ALTER TABLE a RENAME AS b",
        "alter table `a` rename to `app`.`b`",
    ] {
        let ddl = classify_ddl(statement, DEFAULT_DATABASE);
        assert_eq!(ddl.kind, AlterTable, "{statement:?}");
        assert_eq!(
            ddl.renames,
            [TableRename {
                from: table("app", "a"),
                to: table("app", "b")
            }],
            "{statement:?}"
        );
        assert_eq!(ddl.tables, [table("app", "a"), table("app", "b")], "{statement:?}");
    }
    for statement in [
        "ALTER TABLE a RENAME COLUMN x TO y",
        "ALTER TABLE a RENAME INDEX x TO y",
        "ALTER TABLE a RENAME KEY x TO y",
    ] {
        let ddl = classify_ddl(statement, DEFAULT_DATABASE);
        assert!(ddl.renames.is_empty(), "{statement:?}");
        assert_eq!(ddl.tables, [table("app", "a")], "{statement:?}");
    }
}

#[test]
fn partition_operations_set_the_partition_flag() {
    assert_cases(&[
        (
            "ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN (2000))",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t DROP PARTITION p1, p2",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t TRUNCATE PARTITION p1",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t REORGANIZE PARTITION p1, p2 INTO (PARTITION p VALUES LESS THAN MAXVALUE)",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t COALESCE PARTITION 2",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t ANALYZE PARTITION ALL",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t REMOVE PARTITIONING",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t PARTITION BY HASH(id) PARTITIONS 4",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t ENGINE=InnoDB PARTITION BY KEY() PARTITIONS 2",
            AlterTable,
            &[("app", "t")],
            PARTITION,
        ),
        (
            "ALTER TABLE t EXCHANGE PARTITION p WITH TABLE shop.u WITHOUT VALIDATION",
            AlterTable,
            &[("app", "t"), ("shop", "u")],
            PARTITION,
        ),
        (
            "ALTER TABLE t CONVERT PARTITION p TO TABLE u",
            AlterTable,
            &[("app", "t"), ("app", "u")],
            PARTITION,
        ),
        (
            "ALTER TABLE t CONVERT TABLE u TO PARTITION p VALUES LESS THAN (10)",
            AlterTable,
            &[("app", "t"), ("app", "u")],
            PARTITION,
        ),
        (
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER TABLE t ADD COLUMN `partition` INT",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "CREATE TABLE t (a INT) PARTITION BY HASH(a)",
            CreateTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
    ]);
}

#[test]
fn mariadb_syntax_is_read() {
    assert_cases(&[
        (
            "CREATE OR REPLACE TABLE t (a INT)",
            CreateTable,
            &[("app", "t")],
            OR_REPLACE,
        ),
        (
            "CREATE OR REPLACE TEMPORARY TABLE t (a INT)",
            CreateTable,
            &[("app", "t")],
            DdlFlags {
                or_replace: true,
                temporary: true,
                ..NO_FLAGS
            },
        ),
        (
            "ALTER TABLE t WAIT 10 ADD COLUMN c INT",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER TABLE t NOWAIT ADD COLUMN c INT",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER ONLINE TABLE t ADD COLUMN c INT",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER ONLINE IGNORE TABLE t ADD UNIQUE (c)",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER IGNORE TABLE t ADD UNIQUE (c)",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER TABLE IF EXISTS t ADD COLUMN IF NOT EXISTS c INT",
            AlterTable,
            &[("app", "t")],
            IF_EXISTS,
        ),
        ("DROP TABLE t WAIT 5", DropTable, &[("app", "t")], NO_FLAGS),
        (
            "SET STATEMENT max_statement_time=60, sql_mode='' FOR ALTER TABLE t ADD c INT",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "SET STATEMENT a=1 FOR SET STATEMENT b=(SELECT 1) FOR DROP TABLE t",
            DropTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        ("SET STATEMENT a=1", Other, &[], NO_FLAGS),
        (
            "RENAME TABLE a WAIT 3 TO b",
            RenameTable,
            &[("app", "a"), ("app", "b")],
            NO_FLAGS,
        ),
        (
            "RENAME TABLE IF EXISTS a NOWAIT TO b",
            RenameTable,
            &[("app", "a"), ("app", "b")],
            IF_EXISTS,
        ),
        ("TRUNCATE TABLE t WAIT 1", TruncateTable, &[("app", "t")], NO_FLAGS),
        (
            "CREATE OR REPLACE INDEX i ON t (a)",
            CreateIndex,
            &[("app", "t")],
            OR_REPLACE,
        ),
        (
            "CREATE INDEX IF NOT EXISTS i ON t (a)",
            CreateIndex,
            &[("app", "t")],
            IF_NOT_EXISTS,
        ),
        ("CREATE VECTOR INDEX i ON t (v)", CreateIndex, &[("app", "t")], NO_FLAGS),
        ("DROP INDEX IF EXISTS i ON t", DropIndex, &[("app", "t")], IF_EXISTS),
        (
            "CREATE OR REPLACE VIEW v AS SELECT 1",
            CreateView,
            &[("app", "v")],
            OR_REPLACE,
        ),
        (
            "CREATE VIEW IF NOT EXISTS v AS SELECT 1",
            CreateView,
            &[("app", "v")],
            IF_NOT_EXISTS,
        ),
        (
            "ALTER TABLE t ADD PERIOD FOR p(s, e)",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER TABLE t ADD SYSTEM VERSIONING",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "ALTER TABLE t DROP SYSTEM VERSIONING",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
    ]);
    let ddl = classify_ddl("ALTER TABLE t ADD PERIOD FOR p(s, e), DROP SYSTEM VERSIONING", "app");
    assert!(ddl.column_changes.is_empty());
}

#[test]
fn statements_the_server_writes_itself_are_read() {
    assert_cases(&[
        (
            "DROP TABLE IF EXISTS `t` /* generated by server */",
            DropTable,
            &[("app", "t")],
            IF_EXISTS,
        ),
        (
            "DROP TABLE `shop`.`t1`,`shop`.`t2` /* generated by server */",
            DropTable,
            &[("shop", "t1"), ("shop", "t2")],
            NO_FLAGS,
        ),
        (
            "DROP TEMPORARY TABLE IF EXISTS `app`.`tmp` /* generated by server */",
            DropTable,
            &[("app", "tmp")],
            DdlFlags {
                temporary: true,
                if_exists: true,
                ..NO_FLAGS
            },
        ),
        (
            "CREATE TABLE `t` (\n  `a` int(11) DEFAULT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=latin1",
            CreateTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
        (
            "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select 1 AS `1`",
            CreateView,
            &[("app", "v")],
            NO_FLAGS,
        ),
        (
            "ALTER ALGORITHM=MERGE DEFINER='root'@'%' SQL SECURITY INVOKER VIEW `shop`.`v` AS select 1",
            AlterView,
            &[("shop", "v")],
            NO_FLAGS,
        ),
        (
            "CREATE DEFINER=CURRENT_USER() VIEW v AS SELECT 1",
            CreateView,
            &[("app", "v")],
            NO_FLAGS,
        ),
        (
            "CREATE DEFINER = CURRENT_USER VIEW v AS SELECT 1",
            CreateView,
            &[("app", "v")],
            NO_FLAGS,
        ),
        (
            "CREATE DEFINER=root@127.0.0.1 VIEW v AS SELECT 1",
            CreateView,
            &[("app", "v")],
            NO_FLAGS,
        ),
        (
            "CREATE DEFINER=some_role VIEW v AS SELECT 1",
            CreateView,
            &[("app", "v")],
            NO_FLAGS,
        ),
        (
            "ALTER TABLE `t` ADD INDEX `i` (`a`), ALGORITHM=INPLACE, LOCK=NONE",
            AlterTable,
            &[("app", "t")],
            NO_FLAGS,
        ),
    ]);
}

#[test]
fn alter_table_lists_its_column_changes() {
    let ddl = classify_ddl(
        "ALTER TABLE t ADD COLUMN a INT FIRST, ADD b VARCHAR(10) AFTER a, ADD COLUMN IF NOT EXISTS c INT, \
         ADD (d INT, `e f` ENUM('x,y', 'z') DEFAULT 'x,y'), DROP COLUMN g, DROP h, DROP COLUMN IF EXISTS i, \
         MODIFY j BIGINT, MODIFY COLUMN k TEXT, CHANGE l m INT, CHANGE COLUMN IF EXISTS n `o` INT, \
         RENAME COLUMN p TO q, ALTER COLUMN r SET DEFAULT 1, ALTER s DROP DEFAULT, \
         ADD INDEX ix (a), ADD UNIQUE KEY uk (b), ADD PRIMARY KEY (a), ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id), \
         ADD FULLTEXT (b), ADD SPATIAL INDEX (g), ADD CHECK (a > 0), DROP INDEX ix, DROP KEY uk, DROP PRIMARY KEY, \
         DROP FOREIGN KEY fk, DROP CONSTRAINT c1, DROP CHECK c2, ALTER INDEX ix INVISIBLE, RENAME INDEX a TO b, \
         ENGINE = InnoDB, AUTO_INCREMENT = 5",
        DEFAULT_DATABASE,
    );
    let change = |action, column: &str, new_name: Option<&str>, conditional| {
        (action, column.to_owned(), new_name.map(str::to_owned), conditional)
    };
    use ColumnAction::*;
    let changes: Vec<_> = ddl
        .column_changes
        .iter()
        .map(|change| {
            (
                change.action,
                change.column.clone(),
                change.new_name.clone(),
                change.conditional,
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            change(Add, "a", None, false),
            change(Add, "b", None, false),
            change(Add, "c", None, true),
            change(Add, "d", None, false),
            change(Add, "e f", None, false),
            change(Drop, "g", None, false),
            change(Drop, "h", None, false),
            change(Drop, "i", None, true),
            change(Modify, "j", None, false),
            change(Modify, "k", None, false),
            change(Change, "l", Some("m"), false),
            change(Change, "n", Some("o"), true),
            change(Rename, "p", Some("q"), false),
            change(Alter, "r", None, false),
            change(Alter, "s", None, false),
        ]
    );
    assert_eq!(
        ddl.key_changes,
        [KeyChange::AddPrimaryKey(vec!["a".into()]), KeyChange::DropPrimaryKey]
    );
    assert_eq!(ddl.flags, NO_FLAGS);
    assert!(ddl.renames.is_empty());
}

#[test]
fn index_statements_name_their_index() {
    for (statement, kind, index) in [
        ("CREATE INDEX `i``x` ON t (a)", CreateIndex, "i`x"),
        ("CREATE ONLINE UNIQUE INDEX i ON t (a)", CreateIndex, "i"),
        ("DROP INDEX i ON t", DropIndex, "i"),
        ("DROP ONLINE INDEX i ON t", DropIndex, "i"),
    ] {
        let ddl = classify_ddl(statement, DEFAULT_DATABASE);
        assert_eq!(ddl.kind, kind, "{statement:?}");
        assert_eq!(ddl.index.as_deref(), Some(index), "{statement:?}");
        assert_eq!(ddl.tables, [table("app", "t")], "{statement:?}");
    }
}

// ---- definitions ------------------------------------------------------------------------------

fn column(data_type: &str, labels: &[&str]) -> ColumnDefinition {
    ColumnDefinition {
        data_type: data_type.to_owned(),
        labels: labels.iter().map(|label| (*label).to_owned()).collect(),
        primary_key: false,
    }
}

fn key_column(data_type: &str) -> ColumnDefinition {
    ColumnDefinition {
        primary_key: true,
        ..column(data_type, &[])
    }
}

fn after(column: &str) -> Option<ColumnPlacement> {
    Some(ColumnPlacement::After(column.to_owned()))
}

const FIRST: Option<ColumnPlacement> = Some(ColumnPlacement::First);

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// A column change as `(action, column, new name, conditional, definition, placement)`.
type ChangeCase = (
    ColumnAction,
    &'static str,
    Option<&'static str>,
    bool,
    Option<ColumnDefinition>,
    Option<ColumnPlacement>,
);

fn assert_column_changes(statement: &str, expected: &[ChangeCase]) {
    let ddl = classify_ddl(statement, DEFAULT_DATABASE);
    let expected: Vec<ColumnChange> = expected
        .iter()
        .cloned()
        .map(
            |(action, column, new_name, conditional, definition, placement)| ColumnChange {
                action,
                column: column.to_owned(),
                new_name: new_name.map(str::to_owned),
                conditional,
                definition,
                placement,
            },
        )
        .collect();
    assert_eq!(ddl.column_changes, expected, "column changes of {statement:?}");
}

#[test]
fn added_modified_and_changed_columns_carry_definition_and_placement() {
    use ColumnAction::*;
    let int = || Some(column("int", &[]));
    let cases: &[(&str, &[ChangeCase])] = &[
        ("ALTER TABLE t ADD a INT", &[(Add, "a", None, false, int(), None)]),
        (
            "ALTER TABLE t ADD COLUMN a INT(11) UNSIGNED NOT NULL DEFAULT 0 FIRST",
            &[(Add, "a", None, false, int(), FIRST)],
        ),
        (
            "ALTER TABLE t ADD COLUMN `a b` varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AFTER `x y`",
            &[(Add, "a b", None, false, Some(column("varchar", &[])), after("x y"))],
        ),
        (
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT AFTER b",
            &[(Add, "a", None, true, int(), after("b"))],
        ),
        (
            "ALTER TABLE t ADD COLUMN (a INT, b ENUM('x', 'y') NOT NULL, c DECIMAL(10, 2))",
            &[
                (Add, "a", None, false, int(), None),
                (Add, "b", None, false, Some(column("enum", &["x", "y"])), None),
                (Add, "c", None, false, Some(column("decimal", &[])), None),
            ],
        ),
        (
            "ALTER TABLE t ADD IF NOT EXISTS (a INT, b SET('p','q'))",
            &[
                (Add, "a", None, true, int(), None),
                (Add, "b", None, true, Some(column("set", &["p", "q"])), None),
            ],
        ),
        (
            "ALTER TABLE t ADD id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY FIRST",
            &[(Add, "id", None, false, Some(key_column("bigint")), FIRST)],
        ),
        (
            "ALTER TABLE t ADD total INT AS (a + b) STORED AFTER b, ADD v INT GENERATED ALWAYS AS (a * 2) VIRTUAL",
            &[
                (Add, "total", None, false, int(), after("b")),
                (Add, "v", None, false, int(), None),
            ],
        ),
        (
            "ALTER TABLE t MODIFY c BIGINT NOT NULL COMMENT 'after a, first' FIRST",
            &[(Modify, "c", None, false, Some(column("bigint", &[])), FIRST)],
        ),
        (
            "ALTER TABLE t MODIFY COLUMN c ENUM('a','b','c') DEFAULT 'a' AFTER d",
            &[(
                Modify,
                "c",
                None,
                false,
                Some(column("enum", &["a", "b", "c"])),
                after("d"),
            )],
        ),
        (
            "ALTER TABLE t MODIFY IF EXISTS c TEXT",
            &[(Modify, "c", None, true, Some(column("text", &[])), None)],
        ),
        (
            "ALTER TABLE t CHANGE old new INT",
            &[(Change, "old", Some("new"), false, int(), None)],
        ),
        (
            "ALTER TABLE t CHANGE COLUMN `old` `new` SET('a', 'b') NOT NULL AFTER `x`, ALGORITHM=INPLACE",
            &[(
                Change,
                "old",
                Some("new"),
                false,
                Some(column("set", &["a", "b"])),
                after("x"),
            )],
        ),
        (
            "ALTER TABLE t CHANGE COLUMN IF EXISTS a a BIGINT FIRST",
            &[(Change, "a", Some("a"), true, Some(column("bigint", &[])), FIRST)],
        ),
        (
            "ALTER TABLE t DROP COLUMN a, RENAME COLUMN b TO c, ALTER COLUMN d SET DEFAULT 1",
            &[
                (Drop, "a", None, false, None, None),
                (Rename, "b", Some("c"), false, None, None),
                (Alter, "d", None, false, None, None),
            ],
        ),
        // Partition options follow the last action without a comma: not part of the column.
        (
            "ALTER TABLE t ADD c INT FIRST PARTITION BY HASH (id) PARTITIONS 4",
            &[(Add, "c", None, false, int(), FIRST)],
        ),
        // No type: the name is known, the definition is not.
        ("ALTER TABLE t ADD COLUMN c", &[(Add, "c", None, false, None, None)]),
        (
            "ALTER TABLE t MODIFY c ENUM(X'61', 'b') AFTER d",
            &[(Modify, "c", None, false, None, after("d"))],
        ),
    ];
    for (statement, expected) in cases {
        assert_column_changes(statement, expected);
    }
}

#[test]
fn enum_and_set_labels_are_unescaped() {
    for (definition, labels) in [
        ("ENUM('a', 'b')", &["a", "b"][..]),
        ("enum('it''s', 'say \"hi\"')", &["it's", "say \"hi\""]),
        (
            r"ENUM('it\'s', 'back\\slash', 'tab\there', 'nl\n', 'percent\%', 'under\_', 'other\q')",
            &[
                "it's",
                "back\\slash",
                "tab\there",
                "nl\n",
                "percent\\%",
                "under\\_",
                "otherq",
            ],
        ),
        ("ENUM('x,y', 'a)b', '(', '')", &["x,y", "a)b", "(", ""]),
        ("ENUM('trailing  ', '  leading')", &["trailing", "  leading"]),
        ("SET('a' 'b', _utf8mb4'c', N'd')", &["ab", "c", "d"]),
        (
            "ENUM('é', '表') CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            &["é", "表"],
        ),
        ("ENUM ( 'a' /* comment */ , -- comment\n 'b' )", &["a", "b"]),
        ("SET('a','b') CHARSET latin1 NOT NULL DEFAULT 'a,b'", &["a", "b"]),
    ] {
        let statement = format!("ALTER TABLE t MODIFY c {definition}");
        let ddl = classify_ddl(&statement, DEFAULT_DATABASE);
        let definition = ddl.column_changes[0].definition.as_ref();
        let expected: Vec<String> = labels.iter().map(|label| (*label).to_owned()).collect();
        assert_eq!(
            definition.map(|definition| &definition.labels),
            Some(&expected),
            "{statement:?}"
        );
    }
}

#[test]
fn data_types_are_base_types() {
    for (type_text, data_type) in [
        ("INT", "int"),
        ("int(11) unsigned zerofill", "int"),
        ("INTEGER", "int"),
        ("BOOLEAN", "tinyint"),
        ("BOOL", "tinyint"),
        ("NUMERIC(10,2)", "decimal"),
        ("DEC(5)", "decimal"),
        ("FIXED", "decimal"),
        ("DOUBLE PRECISION", "double"),
        ("REAL", "double"),
        ("FLOAT(7,4)", "float"),
        ("CHARACTER(3)", "char"),
        ("CHARACTER VARYING(20)", "varchar"),
        ("NATIONAL CHARACTER VARYING(20)", "varchar"),
        ("NATIONAL VARCHAR(20)", "varchar"),
        ("NCHAR(2)", "char"),
        ("NVARCHAR(2)", "varchar"),
        ("CHAR(10) CHARACTER SET latin1", "char"),
        ("LONG VARCHAR", "mediumtext"),
        ("LONG VARBINARY", "mediumblob"),
        ("SERIAL", "bigint"),
        ("DATETIME(6) ON UPDATE CURRENT_TIMESTAMP(6)", "datetime"),
        ("TIMESTAMP", "timestamp"),
        ("JSON", "json"),
        ("GEOMETRY NOT NULL SRID 4326", "geometry"),
        ("inet6", "inet6"),
        ("MEDIUMBLOB", "mediumblob"),
        ("BIT(3)", "bit"),
        ("YEAR", "year"),
    ] {
        let statement = format!("ALTER TABLE t ADD c {type_text}");
        let ddl = classify_ddl(&statement, DEFAULT_DATABASE);
        let definition = ddl.column_changes[0].definition.as_ref();
        assert_eq!(
            definition.map(|definition| definition.data_type.as_str()),
            Some(data_type),
            "{statement:?}"
        );
        assert_eq!(
            definition.map(|definition| definition.labels.len()),
            Some(0),
            "{statement:?}"
        );
    }
}

#[test]
fn inline_primary_keys_are_read() {
    for (definition, primary_key) in [
        ("INT PRIMARY KEY", true),
        ("INT NOT NULL AUTO_INCREMENT primary key COMMENT 'id'", true),
        ("INT KEY", true),
        ("INT UNIQUE KEY", false),
        ("INT UNIQUE", false),
        ("INT REFERENCES u (id) ON DELETE CASCADE", false),
        ("INT CHECK (c > 0) PRIMARY KEY", true),
        ("INT COMMENT 'PRIMARY KEY'", false),
        ("INT /*!80023 INVISIBLE */ PRIMARY KEY", true),
    ] {
        let statement = format!("ALTER TABLE t MODIFY c {definition}");
        let ddl = classify_ddl(&statement, DEFAULT_DATABASE);
        let definition = ddl.column_changes[0].definition.as_ref();
        assert_eq!(
            definition.map(|definition| definition.primary_key),
            Some(primary_key),
            "{statement:?}"
        );
    }
}

#[test]
fn primary_key_changes_are_read() {
    let add = |columns: &[&str]| KeyChange::AddPrimaryKey(names(columns));
    use KeyChange::DropPrimaryKey;
    for (statement, expected) in [
        ("ALTER TABLE t ADD PRIMARY KEY (a)", vec![add(&["a"])]),
        ("ALTER TABLE t ADD PRIMARY KEY (a, `b c`)", vec![add(&["a", "b c"])]),
        (
            "ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY (a(10), b DESC) USING BTREE",
            vec![add(&["a", "b"])],
        ),
        (
            "ALTER TABLE t ADD CONSTRAINT `pk` PRIMARY KEY USING HASH (a) COMMENT 'k'",
            vec![add(&["a"])],
        ),
        ("ALTER TABLE t ADD CONSTRAINT PRIMARY KEY (a)", vec![add(&["a"])]),
        ("ALTER TABLE t ADD PRIMARY KEY IF NOT EXISTS (a)", vec![add(&["a"])]),
        ("ALTER TABLE t DROP PRIMARY KEY", vec![DropPrimaryKey]),
        (
            "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (b, a)",
            vec![DropPrimaryKey, add(&["b", "a"])],
        ),
        ("ALTER TABLE t DROP INDEX `PRIMARY`", vec![DropPrimaryKey]),
        ("ALTER TABLE t DROP KEY IF EXISTS `primary`", vec![DropPrimaryKey]),
        ("ALTER TABLE t DROP CONSTRAINT `PRIMARY`", vec![DropPrimaryKey]),
        ("DROP INDEX `PRIMARY` ON t", vec![DropPrimaryKey]),
        ("DROP INDEX IF EXISTS `PRIMARY` ON shop.t", vec![DropPrimaryKey]),
        ("ALTER TABLE t ADD (a INT, PRIMARY KEY (a))", vec![add(&["a"])]),
        // Other keys and constraints leave the primary key as it is.
        (
            "ALTER TABLE t ADD UNIQUE KEY uk (a), ADD INDEX (b), ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id), \
             ADD CHECK (a > 0), DROP INDEX uk, DROP FOREIGN KEY fk, DROP CONSTRAINT c",
            vec![],
        ),
        ("DROP INDEX i ON t", vec![]),
        // A key part that is not a column cannot be a primary key's: nothing is guessed.
        ("ALTER TABLE t ADD PRIMARY KEY ((a + 1))", vec![]),
    ] {
        let ddl = classify_ddl(statement, DEFAULT_DATABASE);
        assert_eq!(ddl.key_changes, expected, "{statement:?}");
    }
}

#[test]
fn create_table_lists_columns_and_primary_key() {
    let int = || column("int", &[]);
    let cases: Vec<(&str, Option<TableDefinition>)> = vec![
        (
            "CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))",
            Some(TableDefinition {
                columns: vec![
                    ("id".into(), key_column("int")),
                    ("name".into(), column("varchar", &[])),
                ],
                primary_key: names(&["id"]),
            }),
        ),
        (
            "CREATE TABLE `shop`.`t` (\n  `id` bigint(20) unsigned NOT NULL,\n  `kind` enum('a','b''c') \
             CHARACTER SET utf8mb4 DEFAULT NULL,\n  `at` datetime(6) NOT NULL,\n  PRIMARY KEY (`id`, `at`) USING BTREE,\n  \
             UNIQUE KEY `uk` (`kind`),\n  KEY `ix` (`at`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            Some(TableDefinition {
                columns: vec![
                    ("id".into(), column("bigint", &[])),
                    ("kind".into(), column("enum", &["a", "b'c"])),
                    ("at".into(), column("datetime", &[])),
                ],
                primary_key: names(&["id", "at"]),
            }),
        ),
        (
            "CREATE TABLE t (a INT, b INT AS (a + 1) STORED, c INT GENERATED ALWAYS AS (a * 2) VIRTUAL, \
             d INT AS (a) PERSISTENT, CONSTRAINT pk PRIMARY KEY (a), CONSTRAINT fk FOREIGN KEY (b) REFERENCES u (id), \
             CONSTRAINT CHECK (a > 0), CHECK (b > 0), FULLTEXT KEY (a), INDEX (b), SPATIAL INDEX (c))",
            Some(TableDefinition {
                columns: vec![
                    ("a".into(), int()),
                    ("b".into(), int()),
                    ("c".into(), int()),
                    ("d".into(), int()),
                ],
                primary_key: names(&["a"]),
            }),
        ),
        (
            "CREATE TABLE t (a VARCHAR(100), b INT, PRIMARY KEY pk_name (a(10), b))",
            Some(TableDefinition {
                columns: vec![("a".into(), column("varchar", &[])), ("b".into(), int())],
                primary_key: names(&["a", "b"]),
            }),
        ),
        (
            "CREATE TABLE t (a INT, s SET('x','y'), period INT, PERIOD FOR p (a, period))",
            Some(TableDefinition {
                columns: vec![
                    ("a".into(), int()),
                    ("s".into(), column("set", &["x", "y"])),
                    ("period".into(), int()),
                ],
                primary_key: Vec::new(),
            }),
        ),
        (
            "CREATE TABLE t (a INT) IGNORE SELECT a FROM s",
            Some(TableDefinition {
                columns: vec![("a".into(), int())],
                primary_key: Vec::new(),
            }),
        ),
        (
            "CREATE TABLE t (a INT KEY) AS SELECT 1 AS a",
            Some(TableDefinition {
                columns: vec![("a".into(), key_column("int"))],
                primary_key: names(&["a"]),
            }),
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (a INT) START TRANSACTION",
            Some(TableDefinition {
                columns: vec![("a".into(), int())],
                primary_key: Vec::new(),
            }),
        ),
        (
            "CREATE TABLE t (`my_row_id` bigint unsigned NOT NULL AUTO_INCREMENT /*!80023 INVISIBLE */, a INT, \
             PRIMARY KEY (`my_row_id`))",
            Some(TableDefinition {
                columns: vec![("my_row_id".into(), column("bigint", &[])), ("a".into(), int())],
                primary_key: names(&["my_row_id"]),
            }),
        ),
        (
            "CREATE TABLE t (x INT, rs TIMESTAMP(6) GENERATED ALWAYS AS ROW START INVISIBLE, \
             re TIMESTAMP(6) GENERATED ALWAYS AS ROW END INVISIBLE, PERIOD FOR SYSTEM_TIME (rs, re)) WITH SYSTEM VERSIONING",
            Some(TableDefinition {
                columns: vec![
                    ("x".into(), int()),
                    ("rs".into(), column("timestamp", &[])),
                    ("re".into(), column("timestamp", &[])),
                ],
                primary_key: Vec::new(),
            }),
        ),
        ("CREATE TABLE t LIKE s", None),
        ("CREATE TABLE t (LIKE s)", None),
        ("CREATE TABLE t AS SELECT * FROM s", None),
        ("CREATE TABLE t SELECT 1", None),
        ("CREATE TABLE t (SELECT 1 AS a)", None),
        // What cannot be read is not guessed.
        ("CREATE TABLE t (a INT, b ENUM(X'61'))", None),
        ("CREATE TABLE t (a INT, b)", None),
        ("CREATE TABLE t (a INT", None),
        ("CREATE TABLE t ()", None),
        ("CREATE TABLE t (a INT, PRIMARY KEY ((a + 1)))", None),
    ];
    for (statement, expected) in cases {
        let ddl = classify_ddl(statement, DEFAULT_DATABASE);
        assert_eq!(ddl.kind, CreateTable, "{statement:?}");
        assert_eq!(ddl.table_definition, expected, "{statement:?}");
    }
}
