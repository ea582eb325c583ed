import copy

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from experiments.classification.engine import (
    BatchedClassifiers,
    RunSpec,
    epoch_orders,
    fit_batched,
    mix_stack,
)
from experiments.data.tabular import TabularFoldsDataModule
from lightning_mixup import MixupCallback
from lightning_mixup.engine import batch_generator
from lightning_mixup.functional import apply_mix
from lightning_mixup.models import Classifier
from lightning_mixup.policy import MixupPolicy


def _trainer_run(tmp_path, alpha, epochs):
    pl.seed_everything(3, verbose=False)
    dm = TabularFoldsDataModule("iris", fold=2, source="sklearn", batch_size=16, order_seed=7, drop_last=True)
    dm.setup("fit")
    model = Classifier("mlp", input_shape=[4], num_classes=3, lr=1e-3)
    init = copy.deepcopy(model.net)
    callbacks = [MixupCallback(alpha=alpha, seed=11, log=False)] if alpha else []
    trainer = pl.Trainer(
        max_epochs=epochs, callbacks=callbacks, accelerator="cpu", devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        num_sanity_val_steps=0, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, datamodule=dm)
    return dm, init, model.net


@pytest.mark.parametrize("alpha", [0.0, 0.4])
@pytest.mark.slow  # study engine against Trainer runs
def test_engine_trains_the_same_weights_as_trainer_and_callback(tmp_path, alpha):
    dm, init, trained = _trainer_run(tmp_path, alpha, epochs=3)
    assert dm.split is not None
    result = fit_batched([init], [RunSpec(0, alpha, 11, 7)], [dm.split.train], epochs=3, batch_size=16)
    engine = result.model.module(0).state_dict()
    moved = 0.0
    for name, value in trained.state_dict().items():
        torch.testing.assert_close(engine[name], value, rtol=1e-5, atol=1e-6)
        moved = max(moved, float((value - init.state_dict()[name]).abs().max()))
    assert moved > 1e-3  # the weights did train: agreement is not just "nothing moved"


@pytest.mark.slow  # study engine
def test_engine_stack_matches_single_runs():
    torch.manual_seed(0)
    data = [(torch.randn(40, 5), torch.randint(3, (40,))), (torch.randn(41, 5), torch.randint(3, (41,)))]
    nets = [nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)) for _ in range(3)]
    runs = [RunSpec(0, 0.0, 1, 2), RunSpec(1, 0.3, 1, 5), RunSpec(0, 1.0, 4, 2)]
    together = fit_batched(nets, runs, data, epochs=2, batch_size=8)
    for i, run in enumerate(runs):
        alone = fit_batched(
            [nets[i]], [RunSpec(0, run.alpha, run.mix_seed, run.order_seed)], [data[run.data]], epochs=2, batch_size=8
        )
        for name, value in alone.model.module(0).state_dict().items():
            torch.testing.assert_close(together.model.module(i).state_dict()[name], value, rtol=1e-5, atol=1e-6)


def test_mix_stack_uses_the_callbacks_draws():
    x, y = torch.rand(2, 6, 3), torch.randint(4, (2, 6))
    runs = [RunSpec(0, 0.4, 9, 0), RunSpec(0, 0.0, 9, 0)]
    mixed, y_b, lam = mix_stack(x, y, runs, batch_number=5)
    params = MixupPolicy(alpha=0.4).sample(x[0], batch_generator(9, 0, 5))
    torch.testing.assert_close(mixed[0], apply_mix(x[0], params))
    assert torch.equal(y_b[0], y[0][params.index]) and torch.equal(lam[0], params.lam)
    assert torch.equal(mixed[1], x[1]) and torch.equal(y_b[1], y[1])


def test_epoch_orders_follow_the_loader():
    first, again = epoch_orders(20, 6, 3, order_seed=1), epoch_orders(20, 6, 3, order_seed=1)
    assert all(torch.equal(a, b) for e1, e2 in zip(first, again, strict=True) for a, b in zip(e1, e2, strict=True))
    assert len(first[0]) == 3 and not torch.equal(first[0][0], first[1][0])


def test_early_stopping_keeps_the_best_check():
    torch.manual_seed(1)
    x, y = torch.randn(64, 4), torch.randint(2, (64,))
    val = (torch.randn(16, 4), torch.randint(2, (16,)))
    nets = [nn.Linear(4, 2), nn.Linear(4, 2)]
    result = fit_batched(
        nets,
        [RunSpec(0, 0.0, 0, 0), RunSpec(0, 1.0, 0, 0)],
        [(x, y)],
        epochs=30,
        batch_size=8,
        lr=0.05,
        val_sets=[val],
        patience=3,
        val_every=4,
    )
    assert result.steps_run < 30 * 8  # stopped early
    for i, step in enumerate(result.best_step):
        losses = [row[i] for row in result.val_loss]  # one check every 4 steps (val_every) and at epoch ends
        check = step // 4 - 1
        assert losses[check] == pytest.approx(min(losses[: check + 4]))
        with torch.no_grad():
            kept = torch.nn.functional.cross_entropy(result.model.module(i)(val[0]), val[1])
        assert float(kept) == pytest.approx(losses[check], rel=1e-5)


def test_engine_errors():
    net = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="one module per run"):
        fit_batched([net], [], [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))], epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="`val_sets` with early stopping"):
        fit_batched(
            [net],
            [RunSpec(0, 0.0, 0, 0)],
            [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))],
            epochs=1,
            batch_size=2,
            patience=2,
        )
    with pytest.raises(ValueError, match="one architecture"):
        BatchedClassifiers([nn.Linear(2, 2), nn.Linear(3, 2)])
    with pytest.raises(ValueError, match="at least `batch_size`"):
        fit_batched(
            [net],
            [RunSpec(0, 0.0, 0, 0)],
            [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))],
            epochs=1,
            batch_size=8,
        )
