//! Splitting a history into independently checkable parts: the connected components of
//! partitions that operations couple.
//!
//! An operation that spans several partitions ([`Model::partitions`]) must be checked together
//! with every operation on any of them, and, transitively, with every operation on a partition
//! that those share with yet another multi-partition operation. A union-find over the names of
//! the whole history finds these components. When every operation names one partition, each
//! component is one partition, exactly as a per-key split.

use std::collections::HashMap;

use crate::history::{History, OpId};
use crate::model::Model;

/// Operations that must be checked together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Component {
    /// The component's partition names, sorted. The first one names the component in reports.
    pub(crate) keys: Vec<String>,
    /// Its operations, in recording order.
    pub(crate) ops: Vec<OpId>,
}

impl Component {
    /// The name reports use: the smallest partition name, which is unique since every name
    /// belongs to exactly one component.
    pub(crate) fn name(&self) -> &str {
        self.keys.first().map_or("", String::as_str)
    }
}

/// The components of `history`'s operations, sorted by name so that they are checked, and
/// reported, in the same order on every run. Pending read-only operations are left out: they
/// constrain nothing, so they should not couple partitions either.
pub(crate) fn components<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
) -> Vec<Component> {
    let mut names = Names::default();
    // The first partition of each kept operation; its others are merged into it.
    let mut anchors: Vec<(OpId, usize)> = Vec::with_capacity(history.len());
    for (id, op) in history.iter() {
        if op.is_pending() && model.is_read_only(op.input()) {
            continue;
        }
        let mut spanned = model.partitions(op.input()).into_iter();
        let first = spanned.next();
        let anchor = names.index(first.unwrap_or_else(|| panic!("{id} names no partition")));
        for name in spanned {
            let other = names.index(name);
            names.union(anchor, other);
        }
        anchors.push((id, anchor));
    }
    collect(names, &anchors)
}

/// Groups operations by the root of their anchor partition.
fn collect(mut names: Names, anchors: &[(OpId, usize)]) -> Vec<Component> {
    let mut component_of_root: HashMap<usize, usize> = HashMap::new();
    let mut components: Vec<Component> = Vec::new();
    for index in 0..names.names.len() {
        let root = names.find(index);
        let slot = *component_of_root.entry(root).or_insert_with(|| {
            components.push(Component {
                keys: Vec::new(),
                ops: Vec::new(),
            });
            components.len() - 1
        });
        components[slot].keys.push(names.names[index].clone());
    }
    for &(id, anchor) in anchors {
        let root = names.find(anchor);
        let slot = component_of_root[&root];
        components[slot].ops.push(id);
    }
    for component in &mut components {
        component.keys.sort_unstable();
        assert!(!component.ops.is_empty(), "a name with no operation");
    }
    components.sort_unstable_by(|a, b| a.name().cmp(b.name()));
    components
}

/// Union-find over partition names, with path halving and union by size.
#[derive(Debug, Default)]
struct Names {
    index_of: HashMap<String, usize>,
    names: Vec<String>,
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl Names {
    /// The index of `name`, adding it as its own set if new.
    fn index(&mut self, name: String) -> usize {
        if let Some(&index) = self.index_of.get(&name) {
            return index;
        }
        let index = self.names.len();
        self.index_of.insert(name.clone(), index);
        self.names.push(name);
        self.parent.push(index);
        self.size.push(1);
        index
    }

    fn find(&mut self, mut index: usize) -> usize {
        while self.parent[index] != index {
            let grandparent = self.parent[self.parent[index]];
            self.parent[index] = grandparent;
            index = grandparent;
        }
        index
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
        assert_eq!(self.find(b), a, "union did not merge");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{KvInput, KvModel, KvOutput};

    #[test]
    fn single_key_operations_split_per_key_in_key_order() {
        let mut history = History::new();
        let b = history.record(1, KvInput::put("b", "x"), 0, KvOutput::Ok, 1);
        let a = history.record(1, KvInput::put("a", "x"), 2, KvOutput::Ok, 3);
        let b2 = history.record(2, KvInput::get("b"), 4, KvOutput::value("x"), 5);
        history.invoke(3, KvInput::get("c"), 6);
        let parts = components(&KvModel, &history);
        let expected = vec![
            Component {
                keys: vec!["a".to_owned()],
                ops: vec![a],
            },
            Component {
                keys: vec!["b".to_owned()],
                ops: vec![b, b2],
            },
        ];
        assert_eq!(parts, expected, "the pending read of c is dropped");
    }

    #[test]
    fn union_find_merges_transitively() {
        let mut names = Names::default();
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|name| names.index(name.to_owned()));
        assert_eq!(names.index("a".to_owned()), a);
        names.union(a, b);
        names.union(c, b);
        assert_eq!(names.find(a), names.find(c));
        assert_ne!(names.find(a), names.find(d));
    }
}
