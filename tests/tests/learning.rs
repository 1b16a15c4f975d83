//! Learning circles: critiques with a stance, critiques the problem's author
//! accepts, resolutions that sum up what was done, and reflections written
//! after a problem is resolved (post.critique's `stance`, problem.accept,
//! problem.resolve's `summary`, problem.reflect), as raw frames and typed
//! calls, with their permissions, errors, views, live events and a restart.

use circles_protocol::methods as m;
use circles_protocol::model::{ProblemThread, Stance};
use circles_protocol::{ErrorKind, Event, EventBody, notify};
use circles_tests::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// A server with ana (facilitator of public circle "lib"), bob and cat
/// (members) and dan (signed in, not a member).
async fn setup() -> (TestServer, Client, Client, Client, Client) {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let mut cat = server.register("cat").await;
    cat.join("lib").await;
    let dan = server.register("dan").await;
    (server, ana, bob, cat, dan)
}

fn critique(problem: Uuid, body: &str, stance: Option<Stance>) -> m::NewCritique {
    m::NewCritique {
        circle: "lib".into(),
        problem,
        body: body.into(),
        stance,
    }
}

fn accept(problem: Uuid, critique: Uuid) -> m::AcceptCritique {
    m::AcceptCritique {
        circle: "lib".into(),
        problem,
        critique,
    }
}

fn resolve(problem: Uuid, summary: Option<&str>) -> m::Resolve {
    m::Resolve {
        circle: "lib".into(),
        problem,
        helpful: None,
        summary: summary.map(Into::into),
    }
}

fn reflect(problem: Uuid, text: &str, usefulness: u8) -> m::NewReflection {
    m::NewReflection {
        circle: "lib".into(),
        problem,
        text: text.into(),
        usefulness,
    }
}

/// The `event` member of the next event notification in "lib", as sent.
async fn next_raw_event(client: &mut Client) -> Value {
    client
        .next_matching("an event notification in lib", |n| {
            (n.method == notify::EVENT && n.params["circle"] == "lib")
                .then(|| n.params["event"].clone())
        })
        .await
}

fn assert_error(err: &circles_protocol::ErrorObject, kind: ErrorKind, what: &str) {
    assert_eq!(err.kind(), kind, "{what}: {err:?}");
    assert_eq!(err.code, kind.code(), "{what}");
}

