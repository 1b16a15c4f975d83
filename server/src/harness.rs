//! The request path without a socket: the seam for the fuzz target
//! (`fuzz/fuzz_targets/frames.rs`) and the corpus test
//! (`tests/fuzz_corpus.rs`), not for use by the server itself.
//!
//! A [`Harness`] opens a store in a directory, builds the shared [`App`] and
//! plays one connection: each text frame goes through
//! `api::handle_text` exactly as `session::serve` sends it, and the
//! notifications the connection would be sent are collected with the
//! answer. Subscriptions catch up from the store and go live through the
//! session's own catch-up steps.
//!
//! Frames may name placeholders, replaced before the frame is handled, so
//! that seeds reach the methods that take what a server makes up: `$post`
//! (the id of the latest event an answer carried), `$problem` (the latest
//! problem event's), `$invite` (the latest invite code), `$token` and
//! `$token2` (tokens of the harness accounts [`HANDLES`], to switch between
//! them without argon2).
//!
//! [`check_answer`], [`check_notification`] and [`check_exchange`] are the
//! invariants a fuzz finding breaks.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use circles_protocol::ErrorKind;
use circles_protocol::notify::Notice;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::session::{Outbound, Session};
use crate::store::Store;
use crate::{App, Config};

/// Catch-up steps (a page, or a request to go live) after one frame.
const CATCH_UP_STEPS: usize = 64;
/// The harness's accounts: the connection signs in as the first at each
/// [`Harness::reset`]; frames switch with `auth.token` and `$token2`.
pub const HANDLES: [&str; 2] = ["harness", "other"];
/// Their password (frames may change it: the harness only uses tokens).
const PASSWORD: &str = "harness password";

/// What the connection was sent for one frame.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// The frame as handled (placeholders replaced).
    pub frame: String,
    /// The response (an array for a batch); `None` when nothing is due.
    pub response: Option<String>,
    /// Notifications (events and presence) in the order the connection got them.
    pub notifications: Vec<String>,
}

/// One server and one connection to it, with no socket.
pub struct Harness {
    app: Arc<App>,
    session: Session,
    rx: mpsc::Receiver<Outbound>,
    /// The harness's two accounts ([`HANDLES`]) and their tokens.
    tokens: [String; 2],
    last_post: Option<String>,
    last_problem: Option<String>,
    last_invite: Option<String>,
}

