//! Posts and problems: post.problem/critique/note/edit/retract,
//! problem.resolve/metoo/list/get, with their authorization rules and errors.

use circles_protocol::methods as m;
use circles_protocol::model::{ProblemStatus, Stance};
use circles_protocol::{ErrorKind, EventBody};
use circles_tests::*;
use uuid::Uuid;

/// A server with ana (facilitator of public circle "lib"), bob and cat (members).
async fn setup() -> (TestServer, Client, Client, Client) {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let mut cat = server.register("cat").await;
    cat.join("lib").await;
    (server, ana, bob, cat)
}

fn edit(post: Uuid, title: Option<&str>, body: Option<&str>) -> m::EditPost {
    m::EditPost {
        circle: "lib".into(),
        post,
        title: title.map(Into::into),
        body: body.map(Into::into),
    }
}

fn resolve(problem: Uuid, helpful: Option<Vec<Uuid>>) -> m::Resolve {
    m::Resolve {
        circle: "lib".into(),
        problem,
        helpful,
        summary: None,
    }
}

fn list(status: Option<ProblemStatus>) -> m::ListProblems {
    m::ListProblems {
        circle: "lib".into(),
        status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn note_problem_and_critique_append_events() {
    let (_server, mut ana, mut bob, _cat) = setup().await;
    // head is 3: ana's join, bob's join, cat's join.
    let before = now_millis();
    let note = bob.note("lib", "hello circle").await;
    assert_eq!(note.seq, 4);
    assert_eq!(note.author, "bob");
    assert!(!note.retracted);
    assert_eq!(note.id.get_version_num(), 7, "post ids are UUID v7");
    assert!(note.at + 60_000 >= before && note.at <= now_millis() + 60_000);
    assert_eq!(
        note.body,
        EventBody::Note {
            body: "hello circle".into()
        }
    );

    let problem = ana
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "Patrons cannot find e-books".into(),
            body: "Since the catalogue moved...".into(),
            tags: Some(vec![
                "Catalogue".into(),
                "e-books".into(),
                "catalogue".into(),
            ]),
        })
        .await
        .event;
    assert_eq!(problem.seq, 5);
    assert_eq!(
        problem.body,
        EventBody::Problem {
            title: "Patrons cannot find e-books".into(),
            body: "Since the catalogue moved...".into(),
            tags: vec!["catalogue".into(), "e-books".into()],
        },
        "tags are lowercased and duplicates dropped"
    );
    // A problem's body may be empty.
    let bare = ana
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "Short question".into(),
            body: String::new(),
            tags: None,
        })
        .await
        .event;
    assert_eq!(bare.seq, 6);
    assert_eq!(
        bare.body,
        EventBody::Problem {
            title: "Short question".into(),
            body: String::new(),
            tags: vec![]
        }
    );

    let critique = bob
        .critique("lib", problem.id, "A banner on the home page helped us.")
        .await;
    assert_eq!(critique.seq, 7);
    assert_eq!(
        critique.body,
        EventBody::Critique {
            problem: problem.id,
            body: "A banner on the home page helped us.".into(),
            stance: Stance::Suggestion,
        }
    );
    // The log holds exactly these, in order.
    let events = ana.history_all("lib").await;
    assert_seqs(&events, 1, 7, "log after posting");
    assert_eq!(events[3], note);
    assert_eq!(events[4], problem);
    assert_eq!(events[5], bare);
    assert_eq!(events[6], critique);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_are_validated() {
    let (_server, mut ana, _bob, _cat) = setup().await;
    let problem = ana.problem("lib", "A problem", "").await;
    for title in ["", "   "] {
        let err = ana
            .err::<m::PostProblem>(m::NewProblem {
                circle: "lib".into(),
                title: title.into(),
                body: "b".into(),
                tags: None,
            })
            .await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "title {title:?}: {err:?}"
        );
    }
    let err = ana
        .err::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "t".repeat(201),
            body: String::new(),
            tags: None,
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::TooLarge,
        "title of 201 chars: {err:?}"
    );
    assert_eq!(err.code, -32013);
    let err = ana
        .err::<m::PostNote>(m::NewNote {
            circle: "lib".into(),
            body: "x".repeat(16 * 1024 + 1),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::TooLarge, "body over 16 KiB: {err:?}");
    let err = ana
        .err::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "t".into(),
            body: "x".repeat(16 * 1024 + 1),
            tags: None,
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::TooLarge,
        "problem body over 16 KiB: {err:?}"
    );
    for body in ["", "  \n "] {
        let err = ana
            .err::<m::PostNote>(m::NewNote {
                circle: "lib".into(),
                body: body.into(),
            })
            .await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "note body {body:?}: {err:?}"
        );
        let err = ana
            .err::<m::PostCritique>(m::NewCritique {
                circle: "lib".into(),
                problem: problem.id,
                body: body.into(),
                stance: None,
            })
            .await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "critique body {body:?}: {err:?}"
        );
    }
    let err = ana
        .err::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "t".into(),
            body: String::new(),
            tags: Some(vec!["two words".into()]),
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "tag with a space: {err:?}"
    );
    let too_many: Vec<String> = (0..9).map(|i| format!("tag{i}")).collect();
    let err = ana
        .err::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "t".into(),
            body: String::new(),
            tags: Some(too_many),
        })
        .await;
    assert!(
        matches!(err.kind(), ErrorKind::InvalidParams | ErrorKind::TooLarge),
        "9 tags: {err:?}"
    );
    for tag in [String::new(), "t".repeat(33)] {
        let err = ana
            .err::<m::PostProblem>(m::NewProblem {
                circle: "lib".into(),
                title: "t".into(),
                body: String::new(),
                tags: Some(vec![tag.clone()]),
            })
            .await;
        assert!(
            matches!(err.kind(), ErrorKind::InvalidParams | ErrorKind::TooLarge),
            "tag {tag:?}: {err:?}"
        );
    }
    // Limits that pass: 200-char title, 16 KiB body, 8 tags of 32 chars.
    let eight: Vec<String> = (0..8).map(|i| format!("{i}{}", "t".repeat(31))).collect();
    let ok = ana
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "t".repeat(200),
            body: "x".repeat(16 * 1024),
            tags: Some(eight.clone()),
        })
        .await
        .event;
    match ok.body {
        EventBody::Problem { title, body, tags } => {
            assert_eq!(title.len(), 200);
            assert_eq!(body.len(), 16 * 1024);
            assert_eq!(tags, eight);
        }
        other => panic!("expected a problem, got {other:?}"),
    }
    // Only the two good posts reached the log.
    let events = ana.history_all("lib").await;
    assert_eq!(events.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_circles_posts_and_problems_are_not_found() {
    let (_server, mut ana, _bob, _cat) = setup().await;
    let note = ana.note("lib", "just a note").await;
    let nowhere = Uuid::now_v7();
    let err = ana
        .err::<m::PostNote>(m::NewNote {
            circle: "nowhere".into(),
            body: "hi".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    assert_eq!(err.message, "no circle named \"nowhere\"");
    let err = ana
        .err::<m::PostCritique>(m::NewCritique {
            circle: "lib".into(),
            problem: nowhere,
            body: "advice".into(),
            stance: None,
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "critique of an unknown id: {err:?}"
    );
    let err = ana
        .err::<m::PostCritique>(m::NewCritique {
            circle: "lib".into(),
            problem: note.id,
            body: "advice".into(),
            stance: None,
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "critique of a note: {err:?}"
    );
    assert!(
        err.message.starts_with("no problem"),
        "message: {}",
        err.message
    );
    let err = ana.err::<m::PostEdit>(edit(nowhere, None, Some("x"))).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "edit: {err:?}");
    let err = ana.err::<m::PostRetract>(post_ref("lib", nowhere)).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "retract: {err:?}");
    let err = ana.err::<m::ProblemResolve>(resolve(nowhere, None)).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "resolve: {err:?}");
    let err = ana.err::<m::ProblemResolve>(resolve(note.id, None)).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "resolve a note: {err:?}");
    let err = ana
        .err::<m::ProblemMetoo>(problem_ref("lib", nowhere))
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "metoo: {err:?}");
    let err = ana.err::<m::ProblemGet>(problem_ref("lib", nowhere)).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "get: {err:?}");
    let err = ana.err::<m::ProblemGet>(problem_ref("lib", note.id)).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "get a note: {err:?}");
    let err = ana
        .err::<m::ProblemList>(m::ListProblems {
            circle: "nowhere".into(),
            status: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "list: {err:?}");
    // A join event's id is not a post either.
    let join_id = ana.history_all("lib").await[0].id;
    let err = ana.err::<m::PostEdit>(edit(join_id, None, Some("x"))).await;
    assert!(
        matches!(err.kind(), ErrorKind::NotFound),
        "editing a join event: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critique_must_name_a_live_problem_of_the_same_circle() {
    let (_server, mut ana, mut bob, _cat) = setup().await;
    ana.create_circle("other").await;
    let elsewhere = ana.problem("other", "Elsewhere", "").await;
    let err = ana
        .err::<m::PostCritique>(m::NewCritique {
            circle: "lib".into(),
            problem: elsewhere.id,
            body: "wrong circle".into(),
            stance: None,
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "problem of another circle: {err:?}"
    );

    let retracted = bob.problem("lib", "Never mind", "").await;
    bob.ok::<m::PostRetract>(post_ref("lib", retracted.id))
        .await;
    let err = ana
        .err::<m::PostCritique>(m::NewCritique {
            circle: "lib".into(),
            problem: retracted.id,
            body: "too late".into(),
            stance: None,
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "retracted problem: {err:?}"
    );

    // Resolved problems still take critiques.
    let resolved = bob.problem("lib", "Solved", "").await;
    bob.ok::<m::ProblemResolve>(resolve(resolved.id, None))
        .await;
    let late = ana.critique("lib", resolved.id, "for the record").await;
    assert_eq!(
        late.body,
        EventBody::Critique {
            problem: resolved.id,
            body: "for the record".into(),
            stance: Stance::Suggestion,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_is_author_only_and_shows_in_the_thread() {
    let (_server, mut ana, mut bob, mut cat) = setup().await;
    let problem = bob.problem("lib", "Old title", "Old body").await;
    let critique = cat.critique("lib", problem.id, "Old advice").await;
    let note = bob.note("lib", "a note").await;

    // Not the author: forbidden, even for the facilitator.
    let err = cat
        .err::<m::PostEdit>(edit(problem.id, None, Some("mine now")))
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "member editing: {err:?}");
    let err = ana
        .err::<m::PostEdit>(edit(problem.id, None, Some("mine now")))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "facilitator editing: {err:?}"
    );
    // Nothing to change, or a title on a non-problem: invalid params.
    let err = bob.err::<m::PostEdit>(edit(problem.id, None, None)).await;
    assert_eq!(err.kind(), ErrorKind::InvalidParams, "no fields: {err:?}");
    let err = bob
        .err::<m::PostEdit>(edit(note.id, Some("title"), None))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "title on a note: {err:?}"
    );
    let err = cat
        .err::<m::PostEdit>(edit(critique.id, Some("title"), Some("b")))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "title on a critique: {err:?}"
    );

    let edited = bob
        .ok::<m::PostEdit>(edit(problem.id, Some("New title"), Some("New body")))
        .await
        .event;
    assert_eq!(edited.seq, note.seq + 1);
    assert_eq!(edited.author, "bob");
    assert_eq!(
        edited.body,
        EventBody::Edit {
            post: problem.id,
            title: Some("New title".into()),
            body: Some("New body".into())
        }
    );
    let only_body = cat
        .ok::<m::PostEdit>(edit(critique.id, None, Some("Better advice")))
        .await
        .event;
    assert_eq!(
        only_body.body,
        EventBody::Edit {
            post: critique.id,
            title: None,
            body: Some("Better advice".into())
        }
    );
    let note_edit = bob
        .ok::<m::PostEdit>(edit(note.id, None, Some("a better note")))
        .await
        .event;
    assert_eq!(note_edit.seq, only_body.seq + 1);

    let thread = ana.problem_thread("lib", problem.id).await;
    assert_eq!(thread.title, "New title");
    assert_eq!(thread.body, "New body");
    assert!(thread.edited);
    assert_eq!(thread.critiques.len(), 1);
    assert_eq!(thread.critiques[0].body, "Better advice");
    assert!(thread.critiques[0].edited);
    let summary = ana.ok::<m::ProblemList>(list(None)).await.problems;
    assert_eq!(summary[0].title, "New title");
    assert!(summary[0].edited);
    // The original events stay as they were in the log.
    let events = ana.history_all("lib").await;
    assert_eq!(events[(problem.seq - 1) as usize], problem);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retract_is_for_the_author_or_a_facilitator_and_erases_text() {
    let (_server, mut ana, mut bob, mut cat) = setup().await;
    let problem = bob
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "Secret title".into(),
            body: "Secret body".into(),
            tags: Some(vec!["secret".into()]),
        })
        .await
        .event;
    bob.ok::<m::PostEdit>(edit(problem.id, Some("Edited secret"), Some("Edited body")))
        .await;
    let critique = cat.critique("lib", problem.id, "cat's advice").await;
    let note = cat.note("lib", "cat's note").await;

    let err = cat.err::<m::PostRetract>(post_ref("lib", problem.id)).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "another member: {err:?}");
    // The author may retract.
    let retract = bob
        .ok::<m::PostRetract>(post_ref("lib", problem.id))
        .await
        .event;
    assert_eq!(retract.author, "bob");
    assert_eq!(retract.body, EventBody::Retract { post: problem.id });
    let err = bob.err::<m::PostRetract>(post_ref("lib", problem.id)).await;
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "already retracted: {err:?}"
    );
    let err = bob
        .err::<m::PostEdit>(edit(problem.id, None, Some("again")))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "editing a retracted post: {err:?}"
    );
    // A facilitator may retract someone else's post.
    ana.ok::<m::PostRetract>(post_ref("lib", note.id)).await;
    // The author of a critique too.
    cat.ok::<m::PostRetract>(post_ref("lib", critique.id)).await;

    let events = ana.history_all("lib").await;
    let original = &events[(problem.seq - 1) as usize];
    assert_eq!(original.id, problem.id);
    assert!(original.retracted, "history marks the post retracted");
    assert_eq!(
        original.body,
        EventBody::Problem {
            title: String::new(),
            body: String::new(),
            tags: vec![]
        },
        "a retracted problem's text is erased"
    );
    let edit_event = &events[problem.seq as usize];
    match &edit_event.body {
        EventBody::Edit { post, title, body } => {
            assert_eq!(*post, problem.id);
            assert!(
                title.as_deref().unwrap_or("").is_empty()
                    && body.as_deref().unwrap_or("").is_empty(),
                "the text of a retracted post's edits is erased: {edit_event:?}"
            );
        }
        other => panic!("expected the edit, got {other:?}"),
    }
    let note_now = &events[(note.seq - 1) as usize];
    assert!(note_now.retracted);
    assert_eq!(
        note_now.body,
        EventBody::Note {
            body: String::new()
        }
    );
    let critique_now = &events[(critique.seq - 1) as usize];
    assert!(critique_now.retracted);
    assert_eq!(
        critique_now.body,
        EventBody::Critique {
            problem: problem.id,
            body: String::new(),
            stance: Stance::Suggestion,
        }
    );
    // Nothing else in the log still carries the secret text.
    let all = serde_json::to_string(&events).expect("serialize");
    for secret in [
        "Secret title",
        "Secret body",
        "Edited secret",
        "Edited body",
        "cat's note",
        "cat's advice",
    ] {
        assert!(!all.contains(secret), "{secret:?} is still in the log");
    }
    // Retracted problems drop out of problem.list; a subscriber's backlog agrees.
    let problems = ana.ok::<m::ProblemList>(list(None)).await.problems;
    assert!(problems.is_empty(), "{problems:?}");
    ana.subscribe("lib", Some(0)).await;
    let backlog = ana
        .events_until("lib", events.last().expect("events").seq)
        .await;
    assert_eq!(backlog, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_is_author_only_and_helpful_must_be_critiques_of_that_problem() {
    let (_server, mut ana, mut bob, mut cat) = setup().await;
    let problem = bob.problem("lib", "Overdue fines", "Abolish them?").await;
    let other = cat.problem("lib", "Another", "").await;
    let c1 = ana
        .critique("lib", problem.id, "We did; returns went up.")
        .await;
    let c2 = cat
        .critique("lib", problem.id, "Try an amnesty week first.")
        .await;
    let c_other = ana.critique("lib", other.id, "Unrelated").await;
    let note = ana.note("lib", "a note").await;

    let err = ana
        .err::<m::ProblemResolve>(resolve(problem.id, None))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "facilitator resolving: {err:?}"
    );
    let err = cat
        .err::<m::ProblemResolve>(resolve(problem.id, None))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "member resolving: {err:?}"
    );
    let err = bob
        .err::<m::ProblemResolve>(resolve(problem.id, Some(vec![c1.id, c_other.id])))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "critique of another problem: {err:?}"
    );
    let err = bob
        .err::<m::ProblemResolve>(resolve(problem.id, Some(vec![note.id])))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "a note as helpful: {err:?}"
    );
    let err = bob
        .err::<m::ProblemResolve>(resolve(problem.id, Some(vec![problem.id])))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "the problem itself as helpful: {err:?}"
    );
    let err = bob
        .err::<m::ProblemResolve>(resolve(problem.id, Some(vec![Uuid::now_v7()])))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "an unknown id as helpful: {err:?}"
    );
    // Still open after all those refusals.
    let thread = bob.problem_thread("lib", problem.id).await;
    assert_eq!(thread.status, ProblemStatus::Open);
    assert_eq!(thread.resolution, None);

    let resolved = bob
        .ok::<m::ProblemResolve>(resolve(problem.id, Some(vec![c2.id, c1.id])))
        .await
        .event;
    assert_eq!(resolved.author, "bob");
    assert_eq!(
        resolved.body,
        EventBody::Resolve {
            problem: problem.id,
            helpful: vec![c2.id, c1.id],
            summary: None,
        }
    );
    let err = bob
        .err::<m::ProblemResolve>(resolve(problem.id, None))
        .await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "already resolved: {err:?}");

    let thread = ana.problem_thread("lib", problem.id).await;
    assert_eq!(thread.status, ProblemStatus::Resolved);
    let resolution = thread.resolution.expect("a resolution");
    assert_eq!(resolution.seq, resolved.seq);
    assert_eq!(resolution.by, "bob");
    assert_eq!(resolution.at, resolved.at);
    assert_eq!(resolution.helpful, vec![c2.id, c1.id], "in the order named");
    let flags: Vec<(Uuid, bool)> = thread.critiques.iter().map(|c| (c.id, c.helpful)).collect();
    assert_eq!(flags, vec![(c1.id, true), (c2.id, true)]);

    // Resolving without naming any critique also works.
    let plain = cat
        .ok::<m::ProblemResolve>(resolve(other.id, None))
        .await
        .event;
    assert_eq!(
        plain.body,
        EventBody::Resolve {
            problem: other.id,
            helpful: vec![],
            summary: None,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metoo_once_per_member_and_not_on_your_own_problem() {
    let (_server, mut ana, mut bob, mut cat) = setup().await;
    let problem = bob.problem("lib", "Noisy study room", "").await;
    let err = bob
        .err::<m::ProblemMetoo>(problem_ref("lib", problem.id))
        .await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "own problem: {err:?}");
    // Wording from semantics.md (the server may say more after it).
    assert!(
        err.message.starts_with("you raised this problem"),
        "{:?}",
        err.message
    );
    let first = cat
        .ok::<m::ProblemMetoo>(problem_ref("lib", problem.id))
        .await
        .event;
    assert_eq!(first.author, "cat");
    assert_eq!(
        first.body,
        EventBody::Metoo {
            problem: problem.id
        }
    );
    let err = cat
        .err::<m::ProblemMetoo>(problem_ref("lib", problem.id))
        .await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "second metoo: {err:?}");
    ana.ok::<m::ProblemMetoo>(problem_ref("lib", problem.id))
        .await;

    let thread = ana.problem_thread("lib", problem.id).await;
    assert_eq!(thread.metoos, vec!["cat".to_string(), "ana".to_string()]);
    let summary = &ana.ok::<m::ProblemList>(list(None)).await.problems[0];
    assert_eq!(summary.metoos, 2);
    // A metoo on a note is not a metoo on a problem.
    let note = ana.note("lib", "note").await;
    let err = cat
        .err::<m::ProblemMetoo>(problem_ref("lib", note.id))
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problem_list_and_get_follow_the_threads() {
    let (_server, mut ana, mut bob, mut cat) = setup().await;
    let p1 = bob
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "First".into(),
            body: "one".into(),
            tags: Some(vec!["a".into()]),
        })
        .await
        .event;
    let p2 = cat.problem("lib", "Second", "two").await;
    let p3 = ana.problem("lib", "Third", "three").await;
    let c1 = ana.critique("lib", p1.id, "c1").await;
    let c2 = cat.critique("lib", p1.id, "c2").await;
    let c3 = bob.critique("lib", p1.id, "c3").await;
    cat.ok::<m::PostRetract>(post_ref("lib", c2.id)).await;
    ana.ok::<m::ProblemMetoo>(problem_ref("lib", p1.id)).await;
    let resolved = cat
        .ok::<m::ProblemResolve>(resolve(p2.id, None))
        .await
        .event;

    let all = ana.ok::<m::ProblemList>(list(None)).await.problems;
    let ids: Vec<Uuid> = all.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![p1.id, p2.id, p3.id], "in the order raised");
    let first = &all[0];
    assert_eq!(first.seq, p1.seq);
    assert_eq!(first.author, "bob");
    assert_eq!(first.at, p1.at);
    assert_eq!(first.title, "First");
    assert_eq!(first.tags, vec!["a".to_string()]);
    assert_eq!(first.status, ProblemStatus::Open);
    assert_eq!(first.critiques, 2, "the retracted critique does not count");
    assert_eq!(first.metoos, 1);
    assert!(!first.edited);
    assert!(first.last_activity >= c3.at && first.last_activity >= first.at);
    assert_eq!(all[1].status, ProblemStatus::Resolved);
    assert!(all[1].last_activity >= resolved.at);
    assert_eq!(all[2].critiques, 0);

    let open: Vec<Uuid> = ana
        .ok::<m::ProblemList>(list(Some(ProblemStatus::Open)))
        .await
        .problems
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(open, vec![p1.id, p3.id]);
    let done: Vec<Uuid> = ana
        .ok::<m::ProblemList>(list(Some(ProblemStatus::Resolved)))
        .await
        .problems
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(done, vec![p2.id]);

    let thread = bob.problem_thread("lib", p1.id).await;
    assert_eq!(thread.id, p1.id);
    assert_eq!(thread.seq, p1.seq);
    assert_eq!(thread.author, "bob");
    assert_eq!(thread.title, "First");
    assert_eq!(thread.body, "one");
    assert_eq!(thread.tags, vec!["a".to_string()]);
    assert_eq!(thread.status, ProblemStatus::Open);
    assert!(!thread.edited);
    assert!(!thread.retracted);
    assert_eq!(thread.metoos, vec!["ana".to_string()]);
    assert_eq!(thread.resolution, None);
    let critiques: Vec<(Uuid, u64, &str, &str, bool)> = thread
        .critiques
        .iter()
        .map(|c| (c.id, c.seq, c.author.as_str(), c.body.as_str(), c.retracted))
        .collect();
    // Retracted critiques stay in the thread, flagged, with their text erased.
    assert_eq!(
        critiques,
        vec![
            (c1.id, c1.seq, "ana", "c1", false),
            (c2.id, c2.seq, "cat", "", true),
            (c3.id, c3.seq, "bob", "c3", false),
        ],
        "critiques in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posting_needs_membership_in_every_form() {
    let (server, mut ana, _bob, _cat) = setup().await;
    let problem = ana.problem("lib", "Mine", "").await;
    let mut eve = server.register("eve").await;
    let note = ana.note("lib", "ana's note").await;
    let err = eve.err::<m::PostEdit>(edit(note.id, None, Some("x"))).await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "edit by a non-member: {err:?}"
    );
    let err = eve.err::<m::PostRetract>(post_ref("lib", note.id)).await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "retract by a non-member: {err:?}"
    );
    let err = eve
        .err::<m::ProblemResolve>(resolve(problem.id, None))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "resolve by a non-member: {err:?}"
    );
    let err = eve
        .err::<m::ProblemMetoo>(problem_ref("lib", problem.id))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "metoo by a non-member: {err:?}"
    );
    assert!(
        err.message.starts_with("join lib before posting"),
        "{:?}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_refuses_an_empty_body_except_on_a_problem() {
    let (_server, mut ana, mut bob, mut cat) = setup().await;
    let problem = bob.problem("lib", "A title", "A body").await;
    let critique = cat.critique("lib", problem.id, "Some advice").await;
    let note = bob.note("lib", "a note").await;
    let head = note.seq;

    // A critique or a note must keep some text.
    for empty in ["", "   ", "\n\t "] {
        let err = cat
            .err::<m::PostEdit>(edit(critique.id, None, Some(empty)))
            .await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "critique edited to {empty:?}: {err:?}"
        );
        assert!(
            err.message.contains("body"),
            "the message names the field: {err:?}"
        );
        let err = bob
            .err::<m::PostEdit>(edit(note.id, None, Some(empty)))
            .await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "note edited to {empty:?}: {err:?}"
        );
        assert!(
            err.message.contains("body"),
            "the message names the field: {err:?}"
        );
    }
    // Nothing reached the log, and the texts are unchanged.
    assert_eq!(ana.history_all("lib").await.len() as u64, head);
    let thread = ana.problem_thread("lib", problem.id).await;
    assert_eq!(thread.critiques[0].body, "Some advice");
    assert!(!thread.critiques[0].edited);

    // A problem's body may be emptied (its title carries it).
    let edited = bob
        .ok::<m::PostEdit>(edit(problem.id, None, Some("")))
        .await
        .event;
    assert_eq!(edited.seq, head + 1);
    assert_eq!(
        edited.body,
        EventBody::Edit {
            post: problem.id,
            title: None,
            body: Some(String::new())
        }
    );
    let thread = ana.problem_thread("lib", problem.id).await;
    assert_eq!(thread.title, "A title");
    assert_eq!(thread.body, "");
    assert!(thread.edited);
}
