//! End-to-end test harness: a real Circles server over real WebSockets.
//!
//! - [`TestServer`] runs `circles_server::run` in-process on `127.0.0.1:0` with
//!   its own temp data dir (start, stop, restart on the same dir).
//! - [`ServerProcess`] runs the `circles-server` binary (for kill -9 and SIGTERM).
//! - [`Client`] speaks the wire protocol at two levels: raw frames
//!   (`send_text`, `recv_frame`) and typed calls (`call::<M>`), buffering the
//!   notifications that arrive while it waits for a response.
//!   [`Client::connect_tls`] opens the same over wss://.
//!
//! - [`bench`]: raw-socket helpers for the `loadgen` and `hostile` binaries.
//! - [`browser`]: headless Chromium over WebDriver, for web front ends.
//! - [`script`]: a circle history with chosen times, written while the server is stopped.
//!
//! Every wait is bounded by [`TIMEOUT`] and panics with what it waited for:
//! a test never sleeps to let the server catch up, it waits for a specific
//! frame.
#![forbid(unsafe_code)]

pub mod bench;
pub mod browser;
pub mod cli;
pub mod script;

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use circles_protocol::methods::{self as m, Method};
use circles_protocol::model::{CircleInfo, Member, Visibility};
use circles_protocol::notify::{self, EventNotice, PresenceNotice};
use circles_protocol::{ErrorObject, Event, EventBody, Millis, Notification, WS_PATH};
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ClientConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub use circles_server::Config;
use circles_server::store::{Append, Store};

/// How long any single wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The password every helper-registered account uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// Awaits `fut`, failing the test with `what` if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(what: impl Display, fut: F) -> F::Output {
    within_for(TIMEOUT, what, fut).await
}

/// [`within`] with an explicit bound.
pub async fn within_for<F: Future>(limit: Duration, what: impl Display, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// A handle no other call in this process returned: `prefix` plus a counter.
pub fn unique_handle(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Milliseconds since the Unix epoch, as the wire carries time.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// In-process server

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// `circles_server::run` on the current tokio runtime, on its own temp dir.
pub struct TestServer {
    /// The bound address (changes on restart).
    pub addr: SocketAddr,
    config: Config,
    running: Option<Running>,
    // Dropped last: removes the data dir.
    dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with the default config on a fresh temp dir.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts a server whose config `tweak` adjusts (e.g. a smaller outbound queue).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("circles-test-")
            .tempdir()
            .expect("create a temp data dir");
        let mut config = Config::with_data_dir(dir.path());
        tweak(&mut config);
        let mut server = TestServer {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
            running: None,
            dir,
        };
        server.launch().await;
        server
    }

    async fn launch(&mut self) {
        self.launch_at(SocketAddr::from(([127, 0, 0, 1], 0))).await;
    }

    async fn launch_at(&mut self, addr: SocketAddr) {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|err| panic!("bind {addr}: {err}"));
        self.addr = listener.local_addr().expect("listener address");
        let mut config = self.config.clone();
        config.listen = self.addr;
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(circles_server::run(config, listener, async move {
            // A dropped sender (the TestServer dropped) also shuts down.
            let _ = signal.await;
        }));
        self.running = Some(Running { shutdown, task });
    }

    /// The WebSocket URL of the running server.
    pub fn url(&self) -> String {
        format!("ws://{}{WS_PATH}", self.addr)
    }

    /// The server's data dir.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Completes the shutdown future and waits for `run` to return `Ok`.
    pub async fn stop(&mut self) {
        let running = self.running.take().expect("the server is not running");
        let _ = running.shutdown.send(());
        let joined = within("run() to return after shutdown", running.task).await;
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(err)) => panic!("run() returned an error after shutdown: {err:#}"),
            Err(err) => panic!("run() panicked or was cancelled: {err}"),
        }
    }

    /// Stops the server and starts it again on the same data dir (a new port).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    /// Stops the server and starts it again on the same data dir and the same
    /// port, as clients that reconnect to one address see a restart.
    pub async fn restart_on_same_port(&mut self) {
        self.stop().await;
        self.start_again_on_same_port().await;
    }

    /// Starts the server again after [`TestServer::stop`], on its last port.
    pub async fn start_again_on_same_port(&mut self) {
        assert!(self.running.is_none(), "the server is already running");
        self.launch_at(self.addr).await;
    }

    /// Starts the server again on the same data dir after [`TestServer::stop`].
    pub async fn start_again(&mut self) {
        assert!(self.running.is_none(), "the server is already running");
        self.launch().await;
    }

    /// Writes `events` (author, time, body) to the end of circle `slug`'s log
    /// with the server stopped, then starts it again (on a new port): a
    /// history with chosen timestamps, as if it had happened then. The bodies
    /// are not checked, so script only what the server could have appended.
    pub async fn script(
        &mut self,
        slug: &str,
        events: Vec<(&str, Millis, EventBody)>,
    ) -> Vec<Event> {
        self.stop().await;
        let store = Store::open(self.data_dir()).expect("open the stopped server's store");
        let circle = store
            .circle_id(slug)
            .expect("read circles")
            .expect("the circle exists");
        let head = store.head(circle).expect("read the head");
        let mut written = Vec::new();
        for (seq, (author, at, body)) in (head + 1..).zip(events) {
            let event = Event {
                seq,
                id: Uuid::now_v7(),
                author: author.into(),
                at,
                retracted: false,
                body,
            };
            let json = serde_json::to_vec(&event).expect("event to JSON");
            let append = Append {
                seq,
                event_json: &json,
                membership: Vec::new(),
                rewrites: Vec::new(),
            };
            // Durable once the flush below returns.
            let _ticket = store
                .append(circle, &append)
                .expect("append a scripted event");
            written.push(event);
        }
        within("the scripted events to be flushed", store.flush())
            .await
            .expect("flush the store");
        drop(store);
        self.start_again().await;
        written
    }

    /// A new connection, not signed in.
    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A new connection signed in as a new account `handle` (password [`PASSWORD`]).
    pub async fn register(&self, handle: &str) -> Client {
        Client::register(self.addr, handle).await
    }

    /// The host's operator, through the server's control socket.
    pub async fn operator(&self) -> circles_server::control::Operator {
        // A finished handshake means `run` is past binding the control
        // socket; before that the operator would open the store itself.
        self.connect().await.close().await;
        let config = Config::with_data_dir(self.data_dir());
        within(
            "the control socket",
            circles_server::control::Operator::open(&config, false),
        )
        .await
        .expect("open the control socket")
    }

    /// A new account `handle`, made an admin by the operator, signed in.
    pub async fn register_admin(&self, handle: &str) -> Client {
        let client = self.register(handle).await;
        let mut operator = self.operator().await;
        let grant = m::Grant {
            handle: handle.to_owned(),
            password: None,
        };
        within("admin.grant", operator.call::<m::AdminGrant>(grant))
            .await
            .expect("the operator grants admin");
        client
    }

    /// Like [`TestServer::register`], with a display name.
    pub async fn register_named(&self, handle: &str, display_name: &str) -> Client {
        let mut client = self.connect().await;
        client.register_as(handle, Some(display_name)).await;
        client
    }
}

