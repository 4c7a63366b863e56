"""The retrieval engine at scale (issue 23): `glacier restore` of many archives from a
`glacier serve` whose retrievals take --delay seconds (Amazon Glacier's take hours), against
the one-delay bound — the inventory's delay plus the archives' delay, as if every archive were
retrieved at once; one archive after another would be one delay per archive. Also the
requests the restore made per archive (from the server's /metrics) and the client's peak
RSS; and the planner alone (`restore --dry-run`) over a metadata-only vault of --plan-archives
archives, its time and peak RSS.

Usage: cargo build --release --bin glacier --example populate &&
       .venv/bin/python bench/retrievals.py [--archives 1000] [--delay 5] [--plan-archives 1000000]
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
KEY, SECRET, ACCOUNT = "AKIDBENCHRETRIEVE", "bench-retrieve-secret", "123456789012"


def serve(binary, data, delay):
    env = dict(os.environ, GLACIER_ACCESS_KEY_ID=KEY, GLACIER_SECRET_ACCESS_KEY=SECRET,
               GLACIER_ACCOUNT_ID=ACCOUNT, GLACIER_LOG="warn")
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                             "--data-dir", str(data), "--retrieval-delay", f"{delay}s"],
                            stdout=subprocess.PIPE, env=env, text=True)
    endpoint = proc.stdout.readline().split()[-1]
    metrics = proc.stdout.readline().split()[-1]
    if not endpoint.startswith("http") or not metrics.startswith("http"):
        proc.kill()
        raise RuntimeError("glacier serve did not start")
    return proc, endpoint, metrics.rstrip("/") + "/metrics"


def requests_by_operation(metrics):
    text = urllib.request.urlopen(metrics, timeout=30).read().decode()
    out = {}
    for m in re.finditer(r'^glacier_requests_total\{([^}]*)\} (\d+)', text, re.M):
        op = re.search(r'operation="([^"]+)"', m.group(1)).group(1)
        out[op] = out.get(op, 0) + int(m.group(2))
    return out


def peak_rss(binary, endpoint, state, args):
    """Runs `glacier ARGS`: (seconds, peak RSS in MiB, standard output)."""
    env = dict(os.environ, GLACIER_ENDPOINT=endpoint, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
               GLACIER_STATE_DIR=str(state), GLACIER_CONFIG="/nonexistent")
    t = time.perf_counter()
    proc = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"glacier {' '.join(args)} failed: {err.decode()[-2000:]}")
    return took, usage.ru_maxrss / 1024, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archives", type=int, default=1000)
    ap.add_argument("--delay", type=float, default=5.0)
    ap.add_argument("--plan-archives", type=int, default=1_000_000)
    ap.add_argument("--bin", default=str(TARGET / PROFILE / "glacier"))
    ap.add_argument("--populate", default=str(TARGET / PROFILE / "examples" / "populate"))
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="glacier-retrievals-bench-"))
    try:
        src, dst, state = tmp / "src", tmp / "dst", tmp / "state"
        for d in (src, dst, state):
            d.mkdir()
        for i in range(args.archives):
            (src / f"f{i:05}.bin").write_bytes(i.to_bytes(4, "little") * 256)
        proc, endpoint, metrics = serve(args.bin, tmp / "data", args.delay)
        try:
            t = time.perf_counter()
            peak_rss(args.bin, endpoint, state, ["sync", str(src), "--vault", "bench", "--quiet"])
            print(f"synced {args.archives:,} archives of 1 KiB in {time.perf_counter() - t:.1f} s")
            before = requests_by_operation(metrics)
            took, rss, _ = peak_rss(args.bin, endpoint, state,
                                    ["restore", str(dst), "--vault", "bench", "--quiet"])
            after = requests_by_operation(metrics)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        restored = sum(1 for _ in dst.iterdir())
        assert restored == args.archives, (restored, args.archives)
        made = {op: after.get(op, 0) - before.get(op, 0) for op in after}
        made = {op: n for op, n in made.items() if n}
        bound = 2 * args.delay
        print(f"restore of {args.archives:,} archives, retrieval delay {args.delay:g} s: {took:.1f} s; "
              f"one-delay bound (inventory + archives) {bound:g} s: ratio {took / bound:.2f} "
              f"(one archive after another: {args.archives + 1:,} delays, ratio {(args.archives + 1) / 2:,.0f})")
        total = sum(made.values())
        print(f"requests: {total:,} = {total / args.archives:.2f} per archive "
              + "(" + ", ".join(f"{op} {n:,}" for op, n in sorted(made.items())) + ")")
        print(f"client peak RSS: {rss:.1f} MiB")

        # The planner over a metadata-only vault (archive bodies are not stored; a dry run
        # downloads nothing).
        data = tmp / "plan"
        subprocess.run([args.populate, str(data), ACCOUNT, "plan", str(args.plan_archives), "mt2"], check=True,
                       stdout=subprocess.DEVNULL)
        proc, endpoint, _ = serve(args.bin, data, 0)
        try:
            took, rss, out = peak_rss(args.bin, endpoint, state,
                                      ["restore", str(tmp / "planned"), "--vault", "plan", "--dry-run",
                                       "-o", "json", "--quiet"])
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        plan = json.loads(out)["plan"]
        assert plan["archives"] == args.plan_archives, plan
        print(f"plan of {args.plan_archives:,} archives (inventory, decode, compare, cost): {took:.1f} s, "
              f"client peak RSS {rss:.1f} MiB, ${plan['cost_usd']} at {plan['tier']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
