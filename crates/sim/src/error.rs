//! Why a simulated run failed. Every failure names the seed, so any report can be replayed.

use rpc::NodeId;
use std::fmt;

/// A failed simulated run. Broken assumptions inside the simulator itself panic instead
/// (STYLE 2.5): these are the failures a test is expected to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// The run did not reach its goal within its bound of virtual time or events: a liveness
    /// failure (or a hang, which the bound turns into this).
    Liveness {
        /// The run seed.
        seed: u64,
        /// Virtual time when the run gave up.
        now_us: u64,
        /// What was not reached, and which bound stopped it.
        what: String,
    },
    /// An invariant installed with [`Sim::set_invariant`](crate::Sim::set_invariant) failed
    /// after `node` handled an event.
    Invariant {
        /// The run seed.
        seed: u64,
        /// Virtual time of the event after which the check failed.
        now_us: u64,
        /// The node that had just handled the event.
        node: NodeId,
        /// The invariant's own message.
        msg: String,
    },
}

impl SimError {
    /// The seed of the failed run.
    pub fn seed(&self) -> u64 {
        match self {
            SimError::Liveness { seed, .. } | SimError::Invariant { seed, .. } => *seed,
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Liveness { seed, now_us, what } => {
                write!(
                    f,
                    "liveness failure (seed {seed}) at {}: {what}",
                    fmt_us(*now_us)
                )
            }
            SimError::Invariant {
                seed,
                now_us,
                node,
                msg,
            } => write!(
                f,
                "invariant failed (seed {seed}) at {} after {node} handled an event: {msg}",
                fmt_us(*now_us)
            ),
        }
    }
}

impl std::error::Error for SimError {}

/// Virtual microseconds as seconds with six decimals, e.g. `12.000345s`.
pub(crate) fn fmt_us(us: u64) -> String {
    format!("{}.{:06}s", us / 1_000_000, us % 1_000_000)
}
