//! Properties of [`rebalance`] (STYLE §2.9 tier 1): coverage, balance and minimality after
//! random sequences of joins, leaves and moves, for 1 to 1,024 shards and up to 100 groups;
//! minimality against two oracles that do not share the function's reasoning: an exhaustive
//! search over every assignment (tiny cases) and over every choice of which groups get the
//! extra shards (up to 12 groups).

use super::*;
use proptest::prelude::*;

fn set(gids: &[i64]) -> BTreeSet<Gid> {
    gids.iter().map(|&g| Gid(g)).collect()
}

fn moved(before: &[Gid], after: &[Gid]) -> usize {
    before.iter().zip(after).filter(|(a, b)| a != b).count()
}

/// Shards each group of `groups` owns in `shards`.
fn counts(shards: &[Gid], groups: &BTreeSet<Gid>) -> BTreeMap<Gid, usize> {
    let mut counts: BTreeMap<Gid, usize> = groups.iter().map(|&g| (g, 0)).collect();
    for gid in shards {
        if let Some(c) = counts.get_mut(gid) {
            *c += 1;
        }
    }
    counts
}

/// Coverage, balance, and that no group both gives and receives.
fn check_valid(before: &[Gid], groups: &BTreeSet<Gid>, after: &[Gid]) -> Result<(), String> {
    if after.len() != before.len() {
        return Err(format!("{} shards became {}", before.len(), after.len()));
    }
    if groups.is_empty() {
        return match after.iter().all(|&g| g == Gid::NONE) {
            true => Ok(()),
            false => Err(format!("no groups, yet {after:?}")),
        };
    }
    if let Some(bad) = after.iter().find(|g| !groups.contains(g)) {
        return Err(format!("shard at {bad}, not a present group {groups:?}"));
    }
    let c = counts(after, groups);
    let (min, max) = (c.values().min(), c.values().max());
    if max.zip(min).is_some_and(|(max, min)| max - min > 1) {
        return Err(format!("unbalanced: {c:?}"));
    }
    let gained: BTreeSet<Gid> = before
        .iter()
        .zip(after)
        .filter(|(b, a)| b != a)
        .map(|(_, &a)| a)
        .collect();
    for (shard, (&old, &new)) in before.iter().zip(after).enumerate() {
        if old != new && gained.contains(&old) {
            return Err(format!(
                "group {old} gave shard {shard} and also received one"
            ));
        }
    }
    exchange_optimal(before, groups, &c)
}

/// No better choice of which groups hold `n / g + 1` shards: no group got the extra shard
/// while owning at most `n / g` before, when another owning more than `n / g` did not. With
/// no group both giving and receiving, this is what makes the move count the least (a swap
/// of the two would keep one more shard in place); it covers the group counts the target
/// oracle cannot enumerate.
fn exchange_optimal(
    before: &[Gid],
    groups: &BTreeSet<Gid>,
    after_counts: &BTreeMap<Gid, usize>,
) -> Result<(), String> {
    let base = before.len() / groups.len();
    let owned = counts(before, groups);
    let needless = after_counts
        .iter()
        .find(|&(g, &f)| f == base + 1 && owned[g] <= base);
    let denied = after_counts
        .iter()
        .find(|&(g, &f)| f == base && owned[g] > base);
    match needless.zip(denied) {
        Some(((a, _), (b, _))) => Err(format!(
            "group {a} got an extra shard it did not own, group {b} owned one and lost it"
        )),
        None => Ok(()),
    }
}

/// The fewest moves to a balanced assignment, by trying every way to choose the `n % g`
/// groups that get one shard more: `n - Σ min(owned, target)`.
fn min_moves_by_targets(before: &[Gid], groups: &BTreeSet<Gid>) -> usize {
    let n = before.len();
    if groups.is_empty() {
        return before.iter().filter(|&&g| g != Gid::NONE).count();
    }
    let owned: Vec<usize> = counts(before, groups).into_values().collect();
    let (base, extra) = (n / owned.len(), n % owned.len());
    let mut best = n;
    for mask in 0u32..(1 << owned.len()) {
        if mask.count_ones() as usize != extra {
            continue;
        }
        let kept: usize = owned
            .iter()
            .enumerate()
            .map(|(i, &c)| c.min(base + usize::from(mask & (1 << i) != 0)))
            .sum();
        best = best.min(n - kept);
    }
    best
}

/// The fewest moves to a balanced, covering assignment, by trying every assignment.
fn min_moves_exhaustive(before: &[Gid], groups: &BTreeSet<Gid>) -> usize {
    let gids: Vec<Gid> = groups.iter().copied().collect();
    let total = gids.len().pow(before.len() as u32);
    let mut best = usize::MAX;
    for code in 0..total {
        let mut rest = code;
        let assignment: Vec<Gid> = (0..before.len())
            .map(|_| {
                let g = gids[rest % gids.len()];
                rest /= gids.len();
                g
            })
            .collect();
        let c = counts(&assignment, groups);
        let (min, max) = (c.values().min(), c.values().max());
        if max.zip(min).is_some_and(|(max, min)| max - min <= 1) {
            best = best.min(moved(before, &assignment));
        }
    }
    best
}

#[test]
fn first_join_takes_every_shard_and_last_leave_returns_them() {
    let zero = vec![Gid::NONE; 10];
    assert_eq!(rebalance(&zero, &set(&[1])), vec![Gid(1); 10]);
    assert_eq!(rebalance(&[Gid(1); 10], &set(&[])), zero);
}

