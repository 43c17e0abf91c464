//! GTID positions: MariaDB GTID lists and MySQL GTID sets, as one typed value with a text round trip.
//!
//! A binlog file/offset names a point in one server's log; a GTID state names the same point on every
//! server that applied the same transactions, so a replica promoted after a failover can continue the
//! stream where the old primary left off. The checkpoint keeps both, and a restart resumes by GTID when
//! it has one.
//!
//! Text forms (stable; documented in the README):
//! - MariaDB, a GTID list: the last transaction of each replication domain, `domain-server-sequence`,
//!   comma-separated and ordered by domain: `0-1-100,1-2-5`.
//! - MySQL, a GTID set: per server UUID the ranges of transaction numbers, MySQL's own syntax including
//!   tags (MySQL 8.4): `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,3e11fa47-71ca-11e1-9e33-c80aa9429563:1-3:blue:1-2`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use mysql_async::{GnoInterval, Sid};

/// The GTID state of a stream position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtidSet {
    MariaDb(MariaDbGtidList),
    MySql(MySqlGtidSet),
}

impl GtidSet {
    /// Whether no transaction is named at all (a server that has not written one yet).
    pub fn is_empty(&self) -> bool {
        match self {
            GtidSet::MariaDb(list) => list.is_empty(),
            GtidSet::MySql(set) => set.is_empty(),
        }
    }
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidSet::MariaDb(list) => list.fmt(f),
            GtidSet::MySql(set) => set.fmt(f),
        }
    }
}

/// Why a GTID text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GTID `{text}` cannot be read: {reason} (MariaDB: `0-1-100,1-2-5`; MySQL: `<uuid>:1-5:7`)")]
pub struct ParseGtidError {
    text: String,
    reason: &'static str,
}

fn gtid_error(text: &str, reason: &'static str) -> ParseGtidError {
    ParseGtidError {
        text: text.to_owned(),
        reason,
    }
}

impl FromStr for GtidSet {
    type Err = ParseGtidError;

    /// A text with a `:` is a MySQL set (UUIDs are followed by one), anything else a MariaDB list.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.contains(':') {
            text.parse().map(GtidSet::MySql)
        } else {
            text.parse().map(GtidSet::MariaDb)
        }
    }
}

/// One MariaDB GTID: `domain-server-sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MariaDbGtid {
    pub domain: u32,
    pub server: u32,
    pub sequence: u64,
}

impl fmt::Display for MariaDbGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.sequence)
    }
}

impl FromStr for MariaDbGtid {
    type Err = ParseGtidError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.trim().splitn(3, '-');
        let mut next = || {
            parts
                .next()
                .ok_or_else(|| gtid_error(text, "a GTID is `domain-server-sequence`"))
        };
        let (domain, server, sequence) = (next()?, next()?, next()?);
        let number = |_| gtid_error(text, "domain, server and sequence are whole numbers");
        Ok(Self {
            domain: domain.parse().map_err(number)?,
            server: server.parse().map_err(number)?,
            sequence: sequence.parse().map_err(number)?,
        })
    }
}

/// A MariaDB GTID position: the last GTID of each replication domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MariaDbGtidList(BTreeMap<u32, MariaDbGtid>);

impl MariaDbGtidList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records that the transaction `gtid` was read.
    pub fn apply(&mut self, gtid: MariaDbGtid) {
        self.0.insert(gtid.domain, gtid);
    }

    /// Whether a stream at this position has read at least up to `floor` in every domain `floor` names
    /// (the binlog's `Gtid_list` of its oldest file is such a floor: a position behind it was purged).
    pub fn is_at_or_past(&self, floor: &MariaDbGtidList) -> bool {
        floor
            .0
            .iter()
            .all(|(domain, oldest)| self.0.get(domain).is_some_and(|gtid| gtid.sequence >= oldest.sequence))
    }
}

impl fmt::Display for MariaDbGtidList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, gtid) in self.0.values().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            gtid.fmt(f)?;
        }
        Ok(())
    }
}

