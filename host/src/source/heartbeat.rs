//! What a server heartbeat proves about the stream's position.
//!
//! On an idle stream the server sends a heartbeat event every `@master_heartbeat_period`. Its header's
//! `log_pos` is how far the server's dump thread has sent the binlog, and its body names the file.
//! The server writes a transaction to the binlog whole and sends only what is written, so when the
//! reader has no transaction open, everything before that position was sent and read: it is a
//! transaction boundary, and a checkpoint may name it.
//!
//! That matters when the binlog moves without a commit of its own: a rotation (`FLUSH BINARY LOGS`,
//! a server restart) leaves the last commit in the previous file, and without the heartbeat the
//! checkpoint would keep naming that file until the next write, so purging it would strand a
//! restart. Transactions of tables that are not captured need no heartbeat: their commits already
//! move the checkpoint.

use crate::source::position::BinlogPosition;

/// The boundary a heartbeat proves, if it is past `resume_from` (the last boundary the reader passed).
///
/// `body` is the heartbeat's body (the binlog file name, perhaps followed by a 4-byte checksum),
/// `log_pos` its header's position, `read_up_to` the end of the last event the reader handled. A
/// heartbeat inside a transaction, of another file, or behind what was read proves nothing.
pub fn boundary_at(
    body: &[u8],
    log_pos: u64,
    read_up_to: &BinlogPosition,
    resume_from: &BinlogPosition,
    in_transaction: bool,
) -> Option<BinlogPosition> {
    if in_transaction || log_pos == 0 {
        return None;
    }
    let file = read_up_to.file.as_bytes();
    let names_current_file = body.starts_with(file) && matches!(body.len() - file.len(), 0 | 4);
    if !names_current_file || log_pos < read_up_to.offset {
        return None;
    }
    let boundary = BinlogPosition::new(read_up_to.file.clone(), log_pos);
    (boundary != *resume_from && boundary.is_at_or_past(resume_from)).then_some(boundary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, offset: u64) -> BinlogPosition {
        BinlogPosition::new(file, offset)
    }

    #[test]
    fn a_heartbeat_after_a_rotation_moves_the_boundary_into_the_new_file() {
        let read = at("mysql-bin.000002", 385);
        let resume = at("mysql-bin.000001", 9000);
        assert_eq!(
            boundary_at(b"mysql-bin.000002", 385, &read, &resume, false),
            Some(at("mysql-bin.000002", 385))
        );
        // A trailing checksum on the name is allowed.
        assert_eq!(
            boundary_at(b"mysql-bin.000002\x01\x02\x03\x04", 385, &read, &resume, false),
            Some(at("mysql-bin.000002", 385))
        );
    }

    #[test]
    fn a_heartbeat_proves_nothing_inside_a_transaction_or_elsewhere() {
        let read = at("mysql-bin.000002", 385);
        let resume = at("mysql-bin.000001", 9000);
        assert_eq!(boundary_at(b"mysql-bin.000002", 385, &read, &resume, true), None);
        assert_eq!(boundary_at(b"mysql-bin.000003", 385, &read, &resume, false), None);
        assert_eq!(boundary_at(b"mysql-bin.000002", 200, &read, &resume, false), None);
        assert_eq!(boundary_at(b"mysql-bin.000002", 0, &read, &resume, false), None);
    }

    #[test]
    fn a_heartbeat_at_the_last_boundary_is_not_news() {
        let here = at("mysql-bin.000002", 385);
        assert_eq!(boundary_at(b"mysql-bin.000002", 385, &here, &here, false), None);
    }
}
