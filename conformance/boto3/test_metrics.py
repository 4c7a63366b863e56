"""The operator's endpoints (--metrics-listen): /health, /ready, and Prometheus /metrics whose
counters move by exactly what a boto3 session did, with the usage gauges read from the store."""

import re
import time
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import make_client
from harness import ACCOUNT, Server


@pytest.fixture(scope="module")
def metered():
    s = Server("--metrics-listen", "127.0.0.1:0")
    yield s
    s.stop()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(server):
    """Every sample of every node, summed over nodes: {'name{labels}': value}."""
    samples = {}
    for endpoint in server.metrics_endpoints:
        status, text = get(endpoint + "/metrics")
        assert status == 200, text
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            samples[name] = samples.get(name, 0.0) + float(value)
    return samples


def value(samples, name, **labels):
    """The sample `name` whose labels include `labels` (0 when absent)."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for key, v in samples.items():
        base, _, rest = key.partition("{")
        if base == name and all(w in rest for w in want):
            total += v
    return total


def test_health_and_ready(metered):
    for endpoint in metered.metrics_endpoints:
        assert get(endpoint + "/health") == (200, "ok\n")
        assert get(endpoint + "/ready") == (200, "ready\n")


def test_counters_move_by_what_a_session_did(metered):
    g = make_client(metered.endpoint)
    before = scrape(metered)
    name = f"m-{uuid.uuid4().hex[:8]}"
    g.create_vault(vaultName=name)
    sizes = [1000, 250_000]
    ids = [g.upload_archive(vaultName=name, body=b"m" * n)["archiveId"] for n in sizes]
    g.describe_vault(vaultName=name)
    with pytest.raises(g.exceptions.ResourceNotFoundException):
        g.describe_vault(vaultName=name + "-missing")
    job = g.initiate_job(vaultName=name, jobParameters={"Type": "archive-retrieval", "ArchiveId": ids[1]})
    for _ in range(400):
        if g.describe_job(vaultName=name, jobId=job["jobId"])["Completed"]:
            break
        time.sleep(0.025)
    out = g.get_job_output(vaultName=name, jobId=job["jobId"])["body"].read()
    assert len(out) == sizes[1]
    after = scrape(metered)

    def moved(metric, **labels):
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert moved("glacier_requests_total", operation="CreateVault", status="201") == 1
    assert moved("glacier_requests_total", operation="UploadArchive", status="201") == 2
    assert moved("glacier_requests_total", operation="DescribeVault", status="200") == 1
    assert moved("glacier_requests_total", operation="DescribeVault", status="404") == 1
    assert moved("glacier_requests_total", operation="InitiateJob", status="202") == 1
    assert moved("glacier_requests_total", operation="GetJobOutput", status="200") == 1
    assert moved("glacier_request_duration_seconds_count", operation="UploadArchive") == 2
    assert moved("glacier_request_bytes_total") >= sum(sizes)
    assert moved("glacier_response_bytes_total") >= sizes[1]
    assert moved("glacier_jobs_initiated_total", kind="archive-retrieval") == 1
    assert moved("glacier_jobs_completed_total", kind="archive-retrieval", status="Succeeded") == 1
    assert moved("glacier_retrievals_total", outcome="admitted") == 1
    assert moved("glacier_archives", account=ACCOUNT) == 2 * len(metered.metrics_endpoints)
    assert moved("glacier_stored_bytes", account=ACCOUNT) == sum(sizes) * len(metered.metrics_endpoints)
    assert value(after, "glacier_internal_errors_total") == value(before, "glacier_internal_errors_total")
    for id in ids:
        g.delete_archive(vaultName=name, archiveId=id)
