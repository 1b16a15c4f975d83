//! A circle's timeline: its log folded into what the screen shows. Problems
//! carry their critiques threaded beneath them (each with its stance and
//! whether the author accepted it), metoos, resolution and reflections;
//! notes and membership changes sit between them in log order.
//!
//! Events are applied once each, in seq order: a duplicate (seq already
//! applied) is ignored, and a gap is reported so the caller can resubscribe.

use std::collections::HashSet;

use circles_protocol::Millis;
use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::{Role, Stance};
use uuid::Uuid;

#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// The highest seq applied; 0 before anything was.
    pub last_seq: u64,
    /// Top-level entries in log order.
    pub entries: Vec<Entry>,
    /// Critiques by others on my problems that I have not looked at yet.
    pub fresh: HashSet<Uuid>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// Boxed: a problem carries its whole thread, a note or activity little.
    Problem(Box<ProblemView>),
    Note(PostView),
    Activity(ActivityView),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    Resolved,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProblemView {
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub edited: bool,
    pub retracted: bool,
    /// Stands in for a problem older than the history loaded, which a
    /// critique or metoo referred to.
    pub placeholder: bool,
    pub status: Status,
    pub resolved_by: Option<String>,
    /// The critiques that helped, as the author named them.
    pub helpful: Vec<Uuid>,
    /// What was done, as the author summed it up when resolving.
    pub summary: Option<String>,
    /// Critiques the author accepted, in the order accepted.
    pub accepted: Vec<Uuid>,
    pub metoos: Vec<String>,
    pub critiques: Vec<PostView>,
    /// Written after the resolution, in log order.
    pub reflections: Vec<ReflectionView>,
}

/// A member's reflection on a resolved problem.
#[derive(Clone, Debug, PartialEq)]
pub struct ReflectionView {
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub text: String,
    pub usefulness: u8,
}

/// A critique or a note: who wrote what, and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct PostView {
    pub id: Uuid,
    pub seq: u64,
    pub author: String,
    pub at: Millis,
    pub body: String,
    /// A critique's stance; `None` for a note.
    pub stance: Option<Stance>,
    pub edited: bool,
    pub retracted: bool,
}

/// A membership change: joined, left, removed.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityView {
    pub id: Uuid,
    pub seq: u64,
    pub at: Millis,
    pub text: String,
}

/// What applying one event did.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// Already applied (seq at or below the last one): ignored.
    Duplicate,
    /// The event skips seqs after `last`: not applied; resubscribe from `last`.
    Gap {
        last: u64,
    },
    Done,
    /// Someone critiqued a problem of mine.
    CritiqueOnMine {
        by: String,
        title: String,
    },
}

impl Entry {
    pub fn id(&self) -> Uuid {
        match self {
            Entry::Problem(p) => p.id,
            Entry::Note(n) => n.id,
            Entry::Activity(a) => a.id,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Entry::Problem(p) => p.seq,
            Entry::Note(n) => n.seq,
            Entry::Activity(a) => a.seq,
        }
    }

    /// Whether it shows at all (retracted posts are hidden).
    pub fn visible(&self) -> bool {
        match self {
            Entry::Problem(p) => !p.retracted,
            Entry::Note(n) => !n.retracted,
            Entry::Activity(_) => true,
        }
    }

    /// Whether the cursor stops on it: visible problems and notes.
    pub fn selectable(&self) -> bool {
        self.visible() && !matches!(self, Entry::Activity(_))
    }
}

impl ProblemView {
    pub fn is_helpful(&self, critique: &Uuid) -> bool {
        self.helpful.contains(critique)
    }

    pub fn is_accepted(&self, critique: &Uuid) -> bool {
        self.accepted.contains(critique)
    }

    /// Critiques that are not retracted.
    pub fn live_critiques(&self) -> impl Iterator<Item = &PostView> {
        self.critiques.iter().filter(|c| !c.retracted)
    }
}

impl Timeline {
    /// Applies a page of history (ascending seq). Unlike live events, the page
    /// may start anywhere: it is the window the client chose to load.
    pub fn load_page(&mut self, events: &[Event], me: &str, read: u64) {
        for event in events {
            if event.seq > self.last_seq {
                self.fold(event, me, read);
                self.last_seq = event.seq;
            }
        }
    }

    /// Applies a live event: exactly the next seq, else a duplicate or a gap.
    pub fn apply(&mut self, event: &Event, me: &str, read: u64) -> Applied {
        if event.seq <= self.last_seq {
            return Applied::Duplicate;
        }
        if self.last_seq > 0 && event.seq > self.last_seq + 1 {
            return Applied::Gap {
                last: self.last_seq,
            };
        }
        self.last_seq = event.seq;
        self.fold(event, me, read)
    }

