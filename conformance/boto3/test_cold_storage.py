"""The vault API on S3's archive storage classes: `glacier serve --s3-storage-class DEEP_ARCHIVE`
on an S3 that models them (moto, which refuses to read a DEEP_ARCHIVE object before its restore)
behind restoring_s3.py's proxy, which keeps each restore under way a few seconds. Uploads land
in DEEP_ARCHIVE (small ones in STANDARD), a retrieval job restores its archive's objects and
stays InProgress until they can be read, across a restart, and on two nodes when the suite runs
on PostgreSQL; the bytes come back exact.

Runs on a data directory (one node) and on the two-node PostgreSQL run; the other stores'
runs would repeat the same thing."""

import json
import os
import subprocess
import sys
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import make_client
from harness import ACCESS_KEY, ROOT, SECRET_KEY, Server
from helpers import MIB, data, expect_error, inventory, tree_hash, upload_multipart, wait_for_job

sys.path.insert(0, str(ROOT / "conformance"))
from restoring_s3 import RestoringS3  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.environ.get("GLACIER_TEST_STORE", "postgres+s3") != "postgres+s3"
    or os.environ.get("GLACIER_TEST_S3_STORAGE_CLASS"),
    reason="runs on a data directory and on the two-node PostgreSQL run")

HOLD = 3.0


@pytest.fixture(scope="module")
def cold():
    s3 = RestoringS3(hold=HOLD)
    boto3.client("s3", endpoint_url=s3.moto_endpoint, region_name="us-east-1",
                 aws_access_key_id="cold", aws_secret_access_key="cold").create_bucket(Bucket="cold")
    s3.bucket = "cold"
    yield s3
    s3.stop()


@pytest.fixture(scope="module")
def cold_server(cold):
    s = Server("--retrieval-delay", "0s", cold=cold)
    yield s
    s.stop()


@pytest.fixture
def g(cold_server):
    return make_client(cold_server.endpoint)


@pytest.fixture
def moto(cold):
    """boto3 on moto itself, past the proxy (neither counted nor held)."""
    return boto3.client("s3", endpoint_url=cold.moto_endpoint, region_name="us-east-1",
                        aws_access_key_id="cold", aws_secret_access_key="cold")


def objects(moto, server):
    """{object key: storage class} of the server's blobs."""
    listed = moto.list_objects_v2(Bucket="cold", Prefix=f"{server.prefix}/blobs/")
    return {o["Key"]: o["StorageClass"] for o in listed.get("Contents", [])}


def start(g, vault, archive_id, tier="Standard"):
    return g.initiate_job(vaultName=vault, jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive_id, "Tier": tier})["jobId"]


def output(g, vault, job):
    out = g.get_job_output(vaultName=vault, jobId=job)
    return out["body"].read(), out["checksum"]


def retrieved(g, vault, archive_id, body, tier="Standard", timeout=30):
    """Retrieves an archive and checks that its output is body, with body's tree hash."""
    job = start(g, vault, archive_id, tier)
    d = wait_for_job(g, vault, job, timeout=timeout)
    assert d["StatusCode"] == "Succeeded", d
    assert output(g, vault, job) == (body, tree_hash(body))


def test_uploads_are_archived_and_retrievals_restore_them_first(cold, cold_server, g, moto):
    vault = "deep"
    g.create_vault(vaultName=vault)
    before = set(objects(moto, cold_server))
    large = data(MIB + 5, 1)
    large_id = g.upload_archive(vaultName=vault, body=large)["archiveId"]
    large_objects = set(objects(moto, cold_server)) - before
    small = b"a note of a few bytes"
    small_id = g.upload_archive(vaultName=vault, body=small)["archiveId"]
    parts = data(2 * MIB + 3, 2)
    parts_id = upload_multipart(g, vault, parts)

    classes = sorted(objects(moto, cold_server).values())
    # The 1 MiB archive and the two whole parts in Deep Archive; the small archive and the
    # 3-byte last part in STANDARD (under 10 KiB, S3's 40 KB per archived object costs more).
    assert classes == ["DEEP_ARCHIVE"] * 3 + ["STANDARD"] * 2, classes
    (large_key,) = large_objects
    with pytest.raises(ClientError) as refused:
        moto.get_object(Bucket="cold", Key=large_key)
    assert refused.value.response["Error"]["Code"] == "InvalidObjectState"

    t0 = time.monotonic()
    job = start(g, vault, large_id)
    time.sleep(HOLD - 1)
    d = g.describe_job(vaultName=vault, jobId=job)
    assert (d["StatusCode"], d["Completed"]) == ("InProgress", False), d
    d = wait_for_job(g, vault, job, timeout=30)
    assert d["StatusCode"] == "Succeeded", d
    assert time.monotonic() - t0 >= HOLD, "completed before the restore did"
    body, checksum = output(g, vault, job)
    assert body == large and checksum == tree_hash(large)
    counts = cold.requests(cold_server.prefix)
    assert counts.get("restore") == 1, counts

    # A STANDARD object needs no restore: at once, and no restore asked for.
    retrieved(g, vault, small_id, small, timeout=5)
    assert cold.requests(cold_server.prefix).get("restore") == 1

    # A multipart archive: each archived part restored once, whatever the tier.
    retrieved(g, vault, parts_id, parts, tier="Bulk")
    counts = cold.requests(cold_server.prefix)
    assert counts.get("restore") == 3, counts

    # Restored already and readable long enough: a second retrieval asks for no restore.
    retrieved(g, vault, large_id, large, timeout=5)
    assert cold.requests(cold_server.prefix).get("restore") == 3


