use crate::app::{AppState, Reload, Workspace};
use crate::auth::{Bearer, Writer};
use crate::error::{ApiError, ApiResult};
use crate::events::trigger;
use crate::http::{Params, Payload};
use crate::pipeline::{Action, Done, Intent, OPENCODE_CONFIG_TARGET};
use crate::workspace::{mcp, settings};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{McpAdd, McpList, ReloadReason};
use serde_json::Value;

pub async fn list(
    State(st): State<AppState>,
    _client: Bearer,
    Workspace(ws): Workspace,
) -> ApiResult<Json<McpList>> {
    st.blocking(move |st| {
        Ok(Json(McpList {
            items: mcp::list(&st.caches, &ws.path)?,
        }))
    })
    .await
}

pub async fn add(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Payload(McpAdd { name, config }): Payload<McpAdd>,
) -> ApiResult<Json<McpList>> {
    if matches!(config, Value::Null | Value::Bool(false)) {
        return Err(ApiError::invalid_payload("MCP config is required"));
    }
    mcp::validate(&name, &config)?;
    let intent = Intent::new(
        Action::McpAdd,
        format!("Add MCP {name}"),
        vec![settings::opencode_path(&ws.path)],
    );
    let items = st
        .mutate(&actor, &ws, intent, move |st, root| {
            let existed = mcp::set(&st.caches, root, &name, &config)?;
            let action = if existed { "updated" } else { "added" };
            Ok(Done::new(mcp::list(&st.caches, root)?)
                .reload(mcp_reload(&name, action))
                .audit(OPENCODE_CONFIG_TARGET, format!("Added MCP {name}")))
        })
        .await?;
    Ok(Json(McpList { items }))
}

pub async fn remove(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Params((_, name)): Params<(String, String)>,
) -> ApiResult<Json<McpList>> {
    let intent = Intent::new(
        Action::McpRemove,
        format!("Remove MCP {name}"),
        vec![settings::opencode_path(&ws.path)],
    );
    let items = st
        .mutate(&actor, &ws, intent, move |st, root| {
            let removed = mcp::remove(&st.caches, root, &name)?;
            Ok(Done::new(mcp::list(&st.caches, root)?)
                .reload(removed.then(|| mcp_reload(&name, "removed")))
                .audit(OPENCODE_CONFIG_TARGET, format!("Removed MCP {name}")))
        })
        .await?;
    Ok(Json(McpList { items }))
}

fn mcp_reload(name: &str, action: &str) -> Reload {
    (ReloadReason::Mcp, trigger("mcp", name, action, None))
}
