//! Reading a circle: circle.subscribe / unsubscribe (backlog, live, ordering,
//! no gap, no duplicate, resume), circle.history paging, circle.read and
//! unread counts, presence notifications.

use std::collections::HashMap;

use circles_protocol::methods as m;
use circles_protocol::{ErrorKind, Event, EventBody};
use circles_tests::*;
use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Registers `n` members of `circle` named `{prefix}{i}`.
async fn members(server: &TestServer, circle: &str, prefix: &str, n: usize) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in 0..n {
        let mut client = server.register(&format!("{prefix}{i}")).await;
        client.join(circle).await;
        clients.push(client);
    }
    clients
}

/// Each poster posts `per` notes concurrently; returns the acknowledged events.
fn spawn_posters(posters: Vec<Client>, circle: &str, per: usize) -> Vec<JoinHandle<Vec<Event>>> {
    posters
        .into_iter()
        .map(|mut poster| {
            let circle = circle.to_string();
            tokio::spawn(async move {
                let mut acked = Vec::with_capacity(per);
                for i in 0..per {
                    let body = format!("{} #{i}", poster.handle);
                    let event = poster.note(&circle, &body).await;
                    assert_eq!(note_body(&event), body);
                    acked.push(event);
                }
                acked
            })
        })
        .collect()
}

async fn join_all(tasks: Vec<JoinHandle<Vec<Event>>>) -> Vec<Event> {
    let mut all = Vec::new();
    for task in tasks {
        all.extend(
            within("a poster to finish", task)
                .await
                .expect("poster task panicked"),
        );
    }
    all.sort_by_key(|e| e.seq);
    all
}

