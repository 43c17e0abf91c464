//! Encoding kept changes into Kafka messages: DTS Avro values and primary-key message keys.

pub mod dts_avro;
pub mod key;

/// One Kafka message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// Why a change could not be encoded. Names the table and column to look at.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode a change of {object}: {detail}")]
pub struct EncodeError {
    pub object: String,
    pub detail: String,
}
