//! The event queue: events ordered by (virtual time, insertion number).
//!
//! The insertion number breaks ties, so two events at the same instant always run in the order
//! they were scheduled: the order never depends on heap internals, which is what makes a run
//! replayable. The heap holds only small keys; the events themselves sit in a slab and never move
//! while the heap is reordered, so a large message costs nothing extra per queue operation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A min-queue of `T` by (time, insertion order).
#[derive(Debug)]
pub(crate) struct EventQueue<T> {
    heap: BinaryHeap<Reverse<Key>>,
    slab: Vec<Option<T>>,
    free: Vec<u32>,
    seq_next: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    at_us: u64,
    seq: u64,
    slot: u32,
}

impl<T> EventQueue<T> {
    pub(crate) fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq_next: 0,
        }
    }

    /// Schedules `event` at `at_us`, after every event already scheduled for that instant.
    pub(crate) fn push(&mut self, at_us: u64, event: T) {
        let slot = match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slab[slot as usize].is_none());
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slab.len()).expect("fewer than 2^32 queued events");
                self.slab.push(Some(event));
                slot
            }
        };
        self.heap.push(Reverse(Key {
            at_us,
            seq: self.seq_next,
            slot,
        }));
        self.seq_next += 1;
    }

    /// The time of the earliest event, if any.
    pub(crate) fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(key)| key.at_us)
    }

    /// Removes and returns the earliest event with its time.
    pub(crate) fn pop(&mut self) -> Option<(u64, T)> {
        let Reverse(key) = self.heap.pop()?;
        let event = self.slab[key.slot as usize]
            .take()
            .expect("a queued key has its event");
        self.free.push(key.slot);
        Some((key.at_us, event))
    }

    /// How many events are queued.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The queue pops in (time, insertion) order whatever the interleaving of pushes and pops.
        #[test]
        fn pops_in_time_then_insertion_order(
            ops in proptest::collection::vec((0u64..20, any::<bool>()), 0..200)
        ) {
            let mut queue = EventQueue::new();
            let mut model: Vec<(u64, usize)> = Vec::new();
            for (i, (at, pop)) in ops.into_iter().enumerate() {
                if pop {
                    model.sort();
                    let want = if model.is_empty() { None } else { Some(model.remove(0)) };
                    prop_assert_eq!(queue.pop(), want);
                } else {
                    queue.push(at, i);
                    model.push((at, i));
                }
                prop_assert_eq!(queue.len(), model.len());
            }
        }
    }
}
