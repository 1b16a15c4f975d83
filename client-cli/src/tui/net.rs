//! The network task: owns the connection, signs in with the saved token,
//! carries out the app's [`Request`]s and reports back with [`NetMsg`]s.
//! When the connection drops it reconnects with backoff and tells the app,
//! which resubscribes each circle from the last seq it applied.
//!
//! The app reaches it through a [`NetHandle`]; replies and notifications come
//! back on one bounded channel, in order: a circle's loaded history is sent
//! before its subscription starts, so its backlog always follows the page.

use std::time::Duration;

use circles_protocol::Event;
use circles_protocol::methods as m;
use circles_protocol::model::{CircleInfo, Digest, Member, Norms, SearchHit, Stance, Stats};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use crate::client::{Caller, ClientError, Connection, Notice};
use crate::commands::sign_in_with_token;
use crate::error::CliError;
use crate::follow::Backoff;

/// History loaded when a circle is first shown: pages of 200, newest first.
const HISTORY_PAGES: usize = 5;
const HISTORY_PAGE: u32 = 200;

pub type NetTx = mpsc::Sender<NetMsg>;
pub type NetRx = mpsc::Receiver<NetMsg>;

/// What the app asks of the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Load recent history, then subscribe from its last seq.
    Load {
        circle: String,
    },
    /// Subscribe (again) with events after `since`.
    Subscribe {
        circle: String,
        since: u64,
    },
    Post(Post),
    MarkRead {
        circle: String,
        seq: u64,
    },
    Join {
        circle: String,
    },
    /// Accept version `version` of the circle's norms, then carry out
    /// `then`: the join or post they were refused for.
    AcceptNorms {
        circle: String,
        version: u64,
        then: Box<Request>,
    },
    /// `circle.members`: who is online, and the circle's norms.
    Members {
        circle: String,
    },
    ListCircles,
    /// What changed since the circle's last meeting.
    Digest {
        circle: String,
    },
    /// `circle.stats` over the circle's whole life.
    Stats {
        circle: String,
    },
    /// `problem.export`, written to `file`.
    ExportCase {
        circle: String,
        problem: Uuid,
        anonymise: bool,
        file: std::path::PathBuf,
    },
    /// `search`, in every circle I may read or only in `circle`.
    Search {
        query: String,
        circle: Option<String>,
    },
}

impl Request {
    /// What it would post, if anything (after accepting norms, too).
    pub fn into_post(self) -> Option<Post> {
        match self {
            Request::Post(post) => Some(post),
            Request::AcceptNorms { then, .. } => then.into_post(),
            _ => None,
        }
    }
}

/// Something to post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Post {
    Note {
        circle: String,
        body: String,
    },
    Problem {
        circle: String,
        title: String,
        body: String,
    },
    Critique {
        circle: String,
        problem: Uuid,
        title: String,
        stance: Stance,
        body: String,
    },
    Metoo {
        circle: String,
        problem: Uuid,
    },
    Resolve {
        circle: String,
        problem: Uuid,
        helpful: Vec<Uuid>,
    },
    Accept {
        circle: String,
        problem: Uuid,
        critique: Uuid,
    },
    Reflect {
        circle: String,
        problem: Uuid,
        title: String,
        usefulness: u8,
        text: String,
    },
    Meeting {
        circle: String,
        at: u64,
        title: String,
        agenda: Vec<Uuid>,
    },
    /// New norms for the circle (facilitators).
    Norms {
        circle: String,
        text: String,
    },
}

impl Post {
    /// What it is, for messages: "note", "critique"...
    pub fn noun(&self) -> &'static str {
        match self {
            Post::Note { .. } => "note",
            Post::Problem { .. } => "problem",
            Post::Critique { .. } => "critique",
            Post::Metoo { .. } => "me too",
            Post::Resolve { .. } => "resolution",
            Post::Accept { .. } => "acceptance",
            Post::Reflect { .. } => "reflection",
            Post::Meeting { .. } => "meeting",
            Post::Norms { .. } => "norms",
        }
    }

    /// The circle it goes to.
    pub fn circle(&self) -> &str {
        match self {
            Post::Note { circle, .. }
            | Post::Problem { circle, .. }
            | Post::Critique { circle, .. }
            | Post::Metoo { circle, .. }
            | Post::Resolve { circle, .. }
            | Post::Accept { circle, .. }
            | Post::Reflect { circle, .. }
            | Post::Meeting { circle, .. }
            | Post::Norms { circle, .. } => circle,
        }
    }
}

