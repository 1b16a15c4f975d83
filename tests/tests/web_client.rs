//! The bundled web client (server/web/) in headless Chromium against a real
//! server: two peers working a problem live, a reload, a server restart,
//! invites, unread counts, mentions, presence, the keyboard; plus its HTTP headers.
//! Screenshots of the main screens go to the artifacts dir (see browser.rs).

use circles_tests::browser::{Browser, Page};
use circles_tests::{Client, PASSWORD, TestServer, http_get};
use serde_json::{Value, json};
use uuid::Uuid;

fn page_url(server: &TestServer) -> String {
    format!("http://{}/", server.addr)
}

/// A JavaScript string literal for `text`.
fn js(text: &str) -> String {
    Value::String(text.into()).to_string()
}

/// Waits until the element matching `css` is shown (not hidden by the app
/// or by CSS), so that it can be clicked.
async fn visible(page: &Page, css: &str) {
    page.wait_until(&format!(
        "(e => e !== null && e.getClientRects().length > 0)(document.querySelector({}))",
        js(css)
    ))
    .await;
}

async fn click_visible(page: &Page, css: &str) {
    visible(page, css).await;
    page.click(css).await;
}

async fn signed_in(page: &Page) {
    page.wait_until(
        "document.getElementById('welcome').hidden && !document.getElementById('app').hidden \
         && document.getElementById('status').textContent === ''",
    )
    .await;
}

async fn sign_up(page: &Page, server: &TestServer, handle: &str, display_name: &str) {
    page.goto(&page_url(server)).await;
    click_visible(page, "#tab-sign-up").await;
    page.fill("#sign-up [name=handle]", handle).await;
    page.fill("#sign-up [name=display_name]", display_name)
        .await;
    page.fill("#sign-up [name=password]", PASSWORD).await;
    page.click("#sign-up button[type=submit]").await;
    signed_in(page).await;
}

async fn create_circle(page: &Page, name: &str, slug: &str, private: bool) {
    click_visible(page, "#new-circle").await;
    visible(page, "#create-form [name=name]").await;
    page.fill("#create-form [name=name]", name).await;
    // The short name follows the name until it is edited.
    let derived = page
        .eval(
            "return document.querySelector('#create-form [name=slug]').value;",
            vec![],
        )
        .await;
    assert_eq!(derived, json!(slug), "the slug derived from {name:?}");
    page.fill(
        "#create-form [name=purpose]",
        "Metadata problems in public libraries",
    )
    .await;
    if private {
        page.click("#create-form [name=visibility][value=private]")
            .await;
    }
    page.click("#create-form button[type=submit]").await;
    page.wait_for_text("#circle-name", name).await;
}

/// Opens a circle from the sidebar (behind the menu button at phone width).
async fn open_circle(page: &Page, slug: &str, name: &str) {
    let link = format!("#sidebar a[data-slug={slug}]");
    let phone = page
        .eval(
            "return getComputedStyle(document.getElementById('menu-toggle')).display !== 'none';",
            vec![],
        )
        .await;
    if phone == json!(true) {
        page.click("#menu-toggle").await;
    }
    click_visible(page, &link).await;
    page.wait_for_text("#circle-name", name).await;
}

async fn post_note(page: &Page, body: &str) {
    click_visible(page, "#tab-note").await;
    page.fill("#note-form textarea", body).await;
    page.press_enter("#note-form textarea").await;
    page.wait_for_text("#timeline .note .body", body).await;
    // Sent: the composer is empty again.
    page.wait_until("document.querySelector('#note-form textarea').value === ''")
        .await;
}

async fn post_problem(page: &Page, title: &str, body: &str, tags: &str) {
    click_visible(page, "#tab-problem").await;
    page.fill("#problem-form [name=title]", title).await;
    page.fill("#problem-form [name=body]", body).await;
    page.fill("#problem-form [name=tags]", tags).await;
    page.click("#problem-form button[type=submit]").await;
    page.wait_for_text("#timeline .problem h3", title).await;
}

/// The ids of the timeline's items and critiques, after checking that none
/// is shown twice.
async fn shown_ids(page: &Page) -> Vec<String> {
    let ids = page
        .eval(
            "return [...document.querySelectorAll('#timeline [data-id]')].map(e => e.dataset.id);",
            vec![],
        )
        .await;
    let ids: Vec<String> = serde_json::from_value(ids).expect("a list of ids");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "an item is shown twice: {ids:?}");
    ids
}

async fn no_console_errors(page: &Page) {
    no_console_errors_but(page, &[]).await;
}

