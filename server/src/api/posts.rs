//! Writing: `post.*`, `problem.resolve` / `accept` / `metoo` / `reflect` and
//! `meeting.schedule`.
//! Each validates its fields here; the circle task checks who may do it and
//! appends. Once a post is durable, the members it mentions are told.

use circles_protocol::methods::{
    AcceptCritique, EditPost, EventResult, NewCritique, NewNote, NewProblem, NewReflection,
    PostRef, ProblemPosted, ProblemRef, Resolve, ScheduleMeeting,
};

use circles_protocol::event::Event;
use circles_protocol::notify::{MentionNotice, Notice};

use super::signed_in;
use crate::App;
use crate::circle::task::notice_frame;
use crate::circle::{CircleHandle, Draft};
use crate::error::{ApiError, ApiResult};
use crate::session::Session;
use crate::store::now_millis;
use crate::validate::{self, MAX_AGENDA, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, USEFULNESS};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

async fn append(s: &mut Session, circle: &str, draft: Draft) -> ApiResult<EventResult> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(circle)?;
    let event = s.app.circles.append(circle.id, &handle, draft).await?;
    notify_mentioned(&s.app, &circle, &event).await;
    Ok(EventResult { event })
}

/// Sends `mention` to every connection of each member `event` newly mentions
/// (the circle worked out whom, as it folded the event in).
async fn notify_mentioned(app: &App, circle: &CircleHandle, event: &Event) {
    let Some((post, texts)) = circles_protocol::mention::post_text(event) else {
        return;
    };
    if !texts.into_iter().flatten().any(|text| text.contains('@')) {
        return;
    }
    let seq = event.seq;
    let mentioned = app
        .circles
        .inspect(circle.id, move |state| state.mentions.made_at(post, seq))
        .await;
    // The post stands either way; a lost notification is still counted.
    let Ok(mentioned) = mentioned else { return };
    if mentioned.is_empty() {
        return;
    }
    let frame = notice_frame(Notice::Mention(MentionNotice {
        circle: circle.slug.to_string(),
        post,
        event: event.clone(),
    }));
    for handle in mentioned {
        app.notify(&handle, &frame);
    }
}

/// A new problem, and problems like it elsewhere that its author may read:
/// someone somewhere may have solved it already.
pub async fn problem(s: &mut Session, p: NewProblem) -> ApiResult<ProblemPosted> {
    let title = validate::line("title", &p.title, MAX_TITLE_CHARS)?;
    let body = validate::body("body", &p.body, false, s.app.config.max_post_bytes)?;
    let text = format!("{title}\n{body}");
    let draft = Draft::Problem {
        title,
        body,
        tags: validate::tags(p.tags)?,
    };
    let EventResult { event } = append(s, &p.circle, draft).await?;
    // The problem stands either way: a search that fails only leaves the list empty.
    let similar = super::search::similar_elsewhere(s, &p.circle, event.id, text)
        .await
        .unwrap_or_default();
    Ok(ProblemPosted { event, similar })
}

pub async fn critique(s: &mut Session, p: NewCritique) -> ApiResult<EventResult> {
    let draft = Draft::Critique {
        problem: p.problem,
        body: validate::body("body", &p.body, true, s.app.config.max_post_bytes)?,
        stance: p.stance.unwrap_or_default(),
    };
    append(s, &p.circle, draft).await
}

pub async fn note(s: &mut Session, p: NewNote) -> ApiResult<EventResult> {
    let draft = Draft::Note {
        body: validate::body("body", &p.body, true, s.app.config.max_post_bytes)?,
    };
    append(s, &p.circle, draft).await
}

pub async fn edit(s: &mut Session, p: EditPost) -> ApiResult<EventResult> {
    if p.title.is_none() && p.body.is_none() {
        return Err(ApiError::invalid("post.edit needs a new title or body"));
    }
    let title = p
        .title
        .map(|t| validate::line("title", &t, MAX_TITLE_CHARS))
        .transpose()?;
    let body = p
        .body
        .map(|b| validate::body("body", &b, false, s.app.config.max_post_bytes))
        .transpose()?;
    append(
        s,
        &p.circle,
        Draft::Edit {
            post: p.post,
            title,
            body,
        },
    )
    .await
}

pub async fn retract(s: &mut Session, p: PostRef) -> ApiResult<EventResult> {
    append(s, &p.circle, Draft::Retract { post: p.post }).await
}

pub async fn resolve(s: &mut Session, p: Resolve) -> ApiResult<EventResult> {
    let draft = Draft::Resolve {
        problem: p.problem,
        helpful: p.helpful.unwrap_or_default(),
        summary: p
            .summary
            .map(|text| validate::optional_text("summary", &text, MAX_SUMMARY_CHARS))
            .transpose()?
            .flatten(),
    };
    append(s, &p.circle, draft).await
}

pub async fn accept(s: &mut Session, p: AcceptCritique) -> ApiResult<EventResult> {
    let draft = Draft::Accept {
        problem: p.problem,
        critique: p.critique,
    };
    append(s, &p.circle, draft).await
}

pub async fn reflect(s: &mut Session, p: NewReflection) -> ApiResult<EventResult> {
    if !USEFULNESS.contains(&p.usefulness) {
        return Err(ApiError::invalid(format!(
            "usefulness must be from {} to {}, not {}",
            USEFULNESS.start(),
            USEFULNESS.end(),
            p.usefulness
        )));
    }
    let draft = Draft::Reflect {
        problem: p.problem,
        text: validate::body("text", &p.text, true, s.app.config.max_post_bytes)?,
        usefulness: p.usefulness,
    };
    append(s, &p.circle, draft).await
}

pub async fn metoo(s: &mut Session, p: ProblemRef) -> ApiResult<EventResult> {
    append(s, &p.circle, Draft::Metoo { problem: p.problem }).await
}

pub async fn schedule_meeting(s: &mut Session, p: ScheduleMeeting) -> ApiResult<EventResult> {
    signed_in(s)?;
    let now = now_millis();
    // A meeting just held may be recorded; one in the far future is a typo.
    let earliest = now.saturating_sub(DAY_MS);
    let latest = now.saturating_add(366 * DAY_MS);
    if !(earliest..=latest).contains(&p.at) {
        let off = if p.at < now {
            format!("{} days ago", (now - p.at) / DAY_MS)
        } else {
            format!("{} days ahead", (p.at - now) / DAY_MS)
        };
        return Err(ApiError::invalid(format!(
            "at must be from a day ago to a year ahead, not {off}"
        )));
    }
    if p.agenda.len() > MAX_AGENDA {
        return Err(ApiError::invalid(format!(
            "an agenda holds at most {MAX_AGENDA} problems, not {}",
            p.agenda.len()
        )));
    }
    let draft = Draft::Meeting {
        starts_at: p.at,
        agenda: p.agenda,
        title: p
            .title
            .map(|t| validate::optional_text("title", &t, MAX_TITLE_CHARS))
            .transpose()?
            .flatten(),
    };
    append(s, &p.circle, draft).await
}
