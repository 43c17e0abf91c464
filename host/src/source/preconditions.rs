//! Small named checks of the server's settings that streaming depends on.
//!
//! Each check returns the setting, what sluice needs and what the server has, so the startup error
//! and the `sluice check` command ([`crate::check`]) say the same thing.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::source::SourceError;

/// A server setting that is not what sluice needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server setting `{setting}` is `{actual}` but sluice needs `{expected}`: {fix}")]
pub struct SettingMismatch {
    pub setting: &'static str,
    pub expected: &'static str,
    pub actual: String,
    pub fix: &'static str,
}

/// The settings the checks read, fetched in one round trip. A variable the server does not have (an
/// older version, the other flavour) is `None`.
#[derive(Debug, Clone, Default)]
pub struct ServerSettings {
    pub version: String,
    /// `version_comment`, e.g. `MySQL Community Server - GPL` or `Debian 12`.
    pub version_comment: String,
    pub log_bin: String,
    pub binlog_format: String,
    pub binlog_row_image: String,
    /// MySQL >= 8.0.1, MariaDB >= 10.5.
    pub binlog_row_metadata: Option<String>,
    pub server_id: Option<u32>,
    /// Days (MariaDB allows fractions); 0 for never.
    pub expire_logs_days: Option<f64>,
    /// MySQL >= 8.0, MariaDB >= 10.6; 0 for never (then `expire_logs_days` decides on MySQL).
    pub binlog_expire_logs_seconds: Option<u64>,
}

/// The global variables [`ServerSettings`] is made of.
const SETTING_NAMES: &str = "'version', 'version_comment', 'log_bin', 'binlog_format', 'binlog_row_image', \
     'binlog_row_metadata', 'server_id', 'expire_logs_days', 'binlog_expire_logs_seconds'";

impl ServerSettings {
    pub async fn fetch(conn: &mut Conn) -> Result<Self, SourceError> {
        let rows: Vec<(String, String)> = conn
            .query(format!(
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN ({SETTING_NAMES})"
            ))
            .await
            .map_err(SourceError::query("reading server settings"))?;
        Ok(Self::from_variables(rows))
    }

    /// Settings from `(Variable_name, Value)` pairs, as `SHOW GLOBAL VARIABLES` lists them.
    pub fn from_variables(variables: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut settings = Self::default();
        for (name, value) in variables {
            match name.to_ascii_lowercase().as_str() {
                "version" => settings.version = value,
                "version_comment" => settings.version_comment = value,
                "log_bin" => settings.log_bin = value,
                "binlog_format" => settings.binlog_format = value,
                "binlog_row_image" => settings.binlog_row_image = value,
                "binlog_row_metadata" => settings.binlog_row_metadata = Some(value),
                "server_id" => settings.server_id = value.trim().parse().ok(),
                "expire_logs_days" => settings.expire_logs_days = value.trim().parse().ok(),
                "binlog_expire_logs_seconds" => settings.binlog_expire_logs_seconds = value.trim().parse().ok(),
                _ => {}
            }
        }
        settings
    }

    /// Whether the server is MariaDB rather than MySQL.
    pub fn is_mariadb(&self) -> bool {
        self.version.to_ascii_lowercase().contains("mariadb")
    }

    /// How long the server keeps binary logs before purging them by itself; `None` for never.
    pub fn binlog_retention(&self) -> Option<std::time::Duration> {
        let seconds = match (self.binlog_expire_logs_seconds, self.expire_logs_days) {
            (Some(seconds), _) if seconds > 0 => seconds as f64,
            (_, Some(days)) if days > 0.0 => days * 86_400.0,
            _ => return None,
        };
        Some(std::time::Duration::from_secs_f64(seconds))
    }
}

pub fn ensure_log_bin(settings: &ServerSettings) -> Result<(), SettingMismatch> {
    if settings.log_bin == "1" || settings.log_bin.eq_ignore_ascii_case("ON") {
        return Ok(());
    }
    Err(SettingMismatch {
        setting: "log_bin",
        expected: "ON",
        actual: settings.log_bin.clone(),
        fix: "start the server with --log-bin",
    })
}

