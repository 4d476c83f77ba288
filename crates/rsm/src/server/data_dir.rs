//! Where a replica keeps its state: in memory, or in a directory of its own.
//!
//! A directory is opened in three steps before the replica core sees it:
//!
//! 1. **Create** it if missing (mode 0700: a replica's votes and data are nobody else's).
//! 2. **Lock** the system's lock file ([`DirNames::lock_file`]) inside it (an exclusive advisory lock, released by the kernel when
//!    the process dies, `kill -9` included). Two processes appending to one write-ahead log
//!    would interleave records, and each would promise what the other cannot see.
//! 3. **Check the cluster identity** in the system's cluster file
//!    ([`DirNames::cluster_file`]): the replica's id and the peer list, in
//!    order, as given at its first start. The Paxos files record the member and the cluster
//!    size, not the addresses, so without this a replica restarted with its peers listed in
//!    another order would take another member's votes for its own peers'. A first start
//!    writes the file atomically (temporary, fsync, rename, fsync of the directory) before
//!    the replica runs, so a directory holding Paxos state always holds it too.
//!
//! Each system names its two files after itself ([`DirNames`]: `kv-lock` and `kv-cluster` for
//! kvpaxos, `shardmaster-lock` and `shardmaster-cluster` for the shard master), so a directory
//! says which system it belongs to, and one system started on another's directory is refused
//! ([`DataDirError::OtherSystem`]) instead of reading the other's state as its own. The names
//! stay clear of the core's files (`paxos-identity`, `paxos-*.wal`, `rsm-snapshot`); the core
//! ignores names it does not know, so both files may sit in its [`DiskImage`].

use rpc::{DiskImage, NodeId};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The suffix of every system's cluster identity file (`kv-cluster`, `shardmaster-cluster`).
const CLUSTER_SUFFIX: &str = "-cluster";

/// The suffix of every system's lock file.
const LOCK_SUFFIX: &str = "-lock";

/// What a system calls its files in a replica's directory: `SYSTEM-lock` and `SYSTEM-cluster`,
/// the identity file's first line naming the system too. kvpaxos's are `kv` (the names its
/// directories have always had, so they still open); a new system picks its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirNames {
    /// The system's short name, as in its `dsys` subcommand (`kv`, `shardmaster`).
    pub system: &'static str,
}

impl DirNames {
    /// The names of `system`.
    pub const fn new(system: &'static str) -> DirNames {
        DirNames { system }
    }

    /// The lock file (`SYSTEM-lock`).
    pub fn lock_file(&self) -> String {
        format!("{}{LOCK_SUFFIX}", self.system)
    }

    /// The cluster identity file (`SYSTEM-cluster`).
    pub fn cluster_file(&self) -> String {
        format!("{}{CLUSTER_SUFFIX}", self.system)
    }

    /// The identity file's first line; another is refused rather than guessed at.
    fn header(&self) -> String {
        format!(
            "dsys {} cluster identity, format 1: written at this replica's first start; do not edit",
            self.system
        )
    }
}

/// Where a replica keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Nothing on disk: a replica started again has lost its state, and only learns the log
    /// (tests, benches, `--in-memory`).
    InMemory,
    /// A directory of its own, created if missing: the replica survives crashes, `kill -9`
    /// included, with every acknowledged write.
    Dir(PathBuf),
}

