//! A command back to client arguments: the canonical spelling, which [`crate::parse`] reads
//! as the same command (property-tested). Clients and tests use it to send a [`Cmd`].

use crate::cmd::{Cmd, Condition, ExpireCondition, SetExpiry, TtlUnit};
use bytes::Bytes;

/// `cmd` as the arguments a client sends, name first, upper case.
///
/// `Versions` and `Exec` are not client commands (the front door makes them from WATCH and
/// MULTI ... EXEC): they come out as `WATCH key ...` and `EXEC`, which `parse` does not read.
pub fn to_args(cmd: &Cmd) -> Vec<Bytes> {
    let word = |w: &'static str| Bytes::from_static(w.as_bytes());
    let num = |n: i64| Bytes::from(n.to_string());
    let unsigned = |n: u64| Bytes::from(n.to_string());
    let named = |name: &'static str, rest: &[Bytes]| {
        let mut args = vec![word(name)];
        args.extend_from_slice(rest);
        args
    };
    match cmd {
        Cmd::Get { key } => named("GET", std::slice::from_ref(key)),
        Cmd::Set {
            key,
            value,
            condition,
            get,
            expiry,
        } => {
            let mut args = named("SET", &[key.clone(), value.clone()]);
            match condition {
                Condition::Always => {}
                Condition::IfMissing => args.push(word("NX")),
                Condition::IfExists => args.push(word("XX")),
            }
            if *get {
                args.push(word("GET"));
            }
            match expiry {
                SetExpiry::Clear => {}
                SetExpiry::Keep => args.push(word("KEEPTTL")),
                SetExpiry::AfterMs(ms) => args.extend([word("PX"), unsigned(*ms)]),
                SetExpiry::AtMs(ms) => args.extend([word("PXAT"), unsigned(*ms)]),
            }
            args
        }
        Cmd::SetNx { key, value } => named("SETNX", &[key.clone(), value.clone()]),
        Cmd::GetDel { key } => named("GETDEL", std::slice::from_ref(key)),
        Cmd::Del { keys } => named("DEL", keys),
        Cmd::Exists { keys } => named("EXISTS", keys),
        Cmd::MGet { keys } => named("MGET", keys),
        Cmd::MSet { pairs } => named("MSET", &flatten(pairs)),
        Cmd::MSetNx { pairs } => named("MSETNX", &flatten(pairs)),
        Cmd::IncrBy { key, by } => named("INCRBY", &[key.clone(), num(*by)]),
        Cmd::StrLen { key } => named("STRLEN", std::slice::from_ref(key)),
        Cmd::GetRange { key, start, end } => {
            named("GETRANGE", &[key.clone(), num(*start), num(*end)])
        }
        Cmd::SetRange { key, offset, value } => {
            named("SETRANGE", &[key.clone(), unsigned(*offset), value.clone()])
        }
        Cmd::Append { key, value } => named("APPEND", &[key.clone(), value.clone()]),
        Cmd::DbSize => named("DBSIZE", &[]),
        Cmd::Type { key } => named("TYPE", std::slice::from_ref(key)),
        Cmd::Keys { pattern } => named("KEYS", std::slice::from_ref(pattern)),
        Cmd::Scan {
            cursor,
            pattern,
            count,
            only_strings,
        } => {
            let mut args = named("SCAN", &[unsigned(*cursor)]);
            if let Some(pattern) = pattern {
                args.extend([word("MATCH"), pattern.clone()]);
            }
            args.extend([word("COUNT"), unsigned(*count)]);
            match only_strings {
                None => {}
                Some(true) => args.extend([word("TYPE"), word("string")]),
                Some(false) => args.extend([word("TYPE"), word("hash")]),
            }
            args
        }
        Cmd::Expire { key, ms, condition } => {
            let mut args = named("PEXPIRE", &[key.clone(), num(*ms)]);
            args.extend(expire_option(*condition));
            args
        }
        Cmd::ExpireAt {
            key,
            at_ms,
            condition,
        } => {
            let mut args = named("PEXPIREAT", &[key.clone(), num(*at_ms)]);
            args.extend(expire_option(*condition));
            args
        }
        Cmd::Ttl { key, unit } => match unit {
            TtlUnit::Seconds => named("TTL", std::slice::from_ref(key)),
            TtlUnit::Millis => named("PTTL", std::slice::from_ref(key)),
        },
        Cmd::Persist { key } => named("PERSIST", std::slice::from_ref(key)),
        Cmd::FlushDb => named("FLUSHDB", &[]),
        Cmd::Versions { keys } => named("WATCH", keys),
        Cmd::Exec { .. } => named("EXEC", &[]),
    }
}

fn flatten(pairs: &[(Bytes, Bytes)]) -> Vec<Bytes> {
    pairs
        .iter()
        .flat_map(|(k, v)| [k.clone(), v.clone()])
        .collect()
}

fn expire_option(condition: ExpireCondition) -> Option<Bytes> {
    let word = match condition {
        ExpireCondition::Always => return None,
        ExpireCondition::IfNone => "NX",
        ExpireCondition::IfSome => "XX",
        ExpireCondition::IfLater => "GT",
        ExpireCondition::IfEarlier => "LT",
    };
    Some(Bytes::from_static(word.as_bytes()))
}
