//! The primary/backup side of the shared harness ([`kvstore::testing`]): a simulated service
//! (view service = node 0, servers 1..), real clerks and raw clients pinned to one server,
//! and the verbs the SPEC §4.3 scenarios need (start and kill servers, wait for a view).

pub use kvstore::testing::*;

use pbservice::{Clerk, Op, PbError, PbNode, PbRequest, PbResponse};
use rpc::{Client, ClientEffect, ClientId, ClientOutbox, NodeId};
use sim::{Sim, SimConfig};
use viewservice::{VIEW_SERVICE_ID, View};

/// SPEC §11 PingInterval: the tick of every node and clerk here.
pub const INTERVAL_US: u64 = 100_000;
/// The view service.
pub const VS: NodeId = VIEW_SERVICE_ID;

/// A clerk, or a raw client that sends one request to one fixed server until it answers (the
/// handout's proxied Get of TestPartition1/2, which goes to the old primary whatever the view).
#[derive(Debug)]
pub enum TestClient {
    /// A real clerk.
    Clerk(Clerk),
    /// A request pinned to one server, resent every tick.
    Raw(RawClient),
}

/// See [`TestClient::Raw`].
#[derive(Debug)]
pub struct RawClient {
    to: NodeId,
    req: Option<PbRequest>,
}

impl RawClient {
    /// A client that will send its operations to `to` only.
    pub fn new(to: NodeId) -> Self {
        RawClient { to, req: None }
    }
}

impl Client for TestClient {
    type Op = Op;
    type Output = Result<String, PbError>;
    type Req = PbRequest;
    type Resp = PbResponse;

    fn invoke(&mut self, op: Op, out: &mut ClientOutbox<Self>) {
        match self {
            TestClient::Clerk(clerk) => forward(clerk, out, |c, o| c.invoke(op, o)),
            TestClient::Raw(raw) => {
                let req = PbRequest::Op(pbservice::OpRequest {
                    client: 1 << 40,
                    seq: 1,
                    op,
                });
                out.push(ClientEffect::Request {
                    to: raw.to,
                    req: req.clone(),
                });
                raw.req = Some(req);
            }
        }
    }

    fn on_response(&mut self, from: NodeId, resp: PbResponse, out: &mut ClientOutbox<Self>) {
        match self {
            TestClient::Clerk(clerk) => forward(clerk, out, |c, o| c.on_response(from, resp, o)),
            TestClient::Raw(raw) => {
                if let PbResponse::Op { result, .. } = resp
                    && raw.req.take().is_some()
                {
                    out.push(ClientEffect::Complete(result));
                }
            }
        }
    }

    fn on_tick(&mut self, out: &mut ClientOutbox<Self>) {
        match self {
            TestClient::Clerk(clerk) => forward(clerk, out, |c, o| c.on_tick(o)),
            TestClient::Raw(raw) => {
                if let Some(req) = &raw.req {
                    out.push(ClientEffect::Request {
                        to: raw.to,
                        req: req.clone(),
                    });
                }
            }
        }
    }
}

fn forward(
    clerk: &mut Clerk,
    out: &mut ClientOutbox<TestClient>,
    f: impl FnOnce(&mut Clerk, &mut ClientOutbox<Clerk>),
) {
    let mut inner = Vec::new();
    f(clerk, &mut inner);
    out.extend(inner.into_iter().map(|effect| match effect {
        ClientEffect::Request { to, req } => ClientEffect::Request { to, req },
        ClientEffect::RequestTo { addr, req } => ClientEffect::RequestTo { addr, req },
        ClientEffect::Complete(value) => ClientEffect::Complete(Ok(value)),
    }));
}

/// A simulated primary/backup service with its recorded history.
pub type Pb = KvHarness<PbNode, TestClient>;

