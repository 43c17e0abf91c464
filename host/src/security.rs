//! Authenticated and encrypted connections to Kafka: SASL (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN) and
//! TLS (a CA, a client certificate and key, hostname verification); and TLS to the source server
//! (`[source.tls]`, mapped to the driver's `SslOpts` by [`SourceTls::ssl_opts`]).
//!
//! `[kafka.sasl]` and `[kafka.tls]` are validated into a [`KafkaSecurity`], and
//! [`KafkaSecurity::apply_to`] is the one place that turns it into librdkafka properties. Every Kafka
//! client sluice makes (the producer, the admin client, the readers of exactly-once and
//! transactional delivery, the precheck) starts from `sink::kafka::client_config`, which calls it.
//!
//! Invariant: the SASL password lives in a [`Secret`] and is handed only to librdkafka; `Debug`
//! redacts it, and `kafka.options` may not carry a password, so no log line, error or metric shows it.

use std::fmt;
use std::path::{Path, PathBuf};

use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::config::{ConfigError, Secret, resolve_secret};

/// `[kafka.sasl]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafkaSasl {
    /// `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`.
    pub mechanism: SaslMechanism,
    /// The user sluice authenticates as.
    pub username: String,
    /// The password, inline. Prefer `password_env` or `password_file`.
    pub password: Option<String>,
    /// Name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// Path of a file holding the password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
}

/// `[kafka.tls]` as written. Its presence turns TLS on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafkaTls {
    /// PEM file of the CA certificates that sign the brokers' certificates; the system's CAs when absent.
    pub ca_file: Option<PathBuf>,
    /// PEM file of sluice's client certificate, for brokers that require one (with `key_file`).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// Check that the broker's certificate names the host connected to (default true).
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
}

fn default_true() -> bool {
    true
}

/// A SASL mechanism librdkafka has built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "PLAIN")]
    Plain,
}

impl SaslMechanism {
    /// The name librdkafka's `sasl.mechanisms` takes.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Plain => "PLAIN",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Validated SASL settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
}

/// Validated TLS settings; paths are absolute or relative to the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaTls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub verify_hostname: bool,
}

/// How sluice's Kafka clients authenticate and encrypt; the default is neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    pub sasl: Option<KafkaSasl>,
    pub tls: Option<KafkaTls>,
}

/// `kafka.options` keys that would carry a secret past the redaction: refused, with a pointer to the
/// section that keeps it secret.
fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key.contains("secret") || key == "sasl.jaas.config"
}

impl KafkaSecurity {
    /// Validates `[kafka.sasl]` and `[kafka.tls]`; relative paths are taken from `base`.
    pub fn validate(
        sasl: Option<RawKafkaSasl>,
        tls: Option<RawKafkaTls>,
        options: &std::collections::BTreeMap<String, String>,
        base: &Path,
    ) -> Result<Self, ConfigError> {
        if let Some(key) = options.keys().find(|key| is_secret_option(key)) {
            return Err(ConfigError::Invalid {
                key: format!("kafka.options.{key}"),
                message: "secrets do not belong in kafka.options, where they could be shown; set \
                          kafka.sasl.password_env or kafka.sasl.password_file instead"
                    .into(),
            });
        }
        let sasl = match sasl {
            None => None,
            Some(raw) => {
                if raw.username.trim().is_empty() {
                    return Err(ConfigError::Invalid {
                        key: "kafka.sasl.username".into(),
                        message: "must not be empty".into(),
                    });
                }
                let password = resolve_secret("kafka.sasl", raw.password, raw.password_env, raw.password_file, base)?
                    .ok_or_else(|| ConfigError::Invalid {
                    key: "kafka.sasl.password".into(),
                    message: "set one of `password_env`, `password_file` or `password`".into(),
                })?;
                Some(KafkaSasl {
                    mechanism: raw.mechanism,
                    username: raw.username,
                    password,
                })
            }
        };
        let tls = match tls {
            None => None,
            Some(raw) => {
                if raw.cert_file.is_some() != raw.key_file.is_some() {
                    return Err(ConfigError::Invalid {
                        key: "kafka.tls.cert_file".into(),
                        message: "a client certificate needs both `cert_file` and `key_file`".into(),
                    });
                }
                let resolve = |path: Option<PathBuf>| path.map(|path| base.join(path));
                Some(KafkaTls {
                    ca_file: resolve(raw.ca_file),
                    cert_file: resolve(raw.cert_file),
                    key_file: resolve(raw.key_file),
                    verify_hostname: raw.verify_hostname,
                })
            }
        };
        let security = Self { sasl, tls };
        // A property the sections set must not be set again, differently, in the pass-through options.
        let mut mapped = ClientConfig::new();
        security.apply_to(&mut mapped);
        if let Some(key) = options.keys().find(|key| mapped.get(key).is_some()) {
            return Err(ConfigError::Invalid {
                key: format!("kafka.options.{key}"),
                message: "is set by [kafka.sasl] / [kafka.tls]; set it in one place only".into(),
            });
        }
        Ok(security)
    }

