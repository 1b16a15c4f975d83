//! `circle.*` for membership: create, list, join, leave, invite, members,
//! remove, and the norms members accept.

use std::sync::Arc;

use circles_protocol::event::{Event, EventBody};
use circles_protocol::methods::{
    AcceptNorms, CircleRef, CircleResult, Circles, CreateCircle, Empty, EventResult, Invite,
    JoinCircle, Members, RemoveMember, SetNorms,
};
use circles_protocol::model::{CircleInfo, Role, Visibility};
use uuid::Uuid;

use super::signed_in;
use crate::App;
use crate::circle::{CircleHandle, Draft};
use crate::credentials::new_invite_code;
use crate::error::{ApiError, ApiResult};
use crate::session::Session;
use crate::store::{CircleRecord, InviteRecord, StoreError, now_millis};
use crate::validate::{self, MAX_NORMS_BYTES};

/// How long an invite code works.
const INVITE_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;

pub async fn create(s: &mut Session, p: CreateCircle) -> ApiResult<CircleResult> {
    let handle = signed_in(s)?.handle.clone();
    validate::slug(&p.slug)?;
    let name = validate::line("name", &p.name, 80)?;
    let purpose = p.purpose.unwrap_or_default().trim().to_owned();
    validate::chars_at_most("purpose", &purpose, 2000)?;
    let cap = s.app.config.max_members_cap;
    let max_members = p.max_members.unwrap_or(12.min(cap));
    if !(2..=cap).contains(&max_members) {
        return Err(ApiError::invalid(format!(
            "max_members must be between 2 and {cap}"
        )));
    }
    let now = now_millis();
    let record = CircleRecord {
        id: Uuid::now_v7(),
        slug: p.slug,
        name,
        purpose,
        visibility: p.visibility.unwrap_or_default(),
        max_members,
        created_by: handle.clone(),
        created_at: now,
    };
    let first = Event {
        seq: 1,
        id: Uuid::now_v7(),
        author: handle.clone(),
        at: now,
        retracted: false,
        body: EventBody::Join {
            role: Role::Facilitator,
        },
    };
    let json = serde_json::to_vec(&first).map_err(|_| ApiError::internal())?;
    match s.app.store.create_circle(&record, &json) {
        Ok(ticket) => {
            ticket.durable().await?;
            s.app.metrics.events_appended.inc(); // its first event, without a circle task
        }
        Err(StoreError::Exists) => {
            return Err(ApiError::conflict(format!(
                "the slug {:?} is taken; pick another",
                record.slug
            )));
        }
        Err(err) => return Err(err.into()),
    }
    s.app.store.advance_read_marker(&handle, record.id, 1)?;
    let circle = info(&s.app, &record, &handle, Some(Role::Facilitator))?;
    Ok(CircleResult { circle })
}

pub async fn list(s: &mut Session) -> ApiResult<Circles> {
    let handle = signed_in(s)?.handle.clone();
    let mine = s.app.store.memberships(&handle)?;
    let mut circles = Vec::new();
    for record in s.app.store.circles()? {
        let role = mine
            .iter()
            .find(|(id, _)| *id == record.id)
            .map(|(_, role)| *role);
        if role.is_some() || record.visibility == Visibility::Public {
            let circle = info(&s.app, &record, &handle, role)?;
            circles.push(with_mentions(&s.app, circle, &handle).await?);
        }
    }
    Ok(Circles { circles })
}

pub async fn join(s: &mut Session, p: JoinCircle) -> ApiResult<CircleResult> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let invited = check_invite_code(&s.app, &circle, p.invite.as_deref())?;
    s.app
        .circles
        .append(circle.id, &handle, Draft::Join { invited })
        .await?;
    let record = record(&s.app, circle.id)?;
    let role = s
        .app
        .store
        .memberships(&handle)?
        .into_iter()
        .find(|(id, _)| *id == record.id)
        .map(|(_, r)| r);
    let circle = info(&s.app, &record, &handle, role)?;
    let circle = with_mentions(&s.app, circle, &handle).await?;
    Ok(CircleResult { circle })
}

/// Whether `code` (if any) is a valid invite to `circle`; a wrong one is refused.
fn check_invite_code(app: &App, circle: &CircleHandle, code: Option<&str>) -> ApiResult<bool> {
    let Some(code) = code else { return Ok(false) };
    let valid = app
        .store
        .invite(code.trim())?
        .is_some_and(|invite| invite.circle == circle.id && invite.expires_at > now_millis());
    if !valid {
        return Err(ApiError::forbidden(format!(
            "that invite code is not valid for {} (wrong or expired); ask a facilitator for a new one",
            circle.slug
        )));
    }
    Ok(true)
}

