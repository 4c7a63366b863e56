//! Several `glacier serve` nodes on one shared store: metadata in PostgreSQL, blobs in an S3
//! bucket of a three-node Garage cluster, as `scripts/test` starts them (`scripts/postgres.sh`,
//! `scripts/garage.sh`). What one node does, the others see at once; Vault Lock races across
//! nodes have one winner; a node killed with SIGKILL loses nothing it acknowledged, its jobs
//! complete on another, and the orphans it leaves are swept; a frozen Garage node stops
//! nothing. Each test skips when no shared store is given (see
//! `glacier_storage::testing::postgres_database`).

// Each test binary uses a part of the shared helpers; these nodes start without a data directory.
#[allow(dead_code)]
mod common;
#[path = "common/faulty_s3.rs"]
mod faulty_s3;
#[path = "common/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "common/raw.rs"]
mod raw;
#[path = "common/store.rs"]
mod store;

use aws_sdk_glacier::primitives::ByteStream;
use conformance_aws_sdk::{MIB, client, data};
use glacier_core::TreeHash;
use glacier_server::{Service, Settings};
use glacier_storage::testing::service;
use glacier_storage::{BlobStore, MetadataStore};
use harness::Harness;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use raw::{Req, addr_of, race};
use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};
use store::{CLUSTER, Cluster, Store};

type R = anyhow::Result<()>;

/// Uploads `body` in 1 MiB parts, part `i` through `clients[i % len]`, and completes it
/// through the last client; returns the archive id.
async fn multipart_across(
    clients: &[&aws_sdk_glacier::Client],
    vault: &str,
    body: &[u8],
) -> anyhow::Result<String> {
    let init = clients[0]
        .initiate_multipart_upload()
        .vault_name(vault)
        .part_size(MIB.to_string())
        .send()
        .await?;
    let upload = init.upload_id().unwrap_or_default();
    for (i, chunk) in body.chunks(MIB).enumerate() {
        clients[i % clients.len()]
            .upload_multipart_part()
            .vault_name(vault)
            .upload_id(upload)
            .range(format!("bytes {}-{}/*", i * MIB, i * MIB + chunk.len() - 1))
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await?;
    }
    let listed = clients[clients.len() - 1]
        .list_parts()
        .vault_name(vault)
        .upload_id(upload)
        .send()
        .await?;
    assert_eq!(listed.parts().len(), body.len().div_ceil(MIB));
    let done = clients[clients.len() - 1]
        .complete_multipart_upload()
        .vault_name(vault)
        .upload_id(upload)
        .archive_size(body.len().to_string())
        .checksum(TreeHash::of(body).to_hex())
        .send()
        .await?;
    Ok(done.archive_id().unwrap_or_default().to_owned())
}

/// Initiates a retrieval of `archive` through `start` and waits, through `watch`, until it
/// succeeded (up to `patience`); returns the job id.
async fn retrieve(
    start: &aws_sdk_glacier::Client,
    watch: &aws_sdk_glacier::Client,
    vault: &str,
    archive: &str,
    patience: Duration,
) -> anyhow::Result<String> {
    let id = initiate_retrieval(start, vault, archive).await?;
    wait_for_job(watch, vault, &id, patience).await?;
    Ok(id)
}

/// Initiates a retrieval of the whole of `archive`; returns the job id.
async fn initiate_retrieval(
    g: &aws_sdk_glacier::Client,
    vault: &str,
    archive: &str,
) -> anyhow::Result<String> {
    let job = g
        .initiate_job()
        .vault_name(vault)
        .job_parameters(
            aws_sdk_glacier::types::JobParameters::builder()
                .r#type("archive-retrieval")
                .archive_id(archive)
                .build(),
        )
        .send()
        .await?;
    Ok(job.job_id().unwrap_or_default().to_owned())
}

async fn wait_for_job(g: &aws_sdk_glacier::Client, vault: &str, id: &str, patience: Duration) -> R {
    let deadline = Instant::now() + patience;
    loop {
        let d = g.describe_job().vault_name(vault).job_id(id).send().await?;
        match d.status_code().map(|s| s.as_str()) {
            Some("Succeeded") => return Ok(()),
            Some("InProgress") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            other => anyhow::bail!("job {id} is {other:?} after {patience:?}"),
        }
    }
}

