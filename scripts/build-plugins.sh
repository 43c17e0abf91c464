#!/usr/bin/env bash
# Builds every plugin of the plugins workspace (plugins/Cargo.toml) for wasm32-wasip2, release, and
# copies each component to examples/plugins/<name>.wasm, where the example configs load it from.
# The copies are build output: *.wasm is gitignored.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$repo/scripts/env.sh"

out="$repo/examples/plugins"
mkdir -p "$out"

# Cargo prints one JSON object per built artifact on stdout (diagnostics go to stderr as usual); the
# components are the `.wasm` files it names, so stale files in the shared target dir are never copied.
messages="$(cargo build --release --target wasm32-wasip2 \
  --manifest-path "$repo/plugins/Cargo.toml" \
  --message-format=json-render-diagnostics)"

components="$(printf '%s\n' "$messages" \
  | grep '"reason":"compiler-artifact"' \
  | grep -o '"filenames":\[[^]]*\]' \
  | grep -o '"[^"]*\.wasm"' \
  | tr -d '"' || true)"

if [[ -z "$components" ]]; then
  echo "build-plugins: cargo reported no .wasm component; are the plugins cdylib crates?" >&2
  exit 1
fi

while IFS= read -r component; do
  destination="$out/$(basename "$component")"
  cp "$component" "$destination"
  echo "$destination"
done <<<"$components"
