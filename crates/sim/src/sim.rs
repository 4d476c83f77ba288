//! The simulator: state, construction, accessors and the run loop. Arrivals are in
//! [`crate::deliver`], effects and sending in [`crate::transmit`], fault verbs in
//! [`crate::faults`].

use crate::client::{ClientSlot, Completion, NoClient};
use crate::config::SimConfig;
use crate::disk::SimDisk;
use crate::error::{SimError, fmt_us};
use crate::net::Reach;
use crate::queue::EventQueue;
use crate::stats::{NetStats, NodeStats};
use crate::trace::{Endpoint, Kind, Trace};
use rpc::{Client, ClientId, ClientOutbox, DiskImage, Node, NodeId, NodeOutbox, ReqId, Rng};
use std::collections::BTreeMap;

/// A per-node check run after every event the node handles; `Err` stops the run.
pub type Invariant<N> = Box<dyn FnMut(NodeId, &N) -> Result<(), String>>;

/// Whether a node is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Running and reachable (unless partitioned or deaf).
    Up,
    /// Crashed (power loss), or stopped by a disk I/O error ([`Sim::fail_disk`]), which the
    /// simulator treats as a crash; [`Sim::restart`] brings it back from its synced disk.
    Crashed,
    /// Cleanly stopped (SPEC §1.6 `kill`).
    Killed,
}

/// A scheduled input. Messages carry the incarnation (process number) of their destination at
/// send time: one that arrives after the destination crashed, even if it has restarted since,
/// was addressed to a process that no longer exists and is dropped.
pub(crate) enum Event<M, Q, R> {
    Tick {
        node: NodeId,
        incarnation: u32,
    },
    ClientTick {
        client: ClientId,
    },
    Peer(PeerMsg<M>),
    Request {
        client: ClientId,
        to: NodeId,
        to_incarnation: u32,
        /// Sent by address: the answer arrives from [`NodeId::EXTERNAL`].
        by_address: bool,
        req: Q,
    },
    Reply {
        from: NodeId,
        client: ClientId,
        resp: R,
    },
}

/// A peer message in flight: a `Send` or a `Respond`.
pub(crate) struct PeerMsg<M> {
    pub(crate) from: NodeId,
    pub(crate) from_incarnation: u32,
    pub(crate) to: NodeId,
    pub(crate) to_incarnation: u32,
    /// True for a `Respond` (an answer), false for a `Send` (a request-like message).
    pub(crate) respond: bool,
    /// Sent by address ([`rpc::Effect::SendTo`]): the receiver sees it from
    /// [`NodeId::EXTERNAL`], as over TCP, where a message by address names no sender.
    pub(crate) by_address: bool,
    pub(crate) msg: M,
}

/// One server node: its core while it runs, its disk always.
pub(crate) struct NodeSlot<N> {
    pub(crate) node: Option<N>,
    pub(crate) status: NodeStatus,
    /// Bumped each time the node goes down, so messages and ticks meant for an earlier process
    /// are recognised on arrival.
    pub(crate) incarnation: u32,
    pub(crate) disk: SimDisk,
    /// Disk errors armed by [`Sim::fail_disk`], waiting for the operation they fail. They belong
    /// to the disk, not the process, so they stay armed across crashes and restarts.
    pub(crate) armed: ArmedDiskFaults,
    pub(crate) stats: NodeStats,
}

/// Which one-shot disk errors are armed on a node.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ArmedDiskFaults {
    pub(crate) sync: bool,
    pub(crate) write: bool,
}

/// A client request a node has not answered yet: where its reply must go.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingRequest {
    pub(crate) client: ClientId,
    pub(crate) node: NodeId,
    pub(crate) incarnation: u32,
    /// Unreliable mode decided the reply is lost (SPEC §1.2 step 2).
    pub(crate) reply_lost: bool,
    /// The request came by address: its answer arrives from [`NodeId::EXTERNAL`].
    pub(crate) by_address: bool,
}

