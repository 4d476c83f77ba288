//! Cutting inputs into splits at line boundaries (SPEC §2.1 `Split`, without the split files: a
//! split is a byte range of an input file, read when a map task needs it).

use crate::error::MrError;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One split: a byte range of input file number `file`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRef {
    /// Index of the input file.
    pub file: u32,
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// How far past a target boundary we look for a line end before settling for any ASCII
/// non-letter (binary data, or text without newlines). Why 1 MiB: far longer than any text line.
const NEWLINE_SCAN_BYTES: usize = 1 << 20;

/// The smallest and largest split. Why: below 256 KiB per-task overhead dominates; above 32 MiB
/// a failed task costs too much to redo (a split travels in chunks of at most 8 MiB, so frames
/// stay well under [`rpc::MAX_FRAME_BYTES`]).
pub const SPLIT_BYTES_MIN: u64 = 256 << 10;
/// See [`SPLIT_BYTES_MIN`].
pub const SPLIT_BYTES_MAX: u64 = 32 << 20;

/// A split size giving about four tasks per worker (so a slow or failed worker costs little),
/// within [`SPLIT_BYTES_MIN`]..=[`SPLIT_BYTES_MAX`].
pub fn split_bytes_for(total_bytes: u64, workers: u32) -> u64 {
    (total_bytes / (u64::from(workers.max(1)) * 4)).clamp(SPLIT_BYTES_MIN, SPLIT_BYTES_MAX)
}

/// Cuts every input into splits of about `split_bytes`, ending each split just after a `\n`
/// (or, failing that within 1 MiB, before an ASCII non-letter, so no word is cut in two).
///
/// # Errors
/// [`MrError::Input`] if a file cannot be opened or read.
pub fn plan_splits(inputs: &[PathBuf], split_bytes: u64) -> Result<Vec<SplitRef>, MrError> {
    let mut splits = Vec::new();
    for (index, path) in inputs.iter().enumerate() {
        let input_err = |source| MrError::Input {
            path: path.clone(),
            source,
        };
        let mut file = File::open(path).map_err(input_err)?;
        let meta = file.metadata().map_err(input_err)?;
        if !meta.is_file() {
            let why = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file");
            return Err(input_err(why));
        }
        let size = meta.len();
        let file_index =
            u32::try_from(index).map_err(|_| MrError::Protocol("too many inputs".into()))?;
        let mut start = 0;
        while start < size {
            let target = start.saturating_add(split_bytes.max(1));
            let end = if target >= size {
                size
            } else {
                boundary_after(&mut file, target, size).map_err(input_err)?
            };
            splits.push(SplitRef {
                file: file_index,
                offset: start,
                len: end - start,
            });
            start = end;
        }
    }
    Ok(splits)
}

fn boundary_after(file: &mut File, target: u64, size: u64) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(target))?;
    // Lines are short: look at 64 KiB first, and read the rest of the window only if needed.
    let mut window = vec![0u8; NEWLINE_SCAN_BYTES];
    let mut n = read_full(file, &mut window[..64 << 10])?;
    if !window[..n].contains(&b'\n') && n == 64 << 10 {
        n += read_full(file, &mut window[n..])?;
    }
    let window = &window[..n];
    if let Some(i) = window.iter().position(|&b| b == b'\n') {
        return Ok(target + i as u64 + 1);
    }
    if let Some(i) = window
        .iter()
        .position(|&b| b < 0x80 && !b.is_ascii_alphabetic())
    {
        return Ok(target + i as u64 + 1);
    }
    Ok((target + n as u64).min(size))
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads `len` bytes of `path` from `offset`.
///
/// # Errors
/// [`MrError::Input`] if the file cannot be read or is shorter than planned.
pub fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, MrError> {
    let input_err = |source| MrError::Input {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(input_err)?;
    file.seek(SeekFrom::Start(offset)).map_err(input_err)?;
    let len = usize::try_from(len).map_err(|_| MrError::Protocol("split too large".into()))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).map_err(input_err)?;
    Ok(buf)
}

/// The document name of an input, as the inverted index reports it: the path as given.
pub fn doc_name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
