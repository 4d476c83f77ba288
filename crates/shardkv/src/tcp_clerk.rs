//! The clerk over TCP: the same [`Clerk`] core, driven against real servers by a [`Router`]
//! of its own. What `dsys shardkv get|put|append|del` runs.

use crate::clerk::Clerk;
use crate::msg::Mapping;
use crate::router::Router;
pub use crate::router::{ClientError, QUERY_DEADLINE, REQUEST_TIMEOUT, TICK};
use kvpaxos::msg::{KvCommand, KvOutput};
use std::net::SocketAddr;
use std::time::Duration;

/// A shardkv clerk over TCP.
pub struct TcpClerk {
    core: Clerk,
    router: Router,
}

impl TcpClerk {
    /// A clerk for the cluster whose shard master runs at `shardmasters`, with a random id.
    ///
    /// # Panics
    /// If `shardmasters` is empty.
    pub fn new(shardmasters: &[SocketAddr], mapping: Mapping) -> Self {
        let router = Router::new(shardmasters, mapping, None);
        TcpClerk {
            core: router.clerk(),
            router,
        }
    }

    /// Runs `cmd` until its group answers, or until `deadline` passes.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] (it may still run; the clerk moves on to its next command),
    /// [`ClientError::Refused`], or [`ClientError::NoShardMaster`] (nothing was sent).
    pub async fn run(
        &mut self,
        cmd: KvCommand,
        deadline: Duration,
    ) -> Result<KvOutput, ClientError> {
        self.router.run(&mut self.core, cmd, deadline).await
    }
}
