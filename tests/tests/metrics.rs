//! `/metrics` over real HTTP: clients connect, sign in, subscribe, post and
//! misbehave over real WebSockets, then the page is scraped with a plain
//! HTTP GET, parsed as Prometheus text exposition format, and each series
//! must have moved by what the clients did.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use circles_protocol::ErrorKind;
use circles_tests::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// One scrape: the samples by series (`name{label="value",…}` as written)
/// and each family's declared type.
#[derive(Debug)]
struct Scrape {
    samples: HashMap<String, f64>,
    types: HashMap<String, String>,
}

impl Scrape {
    /// The sample `series`, which must be present.
    fn get(&self, series: &str) -> f64 {
        match self.samples.get(series) {
            Some(&value) => value,
            None => panic!("no sample {series} in the scrape: {:?}", self.samples),
        }
    }

    fn reason(&self, family: &str, reason: &str) -> f64 {
        self.get(&format!("{family}{{reason=\"{reason}\"}}"))
    }

    /// Checks a histogram's shape (cumulative buckets ending in +Inf that
    /// equals `_count`, a `_sum`) and returns its count.
    fn histogram(&self, family: &str) -> f64 {
        assert_eq!(
            self.types.get(family).map(String::as_str),
            Some("histogram"),
            "{family} is declared a histogram"
        );
        let prefix = format!("{family}_bucket{{le=\"");
        let mut buckets: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter_map(|(series, &count)| {
                let le = series.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse()
                        .unwrap_or_else(|_| panic!("a number as le: {series}"))
                };
                Some((le, count))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(buckets.len() > 1, "{family} has buckets: {buckets:?}");
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{family}'s buckets are cumulative: {buckets:?}"
        );
        let (last, inf) = buckets[buckets.len() - 1];
        assert!(last.is_infinite(), "{family} ends with +Inf");
        let count = self.get(&format!("{family}_count"));
        assert_eq!(inf, count, "{family}: +Inf bucket equals _count");
        assert!(self.get(&format!("{family}_sum")) >= 0.0);
        count
    }
}

/// Parses the text exposition format: `# HELP` and `# TYPE` lines, then
/// samples `name{labels} value` of the family last declared.
fn parse(body: &str) -> Scrape {
    let mut samples = HashMap::new();
    let mut types = HashMap::new();
    let mut family = String::new();
    for line in body.lines() {
        if line.is_empty() || line.starts_with("# HELP ") {
            continue;
        }
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let (name, kind) = declared.split_once(' ').expect("# TYPE name kind");
            assert!(
                name.starts_with("circles_"),
                "{name} has the circles_ prefix"
            );
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} ends in _total");
            }
            family = name.to_owned();
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "an unknown comment: {line}");
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("a sample line: {line}"));
        let name = series.split('{').next().unwrap_or(series);
        assert!(
            name == family
                || name
                    .strip_prefix(family.as_str())
                    .is_some_and(|suffix| { ["_bucket", "_sum", "_count"].contains(&suffix) }),
            "{name} belongs to {family}, declared just before it"
        );
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{series} appears twice"
        );
    }
    Scrape { samples, types }
}

