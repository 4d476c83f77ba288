//! The simulation test harness shared by every KV service (primary/backup, kvpaxos, and later
//! shardkv and diskv): clerks run in the [`sim`] simulator, every operation they start and
//! finish is recorded into a [`check::History`], and the whole history goes through the
//! linearizability checker at the end. Compiled only with the `testing` feature (STYLE §2.9:
//! test helpers live behind a feature, never in production structs).
//!
//! A service's `tests/it/common.rs` names its harness as a type alias,
//! `type Kv = KvHarness<Replica, Clerk>`, builds it with [`KvHarness::from_sim`], and adds its
//! own verbs (how clerks find servers, how to kill one) in an extension trait. Scenario closures
//! then receive the alias itself (`|kv: &mut Kv, i, n| …`), so one driver serves every service.

use check::{Budget, History, KvInput, KvOutput, OpId, check_kv};
use rpc::{Client, ClientId, Node};
use sim::Sim;
use std::collections::BTreeMap;

pub use crate::ClerkOutput;
use crate::Op;

/// One millisecond of virtual time.
pub const MS_US: u64 = 1_000;
/// One second of virtual time.
pub const SECOND_US: u64 = 1_000_000;
/// How long one clerk operation may take before the scenario fails as a liveness bug. Generous:
/// a primary/backup fail-over costs several ping intervals plus a state transfer, and a Paxos
/// slot may need a few rounds of duelling proposers.
pub const OP_US_MAX: u64 = 10 * SECOND_US;

/// A simulated KV service, its clerks, and the history of every operation they ran.
///
/// `N` is the service's node type and `C` its clerk type; the clerk takes [`Op`]s and answers
/// with a [`ClerkOutput`]. Operations started with [`KvHarness::invoke`] (and everything built
/// on it) are recorded; operations a test starts with `sim.invoke` directly are not, which is
/// what a raw client that bypasses the clerk wants.
pub struct KvHarness<N: Node, C: Client<Req = N::Req, Resp = N::Resp>> {
    /// The simulator; scenarios inject faults and inspect nodes through it.
    pub sim: Sim<N, C>,
    /// Every recorded clerk operation, for the checker.
    pub history: History,
    /// The recorded operation each clerk has in flight, completed in the history once taken.
    in_flight: BTreeMap<ClientId, (OpId, Op)>,
    /// Operations started per clerk by [`KvHarness::drive_for`], across calls, so a workload
    /// can number its values (`x <clerk> <n> y`) over several driving phases.
    started: BTreeMap<ClientId, u64>,
    /// The service's state in one line, appended to liveness failures so a stuck run says why.
    describe: fn(&Sim<N, C>) -> String,
}

