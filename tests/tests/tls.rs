//! TLS served directly: a self-signed certificate for localhost made at test
//! time, wss:// clients that trust only it, `/healthz` over https://, and the
//! peers that fail or stall the TLS handshake (dropped; the server goes on).
//! A key file that is not PEM (or not the certificate's) stops startup with
//! an error naming the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use circles_tests::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A certificate and key on disk, and a client config that trusts only it.
struct Pki {
    cert: PathBuf,
    key: PathBuf,
    client: Arc<ClientConfig>,
    _dir: tempfile::TempDir,
}

fn self_signed() -> Pki {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("generate a self-signed certificate");
    let dir = tempfile::Builder::new()
        .prefix("circles-tls-")
        .tempdir()
        .expect("create a temp dir");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).expect("write the certificate");
    std::fs::write(&key_path, signing_key.serialize_pem()).expect("write the key");

    let mut roots = RootCertStore::empty();
    roots
        .add(cert.der().clone())
        .expect("trust the certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Pki {
        cert: cert_path,
        key: key_path,
        client: Arc::new(client),
        _dir: dir,
    }
}

async fn tls_server(pki: &Pki, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let (cert, key) = (pki.cert.clone(), pki.key.clone());
    TestServer::start_with(move |config| {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
        tweak(config);
    })
    .await
}

/// Reads until the peer closes (or resets) the connection; returns what came.
async fn read_to_close(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// One HTTP/1.1 GET over TLS with `Connection: close`; returns the
/// negotiated ALPN protocol and the whole response.
async fn https_get(addr: SocketAddr, client: &Arc<ClientConfig>, path: &str) -> (Vec<u8>, String) {
    // Offer h2 first: the server must pick http/1.1, the only one it speaks.
    let mut config = ClientConfig::clone(client);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    within(format!("GET {path} over https"), async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("a server name");
        let mut tls = connector
            .connect(name, tcp)
            .await
            .expect("the TLS handshake");
        let alpn = tls.get_ref().1.alpn_protocol().unwrap_or_default().to_vec();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes())
            .await
            .expect("send the request");
        let response = read_to_close(&mut tls).await;
        (alpn, String::from_utf8_lossy(&response).into_owned())
    })
    .await
}

