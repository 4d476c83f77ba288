//! Checksummed records for append-only files (write-ahead logs), and how to read them back.
//!
//! A record is `[len u32 LE][crc u32 LE][payload][trailer u8]`, where `len` is the payload's
//! length, `crc` is CRC32C over the four length bytes followed by the payload, and the trailer is
//! the constant [`RECORD_TRAILER`]. The length is covered by the checksum, so a run of zero bytes
//! never reads as a valid empty record, as it would if only the payload were summed (the CRC32C
//! of nothing is 0).
//!
//! Why the trailer: a runtime may preallocate a log (extend it with zeros, then overwrite them in
//! place), so after a crash a record cut short is followed by zeros, not by the end of the file,
//! and reads as a complete record with a bad checksum. The trailer tells the two apart: a record
//! cut short ends in zero where its trailer should be, a complete record never does. It decides
//! only how a record that fails its checksum is classified, never whether a record is valid: a
//! record whose checksum matches but whose trailer reads 0 was cut at its very last byte, and
//! its payload is intact.
//!
//! What a crash leaves (the driver contract): a byte prefix of the appends not yet synced, and,
//! in a preallocated file, zeros after it. So a log is valid records, then perhaps one record cut
//! short (any prefix of it, the rest of its bytes zero or absent), then perhaps zeros to the end.
//! [`decode_records`] says how a log ends:
//! * [`Tail::Clean`]: every byte belongs to a complete, valid record.
//! * [`Tail::Torn`]: from the offset on, the bytes are what a crash leaves: a record cut short,
//!   zeros, or both. Nothing durable is lost by cutting the file there
//!   ([`crate::Effect::Truncate`]): a record is durable only once every byte of it is.
//! * [`Tail::Corrupt`]: a record that no crash could have left: a bad checksum where the trailer
//!   is present or something nonzero follows, an impossible length, or a length that is one byte
//!   away from making the checksum match. The file was damaged, not torn: cutting it could drop
//!   acknowledged records, so the owner must refuse to start and name the offset.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// The largest payload a record may carry. Why a bound: a damaged length must never make a
/// reader believe in (or allocate for) a record of gigabytes; anything above it is corruption.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Bytes in front of every payload: the length and the checksum.
pub const RECORD_HEADER_BYTES: usize = 8;

/// Bytes a record adds to its payload: the header and the trailer.
pub const RECORD_OVERHEAD_BYTES: usize = RECORD_HEADER_BYTES + 1;

/// The last byte of every record. Nonzero, so that a record cut short in a zero-filled
/// (preallocated) file can be told from a complete one; any nonzero value would do, and one with
/// mixed bits is less likely to be left by a stuck-at fault.
pub const RECORD_TRAILER: u8 = 0xA5;

/// How a sequence of records ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belongs to a valid record.
    Clean,
    /// The bytes from `offset` on are what a crash leaves behind (a record cut short, zeros, or
    /// both): cut the file there.
    Torn {
        /// Where the incomplete record (or the zeros) starts: the length to truncate the file to.
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
    /// The record's checksum does not match, and its trailer, or a byte after it, is nonzero:
    /// a record cut short would have read zero there.
    Checksum,
    /// The length field exceeds [`MAX_RECORD_BYTES`]: no writer produced it.
    LengthTooLarge {
        /// The length found.
        len: u32,
    },
    /// The record does not check as it stands, but with one byte of its length changed it fits
    /// and its checksum matches: the length was damaged, and records after it may exist.
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

/// One record, framed: `[len][crc][payload][trailer]`.
///
/// # Panics
/// If `payload` is longer than [`MAX_RECORD_BYTES`].
pub fn encode_record(payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(RECORD_OVERHEAD_BYTES + payload.len());
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
    buf.reserve(RECORD_OVERHEAD_BYTES + payload.len());
    buf.put_slice(&len_bytes);
    buf.put_u32_le(checksum(&len_bytes, payload));
    buf.put_slice(payload);
    buf.put_u8(RECORD_TRAILER);
}

/// Splits `bytes` into the payloads of its valid records, in order, and says how it ends. Reading
/// stops at the first record that is not valid; the payloads borrow from `bytes` (use
/// `Bytes::slice_ref` to keep them without copying). Never panics, whatever the input.
pub fn decode_records(bytes: &[u8]) -> (Vec<&[u8]>, Tail) {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let offset = at as u64;
        match check(&bytes[at..]) {
            Check::Valid(payload) => {
                records.push(payload);
                at += RECORD_OVERHEAD_BYTES + payload.len();
            }
            Check::Torn => return (records, Tail::Torn { offset }),
            Check::Damaged(cause) => return (records, Tail::Corrupt { offset, cause }),
        }
    }
    (records, Tail::Clean)
}

