//! Durability of one peer: a write-ahead log of what its acceptor promised, accepted and
//! learned, and an identity file.
//!
//! Why: an acceptor's promises and votes are what keep a chosen value chosen. An acceptor that
//! forgot them (restarted from memory) could help a later proposer choose a second value. So a
//! durable peer records every change while it handles an input, and at the end of the input
//! puts the append and one `Sync` in front of every effect that input produced
//! ([`rpc::Outbox::insert_at`]): nothing that depends on a change leaves before it is on disk,
//! and one flush covers every record of the input (and the runtime merges the flushes of inputs
//! drained together).
//!
//! # Files, in the node's directory
//! - [`IDENTITY_FILE`]: the cluster size, this peer's id, its incarnation and the incarnation
//!   first heard from each other peer ([`crate::incarnation`]). Rewritten whole when it changes,
//!   which is rare (a peer is heard for the first time).
//! - `paxos-<generation>.wal`: records framed by [`rpc::record`] (length, CRC32C, payload,
//!   trailer). The first record is a `Checkpoint` naming the generation and its `base`: the
//!   application holds a durable snapshot of every instance below `base`, and the log says
//!   nothing below it.
//!
//! # Rotation
//! [`Peer::rotate_journal`]: once the application made a snapshot durable, the peer writes the
//! next generation whole (checkpoint, floor, and the state of every instance held at or above
//! the new base), syncs it, and removes the old file. Disk use is the snapshot plus one
//! generation: proportional to live data, not to history.
//!
//! # Recovery
//! [`Peer::open`] reads the newest generation back. A torn last record (a crash in the middle of
//! an append that was never synced, so never acknowledged), and any zeros a preallocating
//! runtime left after it, are cut. A damaged record anywhere (the last one included), a missing
//! file, or a directory of another member is refused with an error naming the file and the
//! offset: silently dropping it could drop a promise or an acknowledged write.
//!
//! Invariants: every record is appended and synced before any effect of the input that made
//! it; a generation file is complete (written whole and synced) before the one before it is
//! removed; the log never holds anything below its base that matters.

use crate::acceptor::Vote;
use crate::join::Joining;
use crate::msg::{Ballot, Body, Seq, Value};
use crate::peer::{PaxosOutbox, Peer};
use bytes::{Bytes, BytesMut};
use rpc::record::{Tail, decode_records, put_record};
use rpc::{DiskImage, Effect, NodeId};
use serde::{Deserialize, Serialize};

/// The identity file of a durable peer.
pub const IDENTITY_FILE: &str = "paxos-identity";

/// The version of the identity file and log format; a directory of another version is refused.
/// 2: every record ends in [`rpc::record::RECORD_TRAILER`].
/// 3: kvpaxos log entries and snapshots hold Redis batches and the `keyspace` store. The
/// journal cannot tell one machine's payloads from another's, so its version covers them: a
/// directory written before is refused with a clear error instead of being misread.
const FORMAT_VERSION: u32 = 3;

/// The name of the log file of `generation`. Zero-padded so that names sort like numbers.
fn log_file(generation: u64) -> String {
    format!("paxos-{generation:016}.wal")
}

/// The generation of a log file name, if it is one.
fn log_generation(file: &str) -> Option<u64> {
    let digits = file.strip_prefix("paxos-")?.strip_suffix(".wal")?;
    (digits.len() == 16).then_some(())?;
    digits.parse().ok()
}

/// One change of a peer's durable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Record {
    /// The first record of every generation: nothing below `base` is in this log.
    Checkpoint {
        /// The generation, which the file name repeats.
        generation: u64,
        /// The application holds a durable snapshot of every instance below it.
        base: Seq,
    },
    /// A promise for every instance (a granted `PrepareAll` or a leader's heartbeat).
    Floor(Ballot),
    /// A promise for one instance.
    Promise { seq: Seq, ballot: Ballot },
    /// A vote: `value` accepted at `ballot` in `seq`.
    Accept {
        seq: Seq,
        ballot: Ballot,
        value: Value,
    },
    /// `seq` is decided with `value`.
    Decided { seq: Seq, value: Value },
    /// `seq` is decided with the value this acceptor accepted there (a leader's commit, or our
    /// own proposal chosen): the value is not written twice.
    Committed { seq: Seq },
}

