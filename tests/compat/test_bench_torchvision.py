"""benchmarks/bench_torchvision.py runs (--quick) and writes what its Markdown reads (needs torchvision and timm)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torchvision.transforms.v2")
pytest.importorskip("timm")

from benchmarks.bench_torchvision import main

VARIANTS = ["copy_ (reference)", "torchvision v2", "timm Mixup", "ours (functional)"]


def test_quick_run_writes_every_variant(tmp_path):
    result = main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "torchvision.json").read_text())
    assert saved == json.loads(json.dumps(result))
    for method in ("mixup", "cutmix"):
        medians = saved["op"][method]["median_ms"]
        assert list(medians) == VARIANTS
        assert all(ms > 0 for ms in medians.values())
        assert saved["op"][method]["ratio_to_timm"]["timm Mixup"] == 1.0
        assert saved["op"][method]["ratio_to_torchvision"]["torchvision v2"] == 1.0
    markdown = (tmp_path / "torchvision.md").read_text()
    assert markdown.count("| mixup |") == 4 and markdown.count("| cutmix |") == 4
