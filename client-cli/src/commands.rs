//! Each subcommand: connect, sign in with the saved token, make the call,
//! print the result (as text, or as JSON with `--json`).

use std::io::{IsTerminal, Read};

use circles_protocol::ErrorKind;
use circles_protocol::methods::{self as m, Method};
use circles_protocol::model::{Norms, ProblemStatus, Visibility};

use crate::cli::{Cli, Command};
use crate::client::{ClientError, Connection, normalize_url};
use crate::config::{DEFAULT_SERVER, Saved};
use crate::error::{CliError, CliResult};
use crate::ids::{PostKind, resolve, short};
use crate::output;

/// What every command needs: where the server is, who we are, how to print.
pub struct Ctx {
    pub saved: Saved,
    pub server: String,
    pub json: bool,
}

impl Ctx {
    /// Whether output may use terminal emphasis (bold): stdout is a terminal.
    pub fn emphasis(&self) -> bool {
        use std::io::IsTerminal;
        !self.json && std::io::stdout().is_terminal()
    }

    pub fn new(cli: &Cli) -> CliResult<Ctx> {
        let saved = Saved::load()?;
        let server = cli
            .server
            .clone()
            .or_else(|| saved.server.clone())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        Ok(Ctx {
            saved,
            server: normalize_url(&server),
            json: cli.json,
        })
    }

    pub async fn connect(&self) -> CliResult<Connection> {
        Ok(Connection::connect(&self.server).await?)
    }

    /// The saved token, if it is for this server.
    pub fn token(&self) -> CliResult<String> {
        let same_server =
            self.saved.server.as_deref().map(normalize_url) == Some(self.server.clone());
        match (&self.saved.token, same_server) {
            (Some(token), true) => Ok(token.clone()),
            _ => Err(CliError::Auth(format!(
                "not signed in to {}: run `circles login HANDLE` (or `circles register HANDLE`) first",
                self.server
            ))),
        }
    }

    /// A connection signed in with the saved token.
    pub async fn signed_in(&self) -> CliResult<Connection> {
        // Connect first: an unreachable server is the news, whatever the token.
        let connection = self.connect().await?;
        let token = self.token()?;
        sign_in_with_token(&connection, token).await?;
        Ok(connection)
    }
}

