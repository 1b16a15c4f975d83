//! Errors on the wire: the JSON-RPC error object, with a stable `kind` name
//! in `data` so clients match on words rather than numbers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every error the server answers with. The integer codes are part of the
/// contract: the JSON-RPC ones are the standard's, the application ones sit in
/// the range JSON-RPC reserves for server-defined errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The frame is not JSON.
    ParseError,
    /// JSON, but not a JSON-RPC 2.0 request (or an empty batch, or a binary frame).
    InvalidRequest,
    /// No method by that name.
    MethodNotFound,
    /// The params are missing, of the wrong shape, or fail validation.
    InvalidParams,
    /// A bug or a storage failure on the server; the request may be retried.
    Internal,
    /// The method needs a signed-in connection, or the credentials are wrong.
    Unauthenticated,
    /// Signed in, but not allowed (not a member, not the author, not a facilitator).
    Forbidden,
    /// No such circle, post, problem, account or invite.
    NotFound,
    /// It clashes with what exists (a taken handle or slug, a second metoo...).
    Conflict,
    /// The circle has reached its `max_members`.
    CircleFull,
    /// Too many requests; `data.retry_after_ms` says when to try again.
    RateLimited,
    /// A field or frame is over its size limit.
    TooLarge,
    /// The server is shutting down or its store cannot take writes.
    Unavailable,
    /// A kind this client version does not know yet. The server never sends
    /// it, so the schema leaves it out.
    #[serde(other)]
    #[schemars(skip)]
    Unknown,
}

impl ErrorKind {
    /// Every kind the server sends, in the order docs/protocol.md lists them.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::ParseError,
        ErrorKind::InvalidRequest,
        ErrorKind::MethodNotFound,
        ErrorKind::InvalidParams,
        ErrorKind::Internal,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::CircleFull,
        ErrorKind::RateLimited,
        ErrorKind::TooLarge,
        ErrorKind::Unavailable,
    ];

    pub const fn code(self) -> i32 {
        match self {
            ErrorKind::ParseError => -32700,
            ErrorKind::InvalidRequest => -32600,
            ErrorKind::MethodNotFound => -32601,
            ErrorKind::InvalidParams => -32602,
            ErrorKind::Internal => -32603,
            ErrorKind::Unauthenticated => -32001,
            ErrorKind::Forbidden => -32003,
            ErrorKind::NotFound => -32004,
            ErrorKind::Conflict => -32009,
            ErrorKind::CircleFull => -32010,
            ErrorKind::TooLarge => -32013,
            ErrorKind::RateLimited => -32029,
            ErrorKind::Unavailable => -32050,
            ErrorKind::Unknown => -32000,
        }
    }

    /// The name in `error.data.kind`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ParseError => "parse_error",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::MethodNotFound => "method_not_found",
            ErrorKind::InvalidParams => "invalid_params",
            ErrorKind::Internal => "internal",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::CircleFull => "circle_full",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Unknown => "unknown",
        }
    }
}

/// The JSON-RPC `error` member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorObject {
    pub code: i32,
    /// A sentence for a person: what went wrong and, where it helps, what to do.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ErrorData>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorData {
    pub kind: ErrorKind,
    /// With `rate_limited`: how long to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// With `forbidden` because the circle's norms are not accepted: the
    /// norms to show, and the version to pass to `circle.norms.accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norms: Option<crate::model::Norms>,
}

impl ErrorObject {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorObject {
            code: kind.code(),
            message: message.into(),
            data: Some(ErrorData {
                kind,
                retry_after_ms: None,
                norms: None,
            }),
        }
    }

    /// The kind, from `data.kind` or else from the code.
    pub fn kind(&self) -> ErrorKind {
        match &self.data {
            Some(data) => data.kind,
            None => ErrorKind::ALL
                .into_iter()
                .find(|kind| kind.code() == self.code)
                .unwrap_or(ErrorKind::Unknown),
        }
    }

    /// The norms sent with a refusal for not having accepted them.
    pub fn norms(&self) -> Option<&crate::model::Norms> {
        self.data.as_ref()?.norms.as_ref()
    }
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorObject {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_names_are_unique_and_match_serde() {
        let codes: HashSet<i32> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
        for kind in ErrorKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::Value::String(kind.name().into()));
            let back: ErrorKind = serde_json::from_value(json).unwrap();
            assert_eq!(back, kind);
        }
    }

    #[test]
    fn unknown_kinds_from_newer_servers_still_parse() {
        let kind: ErrorKind = serde_json::from_str("\"quota_exceeded\"").unwrap();
        assert_eq!(kind, ErrorKind::Unknown);
    }

    #[test]
    fn error_object_round_trips() {
        let err = ErrorObject::new(ErrorKind::CircleFull, "the circle is full (12 members)");
        let text = serde_json::to_string(&err).unwrap();
        assert_eq!(
            text,
            r#"{"code":-32010,"message":"the circle is full (12 members)","data":{"kind":"circle_full"}}"#
        );
        let back: ErrorObject = serde_json::from_str(&text).unwrap();
        assert_eq!(back.kind(), ErrorKind::CircleFull);
    }
}