pub async fn set_norms(s: &mut Session, p: SetNorms) -> ApiResult<EventResult> {
    let handle = signed_in(s)?.handle.clone();
    let text = validate::body("text", &p.text, true, MAX_NORMS_BYTES)?
        .trim()
        .to_owned();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let event = s
        .app
        .circles
        .append(circle.id, &handle, Draft::Norms { text })
        .await?;
    Ok(EventResult { event })
}

pub async fn accept_norms(s: &mut Session, p: AcceptNorms) -> ApiResult<EventResult> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    // Members need no invite: a stale one they pass along is not refused.
    let who = handle.clone();
    let member = s
        .app
        .circles
        .inspect(circle.id, move |state| state.is_member(&who))
        .await?;
    let invited = !member && check_invite_code(&s.app, &circle, p.invite.as_deref())?;
    let draft = Draft::NormsAccept {
        version: p.version,
        invited,
    };
    let event = s.app.circles.append(circle.id, &handle, draft).await?;
    Ok(EventResult { event })
}

pub async fn leave(s: &mut Session, p: CircleRef) -> ApiResult<Empty> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    s.app
        .circles
        .append(circle.id, &handle, Draft::Leave)
        .await?;
    Ok(Empty {})
}

pub async fn invite(s: &mut Session, p: CircleRef) -> ApiResult<Invite> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let who = handle.clone();
    s.app
        .circles
        .inspect(circle.id, move |state| state.check_invite(&who))
        .await??;
    let code = new_invite_code()?;
    let expires_at = now_millis() + INVITE_TTL_MS;
    let record = InviteRecord {
        circle: circle.id,
        created_by: handle,
        expires_at,
    };
    s.app.store.create_invite(&code, &record)?.durable().await?;
    Ok(Invite {
        invite: code,
        expires_at,
    })
}

pub async fn members(s: &mut Session, p: CircleRef) -> ApiResult<Members> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let (mut members, norms) = s
        .app
        .circles
        .inspect(circle.id, move |state| {
            state
                .check_read(&handle)
                .map(|()| (state.members(), state.norms().cloned()))
        })
        .await??;
    for member in &mut members {
        member.display_name = s.app.display_name(&member.handle);
        member.online = s.app.is_online(&member.handle);
    }
    Ok(Members { members, norms })
}

pub async fn remove(s: &mut Session, p: RemoveMember) -> ApiResult<EventResult> {
    let handle = signed_in(s)?.handle.clone();
    let reason = match p.reason {
        Some(reason) if !reason.trim().is_empty() => {
            validate::chars_at_most("reason", reason.trim(), 500)?;
            Some(reason.trim().to_owned())
        }
        _ => None,
    };
    let circle = s.app.circles.by_slug(&p.circle)?;
    let draft = Draft::Remove {
        member: p.member,
        reason,
    };
    let event = s.app.circles.append(circle.id, &handle, draft).await?;
    Ok(EventResult { event })
}

fn record(app: &Arc<App>, id: Uuid) -> ApiResult<CircleRecord> {
    app.store.circle(id)?.ok_or_else(ApiError::internal)
}

/// The circle as `viewer` sees it, from the store's indexes.
fn info(
    app: &Arc<App>,
    record: &CircleRecord,
    viewer: &str,
    role: Option<Role>,
) -> ApiResult<CircleInfo> {
    let head = match app.circles.loaded(record.id) {
        Some(handle) => handle.durable_head(),
        None => app.store.head(record.id)?,
    };
    let read = if role.is_some() {
        app.store.read_marker(viewer, record.id)?.min(head)
    } else {
        0
    };
    Ok(CircleInfo {
        id: record.id,
        slug: record.slug.clone(),
        name: record.name.clone(),
        purpose: record.purpose.clone(),
        visibility: record.visibility,
        max_members: record.max_members,
        member_count: app.store.member_count(record.id)?,
        head,
        created_by: record.created_by.clone(),
        created_at: record.created_at,
        role,
        unread: if role.is_some() { head - read } else { 0 },
        mentions: 0,
        read,
    })
}

/// Fills in `circle.mentions` from the circle's state: only needed (and the
/// circle only loaded) when something is unread.
async fn with_mentions(
    app: &Arc<App>,
    mut circle: CircleInfo,
    viewer: &str,
) -> ApiResult<CircleInfo> {
    if circle.unread > 0 {
        circle.mentions = unread_mentions(app, circle.id, viewer, circle.read, circle.head).await?;
    }
    Ok(circle)
}

/// How many mentions of `viewer` lie after `read`, up to `head`.
pub async fn unread_mentions(
    app: &Arc<App>,
    circle: Uuid,
    viewer: &str,
    read: u64,
    head: u64,
) -> ApiResult<u64> {
    let viewer = viewer.to_owned();
    app.circles
        .inspect(circle, move |state| {
            state.mentions.unread(&viewer, read, head)
        })
        .await
}
