//! The master's scheduling, as a sans-IO core (an [`rpc::Node`] whose clients are the workers).
//!
//! Task states (per phase; reduce tasks are handed out only once every map task is `Done`):
//!
//! ```text
//!            AskTask                 MapDone / ReduceDone (first one wins)
//!   Idle ------------> Running{attempts} ------------------------------> Done{holder}
//!    ^                   |  ^   | AskTask near the end of the phase           |
//!    |  every attempt    |  +---+ (backup: a second attempt elsewhere)         |
//!    +-------------------+                                                     |
//!    |  timed out / its worker dead / FetchFailed                              |
//!    +-------------------------------------------------------------------------+
//!       (map tasks only: the holder died, so its output is gone and must be re-made)
//! ```
//!
//! Invariants:
//! - A task is `Done` at most once per holder; a duplicate completion changes nothing.
//! - A reduce task is assigned only while every map task is `Done`, with the holders then known.
//! - A worker is dead once it has been silent for `worker_timeout_ticks` or a reducer could not
//!   fetch from it; every attempt it was running is dropped.
//! - A finished map output is presumed available until a reducer reports it cannot fetch it
//!   (`FetchFailed`): a silent worker may only have stopped taking tasks while still serving its
//!   outputs. Then every map output of that holder is re-executed, and the reduce re-issued.
//! - Time is ticks; the core never reads a clock.

use crate::protocol::{Assignment, MapSource, Request, Response, TaskId, WorkerId};
use crate::records::decode_records;
use crate::split::SplitRef;
use bytes::Bytes;
use rpc::wire::Never;
use rpc::{Node, NodeId, NodeOutbox, ReqId};
use std::collections::BTreeMap;

/// Failures of one task (reported by workers, not timeouts) after which the whole job fails.
/// Why 3: a deterministic task failing on three workers will fail everywhere (an input that
/// became unreadable); retrying it forever would hang the job.
pub const TASK_FAILURES_MAX: u32 = 3;

/// Timeouts and limits, in ticks.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// Number of reduce partitions.
    pub reduces: u32,
    /// A worker silent this long is dead. Workers heartbeat every second while busy.
    pub worker_timeout_ticks: u64,
    /// An attempt running this long is abandoned and the task re-issued (a hung task).
    pub task_timeout_ticks: u64,
    /// A task running this long, when nothing else is left in its phase, gets a backup attempt.
    pub backup_after_ticks: u64,
}

#[derive(Clone, Debug)]
enum TaskState {
    Idle,
    Running { attempts: Vec<(WorkerId, u64)> },
    Done { holder: WorkerId },
}

#[derive(Clone, Debug)]
struct WorkerState {
    addr: String,
    last_seen: u64,
    tasks_done: u32,
}

/// What the master reports as progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Map tasks done.
    pub maps_done: u32,
    /// Map tasks in all.
    pub maps: u32,
    /// Reduce tasks done.
    pub reduces_done: u32,
    /// Reduce tasks in all.
    pub reduces: u32,
    /// Workers alive.
    pub live_workers: u32,
    /// Map tasks executed again because their output was lost.
    pub maps_reexecuted: u32,
    /// Backup attempts launched.
    pub backups: u32,
    /// Workers declared dead.
    pub workers_lost: u32,
}

/// The master core.
#[derive(Debug)]
pub struct Coordinator {
    config: CoordinatorConfig,
    job: String,
    split_server: String,
    docs: Vec<String>,
    splits: Vec<SplitRef>,
    maps: Vec<TaskState>,
    reduces: Vec<TaskState>,
    outputs: Vec<Option<Bytes>>,
    workers: BTreeMap<WorkerId, WorkerState>,
    /// Workers declared dead (their fetch addresses still name their map outputs).
    dead: BTreeMap<WorkerId, WorkerState>,
    /// Reported failures per (reduce?, task).
    failures: BTreeMap<(bool, TaskId), u32>,
    /// Why the job failed, once some task failed [`TASK_FAILURES_MAX`] times.
    failed: Option<String>,
    /// Workers answered `Exit`.
    exited: std::collections::BTreeSet<WorkerId>,
    next_worker: u64,
    now: u64,
    progress: Progress,
}

