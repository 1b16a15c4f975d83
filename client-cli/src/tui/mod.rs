//! The full-screen client (`circles` with no arguments, or `circles tui`).
//!
//! - [`app`]: the state and [`app::App::handle_event`]: keys and network
//!   messages in, [`app::Action`]s out. No I/O.
//! - [`timeline`]: a circle's log folded into problems with their critiques.
//! - [`compose`]: the compose line's text editing.
//! - [`ui`]: [`ui::render`] draws the state; it only reads it.
//! - [`keys`]: the key list the `?` overlay shows.
//! - [`net`]: the network task behind a [`net::NetHandle`]: sign-in,
//!   history, subscriptions, posts, reconnecting with backoff.
//!
//! This module runs the loop: one `select!` over terminal events, network
//! messages and a one-second tick; after each, the frame is drawn again.

pub mod app;
pub mod compose;
pub mod keys;
pub mod net;
pub mod timeline;
pub mod ui;

use std::io::IsTerminal;
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, EventStream, KeyEventKind,
};
use crossterm::execute;
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;

use crate::commands::Ctx;
use crate::error::{CliError, CliResult};
use app::{Action, App, Event};
use net::{NetHandle, NetRx};

/// Network messages handled before the next frame is drawn.
const BATCH: usize = 512;
/// How long quitting waits for the last requests to be answered.
const QUIT_GRACE: Duration = Duration::from_secs(1);

pub async fn run(ctx: Ctx) -> CliResult<()> {
    let token = ctx.token()?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "the full-screen client needs a terminal; scripts use the subcommands (`circles --help`)"
                .into(),
        ));
    }
    let me = ctx.saved.handle.clone().unwrap_or_default();
    let mut app = App::new(&ctx.server, &me);
    let (net, from_net, net_task) = net::spawn(ctx.server.clone(), token);

    let mut terminal = ratatui::try_init().map_err(terminal_error)?;
    // ratatui's hook restores raw mode and the screen; this one also ends
    // bracketed paste, then hands over to it.
    let restore_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableBracketedPaste);
        restore_hook(info);
    }));
    let _ = execute!(std::io::stdout(), EnableBracketedPaste);

    let result = event_loop(&mut terminal, &mut app, &net, from_net).await;

    let _ = execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::restore();
    // Give the last requests (read markers) a moment to reach the server.
    drop(net);
    let _ = tokio::time::timeout(QUIT_GRACE, net_task).await;
    result?;
    match app.signed_out {
        Some(message) => Err(CliError::Auth(message)),
        None => Ok(()),
    }
}

fn terminal_error(err: std::io::Error) -> CliError {
    CliError::Local(format!("terminal: {err}"))
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    net: &NetHandle,
    mut from_net: NetRx,
) -> CliResult<()> {
    let mut terminal_events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        terminal
            .draw(|frame| ui::render(app, frame))
            .map_err(terminal_error)?;
        let mut events = Vec::new();
        tokio::select! {
            event = terminal_events.next() => match event {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    events.push(Event::Key(key));
                }
                Some(Ok(TermEvent::Paste(text))) => events.push(Event::Paste(text)),
                Some(Ok(_)) => {} // resize and the rest: draw again
                Some(Err(err)) => return Err(terminal_error(err)),
                None => return Ok(()),
            },
            msg = from_net.recv() => match msg {
                Some(msg) => {
                    events.push(Event::Net(msg));
                    while events.len() < BATCH {
                        match from_net.try_recv() {
                            Ok(msg) => events.push(Event::Net(msg)),
                            Err(_) => break,
                        }
                    }
                }
                None => return Ok(()),
            },
            _ = tick.tick() => events.push(Event::Tick),
        }
        let mut queue = std::collections::VecDeque::from(events);
        while let Some(event) = queue.pop_front() {
            for action in app.handle_event(event) {
                match action {
                    Action::Net(request) => net.send(request),
                    Action::Quit => return Ok(()),
                    Action::OpenEditor(text) => {
                        // The event reader would steal the editor's keys: stop it.
                        drop(terminal_events);
                        let edited = edit_outside(terminal, &text).await?;
                        terminal_events = EventStream::new();
                        queue.push_back(Event::Edited(edited));
                    }
                }
            }
        }
    }
}

/// Leaves the full screen, runs `$VISUAL` / `$EDITOR` on the text, comes back.
async fn edit_outside(
    terminal: &mut DefaultTerminal,
    text: &str,
) -> CliResult<Result<String, String>> {
    let _ = execute!(std::io::stdout(), DisableBracketedPaste);
    disable_raw_mode().map_err(terminal_error)?;
    execute!(std::io::stdout(), LeaveAlternateScreen).map_err(terminal_error)?;

    let edited = crate::editor::edit(text).await;

    enable_raw_mode().map_err(terminal_error)?;
    execute!(
        std::io::stdout(),
        EnterAlternateScreen,
        Clear(ClearType::All)
    )
    .map_err(terminal_error)?;
    let _ = execute!(std::io::stdout(), EnableBracketedPaste);
    // A new terminal draws everything again. (`Terminal::clear` would ask
    // the terminal where its cursor is, which can time out here.)
    *terminal = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))
        .map_err(terminal_error)?;
    Ok(edited)
}
