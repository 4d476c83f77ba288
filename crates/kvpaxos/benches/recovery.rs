//! How long a durable replica takes from start to serving with 100 MB of live data: reading
//! its directory (`rpc::load_disk`), opening it (`Replica::open`: the snapshot restored, the
//! Paxos log above it replayed) and applying what the log holds, until it answers a Get.
//!
//! Run with `cargo bench -p kvpaxos --bench recovery` (`RECOVERY_MB=...` to change the size).
//! It builds the directory first by driving a one-replica durable cluster with 1 KB Puts under
//! distinct keys (so snapshots and log rotations happen as in service), writes the files to a
//! temporary directory and syncs them, then times the recovery. The files were just written,
//! so they are in the page cache: the figure is for a warm cache.
#![allow(missing_docs, reason = "a bench binary")]
#![allow(clippy::disallowed_methods)] // A benchmark measures wall-clock time by definition.

use kvpaxos::msg::KvOutput;
use kvpaxos::{Op, Replica, Request, Response};
use rpc::{Effect, Node, NodeId, ReqId};
use std::collections::BTreeMap;
use std::time::Instant;

type Out = rpc::NodeOutbox<Replica>;

/// Carries out `out`'s disk effects on `files` (a driver that never crashes) and returns the
/// replies.
fn carry_out(files: &mut BTreeMap<String, Vec<u8>>, out: &mut Out) -> Vec<Response> {
    let mut replies = Vec::new();
    for effect in out.drain() {
        match effect {
            Effect::Write { file, bytes } => {
                files.insert(file, bytes.to_vec());
            }
            Effect::Remove { file } => {
                files.remove(&file);
            }
            Effect::Append { file, bytes } => {
                files.entry(file).or_default().extend_from_slice(&bytes)
            }
            Effect::Truncate { file, len } => files
                .get_mut(&file)
                .expect("truncated files exist")
                .truncate(len as usize),
            Effect::Reply { resp, .. } => replies.push(resp),
            Effect::Send { .. } | Effect::Respond { .. } | Effect::SendTo { .. } | Effect::Sync => {
            }
        }
    }
    replies
}

fn main() {
    let megabytes: usize = std::env::var("RECOVERY_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let config = rsm::Config::default();
    let mut files = BTreeMap::new();
    let mut replica =
        Replica::open(NodeId(0), 1, 1, config.clone(), &rpc::DiskImage::new()).expect("opens");
    let mut out = Out::new();
    replica.on_tick(&mut out);
    replica.on_request(ReqId(0), Request::Register, &mut out);
    let session = carry_out(&mut files, &mut out)
        .into_iter()
        .find_map(|r| match r {
            Response::Registered { session } => Some(session),
            _ => None,
        })
        .expect("registered");
    let value = "v".repeat(1000);
    let puts = megabytes * 1000;
    let build = Instant::now();
    for i in 0..puts {
        let cmd = Op::Put {
            key: format!("key{i:08}"),
            value: value.clone(),
        }
        .into();
        let seq = i as u64 + 1;
        replica.on_request(ReqId(seq), Request::Command { session, seq, cmd }, &mut out);
        carry_out(&mut files, &mut out);
    }
    let dir = std::env::temp_dir().join(format!("dsys-recovery-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut on_disk = 0;
    for (name, bytes) in &files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("writes");
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .expect("syncs");
        on_disk += bytes.len();
    }
    println!(
        "built {puts} Puts of 1 KB in {:.1} s; directory: {} files, {:.1} MB ({:?})",
        build.elapsed().as_secs_f64(),
        files.len(),
        on_disk as f64 / 1e6,
        files
            .iter()
            .map(|(n, b)| (n.as_str(), b.len()))
            .collect::<Vec<_>>()
    );
    let target = replica.next_apply();
    drop(replica);

    let start = Instant::now();
    let disk = rpc::load_disk(&dir).expect("reads the directory");
    let loaded = start.elapsed();
    let mut replica = Replica::open(NodeId(0), 1, 2, config, &disk).expect("recovers");
    let opened = start.elapsed();
    let mut out = Out::new();
    replica.on_tick(&mut out);
    let get = Op::Get {
        key: format!("key{:08}", puts - 1),
    };
    replica.on_request(
        ReqId(u64::MAX),
        Request::Command {
            session,
            seq: puts as u64 + 1,
            cmd: get.into(),
        },
        &mut out,
    );
    let answered = carry_out(&mut files, &mut out)
        .into_iter()
        .any(|r| matches!(&r, Response::Done { output: KvOutput::Lab(v), .. } if *v == value));
    let serving = start.elapsed();
    assert!(
        answered,
        "the recovered replica answers the last Put's value"
    );
    assert_eq!(
        replica.next_apply().0,
        target.0 + 1,
        "every slot recovered, and the Get applied"
    );
    std::fs::remove_dir_all(&dir).expect("removes the temporary directory");
    let mb = on_disk as f64 / 1e6;
    println!(
        "recovery of {:.1} MB: read {:.2} s, opened {:.2} s, serving {:.2} s ({:.0} MB/s)",
        mb,
        loaded.as_secs_f64(),
        opened.as_secs_f64(),
        serving.as_secs_f64(),
        mb / serving.as_secs_f64()
    );
}
