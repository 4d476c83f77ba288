//! The view service core: pings and ticks in, views out. Pure: no clock, no socket.

use crate::msg::{ADDR_BYTES_MAX, View, ViewNum, ViewReply, VsMsg, VsRequest};
use rpc::{Node, NodeId, NodeOutbox, ReqId, Ticks};
use std::collections::{BTreeMap, BTreeSet};

/// SPEC §3.1 `DeadPings`: a server that has not pinged for this many ticks (ping intervals) is
/// dead.
pub const DEAD_PINGS: u64 = 5;

/// The identity given to the first server that registers by address (TCP). Node 0 is the view
/// service itself in a simulated cluster, so TCP identities start at 1 to keep the same shape.
pub const FIRST_REGISTERED_ID: u32 = 1;

/// How many distinct server addresses the view service remembers. Why 1024: a real deployment
/// has a handful of servers; the bound stops a flood of pings with made-up addresses from
/// growing memory without limit. Pings from further addresses get the view but no identity.
pub const REGISTERED_MAX: usize = 1024;

/// The outbox of the view service.
pub type VsOutbox = NodeOutbox<ViewService>;

/// What the view service knows of one server.
#[derive(Clone, Debug)]
struct ServerInfo {
    /// The tick of its last ping.
    last_ping: Ticks,
    /// The address it registered with ("" in the simulator).
    addr: String,
    /// The view number of its last ping: a server that pinged a real view and then pings 0 has
    /// restarted. (Repeated pings of 0 from a server that just joined are not restarts: the
    /// handout's clerks ping 0 until they see themselves in a view.)
    last_viewnum: ViewNum,
}

/// The view service (SPEC §3): decides the sequence of views from pings.
///
/// Invariants (asserted whenever the view changes):
/// - the view number only grows, by one per change;
/// - primary and backup differ;
/// - a new primary is always the old primary or the old backup;
/// - no view follows view X before the primary of X has pinged X (acknowledged it).
#[derive(Debug)]
pub struct ViewService {
    now: Ticks,
    view: View,
    /// True once the primary of `view` has pinged `view.num`.
    acked: bool,
    servers: BTreeMap<NodeId, ServerInfo>,
    /// Servers of the current view that pinged 0 since it formed: restarted, so failed in
    /// their role even though they never missed a ping (SPEC §3.2 rule 7).
    restarted: BTreeSet<NodeId>,
    /// Identities of servers that registered by address (TCP).
    ids_by_addr: BTreeMap<String, NodeId>,
    next_id: u32,
    dead_pings: u64,
    /// Pings and gets handled: SPEC §3.1 `GetRPCCount`.
    rpc_count: u64,
}

impl Default for ViewService {
    fn default() -> Self {
        Self::new()
    }
}

impl ViewService {
    /// A view service in view 0, with the SPEC's `DeadPings`.
    pub fn new() -> Self {
        Self::with_dead_pings(DEAD_PINGS)
    }

    /// A view service that declares a server dead after `dead_pings` silent ticks.
    ///
    /// # Panics
    /// If `dead_pings` is 0.
    pub fn with_dead_pings(dead_pings: u64) -> Self {
        assert!(dead_pings > 0, "dead_pings must be positive");
        ViewService {
            now: Ticks(0),
            view: View::default(),
            acked: false,
            servers: BTreeMap::new(),
            restarted: BTreeSet::new(),
            ids_by_addr: BTreeMap::new(),
            next_id: FIRST_REGISTERED_ID,
            dead_pings,
            rpc_count: 0,
        }
    }

    /// The current view (SPEC §3.1 `Get`, without counting an RPC).
    pub fn view(&self) -> View {
        self.view
    }

    /// True once the primary acknowledged the current view.
    pub fn is_acked(&self) -> bool {
        self.acked
    }

    /// Pings and gets handled so far (SPEC §3.1 `GetRPCCount`).
    pub fn rpc_count(&self) -> u64 {
        self.rpc_count
    }

    /// Handles `Ping(viewnum)` from `server` and answers with the view as it stands after it.
    pub fn ping(&mut self, server: NodeId, viewnum: ViewNum, addr: &str) -> ViewReply {
        self.rpc_count += 1;
        let info = self.servers.entry(server).or_insert_with(|| ServerInfo {
            last_ping: Ticks(0),
            addr: String::new(),
            last_viewnum: ViewNum(0),
        });
        info.last_ping = self.now;
        if !addr.is_empty() {
            info.addr = addr.to_string();
        }
        let was_running = info.last_viewnum.0 > 0;
        info.last_viewnum = viewnum;
        let in_view = self.view.primary == Some(server) || self.view.backup == Some(server);
        if viewnum.0 == 0 && was_running && in_view {
            tracing::debug!(%server, "restarted server of the current view");
            self.restarted.insert(server);
        }
        if self.view.primary == Some(server) && viewnum == self.view.num {
            self.acked = true;
        }
        if self.view.num.0 == 0 {
            // Rule 1: the first server to ping is the first primary.
            self.change_view(Some(server), None);
        } else {
            self.update();
        }
        self.reply(Some(server))
    }

    /// Handles `Get()`: the current view.
    pub fn get(&mut self) -> ViewReply {
        self.rpc_count += 1;
        self.reply(None)
    }

    /// Advances time by one ping interval and reconsiders the view.
    pub fn tick(&mut self) {
        self.now.0 += 1;
        self.update();
    }

