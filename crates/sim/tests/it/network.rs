//! The simulated network: loss, duplication, reordering, partitions, one-way cuts, deaf nodes and
//! client cuts (SPEC §1.3–1.5).

use crate::toys::{Blaster, Clerk, Echo, RegOp, Register, echo_sim};
use rpc::NodeId;
use sim::{FaultConfig, Sim, SimConfig};

const N0: NodeId = NodeId(0);
const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);

/// Sends `count` pings from `from` to `to` at the current instant.
fn burst(sim: &mut Sim<Echo>, from: NodeId, to: NodeId, count: u64) {
    sim.call(from, |n, out| (0..count).for_each(|_| n.ping(to, out)));
}

/// Loss drops about the configured fraction of messages; duplication delivers about that
/// fraction twice. Method: 10k pings, no answers counted, 2% tolerance.
#[test]
fn loss_and_duplication_match_their_probabilities() {
    let mut sim = echo_sim(3, 2);
    sim.set_faults(FaultConfig {
        loss: 0.3,
        ..FaultConfig::none()
    });
    burst(&mut sim, N0, N1, 10_000);
    sim.run_for(100_000).unwrap();
    let received = sim.node(N1).unwrap().pings.len() as f64 / 10_000.0;
    assert!(
        (0.68..0.72).contains(&received),
        "30% loss delivered {received}"
    );
    assert_eq!(
        sim.stats(N1).dropped.loss,
        10_000 - sim.node(N1).unwrap().pings.len() as u64
    );

    let mut sim = echo_sim(3, 2);
    sim.set_faults(FaultConfig {
        duplicate: 0.25,
        ..FaultConfig::none()
    });
    burst(&mut sim, N0, N1, 10_000);
    sim.run_for(100_000).unwrap();
    let received = sim.node(N1).unwrap().pings.len() as f64 / 10_000.0;
    assert!(
        (1.23..1.27).contains(&received),
        "25% duplication delivered {received}"
    );
    // Each handled ping sends one pong, so every extra pong and ping received is a duplicate.
    let stats = *sim.net_stats();
    assert_eq!(stats.delivered, stats.sent, "nothing may be lost");
    assert_eq!(
        sim.node(N0).unwrap().pongs.len() as u64 - 10_000,
        stats.duplicated
    );
}

/// Random per-message latency reorders messages between the same pair, and the extra-delay
/// fault holds some back far longer.
#[test]
fn latency_reorders_and_delay_holds_back() {
    let mut sim = echo_sim(4, 2);
    burst(&mut sim, N0, N1, 100);
    sim.run_for(3_000).unwrap();
    let order: Vec<u64> = sim
        .node(N1)
        .unwrap()
        .pings
        .iter()
        .map(|&(_, n)| n)
        .collect();
    assert_eq!(order.len(), 100, "all arrive within the 2 ms latency bound");
    assert!(
        order.windows(2).any(|w| w[0] > w[1]),
        "100 pings arrived in send order: {order:?}"
    );

    let mut sim = echo_sim(4, 2);
    sim.set_faults(FaultConfig {
        delay: 0.5,
        delay_us_max: 1_000_000,
        ..FaultConfig::none()
    });
    burst(&mut sim, N0, N1, 100);
    sim.run_for(3_000).unwrap();
    let early = sim.node(N1).unwrap().pings.len();
    assert!(
        (30..70).contains(&early),
        "with 50% delayed, {early} of 100 arrived on time"
    );
    sim.run_for(1_000_000).unwrap();
    assert_eq!(
        sim.node(N1).unwrap().pings.len(),
        100,
        "delayed messages still arrive"
    );
}

/// A partition blocks both directions between groups and nothing inside a group; a node in no
/// group is isolated; heal restores everything (SPEC §1.3 `part`).
#[test]
fn partition_blocks_both_directions_between_groups() {
    let mut sim = echo_sim(5, 3);
    sim.partition(&[&[N0, N1]]);
    burst(&mut sim, N0, N1, 1);
    burst(&mut sim, N0, N2, 1);
    burst(&mut sim, N2, N0, 1);
    sim.run_for(10_000).unwrap();
    assert_eq!(sim.node(N1).unwrap().pings.len(), 1, "same group");
    assert_eq!(
        sim.node(N0).unwrap().pongs.len(),
        1,
        "the answer comes back inside the group"
    );
    assert!(
        sim.node(N2).unwrap().pings.is_empty() && sim.node(N0).unwrap().pings.is_empty(),
        "isolated node reached"
    );
    assert_eq!(sim.stats(N2).dropped.partition, 1);
    assert_eq!(sim.stats(N0).dropped.partition, 1);

    sim.heal();
    burst(&mut sim, N2, N0, 1);
    sim.run_for(10_000).unwrap();
    assert_eq!(sim.node(N0).unwrap().pings.len(), 1);
    assert_eq!(sim.node(N2).unwrap().pongs.len(), 1);
}

/// A partition imposed while a message is in flight drops it on arrival.
#[test]
fn partition_drops_messages_already_in_flight() {
    let mut config = SimConfig::new(6);
    (config.latency_us_min, config.latency_us_max) = (5_000, 5_000);
    let mut sim = Sim::<Echo>::new(config, vec![Echo::default(), Echo::default()]);
    burst(&mut sim, N0, N1, 1);
    sim.run_for(1_000).unwrap();
    sim.partition(&[&[N0], &[N1]]);
    sim.run_for(10_000).unwrap();
    assert!(sim.node(N1).unwrap().pings.is_empty());
    assert_eq!(sim.stats(N1).dropped.partition, 1);
}

