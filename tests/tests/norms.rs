//! Circle norms: facilitators set versioned norms (circle.norms.set), and
//! joining or posting waits until the current version is accepted
//! (circle.norms.accept); the refusal carries the norms to show. As raw
//! frames and typed calls, with permissions, bad input, live events and a
//! restart.

use circles_protocol::methods as m;
use circles_protocol::model::Norms;
use circles_protocol::{ErrorKind, ErrorObject, EventBody, notify};
use circles_tests::*;
use serde_json::json;

const FIRST: &str = "Critique the plan, not the person.";
const SECOND: &str = "Critique the plan, not the person. Say what worked for you.";

fn set(circle: &str, text: &str) -> m::SetNorms {
    m::SetNorms {
        circle: circle.into(),
        text: text.into(),
    }
}

fn accept(circle: &str, version: u64) -> m::AcceptNorms {
    m::AcceptNorms {
        circle: circle.into(),
        version,
        invite: None,
    }
}

fn assert_error(err: &ErrorObject, kind: ErrorKind, what: &str) {
    assert_eq!(err.kind(), kind, "{what}: {err:?}");
    assert_eq!(err.code, kind.code(), "{what}");
}

/// The norms an error carries for the client to show.
fn norms_in(err: &ErrorObject) -> Norms {
    err.data
        .as_ref()
        .and_then(|data| data.norms.clone())
        .unwrap_or_else(|| panic!("the error carries no norms: {err:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_accept_each_version_of_the_norms_before_posting_again() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let mut cat = server.register("cat").await;
    cat.join("lib").await;
    cat.subscribe("lib", None).await;

    // Only facilitators set norms.
    let refused = bob.err::<m::CircleNormsSet>(set("lib", FIRST)).await;
    assert_error(&refused, ErrorKind::Forbidden, "a member sets norms");

    // Before any norms, accepting has nothing to accept.
    let nothing = bob.err::<m::CircleNormsAccept>(accept("lib", 1)).await;
    assert_error(&nothing, ErrorKind::NotFound, "accept without norms");

    let set_event = ana.ok::<m::CircleNormsSet>(set("lib", FIRST)).await.event;
    assert_eq!(
        set_event.body,
        EventBody::Norms {
            version: 1,
            text: FIRST.into()
        }
    );
    // Subscribers see it live, in the documented shape.
    let live = cat
        .next_matching("the norms event", |n| {
            (n.method == notify::EVENT && n.params["event"]["kind"] == "norms")
                .then(|| n.params["event"].clone())
        })
        .await;
    assert_eq!(live["version"], 1, "{live}");
    assert_eq!(live["text"], FIRST, "{live}");

    // Setting them accepted them for ana; bob is refused with the norms.
    ana.problem("lib", "Patrons cannot find the e-books", "")
        .await;
    let raw = bob
        .request(
            "post.note",
            json!({"circle": "lib", "body": "hello before accepting"}),
        )
        .await;
    assert_eq!(raw["error"]["code"], -32003, "{raw}");
    assert_eq!(raw["error"]["data"]["kind"], "forbidden", "{raw}");
    assert_eq!(raw["error"]["data"]["norms"]["version"], 1, "{raw}");
    assert_eq!(raw["error"]["data"]["norms"]["text"], FIRST, "{raw}");
    assert_eq!(raw["error"]["data"]["norms"]["set_by"], "ana", "{raw}");
    let message = raw["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("accept the norms of lib (version 1)"),
        "{message}"
    );

    // Accepting the version the error showed lets bob post; once is enough.
    let accepted = bob.ok::<m::CircleNormsAccept>(accept("lib", 1)).await.event;
    assert_eq!(accepted.body, EventBody::NormsAccept { version: 1 });
    let again = bob.err::<m::CircleNormsAccept>(accept("lib", 1)).await;
    assert_error(&again, ErrorKind::Conflict, "accepting twice");
    bob.note("lib", "hello after accepting").await;

    // A new version asks everyone but its author again.
    ana.ok::<m::CircleNormsSet>(set("lib", SECOND)).await;
    ana.note("lib", "ana is not asked again").await;
    let stale = bob
        .err::<m::PostNote>(m::NewNote {
            circle: "lib".into(),
            body: "under the old norms".into(),
        })
        .await;
    assert_error(&stale, ErrorKind::Forbidden, "posting under old norms");
    assert_eq!(norms_in(&stale).version, 2);
    assert_eq!(norms_in(&stale).text, SECOND);
    // Accepting the version one saw before the change is refused, showing the new one.
    let outdated = cat.err::<m::CircleNormsAccept>(accept("lib", 1)).await;
    assert_error(&outdated, ErrorKind::Conflict, "accepting an old version");
    assert_eq!(norms_in(&outdated).version, 2);

    // circle.members shows the norms and who accepted which version.
    let members = bob
        .ok::<m::CircleMembers>(m::CircleRef {
            circle: "lib".into(),
        })
        .await;
    let norms = members.norms.expect("the members list carries the norms");
    assert_eq!((norms.version, norms.text.as_str()), (2, SECOND));
    let accepted: Vec<(&str, u64)> = members
        .members
        .iter()
        .map(|member| (member.handle.as_str(), member.accepted_norms))
        .collect();
    assert_eq!(accepted, [("ana", 2), ("bob", 1), ("cat", 0)]);

    // Reading, metoo and leaving never wait for the norms.
    bob.subscribe("lib", None).await;
    cat.ok::<m::CircleLeave>(m::CircleRef {
        circle: "lib".into(),
    })
    .await;
    bob.ok::<m::CircleNormsAccept>(accept("lib", 2)).await;
    bob.note("lib", "under the new norms").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomers_accept_the_norms_before_joining() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.create_private_circle("staff").await;
    ana.ok::<m::CircleNormsSet>(set("lib", FIRST)).await;
    ana.ok::<m::CircleNormsSet>(set("staff", SECOND)).await;

    let mut dan = server.register("dan").await;
    let refused = dan
        .err::<m::CircleJoin>(m::JoinCircle {
            circle: "lib".into(),
            invite: None,
        })
        .await;
    assert_error(&refused, ErrorKind::Forbidden, "joining without the norms");
    assert_eq!(norms_in(&refused).text, FIRST);
    assert!(refused.message.contains("before joining"), "{refused:?}");
    dan.ok::<m::CircleNormsAccept>(accept("lib", 1)).await;
    let joined = dan.join("lib").await;
    assert_eq!(joined.member_count, 2);
    dan.note("lib", "glad to be here").await;

    // A private circle's norms are not for outsiders, unless they bring an invite.
    let outsider = dan.err::<m::CircleNormsAccept>(accept("staff", 1)).await;
    assert_error(&outsider, ErrorKind::Forbidden, "outsider accepts");
    assert!(outsider.data.as_ref().is_some_and(|d| d.norms.is_none()));
    let wrong_code = dan
        .err::<m::CircleNormsAccept>(m::AcceptNorms {
            invite: Some("not-a-code".into()),
            ..accept("staff", 1)
        })
        .await;
    assert_error(&wrong_code, ErrorKind::Forbidden, "a wrong invite");
    let code = ana.invite("staff").await;
    let refused = dan
        .err::<m::CircleJoin>(m::JoinCircle {
            circle: "staff".into(),
            invite: Some(code.clone()),
        })
        .await;
    assert_error(
        &refused,
        ErrorKind::Forbidden,
        "invited, norms not accepted",
    );
    assert_eq!(norms_in(&refused).version, 1);
    dan.ok::<m::CircleNormsAccept>(m::AcceptNorms {
        invite: Some(code.clone()),
        ..accept("staff", 1)
    })
    .await;
    dan.join_with_invite("staff", &code).await;
    dan.note("staff", "thanks for the invite").await;
    // A member needs no invite to accept a new version: a wrong one passed
    // along (a client that kept it) is not held against them.
    ana.ok::<m::CircleNormsSet>(set("staff", FIRST)).await;
    dan.ok::<m::CircleNormsAccept>(m::AcceptNorms {
        invite: Some("long-expired".into()),
        ..accept("staff", 2)
    })
    .await;
    dan.note("staff", "accepted again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_norms_get_clear_errors() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;

    let blank = ana
        .request(
            "circle.norms.set",
            json!({"circle": "lib", "text": "  \n "}),
        )
        .await;
    assert_eq!(blank["error"]["data"]["kind"], "invalid_params", "{blank}");
    let huge = ana
        .request(
            "circle.norms.set",
            json!({"circle": "lib", "text": "x".repeat(9 * 1024)}),
        )
        .await;
    assert_eq!(huge["error"]["data"]["kind"], "too_large", "{huge}");
    let unknown = ana
        .request(
            "circle.norms.set",
            json!({"circle": "lib", "text": "ok", "version": 3}),
        )
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    let no_version = ana
        .request("circle.norms.accept", json!({"circle": "lib"}))
        .await;
    assert_eq!(no_version["error"]["code"], -32602, "{no_version}");
    let text_version = ana
        .request(
            "circle.norms.accept",
            json!({"circle": "lib", "version": "one"}),
        )
        .await;
    assert_eq!(text_version["error"]["code"], -32602, "{text_version}");
    let no_circle = ana
        .request("circle.norms.set", json!({"circle": "nope", "text": "ok"}))
        .await;
    assert_eq!(
        no_circle["error"]["data"]["kind"], "not_found",
        "{no_circle}"
    );

    // Setting the same text twice is not a new version.
    ana.ok::<m::CircleNormsSet>(set("lib", FIRST)).await;
    let same = ana.err::<m::CircleNormsSet>(set("lib", FIRST)).await;
    assert_error(&same, ErrorKind::Conflict, "the same norms again");
    // Trimmed: a trailing newline is not a new version.
    let spaced = ana
        .err::<m::CircleNormsSet>(set("lib", &format!("  {FIRST}\n")))
        .await;
    assert_error(&spaced, ErrorKind::Conflict, "the same norms, padded");
    // The connection is still usable after every error.
    ana.note("lib", "still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn norms_and_acceptances_survive_a_restart() {
    let mut server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    ana.ok::<m::CircleNormsSet>(set("lib", FIRST)).await;
    bob.ok::<m::CircleNormsAccept>(accept("lib", 1)).await;
    ana.ok::<m::CircleNormsSet>(set("lib", SECOND)).await;

    server.restart().await;
    let mut bob = Client::login(server.addr, "bob", PASSWORD).await;
    let stale = bob
        .err::<m::PostNote>(m::NewNote {
            circle: "lib".into(),
            body: "after the restart".into(),
        })
        .await;
    assert_eq!(norms_in(&stale).version, 2);
    let members = bob
        .ok::<m::CircleMembers>(m::CircleRef {
            circle: "lib".into(),
        })
        .await;
    assert_eq!(members.norms.map(|n| n.version), Some(2));
    let bob_accepted = members.members.iter().find(|m| m.handle == "bob");
    assert_eq!(bob_accepted.map(|m| m.accepted_norms), Some(1));
    bob.ok::<m::CircleNormsAccept>(accept("lib", 2)).await;
    bob.note("lib", "after the restart").await;
}
