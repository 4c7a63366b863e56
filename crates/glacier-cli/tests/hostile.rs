//! Hostile input against the real `glacier serve`, over real sockets: racing Vault Lock
//! transitions, paths and queries other than the ones signed, bodies that do not match their
//! signed hash, overflowing ranges, stalled and abusive connections. Each test is the
//! regression test of a defect a hostile-input run found.

mod common;
#[path = "common/raw.rs"]
mod raw;

use conformance_aws_sdk::{ACCOUNT, SECRET_KEY};
use raw::{Req, Resp, addr_of, race, send};
use std::net::SocketAddr;
use std::process::Child;

/// The server process, killed when the test ends (or fails).
struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let (child, endpoint) = common::start(&dir.path().join("data"), extra)?;
    Ok(Server {
        child,
        addr: addr_of(&endpoint),
        _dir: dir,
    })
}

impl Server {
    /// Stops the server (kill -9) and starts it again on the same data directory.
    fn restart(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        let (child, endpoint) = common::start(&self._dir.path().join("data"), extra)?;
        self.child = child;
        self.addr = addr_of(&endpoint);
        Ok(())
    }

    async fn send(&self, req: Req) -> Resp {
        send(self.addr, &req.signed(self.addr)).await
    }

    async fn create_vault(&self, name: &str) {
        let r = self
            .send(Req::new("PUT", &format!("/-/vaults/{name}")))
            .await;
        assert_eq!(r.status, 201, "create {name}: {r:?}");
    }

    /// Initiates a lock that denies deleting archives younger than a year; its lock id.
    async fn initiate_lock(&self, vault: &str) -> Resp {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "worm",
                "Principal": "*",
                "Effect": "Deny",
                "Action": "glacier:DeleteArchive",
                "Resource": format!("arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/{vault}"),
                "Condition": {"NumericLessThan": {"glacier:ArchiveAgeInDays": "365"}}
            }]
        });
        let body = serde_json::json!({ "Policy": policy.to_string() }).to_string();
        self.send(Req::new("POST", &format!("/-/vaults/{vault}/lock-policy")).body(body))
            .await
    }

    async fn lock_state(&self, vault: &str) -> Option<(String, String)> {
        let r = self
            .send(Req::new("GET", &format!("/-/vaults/{vault}/lock-policy")))
            .await;
        if r.status == 404 {
            return None;
        }
        assert_eq!(r.status, 200, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        Some((
            v["State"].as_str()?.to_owned(),
            v["Policy"].as_str()?.to_owned(),
        ))
    }
}

fn signed(addr: SocketAddr, method: &str, target: &str) -> Req {
    Req::new(method, target).signed(addr)
}

/// CompleteVaultLock and AbortVaultLock released at the same instant: exactly one wins. After
/// a 204 from complete the vault is Locked and the abort was refused; after a 204 from abort
/// there is no lock and the complete was refused. (Before the fix both answered 204 in about
/// one round in five, sometimes leaving no lock.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_and_abort_race_has_one_winner() -> anyhow::Result<()> {
    let s = serve(&[])?;
    let (mut completed, mut aborted) = (0, 0);
    for round in 0..200 {
        let vault = format!("race-ca-{round}");
        s.create_vault(&vault).await;
        let r = s.initiate_lock(&vault).await;
        assert_eq!(r.status, 201, "{r:?}");
        let lock_id = r.header("x-amz-lock-id").unwrap_or_default().to_owned();
        let out = race(&[
            (
                s.addr,
                signed(
                    s.addr,
                    "POST",
                    &format!("/-/vaults/{vault}/lock-policy/{lock_id}"),
                ),
            ),
            (
                s.addr,
                signed(s.addr, "DELETE", &format!("/-/vaults/{vault}/lock-policy")),
            ),
        ])
        .await;
        let (complete, abort) = (&out[0], &out[1]);
        let state = s.lock_state(&vault).await;
        match (complete.status, abort.status) {
            (204, 403) => {
                assert_eq!(abort.code().as_deref(), Some("AccessDeniedException"));
                assert_eq!(
                    state.map(|s| s.0).as_deref(),
                    Some("Locked"),
                    "round {round}"
                );
                completed += 1;
            }
            (400, 204) => {
                assert_eq!(
                    complete.code().as_deref(),
                    Some("InvalidParameterValueException"),
                    "{complete:?}"
                );
                assert_eq!(state, None, "round {round}: aborted, so no lock");
                aborted += 1;
            }
            other => panic!(
                "round {round}: complete and abort answered {other:?}: {complete:?} {abort:?}; lock now {state:?}"
            ),
        }
    }
    eprintln!("complete won {completed} rounds, abort {aborted}");
    Ok(())
}

