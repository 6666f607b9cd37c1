use crate::app::{AppState, Audit};
use crate::auth::{Client, Writer};
use crate::error::{ApiError, ApiResult};
use crate::events::trigger;
use crate::http::{Body, Params};
use crate::workspace::{mcp, settings};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{McpList, ReloadReason};
use serde_json::Value;

pub async fn list(
    State(st): State<AppState>,
    _client: Client,
    Params(id): Params<String>,
) -> ApiResult<Json<McpList>> {
    let ws = st.workspace(&id)?;
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
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Json<McpList>> {
    let ws = st.workspace(&id)?;
    let body = body.object()?;
    let config = match body.get("config") {
        None | Some(Value::Null | Value::Bool(false)) => {
            return Err(ApiError::invalid_payload("MCP config is required"));
        }
        Some(c) => c.clone(),
    };
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    mcp::validate(&name, &config)?;
    let paths = vec![settings::opencode_path(&ws.path)];
    st.approve(&actor, &ws, "mcp.add", format!("Add MCP {name}"), paths)
        .await?;
    let write_name = name.clone();
    let items = st
        .write_reported(&ws, move |st, root| {
            let existed = mcp::set(&st.caches, root, &write_name, &config)?;
            let action = if existed { "updated" } else { "added" };
            let reload = (ReloadReason::Mcp, trigger("mcp", &write_name, action, None));
            Ok((mcp::list(&st.caches, root)?, Some(reload)))
        })
        .await?;
    let audit = Audit {
        action: "mcp.add",
        target: "opencode.json".into(),
        summary: format!("Added MCP {name}"),
    };
    st.record(&actor, &ws, audit).await;
    Ok(Json(McpList { items }))
}

pub async fn remove(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params((id, name)): Params<(String, String)>,
) -> ApiResult<Json<McpList>> {
    let ws = st.workspace(&id)?;
    let paths = vec![settings::opencode_path(&ws.path)];
    st.approve(
        &actor,
        &ws,
        "mcp.remove",
        format!("Remove MCP {name}"),
        paths,
    )
    .await?;
    let write_name = name.clone();
    let items = st
        .write_reported(&ws, move |st, root| {
            let removed = mcp::remove(&st.caches, root, &write_name)?;
            let reload = removed.then(|| {
                (
                    ReloadReason::Mcp,
                    trigger("mcp", &write_name, "removed", None),
                )
            });
            Ok((mcp::list(&st.caches, root)?, reload))
        })
        .await?;
    let audit = Audit {
        action: "mcp.remove",
        target: "opencode.json".into(),
        summary: format!("Removed MCP {name}"),
    };
    st.record(&actor, &ws, audit).await;
    Ok(Json(McpList { items }))
}
