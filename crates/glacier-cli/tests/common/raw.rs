//! Hand-made HTTP/1.1 requests over plain sockets, signed by `aws-sigv4`: what hostile-input
//! tests need to send what no SDK would (a path other than the one signed, a tampered body,
//! a stalled body), and to release racing requests at the same instant.

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use conformance_aws_sdk::{ACCESS_KEY, SECRET_KEY};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request before it is written out.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    /// Path and query exactly as they go on the wire.
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// A response read to the end of its connection.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Glacier error code of the JSON body, if it has one.
    pub(crate) fn code(&self) -> Option<String> {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()?
            .get("code")?
            .as_str()
            .map(str::to_owned)
    }
}

impl Req {
    pub(crate) fn new(method: &str, target: &str) -> Req {
        Req {
            method: method.into(),
            target: target.into(),
            headers: vec![("x-amz-glacier-version".into(), "2012-06-01".into())],
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }

    /// Signs for `signed_target` (normally the target itself) with the conformance identity
    /// and `x-amz-content-sha256` of the body (or `payload_hash` when given).
    pub(crate) fn signed_as(
        self,
        addr: SocketAddr,
        signed_target: &str,
        secret: &str,
        payload_hash: Option<&str>,
    ) -> Req {
        self.signed_by(addr, signed_target, ACCESS_KEY, secret, payload_hash)
    }

    /// As [`Req::signed_as`], by the identity `access_key`.
    pub(crate) fn signed_by(
        mut self,
        addr: SocketAddr,
        signed_target: &str,
        access_key: &str,
        secret: &str,
        payload_hash: Option<&str>,
    ) -> Req {
        let hash = payload_hash
            .map(str::to_owned)
            .unwrap_or_else(|| hex::encode(Sha256::digest(&self.body)));
        self.headers.push(("host".into(), addr.to_string()));
        self.headers.push(("x-amz-content-sha256".into(), hash));
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_credential_types::Credentials::new(access_key, secret, None, None, "raw").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::NoHeader;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("glacier")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map(Into::into);
        let url = format!("http://{addr}{signed_target}");
        let signed = params.ok().and_then(|params| {
            let body = match payload_hash {
                Some("UNSIGNED-PAYLOAD") => SignableBody::UnsignedPayload,
                Some(h) => SignableBody::Precomputed(h.to_owned()),
                None => SignableBody::Bytes(&self.body),
            };
            let signable = SignableRequest::new(
                &self.method,
                &url,
                self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                body,
            )
            .ok()?;
            sign(signable, &params).ok()
        });
        let Some(signed) = signed else {
            panic!("aws-sigv4 could not sign {url}");
        };
        let (instructions, _) = signed.into_parts();
        for (name, value) in instructions.headers() {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Without the headers of this name (after signing: the signature then no longer holds).
    pub(crate) fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// Signed for its own target with the conformance secret.
    pub(crate) fn signed(self, addr: SocketAddr) -> Req {
        let target = self.target.clone();
        self.signed_as(addr, &target, SECRET_KEY, None)
    }

    /// The request as bytes, with `Content-Length` (unless a header sets it) and
    /// `Connection: close`, so that the server closes once it answered.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.head(true);
        out.extend_from_slice(&self.body);
        out
    }

    /// The request head: request line and headers, with `Content-Length` unless a header sets
    /// it, and `Connection: close` if `close`.
    pub(crate) fn head(&self, close: bool) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Parses a response read to the end of the connection.
pub(crate) fn parse(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Reads until the server closes the connection (at most `limit`).
pub(crate) async fn read_response(stream: &mut TcpStream, limit: Duration) -> Resp {
    let mut raw = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut raw)).await {
        Ok(_) => parse(&raw),
        Err(_) => panic!(
            "no complete response within {limit:?}; got {:?}",
            String::from_utf8_lossy(&raw)
        ),
    }
}

/// Sends raw bytes on a new connection and reads the response.
pub(crate) async fn send_bytes(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => panic!("connecting to {addr}: {e}"),
    };
    // A server that refuses a request early may close before it has read all of it: the
    // write then fails, and what it answered is still there to read.
    let _ = stream.write_all(bytes).await;
    read_response(&mut stream, Duration::from_secs(30)).await
}

pub(crate) async fn send(addr: SocketAddr, req: &Req) -> Resp {
    send_bytes(addr, &req.to_bytes()).await
}

/// Sends requests, each to its address, on their own connections at the same instant: each is
/// written but for its last byte, then the last bytes go out together.
pub(crate) async fn race(reqs: &[(SocketAddr, Req)]) -> Vec<Resp> {
    let mut streams = Vec::new();
    for (addr, r) in reqs {
        let addr = *addr;
        let bytes = r.to_bytes();
        let (head, last) = bytes.split_at(bytes.len() - 1);
        let mut s = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => panic!("connecting to {addr}: {e}"),
        };
        let _ = s.set_nodelay(true);
        if let Err(e) = s.write_all(head).await {
            panic!("writing to {addr}: {e}");
        }
        streams.push((s, last.to_vec()));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(streams.len()));
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|(mut s, last)| {
            let barrier = std::sync::Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                if let Err(e) = s.write_all(&last).await {
                    panic!("releasing a request: {e}");
                }
                read_response(&mut s, Duration::from_secs(30)).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => out.push(r),
            Err(e) => panic!("a racing request failed: {e}"),
        }
    }
    out
}

/// The socket address of an `http://HOST:PORT` endpoint.
pub(crate) fn addr_of(endpoint: &str) -> SocketAddr {
    match endpoint.trim_start_matches("http://").parse() {
        Ok(a) => a,
        Err(e) => panic!("{endpoint} is not http://ADDR: {e}"),
    }
}

/// A keep-alive connection driven by hyper's client: requests one after another on the same
/// socket, and when the server closed it.
pub(crate) struct KeepAlive {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    closed: tokio::task::JoinHandle<tokio::time::Instant>,
}

impl KeepAlive {
    pub(crate) async fn open(addr: SocketAddr) -> anyhow::Result<KeepAlive> {
        let stream = TcpStream::connect(addr).await?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let closed = tokio::spawn(async move {
            let _ = conn.await;
            tokio::time::Instant::now()
        });
        Ok(KeepAlive { sender, closed })
    }

    /// Sends `req` (its headers as they are) and reads the whole response.
    pub(crate) async fn send(&mut self, req: &Req) -> anyhow::Result<Resp> {
        use http_body_util::BodyExt;
        self.sender.ready().await?;
        let mut builder = hyper::Request::builder()
            .method(req.method.as_str())
            .uri(req.target.as_str());
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder.body(http_body_util::Full::new(bytes::Bytes::from(
            req.body.clone(),
        )))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Waits for the server to close the connection; when it did. (The sender is held
    /// meanwhile: hyper's client closes a connection whose senders are all gone.)
    pub(crate) async fn closed(self) -> anyhow::Result<tokio::time::Instant> {
        let KeepAlive { sender, closed } = self;
        let at = closed.await?;
        drop(sender);
        Ok(at)
    }
}
