//! Request bodies, side by side: as the connection hands them to the router, paced (a body must
//! keep arriving) and, when the request was answered before its body was read, given back to
//! the connection to be read and discarded before the answer goes out ([`Paced`]); as
//! authentication hands them to handlers, checked against the signed payload hash as they
//! stream ([`HashChecked`]) or read whole within the buffered-body budget ([`Held`],
//! [`buffer`]). (The response body that keeps a connection busy is `serve.rs`'s `Guarded`.)

use crate::config::MIN_BODY_PROGRESS;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use bytes::Bytes;
use glacier_core::ErrorCode;
use http_body::Frame;
use hyper::body::Incoming;
use sha2::{Digest as _, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

// The budget and the wrappers of authenticated bodies.
/// The largest body buffered to hash when the client sends no `x-amz-content-sha256`.
pub(crate) const MAX_UNHASHED_BODY: usize = 1024 * 1024;

/// How long the rest of a request body answered early is read and discarded before the answer
/// goes out (nginx's `lingering_time`): long enough for a client to finish sending a large
/// upload over a fast link, bounded so that no client holds a connection with it for long.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// A request body that must deliver at least [`MIN_BODY_PROGRESS`] bytes in every `window`
/// while the server waits for it; else its next item is a `RequestTimeoutException`. Time
/// the server spends not reading does not count against the client: data that arrived
/// meanwhile is progress when it is read.
///
/// Dropped before its end (the request was answered early: a missing vault, a refused
/// signature, a full disk), it gives the rest of itself back to its connection, which reads
/// and discards it ([`Paced::drain`]) before the answer goes out: a server that closes with
/// unread data in its socket resets the connection (RFC 9112 §9.6), and a client still
/// sending the body then sees the reset instead of the answer. A body whose client waits for
/// a `100 Continue` that no one asked for is not read: that client sends nothing.
pub(crate) struct Paced {
    inner: Option<Incoming>,
    window: Duration,
    /// When the current window began: the request's start, or the last [`MIN_BODY_PROGRESS`].
    since: Instant,
    received: u64,
    timer: Option<Pin<Box<Sleep>>>,
    /// Where the rest goes if the body is dropped before its end.
    back: Option<tokio::sync::oneshot::Sender<Paced>>,
    /// `Expect: 100-continue` and never polled: hyper has not invited the body.
    uninvited: bool,
    /// The body ended or failed: nothing is left to read.
    ended: bool,
}

impl Paced {
    fn new(inner: Incoming, window: Duration) -> Paced {
        Paced {
            inner: Some(inner),
            window,
            since: Instant::now(),
            received: 0,
            timer: None,
            back: None,
            uninvited: false,
            ended: false,
        }
    }

    /// The body of a request with `headers`, and what receives its rest if it is dropped
    /// before its end.
    pub(crate) fn of_request(
        headers: &hyper::HeaderMap,
        inner: Incoming,
        window: Duration,
    ) -> (Paced, tokio::sync::oneshot::Receiver<Paced>) {
        let (back, rest) = tokio::sync::oneshot::channel();
        let mut body = Paced::new(inner, window);
        body.back = Some(back);
        body.uninvited = headers
            .get(hyper::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        (body, rest)
    }

    /// Reads and discards the rest of the body, for at most [`DRAIN_LIMIT`] (a stalled body is
    /// cut off sooner by the body timeout).
    pub(crate) async fn drain(mut self) {
        use http_body_util::BodyExt;
        let _ = tokio::time::timeout(DRAIN_LIMIT, async {
            while let Some(Ok(_)) = self.frame().await {}
        })
        .await;
    }
}

impl Drop for Paced {
    fn drop(&mut self) {
        if self.ended || self.uninvited {
            return;
        }
        if let (Some(inner), Some(back)) = (self.inner.take(), self.back.take())
            && !http_body::Body::is_end_stream(&inner)
        {
            let _ = back.send(Paced::new(inner, self.window));
        }
    }
}

impl http_body::Body for Paced {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = &mut *self;
        this.uninvited = false;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if this.received >= MIN_BODY_PROGRESS {
                        this.received = 0;
                        this.since = Instant::now();
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.ended = true;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let deadline = this.since + this.window;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        this.ended = true;
                        Poll::Ready(Some(Err(Box::new(ApiError::new(
                            ErrorCode::RequestTimeoutException,
                            format!(
                                "The request body delivered less than {MIN_BODY_PROGRESS} bytes in {:?}; the request was cut off and nothing of it was kept",
                                this.window
                            ),
                        )))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), |i| i.size_hint())
    }
}

fn slow_down() -> ApiError {
    ApiError::new(
        ErrorCode::SlowDown,
        "The server holds as many request bodies as it allows; reduce your request rate and retry",
    )
}

/// Reads a body that is not streamed to its handler (at most [`MAX_UNHASHED_BODY`]), within
/// the server's budget of buffered bodies ([`crate::config::Limits::buffered_bodies`]),
/// reserved before a byte is read; past the budget the request gets `SlowDown`.
pub(crate) async fn buffer(
    state: &AppState,
    body: Body,
    too_large: impl Fn() -> ApiError,
) -> Result<Held, ApiError> {
    let hint = http_body::Body::size_hint(&body);
    if hint.exact() == Some(0) {
        return Ok(Held::default());
    }
    let max = MAX_UNHASHED_BODY as u64;
    if hint.lower() > max {
        return Err(too_large());
    }
    // A body of unknown length (chunked) reserves the most it may be.
    let reserve = u32::try_from(hint.upper().unwrap_or(max).min(max)).unwrap_or(u32::MAX);
    let permit = Arc::clone(&state.buffered)
        .try_acquire_many_owned(reserve)
        .map_err(|_| slow_down())?;
    let data = axum::body::to_bytes(body, MAX_UNHASHED_BODY)
        .await
        .map_err(|e| {
            let e = e.into_inner();
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::from_body(e)
            }
        })?;
    Ok(Held {
        data: Some(data),
        _permit: Some(permit),
    })
}

pub(crate) fn hash_mismatch(got: &[u8], want: &[u8]) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidSignatureException,
        format!(
            "The value passed in as x-amz-content-sha256 does not match the computed payload hash. Computed digest: {} expected hash: {}",
            hex::encode(got),
            hex::encode(want)
        ),
    )
}

/// A body that checks, as it streams, that it hashes to the `x-amz-content-sha256` the
/// signature covered; if not, its last item is an `InvalidSignatureException`.
pub(crate) struct HashChecked {
    inner: Body,
    hasher: Sha256,
    want: [u8; 32],
    done: bool,
}

impl HashChecked {
    pub(crate) fn new(inner: Body, want: [u8; 32]) -> HashChecked {
        HashChecked {
            inner,
            hasher: Sha256::new(),
            want,
            done: false,
        }
    }
}

impl http_body::Body for HashChecked {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.hasher.update(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            None => {
                this.done = true;
                let got: [u8; 32] = std::mem::take(&mut this.hasher).finalize().into();
                if got == this.want {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(Box::new(hash_mismatch(&got, &this.want)))))
                }
            }
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A body read whole before its handler runs, holding its share of the buffered-body budget
/// until the handler is done with it.
#[derive(Default)]
pub(crate) struct Held {
    data: Option<Bytes>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Held {
    pub(crate) fn bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(
            self.data
                .take()
                .filter(|d| !d.is_empty())
                .map(|d| Ok(Frame::data(d))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
