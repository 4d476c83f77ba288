//! A worker over TCP: it asks the master for tasks, reads its map split from the master's split
//! server, keeps its map outputs in files of its own (one per map task, the reduce partitions
//! back to back), serves them to reducers with a [`crate::blob`] server, and sends reduce
//! outputs to the master. While a task runs it heartbeats once a second.
//!
//! The worker trusts nothing it receives: a bad split, a malformed map output or a dead peer
//! ends the task with an error report (`FetchFailed`), never a panic.

use crate::blob::{self, BlobRequest, BlobResponse, BlobServer};
use crate::error::MrError;
use crate::job::Job;
use crate::protocol::{Assignment, MapSource, Request, Response, TaskId, WorkerId};
use crate::split::SplitRef;
use crate::task::{run_map, run_reduce};
use rpc::{NodeConfig, NodeId, RpcClient, spawn_node};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// How long one call to the master or a peer may take. Why 10 s: a reduce output of several
/// MiB over a slow link, with margin; a dead peer is usually detected at once (refused).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a worker keeps trying to reach an unreachable master before giving up.
pub const MASTER_PATIENCE: Duration = Duration::from_secs(10);
/// Heartbeat interval while a task runs (the master's worker timeout is a few of these).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// Pause before asking again after `Wait`. Short: the end of a phase is where time is lost.
pub const WAIT_PAUSE: Duration = Duration::from_millis(2);
/// The largest input split a worker accepts. Why: a split is held in memory while mapped.
pub const SPLIT_BYTES_ACCEPTED_MAX: u64 = 256 << 20;
/// The largest map output run a reducer accepts from one map task.
pub const RUN_BYTES_ACCEPTED_MAX: u64 = 1 << 30;

/// A job registry: the jobs this binary knows, by name.
pub type JobRegistry = fn(&str) -> Option<Box<dyn Job>>;

/// How to run a worker.
pub struct WorkerOptions {
    /// The master's address.
    pub master: SocketAddr,
    /// Where this worker serves its map outputs.
    pub fetch_listener: TcpListener,
    /// The jobs this worker can run.
    pub jobs: JobRegistry,
    /// Directory for map outputs (a fresh directory inside it is created and removed).
    pub scratch: PathBuf,
    /// A pause before each task: makes a job last long enough to kill a worker mid-job in
    /// demos and tests. Zero in normal use.
    pub task_delay: Duration,
    /// Tasks run at once. Two overlap one task's network transfers with another's computing;
    /// each slot registers as a worker of its own (sharing the fetch server and the outputs).
    pub slots: u32,
}

/// What a worker did.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerReport {
    /// Tasks it finished (duplicates included).
    pub tasks: u32,
}

/// The map outputs this worker holds: task -> (file, range of each partition).
type Store = Arc<Mutex<HashMap<u32, (PathBuf, Vec<(u64, u64)>)>>>;

/// A scratch directory removed when dropped. A killed worker leaves it behind; the next worker
/// started with the same scratch root removes it ([`remove_stale_scratch`]).
struct Scratch(PathBuf);

/// The prefix of every worker's scratch directory; the process id and a counter follow.
const SCRATCH_PREFIX: &str = "dsys-mr-";

/// Removes the scratch directories under `root` left by workers whose process is gone (killed
/// before they could clean up). A directory is removed only if its name is a worker's
/// (`dsys-mr-PID-N`) and no process `PID` exists; where that cannot be told (no `/proc`),
/// nothing is removed. Returns how many were. Errors are ignored: this is housekeeping.
fn remove_stale_scratch(root: &std::path::Path) -> usize {
    let proc_root = std::path::Path::new("/proc");
    if !proc_root.join("self").exists() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, n)| n.parse::<u32>().is_ok())
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = proc_root.join(pid.to_string()).exists();
        if !alive && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Worker {
    master: RpcClient<Request, Response>,
    master_addr: SocketAddr,
    fetch_addr: String,
    jobs: JobRegistry,
    task_delay: Duration,
    store: Store,
    scratch: Arc<Scratch>,
    peers: HashMap<String, RpcClient<BlobRequest, BlobResponse>>,
    id: Option<(WorkerId, Arc<dyn Job>, String)>,
    report: WorkerReport,
}