impl FromStr for MariaDbGtidList {
    type Err = ParseGtidError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut list = Self::default();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let gtid: MariaDbGtid = part
                .parse()
                .map_err(|_| gtid_error(text, "a GTID is `domain-server-sequence`"))?;
            if list.0.contains_key(&gtid.domain) {
                return Err(gtid_error(text, "a domain appears twice"));
            }
            list.apply(gtid);
        }
        Ok(list)
    }
}

/// A MySQL GTID set: per server UUID and tag, the transaction numbers executed, as sorted,
/// non-overlapping, non-adjacent half-open ranges `[start, end)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MySqlGtidSet(BTreeMap<(String, String), Vec<(u64, u64)>>);

impl MySqlGtidSet {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records that transaction `uuid[:tag]:number` was read. `uuid` is 16 bytes; `tag` empty when
    /// untagged.
    pub fn add(&mut self, uuid: [u8; 16], tag: &str, number: u64) {
        let ranges = self.0.entry((format_uuid(uuid), tag.to_owned())).or_default();
        insert_range(ranges, number, number + 1);
    }

    /// The set as the `Sid`s of a `COM_BINLOG_DUMP_GTID` request.
    pub fn to_sids(&self) -> Vec<Sid<'static>> {
        self.0
            .iter()
            .filter_map(|((uuid, tag), ranges)| {
                let mut text = format!("{uuid}:");
                if !tag.is_empty() {
                    text.push_str(tag);
                    text.push(':');
                }
                let ranges: Vec<String> = ranges
                    .iter()
                    .map(|&(start, end)| format!("{start}-{}", end - 1))
                    .collect();
                text.push_str(&ranges.join(":"));
                let sid: Sid<'static> = text.parse().ok()?;
                let intervals: Vec<GnoInterval> = sid.intervals().to_vec();
                Some(sid.with_intervals(intervals))
            })
            .collect()
    }
}

fn insert_range(ranges: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    let at = ranges.partition_point(|&(_, range_end)| range_end < start);
    let mut merged = (start, end);
    let mut last = at;
    while last < ranges.len() && ranges[last].0 <= merged.1 {
        merged = (merged.0.min(ranges[last].0), merged.1.max(ranges[last].1));
        last += 1;
    }
    ranges.splice(at..last, [merged]);
}

fn format_uuid(bytes: [u8; 16]) -> String {
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    // Only MySQL's own form, 36 characters with hyphens, not the other forms `Uuid` accepts.
    (text.len() == 36)
        .then(|| uuid::Uuid::parse_str(text).ok())
        .flatten()
        .map(|uuid| *uuid.as_bytes())
}

impl fmt::Display for MySqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut current_uuid: Option<&str> = None;
        for ((uuid, tag), ranges) in &self.0 {
            if current_uuid != Some(uuid.as_str()) {
                if current_uuid.is_some() {
                    f.write_str(",")?;
                }
                f.write_str(uuid)?;
                current_uuid = Some(uuid);
            }
            if !tag.is_empty() {
                write!(f, ":{tag}")?;
            }
            for &(start, end) in ranges {
                if end == start + 1 {
                    write!(f, ":{start}")?;
                } else {
                    write!(f, ":{start}-{}", end - 1)?;
                }
            }
        }
        Ok(())
    }
}

