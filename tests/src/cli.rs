//! Harness for end-to-end tests of `circles`, the command-line client.
//!
//! - [`cli_binary`] builds the `circles` binary once per test process.
//! - [`Peer`] is one person at a terminal: their own temp `HOME` and
//!   `XDG_CONFIG_HOME` (so their own saved token), their password in
//!   `CIRCLES_PASSWORD`, and the server passed as `--server URL`. Every run is
//!   bounded by [`RUN_TIMEOUT`]; the process is killed and the test fails if
//!   it takes longer.
//! - [`Tail`] is a running `circles tail`, read one stdout line at a time,
//!   each line bounded by [`LINE_TIMEOUT`].
//! - [`spawn_server_at`] starts the server binary on a given address (to
//!   restart it on the port a running client keeps reconnecting to).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::{PASSWORD, ServerProcess};

/// How long one `circles` command may run before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Tail::next_line`] waits for a line.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of the `circles` binary, built once per test process.
pub fn cli_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let run = escargot::CargoBuild::new()
            .package("circles-cli")
            .bin("circles")
            .current_release()
            .run()
            .unwrap_or_else(|err| panic!("building the circles binary failed: {err}"));
        run.path().to_path_buf()
    })
    .clone()
}

async fn binary() -> PathBuf {
    tokio::task::spawn_blocking(cli_binary)
        .await
        .expect("the build task panicked")
}

/// What a finished `circles` command left behind.
#[derive(Clone, Debug)]
pub struct Output {
    /// The command line, for failure messages.
    pub command: String,
    /// The exit code (-1 if a signal ended the process).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Fails unless the command exited 0; returns stdout.
    pub fn success(&self) -> &str {
        assert_eq!(self.code, 0, "`{}` should succeed: {self:#?}", self.command);
        &self.stdout
    }

    /// stdout parsed as one JSON document (after checking the exit code is 0).
    pub fn json(&self) -> Value {
        let stdout = self.success();
        serde_json::from_str(stdout).unwrap_or_else(|err| {
            panic!(
                "`{}` printed something that is not JSON ({err}):\n{stdout}",
                self.command
            )
        })
    }

    /// Fails unless the command exited with `code`, printed nothing on stdout
    /// and exactly one line on stderr that starts with "circles: " (no panic,
    /// no backtrace). Returns that line without the prefix.
    pub fn failure(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "`{}` should exit with {code}: {self:#?}",
            self.command
        );
        assert_eq!(
            self.stdout, "",
            "`{}` failed but printed on stdout: {self:#?}",
            self.command
        );
        let message = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        assert!(
            !message.is_empty() && !message.contains('\n'),
            "`{}` should print exactly one line on stderr, got {:?}",
            self.command,
            self.stderr
        );
        for noise in ["panicked", "RUST_BACKTRACE", "stack backtrace", "Error {"] {
            assert!(
                !message.contains(noise),
                "`{}`: stderr looks like a crash ({noise:?}): {message:?}",
                self.command
            );
        }
        message.strip_prefix("circles: ").unwrap_or_else(|| {
            panic!(
                "`{}`: the error line should start with \"circles: \": {message:?}",
                self.command
            )
        })
    }

    /// [`Output::failure`], and the message must equal `expected`.
    pub fn fails_with(&self, code: i32, expected: &str) {
        let message = self.failure(code);
        assert_eq!(message, expected, "`{}`: the error message", self.command);
    }
}

/// How a run tells `circles` where the server is.
#[derive(Clone, Debug)]
pub enum ServerArg {
    /// `--server URL` on the command line.
    Flag(String),
    /// `CIRCLES_SERVER=URL` in the environment.
    Env(String),
    /// Neither: the saved server (or the built-in default).
    Saved,
}

/// One person using `circles`, with their own config directory.
pub struct Peer {
    pub handle: String,
    /// Where the server is, unless a run says otherwise.
    pub server: ServerArg,
    /// What `CIRCLES_PASSWORD` holds (`None`: unset).
    pub password: Option<String>,
    dir: tempfile::TempDir,
}

