//! What each command does to the store and answers: Redis's string semantics, applied in log
//! order. Every command either fully happens or answers an error and changes nothing.

use crate::cmd::{Batch, Cmd, Condition, ExpireCondition, SetExpiry, TtlUnit};
use crate::store::{Keyspace, SlotKey};
use crate::strings::{format_i64, get_range, parse_i64};
use crate::value::Value;
use crate::{MAX_REPLY_BYTES, MAX_SCAN_COUNT, MAX_VALUE_BYTES, errors, glob::glob_match};
use bytes::{Bytes, BytesMut};

impl Keyspace {
    /// Applies one request: moves the clock to its stamp (never back), expires what is due,
    /// then runs its commands in order, one answer each.
    pub fn apply_batch(&mut self, batch: &Batch) -> Vec<Value> {
        self.advance_clock(batch.now_ms);
        batch.cmds.iter().map(|cmd| self.apply(cmd)).collect()
    }

    /// Runs one command at the current clock.
    ///
    /// Commands reach the log from the network, not only through [`crate::parse`], so what
    /// parse checks is checked again here: a key or pattern over [`crate::MAX_KEY_BYTES`]
    /// answers an error (values are checked where they are written).
    pub fn apply(&mut self, cmd: &Cmd) -> Value {
        let pattern_len = match cmd {
            Cmd::Keys { pattern } => pattern.len(),
            Cmd::Scan { pattern, .. } => pattern.as_ref().map_or(0, Bytes::len),
            _ => 0,
        };
        if pattern_len > crate::MAX_KEY_BYTES
            || cmd.keys().iter().any(|k| k.len() > crate::MAX_KEY_BYTES)
        {
            return Value::error(errors::key_too_large());
        }
        match cmd {
            Cmd::Get { key } => Value::bulk_or_nil(self.entry(key).map(|e| &e.value)),
            Cmd::Set {
                key,
                value,
                condition,
                get,
                expiry,
            } => self.set(key, value, *condition, *get, *expiry),
            Cmd::SetNx { key, value } => {
                match self.set(key, value, Condition::IfMissing, false, SetExpiry::Clear) {
                    Value::Ok => Value::Int(1),
                    Value::Nil => Value::Int(0),
                    other => other,
                }
            }
            Cmd::GetDel { key } => Value::bulk_or_nil(self.remove(key).as_ref()),
            Cmd::Del { keys } => {
                let removed = keys.iter().filter(|k| self.remove(k).is_some()).count();
                Value::Int(count(removed))
            }
            Cmd::Exists { keys } => Value::Int(count(
                keys.iter().filter(|k| self.entry(k).is_some()).count(),
            )),
            Cmd::MGet { keys } => self.mget(keys),
            Cmd::MSet { pairs } => self.mset(pairs, false),
            Cmd::MSetNx { pairs } => self.mset(pairs, true),
            Cmd::IncrBy { key, by } => self.incr_by(key, *by),
            Cmd::StrLen { key } => Value::Int(count(self.entry(key).map_or(0, |e| e.value.len()))),
            Cmd::GetRange { key, start, end } => {
                let value = self.entry(key).map_or(&[][..], |e| &e.value[..]);
                Value::Bulk(Bytes::copy_from_slice(get_range(value, *start, *end)))
            }
            Cmd::SetRange { key, offset, value } => self.set_range(key, *offset, value),
            Cmd::Append { key, value } => self.append(key, value),
            Cmd::DbSize => Value::Int(count(self.len())),
            Cmd::Type { key } => Value::Status(
                if self.entry(key).is_some() {
                    "string"
                } else {
                    "none"
                }
                .to_owned(),
            ),
            Cmd::Keys { pattern } => self.keys(pattern),
            Cmd::Scan {
                cursor,
                pattern,
                count,
                only_strings,
            } => self.scan(*cursor, pattern.as_deref(), *count, *only_strings),
            Cmd::Expire { key, ms, condition } => {
                let at_ms = i64::try_from(self.clock_ms())
                    .ok()
                    .and_then(|now| now.checked_add(*ms));
                match at_ms {
                    Some(at_ms) => self.expire_at(key, at_ms, *condition),
                    None => Value::error(errors::invalid_expire("expire")),
                }
            }
            Cmd::ExpireAt {
                key,
                at_ms,
                condition,
            } => self.expire_at(key, *at_ms, *condition),
            Cmd::Ttl { key, unit } => self.ttl(key, *unit),
            Cmd::Persist { key } => self.persist(key),
            Cmd::FlushDb => {
                self.clear();
                Value::Ok
            }
            Cmd::Versions { keys } => Value::Array(
                keys.iter()
                    .map(|k| Value::Int(i64::try_from(self.version(k)).unwrap_or(i64::MAX)))
                    .collect(),
            ),
            Cmd::Exec { watched, cmds } => self.exec(watched, cmds),
        }
    }

