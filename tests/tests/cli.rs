//! `circles`, the command-line client, run as a binary against a real server:
//! a scripted session of two peers, `--json` outputs, post id prefixes, the
//! message and exit code of each failure, the config file, the server
//! settings, shell completions, and `circles tail` across server restarts.
//!
//! Exit codes: 0 ok, 1 refused by the server, 2 usage or bad input,
//! 3 unreachable, 4 sign-in needed or failed, 5 local.

use std::os::unix::fs::PermissionsExt;

use circles_protocol::ErrorKind;
use circles_protocol::methods as m;
use circles_tests::cli::{Output, Peer, ServerArg, Tail, spawn_server_at, toml_string};
use circles_tests::{Client, PASSWORD, ServerProcess, TestServer};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// helpers

/// `problem #3 9f00a1b2` (what a write command prints) as (kind, seq, short id).
fn posted(out: &Output) -> (String, u64, String) {
    let stdout = out.success();
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(
        words.len(),
        3,
        "`{}` should print `KIND #SEQ ID`: {stdout:?}",
        out.command
    );
    let seq = words[1]
        .strip_prefix('#')
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("`{}`: no #SEQ in {stdout:?}", out.command));
    assert_eq!(
        words[2].len(),
        8,
        "`{}`: a short id is the last 8 hex digits of the id: {stdout:?}",
        out.command
    );
    (words[0].to_owned(), seq, words[2].to_owned())
}

/// An id without its dashes.
fn hex(id: &str) -> String {
    id.replace('-', "")
}

/// The shortest prefix (at least 4 hex digits) of `id` that no id of `others` starts with.
fn unique_prefix(id: &str, others: &[&str]) -> String {
    let mine = hex(id);
    let mut len = 4;
    for other in others.iter().filter(|o| **o != id) {
        let common = mine
            .chars()
            .zip(hex(other).chars())
            .take_while(|(a, b)| a == b)
            .count();
        len = len.max(common + 1);
    }
    mine[..len].to_owned()
}

fn str_of<'v>(value: &'v Value, what: &str) -> &'v str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} should be a string: {value}"))
}

fn not_signed_in(url: &str) -> String {
    format!(
        "not signed in to {url}: run `circles login HANDLE` (or `circles register HANDLE`) first"
    )
}

fn unreachable(url: &str) -> String {
    format!("cannot reach the server at {url}: connection refused (is the server running?)")
}

const EXPIRED: &str = "your sign-in has expired or was revoked: run `circles login` again";

fn unknown_circle(slug: &str) -> String {
    format!("no circle named \"{slug}\": `circles list` shows the circles you can see")
}

fn not_a_member(slug: &str) -> String {
    format!("you are not a member: run `circles join {slug}` first")
}

/// A local address nothing listens on.
fn closed_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
    // The listener closes here.
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

// ---------------------------------------------------------------------------
// a scripted session

/// Two peers at their terminals: register, create a private circle, join it
/// with an invite, bring a problem (body on stdin), critique it, say "me
/// too", resolve it, and read it back with show, problems, members, list and
/// history, as text and as `--json`.
#[tokio::test]
async fn two_peers_work_a_problem_from_register_to_history() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    let ben = Peer::new("ben", &server.url());

    let out = ana
        .ok(&["register", "ana", "--display-name", "Ana Lima"])
        .await;
    assert_eq!(out, "Registered and signed in as ana.\n");
    ben.register().await;

    // ana creates a private circle.
    let created = ana
        .json(&[
            "create",
            "lib",
            "--name",
            "Library staff",
            "--purpose",
            "Catalogue troubles",
            "--private",
            "--max",
            "5",
        ])
        .await;
    let circle = &created["circle"];
    assert_eq!(circle["slug"], "lib");
    assert_eq!(circle["name"], "Library staff");
    assert_eq!(circle["purpose"], "Catalogue troubles");
    assert_eq!(circle["visibility"], "private");
    assert_eq!(circle["max_members"], 5);
    assert_eq!(circle["member_count"], 1);
    assert_eq!(circle["role"], "facilitator");
    assert_eq!(circle["created_by"], "ana");
    assert_eq!(circle["head"], 1);

    // ben needs an invite.
    ben.run(&["join", "lib"]).await.fails_with(
        1,
        "circle lib is private: ask a facilitator for an invite code",
    );
    let out = ana.run(&["invite", "lib"]).await;
    let code = out.success().trim_end().to_owned();
    assert!(
        !code.is_empty() && !code.contains(char::is_whitespace),
        "`circles invite` prints the code alone on stdout: {out:#?}"
    );
    assert!(
        out.stderr
            .contains(&format!("`circles join lib --invite {code}`")),
        "`circles invite` says how to use the code on stderr: {out:#?}"
    );
    let invite = ana.json(&["invite", "lib"]).await;
    assert!(invite["invite"].is_string(), "invite --json: {invite}");
    assert!(invite["expires_at"].is_u64(), "invite --json: {invite}");

    let joined = ben.json(&["join", "lib", "--invite", &code]).await;
    assert_eq!(joined["circle"]["slug"], "lib");
    assert_eq!(joined["circle"]["role"], "member");
    assert_eq!(joined["circle"]["member_count"], 2);
    assert_eq!(joined["circle"]["head"], 2);

    // ben brings a problem; its body comes from stdin.
    let body =
        "We moved the catalogue to the new system.\nSince then patrons cannot find the e-books.\n";
    let out = ben
        .cmd(&[
            "problem",
            "lib",
            "--title",
            "Patrons cannot find the e-books",
            "--tag",
            "catalogue",
            "--tag",
            "ebooks",
        ])
        .stdin(body)
        .run()
        .await;
    let (kind, seq, problem) = posted(&out);
    assert_eq!((kind.as_str(), seq), ("problem", 3));

    // ana critiques it twice, naming the problem by the short id printed above.
    let out = ana
        .cmd(&["critique", "lib", &problem])
        .stdin("A banner on the home page helped us.\n")
        .run()
        .await;
    let (kind, seq, critique) = posted(&out);
    assert_eq!((kind.as_str(), seq), ("critique", 4));
    let second = ana
        .json(&[
            "critique",
            "lib",
            &problem,
            "--body",
            "Tell the front desk too.",
        ])
        .await;
    let event = &second["event"];
    assert_eq!(event["kind"], "critique");
    assert_eq!(event["seq"], 5);
    assert_eq!(event["author"], "ana");
    assert_eq!(event["body"], "Tell the front desk too.");
    assert!(
        str_of(&event["problem"], "critique.problem").ends_with(&problem),
        "the critique names the problem {problem}: {event}"
    );
    let second_critique = str_of(&event["id"], "critique id").to_owned();

    // Me too: not for the problem's own author.
    ben.run(&["metoo", "lib", &problem])
        .await
        .fails_with(1, "you raised this problem yourself");
    let (kind, seq, _) = posted(&ana.run(&["metoo", "lib", &problem]).await);
    assert_eq!((kind.as_str(), seq), ("metoo", 6));

    // ben resolves it, naming the first critique as helpful.
    let (kind, seq, _) = posted(
        &ben.run(&["resolve", "lib", &problem, "--helpful", &critique])
            .await,
    );
    assert_eq!((kind.as_str(), seq), ("resolve", 7));

    // show --json: the whole thread.
    let thread = ben.json(&["show", "lib", &problem]).await;
    let p = &thread["problem"];
    let problem_id = str_of(&p["id"], "problem id").to_owned();
    assert!(problem_id.ends_with(&problem), "{p}");
    assert_eq!(p["seq"], 3);
    assert_eq!(p["author"], "ben");
    assert_eq!(p["title"], "Patrons cannot find the e-books");
    assert_eq!(
        p["body"],
        body.trim_end(),
        "the body as piped, less the final newline"
    );
    assert_eq!(p["tags"], json!(["catalogue", "ebooks"]));
    assert_eq!(p["status"], "resolved");
    assert_eq!(p["metoos"], json!(["ana"]));
    let critiques = p["critiques"].as_array().expect("critiques array");
    assert_eq!(critiques.len(), 2, "{p}");
    let first_critique = str_of(&critiques[0]["id"], "critique id").to_owned();
    assert!(first_critique.ends_with(&critique), "{p}");
    assert_eq!(critiques[0]["author"], "ana");
    assert_eq!(critiques[0]["body"], "A banner on the home page helped us.");
    assert_eq!(critiques[0]["helpful"], true);
    assert_eq!(critiques[1]["id"], second_critique.as_str());
    assert_eq!(critiques[1]["helpful"], false);
    assert_eq!(p["resolution"]["by"], "ben");
    assert_eq!(p["resolution"]["seq"], 7);
    assert_eq!(p["resolution"]["helpful"], json!([first_critique]));

    // show as text.
    let text = ana.ok(&["show", "lib", &problem]).await;
    for needle in [
        "[resolved] Patrons cannot find the e-books",
        "We moved the catalogue to the new system.",
        "Since then patrons cannot find the e-books.",
        "tags: catalogue, ebooks",
        "Also stuck on this: ana",
        "│ A banner on the home page helped us.",
        "★ helped",
        "Resolved by ben on ",
    ] {
        assert!(text.contains(needle), "show lacks {needle:?}:\n{text}");
    }

    // history --json: the whole log, in order.
    let page = ana.json(&["history", "lib"]).await;
    let events = page["events"].as_array().expect("events array");
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<u64>>(), "{page}");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "join", "join", "problem", "critique", "critique", "metoo", "resolve"
        ]
    );
    let authors: Vec<&str> = events.iter().filter_map(|e| e["author"].as_str()).collect();
    assert_eq!(authors, ["ana", "ben", "ben", "ana", "ana", "ana", "ben"]);
    assert_eq!(events[0]["role"], "facilitator");
    assert_eq!(events[1]["role"], "member");
    assert_eq!(events[2]["id"], problem_id.as_str());
    assert_eq!(events[2]["body"], body.trim_end());
    assert_eq!(events[3]["problem"], problem_id.as_str());
    assert_eq!(events[6]["helpful"], json!([first_critique]));
    assert_eq!(page["more"], false);

    // history as text, the last two.
    let text = ben.ok(&["history", "lib", "--limit", "2"]).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "history --limit 2:\n{text}");
    assert!(lines[0].starts_with("#6 "), "{text}");
    assert!(
        lines[0].contains(&format!("has problem {problem} too")),
        "{text}"
    );
    assert!(lines[1].starts_with("#7 "), "{text}");
    assert!(
        lines[1].contains(&format!("resolved {problem} (helped: {critique})")),
        "{text}"
    );

    // problems --json, all / open / resolved.
    let all = ana.json(&["problems", "lib"]).await;
    let problems = all["problems"].as_array().expect("problems array");
    assert_eq!(problems.len(), 1, "{all}");
    assert_eq!(problems[0]["id"], problem_id.as_str());
    assert_eq!(problems[0]["title"], "Patrons cannot find the e-books");
    assert_eq!(problems[0]["status"], "resolved");
    assert_eq!(problems[0]["critiques"], 2);
    assert_eq!(problems[0]["metoos"], 1);
    let open = ana.json(&["problems", "lib", "--open"]).await;
    assert_eq!(open["problems"], json!([]), "{open}");
    let resolved = ana.json(&["problems", "lib", "--resolved"]).await;
    assert_eq!(resolved["problems"].as_array().map(Vec::len), Some(1));
    let text = ana.ok(&["problems", "lib"]).await;
    assert!(
        text.contains(&problem) && text.contains("resolved") && text.contains("(ben)"),
        "{text}"
    );

    // members --json.
    let members = ben.json(&["members", "lib"]).await;
    let members = members["members"].as_array().expect("members array");
    let member = |handle: &str| -> &Value {
        members
            .iter()
            .find(|m| m["handle"] == handle)
            .unwrap_or_else(|| panic!("{handle} is not among {members:?}"))
    };
    assert_eq!(members.len(), 2);
    assert_eq!(member("ana")["role"], "facilitator");
    assert_eq!(member("ana")["display_name"], "Ana Lima");
    assert_eq!(member("ben")["role"], "member");
    assert_eq!(member("ben")["display_name"], "ben");

    // list --json, each as they see it.
    for (peer, role) in [(&ana, "facilitator"), (&ben, "member")] {
        let list = peer.json(&["list"]).await;
        let circles = list["circles"].as_array().expect("circles array");
        assert_eq!(circles.len(), 1, "{list}");
        assert_eq!(circles[0]["slug"], "lib");
        assert_eq!(circles[0]["role"], role);
        assert_eq!(circles[0]["member_count"], 2);
        assert_eq!(circles[0]["head"], 7);
    }
    let text = ben.ok(&["list"]).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("lib ") && l.contains("member") && l.contains("(private)")),
        "{text}"
    );
}

