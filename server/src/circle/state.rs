//! A circle's state as a fold over its log, and the rules for what may be
//! appended next. Pure: no I/O, no tokio, so the rules are tested directly.

use std::collections::{HashMap, HashSet};

use circles_protocol::Millis;
use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::{
    CritiqueView, MeetingView, Member, Norms, ProblemStatus, ProblemSummary, ProblemThread,
    ReflectionView, Resolution, Role, Stance, Visibility,
};
use uuid::Uuid;

use super::mentions::Mentions;
use crate::error::{ApiError, ApiResult};
use crate::store::{CircleRecord, MembershipChange};

mod digest;

/// What a member asks to append; [`CircleState::check`] turns it into an event body.
#[derive(Clone, Debug)]
pub enum Draft {
    Problem {
        title: String,
        body: String,
        tags: Vec<String>,
    },
    Critique {
        problem: Uuid,
        body: String,
        stance: Stance,
    },
    Note {
        body: String,
    },
    Edit {
        post: Uuid,
        title: Option<String>,
        body: Option<String>,
    },
    Retract {
        post: Uuid,
    },
    Resolve {
        problem: Uuid,
        helpful: Vec<Uuid>,
        summary: Option<String>,
    },
    Accept {
        problem: Uuid,
        critique: Uuid,
    },
    Metoo {
        problem: Uuid,
    },
    Reflect {
        problem: Uuid,
        text: String,
        usefulness: u8,
    },
    /// The time was checked by the caller, who knows the clock.
    Meeting {
        starts_at: Millis,
        agenda: Vec<Uuid>,
        title: Option<String>,
    },
    /// Facilitators only; the next version number is worked out here.
    Norms {
        text: String,
    },
    /// `invited`: the caller checked a valid invite code for this circle.
    NormsAccept {
        version: u64,
        invited: bool,
    },
    /// `invited`: the caller checked a valid invite code for this circle.
    Join {
        invited: bool,
    },
    Leave,
    Remove {
        member: String,
        reason: Option<String>,
    },
}

#[derive(Clone, Debug)]
struct MemberState {
    handle: String,
    role: Role,
    joined_at: Millis,
}

/// Who is in the circle, in the order they joined: the part of the state a
/// join, leave or remove changes (cheap to copy, unlike the posts).
#[derive(Clone, Debug, Default)]
struct Roster(Vec<MemberState>);

impl Roster {
    fn role_of(&self, handle: &str) -> Option<Role> {
        self.0.iter().find(|m| m.handle == handle).map(|m| m.role)
    }

    fn apply(&mut self, event: &Event) {
        match &event.body {
            EventBody::Join { role } if self.role_of(&event.author).is_none() => {
                self.0.push(MemberState {
                    handle: event.author.clone(),
                    role: *role,
                    joined_at: event.at,
                });
            }
            EventBody::Leave {} => self.drop(&event.author),
            EventBody::Remove { member, .. } => self.drop(member),
            _ => {}
        }
    }

    /// Removes a member; when the last facilitator goes, the longest-standing
    /// member takes over, so a circle is never left without a moderator.
    fn drop(&mut self, handle: &str) {
        self.0.retain(|m| m.handle != handle);
        if !self.0.iter().any(|m| m.role == Role::Facilitator) {
            if let Some(first) = self.0.first_mut() {
                first.role = Role::Facilitator;
            }
        }
    }
}

#[derive(Clone, Debug)]
enum PostKind {
    Problem,
    Critique { problem: Uuid },
    Note,
}

#[derive(Clone, Debug)]
struct Post {
    seq: u64,
    kind: PostKind,
    author: String,
    at: Millis,
    title: String,
    body: String,
    tags: Vec<String>,
    edited: bool,
    retracted: bool,
    /// Seqs of this post's edits (a retraction erases their text too).
    edit_seqs: Vec<u64>,
    // Critiques only:
    stance: Stance,
    // Problems only:
    critiques: Vec<Uuid>,
    metoos: Vec<String>,
    /// Critiques the author accepted, in the order they were accepted.
    accepted: Vec<Uuid>,
    resolution: Option<Resolution>,
    reflections: Vec<ReflectionView>,
    last_activity: Millis,
}

/// A problem as `circle.stats` counts it (see [`super::stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProblemFacts {
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub title: String,
    /// The first critique by someone other than its author (retracted ones
    /// do not count).
    pub first_answer_at: Option<Millis>,
    pub resolved_at: Option<Millis>,
    pub metoos: u32,
}

#[derive(Clone, Debug)]
pub struct CircleState {
    pub record: CircleRecord,
    /// The seq of the last event folded in.
    pub head: u64,
    members: Roster,
    /// Removed by a facilitator: they need an invite to come back.
    removed: HashSet<String>,
    posts: HashMap<Uuid, Post>,
    /// Problem ids in the order they were raised.
    problems: Vec<Uuid>,
    /// In the order they were scheduled.
    meetings: Vec<MeetingView>,
    /// Whom posts mention, and each member's mentions.
    pub mentions: Mentions,
    /// The current norms, if a facilitator set any.
    norms: Option<Norms>,
    /// The norms version each person last accepted, members or not (one
    /// may accept before joining; leaving keeps it for coming back).
    accepted_norms: HashMap<String, u64>,
}

impl CircleState {
    pub fn new(record: CircleRecord) -> Self {
        CircleState {
            record,
            head: 0,
            members: Roster::default(),
            removed: HashSet::new(),
            posts: HashMap::new(),
            problems: Vec::new(),
            meetings: Vec::new(),
            mentions: Mentions::default(),
            norms: None,
            accepted_norms: HashMap::new(),
        }
    }

    // ---- who may do what ----

    pub fn role_of(&self, handle: &str) -> Option<Role> {
        self.members.role_of(handle)
    }

    pub fn is_member(&self, handle: &str) -> bool {
        self.role_of(handle).is_some()
    }

    pub fn member_count(&self) -> u32 {
        u32::try_from(self.members.0.len()).unwrap_or(u32::MAX)
    }

