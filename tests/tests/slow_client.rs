//! A client that stops reading is disconnected (its outbound queue is
//! bounded) while another subscriber keeps receiving everything; the cut-off
//! client resumes with `since` and loses nothing.

use std::time::{Duration, Instant};

use circles_protocol::methods as m;
use circles_protocol::notify::{self, EventNotice, PresenceNotice};
use circles_protocol::{Event, EventBody};
use circles_tests::*;

/// Posts per poster at most: 1000 posts of 16 KB in all, several times what
/// the kernel buffers (a few MB) and the 128-frame queue can hold.
const MAX_PER_POSTER: usize = 250;
const POSTERS: usize = 4;
/// Large events fill the kernel buffers and the queue quickly.
const BODY_BYTES: usize = 16_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_while_others_get_everything() {
    // A smaller queue than the default 1024 keeps the test quick; the rule is the same.
    let server = TestServer::start_with(|config| config.outbound_queue = 128).await;
    let mut ana = server.register("ana").await;
    ana.create_circle("busy").await;

    // The slow client: a member (so its disconnection is announced by
    // presence), with a tiny receive buffer, subscribed, then never read.
    let mut slow = Client::connect_with_recv_buffer(server.addr, 4096).await;
    slow.register_as("slow", None).await;
    slow.join("busy").await;
    let slow_head = slow.subscribe("busy", None).await;

    let mut fast = server.register("fast").await;
    fast.join("busy").await;
    let fast_head = fast.subscribe("busy", None).await;

    let mut posters = Vec::new();
    for i in 0..POSTERS {
        let mut poster = server.register(&format!("poster{i}")).await;
        poster.join("busy").await;
        posters.push(poster);
    }

    // The fast reader: collects every event until "END"; stops the posters
    // when the server announces that slow went offline.
    let (gone_tx, gone_rx) = tokio::sync::watch::channel(false);
    let reader = {
        // It may wait up to a minute for the server to announce the cut-off.
        fast.set_wait(Duration::from_secs(90));
        tokio::spawn(async move {
            let mut events: Vec<Event> = Vec::new();
            loop {
                let notification = fast.next_notification().await;
                if notification.method == notify::PRESENCE {
                    let presence: PresenceNotice =
                        serde_json::from_value(notification.params).expect("presence params");
                    if presence.handle == "slow" && !presence.online {
                        let _ = gone_tx.send(true);
                    }
                    continue;
                }
                assert_eq!(notification.method, notify::EVENT);
                let notice: EventNotice =
                    serde_json::from_value(notification.params).expect("event params");
                let end = matches!(&notice.event.body, EventBody::Note { body } if body == "END");
                events.push(notice.event);
                if end {
                    return events;
                }
            }
        })
    };

    let body = "x".repeat(BODY_BYTES);
    let tasks: Vec<_> = posters
        .into_iter()
        .map(|mut poster| {
            let slow_gone = gone_rx.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for _ in 0..MAX_PER_POSTER {
                    if *slow_gone.borrow() {
                        break;
                    }
                    acked.push(poster.note("busy", &body).await);
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(
            within_for(Duration::from_secs(180), "the posters", task)
                .await
                .expect("poster panicked"),
        );
    }
    // Once the posters are done the queue is long full: the slow client must
    // be gone by now, or very soon. Wait longer than that to check the rest,
    // and judge the delay at the end.
    let posted_at = Instant::now();
    let mut gone = gone_rx.clone();
    let gone_in_time = tokio::time::timeout(Duration::from_secs(60), gone.wait_for(|g| *g)).await;
    let disconnect_delay = posted_at.elapsed();
    assert!(
        matches!(gone_in_time, Ok(Ok(_))),
        "after {} posts of {BODY_BYTES} bytes and 60 s more, the client that stopped reading \
         was still connected (no presence offline for it)",
        acked.len()
    );
    let end = ana.note("busy", "END").await;
    let seen = within_for(
        Duration::from_secs(60),
        "the fast reader to see END",
        reader,
    )
    .await
    .expect("the fast reader panicked (was it disconnected too?)");

    // The fast subscriber got everything, in order, no gap.
    assert_seqs(&seen, fast_head + 1, end.seq, "the fast subscriber");
    for ack in &acked {
        assert_eq!(&seen[(ack.seq - fast_head - 1) as usize], ack);
    }

    // The slow one: whatever it had buffered, then the end of the connection
    // (a 1008 close frame if the server could still deliver one).
    let (close, texts) = slow.read_until_closed().await;
    if let Some((code, reason)) = &close {
        assert_eq!(
            *code, 1008,
            "the slow client is closed with 1008 (reason {reason:?})"
        );
    }
    let mut got: Vec<Event> = Vec::new();
    for text in texts {
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        if value["method"] == "event" {
            let notice: EventNotice =
                serde_json::from_value(value["params"].clone()).expect("event");
            got.push(notice.event);
        }
    }
    let last_seen = got.last().map(|e| e.seq).unwrap_or(slow_head);
    assert_seqs(
        &got,
        slow_head + 1,
        last_seen,
        "what the slow client had received",
    );
    assert!(
        last_seen < end.seq,
        "the slow client was cut off before the end"
    );

    // It resumes from its last seq and loses nothing.
    let mut resumed = Client::with_token(server.addr, &slow.token).await;
    let head = resumed
        .ok::<m::CircleSubscribe>(m::Subscribe {
            circle: "busy".into(),
            since: Some(last_seen),
        })
        .await
        .head;
    assert_eq!(head, end.seq);
    let rest = resumed.events_until("busy", end.seq).await;
    assert_seqs(&rest, last_seen + 1, end.seq, "the resumed slow client");
    assert_eq!(rest[..], seen[(last_seen - fast_head) as usize..]);

    // Last, how long the server took: the queue was full well before the
    // posters stopped, so the cut-off should be prompt.
    assert!(
        disconnect_delay < TIMEOUT,
        "the slow client was disconnected only {disconnect_delay:?} after {} posts had filled \
         its queue many times over (expected within {TIMEOUT:?})",
        acked.len()
    );
}

/// Notes in the backlog of the catch-up test: 800 × 16 KB is about 13 MB,
/// more than the kernel buffers plus the page being written can hold, so the
/// catch-up is still going when the member is removed.
const BACKLOG_NOTES: usize = 800;

/// The most a TCP send buffer may grow to here (Linux), if known.
fn max_send_buffer() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").ok()?;
    text.split_whitespace().nth(2)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_while_catching_up_gets_nothing_after_the_removal() {
    let backlog_bytes = BACKLOG_NOTES * BODY_BYTES;
    if let Some(send_buffer) = max_send_buffer() {
        assert!(
            backlog_bytes > 2 * send_buffer + (4 << 20),
            "the backlog ({backlog_bytes} bytes) must outgrow what the kernel buffers \
             ({send_buffer} bytes) or the catch-up could be over before the removal"
        );
    }
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_private_circle("secret").await;
    let code = ana.invite("secret").await;
    // bob reads through a small receive buffer, so the server soon blocks
    // writing his backlog while he reads nothing.
    let mut bob = Client::connect_with_recv_buffer(server.addr, 4096).await;
    bob.register_as("bob", None).await;
    bob.join_with_invite("secret", &code).await;
    let body = "x".repeat(BODY_BYTES);
    let backlog =
        post_notes_concurrently(server.addr, &ana.token, "secret", BACKLOG_NOTES, &body, 4).await;
    let head = backlog.last().expect("a backlog").seq;

    // The response comes before the backlog; then bob stops reading.
    assert_eq!(bob.subscribe("secret", Some(0)).await, head);
    let removal = ana
        .ok::<m::CircleRemove>(m::RemoveMember {
            circle: "secret".into(),
            member: "bob".into(),
            reason: None,
        })
        .await
        .event;
    assert_eq!(removal.seq, head + 1);
    let secret = ana.note("secret", "SECRET").await;
    assert_eq!(secret.seq, head + 2);

    // bob reads again: his whole backlog, up to his removal and not past it.
    let mut got: Vec<Event> = Vec::new();
    loop {
        let event = bob.next_event_in("secret").await;
        let seq = event.seq;
        assert!(
            !matches!(&event.body, EventBody::Note { body } if body == "SECRET"),
            "bob received the note posted after his removal (seq {seq}); \
             he had received {} events before it",
            got.len()
        );
        let removed = matches!(&event.body, EventBody::Remove { member, .. } if member == "bob");
        got.push(event);
        if removed || seq >= removal.seq {
            break;
        }
    }
    assert_seqs(&got, 1, removal.seq, "bob's backlog up to his removal");
    assert_eq!(
        got.last(),
        Some(&removal),
        "bob's last event is his removal"
    );
    // Two round trips: a subscription still going would send more meanwhile.
    assert!(bob.listed("secret").await.is_none());
    assert!(bob.listed("secret").await.is_none());
    let after = bob.buffered_events_in("secret");
    assert!(
        after.is_empty(),
        "bob received events after his removal: seqs {:?}",
        seqs(&after)
    );
}
