//! The one port: `/` (the web client), `/v1/ws` (the protocol),
//! `/v1/schema.json` (its JSON Schema), `/healthz`, `/readyz` and `/metrics`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::Digest;

use crate::App;
use crate::metrics::{self, Refused};

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(crate::web::index))
        .route("/web/{name}", get(crate::web::asset))
        .route(circles_protocol::WS_PATH, get(websocket))
        .route(circles_protocol::schema::PATH, get(schema))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_page))
        .with_state(app)
}

async fn websocket(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let peer = client_address(&app.config.trusted_proxies, peer, &headers);
    if let Some(origin) = foreign_origin(&app.config.allowed_origins, &headers) {
        app.metrics.refused.inc(Refused::ForeignOrigin);
        tracing::info!(%peer, origin, "refused: origin not allowed");
        let why = format!(
            "pages from {origin} may not connect to this server; its operator can add the origin to allowed_origins\n"
        );
        return (StatusCode::FORBIDDEN, why).into_response();
    }
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

/// The client's address: the peer's, unless the peer is a trusted proxy
/// that named the client in `X-Forwarded-For` (its last entry: the one that
/// proxy added; earlier ones come from the client and prove nothing).
fn client_address(trusted: &[IpAddr], peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|last| last.trim().parse::<IpAddr>().ok());
    match forwarded {
        Some(ip) => SocketAddr::new(ip, 0),
        None => peer,
    }
}

/// The `Origin` of a browser page that may not open a WebSocket here, to
/// refuse it (cross-site WebSocket hijacking: a page elsewhere must not act
/// with a visitor's session). Let in: clients that send no Origin (not
/// browsers), pages from this server itself, and the allowed origins.
fn foreign_origin<'a>(allowed: &[String], headers: &'a HeaderMap) -> Option<&'a str> {
    let origin = headers.get(header::ORIGIN)?;
    let Ok(origin) = origin.to_str() else {
        return Some("an unreadable origin");
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same_site = origin
        .split_once("://")
        .is_some_and(|(_, authority)| host.is_some_and(|h| h.eq_ignore_ascii_case(authority)));
    let listed = allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin));
    (!same_site && !listed).then_some(origin)
}

/// The protocol's JSON Schema, built on first use: the same text as the
/// checked-in `docs/protocol.schema.json`. Public, so any page may fetch it.
async fn schema() -> Response {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT.get_or_init(circles_protocol::schema::text);
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    ];
    (headers, text.as_str()).into_response()
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
async fn metrics_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(token) = &app.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        // Compared as digests, so the time taken says nothing about the token.
        let digest = |t: &str| sha2::Sha256::digest(t.as_bytes());
        if given.map(digest) != Some(digest(token)) {
            let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
            let why = "/metrics needs Authorization: Bearer <metrics_token>\n";
            return (StatusCode::UNAUTHORIZED, challenge, why).into_response();
        }
    }
    let content_type = [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)];
    (content_type, app.render_metrics()).into_response()
}
