//! The circle log: everything that happens in a circle is an [`Event`] with a
//! gap-free sequence number `seq` (1, 2, 3...) within that circle.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Millis;
use crate::model::{Role, Stance};

/// One entry of a circle's log. On the wire its body's fields sit beside the
/// common ones: `{"seq":4,"id":"…","author":"ana","at":…,"kind":"note","body":"hi"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub seq: u64,
    /// The event's id (UUID v7). For `problem`, `critique` and `note` it is
    /// the post id other events refer to.
    pub id: Uuid,
    /// The handle of who did it.
    pub author: String,
    pub at: Millis,
    /// Set when the post was retracted: its text was erased from the log.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retracted: bool,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// Someone brings a problem they are stuck on: it opens a thread.
    Problem {
        title: String,
        body: String,
        #[serde(default)]
        tags: Vec<String>,
    },
    /// Experience, advice or criticism on a problem. `stance` says which;
    /// critiques stored without one read as `suggestion`.
    Critique {
        problem: Uuid,
        body: String,
        #[serde(default)]
        stance: Stance,
    },
    /// Plain chat.
    Note { body: String },
    /// The author changed a post. Absent fields are unchanged.
    Edit {
        post: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// The author (or a facilitator) withdrew a post.
    Retract { post: Uuid },
    /// The problem's author marks it resolved, naming the critiques that
    /// helped and, optionally, summing up what was done.
    Resolve {
        problem: Uuid,
        #[serde(default)]
        helpful: Vec<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    /// The problem's author accepted one of its critiques as an answer.
    Accept { problem: Uuid, critique: Uuid },
    /// A member's reflection on a resolved problem.
    Reflect {
        problem: Uuid,
        text: String,
        /// 1 (not much) to 5 (very).
        #[schemars(range(min = 1, max = 5))]
        usefulness: u8,
    },
    /// "I have this problem too."
    Metoo { problem: Uuid },
    /// A facilitator (the author) scheduled a meeting of the circle for
    /// `starts_at`, to talk through the problems on its `agenda`.
    Meeting {
        starts_at: Millis,
        #[serde(default)]
        agenda: Vec<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// A facilitator (the author) set version `version` of the circle's
    /// norms; setting them accepts them.
    Norms { version: u64, text: String },
    /// The author accepted version `version` of the norms (perhaps before
    /// joining).
    NormsAccept { version: u64 },
    /// The author joined the circle (the creator joins first, as facilitator).
    Join { role: Role },
    /// The author left the circle.
    Leave {},
    /// A facilitator (the author) removed `member` from the circle.
    Remove {
        member: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl EventBody {
    /// The `kind` name on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Problem { .. } => "problem",
            EventBody::Critique { .. } => "critique",
            EventBody::Note { .. } => "note",
            EventBody::Edit { .. } => "edit",
            EventBody::Retract { .. } => "retract",
            EventBody::Resolve { .. } => "resolve",
            EventBody::Accept { .. } => "accept",
            EventBody::Reflect { .. } => "reflect",
            EventBody::Metoo { .. } => "metoo",
            EventBody::Meeting { .. } => "meeting",
            EventBody::Norms { .. } => "norms",
            EventBody::NormsAccept { .. } => "norms_accept",
            EventBody::Join { .. } => "join",
            EventBody::Leave {} => "leave",
            EventBody::Remove { .. } => "remove",
        }
    }

    /// Posts are what people write and may later edit or retract.
    pub fn is_post(&self) -> bool {
        matches!(
            self,
            EventBody::Problem { .. } | EventBody::Critique { .. } | EventBody::Note { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn every_kind() -> Vec<EventBody> {
        let post = Uuid::now_v7();
        vec![
            EventBody::Problem {
                title: "Patrons cannot find the e-books".into(),
                body: "We moved the catalogue and…".into(),
                tags: vec!["catalogue".into()],
            },
            EventBody::Critique {
                problem: post,
                body: "We had this; a banner helped.".into(),
                stance: Stance::Experience,
            },
            EventBody::Note {
                body: "hello".into(),
            },
            EventBody::Edit {
                post,
                title: None,
                body: Some("better".into()),
            },
            EventBody::Retract { post },
            EventBody::Resolve {
                problem: post,
                helpful: vec![Uuid::now_v7()],
                summary: Some("A banner on the old page.".into()),
            },
            EventBody::Accept {
                problem: post,
                critique: Uuid::now_v7(),
            },
            EventBody::Reflect {
                problem: post,
                text: "Banners work.".into(),
                usefulness: 4,
            },
            EventBody::Metoo { problem: post },
            EventBody::Meeting {
                starts_at: 1_700_000_600_000,
                agenda: vec![post],
                title: Some("Catalogue clinic".into()),
            },
            EventBody::Norms {
                version: 2,
                text: "Critique the plan, not the person.".into(),
            },
            EventBody::NormsAccept { version: 2 },
            EventBody::Join {
                role: Role::Facilitator,
            },
            EventBody::Leave {},
            EventBody::Remove {
                member: "bob".into(),
                reason: Some("spam".into()),
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_with_its_kind_name() {
        for (seq, body) in every_kind().into_iter().enumerate() {
            let event = Event {
                seq: seq as u64 + 1,
                id: Uuid::now_v7(),
                author: "ana".into(),
                at: 1_700_000_000_000,
                retracted: false,
                body,
            };
            let value = serde_json::to_value(&event).unwrap();
            assert_eq!(value["kind"], json!(event.body.kind()));
            assert!(value.get("retracted").is_none());
            let back: Event = serde_json::from_value(value).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn wire_shape_is_flat() {
        let id = Uuid::nil();
        let event = Event {
            seq: 4,
            id,
            author: "ana".into(),
            at: 5,
            retracted: true,
            body: EventBody::Note { body: "".into() },
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"seq":4,"id":id,"author":"ana","at":5,"retracted":true,"kind":"note","body":""})
        );
    }

    #[test]
    fn events_stored_before_stances_and_summaries_still_read() {
        let p = Uuid::nil();
        let old =
            json!({"seq":4,"id":p,"author":"ben","at":1,"kind":"critique","problem":p,"body":"b"});
        let event: Event = serde_json::from_value(old).unwrap();
        assert_eq!(
            event.body,
            EventBody::Critique {
                problem: p,
                body: "b".into(),
                stance: Stance::Suggestion
            }
        );
        let old =
            json!({"seq":5,"id":p,"author":"ana","at":1,"kind":"resolve","problem":p,"helpful":[]});
        let event: Event = serde_json::from_value(old).unwrap();
        assert_eq!(
            event.body,
            EventBody::Resolve {
                problem: p,
                helpful: vec![],
                summary: None
            }
        );
        // New critiques always say their stance; a resolve without a summary omits it.
        let value = serde_json::to_value(&event).unwrap();
        assert!(value.get("summary").is_none());
    }

    #[test]
    fn unknown_kind_is_an_error() {
        let bad = json!({"seq":1,"id":Uuid::nil(),"author":"a","at":1,"kind":"poll"});
        assert!(serde_json::from_value::<Event>(bad).is_err());
    }
}
