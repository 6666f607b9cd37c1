//! Where `openworkctl login` keeps the URL and tokens of each daemon (a
//! named context, one of them current): the OS keyring when a keyring
//! service exists, else a file only the user can read.

use crate::failure::Failure;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const SERVICE: &str = "openworkctl";
const ACCOUNT: &str = "default";
/// `file` or `keyring` forces one store; anything else tries the keyring first.
pub const STORE_ENV: &str = "OPENWORKCTL_CREDENTIAL_STORE";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_token: Option<String>,
    /// The pinned SHA-256 fingerprint of an https:// daemon's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Extra CA certificates (PEM file) trusted for this daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

/// Every saved context and the one in use. Stores written before contexts
/// existed hold one `Saved`; it reads as the context `default`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contexts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub contexts: std::collections::BTreeMap<String, Saved>,
}

impl Contexts {
    fn parse(text: &str) -> Option<Contexts> {
        if let Ok(contexts) = serde_json::from_str::<Contexts>(text)
            && !contexts.contexts.is_empty()
        {
            return Some(contexts);
        }
        let legacy: Saved = serde_json::from_str(text).ok()?;
        let mut contexts = Contexts {
            current: Some("default".to_owned()),
            ..Contexts::default()
        };
        contexts.contexts.insert("default".to_owned(), legacy);
        Some(contexts)
    }

    /// The context named, else the current one.
    pub fn pick(&self, name: Option<&str>) -> Option<&Saved> {
        self.contexts.get(name.or(self.current.as_deref())?)
    }
}

/// Where credentials were saved.
pub enum Location {
    Keyring,
    File(PathBuf),
}

fn forced() -> Option<String> {
    std::env::var(STORE_ENV)
        .ok()
        .filter(|v| v == "file" || v == "keyring")
}

/// `<config dir>/openworkctl/credentials.json`.
pub fn file_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", SERVICE).map(|d| d.config_dir().join("credentials.json"))
}

fn entry() -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, ACCOUNT)
}

/// Save every context to the keyring, or to the 0600 file when no keyring
/// can be used. The other store is cleared so only one copy exists.
pub fn save(contexts: &Contexts) -> Result<(Location, Option<String>), Failure> {
    let text = serde_json::to_string(contexts).map_err(|e| Failure::new(e.to_string()))?;
    let mut keyring_error = None;
    if forced().as_deref() != Some("file") {
        match entry().and_then(|e| e.set_password(&text)) {
            Ok(()) => {
                remove_file()?;
                return Ok((Location::Keyring, None));
            }
            Err(e) if forced().as_deref() == Some("keyring") => {
                return Err(Failure::new(format!("cannot use the OS keyring: {e}")));
            }
            Err(e) => keyring_error = Some(e.to_string()),
        }
    }
    let path =
        file_path().ok_or_else(|| Failure::new("no home directory to store credentials in"))?;
    write_private(&path, text.as_bytes())?;
    Ok((Location::File(path), keyring_error))
}

/// The saved contexts, from the file or else the keyring.
pub fn load() -> Option<Contexts> {
    if forced().as_deref() != Some("keyring")
        && let Some(path) = file_path()
        && let Ok(text) = std::fs::read_to_string(path)
    {
        return Contexts::parse(&text);
    }
    if forced().as_deref() == Some("file") {
        return None;
    }
    let text = entry().and_then(|e| e.get_password()).ok()?;
    Contexts::parse(&text)
}

/// Remove saved credentials from both stores; says which held some.
pub fn remove() -> Result<Vec<Location>, Failure> {
    let mut removed = Vec::new();
    if forced().as_deref() != Some("file") && entry().and_then(|e| e.delete_credential()).is_ok() {
        removed.push(Location::Keyring);
    }
    if let Some(path) = file_path()
        && path.exists()
    {
        remove_file()?;
        removed.push(Location::File(path));
    }
    Ok(removed)
}

fn remove_file() -> Result<(), Failure> {
    if let Some(path) = file_path() {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// Write a file readable by its owner only, atomically.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| Failure::new("bad credentials path"))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| Failure::from(e.error))?;
    Ok(())
}
