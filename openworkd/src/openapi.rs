//! The OpenAPI 3.1 document served at `GET /openapi.json`: one table of
//! endpoints whose request and response bodies are the shared wire types,
//! their JSON Schemas derived from those types (utoipa).

use openwork_shared::error::ErrorBody;
use openwork_shared::models::{Ok as OkBody, *};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;
use utoipa::ToSchema;
use utoipa::openapi::ComponentsBuilder;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAuth {
    None,
    Client,
    Collaborator,
    Host,
}

/// A body: a named wire type, any JSON, or something that is not JSON.
enum Body {
    Typed(String),
    AnyJson,
    Raw(&'static str),
}

struct Endpoint {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: RouteAuth,
    request: Option<Body>,
    response: Body,
}

/// Every documented endpoint with the credentials it needs:
/// (method, path template, auth). The auth matrix tests are driven by it.
pub fn route_auth() -> Vec<(&'static str, &'static str, RouteAuth)> {
    endpoints(&mut ComponentsBuilder::new())
        .into_iter()
        .map(|e| (e.method, e.path, e.auth))
        .collect()
}

/// Register `T` and every type it contains.
fn register<T: ToSchema>(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    components.schema_from::<T>().schemas_from_iter(nested)
}

/// Register `T` and name it as a body.
fn typed<T: ToSchema>(components: &mut ComponentsBuilder) -> Body {
    *components = register::<T>(std::mem::take(components));
    Body::Typed(T::name().into_owned())
}

#[rustfmt::skip]
fn endpoints(c: &mut ComponentsBuilder) -> Vec<Endpoint> {
    use RouteAuth::*;
    let e = |method, path, summary, auth, request, response| Endpoint {
        method,
        path,
        summary,
        auth,
        request,
        response,
    };
    vec![
        e("get", "/health", "Liveness and version", None, Option::None, typed::<Health>(c)),
        e("get", "/status", "Host status", Client, Option::None, typed::<Status>(c)),
        e("get", "/capabilities", "What this server can do", Client, Option::None, typed::<Capabilities>(c)),
        e("get", "/whoami", "The caller's identity and scope", Client, Option::None, typed::<Whoami>(c)),
        e("get", "/workspaces", "Workspaces and the active one", Client, Option::None, typed::<WorkspaceList>(c)),
        e("post", "/workspaces/{id}/activate", "Make a workspace the active one", Host, Option::None, typed::<WorkspaceActivated>(c)),
        e("get", "/workspace/{id}/config", "opencode.json[c] and .opencode/openwork.json", Client, Option::None, typed::<WorkspaceConfig>(c)),
        e("patch", "/workspace/{id}/config", "Set top-level config keys (comments kept)", Collaborator, Some(typed::<ConfigPatch>(c)), typed::<UpdatedAt>(c)),
        e("get", "/workspace/{id}/events", "Reload events since a cursor (SSE with Accept: text/event-stream)", Client, Option::None, typed::<ReloadEvents>(c)),
        e("post", "/workspace/{id}/engine/reload", "Ask the OpenCode engine to reload the workspace", Collaborator, Option::None, typed::<EngineReloaded>(c)),
        e("get", "/workspace/{id}/plugins", "Plugins", Client, Option::None, typed::<PluginList>(c)),
        e("post", "/workspace/{id}/plugins", "Add a plugin", Collaborator, Some(typed::<PluginAdd>(c)), typed::<PluginList>(c)),
        e("delete", "/workspace/{id}/plugins/{name}", "Remove a plugin", Collaborator, Option::None, typed::<PluginList>(c)),
        e("get", "/workspace/{id}/skills", "Skills", Client, Option::None, typed::<SkillList>(c)),
        e("post", "/workspace/{id}/skills", "Create or update a skill", Collaborator, Some(typed::<SkillUpsert>(c)), typed::<SkillItem>(c)),
        e("get", "/workspace/{id}/skills/{name}", "One skill with its content", Client, Option::None, typed::<SkillDetail>(c)),
        e("delete", "/workspace/{id}/skills/{name}", "Delete a skill", Collaborator, Option::None, typed::<SkillDeleted>(c)),
        e("get", "/workspace/{id}/mcp", "MCP servers", Client, Option::None, typed::<McpList>(c)),
        e("post", "/workspace/{id}/mcp", "Add an MCP server", Collaborator, Some(typed::<McpAdd>(c)), typed::<McpList>(c)),
        e("delete", "/workspace/{id}/mcp/{name}", "Remove an MCP server", Collaborator, Option::None, typed::<McpList>(c)),
        e("get", "/workspace/{id}/commands", "Commands", Client, Option::None, typed::<CommandList>(c)),
        e("post", "/workspace/{id}/commands", "Create or update a command", Collaborator, Some(typed::<CommandUpsert>(c)), typed::<CommandList>(c)),
        e("delete", "/workspace/{id}/commands/{name}", "Delete a command", Collaborator, Option::None, typed::<OkBody>(c)),
        e("get", "/workspace/{id}/audit", "Recent audit entries", Client, Option::None, typed::<AuditList>(c)),
        e("get", "/workspace/{id}/export", "Export config, skills and commands", Client, Option::None, typed::<WorkspaceExport>(c)),
        e("post", "/workspace/{id}/import", "Import an export", Collaborator, Some(typed::<WorkspaceExport>(c)), typed::<OkBody>(c)),
        e("get", "/workspace/{id}/inbox", "Uploaded files", Client, Option::None, typed::<FileList>(c)),
        e("post", "/workspace/{id}/inbox", "Upload a file (multipart: file, path)", Collaborator, Some(Body::Raw("multipart/form-data")), typed::<InboxUploaded>(c)),
        e("get", "/workspace/{id}/inbox/{item}", "Download an uploaded file", Client, Option::None, Body::Raw("application/octet-stream")),
        e("get", "/workspace/{id}/artifacts", "Artifacts offered by the workspace", Client, Option::None, typed::<FileList>(c)),
        e("get", "/workspace/{id}/artifacts/{item}", "Download an artifact (Range supported)", Client, Option::None, Body::Raw("application/octet-stream")),
        e("post", "/workspace/{id}/files/sessions", "Open a file session", Client, Some(Body::AnyJson), typed::<FileSessionEnvelope>(c)),
        e("post", "/files/sessions/{sid}/renew", "Extend a file session", Client, Some(Body::AnyJson), typed::<FileSessionEnvelope>(c)),
        e("delete", "/files/sessions/{sid}", "Close a file session", Client, Option::None, typed::<OkBody>(c)),
        e("get", "/files/sessions/{sid}/catalog/snapshot", "Files and folders, paged", Client, Option::None, typed::<CatalogSnapshot>(c)),
        e("get", "/files/sessions/{sid}/catalog/events", "File events since a cursor", Client, Option::None, typed::<FileEventList>(c)),
        e("post", "/files/sessions/{sid}/read-batch", "Read up to 64 files", Client, Some(Body::AnyJson), Body::AnyJson),
        e("post", "/files/sessions/{sid}/write-batch", "Write up to 64 files (one approval)", Collaborator, Some(Body::AnyJson), Body::AnyJson),
        e("post", "/files/sessions/{sid}/ops", "mkdir, delete, rename", Collaborator, Some(Body::AnyJson), Body::AnyJson),
        e("get", "/approvals", "Pending approvals", Host, Option::None, typed::<ApprovalList>(c)),
        e("post", "/approvals/{id}", "Allow or deny a pending write", Host, Some(typed::<ApprovalReply>(c)), typed::<ApprovalReplied>(c)),
        e("get", "/tokens", "Scoped tokens", Host, Option::None, typed::<TokenList>(c)),
        e("post", "/tokens", "Issue a scoped token", Host, Some(typed::<TokenCreate>(c)), typed::<TokenCreated>(c)),
        e("delete", "/tokens/{id}", "Revoke a scoped token", Host, Option::None, typed::<OkBody>(c)),
        e("get", "/metrics", "Prometheus metrics (OpenMetrics text)", Host, Option::None, Body::Raw("application/openmetrics-text")),
        e("get", "/ui", "The web page", None, Option::None, Body::Raw("text/html")),
        e("get", "/openapi.json", "This document", None, Option::None, Body::AnyJson),
    ]
}

fn content(body: &Body) -> Value {
    match body {
        Body::Typed(name) => {
            json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}})
        }
        Body::AnyJson => json!({"application/json": {"schema": {}}}),
        Body::Raw(mime) => json!({ *mime: {"schema": {"type": "string", "format": "binary"}} }),
    }
}

