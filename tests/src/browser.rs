//! Headless Chromium for end-to-end tests of web front ends, over WebDriver.
//!
//! - [`Browser`]: one `chromedriver` child per test (killed on drop, with the
//!   Chromium processes it started). [`Browser::start`] returns `None`, after
//!   a loud banner naming what is missing, when Chromium or chromedriver is
//!   not installed, so a test opens with
//!   `let Some(browser) = Browser::start().await else { return };`.
//!   With `CIRCLES_REQUIRE_BROWSER=1` (CI sets it) it panics instead: browser
//!   tests never skip silently there.
//! - [`Page`]: one Chromium session with its own profile (two pages are two
//!   independent peers, each with its own localStorage). Every wait is bounded
//!   (by [`TIMEOUT`] unless [`Page::set_wait`] says otherwise); on timeout it
//!   panics naming what it awaited, with the page's URL, the start of its
//!   text, its console and a screenshot.
//! - [`StaticSite`]: a small HTTP/1.1 file server on `127.0.0.1:0`, to serve
//!   a front end from an origin other than the Circles server's.
//! - [`artifacts_dir`]: where screenshots go.
//!
//! Programs are found on `PATH` (`chromium`, `chromium-browser`,
//! `google-chrome`, `google-chrome-stable`; `chromedriver`), or at
//! `CIRCLES_CHROMIUM` and `CIRCLES_CHROMEDRIVER`.

use std::fmt::Display;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::TIMEOUT;

/// Set to `1` to make a missing browser a failure instead of a skip.
pub const REQUIRE_ENV: &str = "CIRCLES_REQUIRE_BROWSER";

/// The command that installs what the browser tests need (Debian, Ubuntu).
pub const INSTALL_COMMAND: &str =
    "sudo apt-get update && sudo apt-get install -y chromium chromium-driver";

/// How long chromedriver may take to start, and Chromium to open a session.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a wait looks again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The programs a browser test runs, as found on this machine.
struct Programs {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// Finds `CIRCLES_<VAR>` or the first of `names` on `PATH`.
fn find_program(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn find_programs() -> Result<Programs, String> {
    let chromium = find_program(
        "CIRCLES_CHROMIUM",
        &[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ],
    );
    let chromedriver = find_program("CIRCLES_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Ok(Programs {
            chromium,
            chromedriver,
        }),
        (chromium, chromedriver) => {
            let mut missing = Vec::new();
            if chromium.is_none() {
                missing.push("chromium (looked for chromium, chromium-browser, google-chrome on PATH, or CIRCLES_CHROMIUM)");
            }
            if chromedriver.is_none() {
                missing.push("chromedriver (looked on PATH, or CIRCLES_CHROMEDRIVER)");
            }
            Err(missing.join("\n  and "))
        }
    }
}

fn missing_banner(missing: &str, test: &str, required: bool) -> String {
    let rule = "=".repeat(78);
    let outcome = if required { "CANNOT RUN" } else { "SKIPPED" };
    format!(
        "\n{rule}\n\
         BROWSER TEST {outcome}: {test}\n\
         \n\
         Missing: {missing}\n\
         \n\
         This test drives headless Chromium through chromedriver. Install both with:\n\
         \n    {INSTALL_COMMAND}\n\
         \n\
         With {REQUIRE_ENV}=1 (CI sets it) a missing browser fails the test instead of skipping it.\n\
         {rule}\n"
    )
}

/// The name of the running test, for file names: the test thread's name.
fn test_name() -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("browser");
    let name = if name == "main" { "browser" } else { name };
    file_safe(name)
}

fn file_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Where browser tests write screenshots: `$CIRCLES_ARTIFACTS_DIR` if set,
/// else `browser-artifacts/` in the workspace's target dir (created).
pub fn artifacts_dir() -> PathBuf {
    let dir = match std::env::var_os("CIRCLES_ARTIFACTS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join("browser-artifacts"),
    };
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|err| panic!("creating the artifacts dir {}: {err}", dir.display()));
    dir
}

/// Cargo's target dir: `CARGO_TARGET_DIR`, else the nearest ancestor of this
/// test binary holding Cargo's `CACHEDIR.TAG`, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    from_exe.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A port that was free a moment ago (chromedriver wants a number).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("listener address").port()
}

