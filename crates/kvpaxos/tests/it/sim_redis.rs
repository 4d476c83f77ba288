//! Beyond SPEC §6.3: the Redis commands (crate `keyspace`) through the log under faults, each
//! history checked by `check`'s Redis model. Clerks send what the RESP front door sends: one
//! batch per request (a pipeline of commands applied together), multi-key commands (DEL,
//! MSET, MGET) and MULTI/EXEC transactions, over a network that loses, duplicates and delays
//! messages while partitions come and go.

use crate::common::*;
use bytes::Bytes;
use check::{Budget, History, OpId, RedisError, RedisInput, RedisOutput, check_redis};
use keyspace::{Batch, Cmd, Condition, SetExpiry, Value};
use kvpaxos::msg::{KvCommand, KvOutput};
use rpc::{ClientId, NodeId};
use sim::FaultConfig;

/// Replicas in the cluster.
const SERVERS: u32 = 3;
/// Clerks; clerk `i` works on key group `i % GROUPS`.
const CLERKS: u32 = 8;
/// Key groups of two keys each. Multi-key commands stay within a group, so the checker's
/// components stay small (one per group) and its search well inside its budget.
const GROUPS: u32 = 4;
/// Virtual time under faults.
const FAULTY_US: u64 = 10 * SECOND_US;
/// Once healed, every pending request must be answered within this.
const HEALED_US_MAX: u64 = 5 * SECOND_US;

/// Eight clerks on four pairs of keys for 10 s of virtual time under loss, duplication, delay
/// and partitions redrawn every 300 ms: SET, SETNX, GET, DEL of one or both keys, INCRBY,
/// APPEND, MSET, MGET, pipelines of two commands and MULTI/EXEC transactions. Then the network
/// heals, every pending request completes, and the whole history is linearizable under the
/// Redis model (a pipeline or a transaction is one atomic step, as the store applies it).
#[test]
fn redis_commands_under_faults_are_linearizable() {
    sim::for_each_seed!(10, |seed| {
        let mut kv = Kv::new(seed, SERVERS);
        run(&mut kv)
    });
}

fn run(kv: &mut Kv) -> Result<(), String> {
    kv.sim.set_faults(FaultConfig {
        loss: 0.02,
        duplicate: 0.02,
        delay: 0.02,
        delay_us_max: 100 * MS_US,
        unreliable: true,
    });
    let clerks: Vec<ClientId> = (0..CLERKS)
        .map(|i| {
            let order: Vec<u32> = (0..SERVERS).map(|k| (i + k) % SERVERS).collect();
            kv.clerk(&order)
        })
        .collect();
    let mut history = History::<RedisInput, RedisOutput>::default();
    let mut in_flight: Vec<Option<(OpId, Vec<Cmd>)>> = vec![None; clerks.len()];
    let mut started = 0u64;
    let end = kv.sim.now_us() + FAULTY_US;
    let mut next_partition = kv.sim.now_us();
    while kv.sim.now_us() < end {
        if kv.sim.now_us() >= next_partition {
            partition_at_random(kv);
            next_partition = kv.sim.now_us() + 300 * MS_US;
        }
        for (i, &c) in clerks.iter().enumerate() {
            collect(kv, c, &mut history, &mut in_flight[i])?;
            if in_flight[i].is_none() {
                started += 1;
                let (cmds, input) = random_request(kv, i, started);
                let id = history.invoke(c.0, input, kv.sim.now_us());
                let batch = Batch {
                    now_ms: 0,
                    cmds: cmds.clone(),
                };
                in_flight[i] = Some((id, cmds));
                kv.sim.invoke(c, KvCommand::Redis(batch));
            }
        }
        kv.run_for(MS_US)?;
    }
    kv.sim.heal();
    kv.sim.set_faults(FaultConfig::none());
    let deadline = kv.sim.now_us() + HEALED_US_MAX;
    while in_flight.iter().any(Option::is_some) {
        ensure(kv.sim.now_us() < deadline, || {
            format!("requests still pending after the heal: {}", kv.describe())
        })?;
        for (i, &c) in clerks.iter().enumerate() {
            collect(kv, c, &mut history, &mut in_flight[i])?;
        }
        kv.run_for(MS_US)?;
    }
    ensure(started > 200, || format!("only {started} requests ran"))?;
    match check_redis(&history, Budget::default()) {
        check::Outcome::Linearizable => Ok(()),
        other => Err(format!("{other}")),
    }
}

/// Records clerk `c`'s finished request, if any.
fn collect(
    kv: &mut Kv,
    c: ClientId,
    history: &mut History<RedisInput, RedisOutput>,
    in_flight: &mut Option<(OpId, Vec<Cmd>)>,
) -> Result<(), String> {
    let Some(done) = kv.sim.take_completion(c) else {
        return Ok(());
    };
    let (id, cmds) = in_flight.take().ok_or("a completion nobody waited for")?;
    // A clerk whose session expired gives up: the request stays pending (it may have run).
    if let Ok(KvOutput::Redis(values)) = done.output {
        ensure(values.len() == cmds.len(), || {
            format!("{cmds:?} answered {values:?}")
        })?;
        let outputs = cmds.iter().zip(values).map(|(c, v)| output(c, v));
        let outputs = outputs.collect::<Result<_, _>>()?;
        history.complete(id, RedisOutput::Txn(outputs), done.completed_at_us);
    }
    Ok(())
}