impl Coordinator {
    /// A master for job `job` over `splits` of the documents `docs` (indexed by `SplitRef::file`).
    ///
    /// # Panics
    /// If `config.reduces` is zero or a split names a document that does not exist.
    ///
    /// Workers read splits from `split_server` (opaque to the core; empty in the simulator).
    pub fn new(
        job: &str,
        split_server: &str,
        docs: Vec<String>,
        splits: Vec<SplitRef>,
        config: CoordinatorConfig,
    ) -> Self {
        assert!(config.reduces > 0, "at least one reduce task");
        for split in &splits {
            assert!(
                (split.file as usize) < docs.len(),
                "split of unknown document {}",
                split.file
            );
        }
        let progress = Progress {
            maps: splits.len() as u32,
            reduces: config.reduces,
            ..Progress::default()
        };
        Coordinator {
            maps: vec![TaskState::Idle; splits.len()],
            reduces: vec![TaskState::Idle; config.reduces as usize],
            outputs: vec![None; config.reduces as usize],
            job: job.to_string(),
            split_server: split_server.to_string(),
            docs,
            splits,
            workers: BTreeMap::new(),
            dead: BTreeMap::new(),
            exited: std::collections::BTreeSet::new(),
            failures: BTreeMap::new(),
            failed: None,
            next_worker: 1,
            now: 0,
            progress,
            config,
        }
    }

    /// True once every reduce task is done.
    pub fn is_done(&self) -> bool {
        self.outputs.iter().all(Option::is_some)
    }

    /// The reduce outputs, one per partition, once [`Coordinator::is_done`].
    pub fn outputs(&self) -> Option<Vec<Bytes>> {
        self.outputs.iter().cloned().collect()
    }

    /// Why the job failed, if it did (a task failed [`TASK_FAILURES_MAX`] times).
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Live workers that were told to exit.
    pub fn workers_exited(&self) -> usize {
        self.exited.len()
    }

    /// Counts for a progress bar.
    pub fn progress(&self) -> Progress {
        let mut p = self.progress;
        p.maps_done = self
            .maps
            .iter()
            .filter(|t| matches!(t, TaskState::Done { .. }))
            .count() as u32;
        p.reduces_done = self.outputs.iter().filter(|o| o.is_some()).count() as u32;
        p.live_workers = self.workers.len() as u32;
        p
    }

    /// Tasks completed (first completions only) per worker, dead ones included.
    pub fn tasks_per_worker(&self) -> BTreeMap<WorkerId, u32> {
        self.dead
            .iter()
            .chain(self.workers.iter())
            .map(|(id, w)| (*id, w.tasks_done))
            .collect()
    }

    fn handle(&mut self, req: Request) -> Response {
        match req {
            Request::Register { fetch_addr } => {
                let worker = WorkerId(self.next_worker);
                self.next_worker += 1;
                let state = WorkerState {
                    addr: fetch_addr,
                    last_seen: self.now,
                    tasks_done: 0,
                };
                self.workers.insert(worker, state);
                tracing::info!(%worker, "worker registered");
                Response::Registered {
                    worker,
                    job: self.job.clone(),
                    split_server: self.split_server.clone(),
                }
            }
            Request::AskTask { worker } => {
                if self.seen(worker).is_none() {
                    Response::UnknownWorker
                } else if self.is_done() || self.failed.is_some() {
                    self.exited.insert(worker);
                    Response::Exit
                } else {
                    self.assign(worker).map_or(Response::Wait, Response::Task)
                }
            }
            Request::Heartbeat { worker } => self
                .seen(worker)
                .map_or(Response::UnknownWorker, |()| Response::Ack),
            Request::MapDone { worker, task } => {
                // A map output held by a worker we declared dead may already be gone: ignore it.
                if self.seen(worker).is_some() {
                    self.map_done(worker, task);
                }
                Response::Ack
            }
            Request::ReduceDone {
                worker,
                task,
                output,
            } => {
                // A reduce output is self-contained: accept it even from a worker declared dead.
                let _ = self.seen(worker);
                self.reduce_done(worker, task, output);
                Response::Ack
            }
            Request::TaskFailed {
                worker,
                task,
                reduce,
                why,
            } => {
                let _ = self.seen(worker);
                self.task_failed(worker, task, reduce, why);
                Response::Ack
            }
            Request::FetchFailed {
                worker,
                task,
                map_task,
                holder,
            } => {
                let _ = self.seen(worker);
                self.fetch_failed(worker, task, map_task, holder);
                Response::Ack
            }
        }
    }

    fn seen(&mut self, worker: WorkerId) -> Option<()> {
        let state = self.workers.get_mut(&worker)?;
        state.last_seen = self.now;
        Some(())
    }

    fn maps_all_done(&self) -> bool {
        self.maps
            .iter()
            .all(|t| matches!(t, TaskState::Done { .. }))
    }

