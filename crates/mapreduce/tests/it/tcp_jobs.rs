//! The library over real TCP in one process: a master and workers on loopback, untrusted peers.

use mapreduce::master::{MasterOptions, default_config, run_local, run_master};
use mapreduce::protocol::{Request, Response, TaskId};
use mapreduce::sequential::run_sequential;
use mapreduce::worker::{WorkerOptions, run_worker};
use mapreduce::{job_by_name, jobs::InvertedIndex};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn bible() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/kjv.txt")
}

fn options(job: &str, inputs: Vec<PathBuf>) -> MasterOptions {
    MasterOptions {
        job: job.into(),
        inputs,
        split_bytes: 512 << 10,
        config: default_config(3),
        linger: Duration::from_secs(2),
        expect_workers: 0,
    }
}

/// The inverted index over TCP (three workers, the Bible cut into 9 splits) equals the
/// sequential run byte for byte: the library is not word-count specific.
#[test]
fn inverted_index_over_tcp_equals_sequential() {
    let inputs = vec![bible()];
    let expected = run_sequential(&InvertedIndex, &inputs, 1 << 20, 3).unwrap();
    let got = run_local(job_by_name, options("ii", inputs), 3).unwrap();
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert!(g[..] == e[..], "a reduce output differs");
    }
}

/// A peer speaking garbage (random bytes, then a malformed frame), and a registered "worker"
/// that reports a malformed reduce output, do not disturb the job: the master closes the bad
/// connection, refuses the bad output, and finishes with the right answer.
#[test]
fn garbage_from_peers_is_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (mut listeners, addrs) = rpc::bind_loopback(4).await.unwrap();
        let master_addr = addrs[0];
        let (master_l, split_l) = (listeners.remove(0), listeners.remove(0));
        let master = tokio::spawn(run_master(
            master_l,
            split_l,
            options("wc", vec![bible()]),
            |_| {},
        ));

        let mut raw = tokio::net::TcpStream::connect(master_addr).await.unwrap();
        raw.write_all(b"\x00\x00\x00\x05hello, this is not postcard")
            .await
            .unwrap();
        let mut huge = tokio::net::TcpStream::connect(master_addr).await.unwrap();
        huge.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
            .await
            .unwrap();

        let liar: rpc::RpcClient<Request, Response> = rpc::RpcClient::new(master_addr);
        let t = Duration::from_secs(5);
        let Response::Registered { worker, .. } = liar
            .call(
                Request::Register {
                    fetch_addr: "nowhere".into(),
                },
                t,
            )
            .await
            .unwrap()
        else {
            panic!("not registered")
        };
        let bad = Request::ReduceDone {
            worker,
            task: TaskId(0),
            output: vec![0xff; 16].into(),
        };
        assert_eq!(liar.call(bad, t).await.unwrap(), Response::Ack);

        let mut workers = Vec::new();
        for fetch_listener in listeners {
            let options = WorkerOptions {
                master: master_addr,
                fetch_listener,
                jobs: job_by_name,
                scratch: std::env::temp_dir(),
                task_delay: Duration::ZERO,
                slots: 1,
            };
            workers.push(tokio::spawn(run_worker(options)));
        }
        let result = tokio::time::timeout(Duration::from_secs(60), master)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let expected = run_sequential(&mapreduce::jobs::WordCount, &[bible()], 1 << 20, 3).unwrap();
        for (g, e) in result.outputs.iter().zip(&expected) {
            assert!(g[..] == e[..], "a reduce output differs");
        }
        for w in workers {
            w.await.unwrap().unwrap();
        }
    });
}
