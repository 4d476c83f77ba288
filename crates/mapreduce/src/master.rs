//! The master over TCP: the [`Coordinator`] core driven by `rpc::spawn_node`, and a
//! [`crate::blob`] server for the input splits. Also [`run_local`], the in-process run of
//! `dsys wc`: a master and one worker per core in this process, over loopback TCP.

use crate::blob::{BlobServer, Resolver};
use crate::coordinator::{Coordinator, CoordinatorConfig, Progress};
use crate::error::MrError;
use crate::split::{doc_name, plan_splits};
use crate::worker::{JobRegistry, WorkerOptions, run_worker};
use bytes::Bytes;
use rpc::{NodeConfig, NodeId, spawn_node};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The master's tick. Timeouts below are counts of it.
pub const TICK: Duration = Duration::from_millis(10);

/// How often the shell looks at the core's progress. Why 5 ms: the end of a job is noticed
/// within a frame of the progress bar, at a negligible cost (one channel round trip per look).
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// The master's timeouts: a worker silent for 3 s (three missed heartbeats) is dead; an attempt
/// running for 60 s is abandoned; at the end of a phase a task running for 2 s gets a backup.
pub fn default_config(reduces: u32) -> CoordinatorConfig {
    CoordinatorConfig {
        reduces,
        worker_timeout_ticks: 300,
        task_timeout_ticks: 6_000,
        backup_after_ticks: 200,
    }
}

/// A job to run.
#[derive(Clone, Debug)]
pub struct MasterOptions {
    /// The job's registered name.
    pub job: String,
    /// Input files.
    pub inputs: Vec<PathBuf>,
    /// Approximate split size.
    pub split_bytes: u64,
    /// Scheduling parameters (reduce count, timeouts).
    pub config: CoordinatorConfig,
    /// After the job, how long to keep answering `Exit` to workers still asking.
    pub linger: Duration,
    /// Linger until at least this many workers were told to exit (the in-process run knows how
    /// many it started, some of which may not even have registered yet).
    pub expect_workers: u32,
}

/// A finished job.
#[derive(Debug)]
pub struct MasterResult {
    /// The reduce outputs, one per partition.
    pub outputs: Vec<Bytes>,
    /// Final counts.
    pub progress: Progress,
    /// First completions per worker.
    pub tasks_per_worker: BTreeMap<crate::WorkerId, u32>,
}

/// Runs a master on `listener` (workers call it) and `split_listener` (input splits) until the
/// job is done, calling `on_progress` whenever the counts change.
///
/// # Errors
/// [`MrError::Input`] if an input cannot be read; [`MrError::Protocol`] if the core stops.
pub async fn run_master(
    listener: TcpListener,
    split_listener: TcpListener,
    options: MasterOptions,
    mut on_progress: impl FnMut(&Progress),
) -> Result<MasterResult, MrError> {
    let splits = plan_splits(&options.inputs, options.split_bytes)?;
    let sizes: Vec<u64> = options
        .inputs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .collect::<Result<_, _>>()?;
    let inputs = Arc::new(options.inputs.clone());
    let resolve: Resolver = Arc::new(move |file, _part| {
        let i = file as usize;
        Some((inputs.get(i)?.clone(), 0, *sizes.get(i)?))
    });
    let split_addr = split_listener.local_addr()?;
    let _splits_server = spawn_node(
        BlobServer::new(resolve),
        NodeConfig {
            id: NodeId(0),
            listener: split_listener,
            peers: vec![split_addr],
            tick: Duration::from_secs(1),
            data_dir: None,
        },
    );
    let docs = options.inputs.iter().map(|p| doc_name(p)).collect();
    let core = Coordinator::new(
        &options.job,
        &split_addr.to_string(),
        docs,
        splits,
        options.config.clone(),
    );
    let addr = listener.local_addr()?;
    let node = spawn_node(
        core,
        NodeConfig {
            id: NodeId(0),
            listener,
            peers: vec![addr],
            tick: TICK,
            data_dir: None,
        },
    );
    let stopped = |_| MrError::Protocol("the master core stopped".into());
    let mut last = None;
    let result = loop {
        let (progress, outputs, failed) = node
            .call(|c, _| (c.progress(), c.outputs(), c.failed().map(str::to_string)))
            .await
            .map_err(stopped)?;
        if let Some(why) = failed {
            node.shutdown().await;
            return Err(MrError::Protocol(format!("job failed: {why}")));
        }
        if last != Some(progress) {
            on_progress(&progress);
            last = Some(progress);
        }
        if let Some(outputs) = outputs {
            let tasks_per_worker = node
                .call(|c, _| c.tasks_per_worker())
                .await
                .map_err(stopped)?;
            break MasterResult {
                outputs,
                progress,
                tasks_per_worker,
            };
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    // Workers still asking learn that the job is over; the rest time out on their own.
    let mut waited = Duration::ZERO;
    while waited < options.linger {
        let (exited, live) = node
            .call(|c, _| (c.workers_exited(), c.progress().live_workers))
            .await
            .map_err(stopped)?;
        if exited >= live.max(options.expect_workers) as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        waited += Duration::from_millis(5);
    }
    node.shutdown().await;
    Ok(result)
}

/// Runs `job` in this process: a master and `workers` workers over loopback TCP, the way
/// `dsys wc` does by default. Returns the reduce outputs.
///
/// # Errors
/// As [`run_master`], or a worker's error.
pub fn run_local(
    jobs: JobRegistry,
    options: MasterOptions,
    workers: u32,
) -> Result<Vec<Bytes>, MrError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.clamp(1, 64) as usize)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (mut listeners, addrs) = rpc::bind_loopback(2 + workers as usize).await?;
        let master_listener = listeners.remove(0);
        let split_listener = listeners.remove(0);
        let mut tasks = Vec::new();
        for fetch_listener in listeners {
            let worker = WorkerOptions {
                master: addrs[0],
                fetch_listener,
                jobs,
                scratch: std::env::temp_dir(),
                task_delay: Duration::ZERO,
                slots: 1,
            };
            tasks.push(tokio::spawn(run_worker(worker)));
        }
        let options = MasterOptions {
            expect_workers: workers,
            ..options
        };
        let result = run_master(master_listener, split_listener, options, |_| {}).await?;
        for task in tasks {
            let outcome = task
                .await
                .map_err(|e| MrError::Protocol(format!("worker task: {e}")))?;
            // The master finished the job, so a worker's failure was tolerated (its tasks went
            // to others). One that started after the job was done finds the master gone:
            // "connection refused" is then the normal end, not an error of the run.
            if let Err(err) = outcome {
                tracing::warn!(%err, "a worker ended with an error; the job completed without it");
            }
        }
        Ok(result.outputs)
    })
}
