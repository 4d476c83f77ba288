//! Who can reach whom: partitions into groups (SPEC §1.3), one-way cuts, deaf nodes (§1.4) and,
//! for the tests that need it, cuts between a client and a server.

use rpc::{ClientId, NodeId};
use std::collections::BTreeSet;

/// Marks a node that belongs to no partition group: it reaches nobody but itself.
const ISOLATED: u32 = u32::MAX;

/// The reachability state of the simulated network.
#[derive(Clone, Debug)]
pub(crate) struct Reach {
    /// The partition group of each node; two nodes can talk iff they share a group.
    group: Vec<u32>,
    /// `cut[from * n + to]`: a one-way cut from `from` to `to`, on top of the partition.
    cut: Vec<bool>,
    /// Nodes nobody can open a connection to; they can still send, and answers reach them.
    deaf: Vec<bool>,
    /// Client–server pairs that cannot talk, in either direction.
    client_cuts: BTreeSet<(ClientId, NodeId)>,
}

impl Reach {
    /// A fully connected network of `n` nodes.
    pub(crate) fn new(n: usize) -> Self {
        Reach {
            group: vec![0; n],
            cut: vec![false; n * n],
            deaf: vec![false; n],
            client_cuts: BTreeSet::new(),
        }
    }

    fn n(&self) -> usize {
        self.group.len()
    }

    /// True if a message from `from` to `to` passes partitions and cuts. A node always reaches
    /// itself unless a test cut that explicitly.
    pub(crate) fn can_reach(&self, from: NodeId, to: NodeId) -> bool {
        if self.cut[from.index() * self.n() + to.index()] {
            return false;
        }
        if from == to {
            return true;
        }
        let group = self.group[from.index()];
        group != ISOLATED && group == self.group[to.index()]
    }

    pub(crate) fn is_deaf(&self, node: NodeId) -> bool {
        self.deaf[node.index()]
    }

    pub(crate) fn client_can_talk(&self, client: ClientId, node: NodeId) -> bool {
        self.client_cuts.is_empty() || !self.client_cuts.contains(&(client, node))
    }

    /// Splits the nodes into `groups`; nodes in no group are isolated.
    ///
    /// # Panics
    /// If a node is unknown or appears twice.
    pub(crate) fn partition(&mut self, groups: &[&[NodeId]]) {
        let mut placed = vec![false; self.n()];
        self.group.fill(ISOLATED);
        for (index, members) in groups.iter().enumerate() {
            let index = u32::try_from(index).expect("fewer than 2^32 groups");
            for &node in members.iter() {
                assert!(node.index() < self.n(), "partition: unknown node {node}");
                assert!(!placed[node.index()], "partition: {node} is in two groups");
                placed[node.index()] = true;
                self.group[node.index()] = index;
            }
        }
    }

    /// Everybody in one group again, and every one-way cut removed. Deafness and client cuts are
    /// separate faults and stay.
    pub(crate) fn heal(&mut self) {
        self.group.fill(0);
        self.cut.fill(false);
    }

    pub(crate) fn set_cut(&mut self, from: NodeId, to: NodeId, cut: bool) {
        let n = self.n();
        self.cut[from.index() * n + to.index()] = cut;
    }

    pub(crate) fn set_deaf(&mut self, node: NodeId, deaf: bool) {
        self.deaf[node.index()] = deaf;
    }

    pub(crate) fn set_client_cut(&mut self, client: ClientId, node: NodeId, cut: bool) {
        if cut {
            self.client_cuts.insert((client, node));
        } else {
            self.client_cuts.remove(&(client, node));
        }
    }

    pub(crate) fn heal_clients(&mut self) {
        self.client_cuts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(0);
    const B: NodeId = NodeId(1);
    const C: NodeId = NodeId(2);

    #[test]
    fn groups_reach_only_inside_and_unplaced_nodes_are_isolated() {
        let mut reach = Reach::new(3);
        assert!(reach.can_reach(A, C));
        reach.partition(&[&[A, B]]);
        assert!(reach.can_reach(A, B) && reach.can_reach(B, A));
        assert!(!reach.can_reach(A, C) && !reach.can_reach(C, A) && !reach.can_reach(C, B));
        assert!(
            reach.can_reach(C, C),
            "an isolated node still reaches itself"
        );
        reach.heal();
        assert!(reach.can_reach(C, A));
    }

    #[test]
    fn cut_is_one_way() {
        let mut reach = Reach::new(2);
        reach.set_cut(A, B, true);
        assert!(!reach.can_reach(A, B));
        assert!(reach.can_reach(B, A));
        reach.set_cut(A, B, false);
        assert!(reach.can_reach(A, B));
    }

    #[test]
    #[should_panic(expected = "in two groups")]
    fn partition_rejects_a_node_in_two_groups() {
        Reach::new(2).partition(&[&[A], &[A, B]]);
    }
}