/// What the network tells the app.
#[derive(Clone, Debug, PartialEq)]
pub enum NetMsg {
    Connecting,
    Connected {
        handle: String,
    },
    /// The connection failed or closed; the next try is in `retry_in`.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
    /// The saved token no longer works: nothing to retry.
    SignedOut(String),
    Circles(Vec<CircleInfo>),
    History {
        circle: String,
        events: Vec<Event>,
    },
    Members {
        circle: String,
        members: Vec<Member>,
        norms: Option<Norms>,
    },
    Joined(CircleInfo),
    Digest {
        circle: String,
        digest: Box<Digest>,
    },
    Stats {
        circle: String,
        stats: Stats,
    },
    /// A case study was written to this file.
    Exported(std::path::PathBuf),
    /// The answer to [`Request::Search`]: its hits, or why there are none.
    Found {
        query: String,
        circle: Option<String>,
        hits: Result<Vec<SearchHit>, String>,
    },
    /// Sent after a problem's [`NetMsg::Posted`]: problems like it in
    /// other circles (never empty).
    Similar {
        title: String,
        hits: Vec<SearchHit>,
    },
    Notice(Notice),
    Posted(Post),
    /// A join or post was refused until the circle's `norms` are accepted;
    /// `request` is it, to send again once they are.
    NormsRefused {
        circle: String,
        norms: Norms,
        request: Box<Request>,
    },
    /// A request failed; `post` is what was being posted, if anything.
    Failed {
        message: String,
        post: Option<Post>,
    },
}

/// The app's end of the network task; cheap to clone.
#[derive(Clone, Debug)]
pub struct NetHandle {
    tx: mpsc::Sender<Request>,
}

impl NetHandle {
    /// Queues a request without waiting; a request that does not fit is
    /// dropped (the queue holds far more than a person can type).
    pub fn send(&self, request: Request) {
        let _ = self.tx.try_send(request);
    }
}

/// Starts the network task for `server`, signing in with `token`.
/// Ends when the handle is dropped, once the requests already made are done.
pub fn spawn(server: String, token: String) -> (NetHandle, NetRx, JoinHandle<()>) {
    let (tx, requests) = mpsc::channel(256);
    let (ui, rx) = mpsc::channel(1024);
    let task = NetTask {
        server,
        token,
        ui,
        requests,
    };
    let done = tokio::spawn(task.run());
    (NetHandle { tx }, rx, done)
}

struct NetTask {
    server: String,
    token: String,
    ui: NetTx,
    requests: mpsc::Receiver<Request>,
}

impl NetTask {
    async fn run(mut self) {
        let mut backoff = Backoff::new();
        loop {
            if self.ui.send(NetMsg::Connecting).await.is_err() {
                return;
            }
            let reason = match self.connect().await {
                Ok((connection, handle)) => {
                    backoff.reset();
                    if self.ui.send(NetMsg::Connected { handle }).await.is_err() {
                        return;
                    }
                    match self.serve(connection).await {
                        Some(reason) => reason,
                        None => return, // the app has quit
                    }
                }
                Err(CliError::Auth(message)) => {
                    let _ = self.ui.send(NetMsg::SignedOut(message)).await;
                    return;
                }
                Err(err) => err.to_string(),
            };
            let retry_in = backoff.step();
            let msg = NetMsg::Disconnected { reason, retry_in };
            if self.ui.send(msg).await.is_err() || !self.wait(retry_in).await {
                return;
            }
        }
    }