async fn job_output(g: &aws_sdk_glacier::Client, vault: &str, id: &str) -> anyhow::Result<Vec<u8>> {
    let out = g
        .get_job_output()
        .vault_name(vault)
        .job_id(id)
        .send()
        .await?;
    Ok(out.body.collect().await?.into_bytes().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_node_does_the_others_see() -> R {
    let Some(store) = Store::fresh().await? else {
        return Ok(());
    };
    let (a, b) = (store.node(0, &[])?, store.node(1, &[])?);
    let (ga, gb) = (client(&a.endpoint), client(&b.endpoint));

    for name in ["shared-1", "shared-2", "shared-3"] {
        ga.create_vault().vault_name(name).send().await?;
    }
    assert_eq!(
        gb.describe_vault()
            .vault_name("shared-2")
            .send()
            .await?
            .vault_name(),
        Some("shared-2")
    );
    // A marker one node returned continues the listing on the other.
    let first = ga.list_vaults().limit(1).send().await?;
    let marker = first.marker().unwrap_or_default();
    let rest = gb.list_vaults().marker(marker).send().await?;
    let names: Vec<_> = first
        .vault_list()
        .iter()
        .chain(rest.vault_list())
        .filter_map(|v| v.vault_name())
        .collect();
    assert_eq!(names, ["shared-1", "shared-2", "shared-3"]);

    // Parts through either node make one archive; its retrieval starts on one node and is
    // read on the other.
    let body = data(3 * MIB + 12_345, 7);
    let archive = multipart_across(&[&ga, &gb], "shared-1", &body).await?;
    let job = retrieve(&ga, &gb, "shared-1", &archive, Duration::from_secs(30)).await?;
    assert_eq!(job_output(&gb, "shared-1", &job).await?, body);
    let single = gb
        .upload_archive()
        .vault_name("shared-1")
        .body(ByteStream::from(b"small".to_vec()))
        .send()
        .await?;
    ga.delete_archive()
        .vault_name("shared-1")
        .archive_id(single.archive_id().unwrap_or_default())
        .send()
        .await?;
    let v = gb.describe_vault().vault_name("shared-1").send().await?;
    assert_eq!(
        (v.number_of_archives(), v.size_in_bytes()),
        (1, body.len() as i64)
    );
    Ok(())
}

/// The Vault Lock races of `hostile.rs`, with the two requests on two nodes: at most one
/// InitiateVaultLock wins, and of CompleteVaultLock and AbortVaultLock exactly one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_races_across_nodes_have_one_winner() -> R {
    let Some(store) = Store::fresh().await? else {
        return Ok(());
    };
    let (a, b) = (store.node(0, &[])?, store.node(1, &[])?);
    let (addr_a, addr_b) = (addr_of(&a.endpoint), addr_of(&b.endpoint));
    let ga = client(&a.endpoint);
    let policy = common::deny_deletes_lock_body;
    let (mut completed, mut aborted) = (0, 0);
    for round in 0..40 {
        let vault = format!("race-{round}");
        ga.create_vault().vault_name(&vault).send().await?;
        let target = format!("/-/vaults/{vault}/lock-policy");
        let out = race(&[
            (
                addr_a,
                Req::new("POST", &target)
                    .body(policy(&vault, "a"))
                    .signed(addr_a),
            ),
            (
                addr_b,
                Req::new("POST", &target)
                    .body(policy(&vault, "b"))
                    .signed(addr_b),
            ),
        ])
        .await;
        let winners: Vec<usize> = (0..2).filter(|i| out[*i].status == 201).collect();
        assert_eq!(winners.len(), 1, "round {round}: {out:?}");
        assert_eq!(out[1 - winners[0]].status, 403, "round {round}: {out:?}");
        let lock_id = out[winners[0]]
            .header("x-amz-lock-id")
            .unwrap_or_default()
            .to_owned();

        let out = race(&[
            (
                addr_a,
                Req::new("POST", &format!("{target}/{lock_id}")).signed(addr_a),
            ),
            (addr_b, Req::new("DELETE", &target).signed(addr_b)),
        ])
        .await;
        let state = ga
            .get_vault_lock()
            .vault_name(&vault)
            .send()
            .await
            .ok()
            .and_then(|l| l.state().map(str::to_owned));
        match (out[0].status, out[1].status) {
            (204, 403) => {
                assert_eq!(state.as_deref(), Some("Locked"), "round {round}");
                completed += 1;
            }
            (400, 204) => {
                assert_eq!(state, None, "round {round}: aborted, so no lock");
                aborted += 1;
            }
            other => panic!("round {round}: complete and abort answered {other:?}: {out:?}"),
        }
    }
    eprintln!("across nodes: complete won {completed} rounds, abort {aborted}");
    Ok(())
}

/// The crash harness (`common/harness.rs`) against two nodes on one shared store: at random
/// moments (seeded) one node is killed with SIGKILL and started again, PostgreSQL is restarted
/// under both, or a Garage node is killed and started again, while the workers go on through
/// both nodes. Answers during an outage may be ServiceUnavailableException; every other answer's
/// promise holds at the end, and the orphan sweep removes what the killed nodes left.
/// `GLACIER_CRASH_SEED` repeats a run, `GLACIER_CRASH_KILLS` lengthens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_node_kills_and_store_restarts_lose_nothing_acknowledged() -> R {
    let Some(store) = Store::open_fresh(Cluster::Exclusive {
        _held: CLUSTER.write().await,
    })
    .await?
    else {
        return Ok(());
    };
    let (Some(postgres), Some(garage)) = (
        service("GLACIER_TEST_POSTGRES_DIR")?,
        service("GLACIER_TEST_GARAGE_DIR")?,
    ) else {
        return Ok(());
    };
    let (seed, faults) = harness::seed_and_kills(20);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut nodes = [store.node(0, &[])?, store.node(1, &[])?];
    Harness::create_vault(&nodes[0].endpoint).await?;
    let mut h = Harness::new(seed, 4).with_outages();
    let (mut kills, mut postgres_restarts, mut garage_kills) = (0, 0, 0);
    for _ in 0..faults {
        let endpoints: Vec<String> = nodes.iter().map(|n| n.endpoint.clone()).collect();
        let round = h.start(&endpoints);
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..500))).await;
        match rng.random_range(0..10) {
            0 => {
                postgres_restarts += 1;
                let dir = postgres.clone();
                tokio::task::spawn_blocking(move || script("postgres", &["stop", &dir])).await??;
                let back = PostgresBack(postgres.clone());
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
                tokio::task::spawn_blocking(move || drop(back)).await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                round.finish(&mut h).await?;
            }
            1 => {
                garage_kills += 1;
                let pid = std::fs::read_to_string(format!("{garage}/node3/pid"))?;
                Command::new("kill").args(["-9", pid.trim()]).status()?;
                tokio::time::sleep(Duration::from_millis(rng.random_range(100..500))).await;
                round.finish(&mut h).await?;
                let dir = garage.clone();
                tokio::task::spawn_blocking(move || script("garage", &["restart", &dir, "3"]))
                    .await??;
            }
            _ => {
                kills += 1;
                let i = rng.random_range(0..nodes.len());
                nodes[i].kill_9()?;
                // The survivor keeps serving a while before the killed node returns.
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
                round.finish(&mut h).await?;
                nodes[i] = store.node(i, &[])?;
            }
        }
    }
    anyhow::ensure!(
        h.answered() >= 5 * faults,
        "the workload ran: {}",
        h.summary()
    );
    h.check_api(&nodes[1].endpoint).await?;
    drop(nodes);
    let (meta, blobs) = store.open().await?;
    let stored = h.check_stores(meta.as_ref(), blobs.as_ref()).await?;

    // Sweeps on a store no node writes to: the first only marks, the second deletes what it
    // marked, and no sweep touches a referenced blob. A write the store was still finishing for
    // a killed node can land after the sweep deleted its object (Garage completes a PUT whose
    // client went away): it is an orphan again, gone within a few more pairs of sweeps.
    let service = Service::new(meta.clone(), blobs.clone(), Settings::new("us-east-1"));
    let mut suspects = HashSet::new();
    let first = service.sweep_orphans(&mut suspects).await?;
    assert_eq!(first, 0, "the first sweep only marks");
    let swept = service.sweep_orphans(&mut suspects).await?;
    let referenced = meta.referenced_blobs().await?;
    let mut listed: HashSet<_> = blobs.list().await?.into_iter().collect();
    for _ in 0..5 {
        if listed == referenced {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut again = HashSet::new();
        service.sweep_orphans(&mut again).await?;
        service.sweep_orphans(&mut again).await?;
        listed = blobs.list().await?.into_iter().collect();
    }
    assert_eq!(
        listed, referenced,
        "only referenced blobs remain after the sweeps"
    );
    eprintln!(
        "two nodes, seed {seed}: {kills} node kills, {postgres_restarts} PostgreSQL restarts, {garage_kills} Garage node kills, {stored} archives stored, {swept} orphans swept; {}",
        h.summary()
    );
    Ok(())
}

