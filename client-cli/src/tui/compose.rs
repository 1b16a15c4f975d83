//! The compose line: what is being written, for what, and a cursor.
//! Plain text editing only; what Enter does is up to the app.

use circles_protocol::model::Stance;
use uuid::Uuid;

/// What the text will become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComposeKind {
    Note,
    /// The first step of a problem: its title.
    ProblemTitle,
    /// The second step: its body (may stay empty).
    ProblemBody {
        title: String,
    },
    /// Tab cycles its stance.
    Critique {
        problem: Uuid,
        title: String,
        stance: Stance,
    },
    /// The first step of a reflection: how useful the thread was, 1 to 5.
    ReflectUsefulness {
        problem: Uuid,
        title: String,
    },
    /// The second step: its text.
    Reflection {
        problem: Uuid,
        title: String,
        usefulness: u8,
    },
    /// The first step of a meeting (facilitators): when it starts.
    MeetingWhen,
    /// The second step: its title (may stay empty). `at` in ms.
    MeetingTitle {
        at: u64,
    },
    /// New norms for the circle (facilitators): the whole text.
    Norms,
    /// `/`: words to search for, in every circle I may read or (`here`)
    /// only in this one; Tab switches.
    Search {
        here: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compose {
    pub kind: ComposeKind,
    /// The circle's slug.
    pub circle: String,
    pub text: String,
    /// A byte offset on a char boundary of `text`.
    pub cursor: usize,
}

impl Compose {
    pub fn new(kind: ComposeKind, circle: &str) -> Compose {
        Compose {
            kind,
            circle: circle.to_owned(),
            text: String::new(),
            cursor: 0,
        }
    }

    pub fn with_text(mut self, text: &str) -> Compose {
        self.text = text.to_owned();
        self.cursor = self.text.len();
        self
    }

    /// The prompt in the compose box's title.
    pub fn prompt(&self) -> String {
        match &self.kind {
            ComposeKind::Note => format!("Note to {}", self.circle),
            ComposeKind::ProblemTitle => format!("New problem in {}: its title", self.circle),
            ComposeKind::ProblemBody { title } => {
                format!("New problem “{title}”: describe it (may stay empty)")
            }
            ComposeKind::Critique { title, stance, .. } => {
                format!(
                    "Critique on “{title}” as {} (Tab changes it)",
                    stance.name()
                )
            }
            ComposeKind::ReflectUsefulness { title, .. } => {
                format!("Reflect on “{title}”: how useful was it to you, 1 (not much) to 5 (very)?")
            }
            ComposeKind::Reflection {
                title, usefulness, ..
            } => format!("Reflection on “{title}” ({usefulness}/5): what you take from it"),
            ComposeKind::MeetingWhen => format!(
                "Meeting of {}: when? (2026-12-08 18:00, +2d…; open problems go on the agenda)",
                self.circle
            ),
            ComposeKind::MeetingTitle { at } => format!(
                "Meeting on {}: a title (may stay empty)",
                crate::output::time(*at)
            ),
            ComposeKind::Norms => format!(
                "The norms of {}: how members agree to work together (a new version)",
                self.circle
            ),
            ComposeKind::Search { here: true } => {
                format!("Search in {} only (Tab: every circle)", self.circle)
            }
            ComposeKind::Search { here: false } if self.circle.is_empty() => {
                "Search every circle you may read".into()
            }
            ComposeKind::Search { here: false } => {
                format!(
                    "Search every circle you may read (Tab: {} only)",
                    self.circle
                )
            }
        }
    }

    /// Whether a new line may be typed (titles are one line).
    pub fn multiline(&self) -> bool {
        !matches!(
            self.kind,
            ComposeKind::ProblemTitle
                | ComposeKind::ReflectUsefulness { .. }
                | ComposeKind::MeetingWhen
                | ComposeKind::MeetingTitle { .. }
                | ComposeKind::Search { .. }
        )
    }

    /// Tab: a critique's next stance; a search's other scope (when there
    /// is a circle to search alone).
    pub fn tab(&mut self) {
        match &mut self.kind {
            ComposeKind::Critique { stance, .. } => {
                let at = Stance::ALL.iter().position(|s| s == stance).unwrap_or(0);
                *stance = Stance::ALL[(at + 1) % Stance::ALL.len()];
            }
            ComposeKind::Search { here } if !self.circle.is_empty() => *here = !*here,
            _ => {}
        }
    }

    pub fn insert(&mut self, c: char) {
        if c == '\n' && !self.multiline() {
            return;
        }
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars() {
            match c {
                '\r' => {}
                '\n' if !self.multiline() => self.insert(' '),
                c => self.insert(c),
            }
        }
    }

    pub fn backspace(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
            self.text.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            self.text.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        if let Some(c) = self.text[..self.cursor].chars().next_back() {
            self.cursor -= c.len_utf8();
        }
    }

    pub fn right(&mut self) {
        if let Some(c) = self.text[self.cursor..].chars().next() {
            self.cursor += c.len_utf8();
        }
    }

    /// To the start of the current line.
    pub fn home(&mut self) {
        self.cursor = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
    }

    /// To the end of the current line.
    pub fn end(&mut self) {
        self.cursor += self.text[self.cursor..]
            .find('\n')
            .unwrap_or(self.text.len() - self.cursor);
    }

    /// Deletes the word before the cursor.
    pub fn delete_word(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        let start = trimmed.rfind(char::is_whitespace).map_or(0, |i| {
            i + trimmed[i..].chars().next().map_or(1, char::len_utf8)
        });
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
    }

    /// The cursor as (line, column in chars).
    pub fn cursor_position(&self) -> (usize, usize) {
        let before = &self.text[..self.cursor];
        let line = before.matches('\n').count();
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
        (line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editing_moves_the_cursor_on_char_boundaries() {
        let mut c = Compose::new(ComposeKind::Note, "c");
        c.insert_str("héllo wörld");
        c.delete_word();
        assert_eq!(c.text, "héllo ");
        c.left();
        c.left();
        c.backspace();
        assert_eq!(c.text, "hélo ");
        c.home();
        c.delete();
        assert_eq!(c.text, "élo ");
        c.end();
        c.insert('\n');
        c.insert('x');
        assert_eq!(c.cursor_position(), (1, 1));
    }

    #[test]
    fn titles_are_one_line() {
        let mut c = Compose::new(ComposeKind::ProblemTitle, "c");
        c.insert_str("a\nb");
        c.insert('\n');
        assert_eq!(c.text, "a b");
    }
}
