//! The HTTP/1.1 server around the router, and what it bounds before any request is
//! authenticated: how long a request head may take once it has begun, how long an idle
//! keep-alive connection stays open, how slowly a body may arrive, how many connections are served at
//! once (shedding idle ones to make room), and how long shutdown waits for requests in flight.
//! Requests so malformed that hyper answers them itself (a bad Content-Length, a control byte
//! in a header, too many headers) get the Glacier JSON error shape too.

use crate::config::Limits;
use crate::tls::Tls;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use glacier_core::ErrorCode;
use http_body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
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
        match workers.next() {
            None => {
                tasks.spawn(connection(stream, app, limits, tls, slot, token));
            }
            Some((worker, load)) => {
                // Its socket moves to the worker's own event loop.
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "handing a connection to a worker failed");
                        continue;
                    }
                };
                tasks.spawn_on(
                    async move {
                        let _load = load;
                        match TcpStream::from_std(stream) {
                            Ok(stream) => connection(stream, app, limits, tls, slot, token).await,
                            Err(e) => {
                                tracing::warn!(error = %e, "a worker could not take a connection")
                            }
                        }
                    },
                    worker,
                );
            }
        }
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

/// The threads connections are served on: one single-threaded runtime per worker thread of the
/// runtime `serve` runs on, each connection on one of them from its accept to its close (its
/// socket, timers and requests together), a new one on the worker serving the fewest. The
/// multi-threaded runtime wakes an idle worker whenever another finds work, so that it may
/// steal: for short requests those wake-ups were a tenth of the server's CPU (BENCHMARKS.md,
/// goal 2), and a connection's requests come one after another anyway. On a single-threaded
/// runtime (tests) connections are served on it, with no threads of their own.
struct Workers {
    workers: Vec<Worker>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct Worker {
    handle: tokio::runtime::Handle,
    /// Connections it serves.
    load: Arc<AtomicUsize>,
    /// Dropped to stop it.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A connection counted in its worker's load.
struct Load(Arc<AtomicUsize>);

impl Drop for Load {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    fn start() -> std::io::Result<Workers> {
        let count = tokio::runtime::Handle::current().metrics().num_workers();
        let mut workers = Workers {
            workers: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..if count < 2 { 0 } else { count } {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            workers.workers.push(Worker {
                handle: runtime.handle().clone(),
                load: Arc::new(AtomicUsize::new(0)),
                _stop: stop,
            });
            workers.threads.push(
                std::thread::Builder::new()
                    .name(format!("glacier-conn-{i}"))
                    .spawn(move || {
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    })?,
            );
        }
        Ok(workers)
    }

    /// The least loaded worker and the new connection's place in its load, or none to serve it
    /// on the current runtime.
    fn next(&self) -> Option<(&tokio::runtime::Handle, Load)> {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))?;
        worker.load.fetch_add(1, Ordering::Relaxed);
        Some((&worker.handle, Load(Arc::clone(&worker.load))))
    }

    /// Stops the workers and waits for their threads (what their runtimes still hold, such as
    /// a notification being sent, is dropped with them).
    async fn stop(self) {
        drop(self.workers);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        if let Err(e) = joined.await {
            tracing::warn!(error = %e, "connection workers did not stop cleanly");
        }
    }
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

/// The connection's socket, rewriting the bare responses hyper writes on its own for requests
/// it cannot parse (`400`, `414`, `431` with an empty body, then the connection closes) into
/// Glacier's JSON error shape with a request id. Only such a response, written whole while no
/// response of the service is in flight on the connection (not even its last bytes), is
/// rewritten; every other byte passes untouched.
struct GlacierErrors<S> {
    inner: S,
    conn: Arc<Conn>,
    /// A rewritten response still being written, and the length of hyper's original.
    pending: Option<(Bytes, usize)>,
}

impl<S: tokio::io::AsyncWrite + Unpin> GlacierErrors<S> {
    fn new(inner: S, conn: Arc<Conn>) -> GlacierErrors<S> {
        GlacierErrors {
            inner,
            conn,
            pending: None,
        }
    }

    /// Writes what is pending; `Ready(Ok(n))` with the original's length once all of it is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        while let Some((data, original)) = &mut self.pending {
            if data.is_empty() {
                let n = *original;
                self.pending = None;
                return Poll::Ready(Ok(n));
            }
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, data))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            let _ = data.split_to(n);
        }
        Poll::Ready(Ok(0))
    }

    /// If `buf` is one of hyper's own error responses, what to write instead.
    fn rewrite(&self, buf: &[u8]) -> Option<Bytes> {
        if buf.len() > 512
            || self.conn.busy.load(Ordering::SeqCst) != 0
            || self.conn.unflushed.load(Ordering::SeqCst) != 0
        {
            return None;
        }
        let head = std::str::from_utf8(buf).ok()?.strip_suffix("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()?
            .strip_prefix("HTTP/1.1 ")?
            .get(..3)?
            .parse()
            .ok()?;
        let mut rest: Vec<&str> = lines.collect();
        rest.sort_unstable();
        let [close, length, date] = rest.as_slice() else {
            return None;
        };
        let date = date.strip_prefix("date: ")?;
        if *close != "connection: close" || *length != "content-length: 0" {
            return None;
        }
        let (reason, message) = match status {
            400 => (
                "Bad Request",
                "The request is not valid HTTP/1.1: its request line or a header is malformed (an invalid Content-Length, a control character in a header, an invalid header name or method)",
            ),
            414 => ("URI Too Long", "The request's URI is too long"),
            431 => (
                "Request Header Fields Too Large",
                "The request's headers are too many (at most 100) or too large",
            ),
            _ => return None,
        };
        let body = serde_json::to_vec(&glacier_core::wire::ErrorBody {
            code: ErrorCode::InvalidParameterValueException
                .as_str()
                .to_owned(),
            message: message.to_owned(),
            error_type: glacier_core::ErrorType::Client,
        })
        .ok()?;
        let id = crate::config::random_string(52, crate::config::REQUEST_ID_ALPHABET);
        let mut out = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nx-amzn-requestid: {id}\r\nconnection: close\r\ncontent-length: {}\r\ndate: {date}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        tracing::info!(status, "refused a request that is not valid HTTP/1.1");
        Some(Bytes::from(out))
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for GlacierErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, buf));
        if buf.filled().len() > before {
            self.conn.received();
        }
        Poll::Ready(read)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for GlacierErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match this.rewrite(buf) {
                Some(replacement) => this.pending = Some((replacement, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        this.drain(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            let replacement = (total <= 512)
                .then(|| {
                    this.rewrite(
                        &bufs
                            .iter()
                            .flat_map(|b| b.iter().copied())
                            .collect::<Vec<u8>>(),
                    )
                })
                .flatten();
            match replacement {
                Some(r) => this.pending = Some((r, total)),
                None => return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            }
        }
        this.drain(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let flushed = std::task::ready!(Pin::new(&mut self.inner).poll_flush(cx));
        // hyper writes all it buffered before it flushes: finished responses are out.
        self.conn.unflushed.store(0, Ordering::SeqCst);
        Poll::Ready(flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