/// Two InitiateVaultLock calls released together: at most one 201; the lock is the winner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_initiations_have_one_winner() -> anyhow::Result<()> {
    let s = serve(&[])?;
    for round in 0..200 {
        let vault = format!("race-ii-{round}");
        s.create_vault(&vault).await;
        let policy = |sid: &str| common::deny_deletes_lock_body(&vault, sid);
        let target = format!("/-/vaults/{vault}/lock-policy");
        let reqs = [
            (
                s.addr,
                Req::new("POST", &target).body(policy("a")).signed(s.addr),
            ),
            (
                s.addr,
                Req::new("POST", &target).body(policy("b")).signed(s.addr),
            ),
        ];
        let out = race(&reqs).await;
        let winners: Vec<usize> = (0..2).filter(|i| out[*i].status == 201).collect();
        assert_eq!(winners.len(), 1, "round {round}: {out:?}");
        let loser = &out[1 - winners[0]];
        assert_eq!(loser.status, 403, "round {round}: {loser:?}");
        let (state, policy_now) = s.lock_state(&vault).await.unwrap_or_default();
        assert_eq!(state, "InProgress");
        let sid = ["a", "b"][winners[0]];
        assert!(
            policy_now.contains(&format!("\"Sid\":\"{sid}\"")),
            "round {round}: the lock is the winner's: {policy_now}"
        );
    }
    Ok(())
}

