//! The harness of the rsm simulation tests: a state machine that is not a key/value store (a
//! counter), its sequential model for the linearizability checker, and a simulated cluster of
//! `rsm::Replica<Counter>` with `rsm::Clerk<Counter>` clerks whose every operation is recorded.
//!
//! The counter is deliberately unlike the KV store: one shared value, commands that answer a
//! number, a snapshot that is a single integer. If the replication layer leaked anything of the
//! KV store into its cut, this would not compile or not pass.

use bytes::Bytes;
use check::{Budget, History, Model, OpId, Step};
use paxos::Seq;
use rpc::{ClientId, NodeId};
use rsm::clerk::SessionExpired;
use rsm::{Clerk, Config, Replica, RestoreError, StateMachine};
use serde::{Deserialize, Serialize};
use sim::{Sim, SimConfig};
use std::collections::BTreeMap;

/// One millisecond of virtual time.
pub const MS_US: u64 = 1_000;
/// One second of virtual time.
pub const SECOND_US: u64 = 1_000_000;
/// How long one clerk operation may take once a majority is reachable, before the scenario
/// fails as a liveness bug: a clerk retries every 100 ms, a leader change takes a few hundred.
pub const OP_US_MAX: u64 = 10 * SECOND_US;

/// A replicated counter: the state machine of these tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    total: u64,
}

impl Counter {
    /// The counter's value.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// A command of the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CounterCmd {
    /// Adds `n`; answers the new total.
    Add(u64),
    /// Answers the total.
    Read,
}

impl StateMachine for Counter {
    type Command = CounterCmd;
    type Output = u64;

    fn apply(&mut self, _slot: Seq, cmd: &CounterCmd) -> u64 {
        if let CounterCmd::Add(n) = cmd {
            // Saturating, like the model: a command from the log must never panic a replica.
            self.total = self.total.saturating_add(*n);
        }
        self.total
    }

    fn snapshot(&self) -> Bytes {
        Bytes::from(postcard::to_stdvec(self).expect("a counter always encodes"))
    }

    fn restore(bytes: &[u8]) -> Result<Self, RestoreError> {
        postcard::from_bytes(bytes).map_err(|e| RestoreError(e.to_string()))
    }

    fn retained_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// The counter's sequential specification, for `check::check`. The whole counter is one
/// partition: every operation touches the one value.
#[derive(Clone, Copy, Debug, Default)]
pub struct CounterModel;

impl Model for CounterModel {
    type State = u64;
    type Input = CounterCmd;
    type Output = u64;

    fn init(&self) -> u64 {
        0
    }

    fn step(&self, state: &u64, input: &CounterCmd, output: Option<&u64>) -> Step<u64> {
        match input {
            CounterCmd::Add(n) => {
                let next = state.saturating_add(*n);
                match output {
                    Some(seen) if *seen != next => Step::Illegal,
                    _ => Step::Next(next),
                }
            }
            CounterCmd::Read => match output {
                Some(seen) if seen != state => Step::Illegal,
                _ => Step::Unchanged,
            },
        }
    }

    fn partition(&self, _input: &CounterCmd) -> String {
        "counter".to_string()
    }

    fn is_read_only(&self, input: &CounterCmd) -> bool {
        matches!(input, CounterCmd::Read)
    }

    /// Adds only ever raise the total.
    fn may_reset(&self, _input: &CounterCmd) -> bool {
        false
    }

    /// A Read that answered less than the current total cannot come later: adds only raise it.
    fn may_grow_into(&self, state: &u64, input: &CounterCmd, output: &u64) -> bool {
        !matches!(input, CounterCmd::Read) || output >= state
    }

