//! Mentions: `@handle` in a problem, critique or note (or an edit that adds
//! one) sends that member a `mention` notification on every connection, and
//! `circle.list` / `circle.read` count unread mentions apart from unread
//! events, across restarts; retracted posts stop counting.

use circles_protocol::methods as m;
use circles_protocol::notify::{self, MentionNotice};
use circles_protocol::{EventBody, Notification};
use circles_tests::*;
use serde_json::json;
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

fn mention_of(n: &Notification) -> Option<MentionNotice> {
    (n.method == notify::MENTION).then(|| {
        serde_json::from_value(n.params.clone())
            .unwrap_or_else(|err| panic!("malformed mention ({err}): {}", n.params))
    })
}

async fn next_mention(client: &mut Client) -> MentionNotice {
    client.next_matching("a mention", mention_of).await
}

async fn edit_body(
    client: &mut Client,
    circle: &str,
    post: Uuid,
    body: &str,
) -> circles_protocol::Event {
    client
        .ok::<m::PostEdit>(m::EditPost {
            circle: circle.into(),
            post,
            title: None,
            body: Some(body.into()),
        })
        .await
        .event
}

/// Marks everything in `circle` read.
async fn read_all(client: &mut Client, circle: &str) {
    let head = client.listed(circle).await.expect("listed").head;
    client
        .ok::<m::CircleRead>(m::MarkRead {
            circle: circle.into(),
            seq: head,
        })
        .await;
}

/// (unread, mentions) as `circle.list` shows them.
async fn mentions_listed(client: &mut Client, circle: &str) -> (u64, u64) {
    let info = client.listed(circle).await.expect("listed");
    (info.unread, info.mentions)
}

#[tokio::test]
async fn a_mention_reaches_every_connection_of_the_member_subscribed_or_not() {
    let (server, mut ana, mut bob, _cat, _dan) = setup().await;
    // bob on a second connection, subscribed; the first is not.
    let mut bob_too = Client::login(server.addr, "bob", PASSWORD).await;
    bob_too.subscribe("lib", None).await;
    let note = ana.note("lib", "@bob, can you look at this?").await;
    for (who, client) in [("bob", &mut bob), ("bob's second", &mut bob_too)] {
        let mention = next_mention(client).await;
        assert_eq!(mention.circle, "lib", "{who}");
        assert_eq!(mention.post, note.id, "{who}");
        assert_eq!(mention.event, note, "{who}");
    }
    // The subscribed one gets the event as well, as always.
    assert_eq!(bob_too.next_event_in("lib").await, note);
    // Problems (title or body) and critiques mention too.
    let problem = ana.problem("lib", "Stuck, @Bob", "no mention here").await;
    assert_eq!(next_mention(&mut bob).await.post, problem.id);
    let critique = ana
        .critique("lib", problem.id, "I asked (@bob) already")
        .await;
    let mention = next_mention(&mut bob).await;
    assert_eq!(mention.post, critique.id);
    assert!(matches!(mention.event.body, EventBody::Critique { .. }));
}

#[tokio::test]
async fn the_wire_shape_of_a_mention() {
    let (_server, mut ana, mut bob, _cat, _dan) = setup().await;
    let note = ana.note("lib", "hi @bob").await;
    let frame = bob.recv_json().await;
    assert_eq!(
        frame,
        json!({"jsonrpc": "2.0", "method": "mention", "params": {
            "circle": "lib", "post": note.id, "event": note,
        }})
    );
}

#[tokio::test]
async fn only_members_other_than_the_author_are_notified_and_once_per_post() {
    let (_server, mut ana, mut bob, mut cat, mut dan) = setup().await;
    let secret = ana.create_private_circle("secret").await;
    assert_eq!(secret.slug, "secret");
    // dan is not a member of either circle, ana is the author.
    let first = ana
        .note("lib", "@dan @ana @bob @BOB and again @bob, @nobody-here")
        .await;
    ana.note("secret", "@dan is not here; neither is @bob")
        .await;
    let again = ana.note("lib", "@bob second").await;
    assert_eq!(next_mention(&mut bob).await.post, first.id);
    // Once for the first post, then the second: nothing for the private one.
    assert_eq!(next_mention(&mut bob).await.post, again.id);
    // ana's first mention is bob's, not her own.
    let from_bob = bob.note("lib", "thanks @ana").await;
    assert_eq!(next_mention(&mut ana).await.post, from_bob.id);
    // dan, once he joins lib, gets only what comes after.
    dan.join("lib").await;
    let for_dan = cat.note("lib", "welcome @dan").await;
    let mention = next_mention(&mut dan).await;
    assert_eq!((mention.circle.as_str(), mention.post), ("lib", for_dan.id));
    assert!(!dan.buffered().iter().any(|n| n.method == notify::MENTION));
    // Nobody counts mentions that did not notify them.
    assert_eq!(mentions_listed(&mut dan, "lib").await.1, 1);
    assert_eq!(mentions_listed(&mut ana, "secret").await.1, 0);
}

#[tokio::test]
async fn punctuation_ends_a_handle_and_an_email_address_is_not_a_mention() {
    let (_server, mut ana, mut bob, mut cat, _dan) = setup().await;
    read_all(&mut bob, "lib").await;
    ana.note("lib", "write to bob@cat.org or cat_@bob or x.@cat")
        .await;
    ana.note("lib", "@bobby and @ca are not them either").await;
    let comma = ana.note("lib", "@bob, @cat.").await;
    let paren = ana.note("lib", "ask them (@bob)").await;
    assert_eq!(next_mention(&mut bob).await.post, comma.id);
    assert_eq!(next_mention(&mut bob).await.post, paren.id);
    assert_eq!(next_mention(&mut cat).await.post, comma.id);
    assert_eq!(mentions_listed(&mut bob, "lib").await, (4, 2));
    assert_eq!(mentions_listed(&mut cat, "lib").await, (4, 1));
}

