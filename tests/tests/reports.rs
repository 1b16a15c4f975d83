//! Reports on a circle: `circle.stats` over a scripted history written into
//! the store while the server was stopped (exact figures on the wire), its
//! `unanswered_after_secs` setting, and `problem.export`'s case study; both
//! with their permissions and bad params, as raw frames and typed calls.

use std::time::Duration;

use circles_protocol::ErrorKind;
use circles_protocol::methods as m;
use circles_protocol::model::{Stance, Stats};
use circles_tests::script::{HOUR, Script, WEEKS_T0, three_weeks};
use circles_tests::*;
use serde_json::json;
use uuid::Uuid;

const WEEK: u64 = 7 * 24 * HOUR;

fn assert_error(err: &circles_protocol::ErrorObject, kind: ErrorKind, what: &str) {
    assert_eq!(err.kind(), kind, "{what}: {err:?}");
    assert_eq!(err.code, kind.code(), "{what}");
}

fn window(circle: &str, since: Option<u64>, until: Option<u64>) -> m::StatsWindow {
    m::StatsWindow {
        circle: circle.into(),
        since,
        until,
    }
}

async fn stats(client: &mut Client, params: m::StatsWindow) -> Stats {
    client.ok::<m::CircleStats>(params).await.stats
}

/// ana (facilitator), ben, cy and dee in public "lib" and private "inner"
/// (ana and ben), and dan, in no circle.
async fn people() -> (TestServer, Client, Client) {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.create_private_circle("inner").await;
    let invite = ana.invite("inner").await;
    for handle in ["ben", "cy", "dee"] {
        let mut member = server.register(handle).await;
        member.join("lib").await;
        if handle == "ben" {
            member.join_with_invite("inner", &invite).await;
        }
    }
    let dan = server.register("dan").await;
    (server, ana, dan)
}

#[tokio::test]
async fn stats_of_a_scripted_history_are_exact_on_the_wire() {
    let (mut server, _, _) = people().await;
    server.stop().await;
    let mut script = Script::open(server.data_dir(), "lib");
    let p = three_weeks(&mut script);
    script.done().await;
    server.start_again().await;

    // A reader who is not a member may ask too (lib is public).
    let mut dan = Client::login(server.addr, "dan", PASSWORD).await;
    let until = WEEKS_T0 + 3 * WEEK - 1;
    let s = stats(&mut dan, window("lib", Some(WEEKS_T0), Some(until))).await;
    assert_eq!((s.since, s.until), (WEEKS_T0, until));
    assert_eq!((s.raised, s.resolved), (5, 3));
    assert_eq!(s.median_first_critique_ms, Some(4 * HOUR + HOUR / 2));
    assert_eq!(s.median_resolution_ms, Some(29 * HOUR));
    assert_eq!(s.unanswered_after_ms, 48 * HOUR);
    let unanswered: Vec<_> = s
        .unanswered
        .iter()
        .map(|x| (x.id, x.title.as_str()))
        .collect();
    assert_eq!(unanswered, [(p.d, "d")]);
    let top: Vec<_> = s.most_metood.iter().map(|x| (x.id, x.metoos)).collect();
    assert_eq!(top, [(p.d, 2), (p.e, 2)]);
    assert_eq!(s.bucket_ms, WEEK);
    let series: Vec<_> = s
        .series
        .iter()
        .map(|b| (b.start, b.raised, b.resolved))
        .collect();
    assert_eq!(
        series,
        [
            (WEEKS_T0, 2, 1),
            (WEEKS_T0 + WEEK, 1, 1),
            (WEEKS_T0 + 2 * WEEK, 2, 1)
        ]
    );

    // The same as a raw frame: every field, nulls where there is no median.
    let raw = dan
        .request(
            "circle.stats",
            json!({"circle": "lib", "since": WEEKS_T0 + 30 * 24 * HOUR, "until": WEEKS_T0 + 31 * 24 * HOUR}),
        )
        .await;
    let wire = &raw["result"]["stats"];
    assert_eq!(wire["raised"], 0, "{raw}");
    assert_eq!(wire["median_first_critique_ms"], json!(null), "{raw}");
    assert_eq!(wire["median_resolution_ms"], json!(null), "{raw}");
    assert_eq!(wire["unanswered"][0]["id"], json!(p.d), "{raw}");
    assert_eq!(wire["series"].as_array().map(Vec::len), Some(1), "{raw}");

    // By default the window is the circle's life: it was created after the
    // scripted times, so nothing of them is in it, but d is still unanswered.
    let s = stats(&mut dan, window("lib", None, None)).await;
    assert_eq!((s.raised, s.resolved), (0, 0));
    assert_eq!(s.unanswered.len(), 1);
    // With only since, until is now: everything.
    let s = stats(&mut dan, window("lib", Some(WEEKS_T0), None)).await;
    assert_eq!((s.raised, s.resolved), (5, 3));
    assert!(s.until >= WEEKS_T0 + 3 * WEEK && s.series.len() <= 26);
    let _ = (p.a, p.b, p.c);
}

