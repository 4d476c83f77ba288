//! The clerk's driver over TCP, shared by every clerk of a process: what runs a [`Clerk`]
//! core's commands against real servers.
//!
//! A [`Router`] holds what the clerks of one process have in common: the connections to
//! servers (by address, at most [`CONNECTIONS_MAX`]), the latest configuration any of them got
//! from the shard master (so one clerk's query serves them all), and, in a server's own front
//! door, the local replica, which it reaches without a socket. Each clerk keeps its own core
//! (its id, its sessions, its command in progress), so clerks never wait for each other
//! except for a shard master query.
//!
//! The loop in [`Router::run`] is the clerk core's driver: it carries out the core's requests
//! (polling them itself, to the server's address), feeds answers and ticks back, and,
//! whenever the core wants a configuration, offers the latest one known, asking the shard
//! master if the core already has that one.

use crate::clerk::Clerk;
use crate::msg::{Mapping, Refusal, Request, Response};
use crate::node::ShardKvNode;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use kvpaxos::msg::{KvCommand, KvOutput};
use rpc::runtime::NodeHandle;
use rpc::{Client, ClientEffect, ClientOutbox, NodeId, RpcClient};
use rsm::server::TcpClerk as ShardMasterClerk;
use shardmaster::{Config, Op, Reply, ShardMachine};
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The clerk's tick (the core counts its timeouts in ticks).
pub const TICK: Duration = Duration::from_millis(10);

/// How long one request to a server may wait for its answer; the core retries at the next
/// server long before, so this only bounds what an unanswered request holds.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Requests one command may have in flight at once; past it, new ones are dropped (the core
/// retries them).
pub const REQUESTS_MAX: usize = 64;

/// Connections kept to servers, by address. Why 64: a process talks to the servers of the
/// groups its keys live in (a few groups of a few replicas); past this the cache starts over.
pub const CONNECTIONS_MAX: usize = 64;

/// Ticks between two configuration queries of one command.
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
    /// Every shard master replica refused the connection and the clerk has no configuration
    /// to route by: nothing was sent.
    #[error("the shard master cannot be reached: {0}")]
    NoShardMaster(String),
}

/// What the clerks of one process share (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    mapping: Mapping,
    /// This process's own replica and its address, in a server's front door.
    local: Option<(String, Arc<NodeHandle<ShardKvNode>>)>,
    servers: Mutex<BTreeMap<String, RpcClient<Request, Response>>>,
    /// The newest configuration any clerk got.
    latest: Mutex<Option<Config>>,
    /// One query at a time: clerks that want a configuration meanwhile take its answer.
    shardmaster: tokio::sync::Mutex<ShardMasterClerk<ShardMachine>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .expect("no code panics while holding a router lock")
}

impl Router {
    /// A router for the cluster whose shard master runs at `shardmasters`; `local` is this
    /// process's own replica and its address, if it is a server.
    ///
    /// # Panics
    /// If `shardmasters` is empty.
    pub fn new(
        shardmasters: &[SocketAddr],
        mapping: Mapping,
        local: Option<(String, Arc<NodeHandle<ShardKvNode>>)>,
    ) -> Self {
        Router {
            inner: Arc::new(Inner {
                mapping,
                local,
                servers: Mutex::new(BTreeMap::new()),
                latest: Mutex::new(None),
                shardmaster: tokio::sync::Mutex::new(
                    ShardMasterClerk::new(shardmasters).fail_fast(),
                ),
            }),
        }
    }

    /// How the cluster maps keys to shards.
    pub fn mapping(&self) -> Mapping {
        self.inner.mapping
    }

    /// A new clerk with a random id, trying this process's replica first in its own group.
    pub fn clerk(&self) -> Clerk {
        // A random 64-bit id: the standard library seeds every `RandomState` from the OS.
        let id = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let clerk = Clerk::new(id, self.inner.mapping);
        match &self.inner.local {
            Some((addr, _)) => clerk.preferring(addr.clone()),
            None => clerk,
        }
    }

    /// Runs `cmd` with `clerk` until its group answers, or until `deadline` passes. After a
    /// timeout the clerk has abandoned the command ([`Clerk::abandon`]) and can run the next.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] (the command may still run), [`ClientError::Refused`], or
    /// [`ClientError::NoShardMaster`] (nothing was sent).
    pub async fn run(
        &self,
        clerk: &mut Clerk,
        cmd: KvCommand,
        deadline: Duration,
    ) -> Result<KvOutput, ClientError> {
        match tokio::time::timeout(deadline, self.drive(clerk, cmd)).await {
            Ok(result) => result,
            Err(_) => {
                clerk.abandon();
                Err(ClientError::Timeout(deadline))
            }
        }
    }

    /// Gives `clerk` a configuration if it has none: the latest known, or the shard master's.
    pub async fn ensure_config(&self, clerk: &mut Clerk) {
        if clerk.config().is_none() {
            let mut out = Vec::new();
            // A refused query leaves the clerk without one; the caller reports it.
            let _ = self.refresh_config(clerk, &mut out).await;
            debug_assert!(
                out.is_empty(),
                "an idle clerk sends nothing on a new config"
            );
        }
    }

