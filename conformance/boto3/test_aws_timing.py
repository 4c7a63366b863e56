"""`glacier serve --aws-timing --time-scale N`: the durations AWS documents, N times as fast,
seen through boto3. Each job's own CreationDate and CompletionDate show when it completed."""

import datetime
import json
import time

import pytest

from conftest import make_client
from harness import Server
from helpers import EXPEDITED, MIB, data, expect_error, wait_for_job

# A job completes no earlier than its window allows, and no later than the window's end plus
# what the engine may take to notice (on PostgreSQL it also looks every second).
LATE = 1.5


def parse(d):
    return datetime.datetime.fromisoformat(d.replace("Z", "+00:00"))


def took(description):
    return (parse(description["CompletionDate"]) - parse(description["CreationDate"])).total_seconds()


@pytest.fixture(scope="module")
def hour_is_a_second():
    s = Server("--aws-timing", "--time-scale", "3600", "--timing-seed", "7")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def day_is_two_seconds():
    s = Server("--aws-timing", "--time-scale", "43200")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def day_is_three_seconds():
    s = Server("--aws-timing", "--time-scale", "28800")
    yield s
    s.stop()


def test_each_tier_completes_inside_its_scaled_window(hour_is_a_second):
    g = make_client(hour_is_a_second.endpoint)
    g.create_vault(vaultName="timed")
    archive = g.upload_archive(vaultName="timed", body=data(MIB, 1))["archiveId"]
    # AWS's windows in hours, an hour being a second here.
    windows = {"Expedited": (1 / 60, 5 / 60), "Standard": (3, 5), "Bulk": (5, 12)}
    if not EXPEDITED:
        del windows["Expedited"]
    jobs = {tier: g.initiate_job(vaultName="timed", jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive, "Tier": tier})["jobId"]
        for tier in windows}
    assert g.describe_job(vaultName="timed", jobId=jobs["Standard"])["StatusCode"] == "InProgress"
    for tier, (low, high) in windows.items():
        d = wait_for_job(g, "timed", jobs[tier], timeout=20)
        assert d["StatusCode"] == "Succeeded", d
        assert low <= took(d) <= high + LATE, (tier, took(d))


def test_the_retrieval_policy_hour_is_scaled(hour_is_a_second):
    g = make_client(hour_is_a_second.endpoint)
    g.create_vault(vaultName="metered")
    archive = g.upload_archive(vaultName="metered", body=data(MIB, 2))["archiveId"]
    g.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "BytesPerHour", "BytesPerHour": MIB}]})
    try:
        job = {"Type": "archive-retrieval", "ArchiveId": archive, "Tier": "Bulk"}
        g.initiate_job(vaultName="metered", jobParameters=job)
        start = time.monotonic()
        message = expect_error("PolicyEnforcedException", 400, g.initiate_job, vaultName="metered",
                               jobParameters=job)
        assert time.monotonic() - start < 1, "refused within the scaled hour"
        time.sleep(1.1)
        g.initiate_job(vaultName="metered", jobParameters=job)  # the hour has passed
        assert "hour" in message.lower(), message
    finally:
        g.set_data_retrieval_policy(Policy={"Rules": [{"Strategy": "None"}]})


def test_outputs_expire_a_scaled_day_after_completion(day_is_three_seconds):
    g = make_client(day_is_three_seconds.endpoint)
    g.create_vault(vaultName="fleeting")
    body = data(1000, 3)
    archive = g.upload_archive(vaultName="fleeting", body=body)["archiveId"]
    job = g.initiate_job(vaultName="fleeting", jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive})["jobId"]
    d = wait_for_job(g, "fleeting", job)
    assert g.get_job_output(vaultName="fleeting", jobId=job)["body"].read() == body
    deadline = time.monotonic() + 3 + 2 * LATE + 5
    while True:
        try:
            g.describe_job(vaultName="fleeting", jobId=job)
        except g.exceptions.ResourceNotFoundException:
            break
        assert time.monotonic() < deadline, "the output outlived its scaled 24 hours"
        time.sleep(0.1)
    gone = datetime.datetime.now(datetime.timezone.utc)
    assert (gone - parse(d["CompletionDate"])).total_seconds() >= 3, "kept a scaled 24 hours"
    expect_error("ResourceNotFoundException", 404, g.get_job_output, vaultName="fleeting", jobId=job)


