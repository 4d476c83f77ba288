//! The front door over real loopback TCP, in process: order, protocol switches, errors,
//! transactions.

#![allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).

use crate::server::KvServer;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until `want` bytes or EOF, bounded by 10 s.
async fn read_n(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    read_while(stream, |got| got.len() < want).await
}

/// Reads while `more` says the bytes so far are not all, until EOF, bounded by 10 s.
async fn read_while(stream: &mut TcpStream, more: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while more(&got) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("answered within 10 s");
    got
}

/// In process, three replicas: a pipeline mixing local and store commands on one key is
/// answered in order and sees its own writes; the next replica reads the same value;
/// binary values round-trip and a missing key is nil; unknown commands get errors and the
/// connection stays open; a malformed stream gets a protocol error and EOF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_answers_in_order_and_errors_keep_the_connection() {
    let servers = KvServer::local_cluster(3, true).await.unwrap();
    let mut a = TcpStream::connect(servers[0].resp_addr().unwrap())
        .await
        .unwrap();
    a.write_all(b"PING\r\nSET k 1\r\nAPPEND k 23\r\nGET k\r\nNOPE\r\nSET other x\r\nGET k\r\n")
        .await
        .unwrap();
    let want =
        b"+PONG\r\n+OK\r\n:3\r\n$3\r\n123\r\n-ERR unknown command 'NOPE'\r\n+OK\r\n$3\r\n123\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut a, want.len()).await),
        String::from_utf8_lossy(want)
    );
    // Binary-safe: a value that is not UTF-8 is stored and read back as sent; a missing
    // key is nil.
    a.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$2\r\n\xff\0\r\nGET b\r\nGET nope\r\n")
        .await
        .unwrap();
    let want = b"+OK\r\n$2\r\n\xff\0\r\n$-1\r\n";
    assert_eq!(read_n(&mut a, want.len()).await, want);

    let mut b = TcpStream::connect(servers[1].resp_addr().unwrap())
        .await
        .unwrap();
    b.write_all(b"GET k\r\n").await.unwrap();
    assert_eq!(read_n(&mut b, 9).await, b"$3\r\n123\r\n");
    b.write_all(b"*1\r\n$x\r\n").await.unwrap();
    let got = read_n(&mut b, usize::MAX).await;
    assert!(got.starts_with(b"-ERR Protocol error"), "{got:?}");

    a.write_all(b"GET k\r\n").await.unwrap();
    assert_eq!(read_n(&mut a, 9).await, b"$3\r\n123\r\n");
}

/// A replica cut off from its majority (the other two are dead) cannot run anything: the
/// client is told `-TIMEOUT ... (the command may still happen)` at the deadline, and
/// the connection keeps working for local commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_operation_times_out_with_an_error_reply() {
    let servers = KvServer::local_cluster(3, false).await.unwrap();
    servers[1].kill();
    servers[2].kill();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let front = tokio::spawn(super::serve_with_deadline(
        listener,
        super::LocalReplica::new(servers[0].submitter()),
        Duration::from_millis(300),
    ));
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"SET k v\r\nPING\r\n").await.unwrap();
    let want =
        b"-TIMEOUT no answer from the log in time (the command may still happen)\r\n+PONG\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut c, want.len()).await),
        String::from_utf8_lossy(want)
    );
    front.abort();
}

