//! The web page at `/ui` and `/w/:id/ui`, and its assets, embedded in the
//! binary so it works offline. No authentication: the page asks for a token
//! and uses the public API with it.

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::Params;
use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use openwork_shared::ErrorCode;

const PAGE: &str = include_str!("../../ui/index.html");

/// Asset name, content type and body.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "toy.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/toy.css"),
    ),
    (
        "toy.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/toy.js"),
    ),
    (
        "openwork-mark.svg",
        "image/svg+xml",
        include_str!("../../ui/openwork-mark.svg"),
    ),
];

fn serve(state: &AppState, content_type: &'static str, body: &'static str) -> Response {
    if !state.config.toy_ui {
        return ApiError::new(ErrorCode::UiDisabled, "Toy UI is disabled").into_response();
    }
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-store"),
            (CONTENT_SECURITY_POLICY, POLICY),
            (X_FRAME_OPTIONS, "DENY"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// The page loads only its own assets and talks only to this server, and
/// no other site may frame it: it holds a token (in this browser's
/// storage) and buttons that allow writes, which a page framing it could
/// trick a click onto.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// `GET /ui` and `GET /w/:id/ui`: the same page; it reads the workspace
/// from its own URL.
pub async fn page(State(st): State<AppState>) -> Response {
    serve(&st, "text/html; charset=utf-8", PAGE)
}

pub async fn asset(State(st): State<AppState>, Params(name): Params<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => serve(&st, content_type, body),
        None if !st.config.toy_ui => serve(&st, "", ""),
        None => ApiError::not_found().into_response(),
    }
}