/// A Locked vault stays protected whatever region the server is started with later: its ARN,
/// which the lock policy names, is fixed when the vault is created. (Before the fix a restart
/// with another `--region` rebuilt the ARN, the Deny no longer matched, and a young archive
/// could be deleted.)
#[tokio::test]
async fn a_lock_survives_a_restart_under_another_region() -> anyhow::Result<()> {
    let mut s = serve(&[])?;
    s.create_vault("worm").await;
    let body = b"an archive that must stay".to_vec();
    let tree = glacier_core::TreeHash::of(&body).to_hex();
    let r = s
        .send(
            Req::new("POST", "/-/vaults/worm/archives")
                .header("x-amz-sha256-tree-hash", &tree)
                .body(body),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let archive = r.header("x-amz-archive-id").unwrap_or_default().to_owned();
    let r = s.initiate_lock("worm").await;
    let lock_id = r.header("x-amz-lock-id").unwrap_or_default().to_owned();
    let r = s
        .send(Req::new(
            "POST",
            &format!("/-/vaults/worm/lock-policy/{lock_id}"),
        ))
        .await;
    assert_eq!(r.status, 204, "{r:?}");

    s.restart(&["--region", "eu-west-1"])?;
    let r = s
        .send(Req::new(
            "DELETE",
            &format!("/-/vaults/worm/archives/{archive}"),
        ))
        .await;
    assert_eq!(r.status, 403, "the lock still denies the delete: {r:?}");
    assert_eq!(r.code().as_deref(), Some("AccessDeniedException"));
    let r = s.send(Req::new("GET", "/-/vaults/worm")).await;
    assert!(
        r.body
            .contains(&format!("arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/worm")),
        "the vault keeps its ARN: {}",
        r.body
    );
    s.create_vault("later").await;
    let r = s.send(Req::new("GET", "/-/vaults/later")).await;
    assert!(
        r.body.contains("arn:aws:glacier:eu-west-1:"),
        "a new vault takes the new region: {}",
        r.body
    );
    Ok(())
}

/// A signature covers exactly the path that is routed: a request signed for one path and sent
/// with dot segments (written out or percent-encoded) is refused, and names made only of dots
/// are not vault names. (Before the fix a signature for DeleteVault of vault "access-policy"
/// deleted vault "."'s access policy when sent as `/-/vaults/./access-policy`.)
#[tokio::test]
async fn dot_segments_are_refused() -> anyhow::Result<()> {
    let s = serve(&[])?;
    s.create_vault("access-policy").await;
    for sent in [
        "/-/vaults/./access-policy",
        "/-/vaults/%2E/access-policy",
        "/-/vaults/x/../access-policy",
        "/-/vaults/x/%2e%2e/access-policy",
    ] {
        let r = send(
            s.addr,
            &Req::new("DELETE", sent).signed_as(
                s.addr,
                "/-/vaults/access-policy",
                SECRET_KEY,
                None,
            ),
        )
        .await;
        assert_eq!(r.status, 400, "{sent}: {r:?}");
        assert_eq!(r.code().as_deref(), Some("InvalidParameterValueException"));
        assert!(r.body.contains("segments"), "{}", r.body);
    }
    let r = s.send(Req::new("GET", "/-/vaults/access-policy")).await;
    assert_eq!(r.status, 200, "the vault is still there: {r:?}");
    for name in [".", "..", "...", "%2E", "%2e%2e"] {
        let r = s.send(Req::new("PUT", &format!("/-/vaults/{name}"))).await;
        assert_eq!(r.status, 400, "vault {name}: {r:?}");
        assert_eq!(r.code().as_deref(), Some("InvalidParameterValueException"));
    }
    let r = s.send(Req::new("GET", "/-/vaults")).await;
    assert!(
        !r.body.contains("\"VaultName\":\"."),
        "no dot vault: {}",
        r.body
    );
    Ok(())
}

/// A query is decoded the same way for the signature and for the handler: `+` is a space.
/// (Before the fix a signature over `marker=x%2By` was accepted for `marker=x+y`, which the
/// handler then read as `x y`.)
#[tokio::test]
async fn plus_in_a_query_means_what_it_was_signed_as() -> anyhow::Result<()> {
    let s = serve(&[])?;
    s.create_vault("q").await;
    let target = "/-/vaults/q/multipart-uploads?marker=x+y";
    let forged = send(
        s.addr,
        &Req::new("GET", target).signed_as(
            s.addr,
            "/-/vaults/q/multipart-uploads?marker=x%2By",
            SECRET_KEY,
            None,
        ),
    )
    .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(forged.code().as_deref(), Some("InvalidSignatureException"));
    // aws-sigv4 signs `+` as the space it stands for: that request verifies, and the handler
    // reads the same space (a marker "x y" is no upload id, so it is refused by name).
    let honest = s.send(Req::new("GET", target)).await;
    assert_eq!(honest.status, 400, "{honest:?}");
    assert!(
        honest
            .body
            .contains(r#"\"x y\" is not a multipart upload id"#),
        "{honest:?}"
    );
    Ok(())
}

/// Every body is checked against its signed `x-amz-content-sha256` before anything happens:
/// a JSON body that does not match gets 403 InvalidSignatureException (not a retryable 408),
/// and so does a body sent to an operation that ignores it; nothing changes.
#[tokio::test]
async fn bodies_that_do_not_match_their_signed_hash_change_nothing() -> anyhow::Result<()> {
    let s = serve(&[])?;
    s.create_vault("t").await;
    let policy =
        serde_json::json!({"Policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"}).to_string();
    let json_ops: [(&str, &str, String); 6] = [
        ("PUT", "/-/vaults/t/access-policy", policy.clone()),
        (
            "POST",
            "/-/vaults/t/jobs",
            r#"{"Type":"inventory-retrieval"}"#.into(),
        ),
        (
            "PUT",
            "/-/vaults/t/notification-configuration",
            r#"{"SNSTopic":"http://127.0.0.1:9/x","Events":["ArchiveRetrievalCompleted"]}"#.into(),
        ),
        ("POST", "/-/vaults/t/lock-policy", policy.clone()),
        (
            "PUT",
            "/-/policies/data-retrieval",
            r#"{"Policy":{"Rules":[{"Strategy":"BytesPerHour","BytesPerHour":1}]}}"#.into(),
        ),
        (
            "POST",
            "/-/vaults/t/tags?operation=add",
            r#"{"Tags":{"k":"v"}}"#.into(),
        ),
    ];
    for (method, target, body) in json_ops {
        let mut r = Req::new(method, target).body(body.clone()).signed(s.addr);
        r.body = body.replace('{', "{ ").into_bytes();
        let resp = send(s.addr, &r).await;
        assert_eq!(resp.status, 403, "{method} {target}: {resp:?}");
        assert_eq!(
            resp.code().as_deref(),
            Some("InvalidSignatureException"),
            "{method} {target}"
        );
    }
    for (target, absent) in [
        ("/-/vaults/t/access-policy", 404),
        ("/-/vaults/t/notification-configuration", 404),
        ("/-/vaults/t/lock-policy", 404),
    ] {
        let r = s.send(Req::new("GET", target)).await;
        assert_eq!(r.status, absent, "{target} unchanged: {r:?}");
    }
    let r = s.send(Req::new("GET", "/-/vaults/t/jobs")).await;
    assert!(r.body.contains("\"JobList\":[]"), "no job: {}", r.body);
    let r = s.send(Req::new("GET", "/-/vaults/t/tags")).await;
    assert!(!r.body.contains("\"k\""), "no tag: {}", r.body);
    let r = s.send(Req::new("GET", "/-/policies/data-retrieval")).await;
    assert!(
        !r.body.contains("BytesPerHour\":1"),
        "policy unchanged: {}",
        r.body
    );

    // Operations whose handler never reads the body check it all the same.
    for (method, target) in [
        ("PUT", "/-/vaults/new"),
        ("DELETE", "/-/vaults/t/notification-configuration"),
        ("DELETE", "/-/vaults/t"),
    ] {
        let mut r = Req::new(method, target).body("signed").signed(s.addr);
        r.body = b"sent".to_vec();
        let resp = send(s.addr, &r).await;
        assert_eq!(resp.status, 403, "{method} {target}: {resp:?}");
        assert_eq!(resp.code().as_deref(), Some("InvalidSignatureException"));
    }
    let r = s.send(Req::new("GET", "/-/vaults/new")).await;
    assert_eq!(r.status, 404, "not created: {r:?}");
    let r = s.send(Req::new("GET", "/-/vaults/t")).await;
    assert_eq!(r.status, 200, "not deleted: {r:?}");
    Ok(())
}

/// Uploads may sign their tree hash instead of their payload (`x-amz-content-sha256:
/// UNSIGNED-PAYLOAD`, which every response says the server takes) — only with the tree hash
/// signed: unsigned, a body and its tree hash could be replaced together on the way. A body
/// that does not match the signed tree hash is refused as any checksum mismatch; nothing is
/// stored by a refused upload.
#[tokio::test]
async fn unsigned_payload_uploads_need_a_signed_tree_hash() -> anyhow::Result<()> {
    const UNSIGNED: Option<&str> = Some("UNSIGNED-PAYLOAD");
    let s = serve(&[])?;
    s.create_vault("u").await;
    // Small enough to be written whole before a refusal that reads none of it.
    let body: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    let tree = glacier_core::TreeHash::of(&body).to_hex();
    let archives = "/-/vaults/u/archives";
    let count = || async {
        let r = s.send(Req::new("GET", "/-/vaults/u")).await;
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        v["NumberOfArchives"].as_u64()
    };

    let unsigned_tree = Req::new("POST", archives)
        .body(body.clone())
        .signed_as(s.addr, archives, SECRET_KEY, UNSIGNED)
        .header("x-amz-sha256-tree-hash", &tree);
    let r = send(s.addr, &unsigned_tree).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.code().as_deref(), Some("IncompleteSignatureException"));
    assert!(r.body.contains("x-amz-sha256-tree-hash"), "{}", r.body);

    let mut altered = Req::new("POST", archives)
        .header("x-amz-sha256-tree-hash", &tree)
        .body(body.clone())
        .signed_as(s.addr, archives, SECRET_KEY, UNSIGNED);
    altered.body[150_000] ^= 1;
    let r = send(s.addr, &altered).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.code().as_deref(), Some("InvalidParameterValueException"));
    assert_eq!(count().await, Some(0), "nothing stored");

    let upload =
        Req::new("POST", "/-/vaults/u/multipart-uploads").header("x-amz-part-size", "4194304");
    let r = s.send(upload).await;
    assert_eq!(r.status, 201, "{r:?}");
    let part_target = r.header("location").unwrap_or_default().to_owned();
    let part = Req::new("PUT", &part_target)
        .header("content-range", &format!("bytes 0-{}/*", body.len() - 1))
        .body(body.clone())
        .signed_as(s.addr, &part_target, SECRET_KEY, UNSIGNED)
        .header("x-amz-sha256-tree-hash", &tree);
    let r = send(s.addr, &part).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.code().as_deref(), Some("IncompleteSignatureException"));
    let r = s.send(Req::new("GET", &part_target)).await;
    assert!(
        r.body.contains("\"Parts\":[]"),
        "no part listed: {}",
        r.body
    );

    let signed_tree = Req::new("POST", archives)
        .header("x-amz-sha256-tree-hash", &tree)
        .body(body.clone())
        .signed_as(s.addr, archives, SECRET_KEY, UNSIGNED);
    let r = send(s.addr, &signed_tree).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("x-amz-sha256-tree-hash"), Some(tree.as_str()));
    assert_eq!(r.header("x-glacier-accepts-tree-signed-payload"), Some("1"));
    assert_eq!(count().await, Some(1));
    Ok(())
}