impl Peer {
    /// A peer `handle` (password [`PASSWORD`]) using the server at `url` via `--server`.
    pub fn new(handle: &str, url: &str) -> Peer {
        let dir = tempfile::Builder::new()
            .prefix("circles-cli-")
            .tempdir()
            .expect("create a temp home");
        std::fs::create_dir_all(dir.path().join("home")).expect("create HOME");
        std::fs::create_dir_all(dir.path().join("config")).expect("create XDG_CONFIG_HOME");
        Peer {
            handle: handle.to_owned(),
            server: ServerArg::Flag(url.to_owned()),
            password: Some(PASSWORD.to_owned()),
            dir,
        }
    }

    /// `$HOME` of this peer's runs.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `$XDG_CONFIG_HOME` of this peer's runs.
    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Where `circles` should keep this peer's settings.
    pub fn config_file(&self) -> PathBuf {
        self.config_home().join("circles").join("config.toml")
    }

    /// A run of `circles ARGS` to adjust before [`Run::run`].
    pub fn cmd(&self, args: &[&str]) -> Run<'_> {
        Run {
            peer: self,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            stdin: None,
            server: self.server.clone(),
            env: Vec::new(),
            env_remove: Vec::new(),
        }
    }

    /// Runs `circles ARGS` (stdin empty) and returns what it did.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).run().await
    }

    /// Runs `circles ARGS`, failing the test unless it exits 0; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        self.run(args).await.success().to_owned()
    }

    /// Runs `circles --json ARGS`, failing unless it exits 0; returns stdout as JSON.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).await.json()
    }

    /// `circles register HANDLE`, which must succeed.
    pub async fn register(&self) {
        let out = self.ok(&["register", &self.handle]).await;
        assert_eq!(
            out.trim_end(),
            format!("Registered and signed in as {}.", self.handle)
        );
    }

    /// Starts `circles ARGS` in the background (for `tail`).
    pub async fn spawn(&self, args: &[&str]) -> Tail {
        self.cmd(args).spawn().await
    }
}

/// One `circles` command line, with its stdin, server and environment.
pub struct Run<'a> {
    peer: &'a Peer,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    server: ServerArg,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
}

impl Run<'_> {
    /// Pipes `text` to stdin (otherwise stdin is empty, never a terminal).
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.as_bytes().to_vec());
        self
    }

    /// Tells `circles` where the server is this way instead of the peer's.
    pub fn server(mut self, server: ServerArg) -> Self {
        self.server = server;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.env_remove.push(key.to_owned());
        self
    }

    fn command(&self, binary: &Path) -> (tokio::process::Command, String) {
        let mut command = tokio::process::Command::new(binary);
        let mut shown = vec!["circles".to_owned()];
        for key in [
            "CIRCLES_SERVER",
            "CIRCLES_PASSWORD",
            "XDG_CONFIG_HOME",
            "VISUAL",
            "EDITOR",
            "RUST_BACKTRACE",
            "RUST_LIB_BACKTRACE",
        ] {
            command.env_remove(key);
        }
        command
            .env("HOME", self.peer.home())
            .env("XDG_CONFIG_HOME", self.peer.config_home())
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            // Never an interactive editor, should a body be asked for.
            .env("EDITOR", "false");
        if let Some(password) = &self.peer.password {
            command.env("CIRCLES_PASSWORD", password);
        }
        match &self.server {
            ServerArg::Flag(url) => {
                command.arg("--server").arg(url);
                shown.push(format!("--server {url}"));
            }
            ServerArg::Env(url) => {
                command.env("CIRCLES_SERVER", url);
                shown.insert(0, format!("CIRCLES_SERVER={url}"));
            }
            ServerArg::Saved => {}
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        for key in &self.env_remove {
            command.env_remove(key);
        }
        command.args(&self.args);
        shown.extend(self.args.iter().cloned());
        command.kill_on_drop(true);
        (command, shown.join(" "))
    }

    /// Runs the command to the end (killed after [`RUN_TIMEOUT`]).
    pub async fn run(self) -> Output {
        let binary = binary().await;
        let (mut command, shown) = self.command(&binary);
        let mut child = command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("spawning `{shown}`: {err}"));
        if let Some(bytes) = self.stdin {
            let mut stdin = child.stdin.take().expect("piped stdin");
            tokio::spawn(async move {
                // The command may exit without reading it all; that is its business.
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
            });
        }
        // On timeout the child is dropped inside the future, which kills it.
        let output = match tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output()).await {
            Ok(output) => output.unwrap_or_else(|err| panic!("waiting for `{shown}`: {err}")),
            Err(_) => panic!("`{shown}` did not finish within {RUN_TIMEOUT:?}; killed it"),
        };
        Output {
            command: shown,
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts the command and returns at once; read its stdout with [`Tail`].
    pub async fn spawn(self) -> Tail {
        let binary = binary().await;
        let (mut command, shown) = self.command(&binary);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("spawning `{shown}`: {err}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let errors = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&errors);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(mut all) = sink.lock() {
                    all.push_str(&line);
                    all.push('\n');
                }
            }
        });
        Tail {
            command: shown,
            child,
            lines,
            stderr: errors,
        }
    }
}

