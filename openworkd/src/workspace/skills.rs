//! Skills: `SKILL.md` files with YAML frontmatter. Discovered in the
//! workspace and its parents (up to the repository root) and, on request,
//! in the global skill folders; written only to `.opencode/skills/<name>/`.

use super::Caches;
use super::cache::Observed;
use super::frontmatter::{self, Fields, string_field};
use super::paths::{resolve_in_workspace, write_atomic};
use crate::error::{ApiError, ApiResult};
use openwork_shared::ErrorCode;
use openwork_shared::models::{SkillItem, SkillUpsert};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What a SKILL.md says about itself (cached per file).
#[derive(Debug, Clone)]
pub struct SkillDoc {
    name: String,
    description: String,
    trigger: Option<String>,
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.split('-').all(|run| {
            !run.is_empty()
                && run
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn valid_description(d: &str) -> bool {
    (1..=1024).contains(&d.encode_utf16().count())
}

fn invalid_name() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidSkillName,
        "Skill name must be kebab-case (1-64 chars)",
    )
}

fn invalid_description() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidDescription,
        "Description must be 1-1024 characters",
    )
}

/// The folders scanned for project skills, nearest first.
fn project_dirs(seen: &mut Observed, root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut current = Some(root);
    while let Some(dir) = current {
        dirs.push(dir.join(".opencode").join("skills"));
        dirs.push(dir.join(".claude").join("skills"));
        if seen.exists(&dir.join(".git")) {
            break;
        }
        current = dir.parent();
    }
    dirs
}

fn global_dirs(home: &Path) -> Vec<PathBuf> {
    vec![
        home.join(".config/opencode/skills"),
        home.join(".claude/skills"),
        home.join(".agents/skills"),
        home.join(".agent/skills"),
    ]
}

/// Every discoverable skill, first occurrence of a name winning. The
/// listing is reused while none of the folders and files it looked at
/// changed.
pub fn list(caches: &Caches, root: &Path, home: Option<&Path>) -> Vec<SkillItem> {
    let key = (root.to_path_buf(), home.map(Path::to_path_buf));
    caches
        .skill_lists
        .get(key, |seen| discover(caches, seen, root, home))
}

fn discover(
    caches: &Caches,
    seen: &mut Observed,
    root: &Path,
    home: Option<&Path>,
) -> Vec<SkillItem> {
    let mut items: Vec<SkillItem> = Vec::new();
    let mut scan = |seen: &mut Observed, dirs: Vec<PathBuf>, scope: &str| {
        for dir in dirs {
            for (folder, file) in candidates(seen, &dir) {
                let Some(doc) = read_doc(caches, &file) else {
                    continue;
                };
                if doc.name != folder || items.iter().any(|i| i.name == doc.name) {
                    continue;
                }
                items.push(SkillItem {
                    name: doc.name,
                    description: doc.description,
                    path: file.display().to_string(),
                    scope: scope.to_owned(),
                    trigger: doc.trigger,
                });
            }
        }
    };
    let dirs = project_dirs(seen, root);
    scan(seen, dirs, "project");
    if let Some(home) = home {
        scan(seen, global_dirs(home), "global");
    }
    items
}

/// `(folder name, SKILL.md)` for each skill folder in `dir`, one level of
/// "domain" folders deep. Each folder is stamped before it is listed and
/// each SKILL.md before it is read, so a change after either is noticed.
fn candidates(seen: &mut Observed, dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let Some(entries) = list_dir(seen, dir) else {
        return found;
    };
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let skill = entry.path().join("SKILL.md");
        if seen.stat(&skill).is_some_and(|m| m.is_file()) {
            found.push((name, skill));
            continue;
        }
        for inner in list_dir(seen, &entry.path()).into_iter().flatten() {
            let skill = inner.path().join("SKILL.md");
            if seen.stat(&skill).is_some_and(|m| m.is_file()) {
                found.push((inner.file_name().to_string_lossy().into_owned(), skill));
            }
        }
    }
    found
}

/// The sub-folders of `dir` (symlinks not followed), None when it cannot be
/// listed.
fn list_dir(seen: &mut Observed, dir: &Path) -> Option<Vec<std::fs::DirEntry>> {
    seen.stat(dir)?;
    let entries = std::fs::read_dir(dir).ok()?;
    Some(
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .collect(),
    )
}

fn read_doc(caches: &Caches, file: &Path) -> Option<SkillDoc> {
    let folder = file.parent()?.file_name()?.to_string_lossy().into_owned();
    caches
        .skills
        .get(file, |bytes| {
            parse_doc(&String::from_utf8_lossy(bytes?), &folder)
        })
        .ok()
        .flatten()
}

/// Parse a SKILL.md; None when it is not a valid skill (bad YAML, bad name
/// or description).
fn parse_doc(text: &str, folder: &str) -> Option<SkillDoc> {
    let doc = frontmatter::parse(text).ok()?;
    let fields = doc.fields.unwrap_or_default();
    let name = string_field(&fields, "name").unwrap_or_else(|| folder.to_owned());
    let description = string_field(&fields, "description").unwrap_or_default();
    if !valid_name(&name) || !valid_description(&description) {
        return None;
    }
    let trigger = string_field(&fields, "trigger")
        .or_else(|| string_field(&fields, "when"))
        .or_else(|| when_to_use(&doc.body))
        .filter(|t| !t.trim().is_empty());
    Some(SkillDoc {
        name,
        description,
        trigger,
    })
}

