//! Helpers shared by the primary/backup scenarios: a simulated service (view service = node 0,
//! servers 1..), clerks whose every operation is recorded in a history for the
//! linearizability checker, and the original suite's `check` / `checkAppends`.

use check::{Budget, History, KvInput, KvOutput, OpId, check_kv};
use pbservice::{Clerk, Op, PbError, PbNode, PbRequest, PbResponse};
use rpc::{Client, ClientEffect, ClientId, ClientOutbox, NodeId};
use sim::{Sim, SimConfig};
use std::collections::BTreeMap;
use viewservice::{VIEW_SERVICE_ID, View};

/// One second of virtual time.
pub const SECOND_US: u64 = 1_000_000;
/// SPEC §11 PingInterval: the tick of every node and clerk here.
pub const INTERVAL_US: u64 = 100_000;
/// How long a clerk operation may take before the scenario fails as a liveness bug. Generous:
/// a fail-over costs DeadPings intervals plus a state transfer.
pub const OP_US_MAX: u64 = 10 * SECOND_US;
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
        ClientEffect::Complete(value) => ClientEffect::Complete(Ok(value)),
    }));
}

/// A simulated primary/backup service with its recorded history.
pub struct Pb {
    /// The simulator.
    pub sim: Sim<PbNode, TestClient>,
    /// Every clerk operation, for the checker.
    pub history: History,
    pending: Vec<Option<(OpId, Op)>>,
    /// Operations started per client by [`Pb::drive_for`].
    counts: BTreeMap<u64, u64>,
}

/// `Put(key, value)`.
pub fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.into(),
    }
}

/// `Append(key, value)`.
pub fn append(key: &str, value: &str) -> Op {
    Op::Append {
        key: key.into(),
        value: value.into(),
    }
}

/// `Get(key)`.
pub fn get(key: &str) -> Op {
    Op::Get { key: key.into() }
}

fn input(op: &Op) -> KvInput {
    match op {
        Op::Get { key } => KvInput::get(key.clone()),
        Op::Put { key, value } => KvInput::put(key.clone(), value.clone()),
        Op::Append { key, value } => KvInput::append(key.clone(), value.clone()),
    }
}

