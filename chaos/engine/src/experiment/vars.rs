//! `${VAR}` and `${VAR:-default}` in experiment files, from `--set key=value` and the
//! environment (in that order); `$${` writes a literal `${`.

use std::collections::BTreeMap;

/// Substitutes variables in `src`; an error carries the 1-based line and column of the `${`.
pub(crate) fn substitute(src: &str, set: &BTreeMap<String, String>) -> Result<String, (usize, usize, String)> {
    let mut out = String::with_capacity(src.len());
    for (n, line) in src.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("${") {
            let col = line.len() - rest.len() + at + 1;
            if rest[..at].ends_with('$') {
                out.push_str(&rest[..at]); // `$${` → `${`
                out.push('{');
                rest = &rest[at + 2..];
                continue;
            }
            out.push_str(&rest[..at]);
            let Some(end) = rest[at..].find('}') else {
                return Err((n + 1, col, "`${` without a closing `}`".into()));
            };
            let inner = &rest[at + 2..at + end];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err((n + 1, col, format!("`{name}` is not a variable name")));
            }
            let value = set.get(name).cloned().or_else(|| std::env::var(name).ok()).or(default.map(String::from));
            let Some(value) = value else {
                return Err((
                    n + 1,
                    col,
                    format!("variable `{name}` is not set (use --set {name}=... or ${{{name}:-default}})"),
                ));
            };
            if value.contains('\n') {
                return Err((n + 1, col, format!("variable `{name}` holds a line break")));
            }
            out.push_str(&value);
            rest = &rest[at + end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_come_from_set_then_env_then_default() {
        let set = BTreeMap::from([("RATE".to_string(), "50/s".to_string())]);
        let got = substitute("rate: ${RATE}\nseed: ${CHAOS_TEST_UNSET_VAR:-7}\nlit: $${X}\n", &set).unwrap();
        assert_eq!(got, "rate: 50/s\nseed: 7\nlit: ${X}\n");
        let err = substitute("a: 1\nb: ${NOPE_NOT_SET_ANYWHERE}\n", &BTreeMap::new()).unwrap_err();
        assert_eq!((err.0, err.1), (2, 4));
        assert!(err.2.contains("NOPE_NOT_SET_ANYWHERE"));
        assert!(substitute("x: ${A", &BTreeMap::new()).is_err());
    }
}