/// A learning circle from the terminal: critiques with `--stance`, `accept`,
/// `resolve --summary`, `reflect --usefulness`, and what `show`, `history`,
/// `problems` and `tail` print of them.
#[tokio::test]
async fn critiques_take_a_stance_and_problems_gather_acceptances_and_reflections() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    let ben = Peer::new("ben", &server.url());
    ana.register().await;
    ben.register().await;
    ana.ok(&["create", "lib", "--name", "Library"]).await; // seq 1
    ben.ok(&["join", "lib"]).await; // seq 2
    let (_, _, problem) = posted(
        &ana.run(&[
            "problem",
            "lib",
            "--title",
            "Teens skip the catalogue",
            "--body",
            "",
        ])
        .await,
    ); // seq 3
    let mut tail = ben.spawn(&["tail", "lib", "--since", "3"]).await;

    // --stance: any of the four; none is a suggestion; anything else is bad usage.
    let (kind, seq, question) = posted(
        &ben.run(&[
            "critique",
            "lib",
            &problem,
            "--stance",
            "question",
            "--body",
            "Which ages?",
        ])
        .await,
    );
    assert_eq!((kind.as_str(), seq), ("critique", 4));
    let (_, _, hunt) = posted(
        &ben.run(&[
            "critique",
            "lib",
            &problem,
            "--stance",
            "experience",
            "--body",
            "A scavenger hunt worked for us.",
        ])
        .await,
    ); // seq 5
    let plain = ben
        .json(&["critique", "lib", &problem, "--body", "Try QR codes."])
        .await; // seq 6
    assert_eq!(plain["event"]["stance"], "suggestion", "{plain}");
    let bad = ben
        .run(&[
            "critique", "lib", &problem, "--stance", "rant", "--body", "x",
        ])
        .await;
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(
        bad.stderr.contains("suggestion") && bad.stderr.contains("concern"),
        "{bad:#?}"
    );
    let line = tail.next_line("the question").await;
    assert!(
        line.starts_with("#4 ")
            && line.contains(&format!(
                "critique {question} on {problem} (question): Which ages?"
            )),
        "{line}"
    );

    // accept: the problem's author only; prints the critique accepted.
    ben.run(&["accept", "lib", &problem, &hunt])
        .await
        .fails_with(
            1,
            "only the member who raised a problem can accept its critiques",
        );
    let (kind, seq, accepted) = posted(&ana.run(&["accept", "lib", &problem, &hunt]).await);
    assert_eq!(
        (kind.as_str(), seq, accepted.as_str()),
        ("accept", 7, hunt.as_str())
    );
    ana.run(&["accept", "lib", &problem, &hunt])
        .await
        .fails_with(1, "that critique is already accepted");

    // reflect before the resolution is refused and says why.
    ben.run(&[
        "reflect",
        "lib",
        &problem,
        "--usefulness",
        "4",
        "--text",
        "Hunts work.",
    ])
    .await
    .fails_with(
        1,
        "that problem is still open: reflections come after it is resolved, so resolve it first",
    );

    // resolve --summary, then reflect.
    let resolved = ana
        .json(&[
            "resolve",
            "lib",
            &problem,
            "--helpful",
            &hunt,
            "--summary",
            "A hunt each term; searches doubled.",
        ])
        .await; // seq 8
    assert_eq!(
        resolved["event"]["summary"], "A hunt each term; searches doubled.",
        "{resolved}"
    );
    let out = ben
        .run(&[
            "reflect",
            "lib",
            &problem,
            "--usefulness",
            "9",
            "--text",
            "x",
        ])
        .await;
    assert_eq!(out.code, 2, "usefulness 9 is bad usage: {out:#?}");
    let (kind, seq, on) = posted(
        &ben.cmd(&["reflect", "lib", &problem, "--usefulness", "4"])
            .stdin("Prizes matter more than the hunt.\n")
            .run()
            .await,
    );
    assert_eq!(
        (kind.as_str(), seq, on.as_str()),
        ("reflect", 9, problem.as_str())
    );

    // tail prints every new kind.
    let mut lines = Vec::new();
    while lines.len() < 5 {
        lines.push(tail.next_line("the events up to the reflection").await);
    }
    assert!(
        lines[0].contains("(experience): A scavenger hunt"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("(suggestion): Try QR codes."),
        "{lines:?}"
    );
    assert!(
        lines[2].contains(&format!("accepted critique {hunt} on {problem}")),
        "{lines:?}"
    );
    assert!(
        lines[3].contains(&format!(
            "resolved {problem} (helped: {hunt}): A hunt each term; searches doubled."
        )),
        "{lines:?}"
    );
    assert!(
        lines[4].contains(&format!(
            "reflected on {problem} (usefulness 4/5): Prizes matter more than the hunt."
        )),
        "{lines:?}"
    );
    tail.stop().await;
    let history = ana.ok(&["history", "lib", "--limit", "2"]).await;
    assert!(history.contains("reflected on"), "{history}");

    // show: stances, the accepted mark, the summary and the reflections.
    let text = ana.ok(&["show", "lib", &problem]).await;
    for needle in [
        "· question",
        "· experience  ✓ accepted  ★ helped",
        "· suggestion",
        "A hunt each term; searches doubled.",
        "Reflections:",
        "ben · ",
        "usefulness 4/5",
        "Prizes matter more than the hunt.",
    ] {
        assert!(text.contains(needle), "show lacks {needle:?}:\n{text}");
    }
    let thread = ana.json(&["show", "lib", &problem]).await;
    let p = &thread["problem"];
    assert_eq!(p["critiques"][0]["stance"], "question");
    assert_eq!(p["critiques"][1]["accepted"], true);
    assert_eq!(p["accepted"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        p["resolution"]["summary"],
        "A hunt each term; searches doubled."
    );
    assert_eq!(p["reflections"][0]["usefulness"], 4);
    assert_eq!(p["reflections"][0]["author"], "ben");

    // problems: the count of accepted critiques.
    let text = ana.ok(&["problems", "lib"]).await;
    assert!(text.contains("1 accepted"), "{text}");
    let list = ana.json(&["problems", "lib"]).await;
    assert_eq!(list["problems"][0]["accepted"], 1);
    assert_eq!(list["problems"][0]["reflections"], 1);
}

/// Every read command prints JSON with `--json`, and it is the server's own
/// answer: compared with what the protocol client gets.
/// `meeting` (facilitators; times as people type them) and `digest`.
#[tokio::test]
async fn facilitators_schedule_meetings_and_digests_say_what_changed() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    let ben = Peer::new("ben", &server.url());
    ana.register().await;
    ben.register().await;
    ana.ok(&["create", "lib", "--name", "Library"]).await; // seq 1
    ben.ok(&["join", "lib"]).await; // seq 2
    let (_, _, problem) = posted(
        &ben.run(&[
            "problem",
            "lib",
            "--title",
            "Teens skip the catalogue",
            "--body",
            "",
        ])
        .await,
    ); // seq 3

    ben.run(&["meeting", "lib", "--at", "+2d"])
        .await
        .fails_with(1, "only a facilitator of lib can schedule meetings");
    let bad = ana.run(&["meeting", "lib", "--at", "next tuesday"]).await;
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("2026-12-08 18:00"), "{bad:#?}");
    ana.run(&["meeting", "lib", "--at", "-3d"])
        .await
        .fails_with(
            2,
            "at must be from a day ago to a year ahead, not 3 days ago",
        );

    // One just held (the digest's start), then one ahead with an agenda.
    let (kind, seq, _) = posted(&ana.run(&["meeting", "lib", "--at", "-1h"]).await);
    assert_eq!((kind.as_str(), seq), ("meeting", 4));
    let (_, _, answer) = posted(
        &ana.run(&[
            "critique",
            "lib",
            &problem,
            "--stance",
            "experience",
            "--body",
            "A hunt.",
        ])
        .await,
    ); // seq 5
    let next = ana
        .json(&[
            "meeting", "lib", "--at", "+7d", "--agenda", &problem, "--title", "Clinic",
        ])
        .await; // seq 6
    assert_eq!(
        next["event"]["agenda"][0]
            .as_str()
            .map(|s| s.ends_with(&problem)),
        Some(true)
    );
    let history = ben.ok(&["history", "lib"]).await;
    assert!(
        history.contains("scheduled a meeting for") && history.contains(": Clinic (agenda: "),
        "{history}"
    );

    let digest = ben.ok(&["digest", "lib"]).await;
    assert!(digest.starts_with("Since the meeting of "), "{digest}");
    assert!(
        digest.contains("Next meeting: ") && digest.contains("\"Clinic\" (1 on the agenda)"),
        "{digest}"
    );
    // The meeting began an hour ago, before the problem was raised.
    assert!(
        digest.contains("New problems (1)") && digest.contains("Teens skip the catalogue (ben)"),
        "{digest}"
    );
    assert!(
        digest.contains("New critiques (1)")
            && digest.contains(&format!(
                "{answer}  ana · experience · on \"Teens skip the catalogue\""
            )),
        "{digest}"
    );
    assert!(digest.contains("Resolved: none"), "{digest}");
    assert!(digest.contains("Still unanswered: none"), "{digest}");

    // --since: a window with nothing in it; --json is the server's answer.
    let quiet = ben.ok(&["digest", "lib", "--since", "+1h"]).await;
    assert!(
        quiet.contains("New problems: none") && quiet.contains("New critiques: none"),
        "{quiet}"
    );
    let json = ben.json(&["digest", "lib", "--since", "-1d"]).await;
    assert_eq!(json["total_new_problems"], 1, "{json}");
    assert_eq!(json["next_meeting"]["title"], "Clinic", "{json}");
}

