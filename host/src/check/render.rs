//! The report as people read it (a table, coloured on a terminal) and as programs read it (JSON).

use crate::check::report::{Report, Status};

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// One line per check — status, check, detail — with a `fix:` line under each WARN and FAIL, then
/// the summary. `colour` adds ANSI colours to the status column.
pub fn table(report: &Report, colour: bool) -> String {
    let name_width = report
        .results
        .iter()
        .map(|result| result.name.chars().count())
        .chain(["CHECK".len()])
        .max()
        .unwrap_or(0);
    let mut text = format!("{:<6}{:<name_width$}  DETAIL\n", "", "CHECK");
    for result in &report.results {
        let status = result.status.to_string();
        let status = if colour {
            let code = match result.status {
                Status::Pass => GREEN,
                Status::Warn => YELLOW,
                Status::Fail => RED,
                Status::Skip => DIM,
            };
            format!("{code}{status}{RESET}")
        } else {
            status
        };
        let padding = name_width - result.name.chars().count();
        // A detail of several lines (a compiler's diagnostic) continues under the detail column.
        let mut detail_lines = result.detail.lines();
        text.push_str(&format!(
            "{status}  {}{:padding$}  {}\n",
            result.name,
            "",
            detail_lines.next().unwrap_or_default()
        ));
        for continued in detail_lines {
            text.push_str(&format!("{:6}{:name_width$}  {continued}\n", "", ""));
        }
        if let Some(fix) = &result.fix {
            text.push_str(&format!("{:6}{:name_width$}  fix: {fix}\n", "", ""));
        }
    }
    let verdict = if report.passed() { "ready" } else { "not ready" };
    text.push_str(&format!("\n{}: {verdict}\n", report.summary()));
    text
}

/// `{"ok": bool, "summary": {...}, "checks": [{area, name, status, detail, fix?}, ...]}`.
pub fn json(report: &Report) -> String {
    let value = serde_json::json!({
        "ok": report.passed(),
        "summary": {
            "passed": report.count(Status::Pass),
            "warnings": report.count(Status::Warn),
            "failed": report.count(Status::Fail),
            "not_checked": report.count(Status::Skip),
        },
        "checks": report.results,
    });
    serde_json::to_string_pretty(&value).expect("a report serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::{Area, CheckResult};

    fn report() -> Report {
        Report {
            results: vec![
                CheckResult::pass(Area::Source, "log_bin", "ON"),
                CheckResult::fail(
                    Area::Source,
                    "binlog_format",
                    "server setting `binlog_format` is `STATEMENT` but sluice needs `ROW`",
                    "set binlog_format=ROW",
                ),
                CheckResult::skip(Area::Broker, "topic `changes`", "no broker answered"),
            ],
        }
    }

    #[test]
    fn the_table_aligns_details_and_puts_each_fix_under_its_check() {
        let text = table(&report(), false);
        let expected = concat!(
            "      CHECK            DETAIL\n",
            "PASS  log_bin          ON\n",
            "FAIL  binlog_format    server setting `binlog_format` is `STATEMENT` but sluice needs `ROW`\n",
            "                       fix: set binlog_format=ROW\n",
            "SKIP  topic `changes`  not checked: no broker answered\n",
            "\n",
            "1 passed, 0 warnings, 1 failed, 1 not checked: not ready\n",
        );
        assert_eq!(text, expected);
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn a_detail_of_several_lines_continues_under_the_detail_column() {
        let report = Report {
            results: vec![CheckResult::fail(
                Area::Plugin,
                "plugin `p`",
                "bad\n --> 1:1",
                "rebuild",
            )],
        };
        let text = table(&report, false);
        assert!(
            text.starts_with("      CHECK       DETAIL\nFAIL  plugin `p`  bad\n                   --> 1:1\n                  fix: rebuild\n"),
            "{text}"
        );
    }

    #[test]
    fn colour_marks_only_the_status() {
        let text = table(&report(), true);
        assert!(text.contains("\x1b[32mPASS\x1b[0m  log_bin"));
        assert!(text.contains("\x1b[31mFAIL\x1b[0m  binlog_format"));
    }

    #[test]
    fn json_carries_every_check_and_the_verdict() {
        let value: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(value["ok"], false);
        assert_eq!(value["summary"]["failed"], 1);
        assert_eq!(value["checks"][1]["status"], "fail");
        assert_eq!(value["checks"][1]["area"], "source");
        assert_eq!(value["checks"][1]["fix"], "set binlog_format=ROW");
        assert!(value["checks"][0].get("fix").is_none());
    }
}