    fn describe(&self, input: &CounterCmd, output: Option<&u64>) -> String {
        let call = match input {
            CounterCmd::Add(n) => format!("Add({n})"),
            CounterCmd::Read => "Read".to_string(),
        };
        match output {
            Some(total) => format!("{call} -> {total}"),
            None => format!("{call} -> (no reply)"),
        }
    }
}

/// A counter replica.
pub type CounterReplica = Replica<Counter>;
/// The simulator of a counter cluster.
pub type CounterSim = Sim<CounterReplica, Clerk<Counter>>;

/// A simulated cluster of counter replicas (nodes `0..n`) and its clerks, with the history of
/// every operation the clerks ran, and the agreement invariant checked after every step.
pub struct Cluster {
    /// The simulator; scenarios inject faults and inspect replicas through it.
    pub sim: CounterSim,
    /// Every clerk operation started with [`Cluster::invoke`].
    pub history: History<CounterCmd, u64>,
    /// The recorded operation each clerk has in flight.
    in_flight: BTreeMap<ClientId, OpId>,
}

impl Cluster {
    /// `servers` replicas with `config`, all up, 10 ms ticks, no faults.
    pub fn new(seed: u64, servers: u32, config: &Config) -> Self {
        let replicas = (0..servers)
            .map(|i| {
                CounterReplica::with_config(NodeId(i), servers, seed, config.clone())
                    .expect("the test's config is valid")
            })
            .collect();
        let mut sim = Sim::new(SimConfig::new(seed), replicas);
        sim.set_invariant(rsm::invariant::agreement());
        Cluster {
            sim,
            history: History::default(),
            in_flight: BTreeMap::new(),
        }
    }

    /// The number of replicas.
    pub fn servers(&self) -> u32 {
        self.sim.node_count() as u32
    }

    /// Adds a clerk that tries `servers` in this order.
    pub fn clerk(&mut self, servers: &[u32]) -> ClientId {
        let servers = servers.iter().map(|&i| NodeId(i)).collect();
        self.sim.add_client(Clerk::new(servers))
    }

    /// Adds `count` clerks; clerk `i` prefers replica `i % servers` and tries the others after
    /// it, in order, so every replica has clerks of its own.
    pub fn clerks(&mut self, count: u32) -> Vec<ClientId> {
        let n = self.servers();
        (0..count)
            .map(|i| {
                let order: Vec<u32> = (0..n).map(|k| (i + k) % n).collect();
                self.clerk(&order)
            })
            .collect()
    }

    /// The replica on server `i`.
    ///
    /// # Panics
    /// If it is down.
    pub fn replica(&self, i: u32) -> &CounterReplica {
        self.sim
            .node(NodeId(i))
            .unwrap_or_else(|| panic!("replica {i} is down"))
    }

    /// Starts `cmd` on clerk `c` and records its invocation.
    pub fn invoke(&mut self, c: ClientId, cmd: CounterCmd) {
        let id = self.history.invoke(c.0, cmd, self.sim.now_us());
        self.in_flight.insert(c, id);
        self.sim.invoke(c, cmd);
    }

    /// Takes clerk `c`'s finished operation and records its answer; `None` if none finished.
    /// An operation whose session expired may or may not have run: it stays pending in the
    /// history (`Some(Err(..))` here).
    pub fn take(&mut self, c: ClientId) -> Option<Result<u64, SessionExpired>> {
        let done = self.sim.take_completion(c)?;
        let id = self
            .in_flight
            .remove(&c)
            .expect("every operation is invoked here");
        if let Ok(output) = done.output {
            self.history.complete(id, output, done.completed_at_us);
        }
        Some(done.output)
    }

    /// Runs `cmd` on clerk `c` to completion and returns its answer.
    ///
    /// # Errors
    /// If it takes more than [`OP_US_MAX`] of virtual time.
    pub fn op(&mut self, c: ClientId, cmd: CounterCmd) -> Result<u64, String> {
        self.invoke(c, cmd);
        let deadline = self.sim.now_us() + OP_US_MAX;
        self.sim
            .run_until(deadline, |s| s.is_idle(c))
            .map_err(|e| format!("{cmd:?} did not complete: {e}; {}", self.describe()))?;
        self.take(c)
            .expect("an idle clerk after invoke has a completion")
            .map_err(|e| format!("{cmd:?}: {e}"))
    }

    /// Runs `us` of virtual time.
    ///
    /// # Errors
    /// The run's failure (an invariant, or a hard cap of the simulator).
    pub fn run_for(&mut self, us: u64) -> Result<(), String> {
        self.sim.run_for(us).map_err(|e| e.to_string())
    }

