//! What a replicated system plugs into [`crate::Replica`]: a deterministic state machine.

use bytes::Bytes;
use paxos::Seq;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A deterministic state machine, replicated by [`crate::Replica`].
///
/// Every replica applies the same commands in the same order, so `apply` must be a pure
/// function of the state and the command: no clock, no randomness, no I/O, no iteration over
/// a `HashMap`. Client sessions and at-most-once are the replica's business, not the
/// machine's: `apply` sees each command once, in log order.
pub trait StateMachine: Sized {
    /// A command from a client, carried in the log.
    type Command: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + 'static;
    /// What applying a command answers. Kept per session for retries, and in snapshots.
    type Output: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + 'static;

    /// Applies `cmd`, decided at log slot `slot`, and returns its answer.
    fn apply(&mut self, slot: Seq, cmd: &Self::Command) -> Self::Output;

    /// The whole state, encoded. [`StateMachine::restore`] of it must give back an equal state.
    fn snapshot(&self) -> Bytes;

    /// The state a snapshot holds.
    ///
    /// # Errors
    /// If the bytes are not a snapshot of this machine (they come from a peer or a disk, so
    /// they are untrusted).
    fn restore(bytes: &[u8]) -> Result<Self, RestoreError>;

    /// The bytes this state holds, for the replica's own memory accounting.
    fn retained_bytes(&self) -> usize;

    /// The bytes `cmd` adds to a log entry, for batch limits. The default encodes it; a
    /// machine with large commands can answer faster.
    fn command_bytes(cmd: &Self::Command) -> usize {
        postcard::to_stdvec(cmd).map_or(0, |v| v.len())
    }

    /// The bytes an answer takes when a session keeps it, for memory accounting. The default
    /// encodes it.
    fn output_bytes(output: &Self::Output) -> usize {
        postcard::to_stdvec(output).map_or(0, |v| v.len())
    }
}

/// A snapshot that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("snapshot does not decode: {0}")]
pub struct RestoreError(pub String);