/// One HTTP/1.1 `GET path` on a fresh TCP connection, with extra header
/// lines (each ending in `\r\n`): the response head and body.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &str) -> (String, String) {
    use tokio::io::AsyncWriteExt;
    within(format!("GET {path}"), async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n");
        tcp.write_all(request.as_bytes()).await.expect("send");
        let mut answer = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut answer)
            .await
            .expect("read");
        let answer = String::from_utf8(answer).expect("a UTF-8 answer");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        (head.to_owned(), body.to_owned())
    })
    .await
}

// ---------------------------------------------------------------------------
// The server binary

/// The path of the `circles-server` binary, built once per test process.
pub fn server_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let run = escargot::CargoBuild::new()
            .package("circles-server")
            .bin("circles-server")
            .current_release()
            .run()
            .unwrap_or_else(|err| panic!("building the circles-server binary failed: {err}"));
        run.path().to_path_buf()
    })
    .clone()
}

/// The `circles-server` binary running as a child process.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: tokio::process::Child,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Runs the binary with `--listen 127.0.0.1:0 --data-dir DIR` and waits for
    /// its "listening on ADDR" line.
    pub async fn spawn(data_dir: &Path) -> ServerProcess {
        let data_dir = data_dir.to_path_buf();
        ServerProcess::spawn_with(move |command| {
            command
                .arg("--listen")
                .arg("127.0.0.1:0")
                .arg("--data-dir")
                .arg(data_dir);
        })
        .await
    }

    /// Runs the binary with the arguments and environment `configure` adds.
    pub async fn spawn_with(configure: impl FnOnce(&mut tokio::process::Command)) -> ServerProcess {
        let binary = tokio::task::spawn_blocking(server_binary)
            .await
            .expect("the build task panicked");
        let mut command = tokio::process::Command::new(&binary);
        command
            .env_remove("CIRCLES_LISTEN")
            .env_remove("CIRCLES_DATA_DIR");
        configure(&mut command);
        let mut child = command
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("spawning {}: {err}", binary.display()));
        let log = Arc::new(Mutex::new(String::new()));
        let (found_tx, found_rx) = tokio::sync::mpsc::channel::<SocketAddr>(2);
        let stderr = child.stderr.take().expect("piped stderr");
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn(drain_output(stderr, log.clone(), found_tx.clone()));
        tokio::spawn(drain_output(stdout, log.clone(), found_tx));
        let mut found_rx = found_rx;
        let addr = match tokio::time::timeout(Duration::from_secs(60), found_rx.recv()).await {
            Ok(Some(addr)) => addr,
            Ok(None) => panic!(
                "circles-server exited before logging \"listening on\"; its output:\n{}",
                log.lock().map(|l| l.clone()).unwrap_or_default()
            ),
            Err(_) => panic!(
                "circles-server did not log \"listening on ADDR\" within 60 s; its output:\n{}",
                log.lock().map(|l| l.clone()).unwrap_or_default()
            ),
        };
        ServerProcess { addr, child, log }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child
            .id()
            .expect("the server process is still running")
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// SIGKILL (kill -9), then reaps the process.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("send SIGKILL");
        within("the killed server to exit", self.child.wait())
            .await
            .expect("wait for the killed server");
    }

    /// SIGTERM, then waits for the process to exit and returns its status.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.pid();
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {pid} failed: {status}");
        within("the server to exit after SIGTERM", self.child.wait())
            .await
            .expect("wait for the server")
    }

    /// A new connection, not signed in.
    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }
}