#[tokio::test]
async fn stats_permissions_and_bad_params() {
    let (server, mut ana, mut dan) = people().await;
    let err = dan.err::<m::CircleStats>(window("inner", None, None)).await;
    assert_error(
        &err,
        ErrorKind::Forbidden,
        "a non-member of a private circle",
    );
    assert!(err.message.contains("private"), "{}", err.message);
    stats(&mut ana, window("inner", None, None)).await;
    let err = dan
        .err::<m::CircleStats>(window("nowhere", None, None))
        .await;
    assert_error(&err, ErrorKind::NotFound, "no such circle");

    let err = ana
        .err::<m::CircleStats>(window("lib", Some(20), Some(10)))
        .await;
    assert_error(&err, ErrorKind::InvalidParams, "since after until");
    assert!(
        err.message.contains("since (20) is after until (10)"),
        "{}",
        err.message
    );
    let err = ana
        .err::<m::CircleStats>(window("lib", None, Some(10)))
        .await;
    assert_error(&err, ErrorKind::InvalidParams, "until before the circle");
    assert!(err.message.contains("give a since"), "{}", err.message);
    for (params, field) in [
        (json!({"circle": "lib", "since": "yesterday"}), "since"),
        (json!({"circle": "lib", "until": -5}), "until"),
        (json!({"circle": 7}), "circle"),
        (json!({"circle": "lib", "from": 1}), "from"),
    ] {
        let err = ana.request_err("circle.stats", params.clone()).await;
        assert_error(&err, ErrorKind::InvalidParams, &params.to_string());
        assert!(err.message.contains(field), "{params}: {}", err.message);
    }
    let mut anonymous = server.connect().await;
    let err = anonymous
        .request_err("circle.stats", json!({"circle": "lib"}))
        .await;
    assert_error(&err, ErrorKind::Unauthenticated, "not signed in");
}

#[tokio::test]
async fn unanswered_after_is_the_servers_setting() {
    let server = TestServer::start_with(|c| c.unanswered_after = Duration::ZERO).await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut ben = server.register("ben").await;
    ben.join("lib").await;
    let problem = ana.problem("lib", "Stuck", "").await.id;
    ana.critique("lib", problem, "Answering myself").await;
    let s = stats(&mut ana, window("lib", None, None)).await;
    assert_eq!(s.unanswered_after_ms, 0);
    assert_eq!(
        s.unanswered.iter().map(|p| p.id).collect::<Vec<_>>(),
        [problem]
    );
    assert_eq!(s.median_first_critique_ms, None);
    ben.critique("lib", problem, "Try this").await;
    let s = stats(&mut ana, window("lib", None, None)).await;
    assert!(s.unanswered.is_empty());
    assert_eq!((s.raised, s.resolved), (1, 0));
    assert!(s.median_first_critique_ms.is_some());

    // The default: 48 hours, so a new problem is not unanswered yet.
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.problem("lib", "Stuck", "").await;
    let s = stats(&mut ana, window("lib", None, None)).await;
    assert_eq!(s.unanswered_after_ms, 48 * HOUR);
    assert!(s.unanswered.is_empty());
    assert_eq!(s.raised, 1);
}

fn export(problem: Uuid, anonymise: Option<bool>) -> m::ExportProblem {
    m::ExportProblem {
        circle: "lib".into(),
        problem,
        anonymise,
    }
}

