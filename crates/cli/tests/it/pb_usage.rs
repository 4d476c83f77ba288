//! `dsys viewservice` and `dsys pb` as a user meets them: bad arguments are usage errors, and
//! a client with no primary to talk to exits non-zero with a clear message.

use std::process::Command;

fn dsys() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dsys"))
}

/// Untrusted arguments: missing or malformed addresses, out-of-range timeouts and missing
/// operands are usage errors (exit 2) with a message, never a panic.
#[test]
fn pb_bad_arguments_are_usage_errors() {
    for args in [
        vec!["pb", "get", "k"],
        vec!["pb", "--viewservice", "nonsense", "get", "k"],
        vec![
            "pb",
            "--viewservice",
            "127.0.0.1:1",
            "--timeout",
            "0",
            "get",
            "k",
        ],
        vec!["pb", "--viewservice", "127.0.0.1:1", "put", "k"],
        vec!["pb", "--viewservice", "127.0.0.1:1"],
        vec!["pb", "--viewservice", "127.0.0.1:1", "serve"],
        vec!["viewservice"],
        vec!["viewservice", "--listen", "999.0.0.1:80"],
    ] {
        let output = dsys().args(&args).output().expect("run dsys");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    }
}

/// No view service at all: the client gives up after `--timeout` with exit 1 and says why.
#[test]
fn pb_client_without_primary_times_out_clearly() {
    // Port 1 on loopback: nothing listens there, so every connection is refused at once.
    let output = dsys()
        .args([
            "pb",
            "--viewservice",
            "127.0.0.1:1",
            "--timeout",
            "1",
            "get",
            "k",
        ])
        .output()
        .expect("run dsys");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no primary answered within 1s"), "{stderr}");
}

/// `dsys pb view` with no view service: exit 1, naming the address it tried.
#[test]
fn pb_view_without_view_service_fails_clearly() {
    let output = dsys()
        .args([
            "pb",
            "--viewservice",
            "127.0.0.1:1",
            "--timeout",
            "1",
            "view",
        ])
        .output()
        .expect("run dsys");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("asking the view service at 127.0.0.1:1"),
        "{stderr}"
    );
}
