//! The one place where workspace-relative paths become filesystem paths,
//! and the one atomic-write helper.

use crate::error::{ApiError, ApiResult};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Normalize a client-supplied relative path (inbox, artifacts, file
/// sessions): trims, refuses NUL and `.`/`..` segments, turns `\` into `/`,
/// and drops leading `/`, `./` and `workspace/` prefixes.
pub fn normalize_relative(input: &str) -> ApiResult<String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ApiError::invalid_path("Path is required"));
    }
    if trimmed.contains('\0') {
        return Err(ApiError::invalid_path("Path contains null byte"));
    }
    let slashed = trimmed.replace('\\', "/");
    let mut rest = slashed.trim_start_matches('/');
    rest = rest.strip_prefix("./").unwrap_or(rest);
    rest = rest.strip_prefix("workspace/").unwrap_or(rest);
    rest = rest.trim_start_matches('/');
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return Err(ApiError::invalid_path("Path is required"));
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(ApiError::invalid_path("Path traversal is not allowed"));
    }
    Ok(segments.join("/"))
}

/// A workspace folder and its real (symlink-resolved) location, found once
/// so a batch of paths does not resolve the root again for each.
pub struct Root {
    path: PathBuf,
    real: PathBuf,
}

impl Root {
    pub fn new(path: &Path) -> ApiResult<Root> {
        Ok(Root {
            path: path.to_path_buf(),
            real: path.canonicalize().map_err(ApiError::internal)?,
        })
    }

    /// Resolve a relative path under the root, refusing anything whose real
    /// (symlink-resolved) location would leave it: the deepest existing
    /// ancestor of the target, and the target itself when it exists, must
    /// lie inside the real root.
    pub fn resolve(&self, relative: &str) -> ApiResult<PathBuf> {
        let relative = normalize_relative(relative)?;
        let target = self.path.join(&relative);
        let mut probe = target.as_path();
        let real = loop {
            match probe.canonicalize() {
                Ok(real) => break real,
                Err(e) if e.kind() == io::ErrorKind::NotFound => match probe.parent() {
                    Some(parent) => probe = parent,
                    None => return Err(ApiError::internal(e)),
                },
                Err(e) => return Err(ApiError::internal(e)),
            }
        };
        if real == self.real && probe == target {
            return Err(ApiError::invalid_path("Path must point to a file"));
        }
        if !real.starts_with(&self.real) {
            return Err(ApiError::invalid_path("Path escapes the workspace"));
        }
        Ok(target)
    }
}

/// [`Root::resolve`] for a single path.
pub fn resolve_in_workspace(root: &Path, relative: &str) -> ApiResult<PathBuf> {
    Root::new(root)?.resolve(relative)
}

/// Replace `path` with `bytes` atomically: a temp file in the same folder,
/// fsynced, renamed over the target, folder fsynced. Parents are created.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with_mode(path, bytes, None)
}

/// `write_atomic`, with the file's permission bits set before it appears.
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
    if let Some(mode) = mode {
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    file.write_all(bytes)?;
    file.commit()
}

/// Remove a file or folder if present.
pub fn remove_if_exists(path: &Path) -> io::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        std::fs::remove_dir_all(path)?;
    } else {
        std::fs::remove_file(path)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_normalize_like_the_reference() {
        assert_eq!(normalize_relative("/workspace/a.txt").unwrap(), "a.txt");
        assert_eq!(normalize_relative("./a//b\\c").unwrap(), "a/b/c");
        for bad in ["", "  ", "a/../b", "..", "a\0b", "/", "./"] {
            assert!(normalize_relative(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn resolver_refuses_symlink_escapes() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        assert!(resolve_in_workspace(root.path(), "link/x.txt").is_err());
        assert!(resolve_in_workspace(root.path(), "new/dir/x.txt").is_ok());
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("f")).unwrap();
        assert!(resolve_in_workspace(root.path(), "f").is_err());
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