def test_a_lock_in_progress_lapses_after_a_scaled_day(day_is_three_seconds):
    g = make_client(day_is_three_seconds.endpoint)
    g.create_vault(vaultName="undecided")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "no-deletes", "Principal": "*", "Effect": "Deny", "Action": "glacier:DeleteArchive",
        "Resource": "arn:aws:glacier:us-east-1:111122223333:vaults/undecided"}]}
    lock = g.initiate_vault_lock(vaultName="undecided", policy={"Policy": json.dumps(policy)})["lockId"]
    started = time.monotonic()
    state = g.get_vault_lock(vaultName="undecided")
    assert state["State"] == "InProgress"
    expiry = parse(state["ExpirationDate"]) - parse(state["CreationDate"])
    assert abs(expiry.total_seconds() - 3) < 0.01, state
    time.sleep(max(0.0, 3.2 - (time.monotonic() - started)))
    expect_error("ResourceNotFoundException", 404, g.get_vault_lock, vaultName="undecided")
    expect_error("InvalidParameterValueException", 400, g.complete_vault_lock, vaultName="undecided",
                 lockId=lock)


def next_inventory(g, vault, after=None, timeout=15):
    """Waits for the vault's daily inventory after `after` (a LastInventoryDate); its description."""
    deadline = time.monotonic() + timeout
    while True:
        d = g.describe_vault(vaultName=vault)
        if d.get("LastInventoryDate") and d["LastInventoryDate"] != after:
            return d
        assert time.monotonic() < deadline, f"no inventory after {after}: {d}"
        time.sleep(0.05)


def inventory_of(g, vault):
    """The archive ids an inventory job returns now, and the job's description."""
    job = g.initiate_job(vaultName=vault, jobParameters={"Type": "inventory-retrieval"})["jobId"]
    d = wait_for_job(g, vault, job)
    body = json.loads(g.get_job_output(vaultName=vault, jobId=job)["body"].read())
    return sorted(a["ArchiveId"] for a in body["ArchiveList"]), d, body


def test_inventories_are_daily_snapshots_as_on_aws(day_is_two_seconds):
    """A day is two seconds: the first inventory comes a day after the first upload, then one
    a day when the vault changed; inventory jobs and DescribeVault are as of the last one, and
    a vault is deleted only once an inventory after its last write shows it empty."""
    g = make_client(day_is_two_seconds.endpoint)
    g.create_vault(vaultName="daily")
    d = g.describe_vault(vaultName="daily")
    assert (d["NumberOfArchives"], d["SizeInBytes"], d.get("LastInventoryDate")) == (0, 0, None)
    expect_error("ResourceNotFoundException", 404, g.initiate_job, vaultName="daily",
                 jobParameters={"Type": "inventory-retrieval"}, contains="no inventory yet")
    first = g.upload_archive(vaultName="daily", body=b"first")["archiveId"]
    uploaded = datetime.datetime.now(datetime.timezone.utc)
    assert g.describe_vault(vaultName="daily")["NumberOfArchives"] == 0, "as of no inventory yet"
    d = next_inventory(g, "daily")
    assert (parse(d["LastInventoryDate"]) - uploaded).total_seconds() >= 2 - 0.05, "a day later"
    assert (d["NumberOfArchives"], d["SizeInBytes"]) == (1, 5)

    second = g.upload_archive(vaultName="daily", body=b"second")["archiveId"]
    ids, job, body = inventory_of(g, "daily")
    assert ids == [first], "an archive uploaded since the inventory is not in it"
    assert body["InventoryDate"] == d["LastInventoryDate"]
    assert 3.5 / 24 <= took(job) <= 4.5 / 24 + LATE, ("an inventory job takes ~4 scaled hours", took(job))
    g.delete_archive(vaultName="daily", archiveId=first)
    assert inventory_of(g, "daily")[0] == [first], "an archive deleted since is still in it"
    assert g.describe_vault(vaultName="daily")["NumberOfArchives"] == 1

    d = next_inventory(g, "daily", after=d["LastInventoryDate"])
    assert (d["NumberOfArchives"], d["SizeInBytes"]) == (1, 6)
    assert inventory_of(g, "daily")[0] == [second]
    g.delete_archive(vaultName="daily", archiveId=second)
    expect_error("InvalidParameterValueException", 400, g.delete_vault, vaultName="daily",
                 contains="Vault not empty or recently written to")
    d = next_inventory(g, "daily", after=d["LastInventoryDate"])
    assert d["NumberOfArchives"] == 0
    g.delete_vault(vaultName="daily")
    expect_error("ResourceNotFoundException", 404, g.describe_vault, vaultName="daily")
