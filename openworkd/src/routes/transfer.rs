use crate::app::{AppState, Audit};
use crate::auth::{Client, Writer};
use crate::error::ApiResult;
use crate::events::config_reload;
use crate::http::{Body, Params};
use crate::workspace::{settings, transfer};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{Ok as OkBody, WorkspaceExport};

pub async fn export(
    State(st): State<AppState>,
    _client: Client,
    Params(id): Params<String>,
) -> ApiResult<Json<WorkspaceExport>> {
    let ws = st.workspace(&id)?;
    st.blocking(move |st| transfer::export(&st.caches, &ws.path, &ws.id, crate::now_ms()).map(Json))
        .await
}

pub async fn import(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Json<OkBody>> {
    let ws = st.workspace(&id)?;
    let body = transfer::require_object(body.json()?)?;
    let plan = transfer::plan_import(&ws.path, &body)?;
    let opencode_path = settings::opencode_path(&ws.path);
    let paths = vec![opencode_path.clone(), settings::openwork_path(&ws.path)];
    st.approve(
        &actor,
        &ws,
        "config.import",
        "Import workspace config".into(),
        paths,
    )
    .await?;
    let touches_opencode = plan.touches_opencode();
    st.write_reported(&ws, move |st, root| {
        transfer::apply_import(&st.caches, root, &plan)?;
        Ok(((), touches_opencode.then(|| config_reload(&opencode_path))))
    })
    .await?;
    let audit = Audit {
        action: "config.import",
        target: "workspace".into(),
        summary: "Imported workspace config".into(),
    };
    st.record(&actor, &ws, audit).await;
    Ok(Json(OkBody { ok: true }))
}
