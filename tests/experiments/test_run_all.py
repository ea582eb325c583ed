"""The main job's orchestration and report, on a shrunken configuration (the real runs are `make demo`/`study`)."""

import json
from dataclasses import replace

import pytest

from experiments import run_all
from experiments.classification import study

TINY = replace(
    study.DEMO, keel=(), sklearn=("iris",), settings=("paper", "converged"), alphas=(1.0,), mnist1d_seeds=(0, 1),
    mnist1d_steps=10, attack_archs=(), digits_folds=(0, 1), digits_epochs=1, autoattack=False, workers=1, name="tiny",
    regression_tables=("sklearn_diabetes", "islp_hitters"), regression_folds=(0,), regression_steps=20, notes=[],
)  # fmt: skip


@pytest.mark.slow  # the main job, quick
def test_main_job_writes_a_report_with_claims_tables_and_plots(tmp_path, monkeypatch):
    result = run_all.run(tmp_path, TINY, gan=False)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{run_all.README_START}\nOLD-RESULTS\n{run_all.README_END}\nrest\n")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    report = run_all.write_outputs(result, tmp_path, readme=True)
    text = report.read_text()
    assert "| claim | setting | measured (arm − ERM) | verdict |" in text
    assert "### Which method for which goal" in text and "| goal | use |" in text
    assert (
        "RegMixup (Pinto et al. 2022): higher accuracy, better calibration and OOD detection than ERM | digits" in text
    )
    assert "mixup can raise regression RMSE" in text and "## Regression" in text
    assert "#### Issue #25's methods" in text and "Mixup inference (MI-PL, λ = 0.5) under EOT-PGD" in text
    assert "Mixup inference (Pang et al. 2020): more robust under an adaptive (EOT-PGD) attack | digits" in text
    assert "1. lower test error than ERM on most tables, never worse | 1 tables, converged setting" in text
    assert "2. more robust to FGSM | digits (MLP)" in text
    for link in [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]:
        assert (tmp_path / link).exists(), link
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {row["verdict"] for row in summary["claims"]} <= {"agrees", "disagrees", "inconclusive"}
    data = json.loads((tmp_path / "classification" / "classification.json").read_text())
    folds = data["tabular"]["paper"][0]["folds"]
    methods = {"regmixup", "kernel_warping", "mixup_inference_training"}
    assert len(folds) == 10 and set(folds[0]["arms"]) == {"erm", "1", "selected", *methods}
    assert set(folds[0]["arms"]["erm"]) >= {"accuracy", "nll", "ece15", "ece100", "ts_ece15", "temperature", "aurc"}
    digits = data["digits"]["per_fold"][0]["arms"]
    assert set(digits) >= methods and {"auroc_mirrored_msp", "fpr95_noise_entropy"} <= set(digits["regmixup"])
    assert summary["regression"]["arms"][:2] == ["erm", "mixup"]
    mnist = data["mnist1d"]["archs"]["mnist1d_cnn"]["per_seed"]  # the methods' job merged into the mixup one
    assert [r["seed"] for r in mnist] == [0, 1] and set(mnist[0]["arms"]) == {"erm", "1", "selected", *methods}
    assert "auroc_reversed_entropy" in mnist[1]["arms"]["mixup_inference_training"]
    refreshed = readme.read_text()
    assert refreshed.startswith("intro\n") and refreshed.endswith("rest\n") and "OLD-RESULTS" not in refreshed
    assert "Claims per method" in refreshed and "| method | claims that agree | disagree | inconclusive |" in refreshed