/// Jobs initiated on a node that is then killed complete on the other: they are in the shared
/// store, and every node's job engine completes due jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_a_killed_node_complete_on_another() -> R {
    let Some(store) = Store::fresh().await? else {
        return Ok(());
    };
    let delay = ["--retrieval-delay", "2s"];
    let (mut a, b) = (store.node(0, &delay)?, store.node(1, &delay)?);
    let (ga, gb) = (client(&a.endpoint), client(&b.endpoint));
    ga.create_vault().vault_name("jobs").send().await?;
    let body = data(MIB + 1, 3);
    let up = ga
        .upload_archive()
        .vault_name("jobs")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?;
    let job = ga
        .initiate_job()
        .vault_name("jobs")
        .job_parameters(
            aws_sdk_glacier::types::JobParameters::builder()
                .r#type("archive-retrieval")
                .archive_id(up.archive_id().unwrap_or_default())
                .build(),
        )
        .send()
        .await?;
    let id = job.job_id().unwrap_or_default().to_owned();
    a.kill_9()?;
    wait_for_job(&gb, "jobs", &id, Duration::from_secs(30)).await?;
    assert_eq!(job_output(&gb, "jobs", &id).await?, body);
    Ok(())
}

/// Resumes a process stopped with SIGSTOP when dropped, so a failing test leaves it running.
struct Frozen(u32);

