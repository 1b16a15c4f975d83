//! The operator's commands of the `circles-server` binary: configuration,
//! `admin …`, `backup`, `restore` and `export`, on stopped and running servers.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use circles_protocol::methods as m;
use circles_tests::{Client, PASSWORD, ServerProcess, server_binary, within};

/// Runs `circles-server ARGS` with only the `CIRCLES_*` variables given.
fn circles_server(args: &[&str], env: &[(&str, &str)]) -> Output {
    circles_server_with_stdin(args, env, "")
}

fn circles_server_with_stdin(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = std::process::Command::new(server_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("CIRCLES_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run circles-server");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for circles-server")
}

/// The same, off the async threads (the server under test runs on them).
async fn operator(args: Vec<String>, stdin: &str) -> Output {
    let stdin = stdin.to_owned();
    let what = format!("circles-server {}", args.join(" "));
    within(
        what,
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            circles_server_with_stdin(&args, &[], &stdin)
        }),
    )
    .await
    .expect("the command ran")
}

fn args(dir: &Path, rest: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
    let at = all
        .iter()
        .position(|a| a.starts_with("--"))
        .unwrap_or(all.len());
    all.insert(at, dir.display().to_string());
    all.insert(at, "--data-dir".into());
    all
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `key = value` of the printed config.
fn setting(printed: &str, key: &str) -> String {
    printed
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("{key} not in the printed config:\n{printed}"))
        .to_owned()
}

#[test]
fn flags_beat_environment_beats_file_beats_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("circles.toml");
    std::fs::write(
        &file,
        "requests_per_sec = 11\nrequest_burst = 22\nmax_post_bytes = 4096\nregistration = \"invite\"\nmetrics_token = \"file-secret-0123456789\"\n",
    )
    .expect("write config");
    let file = file.to_str().expect("utf-8 path");
    let output = circles_server(
        &[
            "config",
            "check",
            "--config",
            file,
            "--requests-per-sec",
            "33",
        ],
        &[
            ("CIRCLES_REQUESTS_PER_SEC", "44"),
            ("CIRCLES_REQUEST_BURST", "55"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert_eq!(setting(&printed, "requests_per_sec"), "33", "flag wins");
    assert_eq!(setting(&printed, "request_burst"), "55", "env beats file");
    assert_eq!(
        setting(&printed, "max_post_bytes"),
        "4096",
        "file beats default"
    );
    assert_eq!(setting(&printed, "registration"), "\"invite\"");
    assert_eq!(setting(&printed, "max_frame_bytes"), "65536", "default");
    assert_eq!(setting(&printed, "metrics_token"), "\"<redacted>\"");
    assert!(!printed.contains("file-secret"), "{printed}");
}

#[test]
fn config_check_names_every_problem_and_fails() {
    let output = circles_server(
        &["config", "check", "--max-members-cap", "1"],
        &[("CIRCLES_TLS_CERT", "/nonexistent/cert.pem")],
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("max_members_cap must be at least 2"), "{err}");
    assert!(err.contains("tls_cert and tls_key go together"), "{err}");
}

#[test]
fn a_bad_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("circles.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nmax_post_byts = 10\n").expect("write");
    let file = file.to_str().expect("utf-8 path");
    // Serving refuses it the same way as checking.
    for args in [
        vec!["config", "check", "--config", file],
        vec!["--config", file],
    ] {
        let output = circles_server(&args, &[]);
        assert!(!output.status.success());
        let err = stderr(&output);
        assert!(
            err.contains("line 2 (`max_post_byts = 10`): unknown field `max_post_byts`"),
            "{err}"
        );
    }
    let output = circles_server(&["--config", "/nonexistent/circles.toml"], &[]);
    assert!(stderr(&output).contains("cannot read /nonexistent/circles.toml"));
}

#[tokio::test]
async fn the_first_admin_is_made_on_the_stopped_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let made = operator(
        args(&data, &["admin", "create-admin", "root"]),
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert_eq!(succeeded(&made).trim(), "root is an admin");
    let server = ServerProcess::spawn(&data).await;
    let mut root = Client::login(server.addr, "root", PASSWORD).await;
    let users = root.ok::<m::AdminUsers>(m::ListUsers::default()).await;
    assert!(users.users.iter().any(|u| u.handle == "root" && u.admin));

    // Through the running server's control socket now.
    server.connect().await.register_as("ana", None).await;
    let listed = succeeded(&operator(args(&data, &["admin", "users"]), "").await);
    assert!(listed.lines().any(|l| l.starts_with("ana ")), "{listed}");
    let suspended = operator(
        args(&data, &["admin", "suspend", "ana", "--reason", "spam"]),
        "",
    )
    .await;
    assert!(succeeded(&suspended).contains("ana is suspended"));
    let audit = succeeded(&operator(args(&data, &["admin", "audit"]), "").await);
    assert!(
        audit.contains("suspend") && audit.contains("spam"),
        "{audit}"
    );
    let refused = operator(args(&data, &["admin", "delete-circle", "nope"]), "").await;
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    // A directory with no store is a mistake, not a new store (but for the first admin).
    let elsewhere = dir.path().join("not-the-data");
    let refused = operator(args(&elsewhere, &["admin", "invite"]), "").await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("no Circles data in"),
        "{}",
        stderr(&refused)
    );
    assert!(!elsewhere.join("conf").exists(), "nothing was created");
    let refused = operator(args(&data, &["admin", "unsuspend", "nobody"]), "").await;
    assert!(!refused.status.success());
    assert_eq!(
        stderr(&refused).trim(),
        "circles-server: no account with the handle \"nobody\""
    );
    server.terminate().await;
}

