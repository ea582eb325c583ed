"""The benchmark scripts run (smoke, --quick) and write their figures; the figures themselves are not asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.slow  # each runs a benchmark script in a subprocess


@pytest.mark.parametrize(
    ("script", "stem"),
    [("bench_mixup", "mixup"), ("bench_attacks", "robustness"), ("bench_engine", "engine"), ("bench_step", "step")],
)
def test_benchmark_smoke(tmp_path, script, stem):
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / f"{stem}.json").read_text())
    assert (tmp_path / f"{stem}.md").read_text().startswith("# ")