/// A `circles` command still running (killed when dropped).
pub struct Tail {
    pub command: String,
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Tail {
    /// The next line on stdout, failing the test after [`LINE_TIMEOUT`] or if
    /// the command ends.
    pub async fn next_line(&mut self, what: &str) -> String {
        match tokio::time::timeout(LINE_TIMEOUT, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => {
                let status = tokio::time::timeout(LINE_TIMEOUT, self.child.wait()).await;
                panic!(
                    "`{}` ended (status {status:?}) while waiting for {what}; stderr:\n{}",
                    self.command,
                    self.stderr()
                )
            }
            Err(_) => panic!(
                "`{}` printed no line within {LINE_TIMEOUT:?} while waiting for {what}; stderr:\n{}",
                self.command,
                self.stderr()
            ),
        }
    }

    /// The next line parsed as JSON (for `circles --json tail`).
    pub async fn next_json(&mut self, what: &str) -> Value {
        let line = self.next_line(what).await;
        serde_json::from_str(&line).unwrap_or_else(|err| {
            panic!("`{}` printed a non-JSON line ({err}): {line}", self.command)
        })
    }

    /// Lines already printed and not yet taken (does not wait).
    pub fn ready_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            lines.push(line);
        }
        lines
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether the command has exited (without waiting).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the command to exit by itself: its exit code and stderr.
    pub async fn exit(mut self) -> (i32, String) {
        let status = tokio::time::timeout(LINE_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("`{}` did not exit within {LINE_TIMEOUT:?}", self.command))
            .expect("wait for the command");
        // stderr is read by a task of its own: let it see the end.
        let _ = tokio::time::timeout(LINE_TIMEOUT, async {
            while self.lines.recv().await.is_some() {}
        })
        .await;
        (status.code().unwrap_or(-1), self.stderr())
    }

    /// Kills the command and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(LINE_TIMEOUT, self.child.wait()).await;
    }
}

/// The server binary on exactly `addr` with `data_dir` (to restart a server
/// on the port its clients know).
pub async fn spawn_server_at(addr: SocketAddr, data_dir: &Path) -> ServerProcess {
    let data_dir = data_dir.to_path_buf();
    let server = ServerProcess::spawn_with(move |command| {
        command
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir);
    })
    .await;
    assert_eq!(
        server.addr, addr,
        "the server should listen where it was told"
    );
    server
}

/// The `key = "value"` pairs of a flat TOML file such as the client's config.
pub fn toml_strings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let value = value.strip_prefix('"')?.strip_suffix('"')?;
            Some((key.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

/// The value of `key` in a flat TOML file, if present.
pub fn toml_string(text: &str, key: &str) -> Option<String> {
    toml_strings(text)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}
