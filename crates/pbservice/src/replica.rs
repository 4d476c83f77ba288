//! The primary/backup server core: pings, client operations, forwarding and state transfer.
//! Pure: no clock, no socket; the view service is reached by messages.

use crate::msg::{BackupError, OpRequest, PbError, PbMsg, PbRequest, PbResponse};
use kvstore::{Applied, KvState};
use rpc::{Node, NodeId, NodeOutbox, ReqId};
use viewservice::{View, ViewNum, ViewReply, VsMsg};

/// The outbox of a server.
pub type PbOutbox = NodeOutbox<Replica>;

/// Operations in one forwarded batch. Why 256: enough to absorb 64 busy clerks at once, small
/// enough that one message stays far below the frame limit with 100-byte values.
pub const BATCH_OPS_MAX: usize = 256;

/// Client operations a primary holds while a batch is at the backup. Past it, new requests
/// are dropped unanswered (the clerk retries): memory stays bounded under a flood.
pub const QUEUE_OPS_MAX: usize = 4096;

/// A clerk operation waiting for its answer, and where the answer goes.
#[derive(Clone, Debug)]
struct Pending {
    req: ReqId,
    op: OpRequest,
}

/// A batch forwarded to the backup and not yet confirmed.
#[derive(Debug)]
struct Batch {
    id: u64,
    ops: Vec<Pending>,
}

/// One primary/backup server (SPEC §4).
///
/// Invariants:
/// - only the primary of the server's latest view answers clerks, and only with data: it was
///   the first primary of the service (view 1, nothing ever written) or it received a full
///   transfer as backup;
/// - with a backup, an operation (Get included) is applied and answered only after the backup
///   applied it, in the same order (one batch at a time);
/// - the primary acknowledges a view to the view service only once its backup has the state,
///   so the view service can never promote a backup that lacks it.
#[derive(Debug)]
pub struct Replica {
    /// This server's identity; learnt from the view service over TCP.
    me: Option<NodeId>,
    vs: NodeId,
    /// The latest view the view service told us, with the servers' addresses.
    latest: ViewReply,
    /// The view number we acknowledge in our pings.
    acked: ViewNum,
    state: KvState,
    /// True once this process holds the service's data (see the invariants).
    has_data: bool,
    /// The backup of `latest.view` has acknowledged our transfer.
    backup_synced: bool,
    queue: Vec<Pending>,
    in_flight: Option<Batch>,
    next_batch: u64,
    /// As backup: the view in which we installed the primary's state.
    synced_view: Option<ViewNum>,
}

impl Replica {
    /// A fresh, empty server `me` of a cluster whose view service is `vs`. Over TCP, pass
    /// `None`: the identity comes with the first ping's answer.
    pub fn new(me: Option<NodeId>, vs: NodeId) -> Self {
        Replica {
            me,
            vs,
            latest: ViewReply::default(),
            acked: ViewNum(0),
            state: KvState::default(),
            has_data: false,
            backup_synced: false,
            queue: Vec::new(),
            in_flight: None,
            next_batch: 1,
            synced_view: None,
        }
    }

    /// The latest view this server knows.
    pub fn view(&self) -> View {
        self.latest.view
    }

    /// This server's identity, once known.
    pub fn me(&self) -> Option<NodeId> {
        self.me
    }

    /// The address server `id` registered with the view service, if it is in our view.
    pub fn addr_of(&self, id: NodeId) -> Option<&str> {
        let view = self.latest.view;
        let addr = if view.primary == Some(id) {
            &self.latest.primary_addr
        } else if view.backup == Some(id) {
            &self.latest.backup_addr
        } else {
            return None;
        };
        Some(addr.as_str()).filter(|a| !a.is_empty())
    }

    /// The replicated state (tests compare primary and backup).
    pub fn state(&self) -> &KvState {
        &self.state
    }

    /// True if this server is the primary of its view and holds the data.
    pub fn is_serving(&self) -> bool {
        self.is_primary() && self.has_data
    }

    fn is_primary(&self) -> bool {
        self.me.is_some() && self.latest.view.primary == self.me
    }

    fn is_backup(&self) -> bool {
        self.me.is_some() && self.latest.view.backup == self.me
    }

    /// The view number to ping with: a primary with a backup holds back its acknowledgement
    /// until the backup has the state.
    fn ping_num(&self) -> ViewNum {
        let view = self.latest.view;
        if self.is_primary() && view.backup.is_some() && !self.backup_synced {
            self.acked
        } else {
            view.num
        }
    }