    fn set(
        &mut self,
        key: &Bytes,
        value: &Bytes,
        condition: Condition,
        get: bool,
        expiry: SetExpiry,
    ) -> Value {
        if let Some(error) = size_error(key, value.len()) {
            return error;
        }
        let old = self.entry(key).cloned();
        let answer = if get {
            Value::bulk_or_nil(old.as_ref().map(|e| &e.value))
        } else {
            Value::Ok
        };
        let allowed = match condition {
            Condition::Always => true,
            Condition::IfMissing => old.is_none(),
            Condition::IfExists => old.is_some(),
        };
        if !allowed {
            return if get { answer } else { Value::Nil };
        }
        let expires_at_ms = match expiry {
            SetExpiry::Clear => None,
            SetExpiry::Keep => old.and_then(|e| e.expires_at_ms),
            SetExpiry::AtMs(at) => Some(at),
            SetExpiry::AfterMs(ms) => match self.clock_ms().checked_add(ms) {
                Some(at) => Some(at),
                None => return Value::error(errors::invalid_expire("set")),
            },
        };
        self.put(key, value.clone(), expires_at_ms);
        answer
    }

    fn mget(&self, keys: &[Bytes]) -> Value {
        let values: Vec<Value> = keys
            .iter()
            .map(|k| Value::bulk_or_nil(self.entry(k).map(|e| &e.value)))
            .collect();
        bounded_array(values, "MGET")
    }

    fn mset(&mut self, pairs: &[(Bytes, Bytes)], only_if_none_exists: bool) -> Value {
        if let Some(error) = pairs.iter().find_map(|(k, v)| size_error(k, v.len())) {
            return error;
        }
        if only_if_none_exists && pairs.iter().any(|(k, _)| self.entry(k).is_some()) {
            return Value::Int(0);
        }
        for (key, value) in pairs {
            self.put(key, value.clone(), None);
        }
        if only_if_none_exists {
            Value::Int(1)
        } else {
            Value::Ok
        }
    }

    fn incr_by(&mut self, key: &Bytes, by: i64) -> Value {
        let old = self.entry(key).cloned();
        let current = match &old {
            None => 0,
            Some(entry) => match parse_i64(&entry.value) {
                Some(n) => n,
                None => return Value::error(errors::NOT_AN_INTEGER),
            },
        };
        let Some(new) = current.checked_add(by) else {
            return Value::error(errors::OVERFLOW);
        };
        // INCR keeps the key's time to live, as in Redis.
        self.put(key, format_i64(new), old.and_then(|e| e.expires_at_ms));
        Value::Int(new)
    }

