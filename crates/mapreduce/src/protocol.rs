//! The master/worker protocol. Workers call the master (they are its clients); the master never
//! calls a worker, so a worker behind a firewall only needs its fetch port reachable by other
//! workers.
//!
//! ```text
//! worker                         master
//!   Register{fetch_addr}  ---->  Registered{worker, job, split_server}
//!   AskTask{worker}       ---->  Task(Map{..}) | Task(Reduce{..}) | Wait | Exit | UnknownWorker
//!   Heartbeat{worker}     ---->  Ack            (every second while a task runs)
//!   MapDone{worker,task}  ---->  Ack            (the output stays on the worker)
//!   ReduceDone{.., output}---->  Ack            (the output travels to the master)
//!   FetchFailed{..}       ---->  Ack            (a map output could not be fetched)
//!   TaskFailed{..}        ---->  Ack            (the task itself failed: bad input)
//! ```
//!
//! Every request is idempotent, so a worker retries any of them freely. `UnknownWorker` tells a
//! worker the master declared it dead (or restarted): it registers again under a new id.
//! **The order of the variants is the wire format**; never reorder them.

use crate::split::SplitRef;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A worker's identity, chosen by the master at registration; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkerId(pub u64);

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "w{}", self.0)
    }
}

/// A map or reduce task number (within its phase).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId(pub u32);

/// A request from a worker to the master.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A worker joins; `fetch_addr` is where other workers fetch its map outputs.
    Register {
        /// Address of the worker's map-output server (opaque to the master).
        fetch_addr: String,
    },
    /// A worker asks for work.
    AskTask {
        /// Who asks.
        worker: WorkerId,
    },
    /// A worker busy with a long task says it is alive.
    Heartbeat {
        /// Who.
        worker: WorkerId,
    },
    /// A map task finished; its output is held by `worker`.
    MapDone {
        /// Who ran it.
        worker: WorkerId,
        /// Which map task.
        task: TaskId,
    },
    /// A reduce task finished with `output` (sorted records, see [`crate::records`]).
    ReduceDone {
        /// Who ran it.
        worker: WorkerId,
        /// Which reduce task.
        task: TaskId,
        /// The partition's output.
        output: Bytes,
    },
    /// While running reduce task `task`, `worker` could not fetch the output of `map_task` from
    /// `holder`: the master re-executes that map task and re-issues the reduce task.
    FetchFailed {
        /// The reducer.
        worker: WorkerId,
        /// The reduce task it gives up.
        task: TaskId,
        /// The map output it could not get.
        map_task: TaskId,
        /// The worker that was supposed to hold it.
        holder: WorkerId,
    },
    /// A task failed for a reason of its own (its input cannot be read): the master re-issues
    /// it, and fails the job after [`crate::coordinator::TASK_FAILURES_MAX`] such reports.
    TaskFailed {
        /// Who ran it.
        worker: WorkerId,
        /// Which task.
        task: TaskId,
        /// True for a reduce task, false for a map task.
        reduce: bool,
        /// Why, for the user.
        why: String,
    },
}

/// Where a reduce task fetches the output of one map task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSource {
    /// The map task.
    pub map_task: TaskId,
    /// The worker holding its output.
    pub holder: WorkerId,
    /// That worker's fetch address.
    pub addr: String,
}

/// A task handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assignment {
    /// Map `split` of document `doc` into `reduces` partitions.
    Map {
        /// The task.
        task: TaskId,
        /// The input range (the worker reads it from the master's split server).
        split: SplitRef,
        /// The document's name.
        doc: String,
        /// Number of reduce partitions.
        reduces: u32,
    },
    /// Reduce partition `task` from the outputs of every map task.
    Reduce {
        /// The task (= the partition).
        task: TaskId,
        /// One source per map task.
        sources: Vec<MapSource>,
    },
}

/// The master's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Registration accepted.
    Registered {
        /// The worker's new identity.
        worker: WorkerId,
        /// The job's registered name.
        job: String,
        /// Where the master serves input splits (a [`crate::blob`] server).
        split_server: String,
    },
    /// Do this task.
    Task(Assignment),
    /// Nothing to do now; ask again shortly.
    Wait,
    /// The job is finished: stop.
    Exit,
    /// The master does not know this worker (declared dead): register again.
    UnknownWorker,
    /// Noted.
    Ack,
}