impl Harness {
    /// Creates a store in `dir` (a fresh directory) with the [`HANDLES`]
    /// accounts; the connection starts signed in as the first.
    pub async fn open(dir: &Path) -> anyhow::Result<Harness> {
        let store = Store::open(dir)
            .with_context(|| format!("cannot open the store in {}", dir.display()))?;
        let app = App::new(Config::with_data_dir(dir), Arc::new(store));
        let (session, rx) = connect(&app);
        let mut harness = Harness {
            app,
            session,
            rx,
            tokens: Default::default(),
            last_post: None,
            last_problem: None,
            last_invite: None,
        };
        for (i, handle) in HANDLES.into_iter().enumerate() {
            let params = serde_json::json!({ "handle": handle, "password": PASSWORD });
            let answer = harness.frame(&request("auth.register", &params)).await;
            let response: Option<Value> = answer
                .response
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok());
            let Some(token) = response
                .as_ref()
                .and_then(|r| r.pointer("/result/token"))
                .and_then(Value::as_str)
            else {
                bail!(
                    "cannot register {handle:?} (is {} a fresh directory?): {}",
                    dir.display(),
                    answer.response.as_deref().unwrap_or("no response")
                );
            };
            harness.tokens[i] = token.to_owned();
        }
        harness.reset().await?;
        Ok(harness)
    }

    /// Closes the connection and opens a new one, signed in as the first
    /// harness account. Tokens that earlier frames revoked are replaced by
    /// new ones minted in the store (no argon2), so the accounts stay.
    pub async fn reset(&mut self) -> anyhow::Result<()> {
        self.session.sign_out();
        let (session, rx) = connect(&self.app);
        self.session = session;
        self.rx = rx;
        self.last_post = None;
        self.last_problem = None;
        self.last_invite = None;
        for (handle, token) in HANDLES.into_iter().zip(&mut self.tokens) {
            let store = &self.app.store;
            let owner = store
                .token_handle(&crate::credentials::token_hash(token))
                .context("reading a token")?;
            if owner.as_deref() == Some(handle) {
                continue;
            }
            let (new, hash) = crate::credentials::new_token()
                .map_err(|err| anyhow::anyhow!("no token: {}", err.to_object()))?;
            store
                .add_token(handle, &hash)
                .context("minting a token")?
                .durable()
                .await
                .context("minting a token")?;
            *token = new;
        }
        let params = serde_json::json!({ "token": self.tokens[0] });
        let answer = self.frame(&request("auth.token", &params)).await;
        if !is_result(answer.response.as_deref()) {
            bail!(
                "cannot sign in as {}: {}",
                HANDLES[0],
                answer.response.as_deref().unwrap_or("no response")
            );
        }
        Ok(())
    }

    /// Handles one text frame as the connection's next message.
    pub async fn frame(&mut self, text: &str) -> Answer {
        let text = self.substitute(text);
        let mut notifications = Vec::new();
        let before: Vec<u64> = self
            .session
            .subs
            .values()
            .map(|s| s.id)
            .chain([crate::session::UNSUBSCRIBED])
            .collect();
        // As `session::serve`: notifications keep flowing while a request runs,
        // so the bounded queue never fills.
        let response = {
            let handling = crate::api::handle_text(&mut self.session, &text);
            tokio::pin!(handling);
            loop {
                tokio::select! {
                    response = &mut handling => break response,
                    Some(out) = self.rx.recv() => {
                        if before.contains(&out.sub) {
                            notifications.push(out.frame.to_string());
                        }
                    }
                }
            }
        };
        while let Ok(out) = self.rx.try_recv() {
            if before.contains(&out.sub) || self.is_active(out.sub) {
                notifications.push(out.frame.to_string());
            }
        }
        self.catch_up(&mut notifications).await;
        if let Some(response) = &response {
            self.remember_ids(response);
        }
        Answer {
            frame: text,
            response,
            notifications,
        }
    }

    /// One fuzz input or corpus file: a fresh connection signed in as the
    /// harness account, then every line of `data` that is UTF-8 (and not
    /// empty) as a frame, each answer checked with [`check_exchange`].
    /// With `CIRCLES_HARNESS_TRACE` set, every exchange goes to stderr.
    pub async fn replay(&mut self, data: &[u8]) -> Result<(), String> {
        self.reset()
            .await
            .map_err(|err| format!("resetting the harness: {err:#}"))?;
        let trace = std::env::var_os("CIRCLES_HARNESS_TRACE").is_some();
        for line in data.split(|b| *b == b'\n') {
            let Ok(text) = std::str::from_utf8(line) else {
                continue;
            };
            if text.is_empty() {
                continue;
            }
            let answer = self.frame(text).await;
            if trace {
                eprintln!("→ {}", answer.frame);
                eprintln!(
                    "← {}",
                    answer.response.as_deref().unwrap_or("(no response)")
                );
                for notification in &answer.notifications {
                    eprintln!("⇐ {notification}");
                }
            }
            check_exchange(&answer).map_err(|problem| {
                format!(
                    "{problem}\nframe: {}\nresponse: {}\nnotifications: {:?}",
                    answer.frame,
                    answer.response.as_deref().unwrap_or("(none)"),
                    answer.notifications
                )
            })?;
        }
        Ok(())
    }

    /// Stops the circle tasks (dropping the harness does too).
    pub fn close(self) {}

    fn is_active(&self, sub: u64) -> bool {
        sub == crate::session::UNSUBSCRIBED || self.session.subs.values().any(|s| s.id == sub)
    }

    fn substitute(&self, text: &str) -> String {
        if !text.contains('$') {
            return text.to_owned();
        }
        let none = "00000000-0000-7000-8000-000000000000";
        text.replace("$post", self.last_post.as_deref().unwrap_or(none))
            .replace("$problem", self.last_problem.as_deref().unwrap_or(none))
            .replace(
                "$invite",
                self.last_invite.as_deref().unwrap_or("no-invite"),
            )
            .replace("$token2", &self.tokens[1])
            .replace("$token", &self.tokens[0])
    }

    /// Remembers the ids of events in the response, for the placeholders.
    fn remember_ids(&mut self, response: &str) {
        let Ok(value) = serde_json::from_str::<Value>(response) else {
            return;
        };
        let responses = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        for response in &responses {
            if let Some(invite) = response.pointer("/result/invite").and_then(Value::as_str) {
                self.last_invite = Some(invite.to_owned());
            }
            let Some(event) = response.pointer("/result/event") else {
                continue;
            };
            let Some(id) = event.get("id").and_then(Value::as_str) else {
                continue;
            };
            if event.get("kind").and_then(Value::as_str) == Some("problem") {
                self.last_problem = Some(id.to_owned());
            }
            self.last_post = Some(id.to_owned());
        }
    }

    /// The session's catch-up, run until every subscription is live (or a
    /// bounded number of steps), with the frames going to `out`.
    async fn catch_up(&mut self, out: &mut Vec<String>) {
        for _ in 0..CATCH_UP_STEPS {
            if !self.session.catching_up() {
                break;
            }
            match self.session.catch_up_step().await {
                Ok(frames) => out.extend(frames.iter().map(ToString::to_string)),
                // The server closes the connection here; the harness goes on without it.
                Err(err) => {
                    tracing::error!(error = %err, "harness catch-up read failed");
                    self.session.subs.clear();
                }
            }
        }
        // Frames the circle sent while it was switched to live.
        while let Ok(frame) = self.rx.try_recv() {
            if self.is_active(frame.sub) {
                out.push(frame.frame.to_string());
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.session.sign_out();
        self.app.shutdown.cancel();
    }
}

fn connect(app: &Arc<App>) -> (Session, mpsc::Receiver<Outbound>) {
    let (outbound, rx) = mpsc::channel(app.config.outbound_queue);
    (Session::new(Arc::clone(app), outbound), rx)
}

fn request(method: &str, params: &Value) -> String {
    serde_json::json!({ "jsonrpc": "2.0", "id": 0, "method": method, "params": params }).to_string()
}

fn is_result(response: Option<&str>) -> bool {
    response
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .is_some_and(|r| r.get("result").is_some())
}

/// A response frame is one JSON-RPC 2.0 response, or a non-empty array of them.
pub fn check_answer(text: &str) -> Result<(), String> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| format!("the answer is not JSON: {err}"))?;
    match &value {
        Value::Array(items) if items.is_empty() => Err("an empty batch answer".into()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_response(item).map_err(|e| format!("[{i}]: {e}"))),
        single => check_response(single),
    }
}

