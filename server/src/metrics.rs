//! What `/metrics` serves: the server's counters, gauges and histograms in
//! the Prometheus text exposition format (version 0.0.4), every name
//! prefixed `circles_`. `docs/operations.md` lists the series.
//!
//! Hand-rolled on atomics rather than taken from the `prometheus-client`
//! crate: its `Histogram::observe` locks a mutex and its labelled `Family`
//! takes a lock per lookup, while circle tasks record here for every event
//! (12k posts/s and 70k deliveries/s on 2 cores). Every label set here is a
//! closed enum, so each series is a fixed atomic, recording is one or two
//! relaxed `fetch_add`s, and rendering is a page of `write!`s.
//!
//! Gauges that other modules already keep exactly (signed-in connections,
//! loaded circles) are read from them at scrape time instead of being kept
//! twice.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::App;
use crate::session::CloseReason;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets, in microseconds: 100 µs to 10 s.
const LATENCY_BUCKETS_US: &[u64] = &[
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
/// Writes per durable point.
const BATCH_BUCKETS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];
const MICROS_PER_SECOND: f64 = 1e6;

/// The series the server records as it runs (those it reads at scrape time
/// are gathered by [`App::render_metrics`]).
#[derive(Debug)]
pub struct Metrics {
    /// Open WebSocket sessions.
    pub connections: Gauge,
    /// Events appended and durable (acknowledged or about to be), each
    /// circle's first (its creator's join, written with the circle) included.
    pub events_appended: Counter,
    /// Event frames a circle queued to live subscribers: its fan-out, and
    /// the replay of its recent frames when a subscription goes live.
    /// Catch-up pages read from the store are not counted.
    pub deliveries: Counter,
    /// Seconds from a circle task taking an append (before it checks and
    /// writes it to the store) until the event's frame is queued to every live subscriber
    /// (the outbound queues of their connections, not yet their sockets).
    /// It includes the wait for the group commit's durable point, since
    /// events are fanned out only once durable. One observation per event,
    /// whether or not anyone subscribes.
    pub fanout: Histogram,
    pub rejected: Labelled<Rejected>,
    /// Requests (and binary frames) refused for the connection's rate.
    pub rate_limited: Counter,
    pub closed: Labelled<Closed>,
    pub refused: Labelled<Refused>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections: Gauge::default(),
            events_appended: Counter::default(),
            deliveries: Counter::default(),
            fanout: Histogram::latency(),
            rejected: Labelled::default(),
            rate_limited: Counter::default(),
            closed: Labelled::default(),
            refused: Labelled::default(),
        }
    }
}

/// The group commit's series, kept by the store's flush thread
/// (`store/commit.rs`) and read through [`crate::store::Store::durable_points`].
#[derive(Debug)]
pub struct DurablePoints {
    /// Seconds per durable point: sled's flush, then `fdatasync` of its data
    /// file (and of new blob files). Posts wait on it.
    pub flush: Histogram,
    /// Writes served by each durable point.
    pub batch: Histogram,
}

impl Default for DurablePoints {
    fn default() -> Self {
        DurablePoints {
            flush: Histogram::latency(),
            batch: Histogram::new(BATCH_BUCKETS, 1.0),
        }
    }
}

/// A value that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down; shared, so a guard can hold a count.
#[derive(Debug, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Counts one more until the returned guard is dropped.
    pub fn track(&self) -> GaugeGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(Arc::clone(&self.0))
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One count of a [`Gauge`], given back on drop.
#[derive(Debug)]
pub struct GaugeGuard(Arc<AtomicI64>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Observations counted into fixed buckets. Values are whole units
/// (microseconds, writes) so the sum is an integer `fetch_add`; `per_unit`
/// converts them to the exposed unit (seconds) when rendered.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds (inclusive), ascending, in units.
    bounds: &'static [u64],
    /// Observations per bucket, not cumulative; one more than `bounds` (+Inf).
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    per_unit: f64,
}

