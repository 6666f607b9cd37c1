//! YAML frontmatter of Markdown files (skills, commands): split the `---`
//! fences here, parse and emit the YAML with a maintained YAML crate.

use serde_json::{Map, Value};

pub type Fields = Map<String, Value>;

/// The largest frontmatter block read; a skill's or command's metadata is
/// a few lines.
const MAX_YAML_BYTES: usize = 64 * 1024;
/// The most YAML events and nodes one frontmatter may produce, aliases
/// expanded.
const MAX_YAML_NODES: usize = 20_000;

/// A Markdown document split into its frontmatter fields (if it had a
/// frontmatter block) and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub fields: Option<Fields>,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
#[error("frontmatter is not a valid YAML mapping: {0}")]
pub struct FrontmatterError(String);

pub fn parse(text: &str) -> Result<Document, FrontmatterError> {
    let Some((yaml, body)) = split(text) else {
        return Ok(Document {
            fields: None,
            body: text.to_owned(),
        });
    };
    if yaml.len() > MAX_YAML_BYTES {
        return Err(FrontmatterError(format!(
            "frontmatter is larger than {MAX_YAML_BYTES} bytes"
        )));
    }
    // YAML 1.2 booleans: `yes`, `on`, `y` stay strings, as in the reference.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    // Files planted in a workspace are hostile: a few hundred bytes of
    // nested aliases must not cost seconds and megabytes.
    options.alias_limits.max_total_replayed_events = MAX_YAML_NODES;
    options.alias_limits.max_replay_stack_depth = 16;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = MAX_YAML_NODES;
    budget.max_nodes = MAX_YAML_NODES;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_depth = 32;
    budget.max_recorded_anchor_events = MAX_YAML_NODES;
    budget.max_recorded_anchor_bytes = MAX_YAML_BYTES;
    options.budget = Some(budget);
    let value: Value = serde_saphyr::from_str_with_options(yaml, options)
        .map_err(|e| FrontmatterError(e.to_string()))?;
    let fields = match value {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(FrontmatterError(format!(
                "expected a mapping, found {other}"
            )));
        }
    };
    Ok(Document {
        fields: Some(fields),
        body: body.to_owned(),
    })
}

/// `---` fence, YAML, closing `---` line; returns (yaml, body).
fn split(text: &str) -> Option<(&str, &str)> {
    let after_open = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in after_open.split_inclusive('\n') {
        if line.trim_end_matches(['\r', '\n']) == "---" {
            let yaml = after_open[..offset].trim_end_matches(['\r', '\n']);
            return Some((yaml, &after_open[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// `---\n<yaml>\n---\n` followed by `body`.
pub fn render(fields: &Fields, body: &str) -> String {
    let yaml = if fields.is_empty() {
        String::new()
    } else {
        serde_saphyr::to_string(&Value::Object(fields.clone())).unwrap_or_default()
    };
    format!("---\n{}\n---\n{body}", yaml.trim_end())
}

/// A string field, if present and a string.
pub fn string_field(fields: &Fields, key: &str) -> Option<String> {
    fields.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_and_renders() {
        let doc = parse("---\nname: a\ndescription: \"x: y\"\n---\nbody\n").unwrap();
        let fields = doc.fields.unwrap();
        assert_eq!(fields["description"], json!("x: y"));
        assert_eq!(doc.body, "body\n");
        let yes = parse("---\ndescription: yes\nwhen: y\n---\n")
            .unwrap()
            .fields
            .unwrap();
        assert_eq!(yes["description"], json!("yes"));
        assert_eq!(yes["when"], json!("y"));
        let text = render(&fields, "body\n");
        assert_eq!(parse(&text).unwrap().fields.unwrap(), fields);
        assert!(text.starts_with("---\nname: a\n"));
    }

    /// Nine levels of nine aliases each: 9^9 nodes once expanded.
    pub fn alias_bomb() -> String {
        let mut yaml = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x]\n");
        for i in 1..9 {
            let p = i - 1;
            yaml.push_str(&format!(
                "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
            ));
        }
        format!("---\nname: bomb\ndescription: d\n{yaml}---\nbody\n")
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        let bomb = alias_bomb();
        assert!(bomb.len() < 600, "{}", bomb.len());
        let refused = parse(&bomb).unwrap_err().to_string();
        assert!(
            refused.contains("limit") || refused.contains("budget"),
            "{refused}"
        );
        let huge = format!("---\nname: a\ndescription: {}\n---\n", "x".repeat(70_000));
        assert!(parse(&huge).is_err());
        // Ordinary anchors still work.
        let doc = parse("---\nname: &n a\ndescription: *n\n---\n").unwrap();
        assert_eq!(doc.fields.unwrap()["description"], "a");
    }

    #[test]
    fn documents_without_frontmatter_are_all_body() {
        let doc = parse("# Title\n---\n").unwrap();
        assert!(doc.fields.is_none());
        assert!(parse("---\n: [\n---\n").is_err());
        assert_eq!(parse("---\r\nname: a\r\n---\r\nb").unwrap().body, "b");
    }
}
