//! Request plumbing shared by every route: the front middleware (OPTIONS,
//! CORS, HEAD, mounted `/w/:id` rewrite, request log) and the body,
//! path and query extractors that answer bad input with JSON errors.

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, LoggedError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use openwork_shared::models;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::Service;

/// The largest JSON body any route accepts.
pub const JSON_BODY_LIMIT: usize = 16 * 1024 * 1024;

const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-OpenWork-Host-Token, X-OpenWork-Client-Id, X-OpenCode-Directory, X-Opencode-Directory, x-opencode-directory";
const ALLOW_METHODS: &str = "GET,POST,PATCH,DELETE,OPTIONS";

/// The service in front of the routes: every request passes through it
/// before routing (OPTIONS, HEAD, the `/w/:id` rewrite, the failed-auth
/// limiter) and every answer after (CORS, metrics, the request line). One
/// plain service around the router, so a request pays for one boxed future
/// here and nothing else.
#[derive(Clone)]
pub struct Front {
    state: AppState,
    routes: Router,
    /// The connection's peer, when known (see [`Connections`]).
    peer: Option<IpAddr>,
    /// Ends a request body that stops arriving (served connections).
    bodies: Option<crate::listen::BodyWatch>,
}

impl Front {
    pub fn new(state: AppState, routes: Router) -> Front {
        Front {
            state,
            routes,
            peer: None,
            bodies: None,
        }
    }

    /// The service for each accepted connection, knowing its peer.
    pub fn connections(self) -> Connections {
        Connections(self)
    }
}

/// Makes a [`Front`] per connection that knows the peer's address, so a
/// request need not carry it.
#[derive(Clone)]
pub struct Connections(Front);

impl Connections {
    pub fn front(&self, peer: SocketAddr, bodies: crate::listen::BodyWatch) -> Front {
        Front {
            peer: Some(peer.ip()),
            bodies: Some(bodies),
            ..self.0.clone()
        }
    }
}

impl<B> Service<axum::http::Request<B>> for Front
where
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    /// An answer given before routing is ready at once (no boxed future).
    type Future = Either<
        std::future::Ready<Result<Response, Infallible>>,
        Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        // What happens before routing is synchronous: only the routed
        // answer is awaited.
        let req = req.map(axum::body::Body::new);
        let req = match &self.bodies {
            Some(watch) if !axum::body::HttpBody::is_end_stream(req.body()) => {
                req.map(|body| watch.body(body))
            }
            _ => req,
        };
        let state = self.state;
        let seen = Seen::of(&state, self.peer, &req);
        let now = match seen.early(&state) {
            Some(resp) => resp,
            None if seen.route == Some(HEALTH) => {
                let health = crate::routes::meta::health_at(&state, seen.started);
                axum::Json(health).into_response()
            }
            None => match rewrite_mounted(req) {
                Ok(req) => {
                    let routed = self.routes.call(req);
                    return Either::Right(Box::pin(async move {
                        // Every event stream, the daemon's or a proxied
                        // one, ends when the daemon stops.
                        let resp = match routed.await {
                            Ok(resp) => state.stream_until_stop(resp),
                            Err(never) => match never {},
                        };
                        Ok(seen.answered(&state, resp))
                    }));
                }
                Err(e) => e.into_response(),
            },
        };
        Either::Left(std::future::ready(Ok(seen.answered(&state, now))))
    }
}

/// `GET /health` is answered here, before routing: it is what health
/// checks and monitors poll, and the router (a hundred routes, each
/// tagged) costs it more than the answer does. Same answer, metrics label
/// and request line as the routed one, which `/w/<id>/health` still takes.
const HEALTH: &str = "/health";

/// What the front notes of a request before it is answered.
struct Seen {
    started: Instant,
    method: Method,
    /// The request's URI as it came (before the `/w/<id>` rewrite).
    uri: Uri,
    origin: Option<HeaderValue>,
    auth: &'static str,
    /// The peer, when failed authentications from it are counted.
    limited: Option<IpAddr>,
    /// The route template, when known before routing.
    route: Option<&'static str>,
}

impl Seen {
    fn of(state: &AppState, peer: Option<IpAddr>, req: &Request) -> Seen {
        Seen {
            route: (req.method() == Method::GET && req.uri().path() == HEALTH).then_some(HEALTH),
            started: Instant::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            origin: req.headers().get(header::ORIGIN).cloned(),
            auth: crate::auth::presented(req.headers()),
            limited: peer
                .filter(|ip| crate::auth_limit::limited(*ip, state.config.auth_limit_loopback)),
        }
    }

