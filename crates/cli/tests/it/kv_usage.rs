//! `dsys kv` as a user meets it: malformed arguments are usage errors (exit 2), well-formed
//! but impossible values are errors (exit 1) with a message naming the value, and a client
//! with no replica to talk to exits 1 saying so. A data directory that is another cluster's,
//! another replica's or in use by another process is refused, naming the mismatch, and so is
//! a peer whose list orders the cluster differently. Never a panic.

use super::kv_cluster::{Scratch, Serving, free_addrs};
use std::process::Command;

fn dsys(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args(args)
        .output()
        .expect("run dsys");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    (output.status.code(), stderr)
}

const PEERS: &str = "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3";

/// Missing or malformed arguments: exit 2 with clap's message.
#[test]
fn kv_bad_arguments_are_usage_errors() {
    for args in [
        &["kv"][..],
        &["kv", "serve", "--id", "0"],
        &["kv", "serve", "--peers", PEERS],
        &["kv", "serve", "--id", "-1", "--peers", PEERS],
        &["kv", "serve", "--id", "x", "--peers", PEERS],
        &["kv", "serve", "--id", "0", "--peers", "nonsense"],
        &[
            "kv",
            "serve",
            "--id",
            "0",
            "--peers",
            PEERS,
            "--resp",
            "999.1.1.1:1",
        ],
        &[
            "kv",
            "serve",
            "--id",
            "0",
            "--peers",
            PEERS,
            "--in-memory",
            "--data-dir",
            "d",
        ],
        &[
            "kv",
            "serve",
            "--id",
            "0",
            "--peers",
            PEERS,
            "--data-dir",
            "",
        ],
        &["kv", "get", "k"],
        &["kv", "get", "--servers", "127.0.0.1:1"],
        &["kv", "get", "--servers", "no-port", "k"],
        &["kv", "put", "--servers", "127.0.0.1:1", "k"],
        &[
            "kv",
            "get",
            "--servers",
            "127.0.0.1:1",
            "--timeout",
            "0",
            "k",
        ],
        &[
            "kv",
            "append",
            "--servers",
            "127.0.0.1:1",
            "--timeout",
            "x",
            "k",
            "v",
        ],
    ] {
        let (code, stderr) = dsys(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("error") || stderr.contains("Usage"),
            "{args:?}: {stderr}"
        );
    }
}

/// Well-formed but impossible values: exit 1 and a message that names the problem.
#[test]
fn kv_bad_values_are_errors_with_a_message() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["kv", "serve", "--id", "3", "--peers", PEERS],
            "--id 3 is out of range",
        ),
        (
            &[
                "kv",
                "serve",
                "--id",
                "0",
                "--peers",
                "127.0.0.1:1,127.0.0.1:1",
            ],
            "lists 127.0.0.1:1 twice",
        ),
        (
            &[
                "kv",
                "serve",
                "--id",
                "0",
                "--peers",
                "127.0.0.1:0,127.0.0.1:2",
            ],
            "not an address other replicas can reach",
        ),
        (
            &[
                "kv",
                "serve",
                "--id",
                "0",
                "--peers",
                PEERS,
                "--resp",
                "127.0.0.1:2",
            ],
            "also a peer address",
        ),
        (
            &["kv", "get", "--servers", "127.0.0.1:1,127.0.0.1:1", "k"],
            "lists 127.0.0.1:1 twice",
        ),
        (
            // Port 1 on loopback: nothing listens, every connection is refused at once, and
            // the client says so at once.
            &[
                "kv",
                "get",
                "--servers",
                "127.0.0.1:1",
                "--timeout",
                "1",
                "k",
            ],
            "no replica is running: every one refused the connection (127.0.0.1:1)",
        ),
    ];
    for (args, want) in cases {
        let (code, stderr) = dsys(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: want {want:?} in {stderr}");
    }
}