/// Every circle's events as (seq, kind, body) through the protocol.
async fn histories(client: &mut Client, slugs: &[String]) -> Vec<Vec<serde_json::Value>> {
    let mut all = Vec::new();
    for slug in slugs {
        let events = client.history_all(slug).await;
        all.push(
            events
                .iter()
                .map(|e| serde_json::to_value(e).expect("event serializes"))
                .collect(),
        );
    }
    all
}

#[tokio::test]
async fn a_backup_under_load_restores_what_was_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = ServerProcess::spawn(&data).await;
    let mut ana = server.connect().await;
    ana.register_as("ana", None).await;
    let slugs: Vec<String> = (0..3).map(|i| format!("circle-{i}")).collect();
    for slug in &slugs {
        ana.create_circle(slug).await;
        for n in 0..20 {
            ana.note(slug, &format!("before {n}")).await;
        }
    }
    let before = histories(&mut ana, &slugs).await;

    // A writer keeps posting while the backup runs (how many of its posts
    // fall inside the backup's window is up to the machine; the store-level
    // test in server/tests/backup.rs forces the overlap).
    let addr = server.addr;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let (started, writing) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let mut ben = Client::register(addr, "ben").await;
        ben.join("circle-0").await;
        let mut started = Some(started);
        let mut posted = 0u32;
        while stopped.try_recv().is_err() {
            ben.note("circle-0", &format!("during {posted}")).await;
            posted += 1;
            if let Some(started) = started.take() {
                let _ = started.send(());
            }
        }
        posted
    });
    within("the writer's first post", writing)
        .await
        .expect("the writer started");
    let file = dir.path().join("circles.backup");
    let file_arg = file.display().to_string();
    let backup = operator(args(&data, &["backup", "--out", &file_arg]), "").await;
    assert!(
        stderr(&backup).contains("backup written to"),
        "{}",
        stderr(&backup)
    );
    succeeded(&backup);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("the backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "a backup holds password hashes");
    }
    let _ = stop.send(());
    let posted = within("the writer to stop", writer).await.expect("writer");
    assert!(posted > 0);
    server.terminate().await;

    let restored = dir.path().join("restored");
    let restored_arg = restored.display().to_string();
    let output = operator(
        vec![
            "restore".into(),
            file_arg.clone(),
            "--data-dir".into(),
            restored_arg,
        ],
        "",
    )
    .await;
    succeeded(&output);
    assert!(
        stderr(&output).contains("restored 3 circles"),
        "{}",
        stderr(&output)
    );

    let server = ServerProcess::spawn(&restored).await;
    let mut ana = Client::login(server.addr, "ana", PASSWORD).await;
    let after = histories(&mut ana, &slugs).await;
    for (b, a) in before.iter().zip(&after) {
        assert!(
            a.len() >= b.len(),
            "everything acknowledged before the backup is back"
        );
        assert_eq!(&a[..b.len()], &b[..]);
    }
    // The restored server takes posts where the log left off.
    let next = ana.note("circle-0", "after the restore").await;
    assert_eq!(next.seq, after[0].len() as u64 + 1);

    let exported = operator(args(&restored, &["export", "circle-1"]), "").await;
    // The server is running: export goes through its control socket.
    let markdown = succeeded(&exported);
    assert!(markdown.contains("before 19"), "{markdown}");
    let json = succeeded(
        &operator(
            args(&restored, &["export", "circle-1", "--format", "json"]),
            "",
        )
        .await,
    );
    let value: serde_json::Value = serde_json::from_str(&json).expect("the export is JSON");
    assert!(value.is_object(), "{value}");
    server.terminate().await;

    let refused = operator(
        vec![
            "restore".into(),
            file_arg,
            "--data-dir".into(),
            restored.display().to_string(),
        ],
        "",
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("is not empty"),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let server = ServerProcess::spawn_with(move |command| {
        command
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(data);
    })
    .await;
    let mut ana = server.connect().await;
    ana.register_as("ana", None).await;
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    assert!(
        lines.iter().any(|l| {
            l["message"] == "connection opened"
                && l["peer"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("127.0.0.1:"))
        }),
        "{log}"
    );
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on"))
    }));
    ana.close().await;
    let status = server.terminate().await;
    assert!(status.success());
}
