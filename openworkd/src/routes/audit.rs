use crate::app::{AppState, Workspace};
use crate::auth::Bearer;
use crate::error::ApiResult;
use crate::http::QueryMap;
use axum::Json;
use axum::extract::State;
use openwork_shared::models::AuditList;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

pub async fn list(
    State(st): State<AppState>,
    _client: Bearer,
    Workspace(ws): Workspace,
    query: QueryMap,
) -> ApiResult<Json<AuditList>> {
    let limit = match query
        .get("limit")
        .and_then(|l| l.trim().parse::<f64>().ok())
    {
        Some(n) if n.is_finite() && n >= 1.0 => (n.trunc() as usize).min(MAX_LIMIT),
        _ => DEFAULT_LIMIT,
    };
    st.blocking(move |st| {
        Ok(Json(AuditList {
            items: st.audit.recent(&ws, limit),
        }))
    })
    .await
}
