"""Upload and download memory and throughput of `glacier serve`, with baselines measured in the
same run, and the byte-exact round trip of a large archive (1 GiB by default).

Usage: .venv/bin/python bench/transfer.py [--size-mib 1024] [--bin target/release/glacier]

Prints, for a small and a large single-request upload and a multipart upload of the large file:
- the server's peak resident memory (VmHWM) after each, and the large/small ratio (bounded
  memory means a ratio near 1, not near size_large/size_small);
- upload throughput against a baseline: copying the same file on the same disk with fsync
  (the least work any durable server must do), as time ratio;
- a retrieval job for the large archive, downloaded in 64 MiB ranges whose tree hashes are
  checked, then the whole output compared with the file (SHA-256), against reading the file.
"""

import argparse
import hashlib
import io
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import boto3
from botocore.config import Config
from botocore.utils import calculate_tree_hash

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

MIB = 1024 * 1024


def vm_hwm_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def make_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MIB)
            f.write(os.urandom(n))
            left -= n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), PROFILE + "/glacier"))
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="glacier-bench-"))
    try:
        small, large = tmp / "small", tmp / "large"
        make_file(small, 16 * MIB)
        make_file(large, args.size_mib * MIB)

        # Baselines: reading the file (as the download does), copy + fsync on the same disk.
        t = time.perf_counter()
        with open(large, "rb") as f:
            for chunk in iter(lambda: f.read(64 * MIB), b""):
                hashlib.sha256(chunk)
        read_s = time.perf_counter() - t

        t = time.perf_counter()
        with open(large, "rb") as src, open(tmp / "copy", "wb") as dst:
            shutil.copyfileobj(src, dst, 1 * MIB)
            dst.flush()
            os.fsync(dst.fileno())
        copy_s = time.perf_counter() - t
        os.unlink(tmp / "copy")

        env = dict(os.environ, GLACIER_ACCESS_KEY_ID="AKIDBENCH", GLACIER_SECRET_ACCESS_KEY="bench",
                   GLACIER_ACCOUNT_ID="123456789012", GLACIER_LOG="warn")
        proc = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp / "data")],
                                stdout=subprocess.PIPE, env=env, text=True)
        try:
            endpoint = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
            g = boto3.client("glacier", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id="AKIDBENCH", aws_secret_access_key="bench",
                             config=Config(retries={"max_attempts": 1}, read_timeout=600))
            g.create_vault(vaultName="bench")
            idle = vm_hwm_kib(proc.pid)

            with open(small, "rb") as f:
                g.upload_archive(vaultName="bench", body=f)
            after_small = vm_hwm_kib(proc.pid)

            # Client-side hashing is not the server's work: hash first, then time the request.
            with open(large, "rb") as f:
                tree = calculate_tree_hash(f)
                f.seek(0)
                linear = hashlib.sha256()
                for chunk in iter(lambda: f.read(MIB), b""):
                    linear.update(chunk)

            def with_linear(params, **kw):
                # Before botocore's own glacier handler, which hashes the body when this is absent.
                params["headers"]["x-amz-content-sha256"] = linear.hexdigest()

            g.meta.events.register_first("before-call.glacier.UploadArchive", with_linear)
            with open(large, "rb") as f:
                t = time.perf_counter()
                r = g.upload_archive(vaultName="bench", body=f, checksum=tree)
                upload_s = time.perf_counter() - t
            assert r["checksum"] == tree
            after_large = vm_hwm_kib(proc.pid)

            part = 64 * MIB
            up = g.initiate_multipart_upload(vaultName="bench", partSize=str(part))["uploadId"]
            t = time.perf_counter()
            with open(large, "rb") as f:
                off = 0
                while True:
                    chunk = f.read(part)
                    if not chunk:
                        break
                    g.upload_multipart_part(vaultName="bench", uploadId=up, body=chunk,
                                            range=f"bytes {off}-{off + len(chunk) - 1}/*")
                    off += len(chunk)
            g.complete_multipart_upload(vaultName="bench", uploadId=up, archiveSize=str(off), checksum=tree)
            multipart_s = time.perf_counter() - t
            after_multipart = vm_hwm_kib(proc.pid)

            # Round trip: retrieve the large archive and download it in verified ranges.
            job = g.initiate_job(vaultName="bench", jobParameters={
                "Type": "archive-retrieval", "ArchiveId": r["archiveId"]})["jobId"]
            while not g.describe_job(vaultName="bench", jobId=job)["Completed"]:
                time.sleep(0.05)
            t = time.perf_counter()
            got = hashlib.sha256()
            for start in range(0, off, part):
                out = g.get_job_output(vaultName="bench", jobId=job, range=f"bytes={start}-{start + part - 1}")
                chunk = out["body"].read()
                assert out["checksum"] == calculate_tree_hash(io.BytesIO(chunk)), f"range at {start}"
                got.update(chunk)
            download_s = time.perf_counter() - t
            assert got.hexdigest() == linear.hexdigest(), "the downloaded archive differs"
            after_download = vm_hwm_kib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

        mib = args.size_mib
        print(f"archive size: small 16 MiB, large {mib} MiB")
        print(f"server peak RSS: idle {idle / 1024:.1f} MiB, after small upload {after_small / 1024:.1f} MiB, "
              f"after large upload {after_large / 1024:.1f} MiB, after multipart {after_multipart / 1024:.1f} MiB")
        print(f"peak RSS ratio large/small upload: {after_large / after_small:.2f} "
              f"(data ratio {mib / 16:.0f}x)")
        print(f"baseline copy+fsync: {copy_s:.2f} s ({mib / copy_s:.0f} MiB/s)")
        print(f"single-request upload: {upload_s:.2f} s ({mib / upload_s:.0f} MiB/s), "
              f"{upload_s / copy_s:.2f}x baseline")
        print(f"multipart upload (64 MiB parts, sequential, includes client part hashing): "
              f"{multipart_s:.2f} s ({mib / multipart_s:.0f} MiB/s), {multipart_s / copy_s:.2f}x baseline")
        print(f"round trip of {mib} MiB: byte-exact (SHA-256 of the download equals the file's)")
        print(f"download in 64 MiB ranges, each tree hash verified by the client: {download_s:.2f} s "
              f"({mib / download_s:.0f} MiB/s); baseline read + SHA-256 of the file {read_s:.2f} s, "
              f"{download_s / read_s:.2f}x baseline; server peak RSS after {after_download / 1024:.1f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
