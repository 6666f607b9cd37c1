//! MCP servers: the `mcp` object of the OpenCode config.

use super::Caches;
use super::settings;
use crate::error::{ApiError, ApiResult};
use openwork_shared::ErrorCode;
use openwork_shared::models::{JsonObject, McpItem};
use serde_json::Value;
use std::path::Path;

pub fn list(caches: &Caches, root: &Path) -> ApiResult<Vec<McpItem>> {
    let config = settings::read_opencode(caches, root)?;
    let deny: Vec<&str> = config
        .pointer("/tools/deny")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(servers) = config.get("mcp").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    Ok(servers
        .iter()
        .map(|(name, cfg)| McpItem {
            name: name.clone(),
            config: cfg.clone(),
            source: "config.project".into(),
            disabled_by_tools: denied(&deny, name).then_some(true),
        })
        .collect())
}

fn denied(patterns: &[&str], name: &str) -> bool {
    let candidates = [
        format!("mcp.{name}"),
        format!("mcp.{name}.*"),
        format!("mcp:{name}"),
        format!("mcp:{name}:*"),
        "mcp.*".to_owned(),
        "mcp:*".to_owned(),
    ];
    patterns
        .iter()
        .any(|p| candidates.iter().any(|c| glob_match::glob_match(p, c)))
}

pub fn validate(name: &str, config: &Value) -> ApiResult<()> {
    let name_ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !name_ok {
        return Err(ApiError::new(
            ErrorCode::InvalidMcpName,
            "MCP name must be alphanumeric and not start with -",
        ));
    }
    let bad = |m: &str| Err(ApiError::new(ErrorCode::InvalidMcpConfig, m));
    let Some(config) = config.as_object() else {
        return bad("MCP config must be an object");
    };
    match config.get("type").and_then(Value::as_str) {
        Some("local") => {
            let command = config.get("command").and_then(Value::as_array);
            match command {
                Some(parts) if !parts.is_empty() => {
                    if parts
                        .iter()
                        .any(|p| p.as_str().is_none_or(|s| s.trim().is_empty()))
                    {
                        return bad("Local MCP command entries must be non-empty strings");
                    }
                    Ok(())
                }
                _ => bad("Local MCP requires command array"),
            }
        }
        Some("remote") => match config.get("url").and_then(Value::as_str) {
            Some(url) if !url.is_empty() => {
                if url.trim() != url {
                    return bad("Remote MCP url must not include surrounding whitespace");
                }
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return bad("Remote MCP url must start with http(s)://");
                }
                Ok(())
            }
            _ => bad("Remote MCP requires url"),
        },
        _ => bad("MCP config type must be local or remote"),
    }
}

fn servers(caches: &Caches, root: &Path) -> ApiResult<JsonObject> {
    let config = settings::read_opencode(caches, root)?;
    Ok(config
        .get("mcp")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default())
}

/// Add or replace a server; returns whether it existed before.
pub fn set(caches: &Caches, root: &Path, name: &str, config: &Value) -> ApiResult<bool> {
    let mut all = servers(caches, root)?;
    let existed = all.insert(name.to_owned(), config.clone()).is_some();
    write(root, all)?;
    Ok(existed)
}

/// Remove a server; returns whether it was there.
pub fn remove(caches: &Caches, root: &Path, name: &str) -> ApiResult<bool> {
    let mut all = servers(caches, root)?;
    if all.shift_remove(name).is_none() {
        return Ok(false);
    }
    write(root, all)?;
    Ok(true)
}

fn write(root: &Path, all: JsonObject) -> ApiResult<()> {
    let mut edit = JsonObject::new();
    edit.insert("mcp".into(), Value::Object(all));
    settings::set_opencode_keys(root, &edit).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configs_are_validated() {
        assert!(validate("notion", &json!({"type": "remote", "url": "https://x"})).is_ok());
        assert!(validate("fs", &json!({"type": "local", "command": ["npx", "fs"]})).is_ok());
        assert_eq!(
            validate("-x", &json!({})).unwrap_err().code,
            ErrorCode::InvalidMcpName
        );
        for bad in [
            json!({"type": "x"}),
            json!({"type": "local", "command": []}),
            json!({"type": "remote", "url": "ftp://x"}),
        ] {
            assert_eq!(
                validate("a", &bad).unwrap_err().code,
                ErrorCode::InvalidMcpConfig
            );
        }
    }

    #[test]
    fn tools_deny_globs_disable_servers() {
        assert!(denied(&["mcp.*"], "a"));
        assert!(denied(&["mcp.notion*"], "notion"));
        assert!(!denied(&["mcp.other"], "notion"));
    }
}
