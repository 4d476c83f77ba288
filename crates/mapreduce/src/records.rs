//! The byte format of intermediate data: a sequence of records `varint(len) key varint(len)
//! value`, sorted by key. Map outputs (one run per reduce partition) and reduce outputs use it.
//! Bytes from another worker are untrusted: decoding checks every length.

/// Bytes that are not a well-formed sequence of records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed intermediate data at byte {offset}")]
pub struct RecordError {
    /// Where decoding stopped.
    pub offset: usize,
}

/// Appends one record.
pub fn put_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    put_varint(out, key.len() as u64);
    out.extend_from_slice(key);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Decodes every record of `bytes` into `into`, in order.
///
/// # Errors
/// [`RecordError`] if a length runs past the end or a varint is too long.
pub fn decode_records<'a>(
    bytes: &'a [u8],
    into: &mut Vec<(&'a [u8], &'a [u8])>,
) -> Result<(), RecordError> {
    let mut pos = 0;
    while pos < bytes.len() {
        let key = take(bytes, &mut pos)?;
        let value = take(bytes, &mut pos)?;
        into.push((key, value));
    }
    Ok(())
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<&'a [u8], RecordError> {
    let err = RecordError { offset: *pos };
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = *bytes.get(*pos).ok_or(err.clone())?;
        *pos += 1;
        len |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            break;
        }
        shift += 7;
        if shift > 56 {
            return Err(err);
        }
    }
    let len = usize::try_from(len).map_err(|_| err.clone())?;
    let end = pos.checked_add(len).ok_or(err.clone())?;
    let slice = bytes.get(*pos..end).ok_or(err)?;
    *pos = end;
    Ok(slice)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let mut buf = Vec::new();
        put_record(&mut buf, b"key", &[7u8; 300]);
        put_record(&mut buf, b"", b"");
        let mut out = Vec::new();
        decode_records(&buf, &mut out).unwrap();
        assert_eq!(out, [(&b"key"[..], &[7u8; 300][..]), (&b""[..], &b""[..])]);
        for cut in 1..buf.len() - 2 {
            let mut out = Vec::new();
            assert!(
                decode_records(&buf[..cut], &mut out).is_err(),
                "cut at {cut}"
            );
        }
        assert!(decode_records(&[0xff; 20], &mut Vec::new()).is_err());
    }
}