impl Frozen {
    fn new(pid: u32) -> anyhow::Result<Frozen> {
        let ok = Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()?;
        anyhow::ensure!(ok.success(), "could not stop process {pid}");
        Ok(Frozen(pid))
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// With one of the three Garage nodes frozen (SIGSTOP), then killed (every block has three
/// copies, a write needs two), archives still go in and come out; the killed node is started
/// again afterwards. Needs `$GLACIER_TEST_GARAGE_DIR`, where `scripts/garage.sh` keeps each
/// node's pid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_or_stopped_garage_node_stops_nothing() -> R {
    let Some(store) = Store::open_fresh(Cluster::Exclusive {
        _held: CLUSTER.write().await,
    })
    .await?
    else {
        return Ok(());
    };
    let Some(garage) = service("GLACIER_TEST_GARAGE_DIR")? else {
        return Ok(());
    };
    let third = std::path::Path::new(&garage).join("node3/pid");
    if store.s3_endpoints.len() < 3 || !third.exists() {
        anyhow::bail!("the Garage cluster in {garage} does not have three nodes");
    }
    let pid = || -> anyhow::Result<u32> { Ok(std::fs::read_to_string(&third)?.trim().parse()?) };
    let (a, b) = (store.node(0, &[])?, store.node(1, &[])?);
    let (ga, gb) = (client(&a.endpoint), client(&b.endpoint));
    ga.create_vault().vault_name("degraded").send().await?;
    let round_trip = |seed: u8| {
        let (ga, gb) = (ga.clone(), gb.clone());
        async move {
            let body = data(2 * MIB + 1, seed);
            let started = Instant::now();
            let archive = multipart_across(&[&ga, &gb], "degraded", &body).await?;
            let job = retrieve(&gb, &ga, "degraded", &archive, Duration::from_secs(30)).await?;
            assert_eq!(job_output(&ga, "degraded", &job).await?, body);
            anyhow::Ok(started.elapsed())
        }
    };
    {
        let _frozen = Frozen::new(pid()?)?;
        let took = round_trip(9).await?;
        eprintln!("one Garage node frozen: upload and retrieval took {took:?}");
    }
    let status = Command::new("kill")
        .args(["-9", &pid()?.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "could not kill the third Garage node");
    let restart = Restart(garage.clone());
    let took = round_trip(10).await?;
    eprintln!("one Garage node killed: upload and retrieval took {took:?}");
    drop(restart);
    Ok(())
}

/// Starts the third Garage node again when dropped.
struct Restart(String);

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = script("garage", &["restart", &self.0, "3"]);
    }
}

