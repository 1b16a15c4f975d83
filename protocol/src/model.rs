//! The views the server returns: circles, members, problems and their threads.
//! Clients ignore fields they do not know, so these may grow.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Millis;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Listed to everyone; anyone signed in may read it and join.
    #[default]
    Public,
    /// Unlisted; members only; joining needs an invite code.
    Private,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Moderates: invites, removes members, retracts any post.
    Facilitator,
    Member,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemStatus {
    Open,
    Resolved,
}

/// What kind of answer a critique is. Clients that send none get `suggestion`,
/// and critiques stored before stances existed read as `suggestion`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stance {
    /// Advice: try this.
    #[default]
    Suggestion,
    /// A question back to the problem's author.
    Question,
    /// What worked (or did not) for me.
    Experience,
    /// Criticism: a risk or a flaw.
    Concern,
}

impl Stance {
    /// Every stance, in the order docs/protocol.md lists them.
    pub const ALL: [Stance; 4] = [
        Stance::Suggestion,
        Stance::Question,
        Stance::Experience,
        Stance::Concern,
    ];

    /// The name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Stance::Suggestion => "suggestion",
            Stance::Question => "question",
            Stance::Experience => "experience",
            Stance::Concern => "concern",
        }
    }
}

/// A circle as the signed-in user sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CircleInfo {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub purpose: String,
    pub visibility: Visibility,
    pub max_members: u32,
    pub member_count: u32,
    /// The seq of the circle's latest event.
    pub head: u64,
    pub created_by: String,
    pub created_at: Millis,
    /// My role, or absent when I am not a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Events after my read marker (0 when I am not a member).
    pub unread: u64,
    /// Posts after my read marker that mention me (`@handle`), counted apart
    /// from `unread` (0 when I am not a member).
    #[serde(default)]
    pub mentions: u64,
    /// My read marker: the last seq I have read.
    pub read: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    pub handle: String,
    pub display_name: String,
    pub role: Role,
    /// Connected to the server right now.
    pub online: bool,
    pub joined_at: Millis,
    /// The version of the circle's norms this member last accepted (0: none).
    #[serde(default)]
    pub accepted_norms: u64,
}

/// A circle's norms: how its members agree to work together. Each change
/// is a new version; joining or posting needs the current one accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Norms {
    /// 1 for the first norms, then one more with each change.
    pub version: u64,
    pub text: String,
    /// The facilitator who set this version.
    pub set_by: String,
    pub at: Millis,
}

/// A problem in a list, with how far its thread has come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProblemSummary {
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub title: String,
    pub tags: Vec<String>,
    pub status: ProblemStatus,
    pub critiques: u32,
    pub metoos: u32,
    /// Critiques the author accepted (not counting retracted ones).
    pub accepted: u32,
    /// Reflections written after the resolution.
    pub reflections: u32,
    pub edited: bool,
    /// When the thread last changed (a critique, metoo, edit, acceptance,
    /// resolution or reflection).
    pub last_activity: Millis,
}

/// How a problem was resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Resolution {
    pub seq: u64,
    pub by: String,
    pub at: Millis,
    /// The critiques that helped, in the order the author named them.
    pub helpful: Vec<Uuid>,
    /// What was done, in the author's words; absent when none was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// A problem with its whole thread, text as last edited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProblemThread {
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub status: ProblemStatus,
    pub edited: bool,
    pub retracted: bool,
    /// Who has this problem too, in the order they said so.
    pub metoos: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// The critiques the author accepted, in the order they were accepted
    /// (retracted ones left out).
    pub accepted: Vec<Uuid>,
    /// In the order they were posted.
    pub critiques: Vec<CritiqueView>,
    /// What members learnt, written after the resolution, in log order.
    pub reflections: Vec<ReflectionView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CritiqueView {
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub body: String,
    pub stance: Stance,
    pub edited: bool,
    pub retracted: bool,
    /// Named as helpful when the problem was resolved.
    pub helpful: bool,
    /// The problem's author accepted it (false once it is retracted).
    pub accepted: bool,
}

/// A member's reflection on a resolved problem: what they took from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReflectionView {
    /// The id of its `reflect` event.
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub text: String,
    /// How useful the thread was to them, 1 (not much) to 5 (very).
    pub usefulness: u8,
}

/// A meeting of the circle, from its `meeting` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MeetingView {
    /// The id of its `meeting` event.
    pub id: Uuid,
    pub seq: u64,
    /// The facilitator who scheduled it.
    pub by: String,
    pub starts_at: Millis,
    /// Problems to talk through, in order (retracted ones left out).
    pub agenda: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A critique in a digest: who answered which problem, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DigestCritique {
    pub id: Uuid,
    pub seq: u64,
    pub problem: Uuid,
    pub problem_title: String,
    pub author: String,
    pub at: Millis,
    pub stance: Stance,
    pub accepted: bool,
}