/// What a primary/backup scenario adds to the shared harness.
pub trait PbCluster {
    /// The view service and `servers` servers; only those in `up` are started (the others
    /// start later with [`PbCluster::start`]).
    fn new(seed: u64, servers: u32, up: &[u32]) -> Self;
    /// Adds a clerk with a unique identity drawn from the run's generator.
    fn clerk(&mut self) -> ClientId;
    /// Adds a client pinned to server `to`. Start its operations with `sim.invoke`: they are not
    /// recorded, because it bypasses the clerk's view of who is primary.
    fn raw_client(&mut self, to: u32) -> ClientId;
    /// Starts (or restarts) server `i`, fresh and empty (SPEC §1.6).
    fn start(&mut self, i: u32);
    /// Kills server `i`.
    fn kill(&mut self, i: u32);
    /// The view service's current view.
    fn view(&self) -> View;
    /// Requests the view service has handled.
    fn vs_rpc_count(&self) -> u64;
    /// Runs until the view satisfies `cond`, for at most `intervals` ping intervals.
    ///
    /// # Errors
    /// If it does not by then; `what` names the wait.
    fn wait_view(
        &mut self,
        intervals: u64,
        what: &str,
        cond: impl Fn(&View) -> bool,
    ) -> Result<(), String>;
}

impl PbCluster for Pb {
    fn new(seed: u64, servers: u32, up: &[u32]) -> Self {
        let config = SimConfig {
            tick_us: INTERVAL_US,
            ..SimConfig::new(seed)
        };
        let mut sim = Sim::new(config, PbNode::cluster(servers));
        // SPEC §1.2: only the servers have an unreliable mode, never the view service.
        sim.set_unreliable_at(VIEW_SERVICE_ID, false);
        for i in 1..=servers {
            if !up.contains(&i) {
                sim.kill(NodeId(i));
            }
        }
        Pb::from_sim(sim, describe)
    }

    fn clerk(&mut self) -> ClientId {
        let id = self.sim.rng().below(1 << 62);
        self.sim.add_client(TestClient::Clerk(Clerk::new(id, VS)))
    }

    fn raw_client(&mut self, to: u32) -> ClientId {
        self.sim
            .add_client(TestClient::Raw(RawClient::new(NodeId(to))))
    }

    fn start(&mut self, i: u32) {
        let id = NodeId(i);
        self.sim.restart(id, move |_| PbNode::fresh_server(id));
    }

    fn kill(&mut self, i: u32) {
        self.sim.kill(NodeId(i));
    }

    fn view(&self) -> View {
        view_service(&self.sim).view()
    }

    fn vs_rpc_count(&self) -> u64 {
        view_service(&self.sim).rpc_count()
    }

    fn wait_view(
        &mut self,
        intervals: u64,
        what: &str,
        cond: impl Fn(&View) -> bool,
    ) -> Result<(), String> {
        let deadline = self.sim.now_us() + intervals * INTERVAL_US;
        let result = self.sim.run_until(deadline, |s| {
            let view = s
                .node(VS)
                .and_then(PbNode::view_service)
                .map(|vs| vs.view());
            view.as_ref().is_some_and(&cond)
        });
        result.map_err(|e| format!("{what}: {e}; {}", self.describe()))
    }
}

/// Node 0, which is always the view service and never killed.
fn view_service(sim: &Sim<PbNode, TestClient>) -> &viewservice::ViewService {
    sim.node(VS)
        .and_then(PbNode::view_service)
        .expect("node 0 is the view service")
}

/// The view service's view and each server's view of itself, for failure messages.
fn describe(sim: &Sim<PbNode, TestClient>) -> String {
    let vs = view_service(sim);
    let mut text = format!("view service: {} (acked: {})", vs.view(), vs.is_acked());
    for id in sim.node_ids().skip(1) {
        match sim.node(id).and_then(PbNode::server) {
            Some(r) => text.push_str(&format!(
                "; {id}: view {}, serving {}",
                r.view(),
                r.is_serving()
            )),
            None => text.push_str(&format!("; {id}: down")),
        }
    }
    text
}
