//! What a group's log carries, what it answers, and what groups tell each other.

use bytes::Bytes;
use kvpaxos::msg::{KvCommand, KvOutput};
use serde::{Deserialize, Serialize};
use shardmaster::{Config, ConfigNum, Gid};

/// How keys map to shards: the lab's first byte (SPEC §8.1 `key2shard`, for the SPEC
/// scenarios) or the product's hash of the whole key ([`shardmaster::shard_of`]). A cluster
/// uses one mapping for its whole life; it is part of every reconfiguration so that every
/// replica applies with the same one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mapping {
    /// [`shardmaster::lab_shard_of`].
    Lab,
    /// [`shardmaster::shard_of`].
    #[default]
    Hash,
}

impl Mapping {
    /// The shard of `key` in a cluster of `shards` shards.
    pub fn shard_of(self, key: &[u8], shards: u32) -> u32 {
        match self {
            Mapping::Lab => shardmaster::lab_shard_of(key, shards),
            Mapping::Hash => shardmaster::shard_of(key, shards),
        }
    }
}

/// A command in a group's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A client's command on keys of one shard. `(clerk, seq)` identifies it across groups:
    /// the shard's table of clients moves with the shard, so a retry at the shard's next owner
    /// is recognised (at most once across moves; `rsm`'s session only covers one group).
    Client {
        /// The clerk's id, unique across the cluster (drawn at random, 64 bits).
        clerk: u64,
        /// The clerk's operation number, from 1; a retry carries the same one.
        seq: u64,
        /// The command (the lab's operation or a Redis batch).
        cmd: KvCommand,
    },
    /// Move to configuration `config`, the one after the current. Proposed by the group's own
    /// replicas ([`rsm::Replica::propose`]), so applied possibly more than once: a repeat, or
    /// one that is not next, changes nothing.
    Reconfigure {
        /// The group proposing it (every replica of one group proposes its own gid).
        gid: Gid,
        /// How keys map to shards.
        mapping: Mapping,
        /// The configuration.
        config: Config,
    },
    /// Bytes `offset..` of the image of `shard` as its previous owner held it at the start of
    /// configuration `num`. Applied only if they continue what has arrived.
    Install {
        /// The shard.
        shard: u32,
        /// The configuration it arrives in.
        num: ConfigNum,
        /// Where these bytes start in the image.
        offset: u64,
        /// The image's whole length.
        total: u64,
        /// The bytes.
        bytes: Bytes,
    },
    /// The new owner of `shard` in configuration `num` has it: drop this group's copy.
    Delete {
        /// The shard.
        shard: u32,
        /// The configuration that moved it away.
        num: ConfigNum,
    },
}

/// Why a group did not run a client's command. The command changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// This group does not own the shard in its current configuration: ask the shard master
    /// for a newer one (SPEC §8.1 `ErrWrongGroup`).
    #[error("wrong group: this group does not own the key's shard")]
    WrongGroup,
    /// This group owns the shard but its data has not arrived yet: try again shortly.
    #[error("the key's shard is still arriving at this group")]
    NotReady,
    /// The command's keys are in more than one shard (or it names no key): it cannot run
    /// atomically in one group, so it runs nowhere (Redis Cluster's `CROSSSLOT`).
    #[error("keys in more than one shard")]
    CrossShard,
    /// The command names no key (DBSIZE, KEYS, SCAN, FLUSHDB): no one group can answer it.
    #[error("the command names no key, so no single shard can answer it")]
    NoKey,
    /// The command is older than the clerk's latest on this shard (a delayed duplicate).
    #[error("stale: the clerk has moved past this command")]
    Stale,
}

/// What a group's log answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// A client's command ran (now or on an earlier attempt, perhaps at another group).
    Done(KvOutput),
    /// A client's command did not run.
    Refused(Refusal),
    /// What a command of the group itself (reconfiguration, hand-off) answers: nothing.
    Internal,
}

