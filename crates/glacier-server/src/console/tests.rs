//! The console's API through the router, signed in as a browser would be: the sign-in signed by
//! `aws-sigv4` (not our own signer), then the session cookie.

use crate::config::{Identity, ServerConfig};
use crate::service::Settings;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use glacier_core::{TreeHasher, mt2};
use glacier_storage::{ArchiveRecord, BlobKey, Segment, VaultKey};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;
use tower::ServiceExt;

const OWNER: (&str, &str, &str) = ("AKIDOWNER", "owner-secret", "111122223333");
const OTHER: (&str, &str, &str) = ("AKIDOTHER", "other-secret", "444455556666");

struct Console {
    state: Arc<AppState>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
}

async fn console(clock: crate::Clock) -> anyhow::Result<Console> {
    let dir = tempfile::tempdir()?;
    let identities = [OWNER, OTHER]
        .iter()
        .map(|(k, s, a)| Identity {
            access_key_id: (*k).into(),
            secret_access_key: (*s).into(),
            account_id: (*a).into(),
        })
        .collect();
    let config = ServerConfig {
        console_session: Some(std::time::Duration::from_secs(3600)),
        ..ServerConfig::new(identities)
    };
    let settings = Settings {
        clock,
        ..Settings::new("eu-west-1")
    };
    let state = AppState::open_local(dir.path(), settings, config).await?;
    Ok(Console { state, _dir: dir })
}

fn vault_names(overview: &Value) -> Vec<&str> {
    overview["Vaults"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["VaultName"].as_str())
        .collect()
}

impl Console {
    async fn send(&self, req: Request<Body>) -> anyhow::Result<Answer> {
        let resp = crate::app(Arc::clone(&self.state)).oneshot(req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await?;
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            json,
        })
    }

    /// `POST /console/api/session` signed with `key` and `secret` as the page signs it.
    async fn sign_in(&self, key: &str, secret: &str) -> anyhow::Result<Answer> {
        let mut req = Request::post("http://127.0.0.1:9090/console/api/session")
            .header("host", "127.0.0.1:9090")
            .body(Body::empty())?;
        crate::auth::tests::aws_sign(&mut req, (key, secret), "eu-west-1", &[])?;
        self.send(req).await
    }

    /// The session cookie of the identity, signed in.
    async fn session(&self, (key, secret, _): (&str, &str, &str)) -> anyhow::Result<String> {
        let a = self.sign_in(key, secret).await?;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json);
        let cookie = a.headers[header::SET_COOKIE].to_str()?;
        Ok(cookie.split(';').next().unwrap_or_default().to_owned())
    }

    async fn get(&self, path: &str, cookie: &str) -> anyhow::Result<Answer> {
        let req = Request::get(format!("http://127.0.0.1:9090{path}"))
            .header(header::COOKIE, cookie)
            .header("x-glacier-console", "1")
            .body(Body::empty())?;
        self.send(req).await
    }

    async fn vault(&self, account: &str, name: &str) -> anyhow::Result<VaultKey> {
        let key = VaultKey {
            account: account.into(),
            name: name.into(),
        };
        let now = self.state.service.now();
        self.state
            .service
            .store()
            .create_vault(&key, "eu-west-1", now, 1000)
            .await?;
        Ok(key)
    }

    /// Archives with these descriptions, one byte each (the console reads no blob).
    async fn archives(&self, key: &VaultKey, descriptions: &[String]) -> anyhow::Result<()> {
        let now = self.state.service.now();
        let records = descriptions
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut h = TreeHasher::new();
                h.update(b"x");
                let h = h.finish_with_leaves();
                ArchiveRecord {
                    id: format!("{:0>138}", format!("{}{i}", key.name)),
                    description: d.clone(),
                    size: 1,
                    tree_hash: h.tree,
                    created: now + time::Duration::milliseconds(i as i64),
                    segments: vec![Segment {
                        blob: BlobKey(format!("{i:0>32}")),
                        size: 1,
                        tree_hash: h.tree,
                        leaves: h.leaves,
                    }],
                }
            })
            .collect();
        self.state
            .service
            .store()
            .import_archives(key, records)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_browser_signs_in_with_sigv4_and_sees_its_vaults() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    let photos = c.vault(OWNER.2, "photos").await?;
    c.vault(OWNER.2, "backups").await?;
    c.archives(
        &photos,
        &[
            mt2::encode("2024/summer/beach.jpg", 1_700_000_000)?,
            "plain".into(),
        ],
    )
    .await?;

    let signed_in = c.sign_in(OWNER.0, OWNER.1).await?;
    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.json);
    assert_eq!(signed_in.json["AccountId"], OWNER.2);
    let set = signed_in.headers[header::SET_COOKIE].to_str()?;
    for attribute in [
        "Path=/console/api",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=3600",
    ] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(
        !set.contains(OWNER.1),
        "the secret is not in the cookie: {set}"
    );
    let cookie = set.split(';').next().unwrap_or_default();

    let me = c.get("/console/api/session", cookie).await?;
    assert_eq!(me.json["AccessKeyId"], OWNER.0);
    assert_eq!(me.json["SignedIn"], true);
    let o = c.get("/console/api/overview", cookie).await?;
    assert_eq!(o.status, StatusCode::OK, "{:?}", o.json);
    let names = vault_names(&o.json);
    assert_eq!(names, ["backups", "photos"]);
    assert_eq!(o.json["NumberOfArchives"], 2);
    assert_eq!(
        o.json["Vaults"][1]["VaultARN"],
        "arn:aws:glacier:eu-west-1:111122223333:vaults/photos"
    );

    let found = c
        .get("/console/api/vaults/photos/archives?search=SUMMER", cookie)
        .await?;
    assert_eq!(found.status, StatusCode::OK, "{:?}", found.json);
    let archives = found.json["Archives"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(archives.len(), 1, "{:?}", found.json);
    assert_eq!(archives[0]["Path"], "2024/summer/beach.jpg");
    assert_eq!(archives[0]["LastModified"], "2023-11-14T22:13:20.000Z");
    assert_eq!(found.json["Next"], Value::Null);
    let detail = c.get("/console/api/vaults/photos", cookie).await?;
    assert_eq!(detail.json["Vault"]["NumberOfArchives"], 2);
    assert_eq!(detail.json["Denied"], serde_json::json!([]));
    Ok(())
}

