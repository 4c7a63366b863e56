"""Upload, download and DescribeVault rates of `glacier serve` on its stores, and the server's
own CPU per uploaded and downloaded MiB, in one run: one node on a data directory (SQLite +
files, the baseline), one node on PostgreSQL + Garage over plain HTTP and over HTTPS (a TLS
front of this script's own before Garage, which speaks only HTTP), and two nodes on the same
PostgreSQL + Garage with the clients split between them.

Usage: .venv/bin/python bench/nodes.py [--bin target/release/glacier] [--clients 8]
       [--uploads 160] [--size-kib 1024] [--downloads 64] [--describes 2000]

Starts a throw-away PostgreSQL (durable: fsync on, as shipped) with scripts/postgres.sh and a
three-node Garage cluster (replication factor 3) with scripts/garage.sh, and stops them. Every
configuration runs the same bounded workload with --clients threads, each with its own boto3
client: --uploads single-request uploads of --size-kib bytes, a retrieval job, --downloads
full downloads of one of the archives, and --describes DescribeVault calls. Prints each rate and
its ratio to the baseline, and the CPU the server processes used (user + system, from /proc)
per MiB while uploading and while downloading, with its ratio. Everything runs on this machine, so the two-node figure shows the
cost of sharing, not extra hardware.
"""

import argparse
import asyncio
import concurrent.futures
import io
import os
import pathlib
import ssl
import subprocess
import tempfile
import threading
import time
import uuid

import boto3
from botocore.config import Config
from botocore.utils import calculate_tree_hash

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
KEY, SECRET, ACCOUNT = "AKIDBENCHNODES", "bench-nodes-secret", "123456789012"


def start_node(binary, store_args, env):
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", *store_args],
                            stdout=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.strip().rsplit(" ", 1)[-1]


def cpu_seconds(procs):
    """User + system CPU the processes have used so far."""
    total = 0
    for p in procs:
        fields = pathlib.Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def tls_front(target, cert, key):
    """Starts an HTTPS front for the HTTP endpoint `target` on a thread; its https:// URL."""
    host, port = target.split("://", 1)[1].split(":")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def pipe(reader, writer):
        try:
            while data := await reader.read(1 << 18):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def serve(reader, writer):
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    ready = concurrent.futures.Future()

    def run():
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx))
        ready.set_result(server.sockets[0].getsockname()[1])
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    return f"https://127.0.0.1:{ready.result(timeout=10)}"


def client(endpoint):
    return boto3.client("glacier", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        config=Config(retries={"max_attempts": 1}, read_timeout=300,
                                      max_pool_connections=4))


def parallel(clients, count, work):
    """Runs work(client, i) for i in range(count) on len(clients) threads, thread t using
    clients[t]; returns operations per second."""
    def run(t):
        g = clients[t]
        for i in range(t, count, len(clients)):
            work(g, i)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        for f in [pool.submit(run, t) for t in range(len(clients))]:
            f.result()
    return count / (time.perf_counter() - started)


