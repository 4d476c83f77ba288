//! Client sessions: what makes a command at-most-once across retries and replicas.
//!
//! A client first *registers*: a `Register` proposal goes through the log, and applying it
//! opens a session whose id is the next number of a counter kept in the replicated state. So
//! two clients can never get the same session: ids are handed out in log order, once each, the
//! same on every replica, with no randomness involved (TigerBeetle's client sessions work the
//! same way). The client then numbers its commands 1, 2, 3, … within the session, one at a
//! time; the table keeps, per session, the last number applied and its answer.
//!
//! # Invariants
//! - Session ids only grow; an id is handed out once.
//! - A command runs at most once: a repeat of the session's last command is answered from the
//!   table, an older one is stale, and a command of a session not in the table does not run.
//! - The table holds at most `max` sessions; past it the session idle longest (by log order)
//!   is evicted, the same one on every replica.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bytes counted per session besides its answer, in [`Sessions::retained_bytes`].
const SESSION_OVERHEAD_BYTES: usize = 96;

/// The session table, part of the replicated state and of every snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions<O> {
    /// The id the next registration gets. Starts at 1, so 0 is never a session.
    next_id: u64,
    /// Open sessions by id.
    open: BTreeMap<u64, Session<O>>,
    /// Open sessions by when they last ran a command (or registered): oldest first.
    by_age: BTreeMap<u64, u64>,
    /// Counts registrations and commands run: the clock of `by_age`.
    clock: u64,
    /// The most sessions held.
    max: usize,
}

/// One open session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Session<O> {
    /// The last command number applied (0: none yet).
    last_seq: u64,
    /// Its answer.
    output: Option<O>,
    /// Its place in `by_age`.
    stamp: u64,
}

/// What the table says of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<'a, O> {
    /// The session is not open (evicted, or never registered): the command must not run.
    Unknown,
    /// Not applied yet: run it.
    Fresh,
    /// The session's last command: answer this again.
    Repeat(&'a O),
    /// Older than the session's last command: the client has moved on.
    Stale,
}

impl<O: Clone> Sessions<O> {
    /// An empty table holding at most `max` sessions.
    pub fn new(max: usize) -> Self {
        assert!(max >= 1, "a session table holds at least one session");
        Sessions {
            next_id: 1,
            open: BTreeMap::new(),
            by_age: BTreeMap::new(),
            clock: 0,
            max,
        }
    }

    /// Opens a session and returns its id, evicting the session idle longest past `max`.
    pub fn register(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let stamp = self.tick();
        let session = Session {
            last_seq: 0,
            output: None,
            stamp,
        };
        assert!(
            self.open.insert(id, session).is_none(),
            "session ids are used once"
        );
        self.by_age.insert(stamp, id);
        self.evict_past_max();
        id
    }

    /// What the table says of command `seq` of `session`.
    pub fn lookup(&self, session: u64, seq: u64) -> Lookup<'_, O> {
        let Some(open) = self.open.get(&session) else {
            return Lookup::Unknown;
        };
        if seq > open.last_seq {
            Lookup::Fresh
        } else if seq == open.last_seq {
            match &open.output {
                Some(output) => Lookup::Repeat(output),
                // Command 0 is the registration itself: no command has that number.
                None => Lookup::Stale,
            }
        } else {
            Lookup::Stale
        }
    }

    /// True if `session` was handed out at some point (it may have been evicted since).
    pub fn was_issued(&self, session: u64) -> bool {
        session >= 1 && session < self.next_id
    }

    /// Records that command `seq` of `session` ran and answered `output`.
    ///
    /// # Panics
    /// If the session is not open or `seq` is not above its last command: the caller must
    /// [`Sessions::lookup`] first and run only [`Lookup::Fresh`] commands.
    pub fn record(&mut self, session: u64, seq: u64, output: O) {
        let stamp = self.tick();
        let open = self
            .open
            .get_mut(&session)
            .expect("only commands of open sessions run");
        assert!(
            seq > open.last_seq,
            "command numbers only grow within a session"
        );
        self.by_age.remove(&open.stamp);
        open.last_seq = seq;
        open.output = Some(output);
        open.stamp = stamp;
        self.by_age.insert(stamp, session);
        debug_assert_eq!(self.open.len(), self.by_age.len());
    }

    /// Open sessions.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// True if no session is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The bytes the table holds, given each answer's size.
    pub fn retained_bytes(&self, output_bytes: impl Fn(&O) -> usize) -> usize {
        self.open
            .values()
            .map(|s| SESSION_OVERHEAD_BYTES + s.output.as_ref().map_or(0, &output_bytes))
            .sum()
    }

    /// Checks the invariants of a table that came from outside (a peer's snapshot): a table
    /// that breaks them would trip an assertion later, so it is refused at the door.
    ///
    /// # Errors
    /// The first invariant broken.
    pub fn validate(&self) -> Result<(), String> {
        if self.max == 0 || self.open.len() > self.max {
            return Err(format!(
                "{} sessions for a bound of {}",
                self.open.len(),
                self.max
            ));
        }
        if self.by_age.len() != self.open.len() {
            return Err("the age index does not mirror the open sessions".into());
        }
        for (stamp, id) in &self.by_age {
            let open = self.open.get(id).filter(|s| s.stamp == *stamp);
            if open.is_none() || *stamp > self.clock {
                return Err(format!("session {id}'s age entry {stamp} is inconsistent"));
            }
        }
        if let Some((&last, _)) = self.open.last_key_value()
            && (last >= self.next_id || self.open.contains_key(&0))
        {
            return Err(format!("session {last} was never issued"));
        }
        Ok(())
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn evict_past_max(&mut self) {
        while self.open.len() > self.max {
            let (_, oldest) = self.by_age.pop_first().expect("by_age mirrors open");
            self.open.remove(&oldest);
        }
        assert_eq!(self.open.len(), self.by_age.len(), "by_age mirrors open");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_run_at_most_once_per_session() {
        let mut t: Sessions<String> = Sessions::new(10);
        let a = t.register();
        let b = t.register();
        assert_ne!(a, b);
        assert_eq!(t.lookup(a, 1), Lookup::Fresh);
        t.record(a, 1, "x".into());
        assert_eq!(t.lookup(a, 1), Lookup::Repeat(&"x".to_string()));
        assert_eq!(t.lookup(a, 0), Lookup::Stale);
        assert_eq!(t.lookup(b, 1), Lookup::Fresh, "sessions are independent");
        assert_eq!(t.lookup(b, 0), Lookup::Stale, "0 is the registration");
        assert_eq!(t.lookup(99, 1), Lookup::Unknown);
        assert!(!t.was_issued(99) && t.was_issued(a) && !t.was_issued(0));
    }

    /// Past `max`, the session idle longest goes; a command of it is then Unknown, never
    /// answered with another session's result.
    #[test]
    fn the_session_idle_longest_is_evicted() {
        let mut t: Sessions<u64> = Sessions::new(3);
        let s: Vec<u64> = (0..3).map(|_| t.register()).collect();
        t.record(s[0], 1, 10);
        let d = t.register();
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(s[1], 1), Lookup::Unknown, "s1 was idle longest");
        assert!(t.was_issued(s[1]));
        assert_eq!(t.lookup(s[0], 1), Lookup::Repeat(&10));
        assert_eq!(t.lookup(d, 1), Lookup::Fresh);
        assert!(d > s[2], "ids only grow");
    }
}
