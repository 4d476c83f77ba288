//! `dsys bench` end to end, shortened: it starts the pb service as processes, loads it, and
//! prints the table (the Redis baseline is skipped: the package may be missing in CI).

use std::process::Command;

/// One short level against the primary/backup service: a table row with no errors.
#[test]
fn pb_bench_runs_and_prints_a_table() {
    let output = Command::new(env!("CARGO_BIN_EXE_dsys"))
        .args([
            "bench",
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
        .find(|l| l.starts_with("| pb | 2 |"))
        .unwrap_or_else(|| panic!("no pb row in:\n{stdout}"));
    let errors = row.split('|').nth(6).map(str::trim);
    assert_eq!(errors, Some("0"), "{row}");
}