#[tokio::test]
async fn unread_mentions_are_counted_apart_cleared_by_reading_and_survive_a_restart() {
    let (mut server, mut ana, mut bob, _cat, _dan) = setup().await;
    read_all(&mut bob, "lib").await;
    let read = bob.listed("lib").await.expect("listed").read;
    let first = ana.note("lib", "@bob one").await;
    ana.note("lib", "no mention").await;
    let second = ana.note("lib", "@bob two").await;
    assert_eq!(second.seq, read + 3);
    assert_eq!(mentions_listed(&mut bob, "lib").await, (3, 2));
    // The author counts none; nor does anyone who was not mentioned.
    assert_eq!(mentions_listed(&mut ana, "lib").await, (0, 0));

    server.restart().await;
    let mut bob = Client::login(server.addr, "bob", PASSWORD).await;
    assert_eq!(mentions_listed(&mut bob, "lib").await, (3, 2));
    let marker = bob
        .ok::<m::CircleRead>(m::MarkRead {
            circle: "lib".into(),
            seq: first.seq,
        })
        .await;
    assert_eq!(
        marker,
        m::ReadMarker {
            read: first.seq,
            unread: 2,
            mentions: 1
        }
    );
    assert_eq!(mentions_listed(&mut bob, "lib").await, (2, 1));
    let marker = bob
        .ok::<m::CircleRead>(m::MarkRead {
            circle: "lib".into(),
            seq: second.seq,
        })
        .await;
    assert_eq!((marker.unread, marker.mentions), (0, 0));
    server.restart().await;
    let mut bob = Client::login(server.addr, "bob", PASSWORD).await;
    assert_eq!(mentions_listed(&mut bob, "lib").await, (0, 0));
}

#[tokio::test]
async fn a_retracted_post_stops_counting() {
    let (mut server, mut ana, mut bob, mut cat, _dan) = setup().await;
    read_all(&mut bob, "lib").await;
    ana.note("lib", "@bob stays").await;
    let gone = ana.note("lib", "@bob goes").await;
    assert_eq!(mentions_listed(&mut bob, "lib").await, (2, 2));
    ana.ok::<m::PostRetract>(post_ref("lib", gone.id)).await;
    assert_eq!(mentions_listed(&mut bob, "lib").await, (3, 1));
    // A facilitator retracting someone else's post: the same.
    let by_cat = cat.note("lib", "@bob from cat").await;
    assert_eq!(mentions_listed(&mut bob, "lib").await, (4, 2));
    ana.ok::<m::PostRetract>(post_ref("lib", by_cat.id)).await;
    assert_eq!(mentions_listed(&mut bob, "lib").await, (5, 1));
    server.restart().await;
    let mut bob = Client::login(server.addr, "bob", PASSWORD).await;
    assert_eq!(mentions_listed(&mut bob, "lib").await, (5, 1));
}

#[tokio::test]
async fn an_edit_that_adds_a_mention_notifies_only_the_newly_mentioned() {
    let (_server, mut ana, mut bob, mut cat, _dan) = setup().await;
    let note = ana.note("lib", "hi @bob").await;
    assert_eq!(next_mention(&mut bob).await.post, note.id);
    let edit = edit_body(&mut ana, "lib", note.id, "hi @bob and @cat").await;
    let mention = next_mention(&mut cat).await;
    assert_eq!((mention.post, mention.event.seq), (note.id, edit.seq));
    assert!(matches!(mention.event.body, EventBody::Edit { post, .. } if post == note.id));
    // bob was mentioned already: his next mention is a new post.
    edit_body(&mut ana, "lib", note.id, "hi @bob, @cat and @bob").await;
    let later = ana.note("lib", "@bob later").await;
    assert_eq!(next_mention(&mut bob).await.post, later.id);
    // An edit that drops a mention does not take it back.
    edit_body(&mut ana, "lib", note.id, "hi all").await;
    assert_eq!(mentions_listed(&mut cat, "lib").await.1, 1);
    assert_eq!(mentions_listed(&mut bob, "lib").await.1, 2);
    // Editing a problem's title works the same way.
    let problem = ana.problem("lib", "Stuck", "").await;
    ana.ok::<m::PostEdit>(m::EditPost {
        circle: "lib".into(),
        post: problem.id,
        title: Some("Stuck, @cat?".into()),
        body: None,
    })
    .await;
    assert_eq!(next_mention(&mut cat).await.post, problem.id);
}

#[tokio::test]
async fn a_member_who_leaves_keeps_no_mentions() {
    let (_server, mut ana, mut bob, _cat, _dan) = setup().await;
    ana.note("lib", "@bob one").await;
    assert_eq!(next_mention(&mut bob).await.circle, "lib");
    bob.ok::<m::CircleLeave>(circle_ref("lib")).await;
    bob.join("lib").await;
    read_all(&mut bob, "lib").await;
    assert_eq!(mentions_listed(&mut bob, "lib").await, (0, 0));
    let again = ana.note("lib", "@bob welcome back").await;
    assert_eq!(next_mention(&mut bob).await.post, again.id);
    assert_eq!(mentions_listed(&mut bob, "lib").await, (1, 1));
}
