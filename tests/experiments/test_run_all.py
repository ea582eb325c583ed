"""The main job's orchestration and report, on a shrunken sweep (the full run is `make demo`)."""

import json

from experiments import run_all


def test_main_job_writes_a_report_with_claims_tables_and_plots(tmp_path, monkeypatch):
    tiny_gan = {
        "datasets": ["ring"],
        "iterations": 20,
        "eval_every": 10,
        "eval_samples": 128,
        "seeds": 2,
        "snapshot_steps": [10, 20],
    }
    result = run_all.run(tmp_path, quick=True, seeds=2, datasets=("iris",), gan_overrides=tiny_gan)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{run_all.README_START}\nold\n{run_all.README_END}\nrest\n")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    report = run_all.write_outputs(result, tmp_path, readme=True)
    text = report.read_text()
    assert "| claim | dataset | measured (mixup − ERM, 95 % CI) | verdict |" in text
    assert "1. lower test error than ERM | iris" in text and "5. discriminator mixup stabilises GANs | ring" in text
    for link in [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]:
        assert (tmp_path / link).exists(), link
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {row["verdict"] for row in summary["claims"]} <= {"agrees", "disagrees", "inconclusive"}
    refreshed = readme.read_text()
    assert refreshed.startswith("intro\n") and refreshed.endswith("rest\n") and "old" not in refreshed
    assert "### Claims against measurements" in refreshed