/// A request with two Authorization headers (or two dates, or two payload hashes) is refused:
/// which one counts would be a guess.
#[tokio::test]
async fn duplicate_signature_headers_are_refused() -> anyhow::Result<()> {
    let s = serve(&[])?;
    let good = Req::new("PUT", "/-/vaults/dup").signed(s.addr);
    let auth = good
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let date = good
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    for (name, value) in [
        ("authorization", auth),
        ("x-amz-date", date),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD".to_owned()),
    ] {
        let r = send(s.addr, &good.clone().header(name, &value)).await;
        assert_eq!(r.status, 400, "two {name}: {r:?}");
        assert_eq!(r.code().as_deref(), Some("IncompleteSignatureException"));
        assert!(r.body.contains("more than one"), "{}", r.body);
    }
    let r = s.send(Req::new("GET", "/-/vaults/dup")).await;
    assert_eq!(r.status, 404, "not created: {r:?}");
    Ok(())
}

/// A part whose Content-Range overflows u64 arithmetic, or disagrees with its body or the
/// part size, is refused (400) and never replaces the acknowledged part at its offset.
/// (Before the fix `bytes 0-18446744073709551615/*` with an empty body answered 204 and
/// replaced part 0.)
#[tokio::test]
async fn overflowing_part_ranges_are_refused() -> anyhow::Result<()> {
    let s = serve(&[])?;
    s.create_vault("mp").await;
    let r = s
        .send(
            Req::new("POST", "/-/vaults/mp/multipart-uploads").header("x-amz-part-size", "1048576"),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let upload = r
        .header("x-amz-multipart-upload-id")
        .unwrap_or_default()
        .to_owned();
    let target = format!("/-/vaults/mp/multipart-uploads/{upload}");
    let part = |range: &str, body: &[u8]| {
        Req::new("PUT", &target)
            .header("content-range", range)
            .header(
                "x-amz-sha256-tree-hash",
                &glacier_core::TreeHash::of(body).to_hex(),
            )
            .body(body.to_vec())
    };
    let r = s.send(part("bytes 0-9/*", b"0123456789")).await;
    assert_eq!(r.status, 204, "{r:?}");
    for (range, body) in [
        ("bytes 0-18446744073709551615/*", &b""[..]),
        ("bytes 0-18446744073709551614/*", &b""[..]),
        (
            "bytes 18446744073709551615-18446744073709551615/*",
            &b"x"[..],
        ),
        ("bytes 0-0/*", &b""[..]),
        ("bytes 0-4/*", &b"0123456789"[..]),
        ("bytes 0-1048576/*", &b"x"[..]),
        ("bytes 5-9/*", &b"56789"[..]),
    ] {
        let r = s.send(part(range, body)).await;
        assert_eq!(r.status, 400, "{range} with {} bytes: {r:?}", body.len());
        assert_eq!(r.code().as_deref(), Some("InvalidParameterValueException"));
    }
    let r = s.send(Req::new("GET", &target)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let parts: serde_json::Value = serde_json::from_str(&r.body)?;
    assert_eq!(
        parts["Parts"],
        serde_json::json!([{
            "RangeInBytes": "0-9",
            "SHA256TreeHash": glacier_core::TreeHash::of(b"0123456789").to_hex()
        }]),
        "the acknowledged part is untouched"
    );
    Ok(())
}

/// The server's resident memory (`VmRSS`) and its peak (`VmHWM`), in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Writes `bytes` on a new connection, ignoring a connection the server closes early, and
/// reads what it answered.
async fn push(addr: SocketAddr, bytes: std::sync::Arc<Vec<u8>>) -> Resp {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return raw::parse(b"");
    };
    let (mut rd, mut wr) = stream.split();
    let mut out = Vec::new();
    let _ = tokio::join!(
        async {
            let _ = wr.write_all(&bytes).await;
        },
        tokio::time::timeout(std::time::Duration::from_secs(30), rd.read_to_end(&mut out))
    );
    raw::parse(&out)
}

/// 200 connections at once, each sending a 1 MiB body under a known key id with a wrong
/// secret and no `x-amz-content-sha256` (so the body must be hashed before the signature
/// can fail), three rounds: what the server holds is bounded by `--max-buffered-bodies`;
/// past it requests get 503 SlowDown. (Before the fix RSS grew from 17 to 225 MiB, and to
/// 351 MiB after three rounds.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_bodies_stay_within_the_budget() -> anyhow::Result<()> {
    let s = serve(&["--max-buffered-bodies", "16M"])?;
    s.create_vault("v").await;
    let pid = s.child.id();
    let (baseline, _) = memory_kib(pid);
    let target = "/-/vaults/v/jobs";
    let req = Req::new("POST", target)
        .body(vec![b' '; 1 << 20])
        .signed_as(s.addr, target, "not-the-secret", None)
        .without("x-amz-content-sha256");
    let bytes = std::sync::Arc::new(req.to_bytes());
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for _round in 0..3 {
        let tasks: Vec<_> = (0..200)
            .map(|_| tokio::spawn(push(s.addr, std::sync::Arc::clone(&bytes))))
            .collect();
        for t in tasks {
            let r = t.await?;
            let code = r.code().unwrap_or_else(|| format!("status {}", r.status));
            *codes.entry(code).or_default() += 1;
        }
    }
    let (_, peak) = memory_kib(pid);
    eprintln!(
        "RSS before {} MiB, peak {} MiB; answers {codes:?}",
        baseline / 1024,
        peak / 1024
    );
    assert!(
        codes
            .keys()
            .all(|c| c == "SlowDown" || c == "InvalidSignatureException" || c == "status 0"),
        "{codes:?}"
    );
    assert!(
        codes.contains_key("SlowDown"),
        "the budget was reached: {codes:?}"
    );
    assert!(
        peak.saturating_sub(baseline) < 80 * 1024,
        "RSS grew from {baseline} KiB to a peak of {peak} KiB"
    );
    let r = s.send(Req::new("GET", "/-/vaults/v")).await;
    assert_eq!(r.status, 200, "the server still serves: {r:?}");
    Ok(())
}

