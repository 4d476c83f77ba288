//! SPEC §4.3 TestFailPut: Puts right after a backup failure and right after a primary failure.

use crate::common::*;
use rpc::NodeId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sub {
    Setup,
    AfterBackupFailure,
    AfterPrimaryFailure,
}

fn run_through(seed: u64, last: Sub) -> Result<(), String> {
    let mut pb = Pb::new(seed, 3, &[1]);
    let ck = pb.clerk();
    pb.run_for(SECOND_US)?;
    pb.start(2);
    pb.run_for(SECOND_US)?;
    pb.start(3);
    pb.run_for(SECOND_US)?;
    let v = pb.view();
    ensure(
        v.primary == Some(NodeId(1)) && v.backup == Some(NodeId(2)),
        || format!("expected {{s1, s2}}, view {v}"),
    )?;
    pb.op(ck, put("a", "aa"))?;
    pb.op(ck, put("b", "bb"))?;
    pb.op(ck, put("c", "cc"))?;
    pb.check(ck, "a", "aa")?;
    pb.check(ck, "b", "bb")?;
    pb.check(ck, "c", "cc")?;
    if last >= Sub::AfterBackupFailure {
        pb.kill(2);
        pb.op(ck, put("a", "aaa"))?;
        pb.check(ck, "a", "aaa")?;
        pb.wait_view(15 + 10, "{s1, s3}", |v| {
            v.primary == Some(NodeId(1)) && v.backup == Some(NodeId(3))
        })?;
        pb.check(ck, "a", "aaa")?;
    }
    if last >= Sub::AfterPrimaryFailure {
        pb.kill(1);
        pb.op(ck, put("b", "bbb"))?;
        pb.check(ck, "a", "aaa")?;
        pb.check(ck, "b", "bbb")?;
        pb.check(ck, "c", "cc")?;
    }
    pb.check_linearizable()
}

/// Lab 2B TestFailPut: s1, s2, s3 start 1 s apart; the view is {s1, s2}; Puts work.
#[test]
fn fail_put() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::Setup));
}

/// Lab 2B "Put() immediately after backup failure": kill s2, Put at once; it lands, and the
/// view becomes {s1, s3}.
#[test]
fn put_immediately_after_backup_failure() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::AfterBackupFailure));
}

/// Lab 2B "Put() immediately after primary failure": kill s1, Put at once; every key intact.
#[test]
fn put_immediately_after_primary_failure() {
    sim::for_each_seed!(20, |seed| run_through(seed, Sub::AfterPrimaryFailure));
}
