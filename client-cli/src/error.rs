//! What can go wrong for a `circles` command: one line for the person, and
//! an exit code for scripts.

use circles_protocol::ErrorKind;
use circles_protocol::model::Norms;

use crate::client::ClientError;
use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server refused the request (not found, forbidden, conflict...).
    #[error("{0}")]
    Refused(String),
    /// Signing in failed or is needed.
    #[error("{0}")]
    Auth(String),
    /// The server cannot be reached, or the connection broke.
    #[error("{0}")]
    Unreachable(String),
    /// The command line or its input is wrong.
    #[error("{0}")]
    Usage(String),
    /// Something on this machine failed (config file, terminal, editor).
    #[error("{0}")]
    Local(String),
    /// Refused until the circle's norms are accepted; `main` shows them
    /// above the line that says how (with the invite a join was given).
    #[error("accept the norms of {circle} (version {}) first: `circles norms {circle} --accept{}`",
        norms.version, invite.as_deref().map(|code| format!(" --invite {code}")).unwrap_or_default())]
    Norms {
        circle: String,
        norms: Box<Norms>,
        invite: Option<String>,
    },
}

pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    /// 1: refused by the server; 2: usage; 3: unreachable; 4: sign-in; 5: local.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Refused(_) | CliError::Norms { .. } => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
            CliError::Auth(_) => 4,
            CliError::Local(_) => 5,
        }
    }
}

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Server(error) => {
                let message = error.message.clone();
                if let (ErrorKind::Forbidden, Some(norms)) = (error.kind(), error.norms()) {
                    // "accept the norms of SLUG (version N) before ..."
                    let circle = message
                        .strip_prefix("accept the norms of ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .unwrap_or("SLUG");
                    return CliError::Norms {
                        circle: circle.to_owned(),
                        norms: Box::new(norms.clone()),
                        invite: None,
                    };
                }
                match error.kind() {
                    ErrorKind::Unauthenticated => CliError::Auth(message),
                    ErrorKind::NotFound if message.starts_with("no circle named") => {
                        CliError::Refused(format!(
                            "{message}: `circles list` shows the circles you can see"
                        ))
                    }
                    ErrorKind::Forbidden if message.starts_with("join ") => {
                        let slug = message.split_whitespace().nth(1).unwrap_or("it");
                        CliError::Refused(format!(
                            "you are not a member: run `circles join {slug}` first"
                        ))
                    }
                    ErrorKind::InvalidParams | ErrorKind::TooLarge => CliError::Usage(message),
                    _ => CliError::Refused(message),
                }
            }
            other @ (ClientError::Unreachable { .. }
            | ClientError::Disconnected(_)
            | ClientError::Timeout) => CliError::Unreachable(other.to_string()),
            ClientError::Protocol(message) => CliError::Refused(message),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(err: ConfigError) -> Self {
        CliError::Local(err.to_string())
    }
}
