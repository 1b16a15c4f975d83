//! Circles: create, list, join, leave, invite, members, remove, and who may
//! see and do what.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use circles_protocol::methods as m;
use circles_protocol::model::{Role, Visibility};
use circles_protocol::{ErrorKind, Event, EventBody};
use circles_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_makes_the_creator_facilitator_and_logs_a_join() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    let before = now_millis();
    let circle = ana.create_circle("cataloguers").await;
    assert_eq!(circle.slug, "cataloguers");
    assert_eq!(circle.name, "Circle cataloguers");
    assert_eq!(circle.purpose, "");
    assert_eq!(circle.visibility, Visibility::Public);
    assert_eq!(circle.max_members, 12);
    assert_eq!(circle.member_count, 1);
    assert_eq!(circle.head, 1);
    assert_eq!(circle.created_by, "ana");
    assert_eq!(circle.role, Some(Role::Facilitator));
    assert!(circle.created_at + 60_000 >= before && circle.created_at <= now_millis() + 60_000);
    assert_eq!(circle.id.get_version_num(), 7, "circle ids are UUID v7");

    let history = ana.history("cataloguers", None, None).await;
    assert!(!history.more);
    assert_eq!(history.events.len(), 1);
    let join = &history.events[0];
    assert_eq!(join.seq, 1);
    assert_eq!(join.author, "ana");
    assert_eq!(
        join.body,
        EventBody::Join {
            role: Role::Facilitator
        }
    );

    let members = ana.members("cataloguers").await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].handle, "ana");
    assert_eq!(members[0].role, Role::Facilitator);
    assert!(members[0].online);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_every_field() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    let circle = ana
        .create_circle_with(m::CreateCircle {
            slug: "k12-teachers".into(),
            name: "K-12 teachers".into(),
            purpose: Some("Classroom management".into()),
            visibility: Some(Visibility::Private),
            max_members: Some(50),
        })
        .await;
    assert_eq!(circle.name, "K-12 teachers");
    assert_eq!(circle.purpose, "Classroom management");
    assert_eq!(circle.visibility, Visibility::Private);
    assert_eq!(circle.max_members, 50);
    let min = ana
        .create_circle_with(m::CreateCircle {
            max_members: Some(2),
            ..new_circle("p2")
        })
        .await;
    assert_eq!(min.max_members, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_taken_slugs_and_bad_fields() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("taken").await;
    let mut bob = server.register("bob").await;
    let err = bob.err::<m::CircleCreate>(new_circle("taken")).await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");

    let long_slug = "s".repeat(41);
    for slug in [
        "a",
        "-ab",
        "ab-",
        "Ab",
        "a_b",
        "a b",
        long_slug.as_str(),
        "",
    ] {
        let err = bob.err::<m::CircleCreate>(new_circle(slug)).await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "slug {slug:?}: {err:?}"
        );
    }
    let err = bob
        .err::<m::CircleCreate>(m::CreateCircle {
            name: String::new(),
            ..new_circle("noname")
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::InvalidParams, "empty name: {err:?}");
    for max in [0, 1, 51] {
        let err = bob
            .err::<m::CircleCreate>(m::CreateCircle {
                max_members: Some(max),
                ..new_circle("sized")
            })
            .await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "max_members {max}: {err:?}"
        );
    }
    let err = bob
        .err::<m::CircleCreate>(m::CreateCircle {
            name: "n".repeat(81),
            ..new_circle("longname")
        })
        .await;
    assert!(
        matches!(err.kind(), ErrorKind::InvalidParams | ErrorKind::TooLarge),
        "name of 81 chars: {err:?}"
    );
    let err = bob
        .err::<m::CircleCreate>(m::CreateCircle {
            purpose: Some("p".repeat(2001)),
            ..new_circle("longpurpose")
        })
        .await;
    assert!(
        matches!(err.kind(), ErrorKind::InvalidParams | ErrorKind::TooLarge),
        "purpose of 2001 chars: {err:?}"
    );
    // Edge values that are fine: 2 and 40 chars, digits at the ends.
    bob.create_circle("b2").await;
    bob.create_circle(&"9".repeat(40)).await;
    bob.create_circle("0-a-1").await;
    // None of the refused slugs exists.
    let listed: Vec<String> = bob
        .ok::<m::CircleList>(m::Empty {})
        .await
        .circles
        .into_iter()
        .map(|c| c.slug)
        .collect();
    assert_eq!(
        listed,
        vec![
            "0-a-1".to_string(),
            "9".repeat(40),
            "b2".into(),
            "taken".into()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_public_circles_and_mine_sorted_by_slug() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    let mut bob = server.register("bob").await;
    ana.create_circle("zeta").await;
    ana.create_private_circle("ana-secret").await;
    bob.create_circle("alpha").await;
    bob.create_private_circle("bob-secret").await;

    let ana_list = ana.ok::<m::CircleList>(m::Empty {}).await.circles;
    let slugs: Vec<&str> = ana_list.iter().map(|c| c.slug.as_str()).collect();
    assert_eq!(slugs, ["alpha", "ana-secret", "zeta"]);
    let alpha = &ana_list[0];
    assert_eq!(alpha.role, None, "not a member of alpha");
    assert_eq!(alpha.unread, 0, "non-members have no unread count");
    assert_eq!(ana_list[1].role, Some(Role::Facilitator));
    assert_eq!(ana_list[1].visibility, Visibility::Private);

    let bob_list = bob.ok::<m::CircleList>(m::Empty {}).await.circles;
    let slugs: Vec<&str> = bob_list.iter().map(|c| c.slug.as_str()).collect();
    assert_eq!(slugs, ["alpha", "bob-secret", "zeta"]);

    // After joining by invite, the private circle shows up for the new member.
    let code = ana.invite("ana-secret").await;
    bob.join_with_invite("ana-secret", &code).await;
    let slugs: Vec<String> = bob
        .ok::<m::CircleList>(m::Empty {})
        .await
        .circles
        .into_iter()
        .map(|c| c.slug)
        .collect();
    assert_eq!(slugs, ["alpha", "ana-secret", "bob-secret", "zeta"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_public_circle_appends_a_member_join() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("open").await;
    let mut bob = server.register("bob").await;
    let circle = bob.join("open").await;
    assert_eq!(circle.role, Some(Role::Member));
    assert_eq!(circle.member_count, 2);
    assert_eq!(circle.head, 2);
    let events = bob.history_all("open").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].seq, 2);
    assert_eq!(events[1].author, "bob");
    assert_eq!(events[1].body, EventBody::Join { role: Role::Member });

    let err = bob.err::<m::CircleJoin>(join_params("open", None)).await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "already a member: {err:?}");
    let err = ana.err::<m::CircleJoin>(join_params("open", None)).await;
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "the creator is a member: {err:?}"
    );
    let err = bob.err::<m::CircleJoin>(join_params("nowhere", None)).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    assert_eq!(err.message, "no circle named \"nowhere\"");

    let members = ana.members("open").await;
    let handles: Vec<&str> = members.iter().map(|m| m.handle.as_str()).collect();
    assert_eq!(handles, ["ana", "bob"], "members in join order");
    assert_eq!(members[1].role, Role::Member);
    assert_eq!(members[1].display_name, "bob");
}

