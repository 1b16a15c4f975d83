//! The keys, as the `?` help overlay lists them. [`super::app`] is where
//! they are handled; keep the two in step.

/// What the help overlay opens with, for someone new.
pub const ABOUT: &str =
    "Bring a problem you are stuck on; peers answer with critiques until it is resolved.";

/// Sections of (keys, what they do); a section starts with an empty `keys`.
pub const HELP: &[(&str, &str)] = &[
    ("", "Moving around"),
    ("↑ ↓  j k", "move in the focused pane (circles or timeline)"),
    ("← →  h l  Tab", "focus the circles / the timeline"),
    ("[  ]", "previous / next circle"),
    ("g G  PgUp PgDn", "first / last / page"),
    ("", "The selected problem"),
    ("Enter  o", "open its thread (all critiques in full)"),
    ("c", "critique it: share experience, advice or criticism"),
    ("m", "me too: you are stuck on this as well"),
    (
        "r",
        "resolve it (yours): opens the thread to mark what helped",
    ),
    ("", "Writing"),
    ("n", "write a note to the circle"),
    ("p", "bring a problem: its title, Enter, then its body"),
    ("Enter", "send (a problem's title: go on to its body)"),
    ("Alt-Enter  Ctrl-J", "new line"),
    ("Ctrl-E", "write it in $EDITOR"),
    (
        "Tab",
        "a critique's stance: suggestion, question, experience, concern",
    ),
    ("Esc", "cancel"),
    ("", "In a thread"),
    ("j k", "select a critique"),
    ("a", "accept it as an answer (your problem)"),
    (
        "f",
        "reflect on a resolved problem: how useful, then what you take from it",
    ),
    ("Space", "mark it as helpful (your open problem)"),
    (
        "e  E",
        "write the case study of a resolved problem to a file (E: anonymised)",
    ),
    (
        "r",
        "resolve with the marked critiques (r twice: it cannot be undone)",
    ),
    ("Esc  q", "close the thread"),
    ("", "Meetings"),
    (
        "D",
        "digest: what changed since the last meeting, what is unanswered",
    ),
    (
        "M",
        "schedule a meeting (facilitators): when, then a title; open problems are the agenda",
    ),
    ("", "Norms"),
    (
        "N",
        "the circle's norms: how its members agree to work together",
    ),
    (
        "e",
        "with the norms open (facilitators): write a new version",
    ),
    (
        "y  n",
        "when a post or join waits for the norms: accept them and send it, or cancel",
    ),
    ("", "Search"),
    (
        "/",
        "search problems and critiques in every circle you may read (Tab: this circle only)",
    ),
    (
        "j k  Enter",
        "in the results (and the similar problems shown after you bring one): choose, open its thread",
    ),
    ("", "Other"),
    (
        "J",
        "join the selected circle (public circles you are not in)",
    ),
    (
        "S",
        "the circle's stats: problems raised and resolved, time to answers, unanswered",
    ),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

/// The one-line hint shown when nothing is being written.
pub const HINT: &str = "n note · p problem · c critique · m me too · r resolve · Enter thread · S stats · N norms · / search · ? help · q quit";

/// The hint while a thread is open.
pub const THREAD_HINT: &str = "j k select · Space helped · r resolve · c critique · m me too · e case study · Esc close · ? help";
