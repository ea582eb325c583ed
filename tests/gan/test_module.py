import copy

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixupCallback
from lightning_mixup.gan import GANModule, noise_generator, ring_modes

TINY = {"g_hidden": 16, "d_hidden": 16, "g_depth": 1, "d_depth": 1, "d_steps": 2}


def _data() -> DataLoader:
    real = ring_modes()[torch.arange(512) % 8] + 0.01 * torch.randn(512, 2, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(real), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(1))


class _Spy:
    """Wraps the module's discriminator batch to record what the discriminator saw."""

    def __init__(self, model: GANModule) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        original = model.mix_discriminator

        def spy(real, fake):
            inputs, labels = original(real, fake)
            self.calls.append((real, inputs, labels))
            return inputs, labels

        model.mix_discriminator = spy  # type: ignore[method-assign]


def test_erm_run_trains_and_counts_optimizer_steps(make_trainer):
    pl.seed_everything(0)
    model = GANModule(**TINY)
    spy = _Spy(model)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = make_trainer(max_steps=9, max_epochs=-1)
    trainer.fit(model, _data())
    # global_step counts optimizer steps: 6 discriminator + 3 generator steps (d_steps=2)
    assert trainer.global_step == 9
    assert len(spy.calls) == 6
    for _, inputs, labels in spy.calls:
        assert inputs.shape == (32, 2)
        assert torch.equal(labels, torch.cat([torch.ones(16), torch.zeros(16)]))
    assert all(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))
    metrics = trainer.callback_metrics
    assert {"gan/d_loss", "gan/g_loss"} <= set(metrics)
    assert "mixup/mixed_share" not in metrics


@pytest.mark.parametrize(("mode", "rows", "soft_share"), [("paper", 16, 0.9), ("shuffle", 32, 0.2)])
def test_mixup_run_mixes_the_discriminator(make_trainer, mode, rows, soft_share):
    pl.seed_everything(0)
    model = GANModule(**TINY)
    spy = _Spy(model)
    trainer = make_trainer(max_steps=6, max_epochs=-1, callbacks=[MixupCallback(alpha=0.5, discriminator_mode=mode)])
    trainer.fit(model, _data())
    assert len(spy.calls) == 4  # the discriminator steps only: the generator step stays unmixed
    for real, inputs, labels in spy.calls:
        assert inputs.shape == (rows, 2)
        soft = (labels > 0) & (labels < 1)
        assert soft.float().mean() > soft_share  # shuffle: only real-fake pairs get soft labels
        assert not torch.equal(inputs[: len(real)], real)
    assert trainer.callback_metrics["mixup/mixed_share"] > 0.5


def test_seeded_runs_are_reproducible(make_trainer):
    weights = []
    for _ in range(2):
        pl.seed_everything(3)
        model = GANModule(**TINY)
        make_trainer(max_steps=6, max_epochs=-1, callbacks=[MixupCallback(alpha=0.2, seed=1)]).fit(model, _data())
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"d_steps": 0}, "`d_steps` to be an int >= 1"),
        ({"g_hidden": 0}, "`g_hidden` to be an int >= 1"),
        ({"d_depth": -1}, "`d_depth` to be an int >= 0"),
        ({"lr_d": -1.0}, "`lr_d` to be a finite float >= 1e-12"),
        ({"g_objective": "minimax"}, r"`g_objective` to be one of \('non_saturating', 'saturating'\)"),
        ({"noise_seed": -1}, "`noise_seed` to be an int >= 0 or None"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GANModule(**kwargs)


def test_resumed_run_equals_the_uninterrupted_run(make_trainer, tmp_path):
    """Latent codes and mixing draws continue where the checkpoint (at an epoch's end) stopped."""
    real = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))  # 4 batches: 6 optimizer steps an epoch

    def fit(epochs, ckpt_path=None):
        pl.seed_everything(5)
        model = GANModule(**TINY)
        trainer = make_trainer(max_epochs=epochs, callbacks=[MixupCallback(alpha=0.5, discriminator_mode="shuffle")])
        trainer.fit(model, DataLoader(TensorDataset(real), batch_size=16), ckpt_path=ckpt_path)
        return trainer, model

    _, uninterrupted = fit(2)
    first, _ = fit(1)
    first.save_checkpoint(tmp_path / "half.ckpt")
    _, resumed = fit(2, ckpt_path=tmp_path / "half.ckpt")
    assert first.global_step == 6 and resumed.trainer.global_step == 12
    for a, b in zip(uninterrupted.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_alternating_step_by_hand(make_trainer):
    """d_steps=1: a discriminator step on its own latent batch, then a generator step on a second one, against the
    stepped discriminator (Adam with lr and default betas)."""
    real = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = GANModule(**{**TINY, "d_steps": 1, "noise_seed": 4, "lr_d": 0.01, "lr_g": 0.02})
    by_hand = copy.deepcopy(model)
    make_trainer(max_steps=2, max_epochs=-1).fit(model, DataLoader(TensorDataset(real), batch_size=8))

    noise = noise_generator(4)
    opt_d = torch.optim.Adam(by_hand.discriminator.parameters(), lr=0.01)
    opt_g = torch.optim.Adam(by_hand.generator.parameters(), lr=0.02)
    fake = by_hand.generator(torch.randn(8, 2, generator=noise)).detach()
    logits = by_hand.discriminator(torch.cat([real, fake])).squeeze(-1)
    F.binary_cross_entropy_with_logits(logits, torch.cat([torch.ones(8), torch.zeros(8)])).backward()
    opt_d.step()
    by_hand.discriminator.zero_grad()
    logits = by_hand.discriminator(by_hand.generator(torch.randn(8, 2, generator=noise))).squeeze(-1)
    F.binary_cross_entropy_with_logits(logits, torch.ones(8)).backward()
    opt_g.step()
    for name, value in model.state_dict().items():
        assert torch.allclose(value, by_hand.state_dict()[name], atol=1e-7), name
