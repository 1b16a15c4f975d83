//! The Circles wire protocol, version 1: every type that crosses the WebSocket.
//!
//! Pure serde, no I/O: the server, the terminal client and the tests all speak
//! through these types, and `docs/protocol.md` documents them for front ends
//! written in other languages.
//!
//! - [`jsonrpc`]: the JSON-RPC 2.0 envelope (requests, responses, notifications).
//! - [`error`]: error kinds and their stable integer codes.
//! - [`event`]: the circle log's events, one per thing that happens in a circle.
//! - [`model`]: the views the server returns (circles, members, problems).
//! - [`methods`]: one type per method, tying its name to its params and result.
//! - [`notify`]: the notifications the server pushes (`event`, `presence`, `mention`).
//! - [`duration`]: how a span of time reads to people.
//! - [`mention`]: what counts as an `@handle` mention in a post.
//! - [`schema`]: all of the above as one JSON Schema document (`/v1/schema.json`).

pub mod duration;
pub mod error;
pub mod event;
pub mod jsonrpc;
pub mod mention;
pub mod methods;
pub mod model;
pub mod notify;
pub mod schema;

pub use error::{ErrorData, ErrorKind, ErrorObject};
pub use event::{Event, EventBody};
pub use jsonrpc::{Id, Notification, Request, Response, ResponsePayload};
pub use methods::Method;

/// The path of the WebSocket endpoint for this protocol version.
pub const WS_PATH: &str = "/v1/ws";

/// Time on the wire: milliseconds since the Unix epoch, UTC.
pub type Millis = u64;
