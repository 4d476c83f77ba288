//! Files written through effects are on disk when the reply arrives, and a node restarts from them.

use crate::common::{
    CALL_TIMEOUT, REPLY_TIMEOUT, Req, Resp, Toy, bounded, config, init_tracing, scratch_dir,
};
use bytes::Bytes;
use rpc::{NodeId, RpcClient, RpcError, load_disk, spawn_node};

/// Goal: `Write` + `Sync` complete before the `Reply` after them leaves, and `load_disk` rebuilds
/// the node from the synced files, ignoring the temporary a crash mid-write would leave.
/// Method: a node with a data dir stores two files through requests; right after each reply the
/// file is read back from disk. A `.tmp.` leftover is planted, the node is killed, and a new core
/// is built from `load_disk`.
#[tokio::test]
async fn synced_files_are_on_disk_at_reply_time_and_survive_a_restart() {
    init_tracing();
    let dir = scratch_dir("restart");
    let (mut listeners, addrs) = crate::common::bind(1).await;
    let node = spawn_node(
        Toy::new(NodeId(0), 1),
        config(0, listeners.remove(0), &addrs, Some(dir.clone())),
    );
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    for (file, content) in [("state", "v1"), ("log.1", "entry"), ("state", "v2")] {
        let store = Req::Store {
            file: file.into(),
            bytes: content.as_bytes().to_vec(),
        };
        let resp = bounded(client.call(store, REPLY_TIMEOUT))
            .await
            .expect("stored");
        assert_eq!(resp, Resp::Stored);
        let on_disk = load_disk(&dir).expect("readable")[file].clone();
        assert_eq!(
            on_disk,
            Bytes::from(content),
            "{file} is on disk when the reply arrives"
        );
    }
    assert_eq!(node.stats().disk_syncs, 3);

    std::fs::write(dir.join(".tmp.state"), b"torn write").expect("plant a leftover");
    node.kill();
    bounded(node.join()).await;
    let image = load_disk(&dir).expect("readable");
    assert_eq!(
        image.keys().collect::<Vec<_>>(),
        ["log.1", "state"],
        "leftover ignored"
    );
    assert_eq!(image["state"], Bytes::from_static(b"v2"));

    let listener = tokio::net::TcpListener::bind(addrs[0])
        .await
        .expect("port free after join");
    let restarted = spawn_node(
        Toy::from_image(NodeId(0), 1, image.clone()),
        config(0, listener, &addrs, Some(dir.clone())),
    );
    let restored = restarted
        .call(|core, _| core.restored.clone())
        .await
        .expect("running");
    assert_eq!(restored, image);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Goal: a disk failure stops the node as a crash would, instead of letting it answer with a
/// promise it did not keep.
/// Method: the data dir path lies under a regular file, so creating it fails; a `Store` must get
/// no `Stored` answer, and the node must stop on its own (bounded `join`).
#[tokio::test]
async fn disk_failure_stops_the_node() {
    init_tracing();
    let blocker = scratch_dir("blocker");
    std::fs::write(&blocker, b"a file, not a directory").expect("create blocker");
    let (mut listeners, addrs) = crate::common::bind(1).await;
    let node = spawn_node(
        Toy::new(NodeId(0), 1),
        config(0, listeners.remove(0), &addrs, Some(blocker.join("dir"))),
    );
    let client = RpcClient::<Req, Resp>::new(addrs[0]);
    let store = Req::Store {
        file: "state".into(),
        bytes: b"v1".to_vec(),
    };
    let err = bounded(client.call(store, CALL_TIMEOUT))
        .await
        .expect_err("no reply without the disk");
    assert!(
        matches!(err, RpcError::ConnectionClosed | RpcError::Timeout),
        "{err:?}"
    );
    bounded(node.join()).await;
    std::fs::remove_file(&blocker).expect("cleanup");
}