/// As [`no_console_errors`], allowing lines that contain one of `expected`.
async fn no_console_errors_but(page: &Page, expected: &[&str]) {
    let errors: Vec<String> = page
        .console()
        .await
        .into_iter()
        .filter(|line| line.starts_with("SEVERE"))
        .filter(|line| !expected.iter().any(|e| line.contains(e)))
        .collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
}

async fn fits_the_width(page: &Page) {
    let fits = page
        .eval(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await;
    assert_eq!(fits, json!(true), "the page scrolls sideways");
}

#[tokio::test]
async fn two_peers_work_a_problem_live_from_question_to_resolution() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;

    let ana = browser.page("ana", 1280, 900).await;
    ana.goto(&page_url(&server)).await;
    visible(&ana, "#sign-in [name=handle]").await;
    ana.screenshot("sign-in").await;
    // A wrong password is refused with the server's reason.
    click_visible(&ana, "#tab-sign-in").await;
    ana.fill("#sign-in [name=handle]", "nobody").await;
    ana.fill("#sign-in [name=password]", "not the password")
        .await;
    ana.click("#sign-in button[type=submit]").await;
    ana.wait_for_text("#sign-in .form-error", "wrong handle or password")
        .await;

    sign_up(&ana, &server, "ana", "Ana Lima").await;
    create_circle(&ana, "Cataloguers", "cataloguers", false).await;
    post_problem(
        &ana,
        "Patrons cannot find the e-books",
        "Loans halved after we moved the catalogue.",
        "catalogue e-books",
    )
    .await;
    ana.wait_for_text("#timeline .problem .tags", "#e-books")
        .await;

    // Ben, on a phone, reads the public circle, joins and says he has it too.
    let ben = browser.page("ben", 400, 860).await;
    sign_up(&ben, &server, "ben", "Ben Okafor").await;
    open_circle(&ben, "cataloguers", "Cataloguers").await;
    ben.wait_for_text("#timeline .problem h3", "Patrons cannot find the e-books")
        .await;
    visible(&ben, "#join-bar").await;
    ben.click("#join").await;
    click_visible(&ben, "#timeline .problem button.metoo").await;
    ana.wait_for_text("#timeline .problem .meta", "1 peer has this too")
        .await;

    // Ana sees Ben come online in the member list.
    ana.wait_until(
        "document.querySelector('#members li[data-handle=ben]')?.classList.contains('online')",
    )
    .await;

    // Ben's critique, of the kind "experience" and sent with Enter, reaches
    // Ana live, under the problem.
    click_visible(&ben, "#timeline .problem .actions button.primary").await;
    ben.click(".critique-form select[name=stance] option[value=experience]")
        .await;
    ben.fill(
        ".critique-form textarea",
        "A banner on the old catalogue page brought our loans back.",
    )
    .await;
    ben.press_enter(".critique-form textarea").await;
    ana.wait_for_text(
        "#timeline .problem .critique .body",
        "A banner on the old catalogue page",
    )
    .await;
    ana.wait_for_text("#timeline .problem .critique .meta", "Ben Okafor")
        .await;
    ana.wait_for_text("#timeline .critique .badge.stance", "Experience")
        .await;
    ana.screenshot("critique-arrived").await;

    // Only the problem's author may accept an answer: Ana can, Ben cannot.
    assert_eq!(ben.count("#timeline .critique button.accept").await, 0);
    click_visible(&ana, "#timeline .critique button.accept").await;
    ben.wait_for_text("#timeline .critique.accepted .badge.accepted", "accepted")
        .await;

    // Ana resolves it, naming the critique as the one that helped.
    click_visible(&ana, "#timeline .problem button.resolve").await;
    visible(&ana, "#resolve-form input[name=helpful]").await;
    ana.click("#resolve-form input[name=helpful]").await;
    ana.fill(
        "#resolve-form [name=summary]",
        "We put a banner on the old catalogue page.",
    )
    .await;
    ana.screenshot("resolve-dialog").await;
    ana.click("#resolve-form button[type=submit]").await;
    ben.wait_for_text("#timeline .problem .badge.resolved", "Resolved")
        .await;
    ben.wait_for_text("#timeline .critique.helpful .badge.helpful", "helped")
        .await;
    ana.wait_for_text("#timeline .problem .resolution", "1 helpful critique")
        .await;
    ben.wait_for_text(
        "#timeline .problem .resolution .summary",
        "a banner on the old catalogue page",
    )
    .await;

    // Once it is resolved, Ben reflects on what the thread was worth to him.
    click_visible(&ben, "#timeline .problem button.reflect").await;
    ben.fill(
        ".reflect-form textarea",
        "Next time I will check the old links first.",
    )
    .await;
    ben.click(".reflect-form input[name=usefulness][value='5']")
        .await;
    ben.click(".reflect-form button[type=submit]").await;
    ana.wait_for_text("#timeline .reflection .body", "check the old links first")
        .await;
    ana.wait_for_text("#timeline .reflection .usefulness", "★★★★★")
        .await;
    // One reflection each: Ben's button is gone.
    ben.wait_until("document.querySelector('#timeline .problem button.reflect') === null")
        .await;
    ben.screenshot("phone-resolved").await;
    ana.screenshot("desktop-resolved").await;

    // The server agrees with what the pages show.
    let problem: Uuid = ana
        .eval(
            "return document.querySelector('#timeline .problem').dataset.id;",
            vec![],
        )
        .await
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("the problem card's id");
    let critique: Uuid = ana
        .eval(
            "return document.querySelector('#timeline .critique').dataset.id;",
            vec![],
        )
        .await
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("the critique's id");
    let mut observer = server.register("observer").await;
    let thread = observer.problem_thread("cataloguers", problem).await;
    let resolution = thread.resolution.expect("resolved on the server");
    assert_eq!(resolution.helpful, vec![critique]);
    assert_eq!(
        resolution.summary.as_deref(),
        Some("We put a banner on the old catalogue page.")
    );
    assert_eq!(thread.accepted, vec![critique]);
    assert_eq!(
        thread.critiques[0].stance,
        circles_protocol::model::Stance::Experience
    );
    assert_eq!(thread.reflections.len(), 1);
    assert_eq!(thread.reflections[0].usefulness, 5);
    assert_eq!(thread.reflections[0].author, "ben");
    assert_eq!(thread.metoos, vec!["ben".to_string()]);
    assert_eq!(thread.critiques.len(), 1);

    fits_the_width(&ben).await;
    shown_ids(&ana).await;
    shown_ids(&ben).await;
    no_console_errors(&ana).await;
    no_console_errors(&ben).await;
}