#[test]
fn second_join_takes_the_highest_shards_of_the_first() {
    let after = rebalance(&[Gid(1); 10], &set(&[1, 2]));
    let mut expected = vec![Gid(1); 5];
    expected.extend([Gid(2); 5]);
    assert_eq!(after, expected);
}

#[test]
fn more_groups_than_shards_leaves_some_without() {
    let after = rebalance(&[Gid(1), Gid(2), Gid(3)], &set(&[1, 2, 3, 4, 5]));
    assert_eq!(after, vec![Gid(1), Gid(2), Gid(3)]);
    let after = rebalance(&[Gid(1), Gid(2), Gid(3)], &set(&[2, 4, 5, 6]));
    assert_eq!(after.iter().filter(|&&g| g == Gid(2)).count(), 1);
    assert_eq!(moved(&[Gid(1), Gid(2), Gid(3)], &after), 2);
}

/// One step of a random history: the index picks a gid or shard modulo what exists.
#[derive(Clone, Debug)]
enum Step {
    Join(i64),
    Leave(usize),
    Move(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1i64..=100).prop_map(Step::Join),
        2 => any::<usize>().prop_map(Step::Leave),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(s, g)| Step::Move(s, g)),
    ]
}

// proptest's default of 256 cases per property; `PROPTEST_CASES=N` for a soak.
proptest! {
    /// Random histories of joins, leaves and moves: after every Join and Leave the assignment
    /// covers, balances and moves no more than the fewest possible; after one that followed a
    /// balanced assignment, only the joining group receives (Join) or only the leaving group
    /// gives (Leave). Minimality is checked against the target oracle up to 12 groups.
    #[test]
    fn histories_stay_balanced_covered_and_minimal(
        n in 1usize..=1024,
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut shards = vec![Gid::NONE; n];
        let mut groups = BTreeSet::new();
        let mut balanced = true;
        for step in steps {
            let before = shards.clone();
            let changed = match step {
                Step::Join(gid) => groups.insert(Gid(gid)).then_some(Some(Gid(gid))),
                Step::Leave(i) if !groups.is_empty() => {
                    let gid = *groups.iter().nth(i % groups.len()).expect("in range");
                    groups.remove(&gid);
                    Some(Some(gid))
                }
                Step::Move(s, g) if !groups.is_empty() => {
                    shards[s % n] = *groups.iter().nth(g % groups.len()).expect("in range");
                    balanced = false;
                    None
                }
                Step::Leave(_) | Step::Move(..) => None,
            };
            let Some(Some(gid)) = changed else { continue };
            shards = rebalance(&before, &groups);
            check_valid(&before, &groups, &shards).map_err(TestCaseError::fail)?;
            if groups.len() <= 12 {
                prop_assert_eq!(moved(&before, &shards), min_moves_by_targets(&before, &groups));
            }
            if balanced {
                for (s, (&b, &a)) in before.iter().zip(&shards).enumerate() {
                    if b != a && groups.contains(&gid) {
                        prop_assert_eq!(a, gid, "join of {}: shard {} moved {}->{}", gid, s, b, a);
                    }
                    if b != a && !groups.contains(&gid) {
                        prop_assert_eq!(b, gid, "leave of {}: shard {} moved {}->{}", gid, s, b, a);
                    }
                }
            }
            prop_assert_eq!(rebalance(&shards, &groups), shards.clone(), "not a fixed point");
            balanced = true;
        }
    }

    /// Any assignment (owners present, absent or none) over any group set: the result is
    /// valid and moves exactly as few shards as an exhaustive search over every balanced
    /// assignment finds.
    #[test]
    fn matches_the_exhaustive_minimum_on_small_cases(
        before in prop::collection::vec(0i64..=6, 1..=6),
        gids in prop::collection::btree_set(1i64..=6, 1..=4),
    ) {
        let before: Vec<Gid> = before.into_iter().map(Gid).collect();
        let groups: BTreeSet<Gid> = gids.into_iter().map(Gid).collect();
        let after = rebalance(&before, &groups);
        check_valid(&before, &groups, &after).map_err(TestCaseError::fail)?;
        prop_assert_eq!(moved(&before, &after), min_moves_exhaustive(&before, &groups));
        prop_assert_eq!(moved(&before, &after), min_moves_by_targets(&before, &groups));
    }

    /// Any assignment of up to 1,024 shards over up to 100 groups (owned by present, departed
    /// or no groups) is rebalanced validly, deterministically, and with the fewest moves when
    /// the target oracle can enumerate the groups.
    #[test]
    fn arbitrary_assignments_rebalance_validly(
        before in prop::collection::vec(0i64..=120, 1..=1024),
        gids in prop::collection::btree_set(1i64..=120, 0..=100),
    ) {
        let before: Vec<Gid> = before.into_iter().map(Gid).collect();
        let groups: BTreeSet<Gid> = gids.into_iter().map(Gid).collect();
        let after = rebalance(&before, &groups);
        check_valid(&before, &groups, &after).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&rebalance(&before, &groups), &after);
        if groups.len() <= 12 {
            prop_assert_eq!(moved(&before, &after), min_moves_by_targets(&before, &groups));
        }
    }
}
