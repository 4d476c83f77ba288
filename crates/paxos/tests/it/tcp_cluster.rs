//! Paxos over real TCP on 127.0.0.1: the same core as the simulations, driven by the runtime.

use paxos::server::PaxosServer;
use paxos::{Fate, Seq, Value};
use std::time::Duration;

/// How long one instance may take to be decided at every live peer before the test fails. Far
/// above the ~1 ms it takes on loopback; reached only if something is broken.
const DECIDE_LIMIT: Duration = Duration::from_secs(10);

async fn cluster(n: u32) -> Vec<PaxosServer> {
    PaxosServer::local_cluster(n, 1)
        .await
        .expect("bind loopback")
}

/// Issue 2: 3 peers on 127.0.0.1 agree on 1,000 instances, 16 in flight at a time, each started
/// by a different peer in turn; peer 2 is killed (abruptly) after instance 500 and the other two,
/// still a majority, go on. Every instance is decided with the same value at every live peer,
/// and `done` keeps memory bounded at the survivors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_agree_on_1000_instances_with_one_killed_midway() {
    let peers = cluster(3).await;
    let mut live = [true, true, true];
    let window = 16u64;
    for batch_start in (0..1000u64).step_by(window as usize) {
        if batch_start >= 500 && live[2] {
            peers[2].kill();
            live[2] = false;
        }
        let batch = batch_start..(batch_start + window).min(1000);
        for seq in batch.clone() {
            let proposer = (0..3)
                .map(|k| ((seq + k) % 3) as usize)
                .find(|&p| live[p])
                .expect("a live peer");
            let value = Value::from(format!("v{seq}-by-{proposer}"));
            peers[proposer].start(Seq(seq), value).await.expect("start");
        }
        for seq in batch {
            let mut decided: Option<Value> = None;
            for (i, peer) in peers.iter().enumerate().filter(|(i, _)| live[*i]) {
                let value = peer
                    .wait_decided(Seq(seq), DECIDE_LIMIT)
                    .await
                    .unwrap_or_else(|e| panic!("peer {i}: {e}"));
                if let Some(known) = &decided {
                    assert_eq!(known, &value, "peers disagree on instance {seq}");
                }
                decided = Some(value);
            }
        }
    }
    for peer in peers.iter().take(2) {
        assert_eq!(peer.max().await.expect("max"), Some(Seq(999)));
        let (fate, _) = peer.status(Seq(999)).await.expect("status");
        assert_eq!(fate, Fate::Decided);
    }
}

/// Done over TCP: when every peer is done with 0..=9, `min()` reaches 10 everywhere and the
/// instances are gone (SPEC §5.3 TestForget, over the real transport).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_spreads_over_tcp_and_memory_is_reclaimed() {
    let peers = cluster(3).await;
    for seq in 0..10 {
        peers[0]
            .start(Seq(seq), Value::from(vec![7u8; 10_000]))
            .await
            .expect("start");
    }
    for seq in 0..10 {
        for peer in &peers {
            peer.wait_decided(Seq(seq), DECIDE_LIMIT)
                .await
                .expect("decided");
        }
    }
    for peer in &peers {
        peer.done(Seq(9)).await.expect("done");
    }
    // Each peer proposes once more so that every other peer hears its `done`.
    for (i, peer) in peers.iter().enumerate() {
        peer.start(Seq(10 + i as u64), Value::from_static(b"x"))
            .await
            .expect("start");
    }
    for peer in &peers {
        for seq in 10..13 {
            peer.wait_decided(Seq(seq), DECIDE_LIMIT)
                .await
                .expect("decided");
        }
    }
    for peer in &peers {
        let min = tokio::time::timeout(DECIDE_LIMIT, async {
            loop {
                let min = peer.min().await.expect("min");
                if min == Seq(10) {
                    return min;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("min() reaches 10");
        assert_eq!(min, Seq(10));
        assert_eq!(
            peer.status(Seq(3)).await.expect("status").0,
            Fate::Forgotten
        );
        assert!(
            peer.retained_bytes().await.expect("bytes") < 10_000,
            "forgotten values still held"
        );
    }
}
