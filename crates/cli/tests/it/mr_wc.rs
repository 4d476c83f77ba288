//! `dsys wc` as a user runs it: the top ten, the output file, and bad input (SPEC §2.3).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dsys() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dsys"))
}

fn bible() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/kjv.txt")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsys-wc-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn wc(args: &[&std::ffi::OsStr]) -> Output {
    dsys().arg("wc").args(args).output().expect("run dsys wc")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The default run prints the published top ten (data/README.md), most frequent first, and
/// writes the same file as --sequential.
#[test]
fn wc_prints_the_top_ten_and_matches_sequential() {
    let dir = scratch("top");
    let (par, seq) = (dir.join("par.wc"), dir.join("seq.wc"));
    let out = wc(&[bible().as_os_str(), "-o".as_ref(), par.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let top: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        top,
        [
            "the: 62057",
            "and: 38844",
            "of: 34428",
            "to: 13379",
            "And: 12850",
            "that: 12579",
            "in: 12331",
            "shall: 9759",
            "he: 9666",
            "unto: 8943"
        ]
    );
    let out = wc(&[
        bible().as_os_str(),
        "-o".as_ref(),
        seq.as_os_str(),
        "--sequential".as_ref(),
        "-q".as_ref(),
    ]);
    assert!(out.status.success());
    assert!(std::fs::read(&par).expect("par") == std::fs::read(&seq).expect("seq"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A missing input or a directory is a clear error (exit 1), and no output file appears.
#[test]
fn wc_bad_inputs_fail_cleanly_without_output() {
    let dir = scratch("bad");
    let out_file = dir.join("out.wc");
    for (input, mode) in [
        (dir.join("missing.txt"), None),
        (dir.join("missing.txt"), Some("--sequential")),
        (dir.clone(), None),
        (dir.clone(), Some("--sequential")),
    ] {
        let mut args = vec![input.as_os_str(), "-o".as_ref(), out_file.as_os_str()];
        args.extend(mode.map(std::ffi::OsStr::new));
        let out = wc(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{input:?} {mode:?}: {stderr}");
        assert!(stderr.contains("cannot read input"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out_file.exists(), "output left behind");
    }
    assert_eq!(
        files_in(&dir),
        Vec::<String>::new(),
        "temporary files left behind"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An empty file gives an empty output; a binary file is counted without complaint (invalid
/// UTF-8 separates words), identically in both modes.
#[test]
fn wc_empty_and_binary_files() {
    let dir = scratch("odd");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, b"").expect("write");
    let out = wc(&[empty.as_os_str(), "-q".as_ref()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dir.join("empty.txt.wc")).expect("output"),
        b""
    );

    let binary = dir.join("blob.bin");
    let mut f = std::fs::File::create(&binary).expect("create");
    let mut x: u32 = 1;
    for _ in 0..400_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.write_all(&x.to_le_bytes()).expect("write");
    }
    drop(f);
    let (a, b) = (dir.join("a.wc"), dir.join("b.wc"));
    let out = wc(&[
        binary.as_os_str(),
        "-o".as_ref(),
        a.as_os_str(),
        "-q".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = wc(&[
        binary.as_os_str(),
        "-o".as_ref(),
        b.as_os_str(),
        "-q".as_ref(),
        "--sequential".as_ref(),
    ]);
    assert!(out.status.success());
    assert!(std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Untrusted arguments: bad values are usage errors (exit 2), never panics.
#[test]
fn mr_bad_arguments_are_usage_errors() {
    for args in [
        vec!["wc"],
        vec!["wc", "x", "--workers", "0"],
        vec!["mr", "master", "--listen", "nowhere", "wc", "x"],
        vec!["mr", "worker", "--master", "1.2.3"],
        vec![
            "mr",
            "master",
            "--listen",
            "127.0.0.1:0",
            "--reduces",
            "0",
            "wc",
            "x",
        ],
    ] {
        let out = dsys().args(&args).output().expect("run dsys");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = dsys()
        .args(["mr", "master", "--listen", "127.0.0.1:0", "nojob", "x"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown job"));
}
