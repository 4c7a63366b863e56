"""Drives a real `glacier serve` process with boto3, a client we did not write.

The server binary is $GLACIER_BIN (default: target/debug/glacier of this checkout). Each test
session starts one server on an ephemeral loopback port with a fresh data directory.
"""

import itertools
import pathlib
import sys
import urllib.parse
import uuid

import boto3
import pytest
from botocore.config import Config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from harness import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY, Receiver, Server  # noqa: E402


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


HOOK_TOPIC = "arn:aws:sns:us-east-1:111122223333:glacier-hooks"


@pytest.fixture(scope="session")
def slow_server(receiver, tmp_path_factory):
    """A server whose Standard jobs take 2 s and Bulk jobs an hour, whose jobs expire 3 s after
    they finish, and which posts notifications for HOOK_TOPIC to the receiver."""
    topics = tmp_path_factory.mktemp("topics") / "topics.toml"
    topics.write_text(f'[[topic]]\narn = "{HOOK_TOPIC}"\nurl = "{receiver.url}/arn-hook"\n')
    s = Server("--retrieval-delay", "expedited=0s,standard=2s,bulk=1h", "--job-expiry", "3s",
               "--notifications", str(topics))
    yield s
    s.stop()


@pytest.fixture
def slow(slow_server):
    return make_client(slow_server.endpoint)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    for name in ("server", "slow_server", "limits_server"):
        srv = item.funcargs.get(name) if hasattr(item, "funcargs") else None
        if report.failed and srv is not None:
            report.sections.append((f"{name} log (tail)", srv.server_log()[-4000:]))


def make_client(endpoint, key=ACCESS_KEY, secret=SECRET_KEY, region="us-east-1"):
    """A boto3 Glacier client of the server at endpoint. When that server is several nodes,
    each request goes to the next node in turn, as behind a round-robin load balancer."""
    client = boto3.client(
        "glacier", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}))
    nodes = itertools.cycle(Server.peers(endpoint))

    def next_node(request, **kwargs):
        url = urllib.parse.urlsplit(request.url)
        request.url = url._replace(netloc=urllib.parse.urlsplit(next(nodes)).netloc).geturl()

    if len(Server.peers(endpoint)) > 1:
        client.meta.events.register("before-sign.glacier", next_node)
    return client


@pytest.fixture
def other(server):
    """A client of another account (OTHER_ACCOUNT) on the same server."""
    return make_client(server.endpoint, OTHER_ACCESS_KEY, OTHER_SECRET_KEY)


@pytest.fixture(scope="session")
def limits_server():
    """A server that admits one on-demand Expedited retrieval per 5 minutes and whose FreeTier
    retrieval policy allows 3 MiB a day."""
    s = Server("--expedited-rate", "1", "--free-tier-bytes-per-day", str(3 * 1024 * 1024))
    yield s
    s.stop()


@pytest.fixture
def limited(limits_server):
    return make_client(limits_server.endpoint)


@pytest.fixture
def glacier(server):
    return make_client(server.endpoint)


@pytest.fixture
def vault(glacier):
    """A fresh, empty vault. Afterwards its uploads are aborted and, if it is empty, it is deleted
    (archives cannot be listed without an inventory, which comes with retrieval jobs)."""
    name = f"v-{uuid.uuid4().hex[:12]}"
    glacier.create_vault(vaultName=name)
    yield name
    for up in glacier.list_multipart_uploads(vaultName=name).get("UploadsList", []):
        glacier.abort_multipart_upload(vaultName=name, uploadId=up["MultipartUploadId"])
    if glacier.describe_vault(vaultName=name)["NumberOfArchives"] == 0:
        glacier.delete_vault(vaultName=name)
