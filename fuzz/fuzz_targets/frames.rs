//! Frames through the request path (decode, dispatch, a real store in a
//! temp dir), with no socket. The input is split on `\n`; each line that is
//! UTF-8 is one text frame of one connection, signed in at the start as the
//! harness account. A finding is a panic anywhere in the server or a frame
//! that breaks `circles_server::harness::check_exchange` (every response a
//! JSON-RPC 2.0 response with a result or a well-formed error, due ones
//! present and with the request's id, every notification well formed).
#![no_main]

use std::sync::{LazyLock, Mutex, PoisonError};

use circles_server::harness::Harness;
use libfuzzer_sys::fuzz_target;

/// One runtime and one server for the whole run: the store keeps growing,
/// so inputs also meet what earlier ones left (circles, posts, accounts).
struct Fuzz {
    runtime: tokio::runtime::Runtime,
    harness: Harness,
    _dir: tempfile::TempDir,
}

static FUZZ: LazyLock<Mutex<Fuzz>> = LazyLock::new(|| {
    let dir = tempfile::Builder::new()
        .prefix("circles-fuzz-")
        .tempdir()
        .expect("a temp dir for the store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let harness = runtime
        .block_on(Harness::open(dir.path()))
        .expect("the harness opens");
    Mutex::new(Fuzz {
        runtime,
        harness,
        _dir: dir,
    })
});

fuzz_target!(|data: &[u8]| {
    let mut fuzz = FUZZ.lock().unwrap_or_else(PoisonError::into_inner);
    let Fuzz {
        runtime, harness, ..
    } = &mut *fuzz;
    if let Err(finding) = runtime.block_on(harness.replay(data)) {
        panic!("{finding}");
    }
});
