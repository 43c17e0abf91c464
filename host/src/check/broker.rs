//! Checks of the Kafka side: does a broker answer, and does every topic sluice publishes to by
//! configuration exist or may it be created.
//!
//! One metadata request answers both. `sluice check` makes it with a fresh client and a short timeout
//! ([`run`]); `sluice run` first waits for the broker as it always did, then asks through its own
//! producer ([`topics_through`]).

use std::time::Duration;

use rdkafka::client::{Client, ClientContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

use crate::check::report::{Area, CheckResult};
use crate::config::{Config, Delivery, OversizedPolicy};
use crate::plugin::FailurePolicy;
use crate::sink::kafka::KafkaSink;

const AREA: Area = Area::Broker;

/// How long `sluice check` waits for a broker's metadata answer.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// One topic as the broker's metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTopic {
    pub name: String,
    pub partitions: usize,
    /// The broker's error for the topic (e.g. unknown topic), if any.
    pub error: Option<String>,
}

/// What a metadata request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub brokers: usize,
    pub topics: Vec<ListedTopic>,
}

fn fetch_listing<C: ClientContext>(client: &Client<C>, timeout: Duration) -> Result<Listing, String> {
    let metadata = client
        .fetch_metadata(None, timeout)
        .map_err(|error| error.to_string())?;
    Ok(Listing {
        brokers: metadata.brokers().len(),
        topics: metadata
            .topics()
            .iter()
            .map(|topic| ListedTopic {
                name: topic.name().to_owned(),
                partitions: topic.partitions().len(),
                error: topic.error().map(|code| format!("{code:?}")),
            })
            .collect(),
    })
}

/// The precheck client's context: keeps the error librdkafka reports by itself, a refused login or TLS
/// handshake before any other, which says more than the metadata request's timeout.
#[derive(Default)]
struct FirstError(std::sync::Mutex<Option<(KafkaError, String)>>);

impl ClientContext for FirstError {
    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(target: "librdkafka", facility, "{message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", "{error}: {reason}");
        let mut kept = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let security_kept = kept.as_ref().is_some_and(|(kept, _)| is_security_error(kept));
        if kept.is_none() || (is_security_error(&error) && !security_kept) {
            *kept = Some((error, reason.to_owned()));
        }
    }
}

/// The precheck sends nothing; it only asks for metadata.
impl ProducerContext for FirstError {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

impl FirstError {
    fn take(&self) -> Option<(KafkaError, String)> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// Whether librdkafka's error is the broker refusing sluice's login or its TLS handshake.
fn is_security_error(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed | RDKafkaErrorCode::SSL)
    )
}

/// Asks the broker for its metadata once, within [`METADATA_TIMEOUT`], and checks the topics.
pub async fn run(config: &Config) -> Vec<CheckResult> {
    let kafka = &config.kafka;
    let client = crate::sink::kafka::client_config(kafka);
    let answer = tokio::task::spawn_blocking(move || {
        let producer: BaseProducer<FirstError> = client
            .create_with_context(FirstError::default())
            .map_err(|error| (format!("cannot create a Kafka client: {error}"), false))?;
        fetch_listing(producer.client(), METADATA_TIMEOUT).map_err(|error| {
            // librdkafka hands its own errors to the context only when polled.
            producer.poll(Duration::from_millis(100));
            match producer.context().take() {
                Some((first, reason)) => (reason, is_security_error(&first)),
                None => (error, false),
            }
        })
    })
    .await
    .unwrap_or_else(|error| Err((error.to_string(), false)));
    let servers = &kafka.bootstrap_servers;
    match answer {
        Ok(listing) => {
            let mut results = vec![CheckResult::pass(
                AREA,
                "Kafka broker",
                format!(
                    "kafka.bootstrap_servers = {servers} answered: {} broker{} in the cluster",
                    listing.brokers,
                    if listing.brokers == 1 { "" } else { "s" }
                ),
            )];
            results.extend(topic_results(&listing, config));
            results
        }
        Err((error, true)) => {
            let mut results = vec![CheckResult::fail(
                AREA,
                "Kafka broker",
                format!(
                    "the broker at kafka.bootstrap_servers = {servers} refused the connection as {}: {error}",
                    kafka.security.describe()
                ),
                "check kafka.sasl (mechanism, username and password) and kafka.tls against the broker's listener",
            )];
            results.extend(skipped_topics(config, "the broker refused the login"));
            results
        }
        Err((error, false)) => {
            let mut results = vec![CheckResult::fail(
                AREA,
                "Kafka broker",
                format!(
                    "no broker at kafka.bootstrap_servers = {servers} answered within {} s: {error}",
                    METADATA_TIMEOUT.as_secs()
                ),
                "check kafka.bootstrap_servers, that the broker runs and is reachable from here, and its security \
                 settings (kafka.sasl, kafka.tls)",
            )];
            results.extend(skipped_topics(config, "no broker answered"));
            results
        }
    }
}

fn skipped_topics(config: &Config, why: &'static str) -> impl Iterator<Item = CheckResult> {
    wanted_topics(config)
        .into_iter()
        .map(move |(topic, _)| CheckResult::skip(AREA, format!("topic `{topic}`"), why))
}

