import copy

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixupCallback
from lightning_mixup.gan import GANModule, RingDataModule, generator_loss, noise_generator, soft_label_loss

TINY = {"g_hidden": 16, "d_hidden": 16, "g_depth": 1, "d_depth": 1, "d_steps": 2, "eval_every": 1, "eval_samples": 64}


def _data() -> RingDataModule:
    return RingDataModule(num_samples=512, batch_size=16)


class _Spy:
    """Wraps the module's discriminator batch to record what the discriminator saw."""

    def __init__(self, model: GANModule) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        original = model.discriminator_batch

        def spy(real, fake):
            inputs, labels = original(real, fake)
            self.calls.append((real, inputs, labels))
            return inputs, labels

        model.discriminator_batch = spy  # type: ignore[method-assign]


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
    assert {"gan/d_loss", "gan/g_loss", "gan/d_grad_norm", "gan/g_grad_norm", "gan/modes_captured"} <= set(metrics)
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


@pytest.mark.parametrize("loss", ["hinge", "wasserstein"])
def test_loss_without_soft_labels_refuses_mixup(make_trainer, loss):
    trainer = make_trainer(max_steps=3, max_epochs=-1, callbacks=[MixupCallback(alpha=0.2)])
    with pytest.raises(
        ValueError, match=rf"but got loss='{loss}', which cannot take mixup's soft labels\. Use loss='bce'"
    ):
        trainer.fit(GANModule(**{**TINY, "loss": loss}), _data())


@pytest.mark.parametrize("callbacks", [[], [MixupCallback(alpha=0.0)]])
def test_hinge_and_wasserstein_train_without_mixing(make_trainer, callbacks):
    for loss in ("hinge", "wasserstein"):
        model = GANModule(**{**TINY, "loss": loss, "wgan_clip": 0.05})
        trainer = make_trainer(max_steps=6, max_epochs=-1, callbacks=[type(cb)(alpha=0.0) for cb in callbacks])
        trainer.fit(model, _data())
        assert trainer.global_step == 6
        if loss == "wasserstein":
            assert max(p.abs().max().item() for p in model.discriminator.parameters()) <= torch.tensor(0.05).item()