#[tokio::test]
async fn a_reload_keeps_the_session_and_a_restart_resumes_with_everything_once() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut server = TestServer::start().await;
    let ana = browser.page("ana", 1100, 800).await;
    sign_up(&ana, &server, "ana", "Ana Lima").await;
    create_circle(&ana, "Cataloguers", "cataloguers", false).await;
    post_note(&ana, "Before the reload").await;

    // A reload comes back signed in, in the same circle, with its timeline.
    ana.reload().await;
    signed_in(&ana).await;
    ana.wait_for_text("#circle-name", "Cataloguers").await;
    ana.wait_for_text("#timeline .note .body", "Before the reload")
        .await;

    let mut ben = server.register("ben").await;
    ben.join("cataloguers").await;
    ben.note("cataloguers", "From Ben, before the restart")
        .await;
    ana.wait_for_text("#timeline .note .body", "From Ben, before the restart")
        .await;
    ben.close().await;

    // The server goes away: the page says so, and a post fails visibly
    // without losing what was typed.
    server.stop().await;
    ana.wait_for_text("#status", "Offline").await;
    ana.fill("#note-form textarea", "Typed while offline").await;
    ana.press_enter("#note-form textarea").await;
    ana.wait_for_text("#note-form .form-error", "not connected")
        .await;
    let kept = ana
        .eval(
            "return document.querySelector('#note-form textarea').value;",
            vec![],
        )
        .await;
    assert_eq!(kept, json!("Typed while offline"));
    ana.screenshot("offline").await;

    // Back on the same address, Ben posts at once: whether that lands before
    // or after the page reconnects, the page resumes from its last seq.
    server.start_again_on_same_port().await;
    let mut ben = Client::login(server.addr, "ben", PASSWORD).await;
    ben.note("cataloguers", "From Ben, after the restart").await;
    ana.wait_for_text("#timeline .note .body", "From Ben, after the restart")
        .await;
    signed_in(&ana).await;
    ana.click("#note-form button[type=submit]").await;
    ana.wait_for_text("#timeline .note .body", "Typed while offline")
        .await;

    // join (ana), note, join (ben), 3 notes: each exactly once.
    let expected = 6;
    ana.wait_until(&format!(
        "document.querySelectorAll('#timeline > li[data-id]').length >= {expected}"
    ))
    .await;
    assert_eq!(shown_ids(&ana).await.len(), expected);
    ana.reload().await;
    ana.wait_for_text("#timeline .note .body", "Typed while offline")
        .await;
    assert_eq!(shown_ids(&ana).await.len(), expected);
    // Chromium logs each refused reconnect while the server was down.
    no_console_errors_but(&ana, &["net::ERR_CONNECTION_REFUSED"]).await;
}

