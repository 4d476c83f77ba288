//! Checks across replicas, for the simulator's invariant hook (`sim::Sim::set_invariant`):
//! every system on `rsm` runs its simulation tests under the same agreement check.

use crate::machine::StateMachine;
use crate::replica::Replica;
use paxos::{Seq, Value};
use rpc::NodeId;
use std::collections::BTreeMap;

/// No two replicas ever learn different values for one slot. Every decision a replica's Paxos
/// peer holds is compared with the first one seen for its slot (kept even after every replica
/// forgot it). Replicas apply slots in order, so with this they apply the same log.
///
/// A peer's decisions never change once learned, so a replica is looked at again only when
/// its count of decisions learned moved: a run of tens of thousands of slots, or of megabyte
/// values, stays cheap.
pub fn agreement<S: StateMachine>() -> impl FnMut(NodeId, &Replica<S>) -> Result<(), String> {
    let mut first_seen: BTreeMap<Seq, Value> = BTreeMap::new();
    let mut learned: BTreeMap<NodeId, u64> = BTreeMap::new();
    move |id, replica| {
        let count = replica.peer().decisions_learned();
        if learned.insert(id, count) == Some(count) {
            return Ok(());
        }
        for (seq, value) in replica.peer().decided() {
            match first_seen.get(&seq) {
                None => {
                    first_seen.insert(seq, value.clone());
                }
                Some(known) if known == value => {}
                Some(_) => return Err(format!("replica {id} learned a different value at {seq}")),
            }
        }
        Ok(())
    }
}
