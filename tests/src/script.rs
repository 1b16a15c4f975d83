//! A scripted circle history with chosen times, written into a stopped
//! server's store as its circle task would write it (checked drafts,
//! membership changes, a retraction's rewrites), so that the restarted
//! server folds and serves it like any other history.
//!
//! ```text
//! server.stop().await;
//! let mut script = Script::open(server.data_dir(), "lib");
//! let p = script.post("ana", T0, Draft::Problem { … });
//! script.done().await;
//! server.start_again().await;
//! ```

use std::path::Path;

use circles_protocol::Millis;
use circles_protocol::event::{Event, EventBody};
use circles_server::circle::state::erase;
use circles_server::circle::task::fold;
use circles_server::circle::{CircleState, Draft};
use circles_server::store::{Append, Store, Ticket};
use uuid::Uuid;

/// Appends to one circle of a store that no server has open.
pub struct Script {
    store: Store,
    state: CircleState,
    tickets: Vec<Ticket>,
}

impl Script {
    /// Opens the store in `data_dir` and folds the circle named `slug`.
    pub fn open(data_dir: &Path, slug: &str) -> Script {
        let store = Store::open(data_dir).expect("open the stopped server's store");
        let id = store
            .circle_id(slug)
            .expect("read the circle index")
            .unwrap_or_else(|| panic!("no circle {slug}"));
        let record = store
            .circle(id)
            .expect("read the circle")
            .unwrap_or_else(|| panic!("no record of circle {slug}"));
        let state = fold(record, &store).expect("fold the circle");
        Script {
            store,
            state,
            tickets: Vec::new(),
        }
    }

    /// Appends what `author` may append now, dated `at`; returns its id.
    pub fn post(&mut self, author: &str, at: Millis, draft: Draft) -> Uuid {
        let circle = self.state.record.id;
        let body = self
            .state
            .check(author, draft)
            .unwrap_or_else(|err| panic!("the script's draft by {author} is refused: {err:?}"));
        let event = Event {
            seq: self.state.head + 1,
            id: Uuid::now_v7(),
            author: author.into(),
            at,
            retracted: false,
            body,
        };
        let mut rewrites = Vec::new();
        if let EventBody::Retract { post } = &event.body {
            for seq in self.state.seqs_to_erase(*post) {
                let stored = self
                    .store
                    .events(circle, seq, seq, 1, usize::MAX)
                    .expect("read the retracted post");
                let (_, json) = stored.first().expect("the retracted post is stored");
                let old: Event = serde_json::from_slice(json).expect("a stored event");
                let erased = serde_json::to_vec(&erase(old)).expect("serialize");
                rewrites.push((seq, erased));
            }
        }
        let json = serde_json::to_vec(&event).expect("serialize the event");
        let append = Append {
            seq: event.seq,
            event_json: &json,
            membership: self.state.membership_changes(&event),
            rewrites,
        };
        let ticket = self.store.append(circle, &append).expect("append");
        self.tickets.push(ticket);
        self.state.apply(&event);
        event.id
    }

    /// Waits until everything is on disk and closes the store.
    pub async fn done(self) {
        for ticket in self.tickets {
            crate::within("the scripted events to be durable", ticket.durable())
                .await
                .expect("durable");
        }
    }
}

/// One hour, in ms.
pub const HOUR: Millis = 3600 * 1000;
/// 2024-05-06 00:00 UTC, a Monday: the start of [`three_weeks`].
pub const WEEKS_T0: Millis = 1_714_953_600_000;

/// The problems [`three_weeks`] raises, in order.
pub struct ThreeWeeks {
    pub a: Uuid,
    pub b: Uuid,
    pub c: Uuid,
    pub d: Uuid,
    pub e: Uuid,
}

/// Three weeks of a circle whose members include ana, ben, cy and dee, from
/// [`WEEKS_T0`] (the history `circle::stats`'s unit test scripts too):
///
/// - week 1: a (ana, +1 h) is critiqued by ben after 1 h and resolved after
///   29 h; b (ben, +10 h) gets its author's own critique, cy's (retracted),
///   then ana's after 3 h; a problem raised and retracted at +2 h.
/// - week 2: c (cy, +8 d) is critiqued by dee after 6 h, resolved after 24 h.
/// - week 3: b is resolved (+15 d, after 14 d 14 h); d (dee, +15 d) gets no
///   critique; e (ana, +16 d) is critiqued by ben after 10 h; at +17 d d
///   and e get two metoos each, c one.
///
/// So over the three weeks: 5 raised, 3 resolved, a median first critique of
/// 4 h 30 min (1, 3, 6, 10 h), a median resolution of 29 h (24 h, 29 h,
/// 350 h), d unanswered, d then e most metoo'd, and per week (2, 1), (1, 1),
/// (2, 1) raised and resolved.
pub fn three_weeks(s: &mut Script) -> ThreeWeeks {
    let t = |hours: Millis| WEEKS_T0 + hours * HOUR;
    let problem = |title: &str| Draft::Problem {
        title: title.into(),
        body: String::new(),
        tags: vec![],
    };
    let critique = |problem: Uuid| Draft::Critique {
        problem,
        body: "try this".into(),
        stance: Default::default(),
    };
    let resolve = |problem: Uuid| Draft::Resolve {
        problem,
        helpful: vec![],
        summary: None,
    };
    let a = s.post("ana", t(1), problem("a"));
    s.post("ben", t(2), critique(a));
    let gone = s.post("cy", t(2), problem("gone"));
    s.post("cy", t(3), Draft::Retract { post: gone });
    let b = s.post("ben", t(10), problem("b"));
    s.post("ben", t(11), critique(b));
    let retracted = s.post("cy", t(12), critique(b));
    s.post("cy", t(12) + 1, Draft::Retract { post: retracted });
    s.post("ana", t(13), critique(b));
    s.post("ana", t(30), resolve(a));
    let c = s.post("cy", t(8 * 24), problem("c"));
    s.post("dee", t(8 * 24 + 6), critique(c));
    s.post("cy", t(9 * 24), resolve(c));
    s.post("ben", t(15 * 24), resolve(b));
    let d = s.post("dee", t(15 * 24), problem("d"));
    let e = s.post("ana", t(16 * 24), problem("e"));
    s.post("ben", t(16 * 24 + 10), critique(e));
    for (who, p) in [("ana", d), ("ben", d), ("ben", e), ("cy", e), ("dee", c)] {
        s.post(who, t(17 * 24), Draft::Metoo { problem: p });
    }
    ThreeWeeks { a, b, c, d, e }
}
