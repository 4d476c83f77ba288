//! Checksummed records for append-only files (write-ahead logs), and how to read them back.
//!
//! A record is `[len u32 LE][crc u32 LE][payload]`, where `len` is the payload's length and `crc`
//! is CRC32C over the four length bytes followed by the payload. The length is covered too, so a
//! run of zero bytes (a file whose size reached the disk before its data) never reads as a valid
//! empty record, as it would if only the payload were summed (the CRC32C of nothing is 0).
//!
//! After a crash a log ends in one of three ways, and [`decode_records`] says which:
//! * [`Tail::Clean`]: every byte belongs to a complete, valid record.
//! * [`Tail::Torn`]: the last record is incomplete (the driver contract lets a crash keep any
//!   byte prefix of unsynced appends), or everything from the last good record on is zero bytes.
//!   Nothing durable is lost by cutting the file at the offset ([`crate::Effect::Truncate`]).
//! * [`Tail::Corrupt`]: a complete record with a bad checksum, an impossible length, or a length
//!   damaged so that it points past the end. The file was damaged, not torn: cutting it could
//!   drop acknowledged records, so the owner must refuse to start and name the offset.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// The largest payload a record may carry. Why a bound: a damaged length must never make a
/// reader believe in (or allocate for) a record of gigabytes; anything above it is corruption.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Bytes in front of every payload: the length and the checksum.
pub const RECORD_HEADER_BYTES: usize = 8;

/// How a sequence of records ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belongs to a valid record.
    Clean,
    /// The bytes from `offset` on are an incomplete last record (or zeros): cut the file there.
    Torn {
        /// Where the incomplete record starts: the length to truncate the file to.
        offset: u64,
    },
    /// The record at `offset` is damaged: refuse to start, naming the file and this offset.
    Corrupt {
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong with it.
        cause: Corruption,
    },
}

/// What is wrong with a damaged record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// The record is complete but its checksum does not match.
    Checksum,
    /// The length field exceeds [`MAX_RECORD_BYTES`]: no writer produced it.
    LengthTooLarge {
        /// The length found.
        len: u32,
    },
    /// The record seems to run past the end of the file, but with one byte of its length changed
    /// it fits and its checksum matches: the length was damaged, and records after it may exist.
    LengthDamaged,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Checksum => write!(f, "checksum mismatch"),
            Corruption::LengthTooLarge { len } => {
                write!(f, "record length {len} exceeds {MAX_RECORD_BYTES}")
            }
            Corruption::LengthDamaged => write!(f, "damaged record length"),
        }
    }
}

/// One record, framed: `[len][crc][payload]`.
///
/// # Panics
/// If `payload` is longer than [`MAX_RECORD_BYTES`].
pub fn encode_record(payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(RECORD_HEADER_BYTES + payload.len());
    put_record(&mut buf, payload);
    buf.freeze()
}

/// Appends one framed record to `buf`, so that many records can go out in one `Append`.
///
/// # Panics
/// If `payload` is longer than [`MAX_RECORD_BYTES`].
pub fn put_record(buf: &mut BytesMut, payload: &[u8]) {
    assert!(
        payload.len() <= MAX_RECORD_BYTES,
        "record payload of {} bytes exceeds MAX_RECORD_BYTES ({MAX_RECORD_BYTES})",
        payload.len()
    );
    let len = u32::try_from(payload.len()).expect("MAX_RECORD_BYTES fits in u32");
    let len_bytes = len.to_le_bytes();
    buf.reserve(RECORD_HEADER_BYTES + payload.len());
    buf.put_slice(&len_bytes);
    buf.put_u32_le(checksum(&len_bytes, payload));
    buf.put_slice(payload);
}