    fn ping(&mut self, out: &mut PbOutbox) {
        self.acked = self.ping_num();
        out.send(
            self.vs,
            PbMsg::Vs(VsMsg::Ping {
                viewnum: self.acked,
            }),
        );
    }

    fn on_view(&mut self, reply: ViewReply, out: &mut PbOutbox) {
        if self.me.is_none() {
            self.me = reply.you;
        }
        if reply.view.num < self.latest.view.num {
            return;
        }
        let changed = reply.view.num > self.latest.view.num;
        self.latest = reply;
        if !changed {
            return;
        }
        tracing::info!(me = ?self.me, view = %self.latest.view, "new view");
        let view = self.latest.view;
        self.backup_synced = false;
        if let Some(batch) = self.in_flight.take() {
            // Not confirmed in the old view: forward again, to the new backup, after the transfer.
            let rest = std::mem::take(&mut self.queue);
            self.queue = batch.ops;
            self.queue.extend(rest);
        }
        if !self.is_primary() {
            self.queue.clear();
            return;
        }
        if view.num.0 == 1 {
            // The service's first view: nothing was ever written, so empty is up to date.
            self.has_data = true;
        }
        if !self.has_data {
            tracing::error!(view = %view, "primary without data; refusing to serve");
            return;
        }
        self.transfer(out);
        self.drain(out);
    }

    fn transfer(&mut self, out: &mut PbOutbox) {
        if let Some(backup) = self.latest.view.backup {
            out.send(
                backup,
                PbMsg::Transfer {
                    view: self.latest.view.num,
                    state: self.state.clone(),
                },
            );
        }
    }

    /// Moves queued operations on: applied at once without a backup, else one batch forwarded.
    fn drain(&mut self, out: &mut PbOutbox) {
        if !self.is_serving() || self.in_flight.is_some() || self.queue.is_empty() {
            return;
        }
        match self.latest.view.backup {
            None => {
                for pending in std::mem::take(&mut self.queue) {
                    self.apply_and_reply(&pending, out);
                }
            }
            Some(_) if !self.backup_synced => {}
            Some(_) => {
                let take = self.queue.len().min(BATCH_OPS_MAX);
                let ops: Vec<Pending> = self.queue.drain(..take).collect();
                let batch = Batch {
                    id: self.next_batch,
                    ops,
                };
                self.next_batch += 1;
                self.in_flight = Some(batch);
                self.forward(out);
            }
        }
    }

    fn forward(&self, out: &mut PbOutbox) {
        let (Some(batch), Some(backup)) = (&self.in_flight, self.latest.view.backup) else {
            return;
        };
        out.send(
            backup,
            PbMsg::Forward {
                view: self.latest.view.num,
                batch: batch.id,
                ops: batch.ops.iter().map(|p| p.op.clone()).collect(),
            },
        );
    }

    fn apply_and_reply(&mut self, pending: &Pending, out: &mut PbOutbox) {
        // A stale operation's clerk has moved on: nobody waits for its answer.
        if let Applied::Result(value) = self.state.apply(&pending.op) {
            out.reply(pending.req, op_reply(&pending.op, Ok(value)));
        }
    }

    fn on_op(&mut self, req: ReqId, op: OpRequest, out: &mut PbOutbox) {
        if !self.is_primary() {
            out.reply(req, op_reply(&op, Err(PbError::WrongServer)));
            return;
        }
        if !self.has_data {
            return;
        }
        match self.state.cached(&op) {
            Some(Applied::Result(value)) => {
                out.reply(req, op_reply(&op, Ok(value)));
                return;
            }
            // The clerk has moved past this operation: answering or running it is pointless.
            Some(Applied::Stale) => return,
            None => {}
        }
        if self.queue.len() >= QUEUE_OPS_MAX {
            tracing::warn!("primary queue full; request dropped");
            return;
        }
        self.queue.push(Pending { req, op });
        self.drain(out);
    }

    /// As backup: installs the primary's state for `view`.
    fn on_transfer(&mut self, from: NodeId, view: ViewNum, state: KvState, out: &mut PbOutbox) {
        self.learn_view(view, out);
        let result = if self.is_backup()
            && self.latest.view.num == view
            && self.latest.view.primary == Some(from)
        {
            self.state = state;
            self.has_data = true;
            self.synced_view = Some(view);
            Ok(())
        } else {
            Err(BackupError::NotBackup)
        };
        out.respond(from, PbMsg::TransferReply { view, result });
    }