/// What `circles` prints when refused for norms not accepted: the norms,
/// then one line saying how to accept them, and exit 1.
fn refused_for_norms(out: &Output, lines: &[&str], hint: &str) {
    assert_eq!(out.code, 1, "`{}` should be refused: {out:#?}", out.command);
    assert_eq!(out.stdout, "", "`{}`: {out:#?}", out.command);
    for line in lines {
        assert!(
            out.stderr.contains(&format!("\n  {line}\n")),
            "`{}` should show the norms ({line:?}): {out:#?}",
            out.command
        );
    }
    assert_eq!(
        out.stderr.lines().last(),
        Some(format!("circles: {hint}").as_str()),
        "`{}`: the last line says how to accept them",
        out.command
    );
}

/// Norms from the terminal: a facilitator sets them from stdin; a member's
/// post is refused with the norms shown and how to accept them; `--accept`
/// shows and accepts them and the post goes through; `--json` is the Norms;
/// a member cannot set them; a newcomer to a private circle accepts with
/// the invite before joining.
#[tokio::test]
async fn norms_are_set_from_stdin_refuse_posts_until_accepted() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    let ben = Peer::new("ben", &server.url());
    let cy = Peer::new("cy", &server.url());
    for peer in [&ana, &ben, &cy] {
        peer.register().await;
    }
    ana.ok(&["create", "lib", "--name", "Library"]).await; // seq 1
    ben.ok(&["join", "lib"]).await; // seq 2
    assert_eq!(ben.ok(&["norms", "lib"]).await, "lib has no norms yet.\n");
    assert_eq!(ben.json(&["norms", "lib"]).await, Value::Null);

    let lines = [
        "Critique the plan, not the person.",
        "Say what worked for you.",
    ];
    let text = lines.join("\n");
    let set = ana
        .cmd(&["norms", "lib", "--set"])
        .stdin(&format!("{text}\n"))
        .run()
        .await;
    let (kind, seq, _) = posted(&set);
    assert_eq!((kind.as_str(), seq), ("norms", 3));
    ana.cmd(&["norms", "lib", "--set"])
        .stdin("  \n")
        .run()
        .await
        .fails_with(2, "the norms text is empty; nothing was posted");

    // ben's note is refused: the norms, then how to accept them.
    let hint = "accept the norms of lib (version 1) first: `circles norms lib --accept`";
    refused_for_norms(&ben.run(&["note", "lib", "hello"]).await, &lines, hint);
    let out = ben.run(&["problem", "lib", "--title", "T"]).await;
    refused_for_norms(&out, &lines, hint);
    let shown = ben.ok(&["norms", "lib"]).await;
    assert!(
        shown.starts_with("The norms of lib (version 1, set by ana on ")
            && shown.contains("\n  Say what worked for you.\n")
            && shown.ends_with(
                "\nYou have not accepted this version yet: `circles norms lib --accept`.\n"
            ),
        "{shown}"
    );
    let json = ben.json(&["norms", "lib"]).await;
    assert_eq!(
        (&json["version"], &json["text"], &json["set_by"]),
        (&json!(1), &json!(text), &json!("ana")),
        "{json}"
    );

    // --accept shows them, then accepts them: the note goes through.
    let accepted = ben.ok(&["norms", "lib", "--accept"]).await;
    assert!(
        accepted.contains("\n  Critique the plan, not the person.\n"),
        "{accepted}"
    );
    let last = accepted.lines().last().unwrap_or_default();
    assert!(last.starts_with("norms_accept #4 "), "{accepted}");
    assert!(
        ben.ok(&["norms", "lib"])
            .await
            .ends_with("\nYou accepted this version.\n")
    );
    let (kind, seq, _) = posted(&ben.run(&["note", "lib", "hello"]).await);
    assert_eq!((kind.as_str(), seq), ("note", 5));

    // Members cannot set them; a facilitator's new version asks again.
    ben.run(&["norms", "lib", "--set", "--text", "Anything goes"])
        .await
        .fails_with(1, "only a facilitator of lib can set the norms");
    let v2 = ana
        .json(&["norms", "lib", "--set", "--text", "Be kind."])
        .await;
    assert_eq!(v2["event"]["version"], 2, "{v2}");
    refused_for_norms(
        &ben.run(&["note", "lib", "again"]).await,
        &["Be kind."],
        "accept the norms of lib (version 2) first: `circles norms lib --accept`",
    );

    // A private circle: cy accepts with the invite, then joins with it.
    ana.ok(&["create", "inner", "--name", "Inner", "--private"])
        .await;
    ana.ok(&[
        "norms",
        "inner",
        "--set",
        "--text",
        "What is said here stays here.",
    ])
    .await;
    let invite = ana.ok(&["invite", "inner"]).await.trim().to_owned();
    refused_for_norms(
        &cy.run(&["join", "inner", "--invite", &invite]).await,
        &["What is said here stays here."],
        &format!(
            "accept the norms of inner (version 1) first: `circles norms inner --accept --invite {invite}`"
        ),
    );
    let accepted = cy
        .ok(&["norms", "inner", "--accept", "--invite", &invite])
        .await;
    assert!(
        accepted.contains("\n  What is said here stays here.\n"),
        "{accepted}"
    );
    cy.ok(&["join", "inner", "--invite", &invite]).await;
}

