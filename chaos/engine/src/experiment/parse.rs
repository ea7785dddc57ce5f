//! Reading an experiment file: YAML → [`Experiment`], every error with file:line:column.

use super::Experiment;
use super::locate::SourceMap;
use super::validate::validate;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use targets::Topology;

/// One problem in an experiment file, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExperimentError {
    /// The file (as given).
    pub file: String,
    /// 1-based line; 0 when the problem has no place (e.g. the file cannot be read).
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (line, column) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in one experiment file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ExperimentErrors(pub Vec<ExperimentError>);

impl fmt::Display for ExperimentErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Reads, parses and validates the experiment at `path`, with the topology it names.
pub fn load_file(path: &Path) -> Result<(Experiment, Topology), ExperimentErrors> {
    load_file_with(path, &BTreeMap::new())
}

/// [`load_file`] with variables set on the command line (`--set key=value`).
pub fn load_file_with(path: &Path, set: &BTreeMap<String, String>) -> Result<(Experiment, Topology), ExperimentErrors> {
    let label = path.display().to_string();
    let src = super::input::read_text(path, super::input::SOURCE_MAX_BYTES).map_err(|e| {
        ExperimentErrors(vec![ExperimentError { file: label.clone(), line: 0, column: 0, message: e.to_string() }])
    })?;
    let (mut exp, topology) = parse_str_with(&src, &label, path.parent().unwrap_or(Path::new(".")), set)?;
    exp.file = Some(path.to_path_buf());
    Ok((exp, topology))
}

/// Parses and validates experiment text; `label` names it in errors, `base` resolves relative
/// topology paths.
pub fn parse_str(src: &str, label: &str, base: &Path) -> Result<(Experiment, Topology), ExperimentErrors> {
    parse_str_with(src, label, base, &BTreeMap::new())
}

/// [`parse_str`] with variables set on the command line; `${VAR}` and `${VAR:-default}` are
/// replaced before parsing (from `set`, then the environment).
pub fn parse_str_with(
    src: &str,
    label: &str,
    base: &Path,
    set: &BTreeMap<String, String>,
) -> Result<(Experiment, Topology), ExperimentErrors> {
    let error = |line, column, message| ExperimentError { file: label.to_string(), line, column, message };
    let src = &super::vars::substitute(src, set).map_err(|(l, c, m)| ExperimentErrors(vec![error(l, c, m)]))?;
    super::locate::check_depth(src).map_err(|(l, c, m)| ExperimentErrors(vec![error(l, c, m)]))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(src).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        ExperimentErrors(vec![error(line, column, serde_message(&e))])
    })?;
    let map = SourceMap::new(src);
    let located = |path: &str, message: String| {
        let (line, column) = map.locate(path);
        error(line, column, message)
    };
    let lenient = super::lenient::deserialize(doc);
    let errors: Vec<ExperimentError> = lenient.problems.iter().map(|(p, m)| located(p, m.clone())).collect();
    match lenient.experiment {
        // The checks past the structure run on a whole file only: on a repaired one they would
        // mostly report what the repair cut out.
        Some(exp) if errors.is_empty() => check(exp, base, &located).map_err(sorted),
        _ => Err(sorted(errors)),
    }
}

/// Problems found in a loaded experiment after the loader (an exporter's, say), given as
/// (path, message), placed at file:line:column in the file at `path` read with `set`.
pub fn locate_in_file(
    path: &Path,
    set: &BTreeMap<String, String>,
    problems: impl IntoIterator<Item = (String, String)>,
) -> ExperimentErrors {
    let label = path.display().to_string();
    let src = super::input::read_text(path, super::input::SOURCE_MAX_BYTES).unwrap_or_default();
    let src = super::vars::substitute(&src, set).unwrap_or(src);
    let map = SourceMap::new(&src);
    let errors = problems.into_iter().map(|(at, message)| {
        let (line, column) = map.locate(&at);
        ExperimentError { file: label.clone(), line, column, message: format!("{at}: {message}") }
    });
    sorted(errors.collect())
}

fn sorted(mut errors: Vec<ExperimentError>) -> ExperimentErrors {
    errors.sort_by_key(|e| (e.line, e.column));
    errors.dedup();
    ExperimentErrors(errors)
}