/// Runs a worker until the master says the job is finished.
///
/// # Errors
/// [`MrError::Protocol`] if the master stays unreachable for [`MASTER_PATIENCE`] or names a job
/// this binary does not know; [`MrError::Io`] if the scratch directory cannot be made.
pub async fn run_worker(options: WorkerOptions) -> Result<WorkerReport, MrError> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stale = remove_stale_scratch(&options.scratch);
    if stale > 0 {
        tracing::info!(stale, "removed scratch directories of killed workers");
    }
    let dir = options
        .scratch
        .join(format!("{SCRATCH_PREFIX}{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let scratch = Scratch(dir);
    let fetch_addr = options.fetch_listener.local_addr()?;
    let store: Store = Arc::default();
    let resolver_store = store.clone();
    let resolve: blob::Resolver = Arc::new(move |task, part| {
        let store = resolver_store.lock().ok()?;
        let (path, parts) = store.get(&task)?;
        let &(start, len) = parts.get(part as usize)?;
        Some((path.clone(), start, len))
    });
    let _server = spawn_node(
        BlobServer::new(resolve),
        NodeConfig {
            id: NodeId(0),
            listener: options.fetch_listener,
            peers: vec![fetch_addr],
            tick: Duration::from_secs(1),
            data_dir: None,
        },
    );
    let scratch = Arc::new(scratch);
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..options.slots.max(1) {
        let mut worker = Worker {
            master: RpcClient::new(options.master),
            master_addr: options.master,
            fetch_addr: fetch_addr.to_string(),
            jobs: options.jobs,
            task_delay: options.task_delay,
            store: store.clone(),
            scratch: scratch.clone(),
            peers: HashMap::new(),
            id: None,
            report: WorkerReport::default(),
        };
        loops.spawn(async move { worker.run().await });
    }
    let mut total = WorkerReport::default();
    while let Some(done) = loops.join_next().await {
        let report = done.map_err(|e| MrError::Protocol(format!("worker loop: {e}")))??;
        total.tasks += report.tasks;
    }
    // The fetch server keeps serving until every slot is done: a slot's outputs may be needed
    // by another slot's reduce.
    Ok(total)
}

impl Worker {
    async fn run(&mut self) -> Result<WorkerReport, MrError> {
        loop {
            let Some((me, _, _)) = &self.id else {
                self.register().await?;
                continue;
            };
            match self.call(Request::AskTask { worker: *me }).await? {
                Response::Task(assignment) => self.run_task(assignment).await?,
                Response::Wait => tokio::time::sleep(WAIT_PAUSE).await,
                Response::Exit => return Ok(self.report),
                Response::UnknownWorker => self.id = None,
                other => tracing::warn!(?other, "unexpected answer to AskTask"),
            }
        }
    }

    async fn register(&mut self) -> Result<(), MrError> {
        let req = Request::Register {
            fetch_addr: self.fetch_addr.clone(),
        };
        let Response::Registered {
            worker,
            job,
            split_server,
        } = self.call(req).await?
        else {
            return Err(MrError::Protocol(
                "master answered Register with something else".into(),
            ));
        };
        let job: Arc<dyn Job> = (self.jobs)(&job)
            .ok_or_else(|| {
                MrError::Protocol(format!("master runs job {job:?}, unknown to this worker"))
            })?
            .into();
        tracing::info!(%worker, "registered");
        let split_server = resolve_unspecified(&split_server, self.master_addr);
        self.id = Some((worker, job, split_server));
        Ok(())
    }

    /// Calls the master, retrying transport failures for up to [`MASTER_PATIENCE`].
    async fn call(&self, req: Request) -> Result<Response, MrError> {
        let mut waited = Duration::ZERO;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.master.call(req.clone(), CALL_TIMEOUT).await {
                Ok(resp) => return Ok(resp),
                Err(err) if waited >= MASTER_PATIENCE => {
                    return Err(MrError::Protocol(format!(
                        "master {} unreachable: {err}",
                        self.master_addr
                    )));
                }
                Err(err) => tracing::debug!(%err, "master call failed; retrying"),
            }
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    async fn run_task(&mut self, assignment: Assignment) -> Result<(), MrError> {
        let (me, job, split_server) = self.id.clone().expect("a worker with a task is registered");
        let heartbeat = {
            let master = self.master.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                    let _ = master
                        .call(Request::Heartbeat { worker: me }, CALL_TIMEOUT)
                        .await;
                }
            })
        };
        tokio::time::sleep(self.task_delay).await;
        let (task, reduce) = match &assignment {
            Assignment::Map { task, .. } => (*task, false),
            Assignment::Reduce { task, .. } => (*task, true),
        };
        let report = match assignment {
            Assignment::Map {
                task,
                split,
                doc,
                reduces,
            } => {
                self.map(me, job, &split_server, task, split, doc, reduces)
                    .await
            }
            Assignment::Reduce { task, sources } => self.reduce(me, job, task, sources).await,
        };
        heartbeat.abort();
        match report {
            Ok(req) => {
                self.report.tasks += 1;
                self.call(req).await.map(|_| ())
            }
            Err(err) => {
                tracing::warn!(%err, "task failed");
                let why = err.to_string();
                self.call(Request::TaskFailed {
                    worker: me,
                    task,
                    reduce,
                    why,
                })
                .await
                .map(|_| ())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn map(
        &mut self,
        me: WorkerId,
        job: Arc<dyn Job>,
        split_server: &str,
        task: TaskId,
        split: SplitRef,
        doc: String,
        reduces: u32,
    ) -> Result<Request, MrError> {
        if split.len > SPLIT_BYTES_ACCEPTED_MAX || reduces == 0 || reduces > 1 << 16 {
            return Err(MrError::Protocol(format!(
                "refusing split {split:?} into {reduces} partitions"
            )));
        }
        let text = self.read_split(split_server, split).await?;
        let path = self.scratch.0.join(format!("map-{}", task.0));
        let parts = tokio::task::spawn_blocking(move || -> Result<Vec<(u64, u64)>, MrError> {
            let runs = run_map(job.as_ref(), &doc, &text, reduces);
            let mut parts = Vec::with_capacity(runs.len());
            let mut offset = 0;
            for run in &runs {
                parts.push((offset, run.len() as u64));
                offset += run.len() as u64;
            }
            std::fs::write(&path, runs.concat())?;
            Ok(parts)
        })
        .await
        .map_err(|e| MrError::Protocol(format!("map task panicked: {e}")))??;
        let path = self.scratch.0.join(format!("map-{}", task.0));
        self.store
            .lock()
            .map_err(|_| MrError::Protocol("store lock poisoned".into()))?
            .insert(task.0, (path, parts));
        Ok(Request::MapDone { worker: me, task })
    }

    async fn read_split(
        &mut self,
        split_server: &str,
        split: SplitRef,
    ) -> Result<Vec<u8>, MrError> {
        let client = self.peer(split_server)?;
        let mut text = Vec::with_capacity(split.len as usize);
        while (text.len() as u64) < split.len {
            let want = (split.len - text.len() as u64).min(u64::from(blob::CHUNK_BYTES_MAX)) as u32;
            let req = BlobRequest {
                blob: split.file,
                part: 0,
                offset: split.offset + text.len() as u64,
                len: want,
            };
            match client
                .call(req, CALL_TIMEOUT)
                .await
                .map_err(|e| MrError::Protocol(format!("split server: {e}")))?
            {
                BlobResponse::Data { bytes, .. } if !bytes.is_empty() => {
                    text.extend_from_slice(&bytes)
                }
                other => {
                    return Err(MrError::Protocol(format!(
                        "split server answered {other:?}"
                    )));
                }
            }
        }
        text.truncate(split.len as usize);
        Ok(text)
    }

    async fn reduce(
        &mut self,
        me: WorkerId,
        job: Arc<dyn Job>,
        task: TaskId,
        sources: Vec<MapSource>,
    ) -> Result<Request, MrError> {
        let mut runs = Vec::with_capacity(sources.len());
        for source in &sources {
            match self.fetch_run(source, task).await {
                Ok(run) => runs.push(run),
                Err(why) => {
                    tracing::info!(holder = %source.holder, map_task = source.map_task.0, %why, "fetch failed");
                    return Ok(Request::FetchFailed {
                        worker: me,
                        task,
                        map_task: source.map_task,
                        holder: source.holder,
                    });
                }
            }
        }
        let output = tokio::task::spawn_blocking(move || run_reduce(job.as_ref(), &runs))
            .await
            .map_err(|e| MrError::Protocol(format!("reduce task panicked: {e}")))??;
        Ok(Request::ReduceDone {
            worker: me,
            task,
            output: output.into(),
        })
    }

    async fn fetch_run(&mut self, source: &MapSource, task: TaskId) -> Result<Vec<u8>, String> {
        let client = self.peer(&source.addr).map_err(|e| e.to_string())?;
        let run = blob::fetch(
            &client,
            source.map_task.0,
            task.0,
            RUN_BYTES_ACCEPTED_MAX,
            CALL_TIMEOUT,
        )
        .await?;
        // Check it now: a malformed run is the holder's fault, not this task's.
        crate::records::decode_records(&run, &mut Vec::new()).map_err(|e| e.to_string())?;
        Ok(run)
    }

    fn peer(&mut self, addr: &str) -> Result<RpcClient<BlobRequest, BlobResponse>, MrError> {
        if let Some(client) = self.peers.get(addr) {
            return Ok(client.clone());
        }
        let parsed: SocketAddr = addr
            .parse()
            .map_err(|_| MrError::Protocol(format!("bad peer address {addr:?}")))?;
        let client = RpcClient::new(parsed);
        self.peers.insert(addr.to_string(), client.clone());
        Ok(client)
    }
}

/// A server bound to 0.0.0.0 advertises an unspecified address; reach it at the master's host.
fn resolve_unspecified(addr: &str, master: SocketAddr) -> String {
    match addr.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => SocketAddr::new(master.ip(), a.port()).to_string(),
        _ => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker's directory whose process is gone is removed; a live process's, and anything
    /// not named like a worker's, are kept.
    #[test]
    fn stale_scratch_of_dead_workers_is_removed() {
        let root = std::env::temp_dir().join(format!("dsys-scratch-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("make the test root");
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("run true");
        let dead_pid = child.id();
        child.wait().expect("reap it");
        let dead = root.join(format!("{SCRATCH_PREFIX}{dead_pid}-0"));
        let alive = root.join(format!("{SCRATCH_PREFIX}{}-0", std::process::id()));
        let other = root.join(format!("{SCRATCH_PREFIX}{dead_pid}-x"));
        let unrelated = root.join("keep-me");
        for dir in [&dead, &alive, &other, &unrelated] {
            std::fs::create_dir_all(dir).expect("make a dir");
        }
        std::fs::write(dead.join("map-0"), b"old output").expect("write a file");
        assert_eq!(remove_stale_scratch(&root), 1);
        assert!(!dead.exists(), "the dead worker's directory is removed");
        assert!(alive.exists() && other.exists() && unrelated.exists());
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
