//! Helpers shared by the Paxos scenarios: building a simulated cluster, the cross-peer agreement
//! invariant, and the `ndecided` / `wait_n` checks of the original test suite (SPEC §5.3).

use bytes::Bytes;
use paxos::{Fate, Peer, Seq, Value};
use rpc::NodeId;
use sim::{Sim, SimConfig};
use std::collections::BTreeMap;

/// A simulated Paxos cluster.
pub type PaxosSim = Sim<Peer>;

/// One second of virtual time, in the simulator's microseconds.
pub const SECOND_US: u64 = 1_000_000;

/// The original `waitn` gave up after about 30 s; a scenario that needs longer is a liveness bug.
pub const WAIT_US_MAX: u64 = 30 * SECOND_US;

/// A cluster of `n` peers, all up, with the agreement invariant checked after every step.
pub fn cluster(seed: u64, n: u32) -> PaxosSim {
    let peers = (0..n).map(|i| Peer::new(NodeId(i), n, seed)).collect();
    let mut sim = Sim::new(
        SimConfig {
            seed,
            ..SimConfig::default()
        },
        peers,
    );
    sim.set_invariant(agreement_invariant());
    sim
}

/// The invariant of Paxos, checked across peers: no two peers ever decide different values for
/// one instance. Every decision any peer holds is compared with the first one seen for its
/// instance; decisions are remembered even after peers forget them.
pub fn agreement_invariant() -> sim::Invariant<Peer> {
    let mut first_seen: BTreeMap<Seq, Value> = BTreeMap::new();
    Box::new(move |id, peer| {
        for (seq, value) in peer.decided() {
            match first_seen.get(&seq) {
                None => {
                    first_seen.insert(seq, value.clone());
                }
                Some(known) if same_value(known, value) => {}
                Some(known) => {
                    return Err(format!(
                        "peer {id} decided {seq} = {:?}, another peer decided {:?}",
                        abbreviate(value),
                        abbreviate(known)
                    ));
                }
            }
        }
        Ok(())
    })
}

/// Equality that skips the byte comparison when both sides share one buffer (1 MB values).
fn same_value(a: &Value, b: &Value) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

fn abbreviate(value: &Value) -> String {
    let shown = &value[..value.len().min(24)];
    format!("{} ({} bytes)", String::from_utf8_lossy(shown), value.len())
}

/// A value from a string.
pub fn val(s: &str) -> Value {
    Bytes::copy_from_slice(s.as_bytes())
}

/// How many live peers have decided `seq`; fails if two of them disagree (the original
/// `ndecided` was fatal on disagreement too).
pub fn ndecided(sim: &PaxosSim, seq: Seq) -> usize {
    let mut decided: Option<Value> = None;
    let mut count = 0;
    for id in sim.node_ids() {
        let Some(peer) = sim.node(id) else { continue };
        if let (Fate::Decided, Some(value)) = peer.status(seq) {
            if let Some(known) = &decided {
                assert!(same_value(known, &value), "peers disagree on {seq}");
            }
            decided = Some(value);
            count += 1;
        }
    }
    count
}

/// Runs until at least `wanted` peers decided `seq`, or fails as a liveness failure.
pub fn wait_n(sim: &mut PaxosSim, seq: Seq, wanted: usize) -> Result<(), String> {
    let deadline = sim.now_us() + WAIT_US_MAX;
    sim.run_until(deadline, |s| ndecided(s, seq) >= wanted)
        .map_err(|e| format!("waiting for {wanted} peers to decide {seq}: {e}"))
}

/// Runs `us` of virtual time, failing on an invariant violation.
pub fn run_for(sim: &mut PaxosSim, us: u64) -> Result<(), String> {
    sim.run_for(us).map_err(|e| e.to_string())
}

/// Fails unless exactly `wanted` peers decided `seq` (the original `checkmax` after waiting).
pub fn expect_exactly(sim: &mut PaxosSim, seq: Seq, wanted: usize) -> Result<(), String> {
    run_for(sim, SECOND_US)?;
    let got = ndecided(sim, seq);
    if got != wanted {
        return Err(format!(
            "{got} peers decided {seq}, expected exactly {wanted}"
        ));
    }
    Ok(())
}

/// `peer.start(seq, value)` at the current virtual instant.
pub fn start(sim: &mut PaxosSim, peer: u32, seq: u64, value: Value) {
    sim.call(NodeId(peer), |p, out| p.start(Seq(seq), value, out));
}

/// Builds the `Err` of a scenario check with the observed values.
pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}
