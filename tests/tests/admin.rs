//! Running a hosted instance: registration modes, admins and their audit
//! log, suspension, deleting circles, per-account limits, login throttling,
//! the Origin allow-list and the metrics token.

use circles_protocol::ErrorKind;
use circles_protocol::methods::{self as m};
use circles_protocol::notify;
use circles_server::config::Registration;
use circles_tests::{Client, PASSWORD, TestServer, circle_ref, http_get, unique_handle, within};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn register_params(handle: &str, invite: Option<&str>) -> m::Register {
    m::Register {
        handle: handle.to_owned(),
        password: PASSWORD.to_owned(),
        display_name: None,
        invite: invite.map(str::to_owned),
    }
}

fn invite_params(uses: u32) -> m::NewRegistrationInvite {
    m::NewRegistrationInvite {
        uses: Some(uses),
        expires_in_hours: None,
    }
}

#[tokio::test]
async fn closed_registration_refuses_everyone() {
    let server = TestServer::start_with(|c| c.registration = Registration::Closed).await;
    let mut client = server.connect().await;
    let err = client
        .err::<m::AuthRegister>(register_params("ana", None))
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(
        err.message.contains("does not take new accounts"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn invite_registration_takes_each_use_once() {
    let server = TestServer::start_with(|c| c.registration = Registration::Invite).await;
    let mut operator = server.operator().await;
    let invite = operator
        .call::<m::AdminInvite>(invite_params(2))
        .await
        .expect("the operator makes an invite");
    assert_eq!(invite.uses, 2);

    let mut client = server.connect().await;
    let err = client
        .err::<m::AuthRegister>(register_params("ana", None))
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(err.message.contains("needs an invite"), "{}", err.message);
    let err = client
        .err::<m::AuthRegister>(register_params("ana", Some("nosuchcode")))
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound);

    for handle in ["ana", "ben"] {
        let mut client = server.connect().await;
        let session = client
            .ok::<m::AuthRegister>(register_params(handle, Some(&invite.invite)))
            .await;
        assert_eq!(session.handle, handle);
    }
    let mut late = server.connect().await;
    let err = late
        .err::<m::AuthRegister>(register_params("cy", Some(&invite.invite)))
        .await;
    // Used up, it is gone.
    assert_eq!(err.kind(), ErrorKind::NotFound, "{}", err.message);

    // An existing account still signs in.
    Client::login(server.addr, "ana", PASSWORD).await;
}

#[tokio::test]
async fn admin_methods_are_for_admins_and_are_audited() {
    let server = TestServer::start().await;
    let mut peer = server.register(&unique_handle("peer")).await;
    let err = peer.err::<m::AdminUsers>(m::ListUsers::default()).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    let err = peer.err::<m::AdminInvite>(invite_params(1)).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    // Over the WebSocket, even an admin cannot make an account with a password.
    let mut root = server.register_admin("root").await;
    let err = root
        .err::<m::AdminGrant>(m::Grant {
            handle: "newbie".into(),
            password: Some(PASSWORD.into()),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);

    let users = root.ok::<m::AdminUsers>(m::ListUsers::default()).await;
    let root_info = users
        .users
        .iter()
        .find(|u| u.handle == "root")
        .expect("root is listed");
    assert!(root_info.admin && root_info.online);
    root.ok::<m::AdminInvite>(invite_params(3)).await;

    // An admin can make another, and take it back; the other loses the power at once.
    let peer_handle = peer.handle.clone();
    root.ok::<m::AdminGrant>(m::Grant {
        handle: peer_handle.clone(),
        password: None,
    })
    .await;
    peer.ok::<m::AdminUsers>(m::ListUsers::default()).await;
    root.ok::<m::AdminRevoke>(m::UserRef {
        handle: peer_handle.clone(),
    })
    .await;
    let err = peer.err::<m::AdminUsers>(m::ListUsers::default()).await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);

    let audit = root.ok::<m::AdminAudit>(m::ListAudit::default()).await;
    let actions: Vec<(&str, &str, &str)> = audit
        .entries
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("root", "revoke", peer_handle.as_str()),
            ("root", "grant", peer_handle.as_str()),
            ("root", "invite", ""),
            ("operator", "grant", "root")
        ],
        "newest first"
    );
    assert!(audit.entries.windows(2).all(|w| w[0].id > w[1].id));
}

