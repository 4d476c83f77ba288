//! Incremental parsing of client commands: RESP arrays of bulk strings and inline lines.
//!
//! The parser is restartable rather than stateful: each call rescans the buffer from its start.
//! That costs one header scan per argument (bulk bodies are skipped by length, never scanned),
//! which is cheap next to keeping resumable state, and it makes "need more" trivially correct.

use crate::command::Command;
use crate::error::RespError;
use bytes::{BufMut, Bytes, BytesMut};
use std::ops::Range;

/// The most elements a client command array may have.
///
/// Why 1024 × 1024: `MSET`, `MGET` and `DEL` of a few thousand keys must parse, and Redis
/// itself accepts far longer arrays. The count alone is not what bounds memory: every element
/// is also charged [`ELEMENT_COST_BYTES`] against [`MAX_COMMAND_BYTES`], so in practice at most
/// about 300 000 empty elements fit. This header check only answers an absurd count at once,
/// naming it, without reading a single element.
pub const MAX_ARRAY_LEN: u64 = 1024 * 1024;

/// What one argument costs besides its bytes on the wire, charged against [`MAX_COMMAND_BYTES`].
///
/// Why 48: while a command is decoded each argument is a `Range<usize>` (16 bytes) and then a
/// `Bytes` handle (32 bytes, four words); a million `$0` arguments would otherwise cost 48 MiB
/// of handles for 6 MiB of wire bytes.
pub const ELEMENT_COST_BYTES: u64 = 48;

/// The largest single bulk string (key or value) a client may send, in bytes.
///
/// Why 8 MiB rather than Redis's 512 MiB: a SET value is replicated through the Paxos log inside
/// an rpc frame capped at 16 MiB (`rpc::MAX_FRAME_BYTES`); half of that leaves room for the key
/// and the log entry's own encoding. Anything bigger could never be stored, so we refuse it
/// before buffering it.
pub const MAX_BULK_BYTES: u64 = 8 * 1024 * 1024;

/// The most memory one command may take while it is buffered and decoded: its bytes on the
/// wire (headers, bodies, CRLFs) plus [`ELEMENT_COST_BYTES`] per argument.
///
/// Why: [`MAX_ARRAY_LEN`] × [`MAX_BULK_BYTES`] is 8 TiB, and a command is buffered whole before
/// it is handed over; this caps one connection's command at the same 16 MiB as one rpc frame,
/// which still fits one [`MAX_BULK_BYTES`] value with its key.
pub const MAX_COMMAND_BYTES: u64 = 16 * 1024 * 1024;

/// The longest inline command line, in bytes, excluding its newline.
///
/// Why 64 KiB: the same as Redis (`PROTO_INLINE_MAX_SIZE`); inline commands come from humans
/// typing into telnet and from `PING_INLINE`, never from bulk data.
pub const MAX_INLINE_BYTES: usize = 64 * 1024;

/// The longest `*<n>` or `$<n>` header line, in bytes, excluding its CRLF.
///
/// Why 32: the type byte plus 20 digits of a `u64` fit with room to spare; without this bound
/// a client could stream digits forever and we would buffer them waiting for the CRLF.
pub const MAX_HEADER_LINE_BYTES: usize = 32;

/// One complete frame found at the front of a buffer: argument ranges into that buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Byte ranges of the arguments. Empty for frames that carry no command (blank inline
    /// lines, `*0`, `*-1`), which Redis skips silently and so do we.
    pub args: Vec<Range<usize>>,
    /// Bytes the frame occupies at the front of the buffer; always `<= buf.len()`.
    pub consumed: usize,
}

/// A well-formed array command too large to buffer, found at the front of a buffer.
///
/// The parser stops at the header that breaks a bound, so only a bounded prefix was ever
/// looked at; a streaming reader ([`crate::RespCodec`]) drops `consumed` bytes, answers
/// `error`, and skips the rest of the command as it arrives.
#[derive(Debug)]
pub(crate) struct Oversized {
    /// Which bound was broken, for the reply.
    pub error: RespError,
    /// Bytes of the command at the front of the buffer, up to and including the header that
    /// broke the bound; always `<= buf.len()`.
    pub consumed: usize,
    /// Elements of the array after the ones consumed (the offending bulk is consumed).
    pub elements_left: u64,
    /// Body bytes of the offending bulk still to come (0 if an array header was too long).
    pub body_left: u64,
}