/// One response: `"jsonrpc":"2.0"`, an `id` (integer, string or null), and
/// exactly one of `result` and `error`; an error has the integer code of its
/// `data.kind`, a message, and is not `internal` (a bug or a store failure).
fn check_response(value: &Value) -> Result<(), String> {
    let Some(object) = value.as_object() else {
        return Err(format!("a response is an object, not {value}"));
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("\"jsonrpc\" is not \"2.0\"".into());
    }
    match object.get("id") {
        Some(Value::Null | Value::String(_)) => {}
        Some(Value::Number(n)) if n.is_i64() => {}
        Some(other) => return Err(format!("a bad id: {other}")),
        None => return Err("no id".into()),
    }
    match (object.get("result"), object.get("error")) {
        (Some(_), None) => Ok(()),
        (None, Some(error)) => check_error(error),
        (Some(_), Some(_)) => Err("both result and error".into()),
        (None, None) => Err("neither result nor error".into()),
    }
}

fn check_error(error: &Value) -> Result<(), String> {
    let code = error
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("an error without an integer code: {error}"))?;
    match error.get("message").and_then(Value::as_str) {
        Some(message) if !message.trim().is_empty() => {}
        _ => return Err(format!("an error without a message: {error}")),
    }
    let kind = error
        .pointer("/data/kind")
        .cloned()
        .and_then(|kind| serde_json::from_value::<ErrorKind>(kind).ok())
        .ok_or_else(|| format!("an error without a known data.kind: {error}"))?;
    if kind == ErrorKind::Unknown || i64::from(kind.code()) != code {
        return Err(format!("code {code} does not match its kind: {error}"));
    }
    if kind == ErrorKind::Internal {
        return Err(format!("an internal error: {error}"));
    }
    Ok(())
}

