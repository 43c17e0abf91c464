#!/usr/bin/env bash
# Installs everything sluice's demo and tests need on a fresh Debian machine, and nothing twice.
#
#   - MariaDB server binaries (Debian's mariadb-server; the system service is never started)
#   - the wasm32-wasip2 Rust target, for building plugins
#   - tansu, a Kafka-protocol broker, built once from crates.io and cached outside the clone
#   - componentize-py (PyPI) in a venv, and ComponentizeJS (npm), for the Python and JavaScript
#     example plugins, at the versions pinned in plugins/reference-python/requirements.txt and
#     plugins/reference-js/package-lock.json
#
# Idempotent: every step checks first. The cache lives in $SLUICE_CACHE (default ~/.cache/sluice) so a
# fresh clone on the same machine (CI) reuses the tansu binary and the cargo target directory.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$repo/scripts/env.sh"
TANSU_VERSION="${TANSU_VERSION:-}"
mkdir -p "$SLUICE_CACHE"

log() { printf '[install] %s\n' "$*" >&2; }

need_apt=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server mariadb-client)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
# The openssl command makes the test CA and certificates of tests/tests/security.rs.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
dpkg -s libsasl2-dev >/dev/null 2>&1 || need_apt+=(libsasl2-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
dpkg -s libzstd-dev >/dev/null 2>&1 || need_apt+=(libzstd-dev)
# The Python and JavaScript plugin toolchains: a Python with venv and pip, and Node.js 20+ with npm.
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)

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
# Each toolchain is (re)installed when the file pinning it changes: a stamp beside it holds the hash of
# the pinning file it was installed from.
install_stamp() { sha256sum "$1" | cut -d' ' -f1; }

python_requirements="$repo/plugins/reference-python/requirements.txt"
python_stamp="$SLUICE_PYTHON_VENV/.sluice-requirements"
if [ "$(cat "$python_stamp" 2>/dev/null)" != "$(install_stamp "$python_requirements")" ] \
    || [ ! -x "$SLUICE_PYTHON_VENV/bin/componentize-py" ]; then
    log "installing componentize-py into $SLUICE_PYTHON_VENV"
    rm -rf "$SLUICE_PYTHON_VENV"
    python3 -m venv "$SLUICE_PYTHON_VENV"
    "$SLUICE_PYTHON_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$python_requirements"
    install_stamp "$python_requirements" >"$python_stamp"
fi

# ComponentizeJS's file-system helper (@bytecodealliance/jco-node-fs) needs Node.js 20 or later.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    log "Node.js $(node --version) is too old for ComponentizeJS: install Node.js 20 or later"
    exit 1
fi
node_lock="$repo/plugins/reference-js/package-lock.json"
node_stamp="$SLUICE_NODE_DIR/.sluice-package-lock"
if [ "$(cat "$node_stamp" 2>/dev/null)" != "$(install_stamp "$node_lock")" ] \
    || [ ! -d "$SLUICE_NODE_DIR/node_modules/@bytecodealliance/componentize-js" ]; then
    log "installing ComponentizeJS into $SLUICE_NODE_DIR"
    rm -rf "$SLUICE_NODE_DIR"
    mkdir -p "$SLUICE_NODE_DIR"
    cp "$repo/plugins/reference-js/package.json" "$node_lock" "$SLUICE_NODE_DIR/"
    (cd "$SLUICE_NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    install_stamp "$node_lock" >"$node_stamp"
fi

log "ready: mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd) tansu=$tansu_bin"
log "ready: componentize-py=$SLUICE_PYTHON_VENV/bin/componentize-py componentize-js=$SLUICE_NODE_DIR/node_modules"
