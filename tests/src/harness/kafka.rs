//! Reading what reached the broker: topic listings and a consumer that reads a topic from the beginning.
//!
//! The consumer assigns itself every partition of the topic at the beginning instead of joining a
//! consumer group, so it neither depends on the broker's group coordination nor commits offsets: any
//! number of calls read the same messages. librdkafka's calls block, so each function runs on tokio's
//! blocking pool.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::metadata::Metadata;
use rdkafka::{Offset, TopicPartitionList};

/// The longest a single metadata request may take before it is retried.
const METADATA_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between metadata requests while waiting for a topic.
const METADATA_RETRY_INTERVAL: Duration = Duration::from_millis(200);
/// The longest a single poll blocks, so the deadline is checked often.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// One message read back from the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The key, `None` when the message has none.
    pub key: Option<Vec<u8>>,
    /// The value; a null value (a tombstone) reads as empty.
    pub payload: Vec<u8>,
    /// Headers in the order they were sent; a header with a null value has `None`.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl ConsumedMessage {
    fn from_message(message: &BorrowedMessage<'_>) -> ConsumedMessage {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        ConsumedMessage {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        }
    }

    /// The value of the first header named `key`, if present and not null.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(name, _)| name == key)
            .and_then(|(_, value)| value.as_deref())
    }
}

/// Reads messages from every partition of `topic`, from the beginning, until `expected` messages were
/// read or `timeout` passed, and returns what was read sorted by partition, then offset.
///
/// Waits for the topic to appear if it does not exist yet; if it never does, returns no messages. A
/// timeout is not an error: compare the length with what you expected. To read everything that arrives
/// within the timeout, pass `usize::MAX`.
pub async fn consume(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<ConsumedMessage>> {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || consume_blocking(&bootstrap, &topic, expected, timeout))
        .await
        .context("the consumer task panicked")?
}

/// Lists the names of the topics on the broker, sorted, leaving out internal topics (named `__...`).
pub async fn list_topics(bootstrap: &str) -> anyhow::Result<Vec<String>> {
    let bootstrap = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || {
        let metadata = fetch_metadata(&bootstrap, None, Duration::from_secs(10))?;
        let mut names: Vec<String> = metadata
            .topics()
            .iter()
            .map(|topic| topic.name().to_owned())
            .filter(|name| !name.starts_with("__"))
            .collect();
        names.sort();
        Ok(names)
    })
    .await
    .context("the metadata task panicked")?
}

/// Fetches cluster metadata, for all topics or one, with a new client. Blocks.
pub(crate) fn fetch_metadata(bootstrap: &str, topic: Option<&str>, timeout: Duration) -> anyhow::Result<Metadata> {
    let client: BaseConsumer = client_config(bootstrap)
        .create()
        .context("creating a kafka metadata client")?;
    client
        .fetch_metadata(topic, timeout)
        .with_context(|| format!("fetching metadata from {bootstrap}"))
}

/// The partition ids of `topic` once metadata lists it with partitions; `None` if that does not
/// happen before `deadline`. Blocks.
pub(crate) fn wait_for_partitions(client: &BaseConsumer, topic: &str, deadline: Instant) -> Option<Vec<i32>> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return None;
        }
        match client.fetch_metadata(Some(topic), remaining.min(METADATA_REQUEST_TIMEOUT)) {
            Ok(metadata) => {
                let partitions: Vec<i32> = metadata
                    .topics()
                    .iter()
                    .filter(|listed| listed.name() == topic && listed.error().is_none())
                    .flat_map(|listed| listed.partitions().iter().map(|partition| partition.id()))
                    .collect();
                if !partitions.is_empty() {
                    return Some(partitions);
                }
            }
            Err(error) => tracing::debug!(topic, %error, "metadata request failed; retrying"),
        }
        std::thread::sleep(METADATA_RETRY_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// A client configuration that fails over quickly when the broker restarts.
pub(crate) fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500");
    for (key, value) in broker_login(bootstrap) {
        config.set(key, value);
    }
    config
}

/// The client properties (SASL login) of the brokers that require authentication, by bootstrap
/// address: an authenticated [`super::Broker`] registers its login here while it runs, so every reader
/// of this module (and the broker's own admin calls) reaches it without being told.
static BROKER_LOGINS: Mutex<BTreeMap<String, Vec<(String, String)>>> = Mutex::new(BTreeMap::new());