fn join_params(circle: &str, invite: Option<&str>) -> m::JoinCircle {
    m::JoinCircle {
        circle: circle.into(),
        invite: invite.map(Into::into),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_circle_needs_a_valid_invite_for_that_circle() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_private_circle("secret").await;
    ana.create_private_circle("other-secret").await;
    let other_code = ana.invite("other-secret").await;
    let mut bob = server.register("bob").await;

    let err = bob.err::<m::CircleJoin>(join_params("secret", None)).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "no invite: {err:?}");
    let err = bob
        .err::<m::CircleJoin>(join_params("secret", Some("bogus-code")))
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "bogus invite: {err:?}");
    let err = bob
        .err::<m::CircleJoin>(join_params("secret", Some(&other_code)))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "another circle's invite: {err:?}"
    );

    let before = now_millis();
    let invite = ana.ok::<m::CircleInvite>(circle_ref("secret")).await;
    let week = 7 * 24 * 3600 * 1000;
    assert!(
        invite.expires_at >= before + week - 60_000
            && invite.expires_at <= now_millis() + week + 60_000,
        "invites are valid 7 days: expires_at {} vs now {before}",
        invite.expires_at
    );
    let circle = bob.join_with_invite("secret", &invite.invite).await;
    assert_eq!(circle.role, Some(Role::Member));
    assert_eq!(circle.visibility, Visibility::Private);
    // Several people may use the same code.
    let mut cat = server.register("cat").await;
    cat.join_with_invite("secret", &invite.invite).await;
    let handles: Vec<String> = ana
        .members("secret")
        .await
        .into_iter()
        .map(|m| m.handle)
        .collect();
    assert_eq!(handles, ["ana", "bob", "cat"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_is_for_facilitators_only() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("open").await;
    let mut bob = server.register("bob").await;
    let mut cat = server.register("cat").await;
    let err = cat.err::<m::CircleInvite>(circle_ref("open")).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "non-member: {err:?}");
    bob.join("open").await;
    let err = bob.err::<m::CircleInvite>(circle_ref("open")).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "plain member: {err:?}");
    let err = bob.err::<m::CircleInvite>(circle_ref("nowhere")).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    assert!(!ana.invite("open").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_circle_refuses_joins() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle_with(m::CreateCircle {
        max_members: Some(2),
        ..new_circle("pair")
    })
    .await;
    ana.create_circle_with(m::CreateCircle {
        max_members: Some(2),
        visibility: Some(Visibility::Private),
        ..new_circle("private-pair")
    })
    .await;
    let code = ana.invite("private-pair").await;
    let mut bob = server.register("bob").await;
    let mut cat = server.register("cat").await;
    let circle = bob.join("pair").await;
    assert_eq!(circle.member_count, 2);
    let err = cat.err::<m::CircleJoin>(join_params("pair", None)).await;
    assert_eq!(err.kind(), ErrorKind::CircleFull, "{err:?}");
    assert_eq!(err.code, -32010);
    bob.join_with_invite("private-pair", &code).await;
    let err = cat
        .err::<m::CircleJoin>(join_params("private-pair", Some(&code)))
        .await;
    assert_eq!(err.kind(), ErrorKind::CircleFull, "with an invite: {err:?}");
    // A seat frees up when someone leaves.
    bob.ok::<m::CircleLeave>(circle_ref("pair")).await;
    let circle = cat.join("pair").await;
    assert_eq!(circle.member_count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_appends_leave_and_refuses_non_members() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("open").await;
    let mut bob = server.register("bob").await;
    let err = bob.err::<m::CircleLeave>(circle_ref("open")).await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "not a member: {err:?}");
    let err = bob.err::<m::CircleLeave>(circle_ref("nowhere")).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    bob.join("open").await;
    let result = bob.ok::<m::CircleLeave>(circle_ref("open")).await;
    assert_eq!(result, m::Empty {});
    let events = ana.history_all("open").await;
    let last = events.last().expect("events");
    assert_eq!(last.seq, 3);
    assert_eq!(last.author, "bob");
    assert_eq!(last.body, EventBody::Leave {});
    let info = ana.listed("open").await.expect("listed");
    assert_eq!(info.member_count, 1);
    let handles: Vec<String> = ana
        .members("open")
        .await
        .into_iter()
        .map(|m| m.handle)
        .collect();
    assert_eq!(handles, ["ana"]);
    // A member who left may post no more, but may join a public circle again.
    let err = bob
        .err::<m::PostNote>(m::NewNote {
            circle: "open".into(),
            body: "still here?".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err:?}");
    let again = bob.join("open").await;
    assert_eq!(again.role, Some(Role::Member));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_last_facilitator_leaves_the_earliest_member_takes_over() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("open").await;
    let mut bob = server.register("bob").await;
    let mut cat = server.register("cat").await;
    bob.join("open").await;
    cat.join("open").await;
    ana.ok::<m::CircleLeave>(circle_ref("open")).await;
    let members = cat.members("open").await;
    let roles: Vec<(&str, Role)> = members
        .iter()
        .map(|m| (m.handle.as_str(), m.role))
        .collect();
    assert_eq!(roles, [("bob", Role::Facilitator), ("cat", Role::Member)]);
    // Bob can now do facilitator things.
    assert!(!bob.invite("open").await.is_empty());
    let err = cat.err::<m::CircleInvite>(circle_ref("open")).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(
        bob.listed("open").await.expect("listed").role,
        Some(Role::Facilitator)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_private_circles_are_for_members_only() {
    let server = TestServer::start().await;
    let mut ana = server.register_named("ana", "Ana Lopez").await;
    ana.create_circle("open").await;
    ana.create_private_circle("secret").await;
    let mut bob = server.register("bob").await;
    // Public: any signed-in user may look.
    let members = bob.members("open").await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].display_name, "Ana Lopez");
    // Private: members only.
    let err = bob.err::<m::CircleMembers>(circle_ref("secret")).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err:?}");
    assert_eq!(
        err.message,
        "circle secret is private; only its members can see it"
    );
    let err = bob.err::<m::CircleMembers>(circle_ref("nowhere")).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_online_follows_connections() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("open").await;
    ana.subscribe("open", None).await;
    let mut bob = server.register("bob").await;
    bob.join("open").await;
    let members = ana.members("open").await;
    assert!(
        members.iter().all(|m| m.online),
        "both connected: {members:?}"
    );
    bob.close().await;
    // Presence tells ana when bob's last connection is gone.
    let presence = ana.next_presence_is("bob", false).await;
    assert_eq!(presence.circle, "open");
    let members = ana.members("open").await;
    let bob_member = members
        .iter()
        .find(|m| m.handle == "bob")
        .expect("bob is a member");
    assert!(!bob_member.online, "bob has no connection: {members:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_is_for_facilitators_and_removed_members_need_an_invite() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("open").await;
    let mut bob = server.register("bob").await;
    let mut cat = server.register("cat").await;
    bob.join("open").await;
    cat.join("open").await;

    let err = bob
        .err::<m::CircleRemove>(remove_params("open", "cat", None))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "a member cannot remove: {err:?}"
    );
    let err = ana
        .err::<m::CircleRemove>(remove_params("open", "ana", None))
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "cannot remove yourself: {err:?}"
    );
    let err = ana
        .err::<m::CircleRemove>(remove_params("nowhere", "bob", None))
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");

    let event = ana
        .ok::<m::CircleRemove>(remove_params("open", "bob", Some("spam")))
        .await
        .event;
    assert_eq!(event.seq, 4);
    assert_eq!(event.author, "ana");
    assert_eq!(
        event.body,
        EventBody::Remove {
            member: "bob".into(),
            reason: Some("spam".into())
        }
    );
    let handles: Vec<String> = ana
        .members("open")
        .await
        .into_iter()
        .map(|m| m.handle)
        .collect();
    assert_eq!(handles, ["ana", "cat"]);

    // Removed: no posting, and joining even a public circle needs an invite.
    let err = bob
        .err::<m::PostNote>(m::NewNote {
            circle: "open".into(),
            body: "let me back".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err:?}");
    let err = bob.err::<m::CircleJoin>(join_params("open", None)).await;
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "removed member rejoining: {err:?}"
    );
    let code = ana.invite("open").await;
    let circle = bob.join_with_invite("open", &code).await;
    assert_eq!(circle.role, Some(Role::Member));
    // Others were never affected.
    let err = cat.err::<m::CircleJoin>(join_params("open", None)).await;
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

