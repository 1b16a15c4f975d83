//! `circle.stats`: impact evidence computed from a circle's folded state.
//! Pure: the clock comes in as `now`, so exact figures are tested directly.
//!
//! The window runs from `since` to `until`, both inclusive. Retracted
//! problems and retracted critiques never count. A median of an even count
//! is the mean of the two middle values, rounded down.

use circles_protocol::Millis;
use circles_protocol::model::{Stats, StatsBucket, StatsProblem};

use super::state::ProblemFacts;

/// One series bucket at least: a week.
pub const WEEK_MS: u64 = 7 * 24 * 3600 * 1000;
/// The most buckets a series has; longer windows get wider buckets.
pub const MAX_BUCKETS: u64 = 26;
/// How many of the most-metoo'd open problems are listed.
pub const TOP_METOOS: usize = 5;

/// What to compute: the window, the clock and the server's `unanswered_after`.
#[derive(Clone, Copy, Debug)]
pub struct StatsQuery {
    pub since: Millis,
    pub until: Millis,
    pub now: Millis,
    pub unanswered_after_ms: u64,
}

/// The figures of `problems` (as [`super::CircleState::problem_facts`]
/// lists them) for `q`. The caller checks that `since <= until`.
pub fn stats(problems: &[ProblemFacts], q: StatsQuery) -> Stats {
    let in_window = |at: Millis| (q.since..=q.until).contains(&at);
    let raised: Vec<&ProblemFacts> = problems.iter().filter(|p| in_window(p.at)).collect();
    let resolved: Vec<(&ProblemFacts, Millis)> = problems
        .iter()
        .filter_map(|p| p.resolved_at.filter(|at| in_window(*at)).map(|at| (p, at)))
        .collect();
    let first_answers = raised
        .iter()
        .filter_map(|p| {
            p.first_answer_at
                .filter(|at| *at <= q.until)
                .map(|at| at.saturating_sub(p.at))
        })
        .collect();
    let resolutions = resolved
        .iter()
        .map(|(p, at)| at.saturating_sub(p.at))
        .collect();

    let open = problems.iter().filter(|p| p.resolved_at.is_none());
    let mut unanswered: Vec<&ProblemFacts> = open
        .clone()
        .filter(|p| p.first_answer_at.is_none())
        .filter(|p| q.now.saturating_sub(p.at) >= q.unanswered_after_ms)
        .collect();
    unanswered.sort_by_key(|p| (p.at, p.seq));
    let mut most_metood: Vec<&ProblemFacts> = open.filter(|p| p.metoos > 0).collect();
    most_metood.sort_by_key(|p| (std::cmp::Reverse(p.metoos), p.seq));
    most_metood.truncate(TOP_METOOS);

    let length = q.until.saturating_sub(q.since).saturating_add(1);
    let weeks = length.div_ceil(WEEK_MS).max(1);
    let bucket_ms = WEEK_MS.saturating_mul(weeks.div_ceil(MAX_BUCKETS));
    let buckets = length.div_ceil(bucket_ms);
    let mut series: Vec<StatsBucket> = (0..buckets)
        .map(|i| StatsBucket {
            start: q.since.saturating_add(i.saturating_mul(bucket_ms)),
            raised: 0,
            resolved: 0,
        })
        .collect();
    let bucket_of =
        |at: Millis| usize::try_from(at.saturating_sub(q.since) / bucket_ms).unwrap_or(usize::MAX);
    for p in &raised {
        if let Some(b) = series.get_mut(bucket_of(p.at)) {
            b.raised += 1;
        }
    }
    for (_, at) in &resolved {
        if let Some(b) = series.get_mut(bucket_of(*at)) {
            b.resolved += 1;
        }
    }

    Stats {
        since: q.since,
        until: q.until,
        raised: count(raised.len()),
        resolved: count(resolved.len()),
        median_first_critique_ms: median(first_answers),
        median_resolution_ms: median(resolutions),
        unanswered_after_ms: q.unanswered_after_ms,
        unanswered: unanswered.into_iter().map(view).collect(),
        most_metood: most_metood.into_iter().map(view).collect(),
        bucket_ms,
        series,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The median; of an even count, the mean of the middle two, rounded down.
fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => {
            let (a, b) = (values[n / 2 - 1], values[n / 2]);
            Some(a + (b - a) / 2)
        }
    }
}