fn broker_login(bootstrap: &str) -> Vec<(String, String)> {
    let logins = BROKER_LOGINS.lock().unwrap_or_else(PoisonError::into_inner);
    logins.get(bootstrap).cloned().unwrap_or_default()
}

/// Makes every client of this module log in to `bootstrap` with `properties`.
pub(crate) fn register_broker_login(bootstrap: &str, properties: Vec<(String, String)>) {
    let mut logins = BROKER_LOGINS.lock().unwrap_or_else(PoisonError::into_inner);
    logins.insert(bootstrap.to_owned(), properties);
}

/// Forgets the login of `bootstrap` (its broker stopped).
pub(crate) fn forget_broker_login(bootstrap: &str) {
    let mut logins = BROKER_LOGINS.lock().unwrap_or_else(PoisonError::into_inner);
    logins.remove(bootstrap);
}

/// A group id no other consumer uses.
fn unique_group_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "sluice-tests-{}-{}-{}",
        std::process::id(),
        since_epoch.as_nanos(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn consume_blocking(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<ConsumedMessage>> {
    let deadline = Instant::now() + timeout;
    // The consumer assigns partitions itself and never commits; librdkafka still wants a group id.
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", unique_group_id())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("creating a kafka consumer")?;

    let mut messages = Vec::new();
    if expected == 0 {
        return Ok(messages);
    }
    let Some(partitions) = wait_for_partitions(&consumer, topic, deadline) else {
        tracing::debug!(topic, "topic did not appear before the timeout");
        return Ok(messages);
    };
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .with_context(|| format!("assigning {topic}/{partition}"))?;
    }
    consumer
        .assign(&assignment)
        .with_context(|| format!("assigning the partitions of {topic}"))?;

    while messages.len() < expected {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        match consumer.poll(remaining.min(POLL_INTERVAL)) {
            None => {}
            Some(Ok(message)) => messages.push(ConsumedMessage::from_message(&message)),
            Some(Err(error)) => tracing::debug!(topic, %error, "consumer error; still polling"),
        }
    }
    messages.sort_by_key(|message| (message.partition, message.offset));
    Ok(messages)
}

/// The end (high watermark) offset of every partition of `topic`; empty if the topic does not exist.
pub async fn end_offsets(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<(i32, i64)>> {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || watermarks_blocking(&bootstrap, &topic, Duration::from_secs(10)))
        .await
        .context("the watermark task panicked")?
        .map(|marks| {
            marks
                .into_iter()
                .map(|(partition, _, high)| (partition, high))
                .collect()
        })
}

/// Reads every message `topic` holds right now (all partitions, from the beginning), however many;
/// fails if they cannot all be read within `timeout`.
pub async fn consume_all(bootstrap: &str, topic: &str, timeout: Duration) -> anyhow::Result<Vec<ConsumedMessage>> {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let marks = watermarks_blocking(&bootstrap, &topic, timeout)?;
        let total: i64 = marks.iter().map(|(_, low, high)| high - low).sum();
        let messages = consume_blocking(&bootstrap, &topic, total as usize, timeout)?;
        anyhow::ensure!(
            messages.len() as i64 >= total,
            "read {} of the {total} messages of {topic} within {timeout:?}",
            messages.len()
        );
        Ok(messages)
    })
    .await
    .context("the consumer task panicked")?
}

/// `(partition, low, high)` watermarks of every partition of `topic`. Blocks.
fn watermarks_blocking(bootstrap: &str, topic: &str, timeout: Duration) -> anyhow::Result<Vec<(i32, i64, i64)>> {
    let consumer: BaseConsumer = client_config(bootstrap).create().context("creating a kafka client")?;
    let Some(partitions) = wait_for_partitions(&consumer, topic, Instant::now() + timeout.min(Duration::from_secs(10)))
    else {
        return Ok(Vec::new());
    };
    partitions
        .into_iter()
        .map(|partition| {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, timeout)
                .with_context(|| format!("fetching the watermarks of {topic}/{partition}"))?;
            Ok((partition, low, high))
        })
        .collect()
}
