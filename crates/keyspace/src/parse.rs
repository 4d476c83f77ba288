//! Recognising store commands from a client's arguments, with Redis's checks and error texts.
//! What can be checked without the data is checked here, so a command that reaches the log
//! is well formed.

use crate::cmd::{Cmd, Condition, ExpireCondition, SetExpiry, TtlUnit};
use crate::errors::{self, NOT_AN_INTEGER, SYNTAX};
use crate::strings::parse_i64;
use crate::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use bytes::Bytes;

/// SCAN's page size when COUNT is not given (Redis's default).
pub const SCAN_COUNT_DEFAULT: u64 = 10;

/// Every command name this module recognises, in lower case, with its arity as Redis's
/// `COMMAND` reports it (negative: at least that many, name included) and whether it writes.
pub const COMMANDS: &[(&str, i64, bool)] = &[
    ("get", 2, false),
    ("set", -3, true),
    ("setnx", 3, true),
    ("setex", 4, true),
    ("psetex", 4, true),
    ("getset", 3, true),
    ("getdel", 2, true),
    ("del", -2, true),
    ("unlink", -2, true),
    ("exists", -2, false),
    ("mget", -2, false),
    ("mset", -3, true),
    ("msetnx", -3, true),
    ("incr", 2, true),
    ("decr", 2, true),
    ("incrby", 3, true),
    ("decrby", 3, true),
    ("strlen", 2, false),
    ("getrange", 4, false),
    ("substr", 4, false),
    ("setrange", 4, true),
    ("append", 3, true),
    ("dbsize", 1, false),
    ("type", 2, false),
    ("keys", 2, false),
    ("scan", -2, false),
    ("expire", -3, true),
    ("pexpire", -3, true),
    ("expireat", -3, true),
    ("pexpireat", -3, true),
    ("ttl", 2, false),
    ("pttl", 2, false),
    ("persist", 2, true),
    ("flushdb", -1, true),
    ("flushall", -1, true),
];

/// Recognises a store command from `args` (name first).
///
/// Returns `None` if the name is not a store command (the caller tries its own, such as PING
/// or MULTI), `Some(Err(text))` for a store command Redis would refuse (wrong arity, a bad
/// option or number, a key or value over the limit), with Redis's error text.
pub fn parse(args: &[Bytes]) -> Option<Result<Cmd, String>> {
    let (name, rest) = args.split_first()?;
    let lower = name.to_ascii_lowercase();
    let name = std::str::from_utf8(&lower).ok()?;
    let &(name, arity, _) = COMMANDS.iter().find(|(n, _, _)| *n == name)?;
    let arity_ok = match usize::try_from(arity) {
        Ok(exact) => args.len() == exact,
        Err(_) => args.len() >= usize::try_from(-arity).unwrap_or(usize::MAX),
    };
    if !arity_ok {
        return Some(Err(errors::wrong_arity(name)));
    }
    let cmd = command(name, rest).and_then(check_sizes);
    Some(cmd)
}