#[tokio::test]
async fn invite_links_unread_counts_and_presence() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let ana = browser.page("ana", 1280, 900).await;
    sign_up(&ana, &server, "ana", "Ana Lima").await;
    create_circle(&ana, "Reading clubs", "reading-clubs", true).await;
    create_circle(&ana, "Cataloguers", "cataloguers", false).await;
    open_circle(&ana, "reading-clubs", "Reading clubs").await;

    // The facilitator's invite link brings Ben into the private circle.
    click_visible(&ana, "#invite").await;
    visible(&ana, "#invite-link").await;
    let link = ana
        .eval(
            "return document.getElementById('invite-link').value;",
            vec![],
        )
        .await;
    let link = link.as_str().expect("an invite link").to_owned();
    assert!(link.contains("#/join/reading-clubs/"), "{link}");
    ana.screenshot("invite").await;
    ana.click("#invite-dialog .cancel").await;

    let ben = browser.page("ben", 1280, 900).await;
    sign_up(&ben, &server, "ben", "Ben Okafor").await;
    assert_eq!(ben.count("#sidebar a[data-slug=reading-clubs]").await, 0);
    ben.goto(&link).await;
    ben.wait_for_text("#circle-name", "Reading clubs").await;
    visible(&ben, "#composer").await;
    ana.wait_for_text("#timeline .system", "joined").await;
    ana.wait_until(
        "document.querySelector('#members li[data-handle=ben]')?.classList.contains('online')",
    )
    .await;

    // Ana posts in the circle Ben is not looking at: his sidebar counts it.
    ben.click("#sidebar a[data-slug=cataloguers]").await;
    ben.wait_for_text("#circle-name", "Cataloguers").await;
    post_note(&ana, "Shall we read Middlemarch next?").await;
    ben.wait_for_text("#sidebar a[data-slug=reading-clubs] .unread-count", "1")
        .await;
    ben.wait_until("document.title.startsWith('(1)')").await;
    ben.screenshot("unread").await;
    // Opening it reads it.
    ben.click("#sidebar a[data-slug=reading-clubs]").await;
    ben.wait_for_text("#timeline .note .body", "Middlemarch")
        .await;
    ben.wait_until(
        "document.querySelector('#sidebar a[data-slug=reading-clubs] .unread-count') === null",
    )
    .await;
    let mut check = Client::login(server.addr, "ben", PASSWORD).await;
    let listed = check.listed("reading-clubs").await.expect("ben's circle");
    assert_eq!(listed.unread, 0, "the read marker reached the server");
    check.close().await;

    // Ben closes his page: Ana sees him go offline.
    ben.close().await;
    ana.wait_until(
        "document.querySelector('#members li[data-handle=ben]')?.classList.contains('offline')",
    )
    .await;
    no_console_errors(&ana).await;
}

async fn sign_in(page: &Page, server: &TestServer, handle: &str) {
    page.goto(&page_url(server)).await;
    click_visible(page, "#tab-sign-in").await;
    page.fill("#sign-in [name=handle]", handle).await;
    page.fill("#sign-in [name=password]", PASSWORD).await;
    page.click("#sign-in button[type=submit]").await;
    signed_in(page).await;
}

#[tokio::test]
async fn mentions_have_their_own_badge_are_highlighted_and_clear_when_read() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.create_circle("desk").await;
    let mut ben = server.register("ben").await;
    ben.join("lib").await;
    ben.join("desk").await;
    // Before Ben's pages open: counted by circle.list.
    ana.note("lib", "@ben, could you look at the catalogue?")
        .await;
    ana.note("lib", "Write to ben@example.org about it").await;

    let desk = browser.page("ben", 1280, 900).await;
    sign_in(&desk, &server, "ben").await;
    open_circle(&desk, "desk", "Circle desk").await;
    let lib_mentions = "#sidebar a[data-slug=lib] .mention-count";
    desk.wait_for_text(lib_mentions, "@1").await;
    desk.wait_for_text("#sidebar a[data-slug=lib] .unread-count", "2")
        .await;
    let phone = browser.page("ben-phone", 390, 800).await;
    sign_in(&phone, &server, "ben").await;
    phone
        .wait_for_text("#menu-toggle .mention-count", "@1")
        .await;

    // A live mention reaches both of Ben's pages, counted apart from unread.
    ana.note("lib", "(@Ben) and one more thing").await;
    desk.wait_for_text(lib_mentions, "@2").await;
    desk.wait_for_text("#sidebar a[data-slug=lib] .unread-count", "3")
        .await;
    desk.wait_until(
        "document.getElementById('announce').textContent === '@ana mentioned you in Circle lib'",
    )
    .await;
    phone
        .wait_for_text("#menu-toggle .mention-count", "@2")
        .await;
    phone.wait_for_text("#menu-toggle .unread-count", "3").await;
    fits_the_width(&phone).await;
    phone.screenshot("mention-badge").await;
    phone.close().await;

    // Opening the circle shows which posts mention Ben, and reads them.
    open_circle(&desk, "lib", "Circle lib").await;
    desk.wait_for_text("#timeline .note .body", "one more thing")
        .await;
    let highlighted = desk
        .eval(
            "return [...document.querySelectorAll('#timeline .note')].map(n => [n.querySelector('.body').textContent, n.classList.contains('mentions-me'), n.querySelector('.badge.mention') !== null]);",
            vec![],
        )
        .await;
    assert_eq!(
        highlighted,
        json!([
            ["@ben, could you look at the catalogue?", true, true],
            ["Write to ben@example.org about it", false, false],
            ["(@Ben) and one more thing", true, true]
        ])
    );
    desk.wait_until(&format!(
        "document.querySelector({}) === null",
        js(lib_mentions)
    ))
    .await;
    desk.screenshot("mentions-read").await;
    let mut check = Client::login(server.addr, "ben", PASSWORD).await;
    let listed = check.listed("lib").await.expect("ben's circle");
    assert_eq!(
        (listed.unread, listed.mentions),
        (0, 0),
        "read on the server"
    );
    check.close().await;
    // Ben's own post naming himself is not highlighted.
    post_note(&desk, "note to self: @ben").await;
    assert_eq!(desk.count("#timeline .mentions-me").await, 2);
    no_console_errors(&desk).await;
}

