#!/usr/bin/env bash
# Terminal test of the progress bar: runs `glacier upload` in a tmux pane (a real pty), reads
# the screen with capture-pane while it runs and after, and checks that a bar was drawn with
# partial progress and parts in flight, and that it finished at the full size. Then, in a
# 60-column pane, that the bar fits the width (no wrapped line) and that Ctrl-C's message
# starts on a line of its own; that `get` leaves no empty "0 B/0 B" bar behind; and that
# `vault purge` asks before deleting.
# Usage: conformance/tty/progress.sh path/to/glacier
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
sock="glacier-tty-$$"
cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# Waits (up to 20 s) until the screen of tmux session $1 matches the grep pattern $2.
wait_screen() {
  for _ in $(seq 1 400); do
    tmux -L "$sock" capture-pane -p -t "$1" | grep -q "$2" && return 0
    sleep 0.05
  done
  return 1
}

head -c $((192 * 1024 * 1024)) /dev/urandom > "$tmp/big.bin"
export GLACIER_LOCAL_STORE="$tmp/store"
mkdir -p "$GLACIER_LOCAL_STORE"
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

# A 60-column terminal, and Ctrl-C in the middle of an upload.
tmux -L "$sock" new-session -d -s narrow -x 60 -y 12 \
  "GLACIER_LOCAL_STORE='$tmp/store' '$bin' upload '$tmp/big.bin' --vault tty --part-size 4 --concurrency 1 --limit-rate 16M; echo NARROW-EXIT=\$?; sleep 60"
saw_bar=no
wait_screen narrow 'MiB/192.00 MiB' && saw_bar=yes
sleep 1
tmux -L "$sock" send-keys -t narrow C-c
wait_screen narrow 'NARROW-EXIT=' || true
narrow=$(tmux -L "$sock" capture-pane -p -J -t narrow)
echo "--- 60-column screen after Ctrl-C"
echo "$narrow"
[ "$saw_bar" = yes ] || { echo "FAIL: no bar on the 60-column terminal"; failed=1; }
awk '/MiB\/192/ && length($0) > 60 { bad = 1 } END { exit bad }' <<<"$narrow" ||
  { echo "FAIL: the bar is wider than the 60-column terminal (it wrapped)"; failed=1; }
grep -q '^interrupted: run the same command again' <<<"$narrow" ||
  { echo "FAIL: Ctrl-C's message does not start a line of its own"; failed=1; }
grep -q 'NARROW-EXIT=130' <<<"$narrow" || { echo "FAIL: Ctrl-C did not exit with 130"; failed=1; }

# get: the bar appears once the size is known, never as an empty 0 B/0 B bar.
head -c $((3 * 1024 * 1024)) /dev/urandom > "$tmp/small.bin"
id=$("$bin" upload "$tmp/small.bin" --vault tty -q)
tmux -L "$sock" new-session -d -s get -x 160 -y 12 \
  "GLACIER_LOCAL_STORE='$tmp/store' '$bin' get '$id' --vault tty -O '$tmp/back.bin'; echo GET-EXIT=\$?; sleep 60"
wait_screen get 'GET-EXIT=' || true
got=$(tmux -L "$sock" capture-pane -p -t get)
echo "--- get screen"
echo "$got"
grep -q 'GET-EXIT=0' <<<"$got" || { echo "FAIL: get did not succeed"; failed=1; }
grep -q ' 0 B/0 B' <<<"$got" && { echo "FAIL: get left an empty 0 B/0 B bar"; failed=1; }
cmp -s "$tmp/small.bin" "$tmp/back.bin" || { echo "FAIL: get did not bring the file back"; failed=1; }

# vault purge asks first on a terminal; "n" deletes nothing.
"$bin" upload "$tmp/small.bin" --vault keep -q >/dev/null
tmux -L "$sock" new-session -d -s purge -x 160 -y 12 \
  "GLACIER_LOCAL_STORE='$tmp/store' '$bin' vault purge keep; echo PURGE-EXIT=\$?; sleep 60"
wait_screen purge '\[y/N\]' || true
tmux -L "$sock" send-keys -t purge n Enter
wait_screen purge 'PURGE-EXIT=' || true
purge=$(tmux -L "$sock" capture-pane -p -t purge)
echo "--- purge screen"
echo "$purge"
grep -q 'delete 1 archive(s), 3.0 MiB, of keep, then the vault itself for good? \[y/N\]' <<<"$purge" ||
  { echo "FAIL: purge did not ask first"; failed=1; }
grep -q 'PURGE-EXIT=1' <<<"$purge" || { echo "FAIL: a refused purge did not fail"; failed=1; }
left=$("$bin" vault describe keep -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["archives"])')
[ "$left" = 1 ] || { echo "FAIL: a refused purge deleted archives ($left left)"; failed=1; }

if [ "$failed" = 0 ]; then echo "tty: 4 passed, 0 failed"; else echo "tty: failed"; exit 1; fi
