import copy

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from experiments.classification.engine import (
    BatchedClassifiers,
    RunSpec,
    epoch_orders,
    evaluate_logits,
    fit_batched,
    mix_stack,
    mix_stack2,
)
from experiments.data.tabular import TabularFoldsDataModule
from lightning_mixup import MixupCallback, MixupMixin
from lightning_mixup.engine import batch_generator
from lightning_mixup.functional import apply_mix
from lightning_mixup.functional.mit import apply_mit, mit_loss, sample_mit
from lightning_mixup.functional.regmixup import apply_regmixup, sample_regmixup
from lightning_mixup.functional.warping import sample_kernel_warping
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
    engine = result.module(0).state_dict()
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
        for name, value in alone.module(0).state_dict().items():
            torch.testing.assert_close(together.module(i).state_dict()[name], value, rtol=1e-5, atol=1e-6)


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
            kept = torch.nn.functional.cross_entropy(result.module(i)(val[0]), val[1])
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


# --- issue #25's methods: RegMixup, kernel warping, MIT -------------------------------------------------------------

NEW_METHODS = [("regmixup", 20.0), ("kernel_warping", 1.0), ("mixup_inference_training", 1.0)]


def _reference_loop(net, method, alpha, data, epochs, batch_size, mix_seed, order_seed, lr=1e-3):
    """One run in plain torch: the loader's order, the callback's per-batch generator, the functional core's batch."""
    net = copy.deepcopy(net)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x_all, y_all = data
    n = 0
    for batches in epoch_orders(len(y_all), batch_size, epochs, order_seed):
        for idx in batches:
            x, y = x_all[idx], y_all[idx]
            g = batch_generator(mix_seed, 0, n)
            if method == "regmixup":
                x2, labels = apply_regmixup(x, y, sample_regmixup(len(y), alpha=alpha, generator=g))
                loss = F.cross_entropy(net(x2), labels)
            elif method == "kernel_warping":
                params = sample_kernel_warping(x, alpha=alpha, generator=g)
                mixed = apply_mix(x, params)
                loss = (params.lam * F.cross_entropy(net(mixed), y, reduction="none") + (1 - params.lam)
                        * F.cross_entropy(net(mixed), y[params.index], reduction="none")).mean()  # fmt: skip
            else:
                params = sample_mit(len(y), alpha=alpha, generator=g)
                loss = mit_loss(net(apply_mit(x, params)), y, params)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += 1
    return net


@pytest.mark.parametrize(("method", "alpha"), NEW_METHODS)
def test_engine_new_methods_train_the_weights_of_the_functional_core(method, alpha):
    torch.manual_seed(0)
    data = (torch.randn(48, 5), torch.randint(3, (48,)))
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    result = fit_batched([net], [RunSpec(0, alpha, 5, 9, method)], [data], epochs=3, batch_size=8, lr=1e-2)
    reference = _reference_loop(net, method, alpha, data, 3, 8, 5, 9, lr=1e-2)
    moved = 0.0
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(result.module(0).state_dict()[name], value, rtol=1e-4, atol=1e-5)
        moved = max(moved, float((value - net.state_dict()[name]).abs().max()))
    assert moved > 1e-2