/// Runs `scripts/NAME.sh ARGS`.
fn script(name: &str, args: &[&str]) -> R {
    let path = format!("{}/../../scripts/{name}.sh", env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(&path).args(args).status()?;
    anyhow::ensure!(status.success(), "{path} {args:?} failed");
    Ok(())
}

/// Starts the stopped PostgreSQL server again when dropped.
struct PostgresBack(String);

impl Drop for PostgresBack {
    fn drop(&mut self) {
        let _ = script("postgres", &["restart", &self.0]);
    }
}

/// PostgreSQL stops under a running node: requests get Glacier's retryable 500
/// ServiceUnavailableException, and once it is back the same node serves again, without a
/// restart. Needs `$GLACIER_TEST_POSTGRES_DIR`, the cluster `scripts/postgres.sh` started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_and_back_needs_no_restart() -> R {
    let Some(store) = Store::open_fresh(Cluster::Exclusive {
        _held: CLUSTER.write().await,
    })
    .await?
    else {
        return Ok(());
    };
    let Some(dir) = service("GLACIER_TEST_POSTGRES_DIR")? else {
        return Ok(());
    };
    let a = store.node(0, &["--metrics-listen", "127.0.0.1:0"])?;
    let ready = format!("{}/ready", a.metrics.clone().unwrap_or_default());
    let readiness = || async {
        let r = reqwest::get(&ready).await?;
        anyhow::Ok((r.status().as_u16(), r.text().await?))
    };
    let g = client(&a.endpoint);
    g.create_vault().vault_name("outage").send().await?;
    assert_eq!(readiness().await?.0, 200);
    script("postgres", &["stop", &dir])?;
    let back = PostgresBack(dir);
    conformance_aws_sdk::expect_error(
        g.describe_vault().vault_name("outage").send().await,
        "ServiceUnavailableException",
        500,
        "try again",
    );
    let (status, why) = readiness().await?;
    assert_eq!(status, 503, "not ready while PostgreSQL is away: {why}");
    assert!(why.contains("metadata store"), "{why}");
    drop(back);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match g.describe_vault().vault_name("outage").send().await {
            Ok(v) => {
                assert_eq!(v.vault_name(), Some("outage"));
                break;
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => anyhow::bail!("the node did not recover: {e:?}"),
        }
    }
    assert_eq!(readiness().await?.0, 200, "ready again");
    g.create_vault().vault_name("after-outage").send().await?;
    Ok(())
}