    async fn connect(&self) -> Result<(Connection, String), CliError> {
        let connection = Connection::connect(&self.server).await?;
        let who = sign_in_with_token(&connection, self.token.clone()).await?;
        Ok((connection, who.handle))
    }

    /// Serves one connection until it closes (`Some(reason)`) or the app
    /// quits (`None`).
    async fn serve(&mut self, mut connection: Connection) -> Option<String> {
        let caller = connection.caller();
        match caller.call::<m::CircleList>(m::Empty {}).await {
            Ok(list) => self.ui.send(NetMsg::Circles(list.circles)).await.ok()?,
            Err(err) => return Some(CliError::from(err).to_string()),
        }
        let mut calls = JoinSet::new();
        loop {
            tokio::select! {
                request = self.requests.recv() => match request {
                    Some(request) => {
                        calls.spawn(perform(caller.clone(), self.ui.clone(), request));
                    }
                    None => {
                        // The app has quit: let what it asked last (read
                        // markers) reach the server.
                        while calls.join_next().await.is_some() {}
                        return None;
                    }
                },
                Some(_) = calls.join_next(), if !calls.is_empty() => {}
                notice = connection.next_notice() => match notice {
                    Some(notice) => self.ui.send(NetMsg::Notice(notice)).await.ok()?,
                    None => break,
                },
            }
        }
        // Calls in flight fail on their own and report it (a post's text
        // goes back to the compose line).
        calls.detach_all();
        Some(
            connection
                .closed()
                .await
                .unwrap_or_else(|| "the server closed the connection".into()),
        )
    }

    /// Waits before reconnecting; posts asked for meanwhile fail at once so
    /// their text goes back to the compose line. `false` if the app quit.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                request = self.requests.recv() => match request {
                    None => return false,
                    Some(request @ (Request::Post(_) | Request::AcceptNorms { .. })) => {
                        let message = "not connected: it is sent once the status bar says connected".into();
                        let failed = NetMsg::Failed { message, post: request.into_post() };
                        if self.ui.send(failed).await.is_err() {
                            return false;
                        }
                    }
                    Some(Request::Search { query, circle }) => {
                        let hits = Err("not connected: search again once the status bar says connected".into());
                        if self.ui.send(NetMsg::Found { query, circle, hits }).await.is_err() {
                            return false;
                        }
                    }
                    // Loads and subscriptions are asked for again after
                    // reconnecting; read markers are sent again on the next tick.
                    Some(_) => {}
                },
            }
        }
    }
}

