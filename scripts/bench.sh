#!/usr/bin/env bash
# Benchmarks: builds in release mode, starts a private MariaDB and broker, and prints a results table.
#   scripts/bench.sh [rows]      (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/install.sh
cargo run --quiet --release -p sluice-tests --bin sluice-bench -- "$@"
