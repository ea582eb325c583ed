"""BCE modules that cast their integer labels to float: the cast gives ``λ·y_a + (1-λ)·y_b``, so BCE is exact."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup import MixedLabels, MixupCallback
from tests.realistic.modules.binary_bce import BinaryClassifier
from tests.realistic.modules.data import loader, rows
from tests.realistic.modules.multilabel_text import MultiLabelTextClassifier, MultiLabelTexts
from tests.realistic.modules.multilabel_text import loader as text_loader
from tests.realistic.recording import (
    Recorder,
    batch_lam,
    check_partners,
    contract_params,
    mix_rows,
    mixed_reference,
    parts,
)

SEED = 11


def test_binary_classifier_view_type_as_bce(fit):
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(16, 5, generator=g), torch.randint(0, 2, (16,), generator=g)
    recorder = Recorder()
    fit(BinaryClassifier(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    for n, step in enumerate(recorder.steps):
        labels = step.batch[1]
        check_partners(labels, contract_params(SEED, n, rows(x, n)))
        logits = step.call().output
        reference = mixed_reference(
            F.binary_cross_entropy_with_logits, logits, labels, target=lambda t: t.view(-1, 1).float()
        )
        torch.testing.assert_close(step.loss, reference)


def test_float_casts_of_labels_give_the_mixed_targets():
    labels = MixedLabels(torch.tensor([1, 0, 1]), torch.tensor([0, 0, 1]), torch.tensor([0.25, 0.5, 0.9]))
    expected = torch.tensor([0.25, 0.0, 1.0])
    logits = torch.zeros(3, 1)
    for cast in (
        labels.float(),
        labels.to(torch.float32),
        labels.type_as(logits).view(-1),
        labels.view(-1, 1).type_as(logits).view(-1),
    ):
        assert type(cast) is torch.Tensor and cast.dtype == torch.float32
        torch.testing.assert_close(cast, expected)
    one_hot = F.one_hot(labels, 2)
    torch.testing.assert_close(one_hot, torch.tensor([[0.75, 0.25], [1.0, 0.0], [0.0, 1.0]]))


def test_multilabel_text_classifier_bce_on_float_labels_and_embedding_mixup(fit):
    data = MultiLabelTexts()
    recorder = Recorder("embedding", "head")
    fit(MultiLabelTextClassifier(), text_loader(data), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        batch = step.batch
        labels = batch["labels"]
        y_a, _, lam = parts(labels)
        assert lam.shape == (8, 5)
        params = contract_params(SEED, n, rows(data.input_ids, n))
        check_partners(labels, params)
        torch.testing.assert_close(y_a, rows(data.labels, n))
        # the token ids are not blended; the embedding's output is, with the batch's λ and partners
        ids = rows(data.input_ids, n)
        assert torch.equal(batch["input_ids"], ids)
        embedding = step.call("embedding")
        assert torch.equal(embedding.args[0], ids)
        torch.testing.assert_close(embedding.output, mix_rows(F.embedding(ids, embedding.params["weight"]), params))
        mask = rows(data.attention_mask, n)
        torch.testing.assert_close(batch["attention_mask"], torch.maximum(mask, mask[params.index]))
        logits = step.call("head").output
        reference = mixed_reference(F.binary_cross_entropy_with_logits, logits, labels, target=Tensor.float)
        torch.testing.assert_close(step.loss, reference)
        # BCE is linear in its target: the same as BCE on the interpolated targets
        soft = batch_lam(labels) * y_a.float() + (1 - batch_lam(labels)) * parts(labels)[1].float()
        torch.testing.assert_close(step.loss, F.binary_cross_entropy_with_logits(logits, soft))
