//! The experiment format (`src/experiment/`) depends on nothing else of the engine, so the engine's
//! modules depend on it and never the other way round (no import cycle through the format).

use std::path::Path;

#[test]
fn the_format_names_no_other_module_of_the_engine() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/experiment");
    let mut files = 0;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        files += 1;
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let outside = code.match_indices("crate::").any(|(i, _)| !code[i..].starts_with("crate::experiment"))
                || code.contains("super::super");
            if outside {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(files >= 10, "read only {files} files of {}", dir.display());
    assert!(found.is_empty(), "the format reaches into the engine:\n{}", found.join("\n"));
}
