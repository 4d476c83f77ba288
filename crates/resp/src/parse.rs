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
/// Why 1024: the front door's largest command (SET) has 3 arguments, and every element costs a
/// `Bytes` handle before the command is even recognised; 1024 still lets an unknown multi-key
/// command (say `MSET` from a benchmark) be parsed whole and answered with a clean "unknown
/// command" instead of a dropped connection. Redis allows far more, which we do not need.
pub const MAX_ARRAY_LEN: u64 = 1024;

/// The largest single bulk string (key or value) a client may send, in bytes.
///
/// Why 8 MiB rather than Redis's 512 MiB: a SET value is replicated through the Paxos log inside
/// an rpc frame capped at 16 MiB (`rpc::MAX_FRAME_BYTES`); half of that leaves room for the key
/// and the log entry's own encoding. Anything bigger could never be stored, so we refuse it
/// before buffering it.
pub const MAX_BULK_BYTES: u64 = 8 * 1024 * 1024;

/// The largest total of bulk bytes in one command.
///
/// Why: [`MAX_ARRAY_LEN`] × [`MAX_BULK_BYTES`] is 8 GiB, and a command is buffered whole before
/// it is parsed; this caps one connection's buffer at the same 16 MiB as one rpc frame.
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

/// Parses one frame from the front of `buf`; `Ok(None)` means the frame is incomplete.
pub(crate) fn parse_frame(buf: &[u8]) -> Result<Option<Frame>, RespError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buf),
        Some(_) => parse_inline(buf),
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
/// exceeds a bound. The connection should be closed.
pub fn parse_command(buf: &[u8]) -> Result<Option<(Command, usize)>, RespError> {
    let mut start = 0;
    loop {
        let rest = buf.get(start..).unwrap_or_default();
        let Some(frame) = parse_frame(rest)? else {
            return Ok(None);
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

fn parse_array(buf: &[u8]) -> Result<Option<Frame>, RespError> {
    let Some((line, mut pos)) = read_header(buf, 1)? else {
        return Ok(None);
    };
    let Some(len) = parse_len(line)? else {
        return Ok(Some(Frame {
            args: Vec::new(),
            consumed: pos,
        }));
    };
    if len > MAX_ARRAY_LEN {
        return Err(RespError::ArrayTooLong { len });
    }
    let mut args = Vec::with_capacity(len as usize);
    let mut total: u64 = 0;
    for _ in 0..len {
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
        if bulk_len > MAX_BULK_BYTES {
            return Err(RespError::BulkTooLong { len: bulk_len });
        }
        total += bulk_len;
        if total > MAX_COMMAND_BYTES {
            return Err(RespError::CommandTooLong { len: total });
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
    Ok(Some(Frame {
        args,
        consumed: pos,
    }))
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
fn read_header(buf: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, RespError> {
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
fn parse_len(line: &[u8]) -> Result<Option<u64>, RespError> {
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
