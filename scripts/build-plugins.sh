#!/usr/bin/env bash
# Builds every plugin into examples/plugins/<name>.wasm, where the example configs load it from:
#   - the Rust plugins of the plugins workspace (plugins/Cargo.toml), for wasm32-wasip2, release;
#   - plugins/reference-python with componentize-py;
#   - plugins/reference-js with ComponentizeJS.
# The Python and JavaScript toolchains come from scripts/install.sh. The components are build output:
# *.wasm is gitignored.
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

componentize_py="$SLUICE_PYTHON_VENV/bin/componentize-py"
componentize_js="$SLUICE_NODE_DIR/node_modules/@bytecodealliance/componentize-js/src/componentize.js"
if [[ ! -x "$componentize_py" || ! -f "$componentize_js" ]]; then
  echo "build-plugins: componentize-py or ComponentizeJS is missing; run scripts/install.sh" >&2
  exit 1
fi

"$componentize_py" --wit-path "$repo/wit" --world full-plugin componentize app \
  --python-path "$repo/plugins/reference-python" --output "$out/reference_python.wasm" >/dev/null
echo "$out/reference_python.wasm"

SLUICE_COMPONENTIZE_JS="$componentize_js" node "$repo/plugins/reference-js/build.mjs" "$out/reference_js.wasm"
