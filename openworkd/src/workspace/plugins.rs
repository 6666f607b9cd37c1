//! Plugins: the `plugin` key of the OpenCode config, plus plugin files in
//! `.opencode/plugins/` (and the global plugin folder) listed read-only.

use super::Caches;
use super::settings;
use crate::error::ApiResult;
use openwork_shared::models::{JsonObject, PluginItem, PluginList};
use serde_json::Value;
use std::path::Path;

/// The spec without its version, for de-duplication and removal.
pub fn normalize_spec(spec: &str) -> String {
    let spec = spec.trim();
    if ["file:", "http:", "https:", "git:", "/"]
        .iter()
        .any(|p| spec.starts_with(p))
    {
        return spec.to_owned();
    }
    if let Some(rest) = spec.strip_prefix('@') {
        return match rest.find('@') {
            Some(i) => spec[..i + 1].to_owned(),
            None => spec.to_owned(),
        };
    }
    match spec.find('@') {
        Some(i) if i > 0 => spec[..i].to_owned(),
        _ => spec.to_owned(),
    }
}

fn configured(config: &Value) -> Vec<String> {
    match config.get("plugin") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

pub fn list(caches: &Caches, root: &Path, global_dir: Option<&Path>) -> ApiResult<PluginList> {
    let config = settings::read_opencode(caches, root)?;
    let mut items: Vec<PluginItem> = configured(&config)
        .into_iter()
        .map(|spec| PluginItem {
            spec,
            source: "config".into(),
            scope: "project".into(),
            path: None,
        })
        .collect();
    for (file, name) in plugin_files(&root.join(".opencode").join("plugins")) {
        items.push(PluginItem {
            spec: format!("file://{}", file.display()),
            source: "dir.project".into(),
            scope: "project".into(),
            path: Some(format!(".opencode/plugins/{name}")),
        });
    }
    if let Some(dir) = global_dir {
        for (file, _) in plugin_files(dir) {
            items.push(PluginItem {
                spec: format!("file://{}", file.display()),
                source: "dir.global".into(),
                scope: "global".into(),
                path: Some(file.display().to_string()),
            });
        }
    }
    let load_order = [
        "config.global",
        "config.project",
        "dir.global",
        "dir.project",
    ];
    Ok(PluginList {
        items,
        load_order: load_order.map(String::from).to_vec(),
    })
}

fn plugin_files(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.ends_with(".js") || name.ends_with(".ts")).then(|| (e.path(), name))
        })
        .collect()
}

/// Append `spec` unless a plugin with the same normalized spec is present.
/// Returns whether the file changed.
pub fn add(caches: &Caches, root: &Path, spec: &str) -> ApiResult<bool> {
    let mut specs = configured(&*settings::read_opencode(caches, root)?);
    let wanted = normalize_spec(spec);
    if specs.iter().any(|s| normalize_spec(s) == wanted) {
        return Ok(false);
    }
    specs.push(spec.to_owned());
    write(root, specs)?;
    Ok(true)
}

/// Remove every plugin whose normalized spec equals that of `name`.
pub fn remove(caches: &Caches, root: &Path, name: &str) -> ApiResult<bool> {
    let specs = configured(&*settings::read_opencode(caches, root)?);
    let target = normalize_spec(name);
    let kept: Vec<String> = specs
        .iter()
        .filter(|s| normalize_spec(s) != target)
        .cloned()
        .collect();
    if kept.len() == specs.len() {
        return Ok(false);
    }
    write(root, kept)?;
    Ok(true)
}

fn write(root: &Path, specs: Vec<String>) -> ApiResult<()> {
    let mut edit = JsonObject::new();
    edit.insert("plugin".into(), Value::from(specs));
    settings::set_opencode_keys(root, &edit).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::normalize_spec;

    #[test]
    fn specs_normalize_without_versions() {
        assert_eq!(normalize_spec("@scope/pkg@1.2"), "@scope/pkg");
        assert_eq!(normalize_spec("@scope/pkg"), "@scope/pkg");
        assert_eq!(normalize_spec(" pkg@1.2 "), "pkg");
        assert_eq!(normalize_spec("file:./x@1"), "file:./x@1");
        assert_eq!(normalize_spec("https://a/b@c"), "https://a/b@c");
    }
}
