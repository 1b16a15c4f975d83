//! The command line: every subcommand and flag, with its help text.

use circles_protocol::model::Stance;
use clap::{Parser, Subcommand, ValueEnum};

/// Peer learning circles from the terminal. With no command, opens the full-screen client.
#[derive(Debug, Parser)]
#[command(name = "circles", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Server URL [default: the one you signed in to, else ws://127.0.0.1:7878/v1/ws].
    /// A URL without a path gets /v1/ws.
    #[arg(long, global = true, env = "CIRCLES_SERVER")]
    pub server: Option<String>,
    /// Print machine-readable JSON (read commands, and what write commands return).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

const EXIT_CODES: &str = "Exit codes: 0 ok, 1 refused by the server, 2 bad usage or input, \
3 server unreachable, 4 sign-in needed or failed, 5 local problem (config, terminal).\n\
Passwords are prompted for, or read from CIRCLES_PASSWORD.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account and sign in.
    Register {
        handle: String,
        /// How others see you (default: the handle).
        #[arg(long)]
        display_name: Option<String>,
        /// A registration invite, on servers that take new accounts by invite only.
        #[arg(long)]
        invite: Option<String>,
    },
    /// Sign in; the token is saved in your config directory.
    Login {
        /// Default: the handle you last signed in with.
        handle: Option<String>,
    },
    /// Sign out and forget the saved token.
    Logout,
    /// Circles you can see, with unread counts and unread mentions of you.
    List,
    /// Posts that mention you (@handle) and you have not read yet, in every circle.
    Mentions,
    /// Create a circle; you become its facilitator.
    Create {
        /// What people type to name it: 2-40 of a-z, 0-9 and -.
        slug: String,
        /// Its name as shown.
        #[arg(long)]
        name: String,
        /// What the circle is for.
        #[arg(long)]
        purpose: Option<String>,
        /// Members only; others join with an invite code.
        #[arg(long)]
        private: bool,
        /// Most members allowed (default 12).
        #[arg(long = "max")]
        max_members: Option<u32>,
    },
    /// Join a circle (private circles need --invite).
    Join {
        slug: String,
        /// The code a facilitator gave you (`circles invite`).
        #[arg(long)]
        invite: Option<String>,
    },
    /// Leave a circle.
    Leave { slug: String },
    /// Create an invite code (facilitators).
    Invite { slug: String },
    /// Who is in a circle, and who is online.
    Members { slug: String },
    /// A circle's norms: how its members agree to work together. Joining
    /// and posting wait until the current version is accepted.
    Norms {
        slug: String,
        /// Set new norms (facilitators): the text comes from --text, else
        /// stdin when piped, else $EDITOR.
        #[arg(long, conflicts_with = "accept")]
        set: bool,
        /// The new norms, with --set.
        #[arg(long, requires = "set")]
        text: Option<String>,
        /// Show the current norms and accept them.
        #[arg(long)]
        accept: bool,
        /// With --accept, for a private circle you are about to join: its invite code.
        #[arg(long, requires = "accept")]
        invite: Option<String>,
    },
    /// Bring a problem you are stuck on. The body comes from --body, else from
    /// stdin when piped, else from $EDITOR.
    Problem {
        slug: String,
        /// One line that says what you are stuck on.
        #[arg(long)]
        title: String,
        /// The details (else stdin when piped, else $EDITOR).
        #[arg(long)]
        body: Option<String>,
        /// A tag (repeat for more).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Answer a problem with experience, advice or criticism. The body comes
    /// from --body, else from stdin when piped, else from $EDITOR.
    Critique {
        slug: String,
        /// The problem's id: the short id shown, or a unique prefix.
        problem: String,
        #[arg(long)]
        body: Option<String>,
        /// What kind of answer it is [default: suggestion].
        #[arg(long, value_enum)]
        stance: Option<StanceArg>,
    },
    /// Say something in the circle.
    Note { slug: String, text: String },
    /// Mark your problem resolved, naming the critiques that helped.
    Resolve {
        slug: String,
        problem: String,
        /// A critique that helped (repeat for more).
        #[arg(long = "helpful")]
        helpful: Vec<String>,
        /// What was done, in a few sentences (at most 1000 characters).
        #[arg(long)]
        summary: Option<String>,
    },
    /// Accept a critique of your problem as an answer.
    Accept {
        slug: String,
        /// Your problem's id: the short id shown, or a unique prefix.
        problem: String,
        /// The critique's id: the short id shown, or a unique prefix.
        critique: String,
    },
    /// Reflect on a resolved problem: what you took from it. The text comes
    /// from --text, else from stdin when piped, else from $EDITOR.
    Reflect {
        slug: String,
        /// The problem's id: the short id shown, or a unique prefix.
        problem: String,
        /// How useful the thread was to you, 1 (not much) to 5 (very).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        usefulness: u8,
        #[arg(long)]
        text: Option<String>,
    },
    /// Say you have this problem too.
    Metoo { slug: String, problem: String },
    /// Change one of your posts.
    Edit {
        slug: String,
        /// The post's id: the short id shown, or a unique prefix.
        post: String,
        /// The new text (else stdin when piped, else $EDITOR).
        #[arg(long)]
        body: Option<String>,
        /// New title (problems only).
        #[arg(long)]
        title: Option<String>,
    },
    /// Withdraw a post (yours, or any as a facilitator).
    Retract {
        slug: String,
        /// The post's id: the short id shown, or a unique prefix.
        post: String,
    },
    /// The problems of a circle.
    Problems {
        slug: String,
        /// Only the open ones.
        #[arg(long, conflicts_with = "resolved")]
        open: bool,
        /// Only the resolved ones.
        #[arg(long)]
        resolved: bool,
    },
    /// A problem with its critiques.
    Show { slug: String, problem: String },
    /// Schedule a meeting of the circle (facilitators), with problems to talk through.
    Meeting {
        slug: String,
        /// When it starts: `2026-12-08 18:00` (local time), `2026-12-08`,
        /// RFC 3339, or from now: `+90m`, `+2h`, `+3d`.
        #[arg(long, value_parser = crate::when::parse, allow_hyphen_values = true)]
        at: chrono::DateTime<chrono::Utc>,
        /// A problem for the agenda (repeat for more, in order).
        #[arg(long = "agenda")]
        agenda: Vec<String>,
        /// A short name, such as "Monthly clinic".
        #[arg(long)]
        title: Option<String>,
    },
    /// What changed in a circle since its last meeting: new problems and
    /// critiques, resolutions, and the problems nobody has answered yet.
    Digest {
        slug: String,
        /// Start here instead: a date or time as for `meeting --at`, or a
        /// time ago: `-7d`, `-12h`.
        #[arg(long, value_parser = crate::when::parse, allow_hyphen_values = true)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Impact evidence: problems raised and resolved, how soon they were
    /// answered, what is left unanswered, with a chart per week.
    Stats {
        slug: String,
        /// From this day or time, as for `meeting --at`, or Unix
        /// milliseconds; `-4w` is four weeks ago [default: when the circle
        /// was created].
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
        /// To the end of this day (YYYY-MM-DD, local time), or up to this
        /// time [default: now].
        #[arg(long, allow_hyphen_values = true)]
        until: Option<String>,
    },
    /// Find problems and critiques in the circles you may read: someone may
    /// have had your problem already. Words match in any form ("catalogues"
    /// finds "catalogue"); "quoted phrases", +must and -not work too (after
    /// `--`: `circles search -- catalogue -budget`).
    Search {
        /// What to look for.
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
        /// Only in this circle.
        #[arg(long = "circle", value_name = "SLUG")]
        circle: Option<String>,
        /// At most this many results (1-50).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// A resolved problem as a Markdown case study, to share outside the circle.
    ExportCase {
        slug: String,
        /// The problem's id: the short id shown, or a unique prefix.
        problem: String,
        /// Name people "Member 1", "Member 2"… and give times since the problem was raised.
        #[arg(long)]
        anonymise: bool,
        /// Write it to this file instead of printing it.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// The latest events of a circle (those that mention you are marked).
    History {
        slug: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Follow a circle live; reconnects and resumes by itself. Events that
    /// mention you are marked.
    Tail {
        slug: String,
        /// Start after this seq (default: only new events).
        #[arg(long)]
        since: Option<u64>,
    },
    /// The full-screen client (also what `circles` alone opens).
    Tui,
    /// Shell completions: `circles completions bash > /etc/bash_completion.d/circles`.
    Completions { shell: clap_complete::Shell },
}

/// A critique's stance, as `--stance` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StanceArg {
    /// Advice: try this.
    Suggestion,
    /// A question back to the problem's author.
    Question,
    /// What worked (or did not) for me.
    Experience,
    /// Criticism: a risk or a flaw.
    Concern,
}

impl From<StanceArg> for Stance {
    fn from(arg: StanceArg) -> Stance {
        match arg {
            StanceArg::Suggestion => Stance::Suggestion,
            StanceArg::Question => Stance::Question,
            StanceArg::Experience => Stance::Experience,
            StanceArg::Concern => Stance::Concern,
        }
    }
}
