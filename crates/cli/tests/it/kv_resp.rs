//! The kvpaxos Redis front door with the real `redis-cli` (issue 5, "Real processes and real
//! clients"): three `dsys kv serve --resp` processes; whichever replica a client reaches, it
//! sees the same linearizable store.

#![allow(clippy::disallowed_methods)] // Real sockets: reads are bounded by wall-clock timeouts.

use super::kv_cluster;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// How long a raw-socket read may wait: a store operation answers in milliseconds, and the
/// server's own deadline for one is 5 s.
const READ_MAX: Duration = Duration::from_secs(10);

/// Runs `redis-cli -p PORT ARGS` and returns its output line(s), trimmed. Fails (never skips)
/// if redis-cli is missing.
fn redis_cli(addr: SocketAddr, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run redis-cli ({e}): install redis-tools (apt-get install redis-tools)")
        });
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn resp_of(replica: &kv_cluster::Replica) -> SocketAddr {
    replica.resp.expect("started with --resp")
}

/// Connects a raw client to `addr` with bounded reads.
fn raw(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the RESP port");
    stream.set_read_timeout(Some(READ_MAX)).expect("timeout");
    stream
}

/// Reads until `want` bytes arrived (or the peer closed / the read timed out).
fn read_n(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < want {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// SET, APPEND, GET and PING through different replicas give one linearizable story; an
/// unknown command and a wrong arity get error replies; a pipeline of dependent commands on
/// one connection is answered in order and sees its own writes; a malformed stream closes
/// only its own connection while an older connection to the same replica keeps working.
#[test]
fn kv_redis_cli_sees_one_store_through_every_replica() {
    let replicas = kv_cluster::start(3, true);
    let [a, b, c] = [0, 1, 2].map(|i| resp_of(&replicas[i]));

    assert_eq!(redis_cli(a, &["PING"]), "PONG");
    assert_eq!(redis_cli(a, &["SET", "greeting", "hello"]), "OK");
    assert_eq!(redis_cli(b, &["GET", "greeting"]), "hello");
    assert_eq!(redis_cli(c, &["APPEND", "greeting", ", world"]), "12");
    assert_eq!(redis_cli(a, &["GET", "greeting"]), "hello, world");
    assert_eq!(redis_cli(b, &["GET", "greeting"]), "hello, world");
    assert_eq!(redis_cli(c, &["SET", "greeting", "bye"]), "OK");
    assert_eq!(redis_cli(a, &["GET", "greeting"]), "bye");
    assert_eq!(redis_cli(b, &["PING", "echo me"]), "echo me");
    assert_eq!(
        redis_cli(c, &["FLUSHNOTHING"]),
        "ERR unknown command 'FLUSHNOTHING'"
    );
    assert_eq!(
        redis_cli(c, &["GET", "a", "b"]),
        "ERR wrong number of arguments for 'get' command"
    );

    // A pipeline of dependent commands, in one write: answered in order, own writes seen.
    let mut survivor = raw(b);
    survivor
        .write_all(
            b"*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\nGET p\r\nAPPEND p 2\r\nGET p\r\nPING\r\n",
        )
        .expect("write a pipeline");
    let want = b"+OK\r\n$1\r\n1\r\n:2\r\n$2\r\n12\r\n+PONG\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut survivor, want.len())),
        String::from_utf8_lossy(want)
    );

    // Garbage on another connection to the same replica: a protocol error, then EOF.
    let mut bad = raw(b);
    bad.write_all(b"*2\r\n$3\r\nGET\r\n$abc\r\nmore")
        .expect("write garbage");
    let answer = String::from_utf8_lossy(&read_n(&mut bad, usize::MAX)).to_string();
    assert!(answer.starts_with("-ERR Protocol error"), "{answer:?}");

    // The older connection and new ones still work.
    survivor.write_all(b"GET p\r\n").expect("write");
    assert_eq!(read_n(&mut survivor, 8), b"$2\r\n12\r\n");
    assert_eq!(redis_cli(b, &["GET", "p"]), "12");

    // INFO through redis-cli: every replica names the same leader, and only it says so.
    let infos: Vec<String> = [a, b, c].iter().map(|r| redis_cli(*r, &["INFO"])).collect();
    let leader = kv_cluster::leader(&replicas);
    for (id, info) in infos.iter().enumerate() {
        let role = if id == leader { "leader" } else { "follower" };
        assert!(
            info.contains(&format!("role:{role}")),
            "replica {id}: {info}"
        );
        assert!(
            info.contains(&format!("replica_id:{id}")),
            "replica {id}: {info}"
        );
    }
}

/// Runs `dsys ARGS` and returns its exit status, stdout (raw) and stderr.
fn dsys(args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args(args)
        .output()
        .expect("run dsys");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output.status.code(), output.stdout, stderr)
}

/// Issue 11, limits: a value exactly as large as the limit (4 MiB, binary) written through
/// RESP reads back whole through `dsys kv get`; one byte more is refused with an error the
/// client reads, and the connection goes on. `dsys kv del` deletes and counts, and a missing
/// key reads as nil. With no replica running, the client says "connection refused" at once.
#[test]
fn kv_largest_value_round_trips_through_every_interface() {
    let replicas = kv_cluster::start(3, true);
    let resp = resp_of(&replicas[0]);
    let servers = replicas
        .iter()
        .map(|r| r.addr.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let limit = keyspace::MAX_VALUE_BYTES;
    let value: Vec<u8> = (0..limit).map(|i| (i % 251) as u8).collect();
    let mut conn = raw(resp);
    let set = |len: usize| -> Vec<u8> {
        let mut wire = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${len}\r\n").into_bytes();
        wire.extend_from_slice(&value[..len.min(limit)]);
        wire.resize(wire.len() + len.saturating_sub(limit), b'x');
        wire.extend_from_slice(b"\r\n");
        wire
    };
    conn.write_all(&set(limit)).expect("write the SET");
    assert_eq!(read_n(&mut conn, 5), b"+OK\r\n");
    conn.write_all(&set(limit + 1)).expect("write the SET");
    conn.write_all(b"STRLEN big\r\n").expect("write");
    let want = format!("-ERR string exceeds maximum allowed size ({limit} bytes)\r\n:{limit}\r\n");
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut conn, want.len())),
        want
    );

    let (status, stdout, stderr) = dsys(&["kv", "get", "--servers", &servers, "big"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout.len(), limit + 1, "the value and a newline");
    assert!(
        stdout[..limit] == value[..],
        "the bytes come back as written"
    );

    let (status, stdout, stderr) = dsys(&["kv", "del", "--servers", &servers, "big", "none"]);
    assert_eq!((status, &stdout[..]), (Some(0), &b"1\n"[..]), "{stderr}");
    let (status, stdout, stderr) = dsys(&["kv", "get", "--servers", &servers, "big"]);
    assert_eq!((status, &stdout[..]), (Some(0), &b""[..]), "{stderr}");
    assert!(stderr.contains("(nil)"), "{stderr}");
    drop(replicas);

    let nobody = kv_cluster::free_addrs(2)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let started = std::time::Instant::now();
    let (status, _, stderr) = dsys(&["kv", "get", "--servers", &nobody, "--timeout", "60", "k"]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "said so at once, not after its 60 s timeout"
    );
}
