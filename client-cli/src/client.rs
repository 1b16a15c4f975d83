//! A connection to a Circles server: typed calls matched to their responses
//! by id, and the server's notifications as a stream. One task owns the
//! socket (reads and writes); callers reach it through a cloneable
//! [`Caller`], and replies come back on a oneshot.

use std::collections::HashMap;
use std::time::Duration;

use circles_protocol::jsonrpc::{Notification, ServerMessage};
use circles_protocol::methods::Method;
use circles_protocol::notify::{CircleDeletedNotice, EventNotice, MentionNotice, PresenceNotice};
use circles_protocol::{ErrorObject, Id, Request, ResponsePayload};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long a call waits for its response.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server answered with an error.
    #[error("{0}")]
    Server(ErrorObject),
    #[error("the connection to the server closed{}", .0.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Disconnected(Option<String>),
    #[error("the server did not answer within {} s", CALL_TIMEOUT.as_secs())]
    Timeout,
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

/// A notification from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    Event(EventNotice),
    Presence(PresenceNotice),
    /// An admin deleted the circle.
    CircleDeleted(CircleDeletedNotice),
    /// A post mentions the signed-in member.
    Mention(MentionNotice),
}

type Reply = oneshot::Sender<Result<Value, ErrorObject>>;

struct Outgoing {
    method: &'static str,
    params: Value,
    reply: Reply,
}

/// Makes calls on a connection; cheap to clone.
#[derive(Clone, Debug)]
pub struct Caller {
    tx: mpsc::Sender<Outgoing>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.method)
    }
}

/// An open connection: calls through [`Connection::caller`], notifications
/// from [`Connection::notices`].
#[derive(Debug)]
pub struct Connection {
    caller: Caller,
    pub notices: mpsc::Receiver<Notice>,
    /// Why the socket closed, once it has.
    closed: oneshot::Receiver<Option<String>>,
}

impl Connection {
    pub async fn connect(url: &str) -> Result<Connection, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| unreachable("no answer within 10 s".into()))?
            .map_err(|err| unreachable(describe_connect_error(&err)))?;
        let (tx, rx) = mpsc::channel(64);
        let (notice_tx, notices) = mpsc::channel(1024);
        let (closed_tx, closed) = oneshot::channel();
        tokio::spawn(async move {
            let reason = drive(ws, rx, notice_tx).await;
            let _ = closed_tx.send(reason);
        });
        Ok(Connection {
            caller: Caller { tx },
            notices,
            closed,
        })
    }

    pub fn caller(&self) -> Caller {
        self.caller.clone()
    }

    pub async fn call<M: Method>(&self, params: M::Params) -> Result<M::Result, ClientError> {
        self.caller.call::<M>(params).await
    }

    /// The next notification; `None` once the connection has closed.
    pub async fn next_notice(&mut self) -> Option<Notice> {
        self.notices.recv().await
    }

    /// Why the connection closed (waits until it has).
    pub async fn closed(self) -> Option<String> {
        self.closed.await.unwrap_or(None)
    }
}

impl Caller {
    pub async fn call<M: Method>(&self, params: M::Params) -> Result<M::Result, ClientError> {
        let params =
            serde_json::to_value(params).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        let outgoing = Outgoing {
            method: M::NAME,
            params,
            reply,
        };
        self.tx
            .send(outgoing)
            .await
            .map_err(|_| ClientError::Disconnected(None))?;
        let answer = tokio::time::timeout(CALL_TIMEOUT, answer)
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(|_| ClientError::Disconnected(None))?;
        let value = answer.map_err(ClientError::Server)?;
        serde_json::from_value(value)
            .map_err(|e| ClientError::Protocol(format!("{}: {e}", M::NAME)))
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Owns the socket until it closes; returns the close reason, if any.
async fn drive(
    mut ws: Socket,
    mut rx: mpsc::Receiver<Outgoing>,
    notices: mpsc::Sender<Notice>,
) -> Option<String> {
    let mut pending: HashMap<i64, Reply> = HashMap::new();
    let mut next_id: i64 = 0;
    loop {
        tokio::select! {
            outgoing = rx.recv() => {
                let Some(outgoing) = outgoing else {
                    let _ = ws.close(None).await;
                    return None;
                };
                next_id += 1;
                let request = Request::new(next_id, outgoing.method, outgoing.params);
                let Ok(text) = serde_json::to_string(&request) else { continue };
                if ws.send(Message::text(text)).await.is_err() {
                    return Some("write failed".into());
                }
                pending.insert(next_id, outgoing.reply);
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Response(response)) => {
                        if let Id::Number(id) = response.id {
                            if let Some(reply) = pending.remove(&id) {
                                let _ = reply.send(match response.payload {
                                    ResponsePayload::Result(value) => Ok(value),
                                    ResponsePayload::Error(error) => Err(error),
                                });
                            }
                        }
                    }
                    Ok(ServerMessage::Notification(notification)) => {
                        if let Some(notice) = parse_notice(notification) {
                            // Like the server, never buffer without bound: a reader
                            // this far behind reconnects and resumes by seq.
                            if let Err(mpsc::error::TrySendError::Full(_)) = notices.try_send(notice) {
                                return Some("notifications not read in time".into());
                            }
                        }
                    }
                    Ok(ServerMessage::Batch(_)) | Err(_) => {}
                },
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| format!("{} {}", u16::from(f.code), f.reason));
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Some(err.to_string()),
                None => return None,
            }
        }
    }
}

fn parse_notice(notification: Notification) -> Option<Notice> {
    match notification.method.as_str() {
        circles_protocol::notify::EVENT => serde_json::from_value(notification.params)
            .ok()
            .map(Notice::Event),
        circles_protocol::notify::PRESENCE => serde_json::from_value(notification.params)
            .ok()
            .map(Notice::Presence),
        circles_protocol::notify::CIRCLE_DELETED => serde_json::from_value(notification.params)
            .ok()
            .map(Notice::CircleDeleted),
        circles_protocol::notify::MENTION => serde_json::from_value(notification.params)
            .ok()
            .map(Notice::Mention),
        _ => None, // a newer server's notification: ignore it
    }
}

fn describe_connect_error(err: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match err {
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is the server running?)".into()
        }
        Error::Io(io) => io.to_string(),
        Error::Http(response) => format!(
            "HTTP {} (is that the Circles WebSocket URL?)",
            response.status()
        ),
        Error::Url(url) => format!("bad URL: {url}"),
        other => other.to_string(),
    }
}

/// `host:port`, `http://host`, `ws://host:port` and the like become a full
/// WebSocket URL; one without a path gets `/v1/ws`.
pub fn normalize_url(input: &str) -> String {
    let input = input.trim();
    let (scheme, rest) = match input.split_once("://") {
        Some(("http", rest)) => ("ws", rest),
        Some(("https", rest)) => ("wss", rest),
        Some((scheme, rest)) => (scheme, rest),
        None => ("ws", input),
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{rest}{}", circles_protocol::WS_PATH)
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn urls_get_a_scheme_and_the_ws_path() {
        assert_eq!(
            normalize_url("ws://127.0.0.1:7878/v1/ws"),
            "ws://127.0.0.1:7878/v1/ws"
        );
        assert_eq!(normalize_url("ws://example.org"), "ws://example.org/v1/ws");
        assert_eq!(
            normalize_url("example.org:7878/"),
            "ws://example.org:7878/v1/ws"
        );
        assert_eq!(
            normalize_url("https://circles.example.org"),
            "wss://circles.example.org/v1/ws"
        );
        assert_eq!(normalize_url("wss://h/custom/path"), "wss://h/custom/path");
    }
}