async fn thread(client: &mut Client, problem: Uuid) -> ProblemThread {
    client.problem_thread("lib", problem).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critiques_carry_a_stance_that_defaults_to_suggestion() {
    let (_server, mut ana, mut bob, mut cat, _dan) = setup().await;
    let problem = ana.problem("lib", "Teens skip the catalogue", "").await;
    cat.subscribe("lib", None).await;

    let mut ids = Vec::new();
    for stance in Stance::ALL {
        let body = format!("as a {}", stance.name());
        let event = bob
            .ok::<m::PostCritique>(critique(problem.id, &body, Some(stance)))
            .await
            .event;
        assert_eq!(
            event.body,
            EventBody::Critique {
                problem: problem.id,
                body,
                stance
            }
        );
        let live = next_raw_event(&mut cat).await;
        assert_eq!(live["kind"], "critique");
        assert_eq!(live["stance"], stance.name(), "{live}");
        ids.push(event.id);
    }

    // A client that knows nothing of stances (the old shape) still posts,
    // and gets the documented default on the wire.
    let old = bob
        .request(
            "post.critique",
            json!({"circle": "lib", "problem": problem.id, "body": "no stance"}),
        )
        .await;
    assert_eq!(old["result"]["event"]["stance"], "suggestion", "{old}");
    let live = next_raw_event(&mut cat).await;
    assert_eq!(live["stance"], "suggestion", "{live}");

    // Anything else is invalid_params, naming the field and what it may be.
    for bad in [json!("rant"), json!("Suggestion"), json!(""), json!(3)] {
        let params = json!({"circle": "lib", "problem": problem.id, "body": "b", "stance": bad});
        let err = bob.request_err("post.critique", params).await;
        assert_error(&err, ErrorKind::InvalidParams, &format!("stance {bad}"));
        assert!(err.message.contains("stance"), "{}", err.message);
        if bad.is_string() {
            for stance in Stance::ALL {
                assert!(err.message.contains(stance.name()), "{}", err.message);
            }
        }
    }

    let thread = thread(&mut ana, problem.id).await;
    let stances: Vec<Stance> = thread.critiques.iter().map(|c| c.stance).collect();
    assert_eq!(
        stances,
        vec![
            Stance::Suggestion,
            Stance::Question,
            Stance::Experience,
            Stance::Concern,
            Stance::Suggestion
        ]
    );
    let history = ana.history_all("lib").await;
    let stored: Vec<&Event> = history
        .iter()
        .filter(|e| matches!(e.body, EventBody::Critique { .. }))
        .collect();
    assert_eq!(stored.len(), 5);
    assert_eq!(stored[0].id, ids[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_problems_author_accepts_its_critiques() {
    let (_server, mut ana, mut bob, mut cat, mut dan) = setup().await;
    let problem = ana.problem("lib", "Teens skip the catalogue", "").await;
    let c1 = bob.critique("lib", problem.id, "A scavenger hunt.").await;
    let c2 = cat
        .critique("lib", problem.id, "QR codes on shelves.")
        .await;
    let c3 = cat.critique("lib", problem.id, "Never mind.").await;
    let other = bob.problem("lib", "Fines", "").await;
    let elsewhere = cat.critique("lib", other.id, "Drop them.").await;
    let note = cat.note("lib", "hello").await;
    bob.subscribe("lib", None).await;

    // Not the author, or not a member: forbidden.
    for (who, client) in [("bob", &mut bob), ("cat", &mut cat), ("dan", &mut dan)] {
        let err = client
            .err::<m::ProblemAccept>(accept(problem.id, c1.id))
            .await;
        assert_error(&err, ErrorKind::Forbidden, who);
    }
    // Not a critique of this problem: not_found.
    for (what, id) in [
        ("another problem's critique", elsewhere.id),
        ("the problem itself", problem.id),
        ("a note", note.id),
        ("an unknown id", Uuid::now_v7()),
    ] {
        let err = ana.err::<m::ProblemAccept>(accept(problem.id, id)).await;
        assert_error(&err, ErrorKind::NotFound, what);
    }
    let err = ana
        .err::<m::ProblemAccept>(accept(Uuid::now_v7(), c1.id))
        .await;
    assert_error(&err, ErrorKind::NotFound, "an unknown problem");
    cat.ok::<m::PostRetract>(post_ref("lib", c3.id)).await;
    let err = ana.err::<m::ProblemAccept>(accept(problem.id, c3.id)).await;
    assert_error(&err, ErrorKind::NotFound, "a retracted critique");

    // The author accepts: an `accept` event naming both, live to subscribers.
    let accepted = ana
        .ok::<m::ProblemAccept>(accept(problem.id, c1.id))
        .await
        .event;
    assert_eq!(accepted.author, "ana");
    assert_eq!(
        accepted.body,
        EventBody::Accept {
            problem: problem.id,
            critique: c1.id
        }
    );
    let live = loop {
        let event = next_raw_event(&mut bob).await;
        if event["kind"] != "retract" {
            break event;
        }
    };
    assert_eq!(
        live,
        json!({"seq": accepted.seq, "id": accepted.id, "author": "ana", "at": accepted.at,
               "kind": "accept", "problem": problem.id, "critique": c1.id})
    );
    let err = ana.err::<m::ProblemAccept>(accept(problem.id, c1.id)).await;
    assert_error(&err, ErrorKind::Conflict, "accepted twice");

    // Resolved problems take acceptances too.
    ana.ok::<m::ProblemResolve>(resolve(problem.id, None)).await;
    ana.ok::<m::ProblemAccept>(accept(problem.id, c2.id)).await;

    let view = thread(&mut bob, problem.id).await;
    assert_eq!(view.accepted, vec![c1.id, c2.id], "in the order accepted");
    let flags: Vec<(Uuid, bool)> = view.critiques.iter().map(|c| (c.id, c.accepted)).collect();
    assert_eq!(
        flags,
        vec![(c1.id, true), (c2.id, true), (c3.id, false)],
        "{view:?}"
    );
    let list = bob
        .ok::<m::ProblemList>(m::ListProblems {
            circle: "lib".into(),
            status: None,
        })
        .await
        .problems;
    let counts: Vec<(Uuid, u32)> = list.iter().map(|p| (p.id, p.accepted)).collect();
    assert_eq!(counts, vec![(problem.id, 2), (other.id, 0)]);

    // A retracted critique is no longer counted as accepted.
    cat.ok::<m::PostRetract>(post_ref("lib", c2.id)).await;
    let view = thread(&mut bob, problem.id).await;
    assert_eq!(view.accepted, vec![c1.id]);

    // An author who left may no longer accept.
    let later = cat.critique("lib", other.id, "Or halve them.").await;
    bob.ok::<m::CircleLeave>(circle_ref("lib")).await;
    let err = bob
        .err::<m::ProblemAccept>(accept(other.id, later.id))
        .await;
    assert_error(&err, ErrorKind::Forbidden, "an author who left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_may_sum_up_what_was_done() {
    let (_server, mut ana, _bob, mut cat, _dan) = setup().await;
    let p1 = ana.problem("lib", "One", "").await;
    let p2 = ana.problem("lib", "Two", "").await;
    let p3 = ana.problem("lib", "Three", "").await;
    let p4 = ana.problem("lib", "Four", "").await;
    cat.subscribe("lib", None).await;

    // Trimmed, and carried by the event and the thread's resolution.
    let resolved = ana
        .request(
            "problem.resolve",
            json!({"circle": "lib", "problem": p1.id, "summary": "  A hunt each term.\n"}),
        )
        .await;
    assert_eq!(
        resolved["result"]["event"]["summary"], "A hunt each term.",
        "{resolved}"
    );
    let live = next_raw_event(&mut cat).await;
    assert_eq!(live["kind"], "resolve");
    assert_eq!(live["summary"], "A hunt each term.");
    let view = thread(&mut cat, p1.id).await;
    let resolution = view.resolution.expect("resolved");
    assert_eq!(resolution.summary.as_deref(), Some("A hunt each term."));

    // Blank is the same as none: no summary member at all.
    let blank = ana
        .request(
            "problem.resolve",
            json!({"circle": "lib", "problem": p2.id, "summary": " \n\t "}),
        )
        .await;
    assert!(blank["result"]["event"].get("summary").is_none(), "{blank}");
    let none = ana
        .request(
            "problem.resolve",
            json!({"circle": "lib", "problem": p3.id}),
        )
        .await;
    assert!(none["result"]["event"].get("summary").is_none(), "{none}");
    assert_eq!(
        thread(&mut cat, p3.id).await.resolution.unwrap().summary,
        None
    );

    // At most 1000 characters (not bytes); more is too_large and resolves nothing.
    let err = ana
        .err::<m::ProblemResolve>(resolve(p4.id, Some(&"x".repeat(1001))))
        .await;
    assert_error(&err, ErrorKind::TooLarge, "1001 characters");
    assert!(err.message.contains("summary"), "{}", err.message);
    assert!(thread(&mut cat, p4.id).await.resolution.is_none());
    let long = "é".repeat(1000);
    let event = ana
        .ok::<m::ProblemResolve>(resolve(p4.id, Some(&long)))
        .await
        .event;
    assert!(matches!(event.body, EventBody::Resolve { summary: Some(s), .. } if s == long));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_reflect_on_a_problem_once_it_is_resolved() {
    let (_server, mut ana, mut bob, mut cat, mut dan) = setup().await;
    let problem = ana.problem("lib", "Teens skip the catalogue", "").await;
    let c1 = bob.critique("lib", problem.id, "A scavenger hunt.").await;

    // Before the resolution: conflict, saying what to do.
    let err = bob
        .err::<m::ProblemReflect>(reflect(problem.id, "Hunts work.", 4))
        .await;
    assert_error(&err, ErrorKind::Conflict, "open problem");
    assert!(err.message.contains("resolve it first"), "{}", err.message);

    ana.ok::<m::ProblemResolve>(resolve(problem.id, Some("A hunt.")))
        .await;
    cat.subscribe("lib", None).await;

    // Field rules.
    for usefulness in [0, 6, 255] {
        let err = bob
            .err::<m::ProblemReflect>(reflect(problem.id, "t", usefulness))
            .await;
        assert_error(
            &err,
            ErrorKind::InvalidParams,
            &format!("usefulness {usefulness}"),
        );
        assert!(err.message.contains("usefulness"), "{}", err.message);
    }
    let err = bob
        .request_err(
            "problem.reflect",
            json!({"circle": "lib", "problem": problem.id, "text": "t", "usefulness": 300}),
        )
        .await;
    assert_error(&err, ErrorKind::InvalidParams, "usefulness 300");
    let err = bob
        .request_err(
            "problem.reflect",
            json!({"circle": "lib", "problem": problem.id, "text": "t"}),
        )
        .await;
    assert_error(&err, ErrorKind::InvalidParams, "no usefulness");
    for blank in ["", "  \n "] {
        let err = bob
            .err::<m::ProblemReflect>(reflect(problem.id, blank, 3))
            .await;
        assert_error(&err, ErrorKind::InvalidParams, &format!("text {blank:?}"));
    }
    let err = bob
        .err::<m::ProblemReflect>(reflect(problem.id, &"x".repeat(16 * 1024 + 1), 3))
        .await;
    assert_error(&err, ErrorKind::TooLarge, "text over 16 KiB");

    // Who and what: members only, a live problem of this circle.
    let err = dan
        .err::<m::ProblemReflect>(reflect(problem.id, "Hunts work.", 4))
        .await;
    assert_error(&err, ErrorKind::Forbidden, "not a member");
    for id in [Uuid::now_v7(), c1.id] {
        let err = bob
            .err::<m::ProblemReflect>(reflect(id, "Hunts work.", 4))
            .await;
        assert_error(&err, ErrorKind::NotFound, "not a problem");
    }

    // A reflection: a `reflect` event, live to subscribers.
    let first = bob
        .ok::<m::ProblemReflect>(reflect(problem.id, "Prizes matter most.", 4))
        .await
        .event;
    assert_eq!(
        first.body,
        EventBody::Reflect {
            problem: problem.id,
            text: "Prizes matter most.".into(),
            usefulness: 4
        }
    );
    let live = next_raw_event(&mut cat).await;
    assert_eq!(
        live,
        json!({"seq": first.seq, "id": first.id, "author": "bob", "at": first.at,
               "kind": "reflect", "problem": problem.id, "text": "Prizes matter most.",
               "usefulness": 4})
    );
    // One per member per problem; the author may reflect too.
    let err = bob
        .err::<m::ProblemReflect>(reflect(problem.id, "Again.", 5))
        .await;
    assert_error(&err, ErrorKind::Conflict, "a second reflection");
    let second = ana
        .ok::<m::ProblemReflect>(reflect(problem.id, "Run it every term.", 5))
        .await
        .event;

    let view = thread(&mut dan, problem.id).await; // a public circle: readable
    let got: Vec<Value> = view
        .reflections
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            json!({"id": first.id, "seq": first.seq, "author": "bob", "at": first.at,
                   "text": "Prizes matter most.", "usefulness": 4}),
            json!({"id": second.id, "seq": second.seq, "author": "ana", "at": second.at,
                   "text": "Run it every term.", "usefulness": 5}),
        ]
    );
    let list = dan
        .ok::<m::ProblemList>(m::ListProblems {
            circle: "lib".into(),
            status: None,
        })
        .await
        .problems;
    assert_eq!(list[0].reflections, 2);

    // Reflections are not posts: post.edit and post.retract do not find them.
    let err = bob.err::<m::PostRetract>(post_ref("lib", first.id)).await;
    assert_error(&err, ErrorKind::NotFound, "retracting a reflection");
    let err = bob
        .err::<m::PostEdit>(m::EditPost {
            circle: "lib".into(),
            post: first.id,
            title: None,
            body: Some("x".into()),
        })
        .await;
    assert_error(&err, ErrorKind::NotFound, "editing a reflection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stances_acceptances_summaries_and_reflections_survive_a_restart() {
    let (mut server, mut ana, mut bob, _cat, _dan) = setup().await;
    let problem = ana.problem("lib", "Teens skip the catalogue", "").await;
    let c1 = bob
        .ok::<m::PostCritique>(critique(
            problem.id,
            "What did you try?",
            Some(Stance::Question),
        ))
        .await
        .event;
    let c2 = bob
        .ok::<m::PostCritique>(critique(problem.id, "A hunt.", Some(Stance::Experience)))
        .await
        .event;
    ana.ok::<m::ProblemAccept>(accept(problem.id, c2.id)).await;
    ana.ok::<m::ProblemResolve>(resolve(problem.id, Some("A hunt each term.")))
        .await;
    bob.ok::<m::ProblemReflect>(reflect(problem.id, "Prizes matter most.", 4))
        .await;
    let before = thread(&mut ana, problem.id).await;
    let log_before = ana.history_all("lib").await;
    assert_eq!(before.accepted, vec![c2.id]);
    assert_eq!(before.critiques[0].id, c1.id);

    let token = ana.token.clone();
    server.restart().await;
    let mut ana = Client::with_token(server.addr, &token).await;
    let after = thread(&mut ana, problem.id).await;
    assert_eq!(after, before);
    assert_eq!(ana.history_all("lib").await, log_before);
    assert_eq!(after.critiques[0].stance, Stance::Question);
    assert_eq!(
        after.resolution.unwrap().summary.as_deref(),
        Some("A hunt each term.")
    );
    assert_eq!(after.reflections[0].usefulness, 4);
}