    /// The answer given without routing: addresses that failed to
    /// authenticate too often are refused outright, OPTIONS is answered
    /// here (CORS preflight), HEAD only reaches the proxies.
    fn early(&self, state: &AppState) -> Option<Response> {
        let blocked = self
            .limited
            .and_then(|ip| state.auth_limiter.blocked_for(ip, self.started));
        if let Some(left) = blocked {
            state.metrics.auth_refused();
            Some(too_many_failures(left))
        } else if self.method == Method::OPTIONS {
            Some(StatusCode::NO_CONTENT.into_response())
        } else if self.method == Method::HEAD && !is_proxied(self.uri.path()) {
            Some(ApiError::not_found().into_response())
        } else {
            None
        }
    }

    /// CORS, the failed-auth count, metrics and the request line.
    fn answered(self, state: &AppState, mut resp: Response) -> Response {
        if let Some(allow) = state.cors_allow(self.origin.as_ref()) {
            apply_cors(allow, resp.headers_mut());
        }
        let route = resp
            .extensions()
            .get::<crate::metrics::Route>()
            .map(|r| r.0)
            .or(self.route)
            .unwrap_or("unmatched");
        let status = resp.status().as_u16();
        if status == 401 {
            state.metrics.auth_failure();
            if let Some(ip) = self.limited {
                state.auth_limiter.failed(ip, Instant::now());
            }
        }
        let elapsed = self.started.elapsed();
        state
            .metrics
            .observe(&self.method, route, status, elapsed.as_secs_f64());
        // A server error is always logged with its cause, request lines or not.
        if state.config.log_requests || status >= 500 {
            log_request(&self, &resp, elapsed);
        }
        resp
    }
}

/// `429 too_many_requests` with `Retry-After` (whole seconds, rounded up).
fn too_many_failures(left: std::time::Duration) -> Response {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let mut resp = ApiError::new(
        openwork_shared::ErrorCode::TooManyRequests,
        "Too many failed authentications from this address; try again later",
    )
    .with_details(json!({"retryAfterSeconds": secs}))
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// The path without a leading `/w/<id>` mount.
pub fn unmounted(path: &str) -> &str {
    match path.strip_prefix("/w/") {
        Some(mounted) => mounted.find('/').map_or("", |i| &mounted[i..]),
        None => path,
    }
}

/// Paths served by the engine or the router, where HEAD means what it says.
fn is_proxied(path: &str) -> bool {
    let path = unmounted(path);
    ["/opencode", "/opencode-router"].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// `/w/<id>/workspace/<id>/...` is `/workspace/<id>/...` when both ids match.
fn rewrite_mounted(mut req: Request) -> ApiResult<Request> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/w/") else {
        return Ok(req);
    };
    let mut parts = rest.splitn(3, '/');
    let (Some(id), Some("workspace"), Some(tail)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(req);
    };
    let nested = tail.split('/').next().unwrap_or_default();
    if percent_decode(id) != percent_decode(nested) {
        return Err(ApiError::not_found());
    }
    let mut rewritten = format!("/workspace/{tail}");
    if let Some(q) = req.uri().query() {
        rewritten.push('?');
        rewritten.push_str(q);
    }
    *req.uri_mut() = rewritten
        .parse::<Uri>()
        .map_err(|_| ApiError::not_found())?;
    Ok(req)
}

fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn apply_cors(allow: HeaderValue, headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// One line per request: method, path, status, duration and which kind of
/// credential was presented (never the credential itself).
fn log_request(seen: &Seen, resp: &Response, elapsed: std::time::Duration) {
    crate::logging::request(crate::logging::Answered {
        method: seen.method.clone(),
        path: seen.uri.path().as_bytes().into(),
        status: resp.status().as_u16(),
        ms: elapsed.as_millis() as u64,
        auth: seen.auth,
        error: resp
            .extensions()
            .get::<LoggedError>()
            .map(|LoggedError(message)| message.clone()),
        at: std::time::SystemTime::now(),
    });
}

/// A request body, parsed on demand so that auth and workspace checks
/// answer before body errors.
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        Bytes::from_request(req, state)
            .await
            .map(JsonBody)
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        openwork_shared::ErrorCode::BodyTooLarge,
                        "Request body is too large",
                    )
                    .with_details(json!({"maxBytes": JSON_BODY_LIMIT}))
                } else {
                    let invalid =
                        ApiError::new(openwork_shared::ErrorCode::InvalidJson, "Invalid JSON body");
                    ApiError::body_failed(&e, invalid)
                }
            })
    }
}

