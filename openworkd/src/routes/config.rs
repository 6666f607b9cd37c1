use crate::app::{AppState, Workspace};
use crate::auth::{Bearer, Writer};
use crate::error::{ApiError, ApiResult};
use crate::events::config_reload;
use crate::http::{Payload, QueryMap};
use crate::pipeline::{Action, Done, Intent, OPENCODE_CONFIG_TARGET};
use crate::workspace::settings;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use openwork_shared::models::{ConfigPatch, ReloadEvents, UpdatedAt, WorkspaceConfig};

pub async fn get(
    State(st): State<AppState>,
    _client: Bearer,
    Workspace(ws): Workspace,
) -> ApiResult<Json<WorkspaceConfig>> {
    Ok(Json(WorkspaceConfig {
        opencode: (*settings::read_opencode(&st.caches, &ws.path)?).clone(),
        openwork: (*settings::read_openwork(&st.caches, &ws.path)?).clone(),
        updated_at: st.audit.last_timestamp(&st.caches, &ws),
    }))
}

pub async fn patch(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Payload(ConfigPatch { opencode, openwork }): Payload<ConfigPatch>,
) -> ApiResult<Json<UpdatedAt>> {
    if opencode.is_none() && openwork.is_none() {
        return Err(ApiError::invalid_payload(
            "opencode or openwork updates required",
        ));
    }
    let opencode_path = settings::opencode_path(&ws.path);
    let mut paths = Vec::new();
    if opencode.is_some() {
        paths.push(opencode_path.clone());
    }
    if openwork.is_some() {
        paths.push(settings::openwork_path(&ws.path));
    }
    let intent = Intent::new(Action::ConfigPatch, "Patch workspace config", paths);
    st.mutate(&actor, &ws, intent, move |st, root| {
        let written = match &opencode {
            Some(edits) => Some(settings::set_opencode_keys(root, edits)?),
            None => None,
        };
        if let Some(patch) = &openwork {
            settings::write_openwork(&st.caches, root, patch, false)?;
        }
        Ok(Done::new(())
            .reload(written.map(|path| config_reload(&path)))
            .audit(OPENCODE_CONFIG_TARGET, "Patched workspace config"))
    })
    .await?;
    Ok(Json(UpdatedAt {
        updated_at: crate::now_ms(),
    }))
}

/// Reload events since `since`: a JSON page, or with `Accept:
/// text/event-stream` a live stream of `reload` frames with keep-alives.
pub async fn events(
    State(st): State<AppState>,
    _client: Bearer,
    Workspace(ws): Workspace,
    query: QueryMap,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let since = last_event_id.unwrap_or_else(|| query.cursor("since"));
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if wants_stream {
        return Ok(crate::events::stream(st, ws.id, since).into_response());
    }
    let (items, cursor) = st.events.since(&ws.id, since);
    Ok(Json(ReloadEvents {
        items,
        cursor,
        workspace_id: ws.id,
        disabled: false,
    })
    .into_response())
}