/// What [`parse_frame`] found at the front of a buffer.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A whole frame.
    Frame(Frame),
    /// The start of a well-formed command that breaks a size bound.
    Oversized(Oversized),
}

/// Parses one frame from the front of `buf`; `Ok(None)` means the frame is incomplete.
///
/// # Errors
/// Malformed input (bad headers, missing CRLFs, negative lengths, over-long lines): the stream
/// position is lost. Size bounds of arrays are reported as [`Parsed::Oversized`] instead.
pub(crate) fn parse_frame(buf: &[u8]) -> Result<Option<Parsed>, RespError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buf),
        Some(_) => parse_inline(buf).map(|frame| frame.map(Parsed::Frame)),
    }
}

/// Parses the first command in `buf`.
///
/// Returns `Ok(None)` if `buf` holds no complete command yet (read more and call again with the
/// grown buffer), or `Ok(Some((command, consumed)))` where `consumed <= buf.len()` counts the
/// command's bytes plus any blank frames skipped before it. Arguments are copied out of `buf`;
/// [`crate::RespCodec`] avoids that copy.
///
/// A buffer holding only blank frames (empty lines, `*0`) returns `Ok(None)` without consuming
/// them, so a driver built on this function rescans them on the next call; [`crate::RespCodec`]
/// discards them as it goes and is the better choice for long-lived connections.
///
/// # Errors
/// Any [`RespError`] except `Io` and `Truncated`: the input is not a valid client command or
/// exceeds a bound. The connection should be closed. Unlike [`crate::RespCodec`], which answers
/// an oversized but well-formed command with [`Command::TooLarge`] and skips it as it streams
/// in, this function cannot skip what it was not given: it reports the bound as an error
/// ([`RespError::is_oversized`] tells them apart) and the caller must close or skip by itself.
pub fn parse_command(buf: &[u8]) -> Result<Option<(Command, usize)>, RespError> {
    let mut start = 0;
    loop {
        let rest = buf.get(start..).unwrap_or_default();
        let frame = match parse_frame(rest)? {
            None => return Ok(None),
            Some(Parsed::Frame(frame)) => frame,
            Some(Parsed::Oversized(oversized)) => return Err(oversized.error),
        };
        let consumed = start + frame.consumed;
        let args = frame.args.into_iter().map(|r| {
            // Ranges come from `parse_frame` over `rest` and are in bounds by construction.
            Bytes::copy_from_slice(rest.get(r).unwrap_or_default())
        });
        if let Some(command) = Command::from_args(args.collect()) {
            return Ok(Some((command, consumed)));
        }
        start = consumed;
    }
}

/// Appends `args` to `dst` as a RESP array of bulk strings: how a client sends a command.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], dst: &mut BytesMut) {
    put_header(dst, b'*', args.len() as u64);
    for arg in args {
        let arg = arg.as_ref();
        put_header(dst, b'$', arg.len() as u64);
        dst.put_slice(arg);
        dst.put_slice(b"\r\n");
    }
}

/// Appends `<kind><n>\r\n` to `dst`.
pub(crate) fn put_header(dst: &mut BytesMut, kind: u8, n: u64) {
    dst.put_u8(kind);
    dst.put_slice(n.to_string().as_bytes());
    dst.put_slice(b"\r\n");
}

