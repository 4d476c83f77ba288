//! Smoke tests of the `dsys` binary as a user runs it.

mod bench_e2e;
mod kv_chaos;
mod kv_clients;
mod kv_cluster;
mod kv_durable;
mod kv_resp;
mod kv_usage;
mod pb_procs;
mod pb_usage;
mod resp_history;
mod shardkv_chaos;
mod shardkv_procs;
mod shardmaster_procs;

use std::process::Command;

fn dsys() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dsys"))
}

/// The README's demo, shortened: 5 peers over TCP through partitions, then every peer agrees.
#[test]
fn demo_runs_and_all_peers_agree() {
    let output = dsys()
        .args(["demo", "--rounds", "4", "--round-ms", "150", "--seed", "3"])
        .output()
        .expect("run dsys");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "dsys demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("all 5 peers agree on all 12 instances"),
        "unexpected output:\n{stdout}"
    );
}

/// Untrusted arguments: out-of-range or malformed values are usage errors (exit 2) with a
/// message, never a panic.
#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        vec!["demo", "--peers", "0"],
        vec!["demo", "--peers", "100"],
        vec!["demo", "--rounds", "-1"],
        vec!["demo", "--round-ms", "abc"],
        vec!["paxos"],
        vec!["no-such-command"],
    ] {
        let output = dsys().args(&args).output().expect("run dsys");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(
            stderr.contains("error") || stderr.contains("Usage"),
            "{args:?}: {stderr}"
        );
    }
}

mod mr_procs;
mod mr_wc;
