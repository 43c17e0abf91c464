//! Connecting to the source server, patiently.
//!
//! A server that is down or restarting is a *transient* condition: sluice waits with capped
//! exponential backoff, logging the outage once when it starts and once when it ends
//! ([`crate::outage`]). A refused login is *definite*: retrying
//! cannot fix a wrong password, so it is reported at once.

use std::time::Duration;

use mysql_async::{Conn, Opts, OptsBuilder};

use crate::config::SourceConfig;
use crate::outage::Outage;
use crate::shutdown::Shutdown;
use crate::source::SourceError;

/// Builds driver options from the config. The password goes only to the driver.
pub fn connection_options(config: &SourceConfig) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(config.host.clone())
        .tcp_port(config.port)
        .user(Some(config.user.clone()))
        .pass(config.password.as_ref().map(|secret| secret.expose().to_owned()))
        .prefer_socket(false)
        .ssl_opts(config.tls.as_ref().map(crate::security::SourceTls::ssl_opts))
        .into()
}

/// A small pool for metadata lookups: no idle connections kept open beyond two, none opened early.
pub fn metadata_pool(config: &SourceConfig) -> mysql_async::Pool {
    let constraints = mysql_async::PoolConstraints::new(0, 2).expect("0 <= 2");
    let options = OptsBuilder::from_opts(connection_options(config))
        .pool_opts(mysql_async::PoolOpts::default().with_constraints(constraints));
    mysql_async::Pool::new(options)
}

/// Whether an error from the driver may go away by itself.
pub fn is_transient(error: &mysql_async::Error) -> bool {
    match error {
        mysql_async::Error::Io(_) => true,
        mysql_async::Error::Server(server) => matches!(
            server.code,
            // Too many connections, server shutdown in progress, lost connection, net errors.
            1040 | 1053 | 2006 | 2013 | 1152 | 1158 | 1159 | 1160 | 1161 | 1927
        ),
        mysql_async::Error::Driver(_) => false,
        _ => false,
    }
}

/// Connects, retrying transient failures until `shutdown` fires. Returns `None` on shutdown.
pub async fn connect_with_retry(
    config: &SourceConfig,
    purpose: &str,
    shutdown: &mut Shutdown,
) -> Result<Option<Conn>, SourceError> {
    let mut outage = Outage::new(format!("MySQL ({purpose})"), config.address());
    let connected = connect_through_outage(config, &mut outage, shutdown).await?;
    if connected.is_some() {
        outage.restored();
    }
    Ok(connected)
}

/// Connects like [`connect_with_retry`], reporting to an [`Outage`] that outlives the call: a caller that
/// loses an established connection records the loss there, so the whole outage (loss, attempts,
/// recovery) is logged once. The caller reports the recovery (`outage.restored()`) once the connection
/// serves its purpose.
pub async fn connect_through_outage(
    config: &SourceConfig,
    outage: &mut Outage,
    shutdown: &mut Shutdown,
) -> Result<Option<Conn>, SourceError> {
    let options = connection_options(config);
    let mut backoff = Duration::from_millis(200);
    let max_backoff = Duration::from_millis(config.reconnect_max_backoff_ms);
    loop {
        match Conn::new(options.clone()).await {
            Ok(conn) => return Ok(Some(conn)),
            Err(error) if is_transient(&error) => {
                outage.failed(&error, Some(backoff));
            }
            Err(error) => {
                return Err(SourceError::Connect {
                    address: config.address(),
                    user: config.user.clone(),
                    source: error,
                });
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait() => return Ok(None),
        }
        backoff = (backoff * 2).min(max_backoff);
    }
}
