//! The error every request handler returns: a kind from the protocol and a
//! sentence for the person who will read it.

use circles_protocol::model::Norms;
use circles_protocol::{ErrorKind, ErrorObject};

use crate::store::StoreError;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// With `rate_limited`: when the request would be taken.
    pub retry_after_ms: Option<u64>,
    /// With `forbidden` for norms not yet accepted: the norms to show.
    pub norms: Option<Box<Norms>>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            retry_after_ms: None,
            norms: None,
        }
    }

    /// Refuses `author` until they accept `norms`: the message says how,
    /// and the norms travel along for the client to show.
    pub fn norms_unaccepted(slug: &str, doing: &str, norms: &Norms) -> Self {
        ApiError {
            norms: Some(Box::new(norms.clone())),
            ..ApiError::forbidden(format!(
                "accept the norms of {slug} (version {}) before {doing}: read them, then call circle.norms.accept with that version",
                norms.version
            ))
        }
    }

    /// `why`: "too many requests on this connection", …; the wait is added.
    pub fn rate_limited(why: &str, retry_after: std::time::Duration) -> Self {
        let ms = u64::try_from(retry_after.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        ApiError {
            retry_after_ms: Some(ms),
            ..ApiError::new(ErrorKind::RateLimited, format!("{why}; retry in {ms} ms"))
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::InvalidParams, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Conflict, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::TooLarge, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Unavailable, message)
    }

    pub fn internal() -> Self {
        ApiError::new(
            ErrorKind::Internal,
            "the server hit an internal error; try again, and tell the operator if it persists",
        )
    }

    pub fn to_object(&self) -> ErrorObject {
        let mut object = ErrorObject::new(self.kind, self.message.clone());
        if let Some(data) = object.data.as_mut() {
            data.retry_after_ms = self.retry_after_ms;
            data.norms = self.norms.as_deref().cloned();
        }
        object
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "store error");
        match err {
            StoreError::Closed | StoreError::Flush(_) => {
                ApiError::unavailable("the server cannot store anything right now; try again later")
            }
            _ => ApiError::internal(),
        }
    }
}
