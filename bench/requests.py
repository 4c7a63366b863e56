"""Request rate: DescribeVault from 64 concurrent tasks through the official aws-sdk-glacier
and through a load generator built on glacier-client (`conformance/aws-sdk/examples/load.rs`),
against `glacier serve` on a data directory (SQLite + files), on PostgreSQL + Garage
(`--postgres`: a throw-away PostgreSQL and a one-node Garage, started and stopped here), and
against moto (`moto_server`, the peer) and, with `--fakecloud BIN`, against fakecloud (a Rust
AWS emulator that keeps everything in memory; `cargo install fakecloud --locked --version
0.51.0`, its build takes a while), with its SigV4 check on and off — all in one run, each figure
the median of --runs runs of --seconds, with the server's CPU time per request and its peak
resident memory.

Usage: cargo build --release --bin glacier --example load &&
       .venv/bin/python bench/requests.py [--tasks 64] [--seconds 5] [--runs 3] [--postgres]
       [--fakecloud ~/.cargo/bin/fakecloud] [--write BENCHMARKS.md]

Client and server share this machine's cores, so a rate is what both together reach.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import socket
import statistics
import subprocess
import tempfile
import time

import boto3

from marked import write_table
from serving import start_glacier

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
KEY, SECRET = "AKIDBENCHREQUESTS", "bench-requests-secret"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def vm_hwm_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(python):
    port = free_port()
    proc = subprocess.Popen([python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def start_fakecloud(binary, verify):
    port = free_port()
    proc = subprocess.Popen([binary, "--addr", f"127.0.0.1:{port}", "--log", "warn",
                             *(["--verify-sigv4"] if verify else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("fakecloud did not start")


def measure(load, client, endpoint, pid, args, operation=()):
    """Median rate over the runs, with p50/p99 of that run and server CPU µs per request."""
    runs = []
    for _ in range(args.runs):
        before = cpu_seconds(pid)
        out = subprocess.run([load, client, endpoint, "bench", str(args.tasks), str(args.seconds), *operation],
                             check=True, capture_output=True, text=True,
                             env=dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET))
        r = json.loads(out.stdout)
        if r["errors"]:
            raise RuntimeError(f"{client} against {endpoint}: {r['errors']} errors")
        r["cpu_us"] = (cpu_seconds(pid) - before) / r["requests"] * 1e6
        runs.append(r)
    runs.sort(key=lambda r: r["rate"])
    return runs[len(runs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(TARGET / PROFILE / "glacier"))
    ap.add_argument("--load", default=str(TARGET / PROFILE / "examples" / "load"))
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--postgres", action="store_true")
    ap.add_argument("--fakecloud", help="a fakecloud binary, to measure it too")
    ap.add_argument("--write")
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="glacier-bench-requests-"))
    os.chmod(tmp, 0o755)  # PostgreSQL runs as its own user
    env = dict(os.environ, GLACIER_ACCESS_KEY_ID=KEY, GLACIER_SECRET_ACCESS_KEY=SECRET,
               GLACIER_ACCOUNT_ID="123456789012", GLACIER_LOG="warn")
    scripts = ROOT / "scripts"
    servers = {}
    rows = []
    reads = []
    try:
        targets = [("glacier serve, SQLite + files", lambda: start_glacier(args.bin, ["--data-dir", str(tmp / "data")], env))]
        if args.postgres:
            pg = subprocess.run([scripts / "postgres.sh", "start", tmp / "pg", "durable"], check=True,
                                capture_output=True, text=True).stdout.strip()
            out = subprocess.run([scripts / "garage.sh", "start", tmp / "garage", "1"], check=True,
                                 capture_output=True, text=True).stdout
            garage = {k: v.strip("'") for k, v in (line.split("=", 1) for line in out.splitlines())}
            pg_env = dict(env, AWS_ACCESS_KEY_ID=garage["GARAGE_KEY_ID"],
                          AWS_SECRET_ACCESS_KEY=garage["GARAGE_SECRET"])
            store = ["--metadata", pg, "--blobs", f"s3://{garage['GARAGE_BUCKET']}/bench",
                     "--s3-region", garage["GARAGE_REGION"],
                     "--s3-endpoint", garage["GARAGE_ENDPOINTS"].split()[0]]
            targets.append(("glacier serve, PostgreSQL + Garage", lambda: start_glacier(args.bin, store, pg_env)))
        targets.append(("moto_server (moto[server])", lambda: start_moto(os.sys.executable)))
        if args.fakecloud:
            for verify in (True, False):
                targets.append((f"fakecloud 0.51, SigV4 {'checked' if verify else 'not checked'}",
                                lambda verify=verify: start_fakecloud(args.fakecloud, verify)))
        for name, start in targets:
            proc, endpoint = start()
            servers[name] = proc
            g = boto3.client("glacier", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id=KEY, aws_secret_access_key=SECRET)
            g.create_vault(vaultName="bench")
            for client in ("sdk", "glacier"):
                r = measure(args.load, client, endpoint, proc.pid, args)
                rows.append((name, client, r, vm_hwm_mib(proc.pid)))
                print(f"{name}, {client}: {r['rate']:,.0f} req/s, p99 {r['p99_ms']:.1f} ms", flush=True)
            if name.startswith("glacier"):
                # The other reads, through the SDK: CPU per request beside DescribeVault's.
                g.add_tags_to_vault(vaultName="bench", Tags={"team": "bench"})
                job = g.initiate_job(vaultName="bench", jobParameters={"Type": "inventory-retrieval"})["jobId"]
                for op in (["list-vaults"], ["list-tags"], ["list-jobs"], ["describe-job", job]):
                    r = measure(args.load, "sdk", endpoint, proc.pid, args, op)
                    reads.append((name, op[0], r))
                    print(f"{name}, sdk {op[0]}: {r['rate']:,.0f} req/s, {r['cpu_us']:.0f} µs", flush=True)
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        for p in servers.values():
            if p.poll() is None:
                p.kill()
        if args.postgres:
            subprocess.run([scripts / "garage.sh", "stop", tmp / "garage"], capture_output=True)
            subprocess.run([scripts / "postgres.sh", "stop", tmp / "pg"], capture_output=True)
        subprocess.run(["rm", "-rf", str(tmp)])

    moto = {client: r["rate"] for name, client, r, _ in rows if name.startswith("moto")}
    names = {"sdk": "aws-sdk-glacier", "glacier": "glacier-client"}
    table = "\n".join([
        f"{datetime.date.today()}, {os.cpu_count()} cores ({platform.machine()}), DescribeVault from "
        f"{args.tasks} tasks, median of {args.runs} runs of {args.seconds:g} s:",
        "",
        "| server | client | req/s | vs moto | p50 | p99 | server CPU per request | server peak RSS |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {name} | {names[client]} | {r['rate']:,.0f} | {r['rate'] / moto[client]:.1f}× | "
          f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['cpu_us']:.0f} µs | {rss:.1f} MiB |"
          for name, client, r, rss in rows),
        "",
        "Other reads through aws-sdk-glacier, same runs:",
        "",
        "| server | operation | req/s | server CPU per request |",
        "|---|---|---|---|",
        *(f"| {name} | {op} | {r['rate']:,.0f} | {r['cpu_us']:.0f} µs |" for name, op, r in reads),
    ])
    print(table)
    if args.write:
        write_table(args.write, "requests", table)


if __name__ == "__main__":
    main()