/// What a durable peer keeps about itself and its cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    format: u32,
    peer_count: u32,
    me: u32,
    incarnation: u64,
    /// The incarnation first heard from each peer (this one's own slot is unused).
    known: Vec<Option<u64>>,
    /// Every other peer welcomed this one (see [`crate::join`]).
    joined: bool,
    /// The others told this peer that it lost its state (see [`crate::incarnation`]), and it
    /// has not rejoined since.
    amnesiac: bool,
    /// This peer votes from this instance on (see [`crate::rejoin`]).
    votes_from: Seq,
    /// How many times this directory was opened before the run that wrote this.
    boots: u64,
}

/// Why a peer's directory cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// A file is damaged (not merely torn at its end).
    #[error(
        "{file}: damaged at byte {offset}: {cause}; refusing to start (restore the directory from a backup, or wipe it to rejoin as a replica that lost its disk)"
    )]
    Corrupt {
        /// The damaged file.
        file: String,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong there.
        cause: String,
    },
    /// One file the directory needs is missing while others are present.
    #[error(
        "{missing} is missing but {present} is present: the directory is incomplete; refusing to start"
    )]
    Missing {
        /// The missing file.
        missing: String,
        /// A file that proves it should exist.
        present: String,
    },
    /// The directory belongs to another member, or to a cluster of another size.
    #[error(
        "{file}: this directory belongs to member {found_me} of a cluster of {found_count}, not to member {me} of a cluster of {count}"
    )]
    WrongMember {
        /// The identity file.
        file: String,
        /// The member recorded there.
        found_me: u32,
        /// The cluster size recorded there.
        found_count: u32,
        /// The member asked for.
        me: u32,
        /// The cluster size asked for.
        count: u32,
    },
}

/// A peer opened on its directory.
#[derive(Debug)]
pub struct Opened {
    /// The peer, with every promise, vote and decision its log held.
    pub peer: Peer,
    /// The log holds nothing below this instance: the application must restore a snapshot
    /// covering every instance below it (none is needed at 0).
    pub base: Seq,
    /// True if the directory held no state: a first start, or a disk that was lost.
    pub fresh: bool,
}

/// The journal of a durable peer: records not yet handed to the driver, and the repairs
/// recovery left for the first flush.
#[derive(Debug)]
pub(crate) struct Journal {
    /// The generation appended to.
    generation: u64,
    /// Framed records made during the current input.
    pending: BytesMut,
    /// Some pending record is a promise or a vote, which must be durable before anything
    /// leaves. Decisions alone need no `Sync`: they are knowledge a majority holds durably (as
    /// votes) and the peer can learn again, or pull in a snapshot; they ride on the next one.
    sync_needed: bool,
    /// The identity file must be rewritten (a peer was heard for the first time).
    identity_dirty: bool,
    /// The first flush must create the directory's files (a fresh peer).
    create: bool,
    /// Where to cut the log at the first flush, found at recovery: a torn tail's offset, or
    /// the end (a `Truncate` is synced at once, which makes what was read back durable).
    cut: Option<u64>,
    /// Older generations found at recovery, to remove.
    stale: Vec<String>,
    /// Bytes of the current generation file, as far as this peer knows.
    file_bytes: u64,
    /// The floor as of the last `Sync` this peer asked for: a ballot known to be on disk.
    durable_ballot: Option<Ballot>,
}

impl Journal {
    fn needs_flush(&self) -> bool {
        !self.pending.is_empty()
            || self.identity_dirty
            || self.create
            || self.cut.is_some()
            || !self.stale.is_empty()
    }
}

/// Frames `record` into `buf`.
fn put(buf: &mut BytesMut, record: &Record) {
    let payload = postcard::to_stdvec(record).expect("records always encode");
    put_record(buf, &payload);
}

