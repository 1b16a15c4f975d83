//! Properties of the circle-log fold: whatever sequence of requests members
//! make, the events the rules accept fold into a consistent state, and the
//! log as stored (retractions erase text) folds, after a restart, into the
//! same state that was built one event at a time.

use std::collections::{BTreeSet, HashMap};

use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::{ProblemStatus, Role, Stance, Visibility};
use circles_server::circle::state::erase;
use circles_server::circle::{CircleState, Draft};
use circles_server::store::CircleRecord;
use proptest::prelude::*;
use uuid::Uuid;

const PEOPLE: [&str; 4] = ["ana", "ben", "cy", "dee"];

/// One request: who, what, and indexes that pick its targets among what exists.
#[derive(Clone, Debug)]
struct Step {
    who: usize,
    what: u8,
    pick: usize,
    flag: bool,
    text: String,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..PEOPLE.len(),
        0u8..12,
        0usize..16,
        any::<bool>(),
        "[a-z ]{0,12}",
    )
        .prop_map(|(who, what, pick, flag, text)| Step {
            who,
            what,
            pick,
            flag,
            text,
        })
}

struct Log {
    state: CircleState,
    events: Vec<Event>,
    /// What the store holds: retractions rewrite earlier events.
    stored: HashMap<u64, Event>,
    problems: Vec<Uuid>,
    posts: Vec<Uuid>,
}

impl Log {
    fn new() -> Self {
        let record = CircleRecord {
            id: Uuid::now_v7(),
            slug: "c".into(),
            name: "C".into(),
            purpose: String::new(),
            visibility: Visibility::Private,
            max_members: 3,
            created_by: "ana".into(),
            created_at: 0,
        };
        let mut log = Log {
            state: CircleState::new(record),
            events: Vec::new(),
            stored: HashMap::new(),
            problems: Vec::new(),
            posts: Vec::new(),
        };
        log.try_draft("ana", Draft::Join { invited: true });
        log
    }

    fn pick(list: &[Uuid], i: usize) -> Uuid {
        if list.is_empty() || i >= list.len() + 2 {
            Uuid::now_v7() // sometimes an id that does not exist
        } else {
            list[i % list.len()]
        }
    }

    fn draft(&self, s: &Step) -> Draft {
        let text = s.text.clone();
        match s.what {
            0 => Draft::Join { invited: s.flag },
            1 => Draft::Leave,
            2 => Draft::Remove {
                member: PEOPLE[s.pick % PEOPLE.len()].into(),
                reason: None,
            },
            3 => Draft::Problem {
                title: format!("t{text}"),
                body: text,
                tags: vec![],
            },
            4 => Draft::Critique {
                problem: Self::pick(&self.problems, s.pick),
                body: format!("c{text}"),
                stance: Stance::ALL[s.pick % Stance::ALL.len()],
            },
            5 => Draft::Note {
                body: format!("n{text}"),
            },
            6 => Draft::Edit {
                post: Self::pick(&self.posts, s.pick),
                title: None,
                body: Some(format!("e{text}")),
            },
            7 => Draft::Retract {
                post: Self::pick(&self.posts, s.pick),
            },
            8 => {
                let helpful = if s.flag {
                    self.posts.iter().take(2).copied().collect()
                } else {
                    vec![]
                };
                Draft::Resolve {
                    problem: Self::pick(&self.problems, s.pick),
                    helpful,
                    summary: s.flag.then(|| format!("s{text}")),
                }
            }
            9 => Draft::Accept {
                problem: Self::pick(&self.problems, s.pick),
                critique: Self::pick(&self.posts, s.pick / 2),
            },
            10 => Draft::Reflect {
                problem: Self::pick(&self.problems, s.pick),
                text: format!("r{text}"),
                usefulness: 1 + (s.pick % 5) as u8,
            },
            _ => Draft::Metoo {
                problem: Self::pick(&self.problems, s.pick),
            },
        }
    }

