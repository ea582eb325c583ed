"""A multi-label text classifier in the style of the multi-label text libraries built on Lightning.

Style imitated: dict batches of token ids, an attention mask and int multi-hot labels ``(B, K)``; token ids through
``nn.Embedding``, masked mean pooling, a linear head; ``self.loss_fn = nn.BCEWithLogitsLoss()`` applied to
``labels.float()``.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class MultiLabelTextClassifier(L.LightningModule):
    def __init__(self, vocab: int = 30, dim: int = 8, num_labels: int = 5) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.head = nn.Linear(dim, num_labels)
        self.loss_fn = nn.BCEWithLogitsLoss()

    def forward(self, input_ids, attention_mask):
        embedded = self.embedding(input_ids)
        mask = attention_mask.unsqueeze(-1).to(embedded.dtype)
        pooled = (embedded * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled)

    def training_step(self, batch, batch_idx):
        logits = self(batch["input_ids"], batch["attention_mask"])
        loss = self.loss_fn(logits, batch["labels"].float())
        self.log("train_loss", loss, batch_size=len(logits))
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3)


class MultiLabelTexts(Dataset):
    """Padded token sequences (0 = padding) with random multi-hot labels."""

    def __init__(self, n: int = 16, length: int = 6, vocab: int = 30, num_labels: int = 5, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        lengths = torch.randint(2, length + 1, (n,), generator=g)
        self.attention_mask = (torch.arange(length)[None] < lengths[:, None]).long()
        self.input_ids = torch.randint(1, vocab, (n, length), generator=g) * self.attention_mask
        self.labels = torch.randint(0, 2, (n, num_labels), generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.input_ids[i], "attention_mask": self.attention_mask[i], "labels": self.labels[i]}


def loader(data: MultiLabelTexts) -> DataLoader:
    return DataLoader(data, batch_size=8)
