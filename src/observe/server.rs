//! The HTTP server of `/metrics`, `/healthz` (the process is up), `/readyz` (the stages are
//! connected and running) and `/feeds` (per-feed state of the fetch stage, JSON).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Readiness shared between the stages and the server.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct AppState {
    handle: PrometheusHandle,
    ready: Readiness,
    feeds: crate::fetch::StatusBoard,
}

/// Binds the server; returns the bound address and the task serving until `stop`.
pub async fn serve(
    listen: &str,
    handle: PrometheusHandle,
    ready: Readiness,
    feeds: crate::fetch::StatusBoard,
    stop: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/feeds", get(feeds_status))
        .with_state(AppState {
            handle,
            ready,
            feeds,
        });
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok((addr, task))
}

async fn metrics(State(s): State<AppState>) -> String {
    s.handle.run_upkeep();
    s.handle.render()
}

/// Per-feed state (last success, last error and its kind, consecutive failures, next poll)
/// as JSON, sorted by feed id.
async fn feeds_status(
    State(s): State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let mut list: Vec<crate::fetch::FeedStatus> = s
        .feeds
        .lock()
        .map(|b| b.values().cloned().collect())
        .unwrap_or_default();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into()),
    )
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.ready.get() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
