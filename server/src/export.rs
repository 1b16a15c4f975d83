//! Exports one circle's history, read from a [`Store`], as Markdown (for
//! people) or JSON (for programs). Both come from one fold of the circle's
//! log with [`CircleState`], the fold a circle task loads with, so an export
//! shows what members see: text as last edited, retracted posts as retracted
//! (their text is gone from the log), critiques with their stance and whether
//! the author accepted them, resolutions with the critiques that helped and
//! the author's summary, and the reflections written afterwards.
//!
//! The JSON is a [`CircleExport`]:
//!
//! ```text
//! {
//!   "circle":   {id, slug, name, purpose, visibility, max_members, created_by, created_at, head},
//!   "members":  [{handle, role, joined_at}],              // now, in join order
//!   "problems": [{id, seq, author, at, title, body, tags, status, edited, retracted,
//!                 metoos: [handle],
//!                 resolution?: {seq, by, at, helpful: [critique id], summary?},
//!                 accepted: [critique id],
//!                 critiques: [{id, seq, author, at, body, stance, edited, retracted,
//!                              helpful, accepted}],
//!                 reflections: [{id, seq, author, at, text, usefulness}]}],
//!   "notes":    [{id, seq, author, at, body, edited, retracted}]
//! }
//! ```
//!
//! Problems are in the order they were raised (each is `problem.get`'s
//! thread), notes in log order; times (`at`, `created_at`…) are Unix
//! milliseconds. The export reads the log up to its head when it starts; it
//! holds the circle in memory.

use std::collections::HashMap;
use std::fmt::Write as _;

use circles_protocol::Millis;
use circles_protocol::duration::spoken;
use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::{MeetingView, ProblemStatus, ProblemThread, Role, Visibility};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::circle::CircleState;
use crate::store::{Store, StoreError, StoreResult};

/// Events read from the store at a time.
const PAGE: usize = 1024;

