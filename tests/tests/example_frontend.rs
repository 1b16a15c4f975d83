//! The example front end (examples/minimal-frontend/) in headless Chromium,
//! served from another origin than the server's, against a real server and
//! a Rust peer; and checks that keep the example small and its copy in
//! docs/protocol.md identical.

use std::path::PathBuf;

use circles_protocol::EventBody;
use circles_tests::browser::{Browser, StaticSite};
use circles_tests::{PASSWORD, TestServer, note_body};

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/minimal-frontend")
}

fn read_repo_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// The example's page, pointed at `server`.
fn page_url(site: &StaticSite, server: &TestServer) -> String {
    site.url(&format!("/index.html?server={}", server.url()))
}

#[tokio::test]
async fn the_example_signs_in_follows_a_circle_and_chats_with_a_rust_peer() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let site = StaticSite::serve(example_dir()).await;
    let origin = site.origin();
    let server = TestServer::start_with(|c| c.allowed_origins = vec![origin]).await;

    // A Rust peer creates the circle, posts a problem and follows everything.
    let mut ben = server.register("ben").await;
    ben.create_circle("cataloguers").await;
    ben.problem("cataloguers", "Patrons cannot find the e-books", "")
        .await;
    ben.subscribe("cataloguers", Some(0)).await;
    let ana = server.register("ana").await;
    ana.close().await;

    let page = browser.page("ana", 1000, 800).await;
    page.goto(&page_url(&site, &server)).await;

    // A wrong password: the server's message is shown.
    page.fill("#handle", "ana").await;
    page.fill("#password", "not the password").await;
    page.click("#login").await;
    page.wait_for_text("#status", "wrong handle or password")
        .await;

    page.fill("#password", PASSWORD).await;
    page.press_enter("#password").await;
    page.wait_for_text("#status", "signed in as ana").await;

    // Following joins the circle and shows the backlog.
    page.fill("#circle", "cataloguers").await;
    page.click("#subscribe").await;
    page.wait_for_text("#status", "following cataloguers").await;
    page.wait_for_text("#events li", "Patrons cannot find the e-books")
        .await;

    // A note from the page reaches the Rust peer, as ana's.
    page.fill("#note", "Try a banner on the old catalogue page")
        .await;
    page.click("#post").await;
    let note = loop {
        let event = ben.next_event_in("cataloguers").await;
        if matches!(event.body, EventBody::Note { .. }) {
            break event;
        }
    };
    assert_eq!(note.author, "ana");
    assert_eq!(note_body(&note), "Try a banner on the old catalogue page");
    page.wait_for_text("#status", "posted to cataloguers").await;
    let field = page.eval("return document.getElementById('note').value;", vec![]);
    assert_eq!(field.await, "", "the note field is cleared");

    // A note from the Rust peer appears in the page, once, text not markup.
    let markup = "<img src=x onerror=alert(1)> worked for us";
    ben.note("cataloguers", markup).await;
    let item = page.wait_for_text("#events li", "worked for us").await;
    let shown = item.text().await.expect("the note's text");
    assert_eq!(shown, format!("ben: {markup}"));
    assert_eq!(
        page.count("#events img").await,
        0,
        "posts are shown as text"
    );
    assert_eq!(
        page.count("#events li").await,
        3,
        "problem, ana's note, ben's note"
    );
    page.screenshot("chat").await;

    // A second, independent peer registers with the page's button.
    let cleo = browser.page("cleo", 800, 600).await;
    cleo.goto(&page_url(&site, &server)).await;
    cleo.fill("#handle", "cleo").await;
    cleo.fill("#password", "cleo's password").await;
    cleo.click("#register").await;
    cleo.wait_for_text("#status", "signed in as cleo").await;
    cleo.fill("#circle", "no-such-circle").await;
    cleo.click("#subscribe").await;
    cleo.wait_for_text("#status", "no-such-circle").await;
    assert!(
        cleo.text("#status").await.contains("no circle"),
        "a refused follow shows the server's message"
    );
    cleo.fill("#circle", "cataloguers").await;
    cleo.click("#subscribe").await;
    cleo.wait_for_text("#events li", "worked for us").await;
    let joined = loop {
        let event = ben.next_event_in("cataloguers").await;
        if matches!(event.body, EventBody::Join { .. }) {
            break event;
        }
    };
    assert_eq!(joined.author, "cleo");
    assert_eq!(cleo.count("#events li").await, 3, "the same backlog, once");
    cleo.screenshot("second-peer").await;

    cleo.close().await;
    page.close().await;
}

#[tokio::test]
async fn the_example_cannot_connect_unless_its_origin_is_allowed() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let site = StaticSite::serve(example_dir()).await;
    let server = TestServer::start().await;
    let page = browser.page("refused", 800, 600).await;
    page.goto(&page_url(&site, &server)).await;
    page.wait_for_text("#status", "disconnected").await;
    page.fill("#handle", "ana").await;
    page.fill("#password", PASSWORD).await;
    page.click("#login").await;
    page.wait_for_text("#status", "not connected to").await;
    page.close().await;
}

#[test]
fn the_example_javascript_is_under_60_lines() {
    let js = read_repo_file("examples/minimal-frontend/app.js");
    let lines = js.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(
        lines < 60,
        "app.js has {lines} non-empty lines; keep it under 60"
    );
}

#[test]
fn the_example_page_has_no_inline_script() {
    let html = read_repo_file("examples/minimal-frontend/index.html");
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 1, "one script element");
    assert!(
        scripts[0].starts_with(r#" type="module" src="app.js"></script>"#),
        "the script is the module app.js, not inline: {}",
        scripts[0]
    );
    let lower = html.to_ascii_lowercase();
    for handler in [
        " onclick=",
        " onsubmit=",
        " onload=",
        " oninput=",
        " onchange=",
    ] {
        assert!(!lower.contains(handler), "an inline handler: {handler}");
    }
    assert!(
        html.contains("Content-Security-Policy"),
        "the page declares its strict CSP"
    );
}

/// docs/protocol.md shows app.js whole, after a marker comment: the two
/// must not drift.
#[test]
fn the_protocol_doc_shows_the_example_javascript_as_it_is() {
    let doc = read_repo_file("docs/protocol.md");
    let js = read_repo_file("examples/minimal-frontend/app.js");
    let marker = "<!-- the whole of examples/minimal-frontend/app.js -->";
    let (_, after) = doc
        .split_once(marker)
        .unwrap_or_else(|| panic!("docs/protocol.md lacks the marker {marker}"));
    let block = after
        .trim_start()
        .strip_prefix("```js\n")
        .expect("a ```js block right after the marker");
    let (shown, _) = block.split_once("\n```").expect("the end of the block");
    assert!(
        shown.trim_end() == js.trim_end(),
        "the JavaScript in docs/protocol.md differs from examples/minimal-frontend/app.js; \
         copy the file into the doc"
    );
}
