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
        let out = race(
            s.addr,
            &[
                signed(
                    s.addr,
                    "POST",
                    &format!("/-/vaults/{vault}/lock-policy/{lock_id}"),
                ),
                signed(s.addr, "DELETE", &format!("/-/vaults/{vault}/lock-policy")),
            ],
        )
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
        let policy = |sid: &str| {
            let p = serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": sid, "Principal": "*", "Effect": "Deny",
                    "Action": "glacier:DeleteArchive",
                    "Resource": format!("arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/{vault}")
                }]
            });
            serde_json::json!({ "Policy": p.to_string() }).to_string()
        };
        let target = format!("/-/vaults/{vault}/lock-policy");
        let reqs = [
            Req::new("POST", &target).body(policy("a")).signed(s.addr),
            Req::new("POST", &target).body(policy("b")).signed(s.addr),
        ];
        let out = race(s.addr, &reqs).await;
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
    // aws-sigv4 signs `+` as the space it stands for: that request verifies.
    let honest = s.send(Req::new("GET", target)).await;
    assert_eq!(honest.status, 200, "{honest:?}");
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
