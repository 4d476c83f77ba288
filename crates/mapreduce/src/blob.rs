//! A tiny read-only file server over the rpc runtime: byte ranges of named blobs. The master
//! serves input splits with it and every worker serves its map outputs, so no shared filesystem
//! is needed and workers may run on other hosts.
//!
//! This is a shell, not a protocol core: its `on_request` reads files (blocking, in chunks of at
//! most [`CHUNK_BYTES_MAX`]). It keeps no state of its own beyond the resolver.

use bytes::Bytes;
use rpc::wire::Never;
use rpc::{Node, NodeId, NodeOutbox, ReqId};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// The most bytes one answer carries. Why 8 MiB: half of [`rpc::MAX_FRAME_BYTES`], large enough
/// that a fetch costs few round trips.
pub const CHUNK_BYTES_MAX: u32 = 8 << 20;

/// A read of `len` bytes at `offset` within blob (`blob`, `part`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRequest {
    /// Which blob (input file number, or map task number).
    pub blob: u32,
    /// Which part of it (reduce partition; 0 for input files).
    pub part: u32,
    /// Offset within the part.
    pub offset: u64,
    /// Bytes wanted (at most [`CHUNK_BYTES_MAX`] are returned).
    pub len: u32,
}

/// The answer to a [`BlobRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobResponse {
    /// The bytes, and the part's total length.
    Data {
        /// The bytes read (fewer than asked at the end of the part).
        bytes: Bytes,
        /// The part's length.
        total: u64,
    },
    /// No such blob here, or it cannot be read.
    Missing(String),
}

/// Where blob (`blob`, `part`) lives: a file, and a byte range of it.
pub type Resolver = Arc<dyn Fn(u32, u32) -> Option<(PathBuf, u64, u64)> + Send + Sync>;

/// The server (drive it with `rpc::spawn_node`).
pub struct BlobServer {
    resolve: Resolver,
}

impl std::fmt::Debug for BlobServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobServer")
    }
}

impl BlobServer {
    /// A server answering from `resolve`.
    pub fn new(resolve: Resolver) -> Self {
        BlobServer { resolve }
    }

    fn read(&self, req: &BlobRequest) -> BlobResponse {
        let Some((path, start, total)) = (self.resolve)(req.blob, req.part) else {
            return BlobResponse::Missing(format!("no blob {}/{}", req.blob, req.part));
        };
        let offset = req.offset.min(total);
        let len = u64::from(req.len.min(CHUNK_BYTES_MAX)).min(total - offset);
        let result = (|| {
            let mut file = File::open(&path)?;
            file.seek(SeekFrom::Start(start + offset))?;
            // Not zeroed first: at a GiB per job the memset shows in the profile.
            let mut buf = Vec::with_capacity(len as usize);
            file.take(len).read_to_end(&mut buf)?;
            if (buf.len() as u64) < len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "file shrank",
                ));
            }
            Ok::<_, std::io::Error>(buf)
        })();
        match result {
            Ok(buf) => BlobResponse::Data {
                bytes: buf.into(),
                total,
            },
            Err(err) => BlobResponse::Missing(format!("{}: {err}", path.display())),
        }
    }
}

impl Node for BlobServer {
    type Msg = Never;
    type Req = BlobRequest;
    type Resp = BlobResponse;

    fn on_message(&mut self, _from: NodeId, msg: Never, _out: &mut NodeOutbox<Self>) {
        match msg {}
    }

    fn on_request(&mut self, req: ReqId, body: BlobRequest, out: &mut NodeOutbox<Self>) {
        let resp = self.read(&body);
        out.reply(req, resp);
    }

    fn on_tick(&mut self, _out: &mut NodeOutbox<Self>) {}
}

/// Reads a whole part from a blob server, chunk by chunk.
///
/// # Errors
/// A transport error, `Missing`, or a server whose answers do not add up.
pub async fn fetch(
    client: &rpc::RpcClient<BlobRequest, BlobResponse>,
    blob: u32,
    part: u32,
    len_max: u64,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let req = BlobRequest {
            blob,
            part,
            offset: out.len() as u64,
            len: CHUNK_BYTES_MAX,
        };
        match client.call(req, timeout).await.map_err(|e| e.to_string())? {
            BlobResponse::Missing(why) => return Err(why),
            BlobResponse::Data { bytes, total } => {
                if total > len_max {
                    return Err(format!("blob of {total} bytes exceeds the limit {len_max}"));
                }
                if bytes.is_empty() && (out.len() as u64) < total {
                    return Err("server returned no bytes before the end".into());
                }
                out.extend_from_slice(&bytes);
                if out.len() as u64 >= total {
                    out.truncate(total as usize);
                    return Ok(out);
                }
            }
        }
    }
}
