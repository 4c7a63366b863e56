//! A table of hostile requests against the real `glacier serve`, each checked for its status
//! and Glacier error code, and for changing nothing: after every case the vaults, archives,
//! uploads, parts, jobs, tags, policies and the files of the data directory are exactly as
//! before. The table is built from families (every id position × malformed ids, every list ×
//! absurd `limit`/`marker`, every JSON operation × malformed bodies, every operation signed by
//! another account, ranges, descriptions, signatures, HTTP framing); `RELIABILITY.md` counts it.

mod common;
#[allow(dead_code)] // Races are for hostile.rs.
#[path = "common/raw.rs"]
mod raw;

use conformance_aws_sdk::{
    ACCESS_KEY, ACCOUNT, OTHER_ACCESS_KEY, OTHER_ACCOUNT, OTHER_SECRET_KEY, SECRET_KEY,
};
use glacier_core::TreeHash;
use raw::{Req, Resp, addr_of, send, send_bytes};
use std::net::SocketAddr;
use std::path::Path;

/// What a case sends.
enum Wire {
    /// Signed by the conformance identity for its own target.
    Signed(Req),
    /// Signed by the other account's identity.
    Other(Req),
    /// Signed by the conformance identity, then given these headers.
    SignedThen(Req, Vec<(String, String)>),
    /// Bytes as they are.
    Raw(Vec<u8>),
}

struct Case {
    name: String,
    wire: Wire,
    status: u16,
    code: &'static str,
}

fn case(name: impl Into<String>, wire: Wire, status: u16, code: &'static str) -> Case {
    Case {
        name: name.into(),
        wire,
        status,
        code,
    }
}

const INVALID: &str = "InvalidParameterValueException";
const NOT_FOUND: &str = "ResourceNotFoundException";
const MISSING: &str = "MissingParameterValueException";
const DENIED: &str = "AccessDeniedException";
const SIGNATURE: &str = "InvalidSignatureException";

/// Ids no resource has, each malformed in its own way: dot segments written out and encoded,
/// an encoded slash, NUL, non-ASCII, invalid UTF-8, a space, a glob, and 300 characters.
fn bad_ids() -> Vec<(&'static str, String)> {
    vec![
        ("dot-dot", "..".into()),
        ("dot", ".".into()),
        ("encoded dot-dot", "%2e%2e".into()),
        ("encoded slash", "a%2Fb".into()),
        ("NUL", "a%00b".into()),
        ("non-ASCII", "%C3%A9t%C3%A9".into()),
        ("invalid UTF-8", "%FF%FE".into()),
        ("space", "a%20b".into()),
        ("glob", "*".into()),
        ("300 characters", "a".repeat(300)),
    ]
}

/// The resources the cases aim at.
struct Fixture {
    archive: String,
    upload: String,
    job: String,
}

