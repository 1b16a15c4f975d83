//! Search: `search` ranks problems and critiques the caller may read (and
//! never what they may not), and `post.problem` answers with similar problems
//! from other circles. The index follows edits, retractions, resolutions,
//! membership and deleted circles, and survives restarts or its own loss.

use circles_protocol::methods as m;
use circles_protocol::model::{HitKind, ProblemStatus, SearchHit};
use circles_protocol::{ErrorKind, EventBody};
use circles_tests::*;
use serde_json::json;
use uuid::Uuid;

fn query(text: &str) -> m::SearchQuery {
    m::SearchQuery {
        query: text.into(),
        circle: None,
        limit: None,
    }
}

async fn search(client: &mut Client, text: &str) -> Vec<SearchHit> {
    client.ok::<m::Search>(query(text)).await.hits
}

fn ids(hits: &[SearchHit]) -> Vec<Uuid> {
    hits.iter().map(|hit| hit.id).collect()
}

fn circle_ref(circle: &str) -> m::CircleRef {
    m::CircleRef {
        circle: circle.into(),
    }
}

/// A public circle "lib" and a private one "staff", both ana's, each with a
/// problem about the catalogue; a critique in "lib" by bob (a member).
struct World {
    server: TestServer,
    ana: Client,
    bob: Client,
    eve: Client,
    lib_problem: Uuid,
    critique: Uuid,
    staff_problem: Uuid,
}

