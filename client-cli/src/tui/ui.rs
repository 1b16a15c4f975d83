//! Drawing: [`render`] reads the [`App`] and draws one frame. It changes
//! nothing; scrolling follows from the selection.

use std::time::Instant;

use circles_protocol::Millis;
use circles_protocol::model::{HitKind, Norms, ProblemStatus, Role, SearchHit, SnippetPart};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::app::{App, CircleState, ConnState, Focus, Overlay, SearchView, ThreadView};
use super::compose::ComposeKind;
use super::keys;
use super::timeline::{Entry, PostView, ProblemView, Status};

const ACCENT: Color = Color::Cyan;
const MINE: Color = Color::Yellow;
const DIM: Style = Style::new().fg(Color::DarkGray);
/// Posts that mention me, and their counts.
const MENTION: Style = Style::new().fg(Color::LightMagenta);
/// Lines of a body shown in the timeline; the thread shows all.
const BODY_LINES: usize = 2;
const CRITIQUE_LINES: usize = 3;
const COMPOSE_MAX_LINES: usize = 8;

pub fn render(app: &App, frame: &mut Frame) {
    let compose_lines = app.compose.as_ref().map_or(1, |c| {
        c.text.split('\n').count().clamp(1, COMPOSE_MAX_LINES)
    });
    let [main, compose, status] = Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(compose_lines as u16 + 2),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let circles_width = (main.width / 4).clamp(18, 30);
    let [circles, timeline] =
        Layout::horizontal([Constraint::Length(circles_width), Constraint::Min(20)]).areas(main);
    render_circles(app, frame, circles);
    render_timeline(app, frame, timeline);
    render_compose(app, frame, compose);
    render_status(app, frame, status);
    match &app.overlay {
        Some(Overlay::Help { scroll }) => render_help(frame, frame.area(), *scroll),
        Some(Overlay::Thread(thread)) => render_thread(app, thread, frame, timeline),
        Some(Overlay::Digest {
            circle,
            text,
            scroll,
        }) => render_digest(frame, frame.area(), circle, text, *scroll),
        Some(Overlay::Stats { circle, stats }) => {
            render_stats(circle, stats.as_deref(), frame, timeline)
        }
        Some(Overlay::Norms {
            circle,
            scroll,
            loading,
        }) => render_norms(app, frame, circle, *scroll, *loading),
        Some(Overlay::Consent {
            circle,
            norms,
            scroll,
            ..
        }) => render_consent(frame, circle, norms, *scroll),
        Some(Overlay::Search(view)) => render_search(view, frame, timeline),
        None => {}
    }
}

fn pane(title: impl Into<Line<'static>>, focused: bool) -> Block<'static> {
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(title);
    if focused {
        block.border_style(Style::new().fg(ACCENT))
    } else {
        block.border_style(DIM)
    }
}

// ----- circles -----

fn render_circles(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Circles && app.overlay.is_none() && app.compose.is_none();
    let block = pane(" Circles ", focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines: Vec<Line> = Vec::new();
    if !app.listed {
        lines.push(Line::styled("loading…", DIM));
    } else if app.circles.is_empty() {
        for text in [
            "No circles yet.",
            "",
            "In a shell:",
            "circles create SLUG --name NAME",
            "or circles join SLUG",
        ] {
            for line in wrap(text, width) {
                lines.push(Line::styled(line, DIM));
            }
        }
    }
    let mut others = false;
    for (index, c) in app.circles.iter().enumerate() {
        if !c.is_member() && !others {
            others = true;
            if index == 0 {
                let text = "You are in no circle yet: pick one below and press J to join.";
                lines.extend(wrap(text, width).into_iter().map(|l| Line::styled(l, DIM)));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Other circles", DIM));
        }
        lines.push(circle_line(c, index == app.selected_circle, width));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn circle_line(c: &CircleState, selected: bool, width: usize) -> Line<'static> {
    let marker = if selected { "▶ " } else { "  " };
    let fresh = !c.timeline.fresh.is_empty();
    let count = match c.unread() {
        0 if fresh => "◆".to_string(),
        0 => String::new(),
        n if fresh => format!("◆{n}"),
        n => n.to_string(),
    };
    // Mentions of me, apart from the unread count: "@2 5".
    let mentions = match c.mentions() {
        0 => String::new(),
        n => format!("@{n} "),
    };
    let counts = width_of(&mentions) + width_of(&count);
    let room = width.saturating_sub(width_of(marker) + counts + 1);
    let slug = truncate(c.slug(), room);
    let pad = width.saturating_sub(width_of(marker) + width_of(&slug) + counts);
    let mut name = Style::new();
    if !c.is_member() {
        name = name.fg(Color::DarkGray);
    }
    if c.unread() > 0 {
        name = name.add_modifier(Modifier::BOLD);
    }
    if selected {
        name = name.fg(ACCENT).add_modifier(Modifier::BOLD);
    }
    let count_style = if fresh {
        Style::new().fg(MINE).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)
    };
    Line::from(vec![
        Span::styled(marker, Style::new().fg(ACCENT)),
        Span::styled(slug, name),
        Span::raw(" ".repeat(pad)),
        Span::styled(mentions, MENTION.add_modifier(Modifier::BOLD)),
        Span::styled(count, count_style),
    ])
}

// ----- timeline -----

fn render_timeline(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Timeline && app.overlay.is_none() && app.compose.is_none();
    let Some(c) = app.circle() else {
        let block = pane(" Timeline ", focused);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let text = if app.listed {
            "Join or create a circle to see its problems here."
        } else {
            "Connecting…"
        };
        frame.render_widget(Paragraph::new(Line::styled(text, DIM)), inner);
        return;
    };
    let title = Line::from(vec![
        Span::raw(" "),
        Span::styled(c.info.name.clone(), Style::new().bold()),
        Span::styled(format!(" ({}) ", c.info.slug), DIM),
    ]);
    let block = pane(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let [about, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Paragraph::new(about_line(c)), about);

    if !c.is_member() {
        let mut lines = vec![Line::raw("")];
        for line in wrap(&c.info.purpose, width) {
            lines.push(Line::raw(line));
        }
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::raw("You are not a member of this circle. Press "),
            Span::styled("J", Style::new().fg(ACCENT).bold()),
            Span::raw(" to join it."),
        ]));
        frame.render_widget(Paragraph::new(lines), body);
        return;
    }
    if !c.loaded && c.timeline.entries.is_empty() {
        frame.render_widget(Paragraph::new(Line::styled("loading…", DIM)), body);
        return;
    }
    let (lines, selected) = timeline_lines(app, c, width);
    if lines.is_empty() {
        let text = "Nothing here yet. Press p to bring a problem, n to say hello.";
        frame.render_widget(Paragraph::new(Line::styled(text, DIM)), body);
        return;
    }
    let offset = scroll_offset(lines.len(), selected, usize::from(body.height));
    frame.render_widget(
        Paragraph::new(lines).scroll((u16::try_from(offset).unwrap_or(u16::MAX), 0)),
        body,
    );
}

fn about_line(c: &CircleState) -> Line<'static> {
    let mut parts = vec![format!(
        "{}/{} members",
        c.info.member_count, c.info.max_members
    )];
    if !c.online.is_empty() {
        let online: Vec<&str> = c.online.iter().map(String::as_str).collect();
        parts.push(format!("online: {}", online.join(", ")));
    }
    if !c.info.purpose.is_empty() {
        parts.push(c.info.purpose.clone());
    }
    Line::styled(parts.join(" · "), DIM)
}

