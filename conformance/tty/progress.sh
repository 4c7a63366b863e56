#!/usr/bin/env bash
# Terminal test of the progress bar: runs `glacier upload` in a tmux pane (a real pty), reads
# the screen with capture-pane while it runs and after, and checks that a bar was drawn with
# partial progress and parts in flight, and that it finished at the full size.
# Usage: conformance/tty/progress.sh path/to/glacier
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
sock="glacier-tty-$$"
cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

head -c $((192 * 1024 * 1024)) /dev/urandom > "$tmp/big.bin"
export GLACIER_LOCAL_STORE="$tmp/store"
"$bin" vault create tty > /dev/null
tmux -L "$sock" new-session -d -s p -x 160 -y 12 \
  "GLACIER_LOCAL_STORE='$tmp/store' '$bin' upload '$tmp/big.bin' --vault tty --part-size 4 --concurrency 1; echo UPLOAD-EXIT=\$?; sleep 60"

saw_partial=no
for _ in $(seq 1 1200); do
  screen=$(tmux -L "$sock" capture-pane -p -t p)
  if grep -q 'uploading .*([1-9][0-9]* in flight) \[.*\] .*MiB/192.00 MiB' <<<"$screen" && ! grep -q '192.00 MiB/192.00 MiB' <<<"$screen"; then
    saw_partial=yes
  fi
  if grep -q 'UPLOAD-EXIT=' <<<"$screen"; then break; fi
  sleep 0.05
done
final=$(tmux -L "$sock" capture-pane -p -t p)
echo "--- final screen"
echo "$final"
failed=0
grep -q 'UPLOAD-EXIT=0' <<<"$final" || { echo "FAIL: the upload did not succeed"; failed=1; }
grep -q 'uploading .*\[=*\] 192.00 MiB/192.00 MiB' <<<"$final" || { echo "FAIL: no finished bar at the full size"; failed=1; }
[ "$saw_partial" = yes ] || { echo "FAIL: no bar with partial progress and parts in flight was seen while uploading"; failed=1; }
if [ "$failed" = 0 ]; then echo "tty: 1 passed, 0 failed"; else echo "tty: 0 passed, 1 failed"; exit 1; fi