pub async fn sign_in_with_token(connection: &Connection, token: String) -> CliResult<m::WhoAmI> {
    match connection
        .call::<m::AuthToken>(m::TokenLogin { token })
        .await
    {
        Ok(who) => Ok(who),
        Err(ClientError::Server(e)) if e.kind() == ErrorKind::Unauthenticated => {
            Err(CliError::Auth(
                "your sign-in has expired or was revoked: run `circles login` again".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn run(cli: Cli) -> CliResult<()> {
    if let Some(Command::Completions { shell }) = &cli.command {
        // Needs no config: works even where the config is broken.
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(*shell, &mut command, "circles", &mut std::io::stdout());
        return Ok(());
    }
    let ctx = Ctx::new(&cli)?;
    let Some(command) = cli.command else {
        return crate::tui::run(ctx).await;
    };
    match command {
        Command::Register {
            handle,
            display_name,
            invite,
        } => {
            let password = password(&handle, true)?;
            let connection = ctx.connect().await?;
            let params = m::Register {
                handle,
                password,
                display_name,
                invite,
            };
            let session = connection.call::<m::AuthRegister>(params).await?;
            let json = ctx.json;
            save_session(ctx, &session)?;
            if json {
                output::json(&serde_json::json!({ "handle": session.handle }));
            } else {
                println!("Registered and signed in as {}.", session.handle);
            }
        }
        Command::Login { handle } => {
            let Some(handle) = handle.or_else(|| ctx.saved.handle.clone()) else {
                return Err(CliError::Usage(
                    "which account? `circles login HANDLE`".into(),
                ));
            };
            let password = password(&handle, false)?;
            let connection = ctx.connect().await?;
            let session = connection
                .call::<m::AuthLogin>(m::Login { handle, password })
                .await?;
            let json = ctx.json;
            save_session(ctx, &session)?;
            if json {
                output::json(&serde_json::json!({ "handle": session.handle }));
            } else {
                println!("Signed in as {}.", session.handle);
            }
        }
        Command::Logout => {
            if let Ok(connection) = ctx.signed_in().await {
                connection.call::<m::AuthLogout>(m::Empty {}).await?;
            }
            let mut saved = ctx.saved;
            saved.token = None;
            saved.store()?;
            println!("Signed out.");
        }
        Command::List => {
            let connection = ctx.signed_in().await?;
            let list = connection.call::<m::CircleList>(m::Empty {}).await?;
            if ctx.json {
                output::json(&list)
            } else {
                output::circles(&list.circles)
            }
        }
        Command::Mentions => {
            let connection = ctx.signed_in().await?;
            let me = ctx.saved.handle.clone().unwrap_or_default();
            let found = unread_mentions(&connection, &me).await?;
            if ctx.json {
                let found: Vec<_> = found
                    .into_iter()
                    .map(|(circle, event)| serde_json::json!({ "circle": circle, "event": event }))
                    .collect();
                output::json(&found);
            } else {
                output::mentions(&found);
            }
        }
        Command::Create {
            slug,
            name,
            purpose,
            private,
            max_members,
        } => {
            let connection = ctx.signed_in().await?;
            let visibility = Some(if private {
                Visibility::Private
            } else {
                Visibility::Public
            });
            let params = m::CreateCircle {
                slug,
                name,
                purpose,
                visibility,
                max_members,
            };
            let created = connection.call::<m::CircleCreate>(params).await?;
            if ctx.json {
                output::json(&created);
            } else {
                print!("Created ");
                output::circle(&created.circle);
            }
        }
        Command::Join { slug, invite } => {
            let connection = ctx.signed_in().await?;
            let params = m::JoinCircle {
                circle: slug.clone(),
                invite: invite.clone(),
            };
            let joined = consenting::<m::CircleJoin>(&connection, &slug, invite.as_deref(), params)
                .await
                .map_err(|err| match err {
                    CliError::Norms { circle, norms, .. } => CliError::Norms {
                        circle,
                        norms,
                        invite,
                    },
                    other => other,
                })?;
            if ctx.json {
                output::json(&joined);
            } else {
                print!("Joined ");
                output::circle(&joined.circle);
            }
        }
        Command::Leave { slug } => {
            let connection = ctx.signed_in().await?;
            connection
                .call::<m::CircleLeave>(m::CircleRef {
                    circle: slug.clone(),
                })
                .await?;
            if ctx.json {
                output::json(&m::Empty {});
            } else {
                println!("You left {slug}.");
            }
        }
        Command::Invite { slug } => {
            let connection = ctx.signed_in().await?;
            let invite = connection
                .call::<m::CircleInvite>(m::CircleRef {
                    circle: slug.clone(),
                })
                .await?;
            if ctx.json {
                output::json(&invite);
            } else {
                println!("{}", invite.invite);
                eprintln!(
                    "Share it: `circles join {slug} --invite {}` (valid until {}).",
                    invite.invite,
                    output::time(invite.expires_at)
                );
            }
        }
        Command::Members { slug } => {
            let connection = ctx.signed_in().await?;
            let members = connection
                .call::<m::CircleMembers>(m::CircleRef { circle: slug })
                .await?;
            if ctx.json {
                output::json(&members)
            } else {
                output::members(&members.members)
            }
        }
        Command::Norms {
            slug,
            set: true,
            text,
            ..
        } => {
            let text = body_input(text, true, "norms text").await?;
            let connection = ctx.signed_in().await?;
            let params = m::SetNorms { circle: slug, text };
            posted(&ctx, connection.call::<m::CircleNormsSet>(params).await?);
        }
        Command::Norms {
            slug,
            accept: true,
            invite,
            ..
        } => {
            let connection = ctx.signed_in().await?;
            let norms = norms_to_accept(&connection, &slug, invite.as_deref()).await?;
            if !ctx.json {
                println!("{}", output::norms(&slug, &norms));
            }
            let params = m::AcceptNorms {
                circle: slug,
                version: norms.version,
                invite,
            };
            posted(&ctx, connection.call::<m::CircleNormsAccept>(params).await?);
        }
        Command::Norms { slug, .. } => {
            let connection = ctx.signed_in().await?;
            let members = connection
                .call::<m::CircleMembers>(m::CircleRef {
                    circle: slug.clone(),
                })
                .await?;
            let me = ctx.saved.handle.as_deref();
            match &members.norms {
                _ if ctx.json => output::json(&members.norms),
                None => println!("{slug} has no norms yet."),
                Some(norms) => {
                    print!("{}", output::norms(&slug, norms));
                    let mine = members
                        .members
                        .iter()
                        .find(|m| Some(m.handle.as_str()) == me);
                    match mine {
                        Some(m) if m.accepted_norms >= norms.version => {
                            println!("\nYou accepted this version.")
                        }
                        Some(_) => println!(
                            "\nYou have not accepted this version yet: `circles norms {slug} --accept`."
                        ),
                        None => {}
                    }
                }
            }
        }
        Command::Problem {
            slug,
            title,
            body,
            tags,
        } => {
            let body = body_input(body, false, "problem").await?;
            let connection = ctx.signed_in().await?;
            let tags = (!tags.is_empty()).then_some(tags);
            let params = m::NewProblem {
                circle: slug.clone(),
                title,
                body,
                tags,
            };
            let posted_problem =
                consenting::<m::PostProblem>(&connection, &slug, None, params).await?;
            if ctx.json {
                output::json(&posted_problem);
            } else {
                let similar = posted_problem.similar;
                posted(
                    &ctx,
                    m::EventResult {
                        event: posted_problem.event,
                    },
                );
                if !similar.is_empty() {
                    println!("Similar problems in other circles:");
                    print!("{}", output::search_hits(&similar, ctx.emphasis()));
                }
            }
        }
        Command::Critique {
            slug,
            problem,
            body,
            stance,
        } => {
            let connection = ctx.signed_in().await?;
            let problem = resolve(&connection.caller(), &slug, &problem, PostKind::Problem).await?;
            let body = body_input(body, true, "critique").await?;
            let params = m::NewCritique {
                circle: slug.clone(),
                problem,
                body,
                stance: stance.map(Into::into),
            };
            posted(
                &ctx,
                consenting::<m::PostCritique>(&connection, &slug, None, params).await?,
            );
        }
        Command::Note { slug, text } => {
            let connection = ctx.signed_in().await?;
            let params = m::NewNote {
                circle: slug.clone(),
                body: text,
            };
            posted(
                &ctx,
                consenting::<m::PostNote>(&connection, &slug, None, params).await?,
            );
        }
        Command::Resolve {
            slug,
            problem,
            helpful,
            summary,
        } => {
            let connection = ctx.signed_in().await?;
            let caller = connection.caller();
            let problem = resolve(&caller, &slug, &problem, PostKind::Problem).await?;
            let mut ids = Vec::new();
            for critique in &helpful {
                ids.push(resolve(&caller, &slug, critique, PostKind::Critique).await?);
            }
            let helpful = (!ids.is_empty()).then_some(ids);
            let params = m::Resolve {
                circle: slug.clone(),
                problem,
                helpful,
                summary,
            };
            posted(
                &ctx,
                consenting::<m::ProblemResolve>(&connection, &slug, None, params).await?,
            );
        }
        Command::Accept {
            slug,
            problem,
            critique,
        } => {
            let connection = ctx.signed_in().await?;
            let caller = connection.caller();
            let problem = resolve(&caller, &slug, &problem, PostKind::Problem).await?;
            let critique = resolve(&caller, &slug, &critique, PostKind::Critique).await?;
            let params = m::AcceptCritique {
                circle: slug,
                problem,
                critique,
            };
            posted(&ctx, connection.call::<m::ProblemAccept>(params).await?);
        }
        Command::Reflect {
            slug,
            problem,
            usefulness,
            text,
        } => {
            let connection = ctx.signed_in().await?;
            let problem = resolve(&connection.caller(), &slug, &problem, PostKind::Problem).await?;
            let text = body_input(text, true, "reflection").await?;
            let params = m::NewReflection {
                circle: slug.clone(),
                problem,
                text,
                usefulness,
            };
            posted(
                &ctx,
                consenting::<m::ProblemReflect>(&connection, &slug, None, params).await?,
            );
        }
        Command::Metoo { slug, problem } => {
            let connection = ctx.signed_in().await?;
            let problem = resolve(&connection.caller(), &slug, &problem, PostKind::Problem).await?;
            let params = m::ProblemRef {
                circle: slug,
                problem,
            };
            posted(&ctx, connection.call::<m::ProblemMetoo>(params).await?);
        }
        Command::Edit {
            slug,
            post,
            body,
            title,
        } => {
            let connection = ctx.signed_in().await?;
            let post = resolve(&connection.caller(), &slug, &post, PostKind::Any).await?;
            let body = match (&body, &title) {
                (None, Some(_)) => None, // only the title changes
                _ => Some(body_input(body, false, "post").await?),
            };
            let params = m::EditPost {
                circle: slug.clone(),
                post,
                body,
                title,
            };
            posted(
                &ctx,
                consenting::<m::PostEdit>(&connection, &slug, None, params).await?,
            );
        }
        Command::Retract { slug, post } => {
            let connection = ctx.signed_in().await?;
            let post = resolve(&connection.caller(), &slug, &post, PostKind::Any).await?;
            let params = m::PostRef { circle: slug, post };
            posted(&ctx, connection.call::<m::PostRetract>(params).await?);
        }
        Command::Problems {
            slug,
            open,
            resolved,
        } => {
            let connection = ctx.signed_in().await?;
            let status = match (open, resolved) {
                (true, _) => Some(ProblemStatus::Open),
                (_, true) => Some(ProblemStatus::Resolved),
                _ => None,
            };
            let list = connection
                .call::<m::ProblemList>(m::ListProblems {
                    circle: slug,
                    status,
                })
                .await?;
            if ctx.json {
                output::json(&list)
            } else {
                output::problems(&list.problems)
            }
        }
        Command::Show { slug, problem } => {
            let connection = ctx.signed_in().await?;
            let problem = resolve(&connection.caller(), &slug, &problem, PostKind::Problem).await?;
            let thread = connection
                .call::<m::ProblemGet>(m::ProblemRef {
                    circle: slug,
                    problem,
                })
                .await?;
            if ctx.json {
                output::json(&thread)
            } else {
                output::thread(&thread.problem)
            }
        }
        Command::Meeting {
            slug,
            at,
            agenda,
            title,
        } => {
            let connection = ctx.signed_in().await?;
            let caller = connection.caller();
            let mut problems = Vec::new();
            for problem in &agenda {
                problems.push(resolve(&caller, &slug, problem, PostKind::Problem).await?);
            }
            let params = m::ScheduleMeeting {
                circle: slug,
                at: crate::when::millis(at),
                agenda: problems,
                title,
            };
            posted(&ctx, connection.call::<m::MeetingSchedule>(params).await?);
        }
        Command::Digest { slug, since } => {
            let connection = ctx.signed_in().await?;
            let params = m::DigestParams {
                circle: slug,
                since: since.map(crate::when::millis),
            };
            let digest = connection.call::<m::CircleDigest>(params).await?;
            if ctx.json {
                output::json(&digest)
            } else {
                print!("{}", output::digest(&digest))
            }
        }
        Command::Stats { slug, since, until } => {
            let since = since.map(|t| when(&t, false)).transpose()?;
            let until = until.map(|t| when(&t, true)).transpose()?;
            let connection = ctx.signed_in().await?;
            let params = m::StatsWindow {
                circle: slug.clone(),
                since,
                until,
            };
            let result = connection.call::<m::CircleStats>(params).await?;
            if ctx.json {
                output::json(&result)
            } else {
                output::stats(&slug, &result.stats)
            }
        }
        Command::Search {
            words,
            circle,
            limit,
        } => {
            let connection = ctx.signed_in().await?;
            let params = m::SearchQuery {
                query: words.join(" "),
                circle,
                limit: Some(limit),
            };
            let result = connection.call::<m::Search>(params).await?;
            if ctx.json {
                output::json(&result);
            } else {
                print!("{}", output::search_hits(&result.hits, ctx.emphasis()));
            }
        }
        Command::ExportCase {
            slug,
            problem,
            anonymise,
            out,
        } => {
            let connection = ctx.signed_in().await?;
            let problem = resolve(&connection.caller(), &slug, &problem, PostKind::Problem).await?;
            let params = m::ExportProblem {
                circle: slug,
                problem,
                anonymise: Some(anonymise),
            };
            let case = connection.call::<m::ProblemExport>(params).await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &case.markdown).map_err(|e| {
                        CliError::Local(format!("cannot write {}: {e}", path.display()))
                    })?;
                    if ctx.json {
                        output::json(&serde_json::json!({ "file": path }));
                    } else {
                        println!("Wrote the case study to {}.", path.display());
                    }
                }
                None if ctx.json => output::json(&case),
                None => print!("{}", case.markdown),
            }
        }
        Command::History { slug, limit } => {
            let connection = ctx.signed_in().await?;
            let params = m::History {
                circle: slug.clone(),
                before: None,
                limit: Some(limit),
            };
            let page = connection.call::<m::CircleHistory>(params).await?;
            if let Some(last) = page.events.last() {
                mark_read(&connection, &slug, last.seq).await;
            }
            if ctx.json {
                output::json(&page);
            } else {
                let me = ctx.saved.handle.as_deref();
                for event in &page.events {
                    println!("{}", output::event_line_for(event, me));
                }
            }
        }
        Command::Tail { slug, since } => crate::follow::tail(&ctx, &slug, since).await?,
        Command::Tui => crate::tui::run(ctx).await?,
        Command::Completions { .. } => {} // answered above
    }
    Ok(())
}

/// The posts after my read markers that mention me, oldest first in each
/// circle, for the circles whose `mentions` count is not 0. A post edited to
/// mention me shows once, as its first event that does.
async fn unread_mentions(
    connection: &Connection,
    me: &str,
) -> CliResult<Vec<(String, circles_protocol::Event)>> {
    let list = connection.call::<m::CircleList>(m::Empty {}).await?;
    let mut found = Vec::new();
    for circle in list.circles.iter().filter(|c| c.mentions > 0) {
        let mut events = Vec::new();
        let mut before = None;
        loop {
            let params = m::History {
                circle: circle.slug.clone(),
                before,
                limit: Some(200),
            };
            let page = connection.call::<m::CircleHistory>(params).await?;
            let done = !page.more || page.events.first().is_none_or(|e| e.seq <= circle.read + 1);
            before = page.events.first().map(|e| e.seq);
            events.splice(0..0, page.events);
            if done {
                break;
            }
        }
        let mut posts = Vec::new();
        for event in events {
            if event.seq <= circle.read || !circles_protocol::mention::event_mentions(&event, me) {
                continue;
            }
            let Some((post, _)) = circles_protocol::mention::post_text(&event) else {
                continue;
            };
            if !posts.contains(&post) {
                posts.push(post);
                found.push((circle.slug.clone(), event));
            }
        }
    }
    Ok(found)
}

/// Moves my read marker: what was printed has been read. Not being a member
/// (a public circle) just means there is no marker to move.
pub async fn mark_read(connection: &Connection, circle: &str, seq: u64) {
    let params = m::MarkRead {
        circle: circle.to_owned(),
        seq,
    };
    let _ = connection.call::<m::CircleRead>(params).await;
}

/// A join or a post. Refused until the circle's norms are accepted, it
/// shows them at a terminal, asks, accepts them and tries once more;
/// scripts (stdin not a terminal) get the refusal.
async fn consenting<M: Method>(
    connection: &Connection,
    circle: &str,
    invite: Option<&str>,
    params: M::Params,
) -> CliResult<M::Result>
where
    M::Params: Clone,
{
    let err = match connection.call::<M>(params.clone()).await {
        Ok(result) => return Ok(result),
        Err(err) => err,
    };
    let norms = match &err {
        ClientError::Server(e) if std::io::stdin().is_terminal() => e.norms().cloned(),
        _ => None,
    };
    let Some(norms) = norms else {
        return Err(err.into());
    };
    eprintln!("{}", output::norms(circle, &norms));
    if !confirm("Accept these norms? [y/N] ")? {
        return Err(err.into());
    }
    let accept = m::AcceptNorms {
        circle: circle.to_owned(),
        version: norms.version,
        invite: invite.map(str::to_owned),
    };
    connection.call::<m::CircleNormsAccept>(accept).await?;
    Ok(connection.call::<M>(params).await?)
}

/// Asks a yes/no question on the terminal; only "y" or "yes" is yes.
fn confirm(question: &str) -> CliResult<bool> {
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::Local(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// The circle's current norms, to show before accepting them. A private
/// circle one is about to join cannot be read yet: there, accepting version
/// 0 with the invite is refused with the current norms in the error.
async fn norms_to_accept(
    connection: &Connection,
    circle: &str,
    invite: Option<&str>,
) -> CliResult<Norms> {
    let norms = match invite {
        None => {
            let params = m::CircleRef {
                circle: circle.to_owned(),
            };
            connection.call::<m::CircleMembers>(params).await?.norms
        }
        Some(code) => {
            let probe = m::AcceptNorms {
                circle: circle.to_owned(),
                version: 0,
                invite: Some(code.to_owned()),
            };
            match connection.call::<m::CircleNormsAccept>(probe).await {
                Err(ClientError::Server(e)) if e.norms().is_some() => e.norms().cloned(),
                Err(err) => return Err(err.into()),
                Ok(_) => None, // no version 0 exists to accept
            }
        }
    };
    norms.ok_or_else(|| CliError::Refused(format!("{circle} has no norms to accept")))
}

fn save_session(ctx: Ctx, session: &m::Session) -> CliResult<()> {
    let mut saved = ctx.saved;
    saved.server = Some(ctx.server);
    saved.handle = Some(session.handle.clone());
    saved.token = Some(session.token.clone());
    saved.store()?;
    Ok(())
}

/// What a write command prints: `KIND #SEQ ID`, where ID is the post it
/// made or acted on (an edit names the post edited, an accept the critique,
/// a reflection its problem), or the event as JSON.
fn posted(ctx: &Ctx, result: m::EventResult) {
    use circles_protocol::event::EventBody;
    if ctx.json {
        output::json(&result);
        return;
    }
    let event = &result.event;
    let post = match &event.body {
        EventBody::Edit { post, .. } | EventBody::Retract { post } => post,
        EventBody::Accept { critique, .. } => critique,
        EventBody::Resolve { problem, .. }
        | EventBody::Metoo { problem }
        | EventBody::Reflect { problem, .. } => problem,
        _ => &event.id,
    };
    println!("{} #{} {}", event.body.kind(), event.seq, short(post));
}

/// `--since` / `--until` of `stats`, as [`crate::when`] reads them; a bare
/// day as `until` runs to its end.
fn when(text: &str, end_of_day: bool) -> CliResult<circles_protocol::Millis> {
    let at = if end_of_day {
        crate::when::parse_until(text)
    } else {
        crate::when::parse(text)
    };
    at.map(crate::when::millis).map_err(CliError::Usage)
}

/// From `CIRCLES_PASSWORD`, else prompted without echo (twice for a new one).
fn password(handle: &str, new: bool) -> CliResult<String> {
    if let Ok(password) = std::env::var("CIRCLES_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no terminal to ask for a password: set CIRCLES_PASSWORD".into(),
        ));
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text)
            .map_err(|e| CliError::Local(format!("cannot read the password: {e}")))
    };
    let password = prompt(&format!("Password for {handle}: "))?;
    if new && prompt("Again: ")? != password {
        return Err(CliError::Usage(
            "the passwords differ; nothing was changed".into(),
        ));
    }
    Ok(password)
}

/// A post's text: `--body`, else stdin when piped, else `$EDITOR`.
async fn body_input(given: Option<String>, required: bool, what: &str) -> CliResult<String> {
    let body = match given {
        Some(body) => body,
        None if !std::io::stdin().is_terminal() => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Local(format!("cannot read stdin: {e}")))?;
            text
        }
        None => crate::editor::edit("").await.map_err(CliError::Local)?,
    };
    let body = body.trim_end().to_owned();
    if required && body.trim().is_empty() {
        return Err(CliError::Usage(format!(
            "the {what} is empty; nothing was posted"
        )));
    }
    Ok(body)
}