    /// As backup: applies a forwarded batch, in order.
    fn on_forward(
        &mut self,
        from: NodeId,
        view: ViewNum,
        batch: u64,
        ops: Vec<OpRequest>,
        out: &mut PbOutbox,
    ) {
        self.learn_view(view, out);
        let result = if !self.is_backup()
            || self.latest.view.num != view
            || self.latest.view.primary != Some(from)
        {
            Err(BackupError::NotBackup)
        } else if self.synced_view != Some(view) {
            Err(BackupError::NotSynced)
        } else {
            for op in &ops {
                self.state.apply(op);
            }
            Ok(())
        };
        out.respond(
            from,
            PbMsg::ForwardReply {
                view,
                batch,
                result,
            },
        );
    }

    /// A message from a newer view than ours: ask the view service now rather than at the
    /// next tick, so a view change costs one round trip, not a tick.
    fn learn_view(&mut self, view: ViewNum, out: &mut PbOutbox) {
        if view > self.latest.view.num {
            self.ping(out);
        }
    }

    fn on_forward_reply(
        &mut self,
        view: ViewNum,
        batch: u64,
        result: Result<(), BackupError>,
        out: &mut PbOutbox,
    ) {
        let current = self.in_flight.as_ref().is_some_and(|b| b.id == batch);
        if view != self.latest.view.num || !current || !self.is_serving() {
            return;
        }
        match result {
            Ok(()) => {
                let batch = self.in_flight.take().expect("checked above");
                for pending in &batch.ops {
                    self.apply_and_reply(pending, out);
                }
                self.drain(out);
            }
            Err(BackupError::NotSynced) => {
                self.backup_synced = false;
                self.transfer(out);
            }
            // Our view is stale; the next ping tells us the new one.
            Err(BackupError::NotBackup) => {}
        }
    }

    fn on_transfer_reply(
        &mut self,
        view: ViewNum,
        result: Result<(), BackupError>,
        out: &mut PbOutbox,
    ) {
        if view != self.latest.view.num || !self.is_serving() || result.is_err() {
            return;
        }
        if !self.backup_synced {
            self.backup_synced = true;
            // Acknowledge the view now that the backup holds the state.
            self.ping(out);
            self.forward(out);
            self.drain(out);
        }
    }
}

fn op_reply(op: &OpRequest, result: Result<String, PbError>) -> PbResponse {
    PbResponse::Op {
        clerk: op.client,
        seq: op.seq,
        result,
    }
}

impl Node for Replica {
    type Msg = PbMsg;
    type Req = PbRequest;
    type Resp = PbResponse;

    fn on_message(&mut self, from: NodeId, msg: PbMsg, out: &mut PbOutbox) {
        match msg {
            PbMsg::Vs(VsMsg::View(reply)) if from == self.vs => self.on_view(reply, out),
            PbMsg::Vs(_) => {}
            PbMsg::Forward { view, batch, ops } => self.on_forward(from, view, batch, ops, out),
            PbMsg::ForwardReply {
                view,
                batch,
                result,
            } => self.on_forward_reply(view, batch, result, out),
            PbMsg::Transfer { view, state } => self.on_transfer(from, view, state, out),
            PbMsg::TransferReply { view, result } => self.on_transfer_reply(view, result, out),
        }
    }

    fn on_request(&mut self, req: ReqId, body: PbRequest, out: &mut PbOutbox) {
        match body {
            PbRequest::Op(op) => self.on_op(req, op, out),
            // Not the view service, and peer requests are unwrapped by the TCP shell.
            PbRequest::View(_) | PbRequest::Peer { .. } => {}
        }
    }

