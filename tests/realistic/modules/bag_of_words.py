"""A classifier on integer word counts with no embedding (scikit-learn ``CountVectorizer`` features).

Style imitated: count vectors kept as int64 by the dataset and cast in ``forward`` with ``x.float()`` before a
linear layer. There is no ``nn.Embedding`` to mix, so the callback cannot mix these integer inputs by itself.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class BagOfWordsClassifier(L.LightningModule):
    def __init__(self, vocab: int = 12, classes: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(vocab, classes)

    def forward(self, counts):
        return self.linear(counts.float())

    def training_step(self, batch, batch_idx):
        counts, y = batch
        return F.cross_entropy(self(counts), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