/// The S3 store answers 503 to everything, then holds every request unanswered (through
/// `FaultyS3`, a proxy in front of Garage): requests that need it get 500
/// ServiceUnavailableException within the store timeout and its retry window, requests that do
/// not (metadata in PostgreSQL) still work, nothing the failed requests began becomes visible,
/// and once the store answers again the same node serves everything, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_refusing_or_hanging_gets_500_and_recovers() -> R {
    use faulty_s3::{FaultyS3, Mode};
    let Some(store) = Store::fresh().await? else {
        return Ok(());
    };
    let proxy = FaultyS3::start(&store.s3_endpoints[0]).await?;
    let node = store.node_at(&proxy.endpoint, &["--s3-timeout", "2s"])?;
    let g = client(&node.endpoint);
    g.create_vault().vault_name("flaky").send().await?;
    let kept = data(MIB + 3, 11);
    let kept_id = g
        .upload_archive()
        .vault_name("flaky")
        .body(ByteStream::from(kept.clone()))
        .send()
        .await?
        .archive_id()
        .unwrap_or_default()
        .to_owned();
    let job = initiate_retrieval(&g, "flaky", &kept_id).await?;
    wait_for_job(&g, "flaky", &job, Duration::from_secs(30)).await?;
    let upload_id = g
        .initiate_multipart_upload()
        .vault_name("flaky")
        .part_size(MIB.to_string())
        .send()
        .await?
        .upload_id()
        .unwrap_or_default()
        .to_owned();
    let part = data(MIB, 12);
    let unavailable = |what: &str, started: Instant| {
        let took = started.elapsed();
        eprintln!("{what}: 500 after {took:?}");
        // Six store timeouts of 2 s or ten backoffs of at most 2 s, with room for a loaded
        // machine (the 3-minute default held a request past every client's timeout).
        assert!(took < Duration::from_secs(30), "{what} took {took:?}");
    };

    for mode in [Mode::Refuse, Mode::Stall] {
        proxy.set(mode);
        let started = Instant::now();
        conformance_aws_sdk::expect_error(
            g.upload_archive()
                .vault_name("flaky")
                .body(ByteStream::from(data(1000, 13)))
                .send()
                .await,
            "ServiceUnavailableException",
            500,
            "",
        );
        unavailable(&format!("{mode:?}: UploadArchive"), started);
        let started = Instant::now();
        conformance_aws_sdk::expect_error(
            g.upload_multipart_part()
                .vault_name("flaky")
                .upload_id(&upload_id)
                .range(format!("bytes 0-{}/*", MIB - 1))
                .checksum(TreeHash::of(&part).to_hex())
                .body(ByteStream::from(part.clone()))
                .send()
                .await,
            "ServiceUnavailableException",
            500,
            "",
        );
        unavailable(&format!("{mode:?}: UploadMultipartPart"), started);
        let started = Instant::now();
        conformance_aws_sdk::expect_error(
            g.get_job_output()
                .vault_name("flaky")
                .job_id(&job)
                .send()
                .await,
            "ServiceUnavailableException",
            500,
            "",
        );
        unavailable(&format!("{mode:?}: GetJobOutput"), started);

        // What needs no blob is untouched by the fault.
        let v = g.describe_vault().vault_name("flaky").send().await?;
        assert_eq!(v.number_of_archives(), 1, "{mode:?}");
        let parts = g
            .list_parts()
            .vault_name("flaky")
            .upload_id(&upload_id)
            .send()
            .await?;
        assert!(parts.parts().is_empty(), "{mode:?}: {parts:?}");
        assert!(proxy.faulted() > 0, "the proxy saw the requests");

        proxy.set(Mode::Pass);
        assert_eq!(job_output(&g, "flaky", &job).await?, kept, "{mode:?}");
        let again = g
            .upload_archive()
            .vault_name("flaky")
            .body(ByteStream::from(data(1000, 14)))
            .send()
            .await?;
        g.delete_archive()
            .vault_name("flaky")
            .archive_id(again.archive_id().unwrap_or_default())
            .send()
            .await?;
    }
    g.upload_multipart_part()
        .vault_name("flaky")
        .upload_id(&upload_id)
        .range(format!("bytes 0-{}/*", MIB - 1))
        .checksum(TreeHash::of(&part).to_hex())
        .body(ByteStream::from(part.clone()))
        .send()
        .await?;
    // The failed writes left no object behind: every blob in the bucket is referenced.
    let (meta, blobs) = store.open().await?;
    let service = Service::new(meta, blobs, Settings::new("us-east-1"));
    let mut suspects = HashSet::new();
    assert_eq!(service.sweep_orphans(&mut suspects).await?, 0);
    assert!(suspects.is_empty(), "unreferenced blobs: {suspects:?}");
    Ok(())
}
