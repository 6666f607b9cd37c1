//! The floor for request overhead: a bare axum server whose `GET /health`
//! answers a small JSON, nothing else (no auth, no logging, no state).
//! `bench/run` measures it beside openworkd in the same rounds.
//!
//! Usage: hello PORT

use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8788);
    let app = axum::Router::new().route(
        "/health",
        get(|| async {
            (
                [("content-type", "application/json")],
                r#"{"ok":true,"version":"0.0.0","uptimeMs":0}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
