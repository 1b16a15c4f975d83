//! Requests: a text frame is parsed (JSON, then JSON-RPC), dispatched by
//! method name to its handler with typed params, and answered. Handlers live
//! by namespace: [`auth`], [`circles`], [`reading`], [`posts`], [`reports`].

mod admin;
pub use admin::{OPERATOR, audit};
mod auth;
mod circles;
mod posts;
mod reading;
mod reports;
mod search;

use std::future::Future;

use circles_protocol::methods::{self as m, Method};
use circles_protocol::{ErrorKind, ErrorObject, Id, Request, Response};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::metrics::Rejected;
use crate::session::{Session, User};

/// The most requests one batch may hold.
const MAX_BATCH: usize = 32;
/// Past this many bytes of answers, the rest of a batch is refused.
const MAX_BATCH_RESPONSE_BYTES: usize = 4 << 20;

/// Answers one text frame: `None` when nothing is to be sent back
/// (a notification, or a batch of them).
pub async fn handle_text(session: &mut Session, text: &str) -> Option<String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            session.reject(Rejected::ParseError);
            let error = ErrorObject::new(ErrorKind::ParseError, format!("not valid JSON: {err}"));
            return Some(to_text(&Response::error(Id::Null, error)));
        }
    };
    match value {
        Value::Array(items) if items.is_empty() => {
            session.reject(Rejected::InvalidRequest);
            let error =
                ErrorObject::new(ErrorKind::InvalidRequest, "an empty batch is not a request");
            Some(to_text(&Response::error(Id::Null, error)))
        }
        Value::Array(items) if items.len() > MAX_BATCH => {
            session.reject(Rejected::BatchTooLarge);
            let error = ErrorObject::new(
                ErrorKind::TooLarge,
                format!("a batch holds at most {MAX_BATCH} requests; send the rest separately"),
            );
            Some(to_text(&Response::error(Id::Null, error)))
        }
        Value::Array(items) => {
            // Answers are held until the batch is done: past a budget, the
            // rest are refused rather than run.
            let mut answers: Vec<String> = Vec::new();
            let mut bytes = 0;
            for item in items {
                let response = if bytes > MAX_BATCH_RESPONSE_BYTES {
                    session.reject(Rejected::BatchAnswersTooLarge);
                    item.get("id").map(|id| {
                        let id = serde_json::from_value(id.clone()).unwrap_or(Id::Null);
                        let error = ErrorObject::new(
                            ErrorKind::TooLarge,
                            "this batch's answers grew too large; send this request again on its own",
                        );
                        Response::error(id, error)
                    })
                } else {
                    handle_value(session, item).await
                };
                if let Some(response) = response {
                    let text = to_text(&response);
                    bytes += text.len();
                    answers.push(text);
                }
            }
            (!answers.is_empty()).then(|| format!("[{}]", answers.join(",")))
        }
        value => handle_value(session, value).await.map(|r| to_text(&r)),
    }
}

/// The answer to a binary frame: the protocol is JSON in text frames.
pub fn binary_frame_error(session: &mut Session) -> String {
    session.reject(Rejected::Binary);
    let error = match session.spend() {
        Err(err) => err.to_object(),
        Ok(()) => ErrorObject::new(
            ErrorKind::InvalidRequest,
            "binary frames are not supported; send each JSON-RPC request as a text frame",
        ),
    };
    to_text(&Response::error(Id::Null, error))
}

fn to_text(response: &Response) -> String {
    serde_json::to_string(response).unwrap_or_default()
}

async fn handle_value(session: &mut Session, value: Value) -> Option<Response> {
    // Echo the id even when the rest of the request is unusable, where it is readable.
    let readable_id = value
        .get("id")
        .and_then(|id| serde_json::from_value::<Id>(id.clone()).ok())
        .unwrap_or(Id::Null);
    if let Err(err) = session.spend() {
        let id = value.get("id").is_some().then_some(readable_id)?;
        return Some(Response::error(id, err.to_object()));
    }
    if let Some(problem) = shape_problem(&value) {
        session.reject(Rejected::InvalidRequest);
        let error = ErrorObject::new(
            ErrorKind::InvalidRequest,
            format!(
                "not a JSON-RPC 2.0 request: {problem}; send {{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"…\",\"params\":{{…}}}}"
            ),
        );
        return Some(Response::error(readable_id, error));
    }
    let request: Request = match serde_json::from_value(value) {
        Ok(request) => request,
        Err(err) => {
            session.reject(Rejected::InvalidRequest);
            let error = ErrorObject::new(
                ErrorKind::InvalidRequest,
                format!("not a JSON-RPC 2.0 request: {err}"),
            );
            return Some(Response::error(readable_id, error));
        }
    };
    let outcome = dispatch(session, &request.method, request.params).await;
    let id = request.id?;
    Some(match outcome {
        Ok(result) => Response::result(id, result),
        Err(err) => Response::error(id, err.to_object()),
    })
}

