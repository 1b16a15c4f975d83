//! Backup, restore and export: a backup taken while circle tasks keep
//! appending restores into a store whose every circle is a prefix of the
//! live log with membership folded from it; damaged files and non-empty
//! directories are refused; a scripted circle exports to the golden Markdown.
// The helpers outside `#[test]` functions panic on failure too, on purpose.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::{ProblemStatus, Role, Stance, Visibility};
use circles_server::circle::state::erase;
use circles_server::circle::task::fold;
use circles_server::circle::{CircleState, Draft};
use circles_server::export::{self, ExportFormat};
use circles_server::store::{Account, Append, CircleRecord, RestoreError, Store, Ticket, restore};
use circles_server::{App, Config};
use uuid::Uuid;

const PEOPLE: [&str; 5] = ["ana", "ben", "cy", "dee", "eve"];
/// 2024-05-01 09:00 UTC.
const T0: u64 = 1_714_554_000_000;

fn token(i: usize) -> [u8; 32] {
    [u8::try_from(i).unwrap() + 1; 32]
}

fn accounts(store: &Store) {
    for (i, handle) in PEOPLE.iter().enumerate() {
        let account = Account {
            handle: (*handle).into(),
            display_name: handle.to_uppercase(),
            password_hash: "$argon2id$test".into(),
            created_at: T0,
            admin: false,
            suspended: None,
        };
        let _ = store.create_account(&account).unwrap();
        let _ = store.add_token(handle, &token(i)).unwrap();
    }
}

fn record(id: Uuid, slug: &str) -> CircleRecord {
    CircleRecord {
        id,
        slug: slug.into(),
        name: format!("Circle {slug}"),
        purpose: String::new(),
        visibility: Visibility::Public,
        max_members: 12,
        created_by: "ana".into(),
        created_at: T0,
    }
}

fn first_event(id: Uuid, at: u64) -> Vec<u8> {
    let event = Event {
        seq: 1,
        id,
        author: "ana".into(),
        at,
        retracted: false,
        body: EventBody::Join {
            role: Role::Facilitator,
        },
    };
    serde_json::to_vec(&event).unwrap()
}

fn log(store: &Store, id: Uuid) -> Vec<Event> {
    store
        .events(id, 1, u64::MAX, usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, json)| serde_json::from_slice(&json).unwrap())
        .collect()
}

