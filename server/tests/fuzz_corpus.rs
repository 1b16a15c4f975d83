//! The fuzz corpus (`fuzz/corpus/frames`, one input per file) replayed
//! through the same harness and invariants as the fuzz target, so a seed or
//! a past finding stays fixed without libFuzzer. The fuzzing itself runs
//! from `fuzz/run.sh`, not here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use circles_server::harness::Harness;

/// The whole replay, argon2 included (each new account costs a hash).
const REPLAY_TIMEOUT: Duration = Duration::from_secs(300);

static PANICKED: AtomicBool = AtomicBool::new(false);

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/frames");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_fuzz_corpus_replays_cleanly() {
    // A panic in a spawned task (a circle) is caught by tokio: note it, as
    // libFuzzer's hook would abort on it.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        default_hook(info);
    }));

    let files = corpus();
    assert!(!files.is_empty(), "the fuzz corpus is empty");
    let dir = tempfile::tempdir().expect("a temp dir");
    let replay = async {
        let mut harness = Harness::open(dir.path()).await.expect("the harness opens");
        let mut failures = Vec::new();
        for file in &files {
            let data = std::fs::read(file).expect("reading a corpus file");
            if let Err(finding) = harness.replay(&data).await {
                failures.push(format!("{}: {finding}", file.display()));
            }
        }
        harness.close();
        failures
    };
    let failures = tokio::time::timeout(REPLAY_TIMEOUT, replay)
        .await
        .expect("the corpus replays in time");
    assert!(
        failures.is_empty(),
        "{} of {} corpus files break an invariant:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
    assert!(
        !PANICKED.load(Ordering::SeqCst),
        "the server panicked while replaying the corpus (see the output above)"
    );
}
