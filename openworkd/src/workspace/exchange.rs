//! The inbox (files uploaded to a workspace) and the outbox (artifacts
//! offered to clients): listing, item ids, and where an upload lands.

use super::paths::{is_temp_name, normalize_relative, resolve_in_workspace};
use crate::error::ApiResult;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use openwork_shared::models::FileItem;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub const INBOX: &str = ".opencode/openwork/inbox";
pub const OUTBOX: &str = ".opencode/openwork/outbox";
/// Where uploads are streamed before they are approved (beside the inbox,
/// on the same filesystem, so the final rename is atomic).
pub const UPLOADS: &str = ".opencode/openwork/.uploads";

const IDS: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn encode_id(relative: &str) -> String {
    IDS.encode(relative.as_bytes())
}

/// The normalized relative path an id stands for.
pub fn decode_id(id: &str) -> Option<String> {
    let bytes = IDS.decode(id.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    normalize_relative(&text).ok()
}

/// Every regular file under `<root>/<dir>` (symlinks are neither followed
/// nor listed), newest first. A missing folder is an empty list.
pub fn list(root: &Path, dir: &str, with_names: bool) -> Vec<FileItem> {
    let base = root.join(dir);
    let mut items: Vec<FileItem> = walkdir::WalkDir::new(&base)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| !e.file_name().to_str().is_some_and(is_temp_name))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let path = crate::workspace::paths::slashed(e.path(), &base)?;
            let updated_at = meta
                .modified()
                .ok()?
                .duration_since(UNIX_EPOCH)
                .ok()?
                .as_millis() as u64;
            Some(FileItem {
                id: encode_id(&path),
                name: with_names.then(|| e.file_name().to_string_lossy().into_owned()),
                path,
                size: meta.len(),
                updated_at,
            })
        })
        .collect();
    items.sort_by_key(|item| std::cmp::Reverse(item.updated_at));
    items
}

/// The file an id names under `<root>/<dir>`: `Ok(None)` when the id does
/// not decode to a valid path, an error when it escapes the workspace.
pub fn locate(root: &Path, dir: &str, id: &str) -> ApiResult<Option<PathBuf>> {
    let Some(relative) = decode_id(id) else {
        return Ok(None);
    };
    resolve_in_workspace(root, &format!("{dir}/{relative}")).map(Some)
}

/// Where an upload to the inbox at `relative` is written.
pub fn inbox_target(root: &Path, relative: &str) -> ApiResult<(String, PathBuf)> {
    let relative = normalize_relative(relative)?;
    let path = resolve_in_workspace(root, &format!("{INBOX}/{relative}"))?;
    Ok((relative, path))
}

/// The folder uploads are streamed into, created if needed.
pub fn uploads_dir(root: &Path) -> ApiResult<PathBuf> {
    let dir = resolve_in_workspace(root, UPLOADS)?;
    super::paths::create_dirs(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_reference() {
        assert_eq!(encode_id("report.pdf"), "cmVwb3J0LnBkZg");
        assert_eq!(encode_id("sub/dir/a.txt"), "c3ViL2Rpci9hLnR4dA");
        assert_eq!(
            decode_id("c3ViL2Rpci9hLnR4dA").as_deref(),
            Some("sub/dir/a.txt")
        );
        assert_eq!(decode_id("cmVwb3J0LnBkZg==").as_deref(), Some("report.pdf"));
        assert_eq!(decode_id(&encode_id("../x")), None);
        assert_eq!(decode_id("!!"), None);
    }
}
