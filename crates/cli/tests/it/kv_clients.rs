//! Real Redis clients connect to the kvpaxos front door unchanged (issue 11, "Clients connect
//! unchanged"): the Rust `redis` crate in RESP2 and RESP3, redis-py 8 with its default settings
//! (which open with `HELLO 3`), redis-py 5.x (RESP2, from a venv the test makes), and redis-cli
//! piped and in RESP3, each against `dsys kv serve --resp` processes.

#![allow(clippy::disallowed_methods)] // Real processes: waits are bounded by wall-clock deadlines.

use super::kv_cluster;
use redis::Commands;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one client process may run: each does a few dozen round trips of milliseconds.
const CLIENT_RUN_MAX: Duration = Duration::from_secs(30);

/// How long installing redis-py 5.x into a fresh venv may take (a download from the registry).
const VENV_SETUP_MAX: Duration = Duration::from_secs(180);

/// How long the Rust client waits to connect or for a reply.
const IO_MAX: Duration = Duration::from_secs(10);

/// The Python script every redis-py version runs.
const REDIS_PY_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/redis_py.py");

fn resp_of(replica: &kv_cluster::Replica) -> SocketAddr {
    replica.resp.expect("started with --resp")
}

/// Runs `command` to completion with `input` on its stdin, killing it at `deadline`.
///
/// # Panics
/// If it cannot be started (the message names `what`) or outlives the deadline.
fn run(mut command: Command, input: &[u8], deadline: Duration, what: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).expect("write the client's stdin");
    drop(stdin);
    let started = Instant::now();
    while child.try_wait().expect("poll the client").is_none() {
        if started.elapsed() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("reap the client");
            panic!(
                "{what} still running after {deadline:?}; it printed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
        .wait_with_output()
        .expect("collect the client's output")
}

/// Panics with everything the process printed unless it succeeded; returns its stdout.
fn succeeded(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The Rust `redis` crate with its default settings (RESP2, `CLIENT SETINFO` pipelined at
/// connect) and with `?protocol=resp3` (`HELLO 3` first): connection commands, the store's
/// commands, INFO and a pipeline, through one connection each.
#[test]
fn kv_rust_redis_crate_connects_unchanged() {
    let replicas = kv_cluster::start(3, true);
    let addr = resp_of(&replicas[0]);
    for (url, resp) in [
        (format!("redis://{addr}/"), "2"),
        (format!("redis://{addr}/?protocol=resp3"), "3"),
    ] {
        let client = redis::Client::open(url.as_str()).expect("a valid URL");
        let mut con = client
            .get_connection_with_timeout(IO_MAX)
            .unwrap_or_else(|e| panic!("{url}: connect: {e}"));
        con.set_read_timeout(Some(IO_MAX)).expect("read timeout");
        let query = |cmd: &mut redis::Cmd, con: &mut redis::Connection| -> redis::Value {
            cmd.query(con)
                .unwrap_or_else(|e| panic!("{url}: {cmd:?}: {e}"))
        };

        assert_eq!(
            query(redis::cmd("CLIENT").arg("GETNAME"), &mut con),
            redis::Value::Nil
        );
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("rs-client")
            .query(&mut con)
            .expect("CLIENT SETNAME");
        let name: String = redis::cmd("CLIENT")
            .arg("GETNAME")
            .query(&mut con)
            .expect("GETNAME");
        assert_eq!(name, "rs-client");
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query(&mut con)
            .expect("CLIENT INFO");
        assert!(info.contains(&format!("resp={resp} ")), "{url}: {info}");
        assert!(info.contains("lib-name=redis-rs"), "{url}: {info}");
        let _: () = redis::cmd("SELECT")
            .arg(0)
            .query(&mut con)
            .expect("SELECT 0");
        let out_of_range = redis::cmd("SELECT").arg(1).query::<()>(&mut con);
        let err = out_of_range.expect_err("one database only");
        assert!(
            err.to_string().contains("DB index is out of range"),
            "{err}"
        );
        let echoed: String = redis::cmd("ECHO").arg("hi").query(&mut con).expect("ECHO");
        assert_eq!(echoed, "hi");

        let key = format!("rs:{resp}");
        let _: () = con.set(&key, "hello").expect("SET");
        let got: String = con.get(&key).expect("GET");
        assert_eq!(got, "hello");
        let len: i64 = con.append(&key, ", world").expect("APPEND");
        assert_eq!(len, 12);

        let info: redis::InfoDict = redis::cmd("INFO")
            .arg("replication")
            .query(&mut con)
            .expect("INFO replication");
        let role: String = info.get("role").expect("a role field");
        assert!(role == "leader" || role == "follower", "{role}");
        assert!(info.get::<String>("redis_version").is_none(), "one section");

        let (set, appended, read): (String, i64, String) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg("1")
            .cmd("APPEND")
            .arg(&key)
            .arg("2")
            .cmd("GET")
            .arg(&key)
            .query(&mut con)
            .expect("a pipeline");
        assert_eq!((set.as_str(), appended, read.as_str()), ("OK", 2, "12"));
    }
}

/// redis-py 8, the current release, with default settings: `redis.Redis(host, port)`, which
/// speaks RESP3. Fails (never skips) if python3 has no `redis` module.
#[test]
fn kv_redis_py_connects_with_default_settings() {
    let probe = run(
        python_command(
            Path::new("python3"),
            &["-c", "import redis; print(redis.__version__)"],
        ),
        b"",
        CLIENT_RUN_MAX,
        "python3",
    );
    let version = String::from_utf8_lossy(&probe.stdout).trim().to_string();
    assert!(
        probe.status.success(),
        "python3 has no `redis` module: pip install redis (`python3 -m pip install 'redis>=8,<9'`, \
         as .ci/run does):\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(
        version.starts_with("8."),
        "redis-py {version} found; this test is for 8.x: python3 -m pip install 'redis>=8,<9'"
    );
    let replicas = kv_cluster::start(3, true);
    let line = run_redis_py(Path::new("python3"), resp_of(&replicas[1]), 3);
    assert!(line.contains("redis-py 8."), "{line}");
}

/// redis-py 5.x with default settings (RESP2, `CLIENT SETINFO` at connect), installed into a
/// venv under the target directory on first use (later runs reuse it).
#[test]
fn kv_redis_py_5_connects_with_default_settings() {
    let python = redis_py_5_venv();
    let replicas = kv_cluster::start(3, true);
    let line = run_redis_py(&python, resp_of(&replicas[2]), 2);
    assert!(line.contains("redis-py 5."), "{line}");
}

/// redis-cli with commands on stdin (piped mode) and with `-3` (RESP3: `HELLO 3` first).
#[test]
fn kv_redis_cli_piped_and_resp3() {
    let replicas = kv_cluster::start(3, true);
    let addr = resp_of(&replicas[0]);
    let cli = |extra: &[&str]| {
        let mut command = Command::new("redis-cli");
        command
            .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .args(extra);
        command
    };
    let piped = b"SET cli:k v\nAPPEND cli:k 2\nGET cli:k\nCLIENT SETNAME cli\nCLIENT GETNAME\n\
                  SELECT 0\nECHO hi\nPING\n";
    let what = "redis-cli (install redis-tools: apt-get install redis-tools)";
    let out = succeeded(&run(cli(&[]), piped, CLIENT_RUN_MAX, what), what);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["OK", "2", "v2", "OK", "cli", "OK", "hi", "PONG"]
    );

    let out = succeeded(&run(cli(&["-3", "HELLO"]), b"", CLIENT_RUN_MAX, what), what);
    assert!(out.contains("proto 3"), "{out}");
    let out = succeeded(
        &run(cli(&["-3", "GET", "cli:k"]), b"", CLIENT_RUN_MAX, what),
        what,
    );
    assert_eq!(out.trim(), "v2");
}

/// A `python` command with a clean environment for the interpreter.
fn python_command(python: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(python);
    command.args(args).env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// Runs the redis-py script against `addr`; returns its summary line.
fn run_redis_py(python: &Path, addr: SocketAddr, protocol: u8) -> String {
    let command = python_command(
        python,
        &[
            REDIS_PY_SCRIPT,
            &addr.ip().to_string(),
            &addr.port().to_string(),
            &protocol.to_string(),
        ],
    );
    let what = format!("{} {REDIS_PY_SCRIPT}", python.display());
    succeeded(&run(command, b"", CLIENT_RUN_MAX, &what), &what)
}

/// The venv's python with redis-py 5.x, creating the venv if it is missing or broken.
///
/// # Panics
/// If python3 cannot make a venv or pip cannot install redis-py 5.x (the registry is
/// unreachable, say): the message says which.
fn redis_py_5_venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("redis-py-5");
    let python = venv.join("bin").join("python");
    let has_redis_5 = |python: &Path| {
        python.exists()
            && run(
                python_command(
                    python,
                    &[
                        "-c",
                        "import redis; assert redis.__version__.startswith('5.')",
                    ],
                ),
                b"",
                CLIENT_RUN_MAX,
                "venv python",
            )
            .status
            .success()
    };
    if has_redis_5(&python) {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let mut make = Command::new("python3");
    make.args(["-m", "venv"]).arg(&venv);
    succeeded(
        &run(make, b"", VENV_SETUP_MAX, "python3 -m venv"),
        "python3 -m venv",
    );
    let install = python_command(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "redis>=5,<6",
        ],
    );
    let what = "pip install 'redis>=5,<6' into a venv (is the package registry reachable?)";
    succeeded(&run(install, b"", VENV_SETUP_MAX, what), what);
    assert!(has_redis_5(&python), "the venv has no redis-py 5.x");
    python
}
