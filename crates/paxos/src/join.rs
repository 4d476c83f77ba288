//! Joining: a durable peer that starts on an empty directory votes only once every other peer
//! has said that it knew no earlier incarnation of it.
//!
//! Why: an empty directory is a first start or a lost disk, and the directory alone cannot
//! tell which. A peer that lost its disk forgot its promises and votes; voting again, it could
//! help choose a second value. Two wiped replicas of three, each hearing the other's new
//! incarnation first, would form a majority that knows nothing of what was decided
//! (`sim_durable::a_majority_that_lost_its_disks_stops_serving` found exactly that).
//!
//! Every durable peer keeps the first incarnation it hears from each peer in its identity
//! file, written and synced before it counts any vote of that incarnation (see
//! [`crate::journal`]). So if no peer knows an earlier incarnation of a newcomer, no vote of
//! an earlier one was ever counted by a peer that kept its disk, and the newcomer may vote as
//! a new member. A peer that knows an earlier one answers `Restarted` instead, and the
//! newcomer becomes amnesiac ([`crate::incarnation`]): a learner that never votes. The answers
//! must come from every other peer, not a majority: the one that knew the earlier incarnation
//! may be the only one. An amnesiac peer welcomes too: it lost its records, but every pair of
//! peers exchanged `Hello`s when the cluster formed, so the peers with state that heard an
//! earlier incarnation of the newcomer still refuse it; refusing as well would leave a joining
//! peer and an amnesiac one (which needs peers with state to rejoin) waiting for each other.
//!
//! A joining peer has never voted nor counted a vote, so it keeps no incarnation against a
//! peer: one that restarts (even without its disk) before the cluster formed is adopted as new
//! (otherwise two joining peers would wait forever for a peer with state to vouch for it).
//!
//! Consequences: a new cluster forms once every member has started once; a cluster whose
//! every disk was lost starts empty (nothing is left to keep). The joined flag is in the
//! identity file, so a peer that crashes while joining asks again.
//!
//! Invariants: a joining peer never promises, accepts, proposes or campaigns; `joining` goes
//! from `Some` to `None` once, when the last other peer welcomed it.

use crate::msg::Body;
use crate::peer::{PaxosOutbox, Peer};
use rpc::{NodeId, Ticks};

/// Ticks between two `Hello`s to a peer that has not answered (10 ms ticks: 100 ms).
pub const HELLO_RETRY_TICKS: u64 = 10;

/// The peers that welcomed a joining peer so far.
#[derive(Clone, Debug)]
pub(crate) struct Joining {
    /// Indexed by node id; this peer's own entry is true.
    welcomed: Vec<bool>,
    /// When the last round of `Hello`s went out.
    hello_at: Option<Ticks>,
}

impl Joining {
    /// Peer `me` of `peer_count`, welcomed by nobody yet; `None` if there is nobody to ask.
    pub(crate) fn new(me: NodeId, peer_count: u32) -> Option<Self> {
        let mut welcomed = vec![false; peer_count as usize];
        welcomed[me.index()] = true;
        (peer_count > 1).then_some(Joining {
            welcomed,
            hello_at: None,
        })
    }
}

impl Peer {
    /// True while this peer waits to be welcomed by every other peer (see [`crate::join`]):
    /// it learns decisions but never votes, proposes or leads.
    pub fn is_joining(&self) -> bool {
        self.joining.is_some()
    }

    /// Sends `Hello` to every peer that has not welcomed this one, every
    /// [`HELLO_RETRY_TICKS`].
    pub(crate) fn tick_join(&mut self, out: &mut PaxosOutbox) {
        let now = self.now;
        let Some(joining) = &mut self.joining else {
            return;
        };
        if joining
            .hello_at
            .is_some_and(|at| now.0 < at.0 + HELLO_RETRY_TICKS)
        {
            return;
        }
        joining.hello_at = Some(now);
        let unwelcomed: Vec<NodeId> = (0..self.peer_count)
            .map(NodeId)
            .filter(|p| !joining.welcomed[p.index()])
            .collect();
        for peer in unwelcomed {
            out.send(peer, self.envelope(Body::Hello));
        }
    }

