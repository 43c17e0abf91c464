//! Publishing to Kafka: idempotent, ordered per partition, acknowledged by all in-sync replicas.
//!
//! The producer runs with `enable.idempotence=true` and `acks=all`, so librdkafka retries without
//! reordering or doubling within a partition. Each send returns a delivery future; the pipeline
//! awaits them in send order and advances the checkpoint only past commits whose every earlier
//! message was acknowledged.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use crate::config::KafkaConfig;
use crate::encode::OutMessage;
use crate::shutdown::Shutdown;
use crate::sink::SinkError;

/// sluice's producer settings; `kafka.options` in the config overrides any of them.
const DEFAULT_PRODUCER_SETTINGS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "5"),
    ("batch.num.messages", "10000"),
    ("queue.buffering.max.messages", "200000"),
    // Never give up on a message: the pipeline halts rather than skip one.
    ("message.timeout.ms", "0"),
];

pub struct KafkaSink {
    producer: FutureProducer,
    bootstrap_servers: String,
}

impl KafkaSink {
    pub fn new(config: &KafkaConfig) -> Result<Self, SinkError> {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &config.bootstrap_servers);
        for (key, value) in DEFAULT_PRODUCER_SETTINGS {
            client.set(*key, *value);
        }
        for (key, value) in &config.options {
            client.set(key, value);
        }
        let producer: FutureProducer = client.create().map_err(SinkError::Create)?;
        Ok(Self { producer, bootstrap_servers: config.bootstrap_servers.clone() })
    }

    /// Waits until a broker answers a metadata request, with capped backoff. False on shutdown.
    pub async fn wait_until_reachable(&self, shutdown: &mut Shutdown) -> bool {
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 1u32;
        loop {
            let producer = self.producer.clone();
            let answer = tokio::task::spawn_blocking(move || {
                producer.client().fetch_metadata(None, Duration::from_secs(5)).map(|_| ())
            })
            .await;
            match answer {
                Ok(Ok(())) => {
                    if attempt > 1 {
                        tracing::info!(brokers = %self.bootstrap_servers, "reached Kafka after {attempt} attempts");
                    }
                    return true;
                }
                Ok(Err(error)) => tracing::warn!(
                    brokers = %self.bootstrap_servers,
                    attempt,
                    retry_in_ms = backoff.as_millis() as u64,
                    "waiting for Kafka at {}: {error}",
                    self.bootstrap_servers
                ),
                Err(error) => tracing::warn!("Kafka metadata request failed: {error}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait() => return false,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            attempt += 1;
        }
    }

    /// Hands one message to the producer; waits while its queue is full.
    pub async fn send(&self, message: &OutMessage) -> Result<DeliveryFuture, SinkError> {
        loop {
            let mut record = FutureRecord::to(&message.topic).payload(&message.payload);
            if let Some(key) = &message.key {
                record = record.key(key);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => return Err(SinkError::Send { topic: message.topic.clone(), error }),
            }
        }
    }

    /// Waits for every queued message to be delivered or fail.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!("Kafka flush did not finish: {error}");
        }
    }
}
