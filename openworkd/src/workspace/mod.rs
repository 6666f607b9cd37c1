//! Workspaces: identity, on-disk layout, and the domain operations on
//! their files. Nothing here knows about HTTP.

pub mod cache;
pub mod catalog;
pub mod commands;
pub mod exchange;
pub mod files;
pub mod frontmatter;
pub mod jsonc;
pub mod mcp;
pub mod paths;
pub mod plugins;
pub mod settings;
pub mod skills;
pub mod transfer;

#[cfg(test)]
mod properties;

use openwork_shared::models::{OpencodeConnection, WorkspaceInfo, WorkspaceType};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// A configured workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceEntry {
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    pub workspace_type: WorkspaceType,
    pub base_url: Option<String>,
    pub directory: Option<String>,
    pub opencode_username: Option<String>,
    pub opencode_password: Option<String>,
}

/// `ws_` + the first 12 hex digits of SHA-256 of the resolved path.
pub fn workspace_id(path: &Path) -> String {
    let digest = Sha256::digest(path.to_string_lossy().as_bytes());
    format!("ws_{}", &hex::encode(digest)[..12])
}

/// Join `path` onto `base` (unless absolute) and normalize `.`/`..` lexically,
/// without touching the filesystem. No trailing slash remains.
pub fn normalize_path(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl WorkspaceEntry {
    /// A workspace given only by its path (flag or environment).
    pub fn at(base: &Path, path: &str) -> Self {
        Self::new(
            normalize_path(base, Path::new(path)),
            None,
            WorkspaceType::Local,
        )
    }

    /// A workspace at `path`; its name defaults to the folder name.
    pub fn new(path: PathBuf, name: Option<String>, workspace_type: WorkspaceType) -> Self {
        let name = name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        Self {
            id: workspace_id(&path),
            name,
            path,
            workspace_type,
            base_url: None,
            directory: None,
            opencode_username: None,
            opencode_password: None,
        }
    }

    /// The directory OpenCode is told to use: the configured one, else the
    /// workspace path for local workspaces.
    pub fn opencode_directory(&self) -> Option<String> {
        match self.directory.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => Some(d.to_owned()),
            _ if self.workspace_type == WorkspaceType::Local => {
                Some(self.path.display().to_string())
            }
            _ => None,
        }
    }

    /// The API view. Credentials are left out unless `with_secrets`.
    pub fn info(&self, with_secrets: bool) -> WorkspaceInfo {
        let secret = |v: &Option<String>| if with_secrets { v.clone() } else { None };
        let conn = OpencodeConnection {
            base_url: self.base_url.clone(),
            directory: self.opencode_directory(),
            username: secret(&self.opencode_username),
            password: secret(&self.opencode_password),
        };
        let has_conn = conn != OpencodeConnection::default();
        WorkspaceInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            path: self.path.display().to_string(),
            workspace_type: self.workspace_type,
            base_url: self.base_url.clone(),
            directory: self.directory.clone(),
            opencode: has_conn.then_some(conn),
        }
    }

    pub fn is_under_any(&self, roots: &[PathBuf]) -> bool {
        roots.iter().any(|root| self.path.starts_with(root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_reference_vectors() {
        assert_eq!(
            workspace_id(Path::new("/Users/susan/Finance")),
            "ws_21b0cf5ce338"
        );
        assert_eq!(workspace_id(Path::new("/tmp/ws")), "ws_b011ea26cc73");
        assert_eq!(
            workspace_id(Path::new("/home/user/project")),
            "ws_9dad1e4e08b0"
        );
    }

    #[test]
    fn paths_normalize_lexically() {
        let base = Path::new("/etc/openwork");
        assert_eq!(
            normalize_path(base, Path::new("../ws/./a/")),
            PathBuf::from("/etc/ws/a")
        );
        assert_eq!(
            normalize_path(base, Path::new("/tmp/ws/")),
            PathBuf::from("/tmp/ws")
        );
    }
}

/// The parsed-file caches the daemon keeps.
#[derive(Default)]
pub struct Caches {
    pub json: cache::StampCache<crate::error::ApiResult<Option<std::sync::Arc<serde_json::Value>>>>,
    pub skills: cache::StampCache<Option<skills::SkillDoc>>,
    pub skill_lists:
        cache::ObservedCache<(PathBuf, Option<PathBuf>), Vec<openwork_shared::models::SkillItem>>,
    pub audit_tail: cache::StampCache<Option<Option<u64>>>,
    /// Command listings, by folder and scope.
    pub command_lists:
        cache::ObservedCache<(PathBuf, String), Vec<openwork_shared::models::CommandItem>>,
}
