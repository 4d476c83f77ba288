//! `dsys bench` end to end, shortened: it starts each service as processes, loads it, and
//! prints the table (the Redis baseline is skipped to keep the tests short).

use std::process::Command;

/// Runs one short level of `dsys bench --system SYSTEM` with 2 clients and checks that its
/// table row reports no errors.
fn bench_runs_without_errors(system: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args([
            "bench",
            "--system",
            system,
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
    let prefix = format!("| {system} | 2 |");
    let row = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {system} row in:\n{stdout}"));
    let errors = row.split('|').nth(6).map(str::trim);
    assert_eq!(errors, Some("0"), "{row}");
}

/// The primary/backup service (a view service and two servers).
#[test]
fn pb_bench_runs_and_prints_a_table() {
    bench_runs_without_errors("pb");
}

/// The 3-replica kvpaxos service, loaded through clerks.
#[test]
fn kv_bench_runs_and_prints_a_table() {
    bench_runs_without_errors("kv");
}