/// The first line of the view such that the selected range shows.
fn scroll_offset(total: usize, selected: Option<(usize, usize)>, height: usize) -> usize {
    if total <= height {
        return 0;
    }
    let bottom = total - height;
    match selected {
        None => bottom,
        Some((start, end)) => {
            let offset = end.saturating_sub(height).min(bottom);
            // A tall entry shows from its top.
            offset.min(start)
        }
    }
}

/// The timeline's lines, and the line range of the selected entry.
fn timeline_lines(
    app: &App,
    c: &CircleState,
    width: usize,
) -> (Vec<Line<'static>>, Option<(usize, usize)>) {
    let selected_id = c.selected_id();
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut selected = None;
    let mut previous_was_problem = false;
    for entry in c.timeline.entries.iter().filter(|e| e.visible()) {
        let is_problem = matches!(entry, Entry::Problem(_));
        if !lines.is_empty() && (is_problem || previous_was_problem) {
            lines.push(Line::raw(""));
        }
        previous_was_problem = is_problem;
        let is_selected = Some(entry.id()) == selected_id;
        let start = lines.len();
        let mut body = match entry {
            Entry::Problem(p) => problem_lines(app, c, p, width.saturating_sub(3)),
            Entry::Note(n) => {
                let mut spans = vec![
                    Span::styled(n.author.clone(), author_style(app, &n.author)),
                    Span::styled(format!(" {}", when(n.at)), DIM),
                ];
                if n.edited {
                    spans.push(Span::styled(" (edited)", DIM));
                }
                let mentioned = mentions_me(app, &n.author, [&n.body]);
                if mentioned {
                    spans.push(you_badge());
                }
                let mut out = vec![Line::from(spans)];
                for line in wrap(&n.body, width.saturating_sub(5)) {
                    out.push(Line::styled(format!("  {line}"), text_style(mentioned)));
                }
                out
            }
            Entry::Activity(a) => vec![Line::styled(format!("· {} · {}", a.text, when(a.at)), DIM)],
        };
        let new = entry.seq() > c.seen_upto
            && match entry {
                Entry::Problem(p) => p.author != app.me,
                Entry::Note(n) => n.author != app.me,
                Entry::Activity(_) => false,
            };
        for (i, line) in body.drain(..).enumerate() {
            let bar = if is_selected {
                Span::styled("▌", Style::new().fg(ACCENT))
            } else {
                Span::raw(" ")
            };
            let dot = if i == 0 && new {
                Span::styled("•", Style::new().fg(ACCENT).bold())
            } else {
                Span::raw(" ")
            };
            let mut spans = vec![bar, dot, Span::raw(" ")];
            spans.extend(line.spans);
            lines.push(Line::from(spans));
        }
        if is_selected {
            selected = Some((start, lines.len()));
        }
    }
    (lines, selected)
}

/// Whether a post by `author` with these texts mentions me (not my own).
fn mentions_me<'a>(app: &App, author: &str, texts: impl IntoIterator<Item = &'a String>) -> bool {
    author != app.me
        && texts
            .into_iter()
            .any(|text| circles_protocol::mention::mentions_handle(text, &app.me))
}

/// The mark on a post that mentions me.
fn you_badge() -> Span<'static> {
    Span::styled(
        " @you",
        MENTION.add_modifier(Modifier::BOLD | Modifier::REVERSED),
    )
}

/// A post's text, in the mention colour when it mentions me.
fn text_style(mentioned: bool) -> Style {
    if mentioned { MENTION } else { Style::new() }
}

fn author_style(app: &App, author: &str) -> Style {
    if author == app.me {
        Style::new().fg(Color::Green).bold()
    } else {
        Style::new().fg(ACCENT).bold()
    }
}

fn status_badge(p: &ProblemView) -> Span<'static> {
    badge(p.status == Status::Resolved)
}

fn badge(resolved: bool) -> Span<'static> {
    if resolved {
        Span::styled("✔ RESOLVED", Style::new().fg(Color::Green).bold())
    } else {
        Span::styled("OPEN", Style::new().fg(MINE).bold())
    }
}

fn problem_heading(p: &ProblemView) -> Line<'static> {
    let mut spans = vec![
        status_badge(p),
        Span::raw(" "),
        Span::styled(p.title.clone(), Style::new().bold()),
    ];
    for tag in &p.tags {
        spans.push(Span::styled(format!(" #{tag}"), DIM));
    }
    if p.edited {
        spans.push(Span::styled(" (edited)", DIM));
    }
    Line::from(spans)
}