// ---------------------------------------------------------------------------
// chromedriver

/// The chromedriver child. Dropping it kills its process group: chromedriver
/// and every Chromium it started, even if a test panicked mid-session.
struct Driver {
    child: tokio::process::Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The child leads its own process group (process_group(0)).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

impl Driver {
    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn drain_into(
    stream: impl AsyncRead + Unpin,
    log: Arc<Mutex<String>>,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let mut ready = ready;
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains("ChromeDriver was started successfully") {
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
        }
        if let Ok(mut log) = log.lock() {
            log.push_str(&line);
            log.push('\n');
        }
    }
}

/// One chromedriver for one test; open pages with [`Browser::page`].
pub struct Browser {
    driver: Arc<Driver>,
    chromium: PathBuf,
    test: String,
}

impl Browser {
    /// Starts chromedriver on a free port and waits until it says it is ready.
    ///
    /// `None` (after a banner on stderr naming what is missing and how to
    /// install it) when Chromium or chromedriver is not installed; with
    /// `CIRCLES_REQUIRE_BROWSER=1`, a panic with the same text instead.
    pub async fn start() -> Option<Browser> {
        let test = test_name();
        let programs = match find_programs() {
            Ok(programs) => programs,
            Err(missing) => {
                let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
                let banner = missing_banner(&missing, &test, required);
                if required {
                    panic!("{REQUIRE_ENV}=1 and a browser test cannot run:{banner}");
                }
                // Straight to the process's stderr: the test harness captures
                // `eprintln!` of passing tests, and this must be seen.
                let _ = writeln!(std::io::stderr(), "{banner}");
                return None;
            }
        };
        let port = free_port();
        let mut child = tokio::process::Command::new(&programs.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("spawning {}: {err}", programs.chromedriver.display()));
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        tokio::spawn(drain_into(stdout, log.clone(), Some(ready_tx)));
        tokio::spawn(drain_into(stderr, log.clone(), None));
        let driver = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!(
                "{} exited before saying \"ChromeDriver was started successfully\"; its output:\n{}",
                programs.chromedriver.display(),
                driver.log()
            ),
            Err(_) => panic!(
                "{} was not ready within {START_TIMEOUT:?}; its output:\n{}",
                programs.chromedriver.display(),
                driver.log()
            ),
        }
        Some(Browser {
            driver: Arc::new(driver),
            chromium: programs.chromium,
            test,
        })
    }

    /// A new Chromium session (its own temporary profile) with a window of
    /// `width` x `height`. `name` tells pages apart in messages and files.
    pub async fn page(&self, name: &str, width: u32, height: u32) -> Page {
        let profile = tempfile::Builder::new()
            .prefix("circles-chromium-")
            .tempdir()
            .expect("create a temp Chromium profile dir");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--no-first-run".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        // Downloads land in the profile, without asking (see Page::downloaded).
        let downloads = profile.path().join("downloads");
        let prefs = json!({
            "download.default_directory": downloads.display().to_string(),
            "download.prompt_for_download": false,
        });
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": self.chromium.display().to_string(), "args": args, "prefs": prefs}),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let url = format!("http://{}", self.driver.addr);
        let client = match tokio::time::timeout(START_TIMEOUT, builder.connect(&url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => panic!(
                "opening a Chromium session for page {name:?}: {err}\nchromedriver's output:\n{}",
                self.driver.log()
            ),
            Err(_) => panic!(
                "Chromium did not open a session for page {name:?} within {START_TIMEOUT:?}\nchromedriver's output:\n{}",
                self.driver.log()
            ),
        };
        Page {
            client,
            name: name.to_owned(),
            test: self.test.clone(),
            wait: TIMEOUT,
            driver: self.driver.clone(),
            downloads,
            _profile: profile,
        }
    }

    /// The running test's name, as it prefixes screenshot files.
    pub fn test_name(&self) -> &str {
        &self.test
    }
}

// ---------------------------------------------------------------------------
// A page

/// One Chromium session, driven like a person would: find, click, type, read.
pub struct Page {
    client: fantoccini::Client,
    name: String,
    test: String,
    wait: Duration,
    // Keeps chromedriver running while the page lives.
    driver: Arc<Driver>,
    /// Where the page's downloads land.
    downloads: PathBuf,
    // Removed when the page is dropped.
    _profile: tempfile::TempDir,
}

impl Page {
    /// Sets how long each wait on this page may take (default [`TIMEOUT`]).
    pub fn set_wait(&mut self, wait: Duration) {
        self.wait = wait;
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        let done = self
            .bounded(format!("loading {url}"), self.client.goto(url))
            .await;
        if let Err(err) = done {
            self.fail(&format!("loading {url}: {err}")).await;
        }
    }