    /// The identity of the server that registered `addr`, registering it if new.
    fn register(&mut self, addr: &str) -> Option<NodeId> {
        if addr.is_empty() || addr.len() > ADDR_BYTES_MAX {
            return None;
        }
        if let Some(id) = self.ids_by_addr.get(addr) {
            return Some(*id);
        }
        if self.ids_by_addr.len() >= REGISTERED_MAX {
            tracing::warn!(addr, "too many registered servers; ping refused");
            return None;
        }
        let id = NodeId(self.next_id);
        self.next_id += 1;
        self.ids_by_addr.insert(addr.to_string(), id);
        Some(id)
    }

    fn reply(&self, you: Option<NodeId>) -> ViewReply {
        let addr = |id: Option<NodeId>| {
            id.and_then(|id| self.servers.get(&id))
                .map(|info| info.addr.clone())
                .unwrap_or_default()
        };
        ViewReply {
            view: self.view,
            you,
            primary_addr: addr(self.view.primary),
            backup_addr: addr(self.view.backup),
            acked: self.acked,
        }
    }

    fn is_alive(&self, server: NodeId) -> bool {
        self.servers
            .get(&server)
            .is_some_and(|info| self.now.0 - info.last_ping.0 < self.dead_pings)
    }

    /// Dead, or restarted while in the view: either way it cannot keep its role.
    fn has_failed(&self, server: NodeId) -> bool {
        !self.is_alive(server) || self.restarted.contains(&server)
    }

    /// A live server to add as backup: the lowest id other than `primary` (deterministic).
    fn idle_server(&self, primary: Option<NodeId>) -> Option<NodeId> {
        self.servers
            .keys()
            .copied()
            .find(|&id| Some(id) != primary && self.is_alive(id))
    }

    /// Rules 2–6 of SPEC §3.2: change the view only once the current one is acknowledged.
    fn update(&mut self) {
        if !self.acked {
            return;
        }
        let (primary, backup) = (self.view.primary, self.view.backup);
        let primary_failed = primary.is_some_and(|p| self.has_failed(p));
        let backup_failed = backup.is_some_and(|b| self.has_failed(b));
        if primary_failed {
            // Rule 4: only the backup may take over; without a usable backup, no progress.
            if let Some(b) = backup.filter(|_| !backup_failed) {
                self.change_view(Some(b), self.idle_server(Some(b)));
            }
        } else if backup_failed {
            self.change_view(primary, self.idle_server(primary));
        } else if backup.is_none()
            && let Some(idle) = self.idle_server(primary)
        {
            self.change_view(primary, Some(idle));
        }
    }

    fn change_view(&mut self, primary: Option<NodeId>, backup: Option<NodeId>) {
        assert_ne!(primary, None, "a new view always has a primary");
        assert!(
            primary != backup,
            "primary and backup must differ: {primary:?}"
        );
        assert!(
            self.view.num.0 == 0 || primary == self.view.primary || primary == self.view.backup,
            "new primary {primary:?} was neither primary nor backup of {}",
            self.view
        );
        self.view = View {
            num: ViewNum(self.view.num.0 + 1),
            primary,
            backup,
        };
        self.acked = false;
        self.restarted.clear();
        tracing::info!(view = %self.view, "new view");
    }
}

impl Node for ViewService {
    type Msg = VsMsg;
    type Req = VsRequest;
    type Resp = ViewReply;

    fn on_message(&mut self, from: NodeId, msg: VsMsg, out: &mut VsOutbox) {
        match msg {
            VsMsg::Ping { viewnum } => {
                let reply = self.ping(from, viewnum, "");
                out.respond(from, VsMsg::View(reply));
            }
            VsMsg::View(_) => tracing::debug!(%from, "view service got a view; ignored"),
        }
    }

    fn on_request(&mut self, req: ReqId, body: VsRequest, out: &mut VsOutbox) {
        let reply = match body {
            VsRequest::Ping { viewnum, addr } => match self.register(&addr) {
                Some(id) => self.ping(id, viewnum, &addr),
                None => self.get(),
            },
            VsRequest::Get => self.get(),
        };
        out.reply(req, reply);
    }

    fn on_tick(&mut self, _out: &mut VsOutbox) {
        self.tick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handout figure (SPEC §3.2): S1 starts, S2 joins after S1 acks, S1 reboots.
    #[test]
    fn handout_sequence() {
        let (s1, s2) = (NodeId(1), NodeId(2));
        let mut vs = ViewService::new();
        assert_eq!(vs.ping(s1, ViewNum(0), "").view.primary, Some(s1));
        let v = vs.ping(s2, ViewNum(0), "").view;
        assert_eq!((v.num, v.backup), (ViewNum(1), None), "not acked yet");
        let v = vs.ping(s1, ViewNum(1), "").view;
        assert_eq!(
            (v.num, v.primary, v.backup),
            (ViewNum(2), Some(s1), Some(s2))
        );
        vs.ping(s1, ViewNum(2), "");
        let v = vs.ping(s1, ViewNum(0), "").view;
        assert_eq!(
            (v.num, v.primary, v.backup),
            (ViewNum(3), Some(s2), Some(s1))
        );
    }

    /// TCP registration: one identity per address, refused when the address is garbage.
    #[test]
    fn registration_by_address() {
        let mut vs = ViewService::new();
        assert_eq!(vs.register("a:1"), Some(NodeId(1)));
        assert_eq!(vs.register("b:1"), Some(NodeId(2)));
        assert_eq!(vs.register("a:1"), Some(NodeId(1)));
        assert_eq!(vs.register(""), None);
        assert_eq!(vs.register(&"x".repeat(ADDR_BYTES_MAX + 1)), None);
    }
}