/// "ana · 17:01 · 2 critiques · me too: cara".
fn problem_meta(app: &App, p: &ProblemView) -> Line<'static> {
    let mut spans = Vec::new();
    if !p.placeholder {
        spans.push(Span::styled(p.author.clone(), author_style(app, &p.author)));
        spans.push(Span::styled(format!(" · {}", when(p.at)), DIM));
        spans.push(Span::styled(" · ", DIM));
    }
    let critiques = p.live_critiques().count();
    let noun = if critiques == 1 {
        "critique"
    } else {
        "critiques"
    };
    spans.push(Span::styled(format!("{critiques} {noun}"), DIM));
    if !p.metoos.is_empty() {
        spans.push(Span::styled(" · ", DIM));
        spans.push(Span::styled(
            format!("+{} me too ({})", p.metoos.len(), p.metoos.join(", ")),
            Style::new().fg(Color::Magenta),
        ));
    }
    Line::from(spans)
}

fn problem_lines(app: &App, c: &CircleState, p: &ProblemView, width: usize) -> Vec<Line<'static>> {
    let mut heading = problem_heading(p);
    let mentioned = mentions_me(app, &p.author, [&p.title, &p.body]);
    if mentioned {
        heading.spans.push(you_badge());
    }
    let mut out = vec![heading, problem_meta(app, p)];
    let body = wrap(&p.body, width);
    for line in body.iter().take(BODY_LINES) {
        out.push(Line::styled(line.clone(), text_style(mentioned)));
    }
    if body.len() > BODY_LINES {
        out.push(Line::styled("… (Enter opens the thread)", DIM));
    }
    let critiques: Vec<_> = p.live_critiques().collect();
    for (i, critique) in critiques.iter().enumerate() {
        let last = i + 1 == critiques.len();
        let (branch, stem) = if last {
            ("  └─ ", "     ")
        } else {
            ("  ├─ ", "  │  ")
        };
        let fresh = c.timeline.fresh.contains(&critique.id);
        let mut head = vec![
            Span::styled(branch, DIM),
            Span::styled(critique.author.clone(), author_style(app, &critique.author)),
            Span::styled(format!(" · {}", when(critique.at)), DIM),
        ];
        critique_marks(p, critique, &mut head);
        if critique.seq > c.seen_upto && !fresh && critique.author != app.me {
            head.push(Span::styled(" •", Style::new().fg(ACCENT).bold()));
        }
        if p.is_helpful(&critique.id) {
            head.push(Span::styled(
                " ★ helped",
                Style::new().fg(Color::Green).bold(),
            ));
        }
        if critique.edited {
            head.push(Span::styled(" (edited)", DIM));
        }
        if fresh {
            head.push(Span::styled(
                " ◆ new on your problem",
                Style::new().fg(MINE).bold(),
            ));
        }
        let mentioned = mentions_me(app, &critique.author, [&critique.body]);
        if mentioned {
            head.push(you_badge());
        }
        out.push(Line::from(head));
        let text = wrap(&critique.body, width.saturating_sub(5));
        let text_style = if fresh {
            Style::new().fg(MINE)
        } else {
            text_style(mentioned)
        };
        for line in text.iter().take(CRITIQUE_LINES) {
            out.push(Line::from(vec![
                Span::styled(stem, DIM),
                Span::styled(line.clone(), text_style),
            ]));
        }
        if text.len() > CRITIQUE_LINES {
            out.push(Line::from(vec![
                Span::styled(stem, DIM),
                Span::styled("…", DIM),
            ]));
        }
    }
    if let Some(by) = &p.resolved_by {
        let helped = p.helpful.len();
        let text = match helped {
            0 => format!("resolved by {by}"),
            1 => format!("resolved by {by}: 1 critique helped"),
            n => format!("resolved by {by}: {n} critiques helped"),
        };
        out.push(Line::styled(text, Style::new().fg(Color::Green)));
        if let Some(summary) = &p.summary {
            for line in wrap(summary, width.saturating_sub(2))
                .iter()
                .take(BODY_LINES)
            {
                out.push(Line::styled(
                    format!("  {line}"),
                    Style::new().fg(Color::Green),
                ));
            }
        }
    }
    match p.reflections.len() {
        0 => {}
        1 => out.push(Line::styled("1 reflection (Enter opens the thread)", DIM)),
        n => out.push(Line::styled(
            format!("{n} reflections (Enter opens the thread)"),
            DIM,
        )),
    }
    out
}

/// A critique's stance and whether the problem's author accepted it.
fn critique_marks(p: &ProblemView, critique: &PostView, head: &mut Vec<Span<'static>>) {
    if let Some(stance) = critique.stance {
        head.push(Span::styled(format!(" · {}", stance.name()), DIM));
    }
    if p.is_accepted(&critique.id) {
        head.push(Span::styled(
            " ✓ accepted",
            Style::new().fg(Color::Green).bold(),
        ));
    }
}

// ----- the thread overlay -----

