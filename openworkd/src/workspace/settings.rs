//! The two workspace config files: OpenCode's `opencode.jsonc`/`.json`
//! (edited key by key, comments kept) and `.opencode/openwork.json`.

use super::Caches;
use super::cache::Miss;
use super::jsonc;
use super::paths::{resolve_in_workspace, write_atomic};
use crate::error::{ApiError, ApiResult};
use openwork_shared::ErrorCode;
use openwork_shared::models::JsonObject;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const OPENWORK_JSON: &str = ".opencode/openwork.json";

/// The OpenCode config file names, the one that wins first; new files get
/// the first (JSONC).
const OPENCODE_NAMES: [&str; 2] = ["opencode.jsonc", "opencode.json"];

/// The first of [`OPENCODE_NAMES`] that exists, else the first.
pub fn opencode_path(root: &Path) -> PathBuf {
    OPENCODE_NAMES
        .iter()
        .map(|name| root.join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| root.join(OPENCODE_NAMES[0]))
}

fn opencode_relative(root: &Path) -> String {
    let path = opencode_path(root);
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn openwork_path(root: &Path) -> PathBuf {
    root.join(OPENWORK_JSON)
}

/// The parsed OpenCode config (the file [`opencode_path`] names, found with
/// one cached `stat` per name tried), `{}` when none exists.
pub fn read_opencode(caches: &Caches, root: &Path) -> ApiResult<Arc<Value>> {
    for name in OPENCODE_NAMES {
        let parsed = read_cached(caches, root, name, |bytes| {
            jsonc::parse(&String::from_utf8_lossy(bytes))
        })?;
        if let Some(value) = parsed {
            return Ok(value);
        }
    }
    Ok(Arc::new(json!({})))
}

/// A parsed workspace file from the cache, None when it does not exist; the
/// path is resolved (symlink escapes refused) whenever the file is not the
/// one already checked.
fn read_cached(
    caches: &Caches,
    root: &Path,
    relative: &str,
    parse: impl FnOnce(&[u8]) -> ApiResult<Value>,
) -> ApiResult<Option<Arc<Value>>> {
    let path = root.join(relative);
    let checked = || resolve_in_workspace(root, relative).map(drop);
    let load = |bytes: Option<&[u8]>| bytes.map(|b| parse(b).map(Arc::new)).transpose();
    match caches.json.get_checked(&path, checked, load) {
        Ok(value) => value,
        Err(Miss::Check(e)) => Err(e),
        Err(Miss::Io(e)) => Err(e.into()),
    }
}

/// The parsed `.opencode/openwork.json`, `{}` when missing or blank.
pub fn read_openwork(caches: &Caches, root: &Path) -> ApiResult<Arc<Value>> {
    let parsed = read_cached(caches, root, OPENWORK_JSON, |bytes| {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(
                ApiError::new(ErrorCode::InvalidJson, "Failed to parse openwork.json")
                    .with_status(422),
            ),
        }
    })?;
    Ok(parsed.unwrap_or_else(|| Arc::new(json!({}))))
}

/// Set top-level keys of the OpenCode config, keeping the rest of the file
/// (comments, formatting). Creates `opencode.jsonc` when there is none.
/// Returns the file written.
pub fn set_opencode_keys(root: &Path, edits: &JsonObject) -> ApiResult<PathBuf> {
    let path = resolve_in_workspace(root, &opencode_relative(root))?;
    let text = match super::paths::read_text_exact(&path) {
        Ok(text) => {
            // Refuse to edit a file that does not parse: the edit would be blind.
            jsonc::parse(&text)?;
            let edits: Vec<(String, Value)> =
                edits.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            jsonc::set_top_level(&text, &edits)?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            jsonc::to_pretty(&Value::Object(edits.clone()))
        }
        // Bytes that are not UTF-8 would not survive the edit unchanged.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(ApiError::new(
                ErrorCode::InvalidJsonc,
                "The OpenCode config is not UTF-8 text; editing it would change bytes it holds",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Replace the whole OpenCode config with `value` (import in replace mode).
pub fn replace_opencode(root: &Path, value: &JsonObject) -> ApiResult<()> {
    let path = resolve_in_workspace(root, &opencode_relative(root))?;
    write_atomic(
        &path,
        jsonc::to_pretty(&Value::Object(value.clone())).as_bytes(),
    )?;
    Ok(())
}

/// Shallow-merge `patch` into openwork.json (or replace it).
pub fn write_openwork(
    caches: &Caches,
    root: &Path,
    patch: &JsonObject,
    replace: bool,
) -> ApiResult<()> {
    let mut merged = if replace {
        JsonObject::new()
    } else {
        read_openwork(caches, root)?
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    for (k, v) in patch {
        merged.insert(k.clone(), v.clone());
    }
    let path = resolve_in_workspace(root, OPENWORK_JSON)?;
    write_atomic(&path, jsonc::to_pretty(&Value::Object(merged)).as_bytes())?;
    Ok(())
}
