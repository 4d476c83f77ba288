//! A simulated view service with scripted pingers: the handout's clerks `ck1..ck3`, whose pings
//! the test steers (ping 0, ping the latest view, ping a fixed view, or stay silent).

use rpc::{Node, NodeId, NodeOutbox, ReqId};
use sim::{Sim, SimConfig};
use viewservice::{View, ViewNum, ViewReply, ViewService, VsMsg, VsRequest};

/// SPEC §3.1 PingInterval, the simulator's tick here.
pub const INTERVAL_US: u64 = 100_000;
/// The view service's node.
pub const VS: NodeId = NodeId(0);

/// What a pinger sends on each tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Nothing: the server is dead (or partitioned).
    Silent,
    /// `Ping(n)` with a fixed `n` (0 = "just restarted").
    Fixed(ViewNum),
    /// `Ping(latest view seen)`: acknowledges every view.
    Current,
}

/// A scripted server: pings the view service each tick as its [`Mode`] says.
#[derive(Debug)]
pub struct Pinger {
    mode: Mode,
    /// The latest view the view service told us.
    pub latest: View,
}

impl Pinger {
    fn ping(&self, viewnum: ViewNum, out: &mut NodeOutbox<TestNode>) {
        out.send(VS, VsMsg::Ping { viewnum });
    }
}

/// The nodes of a view-service simulation: node 0 is the service, the others pingers.
#[derive(Debug)]
pub enum TestNode {
    /// The core under test.
    Service(ViewService),
    /// A scripted server.
    Pinger(Pinger),
}

impl Node for TestNode {
    type Msg = VsMsg;
    type Req = VsRequest;
    type Resp = ViewReply;

    fn on_message(&mut self, from: NodeId, msg: VsMsg, out: &mut NodeOutbox<Self>) {
        match self {
            TestNode::Service(vs) => vs.on_message(from, msg, out),
            TestNode::Pinger(p) => {
                if let VsMsg::View(reply) = msg
                    && reply.view.num > p.latest.num
                {
                    p.latest = reply.view;
                }
            }
        }
    }

    fn on_request(&mut self, req: ReqId, body: VsRequest, out: &mut NodeOutbox<Self>) {
        if let TestNode::Service(vs) = self {
            vs.on_request(req, body, out);
        }
    }

    fn on_tick(&mut self, out: &mut NodeOutbox<Self>) {
        match self {
            TestNode::Service(vs) => vs.on_tick(out),
            TestNode::Pinger(p) => match p.mode {
                Mode::Silent => {}
                Mode::Fixed(n) => p.ping(n, out),
                Mode::Current => p.ping(p.latest.num, out),
            },
        }
    }
}

/// The simulated service and three silent pingers `ck1..ck3` (nodes 1..3), 100 ms ticks.
pub fn cluster(seed: u64) -> Sim<TestNode> {
    let mut nodes = vec![TestNode::Service(ViewService::new())];
    for _ in 0..3 {
        nodes.push(TestNode::Pinger(Pinger {
            mode: Mode::Silent,
            latest: View::default(),
        }));
    }
    let config = SimConfig {
        tick_us: INTERVAL_US,
        ..SimConfig::new(seed)
    };
    Sim::new(config, nodes)
}

/// Sets pinger `ck`'s mode.
pub fn set_mode(sim: &mut Sim<TestNode>, ck: NodeId, mode: Mode) {
    sim.call(ck, |node, _| {
        if let TestNode::Pinger(p) = node {
            p.mode = mode;
        }
    });
}

/// Makes `ck` send `Ping(viewnum)` once, now (the handout's single `ck.Ping(vx.Viewnum)`, with
/// the number the test read from the view service, not what `ck` happens to have heard).
pub fn ping_once(sim: &mut Sim<TestNode>, ck: NodeId, viewnum: ViewNum) {
    sim.call(ck, |node, out| {
        if let TestNode::Pinger(p) = node {
            p.ping(viewnum, out);
        }
    });
}

/// The view service's current view.
pub fn view(sim: &Sim<TestNode>) -> View {
    match sim.node(VS) {
        Some(TestNode::Service(vs)) => vs.view(),
        _ => panic!("node 0 is the view service"),
    }
}

/// Runs until `cond` holds of the view, for at most `intervals` ping intervals.
pub fn wait_view(
    sim: &mut Sim<TestNode>,
    intervals: u64,
    what: &str,
    mut cond: impl FnMut(&View) -> bool,
) -> Result<View, String> {
    let deadline = sim.now_us() + intervals * INTERVAL_US;
    sim.run_until(deadline, |s| cond(&view(s)))
        .map_err(|e| format!("{what}: view {}: {e}", view(sim)))?;
    Ok(view(sim))
}

/// Fails unless `view` is exactly `{num, primary, backup}`.
pub fn check(
    view: View,
    primary: Option<NodeId>,
    backup: Option<NodeId>,
    num: ViewNum,
) -> Result<(), String> {
    let expected = View {
        num,
        primary,
        backup,
    };
    if view == expected {
        Ok(())
    } else {
        Err(format!("view {view}, expected {expected}"))
    }
}