/// The deterministic simulator. See the crate documentation for the model.
pub struct Sim<N: Node, C: Client<Req = N::Req, Resp = N::Resp> = NoClient<N>> {
    pub(crate) config: SimConfig,
    pub(crate) now_us: u64,
    pub(crate) steps: u64,
    pub(crate) rng: Rng,
    pub(crate) queue: EventQueue<Event<N::Msg, N::Req, N::Resp>>,
    pub(crate) nodes: Vec<NodeSlot<N>>,
    pub(crate) clients: Vec<ClientSlot<C>>,
    pub(crate) reach: Reach,
    /// Per-node exceptions to [`FaultConfig::unreliable`](crate::FaultConfig::unreliable): in the
    /// 2015 labs each server had its own `setunreliable`, and some (the view service) none.
    pub(crate) unreliable_at: BTreeMap<NodeId, bool>,
    /// Client requests delivered and not yet answered, oldest first (ids only grow).
    pub(crate) requests: BTreeMap<ReqId, PendingRequest>,
    pub(crate) req_next: u64,
    pub(crate) net: NetStats,
    pub(crate) trace: Trace,
    /// Reused for every node input, so handling an event allocates nothing in steady state.
    pub(crate) node_out: NodeOutbox<N>,
    pub(crate) client_out: ClientOutbox<C>,
    pub(crate) invariant: Option<Invariant<N>>,
    /// The nodes named by address ([`Sim::set_address`]), for messages and requests sent by
    /// address.
    pub(crate) addresses: BTreeMap<String, NodeId>,
    /// The first failure; once set, the run is over and every later step reports it again.
    pub(crate) failure: Option<SimError>,
}

impl<N: Node, C: Client<Req = N::Req, Resp = N::Resp>> Sim<N, C> {
    /// A simulation of `nodes` (node `i` is `NodeId(i)`) with no clients yet. Each node's ticks
    /// start at a random phase within the first tick interval.
    ///
    /// If the environment has `SIM_TRACE=1`, every event is also printed to stderr.
    ///
    /// # Panics
    /// If the config is invalid (see [`SimConfig::validate`]).
    pub fn new(config: SimConfig, nodes: Vec<N>) -> Self {
        config.validate();
        let print = std::env::var("SIM_TRACE").is_ok_and(|v| v == "1");
        let mut sim = Sim {
            now_us: 0,
            steps: 0,
            rng: Rng::new(config.seed),
            queue: EventQueue::new(),
            nodes: Vec::with_capacity(nodes.len()),
            clients: Vec::new(),
            reach: Reach::new(nodes.len()),
            unreliable_at: BTreeMap::new(),
            requests: BTreeMap::new(),
            req_next: 0,
            net: NetStats::default(),
            trace: Trace::new(print),
            node_out: NodeOutbox::<N>::new(),
            client_out: Vec::new(),
            invariant: None,
            addresses: BTreeMap::new(),
            failure: None,
            config,
        };
        for (index, node) in nodes.into_iter().enumerate() {
            let id = NodeId(u32::try_from(index).expect("fewer than 2^32 nodes"));
            sim.nodes.push(NodeSlot {
                node: Some(node),
                status: NodeStatus::Up,
                incarnation: 0,
                disk: SimDisk::new(),
                armed: ArmedDiskFaults::default(),
                stats: NodeStats::default(),
            });
            sim.schedule_first_tick(id);
        }
        sim
    }

    pub(crate) fn schedule_first_tick(&mut self, id: NodeId) {
        let phase = self.rng.below(self.config.tick_us);
        let incarnation = self.nodes[id.index()].incarnation;
        self.queue.push(
            self.now_us + phase,
            Event::Tick {
                node: id,
                incarnation,
            },
        );
    }

    /// Adds a client; its ticks start at a random phase within the next tick interval.
    pub fn add_client(&mut self, client: C) -> ClientId {
        let id = ClientId(self.clients.len() as u64);
        self.clients.push(ClientSlot::new(client));
        let phase = self.rng.below(self.config.tick_us);
        self.queue
            .push(self.now_us + phase, Event::ClientTick { client: id });
        id
    }

    /// Installs a check run on a node after every event it handles (and after [`Sim::call`]).
    /// The first `Err` stops the run: every later step returns [`SimError::Invariant`].
    pub fn set_invariant(&mut self, check: impl FnMut(NodeId, &N) -> Result<(), String> + 'static) {
        self.invariant = Some(Box::new(check));
    }

    /// The run seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Virtual time now, in microseconds since the start of the run.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The configuration the run was built with (faults as they were at the start).
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Events run so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The simulator's generator. A test that draws its workload from it keeps the whole run a
    /// function of the one seed.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The running hash of every event so far: equal for two runs iff (with overwhelming
    /// probability) they saw the same events in the same order at the same instants.
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    /// How many events the trace has recorded (deliveries, ticks, drops, calls, faults).
    pub fn trace_events(&self) -> u64 {
        self.trace.events()
    }

    /// Events scheduled and not yet run: messages in flight and the next ticks.
    pub fn events_pending(&self) -> usize {
        self.queue.len()
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every node id, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + use<N, C> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    /// Whether node `id` is up, crashed or killed.
    pub fn status(&self, id: NodeId) -> NodeStatus {
        self.slot(id).status
    }

    /// True if node `id` is running.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.status(id) == NodeStatus::Up
    }

