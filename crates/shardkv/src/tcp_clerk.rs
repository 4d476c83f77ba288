//! The clerk over TCP: the same [`Clerk`] core, driven against real servers, with the shard
//! master's clerk fetching its configurations. What `dsys shardkv get|put|append|del` runs.
//!
//! The loop is the clerk core's driver: it carries out the core's requests (each in a task of
//! its own, to the server's address), feeds answers and ticks back, and, whenever the core
//! wants a configuration, asks the shard master and offers the answer.

use crate::clerk::Clerk;
use crate::msg::{Mapping, Refusal, Request, Response};
use kvpaxos::msg::{KvCommand, KvOutput};
use rpc::{Client, ClientEffect, NodeId, RpcClient};
use rsm::server::TcpClerk as ShardMasterClerk;
use shardmaster::{Op, Reply, ShardMachine};
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// The clerk's tick (the core counts its timeouts in ticks).
pub const TICK: Duration = Duration::from_millis(10);

/// How long one request to a server may wait for its answer; the core retries at the next
/// server long before, so this only reclaims tasks.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Requests in flight at once; past it, new ones are dropped (the core retries them).
pub const REQUESTS_MAX: usize = 64;

/// Connections kept to servers, by address. Why 64: a clerk talks to the servers of the
/// groups its keys live in; past this the cache starts over.
pub const CONNECTIONS_MAX: usize = 64;

/// Ticks between two configuration queries.
pub const QUERY_GAP_TICKS: u64 = 10;

/// How long one configuration query may take.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(2);

/// Why a command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer in time. The command may still take effect.
    #[error("no answer within {0:?}; the command may still take effect")]
    Timeout(Duration),
    /// The command cannot run on one group (its keys span shards, or it names none).
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// A shardkv clerk over TCP.
pub struct TcpClerk {
    core: Clerk,
    shardmaster: ShardMasterClerk<ShardMachine>,
    servers: BTreeMap<String, RpcClient<Request, Response>>,
}

impl TcpClerk {
    /// A clerk for the cluster whose shard master runs at `shardmasters`, with a random id.
    ///
    /// # Panics
    /// If `shardmasters` is empty.
    pub fn new(shardmasters: &[SocketAddr], mapping: Mapping) -> Self {
        // A random 64-bit id: the standard library seeds every `RandomState` from the OS.
        let id = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        TcpClerk {
            core: Clerk::new(id, mapping),
            shardmaster: ShardMasterClerk::new(shardmasters).fail_fast(),
            servers: BTreeMap::new(),
        }
    }

    fn server(&mut self, addr: &str) -> Option<RpcClient<Request, Response>> {
        if let Some(client) = self.servers.get(addr) {
            return Some(client.clone());
        }
        let Ok(parsed) = addr.parse::<SocketAddr>() else {
            tracing::warn!(
                addr,
                "a configuration names a server address that does not parse"
            );
            return None;
        };
        if self.servers.len() >= CONNECTIONS_MAX {
            self.servers.clear();
        }
        let client = RpcClient::new(parsed);
        self.servers.insert(addr.to_string(), client.clone());
        Some(client)
    }

    /// Runs `cmd` until its group answers, or until `deadline` passes.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] (it may still run; this clerk cannot be used again, as the
    /// core is still inside the command), or [`ClientError::Refused`].
    pub async fn run(
        &mut self,
        cmd: KvCommand,
        deadline: Duration,
    ) -> Result<KvOutput, ClientError> {
        tokio::time::timeout(deadline, self.drive(cmd))
            .await
            .map_err(|_| ClientError::Timeout(deadline))?
            .map_err(ClientError::Refused)
    }

    async fn drive(&mut self, cmd: KvCommand) -> Result<KvOutput, Refusal> {
        let (answers_tx, mut answers) = mpsc::channel::<Response>(REQUESTS_MAX);
        let mut tasks = JoinSet::new();
        let mut out = Vec::new();
        self.core.invoke(cmd, &mut out);
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks_since_query = QUERY_GAP_TICKS;
        loop {
            while tasks.try_join_next().is_some() {}
            for effect in std::mem::take(&mut out) {
                match effect {
                    ClientEffect::Complete(result) => return result,
                    ClientEffect::RequestTo { addr, req } => {
                        let Some(server) = self.server(&addr) else {
                            continue;
                        };
                        if tasks.len() >= REQUESTS_MAX {
                            continue; // Lost, as a lossy network would lose it.
                        }
                        let tx = answers_tx.clone();
                        tasks.spawn(async move {
                            if let Ok(resp) = server.call(req, REQUEST_TIMEOUT).await {
                                let _ = tx.send(resp).await;
                            }
                        });
                    }
                    ClientEffect::Request { .. } => {} // The core sends by address only.
                }
            }
            if self.core.wanted_config() && ticks_since_query >= QUERY_GAP_TICKS {
                ticks_since_query = 0;
                self.refresh_config(&mut out).await;
                continue;
            }
            tokio::select! {
                _ = ticker.tick() => {
                    ticks_since_query += 1;
                    self.core.on_tick(&mut out);
                }
                Some(resp) = answers.recv() => {
                    self.core.on_response(NodeId::EXTERNAL, resp, &mut out);
                }
            }
        }
    }

    /// Asks the shard master for the latest configuration and offers it to the core.
    async fn refresh_config(&mut self, out: &mut rpc::ClientOutbox<Clerk>) {
        match self
            .shardmaster
            .run(Op::Query { num: -1 }, QUERY_DEADLINE)
            .await
        {
            Ok(Ok(Reply::Config(config))) => self.core.offer_config((*config).clone(), out),
            Ok(other) => tracing::warn!("the shard master answered a query with {other:?}"),
            Err(e) => tracing::warn!("shard master query failed: {e}"),
        }
    }
}