/// Carries out one request on the connection and reports the outcome.
async fn perform(caller: Caller, ui: NetTx, request: Request) {
    let outcome = match request {
        Request::Load { circle } => load(&caller, &ui, circle).await,
        Request::Subscribe { circle, since } => {
            let params = m::Subscribe {
                circle: circle.clone(),
                since: Some(since),
            };
            match caller.call::<m::CircleSubscribe>(params).await {
                Ok(_) => None,
                Err(err) => Some(failed(format!("cannot follow {circle}"), err, None)),
            }
        }
        Request::Post(post) => match send_post(&caller, &post).await {
            Ok(similar) => {
                let title = match &post {
                    Post::Problem { title, .. } => title.clone(),
                    _ => String::new(),
                };
                if ui.send(NetMsg::Posted(post)).await.is_err() {
                    return;
                }
                (!similar.is_empty()).then_some(NetMsg::Similar {
                    title,
                    hits: similar,
                })
            }
            Err(err) => Some(
                norms_refused(&err, post.circle(), || Request::Post(post.clone())).unwrap_or_else(
                    || {
                        failed(
                            format!("the {} was not posted", post.noun()),
                            err,
                            Some(post),
                        )
                    },
                ),
            ),
        },
        Request::MarkRead { circle, seq } => {
            // Best effort: a marker that does not reach the server is sent again.
            let _ = caller
                .call::<m::CircleRead>(m::MarkRead { circle, seq })
                .await;
            None
        }
        Request::Join { circle } => {
            let params = m::JoinCircle {
                circle: circle.clone(),
                invite: None,
            };
            Some(match caller.call::<m::CircleJoin>(params).await {
                Ok(joined) => NetMsg::Joined(joined.circle),
                Err(err) => norms_refused(&err, &circle, || Request::Join {
                    circle: circle.clone(),
                })
                .unwrap_or_else(|| failed(format!("cannot join {circle}"), err, None)),
            })
        }
        Request::AcceptNorms {
            circle,
            version,
            then,
        } => {
            let params = m::AcceptNorms {
                circle: circle.clone(),
                version,
                invite: None,
            };
            match caller.call::<m::CircleNormsAccept>(params).await {
                Ok(_) => return Box::pin(perform(caller, ui, *then)).await,
                // Changed meanwhile: the new version is asked about instead.
                Err(err) => norms_refused(&err, &circle, || (*then).clone()).or_else(|| {
                    Some(failed(
                        format!("cannot accept the norms of {circle}"),
                        err,
                        then.into_post(),
                    ))
                }),
            }
        }
        Request::Members { circle } => {
            let params = m::CircleRef {
                circle: circle.clone(),
            };
            Some(match caller.call::<m::CircleMembers>(params).await {
                Ok(found) => NetMsg::Members {
                    circle,
                    members: found.members,
                    norms: found.norms,
                },
                Err(err) => failed(format!("cannot ask about {circle}"), err, None),
            })
        }
        Request::Digest { circle } => {
            let params = m::DigestParams {
                circle: circle.clone(),
                since: None,
            };
            Some(match caller.call::<m::CircleDigest>(params).await {
                Ok(digest) => NetMsg::Digest {
                    circle,
                    digest: Box::new(digest),
                },
                Err(err) => failed(format!("no digest of {circle}"), err, None),
            })
        }
        Request::ListCircles => Some(match caller.call::<m::CircleList>(m::Empty {}).await {
            Ok(list) => NetMsg::Circles(list.circles),
            Err(err) => failed("cannot list circles".into(), err, None),
        }),
        Request::Stats { circle } => {
            let params = m::StatsWindow {
                circle: circle.clone(),
                since: None,
                until: None,
            };
            Some(match caller.call::<m::CircleStats>(params).await {
                Ok(result) => NetMsg::Stats {
                    circle,
                    stats: result.stats,
                },
                Err(err) => failed(format!("no stats for {circle}"), err, None),
            })
        }
        Request::ExportCase {
            circle,
            problem,
            anonymise,
            file,
        } => {
            let params = m::ExportProblem {
                circle,
                problem,
                anonymise: Some(anonymise),
            };
            Some(match caller.call::<m::ProblemExport>(params).await {
                Ok(case) => match tokio::fs::write(&file, case.markdown).await {
                    Ok(()) => NetMsg::Exported(std::path::absolute(&file).unwrap_or(file)),
                    Err(err) => NetMsg::Failed {
                        message: format!("cannot write {}: {err}", file.display()),
                        post: None,
                    },
                },
                Err(err) => failed("no case study".into(), err, None),
            })
        }
        Request::Search { query, circle } => {
            let params = m::SearchQuery {
                query: query.clone(),
                circle: circle.clone(),
                limit: None,
            };
            let hits = caller
                .call::<m::Search>(params)
                .await
                .map(|found| found.hits)
                .map_err(|err| CliError::from(err).to_string());
            Some(NetMsg::Found {
                query,
                circle,
                hits,
            })
        }
    };
    if let Some(msg) = outcome {
        let _ = ui.send(msg).await;
    }
}

/// A refusal that carries the circle's norms: the app asks whether to
/// accept them, then sends `request` again.
fn norms_refused(
    err: &ClientError,
    circle: &str,
    request: impl FnOnce() -> Request,
) -> Option<NetMsg> {
    match err {
        ClientError::Server(e) => e.norms().map(|norms| NetMsg::NormsRefused {
            circle: circle.to_owned(),
            norms: norms.clone(),
            request: Box::new(request()),
        }),
        _ => None,
    }
}

