//! How requests reach a Glacier endpoint: over HTTP(S), or in-process to a `tower::Service`
//! (the server's router, for the CLI's embedded mode and tests) with no socket.
//! Both stream bodies in both directions.

use crate::error::BoxError;
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use std::time::Duration;

/// A streaming request body (`Sync`, as reqwest requires).
pub type Body = BoxBody<Bytes, BoxError>;

/// A streaming response body.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// An empty body.
pub fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body holding `bytes`.
pub fn full(bytes: Bytes) -> Body {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed()
}

/// Sends one request and returns the response, its body still streaming.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, BoxError>;
}

/// HTTP(S) with reqwest (rustls).
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// Connect timeout 10 s; a request may idle at most `read_timeout` between bytes. The
    /// Glacier API never redirects (a signed request could not follow one anyway), so no
    /// redirect is followed: a 3xx is an answer like any other. HTTPS trusts the system's
    /// roots and, as the AWS SDKs and CLI do, the PEM certificates of the file named by
    /// `AWS_CA_BUNDLE` (a private CA, a self-signed server).
    pub fn new(read_timeout: Duration) -> Result<HttpTransport, BoxError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(read_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
            let shown = std::path::Path::new(&path).display().to_string();
            let pem =
                std::fs::read(&path).map_err(|e| format!("reading AWS_CA_BUNDLE {shown}: {e}"))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!("AWS_CA_BUNDLE {shown} is not a PEM certificate bundle: {e}")
            })?;
            if certs.is_empty() {
                return Err(format!("AWS_CA_BUNDLE {shown} holds no PEM certificate").into());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(HttpTransport {
            client: builder.build()?,
        })
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, BoxError> {
        let request = reqwest::Request::try_from(request.map(reqwest::Body::wrap))?;
        let response = self.client.execute(request).await?;
        let response: http::Response<reqwest::Body> = response.into();
        Ok(response.map(|b| b.map_err(|e| -> BoxError { Box::new(e) }).boxed_unsync()))
    }
}

/// Calls a `tower::Service` directly: the request never touches a socket.
pub struct InProcess<S> {
    service: S,
}

impl<S> InProcess<S> {
    pub fn new(service: S) -> InProcess<S> {
        InProcess { service }
    }
}

// Written without `async fn`: the compiler cannot prove an `async` body over `S::Future` Send
// for every lifetime of the boxed error type (a known limitation), while the plain future is.
impl<S, B> Transport for InProcess<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn send<'life0, 'async_trait>(
        &'life0 self,
        request: http::Request<Body>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<http::Response<ResponseBody>, BoxError>>
                + Send
                + 'async_trait,
        >,
    >
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        use futures_util::TryFutureExt;
        use tower::ServiceExt;
        Box::pin(
            self.service
                .clone()
                .oneshot(request)
                .map_err(Into::into)
                .map_ok(|response| response.map(|b| b.map_err(Into::into).boxed_unsync())),
        )
    }
}