impl<N, C> KvHarness<N, C>
where
    N: Node,
    C: Client<Req = N::Req, Resp = N::Resp>,
    C::Op: From<Op>,
    C::Output: ClerkOutput,
{
    /// Wraps a simulator the service has set up (nodes, faults, invariant) with an empty
    /// history. `describe` summarises the service's state for failure messages.
    pub fn from_sim(sim: Sim<N, C>, describe: fn(&Sim<N, C>) -> String) -> Self {
        KvHarness {
            sim,
            history: History::new(),
            in_flight: BTreeMap::new(),
            started: BTreeMap::new(),
            describe,
        }
    }

    /// The service's state in one line, for failure messages.
    pub fn describe(&self) -> String {
        (self.describe)(&self.sim)
    }

    /// Runs `us` of virtual time.
    ///
    /// # Errors
    /// The run's failure (an invariant, or a hard cap of the simulator).
    pub fn run_for(&mut self, us: u64) -> Result<(), String> {
        self.sim.run_for(us).map_err(|e| e.to_string())
    }

    /// Starts `op` on clerk `c` and records its invocation.
    pub fn invoke(&mut self, c: ClientId, op: Op) {
        let now = self.sim.now_us();
        let id = self.history.invoke(c.0, input(&op), now);
        self.in_flight.insert(c, (id, op.clone()));
        self.sim.invoke(c, op.into());
    }

    /// Takes clerk `c`'s finished operation, records its answer (a failed operation stays
    /// pending in the history), and returns its output; `None` if nothing finished.
    pub fn take(&mut self, c: ClientId) -> Option<C::Output> {
        let done = self.sim.take_completion(c)?;
        if let (Some((id, op)), Ok(value)) = (self.in_flight.remove(&c), done.output.answer()) {
            let output = match op {
                Op::Get { .. } => KvOutput::value(value.to_string()),
                Op::Put { .. } | Op::Append { .. } => KvOutput::Ok,
            };
            self.history.complete(id, output, done.completed_at_us);
        }
        Some(done.output)
    }

    /// Runs `op` on clerk `c` to completion and returns its answer.
    ///
    /// # Errors
    /// If it takes more than [`OP_US_MAX`] of virtual time, or the clerk reports a failure.
    pub fn op(&mut self, c: ClientId, op: Op) -> Result<String, String> {
        let what = format!("{op:?}");
        self.invoke(c, op);
        self.wait(c, OP_US_MAX, &what)
    }

    /// Waits at most `us` for clerk `c`'s operation in flight and returns its answer; `what`
    /// names the operation in the error.
    ///
    /// # Errors
    /// If it does not finish in time (with the service's state), or the clerk reports a failure.
    pub fn wait(&mut self, c: ClientId, us: u64, what: &str) -> Result<String, String> {
        let deadline = self.sim.now_us() + us;
        self.sim
            .run_until(deadline, |s| s.is_idle(c))
            .map_err(|e| format!("{what} did not complete: {e}; {}", self.describe()))?;
        let output = self
            .take(c)
            .expect("an idle clerk after invoke has a completion");
        match output.answer() {
            Ok(value) => Ok(value.to_string()),
            Err(e) => Err(format!("{what}: {e}")),
        }
    }

    /// The handout's `check(ck, key, value)`: a Get through clerk `c` returns `value`.
    ///
    /// # Errors
    /// If the Get fails or returns something else.
    pub fn check(&mut self, c: ClientId, key: &str, value: &str) -> Result<(), String> {
        let got = self.op(c, get(key))?;
        ensure(got == value, || {
            format!("Get({key:?}) = {got:?}, expected {value:?}")
        })
    }

    /// Runs concurrent clerks until virtual time `until_us`: each idle clerk of `clerks` takes
    /// its next operation from `next(harness, index, n)` (n counts its operations so far,
    /// across calls), with `think_us` between one completion and the next invocation. Clerks
    /// still busy at `until_us` stay busy, so the caller can change the faults under them and
    /// drive on. Ends early once no clerk has anything left to do.
    ///
    /// # Errors
    /// The run's failure.
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
                let n = self.started.get(&c).copied().unwrap_or(0);
                if let Some(op) = next(self, i, n) {
                    self.started.insert(c, n + 1);
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

    /// Waits until every clerk of `clerks` finished its operation in flight, and records them.
    ///
    /// # Errors
    /// If they have not all finished within [`OP_US_MAX`] (with the service's state).
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

    /// [`KvHarness::drive_for`], then [`KvHarness::finish`].
    ///
    /// # Errors
    /// As those two.
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

    /// Checks the whole recorded history with the linearizability checker.
    ///
    /// # Errors
    /// The checker's report if the history is not proven linearizable; a search that runs out
    /// of budget (`Unknown`) fails too, never passes.
    pub fn check_linearizable(&self) -> Result<(), String> {
        let outcome = check_kv(&self.history, Budget::default());
        ensure(outcome.is_linearizable(), || format!("{outcome}"))
    }
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

/// The checker's view of an operation.
fn input(op: &Op) -> KvInput {
    match op {
        Op::Get { key } => KvInput::get(key.clone()),
        Op::Put { key, value } => KvInput::put(key.clone(), value.clone()),
        Op::Append { key, value } => KvInput::append(key.clone(), value.clone()),
    }
}

/// The handout's `checkAppends`: every element `x <client> <n> y`, n < counts[client], appears
/// exactly once, in each client's order.
///
/// # Errors
/// The first element missing, repeated or out of order.
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

/// Builds the `Err` of a scenario check with the observed values (formatted only on failure).
///
/// # Errors
/// `what()` if `cond` does not hold.
pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_appends_finds_missing_duplicate_and_reordered_elements() {
        assert_eq!(check_appends("x 0 0 yx 0 1 yx 1 0 y", &[2, 1]), Ok(()));
        assert!(check_appends("x 0 0 y", &[2]).is_err_and(|e| e.contains("missing")));
        assert!(check_appends("x 0 0 yx 0 0 y", &[1]).is_err_and(|e| e.contains("duplicate")));
        assert!(check_appends("x 0 1 yx 0 0 y", &[2]).is_err_and(|e| e.contains("order")));
    }

    #[test]
    fn a_failed_answer_carries_its_error() {
        let failed: Result<String, &str> = Err("wrong server");
        assert_eq!(failed.answer(), Err("wrong server".to_string()));
        assert_eq!("v".to_string().answer(), Ok("v"));
    }
}