fn render_thread(app: &App, thread: &ThreadView, frame: &mut Frame, area: Rect) {
    let Some(c) = app.circle() else { return };
    let Some(p) = c.timeline.problem(&thread.problem) else {
        return;
    };
    frame.render_widget(Clear, area);
    let mine_open = p.author == app.me && p.status == Status::Open;
    let hint = if mine_open {
        " j/k select · a accept · Space mark helpful · r resolve · c critique · Esc close "
    } else {
        " j/k select · c critique · m me too · Esc close "
    };
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(ACCENT))
        .title(format!(" Thread in {} ", c.info.slug))
        .title_bottom(Line::styled(hint, DIM));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width).saturating_sub(1);

    let mut heading = problem_heading(p);
    let mentioned = mentions_me(app, &p.author, [&p.title, &p.body]);
    if mentioned {
        heading.spans.push(you_badge());
    }
    let mut lines = vec![heading, problem_meta(app, p), Line::raw("")];
    for line in wrap(&p.body, width) {
        lines.push(Line::styled(line, text_style(mentioned)));
    }
    let critiques: Vec<_> = p.live_critiques().collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        match critiques.len() {
            0 => "No critiques yet: press c to write the first.".to_string(),
            n => format!("Critiques ({n})"),
        },
        Style::new().bold(),
    ));
    let mut selected = None;
    for (i, critique) in critiques.iter().enumerate() {
        lines.push(Line::raw(""));
        let start = lines.len();
        let is_selected = thread.selected == Some(i);
        let bar = if is_selected {
            Span::styled("▌ ", Style::new().fg(ACCENT))
        } else {
            Span::raw("  ")
        };
        let mut head = vec![bar.clone()];
        if mine_open {
            let marked = thread.helpful.contains(&critique.id);
            head.push(Span::styled(
                if marked { "[✔] " } else { "[ ] " },
                Style::new().fg(Color::Green),
            ));
        }
        head.push(Span::styled(
            critique.author.clone(),
            author_style(app, &critique.author),
        ));
        head.push(Span::styled(format!(" · {}", when(critique.at)), DIM));
        critique_marks(p, critique, &mut head);
        if p.is_helpful(&critique.id) {
            head.push(Span::styled(
                " ★ helped",
                Style::new().fg(Color::Green).bold(),
            ));
        }
        let mentioned = mentions_me(app, &critique.author, [&critique.body]);
        if mentioned {
            head.push(you_badge());
        }
        lines.push(Line::from(head));
        for line in wrap(&critique.body, width.saturating_sub(4)) {
            lines.push(Line::from(vec![
                bar.clone(),
                Span::styled(format!("  {line}"), text_style(mentioned)),
            ]));
        }
        if is_selected {
            selected = Some((start, lines.len()));
        }
    }
    if let Some(by) = &p.resolved_by {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("Resolved by {by}."),
            Style::new().fg(Color::Green).bold(),
        ));
        if let Some(summary) = &p.summary {
            for line in wrap(summary, width.saturating_sub(2)) {
                lines.push(Line::styled(
                    format!("  {line}"),
                    Style::new().fg(Color::Green),
                ));
            }
        }
    }
    if !p.reflections.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("Reflections ({})", p.reflections.len()),
            Style::new().bold(),
        ));
    }
    for r in &p.reflections {
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(r.author.clone(), author_style(app, &r.author)),
            Span::styled(
                format!(" · {} · usefulness {}/5", when(r.at), r.usefulness),
                DIM,
            ),
        ]));
        for line in wrap(&r.text, width.saturating_sub(4)) {
            lines.push(Line::raw(format!("    {line}")));
        }
    }
    let height = usize::from(inner.height);
    let offset = match selected {
        None => 0,
        some => scroll_offset(lines.len(), some, height),
    };
    frame.render_widget(
        Paragraph::new(lines).scroll((u16::try_from(offset).unwrap_or(u16::MAX), 0)),
        inner,
    );
}

// ----- stats -----

fn render_stats(
    circle: &str,
    stats: Option<&circles_protocol::model::Stats>,
    frame: &mut Frame,
    area: Rect,
) {
    let lines: Vec<Line> = match stats {
        None => vec![Line::styled("Loading…", DIM)],
        Some(stats) => crate::output::stats_lines(circle, stats)
            .into_iter()
            .map(Line::raw)
            .collect(),
    };
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(ACCENT))
        .title(format!(" Stats of {circle} "))
        .title_bottom(Line::styled(" any key closes ", DIM));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

// ----- search -----

/// The matching words of a snippet.
const HIT: Style = Style::new().fg(MINE).add_modifier(Modifier::BOLD);
/// Lines of snippet shown under each hit.
const SNIPPET_LINES: usize = 2;

/// `/`: the hits, three or four lines each, the selected one marked.
fn render_search(view: &SearchView, frame: &mut Frame, area: Rect) {
    let width = usize::from(area.width).saturating_sub(4);
    let title = match (&view.similar_to, &view.circle) {
        (Some(_), _) => " Similar problems in other circles ".to_owned(),
        (None, Some(circle)) => format!(" Search “{}” in {circle} ", view.query),
        (None, None) => format!(" Search “{}” in every circle ", view.query),
    };
    let mut lines = Vec::new();
    if let Some(title) = &view.similar_to {
        lines.push(Line::styled(
            format!("Someone may have had “{title}” already:"),
            Style::new().italic(),
        ));
        lines.push(Line::raw(""));
    }
    let mut selected = None;
    match &view.hits {
        None => lines.push(Line::styled("Searching…", DIM)),
        Some(Err(message)) => lines.push(Line::styled(
            message.clone(),
            Style::new().fg(Color::LightRed),
        )),
        Some(Ok(hits)) if hits.is_empty() => {
            lines.push(Line::raw("Nothing found. / searches again."))
        }
        Some(Ok(hits)) => {
            for (i, hit) in hits.iter().enumerate() {
                let start = lines.len();
                lines.extend(hit_lines(hit, i == view.selected, width));
                if i == view.selected {
                    selected = Some((start, lines.len()));
                }
            }
        }
    }
    let height = usize::from(area.height).saturating_sub(2);
    let scroll = scroll_offset(lines.len(), selected, height);
    let keys = Some("j/k choose · Enter open · / search again · Esc close");
    render_box(frame, area, &title, lines, area.width, scroll, keys);
}

/// "cataloguers · critique · OPEN  Title", the snippet, "ben · 17:01".
fn hit_lines(hit: &SearchHit, selected: bool, width: usize) -> Vec<Line<'static>> {
    let kind = match hit.kind {
        HitKind::Problem => "problem",
        HitKind::Critique => "critique on",
    };
    let marker = if selected {
        Span::styled("▶ ", Style::new().fg(ACCENT).bold())
    } else {
        Span::raw("  ")
    };
    let title_style = if selected {
        Style::new().bold().fg(ACCENT)
    } else {
        Style::new().bold()
    };
    let mut lines = vec![Line::from(vec![
        marker,
        Span::styled(hit.circle.clone(), Style::new().fg(ACCENT)),
        Span::styled(format!(" · {kind} · "), DIM),
        badge(hit.status == ProblemStatus::Resolved),
        Span::raw(" "),
        Span::styled(truncate(&hit.title, width.saturating_sub(30)), title_style),
    ])];
    for spans in snippet_lines(&hit.snippet, width.saturating_sub(2)) {
        let mut line = vec![Span::raw("  ")];
        line.extend(spans);
        lines.push(Line::from(line));
    }
    lines.push(Line::styled(
        format!("  {} · {}", hit.author, when(hit.at)),
        DIM,
    ));
    lines.push(Line::raw(""));
    lines
}