impl Pb {
    /// The view service and `servers` servers; only those in `up` are started (the others
    /// start later with [`Pb::start`]).
    pub fn new(seed: u64, servers: u32, up: &[u32]) -> Self {
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
        Pb {
            sim,
            history: History::new(),
            pending: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Adds a clerk with a unique identity drawn from the run's generator.
    pub fn clerk(&mut self) -> ClientId {
        let id = self.sim.rng().below(1 << 62);
        self.add(TestClient::Clerk(Clerk::new(id, VS)))
    }

    /// Adds a client pinned to server `to` (its operations are not recorded).
    pub fn raw_client(&mut self, to: u32) -> ClientId {
        self.add(TestClient::Raw(RawClient::new(NodeId(to))))
    }

    fn add(&mut self, client: TestClient) -> ClientId {
        let id = self.sim.add_client(client);
        self.pending.resize(id.0 as usize + 1, None);
        id
    }

    /// Starts (or restarts) server `i`, fresh and empty (SPEC §1.6).
    pub fn start(&mut self, i: u32) {
        let id = NodeId(i);
        self.sim.restart(id, move |_| PbNode::fresh_server(id));
    }

    /// Kills server `i`.
    pub fn kill(&mut self, i: u32) {
        self.sim.kill(NodeId(i));
    }

    /// The view service's current view.
    pub fn view(&self) -> View {
        self.sim
            .node(VS)
            .and_then(PbNode::view_service)
            .expect("node 0 is the view service")
            .view()
    }

    /// Requests the view service has handled.
    pub fn vs_rpc_count(&self) -> u64 {
        self.sim
            .node(VS)
            .and_then(PbNode::view_service)
            .expect("node 0 is the view service")
            .rpc_count()
    }

    /// Runs `us` of virtual time.
    pub fn run_for(&mut self, us: u64) -> Result<(), String> {
        self.sim.run_for(us).map_err(|e| e.to_string())
    }

    /// Runs until the view satisfies `cond`, for at most `intervals` ping intervals.
    pub fn wait_view(
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

    /// Starts `op` on clerk `c` and records its invocation.
    pub fn invoke(&mut self, c: ClientId, op: Op) {
        let now = self.sim.now_us();
        let id = self.history.invoke(c.0, input(&op), now);
        self.pending[c.0 as usize] = Some((id, op.clone()));
        self.sim.invoke(c, op);
    }

    /// Takes clerk `c`'s finished operation, records it, and returns its result.
    pub fn take(&mut self, c: ClientId) -> Option<Result<String, PbError>> {
        let done = self.sim.take_completion(c)?;
        if let (Some((id, op)), Ok(value)) = (self.pending[c.0 as usize].take(), &done.output) {
            let output = match op {
                Op::Get { .. } => KvOutput::value(value.clone()),
                _ => KvOutput::Ok,
            };
            self.history.complete(id, output, done.completed_at_us);
        }
        Some(done.output)
    }

    /// Runs `op` on clerk `c` to completion; fails if it takes more than [`OP_US_MAX`].
    pub fn op(&mut self, c: ClientId, op: Op) -> Result<String, String> {
        let what = format!("{op:?}");
        self.invoke(c, op);
        let deadline = self.sim.now_us() + OP_US_MAX;
        self.sim
            .run_until(deadline, |s| s.is_idle(c))
            .map_err(|e| format!("{what} did not complete: {e}; {}", self.describe()))?;
        match self.take(c).expect("idle after invoke") {
            Ok(value) => Ok(value),
            Err(e) => Err(format!("{what}: {e}")),
        }
    }

    /// The handout's `check(ck, key, value)`: a Get through clerk `c` returns `value`.
    pub fn check(&mut self, c: ClientId, key: &str, value: &str) -> Result<(), String> {
        let got = self.op(c, get(key))?;
        if got == value {
            Ok(())
        } else {
            Err(format!("Get({key:?}) = {got:?}, expected {value:?}"))
        }
    }

    /// Runs concurrent clerks until virtual time `until_us`: each idle clerk of `clerks` takes
    /// its next operation from `next(index, n)` (n counts its operations so far, across calls),
    /// with `think_us` between one completion and the next invocation. Clerks still busy at
    /// `until_us` stay busy. Ends early once no clerk has anything left to do.
    pub fn drive_for(
        &mut self,
        clerks: &[ClientId],
        until_us: u64,
        think_us: u64,
        next: &mut impl FnMut(&mut Self, usize, u64) -> Option<Op>,
    ) -> Result<(), String> {
        while self.sim.now_us() < until_us {
            for (i, &c) in clerks.iter().enumerate() {
                if !self.sim.is_idle(c) {
                    continue;
                }
                self.take(c);
                let n = self.counts.get(&c.0).copied().unwrap_or(0);
                if let Some(op) = next(self, i, n) {
                    self.counts.insert(c.0, n + 1);
                    self.invoke(c, op);
                }
            }
            if clerks.iter().all(|&c| self.sim.is_idle(c)) {
                return Ok(());
            }
            self.run_for(think_us.min(until_us - self.sim.now_us()).max(1))?;
        }
        Ok(())
    }

    /// [`Pb::drive_for`], then waits until every clerk finished its operation in flight
    /// (failing after [`OP_US_MAX`]).
    pub fn drive(
        &mut self,
        clerks: &[ClientId],
        until_us: u64,
        think_us: u64,
        mut next: impl FnMut(&mut Self, usize, u64) -> Option<Op>,
    ) -> Result<(), String> {
        self.drive_for(clerks, until_us, think_us, &mut next)?;
        let deadline = self.sim.now_us() + OP_US_MAX;
        self.sim
            .run_until(deadline, |s| clerks.iter().all(|&c| s.is_idle(c)))
            .map_err(|e| format!("clerks did not finish: {e}; {}", self.describe()))?;
        for &c in clerks {
            self.take(c);
        }
        Ok(())
    }

    /// The view service's view and each server's view of itself, for failure messages.
    pub fn describe(&self) -> String {
        let mut text = format!("view service: {} (acked: {})", self.view(), self.acked());
        for id in self.sim.node_ids().skip(1) {
            match self.sim.node(id).and_then(PbNode::server) {
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

    fn acked(&self) -> bool {
        self.sim
            .node(VS)
            .and_then(PbNode::view_service)
            .is_some_and(|vs| vs.is_acked())
    }

    /// Checks the whole recorded history with the linearizability checker.
    pub fn check_linearizable(&self) -> Result<(), String> {
        let outcome = check_kv(&self.history, Budget::default());
        if outcome.is_linearizable() {
            Ok(())
        } else {
            Err(format!("{outcome}"))
        }
    }
}

/// The handout's `checkAppends`: every element `x <client> <n> y`, n < counts[client], appears
/// exactly once, in each client's order.
pub fn check_appends(value: &str, counts: &[u64]) -> Result<(), String> {
    for (c, &count) in counts.iter().enumerate() {
        let mut last = None;
        for n in 0..count {
            let wanted = format!("x {c} {n} y");
            let Some(at) = value.find(&wanted) else {
                return Err(format!("missing element {wanted:?}"));
            };
            if value[at + wanted.len()..].contains(&wanted) {
                return Err(format!("duplicate element {wanted:?}"));
            }
            if last.is_some_and(|l| at < l) {
                return Err(format!("element {wanted:?} out of order"));
            }
            last = Some(at);
        }
    }
    Ok(())
}

/// Builds the `Err` of a scenario check with the observed values.
pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}