impl Histogram {
    fn new(bounds: &'static [u64], per_unit: f64) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            per_unit,
        }
    }

    /// Durations, exposed in seconds.
    fn latency() -> Histogram {
        Histogram::new(LATENCY_BUCKETS_US, MICROS_PER_SECOND)
    }

    pub fn observe(&self, value: u64) {
        let bucket = self.bounds.partition_point(|&bound| bound < value);
        if let Some(count) = self.buckets.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, duration: Duration) {
        self.observe(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX));
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, "histogram", help);
        let mut cumulative = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(&bound) => {
                    let le = bound as f64 / self.per_unit;
                    let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum.load(Ordering::Relaxed) as f64 / self.per_unit;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// The values of a `reason` label.
pub trait Reason: Copy + Sized + 'static {
    const ALL: &'static [Self];
    fn label(self) -> &'static str;
    /// Its place in [`Reason::ALL`].
    fn index(self) -> usize;
}

/// A counter per value of a [`Reason`] label.
#[derive(Debug)]
pub struct Labelled<R> {
    counts: Box<[AtomicU64]>,
    _reason: std::marker::PhantomData<R>,
}

impl<R: Reason> Default for Labelled<R> {
    fn default() -> Self {
        Labelled {
            counts: R::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            _reason: std::marker::PhantomData,
        }
    }
}

impl<R: Reason> Labelled<R> {
    pub fn inc(&self, reason: R) {
        if let Some(count) = self.counts.get(reason.index()) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, reason: R) -> u64 {
        self.counts
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every value, zeros included: a series that appears only once it is
    /// non-zero breaks `rate()` over its first increment.
    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, "counter", help);
        for &reason in R::ALL {
            let label = reason.label();
            let _ = writeln!(out, "{name}{{reason=\"{label}\"}} {}", self.get(reason));
        }
    }
}