/// Splits `bytes` into the payloads of its valid records, in order, and says how it ends. Reading
/// stops at the first record that is not valid; the payloads borrow from `bytes` (use
/// `Bytes::slice_ref` to keep them without copying). Never panics, whatever the input.
pub fn decode_records(bytes: &[u8]) -> (Vec<&[u8]>, Tail) {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let offset = at as u64;
        match check(rest) {
            Check::Valid(payload) => {
                records.push(payload);
                at += RECORD_HEADER_BYTES + payload.len();
            }
            Check::Incomplete => return (records, Tail::Torn { offset }),
            // A file system may persist a file's new size before its data; the gap reads as
            // zeros. No valid record is all zeros (its checksum covers the length), so a zero
            // tail can only be unsynced appends that never reached the disk.
            Check::Damaged(_) if rest.iter().all(|&b| b == 0) => {
                return (records, Tail::Torn { offset });
            }
            Check::Damaged(cause) => return (records, Tail::Corrupt { offset, cause }),
        }
    }
    (records, Tail::Clean)
}

enum Check<'a> {
    Valid(&'a [u8]),
    Incomplete,
    Damaged(Corruption),
}

/// Checks the record at the start of `rest`.
fn check(rest: &[u8]) -> Check<'_> {
    let Some((header, body)) = rest.split_first_chunk::<RECORD_HEADER_BYTES>() else {
        return Check::Incomplete;
    };
    let len_bytes: [u8; 4] = header[..4].try_into().expect("a 4-byte slice");
    let crc = u32::from_le_bytes(header[4..].try_into().expect("a 4-byte slice"));
    let len = u32::from_le_bytes(len_bytes);
    if len as usize > MAX_RECORD_BYTES {
        return Check::Damaged(Corruption::LengthTooLarge { len });
    }
    let Some(payload) = body.get(..len as usize) else {
        if length_was_damaged(len_bytes, crc, body) {
            return Check::Damaged(Corruption::LengthDamaged);
        }
        return Check::Incomplete;
    };
    if checksum(&len_bytes, payload) == crc {
        Check::Valid(payload)
    } else {
        Check::Damaged(Corruption::Checksum)
    }
}

/// A record that runs past the end is torn only if its length is genuine. A torn write keeps a
/// prefix, so its length bytes are exactly what was written; a damaged length that happens to
/// point past the end would otherwise make a reader cut every record after it. So: try every
/// length one byte away from the one found (at most 4 × 255) that fits in `body`; if one makes
/// the checksum match, the length was damaged. Cost: one pass over `body` plus a CRC combine per
/// candidate, since the payload sums are computed incrementally in order of length.
fn length_was_damaged(len_bytes: [u8; 4], crc: u32, body: &[u8]) -> bool {
    let mut candidates: Vec<([u8; 4], usize)> = Vec::new();
    for position in 0..4 {
        for value in 0..=u8::MAX {
            if value == len_bytes[position] {
                continue;
            }
            let mut changed = len_bytes;
            changed[position] = value;
            let len = u32::from_le_bytes(changed) as usize;
            if len <= body.len() && len <= MAX_RECORD_BYTES {
                candidates.push((changed, len));
            }
        }
    }
    candidates.sort_unstable_by_key(|&(_, len)| len);
    let (mut summed, mut payload_crc) = (0, 0);
    candidates.into_iter().any(|(changed, len)| {
        payload_crc = crc32c::crc32c_append(payload_crc, &body[summed..len]);
        summed = len;
        crc32c::crc32c_combine(crc32c::crc32c(&changed), payload_crc, len) == crc
    })
}

