//! Signature verification, against published vectors and hand-made requests.

use super::parse::*;
use super::scope::*;
use super::*;
use bytes::Bytes;

/// Signs `req` over `body` with `aws-sigv4`, the AWS SDKs' signer (not ours), for region
/// `region` and service `glacier`, now: its headers (all of them) and its URI as they are.
pub(crate) fn aws_sign<B>(
    req: &mut http::Request<B>,
    (key, secret): (&str, &str),
    region: &str,
    body: &[u8],
) -> anyhow::Result<()> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("glacier")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let url = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| Ok((k.as_str().to_owned(), v.to_str()?.to_owned())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let signable = SignableRequest::new(
        req.method().as_str(),
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}
use axum::http::Request as HttpRequest;

fn parts(headers: &[(&str, &str)]) -> Parts {
    let mut b = HttpRequest::builder().uri("/-/vaults");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

#[test]
fn authorization_headers() {
    let p = parts(&[("x-amz-date", "20150830T123600Z")]);
    let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/glacier/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    let s = parse_authorization(h, &p).unwrap();
    assert_eq!(s.access_key_id, "AKIDEXAMPLE");
    assert_eq!(
        (s.scope.region.as_str(), s.scope.service.as_str()),
        ("us-east-1", "glacier")
    );
    assert_eq!(s.signed_headers, vec!["host", "x-amz-date"]);
    assert_eq!(s.amz_date, "20150830T123600Z");
    for bad in [
        "AWS AKID:sig",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/glacier/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AKID/us-east-1/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/2015/r/s/aws4_request, SignedHeaders=host, Signature=zz",
    ] {
        let e = parse_authorization(bad, &p).unwrap_err();
        assert_eq!(e.code, ErrorCode::IncompleteSignatureException, "{bad}");
    }
    let undated = parse_authorization(h, &parts(&[])).unwrap_err();
    assert!(undated.message.contains("X-Amz-Date"), "{undated:?}");
    let dated = parts(&[("date", "Sun, 30 Aug 2015 12:36:00 GMT")]);
    let unsigned_date = parse_authorization(h, &dated).unwrap_err();
    assert_eq!(unsigned_date.code, ErrorCode::InvalidSignatureException);
    let h2 = h.replace("host;x-amz-date", "date;host");
    assert_eq!(
        parse_authorization(&h2, &dated).unwrap().amz_date,
        "20150830T123600Z"
    );
}

#[test]
fn presigned_queries() {
    let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fglacier%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7&limit=3";
    let s = parse_presigned(q).unwrap().unwrap();
    assert_eq!((s.access_key_id.as_str(), s.expires), ("AKID", Some(60)));
    assert_eq!(parse_presigned("limit=3"), Ok(None));
    assert!(!query_without_signature(q).contains("Signature="));
    let forever = q.replace("X-Amz-Expires=60", "X-Amz-Expires=604801");
    assert!(parse_presigned(&forever).is_err());
}

#[test]
fn times_and_scopes() {
    let now = time::macros::datetime!(2015-08-30 12:36:00 UTC);
    let mut r = SignedRequest {
        access_key_id: "AKID".into(),
        scope: Scope {
            date: "20150830".into(),
            region: "0".into(),
            service: "127".into(),
        },
        signed_headers: vec!["host".into(), "x-amz-date".into()],
        signature: String::new(),
        amz_date: "20150830T123600Z".into(),
        expires: None,
    };
    assert!(check_time_and_scope(&r, now, None).is_ok());
    let e = check_time_and_scope(&r, now, Some("us-east-1")).unwrap_err();
    assert!(e.message.contains("region"), "{e:?}");
    for (amz, ok) in [
        ("20150830T122100Z", true),
        ("20150830T122059Z", false),
        ("20150830T125100Z", true),
        ("20150830T125101Z", false),
    ] {
        r.amz_date = amz.into();
        assert_eq!(check_time_and_scope(&r, now, None).is_ok(), ok, "{amz}");
    }
    r.amz_date = "20150829T235959Z".into();
    assert!(check_time_and_scope(&r, now, None).is_err(), "scope date");
    r.amz_date = "20150830T120000Z".into();
    r.expires = Some(3600);
    assert!(check_time_and_scope(&r, now, None).is_ok());
    r.expires = Some(60);
    assert!(check_time_and_scope(&r, now, None).is_err());
    r.expires = None;
    r.amz_date = "20150830T123600Z".into();
    r.signed_headers = vec!["x-amz-date".into()];
    assert!(
        check_time_and_scope(&r, now, None).is_err(),
        "host unsigned"
    );
}

/// A request without `x-amz-content-sha256` is hashed from its body, which is buffered
/// only up to 1 MiB, whether or not its length is declared.
#[tokio::test]
async fn unhashed_bodies_are_bounded() -> anyhow::Result<()> {
    use crate::config::{Identity, ServerConfig};
    use crate::service::Settings;
    use tower::ServiceExt;

    let dir = tempfile::tempdir()?;
    let app = crate::app(
        AppState::open_local(
            dir.path(),
            Settings::new("us-east-1"),
            ServerConfig::new(vec![Identity {
                access_key_id: "AKIDBODY".into(),
                secret_access_key: "body-secret".into(),
                account_id: "111122223333".into(),
            }]),
        )
        .await?,
    );
    let send = |body: Vec<u8>, chunked: bool| {
        let app = app.clone();
        async move {
            let mut req = HttpRequest::builder()
                .method("POST")
                .uri("http://127.0.0.1/-/vaults/v/jobs")
                .header("host", "127.0.0.1")
                .header("x-amz-glacier-version", "2012-06-01");
            if !chunked {
                req = req.header("content-length", body.len().to_string());
            }
            let stream = futures_util::stream::iter(
                body.chunks(64 * 1024)
                    .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            );
            let mut req = req.body(Body::from_stream(stream))?;
            aws_sign(&mut req, ("AKIDBODY", "body-secret"), "us-east-1", &body)?;
            let resp = app.oneshot(req).await?;
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
            anyhow::Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        }
    };
    let json = br#"{"Type":"inventory-retrieval"}"#.to_vec();
    for chunked in [false, true] {
        // Small: verified (the vault does not exist, so 404 after authentication).
        let (status, body) = send(json.clone(), chunked).await?;
        assert_eq!(status, 404, "{body}");
        let (status, body) = send(vec![b' '; MAX_UNHASHED_BODY + 1], chunked).await?;
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains("MissingParameterValueException")
                && body.contains("x-amz-content-sha256"),
            "{body}"
        );
    }
    Ok(())
}

/// Requests signed by `aws-sigv4` with random paths, queries, headers and bodies verify;
/// any change to what was signed, or the wrong secret, fails.
mod signed_by_aws_sigv4 {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "proptest-secret";

    fn signed_parts(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> Parts {
        let mut req = HttpRequest::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut req = req.body(()).unwrap();
        aws_sign(&mut req, ("AKIDPROP", SECRET), "eu-west-1", body).unwrap();
        req.into_parts().0
    }

    fn check(parts: &Parts, secret: &str, body: &[u8]) -> Result<(), ApiError> {
        let signed = signature_of(parts)?;
        check_signature(parts, &signed, secret, &[hex::encode(Sha256::digest(body))])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn verify_and_mutations_fail(
            method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE"]),
            segments in prop::collection::vec("([A-Za-z0-9_~-]|%[0-9A-F]{2}){1,6}", 1..4),
            query in prop::collection::vec(("[A-Za-z0-9_-]{1,6}", "[ -~]{0,8}"), 0..4),
            extra in prop::collection::vec(("x-amz-meta-[a-z]{1,6}", "[!-~]([ -~]{0,10}[!-~])?"), 0..3),
            body in prop::collection::vec(any::<u8>(), 0..64),
            mutation in 0usize..7,
        ) {
            let enc = |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
            let path = format!("/{}", segments.join("/"));
            let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
            let query = query.join("&");
            let url = if query.is_empty() {
                format!("http://127.0.0.1:9000{path}")
            } else {
                format!("http://127.0.0.1:9000{path}?{query}")
            };
            let mut headers = vec![("host".to_string(), "127.0.0.1:9000".to_string())];
            headers.extend(extra.iter().cloned());
            let parts = signed_parts(method, &url, &headers, &body);
            prop_assert_eq!(check(&parts, SECRET, &body), Ok(()));

            let mut bad = parts.clone();
            let mut bad_body = body.clone();
            let mut secret = SECRET;
            match mutation {
                0 => bad.method = if method == "GET" { http::Method::HEAD } else { http::Method::GET },
                1 => bad.uri = url.replacen(&format!(":9000{path}"), &format!(":9000{path}x"), 1).parse().unwrap(),
                2 => bad.uri = format!("{url}{}z=1", if query.is_empty() { "?" } else { "&" }).parse().unwrap(),
                3 => { bad.headers.insert("host", http::HeaderValue::from_static("127.0.0.1:9001")); }
                4 => { bad.headers.insert("x-amz-date", http::HeaderValue::from_static("20200101T000000Z")); }
                5 => bad_body.push(b'!'),
                _ => secret = "another-secret",
            }
            let err = check(&bad, secret, &bad_body).unwrap_err();
            prop_assert!(
                matches!(err.code, ErrorCode::InvalidSignatureException | ErrorCode::IncompleteSignatureException),
                "{:?}", err
            );
        }
    }
}
