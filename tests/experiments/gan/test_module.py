import copy

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from experiments.gan.data import RingDataModule
from experiments.gan.module import Maxout, StudyGAN
from lightning_mixup import MixupCallback
from lightning_mixup.gan import GANModule, generator_loss, noise_generator, soft_label_loss

TINY = {"g_hidden": 16, "d_hidden": 16, "g_depth": 1, "d_depth": 1, "d_steps": 2}


def test_defaults_build_and_train_the_package_gan(make_trainer):
    """With its defaults StudyGAN is GANModule draw for draw: same initial weights, same trained weights."""
    trained = []
    for cls in (GANModule, StudyGAN):
        pl.seed_everything(2)
        model = cls(**TINY)
        if not trained:
            initial = copy.deepcopy(model.state_dict())
        else:
            assert all(torch.equal(v, initial[k]) for k, v in model.state_dict().items())
        data = RingDataModule(batch_size=16, seed=1)
        make_trainer(max_steps=6, max_epochs=-1, callbacks=[MixupCallback(alpha=0.5)]).fit(model, data)
        trained.append(model.state_dict())
    assert all(torch.equal(v, trained[1][k]) for k, v in trained[0].items())
    assert not all(torch.equal(v, initial[k]) for k, v in trained[0].items())


def test_pacgan_options_build_its_networks():
    torch.manual_seed(0)
    model = StudyGAN(**TINY, g_batchnorm=True, d_maxout=5, init_std=0.02, g_output="sigmoid", betas=(0.8, 0.999))
    assert [type(m).__name__ for m in model.generator] == ["Linear", "BatchNorm1d", "ReLU", "Linear", "Sigmoid"]
    assert isinstance(model.discriminator[0], Maxout)
    assert model.discriminator[0].linear.weight.std().item() == pytest.approx(0.02, rel=0.3)
    biases = [m.bias for m in model.modules() if isinstance(m, torch.nn.Linear) and m.bias is not None]
    assert len(biases) == 3 and all(not b.any() for b in biases)
    assert [opt.defaults["betas"] for opt in model.configure_optimizers()] == [(0.8, 0.999)] * 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"g_output": "relu"}, r"`g_output` to be one of \('linear', 'sigmoid', 'tanh'\)"),
        ({"d_maxout": 0}, "`d_maxout` to be an int >= 1"),
        ({"init_std": 0.0}, "`init_std` to be a finite float >= 1e-12"),
        ({"betas": (0.9, 1.0)}, r"`betas` to be two floats in \[0, 1\)"),
        ({"updates": "both"}, r"`updates` to be one of \('alternating', 'simultaneous'\)"),
        ({"updates": "simultaneous", "d_steps": 5}, r"`d_steps=1` with updates='simultaneous'.*but got d_steps=5"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StudyGAN(**kwargs)


def test_resumed_run_on_a_fresh_stream_equals_the_uninterrupted_run(make_trainer, tmp_path):
    """Latent codes, the fresh data stream and mixing draws all continue where the checkpoint stopped."""

    def fit(max_steps, ckpt_path=None):
        pl.seed_everything(5)
        model = StudyGAN(**TINY)
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
    options = {**TINY, "d_steps": 1, "updates": "simultaneous", "g_batchnorm": True, "noise_seed": 4}
    real = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = StudyGAN(**options)
    by_hand, alternating = copy.deepcopy(model), copy.deepcopy(model)
    trainer = make_trainer(max_steps=2, max_epochs=-1)
    trainer.fit(model, DataLoader(TensorDataset(real), batch_size=16))
    assert trainer.global_step == 2  # one discriminator and one generator step

    opt_d = torch.optim.Adam(by_hand.discriminator.parameters(), lr=by_hand.lr_d, betas=by_hand.betas)
    opt_g = torch.optim.Adam(by_hand.generator.parameters(), lr=by_hand.lr_g, betas=by_hand.betas)
    fake = by_hand(torch.randn(16, 2, generator=noise_generator(4)))  # BatchNorm statistics: updated once
    d_loss = soft_label_loss(
        by_hand.discriminate(torch.cat([real, fake.detach()])), torch.cat([torch.ones(16), torch.zeros(16)])
    )
    g_loss = generator_loss(by_hand.discriminate(fake))
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
