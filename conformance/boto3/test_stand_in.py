"""What makes `glacier serve` a stand-in for the real service beyond its timing: new accounts
refused as AWS refuses them (`--refuse-new-accounts`), and faults on demand (`--faults`)."""

import json
import os
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from conftest import make_client
from harness import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY, Server
from helpers import MIB, data, expect_error, tree_hash, wait_for_job
from test_metrics import scrape, value

NO_LONGER = "no longer supported for new accounts"

# Every operation, with arguments enough for boto3 to send it.
EVERY_OPERATION = {
    "abort_multipart_upload": dict(vaultName="v", uploadId="u"),
    "abort_vault_lock": dict(vaultName="v"),
    "add_tags_to_vault": dict(vaultName="v", Tags={"k": "v"}),
    "complete_multipart_upload": dict(vaultName="v", uploadId="u", archiveSize="1",
                                      checksum=tree_hash(b"x")),
    "complete_vault_lock": dict(vaultName="v", lockId="l"),
    "create_vault": dict(vaultName="v"),
    "delete_archive": dict(vaultName="v", archiveId="a"),
    "delete_vault": dict(vaultName="v"),
    "delete_vault_access_policy": dict(vaultName="v"),
    "delete_vault_notifications": dict(vaultName="v"),
    "describe_job": dict(vaultName="v", jobId="j"),
    "describe_vault": dict(vaultName="v"),
    "get_data_retrieval_policy": dict(),
    "get_job_output": dict(vaultName="v", jobId="j"),
    "get_vault_access_policy": dict(vaultName="v"),
    "get_vault_lock": dict(vaultName="v"),
    "get_vault_notifications": dict(vaultName="v"),
    "initiate_job": dict(vaultName="v", jobParameters={"Type": "inventory-retrieval"}),
    "initiate_multipart_upload": dict(vaultName="v", partSize=str(1024 * 1024)),
    "initiate_vault_lock": dict(vaultName="v", policy={"Policy": json.dumps({"Version": "2012-10-17"})}),
    "list_jobs": dict(vaultName="v"),
    "list_multipart_uploads": dict(vaultName="v"),
    "list_parts": dict(vaultName="v", uploadId="u"),
    "list_provisioned_capacity": dict(),
    "list_tags_for_vault": dict(vaultName="v"),
    "list_vaults": dict(),
    "purchase_provisioned_capacity": dict(),
    "remove_tags_from_vault": dict(vaultName="v", TagKeys=["k"]),
    "set_data_retrieval_policy": dict(Policy={"Rules": [{"Strategy": "FreeTier"}]}),
    "set_vault_access_policy": dict(vaultName="v", policy={"Policy": "{}"}),
    "set_vault_notifications": dict(vaultName="v", vaultNotificationConfig={
        "SNSTopic": "arn:aws:sns:us-east-1:444455556666:t", "Events": ["ArchiveRetrievalCompleted"]}),
    "upload_archive": dict(vaultName="v", body=b"x"),
    "upload_multipart_part": dict(vaultName="v", uploadId="u", range="bytes 0-0/*", body=b"x"),
}


def test_new_accounts_are_refused_on_every_operation_and_customers_are_served():
    s = Server()
    try:
        make_client(s.endpoint).create_vault(vaultName="kept")
        s.commands = [c + ["--refuse-new-accounts"] for c in s.commands]
        s.restart()
        customer = make_client(s.endpoint)
        assert customer.describe_vault(vaultName="kept")["VaultName"] == "kept"
        customer.create_vault(vaultName="another")  # an existing customer makes more
        newcomer = make_client(s.endpoint, key=OTHER_ACCESS_KEY, secret=OTHER_SECRET_KEY)
        assert len(EVERY_OPERATION) == 33
        for name, args in EVERY_OPERATION.items():
            expect_error("NoLongerSupportedException", 400, getattr(newcomer, name), contains=NO_LONGER,
                         **args)
        # Refused, it changed nothing: the newcomer still has no vault, the customer two.
        assert [v["VaultName"] for v in customer.list_vaults()["VaultList"]] == ["another", "kept"]
    finally:
        s.stop()


FAULTS = "throttle=0.05,internal=0.02,timeout=0.01,reset=0.01,slow=0.01"


