//! The full-screen client's state and how it changes: [`App::handle_event`]
//! takes a key, a message from the network or a tick, updates the state and
//! returns the [`Action`]s to carry out. No I/O happens here, so everything
//! is testable without a terminal or a server.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use circles_protocol::model::{CircleInfo, Member, Norms, Role, SearchHit, Stance, Stats};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use uuid::Uuid;

use super::compose::{Compose, ComposeKind};
use super::net::{NetMsg, Post, Request};
use super::timeline::{Applied, Entry, ProblemView, Status, Timeline};
use crate::client::Notice;

/// How long a message stays in the status bar, in ticks (seconds).
const FLASH_TICKS: u64 = 6;
/// Entries moved by PageUp / PageDown.
const PAGE: isize = 5;

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Paste(String),
    Net(NetMsg),
    /// Once a second: sends read markers, ages messages.
    Tick,
    /// The text back from `$EDITOR`, or why it failed.
    Edited(Result<String, String>),
}

/// What the app asks the outside world to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Net(Request),
    /// Suspend the screen and edit this text in `$EDITOR`.
    OpenEditor(String),
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Circles,
    Timeline,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConnState {
    Connecting,
    Connected,
    Reconnecting {
        reason: String,
        retry_in: Duration,
        since: Instant,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    /// The key list, scrolled down this many lines.
    Help {
        scroll: usize,
    },
    Thread(ThreadView),
    /// A circle's digest (`D`), as the CLI prints it, scrolled down this many lines.
    Digest {
        circle: String,
        text: String,
        scroll: usize,
    },
    /// `S`: the open circle's stats (`None` until they arrive).
    Stats {
        circle: String,
        stats: Option<Box<Stats>>,
    },
    /// `N`: the circle's norms (`loading` until `circle.members` answers);
    /// `e` lets facilitators write new ones.
    Norms {
        circle: String,
        scroll: usize,
        loading: bool,
    },
    /// A join or post was refused until the circle's norms are accepted:
    /// `y` accepts them and sends `request` again, `n` cancels.
    Consent {
        circle: String,
        norms: Norms,
        request: Box<Request>,
        scroll: usize,
    },
    /// `/`: search results, or similar problems after posting one.
    Search(SearchView),
}

/// Search hits over the timeline: j/k choose one, Enter opens its thread.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchView {
    /// What was searched for (empty for similar problems).
    pub query: String,
    /// Searched in this circle only; `None`: in every circle I may read.
    pub circle: Option<String>,
    /// Set for the similar problems after posting the one with this title.
    pub similar_to: Option<String>,
    /// `None` while searching; an error says why nothing was found.
    pub hits: Option<Result<Vec<SearchHit>, String>>,
    pub selected: usize,
}

impl SearchView {
    /// The hits found so far (none while searching or after an error).
    pub fn found(&self) -> &[SearchHit] {
        match &self.hits {
            Some(Ok(hits)) => hits,
            _ => &[],
        }
    }
}

/// A problem's thread, open over the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadView {
    pub problem: Uuid,
    /// The selected critique (an index among the live ones), if any.
    pub selected: Option<usize>,
    /// Critiques marked as helpful, for resolving.
    pub helpful: Vec<Uuid>,
    /// `r` was pressed once: resolving cannot be undone, so it asks first.
    pub confirm_resolve: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
    until: u64,
}

/// One circle as the client knows it.
#[derive(Clone, Debug)]
pub struct CircleState {
    pub info: CircleInfo,
    pub timeline: Timeline,
    /// History has been loaded into the timeline.
    pub loaded: bool,
    /// The connection generation this circle was last (re)subscribed on.
    following: u64,
    /// Waiting for a resubscription after a gap.
    resyncing: bool,
    /// My read marker, as far as this client knows.
    pub read: u64,
    /// The marker the server has been told.
    read_sent: u64,
    /// Events after this seq were not seen before the circle was opened.
    pub seen_upto: u64,
    pub online: BTreeSet<String>,
    /// The selected entry; `None` follows the newest.
    pub selected: Option<Uuid>,
    /// Seqs of the mentions of me that arrived since the list (`mention`).
    pub mention_seqs: BTreeSet<u64>,
    /// The circle's current norms, once known (members' list, `norms` events).
    pub norms: Option<Norms>,
}

impl CircleState {
    fn new(info: CircleInfo) -> CircleState {
        CircleState {
            read: info.read,
            read_sent: info.read,
            seen_upto: info.read,
            info,
            timeline: Timeline::default(),
            loaded: false,
            following: 0,
            resyncing: false,
            online: BTreeSet::new(),
            selected: None,
            mention_seqs: BTreeSet::new(),
            norms: None,
        }
    }

    pub fn slug(&self) -> &str {
        &self.info.slug
    }

    pub fn is_member(&self) -> bool {
        self.info.role.is_some()
    }

    /// The latest seq known.
    pub fn head(&self) -> u64 {
        self.info.head.max(self.timeline.last_seq)
    }

    pub fn unread(&self) -> u64 {
        if self.is_member() {
            self.head().saturating_sub(self.read)
        } else {
            0
        }
    }

    /// Unread mentions of me: the server's count while my marker has not
    /// moved past what it counted from, plus those that arrived since.
    pub fn mentions(&self) -> u64 {
        if !self.is_member() || self.read >= self.head() {
            return 0;
        }
        let listed = if self.read <= self.info.read {
            self.info.mentions
        } else {
            0
        };
        let after = self.read.max(self.info.head);
        listed + self.mention_seqs.range(after + 1..).count() as u64
    }

    /// Ids of the entries the cursor stops on, in order.
    fn selectable(&self) -> Vec<Uuid> {
        self.timeline
            .entries
            .iter()
            .filter(|e| e.selectable())
            .map(Entry::id)
            .collect()
    }

    /// The selected entry's id: the chosen one, else the newest.
    pub fn selected_id(&self) -> Option<Uuid> {
        let ids = self.selectable();
        match self.selected {
            Some(id) if ids.contains(&id) => Some(id),
            _ => ids.last().copied(),
        }
    }

    pub fn selected_problem(&self) -> Option<&ProblemView> {
        let id = self.selected_id()?;
        self.timeline.problem(&id)
    }
}

/// The whole client state.
#[derive(Debug)]
pub struct App {
    pub server: String,
    pub me: String,
    pub conn: ConnState,
    /// My circles (by slug), then the public ones I have not joined.
    pub circles: Vec<CircleState>,
    pub selected_circle: usize,
    pub focus: Focus,
    pub compose: Option<Compose>,
    pub overlay: Option<Overlay>,
    pub flash: Option<Flash>,
    /// Set when the app must end with this sign-in error.
    pub signed_out: Option<String>,
    /// Whether a circle list has arrived yet.
    pub listed: bool,
    /// A problem to open once its circle (slug) has loaded: a search hit.
    opening: Option<(String, Uuid)>,
    /// A search hit in a circle the list did not have yet: opened once the
    /// list, asked for again, arrives.
    hit_to_open: Option<SearchHit>,
    ticks: u64,
    /// Counts connections, so each circle is followed once per connection.
    generation: u64,
}

impl App {
    pub fn new(server: &str, me: &str) -> App {
        App {
            server: server.to_owned(),
            me: me.to_owned(),
            conn: ConnState::Connecting,
            circles: Vec::new(),
            selected_circle: 0,
            focus: Focus::Timeline,
            compose: None,
            overlay: None,
            flash: None,
            signed_out: None,
            listed: false,
            opening: None,
            hit_to_open: None,
            ticks: 0,
            generation: 0,
        }
    }

    pub fn circle(&self) -> Option<&CircleState> {
        self.circles.get(self.selected_circle)
    }

    fn circle_mut(&mut self) -> Option<&mut CircleState> {
        self.circles.get_mut(self.selected_circle)
    }

    fn circle_by_slug(&mut self, slug: &str) -> Option<&mut CircleState> {
        self.circles.iter_mut().find(|c| c.info.slug == slug)
    }

