//! Export and import of a workspace's configuration: both config files,
//! skills and commands.

use super::Caches;
use super::paths::{remove_if_exists, resolve_in_workspace};
use super::{commands, settings, skills};
use crate::error::{ApiError, ApiResult};
use openwork_shared::models::{
    CommandUpsert, ExportedCommand, ExportedSkill, JsonObject, SkillUpsert, WorkspaceExport,
};
use serde_json::Value;
use std::path::Path;

pub fn export(
    caches: &Caches,
    root: &Path,
    workspace_id: &str,
    now: u64,
) -> ApiResult<WorkspaceExport> {
    let skills = skills::list(caches, root, None)
        .into_iter()
        .filter_map(|item| {
            let content = std::fs::read_to_string(&item.path).ok()?;
            Some(ExportedSkill {
                name: item.name,
                description: item.description,
                content,
            })
        })
        .collect();
    let commands = commands::list(&root.join(commands::DIR), "workspace")
        .into_iter()
        .map(|c| ExportedCommand {
            name: c.name,
            description: c.description,
            template: c.template,
        })
        .collect();
    Ok(WorkspaceExport {
        workspace_id: workspace_id.to_owned(),
        exported_at: now,
        opencode: (*settings::read_opencode(caches, root)?).clone(),
        openwork: (*settings::read_openwork(caches, root)?).clone(),
        skills,
        commands,
    })
}

/// A validated import, ready once approved.
#[derive(Debug, Default)]
pub struct ImportPlan {
    opencode: Option<(JsonObject, bool)>,
    openwork: Option<(JsonObject, bool)>,
    skills: Option<(Vec<skills::PreparedSkill>, bool)>,
    commands: Option<(Vec<commands::PreparedCommand>, bool)>,
}

fn replace_mode(body: &JsonObject, part: &str) -> bool {
    body.get("mode")
        .and_then(|m| m.get(part))
        .and_then(Value::as_str)
        == Some("replace")
}

fn field_str(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub fn plan_import(root: &Path, body: &JsonObject) -> ApiResult<ImportPlan> {
    let mut plan = ImportPlan::default();
    let object = |key: &str| body.get(key).and_then(Value::as_object).cloned();
    if let Some(o) = object("opencode") {
        plan.opencode = Some((o, replace_mode(body, "opencode")));
    }
    if let Some(o) = object("openwork") {
        plan.openwork = Some((o, replace_mode(body, "openwork")));
    }
    let list = |key: &str| {
        body.get(key)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
    };
    if let Some(items) = list("skills") {
        let prepared = items
            .iter()
            .map(|s| {
                let payload = SkillUpsert {
                    name: field_str(s, "name").unwrap_or_default(),
                    content: field_str(s, "content").unwrap_or_default(),
                    description: field_str(s, "description"),
                };
                skills::prepare_upsert(root, &payload)
            })
            .collect::<ApiResult<Vec<_>>>()?;
        plan.skills = Some((prepared, replace_mode(body, "skills")));
    }
    if let Some(items) = list("commands") {
        let prepared = items
            .iter()
            .map(|c| {
                let upsert = match field_str(c, "content") {
                    Some(content) => commands::from_content(
                        &content,
                        field_str(c, "name"),
                        field_str(c, "description"),
                    )?,
                    None => CommandUpsert {
                        name: field_str(c, "name").unwrap_or_default(),
                        template: field_str(c, "template").unwrap_or_default(),
                        description: field_str(c, "description"),
                        agent: field_str(c, "agent"),
                        model: field_str(c, "model"),
                        subtask: c.get("subtask").and_then(Value::as_bool),
                    },
                };
                commands::prepare_upsert(root, &upsert)
            })
            .collect::<ApiResult<Vec<_>>>()?;
        plan.commands = Some((prepared, replace_mode(body, "commands")));
    }
    Ok(plan)
}

impl ImportPlan {
    /// Whether the OpenCode config is part of the import.
    pub fn touches_opencode(&self) -> bool {
        self.opencode.is_some()
    }
}

pub fn apply_import(caches: &Caches, root: &Path, plan: &ImportPlan) -> ApiResult<()> {
    match &plan.opencode {
        Some((obj, true)) => settings::replace_opencode(root, obj)?,
        Some((obj, false)) => {
            settings::set_opencode_keys(root, obj)?;
        }
        None => {}
    }
    if let Some((obj, replace)) = &plan.openwork {
        settings::write_openwork(caches, root, obj, *replace)?;
    }
    if let Some((prepared, replace)) = &plan.skills {
        if *replace {
            remove_if_exists(&resolve_in_workspace(root, ".opencode/skills")?)?;
        }
        for skill in prepared {
            skills::write(skill)?;
        }
    }
    if let Some((prepared, replace)) = &plan.commands {
        if *replace {
            remove_if_exists(&resolve_in_workspace(root, commands::DIR)?)?;
        }
        for cmd in prepared {
            commands::write(cmd)?;
        }
    }
    Ok(())
}

/// Turn a non-object body into the import error clients expect.
pub fn require_object(body: Value) -> ApiResult<JsonObject> {
    match body {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::invalid_payload(
            "Import payload must be an object",
        )),
    }
}