def test_seeded_runs_are_reproducible(make_trainer):
    weights = []
    for _ in range(2):
        pl.seed_everything(3)
        model = GANModule(**TINY)
        make_trainer(max_steps=6, max_epochs=-1, callbacks=[MixupCallback(alpha=0.2, seed=1)]).fit(model, _data())
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_evaluate_needs_the_modes():
    with pytest.raises(RuntimeError, match="needs the mixture's modes"):
        GANModule(**TINY).evaluate()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss": "lsgan"}, r"`loss` to be one of \('bce', 'hinge', 'wasserstein'\)"),
        ({"d_steps": 0}, "`d_steps` to be an int >= 1"),
        ({"g_hidden": 0}, "`g_hidden` to be an int >= 1"),
        ({"lr_d": -1.0}, "`lr_d` to be a finite float >= 1e-12"),
        ({"g_objective": "minimax"}, r"`g_objective` to be one of \('non_saturating', 'saturating'\)"),
        ({"loss": "hinge", "g_objective": "saturating"}, "`g_objective='non_saturating'` for loss='hinge'"),
        ({"g_output": "relu"}, r"`g_output` to be one of \('linear', 'sigmoid', 'tanh'\)"),
        ({"d_maxout": 0}, "`d_maxout` to be an int >= 1"),
        ({"noise_seed": -1}, "`noise_seed` to be an int >= 0 or None"),
        ({"betas": (0.9, 1.0)}, r"`betas` to be two floats in \[0, 1\)"),
        ({"updates": "both"}, r"`updates` to be one of \('alternating', 'simultaneous'\)"),
        ({"updates": "simultaneous", "d_steps": 5}, r"`d_steps=1` with updates='simultaneous'.*but got d_steps=5"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GANModule(**kwargs)


def test_resumed_run_equals_the_uninterrupted_run(make_trainer, tmp_path):
    """Latent codes, fresh data stream and mixing draws all continue where the checkpoint stopped."""

    def fit(max_steps, ckpt_path=None):
        pl.seed_everything(5)
        model = GANModule(**{**TINY, "eval_every": 0})
        trainer = make_trainer(
            max_steps=max_steps, max_epochs=-1, callbacks=[MixupCallback(alpha=0.5, discriminator_mode="shuffle")]
        )
        trainer.fit(model, RingDataModule(batch_size=16, seed=1), ckpt_path=ckpt_path)
        return trainer, model

    _, uninterrupted = fit(12)
    first, _ = fit(6)
    first.save_checkpoint(tmp_path / "half.ckpt")
    _, resumed = fit(12, ckpt_path=tmp_path / "half.ckpt")
    for a, b in zip(uninterrupted.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_maxout_takes_the_max_of_each_units_pieces_and_routes_its_gradient_to_that_piece():
    from lightning_mixup.gan.module import Maxout

    layer = Maxout(3, 2, pieces=4)
    x = torch.randn(5, 3, requires_grad=True)
    pre = layer.linear(x).view(5, 2, 4)  # unit u's pieces are outputs 4u … 4u + 3
    out = layer(x)
    assert torch.equal(out, pre.max(-1).values)
    out.sum().backward()
    # d out / d bias: one for the winning piece of each unit, zero for the others
    winners = torch.nn.functional.one_hot(pre.argmax(-1), 4).sum(0).flatten().float()
    assert torch.equal(layer.linear.bias.grad, winners)


def test_simultaneous_updates_take_both_gradients_before_either_step(make_trainer):
    """updates='simultaneous' (PacGAN's code): one latent batch per real batch, both gradients at the old weights."""
    options = {**TINY, "d_steps": 1, "updates": "simultaneous", "g_batchnorm": True, "noise_seed": 4, "eval_every": 0}
    real = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = GANModule(**options)
    by_hand, alternating = copy.deepcopy(model), copy.deepcopy(model)
    trainer = make_trainer(max_steps=2, max_epochs=-1)
    trainer.fit(model, DataLoader(TensorDataset(real), batch_size=16))
    assert trainer.global_step == 2  # one discriminator and one generator step

    opt_d = torch.optim.Adam(by_hand.discriminator.parameters(), lr=by_hand.lr_d, betas=by_hand.betas)
    opt_g = torch.optim.Adam(by_hand.generator.parameters(), lr=by_hand.lr_g, betas=by_hand.betas)
    fake = by_hand.generate(torch.randn(16, 2, generator=noise_generator(4)))  # BatchNorm statistics: updated once
    d_loss = soft_label_loss(
        by_hand.discriminate(torch.cat([real, fake.detach()])), torch.cat([torch.ones(16), torch.zeros(16)])
    )
    g_loss = generator_loss(by_hand.discriminate(fake), "bce")
    d_params, g_params = list(by_hand.discriminator.parameters()), list(by_hand.generator.parameters())
    for p, grad in zip(
        d_params + g_params,
        [*torch.autograd.grad(d_loss, d_params), *torch.autograd.grad(g_loss, g_params)],
        strict=True,
    ):
        p.grad = grad
    opt_d.step()
    opt_g.step()
    expected = by_hand.state_dict()
    for name, value in model.state_dict().items():
        assert torch.allclose(value.float(), expected[name].float(), atol=1e-7), name

    # the alternating schedule from the same start differs (a second latent batch, the stepped discriminator)
    alternating.updates = "alternating"
    make_trainer(max_steps=2, max_epochs=-1).fit(alternating, DataLoader(TensorDataset(real), batch_size=16))
    assert not torch.allclose(alternating.generator[0].weight, model.generator[0].weight)
