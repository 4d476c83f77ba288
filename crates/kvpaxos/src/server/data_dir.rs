//! Where a kvpaxos replica keeps its state: `rsm`'s data directory
//! ([`rsm::server::data_dir`]) under kvpaxos's names, [`LOCK_FILE`] and [`CLUSTER_FILE`],
//! which every kvpaxos directory has had since its first start, so existing ones still open.

use rsm::server::DirNames;

pub use rsm::server::data_dir::{DataDirError, Storage};

/// What kvpaxos calls its files in a replica's directory.
pub const NAMES: DirNames = DirNames::new("kv");

/// The lock file in a kvpaxos replica's directory.
pub const LOCK_FILE: &str = "kv-lock";

/// The cluster identity file in a kvpaxos replica's directory.
pub const CLUSTER_FILE: &str = "kv-cluster";

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).
mod tests {
    use super::*;
    use rpc::NodeId;
    use rsm::server::DataDir;
    use std::net::SocketAddr;

    /// A directory written before the data directory moved to `rsm` (its identity file byte
    /// for byte as kvpaxos wrote it) still opens, under the same names.
    #[test]
    fn a_kv_directory_of_an_earlier_version_opens() {
        assert_eq!(NAMES.lock_file(), LOCK_FILE);
        assert_eq!(NAMES.cluster_file(), CLUSTER_FILE);
        let dir = std::env::temp_dir().join(format!("dsys-kv-old-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let old = "dsys kv cluster identity, format 1: written at this replica's first start; \
                   do not edit\nid 2\npeers 127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203\n";
        std::fs::write(dir.join(CLUSTER_FILE), old).unwrap();
        let peers: Vec<SocketAddr> = ["127.0.0.1:7201", "127.0.0.1:7202", "127.0.0.1:7203"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let opened = DataDir::open(&dir, NAMES, NodeId(2), &peers);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(opened.unwrap().image[CLUSTER_FILE], old.as_bytes());
    }
}