#[tokio::test]
async fn users_come_in_pages() {
    let server = TestServer::start().await;
    let mut root = server.register_admin("root").await;
    for handle in ["ana", "ben", "cy"] {
        server.register(handle).await;
    }
    let first = root
        .ok::<m::AdminUsers>(m::ListUsers {
            after: None,
            limit: Some(2),
        })
        .await;
    let handles: Vec<_> = first.users.iter().map(|u| u.handle.as_str()).collect();
    assert_eq!(handles, ["ana", "ben"]);
    let rest = root
        .ok::<m::AdminUsers>(m::ListUsers {
            after: first.next,
            limit: Some(2),
        })
        .await;
    let handles: Vec<_> = rest.users.iter().map(|u| u.handle.as_str()).collect();
    assert_eq!(handles, ["cy", "root"]);
    assert_eq!(rest.next, None);
    let err = root
        .err::<m::AdminUsers>(m::ListUsers {
            after: None,
            limit: Some(0),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::InvalidParams);
}

#[tokio::test]
async fn a_suspended_user_is_cut_off_and_kept_out_until_unsuspended() {
    let server = TestServer::start().await;
    let mut root = server.register_admin("root").await;
    let mut ana = server.register("ana").await;
    let mut ana_elsewhere = Client::login(server.addr, "ana", PASSWORD).await;

    let suspended = root
        .ok::<m::AdminSuspend>(m::Suspend {
            handle: "ana".into(),
            reason: Some("spam".into()),
        })
        .await;
    assert_eq!(
        suspended.user.suspended.as_ref().map(|s| s.reason.as_str()),
        Some("spam")
    );
    for connection in [&mut ana, &mut ana_elsewhere] {
        let (close, _) = connection.read_until_closed().await;
        assert_eq!(close, Some((1008, "account suspended".to_owned())));
    }
    let mut again = server.connect().await;
    let err = again
        .err::<m::AuthLogin>(m::Login {
            handle: "ana".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(err.message.contains("suspended"), "{}", err.message);
    let err = root
        .err::<m::AdminSuspend>(m::Suspend {
            handle: "root".into(),
            reason: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Forbidden, "not yourself");

    root.ok::<m::AdminUnsuspend>(m::UserRef {
        handle: "ana".into(),
    })
    .await;
    Client::login(server.addr, "ana", PASSWORD).await;
    let err = root
        .err::<m::AdminUnsuspend>(m::UserRef {
            handle: "ana".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn a_deleted_circle_ends_its_subscriptions_and_is_gone() {
    let server = TestServer::start().await;
    let mut root = server.register_admin("root").await;
    let mut ana = server.register("ana").await;
    ana.create_circle("doomed").await;
    ana.note("doomed", "soon gone").await;
    let mut ben = server.register("ben").await;
    ben.join("doomed").await;
    ben.subscribe("doomed", Some(0)).await;
    ben.events_until("doomed", 3).await;

    root.ok::<m::AdminCircleDelete>(circle_ref("doomed")).await;
    let notice = ben
        .next_matching("circle_deleted", |n| {
            (n.method == notify::CIRCLE_DELETED).then(|| n.params.clone())
        })
        .await;
    assert_eq!(notice, json!({"circle": "doomed"}));
    assert!(ana.listed("doomed").await.is_none());
    let err = ben
        .err::<m::CircleHistory>(m::History {
            circle: "doomed".into(),
            before: None,
            limit: None,
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = ana
        .try_note("doomed", "still here?")
        .await
        .expect_err("gone");
    assert!(err.contains("NotFound"), "{err}");
    // The slug is free again, with a fresh history.
    ana.create_circle("doomed").await;
    assert_eq!(ana.history_all("doomed").await.len(), 1);
}

#[tokio::test]
async fn an_account_shares_one_budget_over_its_connections() {
    let server = TestServer::start_with(|c| {
        c.requests_per_sec = 1000;
        c.request_burst = 1000;
        c.account_requests_per_sec = 1;
        c.account_request_burst = 6;
    })
    .await;
    let mut first = server.register("ana").await;
    let mut second = Client::login(server.addr, "ana", PASSWORD).await;
    let mut refused = None;
    for n in 0..8 {
        let client = if n % 2 == 0 { &mut first } else { &mut second };
        if let Err(err) = client.call::<m::CircleList>(m::Empty {}).await {
            refused = Some(err);
            break;
        }
    }
    let err = refused.expect("the account's burst runs out within 8 requests");
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.message.contains("from this account"), "{}", err.message);
    assert!(
        err.data
            .and_then(|d| d.retry_after_ms)
            .is_some_and(|ms| ms > 0)
    );
    // Another account is not held back.
    let mut ben = server.register("ben").await;
    ben.ok::<m::CircleList>(m::Empty {}).await;
}

#[tokio::test]
async fn failed_sign_ins_make_the_next_wait() {
    let server = TestServer::start_with(|c| c.login_attempts = 2).await;
    server.register("ana").await;
    let mut client = server.connect().await;
    let wrong = m::Login {
        handle: "ana".into(),
        password: "not the password".into(),
    };
    for _ in 0..2 {
        let err = client.err::<m::AuthLogin>(wrong.clone()).await;
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    }
    // Even the right password waits now: the guesser learns nothing.
    let right = m::Login {
        handle: "ana".into(),
        password: PASSWORD.into(),
    };
    let err = client.err::<m::AuthLogin>(right).await;
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.message.contains("failed sign-ins"), "{}", err.message);
    let wait = err
        .data
        .and_then(|d| d.retry_after_ms)
        .expect("retry_after_ms");
    assert!((1..=1000).contains(&wait), "{wait}");
}

/// The status line of a WebSocket handshake sent with these extra headers.
async fn handshake_status(server: &TestServer, headers: &str) -> String {
    handshake(server, headers).await.0
}

/// The same, keeping the connection (and so its session) open.
async fn handshake(server: &TestServer, headers: &str) -> (String, tokio::net::TcpStream) {
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let request = format!(
        "GET /v1/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{headers}\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut answer = vec![0u8; 512];
    let n = within("the handshake answer", tcp.read(&mut answer))
        .await
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    (answer.lines().next().unwrap_or_default().to_owned(), tcp)
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_share() {
    // The test connects from 127.0.0.1, a trusted proxy by default.
    let server = TestServer::start_with(|c| c.max_sessions_per_ip = 1).await;
    let switching = "HTTP/1.1 101 Switching Protocols";
    let (status, _first) = handshake(&server, "X-Forwarded-For: 203.0.113.7\r\n").await;
    assert_eq!(status, switching);
    // The last entry is the proxy's; what the client wrote before it is not trusted.
    let (status, _second) =
        handshake(&server, "X-Forwarded-For: 203.0.113.7, 198.51.100.2\r\n").await;
    assert_eq!(status, switching, "another client");
    let (status, _third) = handshake(&server, "X-Forwarded-For: 203.0.113.7\r\n").await;
    assert_eq!(
        status, "HTTP/1.1 429 Too Many Requests",
        "the first client again"
    );
    let (status, _fourth) = handshake(&server, "").await;
    assert_eq!(status, switching, "the proxy's own address");
}

#[tokio::test]
async fn an_untrusted_peer_cannot_claim_another_address() {
    let server = TestServer::start_with(|c| {
        c.max_sessions_per_ip = 1;
        c.trusted_proxies = Vec::new();
    })
    .await;
    let (status, _first) = handshake(&server, "X-Forwarded-For: 203.0.113.7\r\n").await;
    assert_eq!(status, "HTTP/1.1 101 Switching Protocols");
    let (status, _second) = handshake(&server, "X-Forwarded-For: 198.51.100.2\r\n").await;
    assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
}

#[tokio::test]
async fn only_allowed_origins_may_open_websockets() {
    let server =
        TestServer::start_with(|c| c.allowed_origins = vec!["https://front.example".into()]).await;
    let same_site = format!("Origin: http://{}\r\n", server.addr);
    for (headers, status) in [
        ("", "HTTP/1.1 101 Switching Protocols"),
        (same_site.as_str(), "HTTP/1.1 101 Switching Protocols"),
        (
            "Origin: https://front.example\r\n",
            "HTTP/1.1 101 Switching Protocols",
        ),
        ("Origin: https://evil.example\r\n", "HTTP/1.1 403 Forbidden"),
        ("Origin: null\r\n", "HTTP/1.1 403 Forbidden"),
    ] {
        assert_eq!(
            handshake_status(&server, headers).await,
            status,
            "{headers:?}"
        );
    }
}

/// `GET path` with extra headers: the status line and body.
async fn get(server: &TestServer, path: &str, headers: &str) -> (String, String) {
    let (head, body) = http_get(server.addr, path, headers).await;
    (head.lines().next().unwrap_or_default().to_owned(), body)
}

#[tokio::test]
async fn the_metrics_token_guards_metrics() {
    let token = "a-long-random-metrics-token";
    let server = TestServer::start_with(|c| c.metrics_token = Some(token.into())).await;
    let (status, _) = get(&server, "/metrics", "").await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    let (status, _) = get(&server, "/metrics", "Authorization: Bearer wrong\r\n").await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    let (status, body) = get(
        &server,
        "/metrics",
        &format!("Authorization: Bearer {token}\r\n"),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("circles_websocket_connections"), "{body}");
}

#[tokio::test]
async fn the_post_size_limit_is_the_operators() {
    let server = TestServer::start_with(|c| c.max_post_bytes = 2048).await;
    let mut ana = server.register("ana").await;
    ana.create_circle("small").await;
    ana.note("small", &"x".repeat(2048)).await;
    let err = ana
        .try_note("small", &"x".repeat(2049))
        .await
        .expect_err("over the limit");
    assert!(
        err.contains("TooLarge") && err.contains("limit is 2048"),
        "{err}"
    );
}
