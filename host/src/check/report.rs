//! The result of one check, the report of all of them, and the startup gate that turns failures into
//! an error of `sluice run`.

use std::fmt;

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Streaming works, but something is worth changing.
    Warn,
    /// Streaming would stop, or could not start.
    Fail,
    /// Not checked, because a check it depends on failed (the detail says which).
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        })
    }
}

/// Which part of the setup a check is about; `sluice run` chooses its exit code by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Source,
    Broker,
    Plugin,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub area: Area,
    /// What was checked, e.g. `binlog_format` or ``plugin `router` ``.
    pub name: String,
    pub status: Status,
    /// What was found. Never a secret.
    pub detail: String,
    /// One line on what to change; set for every WARN and FAIL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl CheckResult {
    pub fn pass(area: Area, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            area,
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(area: Area, name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            area,
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(area: Area, name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            area,
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A check not made because `reason` (e.g. "cannot connect to MySQL").
    pub fn skip(area: Area, name: impl Into<String>, reason: &str) -> Self {
        Self {
            area,
            name: name.into(),
            status: Status::Skip,
            detail: format!("not checked: {reason}"),
            fix: None,
        }
    }
}

/// Every check's result, in the order they are shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub results: Vec<CheckResult>,
}

impl Report {
    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|result| result.status == status).count()
    }

    /// Whether nothing failed (warnings allowed). A skipped check always follows a failed one.
    pub fn passed(&self) -> bool {
        self.count(Status::Fail) == 0
    }

    /// `12 passed, 1 warning, 2 failed, 7 not checked`.
    pub fn summary(&self) -> String {
        let plural = |count: usize, one: &str, many: &str| format!("{count} {}", if count == 1 { one } else { many });
        let mut parts = vec![
            plural(self.count(Status::Pass), "passed", "passed"),
            plural(self.count(Status::Warn), "warning", "warnings"),
            plural(self.count(Status::Fail), "failed", "failed"),
        ];
        let skipped = self.count(Status::Skip);
        if skipped > 0 {
            parts.push(format!("{skipped} not checked"));
        }
        parts.join(", ")
    }
}

/// The checks `sluice run` made before streaming, of which at least one failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the precheck failed: {}", describe(.failures))]
pub struct PrecheckFailed {
    pub area: Area,
    pub failures: Vec<CheckResult>,
}

fn describe(failures: &[CheckResult]) -> String {
    failures
        .iter()
        .map(|failure| match &failure.fix {
            Some(fix) => format!("{}: {} (fix: {fix})", failure.name, failure.detail),
            None => format!("{}: {}", failure.name, failure.detail),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Logs each result as `sluice run` reports them (PASS at debug, WARN at warn, FAIL at error) and fails
/// if any check failed.
pub fn gate(area: Area, results: &[CheckResult]) -> Result<(), PrecheckFailed> {
    for result in results {
        let (check, detail, fix) = (&result.name, &result.detail, result.fix.as_deref().unwrap_or(""));
        match result.status {
            Status::Pass => tracing::debug!(check, "precheck PASS: {detail}"),
            Status::Warn => tracing::warn!(check, fix, "precheck WARN {check}: {detail}"),
            Status::Fail => tracing::error!(check, fix, "precheck FAIL {check}: {detail}"),
            Status::Skip => tracing::debug!(check, "precheck SKIP: {detail}"),
        }
    }
    let failures: Vec<CheckResult> = results
        .iter()
        .filter(|result| result.status == Status::Fail)
        .cloned()
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(PrecheckFailed { area, failures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_pass_and_failures_do_not() {
        let mut report = Report {
            results: vec![
                CheckResult::pass(Area::Source, "log_bin", "ON"),
                CheckResult::warn(Area::Source, "binlog_row_metadata", "MINIMAL", "set it to FULL"),
            ],
        };
        assert!(report.passed());
        assert_eq!(report.summary(), "1 passed, 1 warning, 0 failed");
        report
            .results
            .push(CheckResult::fail(Area::Broker, "Kafka broker", "down", "start it"));
        report
            .results
            .push(CheckResult::skip(Area::Broker, "topic `t`", "no broker answered"));
        assert!(!report.passed());
        assert_eq!(report.summary(), "1 passed, 1 warning, 1 failed, 1 not checked");
    }

    #[test]
    fn the_gate_fails_with_every_failure_and_its_fix() {
        let results = [
            CheckResult::pass(Area::Source, "log_bin", "ON"),
            CheckResult::fail(Area::Source, "binlog_format", "is STATEMENT", "set ROW"),
            CheckResult::fail(Area::Source, "binlog_row_image", "is MINIMAL", "set FULL"),
        ];
        let error = gate(Area::Source, &results).unwrap_err();
        assert_eq!(error.failures.len(), 2);
        assert_eq!(
            error.to_string(),
            "the precheck failed: binlog_format: is STATEMENT (fix: set ROW); binlog_row_image: is MINIMAL (fix: set FULL)"
        );
        assert!(gate(Area::Source, &results[..1]).is_ok());
    }
}
