//! Commands: `.opencode/commands/<name>.md`, YAML frontmatter + template.

use super::Caches;
use super::cache::Observed;
use super::frontmatter::{self, Fields, string_field};
use super::paths::{resolve_in_workspace, write_atomic};
use crate::error::{ApiError, ApiResult};
use openwork_shared::ErrorCode;
use openwork_shared::models::{CommandItem, CommandUpsert};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const DIR: &str = ".opencode/commands";

/// 255 bytes a file name, less `.md`.
const MAX_NAME_BYTES: usize = 252;

/// Trim and drop leading `/`; None when the rest is not `[A-Za-z0-9_-]+`.
pub fn sanitize_name(name: &str) -> ApiResult<String> {
    let name = name.trim().trim_start_matches('/');
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(ApiError::new(
            ErrorCode::InvalidCommandName,
            "Command name must be alphanumeric with _ or -",
        ));
    }
    // `<name>.md` must fit in one file name.
    if name.len() > MAX_NAME_BYTES {
        return Err(ApiError::new(
            ErrorCode::InvalidCommandName,
            format!("Command name must be at most {MAX_NAME_BYTES} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// The commands in `dir`, kept while the folder and every command file
/// keep their stamps (an edit on disk is seen on the next request).
pub fn list(caches: &Caches, dir: &Path, scope: &str) -> Vec<CommandItem> {
    let key = (dir.to_path_buf(), scope.to_owned());
    caches
        .command_lists
        .get(key, |seen| read_all(seen, dir, scope))
}

fn read_all(seen: &mut Observed, dir: &Path, scope: &str) -> Vec<CommandItem> {
    // The folder's stamp covers files added, removed or renamed in it.
    if seen.stat(dir).is_none() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = file_name.strip_suffix(".md") else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        // Each file's stamp covers its content.
        seen.stat(&entry.path());
        let Ok(text) = super::paths::read_text(&entry.path()) else {
            continue;
        };
        if let Some(item) = parse_item(&text, stem, scope) {
            items.push(item);
        }
    }
    items
}

fn parse_item(text: &str, stem: &str, scope: &str) -> Option<CommandItem> {
    let doc = frontmatter::parse(text).ok()?;
    let fields = doc.fields.unwrap_or_default();
    let name = string_field(&fields, "name").unwrap_or_else(|| stem.to_owned());
    sanitize_name(&name).ok().filter(|n| *n == name)?;
    Some(CommandItem {
        name,
        description: string_field(&fields, "description"),
        template: doc.body.trim().to_owned(),
        agent: string_field(&fields, "agent"),
        model: string_field(&fields, "model"),
        subtask: fields.get("subtask").and_then(Value::as_bool),
        scope: scope.to_owned(),
    })
}

pub fn file_path(root: &Path, sanitized: &str) -> ApiResult<PathBuf> {
    resolve_in_workspace(root, &format!("{DIR}/{sanitized}.md"))
}

/// A validated command write, ready once approved.
#[derive(Debug)]
pub struct PreparedCommand {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

pub fn prepare_upsert(root: &Path, cmd: &CommandUpsert) -> ApiResult<PreparedCommand> {
    if cmd.template.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidCommandTemplate,
            "Command template is required",
        ));
    }
    let name = sanitize_name(&cmd.name)?;
    let mut fields = Fields::new();
    fields.insert("name".into(), Value::from(name.clone()));
    for (key, value) in [
        ("description", &cmd.description),
        ("agent", &cmd.agent),
        ("model", &cmd.model),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            fields.insert(key.into(), Value::from(v.clone()));
        }
    }
    if cmd.subtask == Some(true) {
        fields.insert("subtask".into(), Value::Bool(true));
    }
    let text = frontmatter::render(&fields, &format!("\n{}\n", cmd.template.trim()));
    Ok(PreparedCommand {
        path: file_path(root, &name)?,
        name,
        text,
    })
}

pub fn write(prepared: &PreparedCommand) -> ApiResult<()> {
    write_atomic(&prepared.path, prepared.text.as_bytes())?;
    Ok(())
}

/// Parse an exported/imported command document (`content` with frontmatter).
pub fn from_content(
    content: &str,
    name: Option<String>,
    description: Option<String>,
) -> ApiResult<CommandUpsert> {
    let doc = frontmatter::parse(content)
        .map_err(|e| ApiError::new(ErrorCode::InvalidCommand, format!("Command {e}")))?;
    let fields = doc.fields.unwrap_or_default();
    let name = name
        .or_else(|| string_field(&fields, "name"))
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidCommand, "Command name is required"))?;
    Ok(CommandUpsert {
        name,
        template: doc.body.trim().to_owned(),
        description: description.or_else(|| string_field(&fields, "description")),
        agent: string_field(&fields, "agent"),
        model: string_field(&fields, "model"),
        subtask: fields.get("subtask").and_then(Value::as_bool),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = CommandUpsert {
            name: "/daily-report".into(),
            template: "  summarize yesterday \n".into(),
            description: Some("Daily".into()),
            subtask: Some(true),
            ..Default::default()
        };
        let p = prepare_upsert(dir.path(), &cmd).unwrap();
        assert_eq!(p.name, "daily-report");
        write(&p).unwrap();
        let items = list(&Caches::default(), &dir.path().join(DIR), "workspace");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].template, "summarize yesterday");
        assert_eq!(items[0].subtask, Some(true));
        assert_eq!(items[0].model, None);
        assert!(sanitize_name("a b").is_err());
    }
}
