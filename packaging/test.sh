#!/usr/bin/env bash
# Builds the Debian package and proves it: the files it holds, that it installs, that the
# installed glacier runs its packaged configuration, that its man pages are there and the
# systemd unit passes `systemd-analyze verify`; then purges it again.
set -euo pipefail
cd "$(dirname "$0")/.."
deb="$(scripts/package.sh | tail -n 1)"
echo "package: $deb ($(du -h "$deb" | cut -f1))"
contents="$(dpkg-deb -c "$deb")"
for f in usr/bin/glacier lib/systemd/system/glacier.service etc/glacier/glacier.toml \
  usr/share/man/man1/glacier.1.gz usr/share/man/man1/glacier-serve.1.gz \
  usr/share/bash-completion/completions/glacier usr/share/zsh/vendor-completions/_glacier \
  usr/share/fish/vendor_completions.d/glacier.fish; do
  if ! grep -q " \./$f\$" <<<"$contents"; then
    echo "the package lacks $f:" >&2
    echo "$contents" >&2
    exit 1
  fi
done
if dpkg -s glacier >/dev/null 2>&1; then
  echo "a glacier package is installed on this machine already; not installing over it" >&2
  exit 1
fi
tmp="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  dpkg -P glacier >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
dpkg -i "$deb" >/dev/null
/usr/bin/glacier --version
test -f /usr/share/man/man1/glacier-serve.1.gz
if command -v man >/dev/null; then
  man -l /usr/share/man/man1/glacier-serve.1.gz 2>/dev/null | grep -q -- "--config"
fi
systemd-analyze verify /lib/systemd/system/glacier.service
# The unit's command line, on a scratch data directory and port.
/usr/bin/glacier serve --config /etc/glacier/glacier.toml --data-dir "$tmp/data" \
  --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$tmp/out" && break
  sleep 0.1
done
grep "listening on" "$tmp/out" || { cat "$tmp/err" >&2; exit 1; }
echo "package ok"
