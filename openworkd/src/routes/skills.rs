use crate::app::{AppState, Audit};
use crate::auth::{Client, Writer};
use crate::error::ApiResult;
use crate::events::trigger;
use crate::http::{Body, Params, QueryMap};
use crate::workspace::{paths, skills};
use axum::Json;
use axum::extract::State;
use openwork_shared::models::{
    ReloadReason, SkillDeleted, SkillDetail, SkillItem, SkillList, SkillUpsert,
};
use serde_json::Value;

pub async fn list(
    State(st): State<AppState>,
    _client: Client,
    Params(id): Params<String>,
    query: QueryMap,
) -> ApiResult<Json<SkillList>> {
    let ws = st.workspace(&id)?;
    let global = query.is("includeGlobal", "true");
    let home = global.then_some(st.config.home_dir.as_path());
    Ok(Json(SkillList {
        items: skills::list(&st.caches, &ws.path, home),
    }))
}

pub async fn get(
    State(st): State<AppState>,
    _client: Client,
    Params((id, name)): Params<(String, String)>,
) -> ApiResult<Json<SkillDetail>> {
    let ws = st.workspace(&id)?;
    st.blocking(move |st| {
        let home = Some(st.config.home_dir.as_path());
        let item = skills::list(&st.caches, &ws.path, home)
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| skills::not_found(&name))?;
        let content = std::fs::read_to_string(&item.path).map_err(|_| skills::not_found(&name))?;
        Ok(Json(SkillDetail { item, content }))
    })
    .await
}

pub async fn upsert(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params(id): Params<String>,
    body: Body,
) -> ApiResult<Json<SkillItem>> {
    let ws = st.workspace(&id)?;
    let body = body.object()?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let payload = SkillUpsert {
        name: text("name").unwrap_or_default(),
        content: text("content").unwrap_or_default(),
        description: text("description"),
    };
    let prepared = skills::prepare_upsert(&ws.path, &payload)?;
    let summary = format!("Upsert skill {}", prepared.name);
    st.approve(
        &actor,
        &ws,
        "skills.upsert",
        summary,
        vec![prepared.path.clone()],
    )
    .await?;
    let prepared = st
        .write_reported(&ws, move |_, _| {
            let existed = skills::write(&prepared)?;
            let action = if existed { "updated" } else { "added" };
            let path = Some(prepared.path.display().to_string());
            let reload = (
                ReloadReason::Skills,
                trigger("skill", &prepared.name, action, path),
            );
            Ok((prepared, Some(reload)))
        })
        .await?;
    let path = prepared.path.display().to_string();
    let audit = Audit {
        action: "skills.upsert",
        target: path,
        summary: format!("Upserted skill {}", prepared.name),
    };
    st.record(&actor, &ws, audit).await;
    Ok(Json(prepared.item))
}

pub async fn delete(
    State(st): State<AppState>,
    Writer(actor): Writer,
    Params((id, name)): Params<(String, String)>,
) -> ApiResult<Json<SkillDeleted>> {
    let ws = st.workspace(&id)?;
    let root = ws.path.clone();
    let check_name = name.clone();
    let dir = st
        .blocking(move |_| skills::prepare_delete(&root, &check_name))
        .await?;
    st.approve(
        &actor,
        &ws,
        "skills.delete",
        format!("Delete skill {name}"),
        vec![dir.clone()],
    )
    .await?;
    let path = dir.display().to_string();
    let reload = (
        ReloadReason::Skills,
        trigger("skill", &name, "removed", Some(path.clone())),
    );
    st.write_reported(&ws, move |_, _| {
        paths::remove_if_exists(&dir)?;
        Ok(((), Some(reload)))
    })
    .await?;
    let audit = Audit {
        action: "skills.delete",
        target: path.clone(),
        summary: format!("Deleted skill {name}"),
    };
    st.record(&actor, &ws, audit).await;
    Ok(Json(SkillDeleted {
        ok: true,
        name,
        path,
    }))
}
