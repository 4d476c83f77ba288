//! The requests a replica holds until their proposal is applied: one entry per request, however
//! often the client retries it here.

use crate::msg::Proposal;
use rpc::{ReqId, Ticks};
use std::collections::BTreeMap;

/// The most attempts of one request a replica keeps answering. A client retries only after a
/// timeout, so more than a few attempts at one replica means it gave up on the older ones;
/// those are dropped (never answered), the newest kept.
pub const ATTEMPTS_MAX: usize = 4;

/// Which request a waiter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WaitKey {
    /// A registration, by the number this replica gave it.
    Register(u64),
    /// Command `seq` of `session`.
    Command {
        /// The session.
        session: u64,
        /// The command number.
        seq: u64,
    },
}

/// Where a waiting request's proposal went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Nowhere yet: no leader was known.
    Nowhere,
    /// Into this replica's queue, while it led.
    Queued,
    /// To another replica, the leader then, at this tick.
    Forwarded(Ticks),
}

/// The attempts of one request to answer (the driver's handles), oldest first: at least one,
/// at most [`ATTEMPTS_MAX`]. The first is kept inline: nearly every request has only one, and
/// a `Vec` per request was an allocation on the hot path.
#[derive(Debug)]
pub struct Attempts {
    first: ReqId,
    later: Vec<ReqId>,
}

impl Attempts {
    /// One attempt.
    pub fn new(id: ReqId) -> Self {
        Attempts {
            first: id,
            later: Vec::new(),
        }
    }

    /// Another attempt, dropping the oldest past [`ATTEMPTS_MAX`].
    pub fn push(&mut self, id: ReqId) {
        if self.later.len() + 1 >= ATTEMPTS_MAX {
            self.first = self.later.remove(0);
        }
        self.later.push(id);
        assert!(self.len() <= ATTEMPTS_MAX);
    }

    /// How many attempts.
    pub fn len(&self) -> usize {
        1 + self.later.len()
    }

    /// Never empty (there is always a first attempt).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl IntoIterator for Attempts {
    type Item = ReqId;
    type IntoIter = std::iter::Chain<std::iter::Once<ReqId>, std::vec::IntoIter<ReqId>>;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self.first).chain(self.later)
    }
}

/// One waiting request.
#[derive(Debug)]
pub struct Waiter<C> {
    /// The attempts to answer.
    pub ids: Attempts,
    /// What goes in the log for it.
    pub proposal: Proposal<C>,
    /// Where the proposal went.
    pub sent: Sent,
}

/// The waiting set, bounded.
#[derive(Debug)]
pub struct Waiting<C> {
    waiters: BTreeMap<WaitKey, Waiter<C>>,
    max: usize,
}

impl<C> Waiting<C> {
    /// An empty set holding at most `max` requests.
    pub fn new(max: usize) -> Self {
        Waiting {
            waiters: BTreeMap::new(),
            max,
        }
    }

    /// Requests held.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// True if none is held.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// True if `key` is held.
    pub fn contains(&self, key: &WaitKey) -> bool {
        self.waiters.contains_key(key)
    }

    /// True if a new request would be over the bound.
    pub fn is_full(&self) -> bool {
        self.waiters.len() >= self.max
    }

    /// Another attempt of a request already held: answer `id` too. Returns false if `key` is
    /// not held.
    pub fn join(&mut self, key: WaitKey, id: ReqId) -> bool {
        let Some(waiter) = self.waiters.get_mut(&key) else {
            return false;
        };
        waiter.ids.push(id);
        true
    }

    /// Holds a new request.
    ///
    /// # Panics
    /// If the set is full or `key` is held: the caller checks [`Waiting::is_full`] and
    /// [`Waiting::join`] first.
    pub fn insert(&mut self, key: WaitKey, waiter: Waiter<C>) {
        assert!(!self.is_full(), "the waiting set is bounded");
        assert!(
            self.waiters.insert(key, waiter).is_none(),
            "one waiter per request"
        );
    }

    /// Stops holding `key`, returning it.
    pub fn take(&mut self, key: &WaitKey) -> Option<Waiter<C>> {
        self.waiters.remove(key)
    }

    /// Stops holding every command of `session` numbered below `seq`: the client has moved on
    /// (it has one command outstanding per session), so nobody waits for their answers.
    pub fn drop_older(&mut self, session: u64, seq: u64) {
        let first = WaitKey::Command { session, seq: 0 };
        let older: Vec<WaitKey> = self
            .waiters
            .range(first..WaitKey::Command { session, seq })
            .map(|(key, _)| *key)
            .collect();
        for key in older {
            self.waiters.remove(&key);
        }
    }

    /// Every waiter, to update where it was sent.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&WaitKey, &mut Waiter<C>)> {
        self.waiters.iter_mut()
    }

    /// The keys held, in order.
    pub fn keys(&self) -> Vec<WaitKey> {
        self.waiters.keys().copied().collect()
    }

    /// Every waiter, emptying the set.
    pub fn drain(&mut self) -> impl Iterator<Item = (WaitKey, Waiter<C>)> {
        std::mem::take(&mut self.waiters).into_iter()
    }

    /// The proposals held.
    pub fn proposals(&self) -> impl Iterator<Item = &Proposal<C>> {
        self.waiters.values().map(|w| &w.proposal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(id: u64) -> Waiter<()> {
        Waiter {
            ids: Attempts::new(ReqId(id)),
            proposal: Proposal::Register {
                origin: rpc::NodeId(0),
                boot: (0, 0),
                waiter: id,
            },
            sent: Sent::Nowhere,
        }
    }

    /// Retries of one request join its entry instead of adding one each, and keep at most
    /// ATTEMPTS_MAX handles.
    #[test]
    fn retries_join_one_entry() {
        let mut w = Waiting::new(2);
        let key = WaitKey::Command { session: 1, seq: 1 };
        assert!(!w.join(key, ReqId(1)));
        w.insert(key, waiter(1));
        for id in 2..10 {
            assert!(w.join(key, ReqId(id)));
        }
        assert_eq!(w.len(), 1);
        let held = w.take(&key).expect("held");
        assert_eq!(
            held.ids.into_iter().collect::<Vec<_>>(),
            vec![ReqId(6), ReqId(7), ReqId(8), ReqId(9)],
            "the newest attempts"
        );
    }

    #[test]
    fn older_commands_of_a_session_are_dropped() {
        let mut w = Waiting::new(10);
        for (session, seq) in [(1, 1), (1, 2), (1, 3), (2, 1)] {
            w.insert(WaitKey::Command { session, seq }, waiter(seq));
        }
        w.insert(WaitKey::Register(1), waiter(9));
        w.drop_older(1, 3);
        assert_eq!(
            w.keys(),
            vec![
                WaitKey::Register(1),
                WaitKey::Command { session: 1, seq: 3 },
                WaitKey::Command { session: 2, seq: 1 }
            ]
        );
        assert!(w.is_full() == (w.len() >= 10));
    }
}