/// The first non-empty line under a "When to use" heading, without its bullet.
fn when_to_use(body: &str) -> Option<String> {
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        let hashes = t.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !t[hashes..].starts_with(' ') {
            continue;
        }
        if !t[hashes..].trim().eq_ignore_ascii_case("when to use") {
            continue;
        }
        let first = lines.by_ref().map(str::trim).find(|l| !l.is_empty())?;
        return Some(strip_bullet(first).to_owned());
    }
    None
}

fn strip_bullet(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix(['-', '*', '+']) {
        return rest.trim_start();
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && matches!(line.as_bytes().get(digits), Some(b'.' | b')')) {
        return line[digits + 1..].trim_start();
    }
    line
}

pub fn skill_file(root: &Path, name: &str) -> ApiResult<PathBuf> {
    resolve_in_workspace(root, &format!(".opencode/skills/{name}/SKILL.md"))
}

/// A validated skill write, ready once approved.
#[derive(Debug)]
pub struct PreparedSkill {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
    pub item: SkillItem,
}

pub fn prepare_upsert(root: &Path, payload: &SkillUpsert) -> ApiResult<PreparedSkill> {
    let name = payload.name.trim().to_owned();
    if !valid_name(&name) {
        return Err(invalid_name());
    }
    if payload.content.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidSkillContent,
            "Skill content is required",
        ));
    }
    let doc = frontmatter::parse(&payload.content)
        .map_err(|e| ApiError::new(ErrorCode::InvalidSkillContent, format!("Skill {e}")))?;
    let (mut fields, body) = match doc.fields {
        Some(fields) if !fields.is_empty() => (fields, doc.body),
        _ => (Fields::new(), payload.content.clone()),
    };
    if let Some(fm_name) = fields.get("name")
        && fm_name.as_str() != Some(name.as_str())
    {
        return Err(ApiError::new(
            ErrorCode::InvalidSkillName,
            "Skill frontmatter name must match payload name",
        ));
    }
    let description = string_field(&fields, "description")
        .or_else(|| payload.description.clone())
        .filter(|d| valid_description(d))
        .ok_or_else(invalid_description)?;
    fields.insert("name".into(), Value::from(name.clone()));
    fields.insert("description".into(), Value::from(description));
    let body = body.strip_prefix('\n').unwrap_or(&body);
    let mut text = frontmatter::render(&fields, body);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let path = skill_file(root, &name)?;
    let item = SkillItem {
        name: name.clone(),
        description: payload.description.clone().unwrap_or_default(),
        path: path.display().to_string(),
        scope: "project".into(),
        trigger: None,
    };
    Ok(PreparedSkill {
        name,
        path,
        text,
        item,
    })
}

/// Write a prepared skill; returns whether it existed before.
pub fn write(prepared: &PreparedSkill) -> ApiResult<bool> {
    let existed = prepared.path.exists();
    write_atomic(&prepared.path, prepared.text.as_bytes())?;
    Ok(existed)
}

/// The project skill folder to delete, validated.
pub fn prepare_delete(root: &Path, name: &str) -> ApiResult<PathBuf> {
    if !valid_name(name) {
        return Err(invalid_name());
    }
    let file = skill_file(root, name)?;
    if !file.is_file() {
        return Err(not_found(name));
    }
    Ok(file.parent().map(Path::to_path_buf).unwrap_or(file))
}

pub fn not_found(name: &str) -> ApiError {
    ApiError::new(ErrorCode::SkillNotFound, format!("Skill not found: {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case() {
        for ok in ["a", "expense-audit", "a1-b2"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "A", "a--b", "-a", "a-", "a_b", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn trigger_comes_from_when_to_use() {
        let doc = parse_doc(
            "---\ndescription: d\n---\n# X\n## When to use\n\n- on Mondays\n",
            "x",
        )
        .unwrap();
        assert_eq!(doc.trigger.as_deref(), Some("on Mondays"));
        let doc = parse_doc("---\ndescription: d\nwhen: later\n---\n", "x").unwrap();
        assert_eq!(doc.trigger.as_deref(), Some("later"));
        assert!(
            parse_doc("---\nname: y\ndescription: d\n---\n", "x").is_some_and(|d| d.name == "y")
        );
        assert!(parse_doc("no frontmatter", "x").is_none());
    }

    #[test]
    fn upsert_keeps_frontmatter_keys() {
        let dir = tempfile::tempdir().unwrap();
        let payload = SkillUpsert {
            name: "demo".into(),
            content: "---\nlicense: MIT\ndescription: From fm\n---\n\nBody\n".into(),
            description: None,
        };
        let p = prepare_upsert(dir.path(), &payload).unwrap();
        assert_eq!(
            p.text,
            "---\nlicense: MIT\ndescription: From fm\nname: demo\n---\nBody\n"
        );
        let mismatch = SkillUpsert {
            content: "---\nname: other\n---\nx".into(),
            ..payload.clone()
        };
        assert_eq!(
            prepare_upsert(dir.path(), &mismatch).unwrap_err().code,
            ErrorCode::InvalidSkillName
        );
        let nodesc = SkillUpsert {
            content: "plain".into(),
            ..payload
        };
        assert_eq!(prepare_upsert(dir.path(), &nodesc).unwrap_err().status, 422);
    }
}
