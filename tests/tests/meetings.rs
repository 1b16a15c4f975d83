//! Meetings and digests: facilitators schedule meetings with problems on the
//! agenda (meeting.schedule), and anyone who may read a circle asks what
//! changed since its last meeting (circle.digest), over a scripted history
//! with chosen timestamps so the figures are exact.

use circles_protocol::methods as m;
use circles_protocol::model::{Digest, ProblemSummary, Stance};
use circles_protocol::{ErrorKind, EventBody};
use circles_tests::*;
use serde_json::json;
use uuid::Uuid;

const HOUR: u64 = 60 * 60 * 1000;
const DAY: u64 = 24 * HOUR;

fn schedule(at: u64, agenda: Vec<Uuid>) -> m::ScheduleMeeting {
    m::ScheduleMeeting {
        circle: "lib".into(),
        at,
        agenda,
        title: Some("Monthly clinic".into()),
    }
}

fn assert_error(err: &circles_protocol::ErrorObject, kind: ErrorKind, what: &str) {
    assert_eq!(err.code, kind.code(), "{what}: {err:?}");
    assert!(!err.message.is_empty(), "{what}: no message");
}

#[tokio::test]
async fn only_facilitators_schedule_meetings_and_everyone_sees_them() {
    let mut server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let mut dan = server.register("dan").await;
    let problem = bob.problem("lib", "E-books vanish", "").await.id;
    let mut watcher = server.register("cat").await;
    watcher.join("lib").await;
    let head = watcher.subscribe("lib", None).await;

    let next_week = now_millis() + 7 * DAY;
    let err = bob
        .err::<m::MeetingSchedule>(schedule(next_week, vec![]))
        .await;
    assert_error(&err, ErrorKind::Forbidden, "a member schedules");
    assert!(err.message.contains("facilitator"), "{}", err.message);
    let err = dan
        .err::<m::MeetingSchedule>(schedule(next_week, vec![]))
        .await;
    assert_error(&err, ErrorKind::Forbidden, "a non-member schedules");

    // Times: a day ago at the earliest (to record one just held), a year ahead at most.
    for at in [now_millis() - 2 * DAY, now_millis() + 400 * DAY, 0] {
        let err = ana.err::<m::MeetingSchedule>(schedule(at, vec![])).await;
        assert_error(&err, ErrorKind::InvalidParams, &format!("at {at}"));
        assert!(err.message.contains("a day ago"), "{}", err.message);
    }
    let err = ana
        .err::<m::MeetingSchedule>(schedule(next_week, vec![Uuid::now_v7()]))
        .await;
    assert_error(
        &err,
        ErrorKind::NotFound,
        "an unknown problem on the agenda",
    );
    let err = ana
        .err::<m::MeetingSchedule>(schedule(next_week, vec![problem, problem]))
        .await;
    assert_error(&err, ErrorKind::InvalidParams, "a problem twice");
    let err = ana
        .err::<m::MeetingSchedule>(schedule(next_week, vec![problem; 21]))
        .await;
    assert_error(&err, ErrorKind::InvalidParams, "21 problems");
    assert!(err.message.contains("20"), "{}", err.message);
    let mut long = schedule(next_week, vec![]);
    long.title = Some("x".repeat(201));
    let err = ana.err::<m::MeetingSchedule>(long).await;
    assert_error(&err, ErrorKind::TooLarge, "a long title");
    for bad in [
        json!({"circle": "lib", "at": "tomorrow"}),
        json!({"circle": "lib"}),
        json!({"circle": "lib", "at": next_week, "agenda": ["not-a-uuid"]}),
        json!({"circle": "lib", "at": next_week, "room": "A"}),
    ] {
        let err = ana.request_err("meeting.schedule", bad.clone()).await;
        assert_error(&err, ErrorKind::InvalidParams, &bad.to_string());
    }

    let raw = ana
        .request(
            "meeting.schedule",
            json!({"circle": "lib", "at": next_week, "agenda": [problem], "title": "Monthly clinic"}),
        )
        .await;
    let event = &raw["result"]["event"];
    assert_eq!(event["kind"], "meeting", "{raw}");
    assert_eq!(event["starts_at"], next_week, "{raw}");
    assert_eq!(event["agenda"], json!([problem]), "{raw}");
    assert_eq!(event["title"], "Monthly clinic", "{raw}");
    assert_eq!(event["author"], "ana", "{raw}");

    // Subscribers see it in the timeline, live.
    let live = watcher.next_event_in("lib").await;
    assert_eq!(live.seq, head + 1);
    assert_eq!(
        live.body,
        EventBody::Meeting {
            starts_at: next_week,
            agenda: vec![problem],
            title: Some("Monthly clinic".into()),
        }
    );

    // It is the next meeting, and stays so after a restart.
    server.restart().await;
    let mut dan = server.connect().await;
    dan.register_as("dan2", None).await;
    let digest = dan.ok::<m::CircleDigest>(digest_of("lib", None)).await;
    let next = digest.next_meeting.expect("the meeting is ahead");
    assert_eq!(
        (next.starts_at, next.agenda, next.by),
        (next_week, vec![problem], "ana".into())
    );
    assert!(digest.last_meeting.is_none());
    assert_eq!(digest.since, 0, "no meeting held yet: since the start");
}