async fn world() -> World {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.create_private_circle("staff").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let eve = server.register("eve").await;
    let lib_problem = ana
        .problem(
            "lib",
            "Patrons cannot find the e-books",
            "We moved the e-book catalogue to the new discovery layer and loans halved.",
        )
        .await
        .id;
    let critique = bob
        .critique(
            "lib",
            lib_problem,
            "A banner on the old catalogues page brought our loans back within weeks.",
        )
        .await
        .id;
    let staff_problem = ana
        .problem(
            "staff",
            "Catalogue budget cut in half",
            "The catalogue licence renewal is due and the budget is gone.",
        )
        .await
        .id;
    World {
        server,
        ana,
        bob,
        eve,
        lib_problem,
        critique,
        staff_problem,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_problems_and_critiques_the_caller_may_read() {
    let World {
        server: _server,
        mut ana,
        mut bob,
        mut eve,
        lib_problem,
        critique,
        staff_problem,
    } = world().await;

    // Stemmed: "catalogues" finds "catalogue"; a member of both circles sees both.
    let hits = search(&mut ana, "catalogues").await;
    let found = ids(&hits);
    for id in [lib_problem, critique, staff_problem] {
        assert!(found.contains(&id), "{id} missing from {hits:#?}");
    }
    // Someone in neither private circle sees only the public one.
    for who in [&mut bob, &mut eve] {
        let hits = search(who, "catalogue budget licence").await;
        assert!(!ids(&hits).contains(&staff_problem), "{hits:#?}");
        assert!(ids(&hits).contains(&lib_problem), "{hits:#?}");
        assert!(hits.iter().all(|hit| hit.circle == "lib"), "{hits:#?}");
    }

    // A critique's hit names its problem; the snippet marks the matching words.
    let hits = search(&mut eve, "banner").await;
    assert_eq!(ids(&hits), [critique], "{hits:#?}");
    let hit = &hits[0];
    assert_eq!(hit.kind, HitKind::Critique);
    assert_eq!(hit.problem, lib_problem);
    assert_eq!(hit.title, "Patrons cannot find the e-books");
    assert_eq!(hit.status, ProblemStatus::Open);
    assert_eq!(hit.author, "bob");
    let marked: Vec<&str> = hit
        .snippet
        .iter()
        .filter(|part| part.hit)
        .map(|part| part.text.as_str())
        .collect();
    assert_eq!(marked, ["banner"], "{:?}", hit.snippet);
    let shown: String = hit.snippet.iter().map(|part| part.text.as_str()).collect();
    assert_eq!(
        shown,
        "A banner on the old catalogues page brought our loans back within weeks."
    );

    // The title counts for more than the body.
    let hits = search(&mut ana, "patrons e-books loans").await;
    assert_eq!(
        hits.first().map(|hit| hit.id),
        Some(lib_problem),
        "{hits:#?}"
    );

    // One circle only; a private one only for its members.
    let only = ana
        .ok::<m::Search>(m::SearchQuery {
            circle: Some("staff".into()),
            ..query("catalogue")
        })
        .await
        .hits;
    assert_eq!(ids(&only), [staff_problem]);
    let refused = eve
        .err::<m::Search>(m::SearchQuery {
            circle: Some("staff".into()),
            ..query("catalogue")
        })
        .await;
    assert_eq!(refused.kind(), ErrorKind::Forbidden, "{refused:?}");
    let limited = ana
        .ok::<m::Search>(m::SearchQuery {
            limit: Some(1),
            ..query("catalogue")
        })
        .await
        .hits;
    assert_eq!(limited.len(), 1);

    // Nothing matches: an empty list, not an error. Common words match
    // nothing; so does a query of exclusions or wildcards only.
    for nothing in [
        "zeppelin",
        "how do we",
        "-e-books",
        "*",
        "title:",
        "-\"discovery layer\"",
    ] {
        assert!(search(&mut ana, nothing).await.is_empty(), "{nothing}");
    }
    // NOT is a (common) word, not an operator that would find the rest.
    let hits = search(&mut ana, "NOT e-books").await;
    assert!(ids(&hits).contains(&lib_problem), "{hits:#?}");
    // Query syntax beyond words, phrases and signs reads as words: a field
    // name is a word, not a way around the scope.
    let hits = search(&mut eve, "circle:staff budget").await;
    assert!(!ids(&hits).contains(&staff_problem), "{hits:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_edits_retractions_resolutions_and_membership() {
    let World {
        server,
        mut ana,
        mut bob,
        lib_problem,
        critique,
        staff_problem,
        ..
    } = world().await;

    // Resolved: the hit says so, for the problem and its critiques.
    ana.ok::<m::ProblemResolve>(m::Resolve {
        circle: "lib".into(),
        problem: lib_problem,
        helpful: Some(vec![critique]),
        summary: Some("A banner.".into()),
    })
    .await;
    let hits = search(&mut bob, "catalogue").await;
    assert!(!hits.is_empty());
    assert!(
        hits.iter().all(|hit| hit.status == ProblemStatus::Resolved),
        "{hits:#?}"
    );

    // Edited: the new words are found, the old ones no more.
    bob.ok::<m::PostEdit>(m::EditPost {
        circle: "lib".into(),
        post: critique,
        title: None,
        body: Some("A poster at the desk did it for us.".into()),
    })
    .await;
    assert!(search(&mut bob, "banner").await.is_empty());
    assert_eq!(ids(&search(&mut bob, "poster desk").await), [critique]);

    // Retracted: gone.
    bob.ok::<m::PostRetract>(m::PostRef {
        circle: "lib".into(),
        post: critique,
    })
    .await;
    assert!(search(&mut bob, "poster").await.is_empty());

    // Joining a private circle shows its posts; leaving hides them again.
    let code = ana.invite("staff").await;
    bob.join_with_invite("staff", &code).await;
    assert!(ids(&search(&mut bob, "licence").await).contains(&staff_problem));
    bob.ok::<m::CircleLeave>(circle_ref("staff")).await;
    assert!(search(&mut bob, "licence").await.is_empty());

    // A deleted circle's posts are found no more.
    let mut root = server.register_admin("root").await;
    root.ok::<m::AdminCircleDelete>(circle_ref("lib")).await;
    assert!(search(&mut root, "e-books").await.is_empty());
    assert!(search(&mut ana, "e-books").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_problem_lists_similar_problems_from_other_circles() {
    let World {
        server,
        mut ana,
        lib_problem,
        staff_problem,
        ..
    } = world().await;
    let mut cy = server.register("cy").await;
    cy.create_circle("school").await;
    // Similar problems are those the index holds already (the answer does
    // not wait for it); a search waits until it holds what was posted.
    assert!(!search(&mut cy, "e-books").await.is_empty());
    let posted = cy
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "school".into(),
            title: "Pupils cannot find our e-books".into(),
            body: "Since the new catalogue went live, e-book loans dropped.".into(),
            tags: None,
        })
        .await;
    assert!(matches!(posted.event.body, EventBody::Problem { .. }));
    // lib's problem (public) is similar; staff's (private to ana) is not shown to cy.
    assert_eq!(ids(&posted.similar), [lib_problem], "{:#?}", posted.similar);
    assert_eq!(posted.similar[0].circle, "lib");
    assert_eq!(posted.similar[0].kind, HitKind::Problem);

    // Only other circles, and only problems: ana's second lib problem does
    // not list the first, but staff's shows for her (she is a member).
    let posted = ana
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "The catalogue budget is gone".into(),
            body: "Our catalogue licence renewal has no budget.".into(),
            tags: None,
        })
        .await;
    let similar = ids(&posted.similar);
    assert!(!similar.contains(&lib_problem), "{similar:?}");
    assert!(similar.contains(&staff_problem), "{similar:?}");

    // Words every problem has ("how", "we", "our") do not make it similar.
    let posted = cy
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "school".into(),
            title: "Printer jams in the staff room".into(),
            body: "How do we fix our printer? It jams every day.".into(),
            tags: None,
        })
        .await;
    assert!(posted.similar.is_empty(), "{:#?}", posted.similar);

    // One shared word is not similar.
    let posted = cy
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "school".into(),
            title: "Catalogue".into(),
            body: "Nothing else in common at all with anything.".into(),
            tags: None,
        })
        .await;
    let raw = serde_json::to_value(&posted).expect("serializes");
    assert!(raw["similar"].is_array(), "{raw}");
    assert!(posted.similar.iter().all(|hit| hit.circle != "school"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_searches_get_clear_errors() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    for (params, kind) in [
        (json!({"query": "   "}), "invalid_params"),
        (json!({"query": "x".repeat(501)}), "too_large"),
        (json!({"query": "x", "limit": 0}), "invalid_params"),
        (json!({"query": "x", "limit": 51}), "invalid_params"),
        (json!({"query": "x", "circles": "lib"}), "invalid_params"),
        (json!({"query": 7}), "invalid_params"),
        (json!({"query": "x", "circle": "nowhere"}), "not_found"),
    ] {
        let answer = ana.request("search", params.clone()).await;
        assert_eq!(answer["error"]["data"]["kind"], kind, "{params}: {answer}");
    }
    // Query syntax never fails: stray quotes, colons and operators search
    // for the words they can.
    for text in [
        "\"unbalanced",
        "title:",
        "+ - ( ]",
        "id:*",
        "AND OR",
        "- *",
        "a:(^",
    ] {
        let answer = ana.request("search", json!({"query": text})).await;
        assert!(answer["result"]["hits"].is_array(), "{text}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_survives_a_restart_and_is_rebuilt_when_lost() {
    let World {
        mut server,
        ana,
        lib_problem,
        critique,
        staff_problem,
        ..
    } = world().await;
    let token = ana.token.clone();
    server.restart().await;
    let mut ana = Client::with_token(server.addr, &token).await;
    let hits = search(&mut ana, "catalogue").await;
    assert_eq!(hits.len(), 3, "{hits:#?}");

    // Posts made while the index is gone come back with the rest.
    let later = ana.problem("lib", "Catalogue kiosk is down", "").await.id;
    server.stop().await;
    std::fs::remove_dir_all(server.data_dir().join("search")).expect("remove the index");
    server.start_again().await;
    let mut ana = Client::with_token(server.addr, &token).await;
    let found = ids(&search(&mut ana, "catalogue").await);
    for id in [lib_problem, critique, staff_problem, later] {
        assert!(
            found.contains(&id),
            "{id} missing after a rebuild: {found:?}"
        );
    }
}
