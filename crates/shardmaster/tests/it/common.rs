//! The shard master's simulation harness: a cluster of lab replicas (10 shards, nodes `0..n`)
//! under the agreement invariant, clerks placed on server lists, and the handout's verbs
//! (`join`, `leave`, `move`, `query`, `check`) as fallible steps that name what failed.

use rpc::{ClientId, NodeId};
use shardmaster::{Config, Gid, LabClerk, LabReplica, Op, Output, Reply};
use sim::{Sim, SimConfig};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// One millisecond of virtual time.
pub const MS_US: u64 = 1_000;
/// One second of virtual time.
pub const SECOND_US: u64 = 1_000_000;
/// How long one clerk operation may take before the scenario fails as a liveness bug: a few
/// leader elections and retries at the clerk's 100 ms.
pub const OP_US_MAX: u64 = 10 * SECOND_US;

/// A simulated shard master cluster.
pub struct Sm {
    /// The simulator; scenarios inject faults and inspect replicas through it.
    pub sim: Sim<LabReplica, LabClerk>,
}

/// One concurrent worker: operations run in order, each on its own clerk.
pub type Work = Vec<(ClientId, Op)>;

impl Sm {
    /// A cluster of `servers` in-memory replicas, all up, with 10 ms ticks.
    pub fn new(seed: u64, servers: u32) -> Self {
        let replicas = (0..servers)
            .map(|i| LabReplica::new(NodeId(i), servers, seed))
            .collect();
        Sm::from_replicas(seed, replicas)
    }

    /// A cluster of these replicas (node ids in order), all up, with 10 ms ticks.
    pub fn from_replicas(seed: u64, replicas: Vec<LabReplica>) -> Self {
        let mut sim = Sim::new(SimConfig::new(seed), replicas);
        sim.set_invariant(rsm::invariant::agreement());
        Sm { sim }
    }

    /// A clerk that tries `servers` in this order.
    pub fn clerk(&mut self, servers: &[u32]) -> ClientId {
        let servers = servers.iter().map(|&i| NodeId(i)).collect();
        self.sim.add_client(LabClerk::new(servers))
    }

