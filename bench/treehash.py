"""Tree hash throughput of `glacier treehash` against its peers, measured in the same run.

Usage: .venv/bin/python bench/treehash.py [--size-mib 1024] [--runs 5] [--bin target/release/glacier]
       [--speed-seconds 3] [--write BENCHMARKS.md]

One file of random bytes, read once first so that it sits in the page cache; then, `--runs`
times each, in turn: `glacier treehash FILE` (all cores), the same pinned to one core
(`taskset -c 0`), `openssl dgst -sha256 FILE` (one core; the plain SHA-256 of the same bytes is
the most a one-core tree hash can reach) and botocore's `calculate_tree_hash` (what boto3 does);
and OpenSSL's in-memory SHA-256 on core 0 (`openssl speed`) over a 1 MiB buffer, which stays in
the core's cache, and over a 256 MiB one, which is read from memory as a file's bytes are.
Prints the medians in MB/s and the ratios against each; every tool's hash is checked against
botocore's. With `--write`, the table replaces the one between the `bench:treehash`
markers in that file, with the date and the machine.
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import tempfile
import time

from botocore.utils import calculate_tree_hash

from marked import write_table

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

MIB = 1024 * 1024


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), PROFILE + "/glacier"))
    ap.add_argument("--speed-seconds", type=int, default=3, help="each `openssl speed` run's length")
    ap.add_argument("--write")
    args = ap.parse_args()
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.bin")
        with open(path, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MIB))
        with open(path, "rb") as f:
            while f.read(16 * MIB):
                pass
            f.seek(0)
            expected = calculate_tree_hash(f)

        def glacier(pin):
            cmd = (["taskset", "-c", "0"] if pin else []) + [args.bin, "treehash", path]
            t, out = timed(cmd)
            assert out.split()[0] == expected, (out, expected)
            return t

        def openssl():
            t, _ = timed(["openssl", "dgst", "-sha256", path])
            return t

        def openssl_speed(size):
            # OpenSSL hashing one buffer of `size` bytes over and over on core 0: 1 MiB stays in
            # the core's cache (the yardstick); 256 MiB streams from memory, as the bytes
            # of a file in the page cache do.
            out = subprocess.run(
                ["taskset", "-c", "0", "openssl", "speed", "-evp", "sha256", "-bytes", str(size), "-seconds", str(args.speed_seconds)],
                check=True, capture_output=True, text=True,
            ).stdout
            return float(out.strip().splitlines()[-1].split()[-1].rstrip("k")) * 1000 / 1e6

        def botocore():
            start = time.perf_counter()
            with open(path, "rb") as f:
                assert calculate_tree_hash(f) == expected
            return time.perf_counter() - start

        tools = {
            "glacier treehash (all cores)": lambda: glacier(False),
            "glacier treehash (one core)": lambda: glacier(True),
            "openssl dgst -sha256 (one core, linear)": openssl,
            "botocore calculate_tree_hash": botocore,
        }
        times = {name: [] for name in tools}
        speeds = {"hot": [], "cold": []}
        for _ in range(args.runs):
            for name, run in tools.items():
                times[name].append(run())
            speeds["hot"].append(openssl_speed(MIB))
            speeds["cold"].append(openssl_speed(256 * MIB))
    rate = {name: size / 1e6 / statistics.median(t) for name, t in times.items()}
    ossl, boto = rate["openssl dgst -sha256 (one core, linear)"], rate["botocore calculate_tree_hash"]
    hot, cold = statistics.median(speeds["hot"]), statistics.median(speeds["cold"])
    rows = [
        f"| {name} | {rate[name]:,.0f} MB/s | {rate[name] / ossl:.2f}× | {rate[name] / hot:.2f}× "
        f"| {rate[name] / cold:.2f}× | {rate[name] / boto:.2f}× |"
        for name in tools
    ]
    table = "\n".join(
        [
            f"{datetime.date.today()}, {os.cpu_count()} cores ({platform.machine()}), "
            f"{args.size_mib} MiB in the page cache, median of {args.runs} runs:",
            "",
            "| tool | rate | vs openssl dgst | vs OpenSSL in cache | vs OpenSSL from memory "
            "| vs botocore |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"OpenSSL's one-core SHA-256 in memory (`openssl speed -evp sha256`, core 0): "
            f"{hot:,.0f} MB/s over a 1 MiB buffer that stays in the cache, {cold:,.0f} MB/s "
            f"over a 256 MiB one read from memory.",
        ]
    )
    print(table)
    if args.write:
        write_table(args.write, "treehash", table)

if __name__ == "__main__":
    main()
