//! A DTS record without its column values: what a dead-letter topic receives for a message too large
//! to publish (`kafka.oversized_message = "dead_letter"`).
//!
//! The sink meets the size limit only when the producer refuses a message, long after the change was
//! encoded, so it works on the encoded bytes: [`RecordHeader::read`] reads the record's leading fields
//! (id, positions, transaction, operation, object name, tags) for error messages, and
//! [`without_values`] keeps them, sets `fields`, `beforeImages` and `afterImages` to null and keeps
//! `bornTimestamp`. The result is a valid `Record` of the same schema: a consumer sees which change
//! (position, key, table) was too large and can fetch the row from the source.

/// The leading fields of an encoded DTS record, up to and including `tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub id: i64,
    pub source_position: String,
    /// `database.table`, or the name a plugin chose; `None` for records without one (heartbeats).
    pub object_name: Option<String>,
    /// Where `fields` starts: the header is `payload[..length]`.
    pub length: usize,
}

impl RecordHeader {
    /// Reads the header of an encoded `Record`; `None` if the bytes are not one.
    pub fn read(payload: &[u8]) -> Option<Self> {
        let mut cursor = Cursor { bytes: payload, at: 0 };
        cursor.long()?; // version
        let id = cursor.long()?;
        cursor.long()?; // sourceTimestamp
        let source_position = cursor.string()?.to_owned();
        cursor.string()?; // safeSourcePosition
        cursor.string()?; // sourceTxid
        cursor.long()?; // source.sourceType
        cursor.string()?; // source.version
        cursor.long()?; // operation
        let object_name = match cursor.long()? {
            0 => None,
            1 => Some(cursor.string()?.to_owned()),
            _ => return None,
        };
        match cursor.long()? {
            0 => {}
            1 => cursor.blocks(|cursor| cursor.long().map(drop))?,
            _ => return None,
        }
        cursor.blocks(|cursor| {
            cursor.string()?;
            cursor.string().map(drop)
        })?;
        Some(Self {
            id,
            source_position,
            object_name,
            length: cursor.at,
        })
    }
}

/// The same record with null `fields`, `beforeImages` and `afterImages`; `None` if `payload` is not a
/// `Record`.
pub fn without_values(payload: &[u8]) -> Option<Vec<u8>> {
    let header = RecordHeader::read(payload)?;
    let born_timestamp = trailing_long(&payload[header.length..])?;
    let mut out = Vec::with_capacity(header.length + 3 + born_timestamp.len());
    out.extend_from_slice(&payload[..header.length]);
    // fields, beforeImages, afterImages: union branch 0, null.
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(born_timestamp);
    Some(out)
}

/// The bytes of the `long` that ends `bytes` (`bornTimestamp`). A variable-length long's last byte has
/// its high bit clear and every other byte has it set; the field before it (`afterImages`) always ends
/// in a zero byte (a null branch or an array's end marker), so the long starts right after the last
/// byte before the end with a clear high bit.
fn trailing_long(bytes: &[u8]) -> Option<&[u8]> {
    let (&last, rest) = bytes.split_last()?;
    if last & 0x80 != 0 {
        return None;
    }
    let start = rest
        .iter()
        .rposition(|byte| byte & 0x80 == 0)
        .map_or(0, |index| index + 1);
    (start > 0).then(|| &bytes[start..])
}

/// Reads Avro binary primitives.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn long(&mut self) -> Option<i64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        None
    }

    fn string(&mut self) -> Option<&'a str> {
        let length = usize::try_from(self.long()?).ok()?;
        let bytes = self.bytes.get(self.at..self.at.checked_add(length)?)?;
        self.at += length;
        std::str::from_utf8(bytes).ok()
    }

    /// Skips the blocks of an array or map, reading each item with `item`.
    fn blocks(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        loop {
            let count = self.long()?;
            if count == 0 {
                return Some(());
            }
            if count < 0 {
                self.long()?; // the block's size in bytes
            }
            for _ in 0..count.unsigned_abs() {
                item(self)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::dts_avro::{DtsAvroEncoder, decode};
    use apache_avro::types::Value;

    fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
        let Value::Record(fields) = record else {
            panic!("not a record")
        };
        &fields.iter().find(|(n, _)| n == name).expect(name).1
    }

    #[test]
    fn a_stripped_record_keeps_the_header_and_drops_the_values() {
        let mut encoder = DtsAvroEncoder::new("10.11.6-MariaDB");
        let change = crate::encode::dts_avro::tests::sample();
        let payload = encoder.encode(41, &change).unwrap();
        let header = RecordHeader::read(&payload).unwrap();
        assert_eq!(header.id, 41);
        assert_eq!(header.object_name.as_deref(), Some("shop.orders"));
        assert_eq!(header.source_position, change.change.position.to_string());

        let stripped = without_values(&payload).unwrap();
        assert!(stripped.len() < payload.len());
        let original = decode(&payload).unwrap();
        let record = decode(&stripped).expect("the stripped record decodes with the DTS schema");
        for name in [
            "id",
            "sourcePosition",
            "sourceTxid",
            "operation",
            "objectName",
            "tags",
            "bornTimestamp",
        ] {
            assert_eq!(field(&record, name), field(&original, name), "{name}");
        }
        for name in ["fields", "beforeImages", "afterImages"] {
            assert_eq!(field(&record, name), &Value::Union(0, Box::new(Value::Null)), "{name}");
        }
    }

    #[test]
    fn bytes_that_are_not_a_record_are_refused() {
        assert_eq!(RecordHeader::read(&[]), None);
        assert_eq!(without_values(&[0x02, 0x80]), None);
    }
}