#[tokio::test]
async fn a_wrong_secret_or_an_unknown_key_gets_no_session() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    let wrong = c.sign_in(OWNER.0, "not-the-secret").await?;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::FORBIDDEN, "InvalidSignatureException")
    );
    assert!(!wrong.headers.contains_key(header::SET_COOKIE));
    let unknown = c.sign_in("AKIDNOBODY", "x").await?;
    assert_eq!(unknown.code(), "UnrecognizedClientException");
    assert!(!unknown.headers.contains_key(header::SET_COOKIE));
    // Unsigned: no session either.
    let unsigned = c
        .send(Request::post("http://127.0.0.1:9090/console/api/session").body(Body::empty())?)
        .await?;
    assert_eq!(unsigned.code(), "MissingAuthenticationTokenException");
    Ok(())
}

#[tokio::test]
async fn the_api_needs_a_valid_session_and_the_console_header() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    let cookie = c.session(OWNER).await?;
    let none = c.get("/console/api/overview", "").await?;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::FORBIDDEN, "MissingAuthenticationTokenException")
    );
    let forged = c
        .get("/console/api/overview", &format!("{cookie}0"))
        .await?;
    assert_eq!(forged.code(), "MissingAuthenticationTokenException");
    // Who is signed in is asked on every page load: no session is an answer, not a 403 the
    // browser logs. (Before, every load of the sign-in page logged a refused request.)
    for sent in ["", &format!("{cookie}0")] {
        let who = c.get("/console/api/session", sent).await?;
        assert_eq!(who.status, StatusCode::OK, "{:?}", who.json);
        assert_eq!(who.json["SignedIn"], false, "{:?}", who.json);
        assert!(who.json.get("AccountId").is_none(), "{:?}", who.json);
    }
    // A cross-site page could send the cookie (were it not SameSite) but not this header.
    let no_header = c
        .send(
            Request::get("http://127.0.0.1:9090/console/api/overview")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())?,
        )
        .await?;
    assert_eq!(
        (no_header.status, no_header.code()),
        (StatusCode::BAD_REQUEST, "MissingParameterValueException")
    );
    let signed_out = c
        .send(
            Request::delete("http://127.0.0.1:9090/console/api/session")
                .header("x-glacier-console", "1")
                .body(Body::empty())?,
        )
        .await?;
    assert_eq!(signed_out.status, StatusCode::NO_CONTENT);
    let cleared = signed_out.headers[header::SET_COOKIE].to_str()?;
    assert!(
        cleared.starts_with("glacier-console=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    Ok(())
}

#[tokio::test]
async fn a_session_ends_after_its_lifetime_and_with_its_key() -> anyhow::Result<()> {
    let clock = crate::Clock::manual(OffsetDateTime::now_utc());
    let c = console(clock.clone()).await?;
    let cookie = c.session(OWNER).await?;
    clock.advance(time::Duration::minutes(59));
    assert_eq!(
        c.get("/console/api/overview", &cookie).await?.status,
        StatusCode::OK
    );
    clock.advance(time::Duration::minutes(2));
    let ended = c.get("/console/api/overview", &cookie).await?;
    assert_eq!(ended.code(), "MissingAuthenticationTokenException");
    assert!(
        ended.json["message"]
            .as_str()
            .unwrap_or("")
            .contains("ended")
    );

    // A fresh session, then the key is removed (SIGHUP): the session ends with it.
    let c = console(crate::Clock::system()).await?;
    let cookie = c.session(OWNER).await?;
    let others = c
        .state
        .identities()
        .iter()
        .filter(|i| i.access_key_id != OWNER.0)
        .cloned()
        .collect();
    c.state.set_identities(others);
    let gone = c.get("/console/api/overview", &cookie).await?;
    assert_eq!(gone.code(), "MissingAuthenticationTokenException");
    Ok(())
}

#[tokio::test]
async fn each_account_sees_only_its_own_vaults() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    c.vault(OWNER.2, "mine").await?;
    c.vault(OTHER.2, "theirs").await?;
    let cookie = c.session(OTHER).await?;
    let o = c.get("/console/api/overview", &cookie).await?;
    assert_eq!(o.json["AccountId"], OTHER.2);
    let names = vault_names(&o.json);
    assert_eq!(names, ["theirs"]);
    for path in [
        "/console/api/vaults/mine",
        "/console/api/vaults/mine/archives",
    ] {
        let a = c.get(path, &cookie).await?;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            "{path}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn sections_a_policy_denies_are_left_out_and_named() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    let key = c.vault(OWNER.2, "guarded").await?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "no-peeking",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["glacier:ListJobs", "glacier:InitiateJob"],
            "Resource": "arn:aws:glacier:eu-west-1:111122223333:vaults/guarded"
        }]
    })
    .to_string();
    c.state
        .service
        .store()
        .set_access_policy(&key, Some(policy.clone()))
        .await?;
    let cookie = c.session(OWNER).await?;
    let v = c.get("/console/api/vaults/guarded", &cookie).await?;
    assert_eq!(v.status, StatusCode::OK, "{:?}", v.json);
    assert_eq!(v.json["Denied"], serde_json::json!(["ListJobs"]));
    assert_eq!(v.json["AccessPolicy"], policy.as_str());
    let archives = c
        .get("/console/api/vaults/guarded/archives", &cookie)
        .await?;
    assert_eq!(
        (archives.status, archives.code()),
        (StatusCode::FORBIDDEN, "AccessDeniedException")
    );
    Ok(())
}

