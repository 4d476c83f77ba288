//! One shard as a group holds it: where it is in its hand-off, its keys, its clients.

use crate::clients::Clients;
use bytes::Bytes;
use kvpaxos::KvMachine;
use rsm::StateMachine;
use serde::{Deserialize, Serialize};
use shardmaster::Gid;

/// Where a shard held by this group stands. A shard the group neither owns nor keeps is not
/// held at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Owned in the current configuration, data here: client commands run.
    Serving,
    /// Owned in the current configuration, data still arriving from `from`, the owner in the
    /// previous one. Client commands are refused ([`crate::Refusal::NotReady`]).
    Pulling {
        /// The previous owner.
        from: Gid,
        /// Its servers (from the previous configuration, which still lists it).
        servers: Vec<String>,
        /// The image's bytes that have arrived, in order.
        received: Vec<u8>,
    },
    /// Moved to `to` by the current configuration: kept, unchanged and not served, until `to`
    /// has it in its log; then deleted.
    Offering {
        /// The new owner.
        to: Gid,
        /// Its servers.
        servers: Vec<String>,
    },
}

/// One held shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Where it stands.
    pub phase: Phase,
    /// Its keys (empty while pulling).
    pub data: KvMachine,
    /// Its clients' latest commands.
    pub clients: Clients,
}

impl Shard {
    /// A shard this group serves from nothing (it had no owner before).
    pub fn empty() -> Shard {
        Shard {
            phase: Phase::Serving,
            data: KvMachine::default(),
            clients: Clients::default(),
        }
    }

    /// True if client commands run on it here.
    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Serving
    }

    /// The bytes it holds, approximately.
    pub fn retained_bytes(&self) -> usize {
        let received = match &self.phase {
            Phase::Pulling { received, .. } => received.len(),
            Phase::Serving | Phase::Offering { .. } => 0,
        };
        self.data.retained_bytes() + self.clients.retained_bytes() + received
    }

    /// What moves to the shard's next owner: its keys and its clients, encoded.
    pub fn image(&self) -> Bytes {
        let image = Image {
            version: IMAGE_VERSION,
            data: self.data.snapshot(),
            clients: self.clients.clone(),
        };
        Bytes::from(postcard::to_stdvec(&image).expect("an image always encodes"))
    }

    /// The shard an image holds, serving.
    ///
    /// # Errors
    /// If the bytes are not an image (they come from another group).
    pub fn from_image(bytes: &[u8]) -> Result<Shard, String> {
        let image: Image = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        if image.version != IMAGE_VERSION {
            return Err(format!(
                "image version {} (this build reads {IMAGE_VERSION})",
                image.version
            ));
        }
        if !image.clients.is_valid() {
            return Err("the image's client table is inconsistent".into());
        }
        let data = KvMachine::restore(&image.data).map_err(|e| e.to_string())?;
        Ok(Shard {
            phase: Phase::Serving,
            data,
            clients: image.clients,
        })
    }
}

/// A shard's image as it travels between groups.
#[derive(Serialize, Deserialize)]
struct Image {
    version: u8,
    data: Bytes,
    clients: Clients,
}

const IMAGE_VERSION: u8 = 1;
