//! The experiment format's field-by-field reference (Markdown), written from the same JSON Schema
//! as `chaos schema`, so the documentation cannot drift from the parser: a test compares
//! `docs/EXPERIMENT_FORMAT.md` with this output.

use serde_json::Value;
use std::fmt::Write;

/// The reference as Markdown: the top level first, then every type it uses, by name.
pub fn experiment_reference() -> String {
    let schema = crate::experiment_schema();
    let mut out = String::from(
        "# The experiment format, field by field\n\n\
         Generated from the parser's own types by `chaos schema --markdown` (a test keeps this file\n\
         in step with them). Worked examples: the README's \"The experiment format\" and `experiments/`.\n\
         Durations are written `150ms`, `2s`, `1m`; unknown keys are errors.\n",
    );
    section(&mut out, "Experiment", &schema);
    if let Some(Value::Object(defs)) = schema.get("$defs") {
        for (name, def) in defs {
            section(&mut out, name, def);
        }
    }
    out
}

fn section(out: &mut String, name: &str, def: &Value) {
    let _ = write!(out, "\n## {name}\n\n");
    if let Some(d) = def.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", one_line(d));
    }
    if let Some(Value::Object(props)) = def.get("properties") {
        let required: Vec<&str> =
            def.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        out.push_str("| field | type | default | meaning |\n|---|---|---|---|\n");
        for (field, prop) in props {
            let default = match prop.get("default") {
                _ if required.contains(&field.as_str()) => "required".to_string(),
                Some(Value::Null) | None => "—".to_string(),
                Some(v) => format!("`{v}`"),
            };
            let meaning = prop.get("description").and_then(Value::as_str).map(one_line).unwrap_or_default();
            let _ = writeln!(out, "| `{field}` | {} | {default} | {} |", cell(&ty(prop)), cell(&meaning));
        }
    }
    for alternative in def.get("oneOf").and_then(Value::as_array).into_iter().flatten() {
        let text = match (alternative.get("const"), alternative.get("description").and_then(Value::as_str)) {
            (Some(c), Some(d)) => format!("`{}` — {}", c.as_str().unwrap_or_default(), one_line(d)),
            _ => ty(alternative),
        };
        let _ = writeln!(out, "- {text}");
    }
}

/// A short rendering of a schema's type, with links to named types.
fn ty(v: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(alts) = v.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = alts.iter().filter(|a| !is_null(a)).map(ty).collect();
            return parts.join(" or ");
        }
    }
    if let Some(values) = v.get("enum").and_then(Value::as_array) {
        return values.iter().map(|e| format!("`{}`", e.as_str().unwrap_or_default())).collect::<Vec<_>>().join(" or ");
    }
    if let Some(c) = v.get("const") {
        return format!("`{}`", c.as_str().unwrap_or_default());
    }
    let kind = match v.get("type") {
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).find(|k| *k != "null").unwrap_or("null"),
        Some(Value::String(k)) => k,
        _ => "any",
    };
    match kind {
        "array" => format!("list of {}", v.get("items").map(ty).unwrap_or_else(|| "any".into())),
        "object" => match (v.get("properties"), v.get("additionalProperties")) {
            (Some(Value::Object(props)), _) => {
                let fields: Vec<String> = props.iter().map(|(k, p)| format!("`{k}`: {}", ty(p))).collect();
                format!("{{ {} }}", fields.join(", "))
            }
            (_, Some(values @ Value::Object(_))) => format!("map of string → {}", ty(values)),
            _ => "map".into(),
        },
        "string" if v.get("description").and_then(Value::as_str).is_some_and(|d| d.contains("duration")) => {
            "duration".into()
        }
        other => other.into(),
    }
}

fn is_null(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text safe in a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_rendered_with_links_and_optionals_unwrapped() {
        let optional_ref = serde_json::json!({ "anyOf": [{ "$ref": "#/$defs/Load" }, { "type": "null" }] });
        assert_eq!(ty(&optional_ref), "[Load](#load)");
        assert_eq!(ty(&serde_json::json!({ "type": "array", "items": { "type": "string" } })), "list of string");
        let headers = serde_json::json!({ "type": "object", "additionalProperties": { "type": "string" } });
        assert_eq!(ty(&headers), "map of string → string");
    }

    #[test]
    fn every_field_of_the_top_level_is_in_the_reference() {
        let text = experiment_reference();
        for field in ["name", "load", "faults", "gates", "abort", "cohorts", "coverage", "relies_on", "sequential"] {
            assert!(text.contains(&format!("| `{field}` |")), "{field} missing");
        }
        assert!(text.contains("| `name` | string | required |"), "{text}");
    }
}