/// A one-way cut blocks `from → to` only: `to` still reaches `from`, but `from`'s answer back
/// is on the cut direction and is lost.
#[test]
fn one_way_cut_blocks_one_direction() {
    let mut sim = echo_sim(7, 2);
    sim.cut(N0, N1);
    burst(&mut sim, N0, N1, 1);
    burst(&mut sim, N1, N0, 1);
    sim.run_for(10_000).unwrap();
    assert!(
        sim.node(N1).unwrap().pings.is_empty(),
        "cut direction delivered"
    );
    assert_eq!(
        sim.node(N0).unwrap().pings.len(),
        1,
        "open direction blocked"
    );
    assert!(
        sim.node(N1).unwrap().pongs.is_empty(),
        "the answer travels on the cut direction"
    );
    sim.uncut(N0, N1);
    burst(&mut sim, N0, N1, 1);
    sim.run_for(10_000).unwrap();
    assert_eq!(sim.node(N1).unwrap().pings.len(), 1);
}

/// A deaf node (SPEC §1.4) cannot be reached by peers or clients, but it still sends and it
/// receives the answers to its own requests.
#[test]
fn deaf_node_sends_and_hears_answers_but_cannot_be_reached() {
    let mut sim = echo_sim(8, 2);
    sim.deafen(N1);
    burst(&mut sim, N0, N1, 1);
    burst(&mut sim, N1, N0, 1);
    sim.run_for(10_000).unwrap();
    assert!(sim.node(N1).unwrap().pings.is_empty());
    assert_eq!(sim.stats(N1).dropped.deaf, 1);
    assert_eq!(sim.node(N0).unwrap().pings.len(), 1, "a deaf node can send");
    assert_eq!(
        sim.node(N1).unwrap().pongs.len(),
        1,
        "a deaf node hears answers"
    );
    assert_eq!(sim.stats(N1).responds_received, 1);

    let mut sim: Sim<Register, Blaster> = Sim::new(SimConfig::new(8), vec![Register::default()]);
    let c = sim.add_client(Blaster::new(N0, u64::MAX));
    sim.deafen(N0);
    sim.run_for(100_000).unwrap();
    assert_eq!(
        sim.node(N0).unwrap().handled,
        0,
        "a client reached a deaf node"
    );
    assert!(sim.client(c).sent >= 9 && sim.stats(N0).dropped.deaf == sim.client(c).sent);
    sim.undeafen(N0);
    sim.run_for(100_000).unwrap();
    assert!(sim.node(N0).unwrap().handled >= 9);
}

/// Client traffic ignores server partitions (SPEC §1.3), but `cut_client` blocks one clerk from
/// one server, and the clerk's retry finds another.
#[test]
fn clients_ignore_partitions_but_not_client_cuts() {
    let mut sim: Sim<Register, Clerk> = Sim::new(
        SimConfig::new(9),
        vec![Register::default(), Register::default()],
    );
    let c = sim.add_client(Clerk::new(1, vec![N0, N1], 3));
    sim.partition(&[&[N0], &[N1]]);
    let done = sim.run_op(c, RegOp::Put(5), 1_000_000).unwrap();
    assert_eq!(done.output, 5);
    assert_eq!(
        sim.client(c).attempts,
        1,
        "a server partition delayed a client"
    );

    sim.cut_client(c, N0);
    let done = sim.run_op(c, RegOp::Put(6), 1_000_000).unwrap();
    assert_eq!(done.output, 6);
    assert_eq!(sim.node(N0).unwrap().handled, 1, "a cut client reached n0");
    assert_eq!(sim.node(N1).unwrap().handled, 1);
    assert!(
        done.completed_at_us - done.invoked_at_us >= 20_000,
        "the retry waited for its timeout"
    );
}

/// A node's message to itself is delivered like any other (a node always reaches itself, even
/// when isolated by a partition).
#[test]
fn self_send_is_delivered_even_when_isolated() {
    let mut sim = echo_sim(10, 2);
    sim.partition(&[&[N1]]);
    burst(&mut sim, N0, N0, 1);
    sim.run_for(10_000).unwrap();
    assert_eq!(sim.node(N0).unwrap().pings, vec![(N0, 0)]);
    assert_eq!(sim.node(N0).unwrap().pongs, vec![(N0, 0)]);
}

/// A duplicated client request is handled twice under two fresh request ids, and both replies
/// reach the client (which must tell them apart itself).
#[test]
fn duplicated_client_request_gets_two_replies() {
    let mut config = SimConfig::new(13);
    config.faults = FaultConfig {
        duplicate: 1.0,
        ..FaultConfig::none()
    };
    let mut sim: Sim<Register, Blaster> = Sim::new(config, vec![Register::default()]);
    let c = sim.add_client(Blaster::new(N0, 10));
    sim.run_for(1_000_000).unwrap();
    assert_eq!(sim.client(c).sent, 10);
    assert_eq!(sim.node(N0).unwrap().handled, 20);
    assert_eq!(
        sim.client(c).answers,
        20,
        "replies are not duplicated, but both copies answer"
    );
}
