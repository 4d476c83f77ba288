//! The in-process run of `dsys wc`: the real [`Coordinator`] schedules, worker threads run the
//! tasks, and map outputs stay in memory, handed from thread to thread. No sockets and no
//! scratch files: for a 4 MB input the fixed costs of TCP and a runtime would dominate.
//!
//! Threads cannot die silently here (a panic aborts the run), so the core is never ticked: no
//! timeouts, no backups. The distributed run ([`crate::master`]) is the fault-tolerant one.

use crate::coordinator::{Coordinator, CoordinatorConfig};
use crate::error::MrError;
use crate::job::Job;
use crate::protocol::{Assignment, Request, Response, TaskId};
use crate::split::{doc_name, plan_splits, read_range};
use crate::task::{run_map, run_reduce};
use rpc::{Effect, Node, NodeOutbox, ReqId};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

struct Shared {
    core: Coordinator,
    out: NodeOutbox<Coordinator>,
    next_req: u64,
    /// Map outputs by map task: one run per reduce partition.
    runs: BTreeMap<u32, Vec<Vec<u8>>>,
    /// The first error any thread met; the others stop.
    error: Option<MrError>,
}

struct Local<'a> {
    shared: Mutex<Shared>,
    /// Signalled whenever a task completes or the run fails: a thread told to `Wait` sleeps on it.
    changed: Condvar,
    job: &'a dyn Job,
    inputs: &'a [PathBuf],
}

impl Local<'_> {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One request through the core, exactly as the TCP runtime would deliver it.
    fn call(shared: &mut Shared, body: Request) -> Response {
        let req = ReqId(shared.next_req);
        shared.next_req += 1;
        shared.core.on_request(req, body, &mut shared.out);
        let reply = shared.out.drain().find_map(|effect| match effect {
            Effect::Reply { req: r, resp } if r == req => Some(resp),
            _ => None,
        });
        reply.expect("the coordinator answers every request at once")
    }

    fn worker(&self) {
        let mut shared = self.lock();
        let Response::Registered { worker, .. } = Self::call(
            &mut shared,
            Request::Register {
                fetch_addr: String::new(),
            },
        ) else {
            unreachable!("Register is always answered with Registered");
        };
        loop {
            if shared.error.is_some() {
                return;
            }
            match Self::call(&mut shared, Request::AskTask { worker }) {
                Response::Task(Assignment::Map {
                    task,
                    split,
                    doc,
                    reduces,
                }) => {
                    drop(shared);
                    let result =
                        read_range(&self.inputs[split.file as usize], split.offset, split.len)
                            .map(|text| run_map(self.job, &doc, &text, reduces));
                    shared = self.lock();
                    match result {
                        Ok(runs) => {
                            shared.runs.insert(task.0, runs);
                            Self::call(&mut shared, Request::MapDone { worker, task });
                        }
                        Err(err) => shared.error = Some(err),
                    }
                    self.changed.notify_all();
                }
                Response::Task(Assignment::Reduce { task, sources }) => {
                    let inputs: Vec<Vec<u8>> = sources
                        .iter()
                        .map(|s| {
                            std::mem::take(
                                &mut shared
                                    .runs
                                    .get_mut(&s.map_task.0)
                                    .expect("map output of a done task")
                                    [task.0 as usize],
                            )
                        })
                        .collect();
                    drop(shared);
                    let result = run_reduce(self.job, &inputs);
                    shared = self.lock();
                    match result {
                        Ok(output) => {
                            Self::call(
                                &mut shared,
                                Request::ReduceDone {
                                    worker,
                                    task: TaskId(task.0),
                                    output: output.into(),
                                },
                            );
                        }
                        Err(err) => shared.error = Some(err.into()),
                    }
                    self.changed.notify_all();
                }
                Response::Wait => {
                    shared = self
                        .changed
                        .wait(shared)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                _ => {
                    self.changed.notify_all();
                    return;
                }
            }
        }
    }
}

/// Runs `job` over `inputs` on `workers` threads of this process; returns the reduce outputs.
///
/// # Errors
/// [`MrError::Input`] if an input cannot be read.
pub fn run_threads(
    job: &dyn Job,
    inputs: &[PathBuf],
    split_bytes: u64,
    config: CoordinatorConfig,
    workers: u32,
) -> Result<Vec<Vec<u8>>, MrError> {
    let splits = plan_splits(inputs, split_bytes)?;
    let docs = inputs.iter().map(|p| doc_name(p)).collect();
    let local = Local {
        shared: Mutex::new(Shared {
            core: Coordinator::new(job.name(), "", docs, splits, config),
            out: NodeOutbox::<Coordinator>::new(),
            next_req: 0,
            runs: BTreeMap::new(),
            error: None,
        }),
        changed: Condvar::new(),
        job,
        inputs,
    };
    std::thread::scope(|scope| {
        for _ in 1..workers.max(1) {
            scope.spawn(|| local.worker());
        }
        local.worker();
    });
    let mut shared = local
        .shared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(err) = shared.error.take() {
        return Err(err);
    }
    let outputs = shared
        .core
        .outputs()
        .expect("every worker returned, so the job is done");
    Ok(outputs.into_iter().map(Vec::from).collect())
}