fn build_cases(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    let v = "/-/vaults/v";

    // Every vault-name position: an invalid name is refused as invalid before anything is
    // looked up or created.
    for (what, id) in bad_ids() {
        for (method, suffix, body) in [
            ("GET", "", ""),
            ("PUT", "", ""),
            ("DELETE", "", ""),
            ("GET", "/jobs", ""),
            ("GET", "/multipart-uploads", ""),
            ("GET", "/tags", ""),
            ("PUT", "/access-policy", r#"{"Policy":"{}"}"#),
            ("POST", "/archives", "x"),
        ] {
            let target = format!("/-/vaults/{id}{suffix}");
            let mut req = Req::new(method, &target).body(body);
            if suffix == "/archives" {
                req = req.header("x-amz-sha256-tree-hash", &TreeHash::of(b"x").to_hex());
            }
            cases.push(case(
                format!("vault name {what}: {method} {suffix}"),
                Wire::Signed(req),
                400,
                INVALID,
            ));
        }
    }

    // Archive, upload and job ids: dot segments and invalid UTF-8 are refused as an invalid
    // path; any other id names nothing.
    for (what, id) in bad_ids() {
        let (status, code) = match what {
            "dot-dot" | "dot" | "encoded dot-dot" | "invalid UTF-8" => (400, INVALID),
            _ => (404, NOT_FOUND),
        };
        for (method, target) in [
            ("DELETE", format!("{v}/archives/{id}")),
            ("GET", format!("{v}/multipart-uploads/{id}")),
            ("DELETE", format!("{v}/multipart-uploads/{id}")),
            ("GET", format!("{v}/jobs/{id}")),
            ("GET", format!("{v}/jobs/{id}/output")),
        ] {
            cases.push(case(
                format!("id {what}: {method} {}", target.replace(&id, "{id}")),
                Wire::Signed(Req::new(method, &target)),
                status,
                code,
            ));
        }
    }

    // Absurd limits and markers on every list.
    let lists = [
        ("ListVaults", "/-/vaults".to_owned()),
        ("ListJobs", format!("{v}/jobs")),
        ("ListMultipartUploads", format!("{v}/multipart-uploads")),
        ("ListParts", format!("{v}/multipart-uploads/{}", f.upload)),
    ];
    for (op, target) in &lists {
        for limit in ["0", "-1", "1001", "99999999999999999999", "abc", "1.5", ""] {
            cases.push(case(
                format!("{op} limit={limit:?}"),
                Wire::Signed(Req::new("GET", &format!("{target}?limit={limit}"))),
                400,
                INVALID,
            ));
        }
        for (what, marker) in [
            ("garbage", "garbage".to_owned()),
            ("NUL", "%00".to_owned()),
            ("2000 characters", "m".repeat(2000)),
        ] {
            cases.push(case(
                format!("{op} marker {what}"),
                Wire::Signed(Req::new("GET", &format!("{target}?marker={marker}"))),
                400,
                INVALID,
            ));
        }
    }

    // Malformed JSON bodies on every operation that takes one.
    let deep = "[".repeat(100_000);
    let huge = format!("{{\"Type\":\"{}\"}}", "x".repeat(2 << 20));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("truncated", b"{".to_vec()),
        ("an array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("a string", b"\"s\"".to_vec()),
        ("trailing garbage", b"{}x".to_vec()),
        (
            "wrong types",
            br#"{"Type":1,"Policy":2,"Tags":3,"TagKeys":4,"Events":5,"SNSTopic":6}"#.to_vec(),
        ),
        ("nested 100,000 deep", deep.into_bytes()),
        ("2 MiB", huge.into_bytes()),
        ("invalid UTF-8", b"\xff\xfe".to_vec()),
    ];
    for (op, method, target) in [
        ("InitiateJob", "POST", format!("{v}/jobs")),
        (
            "SetVaultNotifications",
            "PUT",
            format!("{v}/notification-configuration"),
        ),
        ("SetVaultAccessPolicy", "PUT", format!("{v}/access-policy")),
        ("InitiateVaultLock", "POST", format!("{v}/lock-policy")),
        ("AddTagsToVault", "POST", format!("{v}/tags?operation=add")),
        (
            "RemoveTagsFromVault",
            "POST",
            format!("{v}/tags?operation=remove"),
        ),
        (
            "SetDataRetrievalPolicy",
            "PUT",
            "/-/policies/data-retrieval".to_owned(),
        ),
    ] {
        for (what, body) in &bodies {
            cases.push(case(
                format!("{op} body {what}"),
                Wire::Signed(Req::new(method, &target).body(body.clone())),
                400,
                INVALID,
            ));
        }
    }

    // Every operation of the API, signed by another account, on this account's resources: with
    // no policy granting it anything, a vault of another account is not found, as one that
    // does not exist (COMPATIBILITY.md); account-level operations are denied.
    let u = &f.upload;
    let a = &f.archive;
    let j = &f.job;
    let p = format!("/{ACCOUNT}/vaults/v");
    let tree = TreeHash::of(b"x").to_hex();
    for (op, method, target, body) in [
        (
            "AbortMultipartUpload",
            "DELETE",
            format!("{p}/multipart-uploads/{u}"),
            "",
        ),
        ("AbortVaultLock", "DELETE", format!("{p}/lock-policy"), ""),
        (
            "AddTagsToVault",
            "POST",
            format!("{p}/tags?operation=add"),
            r#"{"Tags":{"a":"b"}}"#,
        ),
        (
            "CompleteMultipartUpload",
            "POST",
            format!("{p}/multipart-uploads/{u}"),
            "",
        ),
        (
            "CompleteVaultLock",
            "POST",
            format!("{p}/lock-policy/x"),
            "",
        ),
        ("CreateVault", "PUT", format!("/{ACCOUNT}/vaults/new"), ""),
        ("DeleteArchive", "DELETE", format!("{p}/archives/{a}"), ""),
        ("DeleteVault", "DELETE", p.clone(), ""),
        (
            "DeleteVaultAccessPolicy",
            "DELETE",
            format!("{p}/access-policy"),
            "",
        ),
        (
            "DeleteVaultNotifications",
            "DELETE",
            format!("{p}/notification-configuration"),
            "",
        ),
        ("DescribeJob", "GET", format!("{p}/jobs/{j}"), ""),
        ("DescribeVault", "GET", p.clone(), ""),
        (
            "GetDataRetrievalPolicy",
            "GET",
            format!("/{ACCOUNT}/policies/data-retrieval"),
            "",
        ),
        ("GetJobOutput", "GET", format!("{p}/jobs/{j}/output"), ""),
        (
            "GetVaultAccessPolicy",
            "GET",
            format!("{p}/access-policy"),
            "",
        ),
        ("GetVaultLock", "GET", format!("{p}/lock-policy"), ""),
        (
            "GetVaultNotifications",
            "GET",
            format!("{p}/notification-configuration"),
            "",
        ),
        (
            "InitiateJob",
            "POST",
            format!("{p}/jobs"),
            r#"{"Type":"inventory-retrieval"}"#,
        ),
        (
            "InitiateMultipartUpload",
            "POST",
            format!("{p}/multipart-uploads"),
            "",
        ),
        (
            "InitiateVaultLock",
            "POST",
            format!("{p}/lock-policy"),
            r#"{"Policy":"{}"}"#,
        ),
        ("ListJobs", "GET", format!("{p}/jobs"), ""),
        (
            "ListMultipartUploads",
            "GET",
            format!("{p}/multipart-uploads"),
            "",
        ),
        ("ListParts", "GET", format!("{p}/multipart-uploads/{u}"), ""),
        (
            "ListProvisionedCapacity",
            "GET",
            format!("/{ACCOUNT}/provisioned-capacity"),
            "",
        ),
        ("ListTagsForVault", "GET", format!("{p}/tags"), ""),
        ("ListVaults", "GET", format!("/{ACCOUNT}/vaults"), ""),
        (
            "PurchaseProvisionedCapacity",
            "POST",
            format!("/{ACCOUNT}/provisioned-capacity"),
            "",
        ),
        (
            "RemoveTagsFromVault",
            "POST",
            format!("{p}/tags?operation=remove"),
            r#"{"TagKeys":["a"]}"#,
        ),
        (
            "SetDataRetrievalPolicy",
            "PUT",
            format!("/{ACCOUNT}/policies/data-retrieval"),
            r#"{"Policy":{"Rules":[{"Strategy":"None"}]}}"#,
        ),
        (
            "SetVaultAccessPolicy",
            "PUT",
            format!("{p}/access-policy"),
            r#"{"Policy":"{}"}"#,
        ),
        (
            "SetVaultNotifications",
            "PUT",
            format!("{p}/notification-configuration"),
            r#"{"SNSTopic":"arn:aws:sns:us-east-1:777788889999:t","Events":["ArchiveRetrievalCompleted"]}"#,
        ),
        ("UploadArchive", "POST", format!("{p}/archives"), "x"),
        (
            "UploadMultipartPart",
            "PUT",
            format!("{p}/multipart-uploads/{u}"),
            "x",
        ),
    ] {
        let mut req = Req::new(method, &target).body(body);
        if op == "UploadArchive" || op == "UploadMultipartPart" {
            req = req.header("x-amz-sha256-tree-hash", &tree);
        }
        if op == "UploadMultipartPart" {
            req = req.header("content-range", "bytes 0-0/*");
        }
        if op == "CompleteMultipartUpload" {
            req = req
                .header("x-amz-archive-size", "3")
                .header("x-amz-sha256-tree-hash", &tree);
        }
        let (status, code) = if target.contains("/vaults/") && op != "CreateVault" {
            (404, NOT_FOUND)
        } else {
            (403, DENIED)
        };
        cases.push(case(
            format!("cross-account {op}"),
            Wire::Other(req),
            status,
            code,
        ));
    }

    // Ranges.
    for range in [
        "bytes -1-5/*",
        "bytes 5-1/*",
        "bytes 0-18446744073709551615/*",
        "bytes 18446744073709551615-0/*",
        "bytes 0-0/0",
        "garbage",
        "bytes 1048577-1048577/*",
        "bytes 3-3/*",
    ] {
        cases.push(case(
            format!("UploadMultipartPart Content-Range {range:?}"),
            Wire::Signed(
                Req::new("PUT", &format!("{v}/multipart-uploads/{}", f.upload))
                    .header("content-range", range)
                    .header("x-amz-sha256-tree-hash", &tree)
                    .body("x"),
            ),
            400,
            INVALID,
        ));
    }
    for range in [
        "bytes=5-1",
        "bytes=0-99999999999999999999",
        "bytes=a-b",
        "items=0-1",
        "bytes=0-1,3-4",
        "bytes=100-200",
    ] {
        cases.push(case(
            format!("GetJobOutput Range {range:?}"),
            Wire::Signed(
                Req::new("GET", &format!("{v}/jobs/{}/output", f.job)).header("range", range),
            ),
            400,
            INVALID,
        ));
    }

    // Descriptions and sizes. A header aws-sigv4 refuses to sign (a control character) is
    // added after signing: the signature holds for the rest.
    for (what, description) in [
        ("a control character", "a\u{1}b".to_owned()),
        ("1,025 characters", "d".repeat(1025)),
        ("a tab", "a\tb".to_owned()),
        ("non-ASCII", "\u{e9}t\u{e9}".to_owned()),
    ] {
        for (op, target) in [
            ("UploadArchive", format!("{v}/archives")),
            ("InitiateMultipartUpload", format!("{v}/multipart-uploads")),
        ] {
            let mut req = Req::new("POST", &target);
            if op == "UploadArchive" {
                req = req.header("x-amz-sha256-tree-hash", &tree).body("x");
            } else {
                req = req.header("x-amz-part-size", "1048576");
            }
            cases.push(case(
                format!("{op} description with {what}"),
                Wire::SignedThen(
                    req,
                    vec![("x-amz-archive-description".into(), description.clone())],
                ),
                400,
                INVALID,
            ));
        }
    }
    for size in ["0", "3145728", "8589934592", "-1048576", "abc"] {
        cases.push(case(
            format!("InitiateMultipartUpload part size {size}"),
            Wire::Signed(
                Req::new("POST", &format!("{v}/multipart-uploads")).header("x-amz-part-size", size),
            ),
            400,
            INVALID,
        ));
    }
    cases.push(case(
        "InitiateMultipartUpload without a part size",
        Wire::Signed(Req::new("POST", &format!("{v}/multipart-uploads"))),
        400,
        MISSING,
    ));
    cases.push(case(
        "UploadArchive without a tree hash",
        Wire::Signed(Req::new("POST", &format!("{v}/archives")).body("x")),
        400,
        MISSING,
    ));
    cases.push(case(
        "UploadArchive with a wrong tree hash",
        Wire::Signed(
            Req::new("POST", &format!("{v}/archives"))
                .header("x-amz-sha256-tree-hash", &TreeHash::of(b"y").to_hex())
                .body("x"),
        ),
        400,
        INVALID,
    ));
    cases.push(case(
        "UploadArchive of no bytes",
        Wire::Signed(
            Req::new("POST", &format!("{v}/archives"))
                .header("x-amz-sha256-tree-hash", &TreeHash::of(b"").to_hex()),
        ),
        400,
        INVALID,
    ));

    cases
}

