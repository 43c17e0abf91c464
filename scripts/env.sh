# Sourced by the other scripts: where the caches that outlive a clone live.
# A fresh clone on the same machine (CI) reuses them; a fresh machine builds them from nothing.
export SLUICE_CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$SLUICE_CACHE/target}"
export SLUICE_TANSU="${SLUICE_TANSU:-$SLUICE_CACHE/tansu/bin/tansu}"
# The toolchains of the Python and JavaScript example plugins (scripts/install.sh puts them there):
# a venv with componentize-py, and the pinned npm packages of plugins/reference-js.
export SLUICE_PYTHON_VENV="${SLUICE_PYTHON_VENV:-$SLUICE_CACHE/venv}"
export SLUICE_NODE_DIR="${SLUICE_NODE_DIR:-$SLUICE_CACHE/node}"
