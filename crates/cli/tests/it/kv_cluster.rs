//! Shared by the kvpaxos process tests: a cluster of `dsys kv serve` processes on loopback.

#![allow(clippy::disallowed_methods)] // Real processes: waits are bounded by wall-clock time.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
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
}

impl Replica {
    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Free loopback addresses: bound on port 0, then released for the processes to bind.
fn free_addrs(count: usize) -> Vec<SocketAddr> {
    let probes: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe"))
        .collect();
    probes
        .iter()
        .map(|p| p.local_addr().expect("probe address"))
        .collect()
}

/// Starts `count` replicas (with a RESP listener on a free port each if `resp`) and waits
/// for each to print its readiness line. A freed probe port can be taken by someone else
/// before the replica binds it; then the replica exits at once (closing its stdout), and the
/// whole cluster is started again on new ports, up to [`START_ATTEMPTS`] times.
pub fn start(count: usize, resp: bool) -> Vec<Replica> {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match try_start(count, resp) {
            Ok(replicas) => return replicas,
            Err(why) => failures.push(why),
        }
    }
    panic!("could not start {count} replicas: {failures:#?}");
}

/// Attempts to start the whole cluster.
const START_ATTEMPTS: usize = 3;

fn try_start(count: usize, resp: bool) -> Result<Vec<Replica>, String> {
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
        let (child, resp) = spawn(id, *addr, &args)?;
        replicas.push(Replica {
            child,
            id,
            args,
            addr: *addr,
            resp,
        });
    }
    Ok(replicas)
}

/// Starts one `dsys kv serve` with `args` and waits for its readiness line; returns the process
/// and its RESP address, if it has one.
fn spawn(
    id: usize,
    addr: SocketAddr,
    args: &[String],
) -> Result<(Child, Option<SocketAddr>), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
        let resp = line.trim().rsplit(' ').next().and_then(|a| a.parse().ok());
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

impl Replica {
    /// Starts the replica again, with the same arguments, after [`Replica::kill`]: a new
    /// process with none of the old one's state (there is no disk).
    ///
    /// # Panics
    /// If it does not come up (its peer address may have been taken meanwhile).
    pub fn restart(&mut self) {
        let (child, resp) = spawn(self.id, self.addr, &self.args).expect("restart the replica");
        self.child = child;
        self.resp = resp;
    }
}

impl Replica {
    /// The replica's `INFO` text, read over its RESP port (raw RESP, no redis-cli needed).
    ///
    /// # Panics
    /// If the replica has no RESP port or does not answer with a bulk string.
    pub fn info(&self) -> String {
        use std::io::{Read, Write};
        let addr = self.resp.expect("started with --resp");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to RESP");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("set a read timeout");
        stream
            .write_all(b"*1\r\n$4\r\nINFO\r\n")
            .expect("send INFO");
        let mut reader = BufReader::new(stream);
        let mut header = String::new();
        reader.read_line(&mut header).expect("read the bulk header");
        let len: usize = header
            .trim()
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("INFO answered {header:?}"));
        let mut body = vec![0; len];
        reader.read_exact(&mut body).expect("read the INFO text");
        String::from_utf8(body).expect("INFO is text")
    }

    /// The leader this replica believes in, from its `INFO`.
    pub fn leader(&self) -> Option<usize> {
        self.info()
            .lines()
            .find_map(|l| l.strip_prefix("leader_id:"))
            .and_then(|id| id.trim().parse().ok())
    }
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