/// Notes `record` in `journal`, if the peer is durable. A free function so that callers can
/// hold a borrow of an instance while they note what it did.
pub(crate) fn note(journal: &mut Option<Journal>, record: Record) {
    if let Some(journal) = journal {
        journal.sync_needed |= !matches!(record, Record::Decided { .. } | Record::Committed { .. });
        put(&mut journal.pending, &record);
    }
}

/// Notes what a vote changed: a granted Prepare or Accept.
pub(crate) fn note_vote(
    journal: &mut Option<Journal>,
    seq: Seq,
    ballot: Ballot,
    value: Option<&Value>,
    vote: &Vote,
) {
    match (vote, value) {
        (Vote::Promise(_), _) => note(journal, Record::Promise { seq, ballot }),
        (Vote::Accepted, Some(value)) => note(
            journal,
            Record::Accept {
                seq,
                ballot,
                value: value.clone(),
            },
        ),
        (Vote::Accepted, None) => unreachable!("an accept carries its value"),
        (Vote::Reject(_), _) => {}
    }
}

impl Peer {
    /// A durable peer on its directory `disk` (what the driver read back): a fresh peer if the
    /// directory holds none of its files, else the peer its log describes.
    ///
    /// # Errors
    /// A damaged file, a missing file, or a directory of another member (see [`OpenError`]).
    pub fn open(
        me: NodeId,
        peer_count: u32,
        seed: u64,
        disk: &DiskImage,
    ) -> Result<Opened, OpenError> {
        let mut generations: Vec<(u64, &String)> = disk
            .keys()
            .filter_map(|file| log_generation(file).map(|g| (g, file)))
            .collect();
        generations.sort();
        let identity = disk.get(IDENTITY_FILE);
        let newest = generations.last().map(|(g, file)| (*g, file.as_str()));
        let fresh = match (identity, newest) {
            (None, None) => true,
            // The first start writes the log, syncs, and only then the identity.
            (Some(_), None) => {
                return Err(OpenError::Missing {
                    missing: log_file(1),
                    present: IDENTITY_FILE.into(),
                });
            }
            // A first start cut short before its identity was synced: nothing was promised.
            (None, Some((_, file))) if only_an_empty_first_log(disk, file) => true,
            (None, Some((_, file))) => {
                return Err(OpenError::Missing {
                    missing: IDENTITY_FILE.into(),
                    present: file.into(),
                });
            }
            (Some(_), Some(_)) => false,
        };
        if fresh {
            let mut peer = Peer::new(me, peer_count, seed);
            peer.joining = Joining::new(me, peer_count);
            peer.journal = Some(Journal {
                generation: 1,
                pending: BytesMut::new(),
                sync_needed: false,
                identity_dirty: true,
                create: true,
                cut: None,
                // At most an empty first log, which the first flush writes anew.
                stale: Vec::new(),
                file_bytes: 0,
                durable_ballot: None,
            });
            return Ok(Opened {
                peer,
                base: Seq(0),
                fresh: true,
            });
        }
        let identity = read_identity(identity.expect("checked above"), me, peer_count)?;
        let (generation, file) = newest.expect("checked above");
        let bytes = &disk[file];
        let (records, cut) = read_log(file, bytes, generation)?;
        let mut peer = Peer::new(me, peer_count, seed);
        peer.restore_incarnations(identity.incarnation, &identity.known);
        if !identity.joined {
            peer.joining = Joining::new(me, peer_count);
        }
        peer.incarnations.set_amnesiac(identity.amnesiac);
        peer.votes_from = identity.votes_from;
        peer.boots = identity.boots + 1;
        let base = match records.first() {
            Some(Record::Checkpoint { base, .. }) => *base,
            _ => unreachable!("read_log checks the checkpoint"),
        };
        peer.install_snapshot(base);
        for record in records.into_iter().skip(1) {
            peer.replay(file, record)?;
        }
        peer.journal = Some(Journal {
            generation,
            pending: BytesMut::new(),
            sync_needed: false,
            // The new boot count is on disk before anything this run sends.
            identity_dirty: true,
            create: false,
            // Cut a torn tail, or "cut" at the end: either way the first flush makes the log
            // durable as it was read. Records a crashed process appended but never synced are
            // still in the page cache and were just replayed: this run must not act on them
            // while a power loss could still take them away.
            cut: Some(cut.unwrap_or(bytes.len() as u64)),
            stale: generations
                .iter()
                .filter(|(g, _)| *g != generation)
                .map(|(_, f)| (*f).clone())
                .collect(),
            file_bytes: cut.unwrap_or(bytes.len() as u64),
            // Nothing of this run is synced yet.
            durable_ballot: None,
        });
        tracing::info!(peer = %me, %base, generation, bytes = bytes.len(), torn = cut.is_some(),
            "Paxos state recovered from its log");
        Ok(Opened {
            peer,
            base,
            fresh: false,
        })
    }

