use crate::app::{AppState, Workspace};
use crate::auth::{Bearer, Host};
use crate::error::ApiResult;
use crate::pipeline::{Action, Audited};
use crate::routes::sees_secrets;
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{WorkspaceActivated, WorkspaceList};

pub async fn list(State(st): State<AppState>, Bearer(actor): Bearer) -> Json<WorkspaceList> {
    let all = st.workspace_list();
    Json(WorkspaceList {
        active_id: all.first().map(|w| w.id.clone()),
        items: all.iter().map(|w| w.info(sees_secrets(&actor))).collect(),
    })
}

pub async fn mounted_list(
    State(_st): State<AppState>,
    Bearer(actor): Bearer,
    Workspace(ws): Workspace,
) -> ApiResult<Json<WorkspaceList>> {
    Ok(Json(WorkspaceList {
        active_id: Some(ws.id.clone()),
        items: vec![ws.info(sees_secrets(&actor))],
    }))
}

/// Make a workspace the active one (first in the list), in memory.
pub async fn activate(
    State(st): State<AppState>,
    Host(actor): Host,
    Workspace(ws): Workspace,
) -> ApiResult<Json<WorkspaceActivated>> {
    st.activate(&ws.id);
    let summary = format!("Activated workspace {}", ws.name);
    let line = Audited {
        target: ws.id.clone(),
        summary,
    };
    st.record(&actor, &ws, Action::WorkspaceActivate, line)
        .await;
    Ok(Json(WorkspaceActivated {
        active_id: ws.id.clone(),
        workspace: ws.info(true),
    }))
}
