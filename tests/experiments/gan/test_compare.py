import math

import pytest
import torch

from experiments.gan.compare import compare_stability, paired_interval, summarise_pairs, verdict_shares
from experiments.gan.data import RingDataModule
from lightning_mixup.gan import GANModule
from tests.gan.test_stability import TutorialGAN


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_compare_stability_pairs_erm_and_mixup_runs_by_seed():
    def make_model():
        return GANModule(g_hidden=8, d_hidden=8, g_depth=1, d_depth=1, d_steps=2)

    result = compare_stability(
        make_model,
        lambda seed: RingDataModule(batch_size=16, seed=seed),
        seeds=[0, 1],
        mixup={"alpha": 0.5, "discriminator_mode": "shuffle"},
        callback={"every_n_steps": 3, "num_samples": 100},
        trainer={"max_steps": 6, "max_epochs": -1, "accelerator": "cpu"},
    )
    assert len(result.erm) == len(result.mixup) == 2 and result.seeds == [0, 1]
    assert all(r.steps == [3, 6] for r in result.erm + result.mixup)
    for arm in ("erm", "mixup"):
        assert sum(result.verdicts[arm].values()) == pytest.approx(1.0)
    p = result.paired["modes_captured"]
    assert p["higher"] + p["equal"] + p["lower"] == 2
    assert p["mean"] == pytest.approx(p["mixup_mean"] - p["erm_mean"])
    assert "| modes_captured |" in result.markdown()
    # the ERM arm really is unmixed and the mixup arm mixed: the runs differ, from the same start
    assert result.erm[0].d_loss_var != result.mixup[0].d_loss_var


def test_compare_stability_refuses_modules_that_cannot_mix():
    with pytest.raises(TypeError, match="MixupMixin LightningModule"):
        compare_stability(TutorialGAN, lambda seed: None, seeds=[0], mixup={"alpha": 0.2})
    with pytest.raises(ValueError, match="at least one seed"):
        compare_stability(TutorialGAN, lambda seed: None, seeds=[], mixup={"alpha": 0.2})


def test_paired_interval():
    assert paired_interval([2.0, 2.0]) == (2.0, 2.0, 2.0)
    mean, low, high = paired_interval([1.0])
    assert mean == 1.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in paired_interval([]))
    mean, low, high = paired_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.3027 times the standard error 1/sqrt(3)
    assert mean == 2.0 and high - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert low == pytest.approx(4 - high)


def test_summarise_pairs_and_verdict_shares():
    erm = [{"m": 1.0}, {"m": 2.0}, {"m": 3.0}]
    mixup = [{"m": 2.0}, {"m": 2.0}, {"m": 1.0}]
    out = summarise_pairs(erm, mixup, "m")
    assert (out["erm_mean"], out["mixup_mean"], out["mean"]) == (2.0, pytest.approx(5 / 3), pytest.approx(-1 / 3))
    assert (out["higher"], out["equal"], out["lower"]) == (1.0, 1.0, 1.0)
    shares = verdict_shares(["converged", "diverged", "converged", "mode-collapsed"])
    assert shares == {"converged": 0.5, "mode-collapsed": 0.25, "unconverged": 0.0, "diverged": 0.25}
