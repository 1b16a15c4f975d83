//! Post ids for people: shown short, accepted as any unique prefix.

use circles_protocol::event::EventBody;
use circles_protocol::methods::{CircleHistory, History};
use uuid::Uuid;

use crate::client::Caller;
use crate::error::{CliError, CliResult};

/// Characters shown of an id: its last 8 hex digits. A UUID v7 starts with
/// its millisecond timestamp, so posts of the same minute share their first
/// characters; its end is random, so 8 digits tell a circle's posts apart.
pub const SHORT: usize = 8;

/// History pages searched for a prefix before asking for the whole id.
const MAX_PAGES: usize = 50;

pub fn short(id: &Uuid) -> String {
    let hex = id.simple().to_string();
    hex[hex.len() - SHORT..].to_owned()
}

/// Which posts a reference may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostKind {
    Problem,
    Critique,
    Any,
}

impl PostKind {
    fn admits(self, body: &EventBody) -> bool {
        match self {
            PostKind::Problem => matches!(body, EventBody::Problem { .. }),
            PostKind::Critique => matches!(body, EventBody::Critique { .. }),
            PostKind::Any => body.is_post(),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            PostKind::Problem => "problem",
            PostKind::Critique => "critique",
            PostKind::Any => "post",
        }
    }
}

/// A full id as given, or the one post of `kind` in `circle` whose id starts
/// or ends with `input` (dashes optional): the short ids shown are id ends.
pub async fn resolve(
    caller: &Caller,
    circle: &str,
    input: &str,
    kind: PostKind,
) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::parse_str(input) {
        return Ok(id);
    }
    let prefix: String = input
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_lowercase();
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::Usage(format!(
            "{input:?} is not a {} id: give the id, its short form, or at least 4 of its characters",
            kind.noun()
        )));
    }
    let mut matches: Vec<Uuid> = Vec::new();
    let mut before = None;
    for _ in 0..MAX_PAGES {
        let page = caller
            .call::<CircleHistory>(History {
                circle: circle.to_owned(),
                before,
                limit: Some(200),
            })
            .await?;
        for event in &page.events {
            let hex = event.id.simple().to_string();
            // Retracted posts count: the server then says what happened to them.
            // The id as shown (its end), its start, or the start of what is shown.
            let shown = &hex[hex.len() - SHORT..];
            let named =
                hex.starts_with(&prefix) || hex.ends_with(&prefix) || shown.starts_with(&prefix);
            if named && kind.admits(&event.body) {
                matches.push(event.id);
            }
        }
        match (page.more, page.events.first()) {
            (true, Some(first)) => before = Some(first.seq),
            _ => break,
        }
    }
    match matches.as_slice() {
        [id] => Ok(*id),
        [] => Err(CliError::Refused(format!(
            "no {} in {circle} has an id starting or ending with {input}",
            kind.noun()
        ))),
        many => Err(CliError::Usage(format!(
            "{input} names {} {}s ({}); give more characters",
            many.len(),
            kind.noun(),
            many.iter()
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
