//! Export and import of a workspace's configuration: both config files,
//! skills and commands.

use super::Caches;
use super::paths::{remove_if_exists, resolve_in_workspace};
use super::{commands, settings, skills};
use crate::error::ApiResult;
use openwork_shared::models::{
    CommandUpsert, ExportedCommand, ExportedSkill, ImportMode, JsonObject, SkillUpsert,
    WorkspaceExport, WorkspaceImport,
};
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
            let content = super::paths::read_text(item.path.as_ref()).ok()?;
            Some(ExportedSkill {
                name: item.name,
                description: item.description,
                content,
            })
        })
        .collect();
    let commands = commands::list(caches, &root.join(commands::DIR), "workspace")
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

pub fn plan_import(root: &Path, import: WorkspaceImport) -> ApiResult<ImportPlan> {
    let replace = |mode: ImportMode| mode == ImportMode::Replace;
    let modes = &import.mode;
    let mut plan = ImportPlan {
        opencode: import.opencode.map(|o| (o, replace(modes.opencode))),
        openwork: import.openwork.map(|o| (o, replace(modes.openwork))),
        ..ImportPlan::default()
    };
    if !import.skills.is_empty() {
        let prepared = import
            .skills
            .into_iter()
            .map(|s| {
                let payload = SkillUpsert {
                    name: s.name.unwrap_or_default(),
                    content: s.content.unwrap_or_default(),
                    description: s.description,
                };
                skills::prepare_upsert(root, &payload)
            })
            .collect::<ApiResult<Vec<_>>>()?;
        plan.skills = Some((prepared, replace(modes.skills)));
    }
    if !import.commands.is_empty() {
        let prepared = import
            .commands
            .into_iter()
            .map(|c| {
                let upsert = match c.content {
                    Some(content) => commands::from_content(&content, c.name, c.description)?,
                    None => CommandUpsert {
                        name: c.name.unwrap_or_default(),
                        template: c.template.unwrap_or_default(),
                        description: c.description,
                        agent: c.agent,
                        model: c.model,
                        subtask: c.subtask,
                    },
                };
                commands::prepare_upsert(root, &upsert)
            })
            .collect::<ApiResult<Vec<_>>>()?;
        plan.commands = Some((prepared, replace(modes.commands)));
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
