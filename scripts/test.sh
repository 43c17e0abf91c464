#!/usr/bin/env bash
# Runs every test: unit tests, the plugin's native unit tests, and the end-to-end tests against a
# private MariaDB and tansu broker that the tests start themselves. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/install.sh
echo "[test] plugin unit tests (native)" >&2
cargo test --manifest-path plugins/Cargo.toml --target-dir "$CARGO_TARGET_DIR/plugins-native"
echo "[test] workspace tests (unit + end-to-end)" >&2
cargo test --workspace