#[tokio::test]
async fn json_of_every_read_command_is_the_servers_answer() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    ana.register().await;
    ana.ok(&["create", "desk", "--name", "Help desk"]).await;
    let mut ben = server.register("ben").await;
    ben.join("desk").await;
    let p = ben
        .problem("desk", "The printer jams", "Every morning.")
        .await;
    ben.critique("desk", p.id, "Check the rollers.").await;
    ben.note("desk", "hello").await;

    let mut ana_rpc = Client::login(server.addr, "ana", PASSWORD).await;

    let list = ana.json(&["list"]).await;
    let want = ana_rpc.ok::<m::CircleList>(m::Empty {}).await;
    assert_eq!(list, serde_json::to_value(&want).expect("serialize"));

    let members = ana.json(&["members", "desk"]).await;
    let want = ana_rpc.members("desk").await;
    let got: m::Members = serde_json::from_value(members).expect("members --json parses");
    let handles = |ms: &[circles_protocol::model::Member]| {
        let mut v: Vec<(String, circles_protocol::model::Role)> =
            ms.iter().map(|m| (m.handle.clone(), m.role)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(handles(&got.members), handles(&want));

    let problems = ana.json(&["problems", "desk"]).await;
    let want = ana_rpc
        .ok::<m::ProblemList>(m::ListProblems {
            circle: "desk".into(),
            status: None,
        })
        .await;
    assert_eq!(problems, serde_json::to_value(&want).expect("serialize"));

    let show = ana.json(&["show", "desk", &p.id.to_string()]).await;
    let want = ana_rpc
        .ok::<m::ProblemGet>(m::ProblemRef {
            circle: "desk".into(),
            problem: p.id,
        })
        .await;
    assert_eq!(show, serde_json::to_value(&want).expect("serialize"));

    let history = ana.json(&["history", "desk", "--limit", "3"]).await;
    let want = ana_rpc.history("desk", None, Some(3)).await;
    assert_eq!(history, serde_json::to_value(&want).expect("serialize"));
    assert_eq!(history["more"], true);
    assert_eq!(history["events"][0]["seq"], 3);

    let invite = ana.json(&["invite", "desk"]).await;
    let parsed: m::Invite = serde_json::from_value(invite).expect("invite --json parses");
    let mut cy = server.register("cy").await;
    let joined = cy.join_with_invite("desk", &parsed.invite).await;
    assert_eq!(joined.slug, "desk");
}

// ---------------------------------------------------------------------------
// post ids

/// Wherever a post id goes (show, critique, metoo, resolve and its
/// --helpful, edit, retract), a unique prefix does too: as printed (with its
/// dash), in capitals, without dashes; an ambiguous one is a usage error
/// naming the candidates, an unknown one is refused.
#[tokio::test]
async fn a_unique_prefix_of_a_post_id_works_wherever_an_id_does() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    let ben = Peer::new("ben", &server.url());
    ana.register().await;
    ben.register().await;
    ana.ok(&["create", "desk", "--name", "Help desk"]).await;
    ben.ok(&["join", "desk"]).await;

    let post = |v: Value| str_of(&v["event"]["id"], "event id").to_owned();
    let p1 = post(
        ana.json(&["problem", "desk", "--title", "One", "--body", "first"])
            .await,
    );
    let p2 = post(
        ana.json(&["problem", "desk", "--title", "Two", "--body", "second"])
            .await,
    );
    let problems = [p1.as_str(), p2.as_str()];

    // show: full id, as printed, capitals, no dashes.
    let short = &p1[..13];
    for given in [
        p1.clone(),
        short.to_owned(),
        short.to_uppercase(),
        unique_prefix(&p1, &problems),
        // The start of the id as the client shows it (its last 8 digits),
        // when that names one post.
        shown_prefix(&p1, &p2),
    ] {
        let thread = ben.json(&["show", "desk", &given]).await;
        assert_eq!(thread["problem"]["id"], p1.as_str(), "show {given}");
    }

    // An ambiguous prefix names both problems.
    let common: String = hex(&p1)
        .chars()
        .zip(hex(&p2).chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    if common.len() >= 4 {
        ben.run(&["show", "desk", &common]).await.fails_with(
            2,
            &format!("{common} names 2 problems ({p1}, {p2}); give more characters"),
        );
    }
    // Too short, not hex, or matching nothing.
    ben.run(&["show", "desk", "ab"]).await.fails_with(
        2,
        "\"ab\" is not a problem id: give the id, its short form, or at least 4 of its characters",
    );
    ben.run(&["metoo", "desk", "xyz-123"]).await.fails_with(
        2,
        "\"xyz-123\" is not a problem id: give the id, its short form, or at least 4 of its characters",
    );
    ben.run(&["show", "desk", "ffff"]).await.fails_with(
        1,
        "no problem in desk has an id starting or ending with ffff",
    );

    // critique, by prefix.
    let c1 = ben
        .json(&[
            "critique",
            "desk",
            &unique_prefix(&p1, &problems),
            "--body",
            "Try it off and on.",
        ])
        .await;
    assert_eq!(c1["event"]["problem"], p1.as_str());
    let c1 = post(c1);
    let c2 = ben
        .json(&["critique", "desk", &p2[..13], "--body", "Same as one."])
        .await;
    assert_eq!(c2["event"]["problem"], p2.as_str());
    let c2 = post(c2);
    let note = post(ben.json(&["note", "desk", "brb"]).await);
    let posts = [
        p1.as_str(),
        p2.as_str(),
        c1.as_str(),
        c2.as_str(),
        note.as_str(),
    ];

    // A critique's id does not name a problem.
    let c1_prefix = unique_prefix(&c1, &posts);
    ben.run(&["show", "desk", &c1_prefix]).await.fails_with(
        1,
        &format!("no problem in desk has an id starting or ending with {c1_prefix}"),
    );

    // metoo, by prefix.
    let metoo = ben
        .json(&[
            "metoo",
            "desk",
            &unique_prefix(&p1, &problems).to_uppercase(),
        ])
        .await;
    assert_eq!(metoo["event"]["kind"], "metoo");
    assert_eq!(metoo["event"]["problem"], p1.as_str());

    // resolve, the problem and the helpful critique by prefix.
    let resolved = ana
        .json(&["resolve", "desk", &p1[..13], "--helpful", &c1_prefix])
        .await;
    assert_eq!(resolved["event"]["kind"], "resolve");
    assert_eq!(resolved["event"]["problem"], p1.as_str());
    assert_eq!(resolved["event"]["helpful"], json!([c1]));

    // edit (any post), by prefix.
    let edited = ana
        .json(&[
            "edit",
            "desk",
            &unique_prefix(&p2, &posts),
            "--title",
            "Two, renamed",
        ])
        .await;
    assert_eq!(edited["event"]["kind"], "edit");
    assert_eq!(edited["event"]["post"], p2.as_str());
    assert_eq!(edited["event"]["title"], "Two, renamed");
    let edited = ben
        .json(&[
            "edit",
            "desk",
            &unique_prefix(&c2, &posts),
            "--body",
            "Not the same after all.",
        ])
        .await;
    assert_eq!(edited["event"]["post"], c2.as_str());
    assert_eq!(edited["event"]["body"], "Not the same after all.");

    // retract, by prefix; retracting it again says it already is.
    let note_prefix = unique_prefix(&note, &posts);
    let retracted = ben.json(&["retract", "desk", &note_prefix]).await;
    assert_eq!(retracted["event"]["kind"], "retract");
    assert_eq!(retracted["event"]["post"], note.as_str());
    ben.run(&["retract", "desk", &note_prefix])
        .await
        .fails_with(1, "that post is already retracted");

    // The thread shows it all.
    let thread = ana.json(&["show", "desk", &p2[..13]]).await;
    assert_eq!(thread["problem"]["title"], "Two, renamed");
    assert_eq!(
        thread["problem"]["critiques"][0]["body"],
        "Not the same after all."
    );
}

// ---------------------------------------------------------------------------
// failures

/// The failures a person meets most, each with its own one-line message and
/// exit code: unreachable server (3), wrong password (4), expired token (4),
/// unknown circle (1), not a member (1).
#[tokio::test]
async fn each_failure_has_its_own_message_and_exit_code() {
    let mut server = TestServer::start().await;
    let url = server.url();
    let ana = Peer::new("ana", &url);
    ana.register().await;
    ana.ok(&["create", "open", "--name", "Open circle"]).await;
    let ben = Peer::new("ben", &url);
    ben.register().await;
    let mut messages = Vec::new();

    // Wrong password: nothing is saved.
    let mut intruder = Peer::new("ana", &url);
    intruder.password = Some("not the password".into());
    let out = intruder.run(&["login", "ana"]).await;
    out.fails_with(4, "wrong handle or password");
    messages.push(out.failure(4).to_owned());
    assert!(
        !intruder.config_file().exists(),
        "a failed login saves nothing"
    );
    // An unknown handle gets the same answer (no account probing).
    Peer::new("nobody", &url)
        .run(&["login", "nobody"])
        .await
        .fails_with(4, "wrong handle or password");

    // A taken handle is refused, and the saved sign-in is kept.
    let before = std::fs::read_to_string(ben.config_file()).expect("read ben's config");
    ben.run(&["register", "ana"])
        .await
        .fails_with(1, "the handle \"ana\" is taken; pick another");
    assert_eq!(
        std::fs::read_to_string(ben.config_file()).expect("read ben's config"),
        before
    );

    // Unknown circle, for reads, writes and joins.
    for args in [
        &["history", "nosuch"][..],
        &["join", "nosuch"],
        &["note", "nosuch", "hello"],
        &["members", "nosuch"],
        &["show", "nosuch", "abcd"],
    ] {
        let out = ben.run(args).await;
        out.fails_with(1, &unknown_circle("nosuch"));
    }
    messages.push(unknown_circle("nosuch"));

    // Not a member of a public circle: reading works, writing does not.
    ben.ok(&["history", "open"]).await;
    for args in [
        &["note", "open", "hello"][..],
        &["problem", "open", "--title", "T", "--body", "B"],
        &["invite", "open"],
    ] {
        ben.run(args).await.fails_with(1, &not_a_member("open"));
    }
    messages.push(not_a_member("open"));

    // Expired: ana's saved token is revoked when her password changes elsewhere.
    let mut elsewhere = Client::login(server.addr, "ana", PASSWORD).await;
    elsewhere
        .ok::<m::AuthPassword>(m::ChangePassword {
            old: PASSWORD.into(),
            new: "a brand new password".into(),
        })
        .await;
    for args in [&["list"][..], &["note", "open", "hi"], &["history", "open"]] {
        ana.run(args).await.fails_with(4, EXPIRED);
    }
    messages.push(EXPIRED.to_owned());
    // Signing in again (the handle defaults to the saved one) mends it.
    let mut ana = ana;
    ana.password = Some("a brand new password".into());
    assert_eq!(ana.ok(&["login"]).await, "Signed in as ana.\n");
    ana.ok(&["list"]).await;

    // Unreachable: the server is gone.
    server.stop().await;
    for args in [&["list"][..], &["note", "open", "hi"]] {
        ana.run(args).await.fails_with(3, &unreachable(&url));
    }
    let out = Peer::new("cy", &url).run(&["register", "cy"]).await;
    out.fails_with(3, &unreachable(&url));
    messages.push(unreachable(&url));

    for (i, a) in messages.iter().enumerate() {
        for b in &messages[i + 1..] {
            assert_ne!(a, b, "two failures share a message");
        }
    }
}

/// A token revoked by `circles logout` stays dead even if a copy of the
/// config file brings it back.
#[tokio::test]
async fn a_revoked_token_restored_from_a_backup_is_refused() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    ana.register().await;
    let backup = std::fs::read_to_string(ana.config_file()).expect("read the config");
    assert_eq!(ana.ok(&["logout"]).await, "Signed out.\n");
    std::fs::write(ana.config_file(), &backup).expect("restore the config");
    ana.run(&["list"]).await.fails_with(4, EXPIRED);
    ana.run(&["members", "x"]).await.fails_with(4, EXPIRED);
}

