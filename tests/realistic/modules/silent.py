"""Modules on which mixed labels never reach a loss: under the old callback they trained silently wrong.

Styles imitated:

- ``LitAutoEncoder`` of Lightning's 15-minute intro: ``x, _ = batch``, ``F.mse_loss(self.decoder(z), x)``.
- The basic GAN of the Lightning tutorials (``basic-gan``): manual optimisation, ``imgs, _ = batch``, a generator
  and a discriminator step with ``F.binary_cross_entropy`` against ``torch.ones``/``torch.zeros`` targets.
- A step that "normalises" its labels with ``y = torch.tensor(y, dtype=torch.long)`` (seen in ports of
  NumPy-era code) before ``F.cross_entropy``.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class LitAutoEncoder(L.LightningModule):
    def __init__(self, pixels: int = 64) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(pixels, 8), nn.ReLU(), nn.Linear(8, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, pixels))

    def training_step(self, batch, batch_idx):
        x, _ = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class GAN(L.LightningModule):
    def __init__(self, latent_dim: int = 4, pixels: int = 64) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = nn.Sequential(nn.Linear(latent_dim, 16), nn.LeakyReLU(0.2), nn.Linear(16, pixels), nn.Tanh())
        self.discriminator = nn.Sequential(nn.Linear(pixels, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Sigmoid())

    def forward(self, z):
        return self.generator(z)

    def adversarial_loss(self, y_hat, y):
        return F.binary_cross_entropy(y_hat, y)

    def training_step(self, batch):
        imgs, _ = batch
        imgs = imgs.view(imgs.size(0), -1)
        optimizer_g, optimizer_d = self.optimizers()
        z = torch.randn(imgs.shape[0], self.hparams.latent_dim).type_as(imgs)

        self.toggle_optimizer(optimizer_g)
        valid = torch.ones(imgs.size(0), 1).type_as(imgs)
        g_loss = self.adversarial_loss(self.discriminator(self(z)), valid)
        self.manual_backward(g_loss)
        optimizer_g.step()
        optimizer_g.zero_grad()
        self.untoggle_optimizer(optimizer_g)

        self.toggle_optimizer(optimizer_d)
        real_loss = self.adversarial_loss(self.discriminator(imgs), valid)
        fake = torch.zeros(imgs.size(0), 1).type_as(imgs)
        fake_loss = self.adversarial_loss(self.discriminator(self(z).detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        self.manual_backward(d_loss)
        optimizer_d.step()
        optimizer_d.zero_grad()
        self.untoggle_optimizer(optimizer_d)

    def configure_optimizers(self):
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        return [opt_g, opt_d]


class TensorCopyClassifier(L.LightningModule):
    def __init__(self, pixels: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Linear(pixels, classes)

    def training_step(self, batch, batch_idx):
        x, y = batch
        y = torch.tensor(y, dtype=torch.long)
        loss = F.cross_entropy(self.net(x.flatten(1)), y)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
