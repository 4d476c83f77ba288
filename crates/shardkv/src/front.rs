//! The Redis front door of a shardkv replica: kvpaxos's RESP shell
//! ([`kvpaxos::server::resp_front`]) over a backend that routes every command to the group
//! that owns its keys, so `redis-cli` and redis-py work against any replica of any group.
//!
//! Each connection is a clerk of the whole cluster ([`Clerk`], with an id of its own), driven
//! by the process's shared [`Router`]: it asks its own replica first for keys of its own
//! group and reaches other groups over TCP.
//!
//! # A pipeline across shards
//! A connection's batch is cut into runs of consecutive commands on one shard; each run goes
//! as one command to its group, and the runs go one after another, so the connection's
//! commands still take effect in the order it sent them. A pipeline whose keys alternate
//! between shards therefore costs a round trip per run (as a Redis Cluster client pays one
//! per node).
//!
//! # What a sharded store cannot run
//! A command whose keys are in more than one shard (MGET, MSET, DEL of several keys, a
//! MULTI/EXEC, a WATCH) runs nowhere and answers Redis Cluster's `-CROSSSLOT` error: it is
//! never half applied. A command that names no key (DBSIZE, KEYS, SCAN, FLUSHDB) answers an
//! error too: no one group holds the whole store.
//!
//! # Order after a timeout
//! A run that times out answers `-TIMEOUT` (it may still happen) and the rest of the batch
//! `-TRYAGAIN` (it never ran). The clerk moves to a higher command number, so on the timed-out
//! run's shard it runs before the connection's later commands or not at all; on other shards
//! it may land after them.

use crate::clerk::Clerk;
use crate::msg::{Refusal, shard_of_cmd};
use crate::node::ShardKvNode;
use crate::router::{ClientError, Router};
use futures::FutureExt;
use futures::future::BoxFuture;
use keyspace::{Batch, Cmd, Value};
use kvpaxos::msg::{KvCommand, KvOutput};
use kvpaxos::server::resp_front::{Answered, Backend};
use resp::Reply;
use rpc::runtime::NodeHandle;
use std::sync::Arc;
use std::time::Duration;

/// A shardkv replica's front door backend (see the module docs).
#[derive(Clone)]
pub struct ShardedStore {
    router: Router,
    node: Arc<NodeHandle<ShardKvNode>>,
}

impl ShardedStore {
    /// The backend of the replica `node`, routing with `router`.
    pub fn new(router: Router, node: Arc<NodeHandle<ShardKvNode>>) -> Self {
        ShardedStore { router, node }
    }
}

/// The error a command refused before it ran answers, in Redis Cluster's words where it has
/// them.
fn refusal_value(refusal: &Refusal) -> Value {
    match refusal {
        Refusal::CrossShard => {
            Value::error("CROSSSLOT Keys in request don't hash to the same slot")
        }
        Refusal::NoKey => Value::error(
            "ERR the command names no key: in a sharded store no one group holds every key",
        ),
        other => Value::error(format!("TRYAGAIN {other}: the command did not run")),
    }
}

