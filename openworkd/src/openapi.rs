//! The OpenAPI 3.1 document served at `GET /openapi.json`: one table of
//! endpoints whose request and response bodies are the shared wire types,
//! their JSON Schemas derived from those types (utoipa).

use crate::app::{Doc, Route};
use openwork_shared::error::ErrorBody;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;
use utoipa::ToSchema;
use utoipa::openapi::ComponentsBuilder;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAuth {
    None,
    Client,
    Collaborator,
    Host,
}

/// A body: a named wire type, any JSON, or something that is not JSON.
pub enum DocBody {
    Typed(String),
    AnyJson,
    Raw(&'static str),
}

/// How a route's body is documented (types register their schemas).
pub type BodyDoc = fn(&mut ComponentsBuilder) -> DocBody;

/// Register `T` and every type it contains.
fn register<T: ToSchema>(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    components.schema_from::<T>().schemas_from_iter(nested)
}

/// A body of the shared wire type `T`.
pub fn typed<T: ToSchema>(components: &mut ComponentsBuilder) -> DocBody {
    *components = register::<T>(std::mem::take(components));
    DocBody::Typed(T::name().into_owned())
}

pub fn any_json(_: &mut ComponentsBuilder) -> DocBody {
    DocBody::AnyJson
}

pub fn binary(_: &mut ComponentsBuilder) -> DocBody {
    DocBody::Raw("application/octet-stream")
}

pub fn html(_: &mut ComponentsBuilder) -> DocBody {
    DocBody::Raw("text/html")
}

pub fn multipart(_: &mut ComponentsBuilder) -> DocBody {
    DocBody::Raw("multipart/form-data")
}

pub fn openmetrics(_: &mut ComponentsBuilder) -> DocBody {
    DocBody::Raw("application/openmetrics-text")
}

fn content(body: &DocBody) -> Value {
    match body {
        DocBody::Typed(name) => {
            json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}})
        }
        DocBody::AnyJson => json!({"application/json": {"schema": {}}}),
        DocBody::Raw(mime) => json!({ *mime: {"schema": {"type": "string", "format": "binary"}} }),
    }
}

fn operation(route: &Route, doc: &Doc, components: &mut ComponentsBuilder) -> Value {
    let params: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let error = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    let (security, scope) = match route.auth {
        RouteAuth::None => (json!([]), "none"),
        RouteAuth::Client => (json!([{"bearer": []}]), "viewer"),
        RouteAuth::Collaborator => (json!([{"bearer": []}]), "collaborator"),
        RouteAuth::Host => (json!([{"hostToken": []}, {"bearer": []}]), "owner"),
    };
    let response = (doc.response)(components);
    let mut op = json!({
        "summary": doc.summary,
        "parameters": params,
        "security": security,
        "x-openwork-scope": scope,
        "responses": {
            "200": {"description": "OK", "content": content(&response)},
            "default": error,
        },
    });
    if let Some(request) = doc.request {
        op["requestBody"] = json!({"required": true, "content": content(&request(components))});
    }
    op
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut components = ComponentsBuilder::new();
        let mut paths = Map::new();
        for route in crate::app::routes() {
            let Some(doc) = &route.doc else { continue };
            let op = operation(&route, doc, &mut components);
            let item = paths.entry(route.path).or_insert_with(|| json!({}));
            item[route.method] = op;
        }
        let components = register::<ErrorBody>(components).build();
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

    /// Every documented route is in the document once, with its schemas.
    #[test]
    fn the_document_is_built_from_the_route_table() {
        let documented: Vec<(String, String)> = crate::app::routes()
            .iter()
            .filter(|r| r.doc.is_some())
            .map(|r| (r.method.to_uppercase(), r.path.to_owned()))
            .collect();
        let mut listed = operations();
        let mut expected = documented.clone();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
        assert!(documented.len() > 40);
        assert!(document()["components"]["schemas"]["WorkspaceConfig"].is_object());
        assert!(document()["components"]["schemas"]["ErrorBody"].is_object());
    }
}
