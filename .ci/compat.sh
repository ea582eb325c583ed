#!/usr/bin/env bash
# The compatibility stage (issue #24): the plugin under real third-party LightningModules (torchgeo, pytorch-tabular,
# torch-uncertainty, lightning-uq-box, timm, transformers) and torchvision, in .venv-compat (torch 2.14.1 +
# torchvision 0.29.1). `make compat` sets the venv up once (a stamp makes a second run instant), runs tests/compat
# and rewrites docs/compat.md from the outcomes. Cost: docs/compat.md, "What the stage costs".
set -euo pipefail
cd "$(dirname "$0")/.."
make compat