/// Why a replica's directory cannot be used. Every message names the directory or the file.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// An I/O error creating, locking, reading or writing the directory.
    #[error("data directory {}: {action}: {error}", dir.display())]
    Io {
        /// The directory.
        dir: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        error: io::Error,
    },
    /// Another process holds the directory's lock.
    #[error(
        "data directory {} is in use by another process (it holds {lock}); every replica needs a directory of its own",
        dir.display()
    )]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The lock file.
        lock: String,
    },
    /// The directory holds another system's cluster identity (a kvpaxos directory given to
    /// the shard master, say).
    #[error(
        "data directory {} belongs to another system (it holds {found}, not {expected}); give this replica a directory of its own",
        dir.display()
    )]
    OtherSystem {
        /// The directory.
        dir: PathBuf,
        /// The other system's identity file found there.
        found: String,
        /// The identity file this system expects.
        expected: String,
    },
    /// The directory belongs to a cluster with another peer list (or the same in another order).
    #[error(
        "{}: this directory belongs to a cluster with peers {}, but this replica was started with peers {}; start it with the recorded list, or give it another directory",
        file.display(), list(recorded), list(given)
    )]
    OtherCluster {
        /// The identity file.
        file: PathBuf,
        /// The peer list recorded there.
        recorded: Vec<SocketAddr>,
        /// The peer list given now.
        given: Vec<SocketAddr>,
    },
    /// The directory belongs to another replica of the same cluster.
    #[error(
        "{}: this directory belongs to replica {recorded}, not to replica {given}",
        file.display()
    )]
    OtherReplica {
        /// The identity file.
        file: PathBuf,
        /// The replica id recorded there.
        recorded: u32,
        /// The id given now.
        given: u32,
    },
    /// The identity file is not one this version wrote.
    #[error("{}: not a cluster identity file ({cause}); refusing to start", file.display())]
    Damaged {
        /// The identity file.
        file: PathBuf,
        /// What is wrong with it.
        cause: String,
    },
    /// Replica state is present but the identity file is not (removed by hand, or a
    /// directory assembled from parts).
    #[error(
        "{} is missing but {present} is present: the directory is incomplete; refusing to start",
        file.display()
    )]
    Incomplete {
        /// The missing identity file.
        file: PathBuf,
        /// A file of the replica's state that is there.
        present: String,
    },
}

fn list(peers: &[SocketAddr]) -> String {
    peers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A replica's directory, locked for this process, with what it held at the start.
#[derive(Debug)]
pub struct DataDir {
    /// The directory.
    pub dir: PathBuf,
    /// Every file it held, the identity file included.
    pub image: DiskImage,
    /// Holds the lock until dropped (when the server is).
    _lock: File,
}

impl DataDir {
    /// Creates (if needed), locks and reads `dir`, and checks that it belongs to replica `id`
    /// of the cluster `peers` of the system `names` names, recording that at a first start.
    ///
    /// # Errors
    /// [`DataDirError`] naming the directory or the file.
    pub fn open(
        dir: &Path,
        names: DirNames,
        id: NodeId,
        peers: &[SocketAddr],
    ) -> Result<DataDir, DataDirError> {
        let io_error = |action| {
            let dir = dir.to_path_buf();
            move |error| DataDirError::Io { dir, action, error }
        };
        create(dir).map_err(io_error("creating it"))?;
        let lock = lock(dir, &names.lock_file())?;
        let mut image = rpc::load_disk(dir).map_err(io_error("reading it"))?;
        let cluster_file = names.cluster_file();
        let file = dir.join(&cluster_file);
        if let Some(found) = image
            .keys()
            .find(|name| is_identity(name) && **name != cluster_file)
        {
            return Err(DataDirError::OtherSystem {
                dir: dir.to_path_buf(),
                found: found.clone(),
                expected: cluster_file,
            });
        }
        match image.get(&cluster_file) {
            Some(bytes) => check_identity(&file, bytes, names, id, peers)?,
            None => {
                if let Some(present) = image.keys().find(|name| is_replica_state(name)) {
                    return Err(DataDirError::Incomplete {
                        file,
                        present: present.clone(),
                    });
                }
                let bytes = identity_text(names, id, peers);
                write_atomic(dir, &cluster_file, bytes.as_bytes())
                    .map_err(io_error("recording the cluster identity"))?;
                image.insert(cluster_file, bytes.into());
            }
        }
        Ok(DataDir {
            dir: dir.to_path_buf(),
            image,
            _lock: lock,
        })
    }
}

/// Creates `dir` (and missing parents) with mode 0700, persisting its entry in the parent.
fn create(dir: &Path) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            warn_if_shared(dir, &meta);
            return Ok(());
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it exists and is not a directory",
            ));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

#[cfg(unix)]
fn warn_if_shared(dir: &Path, meta: &fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "the data directory is open to other users; 0700 is recommended");
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_dir: &Path, _meta: &fs::Metadata) {}

