import math

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup.gan import (
    VERDICTS,
    GANModule,
    GANStabilityCallback,
    default_sample_fn,
    ring_modes,
)

# ------------------------------------------------------------------ a GAN written as in Lightning's GAN tutorial


class Generator(nn.Module):
    def __init__(self, latent_dim, img_shape):
        super().__init__()
        self.img_shape = img_shape

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 32, normalize=False),
            *block(32, 32),
            nn.Linear(32, int(torch.tensor(img_shape).prod())),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, img_shape):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(torch.tensor(img_shape).prod()), 32),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(32, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


class TutorialGAN(pl.LightningModule):
    def __init__(self, img_shape=(2,), latent_dim=4, lr=2e-3, b1=0.5, b2=0.999):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = Generator(latent_dim=self.hparams.latent_dim, img_shape=img_shape)
        self.discriminator = Discriminator(img_shape=img_shape)

    def forward(self, z):
        return self.generator(z)

    def adversarial_loss(self, y_hat, y):
        return F.binary_cross_entropy(y_hat, y)

    def training_step(self, batch):
        imgs, _ = batch
        optimizer_g, optimizer_d = self.optimizers()
        z = torch.randn(imgs.shape[0], self.hparams.latent_dim).type_as(imgs)
        self.toggle_optimizer(optimizer_g)
        valid = torch.ones(imgs.size(0), 1).type_as(imgs)
        g_loss = self.adversarial_loss(self.discriminator(self(z)), valid)
        self.log("g_loss", g_loss, prog_bar=True)
        self.manual_backward(g_loss)
        optimizer_g.step()
        optimizer_g.zero_grad()
        self.untoggle_optimizer(optimizer_g)
        self.toggle_optimizer(optimizer_d)
        real_loss = self.adversarial_loss(self.discriminator(imgs), valid)
        fake = torch.zeros(imgs.size(0), 1).type_as(imgs)
        fake_loss = self.adversarial_loss(self.discriminator(self(z).detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        self.log("d_loss", d_loss, prog_bar=True)
        self.manual_backward(d_loss)
        optimizer_d.step()
        optimizer_d.zero_grad()
        self.untoggle_optimizer(optimizer_d)

    def configure_optimizers(self):
        lr, b1, b2 = self.hparams.lr, self.hparams.b1, self.hparams.b2
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(b1, b2))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(b1, b2))
        return [opt_g, opt_d], []


MODES = ring_modes(8, radius=0.8)


def _ring_loader(n=640, batch_size=32):
    x = MODES[torch.randint(8, (n,), generator=torch.Generator().manual_seed(0))] + 0.02 * torch.randn(n, 2)
    return DataLoader(TensorDataset(x, torch.zeros(n)), batch_size=batch_size, shuffle=True)


def test_callback_scores_a_tutorial_style_gan(make_trainer):
    pl.seed_everything(0)
    model = TutorialGAN()
    callback = GANStabilityCallback(every_n_steps=10, num_samples=500, modes=MODES, std=0.02, loss_window=8)
    trainer = make_trainer(max_steps=40, max_epochs=-1, callbacks=[callback])
    trainer.fit(model, _ring_loader())
    report = callback.report()
    assert report.steps == [10, 20, 30, 40]  # global_step counts both optimizers' steps: 2 per batch
    assert report.num_modes == 8 and len(report.modes_captured) == len(report.reverse_kl) == 4
    assert all(0 <= m <= 8 for m in report.modes_captured) and all(0 <= h <= 1 for h in report.high_quality_share)
    assert all(math.isfinite(v) and v >= 0 for v in report.d_loss_var + report.g_loss_var)
    assert all(v > 0 for v in report.d_grad_norm + report.g_grad_norm)
    assert report.verdict in VERDICTS and report.finite
    metrics = trainer.callback_metrics
    assert {"stability/modes_captured", "stability/reverse_kl", "stability/d_grad_norm", "stability/verdict"} <= set(
        metrics
    )
    assert metrics["stability/verdict"] == VERDICTS.index(report.verdict)
    assert model.generator.training  # the train mode is restored after sampling


def test_loss_and_gradient_norm_are_read_per_network(make_trainer):
    """The tutorial's generator optimizer comes first: roles are found by parameter ownership, not by position."""
    pl.seed_everything(1)
    model = TutorialGAN()
    callback = GANStabilityCallback(every_n_steps=100, num_samples=64, modes=MODES, std=0.02, loss_window=4)
    trainer = make_trainer(max_steps=8, max_epochs=-1, callbacks=[callback])
    trainer.fit(model, _ring_loader(n=128))
    d_losses = [loss for loss, _ in callback._history["discriminator"]]
    g_losses = [loss for loss, _ in callback._history["generator"]]
    assert len(d_losses) == len(g_losses) == 4
    # BCE of the sigmoid discriminator: the logged d_loss/g_loss of the last step are the last values seen
    assert d_losses[-1] == pytest.approx(float(trainer.callback_metrics["d_loss"]), rel=1e-5)
    assert g_losses[-1] == pytest.approx(float(trainer.callback_metrics["g_loss"]), rel=1e-5)


def test_sampling_is_seeded_and_leaves_the_global_random_state_alone():
    model = TutorialGAN()
    callback = GANStabilityCallback(num_samples=16, modes=MODES, std=0.02)
    state = torch.get_rng_state()
    first, second = callback._sample(model), callback._sample(model)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second)


