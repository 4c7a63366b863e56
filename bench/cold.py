"""Requests to S3 per archive on `glacier serve --s3-storage-class DEEP_ARCHIVE` (issue 26): on
AWS each is billed (PUT $0.05 per 1,000 into Deep Archive, restores $0.10 per 1,000 at Standard,
$0.025 at Bulk, HEAD and GET $0.0004 per 1,000), so this counts them for an upload and for a
retrieval of archives of several sizes, as the S3 side sees them: moto behind
conformance/restoring_s3.py, which holds each restore under way --hold seconds and counts the
requests it forwards. HEAD polls over a 12-hour Deep Archive restore are worked out from the
server's poll rule (a quarter of the wait so far, 1 s to 15 min), not waited for.

Usage: cargo build --release --bin glacier && .venv/bin/python bench/cold.py [--hold 5] [--smoke]
"""

import argparse
import io
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config
from botocore.utils import calculate_tree_hash

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
# bench/requests.py would shadow the requests package moto imports.
sys.path = [str(ROOT / "conformance")] + [p for p in sys.path if pathlib.Path(p or ".").resolve() != ROOT / "bench"]
from restoring_s3 import RestoringS3  # noqa: E402

KEY, SECRET, ACCOUNT = "AKIDBENCHCOLD", "bench-cold-secret", "123456789012"
MIB = 1024 * 1024
KINDS = ["put", "multipart", "part", "restore", "head", "get"]


def polls_for(restore_seconds):
    """HEAD polls of one object over a restore of this long, by the server's rule."""
    t, polls = 0.0, 1
    while t < restore_seconds:
        t += min(max(t / 4, 1.0), 900.0)
        polls += 1
    return polls


def serve(binary, data, s3):
    env = dict(os.environ, GLACIER_ACCESS_KEY_ID=KEY, GLACIER_SECRET_ACCESS_KEY=SECRET,
               GLACIER_ACCOUNT_ID=ACCOUNT, GLACIER_LOG="warn",
               AWS_ACCESS_KEY_ID="cold", AWS_SECRET_ACCESS_KEY="cold")
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data),
                             "--blobs", "s3://cold/bench", "--s3-endpoint", s3.endpoint,
                             "--s3-region", "us-east-1", "--s3-storage-class", "DEEP_ARCHIVE"],
                            stdout=subprocess.PIPE, env=env, text=True)
    endpoint = proc.stdout.readline().split()[-1]
    if not endpoint.startswith("http"):
        proc.kill()
        raise RuntimeError("glacier serve did not start")
    return proc, endpoint


def upload(g, body, part_size):
    if part_size is None:
        return g.upload_archive(vaultName="bench", body=body)["archiveId"]
    up = g.initiate_multipart_upload(vaultName="bench", partSize=str(part_size))["uploadId"]
    for start in range(0, len(body), part_size):
        chunk = body[start:start + part_size]
        g.upload_multipart_part(vaultName="bench", uploadId=up, body=chunk,
                                range=f"bytes {start}-{start + len(chunk) - 1}/*")
    return g.complete_multipart_upload(vaultName="bench", uploadId=up, archiveSize=str(len(body)),
                                       checksum=calculate_tree_hash(io.BytesIO(body)))["archiveId"]


def retrieve(g, archive_id):
    job = g.initiate_job(vaultName="bench", jobParameters={
        "Type": "archive-retrieval", "ArchiveId": archive_id, "Tier": "Bulk"})["jobId"]
    while not g.describe_job(vaultName="bench", jobId=job)["Completed"]:
        time.sleep(0.1)
    return g.get_job_output(vaultName="bench", jobId=job)["body"].read()


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in KINDS}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hold", type=float, default=5.0, help="seconds each restore takes")
    ap.add_argument("--smoke", action="store_true", help="small archives only")
    args = ap.parse_args()
    binary = str(TARGET / PROFILE / "glacier")
    cases = [("1 KiB (kept STANDARD)", 1024, None), ("1 MiB", MIB, None),
             ("24 MiB, one UploadArchive", 24 * MIB, None),
             ("24 MiB, multipart of 8 MiB parts", 24 * MIB, 8 * MIB)]
    if args.smoke:
        cases = cases[:2]
    s3 = RestoringS3(hold=args.hold)
    boto3.client("s3", endpoint_url=s3.moto_endpoint, region_name="us-east-1",
                 aws_access_key_id="cold", aws_secret_access_key="cold").create_bucket(Bucket="cold")
    with tempfile.TemporaryDirectory() as tmp:
        proc, endpoint = serve(binary, pathlib.Path(tmp) / "data", s3)
        try:
            g = boto3.client("glacier", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                             config=Config(retries={"max_attempts": 1}))
            g.create_vault(vaultName="bench")
            print(f"S3 requests per archive, Deep Archive, restores taking {args.hold:g} s")
            print("| archive | when | " + " | ".join(KINDS) + " |")
            print("|---|---|" + "---|" * len(KINDS))
            for name, size, part in cases:
                body = os.urandom(size)
                before = s3.requests("bench")
                archive = upload(g, body, part)
                uploaded = s3.requests("bench")
                assert retrieve(g, archive) == body
                retrieved = s3.requests("bench")
                for when, d in (("upload", delta(uploaded, before)),
                                ("retrieval", delta(retrieved, uploaded))):
                    print(f"| {name} | {when} | " + " | ".join(str(d[k]) for k in KINDS) + " |")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            s3.stop()
    for hours in (1, 5, 12, 48):
        print(f"HEAD polls of one object over a {hours} h restore: {polls_for(hours * 3600)}")


if __name__ == "__main__":
    main()