/// Appends to circle `c` through its circle task until `stop`, cycling
/// through notes, critiques and their retraction, and a member joining and
/// leaving; signals `ready` after `warm_up` appends and `tick` after each one.
async fn writer(
    app: Arc<App>,
    c: Uuid,
    problem: Uuid,
    warm_up: usize,
    ready: tokio::sync::mpsc::Sender<()>,
    tick: mpsc::SyncSender<()>,
    stop: Arc<AtomicBool>,
) {
    let mut last_critique = None;
    let mut dee_in = false;
    let mut i = 0usize;
    while !stop.load(Ordering::Acquire) {
        let (who, draft) = match i % 6 {
            0 | 3 => (
                "ben",
                Draft::Note {
                    body: format!("note {i}"),
                },
            ),
            1 => (
                "cy",
                Draft::Critique {
                    problem,
                    body: format!("critique {i}"),
                    stance: Stance::default(),
                },
            ),
            2 => match last_critique.take() {
                Some(post) => ("cy", Draft::Retract { post }),
                None => ("ben", Draft::Note { body: "-".into() }),
            },
            4 if dee_in => ("dee", Draft::Leave),
            4 => ("dee", Draft::Join { invited: false }),
            _ => (
                "eve",
                Draft::Note {
                    body: format!("eve {i}"),
                },
            ),
        };
        let event = app.circles.append(c, who, draft).await.unwrap();
        match event.body {
            EventBody::Critique { .. } => last_critique = Some(event.id),
            EventBody::Join { .. } => dee_in = true,
            EventBody::Leave {} => dee_in = false,
            _ => {}
        }
        i += 1;
        if i == warm_up {
            ready.send(()).await.unwrap();
        }
        let _ = tick.try_send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_circles_are_written_restores_a_prefix_of_each() {
    const CIRCLES: usize = 4;
    const WARM_UP: usize = 200;
    let live_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(live_dir.path()).unwrap());
    accounts(&store);
    let app = App::new(Config::with_data_dir(live_dir.path()), Arc::clone(&store));

    let mut circles = Vec::new();
    for n in 0..CIRCLES {
        let id = Uuid::now_v7();
        store
            .create_circle(
                &record(id, &format!("c{n}")),
                &first_event(Uuid::now_v7(), T0),
            )
            .unwrap()
            .durable()
            .await
            .unwrap();
        for who in ["ben", "cy", "eve"] {
            app.circles
                .append(id, who, Draft::Join { invited: false })
                .await
                .unwrap();
        }
        let problem = app
            .circles
            .append(
                id,
                "ana",
                Draft::Problem {
                    title: "stuck".into(),
                    body: "help".into(),
                    tags: vec![],
                },
            )
            .await
            .unwrap()
            .id;
        circles.push((id, problem));
    }
    let (c0, _) = circles[0];
    let _ = store.advance_read_marker("ben", c0, 3).unwrap();
    // A marker beyond what the snapshot will hold: clamped on restore.
    let _ = store.advance_read_marker("eve", c0, 1_000_000).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(CIRCLES);
    let (tick_tx, tick) = mpsc::sync_channel(4096);
    let writers: Vec<_> = circles
        .iter()
        .map(|&(id, problem)| {
            tokio::spawn(writer(
                Arc::clone(&app),
                id,
                problem,
                WARM_UP,
                ready_tx.clone(),
                tick_tx.clone(),
                Arc::clone(&stop),
            ))
        })
        .collect();
    for _ in 0..CIRCLES {
        ready.recv().await.unwrap();
    }
    // Everything written before the dump starts (acknowledged or about to be).
    let before: Vec<u64> = circles
        .iter()
        .map(|(id, _)| store.head(*id).unwrap())
        .collect();

    let dumping = Arc::clone(&store);
    let (bytes, summary) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut paused = false;
        let summary = dumping
            .dump(&mut out, |records, _| {
                // The first report comes after the first circle: let the
                // writers append 200 more posts before the dump goes on.
                if !paused {
                    assert!(records > WARM_UP as u64, "{records}");
                    paused = true;
                    while tick.try_recv().is_ok() {}
                    for _ in 0..200 {
                        tick.recv_timeout(Duration::from_secs(60)).unwrap();
                    }
                }
            })
            .unwrap();
        (out, summary)
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Release);
    for w in writers {
        w.await.unwrap();
    }
    store.flush().await.unwrap();
    assert_eq!(summary.circles, CIRCLES as u64);
    assert_eq!(summary.skipped_circles, 0);

    let restored_dir = tempfile::tempdir().unwrap();
    let target = restored_dir.path().join("data");
    let restored_summary = restore(&bytes[..], &target, |_, _| {}).unwrap();
    assert_eq!(restored_summary.records, summary.records);
    assert_eq!(restored_summary.events, summary.events);
    let restored = Store::open(&target).unwrap();

    let (mut cut_short, mut grew) = (0, 0);
    for (n, &(id, _)) in circles.iter().enumerate() {
        let live = log(&store, id);
        let back = log(&restored, id);
        let head = restored.head(id).unwrap();
        assert_eq!(head, back.len() as u64);
        assert!(
            head >= before[n],
            "circle {n}: restored head {head} < {} written before the dump",
            before[n]
        );
        assert!(head <= live.len() as u64);
        if head < live.len() as u64 {
            cut_short += 1;
        }
        if head > before[n] {
            grew += 1;
        }
        for (b, l) in back.iter().zip(&live) {
            // Equal, or retracted in the live log after the snapshot was taken.
            assert!(
                b == l || (erase(b.clone()) == *l && !b.retracted),
                "circle {n} seq {}: restored {b:?} vs live {l:?}",
                b.seq
            );
        }
        // Membership is the fold of the restored log.
        let record = restored.circle(id).unwrap().unwrap();
        assert_eq!(restored.circle_id(&record.slug).unwrap(), Some(id));
        let state = fold(record, &restored).unwrap();
        assert_eq!(state.head, head);
        assert_eq!(restored.member_count(id).unwrap(), state.member_count());
        for handle in PEOPLE {
            let role = restored
                .memberships(handle)
                .unwrap()
                .into_iter()
                .find(|(c, _)| *c == id)
                .map(|(_, role)| role);
            assert_eq!(role, state.role_of(handle), "circle {n}, {handle}");
        }
    }
    // The writers got ahead of the dump, and it took what they wrote
    // before it reached their circle.
    assert!(cut_short > 0 && grew > 0, "{cut_short} {grew}");

    // Accounts, tokens (and the index that revokes them), read markers.
    for (i, handle) in PEOPLE.iter().enumerate() {
        assert_eq!(restored.account(handle).unwrap().unwrap().handle, *handle);
        assert_eq!(
            restored.token_handle(&token(i)).unwrap().as_deref(),
            Some(*handle)
        );
    }
    let _ = restored.revoke_tokens_except("ana", None).unwrap();
    assert_eq!(restored.token_handle(&token(0)).unwrap(), None);
    // ben's marker follows his own posts (a circle task moves it), so it may
    // be past the snapshot too.
    let ben = restored.read_marker("ben", c0).unwrap();
    assert!((3..=restored.head(c0).unwrap()).contains(&ben), "{ben}");
    assert_eq!(
        restored.read_marker("eve", c0).unwrap(),
        restored.head(c0).unwrap()
    );
    drop(restored);

    // The restored store serves: a circle task takes up where its log ends.
    let restored = Arc::new(Store::open(&target).unwrap());
    let head = restored.head(c0).unwrap();
    let app = App::new(Config::with_data_dir(&target), Arc::clone(&restored));
    let event = app
        .circles
        .append(
            c0,
            "ben",
            Draft::Note {
                body: "back".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(event.seq, head + 1);
}

/// A circle written through the store with fixed ids and times, as a
/// circle task would (checks, membership changes, retractions' rewrites).
struct Script {
    store: Store,
    state: CircleState,
    tickets: Vec<Ticket>,
}

impl Script {
    fn new(dir: &std::path::Path) -> Script {
        let store = Store::open(dir).unwrap();
        accounts(&store);
        let record = CircleRecord {
            id: Uuid::from_u128(0xc1),
            slug: "reading-room".into(),
            name: "Reading room".into(),
            purpose: "Librarians helping each other with reader services.".into(),
            visibility: Visibility::Public,
            max_members: 12,
            created_by: "ana".into(),
            created_at: T0,
        };
        let first = first_event(Uuid::from_u128(1), T0 + 60_000);
        let ticket = store.create_circle(&record, &first).unwrap();
        let mut state = CircleState::new(record);
        state.apply(&serde_json::from_slice(&first).unwrap());
        Script {
            store,
            state,
            tickets: vec![ticket],
        }
    }

    fn post(&mut self, author: &str, draft: Draft) -> Uuid {
        let id = self.state.record.id;
        let body = self.state.check(author, draft).unwrap();
        let seq = self.state.head + 1;
        let event = Event {
            seq,
            id: Uuid::from_u128(u128::from(seq)),
            author: author.into(),
            at: T0 + seq * 60_000,
            retracted: false,
            body,
        };
        let mut rewrites = Vec::new();
        if let EventBody::Retract { post } = &event.body {
            for s in self.state.seqs_to_erase(*post) {
                let (_, json) = self
                    .store
                    .events(id, s, s, 1, usize::MAX)
                    .unwrap()
                    .remove(0);
                let erased = erase(serde_json::from_slice(&json).unwrap());
                rewrites.push((s, serde_json::to_vec(&erased).unwrap()));
            }
        }
        let json = serde_json::to_vec(&event).unwrap();
        let append = Append {
            seq,
            event_json: &json,
            membership: self.state.membership_changes(&event),
            rewrites,
        };
        self.tickets.push(self.store.append(id, &append).unwrap());
        self.state.apply(&event);
        event.id
    }

    fn note(&mut self, author: &str, body: &str) -> Uuid {
        self.post(author, Draft::Note { body: body.into() })
    }

    async fn done(self) -> Store {
        for ticket in self.tickets {
            ticket.durable().await.unwrap();
        }
        self.store
    }
}

/// The reading room: problems with critiques of each stance (one edited,
/// one retracted), one accepted, a resolution naming the helpful one with a
/// summary, two reflections, an edited title, notes (one edited,
/// one retracted), a retracted problem, a member who left.
async fn reading_room(dir: &std::path::Path) -> Store {
    let mut s = Script::new(dir);
    for who in ["ben", "cy", "dee"] {
        s.post(who, Draft::Join { invited: false });
    }
    let teens = s.post(
        "ana",
        Draft::Problem {
            title: "Teens don't use the catalogue".into(),
            body: "They ask at the desk instead.\nHow do you get them to search?".into(),
            tags: vec!["catalogue".into(), "teens".into()],
        },
    );
    let hunt = s.post(
        "ben",
        Draft::Critique {
            problem: teens,
            body: "We ran a scavenger hunt in the catalogue.".into(),
            stance: Stance::Experience,
        },
    );
    s.post(
        "cy",
        Draft::Critique {
            problem: teens,
            body: "Put QR codes on the shelves.\n\nThey scan them, then keep searching.".into(),
            stance: Stance::Suggestion,
        },
    );
    let rant = s.post(
        "dee",
        Draft::Critique {
            problem: teens,
            body: "Honestly, the catalogue is the problem.".into(),
            stance: Stance::Concern,
        },
    );
    s.post("dee", Draft::Retract { post: rant });
    s.post("cy", Draft::Metoo { problem: teens });
    s.post(
        "ben",
        Draft::Edit {
            post: hunt,
            title: None,
            body: Some("We ran a scavenger hunt in the catalogue, with prizes.".into()),
        },
    );
    s.post(
        "ana",
        Draft::Accept {
            problem: teens,
            critique: hunt,
        },
    );
    s.post(
        "ana",
        Draft::Resolve {
            problem: teens,
            helpful: vec![hunt],
            summary: Some("A scavenger hunt each term; catalogue searches doubled.".into()),
        },
    );
    s.post(
        "ben",
        Draft::Reflect {
            problem: teens,
            text: "Prizes matter more than the hunt itself.".into(),
            usefulness: 4,
        },
    );
    s.post(
        "cy",
        Draft::Reflect {
            problem: teens,
            text: "Trying the hunt here next month.".into(),
            usefulness: 5,
        },
    );
    let fines = s.post(
        "cy",
        Draft::Problem {
            title: "Overdue fines".into(),
            body: "Should we drop them?".into(),
            tags: vec![],
        },
    );
    s.post(
        "cy",
        Draft::Edit {
            post: fines,
            title: Some("Overdue fines: drop them?".into()),
            body: None,
        },
    );
    s.note("ben", "Conference next week, anyone going?");
    let going = s.note("cy", "I am!");
    s.post(
        "cy",
        Draft::Edit {
            post: going,
            title: None,
            body: Some("I am, see you there.".into()),
        },
    );
    let oops = s.note("dee", "oops, wrong circle");
    s.post("dee", Draft::Retract { post: oops });
    let test = s.post(
        "ben",
        Draft::Problem {
            title: "test".into(),
            body: "ignore".into(),
            tags: vec![],
        },
    );
    s.post("ben", Draft::Retract { post: test });
    s.post("dee", Draft::Leave);
    s.done().await
}

/// The golden file is checked by hand. To refresh it after a deliberate
/// change of the export, run
/// `CIRCLES_BLESS=1 cargo test -p circles-server --test backup markdown`,
/// read the diff of `server/tests/golden/reading-room.md`, and commit it.
#[tokio::test]
async fn the_markdown_export_matches_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = reading_room(dir.path()).await;
    let markdown = export::export(&store, "reading-room", ExportFormat::Markdown).unwrap();
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/reading-room.md");
    if std::env::var_os("CIRCLES_BLESS").is_some() {
        std::fs::write(golden, &markdown).unwrap();
    }
    let expected = std::fs::read_to_string(golden).unwrap();
    assert_eq!(markdown, expected, "see {golden}");
}

#[tokio::test]
async fn the_json_export_threads_critiques_and_names_the_helpful_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = reading_room(dir.path()).await;
    let json = export::export(&store, "reading-room", ExportFormat::Json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let circle = export::circle_export(&store, "reading-room").unwrap();
    assert_eq!(serde_json::to_value(&circle).unwrap(), value);

    assert_eq!(value["circle"]["slug"], "reading-room");
    assert_eq!(circle.problems.len(), 3);
    let teens = &circle.problems[0];
    assert_eq!(teens.status, ProblemStatus::Resolved);
    assert_eq!(teens.metoos, vec!["cy".to_string()]);
    let critiques: Vec<_> = teens
        .critiques
        .iter()
        .map(|c| (c.author.as_str(), c.helpful, c.edited, c.retracted))
        .collect();
    assert_eq!(
        critiques,
        vec![
            ("ben", true, true, false),
            ("cy", false, false, false),
            ("dee", false, false, true)
        ]
    );
    assert!(teens.critiques[0].body.ends_with("with prizes."));
    assert!(teens.critiques[2].body.is_empty());
    assert_eq!(
        teens.resolution.as_ref().unwrap().helpful,
        vec![teens.critiques[0].id]
    );
    let stances: Vec<_> = teens.critiques.iter().map(|c| c.stance).collect();
    assert_eq!(
        stances,
        vec![Stance::Experience, Stance::Suggestion, Stance::Concern]
    );
    assert_eq!(teens.accepted, vec![teens.critiques[0].id]);
    assert!(teens.critiques[0].accepted && !teens.critiques[1].accepted);
    assert_eq!(
        teens.resolution.as_ref().unwrap().summary.as_deref(),
        Some("A scavenger hunt each term; catalogue searches doubled.")
    );
    let reflections: Vec<_> = teens
        .reflections
        .iter()
        .map(|r| (r.author.as_str(), r.usefulness))
        .collect();
    assert_eq!(reflections, vec![("ben", 4), ("cy", 5)]);
    assert_eq!(value["problems"][0]["critiques"][0]["stance"], "experience");
    assert_eq!(
        value["problems"][0]["reflections"][1]["text"],
        "Trying the hunt here next month."
    );
    assert_eq!(circle.problems[1].title, "Overdue fines: drop them?");
    assert!(circle.problems[2].retracted && circle.problems[2].title.is_empty());
    let notes: Vec<_> = circle
        .notes
        .iter()
        .map(|n| (n.author.as_str(), n.body.as_str(), n.retracted))
        .collect();
    assert_eq!(
        notes,
        vec![
            ("ben", "Conference next week, anyone going?", false),
            ("cy", "I am, see you there.", false),
            ("dee", "", true)
        ]
    );
    let members: Vec<_> = circle.members.iter().map(|m| m.handle.as_str()).collect();
    assert_eq!(members, vec!["ana", "ben", "cy"]);
    assert!(matches!(
        export::export(&store, "nowhere", ExportFormat::Json),
        Err(export::ExportError::NotFound(_))
    ));
}

/// A thread for a case study: a member who only metoos, a critique edited,
/// one retracted (its author is then only named in the text), `@handle`s and
/// a display name (`CY`) in the text, an acceptance, a summary, reflections.
async fn case_thread(dir: &std::path::Path) -> (Store, Uuid) {
    let mut s = Script::new(dir);
    for who in ["ben", "cy", "dee"] {
        s.post(who, Draft::Join { invited: false });
    }
    let shelves = s.post(
        "ana",
        Draft::Problem {
            title: "Volunteers reshelve picture books in non-fiction".into(),
            body:
                "Since @ben's rota changed, picture books end up in 590s.\nWhat has worked for you?"
                    .into(),
            tags: vec!["shelving".into(), "volunteers".into()],
        },
    );
    s.post("cy", Draft::Metoo { problem: shelves });
    let spines = s.post(
        "ben",
        Draft::Critique {
            problem: shelves,
            body: "Colour-code the spines.".into(),
            stance: Stance::Experience,
        },
    );
    let aside = s.post(
        "dee",
        Draft::Critique {
            problem: shelves,
            body: "Fire the volunteers.".into(),
            stance: Stance::Concern,
        },
    );
    s.post("dee", Draft::Retract { post: aside });
    s.post(
        "cy",
        Draft::Critique {
            problem: shelves,
            body: "How many volunteers are there? @dee trained ours, ask her.".into(),
            stance: Stance::Question,
        },
    );
    s.post(
        "ben",
        Draft::Edit {
            post: spines,
            title: None,
            body: Some("Colour-code the spines; CY made our stickers.".into()),
        },
    );
    s.post(
        "ana",
        Draft::Accept {
            problem: shelves,
            critique: spines,
        },
    );
    s.post(
        "ana",
        Draft::Resolve {
            problem: shelves,
            helpful: vec![spines],
            summary: Some("Yellow stickers on picture books, thanks to @ben and CY.".into()),
        },
    );
    s.post(
        "ben",
        Draft::Reflect {
            problem: shelves,
            text: "Stickers beat signs.".into(),
            usefulness: 4,
        },
    );
    s.post(
        "cy",
        Draft::Reflect {
            problem: shelves,
            text: "Trying it with @ana's stickers next week.".into(),
            usefulness: 5,
        },
    );
    (s.done().await, shelves)
}

/// Like the reading room's: read the diffs of `server/tests/golden/case-study*.md`
/// after `CIRCLES_BLESS=1 cargo test -p circles-server --test backup case_study`.
#[tokio::test]
async fn the_case_study_matches_the_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let (store, shelves) = case_thread(dir.path()).await;
    let circle = export::circle_export(&store, "reading-room").unwrap();
    let thread = circle.problems.iter().find(|p| p.id == shelves).unwrap();
    let members = circle.members.iter().map(|m| m.handle.clone());
    let people = export::people(thread, members, |h| {
        store.account(h).unwrap().unwrap().display_name
    });
    for (anonymise, file) in [(false, "case-study.md"), (true, "case-study-anonymised.md")] {
        let markdown = export::case_study(
            &circle.circle.name,
            &circle.circle.slug,
            thread,
            &people,
            anonymise,
        );
        let golden = format!("{}/tests/golden/{file}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("CIRCLES_BLESS").is_some() {
            std::fs::write(&golden, &markdown).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap();
        assert_eq!(markdown, expected, "see {golden}");
        assert!(!markdown.contains("Fire the volunteers"), "{markdown}");
        if anonymise {
            assert!(!markdown.contains("2024-") && !markdown.contains("UTC"));
            for name in ["ana", "ben", "cy", "dee", "ANA", "BEN", "CY", "DEE"] {
                let word = |w: &str| w.trim_matches(|c: char| !c.is_alphanumeric()) == name;
                assert!(
                    !markdown.split_whitespace().any(word),
                    "{name} in {markdown}"
                );
            }
        }
    }
}

/// A small backup of the reading room, and a directory to restore it into.
async fn small_backup() -> (Vec<u8>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = reading_room(dir.path()).await;
    let mut out = Vec::new();
    store.dump(&mut out, |_, _| {}).unwrap();
    (out, tempfile::tempdir().unwrap())
}

#[tokio::test]
async fn a_round_trip_keeps_every_record_and_the_export() {
    let (bytes, target) = small_backup().await;
    let summary = restore(&bytes[..], target.path(), |_, _| {}).unwrap();
    assert_eq!((summary.circles, summary.events), (1, 25));
    assert_eq!(summary.erased_posts, 0);
    let restored = Store::open(target.path()).unwrap();
    let live_dir = tempfile::tempdir().unwrap();
    let live = reading_room(live_dir.path()).await;
    for format in [ExportFormat::Markdown, ExportFormat::Json] {
        assert_eq!(
            export::export(&restored, "reading-room", format).unwrap(),
            export::export(&live, "reading-room", format).unwrap()
        );
    }
    // A backup of the restored store is the same backup, but for its date.
    let mut again = Vec::new();
    restored.dump(&mut again, |_, _| {}).unwrap();
    let body = |b: &[u8]| b.splitn(2, |&c| c == b'\n').nth(1).unwrap().to_vec();
    let (first, second) = (body(&bytes), body(&again));
    let records = |b: &[u8]| b.rsplitn(3, |&c| c == b'\n').nth(2).unwrap().to_vec();
    assert_eq!(records(&first), records(&second));
}

fn assert_left_empty(dir: &std::path::Path) {
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0, "{dir:?}");
}

