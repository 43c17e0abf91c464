//! Which partition a message goes to, decided by sluice rather than left to librdkafka.
//!
//! Exactly-once delivery compares each message with the tail of the partition it goes to, so the
//! partition must be known before the send and must be the same on every run. A keyed message goes
//! where Kafka's Java client would put it: `murmur2(key) & 0x7fffffff % partitions` (the
//! `DefaultPartitioner`, also librdkafka's `murmur2` partitioner), so consumers and other producers
//! agree on where a key lives. A message without a key (a table without a primary key) goes to
//! partition 0, which keeps such a table in order.

/// The seed of Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
const KAFKA_SEED: u32 = 0x9747_b28c;

/// The partition of a message with `key` in a topic of `partitions` partitions.
pub fn partition_for(key: Option<&[u8]>, partitions: i32) -> i32 {
    match key {
        Some(key) if partitions > 1 => ((murmur2::murmur2(key, KAFKA_SEED) & 0x7fff_ffff) % partitions as u32) as i32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2::murmur2(key, KAFKA_SEED) as i32,
                expected,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn keys_spread_over_partitions_and_keyless_messages_go_to_zero() {
        assert_eq!(partition_for(None, 8), 0);
        assert_eq!(partition_for(Some(b"anything"), 1), 0);
        let used: std::collections::BTreeSet<i32> =
            (0..200u32).map(|n| partition_for(Some(&n.to_be_bytes()), 8)).collect();
        assert_eq!(used, (0..8).collect(), "200 keys should reach all 8 partitions");
        for n in 0..200u32 {
            let partition = partition_for(Some(&n.to_be_bytes()), 8);
            assert_eq!(partition, partition_for(Some(&n.to_be_bytes()), 8));
            assert!((0..8).contains(&partition));
        }
    }
}