/// `GET /metrics` on a fresh TCP connection; checks the status and the
/// content type, and parses the body.
async fn scrape(addr: SocketAddr) -> Scrape {
    let (head, body) = http_get(addr, "/metrics", "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(!head.contains("transfer-encoding"), "{head}");
    parse(&body)
}

/// Scrapes until `done` holds for a scrape (state the server reaches on its
/// own time, like a closed connection's end), within the usual bound.
async fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    within(what, async {
        loop {
            let scrape = scrape(addr).await;
            if done(&scrape) {
                return scrape;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
}

const CONNECTIONS: &str = "circles_websocket_connections";
const REJECTED: &str = "circles_rejected_frames_total";
const CLOSED: &str = "circles_connections_closed_total";
const REFUSED: &str = "circles_connections_refused_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_connections_posts_and_bad_frames() {
    let server = TestServer::start().await;
    let idle = scrape(server.addr).await;
    assert_eq!(idle.get(CONNECTIONS), 0.0);
    assert_eq!(idle.get("circles_events_appended_total"), 0.0);

    let mut ana = server.register(&unique_handle("ana")).await;
    let mut bob = server.register(&unique_handle("bob")).await;
    let mut stranger = server.connect().await;
    ana.create_circle("gauges").await;
    bob.join("gauges").await;
    bob.subscribe("gauges", None).await;
    // Once bob has the first, his subscription is live (it went live at
    // once, or right after reading that one from the store): the rest are
    // fanned out to him, each counted as it is queued, before he reads it.
    let first = ana.note("gauges", "warm-up").await;
    assert_eq!(bob.next_event_in("gauges").await, first);
    const POSTS: usize = 5;
    let mut last = 0;
    for i in 0..POSTS {
        last = ana.note("gauges", &format!("note {i}")).await.seq;
    }
    let live = bob.events_until("gauges", last).await;
    assert_eq!(live.len(), POSTS, "bob got each note: {live:?}");

    // Not JSON, and a binary frame: each answered, each counted once.
    stranger.send_text("{this is not json").await;
    let answer = stranger.recv_json().await;
    assert_eq!(error_of(&answer).kind(), ErrorKind::ParseError);
    stranger.send_binary(vec![1, 2, 3]).await;
    let answer = stranger.recv_json().await;
    assert_eq!(error_of(&answer).kind(), ErrorKind::InvalidRequest);

    let page = scrape(server.addr).await;
    assert_eq!(
        page.types.get(CONNECTIONS).map(String::as_str),
        Some("gauge")
    );
    assert_eq!(page.get(CONNECTIONS), 3.0, "ana, bob and the stranger");
    assert_eq!(page.get("circles_authenticated_connections"), 2.0);
    assert_eq!(page.get("circles_active_circles"), 1.0);
    // ana's join at the circle's creation, bob's join, the warm-up, the notes.
    let appended = page.get("circles_events_appended_total");
    assert_eq!(appended, (POSTS + 3) as f64, "events appended");
    let deliveries = page.get("circles_event_deliveries_total");
    assert!(
        deliveries >= POSTS as f64,
        "{deliveries} deliveries for bob's {POSTS} live notes"
    );
    assert_eq!(page.reason(REJECTED, "parse_error"), 1.0);
    assert_eq!(page.reason(REJECTED, "binary"), 1.0);
    for reason in ["invalid_request", "batch_too_large", "too_big"] {
        assert_eq!(page.reason(REJECTED, reason), 0.0, "{reason}");
    }
    assert_eq!(page.get("circles_rate_limited_requests_total"), 0.0);

    // Every event a circle task appended was fanned out once (the first is
    // written with the circle); every write reached a durable point.
    let fanouts = page.histogram("circles_fanout_latency_seconds");
    assert_eq!(fanouts, appended - 1.0, "one fan-out observation per event");
    let flushes = page.histogram("circles_flush_duration_seconds");
    assert!(flushes > 0.0);
    let batches = page.histogram("circles_commit_batch_writes");
    assert_eq!(batches, flushes, "a batch size per durable point");
    let writes = page.get("circles_commit_batch_writes_sum");
    assert!(
        writes >= appended,
        "{writes} writes made durable, {appended} of them events"
    );

    // A connection that ends leaves the gauges, on the server's own time.
    stranger.close().await;
    let page = scrape_until(server.addr, "the stranger's session to end", |s| {
        s.get(CONNECTIONS) == 2.0
    })
    .await;
    assert_eq!(page.reason(CLOSED, "peer"), 1.0);
    assert_eq!(page.get("circles_authenticated_connections"), 2.0);
    // One too big for max_frame_bytes is rejected and closed with 1009.
    bob.send_text("x".repeat(70 * 1024)).await;
    assert_eq!(bob.expect_close().await, Some(1009));
    let page = scrape_until(server.addr, "bob's session to end", |s| {
        s.get(CONNECTIONS) == 1.0
    })
    .await;
    assert_eq!(page.reason(REJECTED, "too_big"), 1.0);
    assert_eq!(page.reason(CLOSED, "too_big"), 1.0);
    assert_eq!(page.get("circles_authenticated_connections"), 1.0);
    ana.note("gauges", "still counted").await;
    let after = scrape(server.addr).await;
    assert_eq!(after.get("circles_events_appended_total"), appended + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_rate_limits_and_stalled_handshakes_are_counted() {
    let server = TestServer::start_with(|c| {
        c.max_sessions_per_ip = 2;
        c.requests_per_sec = 1;
        c.request_burst = 2;
        c.handshake_timeout = Duration::from_secs(1);
    })
    .await;

    // A third session from one address is refused with 429.
    let mut first = server.connect().await;
    let _second = server.connect().await;
    match tokio_tungstenite::connect_async(server.url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a third session must get 429, got {other:?}"),
    }

    // Requests past the burst are answered rate_limited, each one counted.
    let mut refused = 0;
    for _ in 0..10 {
        let answer = first.request_no_params("circle.list").await;
        match error_of(&answer).kind() {
            ErrorKind::RateLimited => refused += 1,
            ErrorKind::Unauthenticated => {}
            other => panic!("unexpected {other:?}: {answer}"),
        }
        if refused == 3 {
            break;
        }
    }
    assert_eq!(
        refused, 3,
        "a burst of 2 at 1/s refuses some of 10 requests"
    );

    // A connection that never sends its request head is dropped.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    within("the server to drop a stalled connection", async {
        let mut buf = [0u8; 256];
        while let Ok(n) = silent.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;

    let page = scrape(server.addr).await;
    assert_eq!(page.reason(REFUSED, "too_many_sessions"), 1.0);
    assert_eq!(page.reason(REFUSED, "handshake_timeout"), 1.0);
    assert_eq!(page.reason(REFUSED, "shutting_down"), 0.0);
    assert_eq!(page.get("circles_rate_limited_requests_total"), 3.0);
    assert_eq!(page.get(CONNECTIONS), 2.0);
    assert_eq!(page.get("circles_authenticated_connections"), 0.0);
    // The scrapes themselves are requests that completed: not stalled handshakes.
    let again = scrape(server.addr).await;
    assert_eq!(again.reason(REFUSED, "handshake_timeout"), 1.0);
}