/// A partial request head, an idle keep-alive connection, a stalled body and a body trickling
/// a byte at a time are all cut off, and an upload cut off leaves nothing behind. (Before the
/// fix each stayed open for 100 s and more, the trickle for ever.)
#[tokio::test]
async fn slow_and_idle_connections_are_cut_off() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = serve(&[
        "--header-timeout",
        "1s",
        "--idle-timeout",
        "3s",
        "--body-timeout",
        "1s",
    ])?;
    s.create_vault("slow").await;
    let limit = Duration::from_secs(10);

    // An idle connection waits for a head to begin; once one has, it has the head timeout.
    let start = Instant::now();
    let mut c = tokio::net::TcpStream::connect(s.addr).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let began = Instant::now();
    c.write_all(b"GET /-/vaults HTTP/1.1\r\nhost: x\r\n")
        .await?;
    let mut rest = Vec::new();
    tokio::time::timeout(limit, c.read_to_end(&mut rest)).await??;
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "a partial head is given its time"
    );
    assert!(
        start.elapsed() < Duration::from_millis(2900),
        "a partial head is cut off at the head timeout, not the idle timeout"
    );

    // A keep-alive connection idle for longer than the head timeout is still served (before
    // the fix hyper's head timeout, running from the previous response, closed it after 1 s:
    // the race with clients reusing pooled connections), and closes at the idle timeout.
    let mut c = raw::KeepAlive::open(s.addr).await?;
    for _ in 0..2 {
        let r = c.send(&Req::new("GET", "/-/vaults").signed(s.addr)).await?;
        assert_eq!(r.status, 200, "{r:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let idle = tokio::time::Instant::now() - Duration::from_millis(1500);
    let closed = tokio::time::timeout(limit, c.closed()).await??;
    let lasted = closed - idle;
    assert!(
        lasted >= Duration::from_millis(2900) && lasted < Duration::from_secs(6),
        "an idle keep-alive connection stays open for the idle timeout: {lasted:?}"
    );

    let body = vec![b'x'; 4096];
    let upload = Req::new("POST", "/-/vaults/slow/archives")
        .header(
            "x-amz-sha256-tree-hash",
            &glacier_core::TreeHash::of(&body).to_hex(),
        )
        .body(body.clone())
        .signed(s.addr);
    for trickle in [false, true] {
        let start = Instant::now();
        let mut c = tokio::net::TcpStream::connect(s.addr).await?;
        c.write_all(&upload.head(true)).await?;
        c.write_all(&body[..100]).await?;
        let (mut rd, mut wr) = c.split();
        let mut answer = Vec::new();
        let feed = async {
            if trickle {
                for b in &body[100..] {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if wr.write_all(std::slice::from_ref(b)).await.is_err() {
                        break;
                    }
                }
            }
        };
        let read = tokio::time::timeout(limit, rd.read_to_end(&mut answer));
        let (_, read) = tokio::select! {
            r = read => ((), r),
            () = feed => ((), tokio::time::timeout(limit, rd.read_to_end(&mut answer)).await),
        };
        read??;
        let r = raw::parse(&answer);
        assert_eq!(r.status, 408, "trickle {trickle}: {r:?}");
        assert_eq!(r.code().as_deref(), Some("RequestTimeoutException"));
        assert!(start.elapsed() < Duration::from_secs(5), "cut off in time");
    }
    let r = s.send(Req::new("GET", "/-/vaults/slow")).await;
    assert!(r.body.contains("\"NumberOfArchives\":0"), "{}", r.body);
    let data = s._dir.path().join("data");
    let tmp: Vec<_> = std::fs::read_dir(data.join("tmp"))?.collect();
    assert!(tmp.is_empty(), "nothing half-written is left: {tmp:?}");
    Ok(())
}

/// Under an open-file limit of 256, 300 idle sockets do not lock signed requests out: the
/// server caps its connections below the limit and closes the oldest idle one to make room.
/// (Before the fix signed requests timed out.)
#[tokio::test]
async fn idle_sockets_do_not_lock_out_signed_requests() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir()?;
    let mut sh = std::process::Command::new("sh");
    sh.args(["-c", "ulimit -n 256 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_glacier"));
    let (child, endpoint) = common::start_command(sh, &dir.path().join("data"), &[])?;
    let s = Server {
        child,
        addr: addr_of(&endpoint),
        _dir: dir,
    };
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(s.addr).await?);
    }
    let start = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(15),
        s.send(Req::new("PUT", "/-/vaults/through")),
    )
    .await?;
    assert_eq!(r.status, 201, "{r:?}");
    eprintln!(
        "answered after {:?} behind 300 idle sockets",
        start.elapsed()
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(idle);
    Ok(())
}

