//! `circles`, the terminal client: scriptable commands and a full-screen TUI.
//!
//! - [`client`]: a connection to the server (typed calls, notifications).
//! - [`config`]: the saved server URL and token.
//! - [`editor`]: long texts in `$EDITOR`.
//! - [`cli`] and [`commands`]: the command line and what each command does.
//! - [`follow`]: following a circle across reconnects (`circles tail`).
//! - [`ids`]: short post ids and unique prefixes.
//! - [`output`]: how results look in the terminal.
//! - [`tui`]: the full-screen client.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod editor;
pub mod error;
pub mod follow;
pub mod ids;
pub mod output;
pub mod tui;
pub mod when;
