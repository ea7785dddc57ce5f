//! The fault timeline as a forest: steps without `after` are roots (they start `at` from the
//! end of warm-up, in parallel); a step with `after: X` is a child of X (it starts `at` after X
//! ends). Engines with orchestration (Chaos Mesh's Serial / Parallel / Suspend) follow it as it
//! is written.

use crate::experiment::Experiment;

/// A step and the steps that start after it ends.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    /// Index in `faults`.
    pub step: usize,
    pub children: Vec<Node>,
}

/// The roots of the timeline, in file order (each with its dependants, in file order).
pub(crate) fn forest(exp: &Experiment) -> Vec<Node> {
    let parent = |i: usize| {
        let after = exp.faults[i].after.as_deref()?;
        (0..exp.faults.len()).find(|&j| exp.step_name(j) == after)
    };
    // The loader refuses cycles and unknown names, so every chain ends at a root.
    fn grow(i: usize, parent: &dyn Fn(usize) -> Option<usize>, n: usize) -> Node {
        let children = (0..n).filter(|&j| parent(j) == Some(i)).map(|j| grow(j, parent, n)).collect();
        Node { step: i, children }
    }
    let n = exp.faults.len();
    (0..n).filter(|&i| parent(i).is_none()).map(|i| grow(i, &parent, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_makes_children_in_file_order() {
        let src = "name: t\nload: { rate: 1/s, duration: 60s }\nfaults:\n\
            - { name: a, at: 1s, for: 2s, target: auth, fault: reset }\n\
            - { name: b, after: a, for: 2s, target: auth, fault: reset }\n\
            - { name: c, at: 5s, for: 2s, target: auth, fault: reset }\n\
            - { name: d, after: a, at: 1s, for: 2s, target: auth, fault: reset }\n\
            - { name: e, after: b, for: 2s, target: auth, fault: reset }\n";
        let exp = crate::experiment::parse_str(src, "t", std::path::Path::new(".")).unwrap().0;
        let f = forest(&exp);
        let leaf = |step| Node { step, children: vec![] };
        let a = Node { step: 0, children: vec![Node { step: 1, children: vec![leaf(4)] }, leaf(3)] };
        assert_eq!(f, vec![a, leaf(2)]);
    }
}