/// A message between servers. [`ShardKvMsg::Rsm`] stays within a group (node ids `0..n`); the
/// others travel between groups by address ([`rpc::Effect::SendTo`]) and name where the answer
/// goes, because a message by address arrives from [`rpc::NodeId::EXTERNAL`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardKvMsg {
    /// Between the replicas of one group.
    Rsm(rsm::Msg<Command>),
    /// "Send me `shard` as you held it at the start of configuration `num`, from byte
    /// `offset`": from the shard's new owner to its previous one.
    Pull {
        /// The shard.
        shard: u32,
        /// The configuration that moved it.
        num: ConfigNum,
        /// The first byte wanted.
        offset: u64,
        /// The asker's address.
        reply_to: String,
    },
    /// A piece of a shard's image: the answer to a [`ShardKvMsg::Pull`].
    Chunk {
        /// The shard.
        shard: u32,
        /// The configuration that moved it.
        num: ConfigNum,
        /// Where `bytes` start.
        offset: u64,
        /// The image's whole length.
        total: u64,
        /// The bytes (at most `CHUNK_BYTES`).
        bytes: Bytes,
    },
    /// "I am not at configuration `num` yet": the answer to a pull that came early.
    NotYet {
        /// The shard.
        shard: u32,
        /// The configuration asked for.
        num: ConfigNum,
    },
    /// "Do you have `shard` of configuration `num` now?": from the previous owner, which
    /// keeps its copy until the new owner has it in its log.
    Confirm {
        /// The shard.
        shard: u32,
        /// The configuration that moved it.
        num: ConfigNum,
        /// The asker's address.
        reply_to: String,
    },
    /// "I have it": the answer to a [`ShardKvMsg::Confirm`].
    Confirmed {
        /// The shard.
        shard: u32,
        /// The configuration that moved it.
        num: ConfigNum,
    },
}

impl From<rsm::Msg<Command>> for ShardKvMsg {
    fn from(msg: rsm::Msg<Command>) -> Self {
        ShardKvMsg::Rsm(msg)
    }
}

/// A clerk's request to a replica of group `gid` (`rsm`'s session protocol inside). The gid
/// is there because session ids are per group and an answer by address does not say who sent
/// it: a clerk must never take one group's session for another's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The group the clerk means. A server of another group ignores the request.
    pub gid: Gid,
    /// The request.
    pub req: rsm::Request<Command>,
}

/// A replica's answer, naming its group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The answering group.
    pub gid: Gid,
    /// The answer.
    pub resp: rsm::Response<Output>,
}

/// The keys a command names, for routing and for the shard check.
pub fn keys_of(cmd: &KvCommand) -> Vec<&[u8]> {
    match cmd {
        KvCommand::Lab(op) => vec![op_key(op).as_bytes()],
        KvCommand::Redis(batch) => batch
            .cmds
            .iter()
            .flat_map(|c| c.keys())
            .map(|k| k.as_ref())
            .collect(),
    }
}

fn op_key(op: &kvstore::Op) -> &str {
    match op {
        kvstore::Op::Get { key }
        | kvstore::Op::Put { key, .. }
        | kvstore::Op::Append { key, .. } => key,
    }
}

/// The one shard every key of `cmd` is in.
///
/// # Errors
/// [`Refusal::NoKey`] if it names no key, [`Refusal::CrossShard`] if its keys are in more than
/// one shard (or a command of the batch names no key, so the batch cannot go to one shard).
pub fn shard_of_command(cmd: &KvCommand, mapping: Mapping, shards: u32) -> Result<u32, Refusal> {
    if let KvCommand::Redis(batch) = cmd
        && batch.cmds.iter().any(|c| c.keys().is_empty())
    {
        return Err(if batch.cmds.len() == 1 {
            Refusal::NoKey
        } else {
            Refusal::CrossShard
        });
    }
    shard_of_keys(keys_of(cmd), mapping, shards)
}

/// The one shard every key of a single Redis command is in (the front door cuts a pipeline
/// into runs of one shard with it).
///
/// # Errors
/// [`Refusal::NoKey`] if it names no key, [`Refusal::CrossShard`] if its keys are in more than
/// one shard.
pub fn shard_of_cmd(cmd: &keyspace::Cmd, mapping: Mapping, shards: u32) -> Result<u32, Refusal> {
    shard_of_keys(cmd.keys().into_iter().map(|k| k.as_ref()), mapping, shards)
}

fn shard_of_keys<'k>(
    keys: impl IntoIterator<Item = &'k [u8]>,
    mapping: Mapping,
    shards: u32,
) -> Result<u32, Refusal> {
    let mut shards_named = keys.into_iter().map(|k| mapping.shard_of(k, shards));
    let first = shards_named.next().ok_or(Refusal::NoKey)?;
    if shards_named.all(|s| s == first) {
        Ok(first)
    } else {
        Err(Refusal::CrossShard)
    }
}

/// True if running `cmd` changes nothing (a read): its answer need not be kept for retries,
/// which may read again.
pub fn is_read_only(cmd: &KvCommand) -> bool {
    match cmd {
        KvCommand::Lab(op) => matches!(op, kvstore::Op::Get { .. }),
        KvCommand::Redis(batch) => !batch.cmds.iter().any(keyspace::Cmd::is_write),
    }
}
