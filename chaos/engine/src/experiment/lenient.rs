//! Every structural error of an experiment file at once.
//!
//! serde stops at the first error. To name them all, the document is read as a YAML tree and
//! deserialized again and again: after each error the part that failed is cut out (a sequence
//! element, a map key) — or, for a required top-level section, replaced by a placeholder — and
//! the next error is found, until the rest deserializes. Errors that only follow from a cut (the
//! "missing field" of a key just removed) are not reported. Paths are kept in the coordinates of
//! the original file, so every error can still be placed at file:line:column.
//!
//! Hand-written: no crate collects serde errors this way (serde_path_to_error gives the path of
//! one error, which is what this builds on).

use super::Experiment;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many errors are collected from one file.
const MAX_ERRORS: usize = 64;

/// Stand-ins for the required top-level sections, so that errors past a broken one are found.
const PLACEHOLDER: &str = "name: placeholder\nload: { rate: 1/s, duration: 1s }\n";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// The outcome of [`deserialize`].
pub(crate) struct Lenient {
    /// The experiment after the cuts (all of it when there are no problems); `None` when the
    /// root itself could not be repaired.
    pub experiment: Option<Experiment>,
    /// (path in the original file, serde's message) for each structural error, in the order found.
    pub problems: Vec<(String, String)>,
    /// Sequence elements cut out: original path of the sequence → original indices.
    removed: BTreeMap<String, BTreeSet<usize>>,
}

/// Deserializes `doc`, collecting every error instead of stopping at the first.
pub(crate) fn deserialize(mut doc: Value) -> Lenient {
    let placeholder: Value = serde_yaml::from_str(PLACEHOLDER).expect("the placeholder is valid YAML");
    let mut out = Lenient { experiment: None, problems: Vec::new(), removed: BTreeMap::new() };
    // (original path of a map, key) cut out: a later "missing field" for it is a consequence.
    let mut cut_keys: BTreeSet<(String, String)> = BTreeSet::new();
    for _ in 0..MAX_ERRORS {
        // Deserialize from text, as a file is read, so that scalars are typed exactly as there.
        let text = serde_yaml::to_string(&doc).unwrap_or_default();
        let error = match serde_path_to_error::deserialize::<_, Experiment>(serde_yaml::Deserializer::from_str(&text)) {
            Ok(exp) => {
                out.experiment = Some(exp);
                return out;
            }
            Err(e) => e,
        };
        let segs: Vec<Seg> = error
            .path()
            .iter()
            .map_while(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let message = without_path(super::parse::serde_message(error.inner()));
        let original = out.original_segs(&segs);
        let here = render(&original);
        let consequence = match missing_field(&message) {
            // Missing because it was cut out, or because a misspelling of it was reported.
            Some(key) => {
                cut_keys.contains(&(here.clone(), key.to_string()))
                    || out
                        .problems
                        .iter()
                        .any(|(p, m)| p.starts_with(&here) && m.contains(&format!("did you mean `{key}`")))
            }
            // A container that no longer makes sense because something inside it was cut.
            None => out.problems.iter().any(|(p, _)| is_inside(p, &here)),
        };
        if !consequence {
            out.problems.push((here.clone(), message.clone()));
        }
        let cut = match missing_field(&message) {
            Some(key) if segs.is_empty() => {
                // A required section is missing at the root: put the placeholder in.
                match (doc.as_mapping_mut(), placeholder.get(key)) {
                    (Some(root), Some(stand_in)) => root.insert(Value::from(key), stand_in.clone()).is_none(),
                    _ => false,
                }
            }
            _ => out.cut(&mut doc, &segs, &placeholder, &mut cut_keys),
        };
        if !cut {
            return out;
        }
    }
    out
}

impl Lenient {
    fn original_segs(&self, segs: &[Seg]) -> Vec<Seg> {
        let mut original = Vec::with_capacity(segs.len());
        for seg in segs {
            let seg = match seg {
                Seg::Index(i) => {
                    let mut index = *i;
                    for cut in self.removed.get(&render(&original)).into_iter().flatten() {
                        if *cut <= index {
                            index += 1;
                        }
                    }
                    Seg::Index(index)
                }
                key => key.clone(),
            };
            original.push(seg);
        }
        original
    }

    /// Cuts the node at `segs` (or the deepest node on its way that exists) out of `doc`.
    /// False when nothing could be cut (the error is at the root).
    fn cut(
        &mut self,
        doc: &mut Value,
        segs: &[Seg],
        placeholder: &Value,
        cut_keys: &mut BTreeSet<(String, String)>,
    ) -> bool {
        let reachable = (0..=segs.len()).rev().find(|&n| node(doc, &segs[..n]).is_some()).unwrap_or(0);
        let Some((last, parent)) = segs[..reachable].split_last() else { return false };
        let parent_original = self.original_segs(parent);
        let Some(parent_node) = node_mut(doc, parent) else { return false };
        match (last, parent_node) {
            (Seg::Index(i), Value::Sequence(items)) if *i < items.len() => {
                items.remove(*i);
                let original = match self.original_segs(&segs[..reachable]).pop() {
                    Some(Seg::Index(o)) => o,
                    _ => *i,
                };
                self.removed.entry(render(&parent_original)).or_default().insert(original);
                true
            }
            (Seg::Key(key), Value::Mapping(map)) => {
                if let (true, Some(stand_in)) = (parent.is_empty(), placeholder.get(key.as_str())) {
                    map.insert(Value::from(key.as_str()), stand_in.clone());
                    return true;
                }
                cut_keys.insert((render(&parent_original), key.clone()));
                map.remove(key.as_str()).is_some()
            }
            _ => false,
        }
    }
}

fn node<'a>(doc: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    segs.iter().try_fold(doc, |v, seg| match seg {
        Seg::Key(k) => v.get(k.as_str()),
        Seg::Index(i) => v.get(*i),
    })
}