/// Declares a `reason` label's values: `Variant => "label"`.
macro_rules! reasons {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $label:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl Reason for $name {
            const ALL: &'static [Self] = &[$($name::$variant,)+];
            fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

reasons! {
    /// Why a frame (or one request of a batch) was refused before reaching a method.
    Rejected {
        /// Not JSON.
        ParseError => "parse_error",
        /// JSON but not a JSON-RPC 2.0 request (an empty batch included).
        InvalidRequest => "invalid_request",
        /// A batch of more than the most requests one may hold.
        BatchTooLarge => "batch_too_large",
        /// A request of a batch whose answers already passed their budget.
        BatchAnswersTooLarge => "batch_answers_too_large",
        /// A binary frame: the protocol is JSON in text frames.
        Binary => "binary",
        /// Past `max_frame_bytes`: the connection is closed with 1009.
        TooBig => "too_big",
    }
}

reasons! {
    /// Why a WebSocket connection ended.
    Closed {
        /// The peer closed it, or the network or a write failed.
        Peer => "peer",
        Shutdown => "shutdown",
        TooSlow => "too_slow",
        TokenRevoked => "token_revoked",
        TooBig => "too_big",
        Unresponsive => "unresponsive",
        ServerError => "server_error",
        Flood => "flood",
        Suspended => "suspended",
    }
}

reasons! {
    /// Why a TCP connection was refused or dropped before it became a session.
    Refused {
        /// Its address holds `max_sessions_per_ip` sessions already (429).
        TooManySessions => "too_many_sessions",
        /// The server is stopping (503).
        ShuttingDown => "shutting_down",
        /// It sent no request head within `handshake_timeout`.
        HandshakeTimeout => "handshake_timeout",
        /// A browser page from an origin not in `allowed_origins` (403).
        ForeignOrigin => "foreign_origin",
    }
}

impl From<Option<CloseReason>> for Closed {
    fn from(reason: Option<CloseReason>) -> Closed {
        match reason {
            None => Closed::Peer,
            Some(CloseReason::Shutdown) => Closed::Shutdown,
            Some(CloseReason::TooSlow) => Closed::TooSlow,
            Some(CloseReason::TokenRevoked) => Closed::TokenRevoked,
            Some(CloseReason::TooBig) => Closed::TooBig,
            Some(CloseReason::Unresponsive) => Closed::Unresponsive,
            Some(CloseReason::ServerError) => Closed::ServerError,
            Some(CloseReason::Flood) => Closed::Flood,
            Some(CloseReason::Suspended) => Closed::Suspended,
        }
    }
}

/// What is read from elsewhere at scrape time.
struct Snapshot<'a> {
    authenticated: usize,
    circles: usize,
    durable: &'a DurablePoints,
}

impl App {
    /// The `/metrics` page.
    pub fn render_metrics(&self) -> String {
        let snapshot = Snapshot {
            authenticated: self.signed_in_connections(),
            circles: self.circles.loaded_count(),
            durable: self.store.durable_points(),
        };
        self.metrics.render(&snapshot)
    }
}

impl Metrics {
    fn render(&self, s: &Snapshot<'_>) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let out = &mut out;
        gauge(
            out,
            "circles_websocket_connections",
            "Open WebSocket connections.",
            self.connections.get(),
        );
        gauge(
            out,
            "circles_authenticated_connections",
            "WebSocket connections signed in to an account.",
            s.authenticated,
        );
        gauge(
            out,
            "circles_active_circles",
            "Circles loaded in memory (a task each); idle ones unload after a minute.",
            s.circles,
        );
        counter(
            out,
            "circles_events_appended_total",
            "Events appended to circle logs and made durable.",
            self.events_appended.get(),
        );
        counter(
            out,
            "circles_event_deliveries_total",
            "Event frames queued to live subscribers (catch-up pages from the store not counted).",
            self.deliveries.get(),
        );
        self.fanout.render(
            out,
            "circles_fanout_latency_seconds",
            "From a circle taking an append until its event is queued to every live subscriber, durable wait included.",
        );
        s.durable.flush.render(
            out,
            "circles_flush_duration_seconds",
            "Group commit durable points: sled flush plus fdatasync.",
        );
        s.durable.batch.render(
            out,
            "circles_commit_batch_writes",
            "Writes served per group commit durable point.",
        );
        self.rejected.render(
            out,
            "circles_rejected_frames_total",
            "Frames (or requests of a batch) refused before reaching a method, by reason.",
        );
        counter(
            out,
            "circles_rate_limited_requests_total",
            "Requests refused for the connection's rate (answered rate_limited).",
            self.rate_limited.get(),
        );
        self.closed.render(
            out,
            "circles_connections_closed_total",
            "WebSocket connections ended, by reason.",
        );
        self.refused.render(
            out,
            "circles_connections_refused_total",
            "Connections refused or dropped before becoming a WebSocket session, by reason.",
        );
        std::mem::take(out)
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn render(metrics: &Metrics, durable: &DurablePoints) -> String {
        metrics.render(&Snapshot {
            authenticated: 2,
            circles: 1,
            durable,
        })
    }

    /// A strict reading of the text format: every sample belongs to the
    /// family declared just before it by `# HELP` and `# TYPE`, names and
    /// labels are well formed, values are numbers. Returns the samples.
    fn parse(text: &str) -> HashMap<String, f64> {
        fn is_name(name: &str) -> bool {
            let mut chars = name.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
        assert!(text.ends_with('\n'), "the last line ends with a newline");
        let mut samples = HashMap::new();
        let mut family: Option<(String, String)> = None;
        let mut helped = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(is_name(name) && !help.is_empty(), "{line}");
                helped = Some(name.to_owned());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert_eq!(helped.as_deref(), Some(name), "HELP then TYPE: {line}");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "counters end in _total: {name}");
                }
                assert!(name.starts_with("circles_"), "{name}");
                family = Some((name.to_owned(), kind.to_owned()));
                continue;
            }
            assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("a number: {line}")),
            };
            let name = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("labels close");
                    for pair in labels.split(',') {
                        let (label, quoted) = pair.split_once('=').expect("label=value");
                        assert!(is_name(label), "{line}");
                        assert!(
                            quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                            "{line}"
                        );
                    }
                    name
                }
                None => series,
            };
            let (family, kind) = family.as_ref().expect("a sample after its TYPE");
            let belongs = match kind.as_str() {
                "histogram" => [
                    format!("{family}_bucket"),
                    format!("{family}_sum"),
                    format!("{family}_count"),
                ]
                .contains(&name.to_owned()),
                _ => name == family,
            };
            assert!(belongs, "{name} is not a sample of {family}");
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "{series} twice"
            );
        }
        samples
    }

    #[test]
    fn the_page_is_valid_exposition_text() {
        let metrics = Metrics::default();
        let durable = DurablePoints::default();
        metrics.events_appended.add(3);
        metrics.rejected.inc(Rejected::ParseError);
        metrics.closed.inc(Closed::from(Some(CloseReason::Flood)));
        metrics.fanout.observe_duration(Duration::from_micros(700));
        metrics.fanout.observe_duration(Duration::from_secs(60));
        durable.flush.observe_duration(Duration::from_micros(1_500));
        durable.batch.observe(5);
        let text = render(&metrics, &durable);
        let samples = parse(&text);

        assert_eq!(samples["circles_authenticated_connections"], 2.0);
        assert_eq!(samples["circles_active_circles"], 1.0);
        assert_eq!(samples["circles_events_appended_total"], 3.0);
        assert_eq!(
            samples["circles_rejected_frames_total{reason=\"parse_error\"}"],
            1.0
        );
        assert_eq!(
            samples["circles_rejected_frames_total{reason=\"binary\"}"],
            0.0
        );
        assert_eq!(
            samples["circles_connections_closed_total{reason=\"flood\"}"],
            1.0
        );
        // Buckets are cumulative; +Inf holds the 60 s one.
        let fanout = "circles_fanout_latency_seconds";
        assert_eq!(samples[&format!("{fanout}_bucket{{le=\"0.0005\"}}")], 0.0);
        assert_eq!(samples[&format!("{fanout}_bucket{{le=\"0.001\"}}")], 1.0);
        assert_eq!(samples[&format!("{fanout}_bucket{{le=\"10\"}}")], 1.0);
        assert_eq!(samples[&format!("{fanout}_bucket{{le=\"+Inf\"}}")], 2.0);
        assert_eq!(samples[&format!("{fanout}_count")], 2.0);
        assert!((samples[&format!("{fanout}_sum")] - 60.0007).abs() < 1e-9);
        assert_eq!(samples["circles_flush_duration_seconds_count"], 1.0);
        assert_eq!(samples["circles_commit_batch_writes_bucket{le=\"4\"}"], 0.0);
        assert_eq!(samples["circles_commit_batch_writes_bucket{le=\"8\"}"], 1.0);
        assert_eq!(samples["circles_commit_batch_writes_sum"], 5.0);
    }

    #[test]
    fn a_bound_is_inclusive() {
        let histogram = Histogram::new(BATCH_BUCKETS, 1.0);
        histogram.observe(1);
        histogram.observe(2);
        histogram.observe(3);
        let counts: Vec<u64> = histogram
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .take(3)
            .collect();
        assert_eq!(counts, [1, 1, 1], "le=1, le=2, le=4");
        assert_eq!(histogram.count(), 3);
    }

    #[test]
    fn a_tracked_gauge_goes_back_down() {
        let metrics = Metrics::default();
        let first = metrics.connections.track();
        let second = metrics.connections.track();
        assert_eq!(metrics.connections.get(), 2);
        drop(first);
        drop(second);
        assert_eq!(metrics.connections.get(), 0);
    }
}