    /// Reloads the page (the same profile: localStorage survives).
    pub async fn reload(&self) {
        let done = self.bounded("reloading", self.client.refresh()).await;
        if let Err(err) = done {
            self.fail(&format!("reloading: {err}")).await;
        }
    }

    /// The first element matching `css`, once there is one.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.poll(&format!("an element matching {css:?}"), || async {
            let mut found = self.client.find_all(Locator::Css(css)).await?;
            Ok((!found.is_empty()).then(|| found.remove(0)))
        })
        .await
    }

    /// The first element matching `css` whose visible text contains `text`,
    /// once there is one.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Element {
        self.poll(
            &format!("an element matching {css:?} with text containing {text:?}"),
            || async {
                for element in self.client.find_all(Locator::Css(css)).await? {
                    if element.text().await?.contains(text) {
                        return Ok(Some(element));
                    }
                }
                Ok(None)
            },
        )
        .await
    }

    /// The text of the file `name` the page downloaded, once it is complete.
    pub async fn downloaded(&self, name: &str) -> String {
        let path = self.downloads.join(name);
        self.poll(&format!("the download {}", path.display()), || async {
            // Chromium writes `name.crdownload`, then renames it.
            Ok(std::fs::read_to_string(&path).ok())
        })
        .await
    }

    /// Waits until the JavaScript expression `predicate` is truthy.
    pub async fn wait_until(&self, predicate: &str) {
        let script = format!("return !!({predicate});");
        self.poll(&format!("`{predicate}` to be true"), || async {
            let value = self.client.execute(&script, Vec::new()).await?;
            Ok((value == Value::Bool(true)).then_some(()))
        })
        .await
    }

    /// Clicks the first element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        if let Err(err) = element.click().await {
            self.fail(&format!("clicking {css:?}: {err}")).await;
        }
    }

    /// Clears the field matching `css` (waiting for it), then types `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        if let Err(err) = element.clear().await {
            self.fail(&format!("clearing {css:?}: {err}")).await;
        }
        if let Err(err) = element.send_keys(text).await {
            self.fail(&format!("typing into {css:?}: {err}")).await;
        }
    }

    /// Types `keys` into the element matching `css` (waiting for it); see
    /// [`fantoccini::key::Key`] for special keys.
    pub async fn send_keys(&self, css: &str, keys: &str) {
        let element = self.wait_for(css).await;
        if let Err(err) = element.send_keys(keys).await {
            self.fail(&format!("typing into {css:?}: {err}")).await;
        }
    }

    /// Presses Enter in the element matching `css` (submits its form).
    pub async fn press_enter(&self, css: &str) {
        let enter = char::from(fantoccini::key::Key::Enter).to_string();
        self.send_keys(css, &enter).await;
    }

    /// The visible text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        match element.text().await {
            Ok(text) => text,
            Err(err) => {
                self.fail(&format!("reading the text of {css:?}: {err}"))
                    .await
            }
        }
    }

    /// How many elements match `css` now (no waiting).
    pub async fn count(&self, css: &str) -> usize {
        match self.client.find_all(Locator::Css(css)).await {
            Ok(found) => found.len(),
            Err(err) => self.fail(&format!("counting {css:?}: {err}")).await,
        }
    }

    /// Runs `js` as a function body in the page (`return` gives the value;
    /// `arguments[i]` are `args`) and returns its result.
    pub async fn eval(&self, js: &str, args: Vec<Value>) -> Value {
        let result = self
            .bounded("a script to run", self.client.execute(js, args))
            .await;
        match result {
            Ok(value) => value,
            Err(err) => self.fail(&format!("running script {js:?}: {err}")).await,
        }
    }

    /// The page's URL now.
    pub async fn url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(err) => format!("(unknown: {err})"),
        }
    }

    /// Saves a PNG of the viewport as `<test>-<label>.png` in
    /// [`artifacts_dir`] and returns its path.
    pub async fn screenshot(&self, label: &str) -> PathBuf {
        match self.try_screenshot(label).await {
            Ok(path) => path,
            Err(err) => panic!("screenshot {label:?} of page {:?}: {err}", self.name),
        }
    }

    async fn try_screenshot(&self, label: &str) -> Result<PathBuf, String> {
        let png = tokio::time::timeout(self.wait, self.client.screenshot())
            .await
            .map_err(|_| format!("no screenshot within {:?}", self.wait))?
            .map_err(|err| err.to_string())?;
        let path = artifacts_dir().join(format!("{}-{}.png", self.test, file_safe(label)));
        std::fs::write(&path, png).map_err(|err| format!("writing {}: {err}", path.display()))?;
        Ok(path)
    }

    /// The browser console's messages so far (each once: reading empties it).
    pub async fn console(&self) -> Vec<String> {
        let Ok(Some(session)) = self.client.session_id().await else {
            return Vec::new();
        };
        // chromedriver's log endpoint (not part of W3C WebDriver, so not in fantoccini).
        let path = format!("/session/{session}/se/log");
        let body = json!({"type": "browser"}).to_string();
        let Ok(answer) =
            tokio::time::timeout(self.wait, http_post(self.driver.addr, &path, &body)).await
        else {
            return vec!["(the console could not be read in time)".into()];
        };
        let Ok(answer) = answer else {
            return Vec::new();
        };
        serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v.get("value").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .map(|entry| {
                let level = entry.get("level").and_then(Value::as_str).unwrap_or("?");
                let message = entry.get("message").and_then(Value::as_str).unwrap_or("");
                format!("{level}: {message}")
            })
            .collect()
    }

    /// Ends the session (Chromium quits).
    pub async fn close(self) {
        let _ = tokio::time::timeout(self.wait, self.client.clone().close()).await;
    }

    // --- waiting ------------------------------------------------------------

    /// Polls `attempt` every [`POLL_EVERY`] until it gives `Some`, for at most
    /// the page's wait; fails the test with `what` and a snapshot of the page.
    async fn poll<T, F, Fut>(&self, what: &str, mut attempt: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, fantoccini::error::CmdError>>,
    {
        let deadline = Instant::now() + self.wait;
        let mut last_error = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, attempt()).await {
                Ok(Ok(Some(found))) => return found,
                Ok(Ok(None)) => {}
                Ok(Err(err)) => last_error = Some(err.to_string()),
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                let error = last_error
                    .map(|e| format!(" (last WebDriver error: {e})"))
                    .unwrap_or_default();
                let message = format!("timed out after {:?} waiting for {what}{error}", self.wait);
                self.fail(&message).await;
            }
            tokio::time::sleep(POLL_EVERY.min(left)).await;
        }
    }

    /// Awaits one WebDriver command, failing the test (with a snapshot of
    /// the page) if it takes longer than the page's wait.
    async fn bounded<F: Future>(&self, what: impl Display, fut: F) -> F::Output {
        match tokio::time::timeout(self.wait, fut).await {
            Ok(output) => output,
            Err(_) => {
                let message = format!("timed out after {:?} waiting for {what}", self.wait);
                self.fail(&message).await
            }
        }
    }

    /// Fails the test with `message`, the page's URL, the start of its text,
    /// its console and a screenshot.
    async fn fail(&self, message: &str) -> ! {
        let snapshot = tokio::time::timeout(Duration::from_secs(10), self.snapshot()).await;
        let snapshot = snapshot.unwrap_or_else(|_| "(the page did not answer)".into());
        panic!("page {:?}: {message}\n{snapshot}", self.name);
    }

    async fn snapshot(&self) -> String {
        let url = self.url().await;
        let text = match self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                Vec::new(),
            )
            .await
        {
            Ok(Value::String(text)) => text,
            Ok(other) => other.to_string(),
            Err(err) => format!("(unreadable: {err})"),
        };
        let text: String = text.chars().take(1500).collect();
        let console = self.console().await.join("\n  ");
        let shot = match self.try_screenshot(&format!("failed-{}", self.name)).await {
            Ok(path) => path.display().to_string(),
            Err(err) => format!("(none: {err})"),
        };
        format!("  url: {url}\n  screenshot: {shot}\n  console:\n  {console}\n  text:\n{text}\n")
    }
}

