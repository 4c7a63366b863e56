import csv
import io
import json
import time

import pytest

from conftest import HOOK_TOPIC
from helpers import (EXPEDITED, MIB, data, expect_error, inventory, retrieve, tree_hash, upload_multipart,
                     wait_for_job)

DESCRIPTION_FIELDS = {
    "JobId", "JobDescription", "Action", "ArchiveId", "VaultARN", "CreationDate", "Completed", "StatusCode",
    "StatusMessage", "ArchiveSizeInBytes", "InventorySizeInBytes", "SNSTopic", "CompletionDate", "SHA256TreeHash",
    "ArchiveSHA256TreeHash", "RetrievalByteRange", "Tier", "InventoryRetrievalParameters"}


@pytest.mark.parametrize("size", [MIB // 2, MIB, 5 * MIB + 3])
def test_archive_round_trip_byte_exact(glacier, vault, size):
    body = data(size, seed=size % 251)
    archive_id = glacier.upload_archive(vaultName=vault, body=body, archiveDescription=f"size {size}")["archiveId"]
    job_id = retrieve(glacier, vault, archive_id, Description="round trip")
    d = glacier.describe_job(vaultName=vault, jobId=job_id)
    assert (d["Action"], d["StatusCode"], d["Completed"]) == ("ArchiveRetrieval", "Succeeded", True)
    assert d["ArchiveSizeInBytes"] == size and d["ArchiveSHA256TreeHash"] == tree_hash(body)
    assert d["SHA256TreeHash"] == tree_hash(body) and d["RetrievalByteRange"] == f"0-{size - 1}"
    assert d["JobDescription"] == "round trip" and d["Tier"] == "Standard"

    out = glacier.get_job_output(vaultName=vault, jobId=job_id)
    assert out["status"] == 200 and out["acceptRanges"] == "bytes"
    assert out["checksum"] == tree_hash(body) and out["archiveDescription"] == f"size {size}"
    assert out["body"].read() == body

    # Download in 1 MiB chunks the way boto 2 does, the last one asking past the end: every
    # chunk is served with its tree hash.
    got = b""
    for start in range(0, size, MIB):
        part = glacier.get_job_output(vaultName=vault, jobId=job_id, range=f"bytes={start}-{start + MIB - 1}")
        chunk = part["body"].read()
        assert part["status"] == 206
        assert part["contentRange"] == f"bytes {start}-{start + len(chunk) - 1}/{size}"
        assert part["checksum"] == tree_hash(chunk)
        got += chunk
    assert got == body


def test_multipart_archive_round_trip_and_unaligned_ranges(glacier, vault):
    body = data(3 * MIB + 1000, seed=7)
    archive_id = upload_multipart(glacier, vault, body)
    job_id = retrieve(glacier, vault, archive_id)
    assert glacier.get_job_output(vaultName=vault, jobId=job_id)["body"].read() == body
    # A range that is not tree-hash aligned is served without a checksum.
    part = glacier.get_job_output(vaultName=vault, jobId=job_id, range="bytes=100-2000000")
    assert part["body"].read() == body[100:2000001]
    assert "checksum" not in part
    part = glacier.get_job_output(vaultName=vault, jobId=job_id, range=f"bytes={MIB}-{3 * MIB - 1}")
    assert part["body"].read() == body[MIB:3 * MIB] and "checksum" not in part, "2 MiB at 1 MiB is no tree node"
    part = glacier.get_job_output(vaultName=vault, jobId=job_id, range=f"bytes={2 * MIB}-")
    assert part["body"].read() == body[2 * MIB:] and part["checksum"] == tree_hash(body[2 * MIB:])


def test_ranged_retrieval(glacier, vault):
    body = data(5 * MIB + 3, seed=11)
    archive_id = glacier.upload_archive(vaultName=vault, body=body)["archiveId"]
    aligned = retrieve(glacier, vault, archive_id, RetrievalByteRange=f"{2 * MIB}-{4 * MIB - 1}")
    d = glacier.describe_job(vaultName=vault, jobId=aligned)
    assert d["RetrievalByteRange"] == f"{2 * MIB}-{4 * MIB - 1}"
    assert d["SHA256TreeHash"] == tree_hash(body[2 * MIB:4 * MIB])
    out = glacier.get_job_output(vaultName=vault, jobId=aligned)
    assert out["body"].read() == body[2 * MIB:4 * MIB] and out["checksum"] == tree_hash(body[2 * MIB:4 * MIB])

    unaligned = retrieve(glacier, vault, archive_id, RetrievalByteRange=f"{MIB}-{3 * MIB - 1}")
    d = glacier.describe_job(vaultName=vault, jobId=unaligned)
    assert d.get("SHA256TreeHash") is None, "not tree-hash aligned: no SHA256TreeHash"
    assert glacier.get_job_output(vaultName=vault, jobId=unaligned)["body"].read() == body[MIB:3 * MIB]

    tail = retrieve(glacier, vault, archive_id, RetrievalByteRange=f"{4 * MIB}-{len(body) - 1}")
    out = glacier.get_job_output(vaultName=vault, jobId=tail)
    assert out["body"].read() == body[4 * MIB:] and out["checksum"] == tree_hash(body[4 * MIB:])


def test_job_description_has_every_field(glacier, vault):
    archive_id = glacier.upload_archive(vaultName=vault, body=b"tiny")["archiveId"]
    job_id = retrieve(glacier, vault, archive_id)
    raw = {}
    glacier.meta.events.register("after-call.glacier.DescribeJob",
                                 lambda http_response, **kw: raw.setdefault("body", http_response.content))
    glacier.describe_job(vaultName=vault, jobId=job_id)
    doc = json.loads(raw["body"])
    assert DESCRIPTION_FIELDS <= set(doc), DESCRIPTION_FIELDS - set(doc)
    assert doc["InventorySizeInBytes"] is None and doc["SNSTopic"] is None


def test_list_jobs_filters_and_pages(glacier, vault):
    archive_id = glacier.upload_archive(vaultName=vault, body=b"x")["archiveId"]
    ids = [retrieve(glacier, vault, archive_id) for _ in range(3)]
    listed = [j["JobId"] for p in glacier.get_paginator("list_jobs").paginate(
        vaultName=vault, PaginationConfig={"PageSize": 1}) for j in p["JobList"]]
    assert listed == ids, "jobs are listed in creation order"
    assert len(glacier.list_jobs(vaultName=vault, completed="true")["JobList"]) == 3
    assert glacier.list_jobs(vaultName=vault, completed="false")["JobList"] == []
    assert len(glacier.list_jobs(vaultName=vault, statuscode="Succeeded")["JobList"]) == 3
    assert glacier.list_jobs(vaultName=vault, statuscode="Failed")["JobList"] == []
    expect_error("InvalidParameterValueException", 400, glacier.list_jobs, vaultName=vault, statuscode="Done",
                 contains="statuscode")
    expect_error("InvalidParameterValueException", 400, glacier.list_jobs, vaultName=vault, completed="maybe",
                 contains="completed")


def test_inventory_json_and_csv(glacier, vault):
    descriptions = ["plain", 'quote " and, comma', "tab-free ~ printable"]
    bodies = [data(1000 + i, seed=i) for i in range(3)]
    ids = [glacier.upload_archive(vaultName=vault, body=b, archiveDescription=d)["archiveId"]
           for b, d in zip(bodies, descriptions)]

    d, raw, out = inventory(glacier, vault)
    assert out["contentType"] == "application/json"
    assert d["Action"] == "InventoryRetrieval" and d["InventorySizeInBytes"] == len(raw)
    assert d["InventoryRetrievalParameters"]["Format"] == "JSON"
    doc = json.loads(raw)
    assert doc["VaultARN"].endswith(f":vaults/{vault}") and doc["InventoryDate"].endswith("Z")
    # Creation order; archives made in the same millisecond may come in either order.
    by_id = {a["ArchiveId"]: a for a in doc["ArchiveList"]}
    assert sorted(by_id) == sorted(ids)
    dates = [a["CreationDate"] for a in doc["ArchiveList"]]
    assert dates == sorted(dates)
    for archive_id, b, desc in zip(ids, bodies, descriptions):
        a = by_id[archive_id]
        assert (a["ArchiveDescription"], a["Size"], a["SHA256TreeHash"]) == (desc, len(b), tree_hash(b))
        assert a["CreationDate"].endswith("Z")
    assert glacier.describe_vault(vaultName=vault).get("LastInventoryDate"), "an inventory sets LastInventoryDate"

    _, raw, out = inventory(glacier, vault, Format="CSV")
    assert out["contentType"] == "text/csv"
    rows = list(csv.reader(io.StringIO(raw.decode())))
    assert rows[0] == ["ArchiveId", "ArchiveDescription", "CreationDate", "Size", "SHA256TreeHash"]
    assert sorted((r[0], r[1], int(r[3]), r[4]) for r in rows[1:]) == sorted(
        (i, desc, len(b), tree_hash(b)) for i, desc, b in zip(ids, descriptions, bodies))
    for i in ids:
        glacier.delete_archive(vaultName=vault, archiveId=i)


def test_inventory_limit_marker_and_dates(glacier, vault):
    ids = []
    for i in range(5):
        ids.append(glacier.upload_archive(vaultName=vault, body=bytes([i]))["archiveId"])
        time.sleep(0.01)
    seen, marker, rounds = [], None, 0
    while True:
        params = {"Limit": "2"}
        if marker:
            params["Marker"] = marker
        d, raw, _ = inventory(glacier, vault, InventoryRetrievalParameters=params)
        page = [a["ArchiveId"] for a in json.loads(raw)["ArchiveList"]]
        assert len(page) <= 2
        seen += page
        rounds += 1
        marker = d["InventoryRetrievalParameters"].get("Marker")
        assert d["InventoryRetrievalParameters"]["Limit"] == "2"
        if not marker:
            break
    assert seen == ids and rounds == 3

    _, raw, _ = inventory(glacier, vault)
    dates = [a["CreationDate"] for a in json.loads(raw)["ArchiveList"]]
    _, raw, _ = inventory(glacier, vault, InventoryRetrievalParameters={"StartDate": dates[1], "EndDate": dates[3]})
    assert [a["ArchiveId"] for a in json.loads(raw)["ArchiveList"]] == ids[1:3], "StartDate inclusive, EndDate exclusive"
    for i in ids:
        glacier.delete_archive(vaultName=vault, archiveId=i)


def test_bad_job_requests(glacier, vault, server):
    archive_id = glacier.upload_archive(vaultName=vault, body=data(3 * MIB))["archiveId"]
    jobs_before = glacier.list_jobs(vaultName=vault)["JobList"]

    def bad(code, status, contains, **params):
        expect_error(code, status, glacier.initiate_job, vaultName=vault, jobParameters=params, contains=contains)

    bad("MissingParameterValueException", 400, "Type", ArchiveId=archive_id)
    bad("InvalidParameterValueException", 400, "job type", Type="archive-deletion")
    bad("InvalidParameterValueException", 400, "not supported", Type="select", ArchiveId=archive_id)
    bad("MissingParameterValueException", 400, "ArchiveId", Type="archive-retrieval")
    bad("ResourceNotFoundException", 404, "no-such-archive", Type="archive-retrieval", ArchiveId="no-such-archive")
    bad("InvalidParameterValueException", 400, "aligned", Type="archive-retrieval", ArchiveId=archive_id,
        RetrievalByteRange="1-1048576")
    bad("InvalidParameterValueException", 400, "RetrievalByteRange", Type="archive-retrieval", ArchiveId=archive_id,
        RetrievalByteRange=f"0-{3 * MIB}")
    bad("InvalidParameterValueException", 400, "Tier", Type="archive-retrieval", ArchiveId=archive_id, Tier="Fast")
    bad("InvalidParameterValueException", 400, "Format", Type="inventory-retrieval", Format="XML")
    bad("InvalidParameterValueException", 400, "StartDate", Type="inventory-retrieval",
        InventoryRetrievalParameters={"StartDate": "yesterday"})
    bad("InvalidParameterValueException", 400, "Limit", Type="inventory-retrieval",
        InventoryRetrievalParameters={"Limit": "0"})
    bad("InvalidParameterValueException", 400, "Marker", Type="inventory-retrieval",
        InventoryRetrievalParameters={"Marker": "nonsense"})
    bad("InvalidParameterValueException", 400, "SNSTopic", Type="inventory-retrieval", SNSTopic="my-topic")
    expect_error("ResourceNotFoundException", 404, glacier.initiate_job, vaultName="no-such-vault",
                 jobParameters={"Type": "inventory-retrieval"})
    assert glacier.list_jobs(vaultName=vault)["JobList"] == jobs_before, "no job was created"

    expect_error("ResourceNotFoundException", 404, glacier.describe_job, vaultName=vault, jobId="no-such-job",
                 contains="no-such-job")
    expect_error("ResourceNotFoundException", 404, glacier.get_job_output, vaultName=vault, jobId="no-such-job")
    job_id = retrieve(glacier, vault, archive_id)
    expect_error("InvalidParameterValueException", 400, glacier.get_job_output, vaultName=vault, jobId=job_id,
                 range=f"bytes={3 * MIB}-", contains="beyond")
    glacier.delete_archive(vaultName=vault, archiveId=archive_id)
    deleted = expect_error("ResourceNotFoundException", 404, glacier.initiate_job, vaultName=vault,
                           jobParameters={"Type": "archive-retrieval", "ArchiveId": archive_id})
    assert archive_id in deleted
    # The finished job's output outlives the archive until the job expires.
    assert len(glacier.get_job_output(vaultName=vault, jobId=job_id)["body"].read()) == 3 * MIB


def test_jobs_are_asynchronous_fail_and_expire(slow, slow_server):
    slow.create_vault(vaultName="slow")
    archive_id = slow.upload_archive(vaultName="slow", body=b"data")["archiveId"]

    bulk = slow.initiate_job(vaultName="slow", jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive_id, "Tier": "Bulk"})["jobId"]
    d = slow.describe_job(vaultName="slow", jobId=bulk)
    assert (d["StatusCode"], d["Completed"], d["Tier"]) == ("InProgress", False, "Bulk")
    expect_error("InvalidParameterValueException", 400, slow.get_job_output, vaultName="slow", jobId=bulk,
                 contains="not currently available")
    assert [j["JobId"] for j in slow.list_jobs(vaultName="slow", completed="false")["JobList"]] == [bulk]

    standard = slow.initiate_job(vaultName="slow", jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive_id})["jobId"]
    slow.delete_archive(vaultName="slow", archiveId=archive_id)
    d = wait_for_job(slow, "slow", standard)
    assert d["StatusCode"] == "Failed" and "deleted" in d["StatusMessage"]
    expect_error("InvalidParameterValueException", 400, slow.get_job_output, vaultName="slow", jobId=standard,
                 contains="failed")

    fast = slow.initiate_job(vaultName="slow", jobParameters={"Type": "inventory-retrieval"})["jobId"]
    wait_for_job(slow, "slow", fast)
    deadline = time.monotonic() + 20
    while True:  # expires 3 s after it finished
        try:
            slow.describe_job(vaultName="slow", jobId=fast)
        except slow.exceptions.ResourceNotFoundException:
            break
        assert time.monotonic() < deadline, "the job did not expire"
        time.sleep(0.1)


