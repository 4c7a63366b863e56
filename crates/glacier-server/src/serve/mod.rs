//! The HTTP/1.1 server around the router, and what it bounds before any request is
//! authenticated: how long a request head may take once it has begun, how long an idle
//! keep-alive connection stays open, how slowly a body may arrive, how many connections are served at
//! once (shedding idle ones to make room), and how long shutdown waits for requests in flight.
//! Requests so malformed that hyper answers them itself (a bad Content-Length, a control byte
//! in a header, too many headers) get the Glacier JSON error shape too.

mod rewrite;
mod workers;

use crate::config::Limits;
use crate::tls::Tls;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use rewrite::GlacierErrors;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use workers::Workers;

/// The most a connection's read buffer grows to, and so the largest request head. hyper's
/// default, 400 KiB, let 200 connections whose bodies are refused and drained hold 80 MiB
/// between them; 64 KiB reads keep uploads as fast (`bench/cli.py`).
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` is cancelled; then stops
/// accepting, lets the requests in flight finish for up to [`Limits::shutdown_timeout`], and
/// cuts off the rest.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::new(limits.max_connections));
    let workers = Workers::start()?;
    let mut tasks = JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept...: try again.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = registry.admit() => slot,
        };
        // A token of its own: a connection polls it on every wake-up, and polling the
        // server's one token from every connection contends for its lock.
        let (app, tls, token) = (app.clone(), tls.clone(), shutdown.child_token());
        workers.spawn(&mut tasks, stream, move |stream| {
            connection(stream, app, limits, tls, slot, token)
        });
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            connections = tasks.len(),
            timeout = ?limits.shutdown_timeout,
            "requests still in flight at the shutdown deadline are cut off"
        );
        tasks.shutdown().await;
    }
    workers.stop().await;
    Ok(())
}

/// Serves one connection (after its TLS handshake, which must end within the head timeout)
/// until it closes, is shed, or the server shuts down (then it closes as soon as its request in
/// flight, if any, is answered).
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    slot: Slot,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return exchange(stream, app, limits, slot, shutdown).await;
    };
    let handshake = tokio::time::timeout(limits.header_timeout, tls.acceptor().accept(stream));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(timeout = ?limits.header_timeout, "TLS handshake did not finish in time");
                return;
            }
        },
        _ = shutdown.cancelled() => return,
        _ = slot.conn.close.cancelled() => return,
    };
    exchange(stream, app, limits, slot, shutdown).await
}

/// Serves requests on an established connection (plain or TLS).
async fn exchange<S>(
    stream: S,
    app: Router,
    limits: Limits,
    slot: Slot,
    shutdown: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::clone(&slot.conn);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let busy = Busy::start(&conn);
        let (parts, incoming) = req.into_parts();
        let (body, mut leftover) =
            crate::body::Paced::of_request(&parts.headers, incoming, limits.body_timeout);
        let req = hyper::Request::from_parts(parts, Body::new(body));
        let app = app.clone();
        async move {
            let resp = match app.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            // An answer given before the body was read (a missing vault, a refused signature,
            // a full disk): read the rest first, so that a client still sending it reads the
            // answer instead of a reset.
            if resp.extensions().get::<crate::faults::Reset>().is_some() {
                // An injected `reset`: hyper closes the connection without an answer.
                return Err(ConnectionReset);
            }
            if let Ok(rest) = leftover.try_recv() {
                rest.drain().await;
            }
            Ok::<_, ConnectionReset>(resp.map(|body| {
                Body::new(Guarded {
                    inner: body,
                    _busy: busy,
                })
            }))
        }
    });
    let mut builder = http1::Builder::new();
    // hyper's own head timeout runs from the previous response, so it would also be the idle
    // timeout: `watch` keeps the two apart.
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    builder.max_buf_size(READ_BUFFER);
    let io = GlacierErrors::new(stream, Arc::clone(&slot.conn));
    let served = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(served);
    tokio::select! {
        r = served.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = shutdown.cancelled() => {}
        _ = slot.conn.close.cancelled() => tracing::debug!("closing an idle connection to make room"),
        expired = watch(&slot.conn, limits) => match expired {
            Expired::Head => {
                tracing::debug!(timeout = ?limits.header_timeout, "a request head did not arrive in time; connection cut off");
                return;
            }
            Expired::Idle => tracing::debug!("closing a connection idle for the idle timeout"),
        },
    }
    served.as_mut().graceful_shutdown();
    if let Err(e) = served.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// The connection is to be closed unanswered (an injected fault).
#[derive(Debug)]
struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by an injected fault")
    }
}

impl std::error::Error for ConnectionReset {}

/// Which of a connection's clocks ran out.
enum Expired {
    /// A request head began and did not end within the head timeout.
    Head,
    /// No request for the idle timeout.
    Idle,
}

/// Returns when `conn` has waited too long for a request: for the rest of a head that began
/// over [`Limits::header_timeout`] ago, or for any request at all for [`Limits::idle_timeout`].
/// Idle keep-alive connections must outlive clients' pool idle timeouts (60–90 s in the SDKs):
/// a server that closes them sooner races the clients reusing them, and the request sent as
/// the connection closes fails.
async fn watch(conn: &Conn, limits: Limits) -> Expired {
    loop {
        let changed = conn.changed.notified();
        let deadline = {
            let clock = conn.clock();
            if conn.busy.load(Ordering::SeqCst) != 0 {
                None
            } else if let Some(head) = clock.head_since {
                Some((head + limits.header_timeout, Expired::Head))
            } else {
                Some((clock.idle_since + limits.idle_timeout, Expired::Idle))
            }
        };
        match deadline {
            None => changed.await,
            Some((at, expired)) => tokio::select! {
                () = tokio::time::sleep_until(at) => {
                    // The state may have changed just as the time ran out: look again.
                    if conn.busy.load(Ordering::SeqCst) == 0 && Instant::now() >= at {
                        let clock = conn.clock();
                        let still = match expired {
                            Expired::Head => clock.head_since.is_some(),
                            Expired::Idle => clock.head_since.is_none(),
                        };
                        if still {
                            return expired;
                        }
                    }
                }
                () = changed => {}
            },
        }
    }
}

/// The connections being served, at most `max`.
struct Registry {
    max: usize,
    live: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next: AtomicU64,
    /// A connection ended.
    left: Notify,
}

/// What a connection's task and its requests share.
struct Conn {
    /// Requests in flight, from their head until their response body is dropped.
    busy: AtomicUsize,
    /// Responses whose body is done but whose last bytes may still be on their way to the
    /// socket: hyper drops a body once its last frame is buffered, and writes it after.
    /// Cleared when the socket is next flushed, which writes everything buffered first.
    unflushed: AtomicUsize,
    /// Cancelled to ask an idle connection to close.
    close: CancellationToken,
    clock: Mutex<Clock>,
    /// Wakes [`watch`]: a request began or ended, or a head began to arrive.
    changed: Notify,
}

/// What a connection is waiting for, and since when.
struct Clock {
    /// When it last had no request in flight: opened, or its last response was done.
    idle_since: Instant,
    /// When the first byte of the next request head arrived, if one has.
    head_since: Option<Instant>,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            busy: AtomicUsize::new(0),
            unflushed: AtomicUsize::new(0),
            close: CancellationToken::new(),
            clock: Mutex::new(Clock {
                idle_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        // Every change is one assignment: consistent even if a holder panicked.
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived from the client.
    fn received(&self) {
        if self.busy.load(Ordering::SeqCst) == 0 {
            let mut clock = self.clock();
            if clock.head_since.is_none() {
                clock.head_since = Some(Instant::now());
                drop(clock);
                self.changed.notify_one();
            }
        }
    }
}

impl Registry {
    fn new(max: usize) -> Registry {
        Registry {
            max: max.max(1),
            live: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            left: Notify::new(),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection. At the cap the oldest idle connection (one waiting for a
    /// request head, however partial) is asked to close, and the call waits until some
    /// connection has ended.
    async fn admit(self: &Arc<Self>) -> Slot {
        loop {
            let left = self.left.notified();
            tokio::pin!(left);
            left.as_mut().enable();
            {
                let mut live = self.live();
                if live.len() < self.max {
                    let id = self.next.fetch_add(1, Ordering::Relaxed);
                    let conn = Arc::new(Conn::new());
                    live.insert(id, Arc::clone(&conn));
                    return Slot {
                        registry: Arc::clone(self),
                        id,
                        conn,
                    };
                }
                if let Some(idle) = live
                    .values()
                    .find(|c| c.busy.load(Ordering::SeqCst) == 0 && !c.close.is_cancelled())
                {
                    idle.close.cancel();
                }
            }
            left.await;
        }
    }
}

/// A connection's place in the registry, given back when the connection ends.
struct Slot {
    registry: Arc<Registry>,
    id: u64,
    conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.live().remove(&self.id);
        self.registry.left.notify_waiters();
    }
}

/// A request in flight on its connection.
struct Busy(Arc<Conn>);

impl Busy {
    fn start(conn: &Arc<Conn>) -> Busy {
        conn.busy.fetch_add(1, Ordering::SeqCst);
        conn.clock().head_since = None;
        conn.changed.notify_one();
        Busy(Arc::clone(conn))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.unflushed.fetch_add(1, Ordering::SeqCst);
        self.0.clock().idle_since = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_one();
    }
}

/// A response body that keeps its request counted as in flight until it is sent.
struct Guarded {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