def client(endpoint, retries):
    return boto3.client(
        "glacier", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, config=Config(retries=retries))


def retrying_client(endpoint):
    """boto3 as its users run it: the standard retry mode, with room for a bad streak."""
    return client(endpoint, {"mode": "standard", "max_attempts": 10})


def test_boto3_with_standard_retries_completes_a_workload_through_faults():
    s = Server("--faults", FAULTS, "--faults-seed", "25", "--metrics-listen", "127.0.0.1:0")
    try:
        g = retrying_client(s.endpoint)
        g.create_vault(vaultName="weathered")
        kept = {}
        for i in range(30):
            body = data(1000 + i, i)
            kept[g.upload_archive(vaultName="weathered", body=body)["archiveId"]] = body
        part = MIB
        body = data(3 * part + 5, 99)
        up = g.initiate_multipart_upload(vaultName="weathered", partSize=str(part))["uploadId"]
        for start in range(0, len(body), part):
            chunk = body[start:start + part]
            g.upload_multipart_part(vaultName="weathered", uploadId=up, body=chunk,
                                    range=f"bytes {start}-{start + len(chunk) - 1}/*")
        done = g.complete_multipart_upload(vaultName="weathered", uploadId=up,
                                           archiveSize=str(len(body)), checksum=tree_hash(body))
        kept[done["archiveId"]] = body
        for archive in list(kept)[:5]:
            g.delete_archive(vaultName="weathered", archiveId=archive)
            del kept[archive]
        for archive in list(kept)[-3:]:
            job = g.initiate_job(vaultName="weathered", jobParameters={
                "Type": "archive-retrieval", "ArchiveId": archive})["jobId"]
            wait_for_job(g, "weathered", job)
            assert g.get_job_output(vaultName="weathered", jobId=job)["body"].read() == kept[archive]
        # The vault holds exactly what was acknowledged: every refused request changed nothing.
        d = g.describe_vault(vaultName="weathered")
        assert (d["NumberOfArchives"], d["SizeInBytes"]) == (len(kept), sum(map(len, kept.values())))
        job = g.initiate_job(vaultName="weathered", jobParameters={"Type": "inventory-retrieval"})["jobId"]
        wait_for_job(g, "weathered", job)
        listed = json.loads(g.get_job_output(vaultName="weathered", jobId=job)["body"].read())
        assert sorted(a["ArchiveId"] for a in listed["ArchiveList"]) == sorted(kept)
        assert g.list_multipart_uploads(vaultName="weathered")["UploadsList"] == []
        injected = sum(v for k, v in scrape(s).items() if k.startswith("glacier_injected_faults_total"))
        assert injected > 0, "the workload met faults"
    finally:
        s.stop()


@pytest.mark.skipif(os.environ.get("GLACIER_TEST_STORE") is not None,
                    reason="the faults' rates do not depend on the store: measured once")
def test_without_retries_each_fault_comes_at_its_rate_and_is_counted():
    rates = {"throttle": 0.2, "internal": 0.1, "timeout": 0.1, "reset": 0.1, "slow": 0.03}
    spec = ",".join(f"{k}={v}" for k, v in rates.items())
    s = Server("--faults", spec, "--faults-seed", "7", "--metrics-listen", "127.0.0.1:0")
    try:
        g = client(s.endpoint, {"total_max_attempts": 1})  # every request once
        n = 400
        seen = dict.fromkeys(rates, 0)
        codes = {"ThrottlingException": "throttle", "ServiceUnavailableException": "internal",
                 "RequestTimeoutException": "timeout"}
        for _ in range(n):
            started = time.monotonic()
            try:
                g.list_vaults()
                if time.monotonic() - started >= 0.5:
                    seen["slow"] += 1
            except ClientError as e:
                seen[codes[e.response["Error"]["Code"]]] += 1
            except (ConnectionClosedError, EndpointConnectionError):
                seen["reset"] += 1
        counted = scrape(s)
        for fault, rate in rates.items():
            sigma = (n * rate * (1 - rate)) ** 0.5
            assert abs(seen[fault] - n * rate) <= 4 * sigma, (fault, seen[fault], n * rate)
            assert value(counted, "glacier_injected_faults_total", operation="ListVaults", fault=fault) \
                == seen[fault], fault
    finally:
        s.stop()