fn node_mut<'a>(doc: &'a mut Value, segs: &[Seg]) -> Option<&'a mut Value> {
    segs.iter().try_fold(doc, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

/// serde_yaml's message without the path it starts with (that path is of the repaired text, not
/// of the file; the caller names the place).
fn without_path(message: String) -> String {
    let is_path = |p: &str| p.chars().all(|c| c.is_alphanumeric() || "_-.[]".contains(c));
    match message.split_once(": ") {
        Some((path, rest)) if is_path(path) => rest.to_string(),
        _ => message,
    }
}

/// Whether `path` lies strictly inside `container`.
fn is_inside(path: &str, container: &str) -> bool {
    container.is_empty() && !path.is_empty()
        || path.strip_prefix(container).is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// "missing field `k`" → k.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// `a.b[0].c` — the form [`super::locate::SourceMap`] and the validator use.
fn render(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(src: &str) -> Vec<(String, String)> {
        deserialize(serde_yaml::from_str(src).unwrap()).problems
    }

    #[test]
    fn every_bad_key_and_value_is_found_in_one_pass() {
        let src = "name: x\nload: { rate: 10/s, duraton: 5s }\nfaults:\n  - { at: 1s, for: 1s, target: cdn, fault: { kill: {} }, colour: red }\n  - { at: soon, for: 1s, target: cdn, fault: reset }\n  - { at: 2s, for: 1s, target: cdn, fault: resett }\ngates:\n  - { kpi: play_sucess, at_least: 0.9 }\n";
        let found = problems(src);
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["load.duraton", "faults[0].colour", "faults[1].at", "faults[2].fault", "gates[0].kpi"],
            "{found:?}"
        );
        assert!(found.iter().all(|(_, m)| !m.starts_with("missing field")), "{found:?}");
    }

    #[test]
    fn a_missing_required_section_does_not_hide_later_errors() {
        let found = problems("name: x\nfaults:\n  - { at: 1s, for: 1s, target: cdn, fault: resett }\n");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().any(|(p, m)| p.is_empty() && m.contains("missing field `load`")), "{found:?}");
        assert!(found.iter().any(|(p, m)| p == "faults[0].fault" && m.contains("`reset`")), "{found:?}");
    }

    #[test]
    fn paths_after_a_cut_element_are_renumbered_to_the_file() {
        let mut lenient = deserialize(serde_yaml::from_str("name: x\nload: { rate: 1/s, duration: 1s }").unwrap());
        lenient.removed.entry("faults".into()).or_default().extend([0, 2]);
        let original = |segs: &[Seg]| render(&lenient.original_segs(segs));
        let key = |k: &str| Seg::Key(k.to_string());
        assert_eq!(original(&[key("faults"), Seg::Index(0), key("target")]), "faults[1].target");
        assert_eq!(original(&[key("faults"), Seg::Index(1)]), "faults[3]");
        assert_eq!(original(&[key("gates"), Seg::Index(0)]), "gates[0]");
        assert!(lenient.problems.is_empty() && lenient.experiment.is_some());
    }
}
