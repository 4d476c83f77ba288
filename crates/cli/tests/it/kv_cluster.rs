//! Shared by the kvpaxos process tests: a cluster of `dsys kv serve` processes on loopback,
//! in memory or each with a data directory under a [`Scratch`] root.

#![allow(clippy::disallowed_methods)] // Real processes: waits are bounded by wall-clock time.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One `dsys kv serve` process. Killed (SIGKILL) when dropped.
pub struct Replica {
    child: Child,
    /// Its id and the arguments it was started with (for a restart).
    id: usize,
    args: Vec<String>,
    /// Its peer (and clerk) address.
    pub addr: SocketAddr,
    /// Its RESP address, if started with `--resp`.
    pub resp: Option<SocketAddr>,
    /// Its data directory (`None` in memory); its log (stderr) goes next to it.
    pub data_dir: Option<PathBuf>,
}

/// A directory under the system's temporary directory for one test, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new, empty directory named after `test` and this process.
    pub fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("dsys-it-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Free loopback addresses: bound on port 0, then released for the processes to bind.
pub fn free_addrs(count: usize) -> Vec<SocketAddr> {
    let probes: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe"))
        .collect();
    probes
        .iter()
        .map(|p| p.local_addr().expect("probe address"))
        .collect()
}

/// Starts `count` in-memory replicas (with a RESP listener on a free port each if `resp`) and
/// waits for each to print its readiness line. A freed probe port can be taken by someone else
/// before the replica binds it; then the replica exits at once (closing its stdout), and the
/// whole cluster is started again on new ports, up to [`START_ATTEMPTS`] times.
pub fn start(count: usize, resp: bool) -> Vec<Replica> {
    start_with(count, resp, None)
}

/// [`start`] with durable replicas: replica `i` keeps its state in `root/kv-i`, and logs to
/// `root/kv-i.log`.
pub fn start_durable(count: usize, resp: bool, root: &Path) -> Vec<Replica> {
    start_with(count, resp, Some(root))
}

fn start_with(count: usize, resp: bool, root: Option<&Path>) -> Vec<Replica> {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match try_start(count, resp, root) {
            Ok(replicas) => return replicas,
            Err(why) => failures.push(why),
        }
    }
    panic!("could not start {count} replicas: {failures:#?}");
}

/// Attempts to start the whole cluster.
const START_ATTEMPTS: usize = 3;

fn try_start(count: usize, resp: bool, root: Option<&Path>) -> Result<Vec<Replica>, String> {
    let peers = free_addrs(count);
    let list = peers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut replicas = Vec::new();
    for (id, addr) in peers.iter().enumerate() {
        let mut args = vec![
            "kv".to_string(),
            "serve".into(),
            "--id".into(),
            id.to_string(),
            "--peers".into(),
            list.clone(),
        ];
        if resp {
            args.extend(["--resp".into(), "127.0.0.1:0".into()]);
        }
        let data_dir = root.map(|root| root.join(format!("kv-{id}")));
        match &data_dir {
            Some(dir) => {
                // A failed attempt recorded other ports there: start each attempt afresh.
                let _ = std::fs::remove_dir_all(dir);
                args.extend(["--data-dir".into(), dir.display().to_string()]);
            }
            None => args.push("--in-memory".into()),
        }
        let (child, resp) = spawn(id, *addr, &args, data_dir.as_deref())?;
        replicas.push(Replica {
            child,
            id,
            args,
            addr: *addr,
            resp,
            data_dir,
        });
    }
    Ok(replicas)
}

/// Starts one `dsys kv serve` with `args` and waits for its readiness line; returns the process
/// and its RESP address, if it has one. With a data directory, stderr is appended to a log
/// file beside it, so a failing test can show what the replica said.
fn spawn(
    id: usize,
    addr: SocketAddr,
    args: &[String],
    data_dir: Option<&Path>,
) -> Result<(Child, Option<SocketAddr>), String> {
    let stderr = match data_dir {
        Some(dir) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_path(dir))
                .expect("open the replica's log"),
        ),
        None => Stdio::null(),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn dsys kv serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    if read.is_err() || !line.starts_with(&format!("kv replica {id} listening on {addr}")) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("dsys {args:?} printed {line:?}"));
    }
    let resp = if args.iter().any(|a| a == "--resp") {
        let resp = resp_in(&line);
        if resp.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no RESP address in {line:?}"));
        }
        resp
    } else {
        None
    };
    Ok((child, resp))
}

/// The RESP address in a listening line (`... resp ADDR ...`), if any.
fn resp_in(line: &str) -> Option<SocketAddr> {
    line.split_once(" resp ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
}

fn log_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().expect("a named directory").to_owned();
    name.push(".log");
    dir.with_file_name(name)
}

/// A `dsys` process started by hand, with its first line of output. Killed (SIGKILL) and
/// reaped when dropped.
pub struct Serving {
    /// The process.
    pub child: Child,
    /// The first line it printed (a server's listening line).
    pub line: String,
}

impl Serving {
    /// Spawns `command` with its stdout piped here and waits for its first line.
    pub fn spawn(mut command: Command) -> Serving {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a dsys process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the first line");
        Serving { child, line }
    }

    /// Spawns `dsys ARGS` (stderr discarded) and waits until it printed a `kv replica` line.
    pub fn start(args: &[&str]) -> Serving {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dsys"));
        command.args(args).stderr(Stdio::null());
        let serving = Serving::spawn(command);
        assert!(
            serving.line.starts_with("kv replica"),
            "{args:?} printed {:?}",
            serving.line
        );
        serving
    }

