//! The machine-readable contract: `GET /v1/schema.json` serves
//! `circles_protocol::schema::document()`, and real traffic from a live
//! server validates against it (a custom front end may check its own frames
//! the same way).

use circles_protocol::methods;
use circles_protocol::notify;
use circles_protocol::schema::{self, document};
use circles_tests::{Client, PASSWORD, TestServer, http_get, now_millis, unique_handle};
use serde_json::{Value, json};

/// Validates values against parts of the document, each part compiled with
/// the document's `$defs` so its `$ref`s resolve.
struct Contract {
    doc: Value,
}

impl Contract {
    fn new() -> Contract {
        Contract { doc: document() }
    }

    /// Errors of `instance` against `part` (a schema from the document).
    fn errors(&self, part: &Value, instance: &Value) -> Vec<String> {
        let schema = json!({
            "$schema": schema::DIALECT,
            "$defs": self.doc["$defs"],
            "allOf": [part],
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|err| panic!("the schema does not compile: {err}"));
        validator
            .iter_errors(instance)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect()
    }

    fn assert_valid(&self, part: &Value, instance: &Value, what: &str) {
        let errors = self.errors(part, instance);
        assert!(errors.is_empty(), "{what}: {errors:#?}\nin {instance:#}");
    }

    fn assert_invalid(&self, part: &Value, instance: &Value, what: &str) {
        assert!(
            !self.errors(part, instance).is_empty(),
            "{what} should not validate: {instance:#}"
        );
    }

    fn def(&self, name: &str) -> Value {
        assert!(self.doc["$defs"].get(name).is_some(), "no $defs/{name}");
        json!({ "$ref": format!("#/$defs/{name}") })
    }

    /// A whole frame the server sent, against the document's root (any
    /// frame) and against the envelope it must be.
    fn frame(&self, frame: &Value, envelope: &str) {
        let root = json!({ "anyOf": self.doc["anyOf"] });
        self.assert_valid(&root, frame, "a frame");
        self.assert_valid(&self.def(envelope), frame, envelope);
    }

    /// A successful response to `method`: the envelope, the params that were
    /// sent and the result.
    fn success(&self, method: &str, params: &Value, response: &Value) {
        self.frame(response, "Response");
        let entry = &self.doc["methods"][method];
        self.assert_valid(&entry["params"], params, &format!("{method} params"));
        let result = response
            .get("result")
            .unwrap_or_else(|| panic!("{method} failed: {response}"));
        self.assert_valid(&entry["result"], result, &format!("{method} result"));
    }

    /// An error response: the envelope, the error object, and its kind and
    /// code as the document's `errors` table lists them.
    fn error(&self, response: &Value) -> String {
        self.frame(response, "Response");
        let error = &response["error"];
        self.assert_valid(&self.def("ErrorObject"), error, "the error object");
        let kind = error["data"]["kind"].as_str().expect("error.data.kind");
        assert_eq!(self.doc["errors"][kind]["code"], error["code"], "{kind}");
        kind.to_owned()
    }

    /// A notification: the envelope and its params.
    fn notification(&self, frame: &Value) {
        self.frame(frame, "Notification");
        let method = frame["method"].as_str().expect("a method");
        let entry = &self.doc["notifications"][method];
        assert!(entry.is_object(), "{method} is not in the document");
        self.assert_valid(&entry["params"], &frame["params"], method);
    }
}

/// Sends one request as a raw frame and returns the raw response.
async fn call(client: &mut Client, id: i64, method: &str, params: &Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    client.send_json(&request).await;
    let response = client.recv_non_notification().await;
    assert_eq!(response["id"], json!(id), "{response}");
    response
}

#[tokio::test]
async fn schema_is_served_as_the_document() {
    let server = TestServer::start().await;
    let (head, body) = http_get(server.addr, schema::PATH, "").await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin: *"),
        "front ends on other origins may fetch it: {head}"
    );
    assert_eq!(body, schema::text(), "served byte for byte as checked in");
    let served: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(served, document());