/// Every acknowledged post appears in `seen` with the same seq, id and body.
fn assert_acked_present(acked: &[Event], seen: &[Event], who: &str) {
    let by_seq: HashMap<u64, &Event> = seen.iter().map(|e| (e.seq, e)).collect();
    for ack in acked {
        let got = by_seq
            .get(&ack.seq)
            .unwrap_or_else(|| panic!("{who}: acknowledged seq {} never arrived", ack.seq));
        assert_eq!(
            *got, ack,
            "{who}: the event at seq {} differs from its ack",
            ack.seq
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_without_since_is_live_only() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.note("lib", "before").await;
    let mut bob = server.register("bob").await;
    let head = bob.subscribe("lib", None).await;
    assert_eq!(head, 2);
    let n1 = ana.note("lib", "after 1").await;
    let n2 = ana.note("lib", "after 2").await;
    assert_eq!(
        bob.next_event_in("lib").await,
        n1,
        "the first event is the first after head"
    );
    assert_eq!(bob.next_event_in("lib").await, n2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_since_sends_backlog_then_live_and_own_posts() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    for i in 0..5 {
        ana.note("lib", &format!("note {i}")).await;
    }
    let history = ana.history_all("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let head = bob.subscribe("lib", Some(2)).await;
    assert_eq!(head, 7);
    let backlog = bob.events_until("lib", 7).await;
    assert_seqs(&backlog, 3, 7, "backlog after since=2");
    assert_eq!(backlog[..4], history[2..]);
    // Live, including bob's own post.
    let own = bob.note("lib", "bob's own").await;
    assert_eq!(bob.next_event_in("lib").await, own);
    let theirs = ana.note("lib", "ana's").await;
    assert_eq!(bob.next_event_in("lib").await, theirs);
    // since = head: nothing from the backlog.
    let mut cat = server.register("cat").await;
    let head = cat.subscribe("lib", Some(9)).await;
    assert_eq!(head, 9);
    let next = ana.note("lib", "for cat").await;
    assert_eq!(cat.next_event_in("lib").await, next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_refuses_since_beyond_head_and_unknown_circles() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let err = ana
        .err::<m::CircleSubscribe>(m::Subscribe {
            circle: "lib".into(),
            since: Some(2),
        })
        .await;
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "since > head: {err:?}"
    );
    let err = ana
        .err::<m::CircleSubscribe>(m::Subscribe {
            circle: "nowhere".into(),
            since: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    // No subscription was made by the refused call.
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    ana.create_circle("barrier").await;
    ana.subscribe("barrier", None).await;
    ana.note("lib", "not for ana's refused subscription").await;
    let mark = ana.note("barrier", "barrier").await;
    assert_eq!(ana.next_event_in("barrier").await, mark);
    assert!(ana.buffered_events_in("lib").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_response_comes_before_its_events() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    for i in 0..20 {
        ana.note("lib", &format!("n{i}")).await;
    }
    let mut bob = server.register("bob").await;
    bob.send_json(
        &json!({"jsonrpc":"2.0","id":"sub","method":"circle.subscribe",
        "params":{"circle":"lib","since":0}}),
    )
    .await;
    let first = bob.recv_json().await;
    assert_eq!(
        first["id"],
        json!("sub"),
        "the first frame must be the response: {first}"
    );
    assert_eq!(first["result"]["head"], json!(21));
    let backlog = bob.events_until("lib", 21).await;
    assert_seqs(&backlog, 1, 21, "backlog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_again_replaces_the_subscription() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.create_circle("barrier").await;
    let mut bob = server.register("bob").await;
    bob.subscribe("barrier", None).await;
    let head = bob.subscribe("lib", None).await;
    assert_eq!(head, 1);
    let first = ana.note("lib", "first").await;
    assert_eq!(bob.next_event_in("lib").await, first);
    // Again with since = 0: the whole log once, then live once.
    let head = bob.subscribe("lib", Some(0)).await;
    assert_eq!(head, 2);
    let replay = bob.events_until("lib", 2).await;
    assert_seqs(&replay, 1, 2, "replay after resubscribing");
    let second = ana.note("lib", "second").await;
    assert_eq!(bob.next_event_in("lib").await, second);
    let mark = ana.note("barrier", "mark").await;
    assert_eq!(bob.next_event_in("barrier").await, mark);
    let extra = bob.buffered_events_in("lib");
    assert!(
        extra.is_empty(),
        "duplicates from the replaced subscription: {extra:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_stops_events_and_is_idempotent() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.create_circle("barrier").await;
    let mut bob = server.register("bob").await;
    // Not subscribed: {} anyway.
    let result = bob.ok::<m::CircleUnsubscribe>(circle_ref("lib")).await;
    assert_eq!(result, m::Empty {});
    bob.subscribe("barrier", None).await;
    bob.subscribe("lib", None).await;
    let seen = ana.note("lib", "seen").await;
    assert_eq!(bob.next_event_in("lib").await, seen);
    bob.ok::<m::CircleUnsubscribe>(circle_ref("lib")).await;
    ana.note("lib", "not seen").await;
    let mark = ana.note("barrier", "mark").await;
    assert_eq!(bob.next_event_in("barrier").await, mark);
    let leaked = bob.buffered_events_in("lib");
    assert!(leaked.is_empty(), "events after unsubscribe: {leaked:?}");
    let again = bob.ok::<m::CircleUnsubscribe>(circle_ref("lib")).await;
    assert_eq!(again, m::Empty {});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posters_every_subscriber_sees_the_same_gap_free_sequence() {
    const POSTERS: usize = 4;
    const PER: usize = 40;
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("busy").await;
    let posters = members(&server, "busy", "poster", POSTERS).await;
    let mut subscribers = members(&server, "busy", "reader", 3).await;
    let mut heads = Vec::new();
    for subscriber in &mut subscribers {
        heads.push(subscriber.subscribe("busy", None).await);
    }
    // Nothing was posted between the subscriptions.
    let start = heads[0];
    assert!(heads.iter().all(|h| *h == start), "heads {heads:?}");
    assert_eq!(start, 1 + POSTERS as u64 + 3);

    let acked = join_all(spawn_posters(posters, "busy", PER)).await;
    let last = start + (POSTERS * PER) as u64;
    assert_eq!(acked.len(), POSTERS * PER);
    assert_seqs(&acked, start + 1, last, "acknowledged seqs");

    let mut sequences = Vec::new();
    for (i, subscriber) in subscribers.iter_mut().enumerate() {
        let seen = subscriber.events_until("busy", last).await;
        assert_seqs(&seen, start + 1, last, &format!("subscriber {i}"));
        assert_acked_present(&acked, &seen, &format!("subscriber {i}"));
        sequences.push(seen);
    }
    assert_eq!(sequences[0], sequences[1]);
    assert_eq!(sequences[0], sequences[2]);
    // Per poster, its own posts keep their order.
    for poster in 0..POSTERS {
        let prefix = format!("poster{poster} #");
        let order: Vec<usize> = sequences[0]
            .iter()
            .filter_map(|e| {
                note_body(e)
                    .strip_prefix(&prefix)
                    .map(|n| n.parse().expect("n"))
            })
            .collect();
        assert_eq!(
            order,
            (0..PER).collect::<Vec<_>>(),
            "poster {poster}'s posts in order"
        );
    }
    // history agrees with what subscribers saw.
    let history = ana.history_all("busy").await;
    assert_eq!(history[start as usize..], sequences[0][..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_with_since_while_others_post_has_no_gap_and_no_duplicate() {
    const BACKLOG: usize = 150;
    const POSTERS: usize = 3;
    const PER: usize = 50;
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("busy").await;
    let posters = members(&server, "busy", "poster", POSTERS).await;
    let backlog_posters = members(&server, "busy", "early", 3).await;
    join_all(spawn_posters(backlog_posters, "busy", BACKLOG / 3)).await;
    let before = 1 + (POSTERS + 3) as u64 + BACKLOG as u64;

    // Posters start, then two readers subscribe while they post.
    let tasks = spawn_posters(posters, "busy", PER);
    let mut from_zero = server.register("zero").await;
    let mut from_mid = server.register("mid").await;
    let head_zero = from_zero.subscribe("busy", Some(0)).await;
    let head_mid = from_mid.subscribe("busy", Some(40)).await;
    assert!(head_zero >= before && head_mid >= before);
    let acked = join_all(tasks).await;
    let last = before + (POSTERS * PER) as u64;
    assert_seqs(&acked, before + 1, last, "acknowledged seqs");

    let seen_zero = from_zero.events_until("busy", last).await;
    assert_seqs(&seen_zero, 1, last, "subscriber since 0");
    assert_acked_present(&acked, &seen_zero, "subscriber since 0");
    let seen_mid = from_mid.events_until("busy", last).await;
    assert_seqs(&seen_mid, 41, last, "subscriber since 40");
    assert_eq!(seen_zero[40..], seen_mid[..]);
    // And nothing more arrives after the last (no late duplicates).
    let mark = ana.note("busy", "mark").await;
    assert_eq!(from_zero.next_event_in("busy").await, mark);
    assert_eq!(from_mid.next_event_in("busy").await, mark);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_disconnect_with_since() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let token = bob.token.clone();
    bob.subscribe("lib", None).await;
    let mut last_seen = 0;
    for i in 0..3 {
        let posted = ana.note("lib", &format!("seen {i}")).await;
        let got = bob.next_event_in("lib").await;
        assert_eq!(got, posted);
        last_seen = got.seq;
    }
    bob.close().await;
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(ana.note("lib", &format!("missed {i}")).await);
    }
    let mut bob = Client::with_token(server.addr, &token).await;
    let head = bob.subscribe("lib", Some(last_seen)).await;
    assert_eq!(head, missed.last().expect("posts").seq);
    let caught_up = bob.events_until("lib", head).await;
    assert_eq!(caught_up, missed, "exactly the missed events, in order");
    let live = ana.note("lib", "live again").await;
    assert_eq!(bob.next_event_in("lib").await, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_newest_first_ascending_within_a_page() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let posters = members(&server, "lib", "p", 4).await;
    join_all(spawn_posters(posters, "lib", 29)).await;
    let head = 1 + 4 + 4 * 29; // 121
    assert_eq!(head, 121);
    let mut eve = server.register("eve").await; // a non-member may read a public circle

    let page = eve.history("lib", None, None).await;
    assert_seqs(&page.events, 72, 121, "default page (limit 50)");
    assert!(page.more);
    let page2 = eve.history("lib", Some(72), Some(50)).await;
    assert_seqs(&page2.events, 22, 71, "second page");
    assert!(page2.more);
    let page3 = eve.history("lib", Some(22), Some(50)).await;
    assert_seqs(&page3.events, 1, 21, "last page");
    assert!(!page3.more, "nothing older than seq 1");
    let small = eve.history("lib", Some(22), Some(21)).await;
    assert_seqs(&small.events, 1, 21, "exactly the rest");
    assert!(!small.more);
    let one = eve.history("lib", None, Some(1)).await;
    assert_seqs(&one.events, 121, 121, "limit 1");
    assert!(one.more);
    let big = eve.history("lib", None, Some(200)).await;
    assert_seqs(&big.events, 1, 121, "limit 200");
    assert!(!big.more);
    let empty = eve.history("lib", Some(1), None).await;
    assert!(empty.events.is_empty());
    assert!(!empty.more);
    let beyond = eve.history("lib", Some(1000), Some(10)).await;
    assert_seqs(&beyond.events, 112, 121, "before past the head");

    for limit in [0, 201] {
        let err = eve
            .err::<m::CircleHistory>(m::History {
                circle: "lib".into(),
                before: None,
                limit: Some(limit),
            })
            .await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "limit {limit}: {err:?}"
        );
    }
    let err = eve
        .err::<m::CircleHistory>(m::History {
            circle: "nowhere".into(),
            before: None,
            limit: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_markers_and_unread_counts() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await; // head 2
    let marker = bob
        .ok::<m::CircleRead>(m::MarkRead {
            circle: "lib".into(),
            seq: 2,
        })
        .await;
    assert_eq!(
        marker,
        m::ReadMarker {
            read: 2,
            unread: 0,
            mentions: 0
        }
    );
    for i in 0..3 {
        ana.note("lib", &format!("n{i}")).await; // seqs 3, 4, 5
    }
    let info = bob.listed("lib").await.expect("listed");
    assert_eq!((info.head, info.read, info.unread), (5, 2, 3));

    let marker = bob
        .ok::<m::CircleRead>(m::MarkRead {
            circle: "lib".into(),
            seq: 4,
        })
        .await;
    assert_eq!(
        marker,
        m::ReadMarker {
            read: 4,
            unread: 1,
            mentions: 0
        }
    );
    // Markers never move backwards.
    let marker = bob
        .ok::<m::CircleRead>(m::MarkRead {
            circle: "lib".into(),
            seq: 3,
        })
        .await;
    assert_eq!(
        marker,
        m::ReadMarker {
            read: 4,
            unread: 1,
            mentions: 0
        }
    );
    let err = bob
        .err::<m::CircleRead>(m::MarkRead {
            circle: "lib".into(),
            seq: 6,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::InvalidParams, "seq > head: {err:?}");
    let info = bob.listed("lib").await.expect("listed");
    assert_eq!((info.read, info.unread), (4, 1));

    // Posting moves my own marker to my post.
    let mine = bob.note("lib", "bob posts").await;
    assert_eq!(mine.seq, 6);
    let info = bob.listed("lib").await.expect("listed");
    assert_eq!((info.head, info.read, info.unread), (6, 6, 0));
    ana.note("lib", "one more").await;
    let info = bob.listed("lib").await.expect("listed");
    assert_eq!((info.head, info.read, info.unread), (7, 6, 1));
    // ana's marker follows her own posts.
    let info = ana.listed("lib").await.expect("listed");
    assert_eq!((info.read, info.unread), (7, 0));

    // Non-members have no marker: unread 0, and circle.read is refused.
    let mut eve = server.register("eve").await;
    let info = eve.listed("lib").await.expect("public circles are listed");
    assert_eq!(info.unread, 0);
    let err = eve
        .err::<m::CircleRead>(m::MarkRead {
            circle: "lib".into(),
            seq: 1,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "non-member: {err:?}");
    let err = eve
        .err::<m::CircleRead>(m::MarkRead {
            circle: "nowhere".into(),
            seq: 1,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_when_the_first_connection_signs_in_and_the_last_goes() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut bob = server.register("bob").await;
    bob.join("lib").await;
    let token = bob.token.clone();
    ana.subscribe("lib", None).await;

    bob.close().await;
    let gone = ana.next_presence_is("bob", false).await;
    assert_eq!(gone.circle, "lib");

    let mut first = Client::with_token(server.addr, &token).await;
    let back = ana.next_presence_of("bob").await;
    assert_eq!(
        (back.circle.as_str(), back.handle.as_str(), back.online),
        ("lib", "bob", true)
    );

    // A second connection neither announces nor, closing, hides bob.
    let second = Client::login(server.addr, "bob", PASSWORD).await;
    second.close().await;
    first.ok::<m::AuthLogout>(m::Empty {}).await;
    let off = ana.next_presence_of("bob").await;
    assert!(
        !off.online,
        "after bob's first connection, the next presence about bob must be offline \
         (from signing out of the last connection), got {off:?}"
    );
    let mark = ana.note("lib", "mark").await;
    assert_eq!(ana.next_event_in("lib").await, mark);
    let extra: Vec<_> = ana
        .take_buffered()
        .into_iter()
        .filter(|n| n.method == "presence")
        .collect();
    assert!(
        extra.is_empty(),
        "unexpected presence notifications: {extra:?}"
    );
    let members = ana.members("lib").await;
    let bob_member = members.iter().find(|m| m.handle == "bob").expect("member");
    assert!(!bob_member.online);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_carry_every_kind() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut watcher = server.register("watcher").await;
    watcher.subscribe("lib", None).await;
    let mut bob = server.register("bob").await;
    let join = bob.join("lib").await;
    let mut cat = server.register("cat").await;
    cat.join("lib").await;
    let problem = bob.problem("lib", "P", "b").await;
    let critique = cat.critique("lib", problem.id, "c").await;
    let note = cat.note("lib", "n").await;
    let edit = bob
        .ok::<m::PostEdit>(m::EditPost {
            circle: "lib".into(),
            post: problem.id,
            title: Some("P2".into()),
            body: None,
        })
        .await
        .event;
    let metoo = cat
        .ok::<m::ProblemMetoo>(problem_ref("lib", problem.id))
        .await
        .event;
    let resolve = bob
        .ok::<m::ProblemResolve>(m::Resolve {
            circle: "lib".into(),
            problem: problem.id,
            helpful: Some(vec![critique.id]),
            summary: None,
        })
        .await
        .event;
    let retract = ana
        .ok::<m::PostRetract>(post_ref("lib", note.id))
        .await
        .event;
    let remove = ana
        .ok::<m::CircleRemove>(m::RemoveMember {
            circle: "lib".into(),
            member: "cat".into(),
            reason: None,
        })
        .await
        .event;
    bob.ok::<m::CircleLeave>(circle_ref("lib")).await;
    let seen = watcher.events_until("lib", remove.seq + 1).await;
    assert_seqs(&seen, join.head, remove.seq + 1, "live events");
    let kinds: Vec<&str> = seen.iter().map(|e| e.body.kind()).collect();
    assert_eq!(
        kinds,
        [
            "join", "join", "problem", "critique", "note", "edit", "metoo", "resolve", "retract",
            "remove", "leave"
        ]
    );
    assert_eq!(seen[2], problem);
    assert_eq!(seen[3], critique);
    // Live subscribers saw the note before it was retracted.
    assert_eq!(seen[4], note);
    assert_eq!(seen[5], edit);
    assert_eq!(seen[6], metoo);
    assert_eq!(seen[7], resolve);
    assert_eq!(seen[8], retract);
    assert_eq!(seen[9], remove);
    assert_eq!(seen[10].body, EventBody::Leave {});
    assert_eq!(seen[10].author, "bob");
    let ids: Vec<Uuid> = seen.iter().map(|e| e.id).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "event ids are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_goes_to_subscribers_of_each_circle_the_user_is_in() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("one").await;
    ana.create_circle("two").await;
    ana.create_circle("three").await;
    let mut bob = server.register("bob").await;
    bob.join("one").await;
    bob.join("two").await;
    let token = bob.token.clone();
    // Subscribed to all three; bob is a member of two of them.
    for circle in ["one", "two", "three"] {
        ana.subscribe(circle, None).await;
    }
    // bob goes offline, then comes back: each change reaches both of his
    // circles. (Waiting for the offline notices first keeps the reconnect
    // from overlapping the old connection's end, which would be no change.)
    bob.close().await;
    let mut offline = vec![
        ana.next_presence_is("bob", false).await.circle,
        ana.next_presence_is("bob", false).await.circle,
    ];
    offline.sort();
    assert_eq!(offline, ["one", "two"]);
    let _bob = Client::with_token(server.addr, &token).await;
    let mut online = vec![
        ana.next_presence_is("bob", true).await.circle,
        ana.next_presence_is("bob", true).await.circle,
    ];
    online.sort();
    assert_eq!(online, ["one", "two"]);
    let mark = ana.note("three", "mark").await;
    assert_eq!(ana.next_event_in("three").await, mark);
    let extra: Vec<_> = ana
        .take_buffered()
        .into_iter()
        .filter(|n| n.method == "presence")
        .collect();
    assert!(
        extra.is_empty(),
        "no presence for a circle bob is not in: {extra:?}"
    );
}