def test_engine_stacks_every_method_together_as_alone():
    torch.manual_seed(2)
    data = [(torch.randn(40, 5), torch.randint(3, (40,))), (torch.randn(41, 5), torch.randint(3, (41,)))]
    runs = [RunSpec(0, 0.0, 1, 2), RunSpec(1, 20.0, 3, 5, "regmixup"), RunSpec(0, 1.0, 4, 2, "kernel_warping"),
            RunSpec(1, 1.0, 6, 5, "mixup_inference_training"), RunSpec(0, 0.4, 1, 2)]  # fmt: skip
    nets = [nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)) for _ in runs]
    together = fit_batched(nets, runs, data, epochs=2, batch_size=8)
    assert together.model is None and len(together.parts) == 2  # one-row and two-row stacks
    logits = evaluate_logits(together, [data[r.data][0] for r in runs])
    for i, run in enumerate(runs):
        alone = fit_batched([nets[i]], [RunSpec(0, run.alpha, run.mix_seed, run.order_seed, run.method)],
                            [data[run.data]], epochs=2, batch_size=8)  # fmt: skip
        for name, value in alone.module(0).state_dict().items():
            torch.testing.assert_close(together.module(i).state_dict()[name], value, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(logits[i], alone.module(0)(data[run.data][0]).detach(), rtol=1e-5, atol=1e-5)


def test_mix_stack2_builds_the_functional_batches():
    x, y = torch.rand(2, 6, 3), torch.randint(4, (2, 6))
    runs = [RunSpec(0, 20.0, 9, 0, "regmixup"), RunSpec(0, 1.0, 9, 0, "mixup_inference_training")]
    inputs, y_a, y_b, lam, (mit, lam1, lam2) = mix_stack2(x, y, runs, batch_number=4)
    reg = sample_regmixup(6, alpha=20.0, generator=batch_generator(9, 0, 4))
    x2, labels = apply_regmixup(x[0], y[0], reg)
    torch.testing.assert_close(inputs[0], x2)
    assert torch.equal(y_a[0], labels.y_a) and torch.equal(y_b[0], labels.y_b) and torch.equal(lam[0], labels.lam)
    p = sample_mit(6, alpha=1.0, generator=batch_generator(9, 0, 4))
    torch.testing.assert_close(inputs[1], apply_mit(x[1], p))
    assert torch.equal(y_a[1, :6], y[1]) and torch.equal(y_b[1, :6], y[1][p.index])
    assert mit.tolist() == [False, True] and (float(lam1[1]), float(lam2[1])) == (p.lam1, p.lam2)


def test_run_spec_errors():
    with pytest.raises(ValueError, match="Expected argument `method` to be one of"):
        RunSpec(0, 1.0, 0, 0, "cutout")
    with pytest.raises(ValueError, match="Expected argument `alpha` to be a positive float for method 'regmixup'"):
        RunSpec(0, 0.0, 0, 0, "regmixup")
    with pytest.raises(ValueError, match="one-row methods"):
        mix_stack(torch.rand(1, 4, 2), torch.zeros(1, 4, dtype=torch.long), [RunSpec(0, 1.0, 0, 0, "regmixup")], 0)
    with pytest.raises(ValueError, match="RegMixup or MIT runs"):
        mix_stack2(torch.rand(1, 4, 2), torch.zeros(1, 4, dtype=torch.long), [RunSpec(0, 1.0, 0, 0)], 0)


class _MitClassifier(MixupMixin, Classifier):
    """The mixin's route for MIT: the step calls ``self.mit_loss(x, y)`` (the API of issue #25)."""

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.mit_loss(x, y)


@pytest.mark.parametrize(("method", "alpha"), NEW_METHODS)
def test_engine_new_methods_train_the_weights_of_trainer(tmp_path, method, alpha):
    pl.seed_everything(3, verbose=False)
    dm = TabularFoldsDataModule("iris", fold=2, source="sklearn", batch_size=16, order_seed=7, drop_last=True)
    dm.setup("fit")
    cls = _MitClassifier if method == "mixup_inference_training" else Classifier
    model = cls("mlp", input_shape=[4], num_classes=3, lr=1e-3)
    init = copy.deepcopy(model.net)
    callback = MixupCallback(method=method, seed=11, log=False)  # alpha=None: the paper's α
    assert callback.policy.alpha == alpha
    trainer = pl.Trainer(
        max_epochs=3, callbacks=[callback], accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, datamodule=dm)
    assert dm.split is not None
    result = fit_batched([init], [RunSpec(0, alpha, 11, 7, method)], [dm.split.train], epochs=3, batch_size=16)
    for name, value in model.net.state_dict().items():
        torch.testing.assert_close(result.module(0).state_dict()[name], value, rtol=1e-5, atol=1e-6)
