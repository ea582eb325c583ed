"""A Hugging Face-style token-classification head in a LightningModule (NER in the HF / Lightning tutorials).

Style imitated: ``*ForTokenClassification``: dict batches with ``input_ids``, ``attention_mask`` and ``labels``
``(B, T)`` holding -100 on padding; an embedding and a small encoder; ``forward(**batch)`` computes
``CrossEntropyLoss()(logits.view(-1, num_labels), labels.view(-1))`` and returns an output object readable as
``.loss`` or ``["loss"]``; the LightningModule's step is ``outputs = self(**batch); return outputs.loss``.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch
from torch import Tensor, nn
from torch.nn import CrossEntropyLoss
from torch.utils.data import DataLoader, Dataset


@dataclass
class TokenClassifierOutput:
    """Like ``transformers.modeling_outputs.TokenClassifierOutput``: attributes, also readable by key."""

    loss: Tensor | None = None
    logits: Tensor | None = None

    def __getitem__(self, key):
        return getattr(self, key)


class TinyForTokenClassification(nn.Module):
    def __init__(self, vocab_size: int = 40, hidden_size: int = 16, num_labels: int = 5) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=0)
        self.encoder = nn.TransformerEncoderLayer(
            hidden_size, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True
        )
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, input_ids=None, attention_mask=None, labels=None):
        hidden = self.embeddings(input_ids)
        padding = None if attention_mask is None else attention_mask == 0
        hidden = self.encoder(hidden, src_key_padding_mask=padding)
        logits = self.classifier(hidden)
        loss = None
        if labels is not None:
            loss_fct = CrossEntropyLoss()
            loss = loss_fct(logits.view(-1, self.num_labels), labels.view(-1))
        return TokenClassifierOutput(loss=loss, logits=logits)


class TokenClassificationModule(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = TinyForTokenClassification()

    def forward(self, **inputs):
        return self.model(**inputs)

    def training_step(self, batch, batch_idx):
        outputs = self(**batch)
        return outputs.loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=5e-4)


class TaggedSentences(Dataset):
    """Padded sentences (id 0 = padding) with a tag per token and -100 on padding, as a HF data collator makes."""

    def __init__(self, n: int = 16, length: int = 7, vocab: int = 40, num_labels: int = 5, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        lengths = torch.randint(2, length + 1, (n,), generator=g)
        self.attention_mask = (torch.arange(length)[None] < lengths[:, None]).long()
        self.input_ids = torch.randint(1, vocab, (n, length), generator=g) * self.attention_mask
        tags = torch.randint(num_labels, (n, length), generator=g)
        self.labels = tags.masked_fill(self.attention_mask == 0, -100)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.input_ids[i], "attention_mask": self.attention_mask[i], "labels": self.labels[i]}


def loader(data: TaggedSentences) -> DataLoader:
    return DataLoader(data, batch_size=8)
