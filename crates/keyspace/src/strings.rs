//! Byte-string helpers with Redis's exact rules: integers as INCR reads them, GETRANGE's
//! index arithmetic.

use bytes::Bytes;

/// The longest decimal `i64` (`-9223372036854775808`).
const I64_DIGITS_MAX: usize = 20;

/// `bytes` as an `i64` if it is one in canonical decimal form, as Redis's `string2ll` reads:
/// an optional `-`, digits, no `+`, no spaces, no leading zeros (but `0` itself), no `-0`.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > I64_DIGITS_MAX {
        return None;
    }
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    let canonical = match digits {
        [] => false,
        [b'0'] => !negative,
        [first, ..] => (b'1'..=b'9').contains(first) && digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// `n` in decimal, as INCR stores it.
pub fn format_i64(n: i64) -> Bytes {
    Bytes::from(n.to_string())
}

/// The bytes GETRANGE answers for `start..=end` of `value` (negative counts from the end),
/// exactly as Redis 7 clamps them.
pub fn get_range(value: &[u8], start: i64, end: i64) -> &[u8] {
    let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return &[];
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.clamp(0, len - 1);
    if start > end {
        return &[];
    }
    // Both are within 0..len here.
    let (start, end) = (
        usize::try_from(start).unwrap_or(0),
        usize::try_from(end).unwrap_or(0),
    );
    &value[start..=end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for (text, want) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("42", Some(42)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("", None),
            ("-", None),
            ("-0", None),
            ("007", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("1.5", None),
            ("abc", None),
        ] {
            assert_eq!(parse_i64(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn get_range_clamps_as_redis() {
        let v = b"This is a string";
        assert_eq!(get_range(v, 0, 3), b"This");
        assert_eq!(get_range(v, -3, -1), b"ing");
        assert_eq!(get_range(v, 0, -1), v);
        assert_eq!(get_range(v, 10, 100), b"string");
        assert_eq!(get_range(v, 5, 3), b"");
        assert_eq!(get_range(v, -1, -5), b"");
        assert_eq!(get_range(v, -100, 2), b"Thi");
        assert_eq!(get_range(b"", 0, -1), b"");
        assert_eq!(get_range(v, i64::MIN, i64::MAX), v);
    }
}
