import math

import numpy as np
import pytest

from experiments.regression import study
from experiments.regression.study import StudyConfig, cmixup_bandwidth, run_fold, silverman_bandwidth
from lightning_mixup import MixupCallback
from lightning_mixup.functional.cmixup import CMIXUP_ALPHA


def test_silverman_bandwidth():
    assert silverman_bandwidth(64) == pytest.approx(1.06 * 64**-0.2)
    assert cmixup_bandwidth(StudyConfig()) == pytest.approx(0.4614, abs=1e-4)
    assert cmixup_bandwidth(StudyConfig(), n_train=32) == pytest.approx(1.06 * 32**-0.2)
    assert cmixup_bandwidth(StudyConfig(cmixup_bandwidth=0.3)) == 0.3
    with pytest.raises(ValueError, match="Expected argument `batch_size` to be a positive integer"):
        silverman_bandwidth(0)


def test_cmixup_arm_trains_through_the_callback():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=120)).astype(np.float64)
    config = StudyConfig(max_steps=60, num_folds=5, batch_size=32)
    out = {arm: run_fold(x, y, 0, arm, config) for arm in ("erm", "mixup", "cmixup")}
    assert all(math.isfinite(r["rmse"]) and r["steps"] == 60 for r in out.values())
    assert out["cmixup"]["rmse"] != out["erm"]["rmse"] and out["cmixup"]["rmse"] != out["mixup"]["rmse"]


def test_cmixup_arm_is_the_plugin_callback():
    (callback,) = study._callbacks("cmixup", StudyConfig(), fold=3, n_train=500)
    assert isinstance(callback, MixupCallback)
    assert callback.policy.method == "cmixup" and callback.policy.alpha == CMIXUP_ALPHA
    assert callback.policy.cmixup_bandwidth == pytest.approx(silverman_bandwidth(64))


def test_arms_flag_takes_commas(monkeypatch, tmp_path):
    seen = {}

    def fake_run_study(tables, config, folds, arms, out, jobs):
        seen.update(arms=arms, bandwidth=config.cmixup_bandwidth)
        return {"arms": list(arms), "tables": [], "wilcoxon": {}, "seconds": 0.0}

    monkeypatch.setattr(study, "run_study", fake_run_study)
    monkeypatch.setattr(study, "markdown_table", lambda s: "")
    study.main(["--quick", "--arms", "erm,mixup,cmixup", "--bandwidth", "0.7", "--out", str(tmp_path)])
    assert seen == {"arms": ["erm", "mixup", "cmixup"], "bandwidth": 0.7}
    with pytest.raises(SystemExit):
        study.main(["--arms", "erm,cutmix", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):  # every arm is compared with ERM: refused before any training
        study.main(["--arms", "cmixup", "--out", str(tmp_path)])


def test_markdown_puts_the_papers_airfoil_numbers_beside_ours():
    s = {"arms": ["erm", "mixup", "cmixup"], "cmixup_bandwidth": 0.46,
         "tables": [{"name": "t", "n": 10, "d": 2, "mean_rmse": {"erm": 2.0, "mixup": 1.5, "cmixup": 1.0}}],
         "wilcoxon": {a: {"n_tables": 1, "wins": 1, "losses": 0, "ties": 0, "median_relative_difference": -0.25,
                          "pvalue": 1.0} for a in ("mixup", "cmixup")}}  # fmt: skip
    text = study.markdown_table(s)
    assert "| t | 10 | 2 | 2.000 | 1.500 (-25.0 %) | 1.000 (-50.0 %) |" in text
    assert "Airfoil (Table 2, RMSE): erm 2.901, mixup 3.730, cmixup 2.717" in text


def _w(wins, losses, p):
    return {"n_tables": wins + losses, "wins": wins, "losses": losses, "ties": 0, "median_relative_difference": -0.01,
            "pvalue": p}  # fmt: skip


def test_regression_claims_verdicts():
    def verdicts(vs_erm, vs_mixup, mixup):
        s = {
            "tables": [{}] * 13,
            "wilcoxon": {"mixup": mixup, "cmixup": vs_erm},
            "wilcoxon_vs_mixup": {"cmixup": vs_mixup},
        }
        return [c["verdict"] for c in study.regression_claims(s)]

    assert verdicts(_w(12, 1, 0.001), _w(11, 2, 0.01), _w(2, 11, 0.01)) == ["agrees", "agrees"]
    assert verdicts(_w(12, 1, 0.001), _w(7, 6, 0.6), _w(6, 7, 0.6)) == ["inconclusive", "inconclusive"]
    assert verdicts(_w(12, 1, 0.001), _w(1, 12, 0.001), _w(12, 1, 0.001)) == ["disagrees", "disagrees"]
    no_cmixup = {"tables": [{}] * 13, "wilcoxon": {"mixup": _w(2, 11, 0.01)}}
    assert [c["method"] for c in study.regression_claims(no_cmixup)] == ["mixup_regression"]


def test_wilcoxon_against_another_baseline():
    tables = [{"mean_rmse": {"erm": 1.0, "mixup": m, "cmixup": 0.5 * m}} for m in (0.9, 1.2, 1.1, 0.8, 1.0)]
    w = study.wilcoxon_vs_erm(tables, "cmixup", "mixup")
    assert w["baseline"] == "mixup" and w["wins"] == 5 and w["median_relative_difference"] == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="finite RMSEs for `cmixup` and `mixup`"):
        study.wilcoxon_vs_erm([{"mean_rmse": {"mixup": 1.0, "cmixup": float("nan")}}], "cmixup", "mixup")
