"""LightningModules around real Hugging Face transformers models (tiny configs, random init) under
``MixupCallback``: BERT sequence and token classification on token ids (embedding mixup) and a ViT image classifier.

The modules are the plain ones a user writes: ``return self.model(**batch).loss`` on the tokenizer's dict batch
``{"input_ids", "attention_mask", "labels"}`` (ViT: ``{"pixel_values", "labels"}``); the loss is the model's own.
"""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

import lightning.pytorch as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lightning_mixup import MixupCallback  # noqa: E402
from tests.compat._common import SEED, Recorder, contract_params, dict_loader, generator, mixed, rows  # noqa: E402

PACKAGE = "transformers"


class HFModule(L.LightningModule):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def training_step(self, batch, batch_idx):
        return self.model(**batch).loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3)


def bert_config(**kwargs):
    return transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        **kwargs,
    )


def tokens():
    g = generator(0)
    ids = torch.randint(1, 50, (16, 8), generator=g)
    mask = torch.ones(16, 8, dtype=torch.long)
    mask[::2, 6:] = 0  # padded tail on every other sequence
    return ids, mask


def train(fit, model, **tensors):
    recorder = Recorder("model")
    fit(HFModule(model), dict_loader(**tensors), callbacks=[MixupCallback(seed=SEED, alpha=1.0), recorder])
    assert len(recorder.steps) == 2
    return recorder.steps


@pytest.mark.verdict(
    package=PACKAGE,
    module="BertForSequenceClassification",
    loss="the model's own (cross-entropy)",
    expected="exact",
    note="token ids: the word embeddings are mixed; attention masks by max",
)
def test_bert_sequence_classification(fit):
    ids, mask = tokens()
    labels = torch.randint(3, (16,), generator=generator(1))
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(bert_config(num_labels=3))
    for n, step in enumerate(train(fit, model, input_ids=ids, attention_mask=mask, labels=labels)):
        params = contract_params(SEED, n, rows(ids, n))
        torch.testing.assert_close(step.batch["input_ids"], rows(ids, n))  # ids are never blended
        torch.testing.assert_close(
            step.batch["attention_mask"], torch.maximum(rows(mask, n), rows(mask, n)[params.index])
        )
        logits = step.call("model").output.logits
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, logits, step.batch["labels"]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="BertForTokenClassification",
    loss="the model's own (cross-entropy, -100)",
    expected="exact",
    note="per-token labels with -100 on the padding",
)
def test_bert_token_classification(fit):
    ids, mask = tokens()
    labels = torch.randint(5, (16, 8), generator=generator(2))
    labels[mask == 0] = -100
    torch.manual_seed(0)
    model = transformers.BertForTokenClassification(bert_config(num_labels=5))
    for step in train(fit, model, input_ids=ids, attention_mask=mask, labels=labels):
        logits = step.call("model").output.logits
        loss = lambda o, t: F.cross_entropy(o.reshape(-1, 5), t.reshape(-1), ignore_index=-100)  # noqa: E731
        torch.testing.assert_close(step.loss, mixed(loss, logits, step.batch["labels"]))


@pytest.mark.verdict(
    package=PACKAGE, module="ViTForImageClassification", loss="the model's own (cross-entropy)", expected="exact"
)
def test_vit_image_classification(fit):
    g = generator(3)
    pixels, labels = torch.rand(16, 3, 16, 16, generator=g), torch.randint(4, (16,), generator=g)
    config = transformers.ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=4,
    )
    torch.manual_seed(0)
    for n, step in enumerate(
        train(fit, transformers.ViTForImageClassification(config), pixel_values=pixels, labels=labels)
    ):
        params = contract_params(SEED, n, rows(pixels, n))
        lam = params.lam.view(-1, 1, 1, 1)
        torch.testing.assert_close(
            step.batch["pixel_values"], lam * rows(pixels, n) + (1 - lam) * rows(pixels, n)[params.index]
        )
        logits = step.call("model").output.logits
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, logits, step.batch["labels"]))