    fn on_tick(&mut self, out: &mut PbOutbox) {
        self.ping(out);
        if !self.is_serving() {
            return;
        }
        if self.latest.view.backup.is_some() && !self.backup_synced {
            self.transfer(out);
        } else {
            self.forward(out);
            self.drain(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Op;
    use rpc::Effect;

    const VS: NodeId = NodeId(0);
    const S1: NodeId = NodeId(1);
    const S2: NodeId = NodeId(2);

    fn view(num: u64, primary: Option<NodeId>, backup: Option<NodeId>) -> PbMsg {
        PbMsg::Vs(VsMsg::View(ViewReply {
            view: View {
                num: ViewNum(num),
                primary,
                backup,
            },
            ..ViewReply::default()
        }))
    }

    fn put(seq: u64) -> PbRequest {
        PbRequest::Op(OpRequest {
            client: 9,
            seq,
            op: Op::Put {
                key: "k".into(),
                value: format!("v{seq}"),
            },
        })
    }

    fn effects(out: &mut PbOutbox) -> Vec<Effect<PbMsg, PbResponse>> {
        out.drain().collect()
    }

    fn pinged(effects: &[Effect<PbMsg, PbResponse>]) -> Option<ViewNum> {
        effects.iter().find_map(|e| match e {
            Effect::Send {
                msg: PbMsg::Vs(VsMsg::Ping { viewnum }),
                ..
            } => Some(*viewnum),
            _ => None,
        })
    }

    /// A primary with a new backup keeps acknowledging the previous view until the backup
    /// confirmed the transfer, and forwards nothing before that.
    #[test]
    fn primary_acknowledges_only_after_transfer() {
        let mut s1 = Replica::new(Some(S1), VS);
        let mut out = PbOutbox::new();
        s1.on_message(VS, view(1, Some(S1), None), &mut out);
        s1.on_tick(&mut out);
        assert_eq!(pinged(&effects(&mut out)), Some(ViewNum(1)));
        s1.on_message(VS, view(2, Some(S1), Some(S2)), &mut out);
        s1.on_request(ReqId(1), put(1), &mut out);
        let sent = effects(&mut out);
        assert!(sent.iter().any(|e| matches!(
            e,
            Effect::Send {
                msg: PbMsg::Transfer { .. },
                ..
            }
        )));
        assert!(!sent.iter().any(|e| matches!(
            e,
            Effect::Send {
                msg: PbMsg::Forward { .. },
                ..
            }
        )));
        s1.on_tick(&mut out);
        assert_eq!(pinged(&effects(&mut out)), Some(ViewNum(1)), "not yet");
        let ok = PbMsg::TransferReply {
            view: ViewNum(2),
            result: Ok(()),
        };
        s1.on_message(S2, ok, &mut out);
        let sent = effects(&mut out);
        assert_eq!(pinged(&sent), Some(ViewNum(2)));
        assert!(sent.iter().any(|e| matches!(
            e,
            Effect::Send {
                msg: PbMsg::Forward { .. },
                ..
            }
        )));
    }

    /// A backup refuses a forward stamped with a view other than its own (a partitioned old
    /// primary), and one for its view before it received the state.
    #[test]
    fn backup_refuses_stale_or_unsynced_forwards() {
        let mut s2 = Replica::new(Some(S2), VS);
        let mut out = PbOutbox::new();
        s2.on_message(VS, view(3, Some(S1), Some(S2)), &mut out);
        let forward = |v| PbMsg::Forward {
            view: ViewNum(v),
            batch: 1,
            ops: vec![],
        };
        let result = |out: &mut PbOutbox| {
            effects(out).into_iter().find_map(|e| match e {
                Effect::Respond {
                    msg: PbMsg::ForwardReply { result, .. },
                    ..
                } => Some(result),
                _ => None,
            })
        };
        s2.on_message(S1, forward(2), &mut out);
        assert_eq!(result(&mut out), Some(Err(BackupError::NotBackup)));
        s2.on_message(S1, forward(3), &mut out);
        assert_eq!(result(&mut out), Some(Err(BackupError::NotSynced)));
        let transfer = PbMsg::Transfer {
            view: ViewNum(3),
            state: KvState::default(),
        };
        s2.on_message(S1, transfer, &mut out);
        effects(&mut out);
        s2.on_message(S1, forward(3), &mut out);
        assert_eq!(result(&mut out), Some(Ok(())));
    }

    /// A restarted server that finds itself primary of a later view (its data is gone) does
    /// not answer clerks; the first primary of the service (view 1) does.
    #[test]
    fn empty_server_never_serves() {
        let mut s1 = Replica::new(Some(S1), VS);
        let mut out = PbOutbox::new();
        s1.on_message(VS, view(4, Some(S1), None), &mut out);
        s1.on_request(ReqId(1), put(1), &mut out);
        assert!(!s1.is_serving());
        assert!(
            !effects(&mut out)
                .iter()
                .any(|e| matches!(e, Effect::Reply { .. }))
        );
        let mut fresh = Replica::new(Some(S1), VS);
        fresh.on_message(VS, view(1, Some(S1), None), &mut out);
        fresh.on_request(ReqId(2), put(1), &mut out);
        assert!(
            effects(&mut out)
                .iter()
                .any(|e| matches!(e, Effect::Reply { .. }))
        );
    }
}
