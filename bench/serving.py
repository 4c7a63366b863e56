"""Starting `glacier serve` for a benchmark: on a free loopback port, its endpoint read from the
line it prints."""

import subprocess


def start_glacier(binary, store_args, env):
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", *store_args],
                            stdout=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"glacier serve did not start: {line!r}")
    return proc, line.split()[-1]
