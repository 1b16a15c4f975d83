//! How results look in the terminal (the `--json` forms are the protocol's).

use circles_protocol::Millis;
use circles_protocol::duration::spoken;
use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::{
    CircleInfo, Digest, HitKind, MeetingView, Member, Norms, ProblemStatus, ProblemSummary,
    ProblemThread, Role, SearchHit, SnippetPart, Stats, StatsProblem, Visibility,
};
use serde::Serialize;

use crate::ids::short;

/// `println!` into a `String`.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("circles: cannot print JSON: {err}"),
    }
}

/// `2026-11-29 17:01` in local time.
pub fn time(at: Millis) -> String {
    let at = i64::try_from(at).unwrap_or(i64::MAX);
    match chrono::DateTime::from_timestamp_millis(at) {
        Some(utc) => utc
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        None => "?".into(),
    }
}

pub fn circles(circles: &[CircleInfo]) {
    if circles.is_empty() {
        println!("No circles yet: `circles create SLUG --name NAME` starts one.");
        return;
    }
    println!(
        "{:<24} {:>7} {:>6} {:>8}  {:<12} NAME",
        "CIRCLE", "MEMBERS", "UNREAD", "MENTIONS", "YOU"
    );
    for c in circles {
        let you = match (c.role, c.visibility) {
            (Some(Role::Facilitator), _) => "facilitator",
            (Some(Role::Member), _) => "member",
            (None, Visibility::Public) => "-",
            (None, Visibility::Private) => "(private)",
        };
        let members = format!("{}/{}", c.member_count, c.max_members);
        let private = if c.visibility == Visibility::Private {
            " (private)"
        } else {
            ""
        };
        let mentions = if c.mentions > 0 {
            format!("@{}", c.mentions)
        } else {
            String::new()
        };
        println!(
            "{:<24} {:>7} {:>6} {:>8}  {:<12} {}{private}",
            c.slug, members, c.unread, mentions, you, c.name
        );
    }
}

pub fn circle(c: &CircleInfo) {
    let visibility = match c.visibility {
        Visibility::Public => "public",
        Visibility::Private => "private",
    };
    println!(
        "{} ({}): {visibility}, {}/{} members",
        c.name, c.slug, c.member_count, c.max_members
    );
    if !c.purpose.is_empty() {
        println!("{}", c.purpose);
    }
}

pub fn members(members: &[Member]) {
    for m in members {
        let role = match m.role {
            Role::Facilitator => "facilitator",
            Role::Member => "member",
        };
        let online = if m.online { "online" } else { "" };
        let name = if m.display_name == m.handle {
            String::new()
        } else {
            format!("({})", m.display_name)
        };
        println!("{:<20} {:<12} {:<7} {name}", m.handle, role, online);
    }
}

/// A circle's norms: who set which version when, then the text, indented.
pub fn norms(circle: &str, n: &Norms) -> String {
    let mut out = format!(
        "The norms of {circle} (version {}, set by {} on {}):\n\n",
        n.version,
        n.set_by,
        time(n.at)
    );
    for line in n.text.lines() {
        outln!(out, "  {line}");
    }
    out
}