fn remove_params(circle: &str, member: &str, reason: Option<&str>) -> m::RemoveMember {
    m::RemoveMember {
        circle: circle.into(),
        member: member.into(),
        reason: reason.map(Into::into),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_circle_content_is_for_members_only() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_private_circle("secret").await;
    let problem = ana.problem("secret", "Weeding policy", "How often?").await;
    let mut eve = server.register("eve").await;
    let want = "circle secret is private; only its members can see it";

    let err = eve
        .err::<m::CircleSubscribe>(m::Subscribe {
            circle: "secret".into(),
            since: Some(0),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "subscribe: {err:?}");
    assert_eq!(err.message, want);
    let err = eve
        .err::<m::CircleHistory>(m::History {
            circle: "secret".into(),
            before: None,
            limit: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "history: {err:?}");
    let err = eve
        .err::<m::ProblemList>(m::ListProblems {
            circle: "secret".into(),
            status: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "problem.list: {err:?}");
    let err = eve
        .err::<m::ProblemGet>(problem_ref("secret", problem.id))
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "problem.get: {err:?}");
    let err = eve.err::<m::CircleMembers>(circle_ref("secret")).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "members: {err:?}");
    let err = eve
        .err::<m::PostNote>(m::NewNote {
            circle: "secret".into(),
            body: "hi".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "post: {err:?}");
    let err = eve
        .err::<m::CircleRead>(m::MarkRead {
            circle: "secret".into(),
            seq: 1,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "read: {err:?}");
    assert!(
        eve.listed("secret").await.is_none(),
        "private circles are unlisted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_circle_content_is_readable_by_non_members_but_not_writable() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("open").await;
    let problem = ana.problem("open", "Weeding policy", "How often?").await;
    let mut eve = server.register("eve").await;
    let head = eve.subscribe("open", Some(0)).await;
    assert_eq!(head, 2);
    let backlog = eve.events_until("open", 2).await;
    assert_seqs(&backlog, 1, 2, "public backlog for a non-member");
    let history = eve.history_all("open").await;
    assert_eq!(history, backlog);
    let problems = eve
        .ok::<m::ProblemList>(m::ListProblems {
            circle: "open".into(),
            status: None,
        })
        .await
        .problems;
    assert_eq!(problems.len(), 1);
    let thread = eve.problem_thread("open", problem.id).await;
    assert_eq!(thread.title, "Weeding policy");

    let want = "join open before posting";
    let err = eve
        .err::<m::PostNote>(m::NewNote {
            circle: "open".into(),
            body: "hi".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "note: {err:?}");
    assert!(err.message.starts_with(want), "{:?}", err.message);
    let err = eve
        .err::<m::PostProblem>(m::NewProblem {
            circle: "open".into(),
            title: "t".into(),
            body: String::new(),
            tags: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "problem: {err:?}");
    let err = eve
        .err::<m::PostCritique>(m::NewCritique {
            circle: "open".into(),
            problem: problem.id,
            body: "advice".into(),
            stance: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "critique: {err:?}");
    let err = eve
        .err::<m::ProblemMetoo>(problem_ref("open", problem.id))
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "metoo: {err:?}");
    // None of that reached the log.
    assert_eq!(ana.history_all("open").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_member_of_a_private_circle_stops_receiving_events() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_private_circle("secret").await;
    let code = ana.invite("secret").await;
    let mut bob = server.register("bob").await;
    bob.join_with_invite("secret", &code).await;
    // A public circle as a barrier: bob stays subscribed to it.
    ana.create_circle("open").await;
    bob.subscribe("open", None).await;
    let head = bob.subscribe("secret", None).await;
    ana.ok::<m::CircleRemove>(remove_params("secret", "bob", None))
        .await;
    let removal = bob.next_event_in("secret").await;
    assert_eq!(removal.seq, head + 1);
    assert_eq!(
        removal.body,
        EventBody::Remove {
            member: "bob".into(),
            reason: None
        }
    );
    // After the remove event bob receives nothing more from the private circle.
    ana.note("secret", "after bob left").await;
    let barrier = ana.note("open", "barrier").await;
    let seen = bob.next_event_in("open").await;
    assert_eq!(seen.id, barrier.id);
    let leaked = bob.buffered_events_in("secret");
    assert!(
        leaked.is_empty(),
        "bob received private events after removal: {leaked:?}"
    );
    let err = bob
        .err::<m::CircleHistory>(m::History {
            circle: "secret".into(),
            before: None,
            limit: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_members_is_capped_by_the_operator() {
    let server = TestServer::start_with(|config| config.max_members_cap = 5).await;
    let mut ana = server.register("ana").await;
    let err = ana
        .err::<m::CircleCreate>(m::CreateCircle {
            max_members: Some(6),
            ..new_circle("big")
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "over the cap: {err:?}"
    );
    let circle = ana
        .create_circle_with(m::CreateCircle {
            max_members: Some(5),
            ..new_circle("big")
        })
        .await;
    assert_eq!(circle.max_members, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_private_circle_ends_its_subscription() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_private_circle("secret").await;
    ana.create_circle("open").await;
    let code = ana.invite("secret").await;
    let mut bob = server.register("bob").await;
    bob.join_with_invite("secret", &code).await;
    bob.subscribe("open", None).await;
    let head = bob.subscribe("secret", None).await;
    bob.ok::<m::CircleLeave>(circle_ref("secret")).await;
    let leave = bob.next_event_in("secret").await;
    assert_eq!(leave.seq, head + 1);
    assert_eq!(leave.body, EventBody::Leave {});
    ana.note("secret", "after bob left").await;
    let barrier = ana.note("open", "barrier").await;
    assert_eq!(bob.next_event_in("open").await.id, barrier.id);
    let leaked = bob.buffered_events_in("secret");
    assert!(
        leaked.is_empty(),
        "bob received private events after leaving: {leaked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_and_remove_reach_their_subject_while_others_post() {
    const POSTERS: usize = 3;
    const SUBJECTS: usize = 4;
    /// A bound on each poster, should the test go wrong.
    const MAX_POSTS: usize = 5_000;

    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_private_circle("busy").await;
    let code = ana.invite("busy").await;

    // The subjects: members subscribed live, each read by its own task until
    // its own leave or remove event; then two round trips, during which
    // anything else the subscription still had would arrive.
    let mut subjects = Vec::new();
    let mut readers = Vec::new();
    for i in 0..SUBJECTS {
        let mut subject = server.register(&format!("subject{i}")).await;
        subject.join_with_invite("busy", &code).await;
        let head = subject.subscribe("busy", None).await;
        subjects.push((subject.handle.clone(), subject.token.clone()));
        readers.push(tokio::spawn(async move {
            let mut seen: Vec<Event> = Vec::new();
            loop {
                let event = subject.next_event_in("busy").await;
                let own = ends_membership_of(&event, &subject.handle);
                seen.push(event);
                if own {
                    break;
                }
            }
            assert!(subject.listed("busy").await.is_none());
            assert!(subject.listed("busy").await.is_none());
            (head, seen, subject.buffered_events_in("busy"))
        }));
    }

    // The posters keep several appends in flight while the members go.
    let stop = Arc::new(AtomicBool::new(false));
    let (warm_tx, mut warm_rx) = tokio::sync::mpsc::channel::<()>(POSTERS);
    let mut posters = Vec::new();
    for i in 0..POSTERS {
        let mut poster = server.register(&format!("poster{i}")).await;
        poster.join_with_invite("busy", &code).await;
        let stop = Arc::clone(&stop);
        let warm = warm_tx.clone();
        posters.push(tokio::spawn(async move {
            let mut posted = 0;
            while posted < MAX_POSTS && !stop.load(Ordering::Relaxed) {
                poster.note("busy", &format!("poster{i} #{posted}")).await;
                posted += 1;
                if posted == 20 {
                    let _ = warm.send(()).await;
                }
            }
            posted
        }));
    }
    drop(warm_tx);
    for _ in 0..POSTERS {
        within("every poster to be posting", warm_rx.recv())
            .await
            .expect("a poster stopped before posting 20 notes");
    }

    // Even subjects are removed by ana, odd ones leave (from another connection).
    let mut removals = Vec::new();
    for (i, (handle, token)) in subjects.iter().enumerate() {
        if i % 2 == 0 {
            let event = ana
                .ok::<m::CircleRemove>(remove_params("busy", handle, None))
                .await
                .event;
            removals.push(event);
        } else {
            let mut other = Client::with_token(server.addr, token).await;
            other.ok::<m::CircleLeave>(circle_ref("busy")).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for poster in posters {
        let posted = within("a poster to stop", poster)
            .await
            .expect("a poster panicked");
        assert!(posted >= 20);
    }
    // Each subject's own leave or remove, as the log has it.
    let log = ana.history_all("busy").await;
    let ends: Vec<Event> = subjects
        .iter()
        .map(|(handle, _)| {
            let mut own = log.iter().filter(|e| ends_membership_of(e, handle));
            let end = own
                .next()
                .unwrap_or_else(|| panic!("no leave or remove of {handle} in the log"));
            assert!(own.next().is_none(), "{handle} left only once");
            end.clone()
        })
        .collect();
    for removal in &removals {
        assert!(ends.contains(removal), "the log holds {removal:?}");
    }

    for ((reader, (handle, _)), end) in readers.into_iter().zip(&subjects).zip(&ends) {
        let (head, seen, after) = within_for(TIMEOUT * 2, format!("{handle}'s reader"), reader)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "{handle}'s stream did not end with their own event (seq {}): {err}",
                    end.seq
                )
            });
        assert_seqs(&seen, head + 1, end.seq, &format!("{handle}'s events"));
        assert_eq!(
            seen.last(),
            Some(end),
            "{handle}'s last event is their own leave or remove"
        );
        assert!(
            after.is_empty(),
            "{handle} received events after their own: {:?}",
            seqs(&after)
        );
    }
}
