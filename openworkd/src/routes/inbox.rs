//! Inbox uploads: streamed to a staging file, approved, then moved into
//! place.

use crate::app::AppState;
use crate::auth::Writer;
use crate::error::{ApiError, ApiResult};
use crate::http::{Params, QueryMap};
use crate::pipeline::{Action, Done, Intent};
use crate::workspace::exchange;
use crate::workspace::paths::{TempFile, create_dirs};
use axum::Json;
use axum::extract::State;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::http::header;
use openwork_shared::ErrorCode;
use openwork_shared::models::InboxUploaded;
use serde_json::json;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

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
    // What the form carries besides the file is bounded too, whether the
    // body announced its length or not.
    let mut allowance = MULTIPART_ALLOWANCE;
    while let Some(mut field) = multipart.next_field().await.map_err(bad_multipart)? {
        match field.name() {
            Some("file") if field.file_name().is_some() && upload.is_none() => {
                let root = ws.path.clone();
                let dir = st.blocking(move |_| exchange::uploads_dir(&root)).await?;
                upload = Some(receive(field, dir, max).await?);
            }
            Some("path") if field.file_name().is_none() => {
                let text = small_field(&mut field, &mut allowance).await?;
                form_path = Some(String::from_utf8_lossy(&text).into_owned());
            }
            _ => drop(small_field(&mut field, &mut allowance).await?),
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
    )
    .bytes(upload.bytes);
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

/// A form field other than the file, read within what is left of the
/// allowance (`413 body_too_large` past it, however it was sent).
async fn small_field(field: &mut Field<'_>, allowance: &mut u64) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
        *allowance = allowance.checked_sub(chunk.len() as u64).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                "Form fields other than the file are too large",
            )
            .with_details(json!({"maxBytes": MULTIPART_ALLOWANCE}))
        })?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

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
    let invalid = ApiError::invalid_payload(format!("Invalid multipart body: {}", e.body_text()));
    ApiError::body_failed(&e, invalid)
}
