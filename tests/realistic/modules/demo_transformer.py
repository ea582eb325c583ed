"""Lightning's own demo Transformer, unchanged, and sequence-first embedding lookups.

Styles imitated:

- ``lightning.pytorch.demos.LightningTransformer``: batches ``(inputs, target)`` of token ids ``(B, T)``; the
  model (``lightning.pytorch.demos.Transformer``, used as it is) looks up both the inputs and the target sequence
  (the decoder's input) in one ``nn.Embedding`` and returns ``log_softmax`` logits ``(B·T, V)``;
  ``loss = F.nll_loss(output, target.view(-1))``. Only the data is local (the demo downloads WikiText-2).
- Sequence-first models (the PyTorch word-language-model example, ``nn.Transformer(batch_first=False)``): the ids
  are looked up as ``ids.t()`` ``(T, B)``, or flattened as ``ids.view(1, -1)`` ``(1, B·T)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.demos import LightningTransformer, Transformer
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB = 20


def token_data(n: int = 16, length: int = 6, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(VOCAB, (n, length), generator=g), torch.randint(VOCAB, (n, length), generator=g)


class DemoTransformer(LightningTransformer):
    """The demo module with the demo Transformer (small sizes) and local data instead of WikiText-2."""

    def __init__(self) -> None:
        super().__init__(vocab_size=VOCAB)
        self.model = Transformer(vocab_size=VOCAB, ninp=8, nhead=2, nhid=16, nlayers=1, dropout=0.0)

    def prepare_data(self) -> None:
        pass

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(*token_data()), batch_size=8)


class SequenceFirstTagger(LightningModule):
    """Per-token classification with the ids looked up sequence-first (``"t"``) or flat (``"flat"``)."""

    def __init__(self, layout: str = "t", classes: int = 3) -> None:
        super().__init__()
        self.layout = layout
        self.embedding = nn.Embedding(VOCAB, 8)
        self.head = nn.Linear(8, classes)

    def forward(self, ids: Tensor) -> Tensor:
        batch, length = ids.shape
        if self.layout == "t":
            hidden = self.embedding(ids.t()).transpose(0, 1)  # (T, B, E) -> (B, T, E)
        else:
            hidden = self.embedding(ids.view(1, -1)).view(batch, length, -1)  # (1, B·T, E)
        return self.head(torch.tanh(hidden))

    def training_step(self, batch, batch_idx):
        ids, tags = batch
        logits = self(ids)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tags.reshape(-1))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
