//! The keyspace's data and the bookkeeping every command shares: keys in scan order, the
//! expiry index, the clock taken from the log, versions for WATCH, and byte accounting.

use crate::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a key sits in the map: ordered by a hash of the key first, so that SCAN's cursor can
/// be a plain integer (the hash to resume from) that stays valid while keys come and go.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SlotKey {
    pub(crate) hash: u64,
    pub(crate) key: Bytes,
}

impl SlotKey {
    pub(crate) fn of(key: &Bytes) -> SlotKey {
        SlotKey {
            hash: scan_hash(key),
            key: key.clone(),
        }
    }
}

/// FNV-1a (64 bits) of the key, never 0: SCAN's cursor 0 means "start" and "done". Not
/// randomised, so every replica orders keys alike; a client choosing colliding keys only
/// lengthens a BTreeMap comparison.
pub(crate) fn scan_hash(key: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = key
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    hash.max(1)
}

/// One stored string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) value: Bytes,
    /// Unix time in ms at which the key disappears, if ever; always after the clock.
    pub(crate) expires_at_ms: Option<u64>,
    /// The write counter when the key was last written (WATCH compares it).
    pub(crate) version: u64,
}

/// Bytes counted per key besides its name and value, for memory accounting.
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// Redis strings as a deterministic state machine. See the crate docs for the guarantees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyspace {
    pub(crate) entries: BTreeMap<SlotKey, Entry>,
    /// `(expires_at_ms, key)` for every key with an expiry: the next to expire first.
    expiries: BTreeSet<(u64, SlotKey)>,
    /// The largest time stamp applied so far, in Unix ms: the store's only clock.
    clock_ms: u64,
    /// Counts every write; versions are drawn from it.
    writes: u64,
    /// The write counter at the last removal of any key: the version of every missing key.
    /// A missing key that WATCH saw is then "changed" if it was created since (its version is
    /// newer) or if any key was removed since (a safe false alarm, never a missed change).
    last_removal: u64,
    /// Bytes held, per [`ENTRY_OVERHEAD_BYTES`] and the names and values.
    bytes: usize,
}

impl Keyspace {
    /// An empty store at time 0.
    pub fn new() -> Keyspace {
        Keyspace::default()
    }

    /// The store's clock: the largest time stamp of any batch applied, in Unix ms.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    /// Number of keys (every one live: expired keys are removed when the clock passes them).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no key is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of keys with an expiry.
    pub fn expiring(&self) -> usize {
        self.expiries.len()
    }

    /// The bytes held, approximately: names, values and a fixed cost per key.
    pub fn retained_bytes(&self) -> usize {
        self.bytes
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.entry(&Bytes::copy_from_slice(key)).map(|e| &e.value)
    }

    pub(crate) fn entry(&self, key: &Bytes) -> Option<&Entry> {
        self.entries.get(&SlotKey::of(key))
    }

    /// Moves the clock to `now_ms` if that is later, and removes every key whose time has
    /// come. Time never goes back, whatever the stamps: a replica with a slow clock cannot
    /// bring an expired key back.
    pub(crate) fn advance_clock(&mut self, now_ms: u64) {
        self.clock_ms = self.clock_ms.max(now_ms);
        while let Some((at_ms, _)) = self.expiries.first()
            && *at_ms <= self.clock_ms
        {
            let Some((_, slot)) = self.expiries.pop_first() else {
                break;
            };
            // The index and the map agree, so the key is there; removing it again is harmless.
            if let Some(entry) = self.entries.remove(&slot) {
                self.bytes -= held_bytes(&slot.key, &entry.value);
                self.last_removal = self.bump();
            }
        }
    }

    fn bump(&mut self) -> u64 {
        self.writes += 1;
        self.writes
    }

    /// Stores `value` under `key` with `expires_at_ms`. An expiry at or before the clock
    /// removes the key instead (Redis: a SET or EXPIRE into the past deletes).
    ///
    /// # Panics
    /// If the key or value is over its limit: commands check before writing.
    pub(crate) fn put(&mut self, key: &Bytes, value: Bytes, expires_at_ms: Option<u64>) {
        assert!(key.len() <= MAX_KEY_BYTES && value.len() <= MAX_VALUE_BYTES);
        if expires_at_ms.is_some_and(|at| at <= self.clock_ms) {
            self.remove(key);
            return;
        }
        let slot = SlotKey::of(key);
        let version = self.bump();
        let added = held_bytes(key, &value);
        let entry = Entry {
            value,
            expires_at_ms,
            version,
        };
        if let Some(old) = self.entries.insert(slot.clone(), entry) {
            self.bytes -= held_bytes(key, &old.value);
            if let Some(at) = old.expires_at_ms {
                self.expiries.remove(&(at, slot.clone()));
            }
        }
        self.bytes += added;
        if let Some(at) = expires_at_ms {
            self.expiries.insert((at, slot));
        }
    }