def workload(nodes, args, body, tree):
    """The measured workload against the service's nodes, (process, endpoint) pairs (clients
    spread evenly)."""
    procs, endpoints = [p for p, _ in nodes], [e for _, e in nodes]
    clients = [client(endpoints[t % len(endpoints)]) for t in range(args.clients)]
    vault = f"bench-{uuid.uuid4().hex[:8]}"
    clients[0].create_vault(vaultName=vault)
    ids = []

    def upload(g, i):
        r = g.upload_archive(vaultName=vault, body=body, checksum=tree)
        ids.append(r["archiveId"])

    cpu = cpu_seconds(procs)
    up = parallel(clients, args.uploads, upload)
    cpu_up = cpu_seconds(procs) - cpu
    job = clients[0].initiate_job(vaultName=vault, jobParameters={
        "Type": "archive-retrieval", "ArchiveId": ids[0]})["jobId"]
    while not clients[-1].describe_job(vaultName=vault, jobId=job)["Completed"]:
        time.sleep(0.05)

    def download(g, i):
        out = g.get_job_output(vaultName=vault, jobId=job)
        assert out["body"].read() == body

    cpu = cpu_seconds(procs)
    down = parallel(clients, args.downloads, download)
    cpu_down = cpu_seconds(procs) - cpu
    describe = parallel(clients, args.describes, lambda g, i: g.describe_vault(vaultName=vault))
    mib = len(body) / (1024 * 1024)
    return {"upload": up * mib, "download": down * mib, "describe": describe,
            "cpu_up": 1000 * cpu_up / (args.uploads * mib),
            "cpu_down": 1000 * cpu_down / (args.downloads * mib)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(TARGET / PROFILE / "glacier"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--uploads", type=int, default=160)
    ap.add_argument("--size-kib", type=int, default=1024)
    ap.add_argument("--downloads", type=int, default=64)
    ap.add_argument("--describes", type=int, default=2000)
    args = ap.parse_args()
    body = os.urandom(args.size_kib * 1024)
    tree = calculate_tree_hash(io.BytesIO(body))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="glacier-bench-nodes-"))
    os.chmod(tmp, 0o755)  # PostgreSQL runs as its own user
    env = dict(os.environ, GLACIER_ACCESS_KEY_ID=KEY, GLACIER_SECRET_ACCESS_KEY=SECRET,
               GLACIER_ACCOUNT_ID=ACCOUNT, GLACIER_LOG="warn")
    scripts = ROOT / "scripts"
    procs = []
    try:
        pg = subprocess.run([scripts / "postgres.sh", "start", tmp / "pg", "durable"], check=True,
                            capture_output=True, text=True).stdout.strip()
        out = subprocess.run([scripts / "garage.sh", "start", tmp / "garage", "3"], check=True,
                             capture_output=True, text=True).stdout
        garage = {k: v.strip("'") for k, v in (line.split("=", 1) for line in out.splitlines())}
        s3_endpoints = garage["GARAGE_ENDPOINTS"].split()
        env.update(AWS_ACCESS_KEY_ID=garage["GARAGE_KEY_ID"], AWS_SECRET_ACCESS_KEY=garage["GARAGE_SECRET"])
        subprocess.run(["psql", "-q", pg, "-c", "CREATE DATABASE bench"], check=True)
        shared = ["--metadata", pg.rsplit("/", 1)[0] + "/bench",
                  "--blobs", f"s3://{garage['GARAGE_BUCKET']}/bench",
                  "--s3-region", garage["GARAGE_REGION"]]

        https = tls_front(s3_endpoints[0], tmp / "pg" / "server.pem", tmp / "pg" / "server.key")

        def node(store_args, extra_env=()):
            n = start_node(args.bin, store_args, dict(env, **dict(extra_env)))
            procs.append(n[0])
            return n

        def stop(n):
            n[0].terminate()
            n[0].wait(timeout=30)

        results = {}
        first = node(["--data-dir", str(tmp / "files")])
        results["1 node, SQLite + files"] = workload([first], args, body, tree)
        stop(first)
        first = node(shared + ["--s3-endpoint", https], {"SSL_CERT_FILE": str(tmp / "pg" / "ca.pem")})
        results["1 node, PostgreSQL + Garage over HTTPS"] = workload([first], args, body, tree)
        stop(first)
        first = node(shared + ["--s3-endpoint", s3_endpoints[0]])
        results["1 node, PostgreSQL + Garage"] = workload([first], args, body, tree)
        second = node(shared + ["--s3-endpoint", s3_endpoints[1]])
        results["2 nodes, PostgreSQL + Garage"] = workload([first, second], args, body, tree)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=30)
        subprocess.run([scripts / "garage.sh", "stop", tmp / "garage"])
        subprocess.run([scripts / "postgres.sh", "stop", tmp / "pg"])
        subprocess.run(["rm", "-rf", str(tmp)])

    base = results["1 node, SQLite + files"]
    print(f"{args.clients} clients; {args.uploads} uploads and {args.downloads} downloads of "
          f"{args.size_kib} KiB; {args.describes} DescribeVault")
    print("| configuration | upload MiB/s | download MiB/s | DescribeVault/s "
          "| server CPU ms per MiB up | server CPU ms per MiB down |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        # (At smoke sizes the CPU used may be below the clock's tick: no ratio then.)
        cells = [f"{r[k]:.{0 if k == 'describe' else 1}f} ({r[k] / base[k]:.2f}x)" if base[k] else f"{r[k]:.1f}"
                 for k in ("upload", "download", "describe", "cpu_up", "cpu_down")]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