#[tokio::test]
async fn a_search_of_a_large_vault_answers_page_by_page() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    let key = c.vault(OWNER.2, "big").await?;
    // 25,000 archives, every 1,000th a match: more than one request reads.
    let descriptions: Vec<String> = (0..25_000)
        .map(|i| {
            if i % 1000 == 999 {
                mt2::encode(&format!("needle/{i}.dat"), 1_700_000_000).unwrap_or_default()
            } else {
                format!("hay {i}")
            }
        })
        .collect();
    c.archives(&key, &descriptions).await?;
    let cookie = c.session(OWNER).await?;
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    let mut requests = 0;
    loop {
        let mut path = "/console/api/vaults/big/archives?search=needle&limit=10".to_owned();
        if let Some(a) = &after {
            path.push_str(&format!(
                "&after={}",
                percent_encoding::utf8_percent_encode(a, percent_encoding::NON_ALPHANUMERIC)
            ));
        }
        let page = c.get(&path, &cookie).await?;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.json);
        requests += 1;
        assert!(page.json["Scanned"].as_u64().unwrap_or(u64::MAX) <= 20_000);
        for a in page.json["Archives"].as_array().into_iter().flatten() {
            found.push(a["Path"].as_str().unwrap_or("").to_owned());
        }
        match page.json["Next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let want: Vec<String> = (0..25)
        .map(|k| format!("needle/{}.dat", k * 1000 + 999))
        .collect();
    assert_eq!(found, want);
    assert!(
        requests >= 3,
        "10 a page, and at most 20,000 read a request: {requests}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_parameters_get_the_error_that_names_them() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    c.vault(OWNER.2, "v").await?;
    let cookie = c.session(OWNER).await?;
    for (path, word) in [
        ("/console/api/usage?days=0", "days"),
        ("/console/api/usage?days=91", "days"),
        ("/console/api/usage?days=x", "days"),
        ("/console/api/vaults/v/archives?limit=0", "limit"),
        ("/console/api/vaults/v/archives?after=nowhere", "after"),
        ("/console/api/vaults/bad%20name", "name"),
    ] {
        let a = c.get(path, &cookie).await?;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {:?}", a.json);
        let message = a.json["message"].as_str().unwrap_or("");
        assert!(message.to_lowercase().contains(word), "{path}: {message}");
    }
    let missing = c.get("/console/api/nothing", &cookie).await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn usage_graphs_the_history_and_the_retrieval_ledger() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    let key = c.vault(OWNER.2, "v").await?;
    let service = &c.state.service;
    let before = service.now() - time::Duration::minutes(10);
    service
        .store()
        .sample_usage(before, before - time::Duration::days(90))
        .await?;
    c.archives(&key, &["a".into(), "b".into()]).await?;
    let id = format!("{:0>138}", "v0");
    service
        .initiate_job(
            &key,
            glacier_core::wire::JobParameters {
                job_type: Some("archive-retrieval".into()),
                archive_id: Some(id),
                ..Default::default()
            },
        )
        .await?;
    let cookie = c.session(OWNER).await?;
    let u = c.get("/console/api/usage?days=1", &cookie).await?;
    assert_eq!(u.status, StatusCode::OK, "{:?}", u.json);
    let stored: Vec<(u64, u64)> = u.json["Stored"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["NumberOfArchives"].as_u64().unwrap_or(99),
                p["SizeInBytes"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    // The sample taken before the uploads, then the totals now.
    assert_eq!(stored, [(0, 0), (2, 2)]);
    let hours = u.json["Retrievals"].as_array().cloned().unwrap_or_default();
    assert!((24..=26).contains(&hours.len()), "{}", hours.len());
    assert_eq!(u.json["BucketHours"], 1);
    let last = &hours[hours.len() - 1];
    assert_eq!(
        (last["Retrievals"].as_u64(), last["Bytes"].as_u64()),
        (Some(1), Some(1))
    );
    // Over 90 days: the whole window, a bar a day, the retrieval still in it. (Before, the
    // retrievals stopped at the ledger's two days, and the page drew only the hours sampled.)
    let u = c.get("/console/api/usage?days=90", &cookie).await?;
    let days = u.json["Retrievals"].as_array().cloned().unwrap_or_default();
    assert_eq!(u.json["BucketHours"], 24);
    assert!((90..=92).contains(&days.len()), "{}", days.len());
    assert_eq!(days.last().map(|d| d["Retrievals"].clone()), Some(1.into()));
    let from = u.json["From"].as_str().unwrap_or_default();
    let to = u.json["To"].as_str().unwrap_or_default();
    let span = time::OffsetDateTime::parse(to, &time::format_description::well_known::Rfc3339)?
        - time::OffsetDateTime::parse(from, &time::format_description::well_known::Rfc3339)?;
    assert_eq!(span.whole_days(), 90, "{from} .. {to}");
    Ok(())
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_only_when_asked_for() -> anyhow::Result<()> {
    let c = console(crate::Clock::system()).await?;
    let page = crate::app(Arc::clone(&c.state))
        .oneshot(Request::get("/console/").body(Body::empty())?)
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str()?;
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
    let redirect = crate::app(Arc::clone(&c.state))
        .oneshot(Request::get("/console").body(Body::empty())?)
        .await?;
    assert_eq!(redirect.headers()[header::LOCATION], "/console/");

    // Without --console there is no console: what any unsigned request gets.
    let dir = tempfile::tempdir()?;
    let off = AppState::open_local(
        dir.path(),
        Settings::new("eu-west-1"),
        ServerConfig::new(vec![]),
    )
    .await?;
    for path in ["/console/", "/console/api/info"] {
        let resp = crate::app(Arc::clone(&off))
            .oneshot(Request::get(path).body(Body::empty())?)
            .await?;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    }
    Ok(())
}
