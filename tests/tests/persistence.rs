//! Everything survives a restart on the same data dir: accounts and tokens
//! (and revocations), circles, membership, invites, the log, problem state,
//! read markers.

use circles_protocol::methods as m;
use circles_protocol::model::{CircleInfo, Member, ProblemStatus, Role, Visibility};
use circles_protocol::{ErrorKind, Event};
use circles_tests::*;

/// What a user can see, minus what is about connections (online flags).
#[derive(Debug, PartialEq)]
struct Snapshot {
    circles: Vec<CircleInfo>,
    logs: Vec<Vec<Event>>,
    members: Vec<Vec<(String, String, Role, u64)>>,
    problems: Vec<m::Problems>,
    threads: Vec<m::ProblemResult>,
}

fn member_rows(members: Vec<Member>) -> Vec<(String, String, Role, u64)> {
    members
        .into_iter()
        .map(|m| (m.handle, m.display_name, m.role, m.joined_at))
        .collect()
}

async fn snapshot(client: &mut Client, threads: &[(String, uuid::Uuid)]) -> Snapshot {
    let circles = client.ok::<m::CircleList>(m::Empty {}).await.circles;
    let mut logs = Vec::new();
    let mut members = Vec::new();
    let mut problems = Vec::new();
    for circle in &circles {
        logs.push(client.history_all(&circle.slug).await);
        members.push(member_rows(client.members(&circle.slug).await));
        problems.push(
            client
                .ok::<m::ProblemList>(m::ListProblems {
                    circle: circle.slug.clone(),
                    status: None,
                })
                .await,
        );
    }
    let mut thread_views = Vec::new();
    for (circle, problem) in threads {
        thread_views.push(
            client
                .ok::<m::ProblemGet>(problem_ref(circle, *problem))
                .await,
        );
    }
    Snapshot {
        circles,
        logs,
        members,
        problems,
        threads: thread_views,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_restart() {
    let mut server = TestServer::start().await;
    let mut ana = server.register_named("ana", "Ana Lopez").await;
    let mut bob = server.register("bob").await;
    let mut cat = server.register("cat").await;
    let revoked = Client::login(server.addr, "cat", PASSWORD).await;

    ana.create_circle_with(m::CreateCircle {
        slug: "lib".into(),
        name: "Librarians".into(),
        purpose: Some("Shared problems of small libraries".into()),
        visibility: None,
        max_members: Some(5),
    })
    .await;
    ana.create_private_circle("secret").await;
    let invite = ana.invite("secret").await;
    bob.join("lib").await;
    cat.join("lib").await;
    bob.join_with_invite("secret", &invite).await;

    let problem = bob
        .ok::<m::PostProblem>(m::NewProblem {
            circle: "lib".into(),
            title: "Overdue fines".into(),
            body: "Abolish them?".into(),
            tags: Some(vec!["policy".into(), "fines".into()]),
        })
        .await
        .event;
    let c1 = ana
        .critique("lib", problem.id, "We did; returns went up.")
        .await;
    let c2 = cat
        .critique("lib", problem.id, "Try an amnesty week.")
        .await;
    bob.ok::<m::PostEdit>(m::EditPost {
        circle: "lib".into(),
        post: problem.id,
        title: Some("Overdue fines: abolish?".into()),
        body: None,
    })
    .await;
    cat.ok::<m::ProblemMetoo>(problem_ref("lib", problem.id))
        .await;
    bob.ok::<m::ProblemResolve>(m::Resolve {
        circle: "lib".into(),
        problem: problem.id,
        helpful: Some(vec![c1.id]),
        summary: None,
    })
    .await;
    let open = cat.problem("lib", "Still open", "").await;
    let oops = cat.note("lib", "posted by mistake").await;
    cat.ok::<m::PostRetract>(post_ref("lib", oops.id)).await;
    bob.note("secret", "a private note").await;
    let latest = ana.note("lib", "latest").await;
    // Read marker: bob (whose own posts moved his marker) has read up to
    // just before ana's latest note.
    let marker = bob
        .ok::<m::CircleRead>(m::MarkRead {
            circle: "lib".into(),
            seq: latest.seq - 1,
        })
        .await;
    assert_eq!(
        marker,
        m::ReadMarker {
            read: latest.seq - 1,
            unread: 1,
            mentions: 0
        }
    );
    // A removed member stays removed.
    let mut dan = server.register("dan").await;
    dan.join("lib").await;
    ana.ok::<m::CircleRemove>(m::RemoveMember {
        circle: "lib".into(),
        member: "dan".into(),
        reason: Some("testing".into()),
    })
    .await;
    // Credentials: bob changes his password, cat's second token is revoked by logout.
    bob.ok::<m::AuthPassword>(m::ChangePassword {
        old: PASSWORD.into(),
        new: "bob's new password".into(),
    })
    .await;
    let revoked_token = revoked.token.clone();
    let mut revoked = revoked;
    revoked.ok::<m::AuthLogout>(m::Empty {}).await;

    let threads = vec![
        ("lib".to_string(), problem.id),
        ("lib".to_string(), open.id),
    ];
    let ana_before = snapshot(&mut ana, &threads).await;
    let bob_before = snapshot(&mut bob, &threads).await;
    let cat_before = snapshot(&mut cat, &threads).await;
    let (ana_token, bob_token, cat_token) =
        (ana.token.clone(), bob.token.clone(), cat.token.clone());
    drop((ana, bob, cat, dan, revoked));

    server.restart().await;

    // Tokens still sign in; the revoked one does not.
    let mut ana = Client::with_token(server.addr, &ana_token).await;
    let mut bob = Client::with_token(server.addr, &bob_token).await;
    let mut cat = Client::with_token(server.addr, &cat_token).await;
    let mut probe = server.connect().await;
    let err = probe
        .err::<m::AuthToken>(m::TokenLogin {
            token: revoked_token,
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Unauthenticated,
        "a revoked token stays revoked"
    );
    let who = probe
        .err::<m::AuthLogin>(m::Login {
            handle: "bob".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert_eq!(who.kind(), ErrorKind::Unauthenticated, "bob's old password");
    Client::login(server.addr, "bob", "bob's new password").await;
    let whoami = Client::with_token(server.addr, &ana_token).await;
    assert_eq!(whoami.handle, "ana");
    let mut again = server.connect().await;
    let me = again
        .ok::<m::AuthToken>(m::TokenLogin {
            token: ana_token.clone(),
        })
        .await;
    assert_eq!(me.display_name, "Ana Lopez");

    // The same view for everyone, field by field.
    assert_eq!(snapshot(&mut ana, &threads).await, ana_before, "ana's view");
    assert_eq!(snapshot(&mut bob, &threads).await, bob_before, "bob's view");
    assert_eq!(snapshot(&mut cat, &threads).await, cat_before, "cat's view");
    // A few facts spelled out, so a wrong snapshot cannot hide them.
    let lib = bob.listed("lib").await.expect("lib");
    assert_eq!(lib.read, latest.seq - 1);
    assert_eq!(lib.unread, lib.head - (latest.seq - 1));
    assert_eq!(lib.max_members, 5);
    assert_eq!(lib.purpose, "Shared problems of small libraries");
    let secret = bob
        .listed("secret")
        .await
        .expect("bob still sees the private circle");
    assert_eq!(secret.visibility, Visibility::Private);
    assert_eq!(secret.role, Some(Role::Member));
    let thread = cat.problem_thread("lib", problem.id).await;
    assert_eq!(thread.title, "Overdue fines: abolish?");
    assert_eq!(thread.status, ProblemStatus::Resolved);
    assert_eq!(thread.metoos, vec!["cat".to_string()]);
    assert_eq!(thread.resolution.expect("resolution").helpful, vec![c1.id]);
    assert_eq!(
        thread.critiques.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![c1.id, c2.id]
    );
    let log = cat.history_all("lib").await;
    let retracted = log
        .iter()
        .find(|e| e.id == oops.id)
        .expect("the retracted note");
    assert!(retracted.retracted);

    // Rules that depend on stored state still hold.
    let mut eve = server.register("eve").await;
    let err = eve
        .err::<m::CircleJoin>(m::JoinCircle {
            circle: "secret".into(),
            invite: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    eve.join_with_invite("secret", &invite).await; // the invite survived
    let mut dan = Client::login(server.addr, "dan", PASSWORD).await;
    let err = dan
        .err::<m::CircleJoin>(m::JoinCircle {
            circle: "lib".into(),
            invite: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "dan stays removed");
    let err = eve.err::<m::CircleCreate>(new_circle("lib")).await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "slugs stay taken");
    let mut taken = server.connect().await;
    let err = taken
        .err::<m::AuthRegister>(m::Register {
            handle: "ana".into(),
            password: PASSWORD.into(),
            display_name: None,
            invite: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "handles stay taken");
    let err = cat
        .err::<m::ProblemMetoo>(problem_ref("lib", problem.id))
        .await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "cat's metoo is remembered");

    // The log continues where it stopped, for subscribers too.
    let head = lib.head;
    cat.subscribe("lib", Some(head)).await;
    let next = ana.note("lib", "after the restart").await;
    assert_eq!(next.seq, head + 1);
    assert_eq!(cat.next_event_in("lib").await, next);
    // And survives a second restart as well.
    drop((ana, bob, cat, dan, eve));
    server.restart().await;
    let mut ana = Client::with_token(server.addr, &ana_token).await;
    let log = ana.history_all("lib").await;
    assert_seqs(&log, 1, head + 1, "log after two restarts");
    assert_eq!(log.last().expect("events"), &next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_live_connections_and_resume() {
    let mut server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut acked = Vec::new();
    for i in 0..30 {
        acked.push(ana.note("lib", &format!("n{i}")).await);
    }
    let token = ana.token.clone();
    ana.subscribe("lib", None).await;
    // Restart while ana is connected: she is told the server is going away.
    server.stop().await;
    assert_eq!(ana.expect_close().await, Some(1001));
    server.start_again().await;
    let mut ana = Client::with_token(server.addr, &token).await;
    let head = ana.subscribe("lib", Some(0)).await;
    assert_eq!(head, 31);
    let log = ana.events_until("lib", head).await;
    assert_seqs(&log, 1, 31, "log after restart");
    assert_eq!(log[1..], acked[..]);
}