fn view(p: &ProblemFacts) -> StatsProblem {
    StatsProblem {
        id: p.id,
        seq: p.seq,
        author: p.author.clone(),
        at: p.at,
        title: p.title.clone(),
        metoos: p.metoos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circle::CircleState;
    use crate::store::CircleRecord;
    use circles_protocol::event::{Event, EventBody};
    use circles_protocol::model::{Role, Stance, Visibility};
    use uuid::Uuid;

    const HOUR: u64 = 3600 * 1000;
    /// 2024-05-06 00:00 UTC, a Monday.
    const T0: u64 = 1_714_953_600_000;

    /// A circle whose events are appended with chosen times.
    struct History {
        state: CircleState,
    }

    impl History {
        fn new() -> History {
            let record = CircleRecord {
                id: Uuid::from_u128(0xc1),
                slug: "c".into(),
                name: "C".into(),
                purpose: String::new(),
                visibility: Visibility::Public,
                max_members: 12,
                created_by: "ana".into(),
                created_at: T0,
            };
            let mut h = History {
                state: CircleState::new(record),
            };
            for (who, role) in [
                ("ana", Role::Facilitator),
                ("ben", Role::Member),
                ("cy", Role::Member),
                ("dee", Role::Member),
            ] {
                h.at(who, T0, EventBody::Join { role });
            }
            h
        }

        fn at(&mut self, author: &str, at: Millis, body: EventBody) -> Uuid {
            let seq = self.state.head + 1;
            let id = Uuid::from_u128(u128::from(seq));
            self.state.apply(&Event {
                seq,
                id,
                author: author.into(),
                at,
                retracted: false,
                body,
            });
            id
        }

        fn problem(&mut self, author: &str, at: Millis, title: &str) -> Uuid {
            let body = EventBody::Problem {
                title: title.into(),
                body: String::new(),
                tags: vec![],
            };
            self.at(author, at, body)
        }

        fn critique(&mut self, author: &str, at: Millis, problem: Uuid) -> Uuid {
            let body = EventBody::Critique {
                problem,
                body: "try this".into(),
                stance: Stance::Suggestion,
            };
            self.at(author, at, body)
        }

        fn resolve(&mut self, author: &str, at: Millis, problem: Uuid) {
            let body = EventBody::Resolve {
                problem,
                helpful: vec![],
                summary: None,
            };
            self.at(author, at, body);
        }

        fn stats(&self, since: Millis, until: Millis, now: Millis) -> Stats {
            let q = StatsQuery {
                since,
                until,
                now,
                unanswered_after_ms: 48 * HOUR,
            };
            stats(&self.state.problem_facts(), q)
        }
    }

    /// Over three weeks: five problems (one retracted), answers after 1 h,
    /// 3 h, 6 h and 10 h (one only by its author, one retracted), three
    /// resolutions, metoos on two open problems.
    fn history() -> (History, [Uuid; 5]) {
        let mut h = History::new();
        let a = h.problem("ana", T0 + HOUR, "a");
        h.critique("ben", T0 + 2 * HOUR, a); // a answered after 1 h
        let b = h.problem("ben", T0 + 10 * HOUR, "b");
        h.critique("ben", T0 + 11 * HOUR, b); // its author's own: no answer
        let retracted = h.critique("cy", T0 + 12 * HOUR, b);
        h.at(
            "cy",
            T0 + 12 * HOUR + 1,
            EventBody::Retract { post: retracted },
        );
        h.critique("ana", T0 + 13 * HOUR, b); // b answered after 3 h
        h.resolve("ana", T0 + 30 * HOUR, a); // a resolved after 29 h
        let c = h.problem("cy", T0 + 8 * 24 * HOUR, "c"); // week 2
        h.critique("dee", T0 + 8 * 24 * HOUR + 6 * HOUR, c); // after 6 h
        h.resolve("cy", T0 + 9 * 24 * HOUR, c); // after 24 h
        h.resolve("ben", T0 + 15 * 24 * HOUR, b); // week 3, after 14 d 14 h
        let d = h.problem("dee", T0 + 15 * 24 * HOUR, "d"); // unanswered
        let e = h.problem("ana", T0 + 16 * 24 * HOUR, "e");
        h.critique("ben", T0 + 16 * 24 * HOUR + 10 * HOUR, e); // after 10 h
        for (who, p) in [("ana", d), ("ben", d), ("ben", e), ("cy", e)] {
            h.at(who, T0 + 17 * 24 * HOUR, EventBody::Metoo { problem: p });
        }
        h.at("cy", T0 + 17 * 24 * HOUR, EventBody::Metoo { problem: c });
        let gone = h.problem("cy", T0 + 2 * HOUR, "gone");
        h.at("cy", T0 + 3 * HOUR, EventBody::Retract { post: gone });
        (h, [a, b, c, d, e])
    }

    #[test]
    fn exact_figures_over_a_scripted_history() {
        let (h, [a, b, c, d, e]) = history();
        let now = T0 + 21 * 24 * HOUR;
        let s = h.stats(T0, now - 1, now);
        assert_eq!((s.raised, s.resolved), (5, 3));
        // 1 h, 3 h, 6 h, 10 h: the mean of 3 h and 6 h.
        assert_eq!(s.median_first_critique_ms, Some(4 * HOUR + HOUR / 2));
        // 29 h, 24 h, 14 d 14 h: 29 h.
        assert_eq!(s.median_resolution_ms, Some(29 * HOUR));
        // d is six days old with no critique; e was answered.
        assert_eq!(s.unanswered.iter().map(|p| p.id).collect::<Vec<_>>(), [d]);
        assert_eq!(s.unanswered_after_ms, 48 * HOUR);
        // d and e have two metoos each: the older first; c is resolved.
        let top: Vec<_> = s.most_metood.iter().map(|p| (p.id, p.metoos)).collect();
        assert_eq!(top, [(d, 2), (e, 2)]);
        assert_eq!(s.most_metood[0].title, "d");
        assert_eq!(s.bucket_ms, WEEK_MS);
        let series: Vec<_> = s
            .series
            .iter()
            .map(|b| (b.start, b.raised, b.resolved))
            .collect();
        assert_eq!(
            series,
            [(T0, 2, 1), (T0 + WEEK_MS, 1, 1), (T0 + 2 * WEEK_MS, 2, 1)]
        );
        let _ = (a, b, c, e);
    }

    #[test]
    fn a_window_counts_only_what_happened_in_it() {
        let (h, _) = history();
        let now = T0 + 21 * 24 * HOUR;
        // Week 2 alone: c raised and resolved.
        let s = h.stats(T0 + WEEK_MS, T0 + 2 * WEEK_MS - 1, now);
        assert_eq!((s.raised, s.resolved), (1, 1));
        assert_eq!(s.median_first_critique_ms, Some(6 * HOUR));
        assert_eq!(s.median_resolution_ms, Some(24 * HOUR));
        assert_eq!(s.series.len(), 1);
        // Up to a's first critique: a raised (and answered exactly at until).
        let s = h.stats(T0, T0 + 2 * HOUR, now);
        assert_eq!((s.raised, s.resolved), (1, 0));
        assert_eq!(s.median_first_critique_ms, Some(HOUR));
        assert_eq!(s.median_resolution_ms, None);
        // An empty window: nothing to take a median of.
        let s = h.stats(T0 + 30 * 24 * HOUR, T0 + 30 * 24 * HOUR, now);
        assert_eq!((s.raised, s.resolved), (0, 0));
        assert_eq!(s.median_first_critique_ms, None);
        assert_eq!(s.series.len(), 1);
    }

    #[test]
    fn unanswered_waits_for_the_configured_time() {
        let (h, [_, _, _, d, _]) = history();
        let raised = T0 + 15 * 24 * HOUR;
        let s = h.stats(T0, raised, raised + 48 * HOUR - 1);
        assert!(s.unanswered.is_empty());
        let s = h.stats(T0, raised, raised + 48 * HOUR);
        assert_eq!(s.unanswered[0].id, d);
    }

    #[test]
    fn long_windows_get_wider_buckets() {
        let (h, _) = history();
        // A year: 53 weeks, so buckets of 3 weeks (18 of them).
        let s = h.stats(T0, T0 + 365 * 24 * HOUR, T0 + 365 * 24 * HOUR);
        assert_eq!(s.bucket_ms, 3 * WEEK_MS);
        assert_eq!(s.series.len(), 18);
        assert_eq!((s.series[0].raised, s.series[0].resolved), (5, 3));
        // Everything since 1970 still makes at most 26 buckets.
        let s = h.stats(0, T0 + WEEK_MS, T0 + WEEK_MS);
        assert!(s.series.len() <= 26, "{}", s.series.len());
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5]), Some(5));
        assert_eq!(median(vec![4, 1]), Some(2));
        assert_eq!(median(vec![3, 1, 2]), Some(2));
        assert_eq!(median(vec![u64::MAX, u64::MAX - 1]), Some(u64::MAX - 1));
    }
}
