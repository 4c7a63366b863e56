"""Starts `glacier serve` for the Python conformance suites (boto3, boto 2), and a webhook
receiver for notifications. Shared by their conftest.py files; standard library only, so that it
runs under any Python the suites use.
"""

import http.server
import json
import os
import pathlib
import subprocess
import tempfile
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
ACCESS_KEY = "AKIDCONFORMANCE0001"
SECRET_KEY = "conformance-secret-key"
ACCOUNT = "111122223333"
# A second identity in another account, for cross-account tests.
OTHER_ACCESS_KEY = "AKIDCONFORMANCE0002"
OTHER_SECRET_KEY = "conformance-other-secret"
OTHER_ACCOUNT = "444455556666"



def eventually(predicate, timeout=10.0):
    """Whether `predicate()` holds within `timeout` seconds. For what an S3 listing shows: Garage
    may still list an object for a moment after a successful delete."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True

def shared_store():
    """The stores the suites run on when $GLACIER_TEST_STORE names them (`scripts/test` starts
    PostgreSQL and Garage): "postgres+s3", "postgres+files" or "sqlite+s3". Each Server is then
    $GLACIER_TEST_NODES nodes (default 1; several only on "postgres+s3") on a fresh PostgreSQL
    database and a fresh prefix of the bucket, node i talking to the i-th of the S3
    endpoints, writing uploads in $GLACIER_TEST_S3_STORAGE_CLASS if set. None when the variable
    is unset: each Server is one node on a data directory."""
    store = os.environ.get("GLACIER_TEST_STORE")
    if not store:
        return None
    env = os.environ
    metadata, blobs = store.split("+")
    return {
        "nodes": int(env.get("GLACIER_TEST_NODES", "1")),
        "postgres": env["GLACIER_TEST_POSTGRES_URL"] if metadata == "postgres" else None,
        "s3": blobs == "s3",
        "bucket": env.get("GLACIER_TEST_S3_URL", "").removeprefix("s3://"),
        "endpoints": env.get("GLACIER_TEST_S3_ENDPOINT", "").split(),
        "region": env.get("GLACIER_TEST_S3_REGION", "us-east-1"),
        "key": env.get("GLACIER_TEST_S3_KEY_ID"),
        "secret": env.get("GLACIER_TEST_S3_SECRET"),
        "storage_class": env.get("GLACIER_TEST_S3_STORAGE_CLASS"),
    }


class Server:
    # The nodes' endpoints of every running server, by each of its endpoints (see peers()).
    clusters = {}

    def __init__(self, *extra_args, cold=None):
        """`cold`: a RestoringS3 (restoring_s3.py) to keep the blobs in, as DEEP_ARCHIVE, instead
        of the shared store's or the data directory's (metadata and nodes as they would be)."""
        self.binary = os.environ.get("GLACIER_BIN", str(ROOT / "target" / "debug" / "glacier"))
        self.tmp = tempfile.TemporaryDirectory(prefix="glacier-boto3-")
        self.data_dir = pathlib.Path(self.tmp.name) / "data"
        self.log = open(pathlib.Path(self.tmp.name) / "server.log", "w+")
        credentials = pathlib.Path(self.tmp.name) / "credentials.toml"
        credentials.write_text("".join(
            f'[[identity]]\naccess_key_id = "{k}"\nsecret_access_key = "{s}"\naccount_id = "{a}"\n'
            for k, s, a in [(ACCESS_KEY, SECRET_KEY, ACCOUNT), (OTHER_ACCESS_KEY, OTHER_SECRET_KEY, OTHER_ACCOUNT)]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GLACIER_") or k == "GLACIER_LOG"}
        self.shared = sh = shared_store()
        if cold is not None:
            sh = dict(sh or {"nodes": 1, "postgres": None})
            sh.update(s3=True, bucket=cold.bucket, endpoints=[cold.endpoint], region="us-east-1",
                      key="cold", secret="cold", storage_class="DEEP_ARCHIVE")
            if not sh["postgres"]:
                sh["nodes"] = 1
            self.shared = sh
        if sh is None:
            stores = [["--data-dir", str(self.data_dir)]]
        else:
            self.prefix = name = "t" + uuid.uuid4().hex[:16]
            common = [] if sh["postgres"] and sh["s3"] else ["--data-dir", str(self.data_dir)]
            if sh["postgres"]:
                subprocess.run(["psql", "-q", sh["postgres"], "-c", f"CREATE DATABASE {name}"], check=True)
                common += ["--metadata", sh["postgres"].rsplit("/", 1)[0] + "/" + name]
            if sh["s3"]:
                env.update(AWS_ACCESS_KEY_ID=sh["key"], AWS_SECRET_ACCESS_KEY=sh["secret"])
                common += ["--blobs", f"s3://{sh['bucket']}/{name}", "--s3-region", sh["region"]]
                if sh.get("storage_class"):
                    common += ["--s3-storage-class", sh["storage_class"]]
            stores = [common + (["--s3-endpoint", sh["endpoints"][i % len(sh["endpoints"])]] if sh["s3"] else [])
                      for i in range(sh["nodes"])]
        self.commands = [[self.binary, "serve", "--listen", "127.0.0.1:0", *store,
                          "--credentials", str(credentials), *extra_args] for store in stores]
        self.env = env
        self._start()

    def _start(self):
        self.procs = []
        self.endpoints = []
        self.metrics_endpoints = []
        for command in self.commands:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, env=self.env, text=True)
            self.procs.append(proc)
            line = proc.stdout.readline()
            if "listening on" not in line:
                for p in self.procs:
                    p.kill()
                raise RuntimeError(f"server did not start: {line!r}\n{self.server_log()}")
            self.endpoints.append(line.strip().rsplit(" ", 1)[-1])
            if "--metrics-listen" in command:
                # The second line says where /metrics, /health and /ready are.
                self.metrics_endpoints.append(proc.stdout.readline().strip().rsplit(" ", 1)[-1])
        self.proc = self.procs[0]
        self.endpoint = self.endpoints[0]
        for e in self.endpoints:
            Server.clusters[e] = self.endpoints

    def _stop_nodes(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)
        for e in self.endpoints:
            Server.clusters.pop(e, None)

    def restart(self, between=None):
        """Stops every node, calls between() if given, and starts them again on the same
        stores (at new endpoints)."""
        self._stop_nodes()
        if between is not None:
            between()
        self._start()

    @staticmethod
    def peers(endpoint):
        """Every node of the server that serves at endpoint (just endpoint, if it is one node)."""
        return Server.clusters.get(endpoint, [endpoint])

    def server_log(self):
        self.log.flush()
        return pathlib.Path(self.log.name).read_text()

    def s3(self):
        """A boto3 S3 client of the bucket, when the blobs are in one."""
        import boto3  # only the boto3 suite asks for a shared store's objects

        sh = self.shared
        return boto3.client("s3", endpoint_url=sh["endpoints"][0], region_name=sh["region"],
                            aws_access_key_id=sh["key"], aws_secret_access_key=sh["secret"])

    def blob_files(self):
        """The names of the stored blobs: files of the data directory, or objects of the bucket."""
        if self.shared is None or not self.shared["s3"]:
            return sorted(p.name for p in (self.data_dir / "blobs").glob("*/*"))
        pages = self.s3().get_paginator("list_objects_v2").paginate(
            Bucket=self.shared["bucket"], Prefix=f"{self.prefix}/blobs/")
        return sorted(o["Key"].rsplit("/", 1)[-1] for page in pages for o in page.get("Contents", []))

    def tmp_files(self):
        """Blobs being written: temporary files, or the bucket's unfinished multipart uploads."""
        if self.shared is None or not self.shared["s3"]:
            return sorted(p.name for p in (self.data_dir / "tmp").iterdir())
        got = self.s3().list_multipart_uploads(Bucket=self.shared["bucket"], Prefix=f"{self.prefix}/")
        return sorted(u["Key"] for u in got.get("Uploads", []))

    def stop(self):
        self._stop_nodes()
        self.log.close()
        self.tmp.cleanup()


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


