//! The bundled web client (`server/web/`): plain HTML, CSS and ES modules
//! embedded in the binary, served at `/` and `/web/…`. No build step and no
//! CDN, so the page a server sends always matches its protocol.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

/// Scripts, styles, images and sockets from this server only, nothing inline,
/// no frames: a post that slipped markup into the page could run nothing.
/// (`connect-src 'self'` covers ws:// and wss:// to the same host.)
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $type:literal),* $(,)?) => {
        &[$(Asset { name: $name, content_type: $type, body: include_bytes!(concat!("../web/", $name)) }),*]
    };
}

const ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "circle.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "rpc.js" => "text/javascript; charset=utf-8",
    "icon.svg" => "image/svg+xml",
];

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /web/{name}`: its scripts, styles and icon.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let mut response = if request.get(header::IF_NONE_MATCH) == Some(etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    // Revalidated on every load (cheap with the ETag), so an upgraded server
    // never runs with a cached page from the old one.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// One strong ETag per asset, from its content.
fn etags() -> &'static [HeaderValue] {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = sha2::Sha256::digest(a.body);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                HeaderValue::from_str(&format!("\"{hex}\""))
                    .unwrap_or(HeaderValue::from_static("\"0\""))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in server/web/ is served, and nothing in them needs
    /// 'unsafe-inline': no inline script, handler or style attribute.
    #[test]
    fn every_file_is_embedded_and_nothing_is_inline() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("read server/web")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.name.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "server/web/ and ASSETS differ");

        let html = std::str::from_utf8(ASSETS[0].body).expect("utf-8");
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            assert!(open.contains("src="), "inline <script{open}>");
        }
        for bad in [
            " style=",
            " onclick=",
            " onload=",
            " onsubmit=",
            "javascript:",
        ] {
            assert!(!html.contains(bad), "index.html has {bad:?}");
        }
    }
}
