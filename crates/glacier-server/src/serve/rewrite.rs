//! Hyper's own bare error responses, rewritten into Glacier's JSON error shape.

use super::Conn;
use bytes::Bytes;
use glacier_core::ErrorCode;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

/// The connection's socket, rewriting the bare responses hyper writes on its own for requests
/// it cannot parse (`400`, `414`, `431` with an empty body, then the connection closes) into
/// Glacier's JSON error shape with a request id. Only such a response, written whole while no
/// response of the service is in flight on the connection (not even its last bytes), is
/// rewritten; every other byte passes untouched.
pub(super) struct GlacierErrors<S> {
    inner: S,
    conn: Arc<Conn>,
    /// A rewritten response still being written, and the length of hyper's original.
    pending: Option<(Bytes, usize)>,
}

impl<S: tokio::io::AsyncWrite + Unpin> GlacierErrors<S> {
    pub(super) fn new(inner: S, conn: Arc<Conn>) -> GlacierErrors<S> {
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
                "The request is not valid HTTP/1.1: its request line or a header is malformed (an invalid Content-Length, a control character in a header, an invalid header name or method)".to_owned(),
            ),
            414 => ("URI Too Long", "The request's URI is too long".to_owned()),
            431 => (
                "Request Header Fields Too Large",
                format!(
                    "The request's headers are too many (at most 100) or too large (about {} KiB at most)",
                    super::READ_BUFFER / 1024
                ),
            ),
            _ => return None,
        };
        let body = serde_json::to_vec(&glacier_core::wire::ErrorBody {
            code: ErrorCode::InvalidParameterValueException
                .as_str()
                .to_owned(),
            message,
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
