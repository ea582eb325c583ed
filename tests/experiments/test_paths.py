"""Result files store paths relative to the repository, never this machine's absolute paths."""

import json
from pathlib import Path

import pytest

from experiments import paths
from experiments.gan.study import run_setting

RESULTS = [paths.ROOT / "experiments" / "results", paths.ROOT / "benchmarks" / "results"]


def test_repo_relative_inside_and_outside(tmp_path):
    assert paths.repo_relative(paths.ROOT / "experiments" / "paths.py") == "experiments/paths.py"
    assert paths.repo_relative(tmp_path / "x.json") == str((tmp_path / "x.json").resolve())
    assert paths.repo_relative_files({"a": paths.ROOT / "README.md"}) == {"a": "README.md"}
    assert paths.repo_relative_files([paths.ROOT / "README.md"]) == ["README.md"]


def test_a_gan_setting_stores_its_files_relative_to_the_repository(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path.resolve())
    model = {"g_hidden": 8, "d_hidden": 8, "g_depth": 1, "d_depth": 1}
    config = {"name": "tiny", "datasets": ["ring"], "iterations": 2, "seeds": 1, "eval_every": 1,
              "eval_samples": 64, "batch_size": 8, "model": model}  # fmt: skip
    result = run_setting(config, tmp_path / "out", plots=False)
    stored = json.loads((tmp_path / "out" / "tiny.json").read_text())["files"]
    assert stored == {"markdown_tiny": "out/tiny.md", "json_tiny": "out/tiny.json"}
    assert Path(result["files"]["json_tiny"]).is_absolute()  # the in-memory result keeps usable paths


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


@pytest.mark.skipif(not RESULTS[0].is_dir(), reason="the committed results are not in this copy (an sdist)")
def test_committed_results_hold_no_absolute_paths():
    offenders = []
    for folder in RESULTS:
        for path in sorted(folder.rglob("*.json")):
            for text in _strings(json.loads(path.read_text())):
                if text.startswith(("/", str(Path.home()))) and "/" in text[1:]:
                    offenders.append(f"{path.relative_to(paths.ROOT)}: {text}")
    assert not offenders, "\n".join(offenders[:10])
