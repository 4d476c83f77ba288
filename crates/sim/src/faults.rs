//! Fault verbs (turmoil style): each takes effect at the current virtual instant and is recorded
//! in the trace, so a replay applies it at the same point.

use crate::config::{DiskFaultConfig, FaultConfig};
use crate::sim::{NodeStatus, Sim};
use crate::trace::{Endpoint, Kind};
use rpc::{Client, ClientId, DiskImage, Node, NodeId};
use std::fmt::Debug;

/// A disk operation that an injected I/O error makes fail ([`Sim::fail_disk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// The next `Sync`: fsync returns EIO. After a failed fsync the state of the page cache is
    /// unknown (PostgreSQL's "fsyncgate": the kernel may have dropped the dirty pages and marked
    /// them clean), so a driver can neither retry nor go on.
    Sync,
    /// The next `Write` or `Append`: the disk is full, or EIO.
    Write,
}

impl<N: Node, C: Client<Req = N::Req, Resp = N::Resp>> Sim<N, C> {
    fn record_fault(&mut self, node: Option<NodeId>, what: &dyn Debug) {
        self.trace.record(
            self.now_us,
            Kind::Fault,
            None,
            node.map(Endpoint::Node),
            Some(what),
        );
        tracing::debug!(seed = self.config.seed, now_us = self.now_us, fault = ?what, "fault");
    }

    fn assert_known(&self, id: NodeId) {
        assert!(id.index() < self.nodes.len(), "unknown node {id}");
    }

