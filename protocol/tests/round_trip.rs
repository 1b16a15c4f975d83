//! Every event and every response survives JSON and back, whatever its text.

use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::{Role, Stance};
use circles_protocol::{ErrorKind, ErrorObject, Id, Response};
use proptest::prelude::*;
use uuid::Uuid;

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, quotes, backslashes and control characters included.
    any::<String>()
}

fn body() -> impl Strategy<Value = EventBody> {
    prop_oneof![
        (text(), text(), prop::collection::vec(text(), 0..4))
            .prop_map(|(title, body, tags)| EventBody::Problem { title, body, tags }),
        (uuid(), text(), 0usize..4).prop_map(|(problem, body, s)| EventBody::Critique {
            problem,
            body,
            stance: Stance::ALL[s]
        }),
        text().prop_map(|body| EventBody::Note { body }),
        (
            uuid(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(post, title, body)| EventBody::Edit { post, title, body }),
        uuid().prop_map(|post| EventBody::Retract { post }),
        (
            uuid(),
            prop::collection::vec(uuid(), 0..4),
            proptest::option::of(text())
        )
            .prop_map(|(problem, helpful, summary)| EventBody::Resolve {
                problem,
                helpful,
                summary
            }),
        (uuid(), uuid()).prop_map(|(problem, critique)| EventBody::Accept { problem, critique }),
        (uuid(), text(), any::<u8>()).prop_map(|(problem, text, usefulness)| EventBody::Reflect {
            problem,
            text,
            usefulness
        }),
        uuid().prop_map(|problem| EventBody::Metoo { problem }),
        any::<bool>().prop_map(|f| EventBody::Join {
            role: if f { Role::Facilitator } else { Role::Member }
        }),
        Just(EventBody::Leave {}),
        (text(), proptest::option::of(text()))
            .prop_map(|(member, reason)| EventBody::Remove { member, reason }),
    ]
}

proptest! {
    #[test]
    fn events_round_trip(seq in any::<u64>(), id in uuid(), author in text(), at in any::<u64>(), retracted in any::<bool>(), body in body()) {
        let event = Event { seq, id, author, at, retracted, body };
        let text = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, event);
    }

    #[test]
    fn responses_round_trip(n in any::<i64>(), s in text(), message in text(), which in 0usize..13) {
        let kind = ErrorKind::ALL[which];
        for id in [Id::Number(n), Id::String(s.clone()), Id::Null] {
            let error = Response::error(id.clone(), ErrorObject::new(kind, message.clone()));
            let back: Response = serde_json::from_str(&serde_json::to_string(&error).unwrap()).unwrap();
            prop_assert_eq!(back, error);
            let ok = Response::result(id, serde_json::json!({"s": s}));
            let back: Response = serde_json::from_str(&serde_json::to_string(&ok).unwrap()).unwrap();
            prop_assert_eq!(back, ok);
        }
    }
}
