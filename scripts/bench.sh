#!/usr/bin/env bash
# Benchmarks: builds in release mode, starts a private MariaDB and broker, and prints a results table
# (each scenario with the limit it is judged by, measured in the same run; see BENCHMARKS.md).
#   scripts/bench.sh [drain|snapshot|latency|plugins-overhead|all] [rows]   (default: all, 1000000)
# The criterion micro-benchmarks (no database): row decoding and DTS Avro encoding (`micro`), the plugin
# boundary (`plugins`, which builds the example plugins into examples/plugins/ first). Extra arguments go
# to criterion, e.g. a filter such as `rust_rust/64`.
#   scripts/bench.sh micro [criterion arguments]
#   scripts/bench.sh plugins [criterion arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/install.sh
case "${1:-}" in
  plugins)
    shift
    bash scripts/build-plugins.sh >/dev/null
    exec cargo bench -p sluice --bench plugin_boundary -- "$@"
    ;;
  micro)
    shift
    cargo bench -p sluice --bench decode -- "$@"
    exec cargo bench -p sluice --bench dts_avro -- "$@"
    ;;
esac
# The daemon binary the end-to-end scenarios run, beside the benchmark's own.
cargo build --quiet --release -p sluice --bin sluice
cargo run --quiet --release -p sluice-tests --bin sluice-bench -- "$@"