def test_notifications_reach_webhooks(slow, receiver):
    slow.create_vault(vaultName="notify")
    slow.set_vault_notifications(vaultName="notify", vaultNotificationConfig={
        "SNSTopic": HOOK_TOPIC, "Events": ["InventoryRetrievalCompleted"]})
    archive_id = slow.upload_archive(vaultName="notify", body=b"payload")["archiveId"]
    job = slow.initiate_job(vaultName="notify", jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive_id, "Tier": "Expedited" if EXPEDITED else "Standard",
        "SNSTopic": f"{receiver.url}/job-topic"})["jobId"]
    path, body = receiver.wait_for(lambda p, b: json.loads(b["Message"])["JobId"] == job)
    assert path == "/job-topic" and body["Type"] == "Notification"
    message = json.loads(body["Message"])
    assert (message["StatusCode"], message["Action"], message["ArchiveId"]) == ("Succeeded", "ArchiveRetrieval", archive_id)

    inv = slow.initiate_job(vaultName="notify", jobParameters={"Type": "inventory-retrieval"})["jobId"]
    path, body = receiver.wait_for(lambda p, b: json.loads(b["Message"])["JobId"] == inv)
    assert path == "/arn-hook" and body["TopicArn"] == HOOK_TOPIC, "the vault's topic, mapped to its webhook"
    assert not any(json.loads(b["Message"])["JobId"] == job and p == "/arn-hook" for p, b in receiver.received), \
        "the vault subscribes to inventory events only"
