//! MapReduce as separate processes: `dsys mr master` and `dsys mr worker` over loopback TCP,
//! with a worker killed by SIGKILL in the middle of the job (SPEC §2.4 TestOneFailure, for real).

#![allow(clippy::disallowed_methods)] // Real processes: deadlines are wall-clock time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn dsys() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dsys"))
}

fn bible() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/kjv.txt")
}

/// A child process killed when dropped, so a failing test leaks no process.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsys-mr-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Splits a child's stderr into lines (progress redraws end in `\r`) on a channel.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let mut stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = stderr.read(&mut byte) {
            if byte[0] == b'\n' || byte[0] == b'\r' {
                let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                line.clear();
            } else {
                line.push(byte[0]);
            }
        }
    });
    rx
}

/// Waits for a line satisfying `want`, at most until `deadline`.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    deadline: Instant,
    want: impl Fn(&str) -> bool,
) -> String {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no expected line from the master before the deadline: {e}"),
        }
    }
}

fn maps_done(line: &str) -> Option<u32> {
    let rest = line.split("] ").nth(1)?;
    rest.split('/').next()?.trim().parse().ok()
}

/// Three worker processes, one killed with SIGKILL once two map tasks are done: the master
/// re-issues its work and re-executes its lost map outputs, and the output is byte-identical to
/// `dsys wc --sequential` and to the default in-process run.
#[test]
fn wc_survives_a_worker_killed_midway() {
    let dir = scratch("kill");
    let out = dir.join("master.wc");
    let mut master = dsys()
        .args([
            "mr",
            "master",
            "--listen",
            "127.0.0.1:0",
            "--reduces",
            "4",
            "--split-mib",
            "1",
            "wc",
        ])
        .arg(bible())
        .arg("-o")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start master");
    let lines = stderr_lines(&mut master);
    let master = Proc(master);
    let deadline = Instant::now() + Duration::from_secs(60);
    let banner = wait_line(&lines, deadline, |l| l.contains("--master "));
    let addr = banner
        .rsplit(' ')
        .next()
        .expect("address at the end")
        .to_string();
    let mut workers: Vec<Proc> = (0..3)
        .map(|_| {
            Proc(
                dsys()
                    .args(["mr", "worker", "--master", &addr, "--task-delay-ms", "150"])
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start worker"),
            )
        })
        .collect();
    wait_line(&lines, deadline, |l| maps_done(l).is_some_and(|n| n >= 2));
    workers[0].0.kill().expect("SIGKILL worker 0");
    let summary = wait_line(&lines, deadline, |l| l.starts_with("done in"));
    let mut master = master;
    let status = master.0.wait().expect("master exits");
    assert!(status.success(), "master failed: {summary}");

    let seq = dir.join("seq.wc");
    let local = dir.join("local.wc");
    for (path, extra) in [(&seq, Some("--sequential")), (&local, None)] {
        let mut cmd = dsys();
        cmd.arg("wc").arg(bible()).arg("-o").arg(path).arg("-q");
        cmd.args(extra);
        let st = cmd.status().expect("run dsys wc");
        assert!(st.success());
    }
    let master_out = std::fs::read(&out).expect("master output");
    assert!(
        master_out == std::fs::read(&seq).expect("sequential output"),
        "master output differs from --sequential"
    );
    assert!(
        master_out == std::fs::read(&local).expect("local output"),
        "master output differs from the in-process run"
    );
    drop(workers.drain(..));
    let _ = std::fs::remove_dir_all(&dir);
}
