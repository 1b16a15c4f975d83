//! What counts as an `@handle` mention in a post's text. The server notifies
//! from it and clients highlight with it, so both read a text the same way.
//!
//! A mention is `@` followed by a handle (2 to 32 characters of `a-z`, `0-9`,
//! `_` and `-`, as accounts are named), matched case-insensitively. The handle
//! runs until the first character a handle cannot contain, so `@ana,` and
//! `(@ana)` mention `ana`. An `@` right after a letter, digit, `_`, `-` or `.`
//! starts no mention, so the e-mail address `bob@ana.org` mentions nobody; nor
//! does a run longer than a handle may be.

use uuid::Uuid;

use crate::event::{Event, EventBody};

/// The post an event writes text for, with that text: a problem's title and
/// body, a critique's or a note's body, an edit's new title and body (the
/// post being the one edited). `None` for other events and retracted ones.
pub fn post_text(event: &Event) -> Option<(Uuid, [Option<&str>; 2])> {
    if event.retracted {
        return None;
    }
    match &event.body {
        EventBody::Problem { title, body, .. } => Some((event.id, [Some(title), Some(body)])),
        EventBody::Critique { body, .. } | EventBody::Note { body } => {
            Some((event.id, [None, Some(body)]))
        }
        EventBody::Edit { post, title, body } => Some((*post, [title.as_deref(), body.as_deref()])),
        _ => None,
    }
}

/// The handles an event's text mentions (see [`post_text`]), each once.
pub fn in_event(event: &Event) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let texts = post_text(event).map(|(_, texts)| texts).unwrap_or_default();
    for handle in texts.into_iter().flatten().flat_map(mentions) {
        if !found.contains(&handle) {
            found.push(handle);
        }
    }
    found
}

/// Whether `event` mentions `handle` in its text, written by someone else.
pub fn event_mentions(event: &Event, handle: &str) -> bool {
    event.author != handle && in_event(event).iter().any(|h| h == handle)
}

/// The characters a handle is made of, in either case.
fn handle_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The handles `text` mentions, lowercased, each once, in the order they first appear.
pub fn mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut before: Option<char> = None;
    let mut rest = text.char_indices().peekable();
    while let Some((at, c)) = rest.next() {
        let starts = c == '@'
            && !before.is_some_and(|b| b.is_alphanumeric() || b == '_' || b == '-' || b == '.');
        before = Some(c);
        if !starts {
            continue;
        }
        let start = at + 1;
        let mut end = start;
        while let Some(&(i, c)) = rest.peek() {
            if !handle_char(c) {
                break;
            }
            end = i + c.len_utf8();
            before = Some(c);
            rest.next();
        }
        let handle = text[start..end].to_ascii_lowercase();
        if (2..=32).contains(&handle.len()) && !found.contains(&handle) {
            found.push(handle);
        }
    }
    found
}

/// Whether `text` mentions `handle` (a handle as stored: lowercase).
pub fn mentions_handle(text: &str, handle: &str) -> bool {
    mentions(text).iter().any(|h| h == handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_end_where_a_handle_cannot_go_on() {
        assert_eq!(mentions("@ana, can you look?"), ["ana"]);
        assert_eq!(mentions("ask (@ana) or @ben."), ["ana", "ben"]);
        assert_eq!(mentions("@Ana and @ANA and @ana"), ["ana"]);
        assert_eq!(mentions("@cy_2-b!"), ["cy_2-b"]);
        assert_eq!(mentions("hi @ana\n@ben"), ["ana", "ben"]);
        assert_eq!(mentions("«@ana» @ana’s"), ["ana"]);
    }

    #[test]
    fn not_mentions() {
        assert!(mentions("write to bob@ana.org").is_empty());
        assert!(mentions("x_@ana y-@ana z.@ana é@ana 9@ana").is_empty());
        assert!(mentions("@a alone, @ and @!").is_empty());
        assert!(mentions(&format!("@{}", "x".repeat(33))).is_empty());
        assert_eq!(mentions(&format!("@{}", "x".repeat(32))).len(), 1);
        assert!(mentions("").is_empty());
    }

    #[test]
    fn events() {
        let mut event = Event {
            seq: 3,
            id: Uuid::nil(),
            author: "ana".into(),
            at: 0,
            retracted: false,
            body: EventBody::Problem {
                title: "Stuck, @ben?".into(),
                body: "@cy and @ben".into(),
                tags: vec![],
            },
        };
        assert_eq!(in_event(&event), ["ben", "cy"]);
        assert!(event_mentions(&event, "cy"));
        event.author = "cy".into();
        assert!(!event_mentions(&event, "cy"), "not yourself");
        let post = Uuid::now_v7();
        event.body = EventBody::Edit {
            post,
            title: None,
            body: Some("now @dee".into()),
        };
        assert_eq!(post_text(&event).map(|(p, _)| p), Some(post));
        assert_eq!(in_event(&event), ["dee"]);
        event.retracted = true;
        assert!(in_event(&event).is_empty());
        event.retracted = false;
        event.body = EventBody::Metoo { problem: post };
        assert!(post_text(&event).is_none());
    }

    #[test]
    fn one_handle() {
        assert!(mentions_handle("thanks @Ana!", "ana"));
        assert!(!mentions_handle("thanks @anabel", "ana"));
    }
}
