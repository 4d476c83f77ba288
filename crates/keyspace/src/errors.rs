//! Error texts, worded as Redis words them where Redis has the error (clients and users match
//! on the code before the first space, some on the whole line).

use crate::{MAX_KEY_BYTES, MAX_REPLY_BYTES, MAX_VALUE_BYTES};

/// INCR on a value that is not a decimal `i64`, or an integer argument that is not one.
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
/// INCR past `i64`'s range.
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
/// An option Redis does not know, or options that exclude each other.
pub const SYNTAX: &str = "ERR syntax error";

/// A time to live that is zero, negative or too large.
pub fn invalid_expire(command: &str) -> String {
    format!("ERR invalid expire time in '{command}' command")
}

/// A value that would be over [`MAX_VALUE_BYTES`]: the command changed nothing.
pub fn too_large() -> String {
    format!("ERR string exceeds maximum allowed size ({MAX_VALUE_BYTES} bytes)")
}

/// A key over [`MAX_KEY_BYTES`].
pub fn key_too_large() -> String {
    format!("ERR key exceeds maximum allowed size ({MAX_KEY_BYTES} bytes)")
}

/// A reply that would be over [`MAX_REPLY_BYTES`].
pub fn reply_too_large(command: &str, hint: &str) -> String {
    format!("ERR {command} reply would exceed {MAX_REPLY_BYTES} bytes; {hint}")
}

/// Wrong number of arguments, with the command's name in lower case.
pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}