pub fn ensure_row_format(settings: &ServerSettings) -> Result<(), SettingMismatch> {
    if settings.binlog_format.eq_ignore_ascii_case("ROW") {
        return Ok(());
    }
    Err(SettingMismatch {
        setting: "binlog_format",
        expected: "ROW",
        actual: settings.binlog_format.clone(),
        fix: "set binlog_format=ROW in the server's config (or SET GLOBAL binlog_format='ROW') and restart writers",
    })
}

pub fn ensure_full_row_image(settings: &ServerSettings) -> Result<(), SettingMismatch> {
    if settings.binlog_row_image.eq_ignore_ascii_case("FULL") {
        return Ok(());
    }
    Err(SettingMismatch {
        setting: "binlog_row_image",
        expected: "FULL",
        actual: settings.binlog_row_image.clone(),
        fix: "set binlog_row_image=FULL in the server's config",
    })
}

/// Not a requirement: without FULL row metadata, column names and keys come from `information_schema`
/// when a table is first seen, which is wrong for a table changed since.
pub fn ensure_full_row_metadata(settings: &ServerSettings) -> Result<(), SettingMismatch> {
    match &settings.binlog_row_metadata {
        Some(value) if value.eq_ignore_ascii_case("FULL") => Ok(()),
        Some(value) => Err(SettingMismatch {
            setting: "binlog_row_metadata",
            expected: "FULL",
            actual: value.clone(),
            fix: "set binlog_row_metadata=FULL in the server's config",
        }),
        None => Err(SettingMismatch {
            setting: "binlog_row_metadata",
            expected: "FULL",
            actual: "(not a variable of this server)".into(),
            fix: "upgrade to MySQL >= 8.0.1 or MariaDB >= 10.5 to have binlog_row_metadata",
        }),
    }
}

/// Runs every check; the first mismatch is the error.
pub fn ensure_streamable(settings: &ServerSettings) -> Result<(), SettingMismatch> {
    ensure_log_bin(settings)?;
    ensure_row_format(settings)?;
    ensure_full_row_image(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(log_bin: &str, format: &str, image: &str) -> ServerSettings {
        ServerSettings {
            version: "10.11.6-MariaDB-0+deb12u1-log".into(),
            log_bin: log_bin.into(),
            binlog_format: format.into(),
            binlog_row_image: image.into(),
            ..ServerSettings::default()
        }
    }

    #[test]
    fn a_row_format_server_with_full_images_passes() {
        assert_eq!(ensure_streamable(&settings("1", "ROW", "FULL")), Ok(()));
        assert!(settings("1", "ROW", "FULL").is_mariadb());
    }

    #[test]
    fn each_wrong_setting_is_named_with_its_value() {
        let error = ensure_streamable(&settings("0", "ROW", "FULL")).unwrap_err();
        assert_eq!((error.setting, error.actual.as_str()), ("log_bin", "0"));
        let error = ensure_streamable(&settings("1", "MIXED", "FULL")).unwrap_err();
        assert_eq!((error.setting, error.actual.as_str()), ("binlog_format", "MIXED"));
        assert!(error.to_string().contains("binlog_format=ROW"));
        let error = ensure_streamable(&settings("1", "ROW", "MINIMAL")).unwrap_err();
        assert_eq!((error.setting, error.actual.as_str()), ("binlog_row_image", "MINIMAL"));
    }

    #[test]
    fn settings_are_read_from_show_variables_and_missing_ones_stay_unknown() {
        let settings = ServerSettings::from_variables([
            ("version".to_owned(), "8.0.36".to_owned()),
            ("log_bin".to_owned(), "ON".to_owned()),
            ("server_id".to_owned(), "3".to_owned()),
            ("expire_logs_days".to_owned(), "0.5".to_owned()),
            ("binlog_expire_logs_seconds".to_owned(), "0".to_owned()),
        ]);
        assert!(!settings.is_mariadb());
        assert_eq!(settings.server_id, Some(3));
        assert_eq!(settings.binlog_row_metadata, None);
        assert_eq!(
            settings.binlog_retention(),
            Some(std::time::Duration::from_secs(43_200))
        );
        assert_eq!(ensure_log_bin(&settings), Ok(()));
        assert_eq!(
            ensure_full_row_metadata(&settings).unwrap_err().actual,
            "(not a variable of this server)"
        );
        let never = ServerSettings::from_variables([("expire_logs_days".to_owned(), "0".to_owned())]);
        assert_eq!(never.binlog_retention(), None);
    }
}