class PerChannelClassifier(nn.Module):
    """``(n, 3, 8, 8)`` images -> per-channel logits ``(n, 3, 10)``: 1,000 modes, as for three stacked digits."""

    def __init__(self):
        super().__init__()
        self.digit = nn.Linear(64, 10)

    def forward(self, x):
        return self.digit(x.reshape(x.shape[0] * 3, 64)).reshape(x.shape[0], 3, 10)


def test_image_gan_is_scored_by_a_classifier(make_trainer):
    pl.seed_everything(0)
    images = torch.rand(256, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    loader = DataLoader(TensorDataset(images, torch.zeros(256)), batch_size=32)
    classifier = PerChannelClassifier()
    callback = GANStabilityCallback(every_n_steps=8, num_samples=300, classifier=classifier, min_modes_share=0.5)
    trainer = make_trainer(max_steps=16, max_epochs=-1, callbacks=[callback])
    trainer.fit(TutorialGAN(img_shape=(3, 8, 8), latent_dim=8), loader)
    report = callback.report()
    assert report.num_modes == 1000 and report.steps == [8, 16]
    assert all(1 <= m <= 300 for m in report.modes_captured)
    assert report.verdict in VERDICTS


def test_non_finite_samples_mean_diverged(make_trainer):
    def nan_samples(module, n, generator):
        return torch.full((n, 2), float("nan"))

    callback = GANStabilityCallback(every_n_steps=4, num_samples=10, sample_fn=nan_samples, modes=MODES, std=0.02)
    make_trainer(max_steps=4, max_epochs=-1, callbacks=[callback]).fit(TutorialGAN(), _ring_loader(n=64))
    assert callback.verdict == "diverged" and not callback.report().finite


def test_modes_come_from_the_datamodule(make_trainer):
    pl.seed_everything(0)
    callback = GANStabilityCallback(every_n_steps=3, num_samples=100)
    model = GANModule(g_hidden=8, d_hidden=8, g_depth=1, d_depth=1, d_steps=2)
    data = pl.LightningDataModule.from_datasets(TensorDataset(MODES.repeat(8, 1)), batch_size=16)
    data.modes, data.std = MODES[:5], 0.02  # type: ignore[attr-defined]  # what a mixture data module exposes
    make_trainer(max_steps=6, max_epochs=-1, callbacks=[callback]).fit(model, data)
    assert callback.report().num_modes == 5 and callback.report().steps == [3, 6]


def test_state_dict_round_trip():
    callback = GANStabilityCallback(modes=MODES, std=0.02)
    callback._report.steps.append(5)
    other = GANStabilityCallback(modes=MODES, std=0.02)
    other.load_state_dict(callback.state_dict())
    assert other.report().steps == [5]


def test_default_sample_fn_needs_a_generator_and_latent_size():
    class NoLatent(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.generator = nn.Linear(2, 2)

    with pytest.raises(TypeError, match=r"needs `pl_module.generator` .* Pass `sample_fn="):
        default_sample_fn(NoLatent(), 4, torch.Generator())
    assert default_sample_fn(TutorialGAN(latent_dim=3), 4, torch.Generator().manual_seed(0)).shape == (4, 2)


def test_no_target_is_refused(make_trainer):
    trainer = make_trainer(max_steps=2, max_epochs=-1, callbacks=[GANStabilityCallback()])
    with pytest.raises(ValueError, match="needs a target: `modes` and `std`"):
        trainer.fit(TutorialGAN(), _ring_loader(n=64))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every_n_steps": 0}, "`every_n_steps` to be an int >= 1"),
        ({"num_samples": 0}, "`num_samples` to be an int >= 1"),
        ({"loss_window": 1}, "`loss_window` to be an int >= 2"),
        ({"confidence": 1.5}, r"`confidence` to be a float in \[0, 1\]"),
        ({"threshold": 0.0}, "`threshold` to be a finite float"),
        ({"modes": [[0.0, 0.0]]}, "`modes` and `std` together"),
        ({"modes": [0.0, 1.0], "std": 0.1}, r"`modes` of shape \(K, D\)"),
        ({"modes": [[0.0, 0.0]], "std": 0.1, "classifier": nn.Identity()}, "either mixture `modes`/`std` or a"),
        ({"sample_fn": 3}, "`sample_fn` to be callable or None"),
        ({"classifier": "resnet"}, "`classifier` to be callable or None"),
        ({"window": 0}, "`window` to be an int >= 1"),
        ({"eval_mode": 1}, "`eval_mode` to be a bool"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GANStabilityCallback(**kwargs)
