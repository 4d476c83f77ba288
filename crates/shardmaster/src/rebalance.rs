//! Rebalancing (SPEC §7.2): after a Join or a Leave, give every shard to a present group so
//! that shard counts differ by at most one, moving as few shards as possible. A pure function
//! of its arguments, with every tie broken by gid or shard order, so every replica computes the
//! same assignment.
//!
//! # Why it is minimal
//! With `n` shards and `g` groups, a balanced assignment gives every group `n / g` shards and
//! `n % g` of them one more. A group keeps at most `min(owned, target)` of the shards it owns,
//! so the fewest moves for given targets is `n - Σ min(owned, target)`, and the targets that
//! keep the most give the extra shards to the groups that own the most. This keeps exactly
//! `min(owned, target)` shards of every group, so no group both gives and receives: on a Join
//! the old groups only give, on a Leave the survivors only receive (when the configuration
//! before was balanced).

use crate::config::Gid;
use std::collections::{BTreeMap, BTreeSet};

/// The assignment after rebalancing `shards` (the owner of each shard now) over `groups`.
///
/// Every shard ends at a group of `groups` (at [`Gid::NONE`] if there is none); counts per
/// group differ by at most one; a shard moves only if its owner left or holds more than its
/// target. The extra shards (`n % g`) go to the groups that own the most, ties to the lower
/// gid; a group over its target gives away its highest-numbered shards; freed shards go in
/// shard order to the groups under their targets, in gid order.
pub fn rebalance(shards: &[Gid], groups: &BTreeSet<Gid>) -> Vec<Gid> {
    if groups.is_empty() {
        return vec![Gid::NONE; shards.len()];
    }
    let targets = targets(shards, groups);
    let mut kept: BTreeMap<Gid, usize> = groups.iter().map(|&g| (g, 0)).collect();
    let mut next = Vec::with_capacity(shards.len());
    let mut freed = Vec::new();
    for (shard, &owner) in shards.iter().enumerate() {
        match kept.get_mut(&owner) {
            Some(k) if *k < targets[&owner] => {
                *k += 1;
                next.push(owner);
            }
            _ => {
                freed.push(shard);
                next.push(Gid::NONE);
            }
        }
    }
    let mut freed = freed.into_iter();
    for (&gid, &have) in &kept {
        for shard in freed.by_ref().take(targets[&gid] - have) {
            next[shard] = gid;
        }
    }
    assert!(freed.next().is_none(), "every freed shard has a new owner");
    next
}

/// Each group's shard count after rebalancing: `n / g`, plus one for the `n % g` groups that
/// own the most now (ties to the lower gid).
fn targets(shards: &[Gid], groups: &BTreeSet<Gid>) -> BTreeMap<Gid, usize> {
    let mut owned: BTreeMap<Gid, usize> = groups.iter().map(|&g| (g, 0)).collect();
    for gid in shards {
        if let Some(count) = owned.get_mut(gid) {
            *count += 1;
        }
    }
    let mut by_owned: Vec<(Gid, usize)> = owned.into_iter().collect();
    by_owned.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let (base, extra) = (shards.len() / groups.len(), shards.len() % groups.len());
    let targets: BTreeMap<Gid, usize> = by_owned
        .iter()
        .enumerate()
        .map(|(rank, &(gid, _))| (gid, base + usize::from(rank < extra)))
        .collect();
    assert_eq!(targets.values().sum::<usize>(), shards.len());
    targets
}

#[cfg(test)]
mod tests;