/// The command `name` (known, arity checked) with arguments `a`.
fn command(name: &str, a: &[Bytes]) -> Result<Cmd, String> {
    let key = || a[0].clone();
    Ok(match name {
        "get" => Cmd::Get { key: key() },
        "set" => set(a)?,
        "setnx" => Cmd::SetNx {
            key: key(),
            value: a[1].clone(),
        },
        "setex" | "psetex" => {
            let n = positive(&a[1], name)?;
            let ms = if name == "setex" {
                seconds_to_ms(n, name)?
            } else {
                n
            };
            Cmd::Set {
                key: key(),
                value: a[2].clone(),
                condition: Condition::Always,
                get: false,
                expiry: SetExpiry::AfterMs(ms),
            }
        }
        "getset" => Cmd::Set {
            key: key(),
            value: a[1].clone(),
            condition: Condition::Always,
            get: true,
            expiry: SetExpiry::Clear,
        },
        "getdel" => Cmd::GetDel { key: key() },
        "del" | "unlink" => Cmd::Del { keys: a.to_vec() },
        "exists" => Cmd::Exists { keys: a.to_vec() },
        "mget" => Cmd::MGet { keys: a.to_vec() },
        "mset" | "msetnx" => {
            if !a.len().is_multiple_of(2) {
                return Err(errors::wrong_arity(name));
            }
            let pairs = a
                .chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            if name == "mset" {
                Cmd::MSet { pairs }
            } else {
                Cmd::MSetNx { pairs }
            }
        }
        "incr" => Cmd::IncrBy { key: key(), by: 1 },
        "decr" => Cmd::IncrBy { key: key(), by: -1 },
        "incrby" => Cmd::IncrBy {
            key: key(),
            by: integer(&a[1])?,
        },
        "decrby" => {
            let by = integer(&a[1])?
                .checked_neg()
                .ok_or("ERR decrement would overflow")?;
            Cmd::IncrBy { key: key(), by }
        }
        "strlen" => Cmd::StrLen { key: key() },
        "getrange" | "substr" => Cmd::GetRange {
            key: key(),
            start: integer(&a[1])?,
            end: integer(&a[2])?,
        },
        "setrange" => {
            let offset = integer(&a[1])?;
            let offset = u64::try_from(offset).map_err(|_| "ERR offset is out of range")?;
            Cmd::SetRange {
                key: key(),
                offset,
                value: a[2].clone(),
            }
        }
        "append" => Cmd::Append {
            key: key(),
            value: a[1].clone(),
        },
        "dbsize" => Cmd::DbSize,
        "type" => Cmd::Type { key: key() },
        "keys" => Cmd::Keys { pattern: key() },
        "scan" => scan(a)?,
        "expire" | "pexpire" | "expireat" | "pexpireat" => expire(name, a)?,
        "ttl" | "pttl" => Cmd::Ttl {
            key: key(),
            unit: if name == "ttl" {
                TtlUnit::Seconds
            } else {
                TtlUnit::Millis
            },
        },
        "persist" => Cmd::Persist { key: key() },
        "flushdb" | "flushall" => match a {
            [] => Cmd::FlushDb,
            [mode] if is(mode, "ASYNC") || is(mode, "SYNC") => Cmd::FlushDb,
            _ => return Err(SYNTAX.into()),
        },
        // Every name in COMMANDS has an arm (the unit tests parse each one).
        _ => return Err(format!("ERR unknown command '{name}'")),
    })
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
fn set(a: &[Bytes]) -> Result<Cmd, String> {
    let mut condition = Condition::Always;
    let mut get = false;
    let mut expiry = SetExpiry::Clear;
    let mut expiry_given = false;
    let mut options = a[2..].iter();
    while let Some(option) = options.next() {
        if is(option, "NX") || is(option, "XX") {
            if condition != Condition::Always {
                return Err(SYNTAX.into());
            }
            condition = if is(option, "NX") {
                Condition::IfMissing
            } else {
                Condition::IfExists
            };
        } else if is(option, "GET") {
            get = true;
        } else if is(option, "KEEPTTL") {
            if expiry_given {
                return Err(SYNTAX.into());
            }
            (expiry, expiry_given) = (SetExpiry::Keep, true);
        } else if ["EX", "PX", "EXAT", "PXAT"].iter().any(|o| is(option, o)) {
            let Some(n) = options.next() else {
                return Err(SYNTAX.into());
            };
            if expiry_given {
                return Err(SYNTAX.into());
            }
            let n = positive(n, "set")?;
            let in_seconds = is(option, "EX") || is(option, "EXAT");
            let ms = if in_seconds {
                seconds_to_ms(n, "set")?
            } else {
                n
            };
            let absolute = is(option, "EXAT") || is(option, "PXAT");
            expiry = if absolute {
                SetExpiry::AtMs(ms)
            } else {
                SetExpiry::AfterMs(ms)
            };
            expiry_given = true;
        } else {
            return Err(SYNTAX.into());
        }
    }
    Ok(Cmd::Set {
        key: a[0].clone(),
        value: a[1].clone(),
        condition,
        get,
        expiry,
    })
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`.
fn scan(a: &[Bytes]) -> Result<Cmd, String> {
    let cursor = std::str::from_utf8(&a[0])
        .ok()
        .and_then(|c| c.parse::<u64>().ok())
        .ok_or("ERR invalid cursor")?;
    let (mut pattern, mut count, mut only_strings) = (None, SCAN_COUNT_DEFAULT, None);
    let mut options = a[1..].chunks(2);
    for option in options.by_ref() {
        let [name, value] = option else {
            return Err(SYNTAX.into());
        };
        if is(name, "MATCH") {
            pattern = Some(value.clone());
        } else if is(name, "COUNT") {
            count = u64::try_from(integer(value)?).map_err(|_| SYNTAX)?;
            if count == 0 {
                return Err(SYNTAX.into());
            }
        } else if is(name, "TYPE") {
            only_strings = Some(is(value, "string"));
        } else {
            return Err(SYNTAX.into());
        }
    }
    Ok(Cmd::Scan {
        cursor,
        pattern,
        count,
        only_strings,
    })
}

/// `EXPIRE`/`PEXPIRE`/`EXPIREAT`/`PEXPIREAT key n [NX|XX|GT|LT]`.
fn expire(name: &str, a: &[Bytes]) -> Result<Cmd, String> {
    let n = integer(&a[1])?;
    let ms = if name == "expire" || name == "expireat" {
        n.checked_mul(1000)
            .ok_or_else(|| errors::invalid_expire(name))?
    } else {
        n
    };
    let mut condition = ExpireCondition::Always;
    for option in &a[2..] {
        let next = if is(option, "NX") {
            ExpireCondition::IfNone
        } else if is(option, "XX") {
            ExpireCondition::IfSome
        } else if is(option, "GT") {
            ExpireCondition::IfLater
        } else if is(option, "LT") {
            ExpireCondition::IfEarlier
        } else {
            return Err(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(option)
            ));
        };
        if condition != ExpireCondition::Always && condition != next {
            return Err(
                if matches!(condition, ExpireCondition::IfNone)
                    || matches!(next, ExpireCondition::IfNone)
                {
                    "ERR NX and XX, GT or LT options at the same time are not compatible".into()
                } else {
                    "ERR GT and LT options at the same time are not compatible".into()
                },
            );
        }
        condition = next;
    }
    let key = a[0].clone();
    Ok(if name.ends_with("at") {
        Cmd::ExpireAt {
            key,
            at_ms: ms,
            condition,
        }
    } else {
        Cmd::Expire { key, ms, condition }
    })
}

/// Refuses keys and values over their limits before they reach the log.
fn check_sizes(cmd: Cmd) -> Result<Cmd, String> {
    if cmd.keys().iter().any(|k| k.len() > MAX_KEY_BYTES) {
        return Err(errors::key_too_large());
    }
    let value_too_large = match &cmd {
        Cmd::Set { value, .. } | Cmd::SetNx { value, .. } | Cmd::Append { value, .. } => {
            value.len() > MAX_VALUE_BYTES
        }
        Cmd::SetRange { offset, value, .. } => {
            offset.saturating_add(value.len() as u64) > MAX_VALUE_BYTES as u64
        }
        Cmd::MSet { pairs } | Cmd::MSetNx { pairs } => {
            pairs.iter().any(|(_, v)| v.len() > MAX_VALUE_BYTES)
        }
        _ => false,
    };
    if value_too_large {
        return Err(errors::too_large());
    }
    Ok(cmd)
}

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

fn integer(arg: &[u8]) -> Result<i64, String> {
    parse_i64(arg).ok_or_else(|| NOT_AN_INTEGER.to_owned())
}

/// A positive time: what SET's options and SETEX take.
fn positive(arg: &[u8], command: &str) -> Result<u64, String> {
    let n = integer(arg)?;
    u64::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| errors::invalid_expire(command))
}

fn seconds_to_ms(seconds: u64, command: &str) -> Result<u64, String> {
    seconds
        .checked_mul(1000)
        .filter(|&ms| i64::try_from(ms).is_ok())
        .ok_or_else(|| errors::invalid_expire(command))
}
