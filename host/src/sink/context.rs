//! The producer's librdkafka callbacks: broker outages reported once per state change.
//!
//! librdkafka reconnects to brokers by itself, and by default logs every failed attempt at `error`.
//! [`SinkContext`] turns its transport errors into one [`Outage`]: a `warn` when the brokers are lost,
//! an `info` when one is up again (seen in the client statistics, which the sink asks for every
//! second), and the attempts in between at `debug`. Any other librdkafka error is still logged at
//! `error`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;

use crate::outage::Outage;

/// How often librdkafka reports statistics, from which the sink learns that a broker is back.
pub const STATISTICS_INTERVAL_MS: &str = "1000";

/// The broker connection's state, shared by the sink's clients and its own metadata requests.
#[derive(Clone)]
pub struct SharedOutage(Arc<Mutex<Outage>>);

impl SharedOutage {
    pub fn new(bootstrap_servers: &str) -> Self {
        Self(Arc::new(Mutex::new(Outage::new("Kafka", bootstrap_servers))))
    }

    pub fn lock(&self) -> MutexGuard<'_, Outage> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The context of the sink's producer and admin client.
pub struct SinkContext {
    outage: SharedOutage,
}

impl SinkContext {
    pub fn new(outage: SharedOutage) -> Self {
        Self { outage }
    }

    fn outage(&self) -> MutexGuard<'_, Outage> {
        self.outage.lock()
    }
}

/// Whether a global librdkafka error means a broker connection is down (and is retried by itself).
pub fn is_connection_loss(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::Resolve)
    )
}

/// Whether librdkafka's log line reports a connection failure, which [`SinkContext::error`] covers.
fn is_connection_log(facility: &str) -> bool {
    matches!(facility, "FAIL" | "ERROR" | "BRKFAIL" | "CONNECT" | "DISCONNECT")
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            _ if is_connection_log(facility) => tracing::debug!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if is_connection_loss(&error) {
            self.outage().failed(&reason, None);
        } else {
            tracing::error!("Kafka client error: {error}: {reason}");
        }
    }

    fn stats(&self, statistics: Statistics) {
        let any_broker_up = statistics.brokers.values().any(|broker| broker.state == "UP");
        if any_broker_up {
            let mut outage = self.outage();
            if outage.is_down() {
                outage.restored();
            }
        }
    }
}