/// The checks past the structure: `after:` references, the topology, guard names, and the
/// validator's rules. `located` places a path of `exp` in the file.
fn check(
    mut exp: Experiment,
    base: &Path,
    located: &dyn Fn(&str, String) -> ExperimentError,
) -> Result<(Experiment, Topology), Vec<ExperimentError>> {
    let mut errors = Vec::new();
    if let Err((i, m)) = exp.resolve_starts() {
        errors.push(located(&format!("faults[{i}].after"), m));
    }
    let mut topology = resolve_topology(&exp.system.topology, base).map_err(|m| {
        errors.push(located("system.topology", m));
        std::mem::take(&mut errors)
    })?;
    for (i, guard) in exp.system.guards_off.iter().enumerate() {
        if let Err(m) = topology.switch_off(guard) {
            errors.push(located(&format!("system.guards_off[{i}]"), m));
        }
    }
    for (i, guard) in exp.relies_on.iter().enumerate() {
        if let Err(m) = topology.clone().switch_off(guard) {
            errors.push(located(&format!("relies_on[{i}]"), m));
        }
    }
    if errors.is_empty() {
        errors.extend(validate(&exp, &topology).into_iter().map(|(path, message)| located(&path, message)));
    }
    if errors.is_empty() { Ok((exp, topology)) } else { Err(errors) }
}

fn resolve_topology(name: &str, base: &Path) -> Result<Topology, String> {
    if name == "default" {
        return Ok(Topology::default_platform());
    }
    if let Some(spec) = targets::SyntheticSpec::parse(name) {
        return Topology::synthetic(&spec?).map_err(|e| format!("topology {name}: {e}"));
    }
    let path: PathBuf = base.join(name);
    let src = super::input::read_text(&path, super::input::SOURCE_MAX_BYTES)
        .map_err(|e| format!("cannot read topology {}: {e}", path.display()))?;
    Topology::from_yaml(&src).map_err(|e| format!("topology {}: {e}", path.display()))
}

/// serde_yaml's message without its trailing "at line L column C" (we print the place first),
/// plus the nearest valid key when a key is misspelt.
pub(crate) fn serde_message(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    };
    match suggest(&text) {
        Some(near) => format!("{text} (did you mean `{near}`?)"),
        None => text,
    }
}

/// For "unknown field `x`, expected one of `a`, `b`" (or "unknown variant"), the expected name
/// nearest to `x`, if it is close.
fn suggest(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1).or_else(|| message.split("unknown variant `").nth(1))?;
    let (got, expected) = rest.split_once('`')?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|cand| (edit_distance(got, cand), cand))
        .filter(|(d, cand)| *d <= 2.max(cand.len() / 3))
        .min()
        .map(|(_, cand)| cand.to_string())
}

/// Levenshtein distance (small strings; no crate needed for a dozen lines).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The mutants of the experiment at `path` (read with `set`), each loaded anew with its own
/// variables and guards: all of them, or the one named `only`. The `relies_on` guards make the
/// one mutant of an experiment without `mutants:`.
pub fn load_mutants(
    path: &Path,
    set: &BTreeMap<String, String>,
    only: Option<&str>,
) -> Result<Vec<(Experiment, Topology)>, ExperimentErrors> {
    let (exp, topology) = load_file_with(path, set)?;
    let fail = |message: String| {
        ExperimentErrors(vec![ExperimentError { file: path.display().to_string(), line: 0, column: 0, message }])
    };
    if exp.mutants.is_empty() {
        if only.is_some() {
            return Err(fail(format!("experiment `{}` declares no `mutants`", exp.name)));
        }
        return exp.mutant(&topology).map(|m| vec![m]).map_err(fail);
    }
    let chosen: Vec<_> = exp.mutants.iter().filter(|m| only.is_none_or(|n| n == m.name)).collect();
    if chosen.is_empty() {
        let names: Vec<&str> = exp.mutants.iter().map(|m| m.name.as_str()).collect();
        return Err(fail(format!("no mutant `{}` (there are: {})", only.unwrap_or_default(), names.join(", "))));
    }
    let mut out = Vec::new();
    for m in chosen {
        let mut vars = set.clone();
        vars.extend(m.set.clone());
        let (mut mutant, mut topology) = load_file_with(path, &vars)?;
        for guard in &m.guards_off {
            topology.switch_off(guard).map_err(fail)?;
            mutant.system.guards_off.push(guard.clone());
        }
        mutant.name = format!("{}-{}", exp.name, m.name);
        out.push((mutant, topology));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_gets_the_nearest_valid_one() {
        let m = "load: unknown field `duraton`, expected one of `rate`, `warmup`, `duration`";
        assert_eq!(suggest(m).as_deref(), Some("duration"));
        assert_eq!(suggest("unknown field `zzzzzzzz`, expected one of `rate`, `warmup`"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