pub use circles_protocol::methods::ExportFormat;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no circle named \"{0}\"")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One circle's history; its JSON form is documented in the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleExport {
    pub circle: CircleSummary,
    pub members: Vec<MemberExport>,
    pub problems: Vec<ProblemThread>,
    pub notes: Vec<NoteExport>,
    /// In the order they were scheduled (left out when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meetings: Vec<MeetingView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub purpose: String,
    pub visibility: Visibility,
    pub max_members: u32,
    pub created_by: String,
    pub created_at: Millis,
    /// The last seq exported.
    pub head: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberExport {
    pub handle: String,
    pub role: Role,
    pub joined_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteExport {
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    /// As last edited; empty once retracted.
    pub body: String,
    pub edited: bool,
    pub retracted: bool,
}

/// Reads the circle named `slug` and folds its log into a [`CircleExport`].
pub fn circle_export(store: &Store, slug: &str) -> Result<CircleExport, ExportError> {
    let id = store
        .circle_id(slug)?
        .ok_or_else(|| ExportError::NotFound(slug.to_owned()))?;
    let record = store
        .circle(id)?
        .ok_or_else(|| ExportError::NotFound(slug.to_owned()))?;
    let head = store.head(id)?;
    let mut state = CircleState::new(record);
    let mut problems = Vec::new();
    let mut notes: Vec<NoteExport> = Vec::new();
    let mut note_index: HashMap<Uuid, usize> = HashMap::new();
    let mut next = 1;
    while next <= head {
        let page = store.events(id, next, head, PAGE, usize::MAX)?;
        let Some(&(last, _)) = page.last() else { break };
        next = last + 1;
        for (seq, json) in &page {
            let event: Event = serde_json::from_slice(json).map_err(|e| StoreError::Corrupt {
                tree: "circleid_seq_event",
                reason: format!("event {seq} of circle {id}: {e}"),
            })?;
            // The state keeps no note text: notes are followed here.
            match &event.body {
                EventBody::Problem { .. } => problems.push(event.id),
                EventBody::Note { body } => {
                    note_index.insert(event.id, notes.len());
                    notes.push(NoteExport {
                        id: event.id,
                        seq: event.seq,
                        author: event.author.clone(),
                        at: event.at,
                        body: body.clone(),
                        edited: false,
                        retracted: event.retracted,
                    });
                }
                EventBody::Edit { post, body, .. } => {
                    if let Some(note) = note_index.get(post).and_then(|&i| notes.get_mut(i)) {
                        if let Some(body) = body {
                            note.body.clone_from(body);
                        }
                        note.edited = true;
                    }
                }
                EventBody::Retract { post } => {
                    if let Some(note) = note_index.get(post).and_then(|&i| notes.get_mut(i)) {
                        note.body.clear();
                        note.retracted = true;
                    }
                }
                _ => {}
            }
            state.apply(&event);
        }
    }
    let problems = problems
        .into_iter()
        .filter_map(|id| state.problem_thread(id).ok())
        .collect();
    let members = state
        .members()
        .into_iter()
        .map(|m| MemberExport {
            handle: m.handle,
            role: m.role,
            joined_at: m.joined_at,
        })
        .collect();
    let r = &state.record;
    Ok(CircleExport {
        circle: CircleSummary {
            id: r.id,
            slug: r.slug.clone(),
            name: r.name.clone(),
            purpose: r.purpose.clone(),
            visibility: r.visibility,
            max_members: r.max_members,
            created_by: r.created_by.clone(),
            created_at: r.created_at,
            head: state.head,
        },
        members,
        problems,
        notes,
        meetings: state.meetings(),
    })
}

/// The circle named `slug` in `format`.
pub fn export(store: &Store, slug: &str, format: ExportFormat) -> Result<String, ExportError> {
    let circle = circle_export(store, slug)?;
    Ok(match format {
        ExportFormat::Markdown => markdown(&circle),
        ExportFormat::Json => json(&circle)?,
    })
}

/// Pretty-printed JSON, ending with a newline.
pub fn json(circle: &CircleExport) -> StoreResult<String> {
    let mut text = serde_json::to_string_pretty(circle).map_err(|e| StoreError::Corrupt {
        tree: "circleid_seq_event",
        reason: e.to_string(),
    })?;
    text.push('\n');
    Ok(text)
}

/// `2024-05-01 09:30 UTC`.
pub fn date(at: Millis) -> String {
    i64::try_from(at)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || format!("{at} ms"),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// Text indented under a list item (its first line follows the marker).
fn indented(text: &str, indent: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{indent}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The circle as a Markdown document: problems with their critiques
/// threaded under them, then the notes, in the order they were posted.
pub fn markdown(export: &CircleExport) -> String {
    let c = &export.circle;
    let mut md = String::new();
    let visibility = match c.visibility {
        Visibility::Public => "public",
        Visibility::Private => "private",
    };
    let _ = writeln!(md, "# {}\n", c.name);
    let _ = writeln!(
        md,
        "`{}` · {visibility} circle · created by {} on {} · {} events\n",
        c.slug,
        c.created_by,
        date(c.created_at),
        c.head
    );
    if !c.purpose.trim().is_empty() {
        let _ = writeln!(md, "{}\n", indented(c.purpose.trim(), "> "));
    }

    let _ = writeln!(md, "## Members\n");
    for m in &export.members {
        let role = match m.role {
            Role::Facilitator => "facilitator, ",
            Role::Member => "",
        };
        let _ = writeln!(md, "- {} ({role}joined {})", m.handle, date(m.joined_at));
    }
    if export.members.is_empty() {
        let _ = writeln!(md, "_Nobody._");
    }

    let _ = writeln!(md, "\n## Problems");
    if export.problems.is_empty() {
        let _ = writeln!(md, "\n_No problems raised._");
    }
    for p in &export.problems {
        let look = Look {
            heading: "###",
            times: Times::Dates,
        };
        problem_markdown(&mut md, p, look);
    }

    if !export.meetings.is_empty() {
        let _ = writeln!(md, "\n## Meetings\n");
    }
    for m in &export.meetings {
        let title = m.title.as_deref().unwrap_or("Meeting");
        let _ = writeln!(
            md,
            "- **{title}**, {} (scheduled by {})",
            date(m.starts_at),
            m.by
        );
        for id in &m.agenda {
            let on_agenda = export.problems.iter().find(|p| p.id == *id);
            if let Some(p) = on_agenda {
                let _ = writeln!(md, "  - {}", p.title);
            }
        }
    }

    let _ = writeln!(md, "\n## Notes\n");
    if export.notes.is_empty() {
        let _ = writeln!(md, "_No notes._");
    }
    for n in &export.notes {
        let head = format!("**{}**, {}", n.author, date(n.at));
        if n.retracted {
            let _ = writeln!(md, "- {head}: _retracted_");
        } else {
            let edited = if n.edited { " _(edited)_" } else { "" };
            let _ = writeln!(md, "- {head}{edited}:\n\n{}\n", indented(&n.body, "  "));
        }
    }
    md
}

/// How a problem is drawn: its heading level and how times read.
#[derive(Clone, Copy, Debug)]
struct Look {
    heading: &'static str,
    times: Times,
}

#[derive(Clone, Copy, Debug)]
enum Times {
    /// `on 2024-05-01 09:30 UTC`.
    Dates,
    /// `after 2 h 5 min`, counted from the problem's `at`.
    SinceRaised(Millis),
}

impl Times {
    /// After "Resolved by ana": ` on 2024-05-01 09:30 UTC` or ` after 3 h`.
    fn on(self, at: Millis) -> String {
        match self {
            Times::Dates => format!(" on {}", date(at)),
            Times::SinceRaised(_) => format!(" {}", self.stamp(at)),
        }
    }

    /// After "Raised by ana": the date, or nothing (times count from it).
    fn raised(self, at: Millis) -> String {
        match self {
            Times::Dates => self.on(at),
            Times::SinceRaised(_) => String::new(),
        }
    }

    /// After "**ana**, ": `2024-05-01 09:30 UTC` or `after 3 h`.
    fn stamp(self, at: Millis) -> String {
        match self {
            Times::Dates => date(at),
            Times::SinceRaised(from) => format!("after {}", spoken(at.saturating_sub(from))),
        }
    }
}

/// Someone a case study may name: a handle and its display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub handle: String,
    pub display_name: String,
}

/// Everyone who took part in `thread`, in the order a reader meets them:
/// its author, who else was stuck, the critiques' authors, who resolved it,
/// who reflected. Retracted critiques are left out.
pub fn participants(thread: &ProblemThread) -> Vec<String> {
    let mut people: Vec<String> = Vec::new();
    let critiques = thread.critiques.iter().filter(|c| !c.retracted);
    let handles = std::iter::once(&thread.author)
        .chain(&thread.metoos)
        .chain(critiques.map(|c| &c.author))
        .chain(thread.resolution.iter().map(|r| &r.by))
        .chain(thread.reflections.iter().map(|r| &r.author));
    for handle in handles {
        if !people.contains(handle) {
            people.push(handle.clone());
        }
    }
    people
}

/// Whom a case study of `thread` may name: its participants, then the
/// other `members`, each with the display name `display_name` gives.
pub fn people(
    thread: &ProblemThread,
    members: impl IntoIterator<Item = String>,
    display_name: impl Fn(&str) -> String,
) -> Vec<Person> {
    let mut handles = participants(thread);
    for member in members {
        if !handles.contains(&member) {
            handles.push(member);
        }
    }
    handles
        .into_iter()
        .map(|handle| Person {
            display_name: display_name(&handle),
            handle,
        })
        .collect()
}

/// A resolved problem as a case study: its thread (retracted critiques left
/// out, text as last edited), the summary and the reflections, drawn like
/// the circle export draws a problem. `people` are the participants and the
/// circle's members with their display names, participants first.
///
/// Anonymised, every handle and display name becomes "Member 1",
/// "Member 2"… in the order a reader first meets them (the participants
/// first, as the "People" line lists them; then anyone else named in the
/// text): where the case study names who wrote what, `@handle` in any text,
/// and a display name (of two characters or more) standing as a whole word
/// in any text. Times then read as the time since the problem was raised,
/// and no date is shown.
pub fn case_study(
    circle_name: &str,
    circle_slug: &str,
    thread: &ProblemThread,
    people: &[Person],
    anonymise: bool,
) -> String {
    let mut p = thread.clone();
    p.critiques.retain(|c| !c.retracted);
    let mut names = participants(&p);
    let times = if anonymise {
        let mut pseudonyms = Pseudonyms {
            people,
            order: names.clone(),
        };
        pseudonyms.apply(&mut p);
        names = (1..=names.len()).map(|n| format!("Member {n}")).collect();
        Times::SinceRaised(p.at)
    } else {
        names = names
            .into_iter()
            .map(|handle| match people.iter().find(|x| x.handle == handle) {
                Some(x) if x.display_name != handle => format!("{handle} ({})", x.display_name),
                _ => handle,
            })
            .collect();
        Times::Dates
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Case study: {}
",
        p.title
    );
    let _ = writeln!(
        md,
        "A problem from the circle **{circle_name}** (`{circle_slug}`), as resolved in Circles."
    );
    let _ = writeln!(md, "People: {}.", names.join(", "));
    let note = match times {
        Times::Dates => "Times are UTC.",
        Times::SinceRaised(_) => {
            "Names are anonymised; times count from when the problem was raised."
        }
    };
    let _ = writeln!(md, "{note}");
    let look = Look {
        heading: "##",
        times,
    };
    problem_markdown(&mut md, &p, look);
    md
}

/// Replaces handles and display names with "Member N", numbered in the
/// order they are first met.
struct Pseudonyms<'a> {
    people: &'a [Person],
    /// Handles in the order they were first met.
    order: Vec<String>,
}

impl Pseudonyms<'_> {
    fn name(&mut self, handle: &str) -> String {
        let n = match self.order.iter().position(|h| h == handle) {
            Some(i) => i + 1,
            None => {
                self.order.push(handle.to_owned());
                self.order.len()
            }
        };
        format!("Member {n}")
    }

    /// Every name in `p`, text in the order it is drawn.
    fn apply(&mut self, p: &mut ProblemThread) {
        p.author = self.name(&p.author);
        for handle in &mut p.metoos {
            *handle = self.name(handle);
        }
        p.title = self.text(&p.title);
        p.body = self.text(&p.body);
        for c in &mut p.critiques {
            c.author = self.name(&c.author);
            c.body = self.text(&c.body);
        }
        if let Some(r) = &mut p.resolution {
            r.by = self.name(&r.by);
            r.summary = r.summary.as_deref().map(|s| self.text(s));
        }
        for r in &mut p.reflections {
            r.author = self.name(&r.author);
            r.text = self.text(&r.text);
        }
    }

    /// `text` with each `@handle` and whole-word display name replaced.
    fn text(&mut self, text: &str) -> String {
        let is_handle_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut before: Option<char> = None;
        while let Some(c) = rest.chars().next() {
            let at_word_start = before.is_none_or(|b| !b.is_alphanumeric());
            // The longest name that starts here ("Ana Lima" before "Ana").
            let found = self.people.iter().filter_map(|x| {
                let mention = rest
                    .strip_prefix('@')
                    .and_then(|r| r.strip_prefix(x.handle.as_str()))
                    .filter(|after| !after.starts_with(is_handle_char));
                let named = (at_word_start && x.display_name.chars().count() >= 2)
                    .then(|| rest.strip_prefix(x.display_name.as_str()))
                    .flatten()
                    .filter(|after| !after.starts_with(char::is_alphanumeric));
                mention.or(named).map(|after| (x.handle.as_str(), after))
            });
            let found = found.min_by_key(|(_, after)| after.len());
            match found {
                Some((handle, after)) => {
                    out.push_str(&self.name(handle));
                    before = out.chars().next_back();
                    rest = after;
                }
                None => {
                    out.push(c);
                    before = Some(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out
    }
}

fn problem_markdown(md: &mut String, p: &ProblemThread, look: Look) {
    let Look { heading, times } = look;
    if p.retracted {
        let _ = writeln!(
            md,
            "\n{heading} _Retracted problem_\n\nRaised by **{}**{}, then retracted.",
            p.author,
            times.raised(p.at)
        );
    } else {
        let status = match p.status {
            ProblemStatus::Open => "open",
            ProblemStatus::Resolved => "resolved",
        };
        let _ = writeln!(md, "\n{heading} {} ({status})\n", p.title);
        let mut line = format!("Raised by **{}**{}", p.author, times.raised(p.at));
        if !p.tags.is_empty() {
            let tags: Vec<String> = p.tags.iter().map(|t| format!("`{t}`")).collect();
            let _ = write!(line, " · tags: {}", tags.join(", "));
        }
        if p.edited {
            line.push_str(" · edited");
        }
        if !p.metoos.is_empty() {
            let _ = write!(line, " · also stuck: {}", p.metoos.join(", "));
        }
        let _ = writeln!(md, "{line}");
        if !p.body.trim().is_empty() {
            let _ = writeln!(md, "\n{}", p.body.trim_end());
        }
    }
    if !p.critiques.is_empty() {
        let _ = writeln!(md, "\nCritiques:\n");
    }
    for (n, c) in p.critiques.iter().enumerate() {
        let head = format!("{}. **{}**, {}", n + 1, c.author, times.stamp(c.at));
        if c.retracted {
            let _ = writeln!(md, "{head}: _retracted_\n");
            continue;
        }
        let mut marks = format!(" · {}", c.stance.name());
        if c.accepted {
            marks.push_str(" · accepted");
        }
        if c.helpful {
            marks.push_str(" · helpful");
        }
        if c.edited {
            marks.push_str(" · _(edited)_");
        }
        let _ = writeln!(md, "{head}{marks}:\n\n{}\n", indented(&c.body, "   "));
    }
    if let Some(r) = &p.resolution {
        let helpful: Vec<String> = r
            .helpful
            .iter()
            .filter_map(|id| {
                let n = p.critiques.iter().position(|c| c.id == *id)?;
                Some(format!("critique {} by {}", n + 1, p.critiques[n].author))
            })
            .collect();
        let helped = if helpful.is_empty() {
            String::new()
        } else {
            format!("; helpful: {}", helpful.join(", "))
        };
        if p.critiques.is_empty() {
            md.push('\n');
        }
        let _ = writeln!(md, "**Resolved** by {}{}{helped}.", r.by, times.on(r.at));
        if let Some(summary) = &r.summary {
            let _ = writeln!(md, "\n{}", indented(summary, "> "));
        }
    }
    if !p.reflections.is_empty() {
        let _ = writeln!(md, "\nReflections:");
    }
    for r in &p.reflections {
        let _ = writeln!(
            md,
            "\n- **{}**, {} · usefulness {}/5:\n\n{}",
            r.author,
            times.stamp(r.at),
            r.usefulness,
            indented(&r.text, "  ")
        );
    }
}
