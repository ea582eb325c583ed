"""Drop-in where users are: torchgeo / segmentation_models-style dict batches and losses, pytorch-tabular batches.

Issue #24 items 2-4: the conventional keys (``mask``; ``continuous`` + ``categorical``), a loss that compares the
labels (``y == c``), ``F.one_hot`` into losses not linear in their target. Every test checks the loss the step
computed against the formula.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from lightning_mixup import MixedLabels, MixupCallback
from lightning_mixup._batch import detect_keys
from lightning_mixup.functional.labels import MixedLabelsError
from tests.realistic.modules.data import rows
from tests.realistic.modules.geo_segmentation import (
    ClassificationTask,
    FocalLoss,
    JaccardLoss,
    SemanticSegmentationTask,
    segmentation_data,
)
from tests.realistic.modules.own_mixup import EvidentialClassifier
from tests.realistic.modules.pt_tabular import CategoryEmbeddingModel, loader, tabular_data
from tests.realistic.recording import Recorder, batch_lam, contract_params, mix_rows, mixed_reference, parts

SEED = 11


def dict_loader(**tensors):
    n = len(next(iter(tensors.values())))
    return DataLoader([{k: v[i] for k, v in tensors.items()} for i in range(n)], batch_size=8)


def test_torchgeo_mask_key_detected_and_cross_entropy_exact(fit):
    x, m = segmentation_data()
    recorder = Recorder("model")
    callbacks = [MixupCallback(alpha=1.0, seed=SEED), recorder]
    fit(SemanticSegmentationTask("ce"), dict_loader(image=x, mask=m), callbacks=callbacks)
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(x, n))
        torch.testing.assert_close(step.call("model").args[0], mix_rows(rows(x, n), params))
        y_a, y_b, _ = parts(step.batch["mask"])
        torch.testing.assert_close(y_a, rows(m, n))
        torch.testing.assert_close(y_b, rows(m, n)[params.index])
        reference = mixed_reference(F.cross_entropy, step.call("model").output, step.batch["mask"])
        torch.testing.assert_close(step.loss, reference)


def test_label_and_mask_together_are_ambiguous():
    with pytest.raises(ValueError, match=r"several target candidates \['label', 'mask'\]"):
        detect_keys({"image": 0, "label": 1, "mask": 2}, None, None)


def test_smp_focal_loss_refusal_names_the_comparison_and_the_route(fit):
    x, m = segmentation_data()
    with pytest.raises(MixedLabelsError, match=r"only read them \(`__eq__` ×4\).*`y == c`.*reduction=None"):
        fit(SemanticSegmentationTask("focal"), dict_loader(image=x, mask=m), callbacks=[MixupCallback(alpha=1.0)])


@pytest.mark.parametrize("loss", ["focal", "jaccard"])
def test_the_route_the_refusal_gives_is_exact(fit, loss):
    """``y.mix_loss(criterion, output, reduction=None)``: λ·L(y_a) + (1-λ)·L(y_b) for a loss that reduces itself."""
    x, m = segmentation_data()
    recorder = Recorder("model")
    task = SemanticSegmentationTask(loss, both_sides=True)
    fit(task, dict_loader(image=x, mask=m), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    criterion = FocalLoss() if loss == "focal" else JaccardLoss()
    for step in recorder.steps:
        assert 0 < float(batch_lam(step.batch["mask"])) < 1
        torch.testing.assert_close(step.loss, mixed_reference(criterion, step.call("model").output, step.batch["mask"]))


def test_mix_loss_of_a_self_reducing_loss_needs_one_lambda():
    labels = MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([0.3, 0.6]))
    with pytest.raises(MixedLabelsError, match=r"one λ for the batch.*mode='batch'"):
        labels.mix_loss(FocalLoss(), torch.zeros(2, 2), reduction=None)


def soft_jaccard(logits, soft):
    """The Jaccard loss above with one-hot targets replaced by soft ones ``(B, H, W, C)``."""
    bs, classes = logits.shape[:2]
    probs = logits.softmax(dim=1).view(bs, classes, -1)
    target = soft.reshape(bs, -1, classes).permute(0, 2, 1)
    intersection = (probs * target).sum(dim=(0, 2))
    union = (probs + target).sum(dim=(0, 2)) - intersection
    present = (target.sum(dim=(0, 2)) > 0).float()
    return ((1 - intersection / union.clamp_min(1e-7)) * present).mean()


def test_jaccard_on_one_hot_of_mixed_labels_is_the_soft_target_loss(fit):
    """The documented contract: F.one_hot gives ỹ, and a loss not linear in it computes ℓ(f(x̃), ỹ)."""
    x, m = segmentation_data()
    recorder = Recorder("model")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*checks the shape of its labels")  # no ndim check here
        callbacks = [MixupCallback(alpha=1.0, seed=SEED), recorder]
        fit(SemanticSegmentationTask("jaccard"), dict_loader(image=x, mask=m), callbacks=callbacks)
    for step in recorder.steps:
        labels, logits = step.batch["mask"], step.call("model").output
        y_a, y_b, lam = parts(labels)
        soft = lam[..., None] * F.one_hot(y_a, 4) + (1 - lam[..., None]) * F.one_hot(y_b, 4)
        torch.testing.assert_close(step.loss, soft_jaccard(logits, soft))


def test_soft_target_jaccard_is_not_the_lambda_combination():
    """Why the contract says so: with confident logits the two differ by far more than rounding."""
    g = torch.Generator().manual_seed(0)
    y_a, y_b = torch.randint(4, (2, 3, 3), generator=g), torch.randint(4, (2, 3, 3), generator=g)
    logits = 10 * F.one_hot(y_a, 4).permute(0, 3, 1, 2).float()  # confident in y_a
    soft = F.one_hot(MixedLabels(y_a, y_b, torch.tensor([0.5, 0.5])), 4)
    combination = 0.5 * JaccardLoss()(logits, y_a) + 0.5 * JaccardLoss()(logits, y_b)
    assert abs(float(soft_jaccard(logits, soft)) - float(combination)) > 1e-2


def test_a_loss_that_refuses_soft_targets_by_ndim_is_told(fit):
    x, y = torch.rand(16, 6, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 4
    data = DataLoader(list(zip(x, y, strict=True)), batch_size=8)
    recorder = Recorder("net")
    with pytest.warns(UserWarning, match=r"`(DECLoss\.)?forward` checks the shape of its labels.*ℓ\(f\(x̃\), ỹ\)"):
        fit(EvidentialClassifier(), data, callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    for step in recorder.steps:
        y_a, y_b, lam = parts(step.batch[1])
        soft = lam[:, None] * F.one_hot(y_a, 4) + (1 - lam[:, None]) * F.one_hot(y_b, 4)
        alpha = torch.relu(step.call("net").output) + 1
        strength = alpha.sum(1, keepdim=True)
        err = ((soft - alpha / strength) ** 2).sum(1)
        var = (alpha * (strength - alpha) / (strength * strength * (strength + 1))).sum(1)
        torch.testing.assert_close(step.loss, (err + var).mean())
    with pytest.raises(MixedLabelsError, match="label_reads='strict'"):
        fit(EvidentialClassifier(), data, callbacks=[MixupCallback(alpha=1.0, label_reads="strict")])


def check_tabular(steps, continuous, categorical, *, categories_mixed: bool) -> None:
    for n, step in enumerate(steps):
        params = contract_params(SEED, n, rows(continuous, n))
        torch.testing.assert_close(step.batch["continuous"], mix_rows(rows(continuous, n), params))
        assert torch.equal(step.batch["categorical"], rows(categorical, n))  # ids are never blended
        for i in range(2):
            call = step.call(f"embedding_layers.{i}")
            looked_up = F.embedding(rows(categorical, n)[:, i], call.params["weight"])
            torch.testing.assert_close(call.output, mix_rows(looked_up, params) if categories_mixed else looked_up)
        target = step.batch["target"]
        logits = step.call("head").output
        torch.testing.assert_close(
            step.loss, mixed_reference(F.cross_entropy, logits, target, target=lambda t: t[:, 0])
        )


def test_pytorch_tabular_keys_detected_both_inputs_mixed(fit):
    continuous, categorical, target = tabular_data()
    recorder = Recorder("embedding_layers.0", "embedding_layers.1", "head")
    callbacks = [MixupCallback(alpha=1.0, seed=SEED), recorder]
    fit(CategoryEmbeddingModel(), loader(continuous, categorical, target), callbacks=callbacks)
    assert len(recorder.steps) == 2
    check_tabular(recorder.steps, continuous, categorical, categories_mixed=True)


def test_pytorch_tabular_input_key_naming_one_input_warns(fit):
    continuous, categorical, target = tabular_data()
    recorder = Recorder("embedding_layers.0", "embedding_layers.1", "head")
    callbacks = [MixupCallback(alpha=1.0, seed=SEED, input_key="continuous"), recorder]
    with pytest.warns(UserWarning, match=r"\['categorical'\] stay unmixed.*input_key=\['continuous', 'categorical'\]"):
        fit(CategoryEmbeddingModel(), loader(continuous, categorical, target), callbacks=callbacks)
    check_tabular(recorder.steps, continuous, categorical, categories_mixed=False)


def test_pytorch_tabular_empty_inputs_are_left_out():
    batch = {"target": torch.zeros(2, 1), "continuous": torch.rand(2, 3), "categorical": torch.Tensor(2, 0)}
    assert detect_keys(batch, None, None) == (["continuous"], "target", [])
    batch = {"target": torch.zeros(2, 1), "continuous": torch.Tensor(2, 0), "categorical": torch.ones(2, 2).long()}
    assert detect_keys(batch, None, None) == (["categorical"], "target", [])


def test_classification_image_label_keys(fit):
    x, m = segmentation_data()
    y = m[:, 0, 0]
    recorder = Recorder("model")
    callbacks = [MixupCallback(alpha=1.0, seed=SEED), recorder]
    fit(ClassificationTask("ce"), dict_loader(image=x, label=y), callbacks=callbacks)
    for n, step in enumerate(recorder.steps):
        torch.testing.assert_close(
            step.call("model").args[0], mix_rows(rows(x, n), contract_params(SEED, n, rows(x, n)))
        )
        reference = mixed_reference(F.cross_entropy, step.call("model").output, step.batch["label"])
        torch.testing.assert_close(step.loss, reference)


def test_mix_loss_of_a_self_reducing_loss_refuses_label_smoothing():
    labels = MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([0.3, 0.3]), label_smoothing=0.1)
    with pytest.raises(MixedLabelsError, match=r"label_smoothing=0.1, which `FocalLoss` would silently drop"):
        labels.mix_loss(FocalLoss(), torch.zeros(2, 2), reduction=None)