fn checksum(len_bytes: &[u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_bytes), payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn log_of(payloads: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
        let mut buf = BytesMut::new();
        let mut starts = Vec::new();
        for payload in payloads {
            starts.push(buf.len());
            put_record(&mut buf, payload);
        }
        (buf.to_vec(), starts)
    }

    fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
        vec(vec(any::<u8>(), 0..40), 0..12)
    }

    proptest! {
        /// Every encoded log decodes to the same payloads, cleanly.
        #[test]
        fn records_round_trip(payloads in payloads()) {
            let (log, _) = log_of(&payloads);
            let (records, tail) = decode_records(&log);
            prop_assert_eq!(tail, Tail::Clean);
            prop_assert_eq!(records, payloads.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }

        /// A crash keeps any byte prefix of unsynced appends: every such prefix decodes as Clean
        /// (cut at a record boundary) or Torn at the start of the cut record, with every complete
        /// record before it intact.
        #[test]
        fn every_prefix_is_clean_or_torn(payloads in payloads(), cut in any::<prop::sample::Index>()) {
            let (log, starts) = log_of(&payloads);
            let cut = cut.index(log.len() + 1);
            let (records, tail) = decode_records(&log[..cut]);
            let complete = starts
                .iter()
                .zip(&payloads)
                .take_while(|(start, p)| *start + RECORD_HEADER_BYTES + p.len() <= cut)
                .count();
            prop_assert_eq!(&records[..], &payloads[..complete].iter().map(Vec::as_slice).collect::<Vec<_>>()[..]);
            let boundary = starts.get(complete).copied().unwrap_or(log.len());
            if cut == boundary {
                prop_assert_eq!(tail, Tail::Clean);
            } else {
                prop_assert_eq!(tail, Tail::Torn { offset: boundary as u64 });
            }
        }

        /// One damaged byte anywhere in a log (length, checksum or payload, last record
        /// included) is reported as Corrupt at the start of its record, never cut as a torn
        /// tail, and the records before it are intact.
        #[test]
        fn a_flipped_byte_is_corrupt(
            payloads in vec(vec(any::<u8>(), 0..40), 1..12),
            at in any::<prop::sample::Index>(),
            flip in 1..=u8::MAX,
        ) {
            let (mut log, starts) = log_of(&payloads);
            let at = at.index(log.len());
            log[at] ^= flip;
            let damaged = starts.iter().rposition(|&start| start <= at).expect("starts at 0");
            let (records, tail) = decode_records(&log);
            prop_assert!(
                matches!(tail, Tail::Corrupt { offset, .. } if offset == starts[damaged] as u64),
                "byte {} of record {} flipped: {:?}", at, damaged, tail
            );
            prop_assert_eq!(records, payloads[..damaged].iter().map(Vec::as_slice).collect::<Vec<_>>());
        }

        /// Arbitrary bytes never panic, and whatever is returned lies inside the input.
        #[test]
        fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..200)) {
            let (records, tail) = decode_records(&bytes);
            let used: usize = records.iter().map(|r| RECORD_HEADER_BYTES + r.len()).sum();
            prop_assert!(used <= bytes.len());
            match tail {
                Tail::Clean => prop_assert_eq!(used, bytes.len()),
                Tail::Torn { offset } | Tail::Corrupt { offset, .. } => {
                    prop_assert_eq!(offset, used as u64);
                }
            }
        }
    }

    #[test]
    fn zero_tail_is_torn_not_empty_records() {
        let mut log = encode_record(b"kept").to_vec();
        let good = log.len() as u64;
        log.extend([0; 20]);
        let (records, tail) = decode_records(&log);
        assert_eq!(records, [b"kept".as_slice()]);
        assert_eq!(tail, Tail::Torn { offset: good });
    }

    #[test]
    fn a_huge_length_is_corrupt_without_allocating() {
        let mut log = encode_record(b"x").to_vec();
        log[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (records, tail) = decode_records(&log);
        assert!(records.is_empty());
        assert_eq!(
            tail,
            Tail::Corrupt {
                offset: 0,
                cause: Corruption::LengthTooLarge { len: u32::MAX }
            }
        );
    }

    #[test]
    fn a_length_pointing_past_the_end_is_damaged_not_torn() {
        let (mut log, starts) = log_of(&[b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]);
        log[starts[1] + 1] ^= 0x01; // length 6 becomes 262: past the end of the file
        let (records, tail) = decode_records(&log);
        assert_eq!(records, [b"first".as_slice()]);
        assert_eq!(
            tail,
            Tail::Corrupt {
                offset: starts[1] as u64,
                cause: Corruption::LengthDamaged
            }
        );
    }

    #[test]
    #[should_panic(expected = "exceeds MAX_RECORD_BYTES")]
    fn oversized_payloads_are_refused() {
        let _ = encode_record(&vec![0; MAX_RECORD_BYTES + 1]);
    }
}