    pub fn problem(&self, id: &Uuid) -> Option<&ProblemView> {
        self.entries.iter().find_map(|e| match e {
            Entry::Problem(p) if p.id == *id => Some(&**p),
            _ => None,
        })
    }

    /// The problem, or a placeholder for one older than the loaded history.
    fn problem_or_placeholder(&mut self, id: Uuid) -> &mut ProblemView {
        let index = match self
            .entries
            .iter()
            .position(|e| matches!(e, Entry::Problem(p) if p.id == id))
        {
            Some(index) => index,
            None => {
                self.entries.insert(
                    0,
                    Entry::Problem(Box::new(ProblemView {
                        id,
                        seq: 0,
                        author: String::new(),
                        at: 0,
                        title: "(an earlier problem)".into(),
                        body: String::new(),
                        tags: Vec::new(),
                        edited: false,
                        retracted: false,
                        placeholder: true,
                        status: Status::Open,
                        resolved_by: None,
                        helpful: Vec::new(),
                        summary: None,
                        accepted: Vec::new(),
                        metoos: Vec::new(),
                        critiques: Vec::new(),
                        reflections: Vec::new(),
                    })),
                );
                0
            }
        };
        match &mut self.entries[index] {
            Entry::Problem(p) => p,
            // The position above matched a problem.
            _ => unreachable!("entry {index} is a problem"),
        }
    }

    /// Critiques of this problem not yet looked at are looked at now.
    pub fn clear_fresh(&mut self, problem: &Uuid) {
        let ids: Vec<Uuid> = self
            .problem(problem)
            .map(|p| p.critiques.iter().map(|c| c.id).collect())
            .unwrap_or_default();
        for id in ids {
            self.fresh.remove(&id);
        }
    }

    /// Whether the problem has critiques not yet looked at.
    pub fn has_fresh(&self, problem: &ProblemView) -> bool {
        problem.critiques.iter().any(|c| self.fresh.contains(&c.id))
    }

    fn fold(&mut self, event: &Event, me: &str, read: u64) -> Applied {
        let retracted = event.retracted;
        match &event.body {
            EventBody::Problem { title, body, tags } => {
                self.entries.push(Entry::Problem(Box::new(ProblemView {
                    id: event.id,
                    seq: event.seq,
                    author: event.author.clone(),
                    at: event.at,
                    title: title.clone(),
                    body: body.clone(),
                    tags: tags.clone(),
                    edited: false,
                    retracted,
                    placeholder: false,
                    status: Status::Open,
                    resolved_by: None,
                    helpful: Vec::new(),
                    summary: None,
                    accepted: Vec::new(),
                    metoos: Vec::new(),
                    critiques: Vec::new(),
                    reflections: Vec::new(),
                })));
            }
            EventBody::Critique {
                problem,
                body,
                stance,
            } => {
                let problem = self.problem_or_placeholder(*problem);
                problem.critiques.push(PostView {
                    id: event.id,
                    seq: event.seq,
                    author: event.author.clone(),
                    at: event.at,
                    body: body.clone(),
                    stance: Some(*stance),
                    edited: false,
                    retracted,
                });
                let mine = problem.author == me && event.author != me;
                let title = problem.title.clone();
                if mine && !retracted && !problem.retracted && event.seq > read {
                    self.fresh.insert(event.id);
                    return Applied::CritiqueOnMine {
                        by: event.author.clone(),
                        title,
                    };
                }
            }
            EventBody::Note { body } => {
                self.entries.push(Entry::Note(PostView {
                    id: event.id,
                    seq: event.seq,
                    author: event.author.clone(),
                    at: event.at,
                    body: body.clone(),
                    stance: None,
                    edited: false,
                    retracted,
                }));
            }
            EventBody::Edit { post, title, body } => self.edit(post, title, body),
            EventBody::Retract { post } => self.retract(post),
            EventBody::Resolve {
                problem,
                helpful,
                summary,
            } => {
                let problem = self.problem_or_placeholder(*problem);
                problem.status = Status::Resolved;
                problem.resolved_by = Some(event.author.clone());
                problem.helpful = helpful.clone();
                problem.summary = summary.clone();
            }
            EventBody::Accept { problem, critique } => {
                let problem = self.problem_or_placeholder(*problem);
                if !problem.accepted.contains(critique) {
                    problem.accepted.push(*critique);
                }
            }
            EventBody::Reflect {
                problem,
                text,
                usefulness,
            } => {
                let problem = self.problem_or_placeholder(*problem);
                problem.reflections.push(ReflectionView {
                    seq: event.seq,
                    author: event.author.clone(),
                    at: event.at,
                    text: text.clone(),
                    usefulness: *usefulness,
                });
            }
            EventBody::Metoo { problem } => {
                let problem = self.problem_or_placeholder(*problem);
                if !problem.metoos.contains(&event.author) {
                    problem.metoos.push(event.author.clone());
                }
            }
            EventBody::Join { role } => {
                let text = match role {
                    Role::Facilitator => format!("{} started the circle", event.author),
                    Role::Member => format!("{} joined", event.author),
                };
                self.activity(event, text);
            }
            EventBody::Meeting {
                starts_at,
                agenda,
                title,
            } => {
                let mut text = format!(
                    "{} scheduled {} for {}",
                    event.author,
                    title.as_deref().unwrap_or("a meeting"),
                    crate::output::time(*starts_at)
                );
                let titles: Vec<String> = agenda
                    .iter()
                    .filter_map(|id| self.problem(id))
                    .filter(|p| !p.retracted)
                    .map(|p| p.title.clone())
                    .collect();
                if !titles.is_empty() {
                    text.push_str(&format!(" · agenda: {}", titles.join("; ")));
                }
                self.activity(event, text);
            }
            EventBody::Norms { version, .. } => {
                let text = format!(
                    "{} set the circle's norms (version {version})",
                    event.author
                );
                self.activity(event, text);
            }
            EventBody::NormsAccept { version } => {
                let text = format!("{} accepted the norms (version {version})", event.author);
                self.activity(event, text);
            }
            EventBody::Leave {} => self.activity(event, format!("{} left", event.author)),
            EventBody::Remove { member, reason } => {
                let text = match reason {
                    Some(reason) => format!("{} removed {member}: {reason}", event.author),
                    None => format!("{} removed {member}", event.author),
                };
                self.activity(event, text);
            }
        }
        Applied::Done
    }

