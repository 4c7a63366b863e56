"""The web console's API at scale: how long its pages take on a vault of 1,000 archives (the
baseline) and on one of 1,000,000, in the same server.

Usage: cargo build --release --bin glacier --example populate &&
       .venv/bin/python bench/console.py [--archives 1000000]

It signs in as the page does (the sign-in signed with botocore's SigV4, not ours), then times
the overview, a vault's page, the first page of archives, and a search that matches nothing,
which reads the whole vault 20,000 archives a request. The search's rate is set against the
JSON inventory of the same vault in the same run: both read every archive once.
"""

import argparse
import http.cookies
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

ACCOUNT = "123456789012"
KEY, SECRET = "AKIDBENCH", "bench"


def sign_in(endpoint):
    req = AWSRequest(method="POST", url=f"{endpoint}/console/api/session", data=b"")
    SigV4Auth(Credentials(KEY, SECRET), "glacier", "us-east-1").add_auth(req)
    r = urllib.request.urlopen(urllib.request.Request(req.url, data=b"", method="POST", headers=dict(req.headers)))
    cookie = http.cookies.SimpleCookie(r.headers["Set-Cookie"])
    return f"glacier-console={cookie['glacier-console'].value}"


def get(endpoint, cookie, path):
    req = urllib.request.Request(endpoint + path, headers={"Cookie": cookie, "x-glacier-console": "1"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        body = r.read()
    return time.perf_counter() - t, body


def timed(endpoint, cookie, path, runs):
    return statistics.median(get(endpoint, cookie, path)[0] for _ in range(runs))


def full_search(endpoint, cookie, vault, needle):
    """Every request of a search through the whole vault: (requests, seconds)."""
    import json
    after, requests, t = None, 0, time.perf_counter()
    while True:
        q = {"search": needle, "limit": "50"}
        if after:
            q["after"] = after
        _, body = get(endpoint, cookie, f"/console/api/vaults/{vault}/archives?{urllib.parse.urlencode(q)}")
        requests += 1
        after = json.loads(body)["Next"]
        if not after:
            return requests, time.perf_counter() - t


def inventory_seconds(g, vault):
    t = time.perf_counter()
    job = g.initiate_job(vaultName=vault, jobParameters={"Type": "inventory-retrieval", "Format": "JSON"})["jobId"]
    while not g.describe_job(vaultName=vault, jobId=job)["Completed"]:
        time.sleep(0.02)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archives", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    ap.add_argument("--bin", default=os.path.join(target, PROFILE + "/glacier"))
    ap.add_argument("--populate", default=os.path.join(target, PROFILE + "/examples/populate"))
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="glacier-console-bench-"))
    data = tmp / "data"
    try:
        for vault, count in (("small", 1000), ("large", args.archives)):
            subprocess.run([args.populate, str(data), ACCOUNT, vault, str(count)], check=True, stdout=subprocess.DEVNULL)
        env = dict(os.environ, GLACIER_ACCESS_KEY_ID=KEY, GLACIER_SECRET_ACCESS_KEY=SECRET,
                   GLACIER_ACCOUNT_ID=ACCOUNT, GLACIER_LOG="warn")
        proc = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data), "--console"],
                                stdout=subprocess.PIPE, env=env, text=True)
        try:
            endpoint = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
            cookie = sign_in(endpoint)
            page = sum(len(get(endpoint, cookie, f"/console/{f}")[1]) for f in ("", "console.js", "console.css", "icon.svg"))
            print(f"page weight: {page / 1024:.1f} KiB (HTML, script, style, icon; nothing else is loaded)")
            print(f"overview (2 vaults):                 {timed(endpoint, cookie, '/console/api/overview', args.runs) * 1e3:8.1f} ms")
            print(f"usage graphs (7 days):               {timed(endpoint, cookie, '/console/api/usage?days=7', args.runs) * 1e3:8.1f} ms")
            firsts = {}
            for vault, count in (("small", 1000), ("large", args.archives)):
                detail = timed(endpoint, cookie, f"/console/api/vaults/{vault}", args.runs)
                firsts[vault] = timed(endpoint, cookie, f"/console/api/vaults/{vault}/archives?limit=50", args.runs)
                hit = timed(endpoint, cookie, f"/console/api/vaults/{vault}/archives?limit=50&search=archive+{count - 1}%2C", 1)
                print(f"{count:>9,} archives: vault page {detail * 1e3:6.1f} ms, first 50 archives {firsts[vault] * 1e3:6.1f} ms, "
                      f"search for the last archive's description {hit * 1e3:8.1f} ms (the first answer)")
            print(f"first page, large/small vault: {firsts['large'] / firsts['small']:.2f}")
            g = boto3.client("glacier", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY,
                             aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 1}, read_timeout=600))
            requests, seconds = full_search(endpoint, cookie, "large", "no-such-archive")
            inventory = inventory_seconds(g, "large")
            print(f"search of all {args.archives:,} archives: {requests} requests, {seconds:.2f} s "
                  f"({args.archives / seconds:,.0f} archives/s, {seconds / requests * 1e3:.0f} ms a request); "
                  f"JSON inventory of the same vault {inventory:.2f} s ({args.archives / inventory:,.0f} archives/s); "
                  f"search/inventory time {seconds / inventory:.2f}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
