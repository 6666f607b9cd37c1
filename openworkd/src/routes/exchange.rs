//! Inbox uploads and outbox artifacts.

use crate::app::{AppState, Workspace};
use crate::auth::{Client, Writer};
use crate::error::{ApiError, ApiResult};
use crate::http::{Params, QueryMap};
use crate::pipeline::{Action, Done, Intent};
use crate::workspace::exchange::{self, INBOX, OUTBOX};
use crate::workspace::paths::{TempFile, create_dirs};
use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use openwork_shared::ErrorCode;
use openwork_shared::models::{FileList, InboxUploaded};
use serde_json::json;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

/// One of a workspace's two file boxes, with its switch and error answers.
struct FileBox {
    dir: &'static str,
    names: bool,
    disabled: (ErrorCode, &'static str),
    invalid: (ErrorCode, &'static str),
    missing: (ErrorCode, &'static str),
}

const OUTBOX_BOX: FileBox = FileBox {
    dir: OUTBOX,
    names: false,
    disabled: (ErrorCode::OutboxDisabled, "Workspace outbox is disabled"),
    invalid: (ErrorCode::InvalidArtifact, "Artifact id is invalid"),
    missing: (ErrorCode::ArtifactNotFound, "Artifact not found"),
};

const INBOX_BOX: FileBox = FileBox {
    dir: INBOX,
    names: true,
    disabled: (ErrorCode::InboxDisabled, "Workspace inbox is disabled"),
    invalid: (ErrorCode::InvalidInboxItem, "Inbox item id is invalid"),
    missing: (ErrorCode::InboxItemNotFound, "Inbox item not found"),
};

/// `OUT` picks the outbox (artifacts) or the inbox.
fn file_box<const OUT: bool>(st: &AppState) -> (&'static FileBox, bool) {
    if OUT {
        (&OUTBOX_BOX, st.config.outbox_enabled)
    } else {
        (&INBOX_BOX, st.config.inbox_enabled)
    }
}

/// `GET /workspace/:id/artifacts` and `/inbox`: empty when disabled.
pub async fn list<const OUT: bool>(
    State(st): State<AppState>,
    _client: Client,
    Workspace(ws): Workspace,
) -> ApiResult<Json<FileList>> {
    let (file_box, enabled) = file_box::<OUT>(&st);
    if !enabled {
        return Ok(Json(FileList { items: Vec::new() }));
    }
    st.blocking(move |_| {
        let items = exchange::list(&ws.path, file_box.dir, file_box.names);
        Ok(Json(FileList { items }))
    })
    .await
}

/// `GET /workspace/:id/artifacts/:item` and `/inbox/:item`: the file,
/// streamed, honouring `Range` requests.
pub async fn item<const OUT: bool>(
    State(st): State<AppState>,
    _client: Client,
    Params((id, item)): Params<(String, String)>,
    req: Request,
) -> ApiResult<Response> {
    let (file_box, enabled) = file_box::<OUT>(&st);
    if !enabled {
        return Err(ApiError::new(file_box.disabled.0, file_box.disabled.1));
    }
    let ws = st.workspace(&id)?;
    let path = st
        .blocking(move |_| exchange::locate(&ws.path, file_box.dir, &item))
        .await?
        .ok_or_else(|| ApiError::new(file_box.invalid.0, file_box.invalid.1))?;
    let is_file = tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file());
    if !is_file {
        return Err(ApiError::new(file_box.missing.0, file_box.missing.1));
    }
    let mut forwarded = Request::new(Body::empty());
    for name in [
        header::RANGE,
        header::IF_RANGE,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ] {
        if let Some(value) = req.headers().get(&name) {
            forwarded.headers_mut().insert(name, value.clone());
        }
    }
    // A range in a unit other than bytes is ignored (RFC 9110 §14.2).
    let byte_range = forwarded.headers().get(header::RANGE).is_none_or(|r| {
        r.as_bytes()
            .get(..6)
            .is_some_and(|unit| unit.eq_ignore_ascii_case(b"bytes="))
    });
    if !byte_range {
        forwarded.headers_mut().remove(header::RANGE);
        forwarded.headers_mut().remove(header::IF_RANGE);
    }
    let served = tower_http::services::ServeFile::new(&path)
        .oneshot(forwarded)
        .await
        .unwrap_or_else(|never| match never {});
    if served.status() == axum::http::StatusCode::RANGE_NOT_SATISFIABLE {
        let size = tokio::fs::metadata(&path).await?.len();
        let mut refused = axum::response::IntoResponse::into_response(
            ApiError::new(
                ErrorCode::RangeNotSatisfiable,
                "Requested range is not satisfiable",
            )
            .with_details(json!({"size": size})),
        );
        if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
            refused.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        return Ok(refused);
    }
    let mut resp = served.map(Body::new);
    let out = resp.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&content_disposition(&path)) {
        out.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(resp)
}

/// `attachment; filename="…"`, plus the RFC 5987 form for non-ASCII names.
fn content_disposition(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if plain == name {
        return format!("attachment; filename=\"{plain}\"");
    }
    let encoded = openwork_shared::routes::segment(&name);
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

/// A received upload: its temporary file (removed on drop) and size.
struct Upload {
    file: TempFile,
    bytes: u64,
    filename: Option<String>,
}

pub async fn upload(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(id): Params<String>,
    query: QueryMap,
    headers: axum::http::HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<InboxUploaded>> {
    if !st.config.inbox_enabled {
        return Err(ApiError::new(
            ErrorCode::InboxDisabled,
            "Workspace inbox is disabled",
        ));
    }
    let ws = st.workspace(&id)?;
    let max = st.config.inbox_max_bytes;
    if let Some(announced) = content_length(&headers)
        && announced > max.saturating_add(MULTIPART_ALLOWANCE)
    {
        // Refused from the header, before any of the body is read.
        return Err(too_large(max, announced));
    }
    let mut multipart =
        multipart.map_err(|_| ApiError::invalid_payload("Expected multipart/form-data"))?;
    let mut upload = None;
    let mut form_path = None;
    while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
        match field.name() {
            Some("file") if field.file_name().is_some() && upload.is_none() => {
                let root = ws.path.clone();
                let dir = st.blocking(move |_| exchange::uploads_dir(&root)).await?;
                upload = Some(receive(field, dir, max).await?);
            }
            Some("path") if field.file_name().is_none() => {
                form_path = Some(field.text().await.map_err(bad_multipart)?);
            }
            _ => {}
        }
    }
    let upload = upload
        .ok_or_else(|| ApiError::new(ErrorCode::FileRequired, "Form field 'file' is required"))?;
    let requested = [
        query.get("path").map(str::to_owned),
        form_path,
        upload.filename.clone(),
    ]
    .into_iter()
    .flatten()
    .map(|p| p.trim().to_owned())
    .find(|p| !p.is_empty())
    .unwrap_or_default();
    let root = ws.path.clone();
    let (relative, target) = st
        .blocking(move |_| exchange::inbox_target(&root, &requested))
        .await?;
    let intent = Intent::new(
        Action::InboxUpload,
        format!("Upload {relative} to inbox"),
        vec![target],
    );
    let bytes = upload.bytes;
    let rel = relative.clone();
    st.mutate(&actor, &ws, intent, move |_, root| {
        // Resolve again: the folders may have changed while waiting.
        let (_, target) = exchange::inbox_target(root, &rel)?;
        if let Some(parent) = target.parent() {
            create_dirs(parent)?;
        }
        upload.file.persist(&target)?;
        let summary = format!("Uploaded {rel} to inbox");
        Ok(Done::new(()).audit(target.display().to_string(), summary))
    })
    .await?;
    Ok(Json(InboxUploaded {
        ok: true,
        path: relative,
        bytes,
    }))
}

/// Stream a file part to a temporary file, refusing it as soon as it
/// passes `max` bytes (the temporary file is then removed).
async fn receive(mut field: Field<'_>, dir: PathBuf, max: u64) -> ApiResult<Upload> {
    let filename = field.file_name().map(str::to_owned);
    let file = tokio::task::spawn_blocking(move || TempFile::create_in(&dir, 0o644)).await??;
    let mut out = tokio::fs::File::from_std(file.file().try_clone()?);
    let mut bytes = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
        bytes += chunk.len() as u64;
        if bytes > max {
            return Err(too_large(max, bytes));
        }
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(Upload {
        file,
        bytes,
        filename,
    })
}

/// What a multipart body may carry beyond the file itself (boundaries,
/// part headers, the `path` field) before its length alone refuses it.
const MULTIPART_ALLOWANCE: u64 = 64 * 1024;

fn content_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(max: u64, size: u64) -> ApiError {
    ApiError::new(ErrorCode::FileTooLarge, "File exceeds upload limit")
        .with_details(json!({"maxBytes": max, "size": size}))
}

fn bad_multipart(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::invalid_payload(format!("Invalid multipart body: {}", e.body_text()))
}