fn operation(endpoint: &Endpoint) -> Value {
    let params: Vec<Value> = endpoint
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let error = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    let (security, scope) = match endpoint.auth {
        RouteAuth::None => (json!([]), "none"),
        RouteAuth::Client => (json!([{"bearer": []}]), "viewer"),
        RouteAuth::Collaborator => (json!([{"bearer": []}]), "collaborator"),
        RouteAuth::Host => (json!([{"hostToken": []}, {"bearer": []}]), "owner"),
    };
    let mut op = json!({
        "summary": endpoint.summary,
        "parameters": params,
        "security": security,
        "x-openwork-scope": scope,
        "responses": {
            "200": {"description": "OK", "content": content(&endpoint.response)},
            "default": error,
        },
    });
    if let Some(request) = &endpoint.request {
        op["requestBody"] = json!({"required": true, "content": content(request)});
    }
    op
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut components = ComponentsBuilder::new();
        let table = endpoints(&mut components);
        let components = register::<ErrorBody>(components).build();
        let mut paths = Map::new();
        for endpoint in &table {
            let item = paths
                .entry(endpoint.path)
                .or_insert_with(|| json!({}));
            item[endpoint.method] = operation(endpoint);
        }
        let mut components = serde_json::to_value(&components).unwrap_or_else(|_| json!({}));
        components["securitySchemes"] = json!({
            "bearer": {"type": "http", "scheme": "bearer", "description": "Client token or scoped token (owt_…)"},
            "hostToken": {"type": "apiKey", "in": "header", "name": "X-OpenWork-Host-Token"},
        });
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": "openworkd",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "OpenWork server API. Also served: the OpenCode proxy (ANY /opencode/*, /w/{id}/opencode/*), the opencode-router proxy (ANY /opencode-router/*), and every workspace route mounted under /w/{id}.",
            },
            "paths": paths,
            "components": components,
        })
    })
}

/// Method and path template of every documented endpoint (for checks).
#[cfg(test)]
pub fn operations() -> Vec<(String, String)> {
    let doc = document();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            out.push((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route(…)` in the route table is documented, and every
    /// documented path is routed.
    #[test]
    fn the_document_matches_the_route_table() {
        let source = include_str!("app.rs");
        let routed: std::collections::BTreeSet<String> = source
            .match_indices(".route(")
            .filter_map(|(i, _)| {
                let rest = &source[i..];
                let start = rest.find('"')? + 1;
                let end = start + rest[start..].find('"')?;
                Some(rest[start..end].to_owned())
            })
            // Mounted copies, proxies and assets are described in prose.
            .filter(|p| {
                !p.starts_with("/w/") && !p.starts_with("/opencode") && !p.starts_with("/ui/")
            })
            .collect();
        let documented: std::collections::BTreeSet<String> =
            operations().into_iter().map(|(_, p)| p).collect();
        assert_eq!(routed, documented);
        assert!(document()["components"]["schemas"]["WorkspaceConfig"].is_object());
        assert!(document()["components"]["schemas"]["ErrorBody"].is_object());
    }
}
