//! A durable replica: opening it on its directory, and keeping its snapshot there.
//!
//! The directory holds the Paxos peer's files (identity and write-ahead log, see
//! [`paxos::journal`]) and [`SNAPSHOT_FILE`], the latest snapshot this replica took or
//! installed. The order of writes keeps the pair consistent across any crash: the snapshot is
//! written and synced first, then the log rotates to a generation whose base is the snapshot's
//! slot, then the old generation goes. So a log never names a base the snapshot on disk does
//! not cover, unless a file was damaged or removed by hand, which opening refuses.
//!
//! Recovery: the snapshot (if any) is restored, the peer replays its log above it, and the
//! replica applies the decided slots from there as it would have; it rejoins like a replica
//! that was disconnected, and catches up from its peers.

use super::Replica;
use crate::config::{Config, ConfigError};
use crate::machine::StateMachine;
use crate::snapshot::{Held, Image};
use paxos::{Peer, Seq};
use rpc::{DiskImage, NodeId};

/// The file holding a durable replica's latest snapshot (see [`crate::snapshot`]).
pub const SNAPSHOT_FILE: &str = "rsm-snapshot";

/// Why a durable replica cannot start on its directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The tunables are not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Paxos files are damaged, missing or another member's.
    #[error(transparent)]
    Paxos(#[from] paxos::OpenError),
    /// The snapshot is damaged or does not restore.
    #[error("{file}: {cause}; refusing to start")]
    Snapshot {
        /// The snapshot file.
        file: String,
        /// What is wrong with it.
        cause: String,
    },
    /// The log starts at a slot that the snapshot on disk does not reach.
    #[error(
        "the Paxos log starts at slot {base} but {file} {found}: the snapshot the log names is missing; refusing to start"
    )]
    MissingSnapshot {
        /// The snapshot file.
        file: String,
        /// The slot the log starts at.
        base: u64,
        /// What was found instead.
        found: String,
    },
}

impl<S: StateMachine + Default> Replica<S> {
    /// A durable replica `me` of a cluster of `peer_count`, on its directory `disk` (what the
    /// driver read back; empty at a first start or after a disk was lost).
    ///
    /// # Errors
    /// If `config` does not validate, or the directory is damaged, incomplete or another
    /// member's: never a silent loss of what was acknowledged.
    pub fn open(
        me: NodeId,
        peer_count: u32,
        seed: u64,
        config: Config,
        disk: &DiskImage,
    ) -> Result<Self, OpenError> {
        config.validate()?;
        let opened = Peer::open(me, peer_count, seed, disk)?;
        let snapshot = disk.get(SNAPSHOT_FILE);
        if opened.fresh {
            if snapshot.is_some() {
                return Err(OpenError::Paxos(paxos::OpenError::Missing {
                    missing: paxos::journal::IDENTITY_FILE.into(),
                    present: SNAPSHOT_FILE.into(),
                }));
            }
            return Ok(Self::build(opened.peer, peer_count, config));
        }
        let mut replica = Self::build(opened.peer, peer_count, config);
        let Some(bytes) = snapshot else {
            if opened.base > Seq(0) {
                return Err(OpenError::MissingSnapshot {
                    file: SNAPSHOT_FILE.into(),
                    base: opened.base.0,
                    found: "is missing".into(),
                });
            }
            return Ok(replica);
        };
        let snapshot_error = |cause: String| OpenError::Snapshot {
            file: SNAPSHOT_FILE.into(),
            cause,
        };
        let image = Image::<S::Output>::decode(bytes).map_err(|e| snapshot_error(e.to_string()))?;
        if image.slot < opened.base {
            return Err(OpenError::MissingSnapshot {
                file: SNAPSHOT_FILE.into(),
                base: opened.base.0,
                found: format!("holds slot {} only", image.slot),
            });
        }
        replica.machine = S::restore(&image.machine).map_err(|e| snapshot_error(e.to_string()))?;
        replica.sessions = image.sessions;
        replica.next_apply = image.slot;
        replica.peer.install_snapshot(image.slot);
        replica.snapshot = Some(Held {
            slot: image.slot,
            bytes: bytes.clone(),
        });
        tracing::info!(peer = %me, slot = %image.slot, bytes = bytes.len(), "snapshot restored");
        Ok(replica)
    }
}

impl<S: StateMachine> Replica<S> {
    /// True if this replica keeps its state on disk ([`Replica::open`]).
    pub fn is_durable(&self) -> bool {
        self.peer.is_durable()
    }

    /// Writes the snapshot just taken or installed, syncs it, and lets the Paxos log drop
    /// everything below it. Nothing for an in-memory replica.
    pub(super) fn persist_snapshot(&mut self, out: &mut super::ReplicaOutbox<S>) {
        if !self.peer.is_durable() {
            return;
        }
        let held = self.snapshot.as_ref().expect("a snapshot was just taken");
        let slot = held.slot;
        out.write(SNAPSHOT_FILE, held.bytes.clone());
        out.sync();
        self.paxos(out, |peer, o| peer.rotate_journal(slot, o));
    }
}