    pub fn handle_event(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Key(key) => self.on_key(key, &mut out),
            Event::Paste(text) => {
                if let Some(compose) = &mut self.compose {
                    compose.insert_str(&text);
                }
            }
            Event::Net(msg) => self.on_net(msg, &mut out),
            Event::Tick => self.on_tick(&mut out),
            Event::Edited(Ok(text)) => {
                if let Some(compose) = self.compose.take() {
                    self.compose = Some(compose.with_text(text.trim_end()));
                }
            }
            Event::Edited(Err(message)) => self.error(message),
        }
        out
    }

    fn say(&mut self, text: impl Into<String>) {
        self.flash = Some(Flash {
            text: text.into(),
            error: false,
            until: self.ticks + FLASH_TICKS,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.flash = Some(Flash {
            text: text.into(),
            error: true,
            until: self.ticks + FLASH_TICKS,
        });
    }

    // ----- the network -----

    fn on_net(&mut self, msg: NetMsg, out: &mut Vec<Action>) {
        match msg {
            NetMsg::Connecting => {
                if !matches!(self.conn, ConnState::Reconnecting { .. }) {
                    self.conn = ConnState::Connecting;
                }
            }
            NetMsg::Connected { handle } => {
                self.conn = ConnState::Connected;
                self.me = handle;
                self.generation += 1;
            }
            NetMsg::Disconnected { reason, retry_in } => {
                self.conn = ConnState::Reconnecting {
                    reason,
                    retry_in,
                    since: Instant::now(),
                };
            }
            NetMsg::SignedOut(message) => {
                self.signed_out = Some(message);
                out.push(Action::Quit);
            }
            NetMsg::Circles(list) => {
                self.set_circles(list, out);
                if let Some(hit) = self.hit_to_open.take() {
                    if self.circles.iter().any(|c| c.slug() == hit.circle) {
                        self.open_hit(&hit, out);
                    } else {
                        self.error(format!("{} is not there any more", hit.circle));
                    }
                }
            }
            NetMsg::History { circle, events } => {
                let me = self.me.clone();
                if let Some(c) = self.circle_by_slug(&circle) {
                    c.timeline.load_page(&events, &me, c.read);
                    c.loaded = true;
                    c.resyncing = false;
                }
                self.view_selected();
                if let Some((slug, problem)) = self.opening.take_if(|(slug, _)| *slug == circle) {
                    if self.circle().is_some_and(|c| c.slug() == slug) {
                        self.show_thread(problem);
                    }
                }
            }
            NetMsg::Members {
                circle,
                members,
                norms,
            } => {
                if let Some(c) = self.circle_by_slug(&circle) {
                    c.online = members
                        .iter()
                        .filter(|m| m.online)
                        .map(|m: &Member| m.handle.clone())
                        .collect();
                    c.norms = norms;
                }
                if let Some(Overlay::Norms {
                    circle: open,
                    loading,
                    ..
                }) = &mut self.overlay
                {
                    *loading &= *open != circle;
                }
            }
            NetMsg::NormsRefused {
                circle,
                norms,
                request,
            } => {
                if let Some(c) = self.circle_by_slug(&circle) {
                    c.norms = Some(norms.clone());
                }
                self.overlay = Some(Overlay::Consent {
                    circle,
                    norms,
                    request,
                    scroll: 0,
                });
            }
            NetMsg::Digest { circle, digest } => {
                self.overlay = Some(Overlay::Digest {
                    text: crate::output::digest(&digest),
                    circle,
                    scroll: 0,
                });
            }
            NetMsg::Joined(info) => {
                let slug = info.slug.clone();
                self.say(format!("You joined {slug}."));
                self.upsert(info);
                if let Some(index) = self.circles.iter().position(|c| c.slug() == slug) {
                    self.select_circle(index);
                }
                self.follow_circles(out);
            }
            NetMsg::Stats { circle, stats } => {
                if let Some(Overlay::Stats {
                    circle: open,
                    stats: shown,
                }) = &mut self.overlay
                {
                    if *open == circle {
                        *shown = Some(Box::new(stats));
                    }
                }
            }
            NetMsg::Exported(path) => self.say(format!("Case study written to {}", path.display())),
            NetMsg::Found {
                query,
                circle,
                hits,
            } => {
                if let Some(Overlay::Search(view)) = &mut self.overlay {
                    if view.hits.is_none() && view.query == query && view.circle == circle {
                        view.hits = Some(hits);
                    }
                }
            }
            NetMsg::Similar { title, hits } => {
                let n = hits.len();
                self.overlay = Some(Overlay::Search(SearchView {
                    query: String::new(),
                    circle: None,
                    similar_to: Some(title),
                    hits: Some(Ok(hits)),
                    selected: 0,
                }));
                let problems = if n == 1 { "problem" } else { "problems" };
                self.say(format!(
                    "Your problem is posted; {n} similar {problems} in other circles."
                ));
            }
            NetMsg::Notice(Notice::Event(notice)) => self.on_event(notice, out),
            NetMsg::Notice(Notice::Mention(mention)) => self.on_mention(mention),
            NetMsg::Notice(Notice::CircleDeleted(deleted)) => {
                let selected = self.circle().map(|c| c.info.slug.clone());
                self.circles.retain(|c| c.info.slug != deleted.circle);
                self.selected_circle = selected
                    .and_then(|slug| self.circles.iter().position(|c| c.info.slug == slug))
                    .unwrap_or(0);
                self.overlay = None;
                self.view_selected();
                self.say(format!("{} was deleted by an admin.", deleted.circle));
            }
            NetMsg::Notice(Notice::Presence(p)) => {
                if let Some(c) = self.circle_by_slug(&p.circle) {
                    if p.online {
                        c.online.insert(p.handle);
                    } else {
                        c.online.remove(&p.handle);
                    }
                }
            }
            NetMsg::Posted(post) => match post {
                Post::Resolve { .. } => {
                    self.overlay = None;
                    self.say("Resolved: thank you for closing the loop.");
                }
                Post::Metoo { .. } => self.say("Noted: you have this problem too."),
                Post::Norms { circle, .. } => self.say(format!(
                    "New norms for {circle}: members accept them before their next post."
                )),
                post => {
                    let noun = post.noun();
                    if let Post::Note { circle, .. } | Post::Problem { circle, .. } = &post {
                        // Show it: follow the newest entry, where it lands.
                        if let Some(c) = self.circle_by_slug(circle) {
                            c.selected = None;
                        }
                    }
                    self.say(format!("Your {noun} is posted."));
                }
            },
            NetMsg::Failed { message, post } => {
                if let (None, Some(post)) = (&self.compose, post) {
                    self.compose = restore_compose(post);
                }
                self.error(message);
            }
        }
    }

    /// A new circle list: keeps what is known of each circle, follows the
    /// ones not followed on this connection yet.
    fn set_circles(&mut self, list: Vec<CircleInfo>, out: &mut Vec<Action>) {
        let selected = self.circle().map(|c| c.info.slug.clone());
        let first = !self.listed;
        self.listed = true;
        let mut old = std::mem::take(&mut self.circles);
        for info in list {
            match old.iter().position(|c| c.info.slug == info.slug) {
                Some(index) => {
                    let mut c = old.swap_remove(index);
                    c.read = c.read.max(info.read);
                    c.read_sent = info.read;
                    if info.role.is_none() {
                        c.following = 0;
                        c.loaded = false;
                        c.timeline = Timeline::default();
                    }
                    c.info = info;
                    self.circles.push(c);
                }
                None => self.circles.push(CircleState::new(info)),
            }
        }
        self.sort_circles();
        self.selected_circle = selected
            .and_then(|slug| self.circles.iter().position(|c| c.info.slug == slug))
            .unwrap_or(0);
        if first {
            self.focus = if self.circles.is_empty() {
                Focus::Circles
            } else {
                Focus::Timeline
            };
        }
        self.follow_circles(out);
        self.view_selected();
    }

    fn upsert(&mut self, info: CircleInfo) {
        match self.circle_by_slug(&info.slug) {
            Some(c) => {
                c.read = c.read.max(info.read);
                c.read_sent = c.read_sent.max(info.read);
                c.info = info;
            }
            None => self.circles.push(CircleState::new(info)),
        }
        self.sort_circles();
    }

    /// Mine first, then the others; each by slug.
    fn sort_circles(&mut self) {
        let selected = self.circle().map(|c| c.info.slug.clone());
        self.circles
            .sort_by(|a, b| (!a.is_member(), a.slug()).cmp(&(!b.is_member(), b.slug())));
        if let Some(slug) = selected {
            if let Some(index) = self.circles.iter().position(|c| c.info.slug == slug) {
                self.selected_circle = index;
            }
        }
    }

    /// Loads or resubscribes each of my circles not yet followed on this
    /// connection: from the last seq applied, so nothing is missed or repeated.
    fn follow_circles(&mut self, out: &mut Vec<Action>) {
        if self.conn != ConnState::Connected {
            return;
        }
        let generation = self.generation;
        for c in self.circles.iter_mut().filter(|c| c.is_member()) {
            if c.following == generation {
                continue;
            }
            c.following = generation;
            c.resyncing = false;
            let circle = c.info.slug.clone();
            out.push(Action::Net(if c.loaded {
                Request::Subscribe {
                    circle,
                    since: c.timeline.last_seq,
                }
            } else {
                Request::Load { circle }
            }));
        }
    }

    fn on_event(&mut self, notice: circles_protocol::notify::EventNotice, out: &mut Vec<Action>) {
        let me = self.me.clone();
        let Some(index) = self
            .circles
            .iter()
            .position(|c| c.info.slug == notice.circle)
        else {
            return;
        };
        let c = &mut self.circles[index];
        let event = notice.event;
        let applied = c.timeline.apply(&event, &me, c.read);
        match applied {
            Applied::Duplicate => return,
            Applied::Gap { last } => {
                if !c.resyncing {
                    c.resyncing = true;
                    out.push(Action::Net(Request::Subscribe {
                        circle: notice.circle,
                        since: last,
                    }));
                }
                return;
            }
            Applied::Done | Applied::CritiqueOnMine { .. } => c.resyncing = false,
        }
        if event.author == me {
            c.read = c.read.max(event.seq);
        }
        if let circles_protocol::EventBody::Norms { version, text } = &event.body {
            c.norms = Some(Norms {
                version: *version,
                text: text.clone(),
                set_by: event.author.clone(),
                at: event.at,
            });
        }
        let about_me = match &event.body {
            circles_protocol::EventBody::Leave {} => event.author == me,
            circles_protocol::EventBody::Remove { member, .. } => *member == me,
            _ => false,
        };
        if about_me {
            out.push(Action::Net(Request::ListCircles));
        }
        if let Applied::CritiqueOnMine { by, title } = applied {
            self.say(format!(
                "{by} critiqued your problem “{title}” in {}",
                notice.circle
            ));
        }
        if index == self.selected_circle {
            self.view_selected();
        }
    }

    /// A post mentions me: counted on its circle, and told in the status bar
    /// unless that circle is on screen (where it is highlighted).
    fn on_mention(&mut self, mention: circles_protocol::notify::MentionNotice) {
        let selected = self.circle().map(|c| c.info.slug.clone());
        let Some(c) = self.circle_by_slug(&mention.circle) else {
            return;
        };
        c.mention_seqs.insert(mention.event.seq);
        if selected.as_deref() != Some(mention.circle.as_str()) {
            let text = circles_protocol::mention::post_text(&mention.event)
                .and_then(|(_, [title, body])| title.or(body))
                .and_then(|text| text.lines().next())
                .unwrap_or_default()
                .to_owned();
            self.say(format!(
                "@{} mentioned you in {}: {text}",
                mention.event.author, mention.circle
            ));
        }
    }

    /// The selected circle is on screen: everything in it is read.
    fn view_selected(&mut self) {
        if let Some(c) = self.circle_mut() {
            if c.is_member() {
                c.read = c.read.max(c.head());
            }
        }
    }

    fn select_circle(&mut self, index: usize) {
        if index >= self.circles.len() || index == self.selected_circle {
            return;
        }
        self.selected_circle = index;
        self.overlay = None;
        if let Some(c) = self.circle_mut() {
            c.seen_upto = c.read;
        }
        self.view_selected();
    }

    fn on_tick(&mut self, out: &mut Vec<Action>) {
        self.ticks += 1;
        if self.flash.as_ref().is_some_and(|f| f.until <= self.ticks) {
            self.flash = None;
        }
        self.send_read_markers(out);
    }

    /// Read markers that moved since they were last sent.
    fn send_read_markers(&mut self, out: &mut Vec<Action>) {
        if self.conn != ConnState::Connected {
            return;
        }
        for c in self.circles.iter_mut().filter(|c| c.is_member()) {
            if c.read > c.read_sent {
                c.read_sent = c.read;
                out.push(Action::Net(Request::MarkRead {
                    circle: c.info.slug.clone(),
                    seq: c.read,
                }));
            }
        }
    }

    // ----- keys -----

    fn on_key(&mut self, key: KeyEvent, out: &mut Vec<Action>) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return self.quit(out);
        }
        // The question of a refused post comes before the compose line.
        if matches!(self.overlay, Some(Overlay::Consent { .. })) {
            return self.consent_key(key, out);
        }
        if self.compose.is_some() {
            self.compose_key(key, out);
            return;
        }
        match &mut self.overlay {
            Some(Overlay::Help { scroll }) => {
                match key.code {
                    KeyCode::Down | KeyCode::Char('j') | KeyCode::PageDown => {
                        *scroll = (*scroll + 1).min(super::keys::HELP.len())
                    }
                    KeyCode::Up | KeyCode::Char('k') | KeyCode::PageUp => {
                        *scroll = scroll.saturating_sub(1)
                    }
                    _ => self.overlay = None,
                }
                return;
            }
            Some(Overlay::Thread(_)) => {
                self.thread_key(key, out);
                return;
            }
            Some(Overlay::Digest { text, scroll, .. }) => {
                match key.code {
                    KeyCode::Down | KeyCode::Char('j') | KeyCode::PageDown => {
                        *scroll = (*scroll + 1).min(text.lines().count())
                    }
                    KeyCode::Up | KeyCode::Char('k') | KeyCode::PageUp => {
                        *scroll = scroll.saturating_sub(1)
                    }
                    _ => self.overlay = None,
                }
                return;
            }
            Some(Overlay::Stats { .. }) => {
                self.overlay = None;
                return;
            }
            Some(Overlay::Norms { scroll, .. }) => {
                match key.code {
                    KeyCode::Down | KeyCode::Char('j') | KeyCode::PageDown => *scroll += 1,
                    KeyCode::Up | KeyCode::Char('k') | KeyCode::PageUp => {
                        *scroll = scroll.saturating_sub(1)
                    }
                    KeyCode::Char('e') => self.start_norms(),
                    _ => self.overlay = None,
                }
                return;
            }
            Some(Overlay::Search(_)) => {
                self.search_key(key, out);
                return;
            }
            Some(Overlay::Consent { .. }) | None => {}
        }
        match key.code {
            KeyCode::Char('q') => self.quit(out),
            KeyCode::Char('?') | KeyCode::F(1) => self.overlay = Some(Overlay::Help { scroll: 0 }),
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Circles => Focus::Timeline,
                    Focus::Timeline => Focus::Circles,
                }
            }
            KeyCode::Left | KeyCode::Char('h') => self.focus = Focus::Circles,
            KeyCode::Right | KeyCode::Char('l') => self.focus = Focus::Timeline,
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(PAGE),
            KeyCode::PageUp => self.move_by(-PAGE),
            KeyCode::Home | KeyCode::Char('g') => self.move_by(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_by(isize::MAX / 2),
            KeyCode::Char('[') => self.select_circle(self.selected_circle.saturating_sub(1)),
            KeyCode::Char(']') => self.select_circle(self.selected_circle + 1),
            KeyCode::Char('n') | KeyCode::Char('i') => self.start_compose(ComposeKind::Note),
            KeyCode::Char('p') => self.start_compose(ComposeKind::ProblemTitle),
            KeyCode::Char('c') => self.start_critique(),
            KeyCode::Char('m') => self.metoo(out),
            KeyCode::Char('r') => self.start_resolve(),
            KeyCode::Char('f') => self.start_reflect(),
            KeyCode::Char('J') => self.join(out),
            KeyCode::Char('D') => self.ask_digest(out),
            KeyCode::Char('M') => self.start_meeting(),
            KeyCode::Char('S') => self.show_stats(out),
            KeyCode::Char('N') => self.show_norms(out),
            KeyCode::Char('/') => self.start_search(String::new(), false),
            KeyCode::Enter | KeyCode::Char('o') => match self.focus {
                Focus::Circles => self.focus = Focus::Timeline,
                Focus::Timeline => self.open_thread(),
            },
            KeyCode::Esc => self.flash = None,
            _ => {}
        }
    }

    fn quit(&mut self, out: &mut Vec<Action>) {
        self.send_read_markers(out);
        out.push(Action::Quit);
    }

    fn move_by(&mut self, delta: isize) {
        match self.focus {
            Focus::Circles => {
                if self.circles.is_empty() {
                    return;
                }
                let last = self.circles.len() - 1;
                let index = offset(self.selected_circle, delta, last);
                self.select_circle(index);
            }
            Focus::Timeline => {
                let Some(c) = self.circle_mut() else { return };
                let ids = c.selectable();
                let Some(last) = ids.len().checked_sub(1) else {
                    return;
                };
                let current = c
                    .selected_id()
                    .and_then(|id| ids.iter().position(|i| *i == id))
                    .unwrap_or(last);
                let index = offset(current, delta, last);
                // The newest entry: follow what comes next.
                c.selected = (index != last).then(|| ids[index]);
                let id = ids[index];
                c.timeline.clear_fresh(&id);
            }
        }
    }

    /// The selected circle's slug; else says there is none yet.
    fn selected_slug(&mut self) -> Option<String> {
        let slug = self.circle().map(|c| c.info.slug.clone());
        if slug.is_none() {
            self.error("no circle yet: `circles create` or `circles join` one first");
        }
        slug
    }

    /// The selected circle, if I can post in it; else says why not.
    fn postable_circle(&mut self) -> Option<String> {
        match self.circle() {
            None => {
                self.error("no circle yet: `circles create` or `circles join` one first");
                None
            }
            Some(c) if !c.is_member() => {
                let slug = c.info.slug.clone();
                self.error(format!("you are not a member of {slug}: press J to join"));
                None
            }
            Some(c) => Some(c.info.slug.clone()),
        }
    }

    fn start_compose(&mut self, kind: ComposeKind) {
        if let Some(circle) = self.postable_circle() {
            self.compose = Some(Compose::new(kind, &circle));
        }
    }

    /// The problem the keys act on: the thread's, else the selected entry.
    fn target_problem(&mut self) -> Option<(String, ProblemView)> {
        let circle = self.postable_circle()?;
        let c = self.circle()?;
        let problem = match &self.overlay {
            Some(Overlay::Thread(t)) => c.timeline.problem(&t.problem),
            _ => c.selected_problem(),
        };
        match problem {
            Some(p) => Some((circle, p.clone())),
            None => {
                self.error("select a problem first (j/k to move)");
                None
            }
        }
    }

    fn start_critique(&mut self) {
        if let Some((circle, p)) = self.target_problem() {
            let kind = ComposeKind::Critique {
                problem: p.id,
                title: p.title.clone(),
                stance: Stance::default(),
            };
            self.compose = Some(Compose::new(kind, &circle));
            if let Some(c) = self.circle_mut() {
                c.timeline.clear_fresh(&p.id);
            }
        }
    }

    /// `D`: what changed since the circle's last meeting.
    fn ask_digest(&mut self, out: &mut Vec<Action>) {
        if let Some(c) = self.circle() {
            let circle = c.slug().to_owned();
            self.say(format!("Asking for the digest of {circle}…"));
            out.push(Action::Net(Request::Digest { circle }));
        }
    }

    /// `M` (facilitators): a meeting: when, then a title; the open problems
    /// go on its agenda, oldest first.
    fn start_meeting(&mut self) {
        let facilitator = self
            .circle()
            .is_some_and(|c| c.info.role == Some(Role::Facilitator));
        if facilitator {
            self.start_compose(ComposeKind::MeetingWhen);
        } else {
            self.error("only a facilitator of the circle can schedule meetings");
        }
    }

    /// Up to 20 open problems of the selected circle, oldest first.
    fn open_agenda(&self) -> Vec<Uuid> {
        let Some(c) = self.circle() else {
            return Vec::new();
        };
        c.timeline
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Problem(p) if p.status == Status::Open && !p.retracted && !p.placeholder => {
                    Some(p.id)
                }
                _ => None,
            })
            .take(20)
            .collect()
    }

    /// `f`: a reflection on a resolved problem: its usefulness, then its text.
    fn start_reflect(&mut self) {
        if let Some((circle, p)) = self.target_problem() {
            if p.status != Status::Resolved {
                self.error("reflections come after the problem is resolved");
            } else if p.reflections.iter().any(|r| r.author == self.me) {
                self.say("you already reflected on this problem");
            } else {
                let kind = ComposeKind::ReflectUsefulness {
                    problem: p.id,
                    title: p.title.clone(),
                };
                self.compose = Some(Compose::new(kind, &circle));
            }
        }
    }

    fn metoo(&mut self, out: &mut Vec<Action>) {
        if let Some((circle, p)) = self.target_problem() {
            if p.author == self.me {
                self.error("that is your own problem");
            } else if p.metoos.contains(&self.me) {
                self.say("you already said you have this problem too");
            } else {
                out.push(Action::Net(Request::Post(Post::Metoo {
                    circle,
                    problem: p.id,
                })));
            }
        }
    }

    /// `r` opens the thread to mark the critiques that helped, then `r` again resolves.
    fn start_resolve(&mut self) {
        let Some((_, p)) = self.target_problem() else {
            return;
        };
        if let Some(message) = self.cannot_resolve(&p) {
            self.error(message);
            return;
        }
        self.open_thread();
        self.say("Space marks the critiques that helped; r resolves.");
    }

    fn cannot_resolve(&self, p: &ProblemView) -> Option<String> {
        if p.author != self.me {
            Some(format!("only {} can resolve this problem", p.author))
        } else if p.status == Status::Resolved {
            Some("this problem is already resolved".into())
        } else {
            None
        }
    }

    fn open_thread(&mut self) {
        let Some(c) = self.circle() else { return };
        match c.selected_problem() {
            Some(p) => self.show_thread(p.id),
            None if c.selected_id().is_some() => {
                self.error("that is a note: only problems have threads")
            }
            None => {}
        }
    }

    /// Opens the thread of this problem of the selected circle, and selects it.
    fn show_thread(&mut self, problem: Uuid) {
        let Some(c) = self.circle_mut() else { return };
        let Some(p) = c.timeline.problem(&problem) else {
            let slug = c.slug().to_owned();
            self.error(format!(
                "that problem is older than the history loaded here: `circles show {slug} {}`",
                crate::ids::short(&problem)
            ));
            return;
        };
        let first = p.live_critiques().next().map(|_| 0);
        c.selected = Some(problem);
        c.timeline.clear_fresh(&problem);
        self.overlay = Some(Overlay::Thread(ThreadView {
            problem,
            selected: first,
            helpful: Vec::new(),
            confirm_resolve: false,
        }));
    }

    /// `/`: the search prompt in the compose line, with `query` to change;
    /// `here` searches only the selected circle.
    fn start_search(&mut self, query: String, here: bool) {
        let circle = self
            .circle()
            .map(|c| c.slug().to_owned())
            .unwrap_or_default();
        let here = here && !circle.is_empty();
        self.compose = Some(Compose::new(ComposeKind::Search { here }, &circle).with_text(&query));
    }

    /// Keys on the search results: choose one, open it, search again, close.
    fn search_key(&mut self, key: KeyEvent, out: &mut Vec<Action>) {
        let Some(Overlay::Search(view)) = &mut self.overlay else {
            return;
        };
        let last = view.found().len().saturating_sub(1);
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => view.selected = (view.selected + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => view.selected = view.selected.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') => view.selected = 0,
            KeyCode::End | KeyCode::Char('G') => view.selected = last,
            KeyCode::Enter | KeyCode::Char('o') => {
                if let Some(hit) = view.found().get(view.selected).cloned() {
                    self.open_hit(&hit, out);
                }
            }
            KeyCode::Char('/') => {
                let (query, here) = (view.query.clone(), view.circle.is_some());
                self.start_search(query, here);
            }
            KeyCode::Char('?') => self.overlay = Some(Overlay::Help { scroll: 0 }),
            KeyCode::Esc | KeyCode::Char('q') => self.overlay = None,
            _ => {}
        }
    }

    /// Opens a hit's problem: in its circle, which is loaded first if it
    /// is not yet (a public circle I am not in is shown read-only).
    fn open_hit(&mut self, hit: &SearchHit, out: &mut Vec<Action>) {
        let Some(index) = self.circles.iter().position(|c| c.slug() == hit.circle) else {
            // New since the list was read: read it again, then open.
            out.push(Action::Net(Request::ListCircles));
            self.say(format!("Looking for {}…", hit.circle));
            self.hit_to_open = Some(hit.clone());
            return;
        };
        self.select_circle(index);
        self.overlay = None;
        self.focus = Focus::Timeline;
        let c = &mut self.circles[index];
        if c.loaded {
            return self.show_thread(hit.problem);
        }
        let circle = c.slug().to_owned();
        if !c.is_member() {
            // Members' circles are being loaded already.
            out.push(Action::Net(Request::Load {
                circle: circle.clone(),
            }));
        }
        self.say(format!("Loading {circle}…"));
        self.opening = Some((circle, hit.problem));
    }

    /// `S`: asks for the selected circle's stats and shows them when they come.
    fn show_stats(&mut self, out: &mut Vec<Action>) {
        let Some(circle) = self.selected_slug() else {
            return;
        };
        out.push(Action::Net(Request::Stats {
            circle: circle.clone(),
        }));
        self.overlay = Some(Overlay::Stats {
            circle,
            stats: None,
        });
    }

    /// `N`: the selected circle's norms, asked for again to be current.
    fn show_norms(&mut self, out: &mut Vec<Action>) {
        let Some(circle) = self.selected_slug() else {
            return;
        };
        out.push(Action::Net(Request::Members {
            circle: circle.clone(),
        }));
        self.overlay = Some(Overlay::Norms {
            circle,
            scroll: 0,
            loading: true,
        });
    }

    /// `e` on the norms (facilitators): the current text in the compose
    /// line, to change (Ctrl-E: in `$EDITOR`) and send as a new version.
    fn start_norms(&mut self) {
        let Some(c) = self.circle() else { return };
        if c.info.role != Some(Role::Facilitator) {
            self.error("only a facilitator of the circle can set its norms");
            return;
        }
        let text = c.norms.as_ref().map(|n| n.text.clone()).unwrap_or_default();
        let compose = Compose::new(ComposeKind::Norms, c.slug()).with_text(&text);
        self.overlay = None;
        self.compose = Some(compose);
    }

    /// `y` accepts the norms a join or post was refused for and sends it
    /// again; `n` (or Esc) gives the post's text back to the compose line.
    fn consent_key(&mut self, key: KeyEvent, out: &mut Vec<Action>) {
        let Some(Overlay::Consent {
            circle,
            norms,
            request,
            scroll,
        }) = &mut self.overlay
        else {
            return;
        };
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                let request = Request::AcceptNorms {
                    circle: circle.clone(),
                    version: norms.version,
                    then: request.clone(),
                };
                self.overlay = None;
                out.push(Action::Net(request));
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                let circle = circle.clone();
                let post = (**request).clone().into_post();
                self.overlay = None;
                if let (None, Some(post)) = (&self.compose, post) {
                    self.compose = restore_compose(post);
                }
                self.say(format!(
                    "Not sent: {circle} asks its members to accept its norms first."
                ));
            }
            KeyCode::Down | KeyCode::Char('j') | KeyCode::PageDown => *scroll += 1,
            KeyCode::Up | KeyCode::Char('k') | KeyCode::PageUp => {
                *scroll = scroll.saturating_sub(1)
            }
            _ => {}
        }
    }

    /// `e` / `E` in a thread: writes the resolved problem's case study
    /// (anonymised with `E`) to a file in the current directory.
    fn export_case(&mut self, p: &ProblemView, anonymise: bool, out: &mut Vec<Action>) {
        if p.status != Status::Resolved {
            self.error("a case study is of a resolved problem: resolve it first");
            return;
        }
        let Some(circle) = self.circle().map(|c| c.info.slug.clone()) else {
            return;
        };
        let suffix = if anonymise { "-anonymised" } else { "" };
        let file = format!("case-{circle}-{}{suffix}.md", crate::ids::short(&p.id));
        self.say(format!("Writing the case study to {file}…"));
        out.push(Action::Net(Request::ExportCase {
            circle,
            problem: p.id,
            anonymise,
            file: file.into(),
        }));
    }

    fn join(&mut self, out: &mut Vec<Action>) {
        match self.circle() {
            Some(c) if !c.is_member() => {
                let circle = c.info.slug.clone();
                out.push(Action::Net(Request::Join { circle }));
            }
            Some(c) => {
                let slug = c.info.slug.clone();
                self.say(format!("you are already in {slug}"));
            }
            None => {}
        }
    }

    fn thread_key(&mut self, key: KeyEvent, out: &mut Vec<Action>) {
        let Some(Overlay::Thread(mut thread)) = self.overlay.clone() else {
            return;
        };
        let Some(p) = self
            .circle()
            .and_then(|c| c.timeline.problem(&thread.problem))
            .cloned()
        else {
            self.overlay = None;
            return;
        };
        let live: Vec<Uuid> = p.live_critiques().map(|c| c.id).collect();
        let confirming = std::mem::take(&mut thread.confirm_resolve);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Left | KeyCode::Char('h') => {
                self.overlay = None;
                return;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                thread.selected = match (thread.selected, live.len()) {
                    (_, 0) => None,
                    (None, _) => Some(0),
                    (Some(i), n) => Some((i + 1).min(n - 1)),
                }
            }
            KeyCode::Up | KeyCode::Char('k') => {
                thread.selected = thread.selected.and_then(|i| i.checked_sub(1))
            }
            KeyCode::Home | KeyCode::Char('g') => thread.selected = None,
            KeyCode::End | KeyCode::Char('G') => thread.selected = live.len().checked_sub(1),
            KeyCode::Char(' ') | KeyCode::Char('x') => {
                match thread.selected.and_then(|i| live.get(i)).copied() {
                    None => self.error("select a critique first (j/k)"),
                    Some(id) => match self.cannot_resolve(&p) {
                        Some(message) => self.error(message),
                        None => match thread.helpful.iter().position(|h| *h == id) {
                            Some(at) => {
                                thread.helpful.remove(at);
                            }
                            None => thread.helpful.push(id),
                        },
                    },
                }
            }
            KeyCode::Char('r') => match self.cannot_resolve(&p) {
                Some(message) => self.error(message),
                None if !confirming => {
                    thread.confirm_resolve = true;
                    let helped = match thread.helpful.len() {
                        0 => "no critique marked as helpful (Space marks one)".to_owned(),
                        1 => "1 helpful critique".to_owned(),
                        n => format!("{n} helpful critiques"),
                    };
                    self.say(format!(
                        "Resolve “{}” with {helped}? r again to confirm; it cannot be undone.",
                        p.title
                    ));
                }
                None => {
                    if let Some(circle) = self.circle().map(|c| c.info.slug.clone()) {
                        out.push(Action::Net(Request::Post(Post::Resolve {
                            circle,
                            problem: p.id,
                            helpful: thread.helpful.clone(),
                        })));
                    }
                }
            },
            KeyCode::Char('a') => match thread.selected.and_then(|i| live.get(i)).copied() {
                None => self.error("select a critique first (j/k)"),
                Some(_) if p.author != self.me => self.error(format!(
                    "only {} can accept answers to this problem",
                    p.author
                )),
                Some(id) if p.is_accepted(&id) => self.error("that critique is already accepted"),
                Some(critique) => {
                    if let Some(circle) = self.circle().map(|c| c.info.slug.clone()) {
                        out.push(Action::Net(Request::Post(Post::Accept {
                            circle,
                            problem: p.id,
                            critique,
                        })));
                    }
                }
            },
            KeyCode::Char('c') => return self.start_critique(),
            KeyCode::Char('m') => return self.metoo(out),
            KeyCode::Char('f') => return self.start_reflect(),
            KeyCode::Char('e') => self.export_case(&p, false, out),
            KeyCode::Char('E') => self.export_case(&p, true, out),
            KeyCode::Char('?') => {
                self.overlay = Some(Overlay::Help { scroll: 0 });
                return;
            }
            _ => {}
        }
        self.overlay = Some(Overlay::Thread(thread));
    }

    fn compose_key(&mut self, key: KeyEvent, out: &mut Vec<Action>) {
        let Some(compose) = &mut self.compose else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Esc => self.compose = None,
            KeyCode::Tab => compose.tab(),
            KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
                compose.insert('\n')
            }
            KeyCode::Char('j') if ctrl => compose.insert('\n'),
            KeyCode::Enter => self.submit(out),
            KeyCode::Char('e') if ctrl => {
                if compose.multiline() {
                    out.push(Action::OpenEditor(compose.text.clone()));
                } else {
                    self.error("a title is one line: Enter goes on to the body");
                }
            }
            KeyCode::Char('u') if ctrl => compose.clear(),
            KeyCode::Char('w') if ctrl => compose.delete_word(),
            KeyCode::Char('a') if ctrl => compose.home(),
            KeyCode::Backspace => compose.backspace(),
            KeyCode::Delete => compose.delete(),
            KeyCode::Left => compose.left(),
            KeyCode::Right => compose.right(),
            KeyCode::Home => compose.home(),
            KeyCode::End => compose.end(),
            KeyCode::Char(c) if !ctrl && !alt => compose.insert(c),
            _ => {}
        }
    }

    fn submit(&mut self, out: &mut Vec<Action>) {
        let Some(compose) = self.compose.take() else {
            return;
        };
        let text = compose.text.trim().to_owned();
        let circle = compose.circle.clone();
        let post = match &compose.kind {
            ComposeKind::ProblemTitle => {
                if text.is_empty() {
                    self.compose = Some(compose);
                    self.error("a problem needs a title");
                } else {
                    let kind = ComposeKind::ProblemBody { title: text };
                    self.compose = Some(Compose::new(kind, &circle));
                }
                return;
            }
            ComposeKind::ReflectUsefulness { problem, title } => {
                match text.parse::<u8>() {
                    Ok(usefulness @ 1..=5) => {
                        let kind = ComposeKind::Reflection {
                            problem: *problem,
                            title: title.clone(),
                            usefulness,
                        };
                        self.compose = Some(Compose::new(kind, &circle));
                    }
                    _ => {
                        self.compose = Some(compose);
                        self.error("type a number from 1 (not much) to 5 (very)");
                    }
                }
                return;
            }
            ComposeKind::ProblemBody { title } => Post::Problem {
                circle,
                title: title.clone(),
                body: text,
            },
            ComposeKind::MeetingWhen => {
                match crate::when::parse(&text) {
                    Ok(at) => {
                        let kind = ComposeKind::MeetingTitle {
                            at: crate::when::millis(at),
                        };
                        self.compose = Some(Compose::new(kind, &circle));
                    }
                    Err(err) => {
                        self.compose = Some(compose);
                        self.error(err);
                    }
                }
                return;
            }
            ComposeKind::MeetingTitle { at } => Post::Meeting {
                circle,
                at: *at,
                title: text,
                agenda: self.open_agenda(),
            },
            _ if text.is_empty() => {
                self.compose = Some(compose);
                self.error("nothing to send yet (Esc cancels)");
                return;
            }
            ComposeKind::Search { here } => {
                let circle = here.then_some(circle);
                out.push(Action::Net(Request::Search {
                    query: text.clone(),
                    circle: circle.clone(),
                }));
                self.overlay = Some(Overlay::Search(SearchView {
                    query: text,
                    circle,
                    similar_to: None,
                    hits: None,
                    selected: 0,
                }));
                return;
            }
            ComposeKind::Note => Post::Note { circle, body: text },
            ComposeKind::Norms => Post::Norms { circle, text },
            ComposeKind::Critique {
                problem,
                title,
                stance,
            } => Post::Critique {
                circle,
                problem: *problem,
                title: title.clone(),
                stance: *stance,
                body: text,
            },
            ComposeKind::Reflection {
                problem,
                title,
                usefulness,
            } => Post::Reflect {
                circle,
                problem: *problem,
                title: title.clone(),
                usefulness: *usefulness,
                text,
            },
        };
        out.push(Action::Net(Request::Post(post)));
    }
}