    /// True if this peer keeps its state on disk ([`Peer::open`]).
    pub fn is_durable(&self) -> bool {
        self.journal.is_some()
    }

    /// Bytes of the current log file, as far as this peer knows (0 when not durable).
    pub fn journal_bytes(&self) -> u64 {
        self.journal
            .as_ref()
            .map_or(0, |j| j.file_bytes + j.pending.len() as u64)
    }

    /// The application made a snapshot of every instance below `base` durable (its `Sync` is
    /// queued before this call's effects): starts the next log generation with the state held
    /// at and above `base`, and removes the old one. Does nothing for a peer that is not
    /// durable, or below the current base.
    ///
    pub fn rotate_journal(&mut self, base: Seq, out: &mut PaxosOutbox) {
        if self.journal.is_none() {
            return;
        }
        // Whatever is pending goes to the old generation first (a fresh peer creates it).
        self.flush_journal(out.len(), out);
        let journal = self.journal.as_ref().expect("checked above");
        let old = log_file(journal.generation);
        let generation = journal.generation + 1;
        let bytes = self.state_image(generation, base);
        let file_bytes = bytes.len() as u64;
        out.write(log_file(generation), bytes);
        out.sync();
        out.remove(old);
        let journal = self.journal.as_mut().expect("checked above");
        journal.generation = generation;
        journal.file_bytes = file_bytes;
        tracing::debug!(peer = %self.me, %base, generation, file_bytes, "log rotated");
    }

    /// A whole generation: its checkpoint, the floor, and the state of every instance held at
    /// or above `base`.
    fn state_image(&self, generation: u64, base: Seq) -> Bytes {
        let mut buf = BytesMut::new();
        put(&mut buf, &Record::Checkpoint { generation, base });
        if let Some(floor) = self.floor {
            put(&mut buf, &Record::Floor(floor));
        }
        for (seq, instance) in self.instances.range(base..) {
            let seq = *seq;
            if let Some(value) = &instance.decided {
                let value = value.clone();
                put(&mut buf, &Record::Decided { seq, value });
                continue;
            }
            // The vote first: replayed after the promise, a vote below it would be refused.
            if let Some((ballot, value)) = instance.acceptor.accepted() {
                let (ballot, value) = (*ballot, value.clone());
                put(&mut buf, &Record::Accept { seq, ballot, value });
            }
            if let Some(ballot) = instance.acceptor.promised() {
                put(&mut buf, &Record::Promise { seq, ballot });
            }
        }
        buf.freeze()
    }

    /// Notes that the identity file must be rewritten (a peer was heard for the first time).
    pub(crate) fn identity_changed(&mut self) {
        if let Some(journal) = &mut self.journal {
            journal.identity_dirty = true;
        }
    }