/// Commands that need a sign-in say so (4) before anything else.
#[tokio::test]
async fn commands_without_a_sign_in_exit_4() {
    let server = TestServer::start().await;
    let url = server.url();
    let ana = Peer::new("ana", &url);
    for args in [
        &["list"][..],
        &["history", "x"],
        &["note", "x", "hi"],
        &["tail", "x"],
        &["show", "x", "abcd"],
    ] {
        ana.run(args).await.fails_with(4, &not_signed_in(&url));
    }
    // `circles login` needs a handle when none was saved.
    ana.run(&["login"])
        .await
        .fails_with(2, "which account? `circles login HANDLE`");
    // Logout without a sign-in is harmless.
    assert_eq!(ana.ok(&["logout"]).await, "Signed out.\n");

    // An unreachable server is the news, whatever the sign-in.
    let closed = format!("ws://{}/v1/ws", closed_addr());
    let ben = Peer::new("ben", &closed);
    for args in [&["list"][..], &["note", "x", "hi"], &["logout"]] {
        if args == ["logout"] {
            // Signing out forgets the token even when the server is away.
            assert_eq!(ben.ok(args).await, "Signed out.\n");
            continue;
        }
        ben.run(args).await.fails_with(3, &unreachable(&closed));
    }
}

/// Bad input is a usage error (2), with one line saying what is wrong.
#[tokio::test]
async fn bad_input_exits_2() {
    let server = TestServer::start().await;
    let url = server.url();
    let ana = Peer::new("ana", &url);

    // No password to be had without a terminal.
    let mut no_password = Peer::new("ana", &url);
    no_password.password = None;
    for args in [&["register", "ana"][..], &["login", "ana"]] {
        no_password
            .run(args)
            .await
            .fails_with(2, "no terminal to ask for a password: set CIRCLES_PASSWORD");
    }
    assert!(!no_password.config_file().exists());

    // Invalid params from the server.
    let mut short = Peer::new("ana", &url);
    short.password = Some("short".into());
    short
        .run(&["register", "ana"])
        .await
        .fails_with(2, "password must be at least 8 bytes");
    ana.register().await;
    ana.run(&["create", "Bad_Slug", "--name", "x"])
        .await
        .fails_with(
            2,
            "slug \"Bad_Slug\" must be 2 to 40 characters of a-z, 0-9 and -, not starting or ending with -",
        );

    // An empty critique (nothing on stdin) is not posted.
    ana.ok(&["create", "desk", "--name", "Desk"]).await;
    let p = ana
        .json(&["problem", "desk", "--title", "T", "--body", "B"])
        .await;
    let id = str_of(&p["event"]["id"], "id").to_owned();
    ana.cmd(&["critique", "desk", &id])
        .stdin("  \n\n")
        .run()
        .await
        .fails_with(2, "the critique is empty; nothing was posted");
    let page = ana.json(&["history", "desk"]).await;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(2), "{page}");

    // clap's own usage errors also exit 2.
    for args in [
        &["frobnicate"][..],
        &["create", "desk"],
        &["completions", "tcsh"],
    ] {
        let out = ana.run(args).await;
        assert_eq!(out.code, 2, "{out:#?}");
        assert_eq!(out.stdout, "", "{out:#?}");
        assert!(out.stderr.starts_with("error: "), "{out:#?}");
    }
}

/// A config file that is not TOML is a local problem (5), reported in one line.
#[tokio::test]
async fn a_config_that_is_not_toml_exits_5_in_one_line() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());

    // Not TOML.
    std::fs::create_dir_all(ana.config_file().parent().expect("dir")).expect("mkdir");
    std::fs::write(ana.config_file(), "this is [not toml\n").expect("write");
    let out = ana.run(&["list"]).await;
    let message = out.failure(5);
    let path = ana.config_file().display().to_string();
    assert!(
        message.starts_with(&format!("cannot read {path}: ")),
        "{out:#?}"
    );
}

/// A config directory that cannot be used is a local problem (5).
#[tokio::test]
async fn an_unusable_config_dir_exits_5() {
    let server = TestServer::start().await;
    // Where the config directory should be, there is a file.
    let bea = Peer::new("bea", &server.url());
    std::fs::write(bea.config_home().join("circles"), "a file").expect("write");
    let out = bea.run(&["register", "bea"]).await;
    let message = out.failure(5);
    let path = bea.config_file().display().to_string();
    assert!(
        message.starts_with(&format!("cannot read {path}: "))
            || message.starts_with(&format!("cannot write {path}: ")),
        "{out:#?}"
    );
}

// ---------------------------------------------------------------------------
// config and settings