/// Every control has a name a screen reader can say.
const UNLABELLED: &str = "return [...document.querySelectorAll('input, textarea, select, button')]
    .filter(e => e.type !== 'hidden')
    .filter(e => e.tagName === 'BUTTON'
        ? !(e.textContent.trim() || e.getAttribute('aria-label'))
        : !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')))
    .map(e => e.outerHTML.slice(0, 120));";

#[tokio::test]
async fn the_keyboard_alone_signs_up_and_posts_and_every_control_is_labelled() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let kim = browser.page("kim", 1100, 800).await;
    kim.goto(&page_url(&server)).await;
    visible(&kim, "#tab-sign-in").await;
    assert_eq!(kim.eval(UNLABELLED, vec![]).await, json!([]));

    // Arrow keys move between the tabs; Tab between fields; Enter submits.
    let right = char::from(fantoccini::key::Key::Right).to_string();
    let tab = char::from(fantoccini::key::Key::Tab).to_string();
    kim.send_keys("#tab-sign-in", &right).await;
    kim.wait_until("document.activeElement === document.querySelector('#sign-up [name=handle]')")
        .await;
    kim.send_keys("#sign-up [name=handle]", &format!("kim{tab}Kim Lee{tab}"))
        .await;
    kim.wait_until("document.activeElement === document.querySelector('#sign-up [name=password]')")
        .await;
    kim.send_keys("#sign-up [name=password]", PASSWORD).await;
    kim.press_enter("#sign-up [name=password]").await;
    signed_in(&kim).await;
    kim.wait_for_text("#me", "@kim").await;

    create_circle(&kim, "Keyboards", "keyboards", false).await;
    post_problem(&kim, "Which layout for the catalogue desk?", "", "").await;
    click_visible(&kim, "#timeline .problem .actions button.primary").await;
    kim.wait_for(".critique-form textarea").await;
    click_visible(&kim, "#tab-note").await;
    post_note(&kim, "Enter sends a note").await;
    assert_eq!(kim.eval(UNLABELLED, vec![]).await, json!([]));
    no_console_errors(&kim).await;
}