/// A snippet word-wrapped to `width`, at most [`SNIPPET_LINES`] lines,
/// the matching words highlighted.
fn snippet_lines(snippet: &[SnippetPart], width: usize) -> Vec<Vec<Span<'static>>> {
    // Words, each made of (text, hit) pieces: "e-book" may be three.
    let mut words: Vec<Vec<(String, bool)>> = vec![Vec::new()];
    for part in snippet {
        for (i, piece) in part.text.split(char::is_whitespace).enumerate() {
            if i > 0 {
                words.push(Vec::new());
            }
            if !piece.is_empty() {
                if let Some(word) = words.last_mut() {
                    word.push((piece.to_owned(), part.hit));
                }
            }
        }
    }
    let mut lines: Vec<Vec<Span<'static>>> = Vec::new();
    let mut used = 0;
    for word in words.into_iter().filter(|w| !w.is_empty()) {
        let len: usize = word.iter().map(|(t, _)| width_of(t)).sum();
        if lines.is_empty() || used + 1 + len > width {
            if lines.len() == SNIPPET_LINES {
                if let Some(last) = lines.last_mut() {
                    last.push(Span::styled("…", DIM));
                }
                break;
            }
            lines.push(Vec::new());
            used = 0;
        } else if let Some(line) = lines.last_mut() {
            line.push(Span::raw(" "));
            used += 1;
        }
        used += len;
        if let Some(line) = lines.last_mut() {
            for (text, hit) in word {
                line.push(if hit {
                    Span::styled(text, HIT)
                } else {
                    Span::raw(text)
                });
            }
        }
    }
    lines
}

// ----- help -----

fn render_help(frame: &mut Frame, area: Rect, scroll: usize) {
    let keys_width = keys::HELP
        .iter()
        .map(|(k, _)| width_of(k))
        .max()
        .unwrap_or(0);
    // As wide as the longest line needs (within the screen): a cut line
    // hides what the key does.
    let needed = keys::HELP
        .iter()
        .map(|(k, what)| keys_width + width_of(what) + if k.is_empty() { 0 } else { 4 })
        .max()
        .unwrap_or(0)
        + 2;
    let width = u16::try_from(needed)
        .unwrap_or(u16::MAX)
        .max(78)
        .min(area.width);
    let mut lines: Vec<Line> = wrap(keys::ABOUT, usize::from(width).saturating_sub(2))
        .into_iter()
        .map(|l| Line::styled(l, Style::new().italic()))
        .collect();
    for (keys, what) in keys::HELP {
        if keys.is_empty() {
            lines.push(Line::styled(*what, Style::new().fg(ACCENT).bold()));
        } else {
            let pad = keys_width.saturating_sub(width_of(keys));
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  {keys}{}  ", " ".repeat(pad)),
                    Style::new().bold(),
                ),
                Span::raw(*what),
            ]));
        }
    }
    render_box(frame, area, " Keys ", lines, width, scroll, None);
}

/// A digest (`D`), as the CLI prints it.
fn render_digest(frame: &mut Frame, area: Rect, circle: &str, text: &str, scroll: usize) {
    let width = 90.min(area.width);
    let lines: Vec<Line> = text
        .lines()
        .map(|l| {
            if l.starts_with("  ") || l.is_empty() {
                Line::raw(l.to_owned())
            } else {
                Line::styled(l.to_owned(), Style::new().fg(ACCENT).bold())
            }
        })
        .collect();
    render_box(
        frame,
        area,
        &format!(" Digest of {circle} "),
        lines,
        width,
        scroll,
        None,
    );
}

/// The norms: who set which version when, then the text.
fn norms_lines(norms: &Norms, width: u16) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        format!(
            "Version {}, set by {} on {}",
            norms.version,
            norms.set_by,
            crate::output::time(norms.at)
        ),
        DIM,
    )];
    lines.push(Line::raw(""));
    lines.extend(
        wrap(&norms.text, usize::from(width).saturating_sub(2))
            .into_iter()
            .map(Line::raw),
    );
    lines
}

/// `N`: the circle's norms; facilitators may write new ones.
fn render_norms(app: &App, frame: &mut Frame, circle: &str, scroll: usize, loading: bool) {
    let width = 80.min(frame.area().width);
    let c = app.circles.iter().find(|c| c.slug() == circle);
    let facilitator = c.is_some_and(|c| c.info.role == Some(Role::Facilitator));
    let lines = match c.and_then(|c| c.norms.as_ref()) {
        Some(norms) => norms_lines(norms, width),
        None if loading => vec![Line::styled("Loading…", DIM)],
        None if facilitator => vec![Line::raw(
            "No norms yet: e writes them (how members agree to work together).",
        )],
        None => vec![Line::raw("No norms yet.")],
    };
    let keys = facilitator.then_some("e write new norms · any other key closes");
    let title = format!(" The norms of {circle} ");
    render_box(frame, frame.area(), &title, lines, width, scroll, keys);
}

/// A join or post refused until the norms are accepted: the norms, and
/// the question.
fn render_consent(frame: &mut Frame, circle: &str, norms: &Norms, scroll: usize) {
    let width = 80.min(frame.area().width);
    let mut lines = vec![Line::styled(
        format!("{circle} asks its members to accept its norms before they post or join:"),
        Style::new().bold(),
    )];
    lines.push(Line::raw(""));
    lines.extend(norms_lines(norms, width));
    let title = format!(" The norms of {circle} ");
    let keys = Some("y accept and send · n cancel");
    render_box(frame, frame.area(), &title, lines, width, scroll, keys);
}

