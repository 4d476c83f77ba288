//! Snapshots: their bytes (checksummed), and pulling one from a peer in chunks.
//!
//! A snapshot holds everything a replica needs to go on from slot `slot` without the log
//! below it: the state machine's own snapshot, the session table, and `slot`.
//!
//! ```text
//! "RSMS" | version u8 | crc32c(payload) u32 LE | payload = postcard(slot, sessions, machine)
//! ```
//!
//! A transfer is pulled by the receiver: it asks for the bytes from an offset, the sender
//! answers one chunk of at most [`crate::Config::snapshot_chunk_bytes`], and the receiver asks
//! for the next. So the sender keeps no per-receiver state, a snapshot of any size moves in
//! frames of bounded size, and a lost message costs one retry. If the sender has taken a newer
//! snapshot meanwhile, it answers from the start of the new one and the receiver starts over.

use crate::msg::Msg;
use crate::session::Sessions;
use bytes::{BufMut, Bytes, BytesMut};
use paxos::Seq;
use rpc::{NodeId, Ticks};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 4] = b"RSMS";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 4 + 1 + 4;

/// What a snapshot holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image<O> {
    /// Every slot below it is in the snapshot; the replica applies `slot` next.
    pub slot: Seq,
    /// The session table.
    pub sessions: Sessions<O>,
    /// The state machine's own snapshot.
    pub machine: Bytes,
}

/// Why snapshot bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Not a snapshot at all.
    #[error("not a snapshot (bad magic or too short)")]
    NotASnapshot,
    /// A format this build does not read.
    #[error("snapshot format version {0} is not supported")]
    Version(u8),
    /// The bytes were damaged.
    #[error("snapshot checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the payload.
        computed: u32,
    },
    /// The checksum matched but the payload does not decode.
    #[error("snapshot payload does not decode: {0}")]
    Decode(String),
}

/// [`Image`] by reference, so a replica encodes its snapshot without copying its sessions.
/// Serde writes a reference as the value, so the bytes are exactly an `Image`'s.
#[derive(Serialize)]
struct ImageRef<'a, O> {
    slot: Seq,
    sessions: &'a Sessions<O>,
    machine: &'a Bytes,
}

/// The bytes of a snapshot at `slot` of `sessions` and `machine` (what [`Image::decode`] reads).
pub fn encode<O: Serialize>(slot: Seq, sessions: &Sessions<O>, machine: &Bytes) -> Bytes {
    let image = ImageRef {
        slot,
        sessions,
        machine,
    };
    let payload = postcard::to_stdvec(&image).expect("a snapshot always encodes");
    let mut out = BytesMut::with_capacity(HEADER_BYTES + payload.len());
    out.put_slice(MAGIC);
    out.put_u8(VERSION);
    out.put_u32_le(crc32c::crc32c(&payload));
    out.put_slice(&payload);
    out.freeze()
}

impl<O: Clone + Serialize + DeserializeOwned> Image<O> {
    /// The snapshot's bytes.
    pub fn encode(&self) -> Bytes {
        encode(self.slot, &self.sessions, &self.machine)
    }

    /// The snapshot in `bytes`, checked.
    ///
    /// # Errors
    /// If the bytes are not a snapshot, of another version, damaged, or do not decode.
    pub fn decode(bytes: &[u8]) -> Result<Self, SnapshotError> {
        if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        if bytes[4] != VERSION {
            return Err(SnapshotError::Version(bytes[4]));
        }
        let stored = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        let payload = &bytes[HEADER_BYTES..];
        let computed = crc32c::crc32c(payload);
        if stored != computed {
            return Err(SnapshotError::Checksum { stored, computed });
        }
        let image: Self =
            postcard::from_bytes(payload).map_err(|e| SnapshotError::Decode(e.to_string()))?;
        image.sessions.validate().map_err(SnapshotError::Decode)?;
        Ok(image)
    }
}

/// A snapshot a replica holds and serves: its slot and bytes.
#[derive(Clone, Debug)]
pub struct Held {
    /// The snapshot covers every slot below this.
    pub slot: Seq,
    /// Its bytes ([`Image::encode`]).
    pub bytes: Bytes,
}

impl Held {
    /// The answer to a fetch from `offset` of snapshot `slot`: a chunk of this snapshot, from
    /// `offset` if it is the one asked for, else from its start.
    pub fn chunk<C>(&self, slot: Option<Seq>, offset: u64, chunk_bytes: usize) -> Msg<C> {
        let total = self.bytes.len() as u64;
        let start = if slot == Some(self.slot) {
            offset.min(total)
        } else {
            0
        };
        let start_at = usize::try_from(start).expect("within a held buffer");
        let end = start_at.saturating_add(chunk_bytes).min(self.bytes.len());
        Msg::SnapshotChunk {
            slot: self.slot,
            total,
            offset: start,
            data: self.bytes.slice(start_at..end),
        }
    }
}

/// A snapshot being pulled from a peer.
#[derive(Debug)]
pub struct Transfer {
    /// The peer asked.
    pub from: NodeId,
    /// The snapshot being assembled (`None` until the first chunk names it).
    slot: Option<Seq>,
    /// Its announced length.
    total: u64,
    /// The bytes so far.
    buf: BytesMut,
    /// When the last fetch went out.
    pub asked_at: Ticks,
    /// Fetches sent to `from` without a chunk in return.
    pub unanswered: u32,
}