/// One HTTP/1.1 POST of a JSON body; the response body. Reads by
/// `Content-Length`: chromedriver keeps the connection open.
async fn http_post(addr: SocketAddr, path: &str, body: &str) -> std::io::Result<String> {
    let mut tcp = TcpStream::connect(addr).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse::<usize>().ok());
            if let Some(length) = length {
                if answer.len() >= end + 4 + length {
                    let body = &answer[end + 4..end + 4 + length];
                    return Ok(String::from_utf8_lossy(body).into_owned());
                }
            }
        }
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            let text = String::from_utf8_lossy(&answer);
            return Ok(text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default());
        }
        answer.extend_from_slice(&buf[..n]);
    }
}

// ---------------------------------------------------------------------------
// A static site

/// A tiny HTTP/1.1 file server for a directory, on `127.0.0.1:0`: `GET` and
/// `HEAD` only, `index.html` for directories, `404` for anything outside the
/// directory or missing. Stops when dropped.
pub struct StaticSite {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StaticSite {
    /// Serves `dir` (which must exist) until the site is dropped.
    pub async fn serve(dir: impl AsRef<Path>) -> StaticSite {
        let root = dir
            .as_ref()
            .canonicalize()
            .unwrap_or_else(|err| panic!("the site's directory {}: {err}", dir.as_ref().display()));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let root = Arc::new(root);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let root = root.clone();
                tokio::spawn(async move {
                    // A stuck connection must not hold a task forever.
                    let _ = tokio::time::timeout(TIMEOUT, serve_one(&root, stream)).await;
                });
            }
        });
        StaticSite { addr, task }
    }

    /// `http://127.0.0.1:PORT`, as a browser sends it in `Origin`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` (which starts with `/`, and may carry a query).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }
}

