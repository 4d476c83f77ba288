//! Skipping the rest of an oversized command as it streams in, holding at most one header.

use crate::error::RespError;
use crate::parse::{Oversized, parse_len, read_header};
use bytes::{Buf, BytesMut};

/// Where the codec is inside a command it has answered as too large and is now dropping.
///
/// Bulk bodies are skipped by their declared lengths, never buffered, and the element headers
/// in between are parsed as usual, so the codec is back in step at the next command. Nothing
/// here grows with the command: the codec's buffer holds at most one partial header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Discard {
    /// Elements still to come after the current bulk.
    elements_left: u64,
    /// Body bytes of the current bulk still to skip.
    body_left: u64,
    /// Bytes of the CRLF after the current bulk body still to check (0, 1 or 2).
    crlf_left: u8,
}

impl Discard {
    /// Starts skipping after `oversized.consumed` bytes have been dropped from the buffer.
    pub(crate) fn after(oversized: &Oversized) -> Discard {
        // An array header that was too long has no current bulk; a bulk header has its body
        // and CRLF still to come.
        let in_bulk = !matches!(oversized.error, RespError::ArrayTooLong { .. });
        Discard {
            elements_left: oversized.elements_left,
            body_left: oversized.body_left,
            crlf_left: if in_bulk { 2 } else { 0 },
        }
    }

    /// Drops what it can of the command from the front of `src`; true once all of it is gone.
    ///
    /// # Errors
    /// The skipped part is malformed (an element that is not a bulk, a bad length, a bulk not
    /// followed by CRLF): the stream position is lost, as for any other protocol error.
    pub(crate) fn skip(&mut self, src: &mut BytesMut) -> Result<bool, RespError> {
        loop {
            let n = self.body_left.min(src.len() as u64);
            // `n` is at most `src.len()`, so it fits in usize.
            src.advance(n as usize);
            self.body_left -= n;
            if self.body_left > 0 {
                return Ok(false);
            }
            while self.crlf_left > 0 {
                let want = if self.crlf_left == 2 { b'\r' } else { b'\n' };
                match src.first() {
                    None => return Ok(false),
                    Some(&b) if b == want => src.advance(1),
                    Some(_) => return Err(RespError::MissingCrlf),
                }
                self.crlf_left -= 1;
            }
            if self.elements_left == 0 {
                return Ok(true);
            }
            if !self.next_header(src)? {
                return Ok(false);
            }
        }
    }

    /// Consumes the next element's `$<len>\r\n` header; false if it is not all here yet.
    fn next_header(&mut self, src: &mut BytesMut) -> Result<bool, RespError> {
        match src.first() {
            None => return Ok(false),
            Some(b'$') => {}
            Some(&found) => {
                return Err(RespError::ExpectedBulk {
                    found: char::from(found),
                });
            }
        }
        let Some((line, body_start)) = read_header(src, 1)? else {
            return Ok(false);
        };
        // Any length is fine here: it is skipped, not buffered.
        let len = parse_len(line)?.ok_or(RespError::NegativeLength { len: -1 })?;
        src.advance(body_start);
        self.elements_left -= 1;
        self.body_left = len;
        self.crlf_left = 2;
        Ok(true)
    }
}