    fn assign(&mut self, worker: WorkerId) -> Option<Assignment> {
        if !self.maps_all_done() {
            let task = pick(
                &mut self.maps,
                worker,
                self.now,
                self.config.backup_after_ticks,
                &mut self.progress.backups,
            )?;
            let split = self.splits[task.0 as usize];
            return Some(Assignment::Map {
                task,
                split,
                doc: self.docs[split.file as usize].clone(),
                reduces: self.config.reduces,
            });
        }
        let task = pick(
            &mut self.reduces,
            worker,
            self.now,
            self.config.backup_after_ticks,
            &mut self.progress.backups,
        )?;
        let sources = self
            .maps
            .iter()
            .enumerate()
            .map(|(m, state)| {
                let TaskState::Done { holder } = state else {
                    unreachable!("every map task is done in the reduce phase")
                };
                MapSource {
                    map_task: TaskId(m as u32),
                    holder: *holder,
                    addr: self
                        .workers
                        .get(holder)
                        .map(|w| w.addr.clone())
                        .unwrap_or_default(),
                }
            })
            .collect();
        Some(Assignment::Reduce { task, sources })
    }

    fn map_done(&mut self, worker: WorkerId, task: TaskId) {
        let Some(state) = self.maps.get_mut(task.0 as usize) else {
            tracing::warn!(%worker, task = task.0, "MapDone for an unknown task");
            return;
        };
        if !matches!(state, TaskState::Done { .. }) {
            *state = TaskState::Done { holder: worker };
            if let Some(w) = self.workers.get_mut(&worker) {
                w.tasks_done += 1;
            }
        }
    }

    fn reduce_done(&mut self, worker: WorkerId, task: TaskId, output: Bytes) {
        let r = task.0 as usize;
        if r >= self.reduces.len() || self.outputs[r].is_some() {
            return;
        }
        // Bytes from the network: a malformed output is refused here rather than failing the
        // final merge; the task stays pending and is re-issued.
        if let Err(err) = decode_records(&output, &mut Vec::new()) {
            tracing::warn!(%worker, task = task.0, %err, "malformed reduce output refused");
            return;
        }
        self.reduces[r] = TaskState::Done { holder: worker };
        self.outputs[r] = Some(output);
        if let Some(w) = self
            .workers
            .get_mut(&worker)
            .or_else(|| self.dead.get_mut(&worker))
        {
            w.tasks_done += 1;
        }
    }

    fn fetch_failed(&mut self, worker: WorkerId, task: TaskId, map_task: TaskId, holder: WorkerId) {
        if let Some(state) = self.reduces.get_mut(task.0 as usize) {
            drop_attempt(state, worker);
        }
        let holds = matches!(self.maps.get(map_task.0 as usize), Some(TaskState::Done { holder: h }) if *h == holder);
        if !holds {
            return; // Already re-executed (or re-made elsewhere): a stale report.
        }
        tracing::info!(%holder, map_task = map_task.0, "map output unreachable; re-executing its holder's maps");
        self.declare_dead(holder);
        for map in &mut self.maps {
            if matches!(map, TaskState::Done { holder: h } if *h == holder) {
                *map = TaskState::Idle;
                self.progress.maps_reexecuted += 1;
            }
        }
    }

    fn task_failed(&mut self, worker: WorkerId, task: TaskId, reduce: bool, why: String) {
        let tasks = if reduce {
            &mut self.reduces
        } else {
            &mut self.maps
        };
        let Some(state) = tasks.get_mut(task.0 as usize) else {
            return;
        };
        drop_attempt(state, worker);
        let count = self.failures.entry((reduce, task)).or_insert(0);
        *count += 1;
        tracing::warn!(%worker, task = task.0, reduce, %why, "task failed");
        if *count >= TASK_FAILURES_MAX && self.failed.is_none() {
            let phase = if reduce { "reduce" } else { "map" };
            self.failed = Some(format!(
                "{phase} task {} failed {count} times: {why}",
                task.0
            ));
        }
    }

    fn declare_dead(&mut self, worker: WorkerId) {
        let Some(state) = self.workers.remove(&worker) else {
            return;
        };
        self.dead.insert(worker, state);
        self.progress.workers_lost += 1;
        tracing::info!(%worker, "worker declared dead");
        for task in self.maps.iter_mut().chain(self.reduces.iter_mut()) {
            drop_attempt(task, worker);
        }
    }

    fn tick(&mut self) {
        self.now += 1;
        let silent: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| self.now - w.last_seen > self.config.worker_timeout_ticks)
            .map(|(id, _)| *id)
            .collect();
        for worker in silent {
            self.declare_dead(worker);
        }
        let (now, limit) = (self.now, self.config.task_timeout_ticks);
        for task in self.maps.iter_mut().chain(self.reduces.iter_mut()) {
            if let TaskState::Running { attempts } = task {
                attempts.retain(|&(_, started)| now - started <= limit);
                if attempts.is_empty() {
                    *task = TaskState::Idle;
                }
            }
        }
    }
}