fn failed(what: String, err: ClientError, post: Option<Post>) -> NetMsg {
    NetMsg::Failed {
        message: format!("{what}: {}", CliError::from(err)),
        post,
    }
}

/// Recent history, then members, then the subscription from the history's
/// last seq: the page reaches the app before any event of the backlog.
async fn load(caller: &Caller, ui: &NetTx, circle: String) -> Option<NetMsg> {
    let mut events: Vec<Event> = Vec::new();
    let mut before = None;
    for _ in 0..HISTORY_PAGES {
        let params = m::History {
            circle: circle.clone(),
            before,
            limit: Some(HISTORY_PAGE),
        };
        let page = match caller.call::<m::CircleHistory>(params).await {
            Ok(page) => page,
            Err(err) => return Some(failed(format!("cannot load {circle}"), err, None)),
        };
        let first = page.events.first().map(|e| e.seq);
        let mut older = page.events;
        older.append(&mut events);
        events = older;
        match (page.more, first) {
            (true, Some(first)) => before = Some(first),
            _ => break,
        }
    }
    let since = events.last().map_or(0, |e| e.seq);
    let history = NetMsg::History {
        circle: circle.clone(),
        events,
    };
    ui.send(history).await.ok()?;
    let params = m::Subscribe {
        circle: circle.clone(),
        since: Some(since),
    };
    if let Err(err) = caller.call::<m::CircleSubscribe>(params).await {
        return Some(failed(format!("cannot follow {circle}"), err, None));
    }
    let members = caller
        .call::<m::CircleMembers>(m::CircleRef {
            circle: circle.clone(),
        })
        .await
        .ok()?;
    Some(NetMsg::Members {
        circle,
        members: members.members,
        norms: members.norms,
    })
}

/// Sends the post; a problem's answer names similar problems elsewhere.
async fn send_post(caller: &Caller, post: &Post) -> Result<Vec<SearchHit>, ClientError> {
    match post.clone() {
        Post::Note { circle, body } => {
            caller
                .call::<m::PostNote>(m::NewNote { circle, body })
                .await?;
        }
        Post::Problem {
            circle,
            title,
            body,
        } => {
            let params = m::NewProblem {
                circle,
                title,
                body,
                tags: None,
            };
            return Ok(caller.call::<m::PostProblem>(params).await?.similar);
        }
        Post::Critique {
            circle,
            problem,
            stance,
            body,
            ..
        } => {
            let params = m::NewCritique {
                circle,
                problem,
                body,
                stance: Some(stance),
            };
            caller.call::<m::PostCritique>(params).await?;
        }
        Post::Metoo { circle, problem } => {
            let params = m::ProblemRef { circle, problem };
            caller.call::<m::ProblemMetoo>(params).await?;
        }
        Post::Resolve {
            circle,
            problem,
            helpful,
        } => {
            let params = m::Resolve {
                circle,
                problem,
                helpful: (!helpful.is_empty()).then_some(helpful),
                summary: None,
            };
            caller.call::<m::ProblemResolve>(params).await?;
        }
        Post::Accept {
            circle,
            problem,
            critique,
        } => {
            let params = m::AcceptCritique {
                circle,
                problem,
                critique,
            };
            caller.call::<m::ProblemAccept>(params).await?;
        }
        Post::Reflect {
            circle,
            problem,
            usefulness,
            text,
            ..
        } => {
            let params = m::NewReflection {
                circle,
                problem,
                text,
                usefulness,
            };
            caller.call::<m::ProblemReflect>(params).await?;
        }
        Post::Meeting {
            circle,
            at,
            title,
            agenda,
        } => {
            let params = m::ScheduleMeeting {
                circle,
                at,
                agenda,
                title: (!title.is_empty()).then_some(title),
            };
            caller.call::<m::MeetingSchedule>(params).await?;
        }
        Post::Norms { circle, text } => {
            caller
                .call::<m::CircleNormsSet>(m::SetNorms { circle, text })
                .await?;
        }
    }
    Ok(Vec::new())
}
