//! The operator's commands of the `circles-server` binary: configuration.

use std::process::Output;

use circles_tests::server_binary;

/// Runs `circles-server ARGS` with only the `CIRCLES_*` variables given.
fn circles_server(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(server_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("CIRCLES_") {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run circles-server")
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
