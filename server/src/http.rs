//! The one port: `/v1/ws` (the protocol), `/healthz`, `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::App;
use crate::metrics::{self, Refused};

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(circles_protocol::WS_PATH, get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_page))
        .with_state(app)
}

async fn websocket(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if app.shutdown.is_cancelled() {
        app.metrics.refused.inc(Refused::ShuttingDown);
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let Some(slot) = app.peers.admit(peer.ip()) else {
        app.metrics.refused.inc(Refused::TooManySessions);
        tracing::info!(%peer, "refused: too many sessions from this address");
        let why = "too many connections from your address; close some and retry\n";
        return (StatusCode::TOO_MANY_REQUESTS, why).into_response();
    };
    let max = app.config.max_frame_bytes;
    let tracker = app.tracker.clone();
    upgrade
        // Small buffers keep thousands of idle connections cheap: tungstenite's
        // default zero-fills 128 KiB per connection.
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                crate::session::serve(app, socket, peer).await;
                drop(slot);
            })
        })
}

/// Ready when the store takes a durable write.
async fn ready(State(app): State<Arc<App>>) -> Response {
    match app.store.check_writable().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store not writable: {err}\n"),
        )
            .into_response(),
    }
}

/// The Prometheus text exposition format (see `metrics.rs`).
async fn metrics_page(State(app): State<Arc<App>>) -> Response {
    let content_type = [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)];
    (content_type, app.render_metrics()).into_response()
}