    /// librdkafka's `security.protocol` for these settings; `None` leaves librdkafka's default
    /// (plaintext, or whatever `kafka.options` says).
    pub fn protocol(&self) -> Option<&'static str> {
        match (&self.sasl, &self.tls) {
            (None, None) => None,
            (Some(_), None) => Some("SASL_PLAINTEXT"),
            (None, Some(_)) => Some("SSL"),
            (Some(_), Some(_)) => Some("SASL_SSL"),
        }
    }

    /// Sets the librdkafka properties of these settings on `client`: the one mapping.
    pub fn apply_to(&self, client: &mut ClientConfig) {
        if let Some(protocol) = self.protocol() {
            client.set("security.protocol", protocol);
        }
        if let Some(sasl) = &self.sasl {
            client
                .set("sasl.mechanisms", sasl.mechanism.name())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", sasl.password.expose());
        }
        if let Some(tls) = &self.tls {
            let path = |path: &PathBuf| path.display().to_string();
            if let Some(ca) = &tls.ca_file {
                client.set("ssl.ca.location", path(ca));
            }
            if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                client
                    .set("ssl.certificate.location", path(cert))
                    .set("ssl.key.location", path(key));
            }
            client.set(
                "ssl.endpoint.identification.algorithm",
                if tls.verify_hostname { "https" } else { "none" },
            );
        }
    }

    /// A short description for logs and the precheck, never with the password: `SASL_SSL
    /// (SCRAM-SHA-512 as sluice)`.
    pub fn describe(&self) -> String {
        match (self.protocol(), &self.sasl) {
            (None, _) => "PLAINTEXT".into(),
            (Some(protocol), Some(sasl)) => format!("{protocol} ({} as {})", sasl.mechanism, sasl.username),
            (Some(protocol), None) => protocol.into(),
        }
    }
}

/// `[source.tls]` as written. Its presence turns TLS to the source server on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSourceTls {
    /// `verify_identity` (default: the CA and the host name are checked), `verify_ca` (the CA only)
    /// or `require` (encrypted, the certificate not checked).
    #[serde(default)]
    pub mode: SourceTlsMode,
    /// PEM file of the CA certificates that sign the server's certificate; the bundled web roots when
    /// absent.
    pub ca_file: Option<PathBuf>,
    /// PEM file of sluice's client certificate (chain), for a user created `REQUIRE X509`.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key_file: Option<PathBuf>,
}

/// How much of the source server's certificate is checked, as MySQL's `--ssl-mode` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceTlsMode {
    Require,
    VerifyCa,
    #[default]
    VerifyIdentity,
}