impl FromStr for MySqlGtidSet {
    type Err = ParseGtidError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut set = Self::default();
        for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let mut parts = entry.split(':');
            let uuid = parts
                .next()
                .and_then(parse_uuid)
                .ok_or_else(|| gtid_error(text, "each entry starts with a server UUID"))?;
            let mut tag = String::new();
            let mut ranges_seen = false;
            for part in parts {
                if part.starts_with(|c: char| c.is_ascii_digit()) {
                    let (start, end) = match part.split_once('-') {
                        Some((start, end)) => (start.parse::<u64>(), end.parse::<u64>()),
                        None => (part.parse::<u64>(), part.parse::<u64>()),
                    };
                    let (Ok(start), Ok(end)) = (start, end) else {
                        return Err(gtid_error(text, "a range is `n` or `n-m`"));
                    };
                    if start == 0 || end < start {
                        return Err(gtid_error(
                            text,
                            "a range starts at 1 or later and does not run backwards",
                        ));
                    }
                    let ranges = set.0.entry((format_uuid(uuid), tag.clone())).or_default();
                    insert_range(ranges, start, end + 1);
                    ranges_seen = true;
                } else if !part.is_empty()
                    && part.len() <= 32
                    && part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    tag = part.to_owned();
                } else {
                    return Err(gtid_error(text, "after a UUID come ranges and lower-case tags"));
                }
            }
            if !ranges_seen {
                return Err(gtid_error(text, "a UUID without a range of transactions"));
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_lists_round_trip_and_keep_the_last_gtid_per_domain() {
        let mut list: MariaDbGtidList = "1-2-5, 0-1-100".parse().unwrap();
        assert_eq!(list.to_string(), "0-1-100,1-2-5");
        list.apply("0-3-101".parse().unwrap());
        list.apply("7-3-1".parse().unwrap());
        assert_eq!(list.to_string(), "0-3-101,1-2-5,7-3-1");
        let text = list.to_string();
        assert_eq!(text.parse::<GtidSet>().unwrap(), GtidSet::MariaDb(list));
        assert_eq!("".parse::<MariaDbGtidList>().unwrap(), MariaDbGtidList::default());
        assert!("0-1".parse::<MariaDbGtidList>().is_err());
        assert!("0-1-x".parse::<MariaDbGtidList>().is_err());
        assert!("0-1-5,0-2-6".parse::<MariaDbGtidList>().is_err());
    }

    #[test]
    fn a_mariadb_position_behind_the_oldest_binlog_is_recognised() {
        let at: MariaDbGtidList = "0-1-100,1-2-5".parse().unwrap();
        assert!(at.is_at_or_past(&"0-1-100".parse().unwrap()));
        assert!(at.is_at_or_past(&"0-1-40,1-2-5".parse().unwrap()));
        assert!(at.is_at_or_past(&MariaDbGtidList::default()));
        assert!(!at.is_at_or_past(&"0-1-101".parse().unwrap()));
        assert!(
            !at.is_at_or_past(&"2-1-1".parse().unwrap()),
            "a domain the position never saw"
        );
    }

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429563";

    #[test]
    fn mysql_sets_round_trip_in_canonical_form_with_tags() {
        for text in [
            format!("{A}:1-5:7"),
            format!("{A}:1-5:7,{B}:1-3:blue:1-2:red_2:9"),
            format!("{A}:blue:4"),
        ] {
            let set: MySqlGtidSet = text.parse().unwrap();
            assert_eq!(set.to_string(), text);
            assert_eq!(text.parse::<GtidSet>().unwrap(), GtidSet::MySql(set));
        }
        // Upper case UUIDs, overlapping and adjacent ranges come out canonical.
        let set: MySqlGtidSet = format!("{}:3-4:1-2:6:5", A.to_uppercase()).parse().unwrap();
        assert_eq!(set.to_string(), format!("{A}:1-6"));
        for bad in [
            A.to_string(),
            format!("{A}:0"),
            format!("{A}:5-3"),
            format!("{A}:Blue:1"),
            "nope:1".into(),
        ] {
            assert!(bad.parse::<MySqlGtidSet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mysql_transactions_merge_into_ranges() {
        let uuid = parse_uuid(A).unwrap();
        let mut set = MySqlGtidSet::default();
        for number in [1, 2, 3, 7, 5, 6, 9] {
            set.add(uuid, "", number);
        }
        set.add(uuid, "blue", 1);
        assert_eq!(set.to_string(), format!("{A}:1-3:5-7:9:blue:1"));
        set.add(uuid, "", 4);
        set.add(uuid, "", 8);
        assert_eq!(set.to_string(), format!("{A}:1-9:blue:1"));
        let sids = set.to_sids();
        assert_eq!(sids.len(), 2);
        assert_eq!(sids[0].to_string(), format!("{A}:1-9"));
        assert_eq!(sids[1].to_string(), format!("{A}:blue:1"));
    }
}
