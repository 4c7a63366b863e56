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

ROOT = pathlib.Path(__file__).resolve().parents[1]
ACCESS_KEY = "AKIDCONFORMANCE0001"
SECRET_KEY = "conformance-secret-key"
ACCOUNT = "111122223333"
# A second identity in another account, for cross-account tests.
OTHER_ACCESS_KEY = "AKIDCONFORMANCE0002"
OTHER_SECRET_KEY = "conformance-other-secret"
OTHER_ACCOUNT = "444455556666"


class Server:
    def __init__(self, *extra_args):
        self.binary = os.environ.get("GLACIER_BIN", str(ROOT / "target" / "debug" / "glacier"))
        self.tmp = tempfile.TemporaryDirectory(prefix="glacier-boto3-")
        self.data_dir = pathlib.Path(self.tmp.name) / "data"
        self.log = open(pathlib.Path(self.tmp.name) / "server.log", "w+")
        credentials = pathlib.Path(self.tmp.name) / "credentials.toml"
        credentials.write_text("".join(
            f'[[identity]]\naccess_key_id = "{k}"\nsecret_access_key = "{s}"\naccount_id = "{a}"\n'
            for k, s, a in [(ACCESS_KEY, SECRET_KEY, ACCOUNT), (OTHER_ACCESS_KEY, OTHER_SECRET_KEY, OTHER_ACCOUNT)]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GLACIER_") or k == "GLACIER_LOG"}
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
             "--credentials", str(credentials), *extra_args],
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


