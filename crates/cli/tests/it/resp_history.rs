//! Clients that speak RESP to front doors and record every command into a history for the
//! linearizability checker: what an outside checker driving redis-cli or redis-py does. Three
//! keys, GET / SET / APPEND at random; a command without a clear answer (an error reply, a
//! timeout, a broken connection) stays pending, as it may have run.

#![allow(clippy::disallowed_methods)] // Real processes: the history's clock is the wall clock.

use super::kv_cluster::kv_op;
use check::{History, KvInput};
use kvpaxos::Op;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A RESP command as an array of bulk strings.
fn encode(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    out
}

/// What a reply says about the command.
enum Answer {
    /// It ran; a GET's value ("" for nil, as the lab's Get answers).
    Ran(String),
    /// It did not run, or may have (an error, a timeout, a broken connection).
    Unknown,
}

/// Sends one command on `stream` and reads its reply.
async fn call(stream: &mut BufReader<TcpStream>, words: &[&str]) -> std::io::Result<Answer> {
    stream.get_mut().write_all(&encode(words)).await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let line = line.trim_end();
    Ok(match line.as_bytes().first() {
        Some(b'+' | b':') => Answer::Ran(String::new()),
        Some(b'$') if line == "$-1" => Answer::Ran(String::new()),
        Some(b'$') => {
            let len: usize = line[1..].parse().map_err(std::io::Error::other)?;
            let mut value = vec![0; len + 2];
            stream.read_exact(&mut value).await?;
            value.truncate(len);
            Answer::Ran(String::from_utf8_lossy(&value).into_owned())
        }
        _ => Answer::Unknown,
    })
}

/// Runs commands through the front doors until `stop` (moving to the next front door when
/// one breaks, fails or gives no answer within `deadline`), recording each into `history`; returns how many completed.
pub async fn client(
    id: u64,
    fronts: Vec<SocketAddr>,
    history: Arc<Mutex<History>>,
    start: Instant,
    stop: Instant,
    deadline: Duration,
) -> u64 {
    let mut rng = rpc::Rng::new(id + 1);
    let mut front = id as usize;
    let mut stream: Option<BufReader<TcpStream>> = None;
    let (mut done, mut n) = (0, 0u64);
    while Instant::now() < stop {
        if stream.is_none() {
            front = (front + 1) % fronts.len();
            match TcpStream::connect(fronts[front]).await {
                Ok(s) => stream = Some(BufReader::new(s)),
                Err(_) => continue,
            }
        }
        n += 1;
        let key = format!("k{}", rng.below(3));
        let value = format!("c{id}.{n} ");
        let (op, input): (Op, KvInput) = kv_op(rng.below(3), key, value);
        let words: Vec<&str> = match &op {
            Op::Get { key } => vec!["GET", key],
            Op::Put { key, value } => vec!["SET", key, value],
            Op::Append { key, value } => vec!["APPEND", key, value],
        };
        let is_get = matches!(op, Op::Get { .. });
        let op_id = super::kv_cluster::record_call(&history, id, input, start);
        let conn = stream.as_mut().expect("connected above");
        // A command without a clear answer stays pending in the history: it may have run.
        match tokio::time::timeout(deadline, call(conn, &words)).await {
            Ok(Ok(Answer::Ran(value))) => {
                super::kv_cluster::record_return(&history, op_id, is_get, value, start);
                done += 1;
            }
            // An error reply leaves the connection usable, but try another front door: this
            // one's replica may be down or behind.
            Ok(Ok(Answer::Unknown)) | Ok(Err(_)) | Err(_) => stream = None,
        }
    }
    done
}
