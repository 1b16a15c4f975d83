//! One type per method: its wire name, its params and its result.
//!
//! Params refuse unknown fields (a misspelt `visibility` must not silently
//! make a public circle); results may grow, so clients should ignore fields
//! they do not know.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Millis;
use crate::event::Event;
use crate::model::{
    AuditEntry, CircleInfo, Digest, Member, Norms, ProblemStatus, ProblemSummary, ProblemThread,
    SearchHit, Stance, Stats, UserInfo, Visibility,
};

/// Ties a method name to its params and result types.
pub trait Method {
    const NAME: &'static str;
    type Params: Serialize + DeserializeOwned + JsonSchema;
    type Result: Serialize + DeserializeOwned + JsonSchema;
}

/// One method as [`crate::schema::document`] describes it.
pub(crate) struct MethodSchema {
    pub name: &'static str,
    /// The method's doc comment, one line per line.
    pub doc: &'static [&'static str],
    pub params: Schema,
    pub result: Schema,
}

macro_rules! methods {
    ($( $(#[doc = $doc:literal])* $ty:ident = $name:literal ($params:ty) -> $result:ty; )*) => {
        $(
            $(#[doc = $doc])*
            pub enum $ty {}
            impl Method for $ty {
                const NAME: &'static str = $name;
                type Params = $params;
                type Result = $result;
            }
        )*
        /// Every method name, in the order docs/protocol.md documents them.
        pub const ALL: &[&str] = &[$($name),*];

        /// Every method with its schemas, in the order of [`ALL`]: params as the
        /// server reads them, results as it writes them.
        pub(crate) fn schemas(
            params: &mut SchemaGenerator,
            results: &mut SchemaGenerator,
        ) -> Vec<MethodSchema> {
            vec![$(MethodSchema {
                name: $name,
                doc: &[$($doc),*],
                params: params.subschema_for::<$params>(),
                result: results.subschema_for::<$result>(),
            }),*]
        }
    };
}

methods! {
    /// Create an account and sign this connection in.
    AuthRegister = "auth.register" (Register) -> Session;
    /// Sign in with a password; the connection is signed in and gets a token.
    AuthLogin = "auth.login" (Login) -> Session;
    /// Sign this connection in with a token from register or login.
    AuthToken = "auth.token" (TokenLogin) -> WhoAmI;
    /// Revoke this connection's token and sign the connection out.
    AuthLogout = "auth.logout" (Empty) -> Empty;
    /// Change the password; every other token of the account is revoked.
    AuthPassword = "auth.password" (ChangePassword) -> Empty;
    CircleCreate = "circle.create" (CreateCircle) -> CircleResult;
    CircleList = "circle.list" (Empty) -> Circles;
    CircleJoin = "circle.join" (JoinCircle) -> CircleResult;
    CircleLeave = "circle.leave" (CircleRef) -> Empty;
    CircleInvite = "circle.invite" (CircleRef) -> Invite;
    CircleMembers = "circle.members" (CircleRef) -> Members;
    /// Facilitators remove a member (moderation).
    CircleRemove = "circle.remove" (RemoveMember) -> EventResult;
    /// Facilitators set the circle's norms: a new version members accept.
    CircleNormsSet = "circle.norms.set" (SetNorms) -> EventResult;
    /// Accept the current norms, before joining or before posting again.
    CircleNormsAccept = "circle.norms.accept" (AcceptNorms) -> EventResult;
    CircleSubscribe = "circle.subscribe" (Subscribe) -> Subscribed;
    CircleUnsubscribe = "circle.unsubscribe" (CircleRef) -> Empty;
    CircleHistory = "circle.history" (History) -> Events;
    CircleRead = "circle.read" (MarkRead) -> ReadMarker;
    /// Bring a problem; the answer names similar problems in other circles.
    PostProblem = "post.problem" (NewProblem) -> ProblemPosted;
    PostCritique = "post.critique" (NewCritique) -> EventResult;
    PostNote = "post.note" (NewNote) -> EventResult;
    PostEdit = "post.edit" (EditPost) -> EventResult;
    PostRetract = "post.retract" (PostRef) -> EventResult;
    ProblemResolve = "problem.resolve" (Resolve) -> EventResult;
    /// The problem's author accepts one of its critiques as an answer.
    ProblemAccept = "problem.accept" (AcceptCritique) -> EventResult;
    ProblemMetoo = "problem.metoo" (ProblemRef) -> EventResult;
    /// A member reflects on a resolved problem: what they took from it.
    ProblemReflect = "problem.reflect" (NewReflection) -> EventResult;
    ProblemList = "problem.list" (ListProblems) -> Problems;
    ProblemGet = "problem.get" (ProblemRef) -> ProblemResult;
    /// Facilitators schedule a meeting of the circle, with problems on its agenda.
    MeetingSchedule = "meeting.schedule" (ScheduleMeeting) -> EventResult;
    /// What changed in a circle since a time (default: since its last meeting).
    CircleDigest = "circle.digest" (DigestParams) -> Digest;
    /// Impact evidence: problems raised and resolved in a window, how soon
    /// they were answered, what is left unanswered, what most members share.
    CircleStats = "circle.stats" (StatsWindow) -> StatsResult;
    /// A resolved problem as a Markdown case study, optionally anonymised.
    ProblemExport = "problem.export" (ExportProblem) -> CaseStudy;
    /// Problems and critiques the caller may read that match a query, best first.
    Search = "search" (SearchQuery) -> SearchResults;
    /// Admins: the server's accounts, in handle order, a page at a time.
    AdminUsers = "admin.users" (ListUsers) -> Users;
    /// Admins: suspend an account; its sessions end at once and it cannot sign in.
    AdminSuspend = "admin.suspend" (Suspend) -> UserResult;
    /// Admins: let a suspended account sign in again.
    AdminUnsuspend = "admin.unsuspend" (UserRef) -> UserResult;
    /// Admins: make an account an admin (on the host: create it first if needed).
    AdminGrant = "admin.grant" (Grant) -> UserResult;
    /// Admins: take an account's admin rights away.
    AdminRevoke = "admin.revoke" (UserRef) -> UserResult;
    /// Admins: delete a circle and its whole history.
    AdminCircleDelete = "admin.circle.delete" (CircleRef) -> Empty;
    /// Admins: a registration invite, for servers whose registration is `invite`.
    AdminInvite = "admin.invite" (NewRegistrationInvite) -> RegistrationInvite;
    /// Admins: what admins did, newest first.
    AdminAudit = "admin.audit" (ListAudit) -> Audit;
    /// Admins: a circle's history as Markdown or JSON, for sharing.
    AdminExport = "admin.export" (ExportCircle) -> Export;
}

/// No params, or no result: `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub handle: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A registration invite, where the operator requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub handle: String,
    pub password: String,
}

/// Result of register and login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Session {
    pub handle: String,
    /// A bearer token for `auth.token`; keep it secret.
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenLogin {
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WhoAmI {
    pub handle: String,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub old: String,
    pub new: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCircle {
    pub slug: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_members: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CircleResult {
    pub circle: CircleInfo,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Circles {
    pub circles: Vec<CircleInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinCircle {
    /// The circle's slug.
    pub circle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// Names a circle by its slug.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircleRef {
    pub circle: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Invite {
    pub invite: String,
    pub expires_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Members {
    pub members: Vec<Member>,
    /// The circle's current norms, absent until a facilitator sets some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norms: Option<Norms>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetNorms {
    pub circle: String,
    /// The whole text of the new norms (Markdown).
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptNorms {
    pub circle: String,
    /// The version being accepted: it must be the current one, so nobody
    /// accepts text they have not seen.
    pub version: u64,
    /// For a private circle one is not yet a member of: a valid invite code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveMember {
    pub circle: String,
    pub member: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    pub circle: String,
    /// The last seq the client has; events after it are sent. Absent: only
    /// events after the current head (live only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subscribed {
    /// The circle's latest seq when the subscription started.
    pub head: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub circle: String,
    /// Only events with a seq below this (default: the newest events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// Page size, 1 to 200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Events {
    /// Ascending by seq within the page.
    pub events: Vec<Event>,
    /// Whether older events remain (ask again with `before` = the first seq).
    pub more: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    pub circle: String,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReadMarker {
    pub read: u64,
    pub unread: u64,
    /// Mentions of me after the new marker.
    #[serde(default)]
    pub mentions: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProblem {
    pub circle: String,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCritique {
    pub circle: String,
    pub problem: Uuid,
    pub body: String,
    /// What kind of answer it is (default `suggestion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stance: Option<Stance>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    pub circle: String,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditPost {
    pub circle: String,
    pub post: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Problems only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostRef {
    pub circle: String,
    pub post: Uuid,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    pub circle: String,
    pub problem: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helpful: Option<Vec<Uuid>>,
    /// What was done, at most 1000 characters; blank counts as none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptCritique {
    pub circle: String,
    pub problem: Uuid,
    /// A critique of that problem.
    pub critique: Uuid,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReflection {
    pub circle: String,
    /// A resolved problem.
    pub problem: Uuid,
    /// What you took from it; not blank, at most the server's post size.
    pub text: String,
    /// How useful the thread was to you, 1 (not much) to 5 (very).
    #[schemars(range(min = 1, max = 5))]
    pub usefulness: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemRef {
    pub circle: String,
    pub problem: Uuid,
}

/// The event a post-like method appended, as subscribers receive it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventResult {
    pub event: Event,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProblems {
    pub circle: String,
    /// Only open or only resolved problems (default: both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProblemStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problems {
    /// In the order they were raised.
    pub problems: Vec<ProblemSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProblemResult {
    pub problem: ProblemThread,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleMeeting {
    pub circle: String,
    /// When it starts: from a day ago (to record one just held) to a year ahead.
    pub at: Millis,
    /// Problems of the circle to talk through, in order (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agenda: Vec<Uuid>,
    /// A short name for it, such as "Monthly clinic".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestParams {
    pub circle: String,
    /// Start of the window; default: the start of the last meeting held, or
    /// the circle's beginning if none has been.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsWindow {
    pub circle: String,
    /// The window's start, inclusive (default: when the circle was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Millis>,
    /// The window's end, inclusive (default: now); not before `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Millis>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatsResult {
    pub stats: Stats,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportProblem {
    pub circle: String,
    /// A resolved problem.
    pub problem: Uuid,
    /// Replace every handle and display name with "Member 1", "Member 2"…
    /// and every time with the time since the problem was raised (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymise: Option<bool>,
}

/// `post.problem`'s answer: the problem's event, and problems like it
/// elsewhere that the author may read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProblemPosted {
    pub event: Event,
    /// Up to 5 problems from other circles the author may read, most
    /// similar first (resolved ones show what helped there); may be empty.
    #[serde(default)]
    pub similar: Vec<SearchHit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words to find (stemmed: "catalogues" finds "catalogue"); "quoted
    /// phrases", `+must` and `-exclude` work too. 1 to 500 characters.
    pub query: String,
    /// Only in this circle (a slug); default: every circle you may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circle: Option<String>,
    /// At most this many hits (1 to 50; default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchResults {
    /// Best match first.
    pub hits: Vec<SearchHit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseStudy {
    /// The case study as a Markdown document, ending with a newline.
    pub markdown: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListUsers {
    /// Start after this handle (the `next` of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// At most this many (1 to 500; default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Users {
    pub users: Vec<UserInfo>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspend {
    pub handle: String,
    /// Why, for the audit log (up to 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    pub handle: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub handle: String,
    /// Only on the host (`circles-server admin create-admin`): creates the
    /// account with this password when it does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserResult {
    pub user: UserInfo,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegistrationInvite {
    /// How many accounts it may create (1 to 1000; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<u32>,
    /// Hours until it expires (1 to 8760; default 168, a week).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_hours: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegistrationInvite {
    /// Give it to the person; they pass it as `invite` to `auth.register`.
    pub invite: String,
    pub uses: u32,
    pub expires_at: Millis,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAudit {
    /// Only entries older than this id (the last `id` of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// At most this many (1 to 500; default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Audit {
    pub entries: Vec<AuditEntry>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    #[default]
    Markdown,
    Json,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportCircle {
    pub circle: String,
    #[serde(default)]
    pub format: ExportFormat,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Export {
    /// The Markdown text, or the JSON document as text.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        let text = serde_json::to_string(&value).unwrap();
        let back: T = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value, "{text}");
    }

    #[test]
    fn names_are_unique_and_dotted() {
        let mut names = ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        // `search` spans every circle, so it has no namespace (its name is
        // fixed by the design of the learning-circle features).
        assert!(
            ALL.iter()
                .filter(|n| **n != Search::NAME)
                .all(|n| n.contains('.'))
        );
        assert!(
            ALL.iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '.'))
        );
        assert_eq!(<CircleSubscribe as Method>::NAME, "circle.subscribe");
    }

    #[test]
    fn params_round_trip() {
        round_trip(Register {
            handle: "ana".into(),
            password: "correct horse".into(),
            display_name: Some("Ana".into()),
            invite: None,
        });
        round_trip(CreateCircle {
            slug: "cataloguers".into(),
            name: "Cataloguers".into(),
            purpose: None,
            visibility: Some(Visibility::Private),
            max_members: Some(8),
        });
        round_trip(Subscribe {
            circle: "c".into(),
            since: Some(0),
        });
        round_trip(Resolve {
            circle: "c".into(),
            problem: Uuid::now_v7(),
            helpful: Some(vec![Uuid::now_v7()]),
            summary: Some("A banner.".into()),
        });
        round_trip(NewCritique {
            circle: "c".into(),
            problem: Uuid::now_v7(),
            body: "b".into(),
            stance: Some(Stance::Concern),
        });
        round_trip(Empty {});
    }

    #[test]
    fn params_refuse_unknown_fields() {
        let typo = json!({"slug":"c","name":"C","visibilty":"private"});
        assert!(serde_json::from_value::<CreateCircle>(typo).is_err());
    }

    #[test]
    fn optional_params_may_be_left_out() {
        let p: NewProblem = serde_json::from_value(json!({"circle":"c","title":"t"})).unwrap();
        assert_eq!(p.body, "");
        assert_eq!(p.tags, None);
        let c: NewCritique =
            serde_json::from_value(json!({"circle":"c","problem":Uuid::nil(),"body":"b"})).unwrap();
        assert_eq!(c.stance, None);
    }

    #[test]
    fn an_unknown_stance_names_the_allowed_ones() {
        let bad = json!({"circle":"c","problem":Uuid::nil(),"body":"b","stance":"rant"});
        let err = serde_json::from_value::<NewCritique>(bad).unwrap_err();
        let text = err.to_string();
        for stance in Stance::ALL {
            assert!(text.contains(stance.name()), "{text}");
        }
    }
}