fn digest_of(circle: &str, since: Option<u64>) -> m::DigestParams {
    m::DigestParams {
        circle: circle.into(),
        since,
    }
}

fn ids(problems: &[ProblemSummary]) -> Vec<Uuid> {
    problems.iter().map(|p| p.id).collect()
}

fn critique(problem: Uuid, stance: Stance) -> EventBody {
    EventBody::Critique {
        problem,
        body: "What worked for us".into(),
        stance,
    }
}

fn problem(title: &str) -> EventBody {
    EventBody::Problem {
        title: title.into(),
        body: String::new(),
        tags: vec![],
    }
}

/// A month of a circle's life, then the digest since its last meeting: the
/// lists and totals are exactly what happened in the window.
#[tokio::test]
async fn the_digest_of_a_scripted_month_is_exact() {
    let mut server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    for handle in ["bob", "cat"] {
        server.register(handle).await.join("lib").await;
    }
    ana.create_private_circle("inner").await;
    drop(ana);

    let t = now_millis() - 30 * DAY;
    let a = uuid_of(
        &mut server,
        "bob",
        t,
        problem("A: patrons cannot find e-books"),
    )
    .await;
    let script = server
        .script(
            "lib",
            vec![
                ("ana", t + HOUR, critique(a, Stance::Question)),
                (
                    "ana",
                    t + 2 * HOUR,
                    EventBody::Meeting {
                        starts_at: t + DAY,
                        agenda: vec![a],
                        title: None,
                    },
                ),
                ("cat", t + 2 * DAY, problem("B: the printer queue")),
                ("cat", t + 2 * DAY + HOUR, critique(a, Stance::Experience)),
                ("bob", t + 3 * DAY, problem("C: Saturday rota")),
            ],
        )
        .await;
    let (ana_on_a, first, b, cat_on_a, c) = (
        script[0].id,
        script[1].id,
        script[2].id,
        script[3].id,
        script[4].id,
    );
    let script = server
        .script(
            "lib",
            vec![
                ("bob", t + 3 * DAY + HOUR, critique(c, Stance::Suggestion)),
                (
                    "bob",
                    t + 4 * DAY,
                    EventBody::Accept {
                        problem: a,
                        critique: cat_on_a,
                    },
                ),
                (
                    "bob",
                    t + 4 * DAY + HOUR,
                    EventBody::Resolve {
                        problem: a,
                        helpful: vec![cat_on_a],
                        summary: Some("A banner on the old page.".into()),
                    },
                ),
                (
                    "ana",
                    t + 5 * DAY,
                    EventBody::Meeting {
                        starts_at: now_millis() + 5 * DAY,
                        agenda: vec![b, c],
                        title: Some("Next".into()),
                    },
                ),
            ],
        )
        .await;
    let (bob_on_c, second) = (script[0].id, script[3].id);

    let mut cat = Client::login(server.addr, "cat", PASSWORD).await;
    let digest: Digest = cat.ok::<m::CircleDigest>(digest_of("lib", None)).await;
    assert_eq!(digest.since, t + DAY, "since the meeting held");
    assert_eq!(digest.last_meeting.as_ref().map(|m| m.id), Some(first));
    let next = digest.next_meeting.as_ref().expect("a meeting ahead");
    assert_eq!((next.id, next.agenda.clone()), (second, vec![b, c]));
    assert_eq!(ids(&digest.new_problems), vec![b, c]);
    let critiques: Vec<(Uuid, Uuid, Stance, bool)> = digest
        .new_critiques
        .iter()
        .map(|c| (c.id, c.problem, c.stance, c.accepted))
        .collect();
    assert_eq!(
        critiques,
        vec![
            (cat_on_a, a, Stance::Experience, true),
            (bob_on_c, c, Stance::Suggestion, false)
        ]
    );
    assert_eq!(
        digest.new_critiques[0].problem_title,
        "A: patrons cannot find e-books"
    );
    assert_eq!(digest.resolutions.len(), 1);
    let resolved = &digest.resolutions[0];
    assert_eq!(
        (resolved.problem, resolved.resolution.at),
        (a, t + 4 * DAY + HOUR)
    );
    assert_eq!(
        resolved.resolution.summary.as_deref(),
        Some("A banner on the old page.")
    );
    // B has no critique; C only its author's own: both still unanswered.
    assert_eq!(ids(&digest.unanswered), vec![b, c]);
    let totals = (
        digest.total_new_problems,
        digest.total_new_critiques,
        digest.total_resolutions,
        digest.total_unanswered,
    );
    assert_eq!(totals, (2, 2, 1, 2));

    // An explicit since: the whole month.
    let all = cat.ok::<m::CircleDigest>(digest_of("lib", Some(t))).await;
    assert_eq!(all.since, t);
    assert_eq!(ids(&all.new_problems), vec![a, b, c]);
    let critiques: Vec<Uuid> = all.new_critiques.iter().map(|c| c.id).collect();
    assert_eq!(critiques, vec![ana_on_a, cat_on_a, bob_on_c]);
    // Since after everything: nothing new, but the unanswered still show.
    let quiet = cat
        .ok::<m::CircleDigest>(digest_of("lib", Some(t + 6 * DAY)))
        .await;
    assert!(quiet.new_problems.is_empty() && quiet.new_critiques.is_empty());
    assert!(quiet.resolutions.is_empty());
    assert_eq!(ids(&quiet.unanswered), vec![b, c]);

    // A retracted problem leaves the digest and the agenda.
    let mut bob = Client::login(server.addr, "bob", PASSWORD).await;
    bob.ok::<m::PostRetract>(m::PostRef {
        circle: "lib".into(),
        post: c,
    })
    .await;
    let digest = cat.ok::<m::CircleDigest>(digest_of("lib", None)).await;
    assert_eq!(ids(&digest.new_problems), vec![b]);
    assert_eq!(digest.new_critiques.len(), 1);
    assert_eq!(ids(&digest.unanswered), vec![b]);
    assert_eq!(digest.next_meeting.map(|m| m.agenda), Some(vec![b]));

    // Public circles are readable by anyone signed in; private ones are not.
    let mut dan = server.register("dan").await;
    dan.ok::<m::CircleDigest>(digest_of("lib", None)).await;
    let err = dan.err::<m::CircleDigest>(digest_of("inner", None)).await;
    assert_error(&err, ErrorKind::Forbidden, "a private circle's digest");
    let err = dan.err::<m::CircleDigest>(digest_of("nowhere", None)).await;
    assert_error(&err, ErrorKind::NotFound, "an unknown circle");
    for bad in [
        json!({"circle": "lib", "since": "last week"}),
        json!({"circle": "lib", "since": -1}),
        json!({"since": 0}),
        json!({"circle": "lib", "until": 0}),
    ] {
        let err = dan.request_err("circle.digest", bad.clone()).await;
        assert_error(&err, ErrorKind::InvalidParams, &bad.to_string());
    }
}

/// The first scripted event, returning its id (a problem to refer to later).
async fn uuid_of(server: &mut TestServer, author: &str, at: u64, body: EventBody) -> Uuid {
    server.script("lib", vec![(author, at, body)]).await[0].id
}