/// `lines` in a centred double-bordered box, scrolled; `keys` says what
/// the keys do (default: any key closes it).
fn render_box(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line>,
    width: u16,
    scroll: usize,
    keys: Option<&str>,
) {
    let height = (lines.len() as u16 + 2).min(area.height);
    let area = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let fits = lines.len() + 2 <= usize::from(height);
    let scroll = scroll.min((lines.len() + 2).saturating_sub(usize::from(height)));
    let hint = match (fits, keys) {
        (true, None) => " any key closes ".to_owned(),
        (false, None) => " j/k scroll · any other key closes ".to_owned(),
        (true, Some(keys)) => format!(" {keys} "),
        (false, Some(keys)) => format!(" j/k scroll · {keys} "),
    };
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(ACCENT))
        .title(title.to_owned())
        .title_bottom(Line::styled(hint, DIM));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((u16::try_from(scroll).unwrap_or(0), 0)),
        area,
    );
}

// ----- compose and status -----

fn render_compose(app: &App, frame: &mut Frame, area: Rect) {
    let Some(compose) = &app.compose else {
        let block = pane(" Write ", false);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let hint = match app.overlay {
            Some(crate::tui::app::Overlay::Thread(_)) => keys::THREAD_HINT,
            _ => keys::HINT,
        };
        frame.render_widget(Paragraph::new(Line::styled(hint, DIM)), inner);
        return;
    };
    let hint = if matches!(compose.kind, ComposeKind::Search { .. }) {
        " Enter search · Tab this circle / every circle · Esc cancel "
    } else if compose.multiline() {
        " Enter send · Alt-Enter new line · Ctrl-E $EDITOR · Esc cancel "
    } else {
        " Enter next · Esc cancel "
    };
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(ACCENT))
        .title(Line::styled(
            format!(" {} ", compose.prompt()),
            Style::new().bold(),
        ))
        .title_bottom(Line::styled(hint, DIM));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let all: Vec<&str> = compose.text.split('\n').collect();
    let (line, column) = compose.cursor_position();
    let height = usize::from(inner.height).max(1);
    let first = (line + 1).saturating_sub(height);
    let lines: Vec<Line> = all
        .iter()
        .skip(first)
        .map(|l| Line::raw(l.to_string()))
        .collect();
    let cursor_text: String = all
        .get(line)
        .map(|l| l.chars().take(column).collect())
        .unwrap_or_default();
    let x = width_of(&cursor_text);
    let scroll_x = x.saturating_sub(usize::from(inner.width).saturating_sub(1));
    frame.render_widget(
        Paragraph::new(lines).scroll((0, u16::try_from(scroll_x).unwrap_or(0))),
        inner,
    );
    frame.set_cursor_position(Position {
        x: inner.x + u16::try_from(x - scroll_x).unwrap_or(0),
        y: inner.y + u16::try_from(line - first).unwrap_or(0),
    });
}

fn render_status(app: &App, frame: &mut Frame, area: Rect) {
    let (dot, state) = match &app.conn {
        ConnState::Connecting => (
            Span::styled("◌", Style::new().fg(MINE)),
            "connecting…".into(),
        ),
        ConnState::Connected => (
            Span::styled("●", Style::new().fg(Color::Green)),
            "connected".to_string(),
        ),
        ConnState::Reconnecting {
            reason,
            retry_in,
            since,
        } => {
            let left = retry_in.saturating_sub(Instant::now().duration_since(*since));
            let secs = left.as_millis().div_ceil(1000);
            (
                Span::styled("○", Style::new().fg(Color::Red)),
                format!("reconnecting in {secs}s ({reason})"),
            )
        }
    };
    let mut spans = vec![
        Span::raw(" "),
        dot,
        Span::raw(format!(" {state} · ")),
        Span::styled(app.me.clone(), Style::new().bold()),
        Span::raw(format!(" @ {}", app.server)),
    ];
    if let Some(flash) = &app.flash {
        spans.push(Span::raw("  │  "));
        let style = if flash.error {
            Style::new().fg(Color::LightRed).bold()
        } else {
            Style::new().fg(MINE)
        };
        spans.push(Span::styled(flash.text.clone(), style));
    }
    let line = Line::from(spans);
    let used = line.width();
    let help = " ? help ";
    let bar = Style::new().bg(Color::Indexed(236)).fg(Color::Gray);
    frame.render_widget(Paragraph::new(line).style(bar), area);
    if used + width_of(help) < usize::from(area.width) {
        let help_area = Rect {
            x: area.x + area.width - width_of(help) as u16,
            width: width_of(help) as u16,
            ..area
        };
        frame.render_widget(Paragraph::new(help).style(bar), help_area);
    }
}

// ----- text helpers -----

fn width_of(text: &str) -> usize {
    Span::raw(text).width()
}

fn truncate(text: &str, width: usize) -> String {
    if width_of(text) <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        if width_of(&out) + width_of(c.encode_utf8(&mut [0; 4])) + 1 > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// Word-wraps `text` to `width` columns, keeping its own line breaks.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    for paragraph in text.trim_end().split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let mut word = word.to_owned();
            // Words longer than a line are cut.
            while width_of(&word) > width {
                if !line.is_empty() {
                    out.push(std::mem::take(&mut line));
                }
                let mut head = String::new();
                let mut split = word.len();
                for (i, c) in word.char_indices() {
                    if width_of(&head) + width_of(c.encode_utf8(&mut [0; 4])) > width {
                        split = i;
                        break;
                    }
                    head.push(c);
                }
                out.push(head);
                word = word[split..].to_owned();
            }
            if line.is_empty() {
                line = word;
            } else if width_of(&line) + 1 + width_of(&word) <= width {
                line.push(' ');
                line.push_str(&word);
            } else {
                out.push(std::mem::replace(&mut line, word));
            }
        }
        out.push(line);
    }
    if out.iter().all(String::is_empty) {
        out.clear();
    }
    out
}