#[tokio::test]
async fn a_truncated_backup_is_refused() {
    let (bytes, target) = small_backup().await;
    // Cut in the middle of a line…
    let err = restore(&bytes[..bytes.len() / 2], target.path(), |_, _| {}).unwrap_err();
    assert!(matches!(err, RestoreError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_left_empty(target.path());
    // …and at the end of one: without its trailer.
    let last_line = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap();
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let err = restore(&bytes[..=last_line], target.path(), |_, _| {}).unwrap_err();
    assert!(
        matches!(err, RestoreError::Truncated { line } if line == lines - 1),
        "{err}"
    );
    assert_left_empty(target.path());
    // An empty file is not a backup either.
    let err = restore(&b""[..], target.path(), |_, _| {}).unwrap_err();
    assert!(matches!(err, RestoreError::Truncated { line: 0 }), "{err}");
}

#[tokio::test]
async fn a_flipped_byte_is_refused_with_its_line() {
    let (bytes, target) = small_backup().await;
    // In a post's text: still a valid line, so only the checksum sees it.
    let at = bytes.windows(11).position(|w| w == b"QR codes on").unwrap();
    let mut flipped = bytes.clone();
    flipped[at] ^= 0x01;
    let err = restore(&flipped[..], target.path(), |_, _| {}).unwrap_err();
    assert!(matches!(err, RestoreError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("corrupted"), "{err}");
    assert_left_empty(target.path());

    // In a line's structure: that line is named.
    let third = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 1;
    let mut flipped = bytes.clone();
    flipped[third] ^= 0x20; // `{` becomes `[`
    let err = restore(&flipped[..], target.path(), |_, _| {}).unwrap_err();
    assert!(
        matches!(err, RestoreError::Invalid { line: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("line 3 of the backup"), "{err}");
    assert_left_empty(target.path());

    // Not a backup at all.
    let err = restore(&b"hello\n"[..], target.path(), |_, _| {}).unwrap_err();
    assert!(
        matches!(err, RestoreError::Invalid { line: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_backup_from_a_newer_schema_is_refused() {
    let (bytes, target) = small_backup().await;
    let text = String::from_utf8(bytes).unwrap();
    let current = format!(
        "\"schema_version\":{}",
        circles_server::store::SCHEMA_VERSION
    );
    assert!(text.contains(&current), "{text}");
    let newer = text.replacen(&current, "\"schema_version\":99", 1);
    let err = restore(newer.as_bytes(), target.path(), |_, _| {}).unwrap_err();
    assert!(matches!(err, RestoreError::TooNew { found: 99 }), "{err}");
}

#[tokio::test]
async fn restore_refuses_a_directory_that_is_not_empty() {
    let (bytes, target) = small_backup().await;
    let keep = target.path().join("precious");
    std::fs::write(&keep, b"do not touch").unwrap();
    let err = restore(&bytes[..], target.path(), |_, _| {}).unwrap_err();
    assert!(matches!(err, RestoreError::NotEmpty(_)), "{err}");
    assert_eq!(std::fs::read(&keep).unwrap(), b"do not touch");
    // Nor over a live store (its files are there).
    let live = tempfile::tempdir().unwrap();
    let _store = Store::open(live.path()).unwrap();
    let err = restore(&bytes[..], live.path(), |_, _| {}).unwrap_err();
    assert!(matches!(err, RestoreError::NotEmpty(_)), "{err}");
}

/// A snapshot can catch a retraction half-way (its rewrites of earlier
/// events run while the dump reads them): a post whose edit lost its text
/// comes back retracted in full, never with its older text showing.
#[tokio::test]
async fn a_post_erased_in_part_is_erased_in_full_on_restore() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = Uuid::from_u128(0xc2);
    let _ = store
        .create_circle(&record(id, "half"), &first_event(Uuid::from_u128(1), T0))
        .unwrap();
    let problem = Event {
        seq: 2,
        id: Uuid::from_u128(2),
        author: "ana".into(),
        at: T0,
        retracted: false,
        body: EventBody::Problem {
            title: "private".into(),
            body: "first draft".into(),
            tags: vec![],
        },
    };
    let edit = Event {
        seq: 3,
        id: Uuid::from_u128(3),
        author: "ana".into(),
        at: T0,
        retracted: false,
        body: EventBody::Edit {
            post: problem.id,
            title: None,
            body: Some("second draft".into()),
        },
    };
    // As the dump may see it: the edit already erased, the problem not yet.
    for event in [problem.clone(), erase(edit)] {
        let json = serde_json::to_vec(&event).unwrap();
        let append = Append {
            seq: event.seq,
            event_json: &json,
            ..Append::default()
        };
        store.append(id, &append).unwrap().durable().await.unwrap();
    }
    let mut bytes = Vec::new();
    store.dump(&mut bytes, |_, _| {}).unwrap();
    let target = tempfile::tempdir().unwrap();
    let summary = restore(&bytes[..], target.path(), |_, _| {}).unwrap();
    assert_eq!(summary.erased_posts, 1);
    let restored = Store::open(target.path()).unwrap();
    let events = log(&restored, id);
    assert_eq!(events[1], erase(problem));
    assert!(events[2].retracted);
    let thread = &export::circle_export(&restored, "half").unwrap().problems[0];
    assert!(thread.retracted && thread.body.is_empty());
}

/// Logs written before stances and summaries existed: a critique without
/// `stance` and a resolve without `summary`, as the older server stored
/// them. They fold, export, back up and restore as they did, the critique a
/// suggestion.
#[tokio::test]
async fn a_log_from_before_stances_reads_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    accounts(&store);
    let id = Uuid::from_u128(0xc3);
    let _ = store
        .create_circle(&record(id, "old"), &first_event(Uuid::from_u128(1), T0))
        .unwrap();
    let (p, c) = (Uuid::from_u128(2), Uuid::from_u128(3));
    let old = [
        serde_json::json!({"seq": 2, "id": p, "author": "ana", "at": T0, "kind": "problem",
                           "title": "Old", "body": "", "tags": []}),
        serde_json::json!({"seq": 3, "id": c, "author": "ana", "at": T0, "kind": "critique",
                           "problem": p, "body": "Written before stances."}),
        serde_json::json!({"seq": 4, "id": Uuid::from_u128(4), "author": "ana", "at": T0,
                           "kind": "resolve", "problem": p, "helpful": [c]}),
    ];
    for event in &old {
        let json = serde_json::to_vec(event).unwrap();
        let append = Append {
            seq: event["seq"].as_u64().unwrap(),
            event_json: &json,
            ..Append::default()
        };
        store.append(id, &append).unwrap().durable().await.unwrap();
    }
    let state = fold(store.circle(id).unwrap().unwrap(), &store).unwrap();
    let thread = state.problem_thread(p).unwrap();
    assert_eq!(thread.critiques[0].stance, Stance::Suggestion);
    assert!(thread.critiques[0].helpful && !thread.critiques[0].accepted);
    assert_eq!(thread.resolution.as_ref().unwrap().summary, None);
    assert!(thread.reflections.is_empty());

    let mut bytes = Vec::new();
    store.dump(&mut bytes, |_, _| {}).unwrap();
    let target = tempfile::tempdir().unwrap();
    let summary = restore(&bytes[..], target.path(), |_, _| {}).unwrap();
    assert_eq!(summary.events, 4);
    let restored = Store::open(target.path()).unwrap();
    // Restored byte for byte: the stored JSON is not rewritten with a stance.
    for (seq, json) in restored.events(id, 2, 4, 10, usize::MAX).unwrap() {
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&json).unwrap(),
            old[seq as usize - 2]
        );
    }
    let export = export::circle_export(&restored, "old").unwrap();
    assert_eq!(export.problems[0], thread);
}