#[tokio::test]
async fn a_case_study_of_a_resolved_problem() {
    let server = TestServer::start().await;
    let mut ana = server.register_named("ana", "Ana Lima").await;
    ana.create_circle("lib").await;
    let mut ben = server.register_named("ben", "Ben Okafor").await;
    ben.join("lib").await;
    let mut dan = server.register("dan").await;
    let problem = ana
        .problem("lib", "Teens skip the catalogue", "Ideas, @ben?")
        .await
        .id;
    let critique = ben
        .ok::<m::PostCritique>(m::NewCritique {
            circle: "lib".into(),
            problem,
            body: "A scavenger hunt worked for us. Ana Lima may know more.".into(),
            stance: Some(Stance::Experience),
        })
        .await
        .event
        .id;
    let withdrawn = ben.critique("lib", problem, "Never mind").await.id;
    ben.ok::<m::PostRetract>(m::PostRef {
        circle: "lib".into(),
        post: withdrawn,
    })
    .await;

    let err = ana.err::<m::ProblemExport>(export(problem, None)).await;
    assert_error(&err, ErrorKind::Conflict, "an open problem");
    assert!(err.message.contains("resolve it first"), "{}", err.message);

    ana.ok::<m::ProblemResolve>(m::Resolve {
        circle: "lib".into(),
        problem,
        helpful: Some(vec![critique]),
        summary: Some("A hunt each term.".into()),
    })
    .await;

    // Any reader may export it: dan is not a member of public lib.
    let plain = dan
        .ok::<m::ProblemExport>(export(problem, None))
        .await
        .markdown;
    assert!(
        plain.starts_with("# Case study: Teens skip the catalogue\n"),
        "{plain}"
    );
    assert!(
        plain.contains("People: ana (Ana Lima), ben (Ben Okafor)."),
        "{plain}"
    );
    assert!(plain.contains("1. **ben**, "), "{plain}");
    assert!(plain.contains(" · experience · helpful:"), "{plain}");
    assert!(plain.contains("> A hunt each term."), "{plain}");
    assert!(
        !plain.contains("Never mind") && !plain.contains("retracted"),
        "{plain}"
    );
    assert!(plain.contains(" UTC"), "{plain}");

    let raw = dan
        .request(
            "problem.export",
            json!({"circle": "lib", "problem": problem, "anonymise": true}),
        )
        .await;
    let anon = raw["result"]["markdown"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(anon.contains("People: Member 1, Member 2."), "{raw}");
    assert!(anon.contains("Ideas, Member 2?"), "{anon}");
    assert!(
        anon.contains("worked for us. Member 1 may know more."),
        "{anon}"
    );
    assert!(anon.contains("**Resolved** by Member 1 after "), "{anon}");
    for name in ["ana", "ben", "Ana", "Ben", "Lima", "Okafor", "UTC"] {
        assert!(!anon.contains(name), "{name} in {anon}");
    }

    for (params, kind) in [
        (
            json!({"circle": "lib", "problem": problem, "anonymise": "yes"}),
            ErrorKind::InvalidParams,
        ),
        (
            json!({"circle": "lib", "problem": "p1"}),
            ErrorKind::InvalidParams,
        ),
        (
            json!({"circle": "lib", "problem": withdrawn}),
            ErrorKind::NotFound,
        ),
        (
            json!({"circle": "lib", "problem": Uuid::now_v7()}),
            ErrorKind::NotFound,
        ),
        (
            json!({"circle": "nowhere", "problem": problem}),
            ErrorKind::NotFound,
        ),
    ] {
        let err = dan.request_err("problem.export", params.clone()).await;
        assert_error(&err, kind, &params.to_string());
    }
    // Retracting the resolved problem takes its case study away.
    ana.ok::<m::PostRetract>(m::PostRef {
        circle: "lib".into(),
        post: problem,
    })
    .await;
    let err = dan
        .err::<m::ProblemExport>(export(problem, Some(true)))
        .await;
    assert_error(&err, ErrorKind::NotFound, "a retracted problem");
}

#[tokio::test]
async fn a_private_circles_case_study_is_for_its_members() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_private_circle("inner").await;
    let problem = ana.problem("inner", "Quiet", "").await.id;
    ana.ok::<m::ProblemResolve>(m::Resolve {
        circle: "inner".into(),
        problem,
        helpful: None,
        summary: None,
    })
    .await;
    let mut dan = server.register("dan").await;
    let params = m::ExportProblem {
        circle: "inner".into(),
        problem,
        anonymise: None,
    };
    let err = dan.err::<m::ProblemExport>(params.clone()).await;
    assert_error(
        &err,
        ErrorKind::Forbidden,
        "a non-member of a private circle",
    );
    let markdown = ana.ok::<m::ProblemExport>(params).await.markdown;
    assert!(markdown.contains("## Quiet (resolved)"), "{markdown}");
    assert!(markdown.contains("People: ana."), "{markdown}");
}