async fn drain_output(
    stream: impl AsyncRead + Unpin,
    log: Arc<Mutex<String>>,
    found: tokio::sync::mpsc::Sender<SocketAddr>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(addr) = parse_listening(&line) {
            let _ = found.try_send(addr);
        }
        if let Ok(mut log) = log.lock() {
            log.push_str(&line);
            log.push('\n');
        }
    }
}

/// The address in a "listening on ADDR" log line, ignoring colours and decoration.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    let clean = strip_ansi(line);
    let at = clean.find("listening on")?;
    clean[at + "listening on".len()..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')))
        .find_map(|token| token.parse::<SocketAddr>().ok())
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Client

/// One frame as the client received it.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame: its code and reason, if any.
    Close(Option<(u16, String)>),
    /// The stream ended without a close frame (EOF or an error such as a reset).
    Ended(String),
}

/// A WebSocket connection to the server.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: i64,
    /// Notifications that arrived while waiting for something else.
    buffered: VecDeque<Notification>,
    /// The handle this connection signed in as ("" if none).
    pub handle: String,
    /// The token register/login returned ("" if none).
    pub token: String,
    /// How long each wait on this connection may take.
    wait: Duration,
}

impl Client {
    /// Opens a WebSocket to `addr`, not signed in.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = within(format!("TCP connect to {addr}"), TcpStream::connect(addr))
            .await
            .unwrap_or_else(|err| panic!("connecting to {addr}: {err}"));
        Client::handshake(addr, stream).await
    }

    /// Like [`Client::connect`], with a small kernel receive buffer so that a
    /// client that stops reading backs the server up quickly.
    pub async fn connect_with_recv_buffer(addr: SocketAddr, bytes: u32) -> Client {
        let socket = TcpSocket::new_v4().expect("TCP socket");
        socket.set_recv_buffer_size(bytes).expect("set SO_RCVBUF");
        let stream = within(format!("TCP connect to {addr}"), socket.connect(addr))
            .await
            .unwrap_or_else(|err| panic!("connecting to {addr}: {err}"));
        Client::handshake(addr, stream).await
    }

    /// Opens a wss:// connection to `addr`, checking the server's
    /// certificate for `localhost` against the roots in `tls`.
    pub async fn connect_tls(addr: SocketAddr, tls: Arc<ClientConfig>) -> Client {
        let stream = within(format!("TCP connect to {addr}"), TcpStream::connect(addr))
            .await
            .unwrap_or_else(|err| panic!("connecting to {addr}: {err}"));
        let _ = stream.set_nodelay(true);
        let url = format!("wss://localhost:{}{WS_PATH}", addr.port());
        let (ws, _response) = within(
            format!("the TLS and WebSocket handshakes with {url}"),
            tokio_tungstenite::client_async_tls_with_config(
                url.as_str(),
                stream,
                None,
                Some(Connector::Rustls(tls)),
            ),
        )
        .await
        .unwrap_or_else(|err| panic!("TLS and WebSocket handshakes with {url}: {err}"));
        Client::over(ws)
    }

    async fn handshake(addr: SocketAddr, stream: TcpStream) -> Client {
        let _ = stream.set_nodelay(true);
        let url = format!("ws://{addr}{WS_PATH}");
        let (ws, _response) = within(
            format!("the WebSocket handshake with {url}"),
            tokio_tungstenite::client_async(url.as_str(), MaybeTlsStream::Plain(stream)),
        )
        .await
        .unwrap_or_else(|err| panic!("WebSocket handshake with {url}: {err}"));
        Client::over(ws)
    }

    fn over(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            next_id: 1,
            buffered: VecDeque::new(),
            handle: String::new(),
            token: String::new(),
            wait: TIMEOUT,
        }
    }

    /// A new connection signed in as the new account `handle`.
    pub async fn register(addr: SocketAddr, handle: &str) -> Client {
        let mut client = Client::connect(addr).await;
        client.register_as(handle, None).await;
        client
    }

    /// A new connection signed in with a password.
    pub async fn login(addr: SocketAddr, handle: &str, password: &str) -> Client {
        let mut client = Client::connect(addr).await;
        let session = client
            .ok::<m::AuthLogin>(m::Login {
                handle: handle.into(),
                password: password.into(),
            })
            .await;
        assert_eq!(session.handle, handle);
        client.handle = session.handle;
        client.token = session.token;
        client
    }

    /// A new connection signed in with a saved token.
    pub async fn with_token(addr: SocketAddr, token: &str) -> Client {
        let mut client = Client::connect(addr).await;
        let who = client
            .ok::<m::AuthToken>(m::TokenLogin {
                token: token.into(),
            })
            .await;
        client.handle = who.handle;
        client.token = token.into();
        client
    }

    /// Registers `handle` on this connection (password [`PASSWORD`]).
    pub async fn register_as(&mut self, handle: &str, display_name: Option<&str>) {
        let session = self
            .ok::<m::AuthRegister>(m::Register {
                handle: handle.into(),
                password: PASSWORD.into(),
                display_name: display_name.map(Into::into),
                invite: None,
            })
            .await;
        assert_eq!(
            session.handle, handle,
            "auth.register returned another handle"
        );
        self.handle = session.handle;
        self.token = session.token;
    }

    /// Sets how long each wait on this connection may take (default [`TIMEOUT`]).
    pub fn set_wait(&mut self, wait: Duration) {
        self.wait = wait;
    }

    // --- raw frames ---------------------------------------------------------

    /// Sends one text frame as is.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        if let Err(err) = self.try_send_text(text).await {
            panic!("sending a text frame: {err}");
        }
    }

    /// Sends one text frame, returning the error if the connection is gone.
    pub async fn try_send_text(&mut self, text: impl Into<String>) -> Result<(), String> {
        let text: String = text.into();
        within_for(
            self.wait,
            "sending a text frame",
            self.ws.send(Message::text(text)),
        )
        .await
        .map_err(|err| err.to_string())
    }

    /// Sends one binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        within_for(
            self.wait,
            "sending a binary frame",
            self.ws.send(Message::binary(bytes)),
        )
        .await
        .unwrap_or_else(|err| panic!("sending a binary frame: {err}"));
    }

    /// Sends a JSON value as one text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(value.to_string()).await;
    }

    /// The next frame (pings and pongs skipped), waiting at most [`TIMEOUT`].
    pub async fn recv_frame(&mut self) -> Frame {
        within_for(
            self.wait,
            "a frame from the server",
            self.recv_frame_unbounded(),
        )
        .await
    }

    async fn recv_frame_unbounded(&mut self) -> Frame {
        loop {
            match self.ws.next().await {
                None => return Frame::Ended("end of stream".into()),
                Some(Err(err)) => return Frame::Ended(err.to_string()),
                Some(Ok(Message::Text(text))) => return Frame::Text(text.to_string()),
                Some(Ok(Message::Binary(bytes))) => return Frame::Binary(bytes.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    return Frame::Close(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            }
        }
    }

    /// The next frame, which must be a text frame holding JSON.
    pub async fn recv_json(&mut self) -> Value {
        match self.recv_frame().await {
            Frame::Text(text) => serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("the server sent invalid JSON ({err}): {text}")),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next frame that is not a notification (notifications are buffered).
    pub async fn recv_non_notification(&mut self) -> Value {
        loop {
            let value = self.recv_json().await;
            if !self.buffer_if_notification(&value) {
                return value;
            }
        }
    }

    /// Reads until the server closes the connection, skipping every other
    /// frame. Returns the close code, or `None` if the stream ended without a
    /// close frame.
    pub async fn expect_close(&mut self) -> Option<u16> {
        within_for(self.wait, "the server to close the connection", async {
            loop {
                match self.recv_frame_unbounded().await {
                    Frame::Close(frame) => return frame.map(|(code, _)| code),
                    Frame::Ended(_) => return None,
                    Frame::Text(_) | Frame::Binary(_) => {}
                }
            }
        })
        .await
    }

    /// Like [`Client::expect_close`], also returning the reason and every text
    /// frame read before the close.
    pub async fn read_until_closed(&mut self) -> (Option<(u16, String)>, Vec<String>) {
        let mut texts = Vec::new();
        let close = within_for(self.wait, "the server to close the connection", async {
            loop {
                match self.recv_frame_unbounded().await {
                    Frame::Close(frame) => return frame,
                    Frame::Ended(_) => return None,
                    Frame::Text(text) => texts.push(text),
                    Frame::Binary(_) => {}
                }
            }
        })
        .await;
        (close, texts)
    }

    /// Closes the connection politely and waits for the server's answer.
    pub async fn close(mut self) {
        let _ = within_for(self.wait, "closing the WebSocket", self.ws.close(None)).await;
        let _ = within_for(self.wait, "the server's close reply", async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    // --- JSON-RPC -----------------------------------------------------------

    fn fresh_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Buffers `value` if it is a notification; says whether it was.
    fn buffer_if_notification(&mut self, value: &Value) -> bool {
        let is_notification =
            value.is_object() && value.get("id").is_none() && value.get("method").is_some();
        if is_notification {
            let notification: Notification = serde_json::from_value(value.clone())
                .unwrap_or_else(|err| panic!("malformed notification ({err}): {value}"));
            self.buffered.push_back(notification);
        }
        is_notification
    }

    /// Sends a request with a fresh id and returns the whole response object
    /// (notifications arriving meanwhile are buffered).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.fresh_id();
        self.send_json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.response_to(id, method).await
    }

    /// Sends a request without params.
    pub async fn request_no_params(&mut self, method: &str) -> Value {
        let id = self.fresh_id();
        self.send_json(&json!({"jsonrpc": "2.0", "id": id, "method": method}))
            .await;
        self.response_to(id, method).await
    }

    async fn response_to(&mut self, id: i64, method: &str) -> Value {
        let what = format!("the response to {method} (id {id})");
        within_for(self.wait, &what, async {
            loop {
                let text = match self.recv_frame_unbounded().await {
                    Frame::Text(text) => text,
                    other => panic!("waiting for {what}, got {other:?}"),
                };
                let value: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|err| panic!("the server sent invalid JSON ({err}): {text}"));
                if self.buffer_if_notification(&value) {
                    continue;
                }
                if value.get("id") == Some(&json!(id)) {
                    return value;
                }
                panic!("waiting for {what}, got another frame: {text}");
            }
        })
        .await
    }

    /// Like [`Client::request`], but a lost connection or a timeout is an
    /// `Err` instead of a failed test (for tests that kill the server).
    pub async fn try_request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.fresh_id();
        let frame = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        match tokio::time::timeout(TIMEOUT, self.ws.send(Message::text(frame.to_string()))).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(format!("sending {method}: {err}")),
            Err(_) => return Err(format!("sending {method} timed out")),
        }
        let answer = tokio::time::timeout(TIMEOUT, async {
            loop {
                let text = match self.recv_frame_unbounded().await {
                    Frame::Text(text) => text,
                    other => return Err(format!("waiting for {method}: {other:?}")),
                };
                let value: Value = serde_json::from_str(&text)
                    .map_err(|err| format!("invalid JSON ({err}): {text}"))?;
                if self.buffer_if_notification(&value) {
                    continue;
                }
                if value.get("id") == Some(&json!(id)) {
                    return Ok(value);
                }
                return Err(format!("waiting for {method}, got another frame: {text}"));
            }
        })
        .await;
        answer.unwrap_or_else(|_| Err(format!("no response to {method} within {TIMEOUT:?}")))
    }

    /// Posts a note; `Err` if the connection is lost or the post is refused.
    pub async fn try_note(&mut self, circle: &str, body: &str) -> Result<Event, String> {
        let response = self
            .try_request("post.note", json!({"circle": circle, "body": body}))
            .await?;
        parse_response::<m::EventResult>("post.note", response)
            .map(|result| result.event)
            .map_err(|err| format!("post.note refused: {:?} {}", err.kind(), err.message))
    }

    /// Sends a raw request and returns its error, failing if it succeeded.
    pub async fn request_err(&mut self, method: &str, params: Value) -> ErrorObject {
        let response = self.request(method, params).await;
        match parse_response::<Value>(method, response) {
            Ok(result) => panic!("{method} should have failed but returned {result}"),
            Err(err) => err,
        }
    }

    /// Calls method `M` and returns its typed result or error.
    pub async fn call<M: Method>(&mut self, params: M::Params) -> Result<M::Result, ErrorObject> {
        let params = serde_json::to_value(params).expect("params serialize");
        let response = self.request(M::NAME, params).await;
        parse_response::<M::Result>(M::NAME, response)
    }

    /// Calls `M`, failing the test if it returns an error.
    pub async fn ok<M: Method>(&mut self, params: M::Params) -> M::Result {
        match self.call::<M>(params).await {
            Ok(result) => result,
            Err(err) => panic!(
                "{} as {:?} failed: {:?} {} ({})",
                M::NAME,
                self.handle,
                err.kind(),
                err.message,
                err.code
            ),
        }
    }

    /// Calls `M`, failing the test if it succeeds; returns the error.
    pub async fn err<M: Method>(&mut self, params: M::Params) -> ErrorObject
    where
        M::Result: std::fmt::Debug,
    {
        match self.call::<M>(params).await {
            Ok(result) => panic!(
                "{} as {:?} should have failed but returned {result:?}",
                M::NAME,
                self.handle
            ),
            Err(err) => err,
        }
    }

    // --- notifications ------------------------------------------------------

    /// Notifications received but not yet taken.
    pub fn buffered(&self) -> &VecDeque<Notification> {
        &self.buffered
    }

    /// Takes every buffered notification.
    pub fn take_buffered(&mut self) -> Vec<Notification> {
        self.buffered.drain(..).collect()
    }

    /// The first notification (buffered or new) for which `pick` returns
    /// `Some`; the others stay buffered, in order.
    pub async fn next_matching<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Notification) -> Option<T>,
    ) -> T {
        if let Some(at) = self.buffered.iter().position(|n| pick(n).is_some()) {
            let notification = self.buffered.remove(at).expect("position is in range");
            return pick(&notification).expect("picked before");
        }
        within_for(self.wait, format!("{what} (as {:?})", self.handle), async {
            loop {
                let text = match self.recv_frame_unbounded().await {
                    Frame::Text(text) => text,
                    other => panic!("waiting for {what}, got {other:?}"),
                };
                let value: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|err| panic!("the server sent invalid JSON ({err}): {text}"));
                if !self.buffer_if_notification(&value) {
                    panic!("waiting for {what}, got a frame that is not a notification: {text}");
                }
                let last = self.buffered.back().expect("just buffered");
                if let Some(found) = pick(last) {
                    self.buffered.pop_back();
                    return found;
                }
            }
        })
        .await
    }

    /// The next notification of any kind.
    pub async fn next_notification(&mut self) -> Notification {
        self.next_matching("a notification", |n| Some(n.clone()))
            .await
    }

    /// The next `event` notification (other notifications stay buffered).
    pub async fn next_event(&mut self) -> EventNotice {
        self.next_matching("an event notification", |n| {
            (n.method == notify::EVENT).then(|| parse_notice::<EventNotice>(n))
        })
        .await
    }

    /// The next `event` notification of `circle`.
    pub async fn next_event_in(&mut self, circle: &str) -> Event {
        let what = format!("an event notification in {circle}");
        self.next_matching(&what, |n| {
            if n.method != notify::EVENT {
                return None;
            }
            let notice = parse_notice::<EventNotice>(n);
            (notice.circle == circle).then_some(notice.event)
        })
        .await
    }

    /// The next `presence` notification (other notifications stay buffered).
    pub async fn next_presence(&mut self) -> PresenceNotice {
        self.next_matching("a presence notification", |n| {
            (n.method == notify::PRESENCE).then(|| parse_notice::<PresenceNotice>(n))
        })
        .await
    }

    /// The next `presence` notification about `handle`.
    pub async fn next_presence_of(&mut self, handle: &str) -> PresenceNotice {
        let what = format!("a presence notification about {handle}");
        self.next_matching(&what, |n| {
            if n.method != notify::PRESENCE {
                return None;
            }
            let notice = parse_notice::<PresenceNotice>(n);
            (notice.handle == handle).then_some(notice)
        })
        .await
    }

    /// The next `presence` notification about `handle` with `online`.
    pub async fn next_presence_is(&mut self, handle: &str, online: bool) -> PresenceNotice {
        let what = format!("a presence notification {{handle: {handle}, online: {online}}}");
        self.next_matching(&what, |n| {
            if n.method != notify::PRESENCE {
                return None;
            }
            let notice = parse_notice::<PresenceNotice>(n);
            (notice.handle == handle && notice.online == online).then_some(notice)
        })
        .await
    }

    /// Events of `circle`, in arrival order, until one with seq >= `last`.
    pub async fn events_until(&mut self, circle: &str, last: u64) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let event = self.next_event_in(circle).await;
            let seq = event.seq;
            events.push(event);
            if seq >= last {
                return events;
            }
        }
    }

    /// The `event` notifications of `circle` still buffered, in order.
    pub fn buffered_events_in(&self, circle: &str) -> Vec<Event> {
        self.buffered
            .iter()
            .filter(|n| n.method == notify::EVENT)
            .map(parse_notice::<EventNotice>)
            .filter(|notice| notice.circle == circle)
            .map(|notice| notice.event)
            .collect()
    }

    // --- helpers ------------------------------------------------------------

    /// Creates a public circle with defaults.
    pub async fn create_circle(&mut self, slug: &str) -> CircleInfo {
        self.create_circle_with(new_circle(slug)).await
    }

    /// Creates a private circle with defaults.
    pub async fn create_private_circle(&mut self, slug: &str) -> CircleInfo {
        self.create_circle_with(m::CreateCircle {
            visibility: Some(Visibility::Private),
            ..new_circle(slug)
        })
        .await
    }

    pub async fn create_circle_with(&mut self, params: m::CreateCircle) -> CircleInfo {
        self.ok::<m::CircleCreate>(params).await.circle
    }

    pub async fn join(&mut self, circle: &str) -> CircleInfo {
        self.ok::<m::CircleJoin>(m::JoinCircle {
            circle: circle.into(),
            invite: None,
        })
        .await
        .circle
    }

    pub async fn join_with_invite(&mut self, circle: &str, invite: &str) -> CircleInfo {
        self.ok::<m::CircleJoin>(m::JoinCircle {
            circle: circle.into(),
            invite: Some(invite.into()),
        })
        .await
        .circle
    }

    pub async fn invite(&mut self, circle: &str) -> String {
        self.ok::<m::CircleInvite>(circle_ref(circle)).await.invite
    }

    /// Subscribes and returns the head.
    pub async fn subscribe(&mut self, circle: &str, since: Option<u64>) -> u64 {
        self.ok::<m::CircleSubscribe>(m::Subscribe {
            circle: circle.into(),
            since,
        })
        .await
        .head
    }

    pub async fn note(&mut self, circle: &str, body: &str) -> Event {
        self.ok::<m::PostNote>(m::NewNote {
            circle: circle.into(),
            body: body.into(),
        })
        .await
        .event
    }

    pub async fn problem(&mut self, circle: &str, title: &str, body: &str) -> Event {
        self.ok::<m::PostProblem>(m::NewProblem {
            circle: circle.into(),
            title: title.into(),
            body: body.into(),
            tags: None,
        })
        .await
        .event
    }

    pub async fn critique(&mut self, circle: &str, problem: Uuid, body: &str) -> Event {
        self.ok::<m::PostCritique>(m::NewCritique {
            circle: circle.into(),
            problem,
            body: body.into(),
            stance: None,
        })
        .await
        .event
    }

    /// One page of history.
    pub async fn history(
        &mut self,
        circle: &str,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> m::Events {
        self.ok::<m::CircleHistory>(m::History {
            circle: circle.into(),
            before,
            limit,
        })
        .await
    }

    /// The whole log, ascending, paging with limit 200.
    pub async fn history_all(&mut self, circle: &str) -> Vec<Event> {
        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let page = self.history(circle, before, Some(200)).await;
            let first = page.events.first().map(|e| e.seq);
            let more = page.more;
            pages.push(page.events);
            match first {
                Some(first) if more => before = Some(first),
                _ => break,
            }
        }
        pages.into_iter().rev().flatten().collect()
    }

    /// The circle as `circle.list` shows it to this connection's user.
    pub async fn listed(&mut self, circle: &str) -> Option<CircleInfo> {
        self.ok::<m::CircleList>(m::Empty {})
            .await
            .circles
            .into_iter()
            .find(|c| c.slug == circle)
    }

    pub async fn members(&mut self, circle: &str) -> Vec<Member> {
        self.ok::<m::CircleMembers>(circle_ref(circle))
            .await
            .members
    }

    pub async fn problem_thread(
        &mut self,
        circle: &str,
        problem: Uuid,
    ) -> circles_protocol::model::ProblemThread {
        self.ok::<m::ProblemGet>(m::ProblemRef {
            circle: circle.into(),
            problem,
        })
        .await
        .problem
    }
}