    fn set_range(&mut self, key: &Bytes, offset: u64, value: &Bytes) -> Value {
        let old = self.entry(key).cloned();
        let old_len = old.as_ref().map_or(0, |e| e.value.len());
        if value.is_empty() {
            // Redis creates nothing and pads nothing for an empty write.
            return Value::Int(count(old_len));
        }
        let end = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(value.len()));
        let Some(end) = end.filter(|&end| end <= MAX_VALUE_BYTES) else {
            return Value::error(errors::too_large());
        };
        if let Some(error) = size_error(key, 0) {
            return error;
        }
        let offset = end - value.len(); // = `offset`, now known to fit a usize.
        let mut new = BytesMut::with_capacity(old_len.max(end));
        new.extend_from_slice(old.as_ref().map_or(&[][..], |e| &e.value[..]));
        if new.len() < end {
            new.resize(end, 0);
        }
        new[offset..end].copy_from_slice(value);
        let len = new.len();
        self.put(key, new.freeze(), old.and_then(|e| e.expires_at_ms));
        Value::Int(count(len))
    }

    fn append(&mut self, key: &Bytes, value: &Bytes) -> Value {
        let old = self.entry(key).cloned();
        let old_value = old.as_ref().map_or(&[][..], |e| &e.value[..]);
        let len = old_value.len() + value.len();
        if let Some(error) = size_error(key, len) {
            return error;
        }
        let mut new = BytesMut::with_capacity(len);
        new.extend_from_slice(old_value);
        new.extend_from_slice(value);
        self.put(key, new.freeze(), old.and_then(|e| e.expires_at_ms));
        Value::Int(count(len))
    }

    fn keys(&self, pattern: &Bytes) -> Value {
        let mut found = Vec::new();
        let mut bytes = 0usize;
        for slot in self.entries.keys() {
            if glob_match(pattern, &slot.key) {
                bytes += slot.key.len() + 16;
                if bytes > MAX_REPLY_BYTES {
                    return Value::error(errors::reply_too_large("KEYS", "use SCAN"));
                }
                found.push(Value::Bulk(slot.key.clone()));
            }
        }
        Value::Array(found)
    }

    /// One page of SCAN: looks at about `count` keys from `cursor` (a scan hash; 0 is the
    /// start) and answers `[next cursor, matching keys]`, next cursor 0 at the end.
    ///
    /// A page never ends between two keys of one hash, so resuming at the next hash misses
    /// nothing: every key present for the whole scan is returned at least once (Redis's
    /// guarantee). Keys added during a scan may or may not be returned.
    fn scan(
        &self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: u64,
        only_strings: Option<bool>,
    ) -> Value {
        let count = usize::try_from(count.clamp(1, MAX_SCAN_COUNT)).unwrap_or(1);
        let from = SlotKey {
            hash: cursor,
            key: Bytes::new(),
        };
        let mut found = Vec::new();
        let mut last_hash = None;
        let mut next_cursor = 0u64;
        for (looked, slot) in self.entries.range(from..).map(|(s, _)| s).enumerate() {
            if looked >= count && last_hash != Some(slot.hash) {
                next_cursor = slot.hash;
                break;
            }
            last_hash = Some(slot.hash);
            let wanted = only_strings != Some(false)
                && pattern.is_none_or(|pattern| glob_match(pattern, &slot.key));
            if wanted {
                found.push(Value::Bulk(slot.key.clone()));
            }
        }
        Value::Array(vec![
            Value::Bulk(Bytes::from(next_cursor.to_string())),
            Value::Array(found),
        ])
    }

    fn expire_at(&mut self, key: &Bytes, at_ms: i64, condition: ExpireCondition) -> Value {
        let Some(entry) = self.entry(key).cloned() else {
            return Value::Int(0);
        };
        // A time at or before the epoch is in the past: the key goes.
        let at_ms = u64::try_from(at_ms).unwrap_or(0);
        let allowed = match (condition, entry.expires_at_ms) {
            (ExpireCondition::Always, _) => true,
            (ExpireCondition::IfNone, current) => current.is_none(),
            (ExpireCondition::IfSome, current) => current.is_some(),
            // No expiry is an infinite one: nothing is later, everything earlier.
            (ExpireCondition::IfLater, current) => current.is_some_and(|c| at_ms > c),
            (ExpireCondition::IfEarlier, current) => current.is_none_or(|c| at_ms < c),
        };
        if !allowed {
            return Value::Int(0);
        }
        self.put(key, entry.value, Some(at_ms));
        Value::Int(1)
    }

    fn ttl(&self, key: &Bytes, unit: TtlUnit) -> Value {
        let Some(entry) = self.entry(key) else {
            return Value::Int(-2);
        };
        let Some(at_ms) = entry.expires_at_ms else {
            return Value::Int(-1);
        };
        let left_ms = at_ms.saturating_sub(self.clock_ms());
        let left = match unit {
            TtlUnit::Millis => left_ms,
            // Rounded to the nearest second, as Redis answers TTL.
            TtlUnit::Seconds => left_ms.saturating_add(500) / 1000,
        };
        Value::Int(i64::try_from(left).unwrap_or(i64::MAX))
    }

    fn persist(&mut self, key: &Bytes) -> Value {
        match self.entry(key).cloned() {
            Some(entry) if entry.expires_at_ms.is_some() => {
                self.put(key, entry.value, None);
                Value::Int(1)
            }
            _ => Value::Int(0),
        }
    }

    fn exec(&mut self, watched: &[(Bytes, u64)], cmds: &[Cmd]) -> Value {
        if watched.iter().any(|(key, v)| self.version(key) != *v) {
            return Value::Nil;
        }
        let answers = cmds
            .iter()
            .map(|cmd| match cmd {
                Cmd::Exec { .. } | Cmd::Versions { .. } => {
                    Value::error("ERR this command is not allowed inside a transaction")
                }
                cmd => self.apply(cmd),
            })
            .collect();
        Value::Array(answers)
    }
}

/// The error for a key or a resulting value over its limit, if any.
fn size_error(key: &Bytes, value_len: usize) -> Option<Value> {
    if key.len() > crate::MAX_KEY_BYTES {
        Some(Value::error(errors::key_too_large()))
    } else if value_len > MAX_VALUE_BYTES {
        Some(Value::error(errors::too_large()))
    } else {
        None
    }
}

/// `values` as an array, or an error if the reply would be over [`MAX_REPLY_BYTES`].
fn bounded_array(values: Vec<Value>, command: &str) -> Value {
    let bytes: usize = values.iter().map(Value::encoded_bytes).sum();
    if bytes > MAX_REPLY_BYTES {
        return Value::error(errors::reply_too_large(command, "ask for fewer keys"));
    }
    Value::Array(values)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
