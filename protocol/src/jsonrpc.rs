//! The JSON-RPC 2.0 envelope: one object per WebSocket text frame.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::ErrorObject;

/// The `"jsonrpc": "2.0"` member every object carries; anything else is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V2;

impl Serialize for V2 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("2.0")
    }
}

/// Serialized by hand, so described by hand: the string `"2.0"` and nothing else.
impl JsonSchema for V2 {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "V2".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "const": "2.0" })
    }
}

impl<'de> Deserialize<'de> for V2 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let version = String::deserialize(d)?;
        if version == "2.0" {
            Ok(V2)
        } else {
            Err(serde::de::Error::custom(format!(
                "jsonrpc must be \"2.0\", not {version:?}"
            )))
        }
    }
}

/// A request id as the client chose it. `Null` is what a response carries
/// when the request's id could not be read (a parse error, say).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Id {
    Number(i64),
    String(String),
    Null,
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Number(n)
    }
}

/// A call from the client. Without an `id` it is a JSON-RPC notification:
/// the server acts on it and sends no response, not even an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Request {
    pub jsonrpc: V2,
    #[serde(
        default,
        deserialize_with = "present_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<Id>,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

/// Tells `"id": null` (a request with a null id) apart from no `id` at all
/// (a notification).
fn present_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Id>, D::Error> {
    Id::deserialize(d).map(Some)
}

impl Request {
    pub fn new(id: impl Into<Id>, method: impl Into<String>, params: Value) -> Self {
        Request {
            jsonrpc: V2,
            id: Some(id.into()),
            method: method.into(),
            params: Some(params),
        }
    }
}

/// The answer to one request: exactly one of `result` or `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Response {
    pub jsonrpc: V2,
    pub id: Id,
    #[serde(flatten)]
    pub payload: ResponsePayload,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum ResponsePayload {
    #[serde(rename = "result")]
    Result(Value),
    #[serde(rename = "error")]
    Error(ErrorObject),
}

impl Response {
    pub fn result(id: Id, result: Value) -> Self {
        Response {
            jsonrpc: V2,
            id,
            payload: ResponsePayload::Result(result),
        }
    }

    pub fn error(id: Id, error: ErrorObject) -> Self {
        Response {
            jsonrpc: V2,
            id,
            payload: ResponsePayload::Error(error),
        }
    }
}

/// A message the server pushes without being asked (no `id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    pub jsonrpc: V2,
    pub method: String,
    pub params: Value,
}

/// Anything the server sends: a response (it has an `id`) or a notification.
/// A batch request is answered with an array of responses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ServerMessage {
    Response(Response),
    Notification(Notification),
    Batch(Vec<Response>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    #[test]
    fn request_id_null_is_not_a_notification() {
        let with_null: Request =
            serde_json::from_value(json!({"jsonrpc":"2.0","id":null,"method":"m"})).unwrap();
        assert_eq!(with_null.id, Some(Id::Null));
        let without: Request =
            serde_json::from_value(json!({"jsonrpc":"2.0","method":"m"})).unwrap();
        assert_eq!(without.id, None);
    }

    #[test]
    fn version_must_be_2_0() {
        let bad = serde_json::from_value::<Request>(json!({"jsonrpc":"1.0","id":1,"method":"m"}));
        assert!(bad.is_err());
    }

    #[test]
    fn responses_round_trip() {
        let ok = Response::result(Id::Number(7), json!({"head": 3}));
        let text = serde_json::to_string(&ok).unwrap();
        assert_eq!(text, r#"{"jsonrpc":"2.0","id":7,"result":{"head":3}}"#);
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), ok);

        let err = Response::error(
            Id::String("a".into()),
            ErrorObject::new(ErrorKind::NotFound, "no circle named \"x\""),
        );
        let text = serde_json::to_string(&err).unwrap();
        let back: ServerMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ServerMessage::Response(err));
    }

    #[test]
    fn notifications_are_told_apart_from_responses() {
        let text = r#"{"jsonrpc":"2.0","method":"presence","params":{"circle":"c","handle":"h","online":true}}"#;
        match serde_json::from_str::<ServerMessage>(text).unwrap() {
            ServerMessage::Notification(n) => assert_eq!(n.method, "presence"),
            other => panic!("expected a notification, got {other:?}"),
        }
    }
}
