//! Talking to the services behind a workspace: the OpenCode engine and the
//! local opencode-router. Requests and responses stream through unchanged
//! (no buffering, no decompression) except for hop-by-hop headers and our
//! own credentials, which never leave this process.

use crate::error::{ApiError, error_chain};
use crate::workspace::WorkspaceEntry;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use openwork_shared::ErrorCode;
use openwork_shared::routes::HOST_TOKEN_HEADER;
use std::time::Duration;

/// A refused connection is reported at once; an unreachable host after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub const DIRECTORY_HEADER: &str = "x-opencode-directory";

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Our own credentials and identity headers: never forwarded.
const OURS: [&str; 5] = [
    "authorization",
    HOST_TOKEN_HEADER,
    "x-openwork-client-id",
    "host",
    "origin",
];

pub type UpstreamClient = HyperClient<HttpConnector, Body>;

pub fn client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    HyperClient::builder(TokioExecutor::new()).build(connector)
}

/// Why an upstream could not be asked.
#[derive(Debug)]
pub enum UpstreamError {
    /// The base URL does not parse as an absolute http URL.
    InvalidUrl,
    /// Connecting or exchanging the request failed.
    Unreachable(String),
}

/// `base` with its path replaced by `path` (empty means `/`) and `query`
/// appended as given.
pub fn target(base: &str, path: &str, query: Option<&str>) -> Result<Uri, UpstreamError> {
    let base: Uri = base.trim().parse().map_err(|_| UpstreamError::InvalidUrl)?;
    let (Some(scheme), Some(authority)) = (base.scheme_str(), base.authority()) else {
        return Err(UpstreamError::InvalidUrl);
    };
    if scheme != "http" {
        // Engines and routers are local services; TLS is not offered.
        return Err(UpstreamError::InvalidUrl);
    }
    let path = if path.is_empty() { "/" } else { path };
    let uri = match query {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    };
    uri.parse().map_err(|_| UpstreamError::InvalidUrl)
}

/// `Basic base64(user:pass)` when both are configured.
pub fn basic_auth(ws: &WorkspaceEntry) -> Option<HeaderValue> {
    let user = ws.opencode_username.as_deref().map(str::trim)?;
    let pass = ws.opencode_password.as_deref().map(str::trim)?;
    if user.is_empty() || pass.is_empty() {
        return None;
    }
    let raw = format!("{user}:{pass}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Drop hop-by-hop headers (and those the `Connection` header names),
/// keeping `Connection`/`Upgrade` when the message switches protocols.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(upgrading && n == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        if !(upgrading && name == "connection") {
            headers.remove(name);
        }
    }
    if !upgrading {
        headers.remove(header::UPGRADE);
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Send `req` to `target` with `extra` headers added (unless the client set
/// them) and stream the answer back. Protocol upgrades (WebSocket) are
/// joined end to end once both sides agree.
pub async fn forward(
    client: &UpstreamClient,
    mut req: Request,
    target: Uri,
    extra: Vec<(HeaderName, HeaderValue)>,
) -> Result<Response, UpstreamError> {
    let upgrading = is_upgrade(req.headers());
    let downstream = upgrading.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers, upgrading);
    for name in OURS {
        parts.headers.remove(name);
    }
    for (name, value) in extra {
        if name == header::AUTHORIZATION || !parts.headers.contains_key(&name) {
            parts.headers.insert(name, value);
        }
    }
    let body = if parts.method == Method::GET || parts.method == Method::HEAD {
        Body::empty()
    } else {
        body
    };
    let mut upstream_req = Request::from_parts(parts, body);
    *upstream_req.uri_mut() = target;
    *upstream_req.version_mut() = axum::http::Version::HTTP_11;
    let mut resp = client
        .request(upstream_req)
        .await
        .map_err(|e| UpstreamError::Unreachable(error_chain(&e)))?;
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    if let (true, Some(downstream)) = (switching, downstream) {
        let upstream = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(down), Ok(up)) = (downstream.await, upstream.await) {
                let (mut down, mut up) = (TokioIo::new(down), TokioIo::new(up));
                let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
            }
        });
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, switching);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// The status and body of a finished upstream answer, for error details.
pub async fn read_answer(resp: Response) -> (StatusCode, serde_json::Value) {
    use http_body_util::BodyExt;
    let status = resp.status();
    let limited = http_body_util::Limited::new(resp.into_body(), 64 * 1024);
    let body = match limited.collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            if bytes.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
                })
            }
        }
        Err(_) => serde_json::Value::Null,
    };
    (status, body)
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::InvalidUrl => f.write_str("invalid upstream URL"),
            UpstreamError::Unreachable(e) => f.write_str(e),
        }
    }
}

/// How an engine failure reaches the client: a clear 4xx/502, never a hang.
impl From<UpstreamError> for ApiError {
    fn from(failure: UpstreamError) -> Self {
        match failure {
            UpstreamError::InvalidUrl => ApiError::new(
                ErrorCode::OpencodeUrlInvalid,
                "OpenCode base URL is invalid",
            ),
            UpstreamError::Unreachable(e) => ApiError::new(
                ErrorCode::OpencodeRequestFailed,
                "OpenCode is not reachable",
            )
            .with_details(serde_json::json!({ "error": e })),
        }
    }
}

impl IntoResponse for UpstreamError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_replaces_the_base_path() {
        let uri = target("http://127.0.0.1:4096/prefix/", "/session", Some("x=1")).unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:4096/session?x=1");
        let root = target("http://127.0.0.1:4096", "", None).unwrap();
        assert_eq!(root.to_string(), "http://127.0.0.1:4096/");
        assert!(matches!(
            target("not a url", "/", None),
            Err(UpstreamError::InvalidUrl)
        ));
        assert!(matches!(
            target("/relative", "/", None),
            Err(UpstreamError::InvalidUrl)
        ));
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut headers, false);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("accept"));
    }
}