/// What a chunk did to a transfer.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Not for this transfer (another peer, an old offset): nothing changed.
    Ignored,
    /// Taken; ask for more.
    More,
    /// The last piece: the whole snapshot.
    Complete(Bytes),
    /// The peer announced a snapshot larger than allowed, or sent more than it announced.
    Refused(String),
}

impl Transfer {
    /// A transfer from `from`, starting now.
    pub fn new(from: NodeId, now: Ticks) -> Self {
        Transfer {
            from,
            slot: None,
            total: 0,
            buf: BytesMut::new(),
            asked_at: now,
            unanswered: 0,
        }
    }

    /// The fetch to send for the next piece.
    pub fn fetch<C>(&self, have: Seq) -> Msg<C> {
        Msg::FetchSnapshot {
            have,
            slot: self.slot,
            offset: self.buf.len() as u64,
        }
    }

    /// The bytes assembled so far (for memory accounting).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes a chunk from `from`.
    pub fn on_chunk(
        &mut self,
        from: NodeId,
        slot: Seq,
        total: u64,
        offset: u64,
        data: &[u8],
        bytes_max: u64,
    ) -> ChunkOutcome {
        if from != self.from {
            return ChunkOutcome::Ignored;
        }
        if total > bytes_max {
            return ChunkOutcome::Refused(format!(
                "snapshot of {total} bytes is over the {bytes_max}-byte limit"
            ));
        }
        if self.slot != Some(slot) {
            if offset != 0 {
                return ChunkOutcome::Ignored;
            }
            // A new snapshot (the first, or the sender took a newer one): start over.
            self.slot = Some(slot);
            self.total = total;
            self.buf.clear();
        }
        if offset != self.buf.len() as u64 || total != self.total {
            return ChunkOutcome::Ignored;
        }
        if offset + data.len() as u64 > total || (data.is_empty() && offset < total) {
            return ChunkOutcome::Refused("chunk past the announced length, or empty".into());
        }
        self.buf.extend_from_slice(data);
        self.unanswered = 0;
        assert!(
            self.buf.len() as u64 <= self.total,
            "never more than announced"
        );
        if self.buf.len() as u64 == self.total {
            ChunkOutcome::Complete(std::mem::take(&mut self.buf).freeze())
        } else {
            ChunkOutcome::More
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image<String> {
        let mut sessions = Sessions::new(10);
        let s = sessions.register();
        sessions.record(s, 1, "out".to_string());
        Image {
            slot: Seq(42),
            sessions,
            machine: Bytes::from_static(b"machine state"),
        }
    }

    #[test]
    fn a_snapshot_round_trips_and_damage_is_caught() {
        let bytes = image().encode();
        assert_eq!(Image::decode(&bytes), Ok(image()));
        let mut damaged = bytes.to_vec();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(matches!(
            Image::<String>::decode(&damaged),
            Err(SnapshotError::Checksum { .. })
        ));
        assert_eq!(
            Image::<String>::decode(b"RSM"),
            Err(SnapshotError::NotASnapshot)
        );
        let mut other_version = bytes.to_vec();
        other_version[4] = 9;
        assert_eq!(
            Image::<String>::decode(&other_version),
            Err(SnapshotError::Version(9))
        );
    }

    /// A snapshot moves in chunks; a newer snapshot restarts the transfer; a chunk at the
    /// wrong offset or from another peer changes nothing; an oversized one is refused.
    #[test]
    fn a_transfer_assembles_chunks_in_order() {
        let held = Held {
            slot: Seq(7),
            bytes: Bytes::from(vec![5u8; 10]),
        };
        let mut t = Transfer::new(NodeId(1), Ticks(0));
        let mut outcome = ChunkOutcome::Ignored;
        for _ in 0..10 {
            let Msg::<()>::FetchSnapshot { slot, offset, .. } = t.fetch(Seq(0)) else {
                unreachable!()
            };
            let Msg::<()>::SnapshotChunk {
                slot,
                total,
                offset,
                data,
            } = held.chunk(slot, offset, 4)
            else {
                unreachable!()
            };
            assert_eq!(
                t.on_chunk(NodeId(2), slot, total, offset, &data, 100),
                ChunkOutcome::Ignored
            );
            outcome = t.on_chunk(NodeId(1), slot, total, offset, &data, 100);
            if outcome != ChunkOutcome::More {
                break;
            }
            assert_eq!(
                t.on_chunk(NodeId(1), slot, total, 0, &data, 100),
                ChunkOutcome::Ignored,
                "a duplicate of an earlier chunk"
            );
        }
        assert_eq!(outcome, ChunkOutcome::Complete(held.bytes.clone()));
        let mut t = Transfer::new(NodeId(1), Ticks(0));
        assert_eq!(
            t.on_chunk(NodeId(1), Seq(7), 10, 0, &[1, 2], 100),
            ChunkOutcome::More
        );
        assert_eq!(
            t.on_chunk(NodeId(1), Seq(9), 3, 0, &[1], 100),
            ChunkOutcome::More,
            "a newer snapshot starts over"
        );
        assert_eq!(t.buffered(), 1);
        assert!(matches!(
            t.on_chunk(NodeId(1), Seq(9), 1000, 0, &[1], 100),
            ChunkOutcome::Refused(_)
        ));
    }
}