/// The config file lives in `$XDG_CONFIG_HOME/circles/config.toml` (else
/// `$HOME/.config/circles/`), mode 0600, and holds the server, handle and
/// token; `circles logout` forgets the token, which the server revokes.
#[tokio::test]
async fn config_is_saved_in_the_xdg_config_dir_readable_only_by_the_user() {
    let server = TestServer::start().await;
    let url = server.url();
    let ana = Peer::new("ana", &url);
    ana.register().await;

    let path = ana.config_file();
    assert_eq!(mode_of(&path), 0o600, "{} mode", path.display());
    let text = std::fs::read_to_string(&path).expect("read the config");
    assert_eq!(
        toml_string(&text, "server").as_deref(),
        Some(url.as_str()),
        "{text}"
    );
    assert_eq!(
        toml_string(&text, "handle").as_deref(),
        Some("ana"),
        "{text}"
    );
    let token = toml_string(&text, "token").unwrap_or_else(|| panic!("no token in {text}"));
    assert!(
        !ana.home().join(".config").exists(),
        "XDG_CONFIG_HOME wins over HOME"
    );

    // The saved token is a real one.
    let mut rpc = server.connect().await;
    let who = rpc
        .ok::<m::AuthToken>(m::TokenLogin {
            token: token.clone(),
        })
        .await;
    assert_eq!(who.handle, "ana");

    // Without XDG_CONFIG_HOME: $HOME/.config.
    let ben = Peer::new("ben", &url);
    ben.cmd(&["register", "ben"])
        .env_remove("XDG_CONFIG_HOME")
        .run()
        .await
        .success();
    let home_config = ben.home().join(".config/circles/config.toml");
    assert_eq!(mode_of(&home_config), 0o600);
    let text = std::fs::read_to_string(&home_config).expect("read");
    assert_eq!(toml_string(&text, "handle").as_deref(), Some("ben"));
    assert!(!ben.config_file().exists());

    // An older, wider file is narrowed when written.
    let cy = Peer::new("cy", &url);
    cy.register().await;
    let cy_path = cy.config_file();
    std::fs::set_permissions(&cy_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(cy.ok(&["login", "cy"]).await, "Signed in as cy.\n");
    assert_eq!(mode_of(&cy_path), 0o600);

    // logout: the token is forgotten here and revoked there.
    assert_eq!(ana.ok(&["logout"]).await, "Signed out.\n");
    assert_eq!(mode_of(&path), 0o600);
    let text = std::fs::read_to_string(&path).expect("read the config");
    assert_eq!(toml_string(&text, "token"), None, "{text}");
    assert_eq!(toml_string(&text, "server").as_deref(), Some(url.as_str()));
    assert_eq!(toml_string(&text, "handle").as_deref(), Some("ana"));
    ana.run(&["list"]).await.fails_with(4, &not_signed_in(&url));
    let mut rpc = server.connect().await;
    let err = rpc.err::<m::AuthToken>(m::TokenLogin { token }).await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
}

/// Scripts give the password in CIRCLES_PASSWORD; each login gets a new token.
#[tokio::test]
async fn circles_password_signs_scripts_in() {
    let server = TestServer::start().await;
    let url = server.url();
    let mut ana = Peer::new("ana", &url);
    ana.password = Some("scripted password 1".into());
    ana.register().await;
    let first = toml_string(
        &std::fs::read_to_string(ana.config_file()).expect("read"),
        "token",
    );

    // The account really has that password.
    let rpc = Client::login(server.addr, "ana", "scripted password 1").await;
    assert_eq!(rpc.handle, "ana");

    let out = ana
        .cmd(&["login", "ana"])
        .env("CIRCLES_PASSWORD", "scripted password 1")
        .run()
        .await;
    assert_eq!(out.success(), "Signed in as ana.\n");
    let second = toml_string(
        &std::fs::read_to_string(ana.config_file()).expect("read"),
        "token",
    );
    assert!(second.is_some() && second != first, "a new token is saved");
    ana.ok(&["list"]).await;

    ana.cmd(&["login", "ana"])
        .env("CIRCLES_PASSWORD", "scripted password 2")
        .run()
        .await
        .fails_with(4, "wrong handle or password");
}

/// The server comes from --server, else CIRCLES_SERVER, else the saved one;
/// a saved token only counts for the server it came from.
#[tokio::test]
async fn server_flag_beats_circles_server_beats_the_saved_server() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let (a_url, b_url) = (a.url(), b.url());
    let ana = Peer::new("ana", &a_url);
    ana.register().await;

    // Neither flag nor variable: the saved server.
    let saved = ana
        .cmd(&["--json", "list"])
        .server(ServerArg::Saved)
        .run()
        .await;
    assert_eq!(saved.json()["circles"], json!([]));
    ana.cmd(&["create", "only-a", "--name", "A"])
        .server(ServerArg::Saved)
        .run()
        .await
        .success();
    let mut on_a = Client::login(a.addr, "ana", PASSWORD).await;
    assert!(
        on_a.listed("only-a").await.is_some(),
        "created on the saved server"
    );

    // CIRCLES_SERVER names another server: not signed in there.
    ana.cmd(&["list"])
        .server(ServerArg::Env(b_url.clone()))
        .run()
        .await
        .fails_with(4, &not_signed_in(&b_url));
    ana.cmd(&["register", "ana"])
        .server(ServerArg::Env(b_url.clone()))
        .run()
        .await
        .success();
    let text = std::fs::read_to_string(ana.config_file()).expect("read");
    assert_eq!(
        toml_string(&text, "server").as_deref(),
        Some(b_url.as_str())
    );
    ana.cmd(&["create", "only-b", "--name", "B"])
        .server(ServerArg::Env(b_url.clone()))
        .run()
        .await
        .success();
    let list = ana
        .cmd(&["--json", "list"])
        .server(ServerArg::Saved)
        .run()
        .await
        .json();
    assert_eq!(
        list["circles"][0]["slug"], "only-b",
        "the saved server is now b: {list}"
    );

    // --server beats CIRCLES_SERVER.
    ana.cmd(&["list"])
        .server(ServerArg::Flag(a_url.clone()))
        .env("CIRCLES_SERVER", &b_url)
        .run()
        .await
        .fails_with(4, &not_signed_in(&a_url));
    let list = ana
        .cmd(&["--json", "list"])
        .server(ServerArg::Flag(b_url.clone()))
        .env("CIRCLES_SERVER", &a_url)
        .run()
        .await
        .json();
    assert_eq!(list["circles"][0]["slug"], "only-b");
}

/// `host:port`, `ws://host:port` and `http://host:port/` all mean
/// `ws://host:port/v1/ws`; a URL with a path keeps it.
#[tokio::test]
async fn a_server_url_without_a_path_gets_v1_ws() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let full = format!("ws://{addr}/v1/ws");
    let ana = Peer::new("ana", &format!("ws://{addr}"));
    ana.register().await;
    let text = std::fs::read_to_string(ana.config_file()).expect("read");
    assert_eq!(toml_string(&text, "server").as_deref(), Some(full.as_str()));

    for server_arg in [
        ServerArg::Flag(addr.to_string()),
        ServerArg::Flag(format!("http://{addr}/")),
        ServerArg::Flag(full.clone()),
        ServerArg::Env(format!("ws://{addr}")),
        ServerArg::Saved,
    ] {
        let out = ana
            .cmd(&["--json", "list"])
            .server(server_arg.clone())
            .run()
            .await;
        assert_eq!(out.json()["circles"], json!([]), "with {server_arg:?}");
    }

    // The URL in messages is the full one.
    let closed = closed_addr();
    Peer::new("ben", &closed.to_string())
        .run(&["register", "ben"])
        .await
        .fails_with(3, &unreachable(&format!("ws://{closed}/v1/ws")));

    // A path is kept: a wrong one is not the WebSocket endpoint.
    let out = Peer::new("ben", &format!("ws://{addr}/nope"))
        .run(&["register", "ben"])
        .await;
    let message = out.failure(3);
    assert!(
        message.starts_with(&format!(
            "cannot reach the server at ws://{addr}/nope: HTTP "
        )),
        "{out:#?}"
    );
}

/// `circles completions bash|zsh|fish` prints a completion script naming
/// every subcommand; no server needed.
#[tokio::test]
async fn completions_for_bash_zsh_and_fish() {
    let nowhere = format!("ws://{}/v1/ws", closed_addr());
    let peer = Peer::new("ana", &nowhere);
    let subcommands = [
        "register",
        "login",
        "logout",
        "list",
        "create",
        "join",
        "leave",
        "invite",
        "members",
        "problem",
        "critique",
        "note",
        "resolve",
        "metoo",
        "edit",
        "retract",
        "problems",
        "show",
        "history",
        "tail",
        "tui",
        "completions",
    ];
    for (shell, marker) in [
        ("bash", "complete -F _circles"),
        ("zsh", "#compdef circles"),
        ("fish", "complete -c circles"),
    ] {
        let out = peer.run(&["completions", shell]).await;
        let script = out.success();
        assert_eq!(out.stderr, "", "{shell}: {out:#?}");
        assert!(script.contains(marker), "{shell} script lacks {marker:?}");
        for sub in subcommands {
            assert!(script.contains(sub), "{shell} script lacks {sub}");
        }
        for flag in ["server", "json", "invite", "helpful", "since"] {
            let flag = if shell == "fish" {
                format!("-l {flag}")
            } else {
                format!("--{flag}")
            };
            assert!(script.contains(&flag), "{shell} script lacks {flag}");
        }
    }
    // The bash script is valid bash.
    let out = peer.run(&["completions", "bash"]).await;
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg("-c")
        .arg(out.success())
        .status();
    if let Ok(status) = checked {
        assert!(status.success(), "bash -n rejects the completion script");
    }
}

// ---------------------------------------------------------------------------
// tail

/// Reads `tail` lines until the event with seq `last`; returns each line's seq.
async fn tail_json_until(tail: &mut Tail, last: u64, bodies: &mut Vec<(u64, String)>) {
    loop {
        let event = tail.next_json(&format!("the event with seq {last}")).await;
        let seq = event["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("a tail line without seq: {event}"));
        let body = match event["kind"].as_str() {
            Some("note") => str_of(&event["body"], "note body").to_owned(),
            Some(kind) => kind.to_owned(),
            None => panic!("a tail line without kind: {event}"),
        };
        bodies.push((seq, body));
        if seq >= last {
            return;
        }
    }
}

async fn tail_text_until(tail: &mut Tail, last: u64, seqs: &mut Vec<u64>) {
    loop {
        let line = tail.next_line(&format!("the event with seq {last}")).await;
        let seq = line
            .strip_prefix('#')
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("a tail line without #SEQ: {line:?}"));
        seqs.push(seq);
        if seq >= last {
            return;
        }
    }
}