/// `17:01` today, `Nov 29 17:01` before.
fn when(at: Millis) -> String {
    let at = i64::try_from(at).unwrap_or(i64::MAX);
    let Some(utc) = chrono::DateTime::from_timestamp_millis(at) else {
        return "?".into();
    };
    let local = utc.with_timezone(&chrono::Local);
    if local.date_naive() == chrono::Local::now().date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%b %d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use circles_protocol::EventBody;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::tui::app::Event;
    use crate::tui::app::tests::{ch, connected_app, key, live, typed};
    use crate::tui::net::NetMsg;
    use crate::tui::timeline::tests::{critique, event, id, note};
    use crossterm::event::KeyCode;

    fn screen(app: &App) -> Vec<String> {
        let (width, height) = (110, 32);
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        terminal.draw(|f| render(app, f)).expect("draw");
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect())
            .collect()
    }

    fn row<'a>(screen: &'a [String], text: &str) -> (usize, &'a String) {
        screen
            .iter()
            .enumerate()
            .find(|(_, line)| line.contains(text))
            .unwrap_or_else(|| panic!("{text:?} not on screen:\n{}", screen.join("\n")))
    }

    #[test]
    fn the_stats_view_shows_the_table_and_the_chart() {
        let mut app = connected_app();
        app.handle_event(ch('S'));
        let s = screen(&app);
        row(&s, "Stats of cataloguers");
        row(&s, "Loading…");
        app.handle_event(Event::Net(NetMsg::Stats {
            circle: "cataloguers".into(),
            stats: crate::tui::app::tests::some_stats(),
        }));
        let s = screen(&app);
        let (_, raised) = row(&s, "problems raised");
        assert!(raised.contains(" 3"), "{raised}");
        let (_, first) = row(&s, "median time to first critique");
        assert!(first.contains("1 h 30 min"), "{first}");
        let (_, week) = row(&s, "████████████████████   3  ███████ ");
        assert!(week.contains("  1"), "{week}");
        row(&s, "any key closes");
    }

    #[test]
    fn critiques_are_threaded_beneath_their_problem() {
        let mut app = connected_app();
        app.handle_event(live(
            "cataloguers",
            critique(3, "ben", 2, "A banner helped us"),
        ));
        app.handle_event(live(
            "cataloguers",
            critique(4, "cara", 2, "Check subject headings"),
        ));
        app.handle_event(live("cataloguers", note(5, "dan", "Meetup on Thursday?")));
        let s = screen(&app);
        let (problem, line) = row(&s, "OPEN Patrons cannot find e-books");
        let (meta, _) = row(&s, "ana · ");
        let (first, first_line) = row(&s, "├─ ben");
        let (first_body, _) = row(&s, "│  A banner helped us");
        let (second, _) = row(&s, "└─ cara");
        let (note_row, _) = row(&s, "Meetup on Thursday?");
        assert!(problem < meta && meta < first && first < first_body && first_body < second);
        assert!(second < note_row);
        assert!(line.contains("OPEN"));
        assert!(s[meta].contains("2 critiques"));
        // New critiques on my own problem stand out.
        assert!(first_line.contains("◆ new on your problem"), "{first_line}");
        // Branches sit to the right of the problem's text.
        let col = |l: &str, t: &str| l[..l.find(t).expect("found")].chars().count();
        assert!(
            col(first_line, "├─") > col(line, "OPEN"),
            "{}",
            s.join("\n")
        );
    }

    #[test]
    fn the_circle_list_shows_unread_counts() {
        let app = connected_app();
        let s = screen(&app);
        let (_, reading) = row(&s, " reading ");
        assert!(reading.contains(" 3│"), "{reading}");
        let (_, cataloguers) = row(&s, "▶ cataloguers");
        let left: String = cataloguers.chars().take(26).collect();
        assert!(!left.chars().any(|c| c.is_ascii_digit()), "{left}");
        row(&s, "Other circles");
        row(&s, "garden");
    }

    #[test]
    fn the_status_bar_shows_server_handle_and_connection() {
        let mut app = connected_app();
        let s = screen(&app);
        let last = s.last().expect("a last row");
        assert!(
            last.contains("● connected · ana @ ws://127.0.0.1:7878/v1/ws"),
            "{last}"
        );
        assert!(last.contains("? help"), "{last}");
        app.handle_event(Event::Net(NetMsg::Disconnected {
            reason: "cannot reach the server".into(),
            retry_in: Duration::from_secs(4),
        }));
        let s = screen(&app);
        let last = s.last().expect("a last row");
        assert!(
            last.contains("reconnecting in 4s (cannot reach the server)"),
            "{last}"
        );
    }

    #[test]
    fn resolved_problems_show_what_helped() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", critique(3, "ben", 2, "A banner")));
        app.handle_event(live("cataloguers", critique(4, "cara", 2, "Headings")));
        app.handle_event(live(
            "cataloguers",
            event(
                5,
                "ana",
                EventBody::Resolve {
                    problem: id(2),
                    helpful: vec![id(4)],
                    summary: Some("Restored the headings.".into()),
                },
            ),
        ));
        app.handle_event(live(
            "cataloguers",
            event(6, "dan", EventBody::Metoo { problem: id(2) }),
        ));
        app.handle_event(live(
            "cataloguers",
            event(
                7,
                "ana",
                EventBody::Accept {
                    problem: id(2),
                    critique: id(3),
                },
            ),
        ));
        app.handle_event(live(
            "cataloguers",
            event(
                8,
                "dan",
                EventBody::Reflect {
                    problem: id(2),
                    text: "Checking ours tomorrow.".into(),
                    usefulness: 5,
                },
            ),
        ));
        let s = screen(&app);
        row(&s, "✔ RESOLVED Patrons cannot find e-books");
        let (_, helped) = row(&s, "★ helped");
        assert!(helped.contains("cara"), "{helped}");
        let (_, accepted) = row(&s, "✓ accepted");
        assert!(
            accepted.contains("ben") && accepted.contains("suggestion"),
            "{accepted}"
        );
        row(&s, "resolved by ana: 1 critique helped");
        row(&s, "Restored the headings.");
        row(&s, "1 reflection");
        row(&s, "+1 me too (dan)");
        // The thread shows the reflection in full.
        app.handle_event(key(KeyCode::Enter));
        let s = screen(&app);
        row(&s, "Reflections (1)");
        let (_, who) = row(&s, "usefulness 5/5");
        assert!(who.contains("dan"), "{who}");
        row(&s, "Checking ours tomorrow.");
    }

    #[test]
    fn a_refusal_for_norms_shows_them_and_asks() {
        let mut app = connected_app();
        let note = crate::tui::net::Request::Post(crate::tui::net::Post::Note {
            circle: "cataloguers".into(),
            body: "hi".into(),
        });
        app.handle_event(Event::Net(NetMsg::NormsRefused {
            circle: "cataloguers".into(),
            norms: Norms {
                version: 2,
                text: "Critique the plan, not the person.".into(),
                set_by: "ana".into(),
                at: 0,
            },
            request: Box::new(note),
        }));
        let s = screen(&app);
        row(&s, "The norms of cataloguers");
        row(&s, "Version 2, set by ana on ");
        row(&s, "Critique the plan, not the person.");
        row(&s, "y accept and send · n cancel");
    }

    #[test]
    fn the_help_overlay_lists_the_keys() {
        let mut app = connected_app();
        app.handle_event(ch('?'));
        let s = screen(&app);
        row(&s, " Keys ");
        row(&s, "critique it");
        row(&s, "Alt-Enter  Ctrl-J");
        // As wide as its longest line needs, up to the screen's width.
        let (_, top) = row(&s, " Keys ");
        assert_eq!(top.trim_end().chars().count(), 110, "{top}");
    }

    #[test]
    fn the_thread_shows_every_critique_in_full() {
        let mut app = connected_app();
        let long = "word ".repeat(60);
        app.handle_event(live("cataloguers", critique(3, "ben", 2, &long)));
        app.handle_event(key(KeyCode::Enter));
        let s = screen(&app);
        row(&s, " Thread ");
        row(&s, "Critiques (1)");
        row(&s, "[ ] ben");
        let words: usize = s.iter().map(|l| l.matches("word").count()).sum();
        assert_eq!(words, 60);
    }

    #[test]
    fn the_compose_box_says_what_is_being_written() {
        let mut app = connected_app();
        app.handle_event(ch('c'));
        typed(&mut app, "Try a banner");
        let s = screen(&app);
        row(&s, "Critique on “Patrons cannot find e-books”");
        row(&s, "Try a banner");
        row(&s, "Enter send · Alt-Enter new line");
    }

    #[test]
    fn wrap_keeps_words_and_line_breaks() {
        assert_eq!(wrap("one two three", 8), vec!["one two", "three"]);
        assert_eq!(wrap("a\n\nb", 10), vec!["a", "", "b"]);
        assert_eq!(wrap("abcdefghijkl", 8), vec!["abcdefgh", "ijkl"]);
        assert!(wrap("", 10).is_empty());
    }

    #[test]
    fn mentions_have_their_own_count_and_are_highlighted() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", note(3, "ben", "thanks @ana!")));
        app.handle_event(live("cataloguers", note(4, "ben", "mail ana@example.org")));
        app.handle_event(live("cataloguers", note(5, "ana", "me, @ana")));
        let reading = app
            .circles
            .iter_mut()
            .find(|c| c.slug() == "reading")
            .expect("reading");
        reading.mention_seqs.insert(5);
        let s = screen(&app);
        let (_, line) = row(&s, " reading ");
        assert!(line.contains(" @1 3│"), "{line}");
        let (_, thanks) = row(&s, "ben ");
        assert!(thanks.contains("@you"), "{}", s.join("\n"));
        let mentioned: Vec<&String> = s.iter().filter(|l| l.contains("@you")).collect();
        assert_eq!(
            mentioned.len(),
            1,
            "only ben's note mentions me: {mentioned:?}"
        );
        // In a thread too.
        app.handle_event(live("cataloguers", critique(6, "ben", 2, "@Ana: a banner")));
        app.handle_event(key(KeyCode::Char('g')));
        app.handle_event(key(KeyCode::Enter));
        let s = screen(&app);
        row(&s, " Thread ");
        let (_, head) = row(&s, "[ ] ben");
        assert!(head.contains("@you"), "{}", s.join("\n"));
    }

    #[test]
    fn search_results_show_where_and_highlight_the_matching_words() {
        use circles_protocol::model::HitKind;
        let mut app = connected_app();
        app.handle_event(ch('/'));
        let s = screen(&app);
        row(
            &s,
            "Search every circle you may read (Tab: cataloguers only)",
        );
        typed(&mut app, "banner");
        app.handle_event(key(KeyCode::Enter));
        row(&screen(&app), "Searching…");
        let hit = crate::tui::app::tests::hit("garden", HitKind::Critique, 3, 2);
        app.handle_event(Event::Net(NetMsg::Found {
            query: "banner".into(),
            circle: None,
            hits: Ok(vec![hit]),
        }));
        let mut terminal = Terminal::new(TestBackend::new(110, 32)).expect("terminal");
        terminal.draw(|f| render(&app, f)).expect("draw");
        let buffer = terminal.backend().buffer();
        let s: Vec<String> = (0..32)
            .map(|y| (0..110).map(|x| buffer[(x, y)].symbol()).collect())
            .collect();
        row(&s, "Search “banner” in every circle");
        let (_, heading) = row(
            &s,
            "garden · critique on · OPEN Patrons cannot find e-books",
        );
        assert!(heading.contains("▶"), "{heading}");
        let (y, snippet) = row(&s, "A banner on the old page helped");
        let x = snippet.find("banner").map(|b| snippet[..b].chars().count());
        let style = buffer[(x.expect("banner") as u16, y as u16)].style();
        assert!(style.add_modifier.contains(Modifier::BOLD), "{style:?}");
        let x = snippet.find("A ").map(|b| snippet[..b].chars().count());
        let plain = buffer[(x.expect("A") as u16, y as u16)].style();
        assert!(!plain.add_modifier.contains(Modifier::BOLD), "{plain:?}");
    }
}