/// Removes `worker`'s attempt at a running task; a task with no attempt left is idle again.
fn drop_attempt(state: &mut TaskState, worker: WorkerId) {
    if let TaskState::Running { attempts } = state {
        attempts.retain(|(w, _)| *w != worker);
        if attempts.is_empty() {
            *state = TaskState::Idle;
        }
    }
}

/// Picks a task of one phase for `worker`: the first idle one; failing that, a backup attempt of
/// the longest-running task that has a single attempt, on another worker, running for at least
/// `backup_after` ticks (MapReduce paper §3.6).
fn pick(
    tasks: &mut [TaskState],
    worker: WorkerId,
    now: u64,
    backup_after: u64,
    backups: &mut u32,
) -> Option<TaskId> {
    if let Some(i) = tasks.iter().position(|t| matches!(t, TaskState::Idle)) {
        tasks[i] = TaskState::Running {
            attempts: vec![(worker, now)],
        };
        return Some(TaskId(i as u32));
    }
    let (i, _) = tasks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            TaskState::Running { attempts } if attempts.len() == 1 && attempts[0].0 != worker => {
                Some((i, attempts[0].1))
            }
            _ => None,
        })
        .filter(|&(_, started)| now - started >= backup_after)
        .min_by_key(|&(i, started)| (started, i))?;
    if let TaskState::Running { attempts } = &mut tasks[i] {
        attempts.push((worker, now));
    }
    *backups += 1;
    Some(TaskId(i as u32))
}

impl Node for Coordinator {
    type Msg = Never;
    type Req = Request;
    type Resp = Response;

    fn on_message(&mut self, _from: NodeId, msg: Never, _out: &mut NodeOutbox<Self>) {
        match msg {}
    }

    fn on_request(&mut self, req: ReqId, body: Request, out: &mut NodeOutbox<Self>) {
        let resp = self.handle(body);
        out.reply(req, resp);
    }

    fn on_tick(&mut self, _out: &mut NodeOutbox<Self>) {
        self.tick();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn core(maps: u32) -> Coordinator {
        let splits = (0..maps)
            .map(|i| SplitRef {
                file: 0,
                offset: u64::from(i),
                len: 1,
            })
            .collect();
        let config = CoordinatorConfig {
            reduces: 1,
            worker_timeout_ticks: 5,
            task_timeout_ticks: 50,
            backup_after_ticks: 2,
        };
        Coordinator::new("wc", "", vec!["doc".into()], splits, config)
    }

    fn register(c: &mut Coordinator) -> WorkerId {
        match c.handle(Request::Register {
            fetch_addr: String::new(),
        }) {
            Response::Registered { worker, .. } => worker,
            other => panic!("{other:?}"),
        }
    }

    /// A task failing on its own three times fails the job with the reason; workers are told
    /// to exit rather than retry forever.
    #[test]
    fn repeated_task_failure_fails_the_job() {
        let mut c = core(1);
        let w = register(&mut c);
        for i in 0..TASK_FAILURES_MAX {
            assert!(
                matches!(c.handle(Request::AskTask { worker: w }), Response::Task(_)),
                "attempt {i}"
            );
            c.handle(Request::TaskFailed {
                worker: w,
                task: TaskId(0),
                reduce: false,
                why: "unreadable".into(),
            });
        }
        assert!(c.failed().unwrap().contains("unreadable"));
        assert_eq!(c.handle(Request::AskTask { worker: w }), Response::Exit);
    }

    /// A silent worker is declared dead and its running task goes to another worker; it must
    /// register again to be heard.
    #[test]
    fn silent_worker_loses_its_task() {
        let mut c = core(1);
        let (a, b) = (register(&mut c), register(&mut c));
        assert!(matches!(
            c.handle(Request::AskTask { worker: a }),
            Response::Task(_)
        ));
        for _ in 0..3 {
            c.tick();
            c.handle(Request::Heartbeat { worker: b });
        }
        // Backup after 2 ticks: b gets a second attempt while a is still alive.
        assert!(matches!(
            c.handle(Request::AskTask { worker: b }),
            Response::Task(_)
        ));
        for _ in 0..6 {
            c.tick();
            c.handle(Request::Heartbeat { worker: b });
        }
        assert_eq!(
            c.handle(Request::AskTask { worker: a }),
            Response::UnknownWorker
        );
        assert_eq!(c.progress().workers_lost, 1);
        c.handle(Request::MapDone {
            worker: b,
            task: TaskId(0),
        });
        assert!(matches!(
            c.handle(Request::AskTask { worker: b }),
            Response::Task(Assignment::Reduce { .. })
        ));
    }
}
