//! What each Redis string command does to the store, sequentially, and how reports show it.

use super::{RedisError, RedisInput, RedisOutput, RedisState};

/// Runs `input` on `state` and returns its reply. A failing command leaves `state` unchanged.
pub(super) fn apply(state: &mut RedisState, input: &RedisInput) -> RedisOutput {
    match input {
        RedisInput::Get { .. } | RedisInput::MGet { .. } => read(state, input),
        RedisInput::Set { key, value } => {
            state.insert(key.clone(), value.clone());
            RedisOutput::Ok
        }
        RedisInput::SetNx { key, value } => {
            let missing = !state.contains_key(key);
            if missing {
                state.insert(key.clone(), value.clone());
            }
            RedisOutput::Bool(missing)
        }
        RedisInput::Del { keys } => {
            let removed = keys
                .iter()
                .filter(|key| state.remove(*key).is_some())
                .count();
            RedisOutput::Int(to_i64(removed))
        }
        RedisInput::IncrBy { key, by } => match incr_by(state.get(key).map(Vec::as_slice), *by) {
            Ok(sum) => {
                state.insert(key.clone(), sum.to_string().into_bytes());
                RedisOutput::Int(sum)
            }
            Err(error) => RedisOutput::Error(error),
        },
        RedisInput::Append { key, value } => {
            let stored = state.entry(key.clone()).or_default();
            stored.extend_from_slice(value);
            RedisOutput::Int(to_i64(stored.len()))
        }
        RedisInput::MSet { pairs } => {
            for (key, value) in pairs {
                state.insert(key.clone(), value.clone());
            }
            RedisOutput::Ok
        }
        RedisInput::Txn(commands) => {
            RedisOutput::Txn(commands.iter().map(|cmd| apply(state, cmd)).collect())
        }
    }
}

/// The reply of a read-only `input` ([`RedisInput::is_read_only`]) in `state`.
///
/// # Panics
///
/// If `input` writes: the caller must have checked.
pub(super) fn read(state: &RedisState, input: &RedisInput) -> RedisOutput {
    match input {
        RedisInput::Get { key } => RedisOutput::Value(state.get(key).cloned()),
        RedisInput::MGet { keys } => {
            RedisOutput::Values(keys.iter().map(|key| state.get(key).cloned()).collect())
        }
        RedisInput::Txn(commands) => {
            RedisOutput::Txn(commands.iter().map(|cmd| read(state, cmd)).collect())
        }
        _ => panic!("read of a writing command: {input:?}"),
    }
}

/// The new value of `INCRBY` on `stored` (`None` if missing, which counts as 0).
fn incr_by(stored: Option<&[u8]>, by: i64) -> Result<i64, RedisError> {
    let current = match stored {
        None => 0,
        Some(bytes) => parse_i64(bytes).ok_or(RedisError::NotInteger)?,
    };
    current.checked_add(by).ok_or(RedisError::Overflow)
}

/// `bytes` as an `i64` if it is one in canonical decimal form, as Redis's `string2ll` reads
/// it: an optional `-`, digits, no `+`, no spaces, no leading zeros (but `0` itself), no `-0`.
/// Exactly the strings `i64::to_string` produces, which is how this checks it.
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    // The longest canonical i64, "-9223372036854775808", has 20 bytes; bail before parsing
    // anything longer.
    if bytes.len() > 20 {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let value: i64 = text.parse().ok()?;
    (value.to_string() == text).then_some(value)
}

fn to_i64(count: usize) -> i64 {
    i64::try_from(count).expect("a count of keys or bytes held in memory fits in i64")
}

/// `MSET("a","1","b","2")`, in the style of the key/value model's reports.
pub(super) fn describe_input(input: &RedisInput) -> String {
    match input {
        RedisInput::Get { key } => format!("Get({key:?})"),
        RedisInput::Set { key, value } => format!("Set({key:?},{})", quote(value)),
        RedisInput::SetNx { key, value } => format!("SetNx({key:?},{})", quote(value)),
        RedisInput::Del { keys } => format!("Del({})", quote_keys(keys)),
        RedisInput::IncrBy { key, by } => format!("IncrBy({key:?},{by})"),
        RedisInput::Append { key, value } => format!("Append({key:?},{})", quote(value)),
        RedisInput::MSet { pairs } => {
            let listed: Vec<String> = pairs
                .iter()
                .map(|(key, value)| format!("{key:?},{}", quote(value)))
                .collect();
            format!("MSet({})", listed.join(","))
        }
        RedisInput::MGet { keys } => format!("MGet({})", quote_keys(keys)),
        RedisInput::Txn(commands) => {
            let listed: Vec<String> = commands.iter().map(describe_input).collect();
            format!("Txn[{}]", listed.join("; "))
        }
    }
}

/// `ok`, `nil`, `"v"`, `true`, `3`, `[nil,"v"]`, or the error text.
pub(super) fn describe_output(output: &RedisOutput) -> String {
    match output {
        RedisOutput::Ok => "ok".to_owned(),
        RedisOutput::Value(value) => quote_value(value.as_deref()),
        RedisOutput::Bool(set) => set.to_string(),
        RedisOutput::Int(n) => n.to_string(),
        RedisOutput::Error(error) => format!("({error})"),
        RedisOutput::Values(values) => {
            let listed: Vec<String> = values.iter().map(|v| quote_value(v.as_deref())).collect();
            format!("[{}]", listed.join(","))
        }
        RedisOutput::Txn(replies) => {
            let listed: Vec<String> = replies.iter().map(describe_output).collect();
            format!("[{}]", listed.join("; "))
        }
    }
}

fn quote_keys(keys: &[String]) -> String {
    let quoted: Vec<String> = keys.iter().map(|key| format!("{key:?}")).collect();
    quoted.join(",")
}

fn quote_value(value: Option<&[u8]>) -> String {
    value.map_or_else(|| "nil".to_owned(), quote)
}

/// `bytes` in double quotes, non-printable bytes escaped (`\xff`), so binary values read
/// unambiguously; printable ASCII shows as it would in a Rust string literal.
fn quote(bytes: &[u8]) -> String {
    let mut quoted = String::with_capacity(bytes.len() + 2);
    quoted.push('"');
    for &byte in bytes {
        quoted.extend(std::ascii::escape_default(byte).map(char::from));
    }
    quoted.push('"');
    quoted
}
