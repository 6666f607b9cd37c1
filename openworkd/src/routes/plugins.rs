use crate::app::{AppState, Reload, Workspace};
use crate::auth::{Bearer, Writer};
use crate::error::{ApiError, ApiResult};
use crate::events::trigger;
use crate::http::{Params, Payload, QueryMap};
use crate::pipeline::{Action, Done, Intent, OPENCODE_CONFIG_TARGET};
use crate::workspace::{plugins, settings};
use axum::Json;
use axum::extract::State;
use openwork_shared::ErrorCode;
use openwork_shared::models::{PluginAdd, PluginList, ReloadReason};

pub async fn list(
    State(st): State<AppState>,
    _client: Bearer,
    Workspace(ws): Workspace,
    query: QueryMap,
) -> ApiResult<Json<PluginList>> {
    let global = query
        .is("includeGlobal", "true")
        .then(|| st.config.home_dir.join(".config/opencode/plugins"));
    st.blocking(move |st| plugins::list(&st.caches, &ws.path, global.as_deref()).map(Json))
        .await
}

pub async fn add(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Payload(PluginAdd { spec }): Payload<PluginAdd>,
) -> ApiResult<Json<PluginList>> {
    if spec.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidPluginSpec,
            "Plugin spec is required",
        ));
    }
    let intent = Intent::new(
        Action::PluginsAdd,
        format!("Add plugin {spec}"),
        vec![settings::opencode_path(&ws.path)],
    );
    let list = st
        .mutate(&actor, &ws, intent, move |st, root| {
            let changed = plugins::add(&st.caches, root, &spec)?;
            let name = plugins::normalize_spec(&spec);
            let reload = changed.then(|| plugin_reload(&name, "added"));
            Ok(Done::new(plugins::list(&st.caches, root, None)?)
                .reload(reload)
                .audit(OPENCODE_CONFIG_TARGET, format!("Added {spec}")))
        })
        .await?;
    Ok(Json(list))
}

pub async fn remove(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Params((_, name)): Params<(String, String)>,
) -> ApiResult<Json<PluginList>> {
    let intent = Intent::new(
        Action::PluginsRemove,
        format!("Remove plugin {name}"),
        vec![settings::opencode_path(&ws.path)],
    );
    let list = st
        .mutate(&actor, &ws, intent, move |st, root| {
            let changed = plugins::remove(&st.caches, root, &name)?;
            let normalized = plugins::normalize_spec(&name);
            let reload = changed.then(|| plugin_reload(&normalized, "removed"));
            Ok(Done::new(plugins::list(&st.caches, root, None)?)
                .reload(reload)
                .audit(OPENCODE_CONFIG_TARGET, format!("Removed {name}")))
        })
        .await?;
    Ok(Json(list))
}

fn plugin_reload(name: &str, action: &str) -> Reload {
    (ReloadReason::Plugins, trigger("plugin", name, action, None))
}