    /// The RESP address of its listening line, if it has one.
    pub fn resp(&self) -> Option<SocketAddr> {
        resp_in(&self.line)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends the process `signal` (`STOP` pauses it as a stalled machine would, `CONT` resumes
    /// it) with the system's `kill`.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Replica {
    /// Starts the replica again, with the same arguments, after [`Replica::kill`]: in memory, a
    /// new process with none of the old one's state; with a data directory, the replica
    /// restored from it.
    ///
    /// # Panics
    /// If it does not come up (its peer address may have been taken meanwhile).
    pub fn restart(&mut self) {
        let (child, resp) = spawn(self.id, self.addr, &self.args, self.data_dir.as_deref())
            .unwrap_or_else(|why| panic!("restart the replica: {why}\n{}", self.log()));
        self.child = child;
        self.resp = resp;
    }

    /// Deletes the replica's data directory, as a lost disk would (after [`Replica::kill`]).
    ///
    /// # Panics
    /// If it has none, or it cannot be removed.
    pub fn wipe(&self) {
        let dir = self.data_dir.as_ref().expect("a durable replica");
        std::fs::remove_dir_all(dir).expect("remove the data directory");
    }

    /// What the replica wrote to stderr so far (durable replicas only; "" otherwise).
    pub fn log(&self) -> String {
        self.data_dir
            .as_deref()
            .and_then(|dir| std::fs::read_to_string(log_path(dir)).ok())
            .unwrap_or_default()
    }
}

impl Replica {
    /// The replica's `INFO` text, read over its RESP port (raw RESP, no redis-cli needed).
    ///
    /// # Panics
    /// If the replica has no RESP port or does not answer with a bulk string.
    pub fn info(&self) -> String {
        self.try_info()
            .unwrap_or_else(|why| panic!("INFO of replica {}: {why}", self.id))
    }

    /// [`Replica::info`], or why there is none (the replica is down, say).
    pub fn try_info(&self) -> Result<String, String> {
        info_at(self.resp.ok_or("not started with --resp")?)
    }

    /// The leader this replica believes in, from its `INFO`.
    pub fn leader(&self) -> Option<usize> {
        info_field(&self.info(), "leader_id")
    }
}

/// The `INFO` text of the replica whose RESP port is `addr` (raw RESP, no redis-cli needed),
/// or why there is none.
pub fn info_at(addr: SocketAddr) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"*1\r\n$4\r\nINFO\r\n")
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).map_err(|e| e.to_string())?;
    let len: usize = header
        .trim()
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("INFO answered {header:?}"))?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    String::from_utf8(body).map_err(|e| e.to_string())
}

/// A numeric `name:value` field of an `INFO` text.
pub fn info_field<T: std::str::FromStr>(info: &str, name: &str) -> Option<T> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits (at most 5 s) until every replica names the same leader, and returns it.
///
/// # Panics
/// If they do not agree in time.
pub fn leader(replicas: &[Replica]) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let named: Vec<Option<usize>> = replicas.iter().map(Replica::leader).collect();
        if let Some(Some(first)) = named.first()
            && named.iter().all(|n| *n == Some(*first))
        {
            return *first;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replicas do not agree on a leader: {named:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Operation `kind` (0 Get, 1 Put, else Append) on `key` with `value`, as the clerk runs it and
/// as the checker records it.
pub fn kv_op(kind: u64, key: String, value: String) -> (kvpaxos::Op, check::KvInput) {
    use check::KvInput;
    use kvpaxos::Op;
    match kind {
        0 => (Op::Get { key: key.clone() }, KvInput::get(key)),
        1 => (
            Op::Put {
                key: key.clone(),
                value: value.clone(),
            },
            KvInput::put(key, value),
        ),
        _ => (
            Op::Append {
                key: key.clone(),
                value: value.clone(),
            },
            KvInput::append(key, value),
        ),
    }
}

/// Waits for every client task (each answers how many operations it completed) and takes the
/// history they recorded: answers the total completed and the history.
pub async fn join_clients(
    mut tasks: tokio::task::JoinSet<u64>,
    history: std::sync::Arc<std::sync::Mutex<check::History>>,
) -> (u64, check::History) {
    let mut completed = 0;
    while let Some(done) = tasks.join_next().await {
        completed += done.expect("client task");
    }
    let history = std::sync::Arc::try_unwrap(history)
        .map_err(|_| "the clients are done")
        .expect("no other owner")
        .into_inner()
        .expect("lock");
    (completed, history)
}

/// Records in `history` that client `id` invoked `input` now (nanoseconds since `start`).
pub fn record_call(
    history: &std::sync::Mutex<check::History>,
    id: u64,
    input: check::KvInput,
    start: std::time::Instant,
) -> check::OpId {
    let call = start.elapsed().as_nanos() as u64;
    history.lock().expect("lock").invoke(id, input, call)
}

/// Records in `history` that operation `op` returned now: `value` for a Get, OK otherwise.
pub fn record_return(
    history: &std::sync::Mutex<check::History>,
    op: check::OpId,
    is_get: bool,
    value: String,
    start: std::time::Instant,
) {
    let output = if is_get {
        check::KvOutput::value(value)
    } else {
        check::KvOutput::Ok
    };
    let ret = start.elapsed().as_nanos() as u64;
    history.lock().expect("lock").complete(op, output, ret);
}
