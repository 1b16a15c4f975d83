//! Graceful shutdown: every connection is closed with 1001 (going away), run()
//! returns, the data is flushed, and the same dir serves again. Also the
//! binary's SIGTERM and its configuration by flags and environment.

use circles_protocol::methods as m;
use circles_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_connection_with_1001() {
    let mut server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    ana.subscribe("lib", Some(0)).await;
    let posted = ana.note("lib", "before shutdown").await;
    let anon = server.connect().await;
    let bob = server.register("bob").await;
    let addr = server.addr;

    server.stop().await; // asserts run() returned Ok

    assert_eq!(ana.expect_close().await, Some(1001), "a subscribed client");
    for (name, mut client) in [("anonymous", anon), ("signed in", bob)] {
        assert_eq!(client.expect_close().await, Some(1001), "{name} client");
    }
    // The listener is gone.
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the server still accepts connections after run() returned"
    );
    // The same dir serves again, with the data.
    server.start_again().await;
    let mut ana = Client::with_token(server.addr, &ana.token).await;
    let log = ana.history_all("lib").await;
    assert_eq!(log.last(), Some(&posted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_no_connections_returns() {
    let mut server = TestServer::start().await;
    server.stop().await;
    server.start_again().await;
    let mut ana = server.register("ana").await;
    ana.ok::<m::CircleList>(m::Empty {}).await;
    server.restart().await;
    Client::login(server.addr, "ana", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_sigterm_closes_with_1001_and_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let process = ServerProcess::spawn(dir.path()).await;
    let mut ana = process.connect().await;
    ana.register_as("ana", None).await;
    ana.create_circle("lib").await;
    ana.subscribe("lib", None).await;
    let posted = ana.note("lib", "flushed on SIGTERM").await;
    let log = process.log();
    let status = process.terminate().await;
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}; log:\n{log}"
    );
    assert_eq!(ana.expect_close().await, Some(1001));

    let process = ServerProcess::spawn(dir.path()).await;
    let mut ana = Client::login(process.addr, "ana", PASSWORD).await;
    let events = ana.history_all("lib").await;
    assert_eq!(events.last(), Some(&posted));
    process.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_takes_its_settings_from_the_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_path_buf();
    let process = ServerProcess::spawn_with(move |command| {
        command
            .env("CIRCLES_LISTEN", "127.0.0.1:0")
            .env("CIRCLES_DATA_DIR", &data_dir);
    })
    .await;
    let mut ana = process.connect().await;
    ana.register_as("ana", None).await;
    ana.create_circle("lib").await;
    let status = process.terminate().await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        std::fs::read_dir(dir.path())
            .expect("data dir")
            .next()
            .is_some(),
        "the server stored nothing in CIRCLES_DATA_DIR"
    );
    // The same data through flags.
    let process = ServerProcess::spawn(dir.path()).await;
    let mut ana = Client::login(process.addr, "ana", PASSWORD).await;
    assert!(ana.listed("lib").await.is_some());
    process.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_posting_keeps_every_acknowledged_post() {
    let mut server = TestServer::start().await;
    let mut ana = server.register("ana").await;
    ana.create_circle("lib").await;
    let mut posters = Vec::new();
    for i in 0..4 {
        let mut poster = server.register(&format!("p{i}")).await;
        poster.join("lib").await;
        posters.push(poster);
    }
    let (acks_tx, mut acks_rx) = tokio::sync::mpsc::channel::<()>(1000);
    let tasks: Vec<_> = posters
        .into_iter()
        .map(|mut poster| {
            let acks = acks_tx.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..200 {
                    match poster
                        .try_note("lib", &format!("{} #{i}", poster.handle))
                        .await
                    {
                        Ok(event) => {
                            acked.push(event);
                            let _ = acks.send(()).await;
                        }
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect();
    drop(acks_tx);
    within("100 acknowledged posts", async {
        for _ in 0..100 {
            acks_rx.recv().await.expect("posters stopped early");
        }
    })
    .await;
    server.stop().await;
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(
            within("a poster to stop", task)
                .await
                .expect("poster panicked"),
        );
    }
    assert!(acked.len() < 800, "the shutdown should land mid-stream");
    assert_eq!(ana.expect_close().await, Some(1001));

    server.start_again().await;
    let mut ana = Client::with_token(server.addr, &ana.token).await;
    let log = ana.history_all("lib").await;
    let head = log.last().map(|e| e.seq).unwrap_or(0);
    assert_seqs(&log, 1, head, "the log after shutdown");
    for ack in &acked {
        assert_eq!(&log[(ack.seq - 1) as usize], ack, "acked seq {}", ack.seq);
    }
}