/// One line per event: `#4  2026-11-29 17:02  ben  critique …`.
pub fn event_line(event: &Event) -> String {
    let head = format!("#{:<4} {}  {:<12}", event.seq, time(event.at), event.author);
    if event.retracted {
        return format!(
            "{head} ({} {} retracted)",
            event.body.kind(),
            short(&event.id)
        );
    }
    let what = match &event.body {
        EventBody::Problem { title, tags, .. } => {
            let tags = if tags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", tags.join(", "))
            };
            format!("problem {}: {title}{tags}", short(&event.id))
        }
        EventBody::Critique {
            problem,
            body,
            stance,
        } => {
            format!(
                "critique {} on {} ({}): {}",
                short(&event.id),
                short(problem),
                stance.name(),
                first_line(body)
            )
        }
        EventBody::Note { body } => format!("note {}: {}", short(&event.id), first_line(body)),
        EventBody::Edit { post, .. } => format!("edited {}", short(post)),
        EventBody::Retract { post } => format!("retracted {}", short(post)),
        EventBody::Resolve {
            problem,
            helpful,
            summary,
        } => {
            let helped: Vec<String> = helpful.iter().map(short).collect();
            let mut line = format!("resolved {}", short(problem));
            if !helped.is_empty() {
                line.push_str(&format!(" (helped: {})", helped.join(", ")));
            }
            if let Some(summary) = summary {
                line.push_str(&format!(": {}", first_line(summary)));
            }
            line
        }
        EventBody::Accept { problem, critique } => {
            format!(
                "accepted critique {} on {}",
                short(critique),
                short(problem)
            )
        }
        EventBody::Reflect {
            problem,
            text,
            usefulness,
        } => format!(
            "reflected on {} (usefulness {usefulness}/5): {}",
            short(problem),
            first_line(text)
        ),
        EventBody::Metoo { problem } => format!("has problem {} too", short(problem)),
        EventBody::Meeting {
            starts_at,
            agenda,
            title,
        } => {
            let mut line = format!("scheduled a meeting for {}", time(*starts_at));
            if let Some(title) = title {
                line.push_str(&format!(": {title}"));
            }
            if !agenda.is_empty() {
                let items: Vec<String> = agenda.iter().map(short).collect();
                line.push_str(&format!(" (agenda: {})", items.join(", ")));
            }
            line
        }
        EventBody::Norms { version, text } => {
            format!("set the norms (version {version}): {}", first_line(text))
        }
        EventBody::NormsAccept { version } => format!("accepted the norms (version {version})"),
        EventBody::Join {
            role: Role::Facilitator,
        } => "joined as facilitator".into(),
        EventBody::Join { role: Role::Member } => "joined".into(),
        EventBody::Leave {} => "left".into(),
        EventBody::Remove { member, reason } => match reason {
            Some(reason) => format!("removed {member}: {reason}"),
            None => format!("removed {member}"),
        },
    };
    format!("{head} {what}")
}

/// [`event_line`], marked `@you` when the event's text mentions `me`.
pub fn event_line_for(event: &Event, me: Option<&str>) -> String {
    let line = event_line(event);
    match me {
        Some(me) if circles_protocol::mention::event_mentions(event, me) => {
            format!("{line}  ← @{me}")
        }
        _ => line,
    }
}