impl JsonBody {
    /// Any JSON value; an empty or malformed body is `invalid_json`.
    pub fn json(&self) -> ApiResult<Value> {
        serde_json::from_slice(&self.0).map_err(|_| {
            ApiError::new(openwork_shared::ErrorCode::InvalidJson, "Invalid JSON body")
        })
    }
}

/// A request body read into its shared wire type (`openwork_shared::models`),
/// with the reference's leniency (`openwork_shared::lenient`). Invalid JSON
/// is `invalid_json`, a body that is not an object `invalid_payload`, a
/// field the type refuses is answered with the code it names.
pub struct Payload<T>(pub T);

/// A type a request body is read into.
pub trait RequestBody: DeserializeOwned {
    /// The answer when the body is JSON but not an object.
    fn not_object() -> ApiError {
        ApiError::invalid_payload("Request body must be a JSON object")
    }

    /// The answer when a field the type needs is missing.
    fn missing(field: &str) -> ApiError {
        ApiError::invalid_payload(format!("{field} is required"))
    }
}

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for Payload<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        JsonBody::from_request(req, state)
            .await?
            .parse()
            .map(Payload)
    }
}

impl JsonBody {
    /// The body read into `T`, for handlers that check other things first.
    pub fn parse<T: RequestBody>(&self) -> ApiResult<T> {
        let Value::Object(object) = self.json()? else {
            return Err(T::not_object());
        };
        serde_json::from_value(Value::Object(object)).map_err(|e| refusal::<T>(&e.to_string()))
    }
}

/// The error a deserializer gave, as the API answers it.
fn refusal<T: RequestBody>(text: &str) -> ApiError {
    if let Some(field) = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return T::missing(field);
    }
    let coded = text.split_once(": ").and_then(|(code, message)| {
        let code: openwork_shared::ErrorCode = serde_json::from_value(json!(code)).ok()?;
        (code != openwork_shared::ErrorCode::Unknown).then(|| ApiError::new(code, message))
    });
    coded.unwrap_or_else(|| ApiError::invalid_payload(text.to_owned()))
}

impl RequestBody for models::ConfigPatch {}
impl RequestBody for models::PluginAdd {}
impl RequestBody for models::SkillUpsert {}
impl RequestBody for models::McpAdd {}
impl RequestBody for models::CommandUpsert {}

impl RequestBody for models::FileSessionOpen {}

impl RequestBody for models::WorkspaceImport {
    fn not_object() -> ApiError {
        ApiError::invalid_payload("Import payload must be an object")
    }
}
impl RequestBody for models::FileSessionRenew {}

impl RequestBody for models::ReadBatch {
    fn missing(_: &str) -> ApiError {
        ApiError::invalid_payload("paths must be an array")
    }
}

impl RequestBody for models::WriteBatch {
    fn missing(_: &str) -> ApiError {
        ApiError::invalid_payload("writes must be an array")
    }
}

impl RequestBody for models::FileOps {
    fn missing(_: &str) -> ApiError {
        ApiError::invalid_payload("operations must be a non-empty array")
    }
}

impl RequestBody for models::PairRequest {}

impl RequestBody for models::ApprovalCheck {
    fn missing(_: &str) -> ApiError {
        ApiError::invalid_payload("action is required")
    }
}

impl RequestBody for models::TokenCreate {
    fn missing(_: &str) -> ApiError {
        ApiError::new(
            openwork_shared::ErrorCode::InvalidScope,
            "Token scope must be owner, collaborator, or viewer",
        )
    }
}

/// Path parameters, percent-decoded; undecodable ones are a JSON 400.
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Params(p.0))
            .map_err(|e| ApiError::invalid_payload(format!("Invalid path parameter: {e}")))
    }
}

/// Query parameters as plain strings; each route interprets its own.
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|q| QueryMap(q.0))
            .map_err(|e| ApiError::invalid_payload(format!("Invalid query string: {e}")))
    }
}

impl QueryMap {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn is(&self, key: &str, value: &str) -> bool {
        self.get(key) == Some(value)
    }

    /// An event cursor such as `since`: a number, floored; anything missing,
    /// negative or unparseable reads as 0.
    pub fn cursor(&self, key: &str) -> u64 {
        self.get(key)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(0, |s| s.floor() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_paths_are_rewritten() {
        let req = Request::builder()
            .uri("/w/ws_1/workspace/ws_1/config?x=1")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(
            rewrite_mounted(req).unwrap().uri(),
            "/workspace/ws_1/config?x=1"
        );
        let req = Request::builder()
            .uri("/w/ws_1/workspace/ws_2/config")
            .body(axum::body::Body::empty())
            .unwrap();
        assert!(rewrite_mounted(req).is_err());
        assert_eq!(percent_decode("%40a%2Fb"), "@a/b");
    }
}