/// Parses a response object, checking the JSON-RPC envelope.
pub fn parse_response<T: DeserializeOwned>(
    method: &str,
    response: Value,
) -> Result<T, ErrorObject> {
    assert_eq!(
        response.get("jsonrpc"),
        Some(&json!("2.0")),
        "{method}: the response lacks \"jsonrpc\": \"2.0\": {response}"
    );
    match (response.get("result"), response.get("error")) {
        (Some(result), None) => Ok(
            serde_json::from_value(result.clone()).unwrap_or_else(|err| {
                panic!("{method}: the result does not match the protocol types ({err}): {result}")
            }),
        ),
        (None, Some(error)) => Err(serde_json::from_value(error.clone()).unwrap_or_else(|err| {
            panic!("{method}: the error is not a JSON-RPC error object ({err}): {error}")
        })),
        _ => panic!("{method}: a response needs exactly one of result and error: {response}"),
    }
}

/// The error object of a raw response value, failing if it is a success.
pub fn error_of(response: &Value) -> ErrorObject {
    let error = response
        .get("error")
        .unwrap_or_else(|| panic!("expected an error response, got {response}"));
    serde_json::from_value(error.clone())
        .unwrap_or_else(|err| panic!("not a JSON-RPC error object ({err}): {error}"))
}

