use crate::app::{AppState, Audit};
use crate::auth::{Client, Writer, host_from_headers};
use crate::error::ApiResult;
use crate::events::trigger;
use crate::http::{Body, Params, QueryMap};
use crate::workspace::commands;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use openwork_shared::models::{CommandList, CommandUpsert, Ok as OkBody, ReloadReason};
use serde_json::Value;

pub async fn list(
    State(st): State<AppState>,
    _client: Client,
    Params(id): Params<String>,
    query: QueryMap,
    headers: HeaderMap,
) -> ApiResult<Json<CommandList>> {
    let global = query.is("scope", "global");
    if global {
        host_from_headers(&st, &headers)?;
    }
    let ws = st.workspace(&id)?;
    st.blocking(move |st| {
        let items = if global {
            commands::list(
                &st.config.home_dir.join(".config/opencode/commands"),
                "global",
            )
        } else {
            commands::list(&ws.path.join(commands::DIR), "workspace")
        };
        Ok(Json(CommandList { items }))
    })
    .await
}

/// A JSON value as the string the reference would make of it, if truthy.
fn truthy_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        other => Some(other.to_string()),
    }
}

pub async fn upsert(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Json<CommandList>> {
    let ws = st.workspace(&id)?;
    let body = body.object()?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let cmd = CommandUpsert {
        name: text("name"),
        template: text("template"),
        description: truthy_string(body.get("description")),
        agent: truthy_string(body.get("agent")),
        model: truthy_string(body.get("model")),
        subtask: body.get("subtask").and_then(Value::as_bool),
    };
    let prepared = commands::prepare_upsert(&ws.path, &cmd)?;
    let summary = format!("Upsert command {}", prepared.name);
    st.approve(
        &actor,
        &ws,
        "commands.upsert",
        summary,
        vec![prepared.path.clone()],
    )
    .await?;
    let path = prepared.path.display().to_string();
    let audit = Audit {
        action: "commands.upsert",
        target: path.clone(),
        summary: format!("Upserted command {}", prepared.name),
    };
    let items = st
        .write_reported(&ws, move |_, root| {
            commands::write(&prepared)?;
            let reload = (
                ReloadReason::Commands,
                trigger("command", &prepared.name, "updated", Some(path)),
            );
            let items = commands::list(&root.join(commands::DIR), "workspace");
            Ok((items, Some(reload)))
        })
        .await?;
    st.record(&actor, &ws, audit).await;
    Ok(Json(CommandList { items }))
}

pub async fn delete(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params((id, name)): Params<(String, String)>,
) -> ApiResult<Json<OkBody>> {
    let ws = st.workspace(&id)?;
    let sanitized = commands::sanitize_name(&name)?;
    let path = commands::file_path(&ws.path, &sanitized)?;
    let summary = format!("Delete command {sanitized}");
    st.approve(&actor, &ws, "commands.delete", summary, vec![path.clone()])
        .await?;
    let reload = (
        ReloadReason::Commands,
        trigger(
            "command",
            &sanitized,
            "removed",
            Some(path.display().to_string()),
        ),
    );
    st.write_reported(&ws, move |_, _| {
        crate::workspace::paths::remove_if_exists(&path)?;
        Ok(((), Some(reload)))
    })
    .await?;
    let dir = ws.path.join(commands::DIR).display().to_string();
    let audit = Audit {
        action: "commands.delete",
        target: dir,
        summary: format!("Deleted command {sanitized}"),
    };
    st.record(&actor, &ws, audit).await;
    Ok(Json(OkBody { ok: true }))
}