    assert_eq!(served["$schema"], json!(schema::DIALECT));
    assert_eq!(served["version"], json!(env!("CARGO_PKG_VERSION")));
    if let Err(err) = jsonschema::meta::validate(&served) {
        panic!("not a valid draft 2020-12 schema: {err}");
    }
    for name in methods::ALL {
        let entry = &served["methods"][name];
        assert!(entry["params"].is_object(), "{name}: no params");
        assert!(entry["result"].is_object(), "{name}: no result");
    }
    assert_eq!(
        served["methods"].as_object().map(|m| m.len()),
        Some(methods::ALL.len())
    );
    for name in [
        notify::EVENT,
        notify::PRESENCE,
        notify::CIRCLE_DELETED,
        notify::MENTION,
    ] {
        assert!(
            served["notifications"][name]["params"].is_object(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn schema_validates_live_traffic() {
    let server = TestServer::start().await;
    let contract = Contract::new();
    let mut ana = server.connect().await;
    let handle = unique_handle("ana");

    let params = json!({"handle": handle, "password": PASSWORD, "display_name": "Ana"});
    let registered = call(&mut ana, 1, "auth.register", &params).await;
    contract.success("auth.register", &params, &registered);

    let params = json!({"slug": "cataloguers", "name": "Cataloguers", "visibility": "public"});
    let created = call(&mut ana, 2, "circle.create", &params).await;
    contract.success("circle.create", &params, &created);

    let params = json!({"circle": "cataloguers", "since": 0});
    let subscribed = call(&mut ana, 3, "circle.subscribe", &params).await;
    contract.success("circle.subscribe", &params, &subscribed);
    // The backlog: the creator's join.
    let join = ana.recv_json().await;
    assert_eq!(join["params"]["event"]["kind"], json!("join"), "{join}");
    contract.notification(&join);

    // A post: its response and its `event` notification, in either order.
    let params = json!({"circle": "cataloguers", "title": "E-books vanished", "body": "Since the move…", "tags": ["catalogue"]});
    let request = json!({"jsonrpc": "2.0", "id": 4, "method": "post.problem", "params": params});
    ana.send_json(&request).await;
    let (mut response, mut notice) = (None, None);
    while response.is_none() || notice.is_none() {
        let frame = ana.recv_json().await;
        if frame.get("id").is_some() {
            response = Some(frame);
        } else {
            notice = Some(frame);
        }
    }
    let (response, notice) = (response.unwrap_or_default(), notice.unwrap_or_default());
    contract.success("post.problem", &params, &response);
    assert_eq!(notice["method"], json!(notify::EVENT), "{notice}");
    contract.notification(&notice);
    let problem = response["result"]["event"]["id"].clone();

    for (id, method, params) in [
        (5, "circle.list", json!({})),
        (6, "circle.members", json!({"circle": "cataloguers"})),
        (
            7,
            "circle.history",
            json!({"circle": "cataloguers", "limit": 10}),
        ),
        (8, "problem.list", json!({"circle": "cataloguers"})),
        (
            9,
            "problem.get",
            json!({"circle": "cataloguers", "problem": problem}),
        ),
    ] {
        let response = call(&mut ana, id, method, &params).await;
        contract.success(method, &params, &response);
    }

    // A learning circle's methods and events: a critique with a stance,
    // accept, resolve with a summary, reflect, and the views they change.
    let params = json!({"circle": "cataloguers", "problem": problem, "body": "Which catalogue?", "stance": "question"});
    let critiqued = call(&mut ana, 20, "post.critique", &params).await;
    contract.success("post.critique", &params, &critiqued);
    let critique = critiqued["result"]["event"]["id"].clone();
    for (id, method, params) in [
        (
            21,
            "problem.accept",
            json!({"circle": "cataloguers", "problem": problem, "critique": critique}),
        ),
        (
            22,
            "problem.resolve",
            json!({"circle": "cataloguers", "problem": problem, "helpful": [critique], "summary": "Moved the link."}),
        ),
        (
            23,
            "problem.reflect",
            json!({"circle": "cataloguers", "problem": problem, "text": "Check links first.", "usefulness": 4}),
        ),
        (24, "problem.list", json!({"circle": "cataloguers"})),
        (
            25,
            "problem.get",
            json!({"circle": "cataloguers", "problem": problem}),
        ),
        (
            26,
            "circle.history",
            json!({"circle": "cataloguers", "limit": 10}),
        ),
        // Meetings: one just held (the digest's start) and one ahead.
        (
            27,
            "meeting.schedule",
            json!({"circle": "cataloguers", "at": now_millis() - 60_000}),
        ),
        (
            28,
            "meeting.schedule",
            json!({"circle": "cataloguers", "at": now_millis() + 86_400_000, "agenda": [problem], "title": "Clinic"}),
        ),
        (29, "circle.digest", json!({"circle": "cataloguers"})),
        (
            30,
            "circle.digest",
            json!({"circle": "cataloguers", "since": 0}),
        ),
        (
            31,
            "circle.stats",
            json!({"circle": "cataloguers", "since": 0}),
        ),
        (
            32,
            "problem.export",
            json!({"circle": "cataloguers", "problem": problem, "anonymise": true}),
        ),
        (
            33,
            "circle.norms.set",
            json!({"circle": "cataloguers", "text": "Critique the plan, not the person."}),
        ),
        (34, "circle.members", json!({"circle": "cataloguers"})),
    ] {
        let response = call(&mut ana, id, method, &params).await;
        contract.success(method, &params, &response);
    }
    let reflect = &contract.doc["methods"]["problem.reflect"]["params"];
    contract.assert_invalid(
        reflect,
        &json!({"circle": "cataloguers", "problem": problem, "text": "t", "usefulness": 6}),
        "a usefulness of 6",
    );
    contract.assert_invalid(
        &contract.doc["methods"]["post.critique"]["params"],
        &json!({"circle": "cataloguers", "problem": problem, "body": "b", "stance": "rant"}),
        "an unknown stance",
    );
    for kind in [
        "critique", "accept", "resolve", "reflect", "meeting", "norms",
    ] {
        let notification = ana
            .next_matching(&format!("the {kind} event"), |n| {
                (n.method == notify::EVENT && n.params["event"]["kind"] == kind).then(|| n.clone())
            })
            .await;
        let frame = serde_json::to_value(&notification).expect("a notification serializes");
        contract.notification(&frame);
    }

    // Errors: an application error, bad params, and a frame that is not JSON.
    let missing = call(&mut ana, 10, "circle.join", &json!({"circle": "nowhere"})).await;
    assert_eq!(contract.error(&missing), "not_found");
    // Norms changed since accepting: the error carries the norms to show.
    let stale = call(
        &mut ana,
        12,
        "circle.norms.accept",
        &json!({"circle": "cataloguers", "version": 7}),
    )
    .await;
    assert_eq!(contract.error(&stale), "conflict");
    assert_eq!(
        stale["error"]["data"]["norms"]["version"],
        json!(1),
        "{stale}"
    );
    let typo = json!({"slug": "c2", "name": "C", "visibilty": "private"});
    contract.assert_invalid(
        &contract.doc["methods"]["circle.create"]["params"],
        &typo,
        "a misspelt param",
    );
    let refused = call(&mut ana, 11, "circle.create", &typo).await;
    assert_eq!(contract.error(&refused), "invalid_params");
    ana.send_text("{not json").await;
    let parse = ana.recv_non_notification().await;
    assert_eq!(parse["id"], Value::Null, "{parse}");
    assert_eq!(contract.error(&parse), "parse_error");

    // The schema is not vacuous: a result with a field taken away, or of the
    // wrong type, does not validate.
    let result = &contract.doc["methods"]["auth.register"]["result"];
    let mut tampered = registered["result"].clone();
    tampered.as_object_mut().map(|o| o.remove("token"));
    contract.assert_invalid(result, &tampered, "a session without a token");
    let mut event = notice["params"].clone();
    event["event"]["seq"] = json!("four");
    contract.assert_invalid(
        &contract.doc["notifications"]["event"]["params"],
        &event,
        "an event with a string seq",
    );
    event["event"]["seq"] = json!(4);
    event["event"]["kind"] = json!("poll");
    contract.assert_invalid(
        &contract.doc["notifications"]["event"]["params"],
        &event,
        "an event of an unknown kind",
    );
}

/// A `mention` notification (to a connection not subscribed to the circle)
/// and the counts in `circle.list` and `circle.read`.
#[tokio::test]
async fn schema_validates_mentions() {
    let server = TestServer::start().await;
    let contract = Contract::new();
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut ben = server.register("ben").await;
    ben.join("lib").await;
    let params = json!({"circle": "lib", "body": "@ben, have a look"});
    let posted = call(&mut ana, 1, "post.note", &params).await;
    contract.success("post.note", &params, &posted);
    let mention = ben.recv_json().await;
    assert_eq!(mention["method"], json!(notify::MENTION), "{mention}");
    contract.notification(&mention);
    let mut edit = mention.clone();
    edit["params"]["event"] = json!({"seq": 5, "id": mention["params"]["post"], "author": "ana",
        "at": 1, "kind": "edit", "post": mention["params"]["post"], "body": "@ben!"});
    contract.notification(&edit);
    let mut tampered = mention["params"].clone();
    tampered.as_object_mut().map(|o| o.remove("post"));
    contract.assert_invalid(
        &contract.doc["notifications"]["mention"]["params"],
        &tampered,
        "a mention without its post",
    );

    let listed = call(&mut ben, 2, "circle.list", &json!({})).await;
    contract.success("circle.list", &json!({}), &listed);
    assert_eq!(
        listed["result"]["circles"][0]["mentions"],
        json!(1),
        "{listed}"
    );
    let params = json!({"circle": "lib", "seq": 3});
    let read = call(&mut ben, 3, "circle.read", &params).await;
    contract.success("circle.read", &params, &read);
    assert_eq!(
        read["result"],
        json!({"read": 3, "unread": 0, "mentions": 0})
    );
}
