#!/usr/bin/env bash
# Builds the Debian package of glacier-rs (cargo-deb): the release binary, the systemd unit, the
# default /etc/glacier/glacier.toml, man pages and bash/zsh/fish completions. Prints the path of
# the .deb. The generated pages and completions go to packaging/out (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
# GLACIER_PACKAGE_PROFILE=dev packages the debug build (what scripts/test does, to prove the
# packaging without a second build of the workspace); a real package is release.
profile="${GLACIER_PACKAGE_PROFILE:-release}"
dir="$([ "$profile" = dev ] && echo debug || echo "$profile")"
cargo build -q --profile "$profile" --bin glacier
out=packaging/out
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"
"$target/$dir/glacier" man --dir "$out/man"
gzip -9n "$out"/man/*.1
for shell in bash zsh fish; do
  "$target/$dir/glacier" completions "$shell" >"$out/completions/glacier.$shell"
done
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install -q cargo-deb --locked --version 3.8.0 >&2
fi
cargo deb -q -p glacier-cli --no-build --profile "$profile"
