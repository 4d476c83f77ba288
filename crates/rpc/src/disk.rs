//! A node's files in a real directory: the runtime's side of `Write`, `Remove`, `Append`,
//! `Truncate` and `Sync`.
//!
//! * `Write` replaces a file atomically: the bytes go to `.tmp.<name>`, that file is fsynced, then
//!   renamed over `<name>`. A crash leaves either the old or the new content, never a mix.
//! * `Remove` unlinks the file (a missing file is not an error: removing is idempotent).
//! * `Append` writes at the end of the file through an `O_APPEND` handle kept open (created if
//!   missing) and does **not** fsync: it only marks the file dirty.
//! * `Truncate` cuts the file with `set_len` and fsyncs it at once. Truncates are rare (cutting a
//!   torn tail at recovery), and persisting one before any later append to the same file is what
//!   keeps a crash from mixing new appended bytes with the old tail the truncate removed.
//! * `Sync` fsyncs (`fdatasync`) every file appended to since the last `Sync`, then the directory
//!   if an entry changed (a rename, an unlink, a file created by `Append`). One `Sync` after many
//!   appends costs one fsync per file: that is group commit. Only after it returns may a later
//!   `Send` or `Reply` leave the node (driver contract, step 2).
//!
//! [`load_disk`] rebuilds a [`DiskImage`] after a restart and skips `.tmp.` leftovers of a crash
//! in mid-write. File names are single path components and may not start with `.`, which is
//! reserved for those temporaries.

use crate::node::DiskImage;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Prefix of the temporary file a `Write` goes through; [`load_disk`] ignores such files.
pub const TMP_PREFIX: &str = ".tmp.";

/// Append handles kept open at once. Why a bound: a core may append to any number of files over
/// its life (one log segment after another); past the bound a handle is closed, fsynced first if
/// it has unsynced appends (early durability never breaks the contract).
pub const OPEN_FILES_MAX: usize = 16;

/// One disk effect, detached from the core's outbox so a batch can move to a blocking thread.
#[derive(Debug)]
pub(crate) enum DiskOp {
    /// Atomically replace `file` with `bytes`.
    Write { file: String, bytes: Bytes },
    /// Delete `file`.
    Remove { file: String },
    /// Append `bytes` to `file`, creating it.
    Append { file: String, bytes: Bytes },
    /// Cut `file` to `len` bytes.
    Truncate { file: String, len: u64 },
    /// Make every earlier operation durable.
    Sync,
}

impl DiskOp {
    /// True for [`DiskOp::Sync`].
    pub(crate) fn is_sync(&self) -> bool {
        matches!(self, DiskOp::Sync)
    }

    /// Bytes of file content the operation writes: what a batch's size bound counts.
    pub(crate) fn content_len(&self) -> usize {
        match self {
            DiskOp::Write { bytes, .. } | DiskOp::Append { bytes, .. } => bytes.len(),
            DiskOp::Remove { .. } | DiskOp::Truncate { .. } | DiskOp::Sync => 0,
        }
    }
}

/// A node's own directory.
#[derive(Debug)]
pub(crate) struct DiskDir {
    dir: PathBuf,
    created: bool,
    /// Open append handles by file name.
    open: BTreeMap<String, File>,
    /// Files appended to since the last `Sync`; each has a handle in `open`.
    dirty: BTreeSet<String>,
    /// A directory entry changed since the last `Sync` (rename, unlink, file created).
    dir_dirty: bool,
    /// fsync calls made so far.
    fsyncs: u64,
}

impl DiskDir {
    pub(crate) fn new(dir: PathBuf) -> Self {
        DiskDir {
            dir,
            created: false,
            open: BTreeMap::new(),
            dirty: BTreeSet::new(),
            dir_dirty: false,
            fsyncs: 0,
        }
    }

    /// Carries out `ops` in order. Blocking: call it from a blocking thread.
    ///
    /// # Errors
    /// The first I/O error, or `InvalidInput` for a file name that is not a plain name or a
    /// truncate that would extend a file, `NotFound` for a truncate of a missing file. The
    /// operations after the failing one are not attempted.
    pub(crate) fn apply(&mut self, ops: &[DiskOp]) -> io::Result<()> {
        if !self.created {
            fs::create_dir_all(&self.dir)?;
            // The new directory's own entry lives in its parent: persist it too.
            if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            self.created = true;
        }
        for op in ops {
            match op {
                DiskOp::Write { file, bytes } => {
                    check_name(file)?;
                    self.forget(file);
                    write_atomic(&self.dir, file, bytes)?;
                    self.fsyncs += 1;
                    self.dir_dirty = true;
                }
                DiskOp::Remove { file } => {
                    check_name(file)?;
                    self.forget(file);
                    remove(&self.dir, file)?;
                    self.dir_dirty = true;
                }
                DiskOp::Append { file, bytes } => self.append(file, bytes)?,
                DiskOp::Truncate { file, len } => self.truncate(file, *len)?,
                DiskOp::Sync => self.sync()?,
            }
        }
        Ok(())
    }

