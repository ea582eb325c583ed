"""The GLUE fine-tuning module of the Lightning tutorials, over a Hugging Face-style sequence classifier.

Style imitated: the tutorial's ``GLUETransformer`` (``forward(**inputs)`` calls ``self.model(**inputs)``, the step
returns ``outputs[0]``) over a re-statement of ``BertForSequenceClassification``: word, position and token-type
embeddings summed, an encoder, the first token pooled, a classifier, and HF's ``problem_type`` logic choosing the
loss from ``num_labels`` and ``labels.dtype``.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch
from torch import Tensor, nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from torch.utils.data import DataLoader, Dataset


@dataclass
class SequenceClassifierOutput:
    loss: Tensor | None = None
    logits: Tensor | None = None

    def __getitem__(self, key):
        if isinstance(key, int):
            return [v for v in (self.loss, self.logits) if v is not None][key]
        return getattr(self, key)


class TinyEmbeddings(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int, max_positions: int = 16, type_vocab_size: int = 2) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_positions, hidden_size)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size)

    def forward(self, input_ids, token_type_ids=None):
        seq_length = input_ids.size(1)
        position_ids = torch.arange(seq_length, device=input_ids.device).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = self.word_embeddings(input_ids)
        embeddings = embeddings + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(embeddings)


class TinyForSequenceClassification(nn.Module):
    def __init__(self, vocab_size: int = 50, hidden_size: int = 16, num_labels: int = 3) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.problem_type: str | None = None
        self.embeddings = TinyEmbeddings(vocab_size, hidden_size)
        self.encoder = nn.TransformerEncoderLayer(
            hidden_size, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True
        )
        self.pooler = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.Tanh())
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None):
        hidden = self.embeddings(input_ids, token_type_ids)
        padding = None if attention_mask is None else attention_mask == 0
        hidden = self.encoder(hidden, src_key_padding_mask=padding)
        logits = self.classifier(self.pooler(hidden[:, 0]))
        loss = None
        if labels is not None:
            if self.problem_type is None:
                if self.num_labels == 1:
                    self.problem_type = "regression"
                elif self.num_labels > 1 and (labels.dtype == torch.long or labels.dtype == torch.int):
                    self.problem_type = "single_label_classification"
                else:
                    self.problem_type = "multi_label_classification"
            if self.problem_type == "regression":
                loss = MSELoss()(logits.squeeze(), labels.squeeze())
            elif self.problem_type == "single_label_classification":
                loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                loss = BCEWithLogitsLoss()(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


class GLUETransformer(L.LightningModule):
    def __init__(self, learning_rate: float = 2e-5, num_labels: int = 3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = TinyForSequenceClassification(num_labels=num_labels)

    def forward(self, **inputs):
        return self.model(**inputs)

    def training_step(self, batch, batch_idx):
        outputs = self(**batch)
        loss = outputs[0]
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.learning_rate)


class SentencePairs(Dataset):
    """Tokenised sentence pairs: ``[CLS] a [SEP] b [SEP]`` ids, segment ids, padding mask, one label per pair."""

    def __init__(self, n: int = 16, length: int = 8, vocab: int = 50, num_labels: int = 3, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        lengths = torch.randint(4, length + 1, (n,), generator=g)
        positions = torch.arange(length)[None]
        self.attention_mask = (positions < lengths[:, None]).long()
        self.input_ids = torch.randint(3, vocab, (n, length), generator=g) * self.attention_mask
        self.input_ids[:, 0] = 1
        self.token_type_ids = ((positions >= lengths[:, None] // 2) & (self.attention_mask == 1)).long()
        self.labels = torch.randint(num_labels, (n,), generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {
            "input_ids": self.input_ids[i],
            "attention_mask": self.attention_mask[i],
            "token_type_ids": self.token_type_ids[i],
            "labels": self.labels[i],
        }


def loader(data: SentencePairs) -> DataLoader:
    return DataLoader(data, batch_size=8)
