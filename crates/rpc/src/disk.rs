//! A node's files in a real directory: the runtime's side of `Write`, `Remove` and `Sync`.
//!
//! * `Write` replaces a file atomically: the bytes go to `.tmp.<name>`, that file is fsynced, then
//!   renamed over `<name>`. A crash leaves either the old or the new content, never a mix.
//! * `Remove` unlinks the file (a missing file is not an error: removing is idempotent).
//! * `Sync` fsyncs the directory, which makes every earlier rename and unlink durable. Only after
//!   it returns may a later `Send` or `Reply` leave the node (driver contract, step 2).
//!
//! [`load_disk`] rebuilds a [`DiskImage`] after a restart and skips `.tmp.` leftovers of a crash
//! in mid-write. File names are single path components and may not start with `.`, which is
//! reserved for those temporaries.

use crate::node::DiskImage;
use bytes::Bytes;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Prefix of the temporary file a `Write` goes through; [`load_disk`] ignores such files.
pub const TMP_PREFIX: &str = ".tmp.";

/// One disk effect, detached from the core's outbox so a batch can move to a blocking thread.
#[derive(Debug)]
pub(crate) enum DiskOp {
    /// Atomically replace `file` with `bytes`.
    Write { file: String, bytes: Bytes },
    /// Delete `file`.
    Remove { file: String },
    /// Make every earlier operation durable.
    Sync,
}

/// A node's own directory.
#[derive(Debug)]
pub(crate) struct DiskDir {
    dir: PathBuf,
    created: bool,
}

impl DiskDir {
    pub(crate) fn new(dir: PathBuf) -> Self {
        DiskDir {
            dir,
            created: false,
        }
    }

    /// Carries out `ops` in order. Blocking: call it from a blocking thread.
    ///
    /// # Errors
    /// The first I/O error, or `InvalidInput` for a file name that is not a plain name. The
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
                DiskOp::Write { file, bytes } => write_atomic(&self.dir, file, bytes)?,
                DiskOp::Remove { file } => remove(&self.dir, file)?,
                DiskOp::Sync => sync_dir(&self.dir)?,
            }
        }
        Ok(())
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
    check_name(file)?;
    let tmp = dir.join(format!("{TMP_PREFIX}{file}"));
    let mut out = File::create(&tmp)?;
    out.write_all(bytes)?;
    // The content must be on disk before the rename can expose it under the real name.
    out.sync_all()?;
    drop(out);
    fs::rename(&tmp, dir.join(file))
}

fn remove(dir: &Path, file: &str) -> io::Result<()> {
    check_name(file)?;
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
