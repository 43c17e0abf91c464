//! Small named checks of the server's settings that streaming depends on.
//!
//! Each check returns the setting, what sluice needs and what the server has, so the startup error
//! and (later) the `sluice check` command say the same thing.

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

/// The settings the checks read, fetched in one round trip.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub version: String,
    pub log_bin: String,
    pub binlog_format: String,
    pub binlog_row_image: String,
}

impl ServerSettings {
    pub async fn fetch(conn: &mut Conn) -> Result<Self, SourceError> {
        let row: Option<(String, String, String, String)> = conn
            .query_first(
                "SELECT @@version, CAST(@@global.log_bin AS CHAR), @@global.binlog_format, @@global.binlog_row_image",
            )
            .await
            .map_err(SourceError::query("reading server settings"))?;
        let (version, log_bin, binlog_format, binlog_row_image) = row.unwrap_or_default();
        Ok(Self {
            version,
            log_bin,
            binlog_format,
            binlog_row_image,
        })
    }

    /// Whether the server is MariaDB rather than MySQL.
    pub fn is_mariadb(&self) -> bool {
        self.version.to_ascii_lowercase().contains("mariadb")
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
}