    async fn drive(&self, clerk: &mut Clerk, cmd: KvCommand) -> Result<KvOutput, ClientError> {
        // The requests in flight, polled by this loop itself: no task or channel per request.
        let mut requests: FuturesUnordered<BoxFuture<'static, Option<Response>>> =
            FuturesUnordered::new();
        let mut out = Vec::new();
        clerk.invoke(cmd, &mut out);
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks_since_query = QUERY_GAP_TICKS;
        loop {
            for effect in std::mem::take(&mut out) {
                match effect {
                    ClientEffect::Complete(result) => return result.map_err(ClientError::Refused),
                    ClientEffect::RequestTo { addr, req } => {
                        if requests.len() >= REQUESTS_MAX {
                            continue; // Lost, as a lossy network would lose it.
                        }
                        if let Some(request) = self.request(&addr, req) {
                            requests.push(request);
                        }
                    }
                    ClientEffect::Request { .. } => {} // The core sends by address only.
                }
            }
            if clerk.wanted_config() && ticks_since_query >= QUERY_GAP_TICKS {
                ticks_since_query = 0;
                if let Err(refused) = self.refresh_config(clerk, &mut out).await
                    && clerk.config().is_none()
                {
                    // Nothing can be routed, and waiting will not start a shard master.
                    clerk.abandon();
                    return Err(ClientError::NoShardMaster(refused));
                }
                continue;
            }
            tokio::select! {
                biased;
                Some(answer) = requests.next(), if !requests.is_empty() => {
                    if let Some(resp) = answer {
                        clerk.on_response(NodeId::EXTERNAL, resp, &mut out);
                    }
                }
                _ = ticker.tick() => {
                    ticks_since_query += 1;
                    clerk.on_tick(&mut out);
                }
            }
        }
    }

    /// `req` to the server at `addr`: this process's own replica directly, any other over
    /// TCP. The future yields the answer, or `None` if none came.
    fn request(&self, addr: &str, req: Request) -> Option<BoxFuture<'static, Option<Response>>> {
        if let Some((local, node)) = &self.inner.local
            && local == addr
        {
            let node = node.clone();
            return Some(
                async move {
                    tokio::time::timeout(REQUEST_TIMEOUT, node.request(req))
                        .await
                        .ok()?
                        .ok()
                }
                .boxed(),
            );
        }
        let server = self.server(addr)?;
        Some(async move { server.call(req, REQUEST_TIMEOUT).await.ok() }.boxed())
    }

    fn server(&self, addr: &str) -> Option<RpcClient<Request, Response>> {
        let mut servers = lock(&self.inner.servers);
        if let Some(client) = servers.get(addr) {
            return Some(client.clone());
        }
        // Only a literal ip:port: addresses come from configurations, which are untrusted, and
        // a name lookup would stall every clerk.
        let Ok(parsed) = addr.parse::<SocketAddr>() else {
            tracing::warn!(
                addr,
                "a configuration names a server address that does not parse"
            );
            return None;
        };
        if servers.len() >= CONNECTIONS_MAX {
            servers.clear();
        }
        let client = RpcClient::new(parsed);
        servers.insert(addr.to_string(), client.clone());
        Some(client)
    }

    /// Offers `clerk` the latest configuration known if it is newer than the clerk's;
    /// otherwise asks the shard master (one query at a time for the whole process) and
    /// offers its answer. `Err` says why, if every shard master replica refused the
    /// connection; other failures are only logged (the next query may succeed).
    async fn refresh_config(
        &self,
        clerk: &mut Clerk,
        out: &mut ClientOutbox<Clerk>,
    ) -> Result<(), String> {
        let known = clerk.config().map(|c| c.num);
        let newer = |latest: &Option<Config>| {
            latest
                .as_ref()
                .filter(|c| known.is_none_or(|k| c.num > k))
                .cloned()
        };
        if let Some(config) = newer(&lock(&self.inner.latest)) {
            clerk.offer_config(config, out);
            return Ok(());
        }
        let mut shardmaster = self.inner.shardmaster.lock().await;
        // Another clerk's query may have brought a newer one while this one waited.
        if let Some(config) = newer(&lock(&self.inner.latest)) {
            clerk.offer_config(config, out);
            return Ok(());
        }
        let config = match shardmaster.run(Op::Query { num: -1 }, QUERY_DEADLINE).await {
            Ok(Ok(Reply::Config(config))) => (*config).clone(),
            Ok(other) => {
                tracing::warn!("the shard master answered a query with {other:?}");
                return Ok(());
            }
            Err(e @ rsm::server::ClerkError::Refused { .. }) => return Err(e.to_string()),
            Err(e) => {
                tracing::warn!("shard master query failed: {e}");
                return Ok(());
            }
        };
        drop(shardmaster);
        {
            let mut latest = lock(&self.inner.latest);
            if latest.as_ref().is_none_or(|l| l.num < config.num) {
                *latest = Some(config.clone());
            }
        }
        // Offered even if not newer: the clerk stops asking until told again.
        clerk.offer_config(config, out);
        Ok(())
    }
}
