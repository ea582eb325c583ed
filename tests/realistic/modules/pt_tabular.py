"""A pytorch-tabular-style model: dict batches ``{"continuous", "categorical", "target"}``.

Style imitated: pytorch-tabular's ``CategoryEmbeddingModel``. Its ``TabularDataset`` yields
``{"target": y, "continuous": float (C,), "categorical": long (K,)}`` (an empty ``torch.Tensor()`` for a table
without such columns); the backbone embeds ``categorical[:, i]`` with one ``nn.Embedding`` per column,
concatenates the continuous features, and the classification loss is ``F.cross_entropy(logits, y.squeeze(1))``
on ``target`` of shape ``(B, 1)``.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset


class TabularDataset(Dataset):
    def __init__(self, continuous: Tensor, categorical: Tensor, target: Tensor) -> None:
        self.continuous, self.categorical, self.target = continuous, categorical, target

    def __len__(self) -> int:
        return len(self.target)

    def __getitem__(self, idx: int) -> dict[str, Tensor]:
        return {
            "target": self.target[idx],
            "continuous": self.continuous[idx] if self.continuous.numel() else torch.Tensor(),
            "categorical": self.categorical[idx] if self.categorical.numel() else torch.Tensor(),
        }


class CategoryEmbeddingModel(L.LightningModule):
    def __init__(self, cardinalities: tuple[int, ...] = (5, 7), dim: int = 3, n_cont: int = 4, classes: int = 3):
        super().__init__()
        self.embedding_layers = nn.ModuleList([nn.Embedding(card, dim) for card in cardinalities])
        self.head = nn.Sequential(nn.Linear(len(cardinalities) * dim + n_cont, 16), nn.ReLU(), nn.Linear(16, classes))

    def forward(self, x: dict[str, Tensor]) -> dict[str, Tensor]:
        embedded = [layer(x["categorical"][:, i]) for i, layer in enumerate(self.embedding_layers)]
        return {"logits": self.head(torch.cat([*embedded, x["continuous"]], dim=1))}

    def training_step(self, batch, batch_idx):
        y = batch["target"]
        output = self(batch)
        loss = F.cross_entropy(output["logits"], y.squeeze(1))
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def tabular_data(n: int = 16, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    categorical = torch.stack([torch.randint(5, (n,), generator=g), torch.randint(7, (n,), generator=g)], dim=1)
    return torch.rand(n, 4, generator=g), categorical, torch.randint(3, (n, 1), generator=g)


def loader(continuous: Tensor, categorical: Tensor, target: Tensor) -> DataLoader:
    return DataLoader(TabularDataset(continuous, categorical, target), batch_size=8)
