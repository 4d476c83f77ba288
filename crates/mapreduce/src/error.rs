//! Why a MapReduce run failed.

use std::io;
use std::path::PathBuf;

/// A failed run, by cause.
#[derive(Debug, thiserror::Error)]
pub enum MrError {
    /// An input file cannot be opened or read.
    #[error("cannot read input {path}: {source}")]
    Input {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The output file cannot be written.
    #[error("cannot write output {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// No job is registered under this name.
    #[error("unknown job {0:?} (built-in jobs: wc, ii)")]
    UnknownJob(String),
    /// Intermediate data is malformed (a broken or hostile worker).
    #[error(transparent)]
    Records(#[from] crate::records::RecordError),
    /// A peer broke the protocol or could not be reached.
    #[error("{0}")]
    Protocol(String),
    /// A local I/O failure (temporary files, sockets).
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

impl From<crate::task::MergeError> for MrError {
    fn from(err: crate::task::MergeError) -> Self {
        match err {
            crate::task::MergeError::Records(e) => MrError::Records(e),
            crate::task::MergeError::Io(e) => MrError::Io(e),
        }
    }
}