/// A request for clerk `i`: one to three commands on its group's keys, as the front door would
/// batch a pipeline (or a MULTI/EXEC as one `Exec`), with the model's view of it. Written
/// values name the clerk and request, so every value in the history is unique.
fn random_request(kv: &mut Kv, i: usize, n: u64) -> (Vec<Cmd>, RedisInput) {
    let group = i as u32 % GROUPS;
    let count = 1 + kv.sim.rng().below(3) as usize;
    let mut cmds = Vec::new();
    let mut inputs = Vec::new();
    for k in 0..count {
        let value = format!("v{i}.{n}.{k}");
        if kv.sim.rng().below(6) == 0 {
            // A transaction of two commands.
            let (a, a_in) = random_command(kv, group, &format!("{value}a"));
            let (b, b_in) = random_command(kv, group, &format!("{value}b"));
            cmds.push(Cmd::Exec {
                watched: Vec::new(),
                cmds: vec![a, b],
            });
            inputs.push(RedisInput::Txn(vec![a_in, b_in]));
        } else {
            let (cmd, input) = random_command(kv, group, &value);
            cmds.push(cmd);
            inputs.push(input);
        }
    }
    (cmds, RedisInput::Txn(inputs))
}

/// One command on `group`'s two keys, with the model's input for it.
fn random_command(kv: &mut Kv, group: u32, value: &str) -> (Cmd, RedisInput) {
    let keys = [format!("g{group}a"), format!("g{group}b")];
    let key = keys[kv.sim.rng().below(2) as usize].clone();
    let b = |s: &str| Bytes::from(s.to_owned());
    match kv.sim.rng().below(10) {
        0 | 1 => (
            Cmd::Set {
                key: b(&key),
                value: b(value),
                condition: Condition::Always,
                get: false,
                expiry: SetExpiry::Clear,
            },
            RedisInput::set(key, value),
        ),
        2 => (
            Cmd::SetNx {
                key: b(&key),
                value: b(value),
            },
            RedisInput::set_nx(key, value),
        ),
        3 => (Cmd::Get { key: b(&key) }, RedisInput::get(key)),
        4 => {
            let both = kv.sim.rng().below(2) == 0;
            let del: Vec<String> = if both { keys.to_vec() } else { vec![key] };
            let cmd = Cmd::Del {
                keys: del.iter().map(|k| b(k)).collect(),
            };
            (cmd, RedisInput::del(del))
        }
        5 => {
            let by = kv.sim.rng().below(5) as i64 - 2;
            (
                Cmd::IncrBy { key: b(&key), by },
                RedisInput::incr_by(key, by),
            )
        }
        6 => (
            Cmd::Append {
                key: b(&key),
                value: b(value),
            },
            RedisInput::append(key, value),
        ),
        7 => {
            let pairs = [
                (keys[0].clone(), format!("{value}0")),
                (keys[1].clone(), format!("{value}1")),
            ];
            let cmd = Cmd::MSet {
                pairs: pairs.iter().map(|(k, v)| (b(k), b(v))).collect(),
            };
            let input = RedisInput::mset(pairs.iter().map(|(k, v)| (k.clone(), v.clone())));
            (cmd, input)
        }
        _ => (
            Cmd::MGet {
                keys: keys.iter().map(|k| b(k)).collect(),
            },
            RedisInput::mget(keys.to_vec()),
        ),
    }
}

/// The store's answer to `cmd` as the model's output.
fn output(cmd: &Cmd, value: Value) -> Result<RedisOutput, String> {
    let bulk = |v: Value| match v {
        Value::Bulk(v) => Ok(Some(v.to_vec())),
        Value::Nil => Ok(None),
        other => Err(format!("a value was expected, got {other:?}")),
    };
    Ok(match (cmd, value) {
        (Cmd::SetNx { .. }, Value::Int(n)) => RedisOutput::Bool(n == 1),
        (Cmd::MGet { .. }, Value::Array(items)) => {
            RedisOutput::Values(items.into_iter().map(bulk).collect::<Result<_, _>>()?)
        }
        (Cmd::Exec { cmds, .. }, Value::Array(items)) if items.len() == cmds.len() => {
            let outputs = cmds.iter().zip(items).map(|(c, v)| output(c, v));
            RedisOutput::Txn(outputs.collect::<Result<_, _>>()?)
        }
        (_, Value::Ok) => RedisOutput::Ok,
        (_, Value::Int(n)) => RedisOutput::Int(n),
        (Cmd::Get { .. }, v @ (Value::Bulk(_) | Value::Nil)) => RedisOutput::Value(bulk(v)?),
        (_, Value::Error(text)) if text == keyspace::errors::NOT_AN_INTEGER => {
            RedisOutput::Error(RedisError::NotInteger)
        }
        (_, Value::Error(text)) if text == keyspace::errors::OVERFLOW => {
            RedisOutput::Error(RedisError::Overflow)
        }
        (cmd, other) => return Err(format!("{cmd:?} answered {other:?}")),
    })
}

/// Splits the replicas at random into up to two groups, or (one time in three) heals.
fn partition_at_random(kv: &mut Kv) {
    if kv.sim.rng().below(3) == 0 {
        kv.sim.heal();
        return;
    }
    let mut groups: [Vec<NodeId>; 2] = Default::default();
    for i in 0..SERVERS {
        groups[kv.sim.rng().below(2) as usize].push(NodeId(i));
    }
    let refs: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
    kv.sim.partition(&refs);
}