/// A peer address that is already taken: exit 1 naming the address.
#[test]
fn kv_serve_on_a_taken_address_fails_clearly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let peers = format!("{addr},127.0.0.1:2,127.0.0.1:3");
    let (code, stderr) = dsys(&["kv", "serve", "--id", "0", "--peers", &peers, "--in-memory"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("binding the peer address {addr}")),
        "{stderr}"
    );
}

fn join(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A data directory remembers its cluster: started again with the peers in another order,
/// another list, or another id, the replica exits 1 naming what it recorded and what it got.
#[test]
fn kv_serve_refuses_a_directory_of_another_cluster() {
    let scratch = Scratch::new("kv-other-cluster");
    let dir = scratch.path().join("kv-0");
    let dir_arg = dir.display().to_string();
    let addrs = free_addrs(4);
    let recorded = join(&addrs[..3]);
    drop(Serving::start(&[
        "kv",
        "serve",
        "--id",
        "0",
        "--peers",
        &recorded,
        "--data-dir",
        &dir_arg,
    ]));
    let reordered = join(&[addrs[0], addrs[2], addrs[1]]);
    let other = join(&[addrs[0], addrs[1], addrs[3]]);
    for given in [&reordered, &other] {
        let (code, stderr) = dsys(&[
            "kv",
            "serve",
            "--id",
            "0",
            "--peers",
            given,
            "--data-dir",
            &dir_arg,
        ]);
        assert_eq!(code, Some(1), "{stderr}");
        let want = format!(
            "belongs to a cluster with peers {recorded}, but this replica was started with peers {given}"
        );
        assert!(stderr.contains(&want), "want {want:?} in {stderr}");
        assert!(stderr.contains("kv-cluster"), "{stderr}");
    }
    let (code, stderr) = dsys(&[
        "kv",
        "serve",
        "--id",
        "1",
        "--peers",
        &recorded,
        "--data-dir",
        &dir_arg,
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("belongs to replica 0, not to replica 1"),
        "{stderr}"
    );
}

/// Two replicas given the same data directory: the second exits 1 naming the directory, and
/// the first keeps it.
#[test]
fn kv_serve_refuses_a_directory_in_use() {
    let scratch = Scratch::new("kv-locked");
    let dir_arg = scratch.path().join("shared").display().to_string();
    let peers = join(&free_addrs(3));
    let _first = Serving::start(&[
        "kv",
        "serve",
        "--id",
        "0",
        "--peers",
        &peers,
        "--data-dir",
        &dir_arg,
    ]);
    let (code, stderr) = dsys(&[
        "kv",
        "serve",
        "--id",
        "1",
        "--peers",
        &peers,
        "--data-dir",
        &dir_arg,
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    let want = format!("data directory {dir_arg} is in use by another process");
    assert!(stderr.contains(&want), "want {want:?} in {stderr}");
}

/// Two replicas given the same addresses in different orders, at their first start: each
/// would take the other for someone else. The one dialled refuses the connection and says
/// so, naming both lists.
#[test]
fn kv_serve_names_peer_lists_in_different_orders() {
    let addrs = free_addrs(3);
    let (a, b, c) = (addrs[0], addrs[1], addrs[2]);
    let ours = format!("{a},{b},{c}");
    let theirs = format!("{a},{c},{b}");
    let _first = Serving::start(&["kv", "serve", "--id", "0", "--peers", &ours, "--in-memory"]);
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args([
            "kv",
            "serve",
            "--id",
            "2",
            "--peers",
            &theirs,
            "--in-memory",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn dsys");
    let stderr = second.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let want =
        format!("lists the cluster as [{a}, {b}, {c}] but this node lists it as [{a}, {c}, {b}]");
    // Bounded without a clock: at most 1,000 lines, each within 20 s.
    let mut seen = Vec::new();
    let mut found = false;
    for _ in 0..1_000 {
        match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(line) if line.contains(&want) => {
                found = true;
                break;
            }
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    let _ = second.kill();
    let _ = second.wait();
    assert!(found, "want {want:?} in {seen:?}");
}
