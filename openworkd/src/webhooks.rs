//! Approval notifications: each `approval.requested` / `approval.decided`
//! event is POSTed as JSON `{"event", "approval"}` to the configured
//! webhooks, signed with `X-OpenWork-Signature: sha256=<hex HMAC-SHA256 of
//! the body>` when a secret is set. Delivery runs on its own task (never
//! delaying the request that caused it): 5 s per attempt, 3 attempts with
//! 1 s then 2 s between them; failures are logged and counted. `https://`
//! receivers are checked against the system's CA certificates (which
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` can point elsewhere).

use crate::app::AppState;
use crate::approvals::FeedEvent;
use crate::events::Follow;
use axum::body::Body;
use axum::http::{Method, Request, header};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use std::collections::VecDeque;
use std::time::Duration;

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(5);

/// One entry of `approval.webhooks` in `server.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Webhook {
    pub url: String,
    #[serde(default)]
    pub secret: Option<String>,
    /// The events to send (default: both).
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

impl Webhook {
    fn wants(&self, event: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|events| events.iter().any(|e| e == event))
    }
}

/// `sha256=<hex>` of `body` keyed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> Option<String> {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(body);
    Some(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Follow the approvals feed for the life of the daemon and send each
/// event to the webhooks configured at that moment. While none is
/// configured it waits for a reload instead (no wake for every decision).
/// Each event published since webhooks were configured is sent, even when
/// this task starts following later (the client takes a moment to build).
pub async fn dispatch(state: AppState) {
    // Loading the system's CA certificates takes a moment.
    let built = tokio::task::spawn_blocking(client).await;
    let client = match built.map_err(|e| e.to_string()).and_then(|c| c) {
        Ok(client) => client,
        Err(e) => {
            crate::logging::error(&format!("approval webhooks are off: {e}"));
            return;
        }
    };
    loop {
        configured(&state).await;
        let from = (state.approvals.subscribe(), state.live().webhooks_from);
        follow(&state, &client, from).await;
    }
}

/// Until a webhook is configured.
async fn configured(state: &AppState) {
    loop {
        let reloaded = state.reloaded.notified();
        tokio::pin!(reloaded);
        // Registered before looking: a reload from here on is not missed.
        reloaded.as_mut().enable();
        if !state.live().webhooks.is_empty() {
            return;
        }
        reloaded.await;
    }
}

/// Send the events published after `from`, until one finds no webhook
/// configured.
async fn follow(
    state: &AppState,
    client: &Client,
    (changes, start): (tokio::sync::watch::Receiver<u64>, u64),
) {
    let fetch = move |seq| state.approvals.since(seq);
    let mut feed = Follow::new(changes, start, VecDeque::new(), fetch, |e: &FeedEvent| {
        e.seq
    });
    while let Some(event) = feed.next().await {
        let hooks = state.live().webhooks.clone();
        if hooks.is_empty() {
            return;
        }
        let wanting: Vec<&Webhook> = hooks.iter().filter(|h| h.wants(event.name)).collect();
        if wanting.is_empty() {
            continue;
        }
        let body = format!(r#"{{"event":"{}","approval":{}}}"#, event.name, event.data);
        for hook in wanting {
            let (hook, body, client) = (hook.clone(), body.clone(), client.clone());
            let state = *state;
            tokio::spawn(async move { deliver(&state, &client, &hook, body).await });
        }
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Body,
>;

/// One client for every receiver, `http://` or `https://`.
fn client() -> Result<Client, String> {
    let tls = openwork_shared::tls::Trust::default().client_config()?;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(TIMEOUT));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

async fn deliver(state: &AppState, client: &Client, hook: &Webhook, body: String) {
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
        match send(client, hook, &body).await {
            Ok(()) => {
                state.metrics.webhook("delivered");
                return;
            }
            Err(e) => last_error = e,
        }
    }
    state.metrics.webhook("failed");
    crate::logging::warn(&format!(
        "approval webhook {} failed after {ATTEMPTS} attempts: {last_error}",
        hook.url
    ));
}

async fn send(client: &Client, hook: &Webhook, body: &str) -> Result<(), String> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(hook.url.as_str())
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(signed) = hook
        .secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|secret| signature(secret, body.as_bytes()))
    {
        req = req.header("X-OpenWork-Signature", signed);
    }
    let req = req
        .body(Body::from(body.to_owned()))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(TIMEOUT, client.request(req))
        .await
        .map_err(|_| "timed out after 5 s".to_owned())?
        .map_err(|e| crate::error::error_chain(&e))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", resp.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?").as_deref(),
            Some("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        let hook = Webhook {
            url: "http://x".into(),
            secret: None,
            events: Some(vec!["approval.decided".into()]),
        };
        assert!(hook.wants("approval.decided") && !hook.wants("approval.requested"));
    }
}
