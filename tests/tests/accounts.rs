//! Accounts: auth.register, auth.login, auth.token, auth.logout, auth.password.

use circles_protocol::ErrorKind;
use circles_protocol::methods as m;
use circles_tests::*;
use serde_json::json;

fn register_params(handle: &str) -> m::Register {
    m::Register {
        handle: handle.into(),
        password: PASSWORD.into(),
        display_name: None,
        invite: None,
    }
}

fn is_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_signs_the_connection_in_and_returns_a_token() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let session = client.ok::<m::AuthRegister>(register_params("ana")).await;
    assert_eq!(session.handle, "ana");
    assert!(
        is_token(&session.token),
        "token should be 64 hex chars: {:?}",
        session.token
    );
    // Signed in: a members-only method works on the same connection.
    let circles = client.ok::<m::CircleList>(m::Empty {}).await;
    assert_eq!(circles.circles, vec![]);
    // And the token signs a second connection in.
    let mut other = server.connect().await;
    let who = other
        .ok::<m::AuthToken>(m::TokenLogin {
            token: session.token.clone(),
        })
        .await;
    assert_eq!(who.handle, "ana");
    assert_eq!(
        who.display_name, "ana",
        "display_name defaults to the handle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_display_name_and_ignored_invite() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let session = client
        .ok::<m::AuthRegister>(m::Register {
            handle: "bea-2_x".into(),
            password: PASSWORD.into(),
            display_name: Some("Bea Ortiz".into()),
            invite: Some("anything: registration is open".into()),
        })
        .await;
    assert_eq!(session.handle, "bea-2_x");
    let mut other = server.connect().await;
    let who = other
        .ok::<m::AuthToken>(m::TokenLogin {
            token: session.token,
        })
        .await;
    assert_eq!(who.display_name, "Bea Ortiz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_refuses_a_taken_handle() {
    let server = TestServer::start().await;
    let _ana = server.register("ana").await;
    let mut other = server.connect().await;
    let err = other.err::<m::AuthRegister>(register_params("ana")).await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
    assert_eq!(err.code, -32009);
    // The refused connection is not signed in.
    let err = other.err::<m::CircleList>(m::Empty {}).await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_validates_handle_password_and_display_name() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let long_handle = "a".repeat(33);
    for bad in ["Ana", "a", long_handle.as_str(), "ana!", "an a", "", "ána"] {
        let err = client.err::<m::AuthRegister>(register_params(bad)).await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidParams,
            "handle {bad:?}: {err:?}"
        );
        assert_eq!(err.code, -32602);
    }
    let err = client
        .err::<m::AuthRegister>(m::Register {
            password: "short12".into(), // 7 bytes
            ..register_params("shortpw")
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::InvalidParams, "{err:?}");
    let err = client
        .err::<m::AuthRegister>(m::Register {
            display_name: Some(String::new()),
            ..register_params("nodisplay")
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::InvalidParams, "{err:?}");
    let err = client
        .err::<m::AuthRegister>(m::Register {
            display_name: Some("x".repeat(65)),
            ..register_params("longdisplay")
        })
        .await;
    assert!(
        matches!(err.kind(), ErrorKind::InvalidParams | ErrorKind::TooLarge),
        "display_name of 65 chars: {err:?}"
    );
    // Limits that are allowed: 2 and 32 chars, an 8-byte password.
    let mut two = server.connect().await;
    two.ok::<m::AuthRegister>(register_params("ab")).await;
    let mut long = server.connect().await;
    long.ok::<m::AuthRegister>(register_params(&"z".repeat(32)))
        .await;
    let mut eight = server.connect().await;
    eight
        .ok::<m::AuthRegister>(m::Register {
            password: "12345678".into(),
            ..register_params("eightpw")
        })
        .await;
    // None of the refused ones exists.
    let mut probe = server.connect().await;
    let err = probe
        .err::<m::AuthLogin>(m::Login {
            handle: "shortpw".into(),
            password: "short12".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_password_and_same_error_for_wrong_handle_or_password() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let mut client = server.connect().await;
    let session = client
        .ok::<m::AuthLogin>(m::Login {
            handle: "ana".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert_eq!(session.handle, "ana");
    assert!(is_token(&session.token));
    assert_ne!(session.token, ana.token, "each sign-in gets its own token");
    client.ok::<m::CircleList>(m::Empty {}).await;

    let mut bad = server.connect().await;
    let wrong_password = bad
        .err::<m::AuthLogin>(m::Login {
            handle: "ana".into(),
            password: "not the password".into(),
        })
        .await;
    let wrong_handle = bad
        .err::<m::AuthLogin>(m::Login {
            handle: "nobody".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert_eq!(wrong_password.kind(), ErrorKind::Unauthenticated);
    assert_eq!(wrong_password.code, -32001);
    assert_eq!(wrong_handle.kind(), ErrorKind::Unauthenticated);
    assert_eq!(
        wrong_password.message, wrong_handle.message,
        "wrong handle and wrong password must not be told apart"
    );
    assert_eq!(wrong_password.message, "wrong handle or password");
    // Still not signed in after failures.
    let err = bad.err::<m::CircleList>(m::Empty {}).await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_login_refuses_unknown_tokens() {
    let server = TestServer::start().await;
    let _ana = server.register("ana").await;
    let mut client = server.connect().await;
    for token in ["0".repeat(64), "not-a-token".to_string()] {
        let err = client.err::<m::AuthToken>(m::TokenLogin { token }).await;
        assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err:?}");
        assert_eq!(err.message, "token not recognised; sign in again");
    }
    let err = client.err::<m::CircleList>(m::Empty {}).await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_only_this_connections_token() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    let second = Client::login(server.addr, "ana", PASSWORD).await;
    let revoked = ana.token.clone();
    let result = ana.ok::<m::AuthLogout>(m::Empty {}).await;
    assert_eq!(result, m::Empty {});
    // The connection is signed out...
    let err = ana.err::<m::CircleList>(m::Empty {}).await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err:?}");
    // ...and its token no longer works anywhere.
    let mut later = server.connect().await;
    let err = later
        .err::<m::AuthToken>(m::TokenLogin {
            token: revoked.clone(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err:?}");
    // The other token still does.
    let mut again = Client::with_token(server.addr, &second.token).await;
    again.ok::<m::CircleList>(m::Empty {}).await;
    // The signed-out connection can sign in again.
    ana.ok::<m::AuthLogin>(m::Login {
        handle: "ana".into(),
        password: PASSWORD.into(),
    })
    .await;
    ana.ok::<m::CircleList>(m::Empty {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_revokes_other_tokens_and_closes_their_sessions() {
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    let mut other_session = Client::login(server.addr, "ana", PASSWORD).await;
    let other_token = other_session.token.clone();

    let err = ana
        .err::<m::AuthPassword>(m::ChangePassword {
            old: "wrong old password".into(),
            new: "a brand new password".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err:?}");
    let err = ana
        .err::<m::AuthPassword>(m::ChangePassword {
            old: PASSWORD.into(),
            new: "short".into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::InvalidParams, "{err:?}");
    // Nothing changed yet: the other session still works.
    other_session.ok::<m::CircleList>(m::Empty {}).await;

    let result = ana
        .ok::<m::AuthPassword>(m::ChangePassword {
            old: PASSWORD.into(),
            new: "a brand new password".into(),
        })
        .await;
    assert_eq!(result, m::Empty {});

    // The other session is closed with 1008 (token revoked).
    let (close, _) = other_session.read_until_closed().await;
    let (code, reason) = close.expect("a close frame for the revoked session");
    assert_eq!(code, 1008, "the other session should be closed with 1008");
    assert!(reason.contains("token revoked"), "close reason {reason:?}");
    // Its token is refused.
    let mut probe = server.connect().await;
    let err = probe
        .err::<m::AuthToken>(m::TokenLogin { token: other_token })
        .await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err:?}");
    // This connection and its token stay valid.
    ana.ok::<m::CircleList>(m::Empty {}).await;
    let mut same = Client::with_token(server.addr, &ana.token).await;
    same.ok::<m::CircleList>(m::Empty {}).await;
    // The old password no longer works; the new one does.
    let err = probe
        .err::<m::AuthLogin>(m::Login {
            handle: "ana".into(),
            password: PASSWORD.into(),
        })
        .await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    Client::login(server.addr, "ana", "a brand new password").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_methods_validate_params() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let err = error_of(
        &client
            .request("auth.register", json!({"handle": "ana"}))
            .await,
    );
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "missing password: {err:?}"
    );
    let err = error_of(
        &client
            .request("auth.login", json!({"handle": "ana", "password": 12345678}))
            .await,
    );
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "numeric password: {err:?}"
    );
    let err = error_of(&client.request("auth.token", json!({})).await);
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "missing token: {err:?}"
    );
    let err = error_of(
        &client
            .request(
                "auth.register",
                json!({"handle": "ana", "password": PASSWORD, "displayname": "typo"}),
            )
            .await,
    );
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidParams,
        "unknown field: {err:?}"
    );
    // The connection still works.
    client.register_as("ana", None).await;
}