/// Answers one request, then closes the connection.
async fn serve_one(root: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, content_type, body) = match method {
        "GET" | "HEAD" => {
            match resolve(root, target).map(|path| std::fs::read(&path).map(|b| (path, b))) {
                Some(Ok((path, body))) => ("200 OK", content_type_of(&path), body),
                _ => (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    b"not found\n".to_vec(),
                ),
            }
        }
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            b"GET or HEAD only\n".to_vec(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    if method != "HEAD" {
        stream.write_all(&body).await?;
    }
    stream.shutdown().await
}

/// The file under `root` that `target` names, if it is one: no `..`, no
/// percent-escapes, nothing outside `root` (even through a symlink).
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let relative = path.strip_prefix('/')?;
    let unsafe_segment = |s: &str| s == ".." || s == "." || s.contains(['\\', '%', '\0']);
    if relative.split('/').any(unsafe_segment) {
        return None;
    }
    let mut file = root.join(relative);
    if file.is_dir() {
        file = file.join("index.html");
    }
    let file = file.canonicalize().ok()?;
    (file.starts_with(root) && file.is_file()).then_some(file)
}

fn content_type_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("md" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_refuses_paths_out_of_the_root() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("index.html"), "hi").expect("write");
        let root = dir.path().canonicalize().expect("canonical root");
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(
            resolve(&root, "/index.html?x=1"),
            Some(root.join("index.html"))
        );
        assert_eq!(resolve(&root, "/../etc/passwd"), None);
        assert_eq!(resolve(&root, "/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(&root, "/missing.js"), None);
        assert_eq!(resolve(&root, "index.html"), None);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            file_safe("example_frontend::chat works"),
            "example_frontend-chat-works"
        );
    }
}