/// The page and its files, over plain HTTP: the headers that make the CSP
/// strict, revalidation, and nothing else served from /web/.
#[tokio::test]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let server = TestServer::start().await;
    let (head, body) = http_get(server.addr, "/", "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body.contains("<script type=\"module\" src=\"/web/app.js\">"),
        "{body}"
    );
    let header = |head: &str, name: &str| -> Option<String> {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let csp = header(&head, "content-security-policy").expect("a CSP header");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp} lacks {directive}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(
        header(&head, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(header(&head, "cache-control").as_deref(), Some("no-cache"));

    let (head, body) = http_get(server.addr, "/web/app.js", "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(header(&head, "content-type").is_some_and(|t| t.starts_with("text/javascript")));
    assert!(body.contains("import"), "app.js is the module");
    let etag = header(&head, "etag").expect("an ETag");
    let (head, body) = http_get(
        server.addr,
        "/web/app.js",
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    assert!(body.is_empty());

    for missing in ["/web/nope.js", "/web/../Cargo.toml", "/web/"] {
        let (head, _) = http_get(server.addr, missing, "").await;
        assert!(head.starts_with("HTTP/1.1 404"), "{missing}: {head}");
    }
}

/// Ana (in the browser) opens Cataloguers and brings a problem that
/// mentions @ben; ben (a Rust client) joins and critiques it. Returns her
/// page, once it shows the critique, and the problem's id.
async fn a_problem_ben_critiqued(browser: &Browser, server: &TestServer) -> (Page, Uuid) {
    let ana = browser.page("ana", 1280, 900).await;
    sign_up(&ana, server, "ana", "Ana Lima").await;
    create_circle(&ana, "Cataloguers", "cataloguers", false).await;
    post_problem(&ana, "Teens skip the catalogue", "Ideas, @ben?", "teens").await;
    let mut ben = Client::register(server.addr, "ben").await;
    ben.join("cataloguers").await;
    let problem = ana
        .eval(
            "return document.querySelector('#timeline .problem').dataset.id;",
            vec![],
        )
        .await;
    let problem: Uuid = serde_json::from_value(problem).expect("the problem's id");
    ben.critique("cataloguers", problem, "A scavenger hunt worked for us.")
        .await;
    ana.wait_for_text("#timeline .critique", "scavenger hunt")
        .await;
    (ana, problem)
}

/// The Stats dialog shows the open circle's figures and chart, and a
/// resolved problem's "Case study" button downloads its Markdown (a Blob
/// and `<a download>`, which the strict CSP allows), anonymised by default.
#[tokio::test]
async fn stats_and_a_case_study_download() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let (ana, problem) = a_problem_ben_critiqued(&browser, &server).await;
    // Open: no case study yet.
    assert_eq!(ana.count("#timeline .problem button.case-study").await, 0);

    click_visible(&ana, "#show-stats").await;
    visible(&ana, "#stats-dialog").await;
    ana.wait_for_text("#stats-title", "Stats of Cataloguers")
        .await;
    let figures = ana
        .eval(
            "return [...document.querySelectorAll('#stats-figures dt')].map(dt => [dt.textContent, dt.nextElementSibling.textContent]);",
            vec![],
        )
        .await;
    assert_eq!(
        figures,
        json!([
            ["Problems raised", "1"],
            ["Problems resolved", "0"],
            ["Median time to first critique", "less than a minute"],
            ["Median time to resolution", "–"],
            ["Unanswered now", "0"]
        ])
    );
    assert_eq!(ana.count("#stats-series tbody tr").await, 1);
    assert_eq!(ana.count("#stats-series .bar.raised").await, 1);
    let width = ana
        .eval(
            "return document.querySelector('#stats-series .bar.raised').style.inlineSize;",
            vec![],
        )
        .await;
    assert_eq!(width, json!("100%"), "the busiest week's bar is full");
    ana.screenshot("stats").await;
    ana.click("#stats-dialog .cancel").await;

    let mut ana_rust = Client::login(server.addr, "ana", PASSWORD).await;
    ana_rust
        .request(
            "problem.resolve",
            json!({"circle": "cataloguers", "problem": problem, "summary": "A hunt each term."}),
        )
        .await;
    click_visible(&ana, "#timeline .problem button.case-study").await;
    visible(&ana, "#case-dialog").await;
    ana.click("#case-form button[type=submit]").await;
    let name = format!(
        "case-cataloguers-{}-anonymised.md",
        &problem.simple().to_string()[24..]
    );
    let markdown = ana.downloaded(&name).await;
    assert!(
        markdown.starts_with("# Case study: Teens skip the catalogue\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains("People: Member 1, Member 2."),
        "{markdown}"
    );
    assert!(markdown.contains("Ideas, Member 2?"), "{markdown}");
    assert!(markdown.contains("> A hunt each term."), "{markdown}");
    assert!(
        !markdown.contains("ana") && !markdown.contains("Lima"),
        "{markdown}"
    );
    ana.wait_for_text("#toast", &format!("Downloaded {name}"))
        .await;
    no_console_errors(&ana).await;
}

/// A facilitator schedules a meeting from the web client with open problems
/// on its agenda; it shows in the timeline for a member too, who cannot
/// schedule one, and the Digest dialog counts what changed.
#[tokio::test]
async fn facilitators_schedule_meetings_and_the_digest_says_what_changed() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let (ana, _) = a_problem_ben_critiqued(&browser, &server).await;
    post_problem(&ana, "Labels fall off", "Glue?", "").await;

    click_visible(&ana, "#schedule").await;
    visible(&ana, "#schedule-dialog").await;
    assert_eq!(ana.count("#schedule-agenda input[name=agenda]").await, 2);
    // Two days ahead, as a datetime-local input holds it (local time).
    ana.eval(
        "const d = new Date(Date.now() + 2 * 86400000); d.setSeconds(0, 0);
         document.querySelector('#schedule-form [name=at]').value =
           new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
         document.querySelectorAll('#schedule-agenda input')[1].checked = true;",
        vec![],
    )
    .await;
    ana.fill("#schedule-form [name=title]", "Monthly clinic")
        .await;
    ana.click("#schedule-form button[type=submit]").await;
    ana.wait_for_text("#timeline .meeting", "Monthly clinic")
        .await;
    assert_eq!(
        ana.text("#timeline .meeting .agenda").await,
        "Labels fall off"
    );
    ana.screenshot("meeting").await;

    let ben_page = browser.page("ben", 1280, 900).await;
    sign_in(&ben_page, &server, "ben").await;
    open_circle(&ben_page, "cataloguers", "Cataloguers").await;
    ben_page
        .wait_for_text("#timeline .meeting", "Monthly clinic")
        .await;
    assert_eq!(
        ben_page
            .eval("return document.querySelector('#schedule').hidden;", vec![])
            .await,
        json!(true),
        "only facilitators schedule meetings"
    );

    click_visible(&ana, "#show-digest").await;
    visible(&ana, "#digest-dialog").await;
    ana.wait_for_text("#digest-window", "Next meeting: Monthly clinic")
        .await;
    let figures = ana
        .eval(
            "return [...document.querySelectorAll('#digest-figures dt')].map(dt => [dt.textContent, dt.nextElementSibling.textContent]);",
            vec![],
        )
        .await;
    assert_eq!(
        figures,
        json!([
            ["New problems", "2"],
            ["New critiques", "1"],
            ["Resolved", "0"],
            ["Unanswered", "1"]
        ])
    );
    assert!(
        ana.text("#digest-unanswered")
            .await
            .contains("Labels fall off")
    );
    no_console_errors(&ana).await;
    no_console_errors(&ben_page).await;
}

/// Norms in the page: the facilitator sets them from the Norms dialog; a
/// member's note is refused and the norms dialog shows their text (as
/// text); Cancel keeps what was typed, and "Accept and continue" accepts
/// them and sends the note. Both norms events show in the timeline.
#[tokio::test]
async fn norms_set_in_the_page_are_accepted_before_posting() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let ana = browser.page("ana", 1280, 900).await;
    sign_up(&ana, &server, "ana", "Ana Lima").await;
    create_circle(&ana, "Cataloguers", "cataloguers", false).await;
    let mut ben = Client::register(server.addr, "ben").await;
    ben.join("cataloguers").await;

    // Ana sets them: markup in the text stays text.
    let norms = "Critique the plan, not the person.\n<b>Say</b> what worked for you.";
    click_visible(&ana, "#show-norms").await;
    visible(&ana, "#norms-form").await;
    ana.wait_for_text("#norms-view-meta", "No norms yet.").await;
    ana.fill("#norms-form [name=text]", norms).await;
    ana.click("#norms-form button[type=submit]").await;
    ana.wait_for_text("#toast", "The norms are now version 1")
        .await;
    ana.wait_for_text(
        "#timeline .system.norms",
        "set the circle's norms (version 1)",
    )
    .await;

    let ben_page = browser.page("ben", 1280, 900).await;
    sign_in(&ben_page, &server, "ben").await;
    open_circle(&ben_page, "cataloguers", "Cataloguers").await;
    ben_page
        .wait_for_text("#timeline .system.norms", "version 1")
        .await;
    click_visible(&ben_page, "#tab-note").await;
    ben_page.fill("#note-form textarea", "Hello, all").await;
    ben_page.press_enter("#note-form textarea").await;
    visible(&ben_page, "#norms-dialog").await;
    let shown = ben_page
        .eval(
            "return document.getElementById('norms-text').textContent;",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(norms), "the norms are shown as text");
    assert_eq!(ben_page.count("#norms-text b").await, 0);
    assert!(
        ben_page
            .text("#norms-meta")
            .await
            .contains("Version 1, set by @ana")
    );
    ben_page.screenshot("norms-consent").await;

    // Cancel: nothing is sent, and the note is still there to send.
    ben_page.click("#norms-dialog .cancel").await;
    ben_page
        .wait_for_text("#note-form .form-error", "accept its norms first")
        .await;
    assert_eq!(
        ben_page
            .eval(
                "return document.querySelector('#note-form textarea').value;",
                vec![]
            )
            .await,
        json!("Hello, all")
    );
    // Again, and accept: the note goes through.
    ben_page.press_enter("#note-form textarea").await;
    visible(&ben_page, "#norms-dialog").await;
    ben_page.click("#norms-dialog button[value=accept]").await;
    ben_page
        .wait_for_text("#timeline .note .body", "Hello, all")
        .await;
    ben_page
        .wait_until("document.querySelector('#note-form textarea').value === ''")
        .await;
    ana.wait_for_text("#timeline .system", "accepted the norms (version 1)")
        .await;
    ana.wait_for_text("#timeline .note .body", "Hello, all")
        .await;

    // A member reads them, and cannot set them.
    click_visible(&ben_page, "#show-norms").await;
    visible(&ben_page, "#norms-view").await;
    ben_page
        .wait_for_text("#norms-view-text", "Critique the plan, not the person.")
        .await;
    assert_eq!(
        ben_page
            .eval(
                "return document.getElementById('norms-form').hidden;",
                vec![]
            )
            .await,
        json!(true),
        "only facilitators set the norms"
    );
    no_console_errors(&ana).await;
    no_console_errors(&ben_page).await;
}

/// Search from the header: `/` focuses the box, a stemmed word finds the
/// posts (the word marked, as text), a hit opens its circle at the problem;
/// a private circle's problem never shows to a non-member; "This circle
/// only" keeps to the open one; posting a problem like one elsewhere shows
/// it as similar.
#[tokio::test]
async fn search_finds_marked_hits_that_open_their_problem_and_similar_ones_show_after_posting() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let mut ben = Client::register(server.addr, "ben").await;
    ben.create_circle("school-libs").await;
    let theirs = ben
        .problem(
            "school-libs",
            "Pupils stopped borrowing e-books",
            "Since the new <b>catalogue</b> went live, e-book loans dropped by half.",
        )
        .await;
    let mut cara = Client::register(server.addr, "cara").await;
    cara.create_private_circle("secret-shelf").await;
    cara.problem(
        "secret-shelf",
        "Secret catalogue migration",
        "Our catalogues move in March.",
    )
    .await;

    let ana = browser.page("ana", 1280, 900).await;
    sign_up(&ana, &server, "ana", "Ana Lima").await;
    create_circle(&ana, "Cataloguers", "cataloguers", false).await;

    // `/` from the page: the search box; "catalogues" finds "catalogue".
    ana.eval(
        "document.getElementById('main').focus(); \
         document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: '/', bubbles: true}));",
        vec![],
    )
    .await;
    ana.wait_until("document.activeElement === document.getElementById('search-query')")
        .await;
    ana.fill("#search-query", "catalogues").await;
    ana.press_enter("#search-query").await;
    ana.wait_for_text("#search-title", "1 match for “catalogues”")
        .await;
    let hit = "#search-results .hit[data-circle=school-libs]";
    ana.wait_for_text(hit, "Pupils stopped borrowing e-books")
        .await;
    assert_eq!(ana.text(&format!("{hit} .snippet mark")).await, "catalogue");
    assert!(
        ana.text(&format!("{hit} .snippet"))
            .await
            .contains("<b>catalogue</b>"),
        "markup in a post stays text"
    );
    assert_eq!(ana.count("#search-results b").await, 0);
    assert_eq!(
        ana.count("#search-results .hit[data-circle=secret-shelf]")
            .await,
        0,
        "a private circle's problem is not found by a non-member"
    );
    ana.screenshot("search-results").await;

    // The hit opens ben's circle (read-only: ana is not a member) at the problem.
    ana.click(&format!("{hit} .hit-link")).await;
    ana.wait_for_text("#circle-name", "Circle school-libs")
        .await;
    let found = format!("#timeline .problem.found[data-id=\"{}\"]", theirs.id);
    visible(&ana, &found).await;
    ana.wait_until(&format!(
        "document.activeElement === document.querySelector({})",
        js(&found)
    ))
    .await;
    visible(&ana, "#join-bar").await;

    // This circle only: nothing about e-books in school-libs but ben's problem.
    ana.click("#search-here input").await;
    ana.fill("#search-query", "e-books").await;
    ana.press_enter("#search-query").await;
    ana.wait_for_text("#search-title", "in Circle school-libs")
        .await;
    assert_eq!(
        ana.count("#search-results .hit").await,
        ana.count("#search-results .hit[data-circle=school-libs]")
            .await
    );
    ana.click("#search-panel .close-hits").await;

    // Ana brings a problem like ben's in her own circle: it shows as similar.
    open_circle(&ana, "cataloguers", "Cataloguers").await;
    post_problem(
        &ana,
        "Nobody borrows e-books since the new catalogue",
        "E-book loans dropped when the catalogue changed.",
        "",
    )
    .await;
    let similar = "#similar-results .hit[data-circle=school-libs]";
    ana.wait_for_text(similar, "Pupils stopped borrowing e-books")
        .await;
    assert_eq!(ana.count("#similar-results .hit").await, 1);
    ana.screenshot("similar-problems").await;
    ana.click(&format!("{similar} .hit-link")).await;
    ana.wait_for_text("#circle-name", "Circle school-libs")
        .await;
    visible(&ana, &found).await;
    no_console_errors(&ana).await;
}