/// Validated `[source.tls]`; paths are absolute or relative to the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTls {
    pub mode: SourceTlsMode,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl SourceTls {
    pub fn validate(raw: RawSourceTls, base: &Path) -> Result<Self, ConfigError> {
        if raw.cert_file.is_some() != raw.key_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "source.tls.cert_file".into(),
                message: "a client certificate needs both `cert_file` and `key_file`".into(),
            });
        }
        let resolve = |path: Option<PathBuf>| path.map(|path| base.join(path));
        Ok(Self {
            mode: raw.mode,
            ca_file: resolve(raw.ca_file),
            cert_file: resolve(raw.cert_file),
            key_file: resolve(raw.key_file),
        })
    }

    /// The driver's TLS options: the one mapping of `[source.tls]`.
    pub fn ssl_opts(&self) -> mysql_async::SslOpts {
        let mut options = mysql_async::SslOpts::default()
            .with_danger_skip_domain_validation(self.mode != SourceTlsMode::VerifyIdentity)
            .with_danger_accept_invalid_certs(self.mode == SourceTlsMode::Require);
        if let Some(ca) = &self.ca_file {
            options = options.with_root_certs(vec![ca.clone().into()]);
        }
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            options = options.with_client_identity(Some(mysql_async::ClientIdentity::new(
                cert.clone().into(),
                key.clone().into(),
            )));
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn sasl(mechanism: SaslMechanism) -> RawKafkaSasl {
        RawKafkaSasl {
            mechanism,
            username: "sluice".into(),
            password: Some("hunter2".into()),
            password_env: None,
            password_file: None,
        }
    }

    fn tls() -> RawKafkaTls {
        RawKafkaTls {
            ca_file: Some("certs/ca.pem".into()),
            cert_file: Some("/etc/sluice/client.pem".into()),
            key_file: Some("/etc/sluice/client.key".into()),
            verify_hostname: false,
        }
    }

    fn properties(security: &KafkaSecurity) -> ClientConfig {
        let mut client = ClientConfig::new();
        security.apply_to(&mut client);
        client
    }

    #[test]
    fn no_security_sets_no_property() {
        let security = KafkaSecurity::validate(None, None, &BTreeMap::new(), Path::new("/etc")).unwrap();
        let client = properties(&security);
        assert_eq!(client.get("security.protocol"), None);
        assert_eq!(client.get("sasl.mechanisms"), None);
        assert_eq!(security.describe(), "PLAINTEXT");
    }

    #[test]
    fn sasl_alone_is_sasl_plaintext_with_the_mechanism_and_login() {
        for (mechanism, name) in [
            (SaslMechanism::ScramSha512, "SCRAM-SHA-512"),
            (SaslMechanism::ScramSha256, "SCRAM-SHA-256"),
            (SaslMechanism::Plain, "PLAIN"),
        ] {
            let security =
                KafkaSecurity::validate(Some(sasl(mechanism)), None, &BTreeMap::new(), Path::new("/etc")).unwrap();
            let client = properties(&security);
            assert_eq!(client.get("security.protocol"), Some("SASL_PLAINTEXT"));
            assert_eq!(client.get("sasl.mechanisms"), Some(name));
            assert_eq!(client.get("sasl.username"), Some("sluice"));
            assert_eq!(client.get("sasl.password"), Some("hunter2"));
            assert_eq!(client.get("ssl.ca.location"), None);
        }
    }

    #[test]
    fn tls_maps_files_relative_to_the_config_and_hostname_verification() {
        let security = KafkaSecurity::validate(
            Some(sasl(SaslMechanism::ScramSha256)),
            Some(tls()),
            &BTreeMap::new(),
            Path::new("/etc/sluice"),
        )
        .unwrap();
        let client = properties(&security);
        assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(client.get("ssl.ca.location"), Some("/etc/sluice/certs/ca.pem"));
        assert_eq!(client.get("ssl.certificate.location"), Some("/etc/sluice/client.pem"));
        assert_eq!(client.get("ssl.key.location"), Some("/etc/sluice/client.key"));
        assert_eq!(client.get("ssl.endpoint.identification.algorithm"), Some("none"));

        let mut verifying = tls();
        verifying.verify_hostname = true;
        verifying.cert_file = None;
        verifying.key_file = None;
        let security = KafkaSecurity::validate(None, Some(verifying), &BTreeMap::new(), Path::new("/")).unwrap();
        let client = properties(&security);
        assert_eq!(client.get("security.protocol"), Some("SSL"));
        assert_eq!(client.get("ssl.endpoint.identification.algorithm"), Some("https"));
        assert_eq!(client.get("ssl.certificate.location"), None);
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let mut half = tls();
        half.key_file = None;
        let error = KafkaSecurity::validate(None, Some(half), &BTreeMap::new(), Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("kafka.tls.cert_file"), "{error}");
    }

    #[test]
    fn a_password_in_the_pass_through_options_is_refused() {
        let options = BTreeMap::from([("sasl.password".to_owned(), "hunter2".to_owned())]);
        let error = KafkaSecurity::validate(None, None, &options, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("kafka.options.sasl.password"), "{error}");
        assert!(error.contains("password_env"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn security_in_both_places_is_refused() {
        let options = BTreeMap::from([("security.protocol".to_owned(), "SSL".to_owned())]);
        let error = KafkaSecurity::validate(Some(sasl(SaslMechanism::Plain)), None, &options, Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("kafka.options.security.protocol"), "{error}");
        let tuning = BTreeMap::from([("ssl.cipher.suites".to_owned(), "ECDHE-RSA-AES256-GCM-SHA384".to_owned())]);
        assert!(KafkaSecurity::validate(None, Some(tls()), &tuning, Path::new("/")).is_ok());
    }

    /// The driver does not export its path-or-bytes type, so its `Debug` text is what can be read.
    fn names(value: &impl std::fmt::Debug, path: &str) -> bool {
        format!("{value:?}").contains(path)
    }

    #[test]
    fn source_tls_modes_map_to_the_drivers_checks_and_files() {
        let raw = |mode| RawSourceTls {
            mode,
            ca_file: Some("ca.pem".into()),
            cert_file: Some("client.pem".into()),
            key_file: Some("client.key".into()),
        };
        let base = Path::new("/etc/sluice");
        let identity = SourceTls::validate(raw(SourceTlsMode::VerifyIdentity), base)
            .unwrap()
            .ssl_opts();
        assert!(!identity.skip_domain_validation());
        assert!(!identity.accept_invalid_certs());
        assert_eq!(identity.root_certs().len(), 1);
        assert!(names(&identity.root_certs()[0], "/etc/sluice/ca.pem"));
        let client = identity.client_identity().expect("a client identity");
        assert!(names(&client.cert_chain(), "/etc/sluice/client.pem"));
        assert!(names(&client.priv_key(), "/etc/sluice/client.key"));

        let ca_only = SourceTls::validate(raw(SourceTlsMode::VerifyCa), base)
            .unwrap()
            .ssl_opts();
        assert!(ca_only.skip_domain_validation());
        assert!(!ca_only.accept_invalid_certs());
        let require = SourceTls::validate(raw(SourceTlsMode::Require), base)
            .unwrap()
            .ssl_opts();
        assert!(require.skip_domain_validation());
        assert!(require.accept_invalid_certs());

        let mut half = raw(SourceTlsMode::Require);
        half.cert_file = None;
        let error = SourceTls::validate(half, base).unwrap_err().to_string();
        assert!(error.contains("source.tls.cert_file"), "{error}");
    }

    #[test]
    fn the_password_never_shows_in_debug_or_the_description() {
        let security = KafkaSecurity::validate(
            Some(sasl(SaslMechanism::ScramSha512)),
            Some(tls()),
            &BTreeMap::new(),
            Path::new("/"),
        )
        .unwrap();
        let debug = format!("{security:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
        assert_eq!(security.describe(), "SASL_SSL (SCRAM-SHA-512 as sluice)");
        let client = properties(&security);
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
