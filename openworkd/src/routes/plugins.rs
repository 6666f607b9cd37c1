use crate::app::{AppState, Audit};
use crate::auth::{Client, Writer};
use crate::error::{ApiError, ApiResult};
use crate::events::trigger;
use crate::http::{Body, Params, QueryMap};
use crate::workspace::{plugins, settings};
use axum::Json;
use axum::extract::State;
use openwork_shared::ErrorCode;
use openwork_shared::models::{PluginList, ReloadReason};
use serde_json::Value;

pub async fn list(
    State(st): State<AppState>,
    _client: Client,
    Params(id): Params<String>,
    query: QueryMap,
) -> ApiResult<Json<PluginList>> {
    let ws = st.workspace(&id)?;
    let global = query
        .is("includeGlobal", "true")
        .then(|| st.config.home_dir.join(".config/opencode/plugins"));
    st.blocking(move |st| plugins::list(&st.caches, &ws.path, global.as_deref()).map(Json))
        .await
}

pub async fn add(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Json<PluginList>> {
    let ws = st.workspace(&id)?;
    let spec = body
        .object()?
        .get("spec")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if spec.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidPluginSpec,
            "Plugin spec is required",
        ));
    }
    let paths = vec![settings::opencode_path(&ws.path)];
    st.approve(
        &actor,
        &ws,
        "plugins.add",
        format!("Add plugin {spec}"),
        paths,
    )
    .await?;
    let spec_for_write = spec.clone();
    let list = st
        .write_reported(&ws, move |st, root| {
            let changed = plugins::add(&st.caches, root, &spec_for_write)?;
            let name = plugins::normalize_spec(&spec_for_write);
            let reload = changed.then(|| {
                (
                    ReloadReason::Plugins,
                    trigger("plugin", &name, "added", None),
                )
            });
            Ok((plugins::list(&st.caches, root, None)?, reload))
        })
        .await?;
    let audit = Audit {
        action: "plugins.add",
        target: "opencode.json".into(),
        summary: format!("Added {spec}"),
    };
    st.record(&actor, &ws, audit).await;
    Ok(Json(list))
}

pub async fn remove(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params((id, name)): Params<(String, String)>,
) -> ApiResult<Json<PluginList>> {
    let ws = st.workspace(&id)?;
    let paths = vec![settings::opencode_path(&ws.path)];
    st.approve(
        &actor,
        &ws,
        "plugins.remove",
        format!("Remove plugin {name}"),
        paths,
    )
    .await?;
    let name_for_write = name.clone();
    let list = st
        .write_reported(&ws, move |st, root| {
            let changed = plugins::remove(&st.caches, root, &name_for_write)?;
            let normalized = plugins::normalize_spec(&name_for_write);
            let reload = changed.then(|| {
                (
                    ReloadReason::Plugins,
                    trigger("plugin", &normalized, "removed", None),
                )
            });
            Ok((plugins::list(&st.caches, root, None)?, reload))
        })
        .await?;
    let audit = Audit {
        action: "plugins.remove",
        target: "opencode.json".into(),
        summary: format!("Removed {name}"),
    };
    st.record(&actor, &ws, audit).await;
    Ok(Json(list))
}