/// The topic checks of `sluice run`, asked through its producer once the broker answered.
pub async fn topics_through(sink: &KafkaSink, config: &Config) -> Vec<CheckResult> {
    let producer = sink.producer().clone();
    let answer = tokio::task::spawn_blocking(move || fetch_listing(producer.client(), METADATA_TIMEOUT))
        .await
        .unwrap_or_else(|error| Err(error.to_string()));
    match answer {
        Ok(listing) => topic_results(&listing, config),
        // The broker answered a moment ago; a hiccup now is for the sink's own retries to ride out.
        Err(error) => vec![CheckResult::warn(
            AREA,
            "topics",
            format!("could not list the topics: {error}"),
            "check the broker; missing topics are created when first used if kafka.create_topics = true",
        )],
    }
}

/// Every topic the config names, with the key that names it.
fn wanted_topics(config: &Config) -> Vec<(String, String)> {
    let mut topics = vec![(config.kafka.topic.clone(), "kafka.topic".to_owned())];
    if let OversizedPolicy::DeadLetter { topic } = &config.kafka.oversized {
        topics.push((topic.clone(), "kafka.oversized_dead_letter_topic".to_owned()));
    }
    if config.kafka.delivery == Delivery::Transactional {
        topics.push((
            config.kafka.checkpoint_topic.clone(),
            "kafka.checkpoint_topic".to_owned(),
        ));
    }
    if let Some(topic) = &config.ddl.topic {
        topics.push((topic.clone(), "ddl.topic".to_owned()));
    }
    for (index, plugin) in config.plugins.iter().enumerate() {
        if let FailurePolicy::DeadLetter { topic } = &plugin.on_failure {
            topics.push((topic.clone(), format!("plugins[{index}].dead_letter_topic")));
        }
    }
    let mut seen = std::collections::HashSet::new();
    topics.retain(|(topic, _)| seen.insert(topic.clone()));
    topics
}

/// Per configured topic: it exists, or will be created, or is missing for good.
pub fn topic_results(listing: &Listing, config: &Config) -> Vec<CheckResult> {
    wanted_topics(config)
        .into_iter()
        .map(|(topic, key)| {
            let name = format!("topic `{topic}`");
            let listed = listing
                .topics
                .iter()
                .find(|listed| listed.name == topic && listed.error.is_none() && listed.partitions > 0);
            match listed {
                Some(listed) => CheckResult::pass(
                    AREA,
                    name,
                    format!(
                        "exists ({key}), {} partition{}",
                        listed.partitions,
                        if listed.partitions == 1 { "" } else { "s" }
                    ),
                ),
                None if config.kafka.create_topics => CheckResult::pass(
                    AREA,
                    name,
                    format!(
                        "does not exist yet ({key}); will be created when first used (kafka.create_topics), with \
                         {} partition{} and replication factor {}",
                        config.kafka.topic_partitions,
                        if config.kafka.topic_partitions == 1 { "" } else { "s" },
                        config.kafka.topic_replication
                    ),
                ),
                None => CheckResult::fail(
                    AREA,
                    name,
                    format!("does not exist ({key}) and kafka.create_topics = false"),
                    format!("create topic `{topic}` on the broker, or set kafka.create_topics = true"),
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    fn config(extra_kafka: &str) -> Config {
        let text = format!(
            "[source]\nhost = \"h\"\nuser = \"u\"\nserver_id = 7\ntables = [\"shop.*\"]\n\
             [kafka]\nbootstrap_servers = \"b:9092\"\ntopic = \"changes\"\n{extra_kafka}\n\
             [checkpoint]\npath = \"c.json\"\n"
        );
        Config::from_toml_str(&text, std::path::Path::new(".")).unwrap()
    }

    fn listing(topics: &[(&str, usize)]) -> Listing {
        Listing {
            brokers: 1,
            topics: topics
                .iter()
                .map(|(name, partitions)| ListedTopic {
                    name: (*name).to_owned(),
                    partitions: *partitions,
                    error: None,
                })
                .collect(),
        }
    }

    #[test]
    fn an_existing_topic_passes_and_a_missing_one_passes_only_if_it_may_be_created() {
        let existing = topic_results(&listing(&[("changes", 3)]), &config(""));
        assert_eq!(existing[0].status, Status::Pass);
        assert!(existing[0].detail.contains("3 partitions"));
        let created = topic_results(&listing(&[]), &config(""));
        assert_eq!(created[0].status, Status::Pass);
        assert!(created[0].detail.contains("will be created"));
        let missing = topic_results(&listing(&[]), &config("create_topics = false"));
        assert_eq!(missing[0].status, Status::Fail);
        assert!(
            missing[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("kafka.create_topics = true")
        );
    }

    #[test]
    fn dead_letter_topics_are_checked_too() {
        let config =
            config("create_topics = false\noversized_message = \"dead_letter\"\noversized_dead_letter_topic = \"big\"");
        let results = topic_results(&listing(&[("changes", 1)]), &config);
        assert_eq!(results.len(), 2);
        assert_eq!(results[1].name, "topic `big`");
        assert_eq!(results[1].status, Status::Fail);
    }
}
