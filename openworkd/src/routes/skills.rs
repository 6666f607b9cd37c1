use crate::app::{AppState, Reload, Workspace};
use crate::auth::{Bearer, Writer};
use crate::error::ApiResult;
use crate::events::trigger;
use crate::http::{Params, Payload, QueryMap};
use crate::pipeline::{Action, Done, Intent};
use crate::workspace::{paths, skills};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{
    ReloadReason, SkillDeleted, SkillDetail, SkillItem, SkillList, SkillUpsert,
};

pub async fn list(
    State(st): State<AppState>,
    _client: Bearer,
    Workspace(ws): Workspace,
    query: QueryMap,
) -> ApiResult<Json<SkillList>> {
    let global = query.is("includeGlobal", "true");
    let home = global.then_some(st.config.home_dir.as_path());
    Ok(Json(SkillList {
        items: skills::list(&st.caches, &ws.path, home),
    }))
}

pub async fn get(
    State(st): State<AppState>,
    _client: Bearer,
    Workspace(ws): Workspace,
    Params((_, name)): Params<(String, String)>,
) -> ApiResult<Json<SkillDetail>> {
    st.blocking(move |st| {
        let home = Some(st.config.home_dir.as_path());
        let item = skills::list(&st.caches, &ws.path, home)
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| skills::not_found(&name))?;
        let content = crate::workspace::paths::read_text(item.path.as_ref())
            .map_err(|_| skills::not_found(&name))?;
        Ok(Json(SkillDetail { item, content }))
    })
    .await
}

pub async fn upsert(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Payload(payload): Payload<SkillUpsert>,
) -> ApiResult<Json<SkillItem>> {
    let prepared = skills::prepare_upsert(&ws.path, &payload)?;
    let intent = Intent::new(
        Action::SkillsUpsert,
        format!("Upsert skill {}", prepared.name),
        vec![prepared.path.clone()],
    )
    .bytes(prepared.text.len() as u64);
    let (path, text) = (prepared.path.clone(), prepared.text.clone());
    let stage = move || Ok(crate::workspace::paths::stage(&path, text.as_bytes())?);
    let item = st
        .mutate_staged(&actor, &ws, intent, stage, move |staged, _, _| {
            let existed = prepared.path.exists();
            staged.commit()?;
            let action = if existed { "updated" } else { "added" };
            let path = prepared.path.display().to_string();
            let reload = skill_reload(&prepared.name, action, &path);
            let summary = format!("Upserted skill {}", prepared.name);
            Ok(Done::new(prepared.item).reload(reload).audit(path, summary))
        })
        .await?;
    Ok(Json(item))
}

pub async fn delete(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Workspace(ws): Workspace,
    Params((_, name)): Params<(String, String)>,
) -> ApiResult<Json<SkillDeleted>> {
    let root = ws.path.clone();
    let check_name = name.clone();
    let dir = st
        .blocking(move |_| skills::prepare_delete(&root, &check_name))
        .await?;
    let path = dir.display().to_string();
    let intent = Intent::new(
        Action::SkillsDelete,
        format!("Delete skill {name}"),
        vec![dir.clone()],
    );
    let reload = skill_reload(&name, "removed", &path);
    let done = Done::new(())
        .reload(reload)
        .audit(&path, format!("Deleted skill {name}"));
    st.mutate(&actor, &ws, intent, move |_, _| {
        paths::remove_if_exists(&dir)?;
        Ok(done)
    })
    .await?;
    Ok(Json(SkillDeleted {
        ok: true,
        name,
        path,
    }))
}

fn skill_reload(name: &str, action: &str, path: &str) -> Reload {
    (
        ReloadReason::Skills,
        trigger("skill", name, action, Some(path.to_owned())),
    )
}