/// redis-py 8's handshake on one connection, pipelined: `HELLO 3` is answered in RESP3
/// (a map), so is everything after it (CLIENT GETNAME's null is `_`) until `HELLO 2`;
/// CLIENT SETINFO, SELECT 0 and ECHO answer as Redis; `INFO replication` has only that
/// section; QUIT answers `+OK` and closes, and a command after it is never run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_switches_protocol_in_order_and_quit_closes() {
    let servers = KvServer::local_cluster(3, true).await.unwrap();
    let mut c = TcpStream::connect(servers[0].resp_addr().unwrap())
        .await
        .unwrap();
    c.write_all(
        b"CLIENT GETNAME\r\nHELLO 3\r\nCLIENT GETNAME\r\nCLIENT SETINFO LIB-NAME redis-py\r\n\
          SELECT 0\r\nECHO hi\r\nHELLO 2\r\nCLIENT GETNAME\r\nCLIENT ID\r\n",
    )
    .await
    .unwrap();
    let got = read_until(&mut c, b":1\r\n").await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("$-1\r\n%7\r\n$6\r\nserver\r\n"), "{got}");
    assert!(
        got.contains("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n"),
        "{got}"
    );
    assert!(
        got.contains("*0\r\n_\r\n+OK\r\n+OK\r\n$2\r\nhi\r\n*14\r\n"),
        "{got}"
    );
    assert!(got.ends_with("*0\r\n$-1\r\n:1\r\n"), "{got}");

    c.write_all(b"INFO replication\r\nQUIT\r\nSET after-quit x\r\n")
        .await
        .unwrap();
    let got = read_n(&mut c, usize::MAX).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.contains("# Replication\r\nrole:"), "{got}");
    assert!(
        !got.contains("# Server") && !got.contains("# Keyspace"),
        "{got}"
    );
    assert!(got.ends_with("\r\n+OK\r\n"), "{got}");

    let mut d = TcpStream::connect(servers[1].resp_addr().unwrap())
        .await
        .unwrap();
    d.write_all(b"GET after-quit\r\nINFO\r\n").await.unwrap();
    let got = read_until(&mut d, b"avg_ttl=0\r\n\r\n").await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("$-1\r\n"), "QUIT stops reading: {got}");
    for section in ["# Server", "# Clients", "# Replication", "# Keyspace"] {
        assert!(got.contains(section), "{section}: {got}");
    }
    assert!(got.contains("connected_clients:"), "{got}");
}

/// Writes `send` and expects exactly `want` back.
async fn exchange(stream: &mut TcpStream, send: &[u8], want: &[u8]) {
    stream.write_all(send).await.unwrap();
    let got = read_n(stream, want.len()).await;
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(want),
        "after sending {:?}",
        String::from_utf8_lossy(send)
    );
}

/// MULTI/EXEC/DISCARD/WATCH as Redis answers them, pipelined: misuse gets Redis's errors
/// and the connection goes on; a transaction applies at once; a refused command aborts it
/// whole; a watched key written by another connection makes EXEC answer nil and run
/// nothing; a MULTI left open when the client goes away applies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_apply_whole_or_not_at_all() {
    let servers = KvServer::local_cluster(3, true).await.unwrap();
    let connect = |i: usize| TcpStream::connect(servers[i].resp_addr().unwrap());
    let (mut a, mut b) = (connect(0).await.unwrap(), connect(1).await.unwrap());
    exchange(
        &mut a,
        b"EXEC\r\nDISCARD\r\nMULTI\r\nSET t 1\r\nINCR t\r\nMULTI\r\nWATCH t\r\nEXEC\r\nGET t\r\n",
        b"-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n\
          -ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n\
          *2\r\n+OK\r\n:2\r\n$1\r\n2\r\n",
    )
    .await;
    exchange(
        &mut a,
        b"MULTI\r\nSET t never\r\nGET\r\nEXEC\r\nMULTI\r\nSET t no\r\nDISCARD\r\nGET t\r\n",
        b"+OK\r\n+QUEUED\r\n-ERR wrong number of arguments for 'get' command\r\n\
          -EXECABORT Transaction discarded because of previous errors.\r\n\
          +OK\r\n+QUEUED\r\n+OK\r\n$1\r\n2\r\n",
    )
    .await;
    exchange(&mut a, b"WATCH t\r\n", b"+OK\r\n").await;
    exchange(&mut b, b"SET t other\r\n", b"+OK\r\n").await;
    exchange(
        &mut a,
        b"MULTI\r\nSET t mine\r\nEXEC\r\nGET t\r\n",
        b"+OK\r\n+QUEUED\r\n$-1\r\n$5\r\nother\r\n",
    )
    .await;
    // EXEC forgot the watch: the next transaction runs.
    exchange(
        &mut a,
        b"MULTI\r\nSET t mine\r\nEXEC\r\n",
        b"+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n",
    )
    .await;
    let mut c = connect(2).await.unwrap();
    exchange(&mut c, b"MULTI\r\nSET t lost\r\n", b"+OK\r\n+QUEUED\r\n").await;
    drop(c);
    exchange(&mut b, b"GET t\r\n", b"$4\r\nmine\r\n").await;
}

/// Reads until the bytes end with `tail`, or EOF, bounded by 10 s.
async fn read_until(stream: &mut TcpStream, tail: &[u8]) -> Vec<u8> {
    read_while(stream, |got| !got.ends_with(tail)).await
}
