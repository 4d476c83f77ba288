//! `dsys bench --system kv` end to end, shortened: it starts three replica processes, loads
//! them through kvpaxos clerks, and prints the table (no Redis baseline: kept short).

use std::process::Command;

/// One short level against the 3-replica kvpaxos service: a table row with no errors.
#[test]
fn kv_bench_runs_and_prints_a_table() {
    let output = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args([
            "bench",
            "--system",
            "kv",
            "--seconds",
            "1",
            "--clients",
            "2",
            "--keys",
            "10",
            "--no-redis",
        ])
        .output()
        .expect("run dsys");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| kv | 2 |"))
        .unwrap_or_else(|| panic!("no kv row in:\n{stdout}"));
    let errors = row.split('|').nth(6).map(str::trim);
    assert_eq!(errors, Some("0"), "{row}");
}
