//! Configurations (SPEC §7.1–7.2): which replica group serves each shard, and which servers
//! each group has. A configuration is numbered and never changes once made; every Join, Leave
//! or Move that changes something makes the next one.
//!
//! Also here: how a key maps to its shard, in the lab's way ([`lab_shard_of`]) and the
//! product's ([`shard_of`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The lab's shard count (SPEC §7.1 `NShards`), used by every SPEC scenario.
pub const LAB_SHARDS: u32 = 10;

/// The shard count of a cluster created without choosing one. 64 spreads keys over enough
/// shards that groups can be added one by one up to a few dozen and still balance well, while a
/// configuration stays small (8 bytes per shard).
pub const DEFAULT_SHARDS: u32 = 64;

/// The most shards a cluster may have. Every configuration stores one gid per shard and every
/// configuration is kept (see [`crate::machine`]), so the shard count multiplies the memory
/// history costs: 4,096 shards cost 32 KiB per configuration.
pub const SHARDS_MAX: u32 = 4096;

/// A replica group's id.
///
/// Signed, as the lab's `int64` GIDs are: a negative gid can arrive on the wire, and it is
/// refused with a clear error ([`crate::ShardError::InvalidGid`]) rather than being a decode
/// failure. Only gids above 0 name groups; [`Gid::NONE`] (0) is "no group", where config 0
/// places every shard.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Gid(pub i64);

impl Gid {
    /// No group: the owner of every shard while no group is joined.
    pub const NONE: Gid = Gid(0);

    /// True if this gid can name a group (it is above 0).
    pub fn is_valid(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A configuration's number: 0 for the initial one, then one more for each change.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ConfigNum(pub u64);

impl fmt::Display for ConfigNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One configuration (SPEC §7.1 `Config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Its number.
    pub num: ConfigNum,
    /// The owner of each shard, indexed by shard. [`Gid::NONE`] only while no group is joined.
    pub shards: Vec<Gid>,
    /// Each group's servers, in the order it joined with.
    pub groups: BTreeMap<Gid, Vec<String>>,
}

impl Config {
    /// Config 0 of a cluster of `shards` shards: no groups, every shard at [`Gid::NONE`].
    ///
    /// # Panics
    /// If `shards` is 0 or above [`SHARDS_MAX`].
    pub fn initial(shards: u32) -> Config {
        assert!(
            (1..=SHARDS_MAX).contains(&shards),
            "a cluster has 1..={SHARDS_MAX} shards, not {shards}"
        );
        Config {
            num: ConfigNum(0),
            shards: vec![Gid::NONE; shards as usize],
            groups: BTreeMap::new(),
        }
    }

    /// The number of shards.
    pub fn shard_count(&self) -> u32 {
        u32::try_from(self.shards.len()).expect("at most SHARDS_MAX shards")
    }

    /// How many shards each joined group owns (0 for a group that owns none).
    pub fn shards_per_group(&self) -> BTreeMap<Gid, u32> {
        let mut counts: BTreeMap<Gid, u32> = self.groups.keys().map(|&g| (g, 0)).collect();
        for gid in &self.shards {
            if let Some(count) = counts.get_mut(gid) {
                *count += 1;
            }
        }
        counts
    }

    /// The bytes this configuration holds, for memory accounting.
    pub fn retained_bytes(&self) -> usize {
        let groups: usize = self
            .groups
            .values()
            .map(|servers| 8 + servers.iter().map(|s| 24 + s.len()).sum::<usize>())
            .sum();
        std::mem::size_of::<Config>() + 8 * self.shards.len() + groups
    }
}

/// The lab's key → shard mapping (SPEC §8.1 `key2shard`): the key's first byte modulo the
/// shard count, 0 for the empty key. Kept for the SPEC scenarios only: real keys share
/// prefixes ("user:…"), so most of them would land in a handful of shards.
///
/// # Panics
/// If `shards` is 0.
pub fn lab_shard_of(key: &[u8], shards: u32) -> u32 {
    assert!(shards > 0, "a cluster has at least one shard");
    key.first().map_or(0, |&b| u32::from(b) % shards)
}

/// The product's key → shard mapping: the 64-bit FNV-1a hash of the whole key ([`fnv1a_64`])
/// modulo the shard count.
///
/// FNV-1a is fixed by its published definition (offset basis and prime below), reads the key
/// byte by byte and uses only wrapping 64-bit arithmetic, so it gives the same shard on every
/// platform, endianness, compiler and version of this crate: a mapping that changed would move
/// every key of a running cluster. It is not keyed, so it does not resist keys chosen to
/// collide; shards are a unit of placement, not a hash table's bucket, so a client flooding one
/// shard only loads one group. The bias of the modulo is below `shards / 2^64`.
///
/// # Panics
/// If `shards` is 0.
pub fn shard_of(key: &[u8], shards: u32) -> u32 {
    assert!(shards > 0, "a cluster has at least one shard");
    u32::try_from(fnv1a_64(key) % u64::from(shards)).expect("below shards, a u32")
}

/// FNV-1a, 64 bits (Fowler, Noll, Vo; draft-eastlake-fnv): for each byte, xor it into the
/// hash, then multiply by the FNV prime.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference vectors of the FNV specification: the mapping must never change.
    #[test]
    fn fnv1a_64_matches_the_published_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn lab_mapping_is_the_first_byte() {
        assert_eq!(lab_shard_of(b"", 10), 0);
        assert_eq!(lab_shard_of(b"a", 10), 97 % 10);
        assert_eq!(lab_shard_of(b"abc", 10), 97 % 10);
        assert_eq!(lab_shard_of(&[255], 10), 5);
    }

    /// Keys that share a prefix and differ only at the end (the usual shape of real keys)
    /// spread evenly: every shard of 64 gets within 20 % of its share of 64,000 keys.
    #[test]
    fn product_mapping_spreads_keys_sharing_a_prefix() {
        let shards = 64u32;
        let mut counts = vec![0u32; shards as usize];
        for i in 0..64_000 {
            counts[shard_of(format!("user:{i}").as_bytes(), shards) as usize] += 1;
        }
        let (min, max) = (counts.iter().min(), counts.iter().max());
        assert!(
            counts.iter().all(|&c| (800..=1200).contains(&c)),
            "uneven: min {min:?} max {max:?}"
        );
        assert_eq!(shard_of(b"anything", 1), 0);
    }

    #[test]
    fn config_zero_has_every_shard_at_no_group() {
        let c = Config::initial(LAB_SHARDS);
        assert_eq!(c.num, ConfigNum(0));
        assert_eq!(c.shards, vec![Gid::NONE; 10]);
        assert!(c.groups.is_empty());
        assert!(c.shards_per_group().is_empty());
        assert!(!Gid::NONE.is_valid() && !Gid(-1).is_valid() && Gid(1).is_valid());
    }
}
