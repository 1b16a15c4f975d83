//! The machine-readable contract: one JSON Schema document (draft 2020-12)
//! of every request, response and notification, generated from this crate's
//! types so it cannot drift from them.
//!
//! The server serves it at [`PATH`]; `docs/protocol.schema.json` is a checked-in
//! copy that a test keeps equal to [`document`]. Its layout is described in
//! `docs/protocol.md` ("Machine-readable contract").
//!
//! Params are described as the server reads them (a field with a default may
//! be left out), results and notifications as it writes them (a field is
//! required when the server always sends it).

use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::error::ErrorKind;
use crate::jsonrpc::{Notification, Request, Response};
use crate::methods;
use crate::notify::{
    CIRCLE_DELETED, CircleDeletedNotice, EVENT, EventNotice, MENTION, MentionNotice, PRESENCE,
    PresenceNotice,
};

/// Where the server serves the document.
pub const PATH: &str = "/v1/schema.json";

/// The document's `$id`: it names the protocol version, not a host.
pub const ID: &str = "urn:circles:protocol:v1";

/// The dialect every schema in the document is written in.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Builds the whole document. It is deterministic: the same crate version
/// always gives the same value, key order included.
pub fn document() -> Value {
    build().0
}

/// The document, and the names of the types whose read and written schemas
/// differ (a test keeps that list empty; see [`merge`]).
fn build() -> (Value, Vec<String>) {
    let settings = SchemaSettings::draft2020_12();
    // What the server reads (params, requests) and what it writes (results,
    // notifications, responses): the two differ where a field has a default.
    let mut reads = settings.clone().for_deserialize().into_generator();
    let mut writes = settings.for_serialize().into_generator();

    let methods: Map<String, Value> = methods::schemas(&mut reads, &mut writes)
        .into_iter()
        .map(|m| {
            let mut entry = Map::new();
            let doc = describe(m.doc);
            if !doc.is_empty() {
                entry.insert("description".into(), doc.into());
            }
            entry.insert("params".into(), m.params.to_value());
            entry.insert("result".into(), m.result.to_value());
            (m.name.to_owned(), Value::Object(entry))
        })
        .collect();

    let notifications: Map<String, Value> = notices(&mut writes)
        .into_iter()
        .map(|(name, params)| (name.to_owned(), json!({ "params": params.to_value() })))
        .collect();

    let request = reads.subschema_for::<Request>().to_value();
    let response = writes.subschema_for::<Response>().to_value();
    let notification = writes.subschema_for::<Notification>().to_value();
    writes.subschema_for::<ErrorKind>();

    let mut defs = reads.take_definitions(true);
    let clashes = merge(&mut defs, writes.take_definitions(true));

    let errors: Map<String, Value> = ErrorKind::ALL
        .into_iter()
        .map(|kind| {
            let mut entry = Map::new();
            entry.insert("code".into(), kind.code().into());
            if let Some(text) = variant_description(defs.get("ErrorKind"), kind.name()) {
                entry.insert("description".into(), text.into());
            }
            (kind.name().to_owned(), Value::Object(entry))
        })
        .collect();

    let document = json!({
        "$schema": DIALECT,
        "$id": ID,
        "title": "Circles protocol",
        "description": "Circles wire protocol v1: JSON-RPC 2.0 over the WebSocket at /v1/ws, one \
            object per text frame. The document itself validates any frame; `methods`, \
            `notifications` and `errors` type each method, notification and error kind.",
        "version": env!("CARGO_PKG_VERSION"),
        "anyOf": [
            request.clone(),
            { "type": "array", "minItems": 1, "items": request },
            response.clone(),
            notification,
            { "type": "array", "minItems": 1, "items": response },
        ],
        "methods": methods,
        "notifications": notifications,
        "errors": Value::Object(errors),
        "$defs": defs,
    });
    (document, clashes)
}

/// Adds the written definitions to the read ones. Both generators name a type
/// the same way, so a type that is read and written (`Visibility`, `Empty`)
/// must have one schema for both; the names of those that do not are returned.
fn merge(defs: &mut Map<String, Value>, written: Map<String, Value>) -> Vec<String> {
    let mut clashes = Vec::new();
    for (name, schema) in written {
        match defs.get(&name) {
            None => {
                defs.insert(name, schema);
            }
            Some(read) if *read == schema => {}
            Some(_) => clashes.push(name),
        }
    }
    defs.sort_keys();
    clashes
}

/// [`document`] as the checked-in file holds it: pretty-printed, with a
/// trailing newline.
pub fn text() -> String {
    format!("{:#}\n", document())
}

