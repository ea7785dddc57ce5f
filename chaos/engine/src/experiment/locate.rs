//! Where each value of a YAML document is: a map from paths (`faults[0].target`) to positions,
//! so that errors found after deserialization can still name file:line:column.

use saphyr_parser::{Event, Parser};
use std::collections::HashMap;

/// Positions (1-based line and column) of the nodes of a YAML document, by path.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    spots: HashMap<String, (usize, usize)>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

impl SourceMap {
    /// Reads the positions of `src`; a syntax error just ends the map early (serde reports it).
    pub fn new(src: &str) -> Self {
        let mut spots = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(src) {
            let Ok((event, span)) = event else { break };
            let at = (span.start.line(), span.start.col() + 1);
            let is_node = matches!(
                event,
                Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..) | Event::Alias(..)
            );
            if !is_node {
                if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                    stack.pop();
                }
                continue;
            }
            let path = match stack.last_mut() {
                None => String::new(),
                Some(Frame::Map { key: key @ None, path }) => {
                    // A key: remember it; its own position stands for the key's path until the value is seen.
                    if let Event::Scalar(k, ..) = &event {
                        let full = join(path, k);
                        spots.entry(full).or_insert(at);
                        *key = Some(k.to_string());
                    }
                    continue;
                }
                Some(Frame::Map { key, path }) => join(path, &key.take().unwrap_or_default()),
                Some(Frame::Seq { path, index }) => {
                    *index += 1;
                    format!("{path}[{}]", *index - 1)
                }
            };
            spots.insert(path.clone(), at);
            match event {
                Event::MappingStart(..) => stack.push(Frame::Map { path, key: None }),
                Event::SequenceStart(..) => stack.push(Frame::Seq { path, index: 0 }),
                _ => {}
            }
        }
        Self { spots }
    }

    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn locate(&self, path: &str) -> (usize, usize) {
        let mut p = path;
        loop {
            if let Some(at) = self.spots.get(p) {
                return *at;
            }
            match p.rfind(['.', '[']) {
                Some(cut) => p = &p[..cut],
                None => return self.spots.get("").copied().unwrap_or((1, 1)),
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// The deepest nesting an experiment may have: its own structure is six levels deep, and serde's
/// YAML reader takes time that grows faster than the input with depth (100,000 brackets, 200 KB,
/// took 36 s to be refused).
pub(super) const MAX_DEPTH: usize = 64;

/// Refuses input nested deeper than [`MAX_DEPTH`], in one linear pass of saphyr's event parser:
/// `Err((line, column, message))` at the first node too deep (or where saphyr's scanner, which
/// looks ahead, stopped at its own recursion limit). Other syntax errors pass: serde names them.
pub(super) fn check_depth(src: &str) -> Result<(), (usize, usize, String)> {
    let too_deep = || format!("nested more than {MAX_DEPTH} levels deep; an experiment needs fewer than ten");
    let mut depth = 0usize;
    for event in Parser::new_from_str(src) {
        let (event, span) = match event {
            Ok(e) => e,
            Err(e) if e.info().contains("recursion limit") => {
                return Err((e.marker().line(), e.marker().col() + 1, too_deep()));
            }
            Err(_) => return Ok(()),
        };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err((span.start.line(), span.start.col() + 1, too_deep()));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_located_by_path_and_missing_paths_fall_back_to_the_parent() {
        let src = "name: x\nfaults:\n  - at: 1s\n    target: nowhere\n  - { at: 2s, target: cdn }\n";
        let map = SourceMap::new(src);
        assert_eq!(map.locate("name"), (1, 7));
        assert_eq!(map.locate("faults[0].target"), (4, 13));
        assert_eq!(map.locate("faults[1].target"), (5, 23));
        assert_eq!(map.locate("faults[1].scope.route"), map.locate("faults[1]"));
    }
}
