//! Bad input, frame by frame: what a careless or hostile front end sends. Each
//! gets the documented error and the SAME connection keeps answering, except
//! an oversize frame, which closes it with 1009.

use circles_protocol::ErrorKind;
use circles_protocol::methods as m;
use circles_tests::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// The connection (signed in) still answers a valid request.
async fn assert_alive(client: &mut Client, after: &str) {
    let response = client.request("circle.list", json!({})).await;
    assert!(
        response
            .get("result")
            .and_then(|r| r.get("circles"))
            .is_some(),
        "after {after}, circle.list should still work: {response}"
    );
}

/// A raw error response with the given code and id; returns its error object.
fn assert_error(
    response: &Value,
    kind: ErrorKind,
    id: Value,
    what: &str,
) -> circles_protocol::ErrorObject {
    assert_eq!(response["jsonrpc"], json!("2.0"), "{what}: {response}");
    assert_eq!(response["id"], id, "{what}: the id in {response}");
    assert!(response.get("result").is_none(), "{what}: {response}");
    let err = error_of(response);
    assert_eq!(err.kind(), kind, "{what}: {response}");
    assert_eq!(err.code, kind.code(), "{what}: {response}");
    assert!(!err.message.is_empty(), "{what}: errors carry a message");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_is_a_parse_error_with_null_id() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    for text in [
        "{not json",
        r#"{"jsonrpc":"2.0","id":1,"method":"circle.list""#,
        "",
        "\u{1F600}",
        r#"{"jsonrpc":"2.0","id":1,"method":"circle.list",}"#,
    ] {
        client.send_text(text).await;
        let response = client.recv_non_notification().await;
        assert_error(
            &response,
            ErrorKind::ParseError,
            Value::Null,
            &format!("{text:?}"),
        );
        assert_alive(&mut client, &format!("invalid JSON {text:?}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_that_is_not_a_request_is_an_invalid_request() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    let cases: Vec<(Value, Value)> = vec![
        (json!(42), Value::Null),
        (json!("circle.list"), Value::Null),
        (Value::Null, Value::Null),
        (json!(true), Value::Null),
        (json!({}), Value::Null),
        (json!({"jsonrpc": "2.0", "id": 5}), json!(5)),
        (
            json!({"jsonrpc": "1.0", "id": 6, "method": "circle.list"}),
            json!(6),
        ),
        (json!({"id": 7, "method": "circle.list"}), json!(7)),
        (json!({"jsonrpc": "2.0", "id": 8, "method": 42}), json!(8)),
        (
            json!({"jsonrpc": 2.0, "id": "nine", "method": "circle.list"}),
            json!("nine"),
        ),
    ];
    for (frame, id) in cases {
        client.send_json(&frame).await;
        let response = client.recv_non_notification().await;
        assert_error(&response, ErrorKind::InvalidRequest, id, &frame.to_string());
        assert_alive(&mut client, &frame.to_string()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_id_is_still_a_request() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client
        .send_json(&json!({"jsonrpc": "2.0", "id": null, "method": "circle.list", "params": {}}))
        .await;
    let response = client.recv_non_notification().await;
    assert_eq!(response["id"], Value::Null);
    assert_eq!(response["result"]["circles"], json!([]), "{response}");
    // String ids are echoed as strings.
    client
        .send_json(&json!({"jsonrpc": "2.0", "id": "abc", "method": "circle.list", "params": {}}))
        .await;
    let response = client.recv_non_notification().await;
    assert_eq!(response["id"], json!("abc"));
    assert!(response.get("result").is_some(), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_may_be_left_out_where_none_are_needed() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    let response = client.request_no_params("circle.list").await;
    assert_eq!(response["result"]["circles"], json!([]), "{response}");
    let response = client.request("circle.list", Value::Null).await;
    assert_eq!(
        response["result"]["circles"],
        json!([]),
        "params null: {response}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_executed_but_never_answered() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;
    // A valid one (executed), an unknown method and bad params (both silent).
    client
        .send_json(&json!({"jsonrpc": "2.0", "method": "post.note",
            "params": {"circle": "lib", "body": "sent as a notification"}}))
        .await;
    client
        .send_json(&json!({"jsonrpc": "2.0", "method": "no.such.method", "params": {}}))
        .await;
    client
        .send_json(&json!({"jsonrpc": "2.0", "method": "post.note", "params": {"circle": 5}}))
        .await;
    // The next response is this request's: nothing answered the notifications.
    client
        .send_json(
            &json!({"jsonrpc": "2.0", "id": 99, "method": "circle.history",
            "params": {"circle": "lib"}}),
        )
        .await;
    let response = client.recv_non_notification().await;
    assert_eq!(
        response["id"],
        json!(99),
        "notifications must not be answered: {response}"
    );
    let events = &response["result"]["events"];
    assert_eq!(events.as_array().map(Vec::len), Some(2), "{response}");
    assert_eq!(events[1]["kind"], json!("note"));
    assert_eq!(events[1]["body"], json!("sent as a notification"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_answered_per_json_rpc() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;

    // The empty batch: one invalid_request error object, id null.
    client.send_text("[]").await;
    let response = client.recv_non_notification().await;
    assert!(
        response.is_object(),
        "an empty batch gets a single error, not an array: {response}"
    );
    assert_error(&response, ErrorKind::InvalidRequest, Value::Null, "[]");
    assert_alive(&mut client, "an empty batch").await;

    // Mixed: answered in order, nothing for the notification.
    client
        .send_json(&json!([
            {"jsonrpc": "2.0", "id": 1, "method": "post.note", "params": {"circle": "lib", "body": "first"}},
            {"jsonrpc": "2.0", "method": "post.note", "params": {"circle": "lib", "body": "second"}},
            {"jsonrpc": "2.0", "id": "two", "method": "no.such.method"},
            42,
            {"jsonrpc": "2.0", "id": 3, "method": "post.note", "params": {"circle": "lib", "body": "third"}},
            {"jsonrpc": "2.0", "id": 4, "method": "post.note", "params": {"circle": "lib"}},
        ]))
        .await;
    let response = client.recv_non_notification().await;
    let answers = response
        .as_array()
        .unwrap_or_else(|| panic!("a batch is answered with an array: {response}"));
    assert_eq!(
        answers.len(),
        5,
        "one response per element with an id (or unreadable): {response}"
    );
    assert_eq!(answers[0]["id"], json!(1));
    assert_eq!(answers[0]["result"]["event"]["seq"], json!(2), "{response}");
    assert_eq!(answers[0]["result"]["event"]["body"], json!("first"));
    assert_error(
        &answers[1],
        ErrorKind::MethodNotFound,
        json!("two"),
        "unknown method in a batch",
    );
    assert_error(
        &answers[2],
        ErrorKind::InvalidRequest,
        Value::Null,
        "42 in a batch",
    );
    assert_eq!(answers[3]["id"], json!(3));
    assert_eq!(
        answers[3]["result"]["event"]["seq"],
        json!(4),
        "handled in order: {response}"
    );
    assert_eq!(answers[3]["result"]["event"]["body"], json!("third"));
    assert_error(
        &answers[4],
        ErrorKind::InvalidParams,
        json!(4),
        "missing body in a batch",
    );
    let bodies: Vec<String> = client
        .history_all("lib")
        .await
        .iter()
        .skip(1)
        .map(|e| note_body(e).to_string())
        .collect();
    assert_eq!(bodies, ["first", "second", "third"]);

    // A batch of notifications only: nothing is sent back.
    client
        .send_json(&json!([
            {"jsonrpc": "2.0", "method": "post.note", "params": {"circle": "lib", "body": "quiet"}},
            {"jsonrpc": "2.0", "method": "circle.list"},
        ]))
        .await;
    client
        .send_json(&json!({"jsonrpc": "2.0", "id": 77, "method": "circle.list", "params": {}}))
        .await;
    let response = client.recv_non_notification().await;
    assert_eq!(
        response["id"],
        json!(77),
        "no answer to an all-notification batch: {response}"
    );

    // A batch of one is still a batch.
    client
        .send_json(&json!([{"jsonrpc": "2.0", "id": 8, "method": "circle.list", "params": {}}]))
        .await;
    let response = client.recv_non_notification().await;
    let answers = response
        .as_array()
        .unwrap_or_else(|| panic!("array expected: {response}"));
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0]["id"], json!(8));
    assert!(answers[0]["result"]["circles"].is_array());
    assert_alive(&mut client, "batches").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_are_method_not_found() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    for method in ["circle.explode", "CIRCLE.LIST", "", "auth"] {
        let response = client.request(method, json!({})).await;
        let err = error_of(&response);
        assert_eq!(
            err.kind(),
            ErrorKind::MethodNotFound,
            "{method:?}: {response}"
        );
        assert_eq!(err.code, -32601);
        assert_alive(&mut client, method).await;
    }
    // Unknown methods are unknown before sign-in too (or refused as unauthenticated).
    let mut fresh = server.connect().await;
    let err = error_of(&fresh.request("circle.explode", json!({})).await);
    assert!(
        matches!(
            err.kind(),
            ErrorKind::MethodNotFound | ErrorKind::Unauthenticated
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_params_are_invalid_params_naming_the_field() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        ("circle.create", None, ""), // no params at all: any message
        ("circle.create", Some(json!({"name": "No slug"})), "slug"),
        (
            "circle.create",
            Some(json!({"slug": "ok-slug", "name": "n", "max_members": "ten"})),
            "max_members",
        ),
        (
            "circle.create",
            Some(json!({"slug": "ok-slug", "name": "n", "visibility": "secret"})),
            "visibility",
        ),
        (
            "circle.create",
            Some(json!({"slug": "ok-slug", "name": "n", "visibilty": "private"})),
            "visibilty",
        ),
        (
            "circle.create",
            Some(json!({"slug": "Bad Slug", "name": "n"})),
            "slug",
        ),
        ("post.note", Some(json!({"circle": "lib"})), "body"),
        (
            "post.note",
            Some(json!({"circle": "lib", "body": 5})),
            "body",
        ),
        (
            "post.critique",
            Some(json!({"circle": "lib", "problem": "not-a-uuid", "body": "b"})),
            "problem",
        ),
        (
            "circle.subscribe",
            Some(json!({"circle": "lib", "since": -1})),
            "since",
        ),
        (
            "circle.history",
            Some(json!({"circle": "lib", "limit": 0})),
            "limit",
        ),
        ("circle.read", Some(json!({"circle": "lib"})), "seq"),
        (
            "problem.list",
            Some(json!({"circle": "lib", "status": "pending"})),
            "status",
        ),
    ];
    let mut failures = Vec::new();
    for (method, params, field) in cases {
        let response = match &params {
            Some(params) => client.request(method, params.clone()).await,
            None => client.request_no_params(method).await,
        };
        let what = format!(
            "{method} {}",
            params.as_ref().map(Value::to_string).unwrap_or_default()
        );
        let err = error_of(&response);
        if err.kind() != ErrorKind::InvalidParams || err.code != -32602 {
            failures.push(format!("{what}: expected invalid_params, got {response}"));
        } else if !err.message.contains(field) {
            failures.push(format!(
                "{what}: the message should name {field:?}: {:?}",
                err.message
            ));
        }
        assert_alive(&mut client, &what).await;
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Params of the wrong JSON type altogether.
    for params in [json!([1, 2]), json!("lib"), json!(7)] {
        let response = client.request("circle.members", params.clone()).await;
        let err = error_of(&response);
        assert!(
            matches!(
                err.kind(),
                ErrorKind::InvalidParams | ErrorKind::InvalidRequest
            ),
            "params {params}: {response}"
        );
        assert_alive(&mut client, &params.to_string()).await;
    }
    // Nothing was created by the refused calls.
    let circles = client.ok::<m::CircleList>(m::Empty {}).await.circles;
    assert_eq!(circles.len(), 1);
    assert_eq!(client.history_all("lib").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_are_refused_but_the_connection_stays() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client
        .send_binary(br#"{"jsonrpc":"2.0","id":1,"method":"circle.list"}"#.to_vec())
        .await;
    let response = client.recv_non_notification().await;
    let err = assert_error(
        &response,
        ErrorKind::InvalidRequest,
        Value::Null,
        "binary frame",
    );
    // semantics.md: "binary frames are not supported; send JSON as text".
    assert!(
        err.message.starts_with("binary frames are not supported"),
        "{:?}",
        err.message
    );
    assert_alive(&mut client, "a binary frame").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_before_sign_in_are_unauthenticated() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let problem = ana.problem("lib", "P", "").await;
    let p = problem.id;
    let mut anon = server.connect().await;
    let calls: Vec<(&str, Value)> = vec![
        ("auth.logout", json!({})),
        (
            "auth.password",
            json!({"old": PASSWORD, "new": "another password"}),
        ),
        ("circle.create", json!({"slug": "anon", "name": "Anon"})),
        ("circle.list", json!({})),
        ("circle.join", json!({"circle": "lib"})),
        ("circle.leave", json!({"circle": "lib"})),
        ("circle.invite", json!({"circle": "lib"})),
        ("circle.members", json!({"circle": "lib"})),
        ("circle.remove", json!({"circle": "lib", "member": "ana"})),
        (
            "circle.norms.set",
            json!({"circle": "lib", "text": "Be kind."}),
        ),
        (
            "circle.norms.accept",
            json!({"circle": "lib", "version": 1}),
        ),
        ("circle.subscribe", json!({"circle": "lib", "since": 0})),
        ("circle.unsubscribe", json!({"circle": "lib"})),
        ("circle.history", json!({"circle": "lib"})),
        ("circle.read", json!({"circle": "lib", "seq": 1})),
        (
            "post.problem",
            json!({"circle": "lib", "title": "t", "body": "b"}),
        ),
        (
            "post.critique",
            json!({"circle": "lib", "problem": p, "body": "b"}),
        ),
        ("post.note", json!({"circle": "lib", "body": "b"})),
        (
            "post.edit",
            json!({"circle": "lib", "post": p, "body": "b"}),
        ),
        ("post.retract", json!({"circle": "lib", "post": p})),
        ("problem.resolve", json!({"circle": "lib", "problem": p})),
        (
            "problem.accept",
            json!({"circle": "lib", "problem": p, "critique": p}),
        ),
        ("problem.metoo", json!({"circle": "lib", "problem": p})),
        (
            "problem.reflect",
            json!({"circle": "lib", "problem": p, "text": "t", "usefulness": 3}),
        ),
        ("problem.list", json!({"circle": "lib"})),
        ("problem.get", json!({"circle": "lib", "problem": p})),
        (
            "meeting.schedule",
            json!({"circle": "lib", "at": 1_765_216_800_000_u64}),
        ),
        ("circle.digest", json!({"circle": "lib"})),
        ("circle.stats", json!({"circle": "lib"})),
        ("problem.export", json!({"circle": "lib", "problem": p})),
        ("search", json!({"query": "catalogue"})),
        ("admin.users", json!({})),
        ("admin.suspend", json!({"handle": "ana"})),
        ("admin.unsuspend", json!({"handle": "ana"})),
        ("admin.grant", json!({"handle": "ana"})),
        ("admin.revoke", json!({"handle": "ana"})),
        ("admin.circle.delete", json!({"circle": "lib"})),
        ("admin.invite", json!({})),
        ("admin.audit", json!({})),
        ("admin.export", json!({"circle": "lib"})),
    ];
    assert_eq!(
        calls.len() + 3,
        m::ALL.len(),
        "every method but the three auth ones is covered"
    );
    for (method, params) in calls {
        let response = anon.request(method, params).await;
        let err = error_of(&response);
        assert_eq!(
            err.kind(),
            ErrorKind::Unauthenticated,
            "{method}: {response}"
        );
        assert_eq!(err.code, -32001);
    }
    // Nothing happened, and the connection can still sign in.
    assert_eq!(ana.history_all("lib").await.len(), 2);
    anon.register_as("late", None).await;
    assert_alive(&mut anon, "unauthenticated requests").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_circles_are_not_found_in_every_method() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    let id = Uuid::now_v7();
    let calls: Vec<(&str, Value)> = vec![
        ("circle.join", json!({"circle": "nowhere"})),
        ("circle.leave", json!({"circle": "nowhere"})),
        ("circle.invite", json!({"circle": "nowhere"})),
        ("circle.members", json!({"circle": "nowhere"})),
        (
            "circle.remove",
            json!({"circle": "nowhere", "member": "bob"}),
        ),
        ("circle.subscribe", json!({"circle": "nowhere"})),
        ("circle.history", json!({"circle": "nowhere"})),
        ("circle.read", json!({"circle": "nowhere", "seq": 1})),
        ("post.problem", json!({"circle": "nowhere", "title": "t"})),
        (
            "post.critique",
            json!({"circle": "nowhere", "problem": id, "body": "b"}),
        ),
        ("post.note", json!({"circle": "nowhere", "body": "b"})),
        (
            "post.edit",
            json!({"circle": "nowhere", "post": id, "body": "b"}),
        ),
        ("post.retract", json!({"circle": "nowhere", "post": id})),
        (
            "problem.resolve",
            json!({"circle": "nowhere", "problem": id}),
        ),
        (
            "problem.accept",
            json!({"circle": "nowhere", "problem": id, "critique": id}),
        ),
        ("problem.metoo", json!({"circle": "nowhere", "problem": id})),
        (
            "problem.reflect",
            json!({"circle": "nowhere", "problem": id, "text": "t", "usefulness": 3}),
        ),
        ("problem.list", json!({"circle": "nowhere"})),
        ("problem.get", json!({"circle": "nowhere", "problem": id})),
    ];
    for (method, params) in calls {
        let response = client.request(method, params).await;
        let err = error_of(&response);
        assert_eq!(err.kind(), ErrorKind::NotFound, "{method}: {response}");
        assert_eq!(err.code, -32004);
        assert_eq!(err.message, "no circle named \"nowhere\"", "{method}");
        assert_alive(&mut client, method).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frame_closes_with_1009() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;
    // Just under the limit is fine: a frame of ~60 KB padded with whitespace.
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "post.note",
        "params": {"circle": "lib", "body": "padded"}})
    .to_string();
    let padded = format!("{}{}", " ".repeat(60_000 - request.len()), request);
    assert_eq!(padded.len(), 60_000);
    client.send_text(padded).await;
    let response = client.recv_non_notification().await;
    assert_eq!(
        response["result"]["event"]["body"],
        json!("padded"),
        "{response}"
    );
    // A field over its own limit in a frame under the frame limit: too_large, connection stays.
    let response = client
        .request(
            "post.note",
            json!({"circle": "lib", "body": "x".repeat(20_000)}),
        )
        .await;
    assert_eq!(
        error_of(&response).kind(),
        ErrorKind::TooLarge,
        "{response}"
    );
    assert_alive(&mut client, "a too-large body").await;

    // Over 64 KiB: closed with 1009.
    let big = json!({"jsonrpc": "2.0", "id": 2, "method": "post.note",
        "params": {"circle": "lib", "body": "y".repeat(70_000)}})
    .to_string();
    client.send_text(big).await;
    let code = client.expect_close().await;
    assert_eq!(
        code,
        Some(1009),
        "an oversize frame closes with 1009 (message too big)"
    );
    // The server is fine, and nothing was posted.
    let mut other = Client::with_token(server.addr, &client.token).await;
    let events = other.history_all("lib").await;
    assert_eq!(events.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_where_posts_are_expected_are_not_found() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;
    let id = Uuid::now_v7();
    let calls: Vec<(&str, Value)> = vec![
        (
            "post.critique",
            json!({"circle": "lib", "problem": id, "body": "b"}),
        ),
        (
            "post.edit",
            json!({"circle": "lib", "post": id, "body": "b"}),
        ),
        ("post.retract", json!({"circle": "lib", "post": id})),
        ("problem.resolve", json!({"circle": "lib", "problem": id})),
        (
            "problem.accept",
            json!({"circle": "lib", "problem": id, "critique": id}),
        ),
        ("problem.metoo", json!({"circle": "lib", "problem": id})),
        (
            "problem.reflect",
            json!({"circle": "lib", "problem": id, "text": "t", "usefulness": 3}),
        ),
        ("problem.get", json!({"circle": "lib", "problem": id})),
    ];
    for (method, params) in calls {
        let response = client.request(method, params).await;
        let err = error_of(&response);
        assert_eq!(err.kind(), ErrorKind::NotFound, "{method}: {response}");
        assert_alive(&mut client, method).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;
    // Send 30 requests without waiting, mixing slow (durable posts) and fast ones.
    for i in 0..30 {
        let frame = match i % 3 {
            0 => json!({"jsonrpc": "2.0", "id": i, "method": "post.note",
                "params": {"circle": "lib", "body": format!("n{i}")}}),
            1 => json!({"jsonrpc": "2.0", "id": i, "method": "circle.list", "params": {}}),
            _ => json!({"jsonrpc": "2.0", "id": i, "method": "no.such.method"}),
        };
        client.send_json(&frame).await;
    }
    let mut last_seq = 1;
    for i in 0..30 {
        let response = client.recv_non_notification().await;
        assert_eq!(
            response["id"],
            json!(i),
            "responses in request order: {response}"
        );
        if i % 3 == 0 {
            let seq = response["result"]["event"]["seq"].as_u64().expect("seq");
            assert_eq!(seq, last_seq + 1, "posts applied in order");
            last_seq = seq;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frame_limit_is_configurable() {
    let server = TestServer::start_with(|config| config.max_frame_bytes = 2048).await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;
    client.note("lib", &"a".repeat(1500)).await;
    client
        .send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "post.note",
            "params": {"circle": "lib", "body": "b".repeat(3000)}}))
        .await;
    assert_eq!(client.expect_close().await, Some(1009));
}

/// `n` `circle.list` requests with ids 1..=n.
fn list_batch(n: i64) -> Value {
    Value::Array(
        (1..=n)
            .map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "circle.list"}))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_more_than_32_requests_is_refused_whole() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;

    // 33 notes: one too_large error (not an array), id null, and none is run.
    let notes: Vec<Value> = (1..=33)
        .map(|id| {
            json!({"jsonrpc": "2.0", "id": id, "method": "post.note",
                "params": {"circle": "lib", "body": format!("note {id}")}})
        })
        .collect();
    client.send_json(&Value::Array(notes)).await;
    let response = client.recv_non_notification().await;
    assert!(
        response.is_object(),
        "a batch of 33 gets a single error, not an array: {response}"
    );
    let err = assert_error(&response, ErrorKind::TooLarge, Value::Null, "a batch of 33");
    assert!(
        err.message.contains("32"),
        "the message says how many a batch may hold: {err:?}"
    );
    let log = client.history_all("lib").await;
    assert_eq!(
        log.len(),
        1,
        "no request of a refused batch is run (only the creator's join): {log:?}"
    );
    assert_alive(&mut client, "a batch of 33").await;

    // 32 is the most a batch may hold: every one is answered, in order.
    client.send_json(&list_batch(32)).await;
    let response = client.recv_non_notification().await;
    let answers = response
        .as_array()
        .unwrap_or_else(|| panic!("a batch of 32 is answered with an array: {response}"));
    assert_eq!(answers.len(), 32, "{response}");
    for (answer, id) in answers.iter().zip(1..) {
        assert_eq!(answer["id"], json!(id), "answers in order: {answer}");
        assert!(
            answer["result"]["circles"].is_array(),
            "request {id} of 32 succeeds: {answer}"
        );
    }
    assert_alive(&mut client, "a batch of 32").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_answers_grow_too_large_refuses_the_rest() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    client.create_circle("lib").await;
    // 200 notes of 16,000 bytes: one history page of 200 is over 3 MB.
    let body = "x".repeat(16_000);
    let notes = post_notes_concurrently(server.addr, &client.token, "lib", 200, &body, 4).await;
    let head = notes.last().expect("200 notes").seq;

    let batch: Vec<Value> = (1..=32)
        .map(|id| {
            json!({"jsonrpc": "2.0", "id": id, "method": "circle.history",
                "params": {"circle": "lib", "limit": 200}})
        })
        .collect();
    client.send_json(&Value::Array(batch)).await;
    let frame = match client.recv_frame().await {
        Frame::Text(text) => text,
        other => panic!("expected the batch's answer as a text frame, got {other:?}"),
    };
    let response: Value = serde_json::from_str(&frame).expect("the batch answer is JSON");
    let answers = response.as_array().unwrap_or_else(|| {
        panic!(
            "a batch is answered with an array, got {} bytes",
            frame.len()
        )
    });
    assert_eq!(answers.len(), 32, "one answer per request");
    let answered = answers
        .iter()
        .take_while(|a| a.get("result").is_some())
        .count();
    assert!(
        answered >= 1,
        "the first request of the batch is answered: {}",
        answers[0]
    );
    assert!(
        answered < 32,
        "32 pages of 200 × 16 KB ({} bytes in the frame) should not all be answered",
        frame.len()
    );
    for (answer, id) in answers.iter().zip(1..).take(answered) {
        assert_eq!(answer["id"], json!(id), "answers in order");
        let events = answer["result"]["events"]
            .as_array()
            .unwrap_or_else(|| panic!("answer {id} holds a page of events"));
        assert_eq!(events.len(), 200, "answer {id} is a whole page");
        assert_eq!(
            events.last().map(|e| e["seq"].clone()),
            Some(json!(head)),
            "answer {id} ends at the head"
        );
    }
    for (answer, id) in answers.iter().zip(1..).skip(answered) {
        assert_error(
            answer,
            ErrorKind::TooLarge,
            json!(id),
            &format!("request {id} past the batch's answer budget"),
        );
    }
    // The connection still works, and a request sent alone is answered.
    assert_alive(&mut client, "a batch with too large answers").await;
    let page = client.history("lib", None, Some(200)).await;
    assert_eq!(page.events.len(), 200);
    assert_eq!(page.events.last().map(|e| e.seq), Some(head));
}

/// `message` without the `{…}` spans (example requests) it quotes.
fn without_examples(message: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_shape_errors_name_the_member_at_fault() {
    let server = TestServer::start().await;
    let mut client = server.register("ana").await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            r#"{"jsonrpc":"2.0","id":1.5,"method":"circle.list"}"#,
            Value::Null,
            "\"id\"",
        ),
        (
            r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"circle.list"}"#,
            Value::Null,
            "64 bits",
        ),
        (
            r#"{"jsonrpc":"1.0","id":2,"method":"circle.list"}"#,
            json!(2),
            "\"jsonrpc\"",
        ),
        (r#"{"jsonrpc":"2.0","id":3}"#, json!(3), "\"method\""),
    ];
    for (frame, id, names) in cases {
        client.send_text(frame).await;
        let response = client.recv_non_notification().await;
        let err = assert_error(&response, ErrorKind::InvalidRequest, id, frame);
        // Not only in an example request the message may quote.
        assert!(
            without_examples(&err.message).contains(names),
            "{frame}: the message should name {names} as the problem: {:?}",
            err.message
        );
        assert_alive(&mut client, frame).await;
    }

    // A number inside a batch: an invalid_request in its place; the rest is run.
    client
        .send_text(r#"[5,{"jsonrpc":"2.0","id":6,"method":"circle.list"}]"#)
        .await;
    let response = client.recv_non_notification().await;
    let answers = response
        .as_array()
        .unwrap_or_else(|| panic!("a batch is answered with an array: {response}"));
    assert_eq!(answers.len(), 2, "{response}");
    let err = assert_error(
        &answers[0],
        ErrorKind::InvalidRequest,
        Value::Null,
        "5 in a batch",
    );
    assert!(
        err.message.contains("object"),
        "the message says a request is an object: {:?}",
        err.message
    );
    assert_eq!(answers[1]["id"], json!(6), "{response}");
    assert!(answers[1]["result"]["circles"].is_array(), "{response}");
    assert_alive(&mut client, "a batch holding 5").await;
}