    /// Splits the servers into `groups` (SPEC §1.3 `part`): two servers can talk iff they are in
    /// the same group, and servers in no group are isolated. Replaces any earlier partition and
    /// keeps one-way cuts. Client↔server traffic is not affected.
    ///
    /// # Panics
    /// If a node is unknown or in two groups.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        self.reach.partition(groups);
        self.record_fault(None, &format_args!("partition {groups:?}"));
    }

    /// Reconnects every server to every other: removes the partition and all one-way cuts.
    /// Deafness and client cuts stay; they have their own verbs.
    pub fn heal(&mut self) {
        self.reach.heal();
        self.record_fault(None, &"heal");
    }

    /// Cuts messages from `from` to `to` only; `to` can still reach `from`.
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.assert_known(from);
        self.assert_known(to);
        self.reach.set_cut(from, to, true);
        self.record_fault(Some(to), &format_args!("cut {from}->{to}"));
    }

    /// Removes a one-way cut made by [`Sim::cut`].
    pub fn uncut(&mut self, from: NodeId, to: NodeId) {
        self.assert_known(from);
        self.assert_known(to);
        self.reach.set_cut(from, to, false);
        self.record_fault(Some(to), &format_args!("uncut {from}->{to}"));
    }

    /// Makes `id` deaf (SPEC §1.4): no peer or client can reach it, but it keeps running, can
    /// send, and receives the answers to what it sends.
    pub fn deafen(&mut self, id: NodeId) {
        self.assert_known(id);
        self.reach.set_deaf(id, true);
        self.record_fault(Some(id), &"deafen");
    }

    /// Makes `id` reachable again.
    pub fn undeafen(&mut self, id: NodeId) {
        self.assert_known(id);
        self.reach.set_deaf(id, false);
        self.record_fault(Some(id), &"undeafen");
    }

    /// Cuts client `client` off from server `node`, both ways (as SPEC §1.4 `TestFreshQuery`
    /// hides a server from all clerks but one). Clients are otherwise never partitioned.
    pub fn cut_client(&mut self, client: ClientId, node: NodeId) {
        self.client_slot(client);
        self.assert_known(node);
        self.reach.set_client_cut(client, node, true);
        self.record_fault(Some(node), &format_args!("cut_client {client}"));
    }

    /// Removes a cut made by [`Sim::cut_client`].
    pub fn uncut_client(&mut self, client: ClientId, node: NodeId) {
        self.reach.set_client_cut(client, node, false);
        self.record_fault(Some(node), &format_args!("uncut_client {client}"));
    }

    /// Removes every client cut.
    pub fn heal_clients(&mut self) {
        self.reach.heal_clients();
        self.record_fault(None, &"heal_clients");
    }

    /// Turns SPEC §1.2 unreliable mode on or off for every node without its own setting
    /// ([`Sim::set_unreliable_at`]), keeping the other faults.
    pub fn set_unreliable(&mut self, unreliable: bool) {
        self.config.faults.unreliable = unreliable;
        self.record_fault(None, &format_args!("unreliable {unreliable}"));
    }

    /// Gives node `id` its own SPEC §1.2 unreliable setting, which overrides
    /// [`Sim::set_unreliable`] from now on. The draw is taken where a request arrives, so this
    /// decides the fate of requests *to* `id`, as each 2015 server's own `setunreliable` did
    /// (the view service had none: `set_unreliable_at(view_service, false)`).
    pub fn set_unreliable_at(&mut self, id: NodeId, unreliable: bool) {
        self.unreliable_at.insert(id, unreliable);
        self.record_fault(Some(id), &format_args!("unreliable {unreliable}"));
    }

    /// Replaces the network faults in force.
    ///
    /// # Panics
    /// If a probability is outside `0..=1`.
    pub fn set_faults(&mut self, faults: FaultConfig) {
        faults.validate();
        self.record_fault(None, &faults);
        self.config.faults = faults;
    }

    /// The network faults in force.
    pub fn faults(&self) -> &FaultConfig {
        &self.config.faults
    }

    /// Replaces the random disk errors in force (the network faults stay).
    ///
    /// # Panics
    /// If a probability is outside `0..=1`.
    pub fn set_disk_faults(&mut self, disk_faults: DiskFaultConfig) {
        disk_faults.validate();
        self.record_fault(None, &disk_faults);
        self.config.disk_faults = disk_faults;
    }

    /// The random disk errors in force.
    pub fn disk_faults(&self) -> &DiskFaultConfig {
        &self.config.disk_faults
    }

    /// Arms a disk I/O error on node `id`: its next operation of kind `what` fails. The node then
    /// stops at that effect, as the TCP runtime stops a node whose disk fails, and as a crash
    /// would:
    /// * nothing after the failed effect in that input is carried out: no message, answer or
    ///   reply it produced later leaves, so nothing promised on the strength of the failed
    ///   `Sync` is ever seen (what came before it has already left, as the contract allows);
    /// * its disk keeps what a crash keeps ([`Sim::crash`]): everything synced before, and of
    ///   the unsynced changes, the failed `Write`/`Append` included, what [`SimDisk`](crate::SimDisk)'s
    ///   crash rule draws (a failed `Append` may be kept in part: a short write);
    /// * it is [`NodeStatus::Crashed`] until a test calls [`Sim::restart`]; its ticks stop and
    ///   messages to its old process are dropped.
    ///
    /// The error is counted in [`NodeStats::disk_errors`](crate::NodeStats::disk_errors) and
    /// recorded in the trace. It belongs to the disk, not the process: it stays armed, across
    /// crashes and restarts, until such an operation happens. Arming it twice arms it once.
    /// [`DiskFaultConfig`] injects the same errors at random.
    ///
    /// The TCP runtime hands a turn's disk operations over in one batch per `Sync`, so it
    /// notices a failed `Write`/`Append` only at the next `Sync` (or the end of the input), and a
    /// message emitted in between may leave first; here the node stops at the write itself. A
    /// failed `Sync` after the write gives that other outcome, so between them both are tested.
    pub fn fail_disk(&mut self, id: NodeId, what: DiskFault) {
        self.assert_known(id);
        let armed = &mut self.nodes[id.index()].armed;
        match what {
            DiskFault::Sync => armed.sync = true,
            DiskFault::Write => armed.write = true,
        }
        self.record_fault(Some(id), &format_args!("fail_disk {what:?}"));
    }

    /// Decides whether node `id`'s disk operation of kind `what` fails now (armed by
    /// [`Sim::fail_disk`], or drawn from [`DiskFaultConfig`]), and if it does, stops the node.
    /// The caller must then carry out nothing more of the node's effects. A zero probability
    /// draws nothing, so runs without disk errors keep their random stream.
    pub(crate) fn disk_fails(&mut self, id: NodeId, what: DiskFault) -> bool {
        let armed = &mut self.nodes[id.index()].armed;
        let (armed, p) = match what {
            DiskFault::Sync => (&mut armed.sync, self.config.disk_faults.sync_error),
            DiskFault::Write => (&mut armed.write, self.config.disk_faults.write_error),
        };
        let fails = std::mem::take(armed) || self.rng.chance(p);
        if fails {
            self.stop_on_disk_error(id, what);
        }
        fails
    }

    fn stop_on_disk_error(&mut self, id: NodeId, what: DiskFault) {
        assert!(self.is_up(id), "disk error on node {id}, which is down");
        let slot = &mut self.nodes[id.index()];
        slot.stats.disk_errors += 1;
        slot.disk.crash(&mut self.rng);
        self.take_down(id, NodeStatus::Crashed);
        self.record_fault(
            Some(id),
            &format_args!("disk error: {what:?} failed; node stops"),
        );
    }

    /// Stops node `id` cleanly (SPEC §1.6 `kill`): its core is dropped, it handles nothing more
    /// and messages to it are lost. A clean stop closes its files, so writes not yet synced do
    /// reach the disk. Killing a node that is already down only marks it killed.
    pub fn kill(&mut self, id: NodeId) {
        self.assert_known(id);
        if self.is_up(id) {
            self.nodes[id.index()].disk.sync();
        }
        self.take_down(id, NodeStatus::Killed);
        self.record_fault(Some(id), &"kill");
    }

    /// Crashes node `id` (power loss, SPEC §12): its core is dropped, writes not yet synced are
    /// lost (of unsynced appends a seeded-random prefix survives, possibly with a torn last
    /// record: see [`SimDisk`](crate::SimDisk)), and messages in flight to it are dropped when they arrive, even after a restart.
    /// Crashing a node that is already down changes nothing but its status.
    pub fn crash(&mut self, id: NodeId) {
        self.assert_known(id);
        self.nodes[id.index()].disk.crash(&mut self.rng);
        self.take_down(id, NodeStatus::Crashed);
        self.record_fault(Some(id), &"crash");
    }

    /// Crashes node `id` and wipes its disk (SPEC §1.6 "lose disk": the directory is empty on
    /// restart). Works on a node that is already down too.
    pub fn crash_and_lose_disk(&mut self, id: NodeId) {
        self.assert_known(id);
        self.nodes[id.index()].disk.lose();
        self.take_down(id, NodeStatus::Crashed);
        self.record_fault(Some(id), &"crash_and_lose_disk");
    }

    fn take_down(&mut self, id: NodeId, status: NodeStatus) {
        let slot = &mut self.nodes[id.index()];
        if slot.node.take().is_some() {
            // A new process number: everything addressed to the old one is now undeliverable.
            slot.incarnation += 1;
        }
        slot.status = status;
        // Its unanswered client requests died with it; their replies can never come.
        self.requests.retain(|_, pending| pending.node != id);
    }

    /// Starts a new process for node `id`, built by `make` from the durable disk image (empty
    /// after a disk loss); SPEC §1.6 pbservice restarts ignore the disk and build a fresh server.
    /// Every file the previous process appended to first gains a seeded-random number of
    /// reserved zero bytes at its end, and the new process must truncate a file it found before
    /// it appends to it (see [`SimDisk`](crate::SimDisk), "Reserved space"). Its ticks restart at
    /// a random phase.
    ///
    /// # Panics
    /// If the node is up.
    pub fn restart(&mut self, id: NodeId, make: impl FnOnce(&DiskImage) -> N) {
        self.assert_known(id);
        assert!(
            !self.is_up(id),
            "restart: node {id} is up; crash or kill it first"
        );
        let slot = &mut self.nodes[id.index()];
        let padded = slot.disk.boot(&mut self.rng);
        slot.node = Some(make(slot.disk.durable()));
        slot.status = NodeStatus::Up;
        self.schedule_first_tick(id);
        if padded.is_empty() {
            self.record_fault(Some(id), &"restart");
        } else {
            self.record_fault(
                Some(id),
                &format_args!("restart; reserved zeros {padded:?}"),
            );
        }
    }
}