fn parse_array(buf: &[u8]) -> Result<Option<Parsed>, RespError> {
    let Some((line, mut pos)) = read_header(buf, 1)? else {
        return Ok(None);
    };
    let Some(len) = parse_len(line)? else {
        let args = Vec::new();
        return Ok(Some(Parsed::Frame(Frame {
            args,
            consumed: pos,
        })));
    };
    if len > MAX_ARRAY_LEN {
        let error = RespError::ArrayTooLong { len };
        return Ok(Some(oversized(error, pos, len, 0)));
    }
    // Capped: the count is the client's word, the elements are not here yet.
    let mut args = Vec::with_capacity(len.min(1024) as usize);
    for i in 0..len {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&found) => {
                return Err(RespError::ExpectedBulk {
                    found: char::from(found),
                });
            }
        }
        let Some((line, body_start)) = read_header(buf, pos + 1)? else {
            return Ok(None);
        };
        let bulk_len = parse_len(line)?.ok_or(RespError::NegativeLength { len: -1 })?;
        let elements_left = len - i - 1;
        if bulk_len > MAX_BULK_BYTES {
            let error = RespError::BulkTooLong { len: bulk_len };
            return Ok(Some(oversized(error, body_start, elements_left, bulk_len)));
        }
        // Wire bytes up to the end of this bulk plus every argument's handle; all terms are
        // bounded (positions by the buffer, counts by MAX_ARRAY_LEN), so this cannot overflow.
        let cost = body_start as u64 + bulk_len + 2 + (i + 1) * ELEMENT_COST_BYTES;
        if cost > MAX_COMMAND_BYTES {
            let error = RespError::CommandTooLong { len: cost };
            return Ok(Some(oversized(error, body_start, elements_left, bulk_len)));
        }
        // Both bounds above keep this far from overflowing usize.
        let body_end = body_start + bulk_len as usize;
        match (buf.get(body_end), buf.get(body_end + 1)) {
            (Some(b'\r'), Some(b'\n')) => {}
            (None, _) | (Some(b'\r'), None) => return Ok(None),
            _ => return Err(RespError::MissingCrlf),
        }
        args.push(body_start..body_end);
        pos = body_end + 2;
    }
    Ok(Some(Parsed::Frame(Frame {
        args,
        consumed: pos,
    })))
}

fn oversized(error: RespError, consumed: usize, elements_left: u64, body_left: u64) -> Parsed {
    Parsed::Oversized(Oversized {
        error,
        consumed,
        elements_left,
        body_left,
    })
}

fn parse_inline(buf: &[u8]) -> Result<Option<Frame>, RespError> {
    let window = &buf[..buf.len().min(MAX_INLINE_BYTES + 2)];
    let Some(newline) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE_BYTES + 1 {
            return Err(RespError::InlineTooLong);
        }
        return Ok(None);
    };
    let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    if line_end > MAX_INLINE_BYTES {
        return Err(RespError::InlineTooLong);
    }
    // Split on runs of spaces and tabs. Unlike Redis we do not interpret quotes: neither
    // redis-cli nor redis-benchmark sends quoted inline commands.
    let mut args = Vec::new();
    let mut arg_start = None;
    for (i, &b) in buf[..line_end].iter().enumerate() {
        let blank = b == b' ' || b == b'\t';
        match (blank, arg_start) {
            (false, None) => arg_start = Some(i),
            (true, Some(s)) => {
                args.push(s..i);
                arg_start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = arg_start {
        args.push(s..line_end);
    }
    Ok(Some(Frame {
        args,
        consumed: newline + 1,
    }))
}

/// Finds the CRLF-terminated header line starting at `start` (just after its type byte).
///
/// Returns the line without CRLF and the position after the CRLF, or `None` if incomplete.
pub(crate) fn read_header(buf: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, RespError> {
    let rest = buf.get(start..).unwrap_or_default();
    let window = &rest[..rest.len().min(MAX_HEADER_LINE_BYTES + 2)];
    let Some(newline) = window.iter().position(|&b| b == b'\n') else {
        if rest.len() > MAX_HEADER_LINE_BYTES + 1 {
            return Err(RespError::HeaderTooLong);
        }
        return Ok(None);
    };
    if newline == 0 || rest[newline - 1] != b'\r' {
        return Err(RespError::MissingCrlf);
    }
    Ok(Some((&rest[..newline - 1], start + newline + 1)))
}

/// Parses a RESP length: decimal digits, or exactly `-1` (returned as `None`).
pub(crate) fn parse_len(line: &[u8]) -> Result<Option<u64>, RespError> {
    let bad = || RespError::BadLength {
        text: String::from_utf8_lossy(line).into_owned(),
    };
    if line == b"-1" {
        return Ok(None);
    }
    if let Some(digits) = line.strip_prefix(b"-") {
        let magnitude = parse_digits(digits).ok_or_else(bad)?;
        let len = i64::try_from(magnitude).map_or(i64::MIN, |m| -m);
        return Err(RespError::NegativeLength { len });
    }
    parse_digits(line).map(Some).ok_or_else(bad)
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        let digit = (d as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