def test_expedited_is_refused_in_deep_archive(g):
    vault = "deep-expedited"
    g.create_vault(vaultName=vault)
    archive = g.upload_archive(vaultName=vault, body=data(100_000, 3))["archiveId"]
    expect_error("InvalidParameterValueException", 400, g.initiate_job, vaultName=vault,
                 jobParameters={"Type": "archive-retrieval", "ArchiveId": archive,
                                "Tier": "Expedited"},
                 contains="DEEP_ARCHIVE")
    assert g.list_jobs(vaultName=vault)["JobList"] == [], "a refused job is not started"


def test_a_restore_under_way_survives_a_restart(cold, cold_server, g):
    vault = "deep-restart"
    g.create_vault(vaultName=vault)
    body = data(300_000, 4)
    archive = g.upload_archive(vaultName=vault, body=body)["archiveId"]
    restores = cold.requests(cold_server.prefix).get("restore", 0)
    job = start(g, vault, archive, tier="Bulk")
    deadline = time.monotonic() + 10
    while cold.requests(cold_server.prefix).get("restore", 0) == restores:
        assert time.monotonic() < deadline, "no restore asked for"
        time.sleep(0.1)
    cold_server.restart()
    g = make_client(cold_server.endpoint)
    assert g.describe_job(vaultName=vault, jobId=job)["StatusCode"] == "InProgress"
    assert wait_for_job(g, vault, job, timeout=30)["StatusCode"] == "Succeeded"
    assert output(g, vault, job)[0] == body
    # The restore under way was found, not asked for again.
    assert cold.requests(cold_server.prefix).get("restore") == restores + 1


def test_polls_are_sparing_and_from_one_node(cold, cold_server, g):
    vault = "deep-polls"
    g.create_vault(vaultName=vault)
    archive = g.upload_archive(vaultName=vault, body=data(200_000, 5))["archiveId"]
    cold.configure(hold=8)
    try:
        heads = cold.requests(cold_server.prefix).get("head", 0)
        job = start(g, vault, archive)
        assert wait_for_job(g, vault, job, timeout=40)["StatusCode"] == "Succeeded"
    finally:
        cold.configure(hold=HOLD)
    polls = cold.requests(cold_server.prefix)["head"] - heads
    # One engine polls (held by a lease on several nodes), at most once a second, less often as
    # the wait grows: 9 or 10 polls over 8 s; two nodes polling each second would make 16.
    assert 3 <= polls <= 11, (polls, len(cold_server.endpoints))


def test_a_refused_restore_fails_the_job_with_its_reason(cold, g):
    vault = "deep-refused"
    g.create_vault(vaultName=vault)
    archive = g.upload_archive(vaultName=vault, body=data(50_000, 6))["archiveId"]
    cold.configure(refuse="AccessDenied")
    try:
        job = start(g, vault, archive)
        d = wait_for_job(g, vault, job, timeout=20)
    finally:
        cold.configure()
    assert d["StatusCode"] == "Failed", d
    assert "S3 refused to restore the archive: AccessDenied" in d["StatusMessage"], d
    expect_error("InvalidParameterValueException", 400, g.get_job_output, vaultName=vault,
                 jobId=job, contains="failed")


def test_migrate_from_a_vault_into_deep_archive_verifies_every_byte(server, cold, cold_server, moto,
                                                                     tmp_path):
    """The way off AWS: `glacier migrate --from SOURCE --to THIS-SERVER` (the source here another
    glacier serve standing in for aws:REGION) copies a vault onto Deep Archive, each archive's
    tree hash checked; the copies then read back through a restore."""
    src = make_client(server.endpoint)
    vault = f"leaving-{os.getpid()}"
    src.create_vault(vaultName=vault)
    bodies = [data(700_000, 10), data(5, 11), data(2 * MIB + 1, 12)]
    for i, body in enumerate(bodies):
        src.upload_archive(vaultName=vault, body=body, archiveDescription=f"archive {i}")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               GLACIER_STATE_DIR=str(tmp_path / "state"))
    out = subprocess.run([server.binary, "migrate", "--from", server.endpoint, "--to",
                          cold_server.endpoint, "--vault", vault, "--output", "json", "--quiet"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["vaults"][0]["copied"] == 3, out.stdout

    g = make_client(cold_server.endpoint)
    copies = {a["ArchiveDescription"]: a for a in json.loads(inventory(g, vault)[1])["ArchiveList"]}
    assert sorted(copies) == ["archive 0", "archive 1", "archive 2"]
    for i, body in enumerate(bodies):
        a = copies[f"archive {i}"]
        assert (a["Size"], a["SHA256TreeHash"]) == (len(body), tree_hash(body))
        retrieved(g, vault, a["ArchiveId"], body, tier="Bulk")
    assert "DEEP_ARCHIVE" in objects(moto, cold_server).values()
