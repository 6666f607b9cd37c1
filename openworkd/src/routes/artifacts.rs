//! Listing and downloading the files of a workspace's two boxes: its
//! artifacts (the outbox) and its inbox.

use crate::app::{AppState, Workspace};
use crate::auth::Bearer;
use crate::error::{ApiError, ApiResult};
use crate::http::Params;
use crate::workspace::exchange::{self, INBOX, OUTBOX};
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use openwork_shared::ErrorCode;
use openwork_shared::models::FileList;
use serde_json::json;
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
    _client: Bearer,
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
    _client: Bearer,
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