/// Runs `batch` with `clerk`, a run of one shard at a time, within `deadline`.
async fn run_batch(
    router: &Router,
    clerk: &mut Clerk,
    batch: Batch,
    deadline: Duration,
) -> Result<Vec<Value>, Reply> {
    let started = tokio::time::Instant::now();
    router.ensure_config(clerk).await;
    let Some(shards) = clerk.config().map(shardmaster::Config::shard_count) else {
        return Err(Reply::error(
            "CLUSTERDOWN no configuration from the shard master: the command did not run",
        ));
    };
    let mapping = router.mapping();
    let count = batch.cmds.len();
    let mut answers = Vec::with_capacity(count);
    let mut run: Vec<Cmd> = Vec::new();
    let mut run_shard = None;
    let mut timed_out = false;
    let mut cmds = batch.cmds.into_iter();
    loop {
        let next = cmds.next();
        let shard = next.as_ref().map(|c| shard_of_cmd(c, mapping, shards));
        let run_ends = !run.is_empty()
            && shard
                .as_ref()
                .is_none_or(|s| s.as_ref().ok() != run_shard.as_ref());
        if run_ends {
            let cmds = std::mem::take(&mut run);
            let n = cmds.len();
            if timed_out {
                answers.extend((0..n).map(|_| not_run()));
            } else {
                let left = deadline.saturating_sub(started.elapsed());
                let cmd = KvCommand::Redis(Batch {
                    now_ms: batch.now_ms,
                    cmds,
                });
                match router.run(clerk, cmd, left).await {
                    Ok(KvOutput::Redis(values)) if values.len() == n => answers.extend(values),
                    Ok(other) => answers.extend(
                        (0..n).map(|_| Value::error(format!("ERR the store answered {other:?}"))),
                    ),
                    Err(ClientError::Refused(refusal)) => {
                        answers.extend((0..n).map(|_| refusal_value(&refusal)));
                    }
                    Err(ClientError::NoShardMaster(why)) => answers.extend((0..n).map(|_| {
                        Value::error(format!("CLUSTERDOWN {why}: the command did not run"))
                    })),
                    Err(ClientError::Timeout(_)) => {
                        timed_out = true;
                        answers.extend((0..n).map(|_| {
                            Value::error(
                                "TIMEOUT no answer from the owning group in time \
                                 (the command may still happen)",
                            )
                        }));
                    }
                }
            }
        }
        let (Some(cmd), Some(shard)) = (next, shard) else {
            break;
        };
        match shard {
            Ok(shard) => {
                run_shard = Some(shard);
                run.push(cmd);
            }
            Err(refusal) => answers.push(refusal_value(&refusal)),
        }
    }
    debug_assert_eq!(answers.len(), count, "one answer per command");
    Ok(answers)
}

/// What a command after a timed-out one answers: it was never sent.
fn not_run() -> Value {
    Value::error("TRYAGAIN an earlier command of the pipeline timed out: this one did not run")
}

impl Backend for ShardedStore {
    /// The connection's clerk, made at its first batch.
    type Session = Option<Clerk>;

    fn run(
        &self,
        session: Option<Clerk>,
        batch: Batch,
        deadline: Duration,
    ) -> BoxFuture<'static, Answered<Option<Clerk>>> {
        let router = self.router.clone();
        async move {
            let mut clerk = session.unwrap_or_else(|| router.clerk());
            let answers = run_batch(&router, &mut clerk, batch, deadline).await;
            (answers, Some(clerk))
        }
        .boxed()
    }

    fn info(&self, replication: bool, keyspace: bool) -> BoxFuture<'static, Result<String, Reply>> {
        let node = self.node.clone();
        async move {
            node.call(move |n: &mut ShardKvNode, _| info_text(n, replication, keyspace))
                .await
                .map_err(|_| Reply::error("TIMEOUT the replica stopped"))
        }
        .boxed()
    }
}

/// INFO's replication and keyspace sections of replica `n`: its group, role and leader, its
/// configuration, and the keys of the shards it serves.
fn info_text(n: &ShardKvNode, replication: bool, keyspace: bool) -> String {
    let peer = n.replica().peer();
    let state = n.state();
    let mut parts = Vec::new();
    if replication {
        let role = if peer.leader() == Some(peer.id()) {
            "leader"
        } else {
            "follower"
        };
        let leader = peer
            .leader()
            .map_or("none".to_string(), |l| l.0.to_string());
        let (serving, held) = state.shards().fold((0, 0), |(serving, held), (_, shard)| {
            (serving + usize::from(shard.is_serving()), held + 1)
        });
        parts.push(format!(
            "# Replication\r\nrole:{role}\r\ngid:{}\r\nreplica_id:{}\r\nleader_id:{leader}\r\n\
             config_num:{}\r\nshards_serving:{serving}\r\nshards_held:{held}\r\n\
             applied_slots:{}\r\n",
            state.gid().0,
            peer.id().0,
            state.config_num().0,
            n.replica().next_apply().0,
        ));
    }
    if keyspace {
        let (keys, expiring) = state.shards().filter(|(_, shard)| shard.is_serving()).fold(
            (0, 0),
            |(keys, expiring), (_, shard)| {
                (keys + shard.data.len(), expiring + shard.data.expiring())
            },
        );
        parts.push(format!(
            "# Keyspace\r\nkeys:{keys}\r\ndb0:keys={keys},expires={expiring},avg_ttl=0\r\n"
        ));
    }
    parts.join("\r\n")
}