/// Unread mentions, one line each: `lib  #4  2026-11-29 17:02  ben  note …`.
pub fn mentions(found: &[(String, Event)]) {
    if found.is_empty() {
        println!("No unread mentions.");
        return;
    }
    let width = found.iter().map(|(slug, _)| slug.len()).max().unwrap_or(0);
    for (slug, event) in found {
        println!("{slug:<width$}  {}", event_line(event));
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if text.lines().nth(1).is_some() {
        format!("{line} …")
    } else {
        line.to_owned()
    }
}

pub fn problems(problems: &[ProblemSummary]) {
    if problems.is_empty() {
        println!("No problems here.");
        return;
    }
    for p in problems {
        println!("{}", problem_line(p));
    }
}

/// `1a2b3c4d  open     2 critiques 1 metoo   Title (author), 1 accepted`.
fn problem_line(p: &ProblemSummary) -> String {
    let status = match p.status {
        ProblemStatus::Open => "open",
        ProblemStatus::Resolved => "resolved",
    };
    let accepted = if p.accepted > 0 {
        format!(", {} accepted", p.accepted)
    } else {
        String::new()
    };
    format!(
        "{}  {:<8} {:<13} {:<9} {} ({}){accepted}",
        short(&p.id),
        status,
        count(p.critiques, "critique"),
        count(p.metoos, "metoo"),
        p.title,
        p.author
    )
}

/// `1 critique`, `2 critiques`.
fn count(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub fn thread(p: &ProblemThread) {
    let status = match p.status {
        ProblemStatus::Open => "open",
        ProblemStatus::Resolved => "resolved",
    };
    let edited = if p.edited { " (edited)" } else { "" };
    println!("[{status}] {}{edited}", p.title);
    println!("{} · {} · {}", short(&p.id), p.author, time(p.at));
    if !p.tags.is_empty() {
        println!("tags: {}", p.tags.join(", "));
    }
    if !p.body.is_empty() {
        println!();
        println!("{}", p.body);
    }
    if !p.metoos.is_empty() {
        println!();
        println!("Also stuck on this: {}", p.metoos.join(", "));
    }
    for (i, c) in p.critiques.iter().enumerate() {
        let last = i + 1 == p.critiques.len();
        let (branch, stem) = if last { ("└", " ") } else { ("├", "│") };
        println!("  │");
        let helpful = if c.helpful { "  ★ helped" } else { "" };
        let accepted = if c.accepted { "  ✓ accepted" } else { "" };
        let edited = if c.edited { " (edited)" } else { "" };
        let (who, id, at, stance) = (&c.author, short(&c.id), time(c.at), c.stance.name());
        println!("  {branch} {who} · {id} · {at} · {stance}{edited}{accepted}{helpful}");
        if c.retracted {
            println!("  {stem} (retracted)");
        } else {
            for line in c.body.lines() {
                println!("  {stem} {line}");
            }
        }
    }
    if let Some(r) = &p.resolution {
        println!();
        println!("Resolved by {} on {}.", r.by, time(r.at));
        if let Some(summary) = &r.summary {
            for line in summary.lines() {
                println!("  {line}");
            }
        }
    }
    if !p.reflections.is_empty() {
        println!();
        println!("Reflections:");
    }
    for r in &p.reflections {
        println!(
            "  {} · {} · usefulness {}/5",
            r.author,
            time(r.at),
            r.usefulness
        );
        for line in r.text.lines() {
            println!("    {line}");
        }
    }
}

/// `2026-12-08 18:00 "Monthly clinic" (3 on the agenda)`.
fn meeting(m: &MeetingView) -> String {
    let mut line = time(m.starts_at);
    if let Some(title) = &m.title {
        line.push_str(&format!(" \"{title}\""));
    }
    if !m.agenda.is_empty() {
        line.push_str(&format!(" ({} on the agenda)", m.agenda.len()));
    }
    line
}

/// A digest as text: the CLI prints it, the TUI shows it in an overlay.
pub fn digest(d: &Digest) -> String {
    let mut out = String::new();
    let from = match &d.last_meeting {
        Some(m) if m.starts_at == d.since => format!("the meeting of {}", meeting(m)),
        _ if d.since == 0 => "the start".into(),
        _ => time(d.since),
    };
    outln!(out, "Since {from}, until {}.", time(d.until));
    if let Some(next) = &d.next_meeting {
        outln!(out, "Next meeting: {}.", meeting(next));
    }
    section(
        &mut out,
        "New problems",
        d.total_new_problems,
        d.new_problems.len(),
    );
    for p in &d.new_problems {
        outln!(out, "  {}", problem_line(p));
    }
    section(
        &mut out,
        "New critiques",
        d.total_new_critiques,
        d.new_critiques.len(),
    );
    for c in &d.new_critiques {
        let accepted = if c.accepted { "  ✓ accepted" } else { "" };
        outln!(
            out,
            "  {}  {} · {} · on \"{}\"{accepted}",
            short(&c.id),
            c.author,
            c.stance.name(),
            c.problem_title
        );
    }
    section(
        &mut out,
        "Resolved",
        d.total_resolutions,
        d.resolutions.len(),
    );
    for r in &d.resolutions {
        let summary = r
            .resolution
            .summary
            .as_deref()
            .map(|s| format!(": {}", first_line(s)))
            .unwrap_or_default();
        outln!(
            out,
            "  {}  {} ({}){summary}",
            short(&r.problem),
            r.title,
            r.resolution.by
        );
    }
    section(
        &mut out,
        "Still unanswered",
        d.total_unanswered,
        d.unanswered.len(),
    );
    for p in &d.unanswered {
        outln!(out, "  {}", problem_line(p));
    }
    out
}

/// A digest's section heading: `New problems (2)`, or `(none)`.
fn section(out: &mut String, name: &str, total: u32, shown: usize) {
    match total {
        0 => outln!(out, "\n{name}: none"),
        n if n as usize > shown => outln!(out, "\n{name} ({n}, the first {shown} shown)"),
        n => outln!(out, "\n{name} ({n})"),
    }
}

/// The widest bar of a stats chart, in characters.
const BAR: u32 = 20;

/// A bar of `value` out of `max`, [`BAR`] characters wide at most; any
/// value above zero shows at least one block.
fn bar(value: u32, max: u32) -> String {
    let len = match (value, max) {
        (0, _) | (_, 0) => 0,
        _ => usize::try_from((u64::from(value) * u64::from(BAR)).div_ceil(u64::from(max)))
            .unwrap_or(BAR as usize),
    };
    "█".repeat(len)
}

/// `circles stats`: the figures as a table, the series as a chart, then
/// the unanswered and most-metoo'd problems.
pub fn stats(slug: &str, s: &Stats) {
    for line in stats_lines(slug, s) {
        println!("{line}");
    }
}

/// What [`stats`] prints, line by line (the TUI's stats view shows the same).
pub fn stats_lines(slug: &str, s: &Stats) -> Vec<String> {
    let median = |ms: Option<u64>| ms.map_or_else(|| "-".to_owned(), spoken);
    let mut out = vec![
        format!("{slug}, {} to {}", time(s.since), time(s.until)),
        String::new(),
    ];
    let rows = [
        ("problems raised", s.raised.to_string()),
        ("problems resolved", s.resolved.to_string()),
        (
            "median time to first critique",
            median(s.median_first_critique_ms),
        ),
        ("median time to resolution", median(s.median_resolution_ms)),
        ("unanswered now", s.unanswered.len().to_string()),
    ];
    for (what, value) in rows {
        out.push(format!("  {what:<31} {value}"));
    }
    out.push(String::new());
    let weeks = s.bucket_ms / (7 * 24 * 3600 * 1000);
    let per = if weeks <= 1 {
        "week".to_owned()
    } else {
        format!("{weeks} weeks")
    };
    let width = BAR as usize;
    out.push(format!(
        "  {:<16}  {:<w$}      {}",
        format!("per {per} from"),
        "raised",
        "resolved",
        w = width
    ));
    let max = s
        .series
        .iter()
        .map(|b| b.raised.max(b.resolved))
        .max()
        .unwrap_or(0);
    for b in &s.series {
        out.push(format!(
            "  {:<16}  {:<w$} {:>3}  {:<w$} {:>3}",
            time(b.start),
            bar(b.raised, max),
            b.raised,
            bar(b.resolved, max),
            b.resolved,
            w = width
        ));
    }
    let heading = format!(
        "Unanswered (no critique from others after {})",
        spoken(s.unanswered_after_ms)
    );
    problem_list(&mut out, &heading, &s.unanswered);
    problem_list(&mut out, "Most metoo'd open problems", &s.most_metood);
    out
}

fn problem_list(out: &mut Vec<String>, heading: &str, problems: &[StatsProblem]) {
    out.push(String::new());
    if problems.is_empty() {
        out.push(format!("{heading}: none."));
        return;
    }
    out.push(format!("{heading}:"));
    for p in problems {
        out.push(format!(
            "  {}  {:<9} {} ({}, {})",
            short(&p.id),
            count(p.metoos, "metoo"),
            p.title,
            p.author,
            time(p.at)
        ));
    }
}

/// Search hits, two lines each: where and what, then the matching text with
/// the matching words in bold (`emphasis`: a terminal) or `*marked*`.
pub fn search_hits(hits: &[SearchHit], emphasis: bool) -> String {
    let mut out = String::new();
    if hits.is_empty() {
        outln!(out, "Nothing found.");
        return out;
    }
    let width = hits.iter().map(|h| h.circle.len()).max().unwrap_or(0);
    for hit in hits {
        let status = match hit.status {
            ProblemStatus::Open => "open",
            ProblemStatus::Resolved => "resolved",
        };
        let what = match hit.kind {
            HitKind::Problem => format!("problem {}", short(&hit.id)),
            HitKind::Critique => format!(
                "critique {} on problem {}",
                short(&hit.id),
                short(&hit.problem)
            ),
        };
        outln!(
            out,
            "{:<width$}  {what} ({status}): {}",
            hit.circle,
            hit.title
        );
        let mut text = String::new();
        for SnippetPart { text: part, hit } in &hit.snippet {
            match (hit, emphasis) {
                (true, true) => text.push_str(&format!("\x1b[1m{part}\x1b[0m")),
                (true, false) => text.push_str(&format!("*{part}*")),
                (false, _) => text.push_str(part),
            }
        }
        // One line: the post's own line breaks become spaces.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        outln!(
            out,
            "{:<width$}  {} {}: {}",
            "",
            hit.author,
            time(hit.at),
            text
        );
    }
    out
}
