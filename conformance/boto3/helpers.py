import hashlib
import os

import pytest
from botocore.exceptions import ClientError
from botocore.utils import calculate_tree_hash
import io

MIB = 1024 * 1024
# InitiateJob offers Expedited unless the suite runs on S3 Deep Archive (scripts/test runs it
# there too), which restores at Standard or Bulk only: test_cold_storage.py asserts the refusal.
EXPEDITED = os.environ.get("GLACIER_TEST_S3_STORAGE_CLASS") != "DEEP_ARCHIVE"


def data(n, seed=0):
    """Deterministic bytes that differ per MiB and per seed."""
    block = hashlib.sha256(f"{seed}".encode()).digest() * 32768  # 1 MiB
    out = bytearray()
    i = 0
    while len(out) < n:
        out += bytes((b + i) % 256 for b in block[:64]) + block[64:]
        i += 1
    return bytes(out[:n])


def tree_hash(b):
    return calculate_tree_hash(io.BytesIO(b))


def expect_error(code, status, fn, *args, contains=None, **kwargs):
    """Calls fn and asserts that it fails with this Glacier error code and HTTP status."""
    with pytest.raises(ClientError) as info:
        fn(*args, **kwargs)
    err = info.value.response
    assert err["Error"]["Code"] == code, err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status, err
    message = err["Error"]["Message"]
    assert message, "every error says what was wrong"
    if contains:
        assert contains.lower() in message.lower(), message
    assert err["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid"), "request id header"
    return message


def wait_for_job(glacier, vault, job_id, timeout=30):
    """Polls DescribeJob until the job completes (or the deadline passes); returns the description."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        d = glacier.describe_job(vaultName=vault, jobId=job_id)
        if d["Completed"]:
            return d
        assert time.monotonic() < deadline, f"job {job_id} did not complete in {timeout}s: {d}"
        time.sleep(0.05)


def retrieve(glacier, vault, archive_id, **params):
    """Initiates an archive retrieval and waits for it; returns the job id."""
    r = glacier.initiate_job(vaultName=vault, jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive_id, **params})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert r["location"].endswith(f"/vaults/{vault}/jobs/{r['jobId']}")
    wait_for_job(glacier, vault, r["jobId"])
    return r["jobId"]


def inventory(glacier, vault, **params):
    """Runs an inventory job to completion; returns (job description, output bytes)."""
    r = glacier.initiate_job(vaultName=vault, jobParameters={"Type": "inventory-retrieval", **params})
    d = wait_for_job(glacier, vault, r["jobId"])
    out = glacier.get_job_output(vaultName=vault, jobId=r["jobId"])
    return d, out["body"].read(), out


def upload_multipart(glacier, vault, body, part_size=MIB, description="multipart"):
    """Uploads body in parts of part_size, one after another; returns the archive id."""
    up = glacier.initiate_multipart_upload(vaultName=vault, partSize=str(part_size),
                                           archiveDescription=description)["uploadId"]
    for start in range(0, len(body), part_size):
        chunk = body[start:start + part_size]
        glacier.upload_multipart_part(vaultName=vault, uploadId=up, body=chunk,
                                      range=f"bytes {start}-{start + len(chunk) - 1}/*")
    return glacier.complete_multipart_upload(vaultName=vault, uploadId=up, archiveSize=str(len(body)),
                                             checksum=tree_hash(body))["archiveId"]