/// `circles tail` follows a circle while the server restarts twice (SIGTERM,
/// then kill -9) on the same port and data: it reconnects by itself and every
/// event appears exactly once, in order, both as text and as `--json`,
/// including the events posted while it was reconnecting.
#[tokio::test]
async fn tail_prints_every_event_exactly_once_across_server_restarts() {
    let dir = tempfile::Builder::new()
        .prefix("circles-cli-tail-")
        .tempdir()
        .expect("temp data dir");
    let server = ServerProcess::spawn(dir.path()).await;
    let addr = server.addr;
    let url = format!("ws://{addr}/v1/ws");

    let ana = Peer::new("ana", &url);
    ana.register().await;
    ana.ok(&["create", "live", "--name", "Live"]).await; // seq 1
    let mut bea = Client::register(addr, "bea").await;
    bea.join("live").await; // seq 2
    bea.note("live", "before 1").await; // seq 3

    let mut json_tail = ana.spawn(&["--json", "tail", "live", "--since", "0"]).await;
    let mut text_tail = ana.spawn(&["tail", "live", "--since", "0"]).await;
    let mut seen = Vec::new();
    let mut text_seqs = Vec::new();
    tail_json_until(&mut json_tail, 3, &mut seen).await;
    tail_text_until(&mut text_tail, 3, &mut text_seqs).await;
    // Live, while both follow.
    bea.note("live", "before 2").await; // seq 4
    tail_json_until(&mut json_tail, 4, &mut seen).await;
    tail_text_until(&mut text_tail, 4, &mut text_seqs).await;

    // Restart 1: SIGTERM, then the same port and data dir.
    let status = server.terminate().await;
    assert!(status.success(), "the server exits 0 on SIGTERM: {status}");
    let server = spawn_server_at(addr, dir.path()).await;
    // Posted at once, most likely before the tails are back: they resume by seq.
    let mut bea = Client::login(addr, "bea", PASSWORD).await;
    for i in 1..=3 {
        bea.note("live", &format!("after sigterm {i}")).await; // seq 5..=7
    }
    tail_json_until(&mut json_tail, 7, &mut seen).await;
    tail_text_until(&mut text_tail, 7, &mut text_seqs).await;
    bea.note("live", "live again").await; // seq 8
    tail_json_until(&mut json_tail, 8, &mut seen).await;
    tail_text_until(&mut text_tail, 8, &mut text_seqs).await;

    // Restart 2: kill -9.
    server.kill().await;
    let server = spawn_server_at(addr, dir.path()).await;
    let mut bea = Client::login(addr, "bea", PASSWORD).await;
    for i in 1..=2 {
        bea.note("live", &format!("after kill {i}")).await; // seq 9..=10
    }
    tail_json_until(&mut json_tail, 10, &mut seen).await;
    tail_text_until(&mut text_tail, 10, &mut text_seqs).await;
    // A last one: any repeat of an earlier event would come before it.
    bea.note("live", "the end").await; // seq 11
    tail_json_until(&mut json_tail, 11, &mut seen).await;
    tail_text_until(&mut text_tail, 11, &mut text_seqs).await;

    let want: Vec<(u64, String)> = [
        "join",
        "join",
        "before 1",
        "before 2",
        "after sigterm 1",
        "after sigterm 2",
        "after sigterm 3",
        "live again",
        "after kill 1",
        "after kill 2",
        "the end",
    ]
    .iter()
    .enumerate()
    .map(|(i, body)| (i as u64 + 1, (*body).to_owned()))
    .collect();
    assert_eq!(seen, want, "--json tail: every event once, in order");
    assert_eq!(
        text_seqs,
        (1..=11).collect::<Vec<u64>>(),
        "text tail: every event once, in order"
    );
    assert!(json_tail.ready_lines().is_empty());
    assert!(text_tail.ready_lines().is_empty());

    // Both still follow, and said on stderr that they reconnected.
    for tail in [&mut json_tail, &mut text_tail] {
        assert!(tail.exited().is_none(), "`{}` stopped", tail.command);
        let stderr = tail.stderr();
        assert!(
            stderr.contains("reconnecting") || stderr.contains("retrying"),
            "`{}` says it reconnects: {stderr:?}",
            tail.command
        );
        for line in stderr.lines() {
            assert!(line.starts_with("circles: "), "stderr line {line:?}");
        }
    }
    json_tail.stop().await;
    text_tail.stop().await;
    drop(server);
}

/// `circles tail` of a circle that does not exist fails at once (1) rather
/// than retrying forever.
#[tokio::test]
async fn tail_of_an_unknown_circle_fails() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    ana.register().await;
    ana.run(&["tail", "nosuch"])
        .await
        .fails_with(1, &unknown_circle("nosuch"));
}

/// Reading with `history` or `tail` moves the read marker, so `list` stops
/// counting what was read; short ids (the id's end) name posts.
#[tokio::test]
async fn reading_clears_unread_and_short_ids_name_posts() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    let ben = Peer::new("ben", &server.url());
    ana.register().await;
    ben.register().await;
    ana.ok(&["create", "desk", "--name", "Desk"]).await;
    ben.ok(&["join", "desk"]).await;
    let problem = ana
        .cmd(&["problem", "desk", "--title", "Stuck"])
        .stdin("the details")
        .run()
        .await;
    let (_, _, short) = posted(&problem);
    ana.ok(&["note", "desk", "one"]).await;

    let unread = |list: &Value| list["circles"][0]["unread"].as_u64();
    assert_eq!(unread(&ben.json(&["list"]).await), Some(2));
    ben.ok(&["history", "desk"]).await;
    assert_eq!(unread(&ben.json(&["list"]).await), Some(0));

    // tail marks what it prints as read (from seq 4 on, so it does not
    // matter whether it subscribed before or after the note).
    let mut tail = ben.spawn(&["tail", "desk", "--json", "--since", "4"]).await;
    ana.ok(&["note", "desk", "two"]).await;
    let line = tail.next_json("the note from tail").await;
    assert_eq!(line["body"], "two");
    // The marker is moved right after printing; `list` sees it soon after.
    let mut cleared = false;
    for _ in 0..50 {
        if unread(&ben.json(&["list"]).await) == Some(0) {
            cleared = true;
            break;
        }
    }
    assert!(cleared, "tail should mark what it printed as read");
    tail.stop().await;

    // The short id printed for the problem names it.
    let thread = ben.json(&["show", "desk", &short]).await;
    assert_eq!(thread["problem"]["title"], "Stuck");
    assert!(
        thread["problem"]["id"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&short),
        "{thread}"
    );
}

/// On a server that takes new accounts by invite only, `circles register`
/// says so, and `--invite` gets in.
#[tokio::test]
async fn register_with_a_registration_invite() {
    let server =
        TestServer::start_with(|c| c.registration = circles_server::config::Registration::Invite)
            .await;
    let url = server.url();
    let ana = Peer::new("ana", &url);
    ana.run(&["register", "ana"]).await.fails_with(
        1,
        "registration on this server needs an invite code from one of its admins",
    );
    let mut operator = server.operator().await;
    let invite = operator
        .call::<m::AdminInvite>(m::NewRegistrationInvite::default())
        .await
        .expect("an invite");
    let out = ana
        .ok(&["register", "ana", "--invite", &invite.invite])
        .await;
    assert_eq!(out, "Registered and signed in as ana.\n");
    ana.ok(&["list"]).await;
}

/// The shortest start of `id`'s shown form (its last 8 hex digits) that
/// `other`'s shown form does not share.
fn shown_prefix(id: &str, other: &str) -> String {
    let (a, b) = (hex(id), hex(other));
    let (a, b) = (&a[a.len() - 8..], &b[b.len() - 8..]);
    let shared = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    a[..(shared + 1).clamp(6, 8)].to_owned()
}

/// `circles tail` ends with a reason when an admin deletes the circle or
/// suspends the account, instead of reconnecting forever.
#[tokio::test]
async fn tail_ends_when_the_circle_is_deleted_or_the_account_suspended() {
    let server = TestServer::start().await;
    let url = server.url();
    let ana = Peer::new("ana", &url);
    ana.register().await;
    ana.ok(&["create", "doomed", "--name", "Doomed"]).await;
    ana.ok(&["create", "kept", "--name", "Kept"]).await;
    let mut poster = Client::login(server.addr, "ana", PASSWORD).await;
    let mut operator = server.operator().await;

    // From the start: the line printed for the note means the tail is subscribed.
    poster.note("doomed", "first").await;
    let mut tail = ana.cmd(&["tail", "doomed", "--since", "0"]).spawn().await;
    while !tail.next_line("the note").await.contains("first") {}
    operator
        .call::<m::AdminCircleDelete>(m::CircleRef {
            circle: "doomed".into(),
        })
        .await
        .expect("delete the circle");
    let (code, stderr) = tail.exit().await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("doomed was deleted by an admin of the server"),
        "{stderr}"
    );

    poster.note("kept", "still here").await;
    let mut tail = ana.cmd(&["tail", "kept", "--since", "0"]).spawn().await;
    while !tail.next_line("the note").await.contains("still here") {}
    operator
        .call::<m::AdminSuspend>(m::Suspend {
            handle: "ana".into(),
            reason: None,
        })
        .await
        .expect("suspend ana");
    let (code, stderr) = tail.exit().await;
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("your account was suspended"), "{stderr}");
}

