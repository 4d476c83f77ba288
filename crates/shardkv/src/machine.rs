//! A replica group's state machine: the shards it holds, the configuration it is in, and the
//! rules that keep at most one group serving a shard. Replicated by [`rsm::Replica`].
//!
//! # The rules (applied in log order, so every replica of a group decides alike)
//! - **One configuration at a time.** `Reconfigure(c)` applies only if `c` is the next
//!   configuration and every shard held is settled (serving, or parked with no new owner):
//!   nothing is still arriving, and every shard moved away has reached its new owner.
//! - **Ownership at apply time.** A client's command runs only if the current configuration
//!   gives its shard to this group and the shard's data is here; otherwise it is refused
//!   ([`Refusal::WrongGroup`], [`Refusal::NotReady`]) and changes nothing.
//! - **Hand-off.** A shard moved away stops serving at once and is kept, unchanged, until its
//!   new owner has it ([`Command::Delete`]). A shard moved here arrives as an image (keys and
//!   client table) in chunks ([`Command::Install`]), in order, and serves once complete.
//! - **At most one server per shard.** A group serves shard `s` in configuration `n` only
//!   after the owner in `n - 1` stopped serving it (it applied `n`, which is when it starts
//!   offering the image): the image is taken after the old owner's last command.

use crate::clients::Seen;
use crate::msg::{Command, Mapping, Output, Refusal, is_read_only, shard_of_command};
use crate::shard::{Phase, Shard};
use bytes::Bytes;
use kvpaxos::msg::KvCommand;
use paxos::Seq;
use rsm::{RestoreError, StateMachine};
use serde::{Deserialize, Serialize};
use shardmaster::{Config, ConfigNum, Gid};
use std::collections::BTreeMap;

/// The largest shard image accepted from another group. Why 1 GiB: a shard is a slice of one
/// group's memory; past this the image is refused rather than buffered.
pub const IMAGE_BYTES_MAX: u64 = 1 << 30;

/// A group's state (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardKvMachine {
    /// The group, from its first reconfiguration ([`Gid::NONE`] before).
    gid: Gid,
    /// How keys map to shards, from the first reconfiguration.
    mapping: Mapping,
    /// The current configuration; `None` is configuration 0 (no shard owned).
    config: Option<Config>,
    /// Every shard held: owned, arriving, or kept for its new owner.
    shards: BTreeMap<u32, Shard>,
}

impl ShardKvMachine {
    /// The group, once a reconfiguration named it.
    pub fn gid(&self) -> Gid {
        self.gid
    }

    /// The current configuration's number (0 before the first).
    pub fn config_num(&self) -> ConfigNum {
        self.config.as_ref().map_or(ConfigNum(0), |c| c.num)
    }

    /// The current configuration, if any.
    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    /// The shard `s`, if held.
    pub fn shard(&self, s: u32) -> Option<&Shard> {
        self.shards.get(&s)
    }

    /// Every held shard.
    pub fn shards(&self) -> impl Iterator<Item = (u32, &Shard)> {
        self.shards.iter().map(|(s, shard)| (*s, shard))
    }

    /// True if the next configuration can apply: no shard is arriving, and every shard moved
    /// away has reached its new owner.
    pub fn is_settled(&self) -> bool {
        self.shards.values().all(|s| match &s.phase {
            Phase::Serving => true,
            Phase::Pulling { .. } => false,
            Phase::Offering { to, .. } => *to == Gid::NONE,
        })
    }

    /// The value of `key` as the lab reads it ("" if missing or not here).
    pub fn get_text(&self, key: &str) -> String {
        let Some(config) = &self.config else {
            return String::new();
        };
        let s = self.mapping.shard_of(key.as_bytes(), config.shard_count());
        self.shards
            .get(&s)
            .map_or_else(String::new, |shard| shard.data.get_text(key))
    }

    fn run_client(&mut self, slot: Seq, clerk: u64, seq: u64, cmd: &KvCommand) -> Output {
        let Some(config) = &self.config else {
            return Output::Refused(Refusal::WrongGroup); // No shard is owned before config 1.
        };
        let s = match shard_of_command(cmd, self.mapping, config.shard_count()) {
            Ok(s) => s,
            Err(refusal) => return Output::Refused(refusal),
        };
        if config.shards[s as usize] != self.gid {
            return Output::Refused(Refusal::WrongGroup);
        }
        let Some(shard) = self.shards.get_mut(&s).filter(|sh| sh.is_serving()) else {
            return Output::Refused(Refusal::NotReady);
        };
        match shard.clients.seen(clerk, seq) {
            Seen::Repeat(Some(output)) => return Output::Done(output.clone()),
            Seen::Stale => return Output::Refused(Refusal::Stale),
            Seen::Repeat(None) | Seen::Fresh => {}
        }
        let output = shard.data.apply(slot, cmd);
        let kept = (!is_read_only(cmd)).then(|| output.clone());
        shard.clients.record(clerk, seq, kept);
        Output::Done(output)
    }

    fn reconfigure(&mut self, gid: Gid, mapping: Mapping, next: &Config) {
        let current = self.config.clone();
        let expected = ConfigNum(current.as_ref().map_or(0, |c| c.num.0) + 1);
        if !gid.is_valid() || (self.gid != Gid::NONE && gid != self.gid) {
            tracing::warn!(%gid, mine = %self.gid, "reconfiguration for another group ignored");
            return;
        }
        if next.num != expected || !self.is_settled() {
            return; // A repeat, one from the future, or the hand-off of the last one goes on.
        }
        if current
            .as_ref()
            .is_some_and(|c| c.shard_count() != next.shard_count())
        {
            tracing::error!(num = %next.num, "configuration changes the shard count: ignored");
            return;
        }
        let previous = current.unwrap_or_else(|| Config::initial(next.shard_count()));
        self.gid = gid;
        self.mapping = mapping;
        for s in 0..next.shard_count() {
            let (old, new) = (previous.shards[s as usize], next.shards[s as usize]);
            self.move_shard(s, old, new, &previous, next);
        }
        self.config = Some(next.clone());
    }