/// The value of one sample line in a `/metrics` page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_client_registers_and_posts() {
    let pki = self_signed();
    let server = tls_server(&pki, |_| {}).await;

    let mut ana = Client::connect_tls(server.addr, Arc::clone(&pki.client)).await;
    ana.register_as(&unique_handle("ana"), None).await;
    ana.create_circle("over-tls").await;
    let posted = ana.note("over-tls", "sealed").await;
    assert_eq!(note_body(&posted), "sealed");

    // A second connection sees it, over TLS too.
    let mut bo = Client::connect_tls(server.addr, Arc::clone(&pki.client)).await;
    bo.register_as(&unique_handle("bo"), None).await;
    bo.join("over-tls").await;
    let history = bo.history_all("over-tls").await;
    assert!(
        history.iter().any(|e| e.seq == posted.seq),
        "the note is in the history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_over_https_with_http_1_1() {
    let pki = self_signed();
    let server = tls_server(&pki, |_| {}).await;

    let (alpn, response) = https_get(server.addr, &pki.client, "/healthz").await;
    assert_eq!(alpn, b"http/1.1", "ALPN picks http/1.1");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("\r\n\r\nok\n"), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_ws_client_is_refused_and_the_server_goes_on() {
    let pki = self_signed();
    let server = tls_server(&pki, |_| {}).await;

    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let url = format!(
        "ws://localhost:{}{}",
        server.addr.port(),
        circles_protocol::WS_PATH
    );
    let plain = within(
        "a ws:// handshake against the TLS port to fail",
        tokio_tungstenite::client_async(url.as_str(), tcp),
    )
    .await;
    assert!(
        plain.is_err(),
        "a ws:// handshake must not succeed on a TLS port"
    );

    let mut ana = Client::connect_tls(server.addr, Arc::clone(&pki.client)).await;
    ana.register_as(&unique_handle("ana"), None).await;
    ana.create_circle("after-plain").await;
    ana.note("after-plain", "still served").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_dropped_and_counted() {
    let pki = self_signed();
    let handshake_timeout = Duration::from_secs(1);
    let server = tls_server(&pki, |c| c.handshake_timeout = handshake_timeout).await;

    // Opens TCP and says nothing: no ClientHello.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    // Meanwhile an ordinary wss client is served.
    let mut ana = Client::connect_tls(server.addr, Arc::clone(&pki.client)).await;
    ana.register_as(&unique_handle("ana"), None).await;

    let seen = within_for(
        handshake_timeout + Duration::from_secs(4),
        "the server to drop a connection that stalls the TLS handshake",
        read_to_close(&mut silent),
    )
    .await;
    assert!(
        seen.is_empty(),
        "a stalled handshake gets nothing: {seen:?}"
    );

    let (_, page) = https_get(server.addr, &pki.client, "/metrics").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let refused = sample(
        &page,
        "circles_connections_refused_total{reason=\"handshake_timeout\"}",
    );
    assert_eq!(refused, Some(1.0), "{page}");
    ana.create_circle("after-stall").await;
}

async fn start_error(cert: &Path, key: &Path) -> String {
    let dir = tempfile::tempdir().expect("a temp data dir");
    let mut config = Config::with_data_dir(dir.path());
    config.tls_cert = Some(cert.to_path_buf());
    config.tls_key = Some(key.to_path_buf());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let run = circles_server::run(config, listener, std::future::pending());
    match within("run() to fail at startup", run).await {
        Ok(()) => panic!("the server started with a bad TLS file"),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_not_pem_stops_startup_naming_the_file() {
    let pki = self_signed();
    let not_pem = pki.key.with_file_name("not-a-key.pem");
    std::fs::write(&not_pem, "this is not a PEM file\n").expect("write the bad key");

    let error = start_error(&pki.cert, &not_pem).await;
    assert_eq!(
        error,
        format!(
            "cannot load TLS key from {}: no private key found",
            not_pem.display()
        )
    );

    // The certificate in the key's place: a file with PEM but no key.
    let error = start_error(&pki.cert, &pki.cert).await;
    assert!(
        error.contains(&format!("cannot load TLS key from {}", pki.cert.display())),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_certificate_stops_startup() {
    let pki = self_signed();
    let other = self_signed();
    let error = start_error(&pki.cert, &other.key).await;
    assert!(
        error.starts_with(&format!(
            "cannot use the TLS certificate {} with the key {}: ",
            pki.cert.display(),
            other.key.display()
        )),
        "{error}"
    );
}

/// The terminal client reaches a wss:// server whose certificate the system
/// trusts (here through `SSL_CERT_FILE`), and refuses one it does not.
#[tokio::test]
async fn the_terminal_client_speaks_wss() {
    let pki = self_signed();
    let server = tls_server(&pki, |_| {}).await;
    let url = format!("wss://localhost:{}/v1/ws", server.addr.port());
    let ana = circles_tests::cli::Peer::new("ana", &url);
    let cert = pki.cert.display().to_string();
    let out = ana
        .cmd(&["register", "ana"])
        .env("SSL_CERT_FILE", &cert)
        .run()
        .await;
    assert_eq!(out.success(), "Registered and signed in as ana.\n");
    let out = ana.cmd(&["list"]).env("SSL_CERT_FILE", &cert).run().await;
    out.success();
    // Without trusting the certificate, the client says it cannot reach the server.
    let out = ana
        .cmd(&["list"])
        .env("SSL_CERT_FILE", "/nonexistent/cert.pem")
        .run()
        .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
}
