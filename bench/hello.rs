//! The floor for request overhead: a bare axum server whose `GET /health`
//! answers a small JSON, nothing else (no auth, no logging, no state).
//! `bench/run` measures it beside openworkd in the same rounds.
//!
//! Usage: hello PORT [--cors]
//!
//! With `--cors` every answer also carries the four CORS headers openworkd
//! adds to every answer under its default settings (any origin allowed),
//! so the two answers are the same size.

use axum::http::HeaderName;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    CONTENT_TYPE, VARY,
};
use axum::routing::get;

const BODY: &str = r#"{"ok":true,"version":"0.0.0","uptimeMs":0}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8788);
    let cors = args.next().as_deref() == Some("--cors");
    let app = if cors {
        axum::Router::new().route(
            "/health",
            get(|| async {
                let headers: [(HeaderName, &str); 5] = [
                    (CONTENT_TYPE, "application/json"),
                    (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                    (
                        ACCESS_CONTROL_ALLOW_HEADERS,
                        "Authorization, Content-Type, X-OpenWork-Host-Token, X-OpenWork-Client-Id, X-OpenCode-Directory, X-Opencode-Directory, x-opencode-directory",
                    ),
                    (ACCESS_CONTROL_ALLOW_METHODS, "GET,POST,PATCH,DELETE,OPTIONS"),
                    (VARY, "Origin"),
                ];
                (headers, BODY)
            }),
        )
    } else {
        axum::Router::new().route(
            "/health",
            get(|| async { ([(CONTENT_TYPE, "application/json")], BODY) }),
        )
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
