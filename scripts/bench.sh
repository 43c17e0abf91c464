#!/usr/bin/env bash
# Benchmarks: builds in release mode, starts a private MariaDB and broker, and prints a results table.
#   scripts/bench.sh [rows]                 (default 1000000)
# The plugin-boundary micro-benchmark (criterion; no database): builds the example plugins into
# examples/plugins/, then prints ns per change for each plugin chain and batch size. Extra arguments go to
# criterion, e.g. a filter such as `rust_rust/64`.
#   scripts/bench.sh plugins [criterion arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/install.sh
if [[ "${1:-}" == plugins ]]; then
  shift
  bash scripts/build-plugins.sh >/dev/null
  exec cargo bench -p sluice --bench plugin_boundary -- "$@"
fi
cargo run --quiet --release -p sluice-tests --bin sluice-bench -- "$@"