/// SIGTERM with a stalled upload in flight: the server waits for requests up to
/// `--shutdown-timeout`, then exits; what it acknowledged before is all there after a restart.
/// (Before the fix it had not exited after 30 s.)
#[tokio::test]
async fn shutdown_does_not_wait_for_a_stalled_upload() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    let flags = ["--shutdown-timeout", "2s", "--body-timeout", "60s"];
    let mut s = serve(&flags)?;
    s.create_vault("keep").await;
    let body = b"acknowledged".to_vec();
    let r = s
        .send(
            Req::new("POST", "/-/vaults/keep/archives")
                .header(
                    "x-amz-sha256-tree-hash",
                    &glacier_core::TreeHash::of(&body).to_hex(),
                )
                .body(body),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let big = vec![b'y'; 10_000];
    let stalled = Req::new("POST", "/-/vaults/keep/archives")
        .header(
            "x-amz-sha256-tree-hash",
            &glacier_core::TreeHash::of(&big).to_hex(),
        )
        .body(big.clone())
        .signed(s.addr);
    let mut c = tokio::net::TcpStream::connect(s.addr).await?;
    c.write_all(&stalled.head(true)).await?;
    c.write_all(&big[..10]).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()?;
    assert!(status.success());
    let exited = loop {
        if let Some(code) = s.child.try_wait()? {
            break code;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("exited ({exited}) {:?} after SIGTERM", start.elapsed());
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "it waited for the request"
    );
    drop(c);

    s.restart(&[])?;
    let r = s.send(Req::new("GET", "/-/vaults/keep")).await;
    assert!(r.body.contains("\"NumberOfArchives\":1"), "{}", r.body);
    Ok(())
}

/// Requests so malformed that the HTTP layer refuses them itself get Glacier's JSON error
/// shape and a request id too (before the fix: a bare 400/431 with an empty body); an archive
/// whose bytes look exactly like such a bare response still downloads byte for byte.
#[tokio::test]
async fn protocol_errors_have_the_glacier_shape() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    let s = serve(&[])?;
    let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    for (what, bytes, status) in [
        (
            "a bad Content-Length",
            "GET /-/vaults HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n".to_owned(),
            400,
        ),
        (
            "two Content-Lengths",
            "POST /-/vaults HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab".to_owned(),
            400,
        ),
        (
            "a control byte in a header",
            "GET /-/vaults HTTP/1.1\r\nhost: x\r\nx-a: a\u{1}b\r\n\r\n".to_owned(),
            400,
        ),
        (
            "too many headers",
            format!("GET /-/vaults HTTP/1.1\r\nhost: x\r\n{many}\r\n"),
            431,
        ),
    ] {
        let r = raw::send_bytes(s.addr, bytes.as_bytes()).await;
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_eq!(
            r.code().as_deref(),
            Some("InvalidParameterValueException"),
            "{what}: {r:?}"
        );
        assert!(r.header("x-amzn-requestid").is_some(), "{what}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    s.create_vault("lookalike").await;
    let body = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 09:56:03 GMT\r\n\r\n".to_vec();
    let r = s
        .send(
            Req::new("POST", "/-/vaults/lookalike/archives")
                .header(
                    "x-amz-sha256-tree-hash",
                    &glacier_core::TreeHash::of(&body).to_hex(),
                )
                .body(body.clone()),
        )
        .await;
    let archive = r.header("x-amz-archive-id").unwrap_or_default().to_owned();
    let job = serde_json::json!({"Type": "archive-retrieval", "ArchiveId": archive}).to_string();
    let r = s
        .send(Req::new("POST", "/-/vaults/lookalike/jobs").body(job))
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    let job_id = r.header("x-amz-job-id").unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = s
            .send(Req::new(
                "GET",
                &format!("/-/vaults/lookalike/jobs/{job_id}"),
            ))
            .await;
        if d.body.contains("\"Completed\":true") {
            break;
        }
        assert!(Instant::now() < deadline, "the job did not complete: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = s
        .send(Req::new(
            "GET",
            &format!("/-/vaults/lookalike/jobs/{job_id}/output"),
        ))
        .await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(
        out.body.as_bytes(),
        body.as_slice(),
        "the archive comes back unchanged"
    );
    Ok(())
}

/// Answers given before a large body was read — a missing vault, a refused signature, a part
/// of an unknown upload — reach a client that is still sending the body: the server reads the
/// rest of it first instead of closing with it unread, which resets the connection. Each
/// request writes its 8 MiB in 64 KiB pieces, as HTTP clients do, and every write must go
/// through. (Before the fix the first write after the answer failed with a broken pipe or a
/// reset, and Go's HTTP client reported that instead of the 404 in 4–10 of 30 tries.)
#[tokio::test]
async fn early_answers_reach_a_client_still_sending() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let s = serve(&[])?;
    s.create_vault("v").await;
    let body = vec![b'x'; 8 << 20];
    let hash = glacier_core::TreeHash::of(&body).to_hex();
    let upload = |target: &str| {
        Req::new("POST", target)
            .header("x-amz-sha256-tree-hash", &hash)
            .body(body.clone())
    };
    let part = Req::new("PUT", "/-/vaults/v/multipart-uploads/no-such-upload")
        .header("x-amz-sha256-tree-hash", &hash)
        .header("content-range", &format!("bytes 0-{}/*", body.len() - 1))
        .body(body.clone());
    let cases = [
        (
            "a missing vault",
            upload("/-/vaults/missing/archives").signed(s.addr),
            404,
        ),
        (
            "a wrong secret",
            upload("/-/vaults/v/archives").signed_as(
                s.addr,
                "/-/vaults/v/archives",
                "not-the-secret",
                None,
            ),
            403,
        ),
        ("an unknown upload", part.signed(s.addr), 404),
    ];
    for (what, req, status) in cases {
        let bytes = req.to_bytes();
        for attempt in 0..5 {
            let mut stream = tokio::net::TcpStream::connect(s.addr).await?;
            for piece in bytes.chunks(64 << 10) {
                if let Err(e) = stream.write_all(piece).await {
                    anyhow::bail!("{what} (try {attempt}): writing the body failed: {e}");
                }
            }
            let r = raw::read_response(&mut stream, std::time::Duration::from_secs(30)).await;
            assert_eq!(r.status, status, "{what} (try {attempt}): {r:?}");
        }
    }
    let r = s.send(Req::new("GET", "/-/vaults/v")).await;
    assert!(r.body.contains("\"NumberOfArchives\":0"), "{r:?}");
    Ok(())
}
