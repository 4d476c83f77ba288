//! MapReduce (SPEC §2, and the fault tolerance of the MapReduce paper) as real software.
//!
//! A job is a Rust type implementing [`Job`] (map, reduce, optional combiner), registered by
//! name ([`job_by_name`]). A run cuts its inputs into splits at line boundaries, maps each split
//! into one sorted run per reduce partition (FNV-1a of the key, SPEC §2.1), reduces each partition
//! from the runs of every map task, and merges the reduce outputs into one `key: value` line per
//! key, sorted by key in byte order.
//!
//! Three drivers run the same task functions ([`task`]), so their outputs are byte-identical:
//! - [`sequential`]: everything in one thread, no networking (`dsys wc --sequential`);
//! - [`master`] + [`worker`] over TCP: the master's scheduling is the sans-IO [`Coordinator`]
//!   driven by `rpc::spawn_node`; workers join at any time, keep their map outputs on their own
//!   disk and serve them to reducers; no shared filesystem is assumed;
//! - [`local`]: the same [`Coordinator`] under worker threads, map outputs in memory (the
//!   default of `dsys wc`: for a few MB, sockets and scratch files cost more than the work);
//! - the simulator (tests): the same [`Coordinator`] with simulated workers under seeded faults.
//!
//! Invariants: tasks are deterministic and idempotent, so re-execution and backup attempts are
//! harmless; the first completion of a task wins; a map output lost with its worker is
//! re-executed before the reduces that need it can finish. The master is a single point of
//! failure: its failure is out of scope (as in the original lab).

pub mod blob;
pub mod coordinator;
pub mod error;
pub mod fx;
pub mod job;
pub mod jobs;
pub mod local;
pub mod master;
pub mod output;
pub mod partition;
pub mod protocol;
pub mod records;
pub mod sequential;
pub mod split;
pub mod task;
pub mod words;
pub mod worker;

pub use coordinator::{Coordinator, CoordinatorConfig, Progress};
pub use error::MrError;
pub use job::{JOB_NAMES, Job, job_by_name};
pub use protocol::{Assignment, Request, Response, TaskId, WorkerId};