    /// Runs concurrent clerks until virtual time `until_us`: each idle clerk takes its next
    /// command from `next(cluster, index)`, with `think_us` between a completion and the next
    /// invocation. Clerks still busy at `until_us` stay busy. Ends early once every clerk is
    /// idle and `next` gave nothing.
    ///
    /// # Errors
    /// The run's failure.
    pub fn drive_for(
        &mut self,
        clerks: &[ClientId],
        until_us: u64,
        think_us: u64,
        next: &mut impl FnMut(&mut Self, usize) -> Option<CounterCmd>,
    ) -> Result<(), String> {
        while self.sim.now_us() < until_us {
            for (i, &c) in clerks.iter().enumerate() {
                if !self.sim.is_idle(c) {
                    continue;
                }
                self.take(c);
                if let Some(cmd) = next(self, i) {
                    self.invoke(c, cmd);
                }
            }
            if clerks.iter().all(|&c| self.sim.is_idle(c)) {
                return Ok(());
            }
            self.run_for(think_us.min(until_us - self.sim.now_us()).max(1))?;
        }
        Ok(())
    }

    /// Waits until every clerk of `clerks` finished its operation in flight, and records them.
    ///
    /// # Errors
    /// If they have not all finished within [`OP_US_MAX`].
    pub fn finish(&mut self, clerks: &[ClientId]) -> Result<(), String> {
        let deadline = self.sim.now_us() + OP_US_MAX;
        self.sim
            .run_until(deadline, |s| clerks.iter().all(|&c| s.is_idle(c)))
            .map_err(|e| format!("clerks did not finish: {e}; {}", self.describe()))?;
        for &c in clerks {
            self.take(c);
        }
        Ok(())
    }

    /// Runs (at most `us`) until every replica up has applied the same prefix of the log, then
    /// checks they hold the same counter and the same session table.
    ///
    /// # Errors
    /// If they do not get there in time, or hold different states at the same prefix.
    pub fn converge(&mut self, us: u64) -> Result<(), String> {
        let deadline = self.sim.now_us() + us;
        self.sim
            .run_until(deadline, |s| {
                let mut applied = s
                    .node_ids()
                    .filter_map(|id| s.node(id))
                    .map(|r| r.next_apply());
                let first = applied.next();
                applied.all(|a| Some(a) == first)
            })
            .map_err(|e| format!("replicas did not converge: {e}; {}", self.describe()))?;
        let up: Vec<NodeId> = self
            .sim
            .node_ids()
            .filter(|&id| self.sim.is_up(id))
            .collect();
        let reference = self.sim.node(up[0]).expect("up");
        for &id in &up[1..] {
            let r = self.sim.node(id).expect("up");
            ensure(r.state() == reference.state(), || {
                format!(
                    "replica {id} holds counter {:?}, replica {} {:?}, both at {}",
                    r.state(),
                    up[0],
                    reference.state(),
                    r.next_apply()
                )
            })?;
            ensure(r.sessions() == reference.sessions(), || {
                format!("replica {id} and replica {} hold different sessions", up[0])
            })?;
        }
        Ok(())
    }

    /// Checks the whole recorded history with the counter model.
    ///
    /// # Errors
    /// The checker's report if the history is not proven linearizable; a search that runs out
    /// of budget (`Unknown`) fails too, never passes.
    pub fn check_linearizable(&self) -> Result<(), String> {
        let outcome = check::check(&CounterModel, &self.history, Budget::default());
        ensure(outcome.is_linearizable(), || {
            format!("{outcome} ({} operations)", self.history.len())
        })
    }

    /// Each replica's progress, for failure messages.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .sim
            .node_ids()
            .map(|id| match self.sim.node(id) {
                Some(r) => format!("{}: {}", id.0, r.describe()),
                None => format!("{}: down", id.0),
            })
            .collect();
        parts.join("; ")
    }
}

/// Builds the `Err` of a scenario check (formatted only on failure).
///
/// # Errors
/// `what()` if `cond` does not hold.
pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

/// One time in four heals the network; otherwise splits the replicas at random into up to
/// three groups (so a majority may or may not exist).
pub fn redraw_partition(cluster: &mut Cluster) {
    if cluster.sim.rng().below(4) == 0 {
        cluster.sim.heal();
        return;
    }
    let mut groups: [Vec<NodeId>; 3] = Default::default();
    for i in 0..cluster.servers() {
        groups[cluster.sim.rng().below(3) as usize].push(NodeId(i));
    }
    let refs: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
    cluster.sim.partition(&refs);
}

/// A random counter command: an Add of 1 to 9 two times in three, else a Read.
pub fn random_cmd(cluster: &mut Cluster) -> CounterCmd {
    if cluster.sim.rng().below(3) == 0 {
        CounterCmd::Read
    } else {
        CounterCmd::Add(1 + cluster.sim.rng().below(9))
    }
}
