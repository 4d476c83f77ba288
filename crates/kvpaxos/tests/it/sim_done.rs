//! SPEC §6.3 TestDone ("server frees Paxos log memory"): after many large Puts, every replica
//! retains about the live data, not the log that produced it.

use crate::common::*;

/// Bytes per value: 1 MB, as in the handout.
const VALUE_BYTES: usize = 1_000_000;
/// Keys written per round.
const KEYS: usize = 10;

/// Lab 3B TestDone: 2 rounds × 10 keys × 1 MB Puts, each checked through a different server,
/// then small Puts and Gets on every server, twice. Every replica must then retain (Paxos
/// instances, data, dedup table, waiting requests) at most the live data, plus the snapshot a
/// replica keeps to serve peers that fall behind (taken every 8 MiB of entries, at most twice
/// the live data: it holds the sessions' last answers too, here 1 MB Gets), plus one value of
/// slack. The handout allows start + 60 MB; measured 22.0 MB of which 12.0 MB snapshot. Without
/// `done` the Paxos log alone would hold the 20 large Puts (20 MB): Paxos itself must hold
/// less than one value per replica.
#[test]
fn done() {
    sim::for_each_seed!(20, |seed| {
        let mut kv = Kv::new(seed, 3);
        let ck = kv.clerk(&[0, 1, 2]);
        let pinned = kv.pinned_clerks();
        for round in 0..2u8 {
            for key in 0..KEYS {
                let value: String =
                    std::iter::repeat_n(char::from(b'a' + round), VALUE_BYTES).collect::<String>();
                kv.op(ck, put(&key.to_string(), &value))?;
                let reader = pinned[key % pinned.len()];
                let got = kv.op(reader, get(&key.to_string()))?;
                ensure(got == value, || {
                    format!("key {key}: wrong value after round {round}")
                })?;
            }
        }
        for _ in 0..2 {
            for &c in &pinned {
                kv.op(c, put("x", "x"))?;
                kv.op(c, get("x"))?;
            }
        }
        kv.run_for(SECOND_US)?;
        let live = KEYS * VALUE_BYTES;
        for i in 0..3 {
            let r = kv.replica(i);
            let retained = r.retained_bytes();
            let paxos = r.peer().retained_bytes();
            let snapshot = r.snapshot_bytes();
            ensure(retained <= live + snapshot + VALUE_BYTES, || {
                format!(
                    "replica {i} retains {retained} bytes for {live} live and a snapshot of \
                     {snapshot}"
                )
            })?;
            ensure(snapshot <= 2 * live, || {
                format!("replica {i} holds a snapshot of {snapshot} bytes for {live} live")
            })?;
            ensure(paxos < VALUE_BYTES, || {
                format!("replica {i}: Paxos retains {paxos} bytes")
            })?;
        }
        kv.check_linearizable()
    });
}
