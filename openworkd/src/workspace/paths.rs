//! The one place where workspace-relative paths become filesystem paths,
//! and the one atomic-write helper.

use crate::error::{ApiError, ApiResult, IoAt, at_path};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `path` under `base`, its names joined with `/` (names that are not
/// UTF-8 made readable); None when `path` is not under `base`.
pub fn slashed(path: &Path, base: &Path) -> Option<String> {
    let relative = path.strip_prefix(base).ok()?;
    Some(
        relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

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
    if segments.iter().any(|s| s.len() > MAX_NAME_BYTES) || rest.len() > MAX_PATH_BYTES {
        return Err(ApiError::invalid_path(format!(
            "Path is too long (at most {MAX_NAME_BYTES} bytes a name, {MAX_PATH_BYTES} in all)"
        )));
    }
    if segments.iter().any(|s| is_temp_name(s)) {
        return Err(ApiError::invalid_path(
            "Path names a temporary file of the server",
        ));
    }
    Ok(segments.join("/"))
}

/// A workspace folder, opened once so a batch of paths does not look the
/// root up again for each; its real (symlink-resolved) location is found
/// when a check needs it.
pub struct Root {
    path: PathBuf,
    real: std::sync::OnceLock<PathBuf>,
    /// The root folder, opened: paths are looked up beneath it.
    #[cfg(target_os = "linux")]
    dir: std::os::fd::OwnedFd,
}

impl Root {
    /// The workspace at `path`; `404 workspace_not_found` when its folder
    /// is gone (removed, or replaced by a file, while configured).
    pub fn new(path: &Path) -> ApiResult<Root> {
        #[cfg(target_os = "linux")]
        let dir = {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            rustix::fs::open(path, flags, Mode::empty())
                .map_err(|e| Root::refused(path, e.into()))?
        };
        #[cfg(not(target_os = "linux"))]
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(Root::gone(path)),
            Err(e) => return Err(Root::refused(path, e)),
        }
        Ok(Root {
            path: path.to_path_buf(),
            real: std::sync::OnceLock::new(),
            #[cfg(target_os = "linux")]
            dir,
        })
    }

    fn gone(path: &Path) -> ApiError {
        ApiError::new(
            openwork_shared::ErrorCode::WorkspaceNotFound,
            "The workspace's folder is missing",
        )
        .with_details(serde_json::json!({"path": path.display().to_string()}))
    }

    /// The answer when the root at `path` cannot be looked up: gone when
    /// it is not there (any more) or not a folder.
    fn refused(path: &Path, e: io::Error) -> ApiError {
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Root::gone(path),
            _ => at_path(e, path).into(),
        }
    }

    /// Where the root really lies (symlinks resolved).
    fn real(&self) -> ApiResult<&Path> {
        if let Some(real) = self.real.get() {
            return Ok(real);
        }
        let real = self
            .path
            .canonicalize()
            .map_err(|e| Root::refused(&self.path, e))?;
        Ok(self.real.get_or_init(|| real))
    }

    /// Open the regular file at `relative` (normalized) for reading when
    /// the kernel finds it without leaving the root: every symlink on the
    /// way relative and staying beneath it. `None` in every other case (an
    /// absolute or climbing symlink, no such file, not a file, an older
    /// kernel), for [`Self::resolve`] and [`open_regular`] to decide as for
    /// any path. What this opens, they would open too; it looks each name
    /// up once, where they resolve the whole path first.
    #[cfg(target_os = "linux")]
    pub fn open_beneath(&self, relative: &str) -> Option<(std::fs::File, std::fs::Metadata)> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = std::fs::File::from(
            rustix::fs::openat2(&self.dir, relative, flags, Mode::empty(), BENEATH).ok()?,
        );
        let meta = file.metadata().ok()?;
        meta.is_file().then_some((file, meta))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn open_beneath(&self, _relative: &str) -> Option<(std::fs::File, std::fs::Metadata)> {
        None
    }

    /// Resolve a relative path under the root, refusing anything whose real
    /// (symlink-resolved) location would leave it: the deepest existing
    /// ancestor of the target, and the target itself when it exists, must
    /// lie inside the real root.
    pub fn resolve(&self, relative: &str) -> ApiResult<PathBuf> {
        let relative = normalize_relative(relative)?;
        let target = self.path.join(&relative);
        if self.found_beneath(&relative) {
            return Ok(target);
        }
        self.checked(&relative, target)
    }

    /// [`Self::resolve`] without the kernel's look-up: every path through
    /// the check from the real paths.
    #[cfg(test)]
    pub(crate) fn resolve_checked(&self, relative: &str) -> ApiResult<PathBuf> {
        let relative = normalize_relative(relative)?;
        let target = self.path.join(&relative);
        self.checked(&relative, target)
    }

    /// [`Self::resolve`]'s check, from the real paths.
    fn checked(&self, relative: &str, target: PathBuf) -> ApiResult<PathBuf> {
        let (real, probe) =
            deepest_real(&target).map_err(|e| ApiError::from(at_path(e, Path::new(relative))))?;
        let root = self.real()?;
        if real == root && probe == target {
            return Err(ApiError::invalid_path("Path must point to a file"));
        }
        if !real.starts_with(root) {
            return Err(ApiError::invalid_path("Path escapes the workspace"));
        }
        Ok(target)
    }

    /// Whether [`Self::checked`] would pass `relative`, as the kernel tells
    /// by finding its deepest existing ancestor (itself when it exists)
    /// beneath the root, symlinks followed, in one look-up of each name:
    /// true only when it passes. Anything else (an absolute or climbing
    /// symlink, a loop, a file where a folder is expected, the root itself)
    /// is left to that check, for its answer.
    #[cfg(target_os = "linux")]
    fn found_beneath(&self, relative: &str) -> bool {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::PATH | OFlags::CLOEXEC;
        let mut probe = relative;
        loop {
            match rustix::fs::openat2(&self.dir, probe, flags, Mode::empty(), BENEATH) {
                // The target itself may not be the root (a symlink to it).
                Ok(found) => return probe != relative || !same_file(&found, &self.dir),
                Err(rustix::io::Errno::NOENT) => match probe.rfind('/') {
                    Some(cut) => probe = &probe[..cut],
                    // Nothing of it exists: the root is its deepest ancestor.
                    None => return true,
                },
                Err(_) => return false,
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn found_beneath(&self, _relative: &str) -> bool {
        false
    }
}

/// How paths are looked up beneath a root: never above it, through an
/// absolute symlink or a `/proc` magic link.
#[cfg(target_os = "linux")]
const BENEATH: rustix::fs::ResolveFlags =
    rustix::fs::ResolveFlags::BENEATH.union(rustix::fs::ResolveFlags::NO_MAGICLINKS);

#[cfg(target_os = "linux")]
fn same_file(a: &std::os::fd::OwnedFd, b: &std::os::fd::OwnedFd) -> bool {
    match (rustix::fs::fstat(a), rustix::fs::fstat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// The real (symlink-resolved) location of the deepest ancestor of `path`
/// that exists (`path` itself when it does), and that ancestor.
fn deepest_real(path: &Path) -> io::Result<(PathBuf, &Path)> {
    let mut probe = path;
    loop {
        match probe.canonicalize() {
            Ok(real) => return Ok((real, probe)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match probe.parent() {
                Some(parent) => probe = parent,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

/// Where `path` (under `root`) really lies, relative to the real location
/// of `root`, `/`-joined: symlinks on the way are followed as far as
/// something exists. None when that is outside `root`.
pub fn real_relative(root: &Path, path: &Path) -> Option<String> {
    let real_root = root.canonicalize().ok()?;
    let (real, probe) = deepest_real(path).ok()?;
    let rest = path.strip_prefix(probe).ok()?;
    slashed(&real.join(rest), &real_root)
}

/// [`Root::resolve`] for a single path.
pub fn resolve_in_workspace(root: &Path, relative: &str) -> ApiResult<PathBuf> {
    Root::new(root)?.resolve(relative)
}

/// The longest name one folder entry may have (Linux and macOS).
const MAX_NAME_BYTES: usize = 255;
/// The longest relative path a client may name.
const MAX_PATH_BYTES: usize = 4000;

/// The most a workspace file the server parses (config, skills, commands)
/// may hold.
pub const MAX_PARSED_BYTES: u64 = 16 * 1024 * 1024;

/// Read `path`, whoever put it there (symlinks followed; callers resolve
/// the path first): opened without blocking, so a FIFO does not hang the
/// read; refused unless a regular file, so a device does not stream
/// forever; refused past `limit` bytes, however large the file says it is
/// or grows while read.
pub fn read_file(path: &Path, limit: u64) -> io::Result<(std::fs::Metadata, Vec<u8>)> {
    let (file, meta) = open_regular(path)?;
    let bytes = read_opened(file, &meta, limit)?;
    Ok((meta, bytes))
}

/// The content of a file [`open_regular`] opened, refused past `limit`
/// bytes, however large it says it is or grows while read.
pub fn read_opened(
    file: std::fs::File,
    meta: &std::fs::Metadata,
    limit: u64,
) -> io::Result<Vec<u8>> {
    use std::io::Read;
    if meta.len() > limit {
        return Err(unreadable("File is larger than the server reads"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(unreadable("File is larger than the server reads"));
    }
    Ok(bytes)
}

/// The last `wanted` non-empty lines of the last `limit` bytes of `path`,
/// newest first (with the file's metadata), read backwards from a `block`
/// of bytes, each next read twice the last, until there are enough (a long
/// line is copied a few times, not once per block). When `limit` leaves
/// out the file's start, the first line of what it keeps is left out too
/// (it may be cut); a last line without its newline counts.
pub fn read_last_lines(
    path: &Path,
    wanted: usize,
    limit: u64,
    block: u64,
) -> io::Result<(std::fs::Metadata, Vec<Vec<u8>>)> {
    use std::os::unix::fs::FileExt;
    let (file, meta) = open_regular(path)?;
    let start = meta.len().saturating_sub(limit);
    let mut end = meta.len();
    let mut lines = Vec::new();
    // The bytes after the last newline seen (a line's end, its start
    // further back).
    let mut rest: Vec<u8> = Vec::new();
    let mut block = block.max(1);
    while end > start && lines.len() < wanted {
        let from = end.saturating_sub(block).max(start);
        let mut read = vec![0; (end - from) as usize];
        file.read_exact_at(&mut read, from)?;
        read.extend_from_slice(&rest);
        let mut pieces = read.split(|&b| b == b'\n').rev().peekable();
        // The first piece may go on further back: kept for the next block.
        while let Some(piece) = pieces.next() {
            if pieces.peek().is_none() {
                rest = piece.to_vec();
                break;
            }
            if lines.len() < wanted && !piece.trim_ascii().is_empty() {
                lines.push(piece.to_vec());
            }
        }
        end = from;
        block = block.saturating_mul(2);
    }
    // At the file's start the piece kept is a whole line; cut by `limit`,
    // it is not.
    if start == 0 && lines.len() < wanted && !rest.trim_ascii().is_empty() {
        lines.push(rest);
    }
    Ok((meta, lines))
}

fn unreadable(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, crate::error::Unreadable(why))
}

/// `path` opened for reading without blocking, if a regular file.
pub fn open_regular(path: &Path) -> io::Result<(std::fs::File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    if !meta.is_file() {
        return Err(unreadable(
            "Path names a FIFO, socket or device where a file is expected",
        ));
    }
    Ok((file, meta))
}

/// [`read_file`] of a parsed workspace file, as text to show: bytes that
/// are not UTF-8 read as U+FFFD.
pub fn read_text(path: &Path) -> io::Result<String> {
    let (_, bytes) = read_file(path, MAX_PARSED_BYTES)?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// [`read_file`] of a workspace file about to be edited, as UTF-8 text;
/// `InvalidData` when it is not, as an edit could not keep its bytes.
pub fn read_text_exact(path: &Path) -> io::Result<String> {
    let (_, bytes) = read_file(path, MAX_PARSED_BYTES)?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Every temporary file this daemon writes is named
/// `.openworkd-tmp-<16 hex>-<8 hex>`, the last part a checksum of the first,
/// so a leftover is recognised as ours and a user's file never is.
const TEMP_PREFIX: &str = ".openworkd-tmp-";

fn temp_check(random: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("openworkd temporary file {random}"));
    hex::encode(&digest[..4])
}

pub(crate) fn temp_name() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let random = &random[..16];
    format!("{TEMP_PREFIX}{random}-{}", temp_check(random))
}

/// Whether a file name is one of our temporary names (checksum included).
pub fn is_temp_name(name: &str) -> bool {
    let Some((random, check)) = name
        .strip_prefix(TEMP_PREFIX)
        .and_then(|rest| rest.split_once('-'))
    else {
        return false;
    };
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    hex(random, 16) && hex(check, 8) && temp_check(random) == check
}

/// Where temporary files are written when the target's folder allows it: a
/// folder of the data folder, outside every watched workspace, so that a
/// write shows in its folder as one event (the rename) rather than the
/// temporary file's creation, writing, closing and move. Set once a
/// write-ahead log is taken (the folder belongs to its holder).
///
/// The files go to its subfolders in turn, [`STAGING_TURN`] each, placed
/// apart from one another on the disk (the folder is marked as the top of
/// a hierarchy): some file systems (ext4 without a journal) pass over every
/// inode of a region freed in the last minutes, one lookup each, before
/// they take a free one, so a region where files are made and replaced
/// thousands of times a second makes each new file slower; the next turn
/// makes them in a region left alone for minutes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct Staging {
    dir: PathBuf,
    /// Its mount: a rename only works within one.
    mount: u64,
    /// The group a file created there gets.
    group: u32,
    /// Whether the file system is ext4 (see [`TempFile::reserve`]).
    ext4: bool,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
static STAGING: std::sync::OnceLock<Staging> = std::sync::OnceLock::new();

/// How long, in seconds, temporary files go to one staging subfolder, and
/// how many subfolders take turns (a region is used again after 320 s).
const STAGING_TURN: u64 = 5;
const STAGING_FOLDERS: u64 = 64;
/// How deep a staging folder holds temporary files: in its subfolders (and,
/// left by an earlier version, in itself).
pub const STAGING_DEPTH: usize = 2;

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
impl Staging {
    /// The subfolder whose turn it is.
    fn current(&self) -> PathBuf {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let turn = secs / STAGING_TURN % STAGING_FOLDERS;
        self.dir.join(format!("{turn:02}"))
    }

    /// A new file in the current subfolder (made if missing), and its path.
    fn create(
        &self,
        open: impl Fn(&Path) -> io::Result<std::fs::File>,
    ) -> Option<(PathBuf, std::fs::File)> {
        use std::os::unix::fs::DirBuilderExt;
        let folder = self.current();
        let path = folder.join(temp_name());
        let file = match open(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&folder)
                    .ok()?;
                open(&path)
            }
            opened => opened,
        };
        file.ok().map(|file| (path, file))
    }
}

/// ext4's file system type (`statfs`).
pub const EXT4: i64 = 0xEF53;

/// Whether `path` is on an ext4 file system.
pub fn on_ext4(path: &Path) -> bool {
    // The field's width depends on the architecture.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::statfs(path).is_ok_and(|fs| fs.f_type as i64 == EXT4)
}

/// Mark `dir` as the top of a hierarchy, so that the file system places
/// each of its subfolders (and their files) apart, in a region of the disk
/// of its own, where it supports that (ext4); else nothing.
#[cfg(target_os = "linux")]
pub fn place_subfolders_apart(dir: &Path) {
    if let Ok(folder) = std::fs::File::open(dir)
        && let Ok(flags) = rustix::fs::ioctl_getflags(&folder)
        && !flags.contains(rustix::fs::IFlags::TOPDIR)
    {
        let _ = rustix::fs::ioctl_setflags(&folder, flags | rustix::fs::IFlags::TOPDIR);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn place_subfolders_apart(_dir: &Path) {}

/// Stage this process's temporary files in `dir` (created `rwx------`;
/// what an interrupted write left there is removed) whenever a target's
/// folder would give a new file nothing that a file made in `dir` lacks.
/// Not on systems that label files by the folder they are made in.
#[cfg(target_os = "linux")]
pub fn stage_in(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if Path::new("/sys/fs/selinux/enforce").exists() {
        return Ok(());
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e).at(dir),
        _ => {}
    }
    // Only a real folder of ours (not a symlink or a file planted there).
    let meta = std::fs::symlink_metadata(dir).at(dir)?;
    if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(io::Error::other("not a folder of this user")).at(dir);
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).at(dir)?;
    place_subfolders_apart(dir);
    remove_leftovers(dir, STAGING_DEPTH, std::time::SystemTime::now());
    let Some(folder) = Folder::of(dir) else {
        return Ok(());
    };
    // A file made there must get this process's group and no inherited ACL.
    if folder.group != rustix::process::getegid().as_raw() || folder.default_acl {
        return Ok(());
    }
    let ext4 = on_ext4(dir);
    let _ = STAGING.set(Staging {
        dir: dir.to_path_buf(),
        mount: folder.mount,
        group: folder.group,
        ext4,
    });
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn stage_in(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// What a folder gives a file created in it, as far as staging cares.
#[cfg(target_os = "linux")]
struct Folder {
    mount: u64,
    group: u32,
    default_acl: bool,
}

#[cfg(target_os = "linux")]
impl Folder {
    fn of(dir: &Path) -> Option<Folder> {
        use rustix::fs::{AtFlags, CWD, StatxFlags};
        let wanted = StatxFlags::BASIC_STATS | StatxFlags::MNT_ID;
        let stat = rustix::fs::statx(CWD, dir, AtFlags::empty(), wanted).ok()?;
        let mounted = StatxFlags::from_bits_retain(stat.stx_mask).contains(StatxFlags::MNT_ID);
        let is_dir = u32::from(stat.stx_mode) & libc::S_IFMT == libc::S_IFDIR;
        // A set-group-ID folder hands its group and the bit down.
        let setgid = u32::from(stat.stx_mode) & libc::S_ISGID != 0;
        (mounted && is_dir && !setgid).then(|| Folder {
            mount: stat.stx_mnt_id,
            group: stat.stx_gid,
            default_acl: rustix::fs::getxattr_query(dir, "system.posix_acl_default").is_ok(),
        })
    }
}

/// The staging folder, when a temporary file for `dir` made there would be
/// the same as one made in `dir` (same mount, same group, no default ACL);
/// `None`: make it in `dir`.
#[cfg(target_os = "linux")]
fn staging_for(dir: &Path) -> Option<&'static Staging> {
    let staging = STAGING.get()?;
    let folder = Folder::of(dir)?;
    let same =
        folder.mount == staging.mount && folder.group == staging.group && !folder.default_acl;
    same.then_some(staging)
}

#[cfg(not(target_os = "linux"))]
fn staging_for(_dir: &Path) -> Option<&'static Staging> {
    None
}

/// Create `dir` and its missing parents as `rwxr-xr-x`, whatever the umask.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .at(dir)
}

/// A temporary file for a folder, removed unless persisted: made in the
/// staging folder when that is as good as the folder itself (see
/// [`stage_in`]), else in the folder. Closed before it is moved into place.
pub struct TempFile {
    file: std::fs::File,
    /// Its inode.
    ino: u64,
    name: Unmoved,
    /// Whether to give it its blocks before writing (see [`Self::reserve`]).
    reserve: bool,
}

/// A temporary file's path, removed when dropped unless it was moved.
struct Unmoved {
    path: PathBuf,
    moved: bool,
}

impl Drop for Unmoved {
    fn drop(&mut self) {
        if !self.moved {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl TempFile {
    /// A new, empty temporary file for `dir` (created if needed) with
    /// exactly `mode` as its permission bits.
    pub fn create_in(dir: &Path, mode: u32) -> io::Result<TempFile> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        let open = |path: &Path| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(path)
        };
        let staged = staging_for(dir).and_then(|staging| {
            let (path, file) = staging.create(open)?;
            Some((path, file, staging.ext4))
        });
        let (path, file, reserve) = match staged {
            Some(made) => made,
            None => {
                let path = dir.join(temp_name());
                // The folder is made only when it is missing (not on every
                // write).
                let file = match open(&path) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        create_dirs(dir)?;
                        open(&path)
                    }
                    opened => opened,
                }
                .at(&path)?;
                (path, file, false)
            }
        };
        // The umask (or a folder's default ACL) may have taken bits away
        // at creation.
        let made = file.metadata().at(&path)?;
        if made.permissions().mode() & 0o7777 != mode {
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .at(&path)?;
        }
        Ok(TempFile {
            file,
            ino: made.ino(),
            name: Unmoved { path, moved: false },
            reserve,
        })
    }

    pub fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// Give the file blocks for `len` bytes before they are written, on
    /// ext4: a file written with its blocks not yet chosen has them chosen
    /// and written out when it is renamed over another (ext4's protection
    /// of a replace that was never flushed), work and a device round trip
    /// the write does not need when its content is made durable by the
    /// journal instead.
    fn reserve(&self, len: usize) {
        if self.reserve && len > 0 {
            let _ = rustix::fs::fallocate(
                &self.file,
                rustix::fs::FallocateFlags::empty(),
                0,
                len as u64,
            );
        }
    }

    fn path(&self) -> &Path {
        &self.name.path
    }

    /// Make the data durable, then move it over `target` (whose folder must
    /// be on the same file system) and make the new name durable.
    pub fn persist(self, target: &Path) -> io::Result<()> {
        self.file.sync_data().at(self.path())?;
        self.move_over(target)
    }

    /// Move the (already durable) data over `target`, make the name durable.
    fn move_over(self, target: &Path) -> io::Result<()> {
        self.rename(target)?;
        sync_dir(target)
    }

    /// Close the file (so no event of its closing is seen in the target's
    /// folder), then move it over `target`.
    fn rename(self, target: &Path) -> io::Result<()> {
        let TempFile { file, mut name, .. } = self;
        drop(file);
        let replaced = hold(target);
        std::fs::rename(&name.path, target).at(target)?;
        name.moved = true;
        if let Some(replaced) = replaced {
            reap(replaced);
        }
        Ok(())
    }
}

/// A reference to the file at `path` (none when there is none), which
/// keeps it from being freed while held.
fn hold(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
        .open(path)
        .ok()
}

/// Let go of a file a write replaced, on the reaper's thread: freeing a
/// file's blocks is work for the file system (and, on a file system
/// mounted with `discard`, a wait for the device) that the write need
/// not wait for. It is freed at once (those queued while the reaper frees
/// another are let go together): a file system that avoids reusing an
/// inode freed in an earlier second (see [`Staging`]) takes it again for the
/// next write's temporary file only while it is fresh.
fn reap(file: std::fs::File) {
    static REAPER: std::sync::OnceLock<Option<std::sync::mpsc::Sender<std::fs::File>>> =
        std::sync::OnceLock::new();
    let reaper = REAPER.get_or_init(|| {
        let (send, receive) = std::sync::mpsc::channel::<std::fs::File>();
        let spawned = std::thread::Builder::new()
            .name("openworkd-reaper".into())
            .spawn(move || while receive.recv().is_ok() {});
        spawned.ok().map(|_| send)
    });
    if let Some(reaper) = reaper {
        let _ = reaper.send(file);
    }
}

/// New content for a file, in a temporary file, not yet in place: [`stage`]
/// it outside a lock, [`Staged::commit`] it inside.
pub struct Staged {
    temp: TempFile,
    target: PathBuf,
    /// Small content, not flushed yet: kept to be made durable through the
    /// journal's write-ahead log when committed inside
    /// [`defer_durability`] (else flushed as it is committed).
    logged: Option<Logged>,
}

/// Content up to this size is made durable by a copy in the journal's
/// write-ahead log (one flush for the write and its records) instead of
/// flushing the file and its folder; larger content is flushed as staged.
pub const LOGGED_MAX: usize = 1 << 20;
/// At most this much content of one write goes to the write-ahead log
/// (what it holds in memory until its commit); the files past it are
/// flushed as they are committed.
const LOGGED_PER_WRITE: usize = 4 << 20;

/// The order in which logged files were renamed into place: the last of a
/// path is what a write-back restores.
static RENAMED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A file replaced by a write whose durability is the journal's: its new
/// content goes into the write-ahead log with the write's records, and
/// the file and its folder are flushed at the journal's next checkpoint.
pub struct Logged {
    pub path: PathBuf,
    pub mode: u32,
    pub bytes: Vec<u8>,
    /// The inode the path held before (0: none) and the one it holds now:
    /// what a write-back after a power loss checks the path against.
    pub was: u64,
    pub is: u64,
    /// How many bytes of `path` are the workspace's root (set by the
    /// write that commits it): below it, a write-back follows no symlink.
    pub root_len: usize,
    /// When it was renamed into place, among all logged files.
    pub seq: u64,
}

/// Write `bytes` for `target` to a temporary file for its folder (created
/// if needed), with the mode `target` has (0644 when new). Large content is
/// flushed at once; small content when committed (see [`Staged`]).
pub fn stage(target: &Path, bytes: &[u8]) -> io::Result<Staged> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (mode, was) = std::fs::metadata(target)
        .map_or((0o644, 0), |m| (m.permissions().mode() & 0o7777, m.ino()));
    stage_as(target, bytes, mode, was)
}

/// `stage` with exactly `mode` as the file's permission bits.
fn stage_with_mode(target: &Path, bytes: &[u8], mode: u32) -> io::Result<Staged> {
    use std::os::unix::fs::MetadataExt;
    let was = std::fs::metadata(target).map_or(0, |m| m.ino());
    stage_as(target, bytes, mode, was)
}

fn stage_as(target: &Path, bytes: &[u8], mode: u32, was: u64) -> io::Result<Staged> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let temp = TempFile::create_in(dir, mode)?;
    let logs = bytes.len() <= LOGGED_MAX;
    if logs {
        temp.reserve(bytes.len());
    }
    temp.file().write_all(bytes).at(temp.path())?;
    let logged = match logs {
        true => Some(Logged {
            path: target.to_path_buf(),
            mode,
            bytes: bytes.to_vec(),
            was,
            is: temp.ino,
            root_len: 0,
            seq: 0,
        }),
        false => {
            temp.file().sync_data().at(temp.path())?;
            None
        }
    };
    Ok(Staged {
        temp,
        target: target.to_path_buf(),
        logged,
    })
}

impl Staged {
    /// The staged content's file (not yet in place).
    pub fn file(&self) -> &std::fs::File {
        self.temp.file()
    }

    /// Move the content into place (atomically) and make it durable: at
    /// once, or inside [`defer_durability`] by the caller's commit.
    pub fn commit(self) -> io::Result<()> {
        let Staged {
            temp,
            target,
            logged,
        } = self;
        let Some(mut logged) = logged else {
            return temp.move_over(&target);
        };
        // Inside a write that still has room in the log for it.
        let room = DEFERRED.with(|d| {
            d.borrow().as_ref().is_some_and(|deferred| {
                let kept: usize = deferred.logged.iter().map(|l| l.bytes.len()).sum();
                kept + logged.bytes.len() <= LOGGED_PER_WRITE
            })
        });
        if !room {
            temp.file().sync_data().at(temp.path())?;
            return temp.move_over(&target);
        }
        temp.rename(&target)?;
        logged.seq = RENAMED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        DEFERRED.with(|d| {
            if let Some(deferred) = d.borrow_mut().as_mut() {
                deferred.logged.push(logged);
            }
        });
        Ok(())
    }
}

/// What a write left to make durable once it is over: folders whose
/// entries changed, and files replaced with content for the write-ahead
/// log (see [`defer_durability`]).
#[derive(Default)]
pub struct Deferred {
    pub folders: std::collections::BTreeSet<PathBuf>,
    pub logged: Vec<Logged>,
}

impl Deferred {
    /// Every folder whose entries the write changed.
    pub fn touched(&self) -> impl Iterator<Item = &Path> {
        let parents = self.logged.iter().filter_map(|l| l.path.parent());
        self.folders.iter().map(PathBuf::as_path).chain(parents)
    }
}

thread_local! {
    /// What the running write leaves to make durable (see
    /// [`defer_durability`]); `None` when nothing collects it.
    static DEFERRED: std::cell::RefCell<Option<Deferred>> =
        const { std::cell::RefCell::new(None) };
}

/// Run `work`, collecting what its atomic writes leave to make durable
/// instead of syncing at once: a write-batch syncs each folder once, small
/// files go to the write-ahead log with the write's records, and the
/// caller makes it all durable after releasing its lock. The caller must
/// pass it to the journal's commit before answering.
pub fn defer_durability<T>(work: impl FnOnce() -> T) -> (T, Deferred) {
    let outer = DEFERRED.with(|d| d.borrow_mut().replace(Deferred::default()));
    let result = work();
    let deferred = DEFERRED.with(|d| std::mem::replace(&mut *d.borrow_mut(), outer));
    (result, deferred.unwrap_or_default())
}

/// Make the entry of `path` in its folder durable, now or (inside
/// [`defer_durability`]) when the write is over.
fn sync_dir(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let deferred = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(deferred) => {
            deferred.folders.insert(dir.to_path_buf());
            true
        }
        None => false,
    });
    if deferred {
        return Ok(());
    }
    std::fs::File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Replace `path` with `bytes` atomically: a temporary file ([`TempFile`])
/// written, synced, renamed over the target, folder synced. Parents are
/// created. An existing file keeps its permission bits; a new one gets
/// `rw-r--r--`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(path, bytes)?.commit()
}

/// `write_atomic` with exactly `mode` as the file's permission bits.
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    stage_with_mode(path, bytes, mode)?.commit()
}

/// Remove the temporary files that interrupted writes left under `root`,
/// at most `depth` folders down: only names [`is_temp_name`] recognises,
/// last modified before `started` (a write of this process, running while
/// the sweep walks, is never touched); symlinks are not followed. Returns
/// how many were removed.
pub fn remove_leftovers(root: &Path, depth: usize, started: std::time::SystemTime) -> usize {
    walkdir::WalkDir::new(root)
        .max_depth(depth)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name().to_str().is_some_and(is_temp_name))
        .filter(|e| {
            e.metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .is_some_and(|modified| modified < started)
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
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
    fn the_last_lines_are_read_back_from_the_end_whatever_the_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "one\n\ntwo\nthree\n  \nfour\nfive").unwrap();
        let text = |lines: Vec<Vec<u8>>| -> Vec<String> {
            lines
                .into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        };
        for block in [1, 2, 3, 5, 7, 64, 4096] {
            let last =
                |wanted, limit| text(read_last_lines(&path, wanted, limit, block).unwrap().1);
            assert_eq!(last(2, 1 << 20), ["five", "four"], "block {block}");
            assert_eq!(
                last(10, 1 << 20),
                ["five", "four", "three", "two", "one"],
                "block {block}"
            );
            // The limit cuts "two": left out.
            assert_eq!(last(10, 20), ["five", "four", "three"], "block {block}");
            // The tail's first line is left out even when the limit falls
            // right before it (it cannot be told from a cut one).
            assert_eq!(last(10, 18), ["five", "four"], "block {block}");
            assert_eq!(last(0, 1 << 20), Vec::<String>::new());
        }
        std::fs::write(&path, "").unwrap();
        assert!(read_last_lines(&path, 5, 100, 4).unwrap().1.is_empty());
        assert!(read_last_lines(&dir.path().join("none"), 5, 100, 4).is_err());
    }

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

    #[test]
    fn only_leftovers_older_than_the_start_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let old = TempFile::create_in(dir.path(), 0o600).unwrap();
        let old_name = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::mem::forget(old);
        let started = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
        // A write in progress after the start is left alone.
        let live = TempFile::create_in(dir.path(), 0o600).unwrap();
        let later = std::time::SystemTime::now() - std::time::Duration::from_secs(5);
        assert_eq!(remove_leftovers(dir.path(), 1, later), 0);
        assert_eq!(remove_leftovers(dir.path(), 1, started), 2);
        assert!(!old_name.exists());
        drop(live);
        std::fs::write(
            dir.path().join(".openworkd-tmp-0123456789abcdef-00000000"),
            "x",
        )
        .unwrap();
        assert_eq!(
            remove_leftovers(dir.path(), 1, started),
            0,
            "look-alikes stay"
        );
    }

    #[test]
    fn reads_take_regular_files_only_and_at_most_what_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("log");
        std::fs::write(&file, "one\ntwo\nthree\n").unwrap();
        assert_eq!(read_file(&file, 100).unwrap().1, b"one\ntwo\nthree\n");
        let too_large = read_file(&file, 4).unwrap_err();
        assert!(crate::error::path_refusal(&too_large).is_some());
        let last = |path: &Path, wanted, limit| read_last_lines(path, wanted, limit, 4).unwrap().1;
        assert_eq!(last(&file, 1, 100), [b"three"]);
        assert_eq!(last(&file, 5, 100).len(), 3);
        // A sparse file that says it is huge: the tail only.
        let huge = dir.path().join("huge");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(20 << 30)
            .unwrap();
        assert!(last(&huge, 1, 8).is_empty());
        assert!(read_file(&huge, MAX_PARSED_BYTES).is_err());
        // A FIFO is refused without waiting for a writer; a folder is EISDIR.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()));
        let refusals = [
            read_file(&fifo, 100).map(|_| ()),
            read_last_lines(&fifo, 1, 100, 4).map(|_| ()),
        ];
        for refused in refusals {
            let e = refused.unwrap_err();
            assert!(
                crate::error::path_refusal(&e).is_some_and(|m| m.contains("FIFO")),
                "{e}"
            );
        }
        let e = read_file(dir.path(), 100).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
    }
}
