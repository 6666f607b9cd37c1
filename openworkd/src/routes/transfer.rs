use crate::app::{AppState, Workspace};
use crate::auth::{Bearer, Writer};
use crate::error::ApiResult;
use crate::events::config_reload;
use crate::http::Payload;
use crate::pipeline::{Action, Done, Intent};
use crate::workspace::{settings, transfer};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{OkBody, WorkspaceExport, WorkspaceImport};

pub async fn export(
    State(st): State<AppState>,
    _client: Bearer,
    Workspace(ws): Workspace,
) -> ApiResult<Json<WorkspaceExport>> {
    st.blocking(move |st| transfer::export(&st.caches, &ws.path, &ws.id, crate::now_ms()).map(Json))
        .await
}

pub async fn import(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Payload(import): Payload<WorkspaceImport>,
) -> ApiResult<Json<OkBody>> {
    let plan = transfer::plan_import(&ws.path, import)?;
    let opencode_path = settings::opencode_path(&ws.path);
    let paths = vec![opencode_path.clone(), settings::openwork_path(&ws.path)];
    let intent = Intent::new(Action::ConfigImport, "Import workspace config", paths);
    let touches_opencode = plan.touches_opencode();
    st.mutate(&actor, &ws, intent, move |st, root| {
        transfer::apply_import(&st.caches, root, &plan)?;
        Ok(Done::new(())
            .reload(touches_opencode.then(|| config_reload(&opencode_path)))
            .audit("workspace", "Imported workspace config"))
    })
    .await?;
    Ok(Json(OkBody { ok: true }))
}
