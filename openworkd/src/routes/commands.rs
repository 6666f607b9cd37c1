use crate::app::{AppState, Reload, Workspace};
use crate::auth::{Bearer, Writer, host_from_headers};
use crate::error::ApiResult;
use crate::events::trigger;
use crate::http::{Params, Payload, QueryMap};
use crate::pipeline::{Action, Done, Intent};
use crate::workspace::commands;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use openwork_shared::models::{CommandList, CommandUpsert, OkBody, ReloadReason};

pub async fn list(
    State(st): State<AppState>,
    _client: Bearer,
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
                &st.caches,
                &st.config.home_dir.join(".config/opencode/commands"),
                "global",
            )
        } else {
            commands::list(&st.caches, &ws.path.join(commands::DIR), "workspace")
        };
        Ok(Json(CommandList { items }))
    })
    .await
}

pub async fn upsert(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Payload(cmd): Payload<CommandUpsert>,
) -> ApiResult<Json<CommandList>> {
    let prepared = commands::prepare_upsert(&ws.path, &cmd)?;
    let intent = Intent::new(
        Action::CommandsUpsert,
        format!("Upsert command {}", prepared.name),
        vec![prepared.path.clone()],
    )
    .bytes(prepared.text.len() as u64);
    let (path, text) = (prepared.path.clone(), prepared.text.clone());
    let stage = move || Ok(crate::workspace::paths::stage(&path, text.as_bytes())?);
    let items = st
        .mutate_staged(&actor, &ws, intent, stage, move |staged, st, root| {
            staged.commit()?;
            let path = prepared.path.display().to_string();
            let items = commands::list(&st.caches, &root.join(commands::DIR), "workspace");
            let summary = format!("Upserted command {}", prepared.name);
            Ok(Done::new(items)
                .reload(command_reload(&prepared.name, "updated", &path))
                .audit(path, summary))
        })
        .await?;
    Ok(Json(CommandList { items }))
}

pub async fn delete(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Params((_, name)): Params<(String, String)>,
) -> ApiResult<Json<OkBody>> {
    let sanitized = commands::sanitize_name(&name)?;
    let path = commands::file_path(&ws.path, &sanitized)?;
    let intent = Intent::new(
        Action::CommandsDelete,
        format!("Delete command {sanitized}"),
        vec![path.clone()],
    );
    let dir = ws.path.join(commands::DIR).display().to_string();
    let done = Done::new(())
        .reload(command_reload(
            &sanitized,
            "removed",
            &path.display().to_string(),
        ))
        .audit(dir, format!("Deleted command {sanitized}"));
    st.mutate(&actor, &ws, intent, move |_, _| {
        crate::workspace::paths::remove_if_exists(&path)?;
        Ok(done)
    })
    .await?;
    Ok(Json(OkBody { ok: true }))
}

fn command_reload(name: &str, action: &str, path: &str) -> Reload {
    (
        ReloadReason::Commands,
        trigger("command", name, action, Some(path.to_owned())),
    )
}