    /// Puts what this input changed on disk before every effect it produced (from `mark` on):
    /// repairs left by recovery, the identity if it changed, the records, and one `Sync`.
    pub(crate) fn flush_journal(&mut self, mark: usize, out: &mut PaxosOutbox) {
        let Some(journal) = &self.journal else {
            return;
        };
        if !journal.needs_flush() {
            return;
        }
        let identity = journal.identity_dirty.then(|| self.identity_image());
        let journal = self.journal.as_mut().expect("checked above");
        let file = log_file(journal.generation);
        let mut effects = Vec::new();
        if journal.create {
            // Both files exist, synced, before any record: a directory holding one without the
            // other is then either a first start cut short (nothing promised) or damage.
            journal.create = false;
            let mut first = BytesMut::new();
            let checkpoint = Record::Checkpoint {
                generation: journal.generation,
                base: Seq(0),
            };
            put(&mut first, &checkpoint);
            journal.file_bytes = first.len() as u64;
            effects.push(Effect::Write {
                file: file.clone(),
                bytes: first.freeze(),
            });
            effects.push(Effect::Sync);
        }
        if let Some(len) = journal.cut.take() {
            effects.push(Effect::Truncate {
                file: file.clone(),
                len,
            });
        }
        for stale in journal.stale.drain(..) {
            effects.push(Effect::Remove { file: stale });
        }
        if let Some(identity) = identity {
            journal.identity_dirty = false;
            effects.push(Effect::Write {
                file: IDENTITY_FILE.into(),
                bytes: identity,
            });
            // The identity must be durable before records that count on it.
            effects.push(Effect::Sync);
        }
        let sync = std::mem::take(&mut journal.sync_needed) || !effects.is_empty();
        if !journal.pending.is_empty() {
            let bytes = journal.pending.split().freeze();
            journal.file_bytes += bytes.len() as u64;
            effects.push(Effect::Append { file, bytes });
        }
        if sync && !matches!(effects.last(), Some(Effect::Sync)) {
            effects.push(Effect::Sync);
        }
        let durable_ballot = journal.durable_ballot;
        if sync {
            journal.durable_ballot = self.floor;
        }
        // A leader's Accepts at a ballot already on disk may leave before its own vote is
        // durable: they claim nothing of this acceptor, and the leader counts its own vote
        // toward a decision only in a later input, after this Sync. So the followers' fsyncs
        // overlap the leader's instead of following it. Everything else waits for the Sync.
        let early = out.effects()[mark..]
            .iter()
            .take_while(|effect| {
                matches!(effect, Effect::Send { msg, .. }
                    if matches!(msg.body, Body::Accept { ballot, .. } if Some(ballot) == durable_ballot))
            })
            .count();
        out.insert_at(mark + early, effects);
    }

    fn identity_image(&self) -> Bytes {
        let identity = Identity {
            format: FORMAT_VERSION,
            peer_count: self.peer_count,
            me: self.me.0,
            incarnation: self.incarnations.mine(),
            known: self.incarnations.known().to_vec(),
            joined: self.joining.is_none(),
            amnesiac: self.incarnations.is_amnesiac(),
            votes_from: self.votes_from,
            boots: self.boots,
        };
        let payload = postcard::to_stdvec(&identity).expect("identities always encode");
        rpc::encode_record(&payload)
    }