/// A notification: `"jsonrpc":"2.0"`, no id, and an `event` or `presence`
/// the protocol crate reads.
pub fn check_notification(text: &str) -> Result<(), String> {
    let mut value: Value =
        serde_json::from_str(text).map_err(|err| format!("the notification is not JSON: {err}"))?;
    let Some(object) = value.as_object_mut() else {
        return Err("a notification is an object".into());
    };
    if object.remove("jsonrpc").as_ref().and_then(Value::as_str) != Some("2.0") {
        return Err("\"jsonrpc\" is not \"2.0\"".into());
    }
    if object.contains_key("id") {
        return Err("a notification with an id".into());
    }
    serde_json::from_value::<Notice>(value)
        .map(|_| ())
        .map_err(|err| format!("not an event or presence notification: {err}"))
}

/// Everything the connection got for one frame: each frame well formed,
/// and for a request that is one object, the response it is due (or none)
/// with its id.
pub fn check_exchange(answer: &Answer) -> Result<(), String> {
    if let Some(response) = &answer.response {
        check_answer(response).map_err(|e| format!("response: {e}"))?;
    }
    for notification in &answer.notifications {
        check_notification(notification).map_err(|e| format!("notification: {e}"))?;
    }
    let response: Option<Value> = answer
        .response
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    // What is due: `Some(id)` a response with that id; `None` nothing; a
    // frame with no id that is not a notification either gets an error with
    // id null or, refused for the rate, nothing.
    let (expected, or_nothing) = match serde_json::from_str::<Value>(&answer.frame) {
        Err(_) => (Some(Value::Null), false),
        Ok(Value::Array(items)) => {
            if items.is_empty() || items.len() > 32 {
                if !response.as_ref().is_some_and(Value::is_object) {
                    return Err("a refused batch is answered by one error".into());
                }
            } else if response.as_ref().is_some_and(|r| {
                r.as_array()
                    .is_none_or(|answers| answers.len() > items.len())
            }) {
                return Err("a batch's answer is an array, at most one per request".into());
            }
            return Ok(());
        }
        Ok(Value::Object(object)) => match object.get("id") {
            Some(id @ (Value::Null | Value::String(_))) => (Some(id.clone()), false),
            Some(Value::Number(n)) if n.is_i64() => (Some(Value::Number(n.clone())), false),
            Some(_) => (Some(Value::Null), false),
            None => {
                let notification = object.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
                    && object.get("method").is_some_and(Value::is_string);
                ((!notification).then_some(Value::Null), true)
            }
        },
        Ok(_) => (Some(Value::Null), true),
    };
    match (expected, response) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err("a response to a notification".into()),
        (Some(_), None) if or_nothing => Ok(()),
        (Some(_), None) => Err("no response to a request".into()),
        (Some(id), Some(response)) => match response.get("id") {
            Some(got) if *got == id => Ok(()),
            got => Err(format!("the response's id is {got:?}, not {id}")),
        },
    }
}