    /// Drops the handle of a file about to be replaced or unlinked: appends to the old inode
    /// no longer matter, and a later append must open the new one.
    fn forget(&mut self, file: &str) {
        self.open.remove(file);
        self.dirty.remove(file);
    }

    fn append(&mut self, file: &str, bytes: &[u8]) -> io::Result<()> {
        check_name(file)?;
        self.handle(file)?.write_all(bytes)?;
        self.dirty.insert(file.to_owned());
        Ok(())
    }

    fn truncate(&mut self, file: &str, len: u64) -> io::Result<()> {
        check_name(file)?;
        let handle = match self.open.get(file) {
            Some(handle) => handle,
            None => &OpenOptions::new().write(true).open(self.dir.join(file))?,
        };
        let now = handle.metadata()?.len();
        if len > now {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("truncate {file:?} to {len} bytes: it has only {now}"),
            ));
        }
        handle.set_len(len)?;
        handle.sync_data()?;
        self.fsyncs += 1;
        Ok(())
    }

    /// An open append handle for `file`, opened (and created if missing) on first use.
    fn handle(&mut self, file: &str) -> io::Result<&mut File> {
        if !self.open.contains_key(file) {
            if self.open.len() >= OPEN_FILES_MAX {
                self.close_one()?;
            }
            let path = self.dir.join(file);
            let handle = match OpenOptions::new().append(true).open(&path) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    // A new entry: only an fsync of the directory makes it durable.
                    self.dir_dirty = true;
                    OpenOptions::new().append(true).create(true).open(&path)?
                }
                other => other?,
            };
            self.open.insert(file.to_owned(), handle);
        }
        Ok(self.open.get_mut(file).expect("just inserted"))
    }

    fn close_one(&mut self) -> io::Result<()> {
        let name = self
            .open
            .keys()
            .find(|name| !self.dirty.contains(*name))
            .or_else(|| self.open.keys().next())
            .cloned()
            .expect("called with open handles");
        let handle = self.open.remove(&name).expect("a key of the map");
        if self.dirty.remove(&name) {
            handle.sync_data()?;
            self.fsyncs += 1;
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        for name in std::mem::take(&mut self.dirty) {
            self.open[&name].sync_data()?;
            self.fsyncs += 1;
        }
        if self.dir_dirty {
            sync_dir(&self.dir)?;
            self.fsyncs += 1;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// fsync calls made so far (file and directory): what group commit keeps low.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs
    }
}

/// Reads every durable file of a node's directory. A directory that does not exist yet is an
/// empty image (a node that never wrote anything).
///
/// # Errors
/// Any I/O error reading the directory or a file in it.
pub fn load_disk(dir: impl AsRef<Path>) -> io::Result<DiskImage> {
    let dir = dir.as_ref();
    let mut image = DiskImage::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(image),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(path = %entry.path().display(), "skipping a file whose name is not UTF-8");
            continue;
        };
        if name.starts_with(TMP_PREFIX) {
            tracing::debug!(file = %name, "skipping a temporary left by an interrupted write");
            continue;
        }
        image.insert(name, Bytes::from(fs::read(entry.path())?));
    }
    Ok(image)
}

fn check_name(file: &str) -> io::Result<()> {
    let plain = !file.is_empty()
        && !file.starts_with('.')
        && !file.contains(['/', '\\', '\0'])
        && Path::new(file).components().count() == 1;
    if plain {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a plain file name: {file:?}"),
        ))
    }
}

fn write_atomic(dir: &Path, file: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{TMP_PREFIX}{file}"));
    let mut out = File::create(&tmp)?;
    out.write_all(bytes)?;
    // The content must be on disk before the rename can expose it under the real name.
    out.sync_all()?;
    drop(out);
    fs::rename(&tmp, dir.join(file))
}