/// Takes the exclusive lock on `name` in `dir`, without waiting.
fn lock(dir: &Path, name: &str) -> Result<File, DataDirError> {
    let io_error = |action| {
        let dir = dir.to_path_buf();
        move |error| DataDirError::Io { dir, action, error }
    };
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(dir.join(name))
        .map_err(io_error("opening its lock file"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(DataDirError::Locked {
            dir: dir.to_path_buf(),
            lock: name.to_string(),
        }),
        Err(fs::TryLockError::Error(error)) => Err(io_error("locking it")(error)),
    }
}

/// True for a file of the replica core's state: anything but a system's lock or identity file
/// (and the runtime's temporaries, which [`rpc::load_disk`] already leaves out). No core file
/// ends like those (`paxos-identity`, `paxos-*.wal`, `rsm-snapshot`).
fn is_replica_state(name: &str) -> bool {
    !name.ends_with(LOCK_SUFFIX) && !is_identity(name)
}

/// True for some system's cluster identity file.
fn is_identity(name: &str) -> bool {
    name.ends_with(CLUSTER_SUFFIX)
}

/// The identity file's text: a header, the id, and the peer list in order.
fn identity_text(names: DirNames, id: NodeId, peers: &[SocketAddr]) -> String {
    format!("{}\nid {}\npeers {}\n", names.header(), id.0, list(peers))
}

/// Checks the recorded identity against `id` and `peers`. The peer list is compared first: a
/// list in another order also moves the ids, and the list names the real mistake.
fn check_identity(
    file: &Path,
    bytes: &[u8],
    names: DirNames,
    id: NodeId,
    peers: &[SocketAddr],
) -> Result<(), DataDirError> {
    let damaged = |cause: &str| DataDirError::Damaged {
        file: file.to_path_buf(),
        cause: cause.to_string(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| damaged("not UTF-8"))?;
    let mut lines = text.lines();
    if lines.next() != Some(names.header().as_str()) {
        return Err(damaged("unknown header"));
    }
    let recorded_id: u32 = lines
        .next()
        .and_then(|l| l.strip_prefix("id "))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| damaged("no id line"))?;
    let recorded_peers = lines
        .next()
        .and_then(|l| l.strip_prefix("peers "))
        .ok_or_else(|| damaged("no peers line"))?
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<SocketAddr>, _>>()
        .map_err(|_| damaged("a peer that is not an address"))?;
    if lines.next().is_some() || !text.ends_with('\n') {
        return Err(damaged("trailing text"));
    }
    if recorded_peers != peers {
        return Err(DataDirError::OtherCluster {
            file: file.to_path_buf(),
            recorded: recorded_peers,
            given: peers.to_vec(),
        });
    }
    if recorded_id != id.0 {
        return Err(DataDirError::OtherReplica {
            file: file.to_path_buf(),
            recorded: recorded_id,
            given: id.0,
        });
    }
    Ok(())
}

/// Replaces `dir/name` with `bytes` so that a crash leaves the old content or the new, then
/// makes the rename durable. The temporary's prefix is the one [`rpc::load_disk`] skips.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{}{name}", rpc::disk::TMP_PREFIX));
    let mut out = File::create(&tmp)?;
    out.write_all(bytes)?;
    out.sync_all()?;
    drop(out);
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap (STYLE 2.5).
mod tests {
    use super::*;

    /// kvpaxos's names, which every test uses unless it is about names.
    const KV: DirNames = DirNames::new("kv");

    /// A fresh directory under the system's temporary directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("dsys-rsm-data-dir-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn peers(ports: &[u16]) -> Vec<SocketAddr> {
        ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect()
    }

    /// A first start creates the directory (0700), records the identity, and reads it back;
    /// the same replica starts again on it.
    #[test]
    fn first_start_records_the_identity_and_a_restart_accepts_it() {
        let scratch = Scratch::new("first");
        let dir = scratch.0.join("nested").join("kv-0");
        let opened = DataDir::open(&dir, KV, NodeId(0), &peers(&[1, 2, 3])).unwrap();
        assert!(opened.image.contains_key("kv-cluster"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
        drop(opened);
        let again = DataDir::open(&dir, KV, NodeId(0), &peers(&[1, 2, 3])).unwrap();
        assert_eq!(
            again.image["kv-cluster"],
            identity_text(KV, NodeId(0), &peers(&[1, 2, 3]))
        );
    }

    /// The lock is exclusive while held and free once its holder is gone.
    #[test]
    fn a_second_opener_is_refused_until_the_first_is_gone() {
        let scratch = Scratch::new("lock");
        let first = DataDir::open(&scratch.0, KV, NodeId(0), &peers(&[1, 2, 3])).unwrap();
        let second = DataDir::open(&scratch.0, KV, NodeId(0), &peers(&[1, 2, 3])).unwrap_err();
        assert!(matches!(second, DataDirError::Locked { .. }), "{second}");
        assert!(second.to_string().contains("in use by another process"));
        drop(first);
        DataDir::open(&scratch.0, KV, NodeId(0), &peers(&[1, 2, 3])).unwrap();
    }

    /// Another list, the same list in another order, or another id: refused, naming both.
    #[test]
    fn another_cluster_or_replica_is_refused_naming_both() {
        let scratch = Scratch::new("other");
        drop(DataDir::open(&scratch.0, KV, NodeId(1), &peers(&[1, 2, 3])).unwrap());
        for given in [peers(&[1, 2, 4]), peers(&[2, 1, 3]), peers(&[1, 2])] {
            let err = DataDir::open(&scratch.0, KV, NodeId(1), &given).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, DataDirError::OtherCluster { .. }), "{text}");
            assert!(
                text.contains("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"),
                "{text}"
            );
            assert!(text.contains(&list(&given)), "{text}");
        }
        let err = DataDir::open(&scratch.0, KV, NodeId(2), &peers(&[1, 2, 3])).unwrap_err();
        assert!(
            err.to_string()
                .contains("belongs to replica 1, not to replica 2"),
            "{err}"
        );
    }

    /// Replica state without the identity file, a damaged identity file, or a data directory
    /// path that is a file: refused with the file named.
    #[test]
    fn incomplete_or_damaged_directories_are_refused() {
        let scratch = Scratch::new("damaged");
        fs::create_dir_all(&scratch.0).unwrap();
        fs::write(scratch.0.join("paxos-identity"), b"x").unwrap();
        let err = DataDir::open(&scratch.0, KV, NodeId(0), &peers(&[1])).unwrap_err();
        assert!(matches!(err, DataDirError::Incomplete { .. }), "{err}");
        assert!(
            err.to_string().contains("paxos-identity is present"),
            "{err}"
        );

        let mut text = identity_text(KV, NodeId(0), &peers(&[1]));
        text.insert(text.len() - 2, 'x');
        fs::write(scratch.0.join("kv-cluster"), text).unwrap();
        let err = DataDir::open(&scratch.0, KV, NodeId(0), &peers(&[1])).unwrap_err();
        assert!(matches!(err, DataDirError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("kv-cluster"), "{err}");

        let file = scratch.0.join("plain-file");
        fs::write(&file, b"").unwrap();
        let err = DataDir::open(&file, KV, NodeId(0), &peers(&[1])).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    /// kvpaxos's names are the ones its directories have always had, so they still open: the
    /// lock, the identity file and its header, byte for byte.
    #[test]
    fn kv_names_are_unchanged() {
        assert_eq!(KV.lock_file(), "kv-lock");
        assert_eq!(KV.cluster_file(), "kv-cluster");
        assert_eq!(
            identity_text(KV, NodeId(1), &peers(&[1, 2])),
            "dsys kv cluster identity, format 1: written at this replica's first start; do not edit\n\
             id 1\npeers 127.0.0.1:1,127.0.0.1:2\n"
        );
    }

    /// One system started on another's directory is refused naming both identity files, and
    /// the directory is left as it was.
    #[test]
    fn another_systems_directory_is_refused() {
        let scratch = Scratch::new("system");
        drop(DataDir::open(&scratch.0, KV, NodeId(0), &peers(&[1])).unwrap());
        let names = DirNames::new("shardmaster");
        let err = DataDir::open(&scratch.0, names, NodeId(0), &peers(&[1])).unwrap_err();
        assert!(matches!(err, DataDirError::OtherSystem { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("kv-cluster") && text.contains("shardmaster-cluster"),
            "{text}"
        );
        assert!(!scratch.0.join("shardmaster-cluster").exists());
        DataDir::open(&scratch.0, KV, NodeId(0), &peers(&[1])).unwrap();
    }
}
