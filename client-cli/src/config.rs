//! What `circles` remembers between runs: the server URL, the handle and the
//! token, in `$XDG_CONFIG_HOME/circles/config.toml` (mode 0600: the token is a
//! secret).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub const DEFAULT_SERVER: &str = "ws://127.0.0.1:7878/v1/ws";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot find a config directory (set XDG_CONFIG_HOME or HOME)")]
    NoDir,
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

pub fn path() -> Result<PathBuf, ConfigError> {
    dirs::config_dir()
        .map(|dir| dir.join("circles").join("config.toml"))
        .ok_or(ConfigError::NoDir)
}

impl Saved {
    /// The saved settings, or none yet.
    pub fn load() -> Result<Saved, ConfigError> {
        let path = path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Read {
                path,
                reason: one_line(&e.to_string()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
            Err(e) => Err(ConfigError::Read {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Writes the settings, readable by the user only.
    pub fn store(&self) -> Result<(), ConfigError> {
        let path = path()?;
        let fail = |e: &dyn std::fmt::Display| ConfigError::Write {
            path: path.clone(),
            reason: e.to_string(),
        };
        let text = toml::to_string(self).map_err(|e| fail(&e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        write_private(&path, text.as_bytes()).map_err(|e| fail(&e))
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An older file may have been created with wider permissions.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// toml's report spans lines (a snippet with a caret): keep its first line
/// (where) and its last (what), for a one-line error.
fn one_line(report: &str) -> String {
    let lines: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if first != last => format!("{first}: {last}"),
        (Some(first), _) => (*first).to_owned(),
        _ => report.to_owned(),
    }
}