    /// Applies one record read back from `file`.
    fn replay(&mut self, file: &str, record: Record) -> Result<(), OpenError> {
        if let Some(seq) = record_seq(&record) {
            if seq < self.first_held() {
                return Ok(()); // Below the snapshot: the application has it.
            }
            self.note_seq(seq);
        }
        let floor = None; // Records are in the order the changes happened: no floor needed.
        match record {
            Record::Checkpoint { .. } => {
                return Err(corrupt(file, 0, "a second checkpoint inside the log"));
            }
            Record::Floor(ballot) => {
                if self.floor.is_none_or(|f| f < ballot) {
                    self.floor = Some(ballot);
                }
                self.leadership.note_round(ballot.round);
            }
            Record::Promise { seq, ballot } => {
                let instance = self.instances.entry(seq).or_default();
                // A promise lower than one logged before it (a duplicate Prepare granted
                // again) changes nothing.
                instance.acceptor.on_prepare(ballot, floor);
                self.leadership.note_round(ballot.round);
            }
            Record::Accept { seq, ballot, value } => {
                let instance = self.instances.entry(seq).or_default();
                if let Vote::Reject(promised) = instance.acceptor.on_accept(ballot, &value, floor) {
                    let why = format!("a vote at {ballot} in {seq} below its promise {promised}");
                    return Err(corrupt(file, 0, &why));
                }
                self.leadership.note_round(ballot.round);
            }
            Record::Decided { seq, value } => self.learn(seq, value),
            Record::Committed { seq } => {
                let accepted = self
                    .instances
                    .get(&seq)
                    .and_then(|i| i.acceptor.accepted())
                    .map(|(_, value)| value.clone());
                match accepted {
                    Some(value) => self.learn(seq, value),
                    // Decided already (a duplicate), or the vote is missing: damage.
                    None if self.status(seq).0 == crate::Fate::Decided => {}
                    None => {
                        return Err(corrupt(
                            file,
                            0,
                            &format!("instance {seq} committed without a vote in the log"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The instance a record is about, if one.
fn record_seq(record: &Record) -> Option<Seq> {
    match record {
        Record::Promise { seq, .. }
        | Record::Accept { seq, .. }
        | Record::Decided { seq, .. }
        | Record::Committed { seq } => Some(*seq),
        Record::Checkpoint { .. } | Record::Floor(_) => None,
    }
}

fn corrupt(file: &str, offset: u64, cause: &str) -> OpenError {
    OpenError::Corrupt {
        file: file.into(),
        offset,
        cause: cause.into(),
    }
}

/// True if `file` is the first generation and holds its checkpoint alone (a first start cut
/// short before its first Sync completed, so before anything was promised).
fn only_an_empty_first_log(disk: &DiskImage, file: &str) -> bool {
    if log_generation(file) != Some(1)
        || disk.keys().filter(|f| log_generation(f).is_some()).count() != 1
    {
        return false;
    }
    match read_log(file, &disk[file], 1) {
        Ok((records, _)) => records.len() == 1,
        Err(_) => false,
    }
}

fn read_identity(bytes: &Bytes, me: NodeId, peer_count: u32) -> Result<Identity, OpenError> {
    let file = IDENTITY_FILE;
    let (records, tail) = decode_records(bytes);
    let payload = match (records.as_slice(), tail) {
        ([payload], Tail::Clean) => *payload,
        (_, Tail::Corrupt { offset, cause }) => {
            return Err(corrupt(file, offset, &cause.to_string()));
        }
        _ => return Err(corrupt(file, 0, "not exactly one whole record")),
    };
    let identity: Identity = postcard::from_bytes(payload)
        .map_err(|err| corrupt(file, 0, &format!("undecodable identity: {err}")))?;
    if identity.format != FORMAT_VERSION {
        return Err(corrupt(
            file,
            0,
            &format!(
                "format {} (this build reads {FORMAT_VERSION})",
                identity.format
            ),
        ));
    }
    if identity.me != me.0 || identity.peer_count != peer_count {
        return Err(OpenError::WrongMember {
            file: file.into(),
            found_me: identity.me,
            found_count: identity.peer_count,
            me: me.0,
            count: peer_count,
        });
    }
    if identity.known.len() != peer_count as usize {
        return Err(corrupt(
            file,
            0,
            "the incarnation table does not match the cluster size",
        ));
    }
    Ok(identity)
}

/// The records of log `file` of `generation`, checkpoint first, and where to cut a torn tail.
fn read_log(
    file: &str,
    bytes: &Bytes,
    generation: u64,
) -> Result<(Vec<Record>, Option<u64>), OpenError> {
    let (payloads, tail) = decode_records(bytes);
    let cut = match tail {
        Tail::Clean => None,
        Tail::Torn { offset } => Some(offset),
        Tail::Corrupt { offset, cause } => return Err(corrupt(file, offset, &cause.to_string())),
    };
    let mut records = Vec::with_capacity(payloads.len());
    for payload in payloads {
        let offset = (payload.as_ptr() as usize - bytes.as_ptr() as usize) as u64
            - rpc::record::RECORD_HEADER_BYTES as u64;
        let record: Record = postcard::from_bytes(payload)
            .map_err(|err| corrupt(file, offset, &format!("undecodable record: {err}")))?;
        records.push(record);
    }
    match records.first() {
        Some(Record::Checkpoint { generation: g, .. }) if *g == generation => {}
        _ => {
            return Err(corrupt(
                file,
                0,
                "the log does not start with its own checkpoint",
            ));
        }
    }
    Ok((records, cut))
}

#[cfg(test)]
mod tests;