fn remove(dir: &Path, file: &str) -> io::Result<()> {
    match fs::remove_file(dir.join(file)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Renames and unlinks are directory updates: only an fsync of the directory persists them.
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dsys-rpc-disk-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn write_remove_sync_then_load() {
        let dir = scratch("wrs");
        let mut disk = DiskDir::new(dir.clone());
        let ops = [
            DiskOp::Write {
                file: "a".into(),
                bytes: Bytes::from_static(b"one"),
            },
            DiskOp::Write {
                file: "b".into(),
                bytes: Bytes::from_static(b"two"),
            },
            DiskOp::Write {
                file: "a".into(),
                bytes: Bytes::from_static(b"three"),
            },
            DiskOp::Remove { file: "b".into() },
            DiskOp::Remove {
                file: "never-existed".into(),
            },
            DiskOp::Sync,
        ];
        disk.apply(&ops).expect("disk ops succeed");
        fs::write(dir.join(".tmp.c"), b"half-written").expect("plant a leftover");
        let image = load_disk(&dir).expect("loads");
        assert_eq!(image.len(), 1, "{image:?}");
        assert_eq!(image["a"], Bytes::from_static(b"three"));
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    fn append(file: &str, bytes: &'static [u8]) -> DiskOp {
        DiskOp::Append {
            file: file.into(),
            bytes: Bytes::from_static(bytes),
        }
    }

    /// Group commit: many appends to one log, then one `Sync`, cost one fsync of the log (plus
    /// the directory, once, because the first append created the file), not one per append.
    #[test]
    fn appends_share_one_fsync_per_sync() {
        let dir = scratch("group");
        let mut disk = DiskDir::new(dir.clone());
        let mut ops: Vec<DiskOp> = (0..50).map(|_| append("log", b"record;")).collect();
        ops.push(DiskOp::Sync);
        disk.apply(&ops).expect("disk ops succeed");
        assert_eq!(disk.fsyncs(), 2, "the log and the directory that gained it");
        disk.apply(&[append("log", b"more;"), append("log", b"end"), DiskOp::Sync])
            .expect("disk ops succeed");
        assert_eq!(disk.fsyncs(), 3, "an existing file: only its own fsync");
        disk.apply(&[DiskOp::Sync]).expect("nothing to do");
        assert_eq!(
            disk.fsyncs(),
            3,
            "a Sync with nothing pending costs nothing"
        );
        let log = &load_disk(&dir).expect("loads")["log"];
        assert_eq!(log.len(), 50 * 7 + 8);
        assert!(log.ends_with(b"record;more;end"));
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    /// Truncate cuts (and persists at once); appends continue from the cut; a write or remove of
    /// an appended file replaces or drops it, and later appends start a new file.
    #[test]
    fn truncate_then_append_and_replace_an_appended_file() {
        let dir = scratch("trunc");
        let mut disk = DiskDir::new(dir.clone());
        let ops = [
            append("log", b"good|torn"),
            DiskOp::Truncate {
                file: "log".into(),
                len: 5,
            },
            append("log", b"next"),
            append("other", b"x"),
            DiskOp::Write {
                file: "other".into(),
                bytes: Bytes::from_static(b"whole"),
            },
            append("other", b"+1"),
            append("gone", b"y"),
            DiskOp::Remove {
                file: "gone".into(),
            },
            DiskOp::Sync,
        ];
        disk.apply(&ops).expect("disk ops succeed");
        let image = load_disk(&dir).expect("loads");
        assert_eq!(image.keys().collect::<Vec<_>>(), ["log", "other"]);
        assert_eq!(image["log"], Bytes::from_static(b"good|next"));
        assert_eq!(image["other"], Bytes::from_static(b"whole+1"));
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn truncate_refuses_missing_files_extension_and_bad_names() {
        let dir = scratch("trunc-bad");
        let mut disk = DiskDir::new(dir.clone());
        let missing = disk.apply(&[DiskOp::Truncate {
            file: "nope".into(),
            len: 0,
        }]);
        assert_eq!(
            missing.expect_err("missing").kind(),
            io::ErrorKind::NotFound
        );
        disk.apply(&[append("log", b"abc")]).expect("append");
        let longer = disk.apply(&[DiskOp::Truncate {
            file: "log".into(),
            len: 4,
        }]);
        assert_eq!(
            longer.expect_err("extends").kind(),
            io::ErrorKind::InvalidInput
        );
        for bad in ["../escape", ".tmp.log", "a/b"] {
            let err = disk.apply(&[append(bad, b"x")]).expect_err("bad name");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            let err = disk
                .apply(&[DiskOp::Truncate {
                    file: bad.into(),
                    len: 0,
                }])
                .expect_err("bad name");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(!dir.parent().expect("has a parent").join("escape").exists());
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    /// More files appended to than handles kept open: the evicted one is fsynced first, and
    /// every file still gets all its bytes.
    #[test]
    fn open_handles_are_bounded() {
        let dir = scratch("handles");
        let mut disk = DiskDir::new(dir.clone());
        let names: Vec<String> = (0..OPEN_FILES_MAX + 4)
            .map(|i| format!("seg.{i}"))
            .collect();
        let mut ops: Vec<DiskOp> = names
            .iter()
            .map(|name| DiskOp::Append {
                file: name.clone(),
                bytes: Bytes::from_static(b"a"),
            })
            .collect();
        ops.extend(names.iter().map(|name| DiskOp::Append {
            file: name.clone(),
            bytes: Bytes::from_static(b"b"),
        }));
        ops.push(DiskOp::Sync);
        disk.apply(&ops).expect("disk ops succeed");
        assert!(disk.open.len() <= OPEN_FILES_MAX);
        assert!(disk.dirty.is_empty());
        let image = load_disk(&dir).expect("loads");
        assert_eq!(image.len(), names.len());
        assert!(
            image
                .values()
                .all(|bytes| bytes == &Bytes::from_static(b"ab"))
        );
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn missing_directory_is_an_empty_image() {
        let image = load_disk(scratch("missing")).expect("no error");
        assert!(image.is_empty());
    }

    #[test]
    fn names_that_escape_the_directory_are_refused() {
        for bad in ["", "../x", "a/b", ".tmp.x", ".hidden", "/abs"] {
            assert!(check_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(check_name("paxos-state.1").is_ok());
    }
}