    /// What configuration `next` does to shard `s`, owned by `old` before and `new` after.
    fn move_shard(&mut self, s: u32, old: Gid, new: Gid, previous: &Config, next: &Config) {
        let me = self.gid;
        if new == me && old != me {
            let parked = self.shards.contains_key(&s);
            let phase = if old == Gid::NONE || parked {
                // Nobody had it (or this group kept it when no group was left): start here.
                Phase::Serving
            } else {
                let servers = previous.groups.get(&old).cloned().unwrap_or_default();
                Phase::Pulling {
                    from: old,
                    servers,
                    received: Vec::new(),
                }
            };
            let shard = self.shards.entry(s).or_insert_with(Shard::empty);
            if phase != Phase::Serving {
                *shard = Shard::empty();
            }
            shard.phase = phase;
        } else if old == me && new != me {
            let servers = next.groups.get(&new).cloned().unwrap_or_default();
            if let Some(shard) = self.shards.get_mut(&s) {
                shard.phase = Phase::Offering { to: new, servers };
            }
        }
    }

    fn install(&mut self, s: u32, num: ConfigNum, offset: u64, total: u64, bytes: &Bytes) {
        if self.config_num() != num || total > IMAGE_BYTES_MAX {
            return;
        }
        let Some(shard) = self.shards.get_mut(&s) else {
            return;
        };
        let Phase::Pulling { received, .. } = &mut shard.phase else {
            return; // Already complete: a repeat.
        };
        let end = offset.saturating_add(bytes.len() as u64);
        if offset != received.len() as u64 || end > total {
            return; // Not the next piece (a repeat or one out of order).
        }
        received.extend_from_slice(bytes);
        if end < total {
            return;
        }
        match Shard::from_image(received) {
            Ok(arrived) => *shard = arrived,
            Err(why) => {
                // Every replica decodes the same bytes, so every one starts the pull again.
                tracing::error!(shard = s, %num, "shard image refused: {why}; pulling again");
                received.clear();
            }
        }
    }

    fn delete(&mut self, s: u32, num: ConfigNum) {
        let offering = self
            .shards
            .get(&s)
            .is_some_and(|sh| matches!(sh.phase, Phase::Offering { .. }));
        if self.config_num() == num && offering {
            self.shards.remove(&s);
        }
    }
}

impl StateMachine for ShardKvMachine {
    type Command = Command;
    type Output = Output;

    fn apply(&mut self, slot: Seq, cmd: &Command) -> Output {
        match cmd {
            Command::Client { clerk, seq, cmd } => return self.run_client(slot, *clerk, *seq, cmd),
            Command::Reconfigure {
                gid,
                mapping,
                config,
            } => self.reconfigure(*gid, *mapping, config),
            Command::Install {
                shard,
                num,
                offset,
                total,
                bytes,
            } => self.install(*shard, *num, *offset, *total, bytes),
            Command::Delete { shard, num } => self.delete(*shard, *num),
        }
        Output::Internal
    }

    fn snapshot(&self) -> Bytes {
        let image = Image {
            version: IMAGE_VERSION,
            gid: self.gid,
            mapping: self.mapping,
            config: self.config.clone(),
            shards: self
                .shards
                .iter()
                .map(|(s, shard)| (*s, shard.phase.clone(), shard.image()))
                .collect(),
        };
        Bytes::from(postcard::to_stdvec(&image).expect("a machine always encodes"))
    }

    fn restore(bytes: &[u8]) -> Result<Self, RestoreError> {
        let bad = |why: String| RestoreError(why);
        let image: Image = postcard::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
        if image.version != IMAGE_VERSION {
            return Err(bad(format!("shardkv snapshot version {}", image.version)));
        }
        let count = image.config.as_ref().map_or(0, Config::shard_count);
        let mut shards = BTreeMap::new();
        for (s, phase, bytes) in image.shards {
            if s >= count {
                return Err(bad(format!("shard {s} of {count}")));
            }
            let mut shard = Shard::from_image(&bytes).map_err(bad)?;
            shard.phase = phase;
            if shards.insert(s, shard).is_some() {
                return Err(bad(format!("shard {s} appears twice")));
            }
        }
        Ok(ShardKvMachine {
            gid: image.gid,
            mapping: image.mapping,
            config: image.config,
            shards,
        })
    }

    fn retained_bytes(&self) -> usize {
        let config = self.config.as_ref().map_or(0, Config::retained_bytes);
        config
            + self
                .shards
                .values()
                .map(Shard::retained_bytes)
                .sum::<usize>()
    }

    fn command_bytes(cmd: &Command) -> usize {
        match cmd {
            Command::Client { cmd, .. } => kvpaxos::KvMachine::command_bytes(cmd),
            Command::Reconfigure { config, .. } => config.retained_bytes(),
            Command::Install { bytes, .. } => bytes.len(),
            Command::Delete { .. } => 16,
        }
    }
}

/// A snapshot's layout.
#[derive(Serialize, Deserialize)]
struct Image {
    version: u8,
    gid: Gid,
    mapping: Mapping,
    config: Option<Config>,
    shards: Vec<(u32, Phase, Bytes)>,
}

const IMAGE_VERSION: u8 = 1;

#[cfg(test)]
mod tests;