/// Every notification with its params (a test checks the list against
/// [`Notice`](crate::notify::Notice)).
fn notices(writes: &mut SchemaGenerator) -> Vec<(&'static str, Schema)> {
    vec![
        (EVENT, writes.subschema_for::<EventNotice>()),
        (PRESENCE, writes.subschema_for::<PresenceNotice>()),
        (
            CIRCLE_DELETED,
            writes.subschema_for::<CircleDeletedNotice>(),
        ),
        (MENTION, writes.subschema_for::<MentionNotice>()),
    ]
}

/// A doc comment's lines as one paragraph.
fn describe(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The doc comment of one unit variant, from its enum's generated schema
/// (`oneOf: [{"const": "parse_error", "description": …}, …]`).
fn variant_description(schema: Option<&Value>, name: &str) -> Option<String> {
    schema?
        .get("oneOf")?
        .as_array()?
        .iter()
        .find(|variant| variant.get("const").and_then(Value::as_str) == Some(name))?
        .get("description")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Notice;
    use std::path::PathBuf;

    fn checked_in() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.schema.json")
    }

    /// The checked-in file is `document()` pretty-printed with a trailing newline.
    /// `CIRCLES_BLESS=1 cargo test -p circles-protocol schema` rewrites it.
    #[test]
    fn schema_checked_in_matches_document() {
        let text = text();
        let path = checked_in();
        if std::env::var_os("CIRCLES_BLESS").is_some() {
            std::fs::write(&path, &text).unwrap();
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "{} differs from circles_protocol::schema::document(): the wire types changed. \
             Review the change, then regenerate it with \
             `CIRCLES_BLESS=1 cargo test -p circles-protocol schema` and commit it.",
            path.display()
        );
    }

    #[test]
    fn schema_lists_every_method_notification_and_error() {
        let doc = document();
        for name in methods::ALL {
            let entry = &doc["methods"][name];
            assert!(entry["params"].is_object(), "{name} has no params schema");
            assert!(entry["result"].is_object(), "{name} has no result schema");
        }
        assert_eq!(
            doc["methods"].as_object().map(Map::len),
            Some(methods::ALL.len())
        );
        for name in [EVENT, PRESENCE, CIRCLE_DELETED, MENTION] {
            assert!(doc["notifications"][name]["params"].is_object(), "{name}");
        }
        for kind in ErrorKind::ALL {
            assert_eq!(doc["errors"][kind.name()]["code"], json!(kind.code()));
            assert!(doc["errors"][kind.name()]["description"].is_string());
        }
    }

    #[test]
    fn schema_notifications_match_the_notice_enum() {
        // The adjacently tagged `Notice` names each variant's method: they
        // must be the notifications the document lists, no more, no less.
        let mut generator = SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator();
        let schema = generator.root_schema_for::<Notice>().to_value();
        let mut tagged: Vec<&str> = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|variant| variant["properties"]["method"]["const"].as_str().unwrap())
            .collect();
        tagged.sort_unstable();
        let doc = document();
        let mut listed: Vec<&str> = doc["notifications"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        listed.sort_unstable();
        assert_eq!(tagged, listed);
    }

    #[test]
    fn schema_refs_all_resolve() {
        fn walk(value: &Value, defs: &Map<String, Value>) {
            match value {
                Value::Object(object) => {
                    if let Some(Value::String(target)) = object.get("$ref") {
                        let name = target.strip_prefix("#/$defs/").unwrap_or(target);
                        assert!(defs.contains_key(name), "dangling $ref {target}");
                    }
                    object.values().for_each(|child| walk(child, defs));
                }
                Value::Array(items) => items.iter().for_each(|item| walk(item, defs)),
                _ => {}
            }
        }
        let doc = document();
        let defs = doc["$defs"].as_object().unwrap();
        walk(&doc, defs);
    }

    #[test]
    fn schema_types_read_and_written_agree() {
        let (_, clashes) = build();
        assert!(
            clashes.is_empty(),
            "these types are both params and results, and their schemas differ between \
             reading and writing (a field with a default?): {clashes:?}. Give the written \
             one a type of its own so each gets its own definition."
        );
        let mut defs = Map::new();
        defs.insert("A".into(), json!({"type": "string"}));
        let written = [("A", json!({"type": "integer"})), ("B", json!(true))];
        let clashes = merge(
            &mut defs,
            written
                .map(|(k, v)| (k.to_owned(), v))
                .into_iter()
                .collect(),
        );
        assert_eq!(clashes, ["A"]);
        assert_eq!(defs["A"], json!({"type": "string"}));
        assert_eq!(defs["B"], json!(true));
    }

    #[test]
    fn schema_is_deterministic() {
        assert_eq!(document(), document());
    }
}
