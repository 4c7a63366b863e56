"""Client memory for large transfers: a file uploaded through glacier-client's Layer2
(concurrently from the file, and through the Writer from a reader) and downloaded with the
concurrent verified downloader, with 8 MiB parts and concurrency 4. The baseline is the same
run with a 64 MiB file: bounded memory means the peak stays near it, and under 100 MiB.

Usage: cargo build --release --bin glacier --example transfer &&
       .venv/bin/python bench/client_memory.py [--size-mib 2048]
"""

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

# The build the binaries come from: release, or debug for `bench/run --smoke` (CI).
PROFILE = os.environ.get("GLACIER_BENCH_PROFILE", "release")

ACCOUNT = "123456789012"


def run(binary, endpoint, path, env):
    out = subprocess.run([binary, endpoint, str(path), "8", "4"], env=env, check=True, capture_output=True, text=True)
    return out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), PROFILE + "/glacier"))
    ap.add_argument("--example", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), PROFILE + "/examples/transfer"))
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="glacier-client-bench-"))
    env = dict(os.environ, GLACIER_ACCESS_KEY_ID="AKIDBENCH", GLACIER_SECRET_ACCESS_KEY="bench",
               GLACIER_ACCOUNT_ID=ACCOUNT, GLACIER_LOG="warn",
               AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench")
    server = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp / "data")],
                              stdout=subprocess.PIPE, env=env, text=True)
    try:
        endpoint = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        results = {}
        for mib in (64, args.size_mib):
            path = tmp / f"file-{mib}"
            with open(path, "wb") as f:
                for _ in range(mib // 8):
                    f.write(os.urandom(8 << 20))
            results[mib] = run(args.example, endpoint, path, env)
            path.unlink()
        for mib, text in results.items():
            print(f"--- {mib} MiB, 8 MiB parts, concurrency 4")
            print(text.strip())
        peak = lambda text: float(re.findall(r"peak RSS ([0-9.]+) MiB", text)[-1])
        small, large = peak(results[64]), peak(results[args.size_mib])
        print(f"client peak RSS: {small:.1f} MiB for 64 MiB, {large:.1f} MiB for {args.size_mib} MiB "
              f"(ratio {large / small:.2f}; target under 100 MiB)")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