    /// Removes `key`; its value if it was there.
    pub(crate) fn remove(&mut self, key: &Bytes) -> Option<Bytes> {
        let slot = SlotKey::of(key);
        let old = self.entries.remove(&slot)?;
        self.bytes -= held_bytes(key, &old.value);
        if let Some(at) = old.expires_at_ms {
            self.expiries.remove(&(at, slot));
        }
        self.last_removal = self.bump();
        Some(old.value)
    }

    /// Removes every key.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.expiries.clear();
        self.bytes = 0;
        self.last_removal = self.bump();
    }

    /// The version WATCH reads for `key` (see `last_removal`).
    pub(crate) fn version(&self, key: &Bytes) -> u64 {
        self.entry(key).map_or(self.last_removal, |e| e.version)
    }

    /// The whole store, encoded (postcard): what a snapshot holds.
    pub fn snapshot(&self) -> Vec<u8> {
        let image = ImageRef {
            clock_ms: self.clock_ms,
            writes: self.writes,
            last_removal: self.last_removal,
            entries: self
                .entries
                .iter()
                .map(|(slot, e)| {
                    (
                        RawBytes(&slot.key),
                        RawBytes(&e.value),
                        e.expires_at_ms,
                        e.version,
                    )
                })
                .collect(),
        };
        postcard::to_stdvec(&image).expect("a vector of byte strings always encodes")
    }

    /// The store a snapshot holds.
    ///
    /// # Errors
    /// If the bytes do not decode, or describe an impossible store (a key twice, a version
    /// from the future, a key or value over its limit, an expiry already past).
    pub fn restore(bytes: &[u8]) -> Result<Keyspace, String> {
        let image: Image = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        if image.last_removal > image.writes {
            return Err("a removal is newer than the last write".into());
        }
        let mut store = Keyspace {
            clock_ms: image.clock_ms,
            writes: image.writes,
            last_removal: image.last_removal,
            ..Keyspace::default()
        };
        for (key, value, expires_at_ms, version) in image.entries {
            if key.len() > MAX_KEY_BYTES || value.len() > MAX_VALUE_BYTES {
                return Err(format!("key {key:?} or its value is over the size limit"));
            }
            if version > image.writes || expires_at_ms.is_some_and(|at| at <= image.clock_ms) {
                return Err(format!("key {key:?} has an impossible version or expiry"));
            }
            let slot = SlotKey::of(&key);
            store.bytes += held_bytes(&key, &value);
            if let Some(at) = expires_at_ms {
                store.expiries.insert((at, slot.clone()));
            }
            let entry = Entry {
                value,
                expires_at_ms,
                version,
            };
            if store.entries.insert(slot, entry).is_some() {
                return Err(format!("key {key:?} appears twice"));
            }
        }
        Ok(store)
    }
}

fn held_bytes(key: &[u8], value: &[u8]) -> usize {
    ENTRY_OVERHEAD_BYTES + key.len() + value.len()
}

/// A snapshot as written: the keys with their values, expiries and versions. The scan hash is
/// recomputed on restore rather than trusted from the bytes.
#[derive(Serialize)]
struct ImageRef<'a> {
    clock_ms: u64,
    writes: u64,
    last_removal: u64,
    #[allow(clippy::type_complexity)] // The tuple is the on-disk layout, spelled out.
    entries: Vec<(RawBytes<'a>, RawBytes<'a>, Option<u64>, u64)>,
}

/// A borrowed byte string encoded as one byte string (as `Bytes` is), not as a sequence of
/// numbers one call each.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// [`ImageRef`] as read back.
#[derive(Deserialize)]
struct Image {
    clock_ms: u64,
    writes: u64,
    last_removal: u64,
    entries: Vec<(Bytes, Bytes, Option<u64>, u64)>,
}
