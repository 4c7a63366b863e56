//! Request bodies as the connection hands them to the router: paced (a body must keep
//! arriving), and, when the request was answered before its body was read, given back to the
//! connection to be read and discarded before the answer goes out.

use crate::config::MIN_BODY_PROGRESS;
use crate::error::ApiError;
use bytes::Bytes;
use glacier_core::ErrorCode;
use http_body::Frame;
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

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