/// `list` counts mentions apart from unread, `history` marks the lines that
/// mention you, and `mentions` lists the unread ones across circles.
#[tokio::test]
async fn mentions_are_counted_marked_and_listed() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    let ben = Peer::new("ben", &server.url());
    ana.register().await;
    ben.register().await;
    ana.ok(&["create", "desk", "--name", "Desk"]).await;
    ana.ok(&["create", "lab", "--name", "Lab"]).await;
    ben.ok(&["join", "desk"]).await;
    ben.ok(&["join", "lab"]).await;
    ana.ok(&["note", "desk", "@ben, are you there?"]).await;
    ana.ok(&["note", "desk", "mail ben@desk.org"]).await;
    ana.cmd(&["problem", "lab", "--title", "Stuck (@Ben)"])
        .stdin("the details")
        .run()
        .await
        .success();

    let list = ben.ok(&["list"]).await;
    assert!(
        list.lines().next().unwrap_or_default().contains("MENTIONS"),
        "{list}"
    );
    let row = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {list}"))
            .to_owned()
    };
    assert!(row("desk ").contains(" 2       @1 "), "{list}");
    assert!(row("lab ").contains(" 1       @1 "), "{list}");
    let counts = |list: &Value| {
        list["circles"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|c| {
                        (
                            c["slug"].as_str().unwrap_or_default().to_owned(),
                            c["mentions"].as_u64(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        counts(&ben.json(&["list"]).await),
        [("desk".to_owned(), Some(1)), ("lab".to_owned(), Some(1))]
    );
    assert_eq!(
        counts(&ana.json(&["list"]).await),
        [("desk".to_owned(), Some(0)), ("lab".to_owned(), Some(0))]
    );

    let found = ben.ok(&["mentions"]).await;
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(lines.len(), 2, "{found}");
    assert!(
        lines[0].starts_with("desk ") && lines[0].contains("@ben, are you there?"),
        "{found}"
    );
    assert!(
        lines[1].starts_with("lab ") && lines[1].contains("Stuck (@Ben)"),
        "{found}"
    );
    let json = ben.json(&["mentions"]).await;
    assert_eq!(json[0]["circle"], "desk", "{json}");
    assert_eq!(json[1]["event"]["title"], "Stuck (@Ben)", "{json}");

    // history marks what mentions me (not an e-mail address), and reads it.
    let history = ben.ok(&["history", "desk"]).await;
    let line = |text: &str| {
        history
            .lines()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in {history}"))
            .to_owned()
    };
    assert!(line("are you there?").ends_with("← @ben"), "{history}");
    assert!(!line("ben@desk.org").contains('←'), "{history}");
    assert_eq!(
        counts(&ben.json(&["list"]).await),
        [("desk".to_owned(), Some(0)), ("lab".to_owned(), Some(1))]
    );
    let found = ben.ok(&["mentions"]).await;
    assert_eq!(found.lines().count(), 1, "{found}");
    // The author's own history marks nothing.
    assert!(!ana.ok(&["history", "desk"]).await.contains('←'));
    ben.ok(&["history", "lab"]).await;
    assert_eq!(ben.ok(&["mentions"]).await.trim(), "No unread mentions.");
}

/// `circles stats` over a scripted history (written while the server was
/// stopped): the table, the chart and the lists, exactly; `export-case`
/// writes a resolved problem's case study, anonymised or not, and refuses
/// an open one.
#[tokio::test]
async fn stats_print_a_table_and_a_chart_and_export_case_writes_a_file() {
    use circles_tests::script::{Script, three_weeks};
    let mut server = TestServer::start().await;
    let peers: Vec<Peer> = ["ana", "ben", "cy", "dee"]
        .iter()
        .map(|h| Peer::new(h, &server.url()))
        .collect();
    for peer in &peers {
        peer.register().await;
    }
    let ana = &peers[0];
    ana.ok(&["create", "lib", "--name", "Library"]).await;
    for peer in &peers[1..] {
        peer.ok(&["join", "lib"]).await;
    }
    server.stop().await;
    let mut script = Script::open(server.data_dir(), "lib");
    let p = three_weeks(&mut script);
    script.done().await;
    server.start_again_on_same_port().await;

    let short = |id: &uuid::Uuid| id.simple().to_string()[24..].to_owned();
    let out = ana
        .cmd(&[
            "stats",
            "lib",
            "--since",
            "2024-05-06",
            "--until",
            "2024-05-26",
        ])
        .env("TZ", "UTC")
        .run()
        .await;
    let (d, e) = (short(&p.d), short(&p.e));
    let expected = format!(
        "lib, 2024-05-06 00:00 to 2024-05-26 23:59

  problems raised                 5
  problems resolved               3
  median time to first critique   4 h 30 min
  median time to resolution       1 d 5 h
  unanswered now                  1

  per week from     raised                    resolved
  2024-05-06 00:00  ████████████████████   2  ██████████             1
  2024-05-13 00:00  ██████████             1  ██████████             1
  2024-05-20 00:00  ████████████████████   2  ██████████             1

Unanswered (no critique from others after 2 d):
  {d}  2 metoos  d (dee, 2024-05-21 00:00)

Most metoo'd open problems:
  {d}  2 metoos  d (dee, 2024-05-21 00:00)
  {e}  2 metoos  e (ana, 2024-05-22 00:00)
"
    );
    assert_eq!(out.success(), expected);
    let json = ana
        .json(&[
            "stats",
            "lib",
            "--since",
            "1714953600000",
            "--until",
            "1716767999999",
        ])
        .await;
    assert_eq!(json["stats"]["raised"], 5, "{json}");
    assert_eq!(
        json["stats"]["median_resolution_ms"],
        29 * 3_600_000,
        "{json}"
    );
    ana.cmd(&["stats", "lib", "--since", "last tuesday"])
        .run()
        .await
        .fails_with(
            2,
            "cannot read \"last tuesday\" as a time: use `2026-12-08 18:00`, `2026-12-08`, RFC 3339, Unix milliseconds, `+2h`, `-7d` or `now`",
        );
    ana.cmd(&[
        "stats",
        "lib",
        "--since",
        "2024-05-26",
        "--until",
        "2024-05-06",
    ])
    .env("TZ", "UTC")
    .run()
    .await
    .fails_with(
        2,
        "since (1716681600000) is after until (1715039999999); both are Unix milliseconds",
    );

    // export-case: a (resolved) by its short id, to a file and to stdout.
    let file = ana.home().join("case.md");
    let file_arg = file.display().to_string();
    let a = short(&p.a);
    let out = ana
        .run(&["export-case", "lib", &a, "--anonymise", "--out", &file_arg])
        .await;
    assert_eq!(
        out.success(),
        format!("Wrote the case study to {file_arg}.\n")
    );
    let written = std::fs::read_to_string(&file).expect("the case study file");
    assert!(written.starts_with("# Case study: a\n"), "{written}");
    assert!(written.contains("People: Member 1, Member 2."), "{written}");
    assert!(
        written.contains("1. **Member 2**, after 1 h · suggestion:"),
        "{written}"
    );
    assert!(
        !written.contains("ana") && !written.contains("ben"),
        "{written}"
    );
    let shown = ana.ok(&["export-case", "lib", &a]).await;
    assert!(
        shown.contains("1. **ben**, 2024-05-06 02:00 UTC · suggestion:"),
        "{shown}"
    );
    ana.run(&["export-case", "lib", &d]).await.fails_with(
        1,
        "\"d\" is still open: a case study is of a resolved problem, so resolve it first",
    );
}

#[tokio::test]
async fn search_finds_what_others_learnt_and_a_new_problem_shows_similar_ones() {
    let server = TestServer::start().await;
    let ana = Peer::new("ana", &server.url());
    let ben = Peer::new("ben", &server.url());
    ana.register().await;
    ben.register().await;
    ana.ok(&["create", "lib", "--name", "Library"]).await;
    ana.ok(&["create", "staff", "--name", "Staff", "--private"])
        .await;
    let out = ana
        .cmd(&[
            "problem",
            "lib",
            "--title",
            "Patrons cannot find the e-books",
        ])
        .stdin("We moved the catalogue and e-book loans halved.\n")
        .run()
        .await;
    let (_, _, problem) = posted(&out);
    ana.cmd(&["problem", "staff", "--title", "Catalogue budget cut"])
        .stdin("Our catalogue licence has no budget.\n")
        .run()
        .await
        .success();

    // Not a terminal: the matching words are marked with asterisks.
    let found = ben.ok(&["search", "catalogues"]).await;
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(lines.len(), 2, "{found}");
    assert!(
        lines[0].starts_with(&format!(
            "lib  problem {problem} (open): Patrons cannot find"
        )),
        "{found}"
    );
    assert!(lines[1].contains("ana "), "{found}");
    assert!(lines[1].contains("moved the *catalogue* and"), "{found}");
    assert!(!found.contains("budget"), "a private circle leaks: {found}");
    let json = ben.json(&["search", "e-books", "--circle", "lib"]).await;
    assert_eq!(json["hits"][0]["title"], "Patrons cannot find the e-books");
    assert_eq!(ben.ok(&["search", "zeppelin"]).await, "Nothing found.\n");
    let excluded = ben.ok(&["search", "--", "catalogue", "-e-books"]).await;
    assert_eq!(excluded, "Nothing found.\n");
    ben.run(&["search", "catalogue", "--circle", "staff"])
        .await
        .fails_with(1, "circle staff is private; only its members can see it");
    ben.run(&["search", "x", "--limit", "0"])
        .await
        .fails_with(2, "limit must be 1 to 50, not 0");

    // ben's own problem in his circle: lib's is listed as similar.
    ben.ok(&["create", "school", "--name", "School"]).await;
    let out = ben
        .cmd(&["problem", "school", "--title", "Pupils cannot find e-books"])
        .stdin("Since the catalogue moved, e-book loans dropped.\n")
        .run()
        .await;
    let printed = out.success();
    let lines: Vec<&str> = printed.lines().collect();
    assert!(lines[0].starts_with("problem #2 "), "{printed}");
    assert_eq!(lines[1], "Similar problems in other circles:", "{printed}");
    assert!(
        lines[2].starts_with(&format!("lib  problem {problem} (open)")),
        "{printed}"
    );
}
