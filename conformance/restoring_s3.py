"""An S3 that models the archive storage classes, with restores that take time: moto's S3
server (from PyPI; it refuses GetObject on a GLACIER or DEEP_ARCHIVE object with
InvalidObjectState until RestoreObject, and restores at once) behind a small proxy of ours that
holds each restore under way for `hold` seconds. Meanwhile HeadObject says
`x-amz-restore: ongoing-request="true"`, GetObject is refused with InvalidObjectState and another
RestoreObject gets 409 RestoreAlreadyInProgress, as on AWS.

The proxy counts the requests it forwards per bucket prefix (the first path segment after the
bucket) and kind (put, get, head, restore, ...): `requests(prefix)`; and `configure()` changes
the hold or makes it refuse restores. Both servers listen on 127.0.0.1, on ephemeral ports.

Run as a program (scripts/test), it creates a bucket, prints shell variables
(RESTORING_S3_ENDPOINT, RESTORING_S3_BUCKET, RESTORING_S3_PID) and serves until it is terminated:
`python restoring_s3.py --hold 1`.
"""

import argparse
import http.client
import http.server
import os
import signal
import threading
import time
import urllib.parse

from moto.server import ThreadedMotoServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


def s3_error(code, message, status):
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()
    return status, {"Content-Type": "application/xml"}, body


class RestoringS3:
    """moto's S3 and the restoring proxy in front of it, in this process's threads."""

    def __init__(self, hold=2.0):
        self.hold = hold
        self.refuse = None
        self.lock = threading.Lock()
        self.restores = {}  # object path -> when its restore was asked for
        self.counts = {}  # prefix -> kind -> requests
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        self.upstream = ("127.0.0.1", self.moto._server.server_port)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                status, headers, body = proxy.handle(self.command, self.path, self.headers,
                                                     self.read_body())
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_port}"
        self.moto_endpoint = f"http://{self.upstream[0]}:{self.upstream[1]}"

    def stop(self):
        self.httpd.shutdown()
        self.moto.stop()

    def count(self, path, kind):
        parts = path.strip("/").split("/")
        prefix = parts[1] if len(parts) > 2 else ""
        with self.lock:
            kinds = self.counts.setdefault(prefix, {})
            kinds[kind] = kinds.get(kind, 0) + 1

    @staticmethod
    def kind(method, path, query):
        if method == "POST" and "restore" in query:
            return "restore"
        if method == "POST" and ("uploads" in query or "uploadId" in query):
            return "multipart"
        if method == "PUT" and "uploadId" in query:
            return "part"
        if method == "GET" and path.strip("/").count("/") == 0:
            return "list"
        return method.lower()

    def restoring(self, path):
        """Whether the restore of the object at `path` is still held under way."""
        with self.lock:
            started = self.restores.get(path)
        return started is not None and time.monotonic() < started + self.hold

    def handle(self, method, raw_path, headers, body):
        url = urllib.parse.urlsplit(raw_path)
        path, query = url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True)
        kind = self.kind(method, path, query)
        self.count(path, kind)
        if kind == "restore":
            if self.refuse:
                return s3_error(self.refuse, "Restores are refused by the test", 403)
            if self.restoring(path):
                return s3_error("RestoreAlreadyInProgress",
                                "Object restore is already in progress", 409)
        elif method == "GET" and self.restoring(path):
            return s3_error("InvalidObjectState",
                            "The operation is not valid for the object's storage class", 403)
        status, out_headers, out_body = self.forward(method, raw_path, headers, body)
        if kind == "restore" and status in (200, 202):
            with self.lock:
                self.restores.setdefault(path, time.monotonic())
            if self.restoring(path):
                status = 202
        if method == "HEAD" and self.restoring(path):
            out_headers["x-amz-restore"] = 'ongoing-request="true"'
        return status, out_headers, out_body

    def forward(self, method, raw_path, headers, body):
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            send = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            send["Content-Length"] = str(len(body))
            conn.request(method, raw_path, body=body, headers=send)
            r = conn.getresponse()
            return r.status, {k: v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def configure(self, hold=None, refuse=None):
        """Restores take `hold` seconds from now on (unchanged if None); S3 refuses them with the
        code `refuse` (e.g. "AccessDenied"), or does not (None)."""
        with self.lock:
            if hold is not None:
                self.hold = hold
            self.refuse = refuse

    def requests(self, prefix):
        """The requests forwarded for objects under `prefix`, by kind."""
        with self.lock:
            return dict(self.counts.get(prefix, {}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hold", type=float, default=1.0,
                        help="seconds each restore stays under way")
    parser.add_argument("--bucket", default="glacier-cold")
    args = parser.parse_args()
    s3 = RestoringS3(hold=args.hold)
    import boto3

    boto3.client("s3", endpoint_url=s3.moto_endpoint, region_name="us-east-1",
                 aws_access_key_id="cold", aws_secret_access_key="cold").create_bucket(Bucket=args.bucket)
    print(f"RESTORING_S3_ENDPOINT={s3.endpoint} RESTORING_S3_BUCKET={args.bucket} "
          f"RESTORING_S3_PID={os.getpid()}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    s3.stop()


if __name__ == "__main__":
    main()
