//! An HTTP proxy in front of an S3 endpoint that fails on command: it forwards requests as
//! they are (the signature covers the `Host` header, which it keeps, so the store accepts
//! them), answers `503 Service Unavailable` with S3's XML error, or holds requests unanswered
//! until its mode changes, the way an overloaded or hung store does.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Mode {
    Pass = 0,
    /// Every request gets 503 SlowDown.
    Refuse = 1,
    /// Every request waits, unanswered, until the mode changes.
    Stall = 2,
}

struct Shared {
    upstream: SocketAddr,
    mode: AtomicU8,
    /// Requests refused or stalled so far.
    faulted: AtomicUsize,
}

impl Shared {
    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::Refuse,
            2 => Mode::Stall,
            _ => Mode::Pass,
        }
    }
}

pub(crate) struct FaultyS3 {
    pub(crate) endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultyS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

impl FaultyS3 {
    /// A proxy on a loopback port in front of `upstream` (`http://HOST:PORT`), passing
    /// everything until told otherwise.
    pub(crate) async fn start(upstream: &str) -> anyhow::Result<FaultyS3> {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .unwrap_or(upstream)
            .trim_end_matches('/')
            .parse()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream,
            mode: AtomicU8::new(Mode::Pass as u8),
            faulted: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Ok(FaultyS3 {
            endpoint,
            shared,
            task,
        })
    }

    pub(crate) fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Requests refused or stalled so far.
    pub(crate) fn faulted(&self) -> usize {
        self.shared.faulted.load(Ordering::SeqCst)
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(Arc::clone(&shared), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> anyhow::Result<hyper::Response<Body>> {
    loop {
        match shared.mode() {
            Mode::Pass => return forward(shared.upstream, req).await,
            Mode::Refuse => {
                shared.faulted.fetch_add(1, Ordering::SeqCst);
                // Read what the client sends, so that it reads the answer.
                let _ = req.into_body().collect().await;
                let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate (injected by the test)</Message></Error>";
                return Ok(hyper::Response::builder()
                    .status(503)
                    .header("content-type", "application/xml")
                    .body(
                        Full::new(Bytes::from(xml))
                            .map_err(|never| match never {})
                            .boxed(),
                    )?);
            }
            Mode::Stall => {
                shared.faulted.fetch_add(1, Ordering::SeqCst);
                while shared.mode() == Mode::Stall {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn forward(
    upstream: SocketAddr,
    req: hyper::Request<Incoming>,
) -> anyhow::Result<hyper::Response<Body>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let response = sender.send_request(req).await?;
    Ok(response.map(BodyExt::boxed))
}