enum Check<'a> {
    Valid(&'a [u8]),
    Torn,
    Damaged(Corruption),
}

/// Checks the record at the start of `rest`, which is not empty.
///
/// Why the rules below are sound: a crash keeps a byte prefix of the unsynced appends, and a
/// preallocated file reads zero after it. So a record cut short is a prefix of a real record
/// with every later byte zero or absent, and a complete record that a crash tore nothing from
/// has its nonzero trailer where its length says. Each rule calls the bytes torn only if they
/// can be such a prefix and a damaged length does not explain them, and damaged otherwise.
fn check(rest: &[u8]) -> Check<'_> {
    let Some((header, body)) = rest.split_first_chunk::<RECORD_HEADER_BYTES>() else {
        // Shorter than a header, at the very end: no complete record is this short, so these
        // are the first bytes of one cut by the crash.
        return Check::Torn;
    };
    let len_bytes: [u8; 4] = header[..4].try_into().expect("a 4-byte slice");
    let crc = u32::from_le_bytes(header[4..].try_into().expect("a 4-byte slice"));
    let len = u32::from_le_bytes(len_bytes);
    // Never torn: a cut header keeps a prefix of the length's bytes and reads zero (or nothing)
    // for the rest, and with the low bytes first that can only make the length smaller than
    // the one written, which was within the bound. (Zeros to the end cannot get here: a length
    // above the bound has a nonzero byte.)
    if len as usize > MAX_RECORD_BYTES {
        return Check::Damaged(Corruption::LengthTooLarge { len });
    }
    let len = len as usize;
    let Some(&trailer) = body.get(len) else {
        // The record runs past the end of the bytes: the end of a file cut it short, unless
        // its length was damaged to point past the end (then cutting would drop every record
        // after it).
        return torn_unless_length_damaged(len_bytes, crc, body);
    };
    let payload = &body[..len];
    if checksum(&len_bytes, payload) == crc {
        // The trailer's value is not checked: a trailer reading 0 is a record cut at its last
        // byte, whose payload is intact; any other value is a damaged byte outside the sum.
        return Check::Valid(payload);
    }
    // A record cut short reads zero from the cut to the end, and the trailer position found
    // here lies past the cut: with the whole length kept it is the real trailer, which the cut
    // lost (had the cut kept every byte before it, the checksum would match); with the length
    // itself cut, it lies past the header. A complete record has its nonzero trailer there, so
    // it cannot pass this unless its length is not the one written (the last rule), or unless
    // its trailer was zeroed as well: one damaged byte never passes, two can.
    if trailer != 0 || body[len + 1..].iter().any(|&b| b != 0) {
        return Check::Damaged(Corruption::Checksum);
    }
    // Zeros to the end: nothing of any record was written here. Decided without the length
    // rule only to spare a checksum pass over a preallocated tail: that rule cannot fire on
    // zeros anyway, since no length up to MAX_RECORD_BYTES has CRC32C(length ++ that many
    // zeros) = 0 (checked exhaustively off line; a unit test checks the lengths below 2^16).
    if header == &[0; RECORD_HEADER_BYTES] {
        return Check::Torn;
    }
    torn_unless_length_damaged(len_bytes, crc, body)
}

/// A record that does not check is torn only if its length is genuine: a cut keeps a prefix, so
/// what is there of its length was written. A damaged length could point past the end, or into
/// the zeros of a preallocated file, and make a damaged record look like a record cut short.
fn torn_unless_length_damaged<'a>(len_bytes: [u8; 4], crc: u32, body: &[u8]) -> Check<'a> {
    if length_was_damaged(len_bytes, crc, body) {
        Check::Damaged(Corruption::LengthDamaged)
    } else {
        Check::Torn
    }
}

/// Tries every length one byte away from the one found (at most 4 × 255) whose record, trailer
/// included, fits in `body`; if one makes the checksum match, the length was damaged. Cost: one
/// pass over `body` plus a CRC combine per candidate, since the payload sums are computed
/// incrementally in order of length.
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
            if len < body.len() && len <= MAX_RECORD_BYTES {
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
mod tests;