/// `index + delta`, kept within `0..=last`.
fn offset(index: usize, delta: isize, last: usize) -> usize {
    index.saturating_add_signed(delta).min(last)
}

/// A post that failed goes back to the compose line, to retry or copy.
fn restore_compose(post: Post) -> Option<Compose> {
    let (kind, circle, text) = match post {
        Post::Note { circle, body } => (ComposeKind::Note, circle, body),
        Post::Problem {
            circle,
            title,
            body,
        } => (ComposeKind::ProblemBody { title }, circle, body),
        Post::Critique {
            circle,
            problem,
            title,
            stance,
            body,
        } => (
            ComposeKind::Critique {
                problem,
                title,
                stance,
            },
            circle,
            body,
        ),
        Post::Reflect {
            circle,
            problem,
            title,
            usefulness,
            text,
        } => (
            ComposeKind::Reflection {
                problem,
                title,
                usefulness,
            },
            circle,
            text,
        ),
        Post::Meeting {
            circle, at, title, ..
        } => (ComposeKind::MeetingTitle { at }, circle, title),
        Post::Norms { circle, text } => (ComposeKind::Norms, circle, text),
        Post::Metoo { .. } | Post::Resolve { .. } | Post::Accept { .. } => return None,
    };
    Some(Compose::new(kind, &circle).with_text(&text))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tui::timeline::tests::{critique, id, join, note, problem};
    use circles_protocol::Event as LogEvent;
    use circles_protocol::model::{HitKind, Role, SnippetPart, Visibility};
    use circles_protocol::notify::{EventNotice, PresenceNotice};

    pub fn info(slug: &str, role: Option<Role>, head: u64, read: u64) -> CircleInfo {
        CircleInfo {
            id: Uuid::nil(),
            slug: slug.into(),
            name: slug.to_uppercase(),
            purpose: format!("the {slug} circle"),
            visibility: Visibility::Public,
            max_members: 12,
            member_count: 2,
            head,
            created_by: "ana".into(),
            created_at: 0,
            role,
            unread: head - read,
            mentions: 0,
            read,
        }
    }

    pub fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    pub fn ch(c: char) -> Event {
        key(KeyCode::Char(c))
    }

    pub fn ctrl(c: char) -> Event {
        Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }

    pub fn live(circle: &str, event: LogEvent) -> Event {
        Event::Net(NetMsg::Notice(Notice::Event(EventNotice {
            circle: circle.into(),
            event,
        })))
    }

    pub fn typed(app: &mut App, text: &str) {
        for c in text.chars() {
            app.handle_event(ch(c));
        }
    }

    /// ana, connected, member of `cataloguers` (history: join, problem 2 by
    /// ana) and `reading`, and sees the public `garden`.
    pub fn connected_app() -> App {
        let mut app = App::new("ws://127.0.0.1:7878/v1/ws", "ana");
        app.handle_event(Event::Net(NetMsg::Connecting));
        app.handle_event(Event::Net(NetMsg::Connected {
            handle: "ana".into(),
        }));
        let actions = app.handle_event(Event::Net(NetMsg::Circles(vec![
            info("reading", Some(Role::Member), 4, 1),
            info("garden", None, 9, 0),
            info("cataloguers", Some(Role::Facilitator), 2, 2),
        ])));
        assert_eq!(
            actions,
            vec![
                Action::Net(Request::Load {
                    circle: "cataloguers".into()
                }),
                Action::Net(Request::Load {
                    circle: "reading".into()
                }),
            ]
        );
        app.handle_event(Event::Net(NetMsg::History {
            circle: "cataloguers".into(),
            events: vec![
                join(1, "ana"),
                problem(2, "ana", "Patrons cannot find e-books"),
            ],
        }));
        app
    }

    fn slugs(app: &App) -> Vec<&str> {
        app.circles.iter().map(|c| c.slug()).collect()
    }

    #[test]
    fn my_circles_come_first_and_each_is_loaded_once() {
        let mut app = connected_app();
        assert_eq!(slugs(&app), vec!["cataloguers", "reading", "garden"]);
        assert_eq!(app.circle().map(|c| c.slug()), Some("cataloguers"));
        // The same list again (after a join elsewhere): nothing to reload.
        let again = app.handle_event(Event::Net(NetMsg::Circles(vec![
            info("cataloguers", Some(Role::Facilitator), 2, 2),
            info("reading", Some(Role::Member), 4, 1),
        ])));
        assert_eq!(again, vec![]);
    }

    #[test]
    fn a_critique_threads_under_its_problem_and_stands_out_on_mine() {
        let mut app = connected_app();
        app.handle_event(live(
            "cataloguers",
            critique(3, "ben", 2, "A banner helped us"),
        ));
        let c = app.circle().expect("circle");
        let p = c.timeline.problem(&id(2)).expect("problem");
        assert_eq!(p.critiques.len(), 1);
        assert!(c.timeline.fresh.contains(&id(3)));
        let flash = app.flash.as_ref().expect("flash");
        assert!(
            flash.text.contains("ben critiqued your problem"),
            "{flash:?}"
        );
        // Opening the thread is looking at it.
        app.handle_event(key(KeyCode::Enter));
        assert!(matches!(app.overlay, Some(Overlay::Thread(_))));
        assert!(app.circle().expect("circle").timeline.fresh.is_empty());
    }

    #[test]
    fn my_own_critique_on_my_problem_is_not_news() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", critique(3, "ana", 2, "update")));
        assert!(app.circle().expect("circle").timeline.fresh.is_empty());
        assert!(app.flash.is_none());
    }

    #[test]
    fn unread_counts_grow_elsewhere_and_reading_resets_them() {
        let mut app = connected_app();
        let reading = |app: &App| app.circles[1].unread();
        assert_eq!(reading(&app), 3);
        app.handle_event(Event::Net(NetMsg::History {
            circle: "reading".into(),
            events: vec![
                join(1, "dan"),
                note(2, "dan", "a"),
                note(3, "dan", "b"),
                note(4, "dan", "c"),
            ],
        }));
        app.handle_event(live("reading", note(5, "ben", "hello")));
        assert_eq!(reading(&app), 4);
        // The selected circle is on screen: what arrives there is read.
        app.handle_event(live("cataloguers", note(3, "ben", "hi")));
        assert_eq!(app.circles[0].unread(), 0);
        let marks = app.handle_event(Event::Tick);
        assert_eq!(
            marks,
            vec![Action::Net(Request::MarkRead {
                circle: "cataloguers".into(),
                seq: 3
            })]
        );
        // Debounced: nothing new, nothing sent.
        assert_eq!(app.handle_event(Event::Tick), vec![]);
        // Moving to `reading` reads it.
        app.handle_event(ch(']'));
        assert_eq!(app.circle().map(|c| c.slug()), Some("reading"));
        assert_eq!(reading(&app), 0);
        assert_eq!(app.circle().expect("circle").seen_upto, 1);
        assert_eq!(
            app.handle_event(Event::Tick),
            vec![Action::Net(Request::MarkRead {
                circle: "reading".into(),
                seq: 5
            })]
        );
    }

    #[test]
    fn composing_a_critique_on_the_selected_problem() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", note(3, "ben", "hi")));
        // The note is newest and selected: a critique needs a problem.
        app.handle_event(ch('c'));
        assert!(app.compose.is_none());
        assert!(app.flash.as_ref().is_some_and(|f| f.error));
        app.handle_event(ch('k'));
        app.handle_event(ch('c'));
        assert!(matches!(
            app.compose.as_ref().map(|c| &c.kind),
            Some(ComposeKind::Critique { .. })
        ));
        typed(&mut app, "Try a banner");
        // Tab cycles the stance: suggestion, question, experience.
        app.handle_event(key(KeyCode::Tab));
        app.handle_event(key(KeyCode::Tab));
        assert!(
            app.compose
                .as_ref()
                .is_some_and(|c| c.prompt().contains("as experience"))
        );
        app.handle_event(Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)));
        typed(&mut app, "on the old page");
        let actions = app.handle_event(key(KeyCode::Enter));
        assert_eq!(
            actions,
            vec![Action::Net(Request::Post(Post::Critique {
                circle: "cataloguers".into(),
                problem: id(2),
                title: "Patrons cannot find e-books".into(),
                stance: Stance::Experience,
                body: "Try a banner\non the old page".into(),
            }))]
        );
        assert!(app.compose.is_none());
    }

    #[test]
    fn a_failed_post_goes_back_to_the_compose_line() {
        let mut app = connected_app();
        app.handle_event(ch('n'));
        typed(&mut app, "hello all");
        let post = match app.handle_event(key(KeyCode::Enter)).pop() {
            Some(Action::Net(Request::Post(post))) => post,
            other => panic!("{other:?}"),
        };
        app.handle_event(Event::Net(NetMsg::Failed {
            message: "the note was not posted: too large".into(),
            post: Some(post),
        }));
        assert_eq!(
            app.compose.as_ref().map(|c| c.text.as_str()),
            Some("hello all")
        );
    }

    #[test]
    fn a_problem_takes_a_title_then_a_body() {
        let mut app = connected_app();
        app.handle_event(ch('p'));
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        typed(&mut app, "Weeding policy");
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        typed(&mut app, "How often?");
        assert_eq!(
            app.handle_event(key(KeyCode::Enter)),
            vec![Action::Net(Request::Post(Post::Problem {
                circle: "cataloguers".into(),
                title: "Weeding policy".into(),
                body: "How often?".into(),
            }))]
        );
    }

    #[test]
    fn ctrl_e_asks_for_the_editor_and_its_text_comes_back() {
        let mut app = connected_app();
        app.handle_event(ch('n'));
        typed(&mut app, "draft");
        assert_eq!(
            app.handle_event(ctrl('e')),
            vec![Action::OpenEditor("draft".into())]
        );
        app.handle_event(Event::Edited(Ok("a long\npost\n".into())));
        assert_eq!(
            app.compose.as_ref().map(|c| c.text.as_str()),
            Some("a long\npost")
        );
    }

    #[test]
    fn reconnecting_resumes_each_circle_from_the_last_seq_seen() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", note(3, "ben", "one")));
        app.handle_event(live("cataloguers", note(4, "ben", "two")));
        app.handle_event(Event::Net(NetMsg::Disconnected {
            reason: "closed".into(),
            retry_in: Duration::from_millis(250),
        }));
        assert!(matches!(app.conn, ConnState::Reconnecting { .. }));
        app.handle_event(Event::Net(NetMsg::Connecting));
        app.handle_event(Event::Net(NetMsg::Connected {
            handle: "ana".into(),
        }));
        let actions = app.handle_event(Event::Net(NetMsg::Circles(vec![
            info("cataloguers", Some(Role::Facilitator), 6, 4),
            info("reading", Some(Role::Member), 4, 1),
        ])));
        assert_eq!(
            actions,
            vec![
                Action::Net(Request::Subscribe {
                    circle: "cataloguers".into(),
                    since: 4
                }),
                // Never loaded: load it now.
                Action::Net(Request::Load {
                    circle: "reading".into()
                }),
            ]
        );
        // The backlog repeats nothing and misses nothing.
        app.handle_event(live("cataloguers", note(4, "ben", "two")));
        app.handle_event(live("cataloguers", note(5, "ben", "three")));
        let c = app.circle().expect("circle");
        assert_eq!(c.timeline.last_seq, 5);
        assert_eq!(c.timeline.entries.len(), 5);
    }

    #[test]
    fn a_gap_resubscribes_once_from_the_last_seq() {
        let mut app = connected_app();
        let actions = app.handle_event(live("cataloguers", note(5, "ben", "x")));
        let resubscribe = vec![Action::Net(Request::Subscribe {
            circle: "cataloguers".into(),
            since: 2,
        })];
        assert_eq!(actions, resubscribe);
        assert_eq!(
            app.handle_event(live("cataloguers", note(6, "ben", "y"))),
            vec![]
        );
        assert_eq!(
            app.handle_event(live("cataloguers", note(3, "ben", "z"))),
            vec![]
        );
        assert_eq!(app.circle().expect("circle").timeline.last_seq, 3);
    }

    #[test]
    fn duplicate_events_are_ignored() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", note(3, "ben", "hi")));
        app.handle_event(live("cataloguers", note(3, "ben", "hi")));
        assert_eq!(app.circle().expect("circle").timeline.entries.len(), 3);
    }

    #[test]
    fn metoo_and_resolve_act_on_the_selected_problem() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", problem(3, "ben", "Noisy study room")));
        app.handle_event(live("cataloguers", critique(4, "ana", 3, "Quiet hours")));
        // Ben's problem is newest and selected.
        assert_eq!(
            app.handle_event(ch('m')),
            vec![Action::Net(Request::Post(Post::Metoo {
                circle: "cataloguers".into(),
                problem: id(3)
            }))]
        );
        // Only its author resolves it.
        assert_eq!(app.handle_event(ch('r')), vec![]);
        assert!(app.overlay.is_none());
        // My problem: r opens the thread, space marks, r resolves.
        app.handle_event(ch('k'));
        app.handle_event(live("cataloguers", critique(5, "ben", 2, "Banner")));
        app.handle_event(ch('r'));
        assert!(matches!(app.overlay, Some(Overlay::Thread(_))));
        // The first critique is selected when the thread opens.
        app.handle_event(ch(' '));
        // Resolving cannot be undone: the first r asks, the second resolves.
        assert_eq!(app.handle_event(ch('r')), vec![]);
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("r again to confirm"))
        );
        assert_eq!(
            app.handle_event(ch('r')),
            vec![Action::Net(Request::Post(Post::Resolve {
                circle: "cataloguers".into(),
                problem: id(2),
                helpful: vec![id(5)],
            }))]
        );
        // Any other key in between cancels the confirmation.
        app.handle_event(ch('k'));
        assert_eq!(app.handle_event(ch('r')), vec![]);
    }

    #[test]
    fn f_reflects_on_a_resolved_problem_in_two_steps() {
        use crate::tui::timeline::tests::event;
        let mut app = connected_app();
        app.handle_event(live("cataloguers", problem(3, "ben", "Overdue fines")));
        // Open: not yet.
        assert_eq!(app.handle_event(ch('f')), vec![]);
        assert!(app.compose.is_none());
        let resolve = circles_protocol::EventBody::Resolve {
            problem: id(3),
            helpful: vec![],
            summary: None,
        };
        app.handle_event(live("cataloguers", event(4, "ben", resolve)));
        app.handle_event(ch('f'));
        // The usefulness first: only 1 to 5.
        typed(&mut app, "7");
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("1 (not much) to 5"))
        );
        app.handle_event(key(KeyCode::Backspace));
        typed(&mut app, "4");
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        typed(&mut app, "Amnesty weeks work");
        assert_eq!(
            app.handle_event(key(KeyCode::Enter)),
            vec![Action::Net(Request::Post(Post::Reflect {
                circle: "cataloguers".into(),
                problem: id(3),
                title: "Overdue fines".into(),
                usefulness: 4,
                text: "Amnesty weeks work".into(),
            }))]
        );
    }

    /// A small `circle.stats` answer, for the stats view.
    pub fn some_stats() -> circles_protocol::model::Stats {
        circles_protocol::model::Stats {
            since: 0,
            until: 604_799_999,
            raised: 3,
            resolved: 1,
            median_first_critique_ms: Some(5_400_000),
            median_resolution_ms: None,
            unanswered_after_ms: 172_800_000,
            unanswered: vec![],
            most_metood: vec![],
            bucket_ms: 604_800_000,
            series: vec![circles_protocol::model::StatsBucket {
                start: 0,
                raised: 3,
                resolved: 1,
            }],
        }
    }

    #[test]
    fn shift_s_shows_the_circles_stats_until_a_key_closes_them() {
        let mut app = connected_app();
        assert_eq!(
            app.handle_event(ch('S')),
            vec![Action::Net(Request::Stats {
                circle: "cataloguers".into()
            })]
        );
        assert!(matches!(
            &app.overlay,
            Some(Overlay::Stats { stats: None, .. })
        ));
        // Another circle's answer is not shown here.
        app.handle_event(Event::Net(NetMsg::Stats {
            circle: "reading".into(),
            stats: some_stats(),
        }));
        assert!(matches!(
            &app.overlay,
            Some(Overlay::Stats { stats: None, .. })
        ));
        app.handle_event(Event::Net(NetMsg::Stats {
            circle: "cataloguers".into(),
            stats: some_stats(),
        }));
        assert!(
            matches!(&app.overlay, Some(Overlay::Stats { stats: Some(s), .. }) if s.raised == 3)
        );
        assert_eq!(app.handle_event(ch('p')), vec![]);
        assert!(app.overlay.is_none() && app.compose.is_none());
    }

    #[test]
    fn e_in_a_resolved_thread_writes_its_case_study() {
        use crate::tui::timeline::tests::event;
        let mut app = connected_app();
        app.handle_event(live("cataloguers", problem(3, "ben", "Overdue fines")));
        app.handle_event(key(KeyCode::Enter));
        assert_eq!(app.handle_event(ch('e')), vec![]);
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.error && f.text.contains("resolve it first"))
        );
        let resolve = circles_protocol::EventBody::Resolve {
            problem: id(3),
            helpful: vec![],
            summary: None,
        };
        app.handle_event(live("cataloguers", event(4, "ben", resolve)));
        let file = format!("case-cataloguers-{}.md", crate::ids::short(&id(3)));
        assert_eq!(
            app.handle_event(ch('e')),
            vec![Action::Net(Request::ExportCase {
                circle: "cataloguers".into(),
                problem: id(3),
                anonymise: false,
                file: file.clone().into(),
            })]
        );
        let anonymised = file.replace(".md", "-anonymised.md");
        assert_eq!(
            app.handle_event(ch('E')),
            vec![Action::Net(Request::ExportCase {
                circle: "cataloguers".into(),
                problem: id(3),
                anonymise: true,
                file: anonymised.clone().into(),
            })]
        );
        assert!(matches!(app.overlay, Some(Overlay::Thread(_))));
        let written = std::path::PathBuf::from("/home/ana").join(&anonymised);
        app.handle_event(Event::Net(NetMsg::Exported(written)));
        let flash = app
            .flash
            .as_ref()
            .map(|f| f.text.clone())
            .unwrap_or_default();
        assert_eq!(
            flash,
            format!("Case study written to /home/ana/{anonymised}")
        );
    }

    #[test]
    fn facilitators_schedule_meetings_and_d_shows_the_digest() {
        use crate::tui::timeline::tests::event;
        let mut app = connected_app();
        app.handle_event(live("cataloguers", problem(3, "ben", "Overdue fines")));
        app.handle_event(live("cataloguers", problem(4, "cara", "Noisy room")));
        let resolve = circles_protocol::EventBody::Resolve {
            problem: id(4),
            helpful: vec![],
            summary: None,
        };
        app.handle_event(live("cataloguers", event(5, "cara", resolve)));
        // When: read as people type it; nonsense stays on the line with a hint.
        app.handle_event(ch('M'));
        typed(&mut app, "soonish");
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.error && f.text.contains("+2h"))
        );
        app.handle_event(ctrl('u'));
        typed(&mut app, "+2d");
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        typed(&mut app, "Clinic");
        let actions = app.handle_event(key(KeyCode::Enter));
        let [
            Action::Net(Request::Post(Post::Meeting {
                circle,
                at,
                title,
                agenda,
            })),
        ] = &actions[..]
        else {
            panic!("{actions:?}");
        };
        assert_eq!((circle.as_str(), title.as_str()), ("cataloguers", "Clinic"));
        assert_eq!(
            agenda,
            &vec![id(2), id(3)],
            "the open problems, not the resolved one"
        );
        let two_days = 2 * 24 * 3600 * 1000;
        let ahead = at.saturating_sub(crate::when::millis(chrono::Utc::now()));
        assert!(ahead <= two_days && ahead > two_days - 60_000, "{ahead}");

        // D asks for the digest and shows it.
        assert_eq!(
            app.handle_event(ch('D')),
            vec![Action::Net(Request::Digest {
                circle: "cataloguers".into()
            })]
        );
        let digest = circles_protocol::model::Digest {
            since: 0,
            until: 0,
            last_meeting: None,
            next_meeting: None,
            new_problems: vec![],
            new_critiques: vec![],
            resolutions: vec![],
            unanswered: vec![],
            total_new_problems: 0,
            total_new_critiques: 0,
            total_resolutions: 0,
            total_unanswered: 0,
        };
        app.handle_event(Event::Net(NetMsg::Digest {
            circle: "cataloguers".into(),
            digest: Box::new(digest),
        }));
        let Some(Overlay::Digest { text, .. }) = &app.overlay else {
            panic!("{:?}", app.overlay);
        };
        assert!(text.starts_with("Since the start") && text.contains("Still unanswered: none"));
        app.handle_event(ch('x'));
        assert!(app.overlay.is_none(), "any key closes it");

        // Members cannot schedule.
        app.circles
            .iter_mut()
            .for_each(|c| c.info.role = Some(Role::Member));
        app.handle_event(ch('M'));
        assert!(app.compose.is_none());
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("only a facilitator"))
        );
    }

    #[test]
    fn only_the_author_accepts_the_selected_critique() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", problem(2, "ana", "Overdue fines")));
        app.handle_event(live("cataloguers", critique(3, "ben", 2, "Amnesty week")));
        app.handle_event(live("cataloguers", problem(4, "ben", "Noisy study room")));
        app.handle_event(live("cataloguers", critique(5, "ana", 4, "Quiet hours")));
        // Ben's problem (newest, selected): its thread, its critique, but not mine to accept.
        app.handle_event(key(KeyCode::Enter));
        assert!(matches!(app.overlay, Some(Overlay::Thread(_))));
        app.handle_event(ch('j'));
        assert_eq!(app.handle_event(ch('a')), vec![]);
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("only ben"))
        );
        // My problem: a accepts the selected critique.
        app.handle_event(key(KeyCode::Esc));
        app.handle_event(ch('k'));
        app.handle_event(key(KeyCode::Enter));
        app.handle_event(ch('j'));
        assert_eq!(
            app.handle_event(ch('a')),
            vec![Action::Net(Request::Post(Post::Accept {
                circle: "cataloguers".into(),
                problem: id(2),
                critique: id(3),
            }))]
        );
    }

    #[test]
    fn presence_and_members_track_who_is_online() {
        let mut app = connected_app();
        let presence = |handle: &str, online| {
            Event::Net(NetMsg::Notice(Notice::Presence(PresenceNotice {
                circle: "cataloguers".into(),
                handle: handle.into(),
                online,
            })))
        };
        app.handle_event(presence("ben", true));
        app.handle_event(presence("cara", true));
        app.handle_event(presence("ben", false));
        let online: Vec<&str> = app.circles[0].online.iter().map(String::as_str).collect();
        assert_eq!(online, vec!["cara"]);
    }

    #[test]
    fn joining_a_public_circle() {
        let mut app = connected_app();
        app.handle_event(ch('G')); // timeline focus: last entry
        app.handle_event(ch('h'));
        app.handle_event(ch('G'));
        assert_eq!(app.circle().map(|c| c.slug()), Some("garden"));
        app.handle_event(ch('n'));
        assert!(app.compose.is_none(), "not a member: no compose");
        assert_eq!(
            app.handle_event(ch('J')),
            vec![Action::Net(Request::Join {
                circle: "garden".into()
            })]
        );
        let actions = app.handle_event(Event::Net(NetMsg::Joined(info(
            "garden",
            Some(Role::Member),
            10,
            10,
        ))));
        assert_eq!(
            actions,
            vec![Action::Net(Request::Load {
                circle: "garden".into()
            })]
        );
        assert_eq!(app.circle().map(|c| c.slug()), Some("garden"));
    }

    #[test]
    fn signed_out_quits_with_the_reason() {
        let mut app = App::new("ws://x/v1/ws", "ana");
        let actions = app.handle_event(Event::Net(NetMsg::SignedOut("expired".into())));
        assert_eq!(actions, vec![Action::Quit]);
        assert_eq!(app.signed_out.as_deref(), Some("expired"));
    }

    #[test]
    fn keys_quit_help_and_escape() {
        let mut app = connected_app();
        app.handle_event(ch('?'));
        assert_eq!(app.overlay, Some(Overlay::Help { scroll: 0 }));
        assert_eq!(app.handle_event(ch('q')), vec![], "q closes help first");
        assert_eq!(app.overlay, None);
        app.handle_event(ch('n'));
        assert_eq!(
            app.handle_event(ch('q')),
            vec![],
            "q is typed while writing"
        );
        app.handle_event(key(KeyCode::Esc));
        assert!(app.compose.is_none());
        app.handle_event(live("cataloguers", note(3, "ben", "bye")));
        assert_eq!(
            app.handle_event(ch('q')),
            vec![
                Action::Net(Request::MarkRead {
                    circle: "cataloguers".into(),
                    seq: 3
                }),
                Action::Quit
            ],
            "quitting sends the read marker first"
        );
        assert_eq!(app.handle_event(ctrl('c')), vec![Action::Quit]);
    }

    fn mention(circle: &str, event: &LogEvent) -> Event {
        Event::Net(NetMsg::Notice(Notice::Mention(
            circles_protocol::notify::MentionNotice {
                circle: circle.into(),
                post: event.id,
                event: event.clone(),
            },
        )))
    }

    fn mentions_in(app: &App, slug: &str) -> u64 {
        app.circles
            .iter()
            .find(|c| c.slug() == slug)
            .map_or(0, CircleState::mentions)
    }

    #[test]
    fn mentions_are_counted_apart_and_told_when_in_another_circle() {
        let mut app = connected_app();
        let mut reading = info("reading", Some(Role::Member), 4, 1);
        reading.mentions = 1;
        app.handle_event(Event::Net(NetMsg::Circles(vec![
            info("cataloguers", Some(Role::Facilitator), 2, 2),
            reading,
        ])));
        assert_eq!(mentions_in(&app, "reading"), 1);
        // One arrives for reading, which is not on screen: counted and told.
        let there = note(5, "ben", "@ana, see this\nand more");
        app.handle_event(live("reading", there.clone()));
        app.handle_event(mention("reading", &there));
        assert_eq!(mentions_in(&app, "reading"), 2);
        assert_eq!(app.circles[1].unread(), 4);
        let flash = app.flash.take().expect("flash");
        assert_eq!(flash.text, "@ben mentioned you in reading: @ana, see this");
        // One in the circle on screen: read at once, and not told.
        let here = note(3, "ben", "@ana here");
        app.handle_event(live("cataloguers", here.clone()));
        app.handle_event(mention("cataloguers", &here));
        assert!(app.flash.is_none(), "{:?}", app.flash);
        assert_eq!(mentions_in(&app, "cataloguers"), 0);
        // Opening reading reads its mentions.
        app.select_circle(1);
        assert_eq!(mentions_in(&app, "reading"), 0);
    }

    fn norms(version: u64, text: &str) -> Norms {
        Norms {
            version,
            text: text.into(),
            set_by: "ana".into(),
            at: 1_764_436_000_000,
        }
    }

    fn refused(circle: &str, version: u64, request: Request) -> Event {
        Event::Net(NetMsg::NormsRefused {
            circle: circle.into(),
            norms: norms(version, "Critique the plan, not the person."),
            request: Box::new(request),
        })
    }

    #[test]
    fn a_post_refused_for_norms_asks_then_accepts_and_sends_it_again() {
        let mut app = connected_app();
        app.handle_event(ch('n'));
        typed(&mut app, "hello all");
        let sent = app.handle_event(key(KeyCode::Enter));
        let note = Request::Post(Post::Note {
            circle: "cataloguers".into(),
            body: "hello all".into(),
        });
        assert_eq!(sent, vec![Action::Net(note.clone())]);
        app.handle_event(refused("cataloguers", 2, note.clone()));
        assert!(
            matches!(&app.overlay, Some(Overlay::Consent { norms, .. }) if norms.version == 2),
            "{:?}",
            app.overlay
        );
        assert_eq!(
            app.circle()
                .and_then(|c| c.norms.as_ref())
                .map(|n| n.version),
            Some(2)
        );
        // Other keys do nothing while it asks, even with a compose line open.
        app.handle_event(ch('p'));
        assert!(app.compose.is_none());
        let accepted = app.handle_event(ch('y'));
        assert_eq!(
            accepted,
            vec![Action::Net(Request::AcceptNorms {
                circle: "cataloguers".into(),
                version: 2,
                then: Box::new(note),
            })]
        );
        assert!(app.overlay.is_none());
    }

    #[test]
    fn declining_the_norms_gives_the_text_back() {
        let mut app = connected_app();
        let problem = Request::Post(Post::Problem {
            circle: "cataloguers".into(),
            title: "E-books".into(),
            body: "They vanish.".into(),
        });
        app.handle_event(refused("cataloguers", 1, problem));
        assert_eq!(app.handle_event(ch('n')), vec![]);
        assert!(app.overlay.is_none());
        let compose = app.compose.as_ref().expect("the text is back");
        assert_eq!(compose.text, "They vanish.");
        assert_eq!(
            compose.kind,
            ComposeKind::ProblemBody {
                title: "E-books".into()
            }
        );
        let flash = app.flash.as_ref().expect("flash");
        assert!(flash.text.starts_with("Not sent"), "{flash:?}");
    }

    #[test]
    fn a_join_refused_for_norms_joins_once_they_are_accepted() {
        let mut app = connected_app();
        app.select_circle(2);
        assert_eq!(app.circle().map(|c| c.slug()), Some("garden"));
        let join = Request::Join {
            circle: "garden".into(),
        };
        assert_eq!(app.handle_event(ch('J')), vec![Action::Net(join.clone())]);
        app.handle_event(refused("garden", 3, join.clone()));
        assert_eq!(
            app.handle_event(ch('y')),
            vec![Action::Net(Request::AcceptNorms {
                circle: "garden".into(),
                version: 3,
                then: Box::new(join),
            })]
        );
    }

    #[test]
    fn n_shows_the_norms_and_facilitators_write_new_ones() {
        let mut app = connected_app();
        assert_eq!(
            app.handle_event(ch('N')),
            vec![Action::Net(Request::Members {
                circle: "cataloguers".into()
            })]
        );
        assert!(matches!(
            app.overlay,
            Some(Overlay::Norms { loading: true, .. })
        ));
        app.handle_event(Event::Net(NetMsg::Members {
            circle: "cataloguers".into(),
            members: Vec::new(),
            norms: Some(norms(1, "Be kind.")),
        }));
        assert!(matches!(
            app.overlay,
            Some(Overlay::Norms { loading: false, .. })
        ));
        // e: the current text to change, sent as a new version.
        app.handle_event(ch('e'));
        assert!(app.overlay.is_none());
        let compose = app.compose.as_ref().expect("compose");
        assert_eq!(
            (&compose.kind, compose.text.as_str()),
            (&ComposeKind::Norms, "Be kind.")
        );
        typed(&mut app, " Be brief.");
        assert_eq!(
            app.handle_event(key(KeyCode::Enter)),
            vec![Action::Net(Request::Post(Post::Norms {
                circle: "cataloguers".into(),
                text: "Be kind. Be brief.".into(),
            }))]
        );
        // A norms event makes them the circle's current ones.
        let set = crate::tui::timeline::tests::event(
            3,
            "ana",
            circles_protocol::EventBody::Norms {
                version: 2,
                text: "Be kind. Be brief.".into(),
            },
        );
        app.handle_event(live("cataloguers", set));
        let current = app.circle().and_then(|c| c.norms.clone());
        assert_eq!(
            current.map(|n| (n.version, n.text)),
            Some((2, "Be kind. Be brief.".into()))
        );

        // A member only reads them.
        app.handle_event(ch(']'));
        assert_eq!(app.circle().map(|c| c.slug()), Some("reading"));
        app.handle_event(ch('N'));
        app.handle_event(ch('e'));
        assert!(app.compose.is_none());
        let flash = app.flash.as_ref().expect("flash");
        assert!(flash.text.contains("only a facilitator"), "{flash:?}");
    }

    pub fn hit(circle: &str, kind: HitKind, seq: u64, problem: u64) -> SearchHit {
        SearchHit {
            circle: circle.into(),
            kind,
            id: id(seq),
            problem: id(problem),
            title: "Patrons cannot find e-books".into(),
            status: circles_protocol::model::ProblemStatus::Open,
            author: "ben".into(),
            at: 0,
            seq,
            snippet: vec![
                SnippetPart {
                    text: "A ".into(),
                    hit: false,
                },
                SnippetPart {
                    text: "banner".into(),
                    hit: true,
                },
                SnippetPart {
                    text: " on the old page helped".into(),
                    hit: false,
                },
            ],
        }
    }

    fn found(query: &str, circle: Option<&str>, hits: Vec<SearchHit>) -> Event {
        Event::Net(NetMsg::Found {
            query: query.into(),
            circle: circle.map(Into::into),
            hits: Ok(hits),
        })
    }

    fn search_view(app: &App) -> &SearchView {
        match &app.overlay {
            Some(Overlay::Search(view)) => view,
            other => panic!("no search results: {other:?}"),
        }
    }

    #[test]
    fn slash_searches_every_circle_and_tab_keeps_to_this_one() {
        let mut app = connected_app();
        app.handle_event(ch('/'));
        typed(&mut app, "banners");
        assert_eq!(
            app.handle_event(key(KeyCode::Enter)),
            vec![Action::Net(Request::Search {
                query: "banners".into(),
                circle: None,
            })]
        );
        assert!(app.compose.is_none());
        assert_eq!(search_view(&app).hits, None);
        // An answer to another search is not this one's.
        app.handle_event(found("other", None, vec![]));
        assert_eq!(search_view(&app).hits, None);
        app.handle_event(found("banners", None, vec![]));
        assert_eq!(search_view(&app).hits, Some(Ok(vec![])));
        // `/` again: the same words, Tab: only in the circle on screen.
        app.handle_event(ch('/'));
        app.handle_event(key(KeyCode::Tab));
        let compose = app.compose.as_ref().expect("the search prompt");
        assert_eq!(compose.text, "banners");
        assert!(compose.prompt().contains("cataloguers only"));
        assert_eq!(
            app.handle_event(key(KeyCode::Enter)),
            vec![Action::Net(Request::Search {
                query: "banners".into(),
                circle: Some("cataloguers".into()),
            })]
        );
        // Nothing typed: nothing searched.
        app.handle_event(ch('/'));
        app.handle_event(ctrl('u'));
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        assert!(app.compose.is_some());
        app.handle_event(key(KeyCode::Esc));
        app.handle_event(key(KeyCode::Esc));
        assert_eq!(app.overlay, None);
    }

    #[test]
    fn enter_on_a_hit_opens_its_problem_even_in_a_circle_i_am_not_in() {
        let mut app = connected_app();
        app.handle_event(live("cataloguers", critique(3, "ben", 2, "A banner")));
        app.select_circle(1);
        app.handle_event(ch('/'));
        typed(&mut app, "banner");
        app.handle_event(key(KeyCode::Enter));
        app.handle_event(found(
            "banner",
            None,
            vec![
                hit("garden", HitKind::Problem, 7, 7),
                hit("cataloguers", HitKind::Critique, 3, 2),
            ],
        ));
        // The second hit: the critique's problem, in its own circle.
        app.handle_event(ch('j'));
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        assert_eq!(app.circle().map(|c| c.slug()), Some("cataloguers"));
        match &app.overlay {
            Some(Overlay::Thread(thread)) => assert_eq!(thread.problem, id(2)),
            other => panic!("no thread: {other:?}"),
        }
        // Back to the results, the first hit: garden is loaded, then opened.
        app.handle_event(key(KeyCode::Esc));
        app.handle_event(ch('/'));
        typed(&mut app, "banner");
        app.handle_event(key(KeyCode::Enter));
        app.handle_event(found(
            "banner",
            None,
            vec![hit("garden", HitKind::Problem, 7, 7)],
        ));
        assert_eq!(
            app.handle_event(key(KeyCode::Enter)),
            vec![Action::Net(Request::Load {
                circle: "garden".into()
            })]
        );
        assert_eq!(app.circle().map(|c| c.slug()), Some("garden"));
        assert_eq!(app.overlay, None);
        app.handle_event(Event::Net(NetMsg::History {
            circle: "garden".into(),
            events: vec![join(1, "eve"), problem(7, "eve", "Weeds")],
        }));
        match &app.overlay {
            Some(Overlay::Thread(thread)) => assert_eq!(thread.problem, id(7)),
            other => panic!("no thread: {other:?}"),
        }
    }

    #[test]
    fn a_hit_in_a_circle_new_since_the_list_was_read_opens_once_listed_again() {
        let mut app = connected_app();
        app.handle_event(ch('/'));
        typed(&mut app, "weeds");
        app.handle_event(key(KeyCode::Enter));
        app.handle_event(found(
            "weeds",
            None,
            vec![hit("allotments", HitKind::Problem, 5, 5)],
        ));
        assert_eq!(
            app.handle_event(key(KeyCode::Enter)),
            vec![Action::Net(Request::ListCircles)]
        );
        let actions = app.handle_event(Event::Net(NetMsg::Circles(vec![
            info("reading", Some(Role::Member), 4, 1),
            info("garden", None, 9, 0),
            info("cataloguers", Some(Role::Facilitator), 2, 2),
            info("allotments", None, 5, 0),
        ])));
        assert!(
            actions.contains(&Action::Net(Request::Load {
                circle: "allotments".into()
            })),
            "{actions:?}"
        );
        assert_eq!(app.circle().map(|c| c.slug()), Some("allotments"));
    }

    #[test]
    fn similar_problems_elsewhere_show_after_posting_one() {
        let mut app = connected_app();
        app.handle_event(ch('p'));
        typed(&mut app, "Nobody finds the e-books");
        app.handle_event(key(KeyCode::Enter));
        let post = Post::Problem {
            circle: "cataloguers".into(),
            title: "Nobody finds the e-books".into(),
            body: String::new(),
        };
        assert_eq!(
            app.handle_event(key(KeyCode::Enter)),
            vec![Action::Net(Request::Post(post.clone()))]
        );
        app.handle_event(Event::Net(NetMsg::Posted(post)));
        assert_eq!(app.overlay, None);
        app.handle_event(Event::Net(NetMsg::Similar {
            title: "Nobody finds the e-books".into(),
            hits: vec![hit("reading", HitKind::Problem, 3, 3)],
        }));
        let view = search_view(&app);
        assert_eq!(view.similar_to.as_deref(), Some("Nobody finds the e-books"));
        assert_eq!(view.found().len(), 1);
        let flash = app.flash.as_ref().map(|f| f.text.as_str());
        assert_eq!(
            flash,
            Some("Your problem is posted; 1 similar problem in other circles.")
        );
        // Enter: that problem, in its circle (loading).
        assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
        assert_eq!(app.circle().map(|c| c.slug()), Some("reading"));
    }
}
