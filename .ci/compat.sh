#!/usr/bin/env bash
# The compatibility stage (issue #24): the plugin under real third-party LightningModules (torchgeo, pytorch-tabular,
# torch-uncertainty, lightning-uq-box, timm, transformers) and torchvision, in a venv of its own with torch 2.14.1 +
# torchvision 0.29.1. `make compat` sets the venv up (Makefile, "The compatibility stage"), runs tests/compat and
# rewrites docs/compat.md from the outcomes. Cost: docs/compat.md, "What the stage costs".
#
# Cache: the venv (6.6 GB, about 6 minutes to build) lives outside the clone, under
# ${LIGHTNING_MIXUP_CACHE:-~/.cache/lightning-mixup}/venv-compat-<key>, where <key> hashes what decides its contents
# (pyproject.toml, constraints-compat.txt and the Makefile's compat block). A later run with the same key reuses it:
# its editable install is pointed at this clone (`pip install --no-deps -e .`, seconds) and `make compat` runs the
# tests at once; a changed key builds a new venv from nothing and removes the old ones.
set -euo pipefail
cd "$(dirname "$0")/.."
key=$(cat pyproject.toml constraints-compat.txt <(sed -n '/^# The compatibility stage/,$p' Makefile) | sha256sum | cut -c1-16)
cache=${LIGHTNING_MIXUP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lightning-mixup}
venv=$cache/venv-compat-$key
mkdir -p "$cache"
find "$cache" -maxdepth 1 -name 'venv-compat-*' ! -name "venv-compat-$key" -exec rm -rf {} +
if [ -f "$venv/.installed-stamp" ]; then
    echo "compat: reusing $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -c constraints-compat.txt -e . \
        2>&1 | { grep -v "^WARNING: Location" || true; }
    touch "$venv/.installed-stamp"  # keyed by content, so still valid for this clone's files
fi
SECONDS=0
make compat COMPAT_VENV="$venv"
echo "compat: ${SECONDS}s"
