"""The CLI's transfers against their peers and limits, in one run: `glacier upload` (8 MiB
parts, 4 in flight) against boto3's multipart upload done the straightforward way (8 MiB parts
one after another, botocore hashing each part, `calculate_tree_hash` of the file for the
completion) and against the hashing bound (two cores × OpenSSL's SHA-256 rate ÷ the SHA-256
passes an upload needs); `glacier get` (job, download, every chunk verified) against boto3's
`get_job_output` streamed to a file unverified; `glacier download -O -` of a finished job
(every chunk and the whole verified) against boto3's `get_job_output` of it, both discarding
the bytes; and the server's peak resident memory while
four `glacier upload`s of the file run at once. A loopback `glacier serve`, the file in the
page cache; medians of --runs runs.

Usage: cargo build --release --bin glacier &&
       .venv/bin/python bench/cli.py [--size-mib 1024] [--runs 3] [--write BENCHMARKS.md]
"""

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config
from botocore.utils import calculate_tree_hash

from marked import write_table
from serving import start_glacier

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
KEY, SECRET = "AKIDBENCHCLI", "bench-cli-secret"
MIB = 1 << 20
PART = 8 * MIB


def vm_hwm_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def timed(f):
    # Each step starts with no dirty pages of the one before (the disk is shared by both sides,
    # and a sync waits for whatever is queued before it).
    os.sync()
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(TARGET / PROFILE / "glacier"))
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--write")
    args = ap.parse_args()
    size = args.size_mib * MIB
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="glacier-bench-cli-"))
    env = dict(os.environ, GLACIER_ACCESS_KEY_ID=KEY, GLACIER_SECRET_ACCESS_KEY=SECRET,
               AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, GLACIER_LOG="warn")
    procs = []
    try:
        src = tmp / "file.bin"
        with open(src, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MIB))
        src.read_bytes()  # into the page cache
        proc, endpoint = start_glacier(args.bin, ["--data-dir", str(tmp / "data")], env)
        procs.append(proc)
        g = boto3.client("glacier", endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                         config=Config(retries={"max_attempts": 1}, read_timeout=600))
        g.create_vault(vaultName="bench")
        cli = [args.bin, "-q", "--endpoint", endpoint, "--vault", "bench"]

        def glacier_upload():
            out = subprocess.run([cli[0], "upload", *cli[1:], "--part-size", "8M", "--concurrency", "4",
                                  str(src)], env=env, check=True, capture_output=True, text=True)
            return out.stdout.split()[-1]

        def boto3_upload():
            up = g.initiate_multipart_upload(vaultName="bench", partSize=str(PART))["uploadId"]
            with open(src, "rb") as f:
                start_at = 0
                while chunk := f.read(PART):
                    g.upload_multipart_part(vaultName="bench", uploadId=up, body=chunk,
                                            range=f"bytes {start_at}-{start_at + len(chunk) - 1}/*")
                    start_at += len(chunk)
            with open(src, "rb") as f:
                tree = calculate_tree_hash(f)
            return g.complete_multipart_upload(vaultName="bench", uploadId=up, archiveSize=str(size),
                                               checksum=tree)["archiveId"]

        def glacier_get(archive):
            out = tmp / "got.bin"
            subprocess.run([cli[0], "get", *cli[1:], "-O", str(out), archive], env=env, check=True,
                           capture_output=True)
            if out.stat().st_size != size:
                raise RuntimeError("glacier get wrote the wrong size")
            out.unlink()

        def boto3_get(archive):
            job = g.initiate_job(vaultName="bench", jobParameters={"Type": "archive-retrieval",
                                                                   "ArchiveId": archive})["jobId"]
            while not g.describe_job(vaultName="bench", jobId=job)["Completed"]:
                time.sleep(0.1)
            body = g.get_job_output(vaultName="bench", jobId=job)["body"]
            out = tmp / "boto3.bin"
            with open(out, "wb") as f:
                for chunk in iter(lambda: body.read(MIB), b""):
                    f.write(chunk)
            if out.stat().st_size != size:
                raise RuntimeError("boto3 wrote the wrong size")
            out.unlink()

        def finished_job(archive):
            job = g.initiate_job(vaultName="bench", jobParameters={"Type": "archive-retrieval",
                                                                   "ArchiveId": archive})["jobId"]
            while not g.describe_job(vaultName="bench", jobId=job)["Completed"]:
                time.sleep(0.1)
            return job

        def glacier_download_discard(job):
            # Every chunk and the whole verified, the bytes thrown away.
            with open(os.devnull, "wb") as null:
                subprocess.run([cli[0], "download", *cli[1:], "-O", "-", job], env=env, check=True,
                               stdout=null)

        def boto3_download_discard(job):
            body = g.get_job_output(vaultName="bench", jobId=job)["body"]
            got = sum(len(c) for c in iter(lambda: body.read(MIB), b""))
            if got != size:
                raise RuntimeError("boto3 read the wrong size")

        times = {k: [] for k in ("openssl", "glacier upload", "boto3 upload", "glacier get", "boto3 get",
                                 "glacier download", "boto3 download")}
        for _ in range(args.runs):
            t, _ = timed(lambda: subprocess.run(["openssl", "dgst", "-sha256", str(src)], check=True,
                                                capture_output=True))
            times["openssl"].append(t)
            t, ours = timed(glacier_upload)
            times["glacier upload"].append(t)
            t, theirs = timed(boto3_upload)
            times["boto3 upload"].append(t)
            t, _ = timed(lambda: glacier_get(ours))
            times["glacier get"].append(t)
            t, _ = timed(lambda: boto3_get(theirs))
            times["boto3 get"].append(t)
            job = finished_job(ours)
            t, _ = timed(lambda: glacier_download_discard(job))
            times["glacier download"].append(t)
            t, _ = timed(lambda: boto3_download_discard(job))
            times["boto3 download"].append(t)
            for a in (ours, theirs):
                g.delete_archive(vaultName="bench", archiveId=a)
            print({k: round(v[-1], 2) for k, v in times.items()}, flush=True)
        rss_after_runs = vm_hwm_mib(proc.pid)
        proc.terminate()
        proc.wait(timeout=30)

        # Four uploads of the file at once, against a fresh server.
        proc, endpoint = start_glacier(args.bin, ["--data-dir", str(tmp / "data4")], env)
        procs.append(proc)
        idle = vm_hwm_mib(proc.pid)
        uploads = [subprocess.Popen([args.bin, "upload", "-q", "--endpoint", endpoint, "--vault", f"four{i}",
                                     "--part-size", "8M", str(src)], env=env, stdout=subprocess.DEVNULL)
                   for i in range(4)]
        t0 = time.perf_counter()
        if any(u.wait() for u in uploads):
            raise RuntimeError("a concurrent upload failed")
        four = time.perf_counter() - t0
        rss_four = vm_hwm_mib(proc.pid)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", str(tmp)])

    rate = {k: size / 1e6 / statistics.median(v) for k, v in times.items()}
    bound4 = 2 * rate["openssl"] / 4
    bound2 = 2 * rate["openssl"] / 2
    table = "\n".join([
        f"{datetime.date.today()}, {os.cpu_count()} cores ({platform.machine()}), {args.size_mib} MiB in the "
        f"page cache, loopback `glacier serve` on a data directory, median of {args.runs} runs:",
        "",
        "| measure | rate | against |",
        "|---|---|---|",
        f"| OpenSSL SHA-256, one core | {rate['openssl']:,.0f} MB/s | bound with 4 SHA-256 passes per upload "
        f"(linear + tree on each side) {bound4:,.0f} MB/s; with 2 (tree only) {bound2:,.0f} MB/s |",
        f"| `glacier upload`, 8 MiB parts × 4 | {rate['glacier upload']:,.0f} MB/s | "
        f"{rate['glacier upload'] / bound4:.2f} of the 4-pass bound, {rate['glacier upload'] / bound2:.2f} of "
        f"the 2-pass; {rate['glacier upload'] / rate['boto3 upload']:.1f}× boto3 |",
        f"| boto3 multipart, 8 MiB parts in turn | {rate['boto3 upload']:,.0f} MB/s | 1.0× |",
        f"| `glacier get` (job + download + verify) | {rate['glacier get']:,.0f} MB/s | "
        f"{rate['glacier get'] / rate['boto3 get']:.2f}× boto3 |",
        f"| boto3 job + `get_job_output` to a file, unverified | {rate['boto3 get']:,.0f} MB/s | 1.00× |",
        f"| `glacier download -O -` of a finished job, verified, discarded | {rate['glacier download']:,.0f} MB/s | "
        f"{rate['glacier download'] / rate['boto3 download']:.2f}× boto3 |",
        f"| boto3 `get_job_output` of the same job, unverified, discarded | {rate['boto3 download']:,.0f} MB/s | 1.00× |",
        f"| server peak RSS: after the runs / four {args.size_mib} MiB uploads at once ({four:.1f} s) | "
        f"{rss_after_runs:.1f} / {rss_four:.1f} MiB | idle {idle:.1f} MiB |",
    ])
    print(table)
    if args.write:
        write_table(args.write, "cli", table)


if __name__ == "__main__":
    sys.exit(main())
