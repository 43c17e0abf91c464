#!/usr/bin/env bash
# The quickstart: installs what is missing, then starts a private MariaDB and broker, builds the example
# plugin, runs the daemon, writes sample rows and prints the DTS Avro records a consumer would read.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/install.sh
cargo run --quiet -p sluice-tests --bin sluice-demo