    fn activity(&mut self, event: &Event, text: String) {
        self.entries.push(Entry::Activity(ActivityView {
            id: event.id,
            seq: event.seq,
            at: event.at,
            text,
        }));
    }

    fn edit(&mut self, post: &Uuid, title: &Option<String>, body: &Option<String>) {
        for entry in &mut self.entries {
            match entry {
                Entry::Problem(p) if p.id == *post => {
                    if let Some(title) = title {
                        p.title = title.clone();
                    }
                    if let Some(body) = body {
                        p.body = body.clone();
                    }
                    p.edited = true;
                    return;
                }
                Entry::Note(n) if n.id == *post => {
                    if let Some(body) = body {
                        n.body = body.clone();
                    }
                    n.edited = true;
                    return;
                }
                Entry::Problem(p) => {
                    if let Some(c) = p.critiques.iter_mut().find(|c| c.id == *post) {
                        if let Some(body) = body {
                            c.body = body.clone();
                        }
                        c.edited = true;
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn retract(&mut self, post: &Uuid) {
        self.fresh.remove(post);
        for entry in &mut self.entries {
            match entry {
                Entry::Problem(p) if p.id == *post => {
                    p.retracted = true;
                    p.title.clear();
                    p.body.clear();
                    return;
                }
                Entry::Note(n) if n.id == *post => {
                    n.retracted = true;
                    n.body.clear();
                    return;
                }
                Entry::Problem(p) => {
                    if let Some(c) = p.critiques.iter_mut().find(|c| c.id == *post) {
                        c.retracted = true;
                        c.body.clear();
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds events for tests: ids are derived from the seq so tests can
    /// name posts by seq.
    pub fn id(seq: u64) -> Uuid {
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(seq))
    }

    pub fn event(seq: u64, author: &str, body: EventBody) -> Event {
        Event {
            seq,
            id: id(seq),
            author: author.into(),
            at: 1_764_432_000_000 + seq * 60_000,
            retracted: false,
            body,
        }
    }

    pub fn problem(seq: u64, author: &str, title: &str) -> Event {
        event(
            seq,
            author,
            EventBody::Problem {
                title: title.into(),
                body: format!("{title}: the details"),
                tags: vec![],
            },
        )
    }

    pub fn critique(seq: u64, author: &str, problem: u64, body: &str) -> Event {
        event(
            seq,
            author,
            EventBody::Critique {
                problem: id(problem),
                body: body.into(),
                stance: Stance::Suggestion,
            },
        )
    }

    pub fn note(seq: u64, author: &str, body: &str) -> Event {
        event(seq, author, EventBody::Note { body: body.into() })
    }

    pub fn join(seq: u64, author: &str) -> Event {
        event(seq, author, EventBody::Join { role: Role::Member })
    }

    #[test]
    fn critiques_thread_under_their_problem() {
        let mut t = Timeline::default();
        t.load_page(
            &[
                join(1, "ana"),
                problem(2, "ana", "E-books"),
                note(3, "ben", "hi"),
            ],
            "ana",
            3,
        );
        assert_eq!(
            t.apply(&critique(4, "ben", 2, "banner"), "ana", 3),
            Applied::CritiqueOnMine {
                by: "ben".into(),
                title: "E-books".into()
            }
        );
        assert_eq!(t.entries.len(), 3);
        let Entry::Problem(p) = &t.entries[1] else {
            panic!("not a problem")
        };
        assert_eq!(p.critiques.len(), 1);
        assert_eq!(p.critiques[0].body, "banner");
        assert!(t.fresh.contains(&id(4)));
        t.clear_fresh(&id(2));
        assert!(t.fresh.is_empty());
    }

    #[test]
    fn duplicates_are_ignored_and_gaps_reported() {
        let mut t = Timeline::default();
        t.load_page(&[join(1, "ana")], "ana", 1);
        assert_eq!(t.apply(&note(2, "ana", "a"), "ana", 1), Applied::Done);
        assert_eq!(t.apply(&note(2, "ana", "a"), "ana", 1), Applied::Duplicate);
        assert_eq!(
            t.apply(&note(4, "ana", "b"), "ana", 1),
            Applied::Gap { last: 2 }
        );
        assert_eq!(t.entries.len(), 2);
        assert_eq!(t.last_seq, 2);
    }

    #[test]
    fn resolve_metoo_edit_retract_fold_in() {
        let mut t = Timeline::default();
        t.load_page(
            &[
                problem(1, "ana", "Old title"),
                critique(2, "ben", 1, "try X"),
                critique(3, "cara", 1, "try Y"),
                event(4, "cara", EventBody::Metoo { problem: id(1) }),
                event(5, "cara", EventBody::Metoo { problem: id(1) }),
                event(
                    6,
                    "ana",
                    EventBody::Edit {
                        post: id(1),
                        title: Some("New title".into()),
                        body: None,
                    },
                ),
                event(7, "cara", EventBody::Retract { post: id(3) }),
                event(
                    8,
                    "ana",
                    EventBody::Resolve {
                        problem: id(1),
                        helpful: vec![id(2)],
                        summary: Some("Did X.".into()),
                    },
                ),
                event(
                    9,
                    "ana",
                    EventBody::Accept {
                        problem: id(1),
                        critique: id(2),
                    },
                ),
                event(
                    10,
                    "cara",
                    EventBody::Reflect {
                        problem: id(1),
                        text: "X works here too.".into(),
                        usefulness: 4,
                    },
                ),
            ],
            "ana",
            0,
        );
        let p = t.problem(&id(1)).expect("problem");
        assert_eq!(p.title, "New title");
        assert!(p.edited);
        assert_eq!(p.metoos, vec!["cara".to_string()]);
        assert_eq!(p.status, Status::Resolved);
        assert!(p.is_helpful(&id(2)));
        assert_eq!(p.summary.as_deref(), Some("Did X."));
        assert!(p.is_accepted(&id(2)) && !p.is_accepted(&id(3)));
        assert_eq!(p.critiques[0].stance, Some(Stance::Suggestion));
        assert_eq!(p.reflections.len(), 1);
        assert_eq!(
            (
                p.reflections[0].author.as_str(),
                p.reflections[0].usefulness
            ),
            ("cara", 4)
        );
        assert_eq!(p.live_critiques().count(), 1);
        assert!(
            !t.fresh.contains(&id(3)),
            "a retracted critique is not fresh"
        );
    }

    #[test]
    fn a_critique_on_a_problem_before_the_window_gets_a_placeholder() {
        let mut t = Timeline::default();
        t.load_page(
            &[note(40, "ben", "hi"), critique(41, "ben", 3, "old")],
            "ana",
            0,
        );
        assert_eq!(t.entries.len(), 2);
        let Entry::Problem(p) = &t.entries[0] else {
            panic!("placeholder first")
        };
        assert!(p.placeholder);
        assert_eq!(p.critiques.len(), 1);
    }
}
