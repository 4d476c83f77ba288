use super::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// The framed log of `payloads` and where each record starts.
fn log_of(payloads: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
    let mut buf = BytesMut::new();
    let mut starts = Vec::new();
    for payload in payloads {
        starts.push(buf.len());
        put_record(&mut buf, payload);
    }
    (buf.to_vec(), starts)
}

/// A payload: random, empty, or ending in zero bytes (postcard varints and node id 0 make that
/// common, and it is what a record cut short in a zero-filled file looks like).
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..40),
        Just(Vec::new()),
        (vec(any::<u8>(), 0..20), 1..8usize).prop_map(|(mut payload, zeros)| {
            payload.resize(payload.len() + zeros, 0);
            payload
        }),
    ]
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(payload(), 0..12)
}

/// Zero bytes a preallocating runtime leaves after the content: none (a file that is not
/// preallocated), a few, or up to a few KB.
fn padding() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0), 1..16usize, 16..4096usize]
}

fn padded(bytes: &[u8], padding: usize) -> Vec<u8> {
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len() + padding, 0);
    padded
}

fn as_slices(payloads: &[Vec<u8>]) -> Vec<&[u8]> {
    payloads.iter().map(Vec::as_slice).collect()
}

proptest! {
    /// Every encoded log decodes to the same payloads, cleanly.
    #[test]
    fn records_round_trip(payloads in payloads()) {
        let (log, _) = log_of(&payloads);
        let (records, tail) = decode_records(&log);
        prop_assert_eq!(tail, Tail::Clean);
        prop_assert_eq!(records, as_slices(&payloads));
    }

    /// A crash keeps any byte prefix of unsynced appends, and a preallocated file reads zero
    /// after it: every prefix of a log followed by any number of zeros decodes to every record
    /// wholly inside the prefix, then Clean or Torn at the next record's start, never Corrupt.
    /// One more record may come back, only if every byte the prefix lacks of it (its trailer
    /// aside) was zero: then what was read is exactly what was written, and its checksum holds.
    #[test]
    fn every_prefix_then_zeros_is_clean_or_torn(
        payloads in payloads(),
        cut in any::<prop::sample::Index>(),
        padding in padding(),
    ) {
        let (log, starts) = log_of(&payloads);
        let cut = cut.index(log.len() + 1);
        let bytes = padded(&log[..cut], padding);
        let (records, tail) = decode_records(&bytes);
        let end = |i: usize| starts[i] + RECORD_OVERHEAD_BYTES + payloads[i].len();
        let complete = (0..payloads.len()).take_while(|&i| end(i) <= cut).count();
        let kept = records.len();
        prop_assert!(kept == complete || kept == complete + 1, "{} of {} complete", kept, complete);
        prop_assert_eq!(&records[..], &as_slices(&payloads)[..kept]);
        if kept > complete {
            let missing = &log[cut..end(complete) - 1];
            prop_assert!(missing.iter().all(|&b| b == 0), "kept a record missing {:?}", missing);
        }
        let boundary = starts.get(kept).copied().unwrap_or(log.len());
        if cut + padding == boundary {
            prop_assert_eq!(tail, Tail::Clean);
        } else {
            prop_assert_eq!(tail, Tail::Torn { offset: boundary as u64 });
        }
    }

    /// One damaged byte anywhere in a log (length, checksum or payload, last record included),
    /// with or without zeros after it, is reported as Corrupt at the start of its record, never
    /// cut as a torn tail, and the records before it are intact. The one exception is the
    /// trailer, which the checksum does not cover: a damaged trailer leaves its record valid,
    /// and the log decodes as if undamaged.
    #[test]
    fn a_flipped_byte_is_corrupt_unless_it_is_a_trailer(
        payloads in vec(payload(), 1..12),
        at in any::<prop::sample::Index>(),
        flip in 1..=u8::MAX,
        padding in padding(),
    ) {
        let (mut log, starts) = log_of(&payloads);
        let at = at.index(log.len());
        log[at] ^= flip;
        let damaged = starts.iter().rposition(|&start| start <= at).expect("starts at 0");
        let trailer = starts[damaged] + RECORD_OVERHEAD_BYTES + payloads[damaged].len() - 1;
        let bytes = padded(&log, padding);
        let (records, tail) = decode_records(&bytes);
        if at == trailer {
            prop_assert_eq!(records, as_slices(&payloads));
            let end = log.len() as u64;
            let undamaged = if padding == 0 { Tail::Clean } else { Tail::Torn { offset: end } };
            prop_assert_eq!(tail, undamaged);
        } else {
            prop_assert!(
                matches!(tail, Tail::Corrupt { offset, .. } if offset == starts[damaged] as u64),
                "byte {} of record {} flipped: {:?}", at, damaged, tail
            );
            prop_assert_eq!(records, as_slices(&payloads[..damaged]));
        }
    }

    /// The case the trailer exists for: the last record, followed by zeros, with a payload
    /// ending in zeros (so that, but for the trailer, it would look like a record cut short
    /// inside the zeros) and one payload byte damaged, is Corrupt, not Torn.
    #[test]
    fn a_damaged_last_record_ending_in_zeros_is_corrupt(
        before in payloads(),
        last in (vec(any::<u8>(), 0..20), 1..8usize),
        at in any::<prop::sample::Index>(),
        flip in 1..=u8::MAX,
        padding in 1..4096usize,
    ) {
        let mut last_payload = last.0;
        last_payload.resize(last_payload.len() + last.1, 0);
        let mut payloads = before.clone();
        payloads.push(last_payload.clone());
        let (mut log, starts) = log_of(&payloads);
        let last_start = *starts.last().expect("one record at least");
        log[last_start + RECORD_HEADER_BYTES + at.index(last_payload.len())] ^= flip;
        let bytes = padded(&log, padding);
        let (records, tail) = decode_records(&bytes);
        prop_assert_eq!(
            tail,
            Tail::Corrupt { offset: last_start as u64, cause: Corruption::Checksum }
        );
        prop_assert_eq!(records, as_slices(&before));
    }

    /// Arbitrary bytes (zeros are frequent, as in a preallocated file) never panic, and
    /// whatever is returned lies inside the input.
    #[test]
    fn random_bytes_never_panic(
        bytes in vec(prop_oneof![Just(0u8), any::<u8>()], 0..200),
        padding in padding(),
    ) {
        let bytes = padded(&bytes, padding);
        let (records, tail) = decode_records(&bytes);
        let used: usize = records.iter().map(|r| RECORD_OVERHEAD_BYTES + r.len()).sum();
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
fn a_record_is_its_payload_framed_by_nine_bytes() {
    let record = encode_record(b"abc");
    assert_eq!(record.len(), 3 + RECORD_OVERHEAD_BYTES);
    assert_eq!(record[..4], 3u32.to_le_bytes());
    assert_eq!(record[8..11], *b"abc");
    assert_eq!(record[11], RECORD_TRAILER);
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

/// What a preallocating runtime leaves after a crash in mid-append: the record cut short, at
/// every byte, reads as torn at its start, not as a record with a bad checksum.
#[test]
fn a_record_cut_short_inside_zeros_is_torn() {
    let kept = encode_record(b"kept");
    let cut_short = encode_record(b"cut short");
    for cut in 0..cut_short.len() - 1 {
        let mut log = kept.to_vec();
        log.extend_from_slice(&cut_short[..cut]);
        log.resize(4096, 0);
        let (records, tail) = decode_records(&log);
        assert_eq!(records, [b"kept".as_slice()], "cut at {cut}");
        assert_eq!(
            tail,
            Tail::Torn {
                offset: kept.len() as u64
            },
            "cut at {cut}"
        );
    }
}

/// A record whose checksum holds but whose trailer reads 0 lost only its trailer to the crash:
/// its payload is intact, so it is kept, and the zeros after it are the torn tail.
#[test]
fn a_record_missing_only_its_trailer_is_kept() {
    let record = encode_record(b"whole payload");
    let mut log = record[..record.len() - 1].to_vec();
    log.resize(100, 0);
    let (records, tail) = decode_records(&log);
    assert_eq!(records, [b"whole payload".as_slice()]);
    assert_eq!(
        tail,
        Tail::Torn {
            offset: record.len() as u64
        }
    );
}

/// Without the trailer this log would read as a record cut short (bad checksum, zeros after
/// it) and be silently dropped; with it, the damage is found.
#[test]
fn a_damaged_payload_ending_in_zeros_before_padding_is_corrupt() {
    let (mut log, starts) = log_of(&[b"first".to_vec(), vec![7, 1, 0, 0, 0]]);
    log[starts[1] + RECORD_HEADER_BYTES] ^= 0x01;
    log.resize(log.len() + 64, 0);
    let (records, tail) = decode_records(&log);
    assert_eq!(records, [b"first".as_slice()]);
    assert_eq!(
        tail,
        Tail::Corrupt {
            offset: starts[1] as u64,
            cause: Corruption::Checksum
        }
    );
}

/// A length damaged to point into the zeros after the last record puts a zero where the
/// trailer should be, like a record cut short; the length one byte away that checks gives it
/// away.
#[test]
fn a_length_pointing_into_the_zeros_is_damaged_not_torn() {
    let (mut log, starts) = log_of(&[b"first".to_vec(), b"second".to_vec()]);
    log[starts[1]] ^= 0x10; // length 6 becomes 22: into the zeros
    log.resize(log.len() + 64, 0);
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
fn a_huge_length_is_corrupt_without_allocating() {
    let mut log = encode_record(b"x").to_vec();
    log[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    log.resize(64, 0);
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

/// A header cut short keeps a prefix of its length and reads zero for the rest of it and for
/// its checksum; the reader calls that torn because no zero-filled record of a length such a
/// prefix gives has a checksum of 0. Checked here for every length a one- or two-byte prefix
/// gives (all lengths up to `MAX_RECORD_BYTES` were checked once, off line).
#[test]
fn no_zero_filled_record_has_a_zero_checksum() {
    let zeros = vec![0; 1 << 16];
    let mut zeros_crc = 0;
    for len in 0..1u32 << 16 {
        if len > 0 {
            zeros_crc = crc32c::crc32c_append(zeros_crc, &zeros[..1]);
        }
        let header_crc = crc32c::crc32c(&len.to_le_bytes());
        let crc = crc32c::crc32c_combine(header_crc, zeros_crc, len as usize);
        assert_ne!(crc, 0, "length {len}");
    }
}

#[test]
#[should_panic(expected = "exceeds MAX_RECORD_BYTES")]
fn oversized_payloads_are_refused() {
    let _ = encode_record(&vec![0; MAX_RECORD_BYTES + 1]);
}