/// A resolution in a digest, with the problem it resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DigestResolution {
    pub problem: Uuid,
    pub title: String,
    pub resolution: Resolution,
}

/// What changed in a circle over a window, for catching up before a meeting.
/// Each list holds at most 200 items (the oldest first); the `total_*`
/// fields count them all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Digest {
    /// The window is `since <= at <= until` (event times).
    pub since: Millis,
    /// The time of the digest.
    pub until: Millis,
    /// The last meeting held before `until` (the default start of the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_meeting: Option<MeetingView>,
    /// The next meeting after `until`, the soonest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_meeting: Option<MeetingView>,
    /// Problems raised in the window (not retracted).
    pub new_problems: Vec<ProblemSummary>,
    /// Critiques posted in the window (not retracted), on live problems.
    pub new_critiques: Vec<DigestCritique>,
    /// Problems resolved in the window.
    pub resolutions: Vec<DigestResolution>,
    /// Every open problem that no one but its author has answered yet,
    /// however old.
    pub unanswered: Vec<ProblemSummary>,
    pub total_new_problems: u32,
    pub total_new_critiques: u32,
    pub total_resolutions: u32,
    pub total_unanswered: u32,
}

/// An account as admins see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserInfo {
    pub handle: String,
    pub display_name: String,
    pub created_at: Millis,
    pub admin: bool,
    /// Present while the account is suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<Suspension>,
    /// Whether it has a signed-in connection right now.
    pub online: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Suspension {
    pub at: Millis,
    /// The admin's handle, or `operator` for the host's command line.
    pub by: String,
    pub reason: String,
}

/// One admin action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    /// Increases with each entry.
    pub id: u64,
    pub at: Millis,
    /// The admin's handle, or `operator` for the host's command line.
    pub actor: String,
    /// The method, without `admin.`: `suspend`, `circle.delete`, …
    pub action: String,
    /// The handle or circle acted on (empty for invites).
    pub target: String,
    pub detail: String,
}

/// `circle.stats`: what a circle did in a window (`since` to `until`, both
/// inclusive). Retracted problems and retracted critiques never count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    pub since: Millis,
    pub until: Millis,
    /// Problems raised in the window.
    pub raised: u32,
    /// Problems resolved in the window (whenever they were raised).
    pub resolved: u32,
    /// Of the problems raised in the window, the median time from a problem
    /// to its first critique by someone else (given by `until`), in ms;
    /// null when none was answered. Of an even count, the mean of the two
    /// middle values, rounded down.
    pub median_first_critique_ms: Option<u64>,
    /// Of the problems resolved in the window, the median time from a problem
    /// to its resolution, in ms, taken like `median_first_critique_ms`.
    pub median_resolution_ms: Option<u64>,
    /// The server's `unanswered_after`: how old an unanswered problem is.
    pub unanswered_after_ms: u64,
    /// Open now, no critique from anyone but its author, and raised at least
    /// `unanswered_after_ms` ago: oldest first. Not limited to the window.
    pub unanswered: Vec<StatsProblem>,
    /// Open now, with at least one metoo: the most first, then the oldest;
    /// at most 5. Not limited to the window.
    pub most_metood: Vec<StatsProblem>,
    /// The window cut into buckets of `bucket_ms` (a week, or a whole number
    /// of weeks so that there are at most 26), from `since`; the last one
    /// ends at `until`.
    pub bucket_ms: u64,
    pub series: Vec<StatsBucket>,
}

/// A problem as `circle.stats` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatsProblem {
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub title: String,
    pub metoos: u32,
}

/// Problems raised and resolved from `start` to `start + bucket_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatsBucket {
    pub start: Millis,
    pub raised: u32,
    pub resolved: u32,
}

/// What a search hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    Problem,
    Critique,
}

/// A problem or critique that matches a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchHit {
    /// The circle's slug.
    pub circle: String,
    pub kind: HitKind,
    /// The post's id.
    pub id: Uuid,
    /// The problem it belongs to: itself, or the one it critiques.
    pub problem: Uuid,
    /// That problem's title.
    pub title: String,
    /// That problem's status.
    pub status: ProblemStatus,
    pub author: String,
    pub at: Millis,
    /// The post's seq in its circle's log.
    pub seq: u64,
    /// Where it matches: a stretch of the post's text (about 200
    /// characters), with the matching words marked `hit`.
    pub snippet: Vec<SnippetPart>,
}

/// A piece of a search snippet: show `text`, emphasised when `hit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SnippetPart {
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hit: bool,
}