/// Requests whose signature or framing is wrong; they need the server's address.
fn wire_cases(addr: SocketAddr) -> Vec<Case> {
    let mut cases = Vec::new();
    let good = Req::new("GET", "/-/vaults/v").signed(addr);
    let mut altered = good.clone();
    for (k, val) in &mut altered.headers {
        if k.eq_ignore_ascii_case("authorization") {
            let last = val.pop().unwrap_or('0');
            val.push(if last == '0' { '1' } else { '0' });
        }
    }
    cases.push(case(
        "an altered signature",
        Wire::Raw(altered.to_bytes()),
        403,
        SIGNATURE,
    ));
    let mut replayed = good.clone();
    replayed.method = "DELETE".into();
    cases.push(case(
        "a signature replayed on another method",
        Wire::Raw(replayed.to_bytes()),
        403,
        SIGNATURE,
    ));
    let mut moved = good.clone();
    moved.target = "/-/vaults/v/tags".into();
    cases.push(case(
        "a signature replayed on another path",
        Wire::Raw(moved.to_bytes()),
        403,
        SIGNATURE,
    ));
    let old = Req::new("GET", "/-/vaults/v").header("x-amz-date", "20200101T000000Z");
    cases.push(case(
        "a request signed six years ago",
        Wire::Raw(
            old.signed(addr)
                .without("x-amz-date")
                .header("x-amz-date", "20200101T000000Z")
                .to_bytes(),
        ),
        403,
        SIGNATURE,
    ));
    cases.push(case(
        "the wrong secret",
        Wire::Raw(
            Req::new("GET", "/-/vaults/v")
                .signed_as(addr, "/-/vaults/v", "not-the-secret", None)
                .to_bytes(),
        ),
        403,
        SIGNATURE,
    ));
    cases.push(case(
        "an unknown access key",
        Wire::Raw(
            Req::new("GET", "/-/vaults/v")
                .signed_by(
                    addr,
                    "/-/vaults/v",
                    "AKIDUNKNOWN000000000",
                    SECRET_KEY,
                    None,
                )
                .to_bytes(),
        ),
        403,
        "UnrecognizedClientException",
    ));
    cases.push(case(
        "no signature at all",
        Wire::Raw(Req::new("DELETE", "/-/vaults/v").to_bytes()),
        403,
        "MissingAuthenticationTokenException",
    ));
    // Request smuggling: a first request framed both ways, whose chunked body ends early and
    // whose Content-Length covers a second, signed request that deletes vault "victim". A
    // front end going by Content-Length sees one request; a server going by the chunked
    // framing that kept the connection open would run the second. The server answers the
    // first by its chunked framing and closes the connection: the state check shows that the
    // victim is still there.
    let victim = Req::new("DELETE", "/-/vaults/victim")
        .signed(addr)
        .to_bytes();
    let smuggle = |framing: &str| -> Vec<u8> {
        let mut body = b"0\r\n\r\n".to_vec();
        body.extend_from_slice(&victim);
        let mut out = format!(
            "PUT /-/vaults/v/tags HTTP/1.1\r\nhost: {addr}\r\n{framing}content-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    };
    cases.push(case(
        "Transfer-Encoding and Content-Length together",
        Wire::Raw(smuggle("transfer-encoding: chunked\r\n")),
        403,
        "MissingAuthenticationTokenException",
    ));
    cases.push(case(
        "a Transfer-Encoding other than chunked, with a Content-Length",
        Wire::Raw(smuggle("transfer-encoding: gzip, chunked\r\n")),
        400,
        INVALID,
    ));
    let signed_smuggle = {
        let mut first = Req::new("GET", "/-/vaults/v").signed(addr);
        let mut body = b"0\r\n\r\n".to_vec();
        body.extend_from_slice(&victim);
        first
            .headers
            .push(("transfer-encoding".into(), "chunked".into()));
        first
            .headers
            .push(("content-length".into(), body.len().to_string()));
        let mut out = first.head(false);
        out.extend_from_slice(&body);
        out
    };
    cases.push(case(
        "a signed request framed both ways",
        Wire::Raw(signed_smuggle),
        200,
        "",
    ));
    cases.push(case(
        "a Transfer-Encoding other than chunked",
        Wire::Raw(
            format!("PUT /-/vaults/v/tags HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
                .into_bytes(),
        ),
        400,
        INVALID,
    ));
    cases.push(case(
        "a negative Content-Length",
        Wire::Raw(
            format!("PUT /-/vaults/x HTTP/1.1\r\nhost: {addr}\r\ncontent-length: -1\r\n\r\n")
                .into_bytes(),
        ),
        400,
        INVALID,
    ));
    let flood: String = (0..500)
        .map(|i| format!("x-flood-{i}: {}\r\n", "v".repeat(100)))
        .collect();
    cases.push(case(
        "a header flood",
        Wire::Raw(format!("GET /-/vaults HTTP/1.1\r\nhost: {addr}\r\n{flood}\r\n").into_bytes()),
        431,
        INVALID,
    ));
    cases.push(case(
        "a 300 KiB header",
        Wire::Raw(
            format!(
                "GET /-/vaults HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nx-big: {}\r\n\r\n",
                "b".repeat(300 << 10)
            )
            .into_bytes(),
        ),
        // Past the 64 KiB a connection's read buffer grows to (a head that large is no
        // Glacier request).
        431,
        INVALID,
    ));
    cases.push(case(
        "a body shorter than its Content-Length",
        Wire::Raw({
            let mut r = Req::new("PUT", "/-/vaults/v/tags")
                .body(r#"{"Tags":{"a":"b"}}"#)
                .signed(addr);
            r.headers.push(("content-length".into(), "100".into()));
            let mut bytes = r.head(false);
            bytes.extend_from_slice(br#"{"Tags":{"a":"b"}}"#);
            bytes
        }),
        408,
        "RequestTimeoutException",
    ));
    cases
}

/// Everything a case could change, as text: what each read operation answers, and the files
/// of the data directory.
async fn state(addr: SocketAddr, data_dir: &Path, f: &Fixture) -> String {
    let mut out = String::new();
    for target in [
        "/-/vaults".to_owned(),
        "/-/vaults/v".to_owned(),
        "/-/vaults/v/multipart-uploads".to_owned(),
        format!("/-/vaults/v/multipart-uploads/{}", f.upload),
        "/-/vaults/v/jobs".to_owned(),
        "/-/vaults/v/tags".to_owned(),
        "/-/vaults/v/access-policy".to_owned(),
        "/-/vaults/v/notification-configuration".to_owned(),
        "/-/vaults/v/lock-policy".to_owned(),
        "/-/policies/data-retrieval".to_owned(),
        "/-/provisioned-capacity".to_owned(),
    ] {
        let r = send(addr, &Req::new("GET", &target).signed(addr)).await;
        out.push_str(&format!("{target} {} {}\n", r.status, r.body));
    }
    let r = send(
        addr,
        &Req::new("GET", "/-/vaults").signed_by(
            addr,
            "/-/vaults",
            OTHER_ACCESS_KEY,
            OTHER_SECRET_KEY,
            None,
        ),
    )
    .await;
    out.push_str(&format!("other account's vaults {} {}\n", r.status, r.body));
    for dir in ["blobs", "tmp"] {
        let mut files = Vec::new();
        let mut stack = vec![data_dir.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    files.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        files.sort();
        out.push_str(&format!("{dir}: {files:?}\n"));
    }
    out
}

async fn ok(addr: SocketAddr, req: Req, status: u16) -> anyhow::Result<Resp> {
    let r = send(addr, &req.signed(addr)).await;
    anyhow::ensure!(r.status == status, "set-up request: {r:?}");
    Ok(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_their_error_and_change_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let identities = dir.path().join("identities.toml");
    std::fs::write(
        &identities,
        format!(
            "[[identity]]\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\naccount_id = \"{ACCOUNT}\"\n\n[[identity]]\naccess_key_id = \"{OTHER_ACCESS_KEY}\"\nsecret_access_key = \"{OTHER_SECRET_KEY}\"\naccount_id = \"{OTHER_ACCOUNT}\"\n"
        ),
    )?;
    let data_dir = dir.path().join("data");
    let creds = identities.display().to_string();
    let (child, endpoint) = common::start(&data_dir, &["--credentials", &creds])?;
    let _server = common::KillOnDrop(child);
    let addr = addr_of(&endpoint);

    ok(addr, Req::new("PUT", "/-/vaults/v"), 201).await?;
    ok(addr, Req::new("PUT", "/-/vaults/victim"), 201).await?;
    let body = b"the archive".to_vec();
    let r = ok(
        addr,
        Req::new("POST", "/-/vaults/v/archives")
            .header("x-amz-sha256-tree-hash", &TreeHash::of(&body).to_hex())
            .body(body),
        201,
    )
    .await?;
    let archive = r.header("x-amz-archive-id").unwrap_or_default().to_owned();
    let r = ok(
        addr,
        Req::new("POST", "/-/vaults/v/multipart-uploads").header("x-amz-part-size", "1048576"),
        201,
    )
    .await?;
    let upload = r
        .header("x-amz-multipart-upload-id")
        .unwrap_or_default()
        .to_owned();
    ok(
        addr,
        Req::new("PUT", &format!("/-/vaults/v/multipart-uploads/{upload}"))
            .header("content-range", "bytes 0-2/*")
            .header("x-amz-sha256-tree-hash", &TreeHash::of(b"abc").to_hex())
            .body("abc"),
        204,
    )
    .await?;
    let job = serde_json::json!({"Type": "archive-retrieval", "ArchiveId": archive}).to_string();
    let r = ok(addr, Req::new("POST", "/-/vaults/v/jobs").body(job), 202).await?;
    let job = r.header("x-amz-job-id").unwrap_or_default().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let d = ok(
            addr,
            Req::new("GET", &format!("/-/vaults/v/jobs/{job}")),
            200,
        )
        .await?;
        if d.body.contains("\"Completed\":true") {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the job did not complete"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let f = Fixture {
        archive,
        upload,
        job,
    };

    let mut cases = build_cases(&f);
    cases.extend(wire_cases(addr));
    let mut before = state(addr, &data_dir, &f).await;
    let mut failures = Vec::new();
    let total = cases.len();
    for c in cases {
        let r = match c.wire {
            Wire::Signed(req) => send(addr, &req.signed(addr)).await,
            Wire::Other(req) => {
                let target = req.target.clone();
                send(
                    addr,
                    &req.signed_by(addr, &target, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, None),
                )
                .await
            }
            Wire::SignedThen(req, extra) => {
                let mut req = req.signed(addr);
                req.headers.extend(extra);
                send(addr, &req).await
            }
            Wire::Raw(bytes) => send_bytes(addr, &bytes).await,
        };
        let got = (r.status, r.code().unwrap_or_default());
        if got != (c.status, c.code.to_owned()) {
            failures.push(format!(
                "{}: expected {} {}, got {} {} {}",
                c.name, c.status, c.code, got.0, got.1, r.body
            ));
        }
        let after = state(addr, &data_dir, &f).await;
        if after != before {
            failures.push(format!(
                "{}: changed the state:\n{after}\nwas:\n{before}",
                c.name
            ));
            before = after;
        }
    }
    eprintln!("{total} hostile cases, {} failures", failures.len());
    assert!(total >= 150, "{total} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