    /// One clerk pinned to each server.
    pub fn pinned_clerks(&mut self) -> Vec<ClientId> {
        let n = self.sim.node_count() as u32;
        (0..n).map(|i| self.clerk(&[i])).collect()
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

    /// Runs `op` on clerk `c` to completion and returns what the shard master answered.
    ///
    /// # Errors
    /// If it takes more than [`OP_US_MAX`], or the clerk's session expired.
    pub fn try_op(&mut self, c: ClientId, op: Op) -> Result<Output, String> {
        let what = format!("{op:?}");
        let done = self
            .sim
            .run_op(c, op, OP_US_MAX)
            .map_err(|e| format!("{what} did not complete: {e}; {}", self.describe()))?;
        done.output.map_err(|e| format!("{what}: {e}"))
    }

    /// [`Sm::try_op`], where a refusal is an error too.
    ///
    /// # Errors
    /// As [`Sm::try_op`], or the shard master's refusal.
    pub fn op(&mut self, c: ClientId, op: Op) -> Result<Reply, String> {
        let what = format!("{op:?}");
        self.try_op(c, op)?
            .map_err(|e| format!("{what} refused: {e}"))
    }

    /// `Join(gid, servers)` through clerk `c`.
    ///
    /// # Errors
    /// As [`Sm::op`].
    pub fn join(&mut self, c: ClientId, gid: i64, servers: &[&str]) -> Result<Reply, String> {
        self.op(c, join(gid, servers))
    }

    /// `Leave(gid)` through clerk `c`.
    ///
    /// # Errors
    /// As [`Sm::op`].
    pub fn leave(&mut self, c: ClientId, gid: i64) -> Result<Reply, String> {
        self.op(c, Op::Leave { gid: Gid(gid) })
    }

    /// `Move(shard, gid)` through clerk `c`.
    ///
    /// # Errors
    /// As [`Sm::op`].
    pub fn move_shard(&mut self, c: ClientId, shard: u32, gid: i64) -> Result<Reply, String> {
        self.op(
            c,
            Op::Move {
                shard,
                gid: Gid(gid),
            },
        )
    }

    /// `Query(num)` through clerk `c`.
    ///
    /// # Errors
    /// As [`Sm::op`], or an answer that is not a configuration.
    pub fn query(&mut self, c: ClientId, num: i64) -> Result<Config, String> {
        match self.op(c, Op::Query { num })? {
            Reply::Config(config) => Ok(Arc::unwrap_or_clone(config)),
            other => Err(format!("Query({num}) answered {other:?}")),
        }
    }

    /// The handout's `check(groups)`: the latest configuration, queried through `c`, has
    /// exactly these gids, gives every shard to one of them, and its shard counts per group
    /// differ by at most one. Returns the configuration.
    ///
    /// # Errors
    /// The first of these that does not hold.
    pub fn check(&mut self, c: ClientId, gids: &[i64]) -> Result<Config, String> {
        let config = self.query(c, -1)?;
        check_config(&config, gids)?;
        Ok(config)
    }

    /// Runs `works` concurrently: each worker runs its operations in order, the next one
    /// as soon as the last completed; each operation must be answered `Ok`, or the refusal
    /// `expect_refused(op)` names. `every_ms(sm, finished)` runs every millisecond of virtual
    /// time with the number of workers done so far, for faults. Returns every operation with
    /// its times and answer, in completion order.
    ///
    /// # Errors
    /// An operation refused unexpectedly, or the workers not done within [`OP_US_MAX`] per
    /// operation of the longest worker.
    pub fn run_concurrently(
        &mut self,
        works: Vec<Work>,
        expect_refused: impl Fn(&Op) -> bool,
        mut every_ms: impl FnMut(&mut Self, usize),
    ) -> Result<Vec<Record>, String> {
        let longest = works.iter().map(Vec::len).max().unwrap_or(0) as u64;
        let deadline = self.sim.now_us() + OP_US_MAX * longest.max(1);
        // Each worker's operations still to start, and the one in flight.
        type Progress = (VecDeque<(ClientId, Op)>, Option<(ClientId, Op)>);
        let mut works: Vec<Progress> = works.into_iter().map(|w| (w.into(), None)).collect();
        let (mut records, mut finished) = (Vec::new(), 0);
        loop {
            let mut busy = false;
            for (queue, current) in &mut works {
                if let Some((c, op)) = current.take_if(|(c, _)| self.sim.is_idle(*c)) {
                    let done = self.sim.take_completion(c).expect("idle after invoke");
                    let output = done.output.map_err(|e| format!("{op:?}: {e}"))?;
                    if output.is_err() && !expect_refused(&op) {
                        return Err(format!("{op:?} refused: {output:?}"));
                    }
                    records.push(Record {
                        invoked_us: done.invoked_at_us,
                        completed_us: done.completed_at_us,
                        op,
                        output,
                    });
                    finished += usize::from(queue.is_empty());
                }
                if current.is_none()
                    && let Some((c, op)) = queue.pop_front()
                {
                    self.sim.invoke(c, op.clone());
                    *current = Some((c, op));
                }
                busy |= current.is_some();
            }
            if !busy {
                return Ok(records);
            }
            if self.sim.now_us() > deadline {
                return Err(format!("workers did not finish; {}", self.describe()));
            }
            every_ms(self, finished);
            self.sim.run_for(MS_US).map_err(|e| e.to_string())?;
        }
    }

    /// Waits until every replica that is up has applied the same slots, then checks that
    /// they hold the same configurations.
    ///
    /// # Errors
    /// If they do not converge within 5 s, or hold different histories.
    pub fn converge(&mut self) -> Result<(), String> {
        let deadline = self.sim.now_us() + 5 * SECOND_US;
        self.sim
            .run_until(deadline, |s| {
                let applied: Vec<_> = s
                    .node_ids()
                    .filter_map(|id| s.node(id).map(|r| r.next_apply()))
                    .collect();
                applied.windows(2).all(|w| w[0] == w[1])
            })
            .map_err(|e| format!("replicas did not converge: {e}; {}", self.describe()))?;
        let states: Vec<_> = self
            .sim
            .node_ids()
            .filter_map(|id| self.sim.node(id).map(|r| (id, r.state())))
            .collect();
        for pair in states.windows(2) {
            let ((a, sa), (b, sb)) = (pair[0], pair[1]);
            ensure(sa == sb, || {
                format!("replicas {a} and {b} hold different histories")
            })?;
        }
        Ok(())
    }
}

impl Sm {
    /// The longest configuration history any replica up holds (the others hold prefixes of
    /// it: they apply one log).
    pub fn longest_history(&self) -> Vec<Config> {
        self.sim
            .node_ids()
            .filter_map(|id| self.sim.node(id).map(|r| r.state().configs()))
            .max_by_key(|c| c.len())
            .unwrap_or_default()
            .iter()
            .map(|c| Config::clone(c))
            .collect()
    }
}

/// One operation a worker ran: when, and what it answered.
#[derive(Clone, Debug)]
pub struct Record {
    /// Virtual time of the invocation.
    pub invoked_us: u64,
    /// Virtual time of the answer.
    pub completed_us: u64,
    /// The operation.
    pub op: Op,
    /// Its answer.
    pub output: Output,
}

/// Every configuration a Query answered is the one `history` holds under its number (history
/// is immutable), and is fresh: at least as new as every change that completed before the
/// Query was sent (SPEC §7.2: Query(-1) reflects every completed Join/Leave/Move).
///
/// # Errors
/// The first Query that broke either.
pub fn check_queries(records: &[Record], history: &[Config]) -> Result<(), String> {
    for q in records {
        let Ok(Reply::Config(answer)) = &q.output else {
            continue;
        };
        let recorded = history.get(answer.num.0 as usize);
        ensure(recorded == Some(&**answer), || {
            format!(
                "Query answered config {} unlike history's: {answer:?}",
                answer.num
            )
        })?;
        let newest_before = records
            .iter()
            .filter(|r| r.completed_us < q.invoked_us)
            .filter_map(|r| match &r.output {
                Ok(Reply::Changed(n) | Reply::Unchanged(n)) => Some(*n),
                _ => None,
            })
            .max();
        ensure(newest_before.is_none_or(|n| answer.num >= n), || {
            format!(
                "stale {:?} at {} us: config {}, but {newest_before:?} completed before",
                q.op, q.invoked_us, answer.num
            )
        })?;
    }
    Ok(())
}

/// `Join(gid, servers)`.
pub fn join(gid: i64, servers: &[&str]) -> Op {
    Op::Join {
        gid: Gid(gid),
        servers: servers.iter().map(|s| s.to_string()).collect(),
    }
}

/// The handout's `check` on a configuration already fetched.
///
/// # Errors
/// The first property that does not hold.
pub fn check_config(config: &Config, gids: &[i64]) -> Result<(), String> {
    let want: BTreeSet<Gid> = gids.iter().map(|&g| Gid(g)).collect();
    let have: BTreeSet<Gid> = config.groups.keys().copied().collect();
    ensure(have == want, || {
        format!(
            "config {} has groups {have:?}, expected {want:?}",
            config.num
        )
    })?;
    if let Some((shard, gid)) = config
        .shards
        .iter()
        .enumerate()
        .find(|(_, g)| !want.is_empty() && !want.contains(g))
    {
        return Err(format!(
            "config {}: shard {shard} at {gid}, no such group",
            config.num
        ));
    }
    let counts = config.shards_per_group();
    let (min, max) = (counts.values().min(), counts.values().max());
    ensure(max.zip(min).is_none_or(|(max, min)| max - min <= 1), || {
        format!("config {} unbalanced: {counts:?}", config.num)
    })
}

/// Builds the `Err` of a scenario check (formatted only on failure).
///
/// # Errors
/// `what()` if `cond` does not hold.
pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

/// The freshness checker itself: a Query sent after a change completed must see it (one
/// sent while it ran need not), and an answer must be the history's configuration exactly.
#[test]
fn check_queries_catches_stale_and_rewritten_answers() {
    let config = |num: u64, gids: &[i64]| Config {
        num: shardmaster::ConfigNum(num),
        shards: vec![gids.first().map_or(Gid::NONE, |&g| Gid(g)); 10],
        groups: gids.iter().map(|&g| (Gid(g), vec!["s".into()])).collect(),
    };
    let history = [config(0, &[]), config(1, &[1]), config(2, &[1, 2])];
    let record = |invoked_us, completed_us, output| Record {
        invoked_us,
        completed_us,
        op: Op::Query { num: -1 },
        output,
    };
    let changed = record(0, 10, Ok(Reply::Changed(shardmaster::ConfigNum(2))));
    let fresh = record(11, 20, Ok(Reply::Config(Arc::new(history[2].clone()))));
    let stale = record(11, 20, Ok(Reply::Config(Arc::new(history[1].clone()))));
    let concurrent = record(5, 20, Ok(Reply::Config(Arc::new(history[1].clone()))));
    let rewritten = record(11, 20, Ok(Reply::Config(Arc::new(config(2, &[2])))));
    assert!(check_queries(&[changed.clone(), fresh], &history).is_ok());
    assert!(check_queries(&[changed.clone(), concurrent], &history).is_ok());
    assert!(check_queries(&[changed.clone(), stale], &history).is_err());
    assert!(check_queries(&[changed, rewritten], &history).is_err());
}
