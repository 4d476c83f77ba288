//! Helpers shared by the kvpaxos scenarios: a simulated cluster of replicas (nodes `0..n`),
//! clerks whose every operation is recorded in a history for the linearizability checker, and
//! the original suite's `check` / `checkAppends`.

use check::{Budget, History, KvInput, KvOutput, OpId, check_kv};
use kvpaxos::{Clerk, Op, Replica};
use paxos::{Seq, Value};
use rpc::{ClientId, NodeId};
use sim::{Sim, SimConfig};
use std::collections::BTreeMap;

/// One millisecond of virtual time.
pub const MS_US: u64 = 1_000;
/// One second of virtual time.
pub const SECOND_US: u64 = 1_000_000;
/// How long a clerk operation may take before the scenario fails as a liveness bug.
pub const OP_US_MAX: u64 = 10 * SECOND_US;

/// A simulated kvpaxos cluster with its recorded history.
pub struct Kv {
    /// The simulator.
    pub sim: Sim<Replica, Clerk>,
    /// Every clerk operation, for the checker.
    pub history: History,
    servers: u32,
    pending: Vec<Option<(OpId, Op)>>,
    /// Operations started per client by [`Kv::drive_for`].
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

impl Kv {
    /// A cluster of `servers` replicas, all up, with 10 ms ticks.
    pub fn new(seed: u64, servers: u32) -> Self {
        let replicas = (0..servers)
            .map(|i| Replica::new(NodeId(i), servers, seed))
            .collect();
        let mut sim = Sim::new(SimConfig::new(seed), replicas);
        sim.set_invariant(agreement_invariant());
        Kv {
            sim,
            history: History::new(),
            servers,
            pending: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Adds a clerk that tries `servers` in this order, with an identity drawn from the run's
    /// generator.
    pub fn clerk(&mut self, servers: &[u32]) -> ClientId {
        let id = self.sim.rng().below(1 << 62);
        let servers = servers.iter().map(|&i| NodeId(i)).collect();
        let c = self.sim.add_client(Clerk::new(id, servers));
        self.pending.resize(c.0 as usize + 1, None);
        c
    }

    /// A clerk that knows every server, in an order shuffled by the run's generator.
    pub fn shuffled_clerk(&mut self) -> ClientId {
        let mut order: Vec<u32> = (0..self.servers).collect();
        for i in (1..order.len()).rev() {
            let j = self.sim.rng().below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        self.clerk(&order)
    }

    /// One clerk per server, pinned to it.
    pub fn pinned_clerks(&mut self) -> Vec<ClientId> {
        (0..self.servers).map(|i| self.clerk(&[i])).collect()
    }

    /// Runs `us` of virtual time.
    pub fn run_for(&mut self, us: u64) -> Result<(), String> {
        self.sim.run_for(us).map_err(|e| e.to_string())
    }

    /// Starts `op` on clerk `c` and records its invocation.
    pub fn invoke(&mut self, c: ClientId, op: Op) {
        let now = self.sim.now_us();
        let id = self.history.invoke(c.0, input(&op), now);
        self.pending[c.0 as usize] = Some((id, op.clone()));
        self.sim.invoke(c, op);
    }

    /// Takes clerk `c`'s finished operation, records it, and returns its result.
    pub fn take(&mut self, c: ClientId) -> Option<String> {
        let done = self.sim.take_completion(c)?;
        if let Some((id, op)) = self.pending[c.0 as usize].take() {
            let output = match op {
                Op::Get { .. } => KvOutput::value(done.output.clone()),
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
        self.wait(c, OP_US_MAX, &what)
    }

    /// Waits at most `us` for clerk `c`'s operation in flight and returns its result.
    pub fn wait(&mut self, c: ClientId, us: u64, what: &str) -> Result<String, String> {
        let deadline = self.sim.now_us() + us;
        self.sim
            .run_until(deadline, |s| s.is_idle(c))
            .map_err(|e| format!("{what} did not complete: {e}; {}", self.describe()))?;
        Ok(self.take(c).expect("idle after invoke"))
    }

    /// The handout's `check(ck, key, value)`: a Get through clerk `c` returns `value`.
    pub fn check(&mut self, c: ClientId, key: &str, value: &str) -> Result<(), String> {
        let got = self.op(c, get(key))?;
        ensure(got == value, || {
            format!("Get({key:?}) = {got:?}, expected {value:?}")
        })
    }

    /// Every server, through its own pinned clerk, returns the same value for `key`. Returns it.
    pub fn all_agree(&mut self, key: &str) -> Result<String, String> {
        let clerks = self.pinned_clerks();
        let mut values = Vec::new();
        for c in clerks {
            values.push(self.op(c, get(key))?);
        }
        ensure(values.windows(2).all(|w| w[0] == w[1]), || {
            format!("servers disagree on {key:?}: {values:?}")
        })?;
        Ok(values.pop().unwrap_or_default())
    }

    /// Runs concurrent clerks until virtual time `until_us`: each idle clerk of `clerks` takes
    /// its next operation from `next(kv, index, n)` (n counts its operations so far, across
    /// calls), with `think_us` between one completion and the next invocation. Clerks still
    /// busy at `until_us` stay busy. Ends early once no clerk has anything left to do.
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

    /// Waits until every clerk of `clerks` finished its operation in flight (failing after
    /// [`OP_US_MAX`]).
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

    /// [`Kv::drive_for`], then [`Kv::finish`].
    pub fn drive(
        &mut self,
        clerks: &[ClientId],
        until_us: u64,
        think_us: u64,
        mut next: impl FnMut(&mut Self, usize, u64) -> Option<Op>,
    ) -> Result<(), String> {
        self.drive_for(clerks, until_us, think_us, &mut next)?;
        self.finish(clerks)
    }

    /// The replica on server `i`.
    pub fn replica(&self, i: u32) -> &Replica {
        self.sim.node(NodeId(i)).expect("replicas are never killed")
    }

    /// Each replica's progress, for failure messages.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = (0..self.servers)
            .map(|i| {
                let r = self.replica(i);
                format!(
                    "{i}: applied to {}, max {:?}, waiting {}",
                    r.next_apply(),
                    r.peer().max(),
                    r.waiting_len()
                )
            })
            .collect();
        parts.join("; ")
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

/// Checked after every step: no two replicas ever learn different entries for one slot.
/// Replicas apply slots in order, so with this they apply the same log. Every decision a
/// replica's peer holds is compared with the first one seen for its slot; the map keeps only
/// a digest-sized copy (the values share their buffers).
fn agreement_invariant() -> impl FnMut(NodeId, &Replica) -> Result<(), String> {
    let mut first_seen: BTreeMap<Seq, Value> = BTreeMap::new();
    move |id, replica| {
        for (seq, value) in replica.peer().decided() {
            match first_seen.get(&seq) {
                None => {
                    first_seen.insert(seq, value.clone());
                }
                Some(known) if known == value => {}
                Some(_) => return Err(format!("replica {id} learned a different entry at {seq}")),
            }
        }
        Ok(())
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