    /// The core of node `id`, or `None` while it is crashed or killed.
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.slot(id).node.as_ref()
    }

    /// The durable files of node `id`: what a restart would read.
    pub fn disk(&self, id: NodeId) -> &DiskImage {
        self.slot(id).disk.durable()
    }

    /// Bytes of durable file content on node `id`.
    pub fn disk_bytes(&self, id: NodeId) -> u64 {
        self.slot(id).disk.durable_bytes()
    }

    /// Writes and removals on node `id` still waiting for a sync.
    pub fn disk_pending(&self, id: NodeId) -> usize {
        self.slot(id).disk.pending_len()
    }

    /// What node `id` received, and what addressed to it was dropped.
    pub fn stats(&self, id: NodeId) -> &NodeStats {
        &self.slot(id).stats
    }

    /// Network-wide message counts.
    pub fn net_stats(&self) -> &NetStats {
        &self.net
    }

    pub(crate) fn slot(&self, id: NodeId) -> &NodeSlot<N> {
        self.nodes
            .get(id.index())
            .unwrap_or_else(|| panic!("unknown node {id}"))
    }

    /// Names node `id` by `addr`, so that messages and requests sent to that address reach it
    /// (what a configuration lists as a server's `host:port`). A node has one address:
    /// naming it again replaces the old one.
    ///
    /// # Panics
    /// If `id` is not a node, or another node already has `addr`.
    pub fn set_address(&mut self, id: NodeId, addr: impl Into<String>) {
        let addr = addr.into();
        assert!(
            id.index() < self.nodes.len(),
            "set_address: unknown node {id}"
        );
        if let Some(other) = self.addresses.get(&addr) {
            assert_eq!(
                *other, id,
                "set_address: {addr:?} is node {other}'s already"
            );
        }
        self.addresses.retain(|_, node| *node != id);
        self.addresses.insert(addr, id);
    }

    /// The node named `addr`, if any.
    pub fn node_at(&self, addr: &str) -> Option<NodeId> {
        self.addresses.get(addr).copied()
    }

    /// The client core `id`, for inspection.
    pub fn client(&self, id: ClientId) -> &C {
        &self.client_slot(id).client
    }

    pub(crate) fn client_slot(&self, id: ClientId) -> &ClientSlot<C> {
        self.clients
            .get(id.0 as usize)
            .unwrap_or_else(|| panic!("unknown client {id}"))
    }

    /// True if client `id` has no operation in flight.
    pub fn is_idle(&self, id: ClientId) -> bool {
        self.client_slot(id).invoked_at_us.is_none()
    }

    /// Takes the result of client `id`'s last finished operation, if it has not been taken yet.
    pub fn take_completion(&mut self, id: ClientId) -> Option<Completion<C::Output>> {
        self.client_slot(id);
        self.clients[id.0 as usize].completion.take()
    }

    /// Runs `f` on node `id`'s core now (the way a test calls a core's local API, such as Paxos
    /// `start`/`status`), then carries out the effects it produced and runs the invariant.
    ///
    /// # Panics
    /// If the node is down.
    pub fn call<T>(&mut self, id: NodeId, f: impl FnOnce(&mut N, &mut NodeOutbox<N>) -> T) -> T {
        assert!(
            self.is_up(id),
            "call: node {id} is {:?}, not up",
            self.status(id)
        );
        self.trace.record(
            self.now_us,
            Kind::Call,
            None,
            Some(Endpoint::Node(id)),
            None,
        );
        let node = self.nodes[id.index()]
            .node
            .as_mut()
            .expect("an up node has a core");
        let result = f(node, &mut self.node_out);
        self.apply_node_effects(id, None);
        // A failure is remembered and reported by the next step or run.
        let _ = self.check_invariant(id);
        result
    }

    /// Starts `op` on client `id` now.
    ///
    /// # Panics
    /// If the client has an operation in flight, or the result of its last one was not taken
    /// (both would lose a result a test meant to check).
    pub fn invoke(&mut self, id: ClientId, op: C::Op) {
        let slot = self.client_slot(id);
        assert!(
            slot.invoked_at_us.is_none(),
            "invoke: client {id} already has an operation in flight"
        );
        assert!(
            slot.completion.is_none(),
            "invoke: take client {id}'s last completion first"
        );
        self.trace.record(
            self.now_us,
            Kind::Invoke,
            Some(Endpoint::Client(id)),
            None,
            Some(&op),
        );
        let slot = &mut self.clients[id.0 as usize];
        slot.invoked_at_us = Some(self.now_us);
        slot.client.invoke(op, &mut self.client_out);
        self.apply_client_effects(id);
    }

    /// Invokes `op` on client `id`, runs until it completes, and returns its completion.
    ///
    /// # Errors
    /// [`SimError::Liveness`] if it has not completed within `budget_us` of virtual time, or any
    /// failure the run meets on the way.
    pub fn run_op(
        &mut self,
        id: ClientId,
        op: C::Op,
        budget_us: u64,
    ) -> Result<Completion<C::Output>, SimError> {
        self.invoke(id, op);
        self.run_until(self.now_us.saturating_add(budget_us), |sim| sim.is_idle(id))?;
        Ok(self
            .take_completion(id)
            .expect("an idle client after invoke has a completion"))
    }

    /// Runs one event. Returns `Ok(false)` if nothing is left to run (no node up, no client).
    ///
    /// # Errors
    /// The run's failure: an invariant that failed, or a hard cap of the config reached.
    pub fn step(&mut self) -> Result<bool, SimError> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        if self.steps >= self.config.steps_max {
            return Err(self.fail_liveness(format!(
                "hard cap of {} events per run reached",
                self.config.steps_max
            )));
        }
        let Some((at_us, event)) = self.queue.pop() else {
            return Ok(false);
        };
        assert!(
            at_us >= self.now_us,
            "event at {at_us} us is before now {} us",
            self.now_us
        );
        if at_us > self.config.time_us_max {
            self.now_us = self.config.time_us_max;
            return Err(self.fail_liveness(format!(
                "hard cap of {} virtual time per run reached",
                fmt_us(self.config.time_us_max)
            )));
        }
        self.now_us = at_us;
        self.steps += 1;
        if let Some(node) = self.dispatch(event) {
            self.check_invariant(node)?;
        }
        Ok(true)
    }

    /// Runs every event up to and including `now + duration_us`; afterwards `now_us()` is exactly
    /// that instant.
    ///
    /// # Errors
    /// As [`Sim::step`].
    pub fn run_for(&mut self, duration_us: u64) -> Result<(), SimError> {
        let until_us = self.now_us.saturating_add(duration_us);
        while self.queue.peek_time().is_some_and(|at| at <= until_us) {
            self.step()?;
        }
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        self.now_us = self.now_us.max(until_us.min(self.config.time_us_max));
        Ok(())
    }

    /// Runs until `done` holds (checked before each event), but not past virtual time
    /// `deadline_us` (an instant, not a duration: `sim.now_us() + 5_000_000` waits 5 s).
    ///
    /// # Errors
    /// [`SimError::Liveness`] if `done` still does not hold at the deadline: the run is bounded,
    /// so a protocol that never gets there fails instead of hanging. The run may go on after
    /// that error (virtual time is then at the deadline). Also as [`Sim::step`].
    pub fn run_until(
        &mut self,
        deadline_us: u64,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> Result<(), SimError> {
        let start_us = self.now_us;
        loop {
            if done(self) {
                return Ok(());
            }
            if self.queue.peek_time().is_none_or(|at| at > deadline_us) {
                self.now_us = self.now_us.max(deadline_us.min(self.config.time_us_max));
                // Not remembered as the run's failure: a test may expect the wait to fail
                // (SPEC §9.3 Test5RejoinMix1: "a Get must NOT succeed within 3 s") and go on.
                return Err(self.liveness(format!(
                    "condition not met by the deadline {} (waited {} from {})",
                    fmt_us(deadline_us),
                    fmt_us(deadline_us.saturating_sub(start_us)),
                    fmt_us(start_us)
                )));
            }
            self.step()?;
        }
    }

    fn liveness(&self, what: String) -> SimError {
        SimError::Liveness {
            seed: self.config.seed,
            now_us: self.now_us,
            what,
        }
    }

    /// A hard cap was reached: the run is over for good.
    fn fail_liveness(&mut self, what: String) -> SimError {
        let error = self.liveness(what);
        self.failure = Some(error.clone());
        error
    }

    pub(crate) fn check_invariant(&mut self, id: NodeId) -> Result<(), SimError> {
        let (Some(check), Some(node)) = (
            self.invariant.as_mut(),
            self.nodes[id.index()].node.as_ref(),
        ) else {
            return Ok(());
        };
        match check(id, node) {
            Ok(()) => Ok(()),
            Err(msg) => {
                let error = SimError::Invariant {
                    seed: self.config.seed,
                    now_us: self.now_us,
                    node: id,
                    msg,
                };
                self.failure = Some(error.clone());
                Err(error)
            }
        }
    }
}
