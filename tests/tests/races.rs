//! Races: the same one-time action attempted at once on several connections.
//! Exactly one wins; the others get the documented error, and the log
//! records the action once.

use circles_protocol::methods as m;
use circles_protocol::{ErrorKind, EventBody};
use circles_tests::*;
use futures_util::future::join_all;

fn count_ok<T, E>(results: &[Result<T, E>]) -> usize {
    results.iter().filter(|r| r.is_ok()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_handle_registered_at_once_by_many() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(server.connect().await);
    }
    let results = join_all(clients.iter_mut().map(|c| {
        c.call::<m::AuthRegister>(m::Register {
            handle: "ana".into(),
            password: PASSWORD.into(),
            display_name: None,
            invite: None,
        })
    }))
    .await;
    assert_eq!(
        count_ok(&results),
        1,
        "exactly one registration wins: {results:?}"
    );
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
    }
    Client::login(server.addr, "ana", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slug_created_at_once_by_many() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for i in 0..5 {
        clients.push(server.register(&format!("u{i}")).await);
    }
    let results = join_all(
        clients
            .iter_mut()
            .map(|c| c.call::<m::CircleCreate>(new_circle("lib"))),
    )
    .await;
    assert_eq!(
        count_ok(&results),
        1,
        "exactly one create wins: {results:?}"
    );
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
    }
    let winner = results.iter().position(|r| r.is_ok()).expect("a winner");
    let log = clients[0].history_all("lib").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].author, format!("u{winner}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_seat_goes_to_exactly_one_joiner() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle_with(m::CreateCircle {
        max_members: Some(3),
        ..new_circle("small")
    })
    .await;
    let mut bob = server.register("bob").await;
    bob.join("small").await;
    let mut joiners = Vec::new();
    for i in 0..6 {
        joiners.push(server.register(&format!("j{i}")).await);
    }
    let results = join_all(joiners.iter_mut().map(|c| {
        c.call::<m::CircleJoin>(m::JoinCircle {
            circle: "small".into(),
            invite: None,
        })
    }))
    .await;
    assert_eq!(count_ok(&results), 1, "one seat was left: {results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.kind(), ErrorKind::CircleFull, "{err:?}");
    }
    let members = ana.members("small").await;
    assert_eq!(members.len(), 3);
    let info = ana.listed("small").await.expect("listed");
    assert_eq!(info.member_count, 3);
    let joins = ana
        .history_all("small")
        .await
        .iter()
        .filter(|e| matches!(e.body, EventBody::Join { .. }))
        .count();
    assert_eq!(joins, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_metoo_and_one_resolve_across_connections_of_one_account() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let problem = ana.problem("lib", "Shared", "").await;

    let mut bobs = vec![bob];
    for _ in 0..4 {
        bobs.push(Client::login(server.addr, "bob", PASSWORD).await);
    }
    let results = join_all(
        bobs.iter_mut()
            .map(|c| c.call::<m::ProblemMetoo>(problem_ref("lib", problem.id))),
    )
    .await;
    assert_eq!(count_ok(&results), 1, "one metoo per member: {results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
    }

    let mut anas = vec![ana];
    for _ in 0..4 {
        anas.push(Client::login(server.addr, "ana", PASSWORD).await);
    }
    let results = join_all(anas.iter_mut().map(|c| {
        c.call::<m::ProblemResolve>(m::Resolve {
            circle: "lib".into(),
            problem: problem.id,
            helpful: None,
            summary: None,
        })
    }))
    .await;
    assert_eq!(count_ok(&results), 1, "resolved once: {results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
    }
    let log = anas[0].history_all("lib").await;
    let kinds: Vec<&str> = log.iter().map(|e| e.body.kind()).collect();
    assert_eq!(kinds, ["join", "join", "problem", "metoo", "resolve"]);
    let thread = anas[0].problem_thread("lib", problem.id).await;
    assert_eq!(thread.metoos, vec!["bob".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_retract_wins_between_author_and_facilitator() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let note = bob.note("lib", "regrettable").await;
    let mut both = [ana, bob];
    let results = join_all(
        both.iter_mut()
            .map(|c| c.call::<m::PostRetract>(post_ref("lib", note.id))),
    )
    .await;
    assert_eq!(count_ok(&results), 1, "retracted once: {results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
    }
    let retracts = both[0]
        .history_all("lib")
        .await
        .iter()
        .filter(|e| matches!(e.body, EventBody::Retract { .. }))
        .count();
    assert_eq!(retracts, 1);
}
