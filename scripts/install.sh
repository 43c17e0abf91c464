#!/usr/bin/env bash
# Installs everything sluice's demo and tests need on a fresh Debian machine, and nothing twice.
#
#   - MariaDB server binaries (Debian's mariadb-server; the system service is never started)
#   - the wasm32-wasip2 Rust target, for building plugins
#   - tansu, a Kafka-protocol broker, built once from crates.io and cached outside the clone
#
# Idempotent: every step checks first. The cache lives in $SLUICE_CACHE (default ~/.cache/sluice) so a
# fresh clone on the same machine (CI) reuses the tansu binary and the cargo target directory.
set -euo pipefail

SLUICE_CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
TANSU_VERSION="${TANSU_VERSION:-}"
mkdir -p "$SLUICE_CACHE"

log() { printf '[install] %s\n' "$*" >&2; }

need_apt=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server mariadb-client)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
dpkg -s libsasl2-dev >/dev/null 2>&1 || need_apt+=(libsasl2-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
dpkg -s libzstd-dev >/dev/null 2>&1 || need_apt+=(libzstd-dev)

if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing Debian packages: ${need_apt[*]}"
    # Keep dpkg from starting a system-wide MariaDB: sluice starts private servers of its own.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        created_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    [ "$created_policy" = 1 ] && rm -f "$policy"
fi

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    log "adding the wasm32-wasip2 Rust target"
    rustup target add wasm32-wasip2
fi

tansu_bin="$SLUICE_CACHE/tansu/bin/tansu"
if [ ! -x "$tansu_bin" ]; then
    log "building the tansu broker from crates.io (once per machine; 8-13 minutes on 2 cores)"
    version_arg=()
    [ -n "$TANSU_VERSION" ] && version_arg=(--version "$TANSU_VERSION")
    CARGO_TARGET_DIR="$SLUICE_CACHE/tansu-build" \
        cargo install tansu --locked --features libsql,dynostore --root "$SLUICE_CACHE/tansu" "${version_arg[@]}"
    rm -rf "$SLUICE_CACHE/tansu-build"
fi
log "ready: mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd) tansu=$tansu_bin"
