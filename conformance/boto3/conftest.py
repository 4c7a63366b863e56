"""Drives a real `glacier serve` process with boto3, a client we did not write.

The server binary is $GLACIER_BIN (default: target/debug/glacier of this checkout). Each test
session starts one server on an ephemeral loopback port with a fresh data directory.
"""

import http.server
import json
import os
import threading
import time
import pathlib
import subprocess
import tempfile
import uuid

import boto3
import pytest
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIDCONFORMANCE0001"
SECRET_KEY = "conformance-secret-key"
ACCOUNT = "111122223333"


class Server:
    def __init__(self, *extra_args):
        self.binary = os.environ.get("GLACIER_BIN", str(ROOT / "target" / "debug" / "glacier"))
        self.tmp = tempfile.TemporaryDirectory(prefix="glacier-boto3-")
        self.data_dir = pathlib.Path(self.tmp.name) / "data"
        self.log = open(pathlib.Path(self.tmp.name) / "server.log", "w+")
        env = dict(os.environ, GLACIER_ACCESS_KEY_ID=ACCESS_KEY, GLACIER_SECRET_ACCESS_KEY=SECRET_KEY,
                   GLACIER_ACCOUNT_ID=ACCOUNT)
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir), *extra_args],
            stdout=subprocess.PIPE, stderr=self.log, env=env, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}\n{self.server_log()}")
        self.endpoint = line.strip().rsplit(" ", 1)[-1]

    def server_log(self):
        self.log.flush()
        return pathlib.Path(self.log.name).read_text()

    def blob_files(self):
        return sorted(p.name for p in (self.data_dir / "blobs").glob("*/*"))

    def tmp_files(self):
        return sorted(p.name for p in (self.data_dir / "tmp").iterdir())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        self.tmp.cleanup()


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.stop()


class Receiver:
    """A webhook on a loopback port that records the JSON bodies POSTed to it."""

    def __init__(self):
        received = self.received = []
        cond = self.cond = threading.Condition()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with cond:
                    received.append((self.path, json.loads(body)))
                    cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, predicate, timeout=20):
        """The first received (path, body) that satisfies predicate, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for item in self.received:
                    if predicate(*item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching notification in {timeout}s: {self.received}")
                self.cond.wait(left)


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
    for name in ("server", "slow_server"):
        srv = item.funcargs.get(name) if hasattr(item, "funcargs") else None
        if report.failed and srv is not None:
            report.sections.append((f"{name} log (tail)", srv.server_log()[-4000:]))


def make_client(endpoint):
    return boto3.client(
        "glacier", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}))


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