    /// A newcomer asks: admitted means its incarnation is the one this peer keeps (now on
    /// disk too), so it is welcome.
    pub(crate) fn on_hello(&mut self, from: NodeId, out: &mut PaxosOutbox) {
        out.respond(from, self.envelope(Body::Welcome));
    }

    /// `from` knew no earlier incarnation of this peer. Once all have said so, this peer votes.
    pub(crate) fn on_welcome(&mut self, from: NodeId) {
        let Some(joining) = &mut self.joining else {
            return;
        };
        joining.welcomed[from.index()] = true;
        if joining.welcomed.iter().all(|w| *w) {
            self.joining = None;
            // The identity records that this peer joined, before anything it votes.
            self.identity_changed();
            tracing::info!(peer = %self.me, "every peer welcomed this one: it votes from now on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Msg;
    use rpc::{DiskImage, Effect, Node};
    use std::collections::VecDeque;

    type Wire = VecDeque<(NodeId, NodeId, Msg)>;

    /// Delivers every queued message (and what it causes) except those `lost` drops.
    fn pump(peers: &mut [Peer], wire: &mut Wire, lost: impl Fn(NodeId, NodeId, &Msg) -> bool) {
        let mut steps = 0;
        while let Some((from, to, msg)) = wire.pop_front() {
            steps += 1;
            assert!(steps < 10_000, "messages never settle");
            if lost(from, to, &msg) {
                continue;
            }
            let mut out = PaxosOutbox::new();
            peers[to.index()].on_message(from, msg, &mut out);
            collect(to, &mut out, wire);
        }
    }

    fn collect(from: NodeId, out: &mut PaxosOutbox, wire: &mut Wire) {
        for effect in out.drain() {
            if let Effect::Send { to, msg } | Effect::Respond { to, msg } = effect {
                wire.push_back((from, to, msg));
            }
        }
    }

    /// Ticks every peer `ticks` times, delivering what they send (minus `lost`).
    fn run(peers: &mut [Peer], ticks: u32, lost: impl Fn(NodeId, NodeId, &Msg) -> bool + Copy) {
        let mut wire = Wire::new();
        for _ in 0..ticks {
            for (i, peer) in peers.iter_mut().enumerate() {
                let mut out = PaxosOutbox::new();
                peer.on_tick(&mut out);
                collect(NodeId(i as u32), &mut out, &mut wire);
            }
            pump(peers, &mut wire, lost);
        }
    }

    fn fresh(me: u32, seed: u64) -> Peer {
        Peer::open(NodeId(me), 3, seed, &DiskImage::new())
            .expect("an empty directory opens")
            .peer
    }

    /// Replica 1 never got replica 0's welcome when 0 lost its disk: 0 comes back amnesiac
    /// and needs two peers with state to rejoin, one of them 1, while 1 needs 0's welcome to
    /// join. An amnesiac peer welcomes, so both get there (Test5Simultaneous, seed 14 of 100,
    /// found the two waiting for each other).
    #[test]
    fn a_joining_peer_and_an_amnesiac_one_do_not_wait_for_each_other() {
        let mut peers = vec![fresh(0, 1), fresh(1, 1), fresh(2, 1)];
        let welcome_0_to_1 = |from: NodeId, to: NodeId, msg: &Msg| {
            from.0 == 0 && to.0 == 1 && msg.body == Body::Welcome
        };
        run(&mut peers, 30, welcome_0_to_1);
        assert!(!peers[0].is_joining() && !peers[2].is_joining());
        assert!(peers[1].is_joining(), "replica 1 never got 0's welcome");
        peers[0] = fresh(0, 99); // lost its disk: a new incarnation
        // It hears from 2 that it restarted before its welcome reaches 1.
        run(&mut peers, 5, welcome_0_to_1);
        assert!(peers[0].is_amnesiac() && peers[1].is_joining());
        run(&mut peers, 60, |_, _, _| false);
        for peer in &peers {
            assert!(!peer.is_joining(), "{} still joining", peer.id());
            assert!(!peer.is_amnesiac(), "{} still amnesiac", peer.id());
        }
        assert!(
            peers[0].rejoin.is_some(),
            "replica 0 rejoined by fencing, not as new"
        );
    }
}
