//! Messages and requests by address (driver contract, step 6): they reach the node named by
//! that address, under the same faults as by id, and arrive from `NodeId::EXTERNAL`.

use crate::toys::{EchoMsg, RegOp, RegReq, RegResp, Register, echo_sim};
use rpc::{Client, ClientEffect, ClientOutbox, NodeId};
use sim::{FaultConfig, Sim, SimConfig};

/// A message by address reaches the named node from EXTERNAL; the receiver's `Respond` to
/// EXTERNAL is dropped (it names nobody); an unknown address loses the message, counted.
#[test]
fn a_message_by_address_arrives_from_external_and_its_respond_is_dropped() {
    let mut sim = echo_sim(1, 3);
    sim.set_address(NodeId(2), "node-two");
    assert_eq!(sim.node_at("node-two"), Some(NodeId(2)));
    sim.call(NodeId(0), |_, out| {
        out.send_to("node-two", EchoMsg::Ping(7));
        out.send_to("nobody", EchoMsg::Ping(8));
    });
    sim.run_for(100_000).unwrap();
    assert_eq!(
        sim.node(NodeId(2)).unwrap().pings,
        vec![(NodeId::EXTERNAL, 7)]
    );
    assert!(
        sim.node(NodeId(0)).unwrap().pongs.is_empty(),
        "the Pong went to EXTERNAL"
    );
    assert_eq!(
        sim.net_stats().dropped.unknown_address,
        2,
        "one unknown, one Pong"
    );
}

/// Partitions and crashes stop messages by address as they stop messages by id.
#[test]
fn partitions_and_crashes_stop_messages_by_address() {
    let mut sim = echo_sim(2, 3);
    sim.set_address(NodeId(1), "one");
    sim.partition(&[&[NodeId(0)], &[NodeId(1), NodeId(2)]]);
    sim.call(NodeId(0), |_, out| out.send_to("one", EchoMsg::Ping(1)));
    sim.run_for(100_000).unwrap();
    assert!(sim.node(NodeId(1)).unwrap().pings.is_empty());
    assert_eq!(sim.net_stats().dropped.partition, 1);
    sim.heal();
    sim.call(NodeId(2), |_, out| out.send_to("one", EchoMsg::Ping(2)));
    sim.run_for(100_000).unwrap();
    assert_eq!(
        sim.node(NodeId(1)).unwrap().pings,
        vec![(NodeId::EXTERNAL, 2)]
    );
}

/// Naming a node again replaces its address; one address names one node.
#[test]
fn a_node_has_one_address() {
    let mut sim = echo_sim(3, 2);
    sim.set_address(NodeId(0), "a");
    sim.set_address(NodeId(0), "b");
    assert_eq!(sim.node_at("a"), None);
    assert_eq!(sim.node_at("b"), Some(NodeId(0)));
    let taken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sim.set_address(NodeId(1), "b");
    }));
    assert!(taken.is_err(), "b is node 0's");
}

/// A client that sends each Put to a server by address and completes with who answered.
#[derive(Debug, Default)]
struct ByAddress {
    seq: u64,
}

impl Client for ByAddress {
    type Op = (String, u64);
    type Output = (NodeId, u64);
    type Req = RegReq;
    type Resp = RegResp;

    fn invoke(&mut self, (addr, value): (String, u64), out: &mut ClientOutbox<Self>) {
        self.seq += 1;
        let req = RegReq {
            client: 1,
            seq: self.seq,
            op: RegOp::Put(value),
        };
        out.push(ClientEffect::RequestTo { addr, req });
    }

    fn on_response(&mut self, from: NodeId, resp: RegResp, out: &mut ClientOutbox<Self>) {
        out.push(ClientEffect::Complete((from, resp.value)));
    }

    fn on_tick(&mut self, _: &mut ClientOutbox<Self>) {}
}

/// A request by address reaches the named server, and its answer arrives from EXTERNAL; one
/// to an unknown address is lost and counted.
#[test]
fn a_request_by_address_is_answered_from_external() {
    let mut config = SimConfig::new(4);
    config.faults = FaultConfig::none();
    let mut sim: Sim<Register, ByAddress> =
        Sim::new(config, (0..2).map(|_| Register::default()).collect());
    sim.set_address(NodeId(1), "reg-1");
    let c = sim.add_client(ByAddress::default());
    let done = sim.run_op(c, ("reg-1".into(), 5), 1_000_000).unwrap();
    assert_eq!(done.output, (NodeId::EXTERNAL, 5));
    assert_eq!(sim.node(NodeId(1)).unwrap().value, 5);
    assert_eq!(sim.node(NodeId(0)).unwrap().value, 0);
    sim.invoke(c, ("nowhere".into(), 6));
    sim.run_for(1_000_000).unwrap();
    assert!(!sim.is_idle(c), "lost, so never answered");
    assert_eq!(sim.net_stats().dropped.unknown_address, 1);
}
