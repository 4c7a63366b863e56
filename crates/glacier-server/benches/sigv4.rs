//! SigV4 verification of a typical Glacier request (DescribeVault as boto3 signs it): the
//! canonical request, the string to sign, the signing key (derived per request, as the server
//! does) and the constant-time comparison.

use criterion::{Criterion, criterion_group, criterion_main};
use glacier_server::sigv4::{
    Scope, Signed, Whitespace, canonical_request, signing_key, string_to_sign, verify,
};
use http::{HeaderMap, HeaderValue};
use std::hint::black_box;

fn verification(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:9090"),
        ("x-amz-date", "20261203T120000Z"),
        ("x-amz-glacier-version", "2012-06-01"),
        (
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let signed_headers: Vec<String> = [
        "host",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-glacier-version",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let scope = Scope {
        date: "20261203".into(),
        region: "us-east-1".into(),
        service: "glacier".into(),
    };
    let request = Signed {
        method: "GET",
        path: "/-/vaults/photos",
        query: "",
        headers: &headers,
        signed_headers: &signed_headers,
        payload_hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        whitespace: Whitespace::Spaces,
    };
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let signature = "0".repeat(64);
    c.bench_function("SigV4 verify (DescribeVault)", |b| {
        b.iter(|| {
            let canonical = canonical_request(black_box(&request));
            let to_sign = string_to_sign("20261203T120000Z", &scope, &canonical);
            let key = signing_key(black_box(secret), &scope);
            verify(&key, &to_sign, black_box(&signature))
        })
    });
}

criterion_group!(benches, verification);
criterion_main!(benches);
