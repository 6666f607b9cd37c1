//! Prometheus metrics: requests by route template and status, request
//! latency, pending approvals, open file sessions and upstream failures.
//! Served at `GET /metrics` in the OpenMetrics text format.

use crate::request_stats::{RequestLabels, RequestStats};
use axum::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

pub struct Metrics {
    registry: Registry,
    requests: RequestStats,
    upstream_errors: Family<UpstreamLabels, Counter>,
    pending_approvals: Gauge,
    file_sessions: Gauge,
    auth_failures: Counter,
    auth_refused: Counter,
    webhooks: Family<OutcomeLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("openworkd");
        let requests = RequestStats::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.counter(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head",
            requests.histogram(),
        );
        let upstream_errors = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Requests to the OpenCode engine or opencode-router that failed to connect",
            upstream_errors.clone(),
        );
        let pending_approvals = Gauge::default();
        registry.register(
            "pending_approvals",
            "Writes waiting for the host's approval",
            pending_approvals.clone(),
        );
        let file_sessions = Gauge::default();
        registry.register("file_sessions", "Open file sessions", file_sessions.clone());
        let auth_failures = Counter::default();
        registry.register(
            "auth_failures",
            "Requests refused for missing or invalid credentials (401)",
            auth_failures.clone(),
        );
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "approval_webhooks",
            "Approval webhook deliveries, by outcome (delivered, or failed after the retries)",
            webhooks.clone(),
        );
        let auth_refused = Counter::default();
        registry.register(
            "auth_limited",
            "Requests refused because their address failed to authenticate too often (429)",
            auth_refused.clone(),
        );
        Self {
            registry,
            requests,
            upstream_errors,
            pending_approvals,
            file_sessions,
            auth_failures,
            auth_refused,
            webhooks,
        }
    }
}

impl Metrics {
    /// Count one answered request. `route` is its template (see
    /// [`Route`]), never the raw path, whose ids would make the label set
    /// unbounded.
    pub fn observe(&self, method: &Method, route: &'static str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method_label(method),
            route,
            status,
        };
        self.requests.record(labels, seconds);
    }

    pub fn webhook(&self, outcome: &str) {
        self.webhooks
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn auth_failure(&self) {
        self.auth_failures.inc();
    }

    pub fn auth_refused(&self) {
        self.auth_refused.inc();
    }

    pub fn upstream_error(&self, upstream: &str) {
        self.upstream_errors
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
            })
            .inc();
    }

    /// The text exposition, with the gauges set to the given values.
    pub fn render(&self, pending_approvals: usize, file_sessions: usize) -> String {
        self.pending_approvals.set(pending_approvals as i64);
        self.file_sessions.set(file_sessions as i64);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The route template a response came from, set by the route itself (see
/// `app::router`); a response without one matched no route.
#[derive(Clone, Copy)]
pub struct Route(pub &'static str);

/// The method as a label; methods outside HTTP's own are one label.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}