fn parse_notice<T: DeserializeOwned>(notification: &Notification) -> T {
    serde_json::from_value(notification.params.clone()).unwrap_or_else(|err| {
        panic!(
            "malformed {} notification ({err}): {}",
            notification.method, notification.params
        )
    })
}

/// Params for a public circle with defaults.
pub fn new_circle(slug: &str) -> m::CreateCircle {
    m::CreateCircle {
        slug: slug.into(),
        name: format!("Circle {slug}"),
        purpose: None,
        visibility: None,
        max_members: None,
    }
}

pub fn circle_ref(circle: &str) -> m::CircleRef {
    m::CircleRef {
        circle: circle.into(),
    }
}

pub fn post_ref(circle: &str, post: Uuid) -> m::PostRef {
    m::PostRef {
        circle: circle.into(),
        post,
    }
}

pub fn problem_ref(circle: &str, problem: Uuid) -> m::ProblemRef {
    m::ProblemRef {
        circle: circle.into(),
        problem,
    }
}

/// The body of a note event (panics on other kinds).
pub fn note_body(event: &Event) -> &str {
    match &event.body {
        EventBody::Note { body } => body,
        other => panic!("expected a note, got {other:?}"),
    }
}

/// The seqs of `events`, in order.
pub fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Asserts `events` carry exactly the seqs `first..=last`, in order.
pub fn assert_seqs(events: &[Event], first: u64, last: u64, what: &str) {
    let got = seqs(events);
    let want: Vec<u64> = (first..=last).collect();
    if got != want {
        let missing: Vec<u64> = want.iter().copied().filter(|s| !got.contains(s)).collect();
        panic!(
            "{what}: expected seqs {first}..={last} in order (no gap, no duplicate); \
             got {} events, missing {missing:?}, first few {:?}",
            got.len(),
            &got[..got.len().min(20)]
        );
    }
}

/// Posts `count` notes with `body` to `circle` as the account of `token`,
/// over `connections` connections at once (so group commit keeps a large
/// backlog quick to build). Returns the acknowledged events in seq order.
pub async fn post_notes_concurrently(
    addr: SocketAddr,
    token: &str,
    circle: &str,
    count: usize,
    body: &str,
    connections: usize,
) -> Vec<Event> {
    let connections = connections.max(1);
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let share = count / connections + usize::from(i < count % connections);
        let mut poster = Client::with_token(addr, token).await;
        let circle = circle.to_string();
        let body = body.to_string();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::with_capacity(share);
            for _ in 0..share {
                acked.push(poster.note(&circle, &body).await);
            }
            acked
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(
            within_for(Duration::from_secs(120), "the posters of a backlog", task)
                .await
                .expect("a poster of the backlog panicked"),
        );
    }
    all.sort_by_key(|e| e.seq);
    all
}

/// Whether `event` takes `handle` out of its circle: their own `leave`, or a
/// `remove` naming them.
pub fn ends_membership_of(event: &Event, handle: &str) -> bool {
    match &event.body {
        EventBody::Leave {} => event.author == handle,
        EventBody::Remove { member, .. } => member == handle,
        _ => false,
    }
}