    /// Public circles are readable by anyone signed in, private ones by members.
    pub fn check_read(&self, handle: &str) -> ApiResult<()> {
        if self.record.visibility == Visibility::Public || self.is_member(handle) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "circle {} is private; only its members can see it",
                self.record.slug
            )))
        }
    }

    fn check_member(&self, handle: &str) -> ApiResult<Role> {
        self.check_read(handle)?;
        self.role_of(handle).ok_or_else(|| {
            ApiError::forbidden(format!("join {} before posting in it", self.record.slug))
        })
    }

    /// Members may post once they have accepted the current norms.
    fn check_poster(&self, handle: &str) -> ApiResult<Role> {
        let role = self.check_member(handle)?;
        self.check_norms(handle, "posting")?;
        Ok(role)
    }

    fn check_norms(&self, handle: &str, doing: &str) -> ApiResult<()> {
        match &self.norms {
            Some(norms) if self.accepted_norms(handle) < norms.version => {
                Err(ApiError::norms_unaccepted(&self.record.slug, doing, norms))
            }
            _ => Ok(()),
        }
    }

    /// The norms version `handle` last accepted (0: none).
    pub fn accepted_norms(&self, handle: &str) -> u64 {
        self.accepted_norms.get(handle).copied().unwrap_or(0)
    }

    pub fn norms(&self) -> Option<&Norms> {
        self.norms.as_ref()
    }

    fn check_facilitator(&self, handle: &str, action: &str) -> ApiResult<()> {
        match self.check_member(handle)? {
            Role::Facilitator => Ok(()),
            Role::Member => Err(ApiError::forbidden(format!(
                "only a facilitator of {} can {action}",
                self.record.slug
            ))),
        }
    }

    pub fn check_invite(&self, handle: &str) -> ApiResult<()> {
        self.check_facilitator(handle, "create invites")
    }

    fn post(&self, id: Uuid) -> ApiResult<&Post> {
        self.posts
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("no post {id} in {}", self.record.slug)))
    }

    fn problem(&self, id: Uuid) -> ApiResult<&Post> {
        match self.posts.get(&id) {
            Some(post) if matches!(post.kind, PostKind::Problem) => Ok(post),
            _ => Err(ApiError::not_found(format!(
                "no problem {id} in {}",
                self.record.slug
            ))),
        }
    }

    fn live_problem(&self, id: Uuid) -> ApiResult<&Post> {
        let problem = self.problem(id)?;
        if problem.retracted {
            return Err(ApiError::not_found(format!("problem {id} was retracted")));
        }
        Ok(problem)
    }

    /// Decides whether `author` may append `draft` now, and what the event says.
    pub fn check(&self, author: &str, draft: Draft) -> ApiResult<EventBody> {
        let slug = &self.record.slug;
        match draft {
            Draft::Join { invited } => {
                if self.is_member(author) {
                    return Err(ApiError::conflict(format!(
                        "you are already a member of {slug}"
                    )));
                }
                if !invited && self.record.visibility == Visibility::Private {
                    return Err(ApiError::forbidden(format!(
                        "circle {slug} is private: ask a facilitator for an invite code"
                    )));
                }
                if !invited && self.removed.contains(author) {
                    return Err(ApiError::forbidden(format!(
                        "a facilitator removed you from {slug}: ask one for an invite code"
                    )));
                }
                if self.member_count() >= self.record.max_members {
                    return Err(ApiError::new(
                        circles_protocol::ErrorKind::CircleFull,
                        format!(
                            "circle {slug} is full ({} members)",
                            self.record.max_members
                        ),
                    ));
                }
                self.check_norms(author, "joining")?;
                let role = if self.members.0.is_empty() {
                    Role::Facilitator
                } else {
                    Role::Member
                };
                Ok(EventBody::Join { role })
            }
            Draft::Norms { text } => {
                self.check_facilitator(author, "set the norms")?;
                if self.norms.as_ref().is_some_and(|n| n.text == text) {
                    return Err(ApiError::conflict(format!(
                        "those are already the norms of {slug}"
                    )));
                }
                let version = self.norms.as_ref().map_or(1, |n| n.version + 1);
                Ok(EventBody::Norms { version, text })
            }
            Draft::NormsAccept { version, invited } => {
                if !invited {
                    self.check_read(author)?;
                }
                let Some(norms) = &self.norms else {
                    return Err(ApiError::not_found(format!(
                        "{slug} has no norms to accept"
                    )));
                };
                if version != norms.version {
                    return Err(ApiError {
                        norms: Some(Box::new(norms.clone())),
                        ..ApiError::conflict(format!(
                            "the norms of {slug} are at version {} now, not {version}: read them and accept that version",
                            norms.version
                        ))
                    });
                }
                if self.accepted_norms(author) >= version {
                    return Err(ApiError::conflict(format!(
                        "you already accepted version {version} of the norms of {slug}"
                    )));
                }
                Ok(EventBody::NormsAccept { version })
            }
            Draft::Leave => {
                if !self.is_member(author) {
                    return Err(ApiError::conflict(format!(
                        "you are not a member of {slug}"
                    )));
                }
                Ok(EventBody::Leave {})
            }
            Draft::Remove { member, reason } => {
                self.check_facilitator(author, "remove members")?;
                if member == author {
                    return Err(ApiError::forbidden(
                        "to leave a circle yourself, use circle.leave",
                    ));
                }
                match self.role_of(&member) {
                    None => Err(ApiError::not_found(format!(
                        "{member} is not a member of {slug}"
                    ))),
                    Some(Role::Facilitator) => Err(ApiError::forbidden(format!(
                        "{member} is a facilitator; facilitators cannot be removed"
                    ))),
                    Some(Role::Member) => Ok(EventBody::Remove { member, reason }),
                }
            }
            Draft::Problem { title, body, tags } => {
                self.check_poster(author)?;
                Ok(EventBody::Problem { title, body, tags })
            }
            Draft::Critique {
                problem,
                body,
                stance,
            } => {
                self.check_poster(author)?;
                self.live_problem(problem)?;
                Ok(EventBody::Critique {
                    problem,
                    body,
                    stance,
                })
            }
            Draft::Note { body } => {
                self.check_poster(author)?;
                Ok(EventBody::Note { body })
            }
            Draft::Edit { post, title, body } => {
                self.check_poster(author)?;
                let target = self.post(post)?;
                if target.author != author {
                    return Err(ApiError::forbidden("only the author can edit a post"));
                }
                if target.retracted {
                    return Err(ApiError::conflict(
                        "that post was retracted; it cannot be edited",
                    ));
                }
                if title.is_some() && !matches!(target.kind, PostKind::Problem) {
                    return Err(ApiError::invalid("only problems have a title"));
                }
                let needs_text = !matches!(target.kind, PostKind::Problem);
                if needs_text && body.as_deref().is_some_and(|b| b.trim().is_empty()) {
                    return Err(ApiError::invalid("body must not be empty"));
                }
                Ok(EventBody::Edit { post, title, body })
            }
            Draft::Retract { post } => {
                let role = self.check_member(author)?;
                let target = self.post(post)?;
                if target.author != author && role != Role::Facilitator {
                    return Err(ApiError::forbidden(
                        "only the author or a facilitator can retract a post",
                    ));
                }
                if target.retracted {
                    return Err(ApiError::conflict("that post is already retracted"));
                }
                Ok(EventBody::Retract { post })
            }
            Draft::Resolve {
                problem,
                helpful,
                summary,
            } => {
                self.check_poster(author)?;
                let target = self.live_problem(problem)?;
                if target.author != author {
                    return Err(ApiError::forbidden(
                        "only the member who raised a problem can mark it resolved",
                    ));
                }
                if target.resolution.is_some() {
                    return Err(ApiError::conflict("that problem is already resolved"));
                }
                let mut seen = HashSet::new();
                for id in &helpful {
                    let is_its_critique = matches!(
                        self.posts.get(id),
                        Some(Post { kind: PostKind::Critique { problem: p }, retracted: false, .. }) if *p == problem
                    );
                    if !is_its_critique {
                        return Err(ApiError::invalid(format!(
                            "helpful: {id} is not a critique of this problem"
                        )));
                    }
                    if !seen.insert(*id) {
                        return Err(ApiError::invalid(format!("helpful: {id} is named twice")));
                    }
                }
                Ok(EventBody::Resolve {
                    problem,
                    helpful,
                    summary,
                })
            }
            Draft::Accept { problem, critique } => {
                self.check_member(author)?;
                let target = self.live_problem(problem)?;
                if target.author != author {
                    return Err(ApiError::forbidden(
                        "only the member who raised a problem can accept its critiques",
                    ));
                }
                match self.posts.get(&critique) {
                    Some(Post {
                        kind: PostKind::Critique { problem: p },
                        retracted,
                        ..
                    }) if *p == problem => {
                        if *retracted {
                            return Err(ApiError::not_found(format!(
                                "critique {critique} was retracted"
                            )));
                        }
                    }
                    _ => {
                        return Err(ApiError::not_found(format!(
                            "no critique {critique} of problem {problem}"
                        )));
                    }
                }
                if target.accepted.contains(&critique) {
                    return Err(ApiError::conflict("that critique is already accepted"));
                }
                Ok(EventBody::Accept { problem, critique })
            }
            Draft::Reflect {
                problem,
                text,
                usefulness,
            } => {
                self.check_poster(author)?;
                let target = self.live_problem(problem)?;
                if target.resolution.is_none() {
                    return Err(ApiError::conflict(
                        "that problem is still open: reflections come after it is resolved, so resolve it first",
                    ));
                }
                if target.reflections.iter().any(|r| r.author == author) {
                    return Err(ApiError::conflict(
                        "you already wrote a reflection on this problem",
                    ));
                }
                Ok(EventBody::Reflect {
                    problem,
                    text,
                    usefulness,
                })
            }
            Draft::Meeting {
                starts_at,
                agenda,
                title,
            } => {
                self.check_facilitator(author, "schedule meetings")?;
                let mut seen = HashSet::new();
                for id in &agenda {
                    self.live_problem(*id)?;
                    if !seen.insert(*id) {
                        return Err(ApiError::invalid(format!(
                            "agenda: problem {id} is named twice"
                        )));
                    }
                }
                Ok(EventBody::Meeting {
                    starts_at,
                    agenda,
                    title,
                })
            }
            Draft::Metoo { problem } => {
                self.check_member(author)?;
                let target = self.live_problem(problem)?;
                if target.author == author {
                    return Err(ApiError::conflict("you raised this problem yourself"));
                }
                if target.metoos.iter().any(|h| h == author) {
                    return Err(ApiError::conflict(
                        "you already said you have this problem too",
                    ));
                }
                Ok(EventBody::Metoo { problem })
            }
        }
    }

    // ---- the fold ----

    /// Folds one event in. Events come from the log in seq order; ones that
    /// refer to unknown posts (impossible if appended through `check`) are
    /// skipped rather than trusted.
    pub fn apply(&mut self, event: &Event) {
        self.head = event.seq;
        let author = event.author.as_str();
        self.members.apply(event);
        self.fold_mentions(event);
        match &event.body {
            EventBody::Join { .. } => {
                self.removed.remove(author);
            }
            EventBody::Leave {} => {}
            EventBody::Norms { version, text } => {
                self.norms = Some(Norms {
                    version: *version,
                    text: text.clone(),
                    set_by: author.to_owned(),
                    at: event.at,
                });
                self.accepted_norms.insert(author.to_owned(), *version);
            }
            EventBody::NormsAccept { version } => {
                let accepted = self.accepted_norms.entry(author.to_owned()).or_default();
                *accepted = (*accepted).max(*version);
            }
            EventBody::Remove { member, .. } => {
                self.removed.insert(member.clone());
            }
            EventBody::Problem { title, body, tags } => {
                self.problems.push(event.id);
                self.posts.insert(
                    event.id,
                    Post::new(
                        event,
                        PostKind::Problem,
                        title.clone(),
                        body.clone(),
                        tags.clone(),
                    ),
                );
            }
            EventBody::Critique {
                problem,
                body,
                stance,
            } => {
                let mut post = Post::new(
                    event,
                    PostKind::Critique { problem: *problem },
                    String::new(),
                    body.clone(),
                    Vec::new(),
                );
                post.stance = *stance;
                self.posts.insert(event.id, post);
                if let Some(target) = self.posts.get_mut(problem) {
                    target.critiques.push(event.id);
                    target.last_activity = event.at;
                }
            }
            EventBody::Note { .. } => {
                // A note's text is only ever read from the log, never from
                // here: a busy circle's memory need not grow with its chat.
                let post = Post::new(
                    event,
                    PostKind::Note,
                    String::new(),
                    String::new(),
                    Vec::new(),
                );
                self.posts.insert(event.id, post);
            }
            EventBody::Edit { post, title, body } => {
                if let Some(target) = self.posts.get_mut(post) {
                    if let Some(title) = title {
                        target.title.clone_from(title);
                    }
                    if let Some(body) = body.as_ref().filter(|_| !target.is_note()) {
                        target.body.clone_from(body);
                    }
                    target.edited = true;
                    target.edit_seqs.push(event.seq);
                    target.last_activity = event.at;
                    let problem = target.problem_id(*post);
                    self.touch(problem, event.at);
                }
            }
            EventBody::Retract { post } => {
                if let Some(target) = self.posts.get_mut(post) {
                    target.retracted = true;
                    target.title.clear();
                    target.body.clear();
                    target.tags.clear();
                }
            }
            EventBody::Resolve {
                problem,
                helpful,
                summary,
            } => {
                if let Some(target) = self.posts.get_mut(problem) {
                    target.resolution = Some(Resolution {
                        seq: event.seq,
                        by: author.to_owned(),
                        at: event.at,
                        helpful: helpful.clone(),
                        summary: summary.clone(),
                    });
                    target.last_activity = event.at;
                }
            }
            EventBody::Accept { problem, critique } => {
                if let Some(target) = self.posts.get_mut(problem) {
                    if !target.accepted.contains(critique) {
                        target.accepted.push(*critique);
                    }
                    target.last_activity = event.at;
                }
            }
            EventBody::Reflect {
                problem,
                text,
                usefulness,
            } => {
                if let Some(target) = self.posts.get_mut(problem) {
                    target.reflections.push(ReflectionView {
                        id: event.id,
                        seq: event.seq,
                        author: author.to_owned(),
                        at: event.at,
                        text: text.clone(),
                        usefulness: *usefulness,
                    });
                    target.last_activity = event.at;
                }
            }
            EventBody::Meeting {
                starts_at,
                agenda,
                title,
            } => self.meetings.push(MeetingView {
                id: event.id,
                seq: event.seq,
                by: author.to_owned(),
                starts_at: *starts_at,
                agenda: agenda.clone(),
                title: title.clone(),
            }),
            EventBody::Metoo { problem } => {
                if let Some(target) = self.posts.get_mut(problem) {
                    if !target.metoos.iter().any(|h| h == author) {
                        target.metoos.push(author.to_owned());
                    }
                    target.last_activity = event.at;
                }
            }
        }
    }

    /// Who `event` mentions: members other than its author named with
    /// `@handle` in a post's text (title and body) or an edit's new text.
    fn fold_mentions(&mut self, event: &Event) {
        match &event.body {
            EventBody::Retract { post } => self.mentions.retract(*post),
            EventBody::Leave {} => self.mentions.forget(&event.author),
            EventBody::Remove { member, .. } => self.mentions.forget(member),
            _ => {
                let Some((post, _)) = circles_protocol::mention::post_text(event) else {
                    return;
                };
                if !self.posts.contains_key(&post) && !event.body.is_post() {
                    return; // an edit of an unknown post
                }
                let handles: Vec<String> = circles_protocol::mention::in_event(event)
                    .into_iter()
                    .filter(|h| *h != event.author && self.is_member(h))
                    .collect();
                self.mentions.add(post, event.seq, handles);
            }
        }
    }

    fn touch(&mut self, problem: Option<Uuid>, at: Millis) {
        if let Some(target) = problem.and_then(|id| self.posts.get_mut(&id)) {
            target.last_activity = at;
        }
    }

    /// The membership index rows that `event` would change.
    pub fn membership_changes(&self, event: &Event) -> Vec<MembershipChange> {
        let mut after = self.members.clone();
        after.apply(event);
        let mut changes = Vec::new();
        for old in &self.members.0 {
            if after.role_of(&old.handle).is_none() {
                changes.push(MembershipChange::Remove(old.handle.clone()));
            }
        }
        for member in &after.0 {
            if self.members.role_of(&member.handle) != Some(member.role) {
                changes.push(MembershipChange::Set(member.handle.clone(), member.role));
            }
        }
        changes
    }

    /// The seqs whose stored text a retraction of `post` must erase.
    pub fn seqs_to_erase(&self, post: Uuid) -> Vec<u64> {
        self.posts
            .get(&post)
            .map(|p| {
                std::iter::once(p.seq)
                    .chain(p.edit_seqs.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    // ---- views ----

    /// Members in join order; `online` and `display_name` are filled in by
    /// the caller, who knows the sessions and accounts.
    pub fn members(&self) -> Vec<Member> {
        self.members
            .0
            .iter()
            .map(|m| Member {
                handle: m.handle.clone(),
                display_name: m.handle.clone(),
                role: m.role,
                online: false,
                joined_at: m.joined_at,
                accepted_norms: self.accepted_norms(&m.handle),
            })
            .collect()
    }

    pub fn member_handles(&self) -> impl Iterator<Item = &str> {
        self.members.0.iter().map(|m| m.handle.as_str())
    }

    pub fn problem_summaries(&self, status: Option<ProblemStatus>) -> Vec<ProblemSummary> {
        self.problems
            .iter()
            .filter_map(|id| self.posts.get(id).map(|p| (id, p)))
            .filter(|(_, p)| !p.retracted)
            .filter(|(_, p)| status.is_none_or(|s| p.status() == s))
            .map(|(id, p)| self.problem_summary(*id, p))
            .collect()
    }

    fn problem_summary(&self, id: Uuid, p: &Post) -> ProblemSummary {
        ProblemSummary {
            id,
            seq: p.seq,
            author: p.author.clone(),
            at: p.at,
            title: p.title.clone(),
            tags: p.tags.clone(),
            status: p.status(),
            critiques: self
                .live_critiques(p)
                .count()
                .try_into()
                .unwrap_or(u32::MAX),
            metoos: p.metoos.len().try_into().unwrap_or(u32::MAX),
            accepted: self.live_accepted(p).count().try_into().unwrap_or(u32::MAX),
            reflections: p.reflections.len().try_into().unwrap_or(u32::MAX),
            edited: p.edited,
            last_activity: p.last_activity,
        }
    }

    fn live_critiques<'a>(
        &'a self,
        problem: &'a Post,
    ) -> impl Iterator<Item = (&'a Uuid, &'a Post)> {
        problem
            .critiques
            .iter()
            .filter_map(|id| self.posts.get(id).map(|c| (id, c)))
            .filter(|(_, c)| !c.retracted)
    }

    /// The accepted critiques that are not retracted, in the order accepted.
    fn live_accepted<'a>(&'a self, problem: &'a Post) -> impl Iterator<Item = Uuid> + 'a {
        problem
            .accepted
            .iter()
            .copied()
            .filter(|id| self.posts.get(id).is_some_and(|c| !c.retracted))
    }

    /// What `circle.stats` needs of each problem not retracted, in the order
    /// they were raised.
    pub fn problem_facts(&self) -> Vec<ProblemFacts> {
        self.problems
            .iter()
            .filter_map(|id| self.posts.get(id).map(|p| (id, p)))
            .filter(|(_, p)| !p.retracted)
            .map(|(id, p)| ProblemFacts {
                id: *id,
                seq: p.seq,
                author: p.author.clone(),
                at: p.at,
                title: p.title.clone(),
                first_answer_at: self
                    .live_critiques(p)
                    .filter(|(_, c)| c.author != p.author)
                    .map(|(_, c)| c.at)
                    .min(),
                resolved_at: p.resolution.as_ref().map(|r| r.at),
                metoos: p.metoos.len().try_into().unwrap_or(u32::MAX),
            })
            .collect()
    }

    pub fn problem_thread(&self, id: Uuid) -> ApiResult<ProblemThread> {
        let p = self.problem(id)?;
        let helpful: HashSet<Uuid> = p
            .resolution
            .as_ref()
            .map(|r| r.helpful.iter().copied().collect())
            .unwrap_or_default();
        let accepted: Vec<Uuid> = self.live_accepted(p).collect();
        let critiques = p
            .critiques
            .iter()
            .filter_map(|cid| self.posts.get(cid).map(|c| (cid, c)))
            .map(|(cid, c)| CritiqueView {
                id: *cid,
                seq: c.seq,
                author: c.author.clone(),
                at: c.at,
                body: c.body.clone(),
                stance: c.stance,
                edited: c.edited,
                retracted: c.retracted,
                helpful: helpful.contains(cid),
                accepted: accepted.contains(cid),
            })
            .collect();
        Ok(ProblemThread {
            id,
            seq: p.seq,
            author: p.author.clone(),
            at: p.at,
            title: p.title.clone(),
            body: p.body.clone(),
            tags: p.tags.clone(),
            status: p.status(),
            edited: p.edited,
            retracted: p.retracted,
            metoos: p.metoos.clone(),
            resolution: p.resolution.clone(),
            accepted,
            critiques,
            reflections: p.reflections.clone(),
        })
    }
}

impl Post {
    fn new(event: &Event, kind: PostKind, title: String, body: String, tags: Vec<String>) -> Self {
        Post {
            seq: event.seq,
            kind,
            author: event.author.clone(),
            at: event.at,
            title,
            body,
            tags,
            edited: false,
            retracted: event.retracted,
            edit_seqs: Vec::new(),
            stance: Stance::default(),
            critiques: Vec::new(),
            metoos: Vec::new(),
            accepted: Vec::new(),
            resolution: None,
            reflections: Vec::new(),
            last_activity: event.at,
        }
    }

    fn status(&self) -> ProblemStatus {
        if self.resolution.is_some() {
            ProblemStatus::Resolved
        } else {
            ProblemStatus::Open
        }
    }

    fn is_note(&self) -> bool {
        matches!(self.kind, PostKind::Note)
    }

    /// The problem a post belongs to: itself, or the one it critiques.
    fn problem_id(&self, own_id: Uuid) -> Option<Uuid> {
        match self.kind {
            PostKind::Problem => Some(own_id),
            PostKind::Critique { problem } => Some(problem),
            PostKind::Note => None,
        }
    }
}

/// The stored form of a retracted event: same seq, id, author and kind, text gone.
pub fn erase(mut event: Event) -> Event {
    event.retracted = true;
    event.body = match event.body {
        EventBody::Problem { .. } => EventBody::Problem {
            title: String::new(),
            body: String::new(),
            tags: Vec::new(),
        },
        EventBody::Critique {
            problem, stance, ..
        } => EventBody::Critique {
            problem,
            body: String::new(),
            stance,
        },
        EventBody::Note { .. } => EventBody::Note {
            body: String::new(),
        },
        EventBody::Edit { post, .. } => EventBody::Edit {
            post,
            title: None,
            body: None,
        },
        other => other,
    };
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use circles_protocol::ErrorKind;

    struct Log {
        state: CircleState,
    }

    impl Log {
        fn new(visibility: Visibility, max_members: u32) -> Self {
            let record = CircleRecord {
                id: Uuid::now_v7(),
                slug: "c".into(),
                name: "C".into(),
                purpose: String::new(),
                visibility,
                max_members,
                created_by: "ana".into(),
                created_at: 0,
            };
            let mut log = Log {
                state: CircleState::new(record),
            };
            // The creator's join is written with the circle (no invite needed).
            log.ok("ana", Draft::Join { invited: true });
            log
        }

        /// The event `draft` would append, if allowed (not applied).
        fn event(&self, author: &str, draft: Draft) -> ApiResult<Event> {
            let body = self.state.check(author, draft)?;
            Ok(Event {
                seq: self.state.head + 1,
                id: Uuid::now_v7(),
                author: author.into(),
                at: self.state.head + 1,
                retracted: false,
                body,
            })
        }

        fn try_append(&mut self, author: &str, draft: Draft) -> ApiResult<Event> {
            let event = self.event(author, draft)?;
            self.state.apply(&event);
            Ok(event)
        }

        fn ok(&mut self, author: &str, draft: Draft) -> Event {
            self.try_append(author, draft).unwrap()
        }

        fn err(&mut self, author: &str, draft: Draft) -> ErrorKind {
            self.try_append(author, draft).unwrap_err().kind
        }
    }

    fn problem(title: &str) -> Draft {
        Draft::Problem {
            title: title.into(),
            body: String::new(),
            tags: vec![],
        }
    }

    fn critique(problem: Uuid) -> Draft {
        Draft::Critique {
            problem,
            body: "try this".into(),
            stance: Stance::Suggestion,
        }
    }

    fn resolve(problem: Uuid, helpful: Vec<Uuid>) -> Draft {
        Draft::Resolve {
            problem,
            helpful,
            summary: None,
        }
    }

    fn reflect(problem: Uuid, usefulness: u8) -> Draft {
        Draft::Reflect {
            problem,
            text: "Banners work better than signs.".into(),
            usefulness,
        }
    }

    fn norms(text: &str) -> Draft {
        Draft::Norms { text: text.into() }
    }

    fn accept(version: u64) -> Draft {
        Draft::NormsAccept {
            version,
            invited: false,
        }
    }

    #[test]
    fn norms_are_versioned_and_must_be_accepted_to_join_and_post() {
        let mut log = Log::new(Visibility::Public, 10);
        log.ok("bob", Draft::Join { invited: false });
        assert_eq!(log.err("bob", norms("be kind")), ErrorKind::Forbidden);
        // Setting the norms accepts them; nobody else has yet.
        let set = log.ok("ana", norms("Critique the plan, not the person."));
        assert_eq!(
            set.body,
            EventBody::Norms {
                version: 1,
                text: "Critique the plan, not the person.".into()
            }
        );
        log.ok("ana", problem("ana may still post"));
        let refused = log.try_append("bob", problem("p")).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Forbidden);
        assert!(
            refused
                .message
                .contains("accept the norms of c (version 1)")
        );
        assert_eq!(refused.norms.as_ref().map(|n| n.version), Some(1));
        // Joining needs them too, and one may accept before joining.
        assert_eq!(
            log.err("cy", Draft::Join { invited: false }),
            ErrorKind::Forbidden
        );
        log.ok("cy", accept(1));
        log.ok("cy", Draft::Join { invited: false });
        log.ok("cy", problem("cy posts"));
        // Only the current version, once.
        assert_eq!(log.err("bob", accept(2)), ErrorKind::Conflict);
        log.ok("bob", accept(1));
        assert_eq!(log.err("bob", accept(1)), ErrorKind::Conflict);
        log.ok("bob", problem("bob posts"));
        // A change asks everyone but its author again.
        assert_eq!(
            log.err("ana", norms("Critique the plan, not the person.")),
            ErrorKind::Conflict
        );
        log.ok("ana", norms("Critique the plan. Say what worked for you."));
        assert_eq!(log.err("bob", problem("again")), ErrorKind::Forbidden);
        let members = log.state.members();
        let accepted: Vec<(&str, u64)> = members
            .iter()
            .map(|m| (m.handle.as_str(), m.accepted_norms))
            .collect();
        assert_eq!(accepted, [("ana", 2), ("bob", 1), ("cy", 1)]);
        log.ok("bob", accept(2));
        log.ok("bob", problem("bob again"));
        // Leaving and metoo are not posts: they never wait for the norms.
        log.ok("cy", Draft::Leave);
    }

    #[test]
    fn private_norms_are_accepted_only_by_members_or_with_an_invite() {
        let mut log = Log::new(Visibility::Private, 10);
        assert_eq!(log.err("ana", accept(1)), ErrorKind::NotFound);
        log.ok("ana", norms("What is said here stays here."));
        assert_eq!(log.err("eve", accept(1)), ErrorKind::Forbidden);
        log.ok(
            "eve",
            Draft::NormsAccept {
                version: 1,
                invited: true,
            },
        );
        log.ok("eve", Draft::Join { invited: true });
    }

    #[test]
    fn creator_facilitates_and_hands_over_on_leaving() {
        let mut log = Log::new(Visibility::Public, 12);
        assert_eq!(log.state.role_of("ana"), Some(Role::Facilitator));
        log.ok("ben", Draft::Join { invited: false });
        log.ok("cy", Draft::Join { invited: false });
        assert_eq!(log.state.role_of("ben"), Some(Role::Member));
        let leave = log.event("ana", Draft::Leave).unwrap();
        assert_eq!(
            log.state.membership_changes(&leave),
            vec![
                MembershipChange::Remove("ana".into()),
                MembershipChange::Set("ben".into(), Role::Facilitator)
            ]
        );
        log.state.apply(&leave);
        assert_eq!(log.state.role_of("ben"), Some(Role::Facilitator));
        assert_eq!(log.state.role_of("ana"), None);
    }

    #[test]
    fn joining_rules() {
        let mut log = Log::new(Visibility::Private, 2);
        assert_eq!(
            log.err("ben", Draft::Join { invited: false }),
            ErrorKind::Forbidden
        );
        log.ok("ben", Draft::Join { invited: true });
        assert_eq!(
            log.err("ben", Draft::Join { invited: true }),
            ErrorKind::Conflict
        );
        assert_eq!(
            log.err("cy", Draft::Join { invited: true }),
            ErrorKind::CircleFull
        );
    }

    #[test]
    fn removed_members_need_an_invite_even_when_public() {
        let mut log = Log::new(Visibility::Public, 12);
        log.ok("ben", Draft::Join { invited: false });
        assert_eq!(
            log.err(
                "ben",
                Draft::Remove {
                    member: "ana".into(),
                    reason: None
                }
            ),
            ErrorKind::Forbidden
        );
        log.ok(
            "ana",
            Draft::Remove {
                member: "ben".into(),
                reason: None,
            },
        );
        assert!(!log.state.is_member("ben"));
        assert_eq!(
            log.err("ben", Draft::Join { invited: false }),
            ErrorKind::Forbidden
        );
        log.ok("ben", Draft::Join { invited: true });
    }

    #[test]
    fn posting_needs_membership_and_reading_private_needs_it_too() {
        let mut log = Log::new(Visibility::Private, 12);
        assert_eq!(
            log.err("ben", Draft::Note { body: "hi".into() }),
            ErrorKind::Forbidden
        );
        assert_eq!(
            log.state.check_read("ben").unwrap_err().kind,
            ErrorKind::Forbidden
        );
        assert!(log.state.check_read("ana").is_ok());
    }

    #[test]
    fn thread_rules() {
        let mut log = Log::new(Visibility::Public, 12);
        log.ok("ben", Draft::Join { invited: false });
        log.ok("cy", Draft::Join { invited: false });
        let p = log.ok("ana", problem("stuck")).id;
        let c1 = log.ok("ben", critique(p)).id;
        let c2 = log.ok("cy", critique(p)).id;
        let note = log.ok("cy", Draft::Note { body: "hi".into() }).id;

        assert_eq!(log.err("ben", critique(note)), ErrorKind::NotFound);
        assert_eq!(
            log.err("ben", critique(Uuid::now_v7())),
            ErrorKind::NotFound
        );
        assert_eq!(
            log.err("ana", Draft::Metoo { problem: p }),
            ErrorKind::Conflict
        );
        log.ok("ben", Draft::Metoo { problem: p });
        assert_eq!(
            log.err("ben", Draft::Metoo { problem: p }),
            ErrorKind::Conflict
        );

        assert_eq!(
            log.err(
                "ben",
                Draft::Edit {
                    post: c2,
                    title: None,
                    body: Some("x".into())
                }
            ),
            ErrorKind::Forbidden
        );
        assert_eq!(
            log.err(
                "ben",
                Draft::Edit {
                    post: c1,
                    title: Some("t".into()),
                    body: None
                }
            ),
            ErrorKind::InvalidParams
        );
        log.ok(
            "ben",
            Draft::Edit {
                post: c1,
                title: None,
                body: Some("better".into()),
            },
        );

        assert_eq!(
            log.err("ben", Draft::Retract { post: c2 }),
            ErrorKind::Forbidden
        );
        log.ok("ana", Draft::Retract { post: c2 }); // a facilitator may
        assert_eq!(
            log.err("cy", Draft::Retract { post: c2 }),
            ErrorKind::Conflict
        );

        assert_eq!(log.err("ben", resolve(p, vec![c1])), ErrorKind::Forbidden);
        assert_eq!(
            log.err("ana", resolve(p, vec![note])),
            ErrorKind::InvalidParams
        );
        assert_eq!(
            log.err("ana", resolve(p, vec![c2])),
            ErrorKind::InvalidParams
        );
        log.ok("ana", resolve(p, vec![c1]));
        assert_eq!(log.err("ana", resolve(p, vec![])), ErrorKind::Conflict);

        let thread = log.state.problem_thread(p).unwrap();
        assert_eq!(thread.status, ProblemStatus::Resolved);
        assert_eq!(thread.metoos, vec!["ben".to_string()]);
        assert_eq!(thread.critiques.len(), 2);
        assert_eq!(thread.critiques[0].body, "better");
        assert!(thread.critiques[0].edited && thread.critiques[0].helpful);
        assert!(thread.critiques[1].retracted && thread.critiques[1].body.is_empty());

        let list = log.state.problem_summaries(None);
        assert_eq!((list.len(), list[0].critiques, list[0].metoos), (1, 1, 1));
        assert!(
            log.state
                .problem_summaries(Some(ProblemStatus::Open))
                .is_empty()
        );
        assert_eq!(log.state.seqs_to_erase(c1).len(), 2);
    }

    #[test]
    fn accepting_critiques() {
        let mut log = Log::new(Visibility::Public, 12);
        log.ok("ben", Draft::Join { invited: false });
        let p = log.ok("ana", problem("stuck")).id;
        let other = log.ok("ben", problem("also stuck")).id;
        let c1 = log.ok("ben", critique(p)).id;
        let c2 = log
            .ok(
                "ben",
                Draft::Critique {
                    problem: p,
                    body: "what did you try?".into(),
                    stance: Stance::Question,
                },
            )
            .id;
        let elsewhere = log.ok("ana", critique(other)).id;
        let accept = |critique| Draft::Accept {
            problem: p,
            critique,
        };
        assert_eq!(log.err("ben", accept(c1)), ErrorKind::Forbidden);
        assert_eq!(log.err("cy", accept(c1)), ErrorKind::Forbidden);
        assert_eq!(log.err("ana", accept(elsewhere)), ErrorKind::NotFound);
        assert_eq!(log.err("ana", accept(p)), ErrorKind::NotFound);
        assert_eq!(log.err("ana", accept(Uuid::now_v7())), ErrorKind::NotFound);
        assert_eq!(
            log.err(
                "ana",
                Draft::Accept {
                    problem: Uuid::now_v7(),
                    critique: c1
                }
            ),
            ErrorKind::NotFound
        );
        log.ok("ana", accept(c2));
        log.ok("ana", accept(c1));
        assert_eq!(log.err("ana", accept(c1)), ErrorKind::Conflict);
        let thread = log.state.problem_thread(p).unwrap();
        assert_eq!(thread.accepted, vec![c2, c1]);
        assert_eq!(thread.critiques[1].stance, Stance::Question);
        assert!(thread.critiques.iter().all(|c| c.accepted));
        // Still possible once resolved; a retracted critique is no longer counted.
        log.ok("ana", resolve(p, vec![]));
        log.ok("ben", Draft::Retract { post: c2 });
        let thread = log.state.problem_thread(p).unwrap();
        assert_eq!(thread.accepted, vec![c1]);
        assert!(!thread.critiques[1].accepted);
        let c3 = log.ok("ben", critique(p)).id;
        log.ok("ana", accept(c3));
        log.ok("ben", Draft::Retract { post: c3 });
        assert_eq!(log.err("ana", accept(c3)), ErrorKind::NotFound);
        assert_eq!(log.state.problem_summaries(None)[0].accepted, 1);
    }

    #[test]
    fn reflecting_comes_after_the_resolution() {
        let mut log = Log::new(Visibility::Public, 12);
        log.ok("ben", Draft::Join { invited: false });
        let p = log.ok("ana", problem("stuck")).id;
        let err = log.try_append("ben", reflect(p, 4)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(err.message.contains("resolve it first"), "{}", err.message);
        log.ok(
            "ana",
            Draft::Resolve {
                problem: p,
                helpful: vec![],
                summary: Some("A banner.".into()),
            },
        );
        assert_eq!(log.err("cy", reflect(p, 4)), ErrorKind::Forbidden);
        assert_eq!(
            log.err("ben", reflect(Uuid::now_v7(), 4)),
            ErrorKind::NotFound
        );
        let first = log.ok("ben", reflect(p, 4));
        assert_eq!(log.err("ben", reflect(p, 2)), ErrorKind::Conflict);
        log.ok("ana", reflect(p, 5)); // the author too
        let thread = log.state.problem_thread(p).unwrap();
        assert_eq!(
            thread.resolution.as_ref().unwrap().summary.as_deref(),
            Some("A banner.")
        );
        let got: Vec<_> = thread
            .reflections
            .iter()
            .map(|r| (r.id, r.author.as_str(), r.usefulness))
            .collect();
        assert_eq!(got[0], (first.id, "ben", 4));
        assert_eq!(got[1].1, "ana");
        assert_eq!(log.state.problem_summaries(None)[0].reflections, 2);
        // Reflections are not posts: they cannot be edited or retracted.
        assert_eq!(
            log.err("ben", Draft::Retract { post: first.id }),
            ErrorKind::NotFound
        );
        log.ok("ana", Draft::Retract { post: p });
        assert_eq!(log.err("ben", reflect(p, 3)), ErrorKind::NotFound);
    }

    #[test]
    fn erase_keeps_identity_and_drops_text() {
        let event = Event {
            seq: 3,
            id: Uuid::now_v7(),
            author: "ana".into(),
            at: 9,
            retracted: false,
            body: EventBody::Problem {
                title: "t".into(),
                body: "b".into(),
                tags: vec!["x".into()],
            },
        };
        let erased = erase(event.clone());
        assert_eq!(
            (erased.seq, erased.id, erased.retracted),
            (3, event.id, true)
        );
        assert_eq!(
            erased.body,
            EventBody::Problem {
                title: String::new(),
                body: String::new(),
                tags: vec![]
            }
        );
    }

    fn meeting(starts_at: Millis, agenda: Vec<Uuid>) -> Draft {
        Draft::Meeting {
            starts_at,
            agenda,
            title: Some("Clinic".into()),
        }
    }

    #[test]
    fn only_facilitators_schedule_meetings_of_live_problems() {
        let mut log = Log::new(Visibility::Public, 10);
        log.ok("bob", Draft::Join { invited: false });
        let p = log.ok("bob", problem("Catalogue")).id;
        assert_eq!(log.err("bob", meeting(50, vec![p])), ErrorKind::Forbidden);
        assert_eq!(log.err("dan", meeting(50, vec![p])), ErrorKind::Forbidden);
        assert_eq!(
            log.err("ana", meeting(50, vec![Uuid::now_v7()])),
            ErrorKind::NotFound
        );
        assert_eq!(
            log.err("ana", meeting(50, vec![p, p])),
            ErrorKind::InvalidParams
        );
        let note = log.ok("bob", Draft::Note { body: "hi".into() }).id;
        assert_eq!(log.err("ana", meeting(50, vec![note])), ErrorKind::NotFound);
        log.ok("ana", meeting(50, vec![]));
        log.ok("ana", meeting(60, vec![p]));
        let starts: Vec<Millis> = log.state.meetings().iter().map(|m| m.starts_at).collect();
        assert_eq!(starts, vec![50, 60]);
    }

    /// Each event's `at` is its seq, so the windows below are exact.
    #[test]
    fn a_digest_covers_the_window_since_the_last_meeting() {
        let mut log = Log::new(Visibility::Public, 10);
        log.ok("bob", Draft::Join { invited: false }); // 2
        log.ok("cat", Draft::Join { invited: false }); // 3
        let a = log.ok("bob", problem("A")).id; // 4
        let ana_on_a = log.ok("ana", critique(a)).id; // 5
        let first = log.ok("ana", meeting(8, vec![a])).id; // 6, held at 8
        let b = log.ok("cat", problem("B")).id; // 7
        let cat_on_a = log.ok("cat", critique(a)).id; // 8
        let c = log.ok("bob", problem("C")).id; // 9
        let bob_on_c = log.ok("bob", critique(c)).id; // 10: his own, no answer
        let accept = Draft::Accept {
            problem: a,
            critique: cat_on_a,
        };
        log.ok("bob", accept); // 11
        log.ok("bob", resolve(a, vec![cat_on_a])); // 12
        let ana_on_b = log.ok("ana", critique(b)).id; // 13
        log.ok("ana", Draft::Retract { post: ana_on_b }); // 14
        let d = log.ok("cat", problem("D")).id; // 15
        let second = log.ok("ana", meeting(100, vec![b, d])).id; // 16, ahead
        log.ok("cat", Draft::Retract { post: d }); // 17

        let digest = log.state.digest(None, 20);
        assert_eq!((digest.since, digest.until), (8, 20));
        assert_eq!(digest.last_meeting.as_ref().map(|m| m.id), Some(first));
        let next = digest.next_meeting.as_ref().unwrap();
        assert_eq!((next.id, next.agenda.clone()), (second, vec![b]));
        let ids = |list: &[ProblemSummary]| list.iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(&digest.new_problems), vec![c]);
        let critiques: Vec<(Uuid, bool)> = digest
            .new_critiques
            .iter()
            .map(|c| (c.id, c.accepted))
            .collect();
        assert_eq!(critiques, vec![(cat_on_a, true), (bob_on_c, false)]);
        assert_eq!(digest.new_critiques[0].problem_title, "A");
        let resolved: Vec<Uuid> = digest.resolutions.iter().map(|r| r.problem).collect();
        assert_eq!(resolved, vec![a]);
        assert_eq!(ids(&digest.unanswered), vec![b, c]);
        let totals = (
            digest.total_new_problems,
            digest.total_new_critiques,
            digest.total_resolutions,
            digest.total_unanswered,
        );
        assert_eq!(totals, (1, 2, 1, 2));

        // From the start: everything not retracted.
        let all = log.state.digest(Some(0), 20);
        assert_eq!(ids(&all.new_problems), vec![a, b, c]);
        let critiques: Vec<Uuid> = all.new_critiques.iter().map(|c| c.id).collect();
        assert_eq!(critiques, vec![ana_on_a, cat_on_a, bob_on_c]);

        // Before any meeting was held, the window starts with the circle.
        let early = log.state.digest(None, 7);
        assert_eq!(early.since, 0);
        assert!(early.last_meeting.is_none());
        assert_eq!(early.next_meeting.map(|m| m.id), Some(first));
        assert_eq!(ids(&early.new_problems), vec![a, b]);
    }
}
