//! The accept loop: every TCP connection is served over HTTP/1 with a
//! deadline for its request head, so a peer that opens a connection and
//! stalls the handshake is dropped instead of holding a socket forever.
//! With TLS on, the TLS handshake comes first, in the connection's own task
//! and under the same deadline. [`Peers`] caps the WebSocket sessions one
//! address may hold.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tower_service::Service;

use crate::App;
use crate::metrics::Refused;

/// Accepts until the server stops; each connection is a task on the
/// server's tracker. With `tls`, every connection is TLS.
pub async fn serve(app: Arc<App>, listener: TcpListener, router: Router, tls: Option<TlsAcceptor>) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            () = app.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            // Out of file descriptors, mostly: wait for connections to end.
            Err(err) => {
                tracing::warn!(error = %err, "accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let app_for_conn = Arc::clone(&app);
        app.tracker.spawn(connection(
            app_for_conn,
            tcp,
            peer,
            router.clone(),
            tls.clone(),
        ));
    }
}

/// One connection, from the TLS handshake (if any) to its last request.
async fn connection(
    app: Arc<App>,
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    tls: Option<TlsAcceptor>,
) {
    match tls {
        None => serve_http(app, tcp, peer, router).await,
        Some(acceptor) => {
            if let Some(stream) = tls_handshake(&app, &acceptor, tcp, peer).await {
                serve_http(app, stream, peer, router).await;
            }
        }
    }
}

/// The TLS handshake, bounded like the request head: a peer that stalls it
/// is dropped and counted, one that fails it is dropped.
async fn tls_handshake(
    app: &App,
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let handshake = tokio::time::timeout(app.config.handshake_timeout, acceptor.accept(tcp));
    tokio::select! {
        () = app.shutdown.cancelled() => None,
        result = handshake => match result {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "TLS handshake failed");
                None
            }
            Err(_) => {
                app.metrics.refused.inc(Refused::HandshakeTimeout);
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        },
    }
}

/// Serves one connection's HTTP requests (and its upgrade to a WebSocket,
/// which then lives on as a session task of its own).
async fn serve_http<I>(app: Arc<App>, io: I, peer: SocketAddr, router: Router)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A header timeout before any request is a stalled handshake; after
    // one, it only ends an idle keep-alive connection.
    let requested = Arc::new(AtomicBool::new(false));
    let requested_in_service = Arc::clone(&requested);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        requested_in_service.store(true, Ordering::Relaxed);
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { Ok::<_, Infallible>(router.call(request).await.unwrap_or_else(|e| match e {})) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.config.handshake_timeout);
    let conn = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                if err.is_timeout() && !requested.load(Ordering::Relaxed) {
                    app.metrics.refused.inc(Refused::HandshakeTimeout);
                }
                tracing::debug!(%peer, error = %err, "HTTP connection ended");
            }
        }
        () = app.shutdown.cancelled() => {
            // Finish the request in flight, then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(app.config.handshake_timeout, conn).await;
        }
    }
}

/// WebSocket sessions per peer address.
#[derive(Debug)]
pub struct Peers {
    /// 0: no cap.
    max_per_ip: u32,
    // A std Mutex: held for a lookup, never across an await.
    sessions: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One admitted session; dropping it frees its place.
#[derive(Debug)]
pub struct PeerSlot {
    ip: IpAddr,
    sessions: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Peers {
    pub fn new(max_per_ip: u32) -> Peers {
        Peers {
            max_per_ip,
            sessions: Arc::default(),
        }
    }

    /// A place for one more session from `ip`, unless it holds its share.
    pub fn admit(&self, ip: IpAddr) -> Option<PeerSlot> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let count = sessions.entry(ip).or_insert(0);
        if self.max_per_ip != 0 && *count >= self.max_per_ip {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            ip,
            sessions: Arc::clone(&self.sessions),
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = sessions.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                sessions.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_share_and_its_places_back() {
        let peers = Peers::new(2);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let first = peers.admit(ip).expect("first");
        let _second = peers.admit(ip).expect("second");
        assert!(peers.admit(ip).is_none(), "a third is over the cap");
        assert!(
            peers.admit(other).is_some(),
            "others have places of their own"
        );
        drop(first);
        assert!(
            peers.admit(ip).is_some(),
            "a closed session frees its place"
        );
    }

    #[test]
    fn zero_means_no_cap() {
        let peers = Peers::new(0);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let slots: Vec<_> = (0..1000).filter_map(|_| peers.admit(ip)).collect();
        assert_eq!(slots.len(), 1000);
    }
}