    fn try_draft(&mut self, who: &str, draft: Draft) {
        let Ok(body) = self.state.check(who, draft) else {
            return;
        };
        let seq = self.state.head + 1;
        let event = Event {
            seq,
            id: Uuid::now_v7(),
            author: who.into(),
            at: seq,
            retracted: false,
            body,
        };
        if let EventBody::Retract { post } = &event.body {
            for erased in self.state.seqs_to_erase(*post) {
                let original = self.stored[&erased].clone();
                self.stored.insert(erased, erase(original));
            }
        }
        match &event.body {
            EventBody::Problem { .. } => {
                self.problems.push(event.id);
                self.posts.push(event.id);
            }
            body if body.is_post() => self.posts.push(event.id),
            _ => {}
        }
        self.state.apply(&event);
        self.stored.insert(seq, event.clone());
        self.events.push(event);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn accepted_events_fold_consistently(steps in prop::collection::vec(step(), 1..80)) {
        let mut log = Log::new();
        for s in &steps {
            let draft = log.draft(s);
            log.try_draft(PEOPLE[s.who], draft);
        }

        // Seqs are gap-free from 1.
        let seqs: Vec<u64> = log.events.iter().map(|e| e.seq).collect();
        prop_assert_eq!(seqs, (1..=log.events.len() as u64).collect::<Vec<_>>());

        // Never more members than allowed; never members without a facilitator.
        let members = log.state.members();
        prop_assert!(members.len() <= 3);
        if !members.is_empty() {
            prop_assert!(members.iter().any(|m| m.role == Role::Facilitator));
        }

        // Counts agree with the log itself.
        for summary in log.state.problem_summaries(None) {
            let thread = log.state.problem_thread(summary.id).unwrap();
            let live_critiques = thread.critiques.iter().filter(|c| !c.retracted).count();
            prop_assert_eq!(summary.critiques as usize, live_critiques);
            let metoos: BTreeSet<&String> = thread.metoos.iter().collect();
            prop_assert_eq!(metoos.len(), thread.metoos.len(), "one metoo per member");
            prop_assert!(!thread.metoos.contains(&thread.author), "not on your own problem");
            if let Some(resolution) = &thread.resolution {
                prop_assert_eq!(summary.status, ProblemStatus::Resolved);
                let critiques: BTreeSet<Uuid> = thread.critiques.iter().map(|c| c.id).collect();
                prop_assert!(resolution.helpful.iter().all(|h| critiques.contains(h)));
                prop_assert_eq!(&resolution.by, &thread.author);
            }
            // Accepted: live critiques of this problem, each once; reflections
            // only once resolved, one per member.
            let live: BTreeSet<Uuid> =
                thread.critiques.iter().filter(|c| !c.retracted).map(|c| c.id).collect();
            let accepted: BTreeSet<Uuid> = thread.accepted.iter().copied().collect();
            prop_assert_eq!(accepted.len(), thread.accepted.len());
            prop_assert!(accepted.is_subset(&live));
            prop_assert_eq!(summary.accepted as usize, accepted.len());
            for c in &thread.critiques {
                prop_assert_eq!(c.accepted, accepted.contains(&c.id));
            }
            let reflectors: BTreeSet<&String> = thread.reflections.iter().map(|r| &r.author).collect();
            prop_assert_eq!(reflectors.len(), thread.reflections.len(), "one reflection per member");
            let resolved_at = thread.resolution.as_ref().map_or(u64::MAX, |r| r.seq);
            prop_assert!(thread.reflections.iter().all(|r| r.seq > resolved_at));
        }

        // The stored log (with erased text) folds into the same state.
        let mut refolded = CircleState::new(log.state.record.clone());
        for seq in 1..=log.events.len() as u64 {
            refolded.apply(&log.stored[&seq]);
        }
        prop_assert_eq!(refolded.members(), log.state.members());
        prop_assert_eq!(refolded.problem_summaries(None), log.state.problem_summaries(None));
        for id in &log.problems {
            prop_assert_eq!(refolded.problem_thread(*id).ok(), log.state.problem_thread(*id).ok());
        }
    }
}