/// What makes `value` not a request, in words a front-end developer acts on.
fn shape_problem(value: &Value) -> Option<&'static str> {
    let Some(object) = value.as_object() else {
        return Some("a request is a JSON object");
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some("\"jsonrpc\" must be \"2.0\"");
    }
    if !object.get("method").is_some_and(Value::is_string) {
        return Some("\"method\" must be a string naming the method");
    }
    match object.get("id") {
        None | Some(Value::Null | Value::String(_)) => None,
        Some(Value::Number(n)) if n.is_i64() => None,
        // 1e3, -0.0 and 2^63 are numbers, but not ids every client can echo.
        Some(Value::Number(_)) => Some(
            "\"id\" must be a whole number within 64 bits (e.g. 42, not 4.2 or 1e3), a string or null",
        ),
        Some(_) => Some("\"id\" must be an integer, a string or null"),
    }
}

async fn dispatch(session: &mut Session, method: &str, params: Option<Value>) -> ApiResult<Value> {
    let s = session;
    match method {
        m::AuthRegister::NAME => call::<m::AuthRegister, _>(params, |p| auth::register(s, p)).await,
        m::AuthLogin::NAME => call::<m::AuthLogin, _>(params, |p| auth::login(s, p)).await,
        m::AuthToken::NAME => call::<m::AuthToken, _>(params, |p| auth::token(s, p)).await,
        m::AuthLogout::NAME => call::<m::AuthLogout, _>(params, |_| auth::logout(s)).await,
        m::AuthPassword::NAME => call::<m::AuthPassword, _>(params, |p| auth::password(s, p)).await,
        m::CircleCreate::NAME => {
            call::<m::CircleCreate, _>(params, |p| circles::create(s, p)).await
        }
        m::CircleList::NAME => call::<m::CircleList, _>(params, |_| circles::list(s)).await,
        m::CircleJoin::NAME => call::<m::CircleJoin, _>(params, |p| circles::join(s, p)).await,
        m::CircleLeave::NAME => call::<m::CircleLeave, _>(params, |p| circles::leave(s, p)).await,
        m::CircleInvite::NAME => {
            call::<m::CircleInvite, _>(params, |p| circles::invite(s, p)).await
        }
        m::CircleMembers::NAME => {
            call::<m::CircleMembers, _>(params, |p| circles::members(s, p)).await
        }
        m::CircleRemove::NAME => {
            call::<m::CircleRemove, _>(params, |p| circles::remove(s, p)).await
        }
        m::CircleNormsSet::NAME => {
            call::<m::CircleNormsSet, _>(params, |p| circles::set_norms(s, p)).await
        }
        m::CircleNormsAccept::NAME => {
            call::<m::CircleNormsAccept, _>(params, |p| circles::accept_norms(s, p)).await
        }
        m::CircleSubscribe::NAME => {
            call::<m::CircleSubscribe, _>(params, |p| reading::subscribe(s, p)).await
        }
        m::CircleUnsubscribe::NAME => {
            call::<m::CircleUnsubscribe, _>(params, |p| reading::unsubscribe(s, p)).await
        }
        m::CircleHistory::NAME => {
            call::<m::CircleHistory, _>(params, |p| reading::history(s, p)).await
        }
        m::CircleRead::NAME => call::<m::CircleRead, _>(params, |p| reading::read(s, p)).await,
        m::PostProblem::NAME => call::<m::PostProblem, _>(params, |p| posts::problem(s, p)).await,
        m::PostCritique::NAME => {
            call::<m::PostCritique, _>(params, |p| posts::critique(s, p)).await
        }
        m::PostNote::NAME => call::<m::PostNote, _>(params, |p| posts::note(s, p)).await,
        m::PostEdit::NAME => call::<m::PostEdit, _>(params, |p| posts::edit(s, p)).await,
        m::PostRetract::NAME => call::<m::PostRetract, _>(params, |p| posts::retract(s, p)).await,
        m::ProblemResolve::NAME => {
            call::<m::ProblemResolve, _>(params, |p| posts::resolve(s, p)).await
        }
        m::ProblemAccept::NAME => {
            call::<m::ProblemAccept, _>(params, |p| posts::accept(s, p)).await
        }
        m::ProblemMetoo::NAME => call::<m::ProblemMetoo, _>(params, |p| posts::metoo(s, p)).await,
        m::ProblemReflect::NAME => {
            call::<m::ProblemReflect, _>(params, |p| posts::reflect(s, p)).await
        }
        m::ProblemList::NAME => {
            call::<m::ProblemList, _>(params, |p| reading::problems(s, p)).await
        }
        m::ProblemGet::NAME => call::<m::ProblemGet, _>(params, |p| reading::problem(s, p)).await,
        m::MeetingSchedule::NAME => {
            call::<m::MeetingSchedule, _>(params, |p| posts::schedule_meeting(s, p)).await
        }
        m::CircleDigest::NAME => {
            call::<m::CircleDigest, _>(params, |p| reading::digest(s, p)).await
        }
        m::CircleStats::NAME => call::<m::CircleStats, _>(params, |p| reports::stats(s, p)).await,
        m::ProblemExport::NAME => {
            call::<m::ProblemExport, _>(params, |p| reports::case_study(s, p)).await
        }
        m::Search::NAME => call::<m::Search, _>(params, |p| search::search(s, p)).await,
        m::AdminUsers::NAME => call::<m::AdminUsers, _>(params, |p| admin::users(s, p)).await,
        m::AdminSuspend::NAME => call::<m::AdminSuspend, _>(params, |p| admin::suspend(s, p)).await,
        m::AdminUnsuspend::NAME => {
            call::<m::AdminUnsuspend, _>(params, |p| admin::unsuspend(s, p)).await
        }
        m::AdminGrant::NAME => call::<m::AdminGrant, _>(params, |p| admin::grant(s, p)).await,
        m::AdminRevoke::NAME => call::<m::AdminRevoke, _>(params, |p| admin::revoke(s, p)).await,
        m::AdminCircleDelete::NAME => {
            call::<m::AdminCircleDelete, _>(params, |p| admin::delete_circle(s, p)).await
        }
        m::AdminInvite::NAME => call::<m::AdminInvite, _>(params, |p| admin::invite(s, p)).await,
        m::AdminAudit::NAME => call::<m::AdminAudit, _>(params, |p| admin::audit_log(s, p)).await,
        m::AdminExport::NAME => call::<m::AdminExport, _>(params, |p| admin::export(s, p)).await,
        other => Err(ApiError::new(
            ErrorKind::MethodNotFound,
            format!("no method named {other:?}; see docs/protocol.md for the list"),
        )),
    }
}

/// Parses params for `M`, runs the handler, serializes its result.
async fn call<M: Method, F: Future<Output = ApiResult<M::Result>>>(
    params: Option<Value>,
    handler: impl FnOnce(M::Params) -> F,
) -> ApiResult<Value> {
    let params = match params {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::Object(map)) => Value::Object(map),
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "{}: params must be an object",
                M::NAME
            )));
        }
    };
    // The path names the field at fault: `max_members: invalid type…`.
    let params: M::Params = serde_path_to_error::deserialize(params).map_err(|err| {
        let field = err.path().to_string();
        let err = err.into_inner();
        if field == "." {
            ApiError::invalid(format!("{}: {err}", M::NAME))
        } else {
            ApiError::invalid(format!("{}: {field}: {err}", M::NAME))
        }
    })?;
    let result = handler(params).await?;
    serde_json::to_value(result).map_err(|_| ApiError::internal())
}

/// The signed-in user, or the error that says how to sign in.
fn signed_in(session: &Session) -> ApiResult<&User> {
    session.user.as_ref().ok_or_else(|| {
        ApiError::unauthenticated("sign in first: auth.login, auth.register or auth.token")
    })
}
