"""Image and feature classifiers in published styles, trained unchanged under ``MixupCallback``.

Each test checks the loss the step returned against ``λ·L(y_a) + (1-λ)·L(y_b)`` (one λ per batch) or its
per-sample form (``mode="elem"``), with ``L`` the module's own loss recomputed on the recorded logits; training
metrics and label statistics against the dominant labels of the recorded batches.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lightning_mixup import MixedLabels, MixedLabelsError, MixupCallback
from tests.realistic.modules.bolts_logreg import LogisticRegression
from tests.realistic.modules.cifar_resnet import LitResnet
from tests.realistic.modules.class_weighted import WeightedClassifier
from tests.realistic.modules.data import images, loader, rows
from tests.realistic.modules.hydra_mnist import MNISTLitModule, SimpleDenseNet
from tests.realistic.modules.imagenet import ImageNetLightningModel
from tests.realistic.modules.label_smoothing import SmoothedClassifier
from tests.realistic.modules.label_stats import LabelStatsClassifier
from tests.realistic.modules.lit_model import LitModel
from tests.realistic.modules.pytorch_mnist_nll import Net
from tests.realistic.modules.uva_course import CIFARModule
from tests.realistic.recording import (
    Recorder,
    check_dominance_matters,
    check_partners,
    contract_params,
    dominant,
    mix_rows,
    mixed_reference,
    per_sample_reference,
)

SEED = 7


def features(n: int = 16, dim: int = 6, classes: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g), torch.randint(classes, (n,), generator=g)


def test_lightning_docs_lit_model(fit):
    x, y = images()
    recorder = Recorder()
    fit(LitModel(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        images_in, labels = step.batch
        params = contract_params(SEED, n, rows(x, n))
        check_partners(labels, params)
        torch.testing.assert_close(labels.y_a, rows(y, n))
        call = step.call()
        torch.testing.assert_close(call.args[0], mix_rows(rows(x, n), params))
        torch.testing.assert_close(images_in, call.args[0])
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, call.output, labels))


def test_imagenet_example_topk_accuracy_reads_the_dominant_labels(fit):
    x, y = images(channels=3)
    recorder = Recorder("model")
    trainer = fit(
        ImageNetLightningModel(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, mode="elem", seed=SEED), recorder]
    )
    acc1, acc5 = [], []
    for step in recorder.steps:
        _, labels = step.batch
        logits = step.call("model").output
        reference = per_sample_reference(F.cross_entropy, logits, labels)
        torch.testing.assert_close(step.loss, reference)
        top5, read = logits.topk(5, 1).indices, dominant(labels)
        acc1.append(100 * (top5[:, 0] == read).float().mean())
        acc5.append(100 * (top5 == read[:, None]).any(1).float().mean())
    check_dominance_matters([step.batch[1] for step in recorder.steps])
    metrics = trainer.callback_metrics
    torch.testing.assert_close(metrics["train_acc1_step"], acc1[-1])
    torch.testing.assert_close(metrics["train_acc1_epoch"], torch.stack(acc1).mean())
    torch.testing.assert_close(metrics["train_acc5_epoch"], torch.stack(acc5).mean())
    torch.testing.assert_close(metrics["train_loss_epoch"], torch.stack([s.loss for s in recorder.steps]).mean())


def test_hydra_template_torchmetrics_read_the_dominant_labels(fit):
    x, y = images()
    recorder = Recorder("net")
    model = MNISTLitModule(SimpleDenseNet())
    trainer = fit(
        model,
        loader(x, y),
        val=loader(x, y),
        limit_val_batches=1,
        callbacks=[MixupCallback(alpha=1.0, mode="elem", seed=SEED), recorder],
    )
    correct, losses = 0, []
    for step in recorder.steps:
        _, labels = step.batch
        logits = step.call("net").output
        torch.testing.assert_close(step.loss, per_sample_reference(F.cross_entropy, logits, labels))
        correct += int((logits.argmax(1) == dominant(labels)).sum())
        losses.append(step.loss)
    check_dominance_matters([step.batch[1] for step in recorder.steps])
    metrics = trainer.callback_metrics
    torch.testing.assert_close(metrics["train/acc"], torch.tensor(correct / 16))
    torch.testing.assert_close(metrics["train/loss"], torch.stack(losses).mean())
    assert "val/acc_best" in metrics  # validation ran on the plain labels


def test_uva_course_accuracy_reads_the_dominant_labels(fit):
    x, y = images(channels=3)
    recorder = Recorder("model")
    trainer = fit(CIFARModule(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, mode="elem", seed=SEED), recorder])
    accuracies = []
    for step in recorder.steps:
        _, labels = step.batch
        preds = step.call("model").output
        torch.testing.assert_close(step.loss, per_sample_reference(F.cross_entropy, preds, labels))
        accuracies.append((preds.argmax(dim=-1) == dominant(labels)).float().mean())
    check_dominance_matters([step.batch[1] for step in recorder.steps])
    torch.testing.assert_close(trainer.callback_metrics["train_acc"], torch.stack(accuracies).mean())


def test_strict_label_reads_refuse_the_uva_accuracy(fit):
    x, y = images(channels=3)
    with pytest.raises(MixedLabelsError, match="(?i)mixed ?labels"):
        fit(CIFARModule(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED, label_reads="strict")])


def test_numpy_and_tolist_label_statistics_see_the_dominant_labels(fit):
    x, y = features()
    recorder = Recorder()
    model = LabelStatsClassifier()
    fit(model, loader(x, y), callbacks=[MixupCallback(alpha=1.0, mode="elem", seed=SEED), recorder])
    read = []
    for step in recorder.steps:
        _, labels = step.batch
        logits = step.call().output
        torch.testing.assert_close(step.loss, per_sample_reference(F.cross_entropy, logits, labels))
        read.append(dominant(labels))
    check_dominance_matters([step.batch[1] for step in recorder.steps])
    expected = torch.cat(read)
    assert model.seen_labels == expected.tolist()
    assert all(type(label) is int for label in model.seen_labels)
    assert model.zero_counts == [int((r == 0).sum()) for r in read]
    np.testing.assert_allclose(model.class_share, np.bincount(expected.numpy(), minlength=4) / 16)


def test_label_smoothing_criterion(fit):
    x, y = features(classes=5)
    recorder = Recorder("backbone")
    fit(SmoothedClassifier(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    for step in recorder.steps:
        logits = step.call("backbone").output
        reference = mixed_reference(F.cross_entropy, logits, step.batch[1], label_smoothing=0.1)
        torch.testing.assert_close(step.loss, reference)


def test_class_weighted_criterion(fit):
    x, _ = features()
    y = torch.tensor([0] * 9 + [1] * 4 + [2] * 2 + [3])[torch.randperm(16, generator=torch.Generator().manual_seed(0))]
    recorder = Recorder("net")
    model = WeightedClassifier(torch.bincount(y, minlength=4).tolist())
    fit(model, loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    weight = model.class_weights
    for step in recorder.steps:
        logits, labels = step.call("net").output, step.batch[1]
        assert isinstance(labels, MixedLabels)
        # torch's weighted mean of each side, then interpolated: λ·L(y_a) + (1-λ)·L(y_b)
        reference = mixed_reference(F.cross_entropy, logits, labels, weight=weight)
        torch.testing.assert_close(step.loss, reference)


def test_pytorch_mnist_example_nll_loss(fit):
    x, y = images()
    recorder = Recorder()
    fit(Net(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    for step in recorder.steps:
        logits = step.call().output  # after dropout: the logits the loss saw
        reference = mixed_reference(F.nll_loss, F.log_softmax(logits, dim=1), step.batch[1])
        torch.testing.assert_close(step.loss, reference)


def test_bolts_logistic_regression_sum_reduction_and_penalties(fit):
    x, y = features(classes=3)
    recorder = Recorder("linear")
    model = LogisticRegression(input_dim=6, num_classes=3, l1_strength=0.01, l2_strength=0.02)
    fit(model, loader(x, y), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    for n, step in enumerate(recorder.steps):
        call = step.call("linear")
        torch.testing.assert_close(call.args[0], mix_rows(rows(x, n), contract_params(SEED, n, rows(x, n))))
        weight = call.params["weight"]
        cross_entropy = mixed_reference(F.cross_entropy, call.output, step.batch[1], reduction="sum")
        reference = (cross_entropy + 0.01 * weight.abs().sum() + 0.02 * weight.pow(2).sum()) / 8
        torch.testing.assert_close(step.loss, reference)


def test_lightning_tutorial_cifar_resnet_with_functional_accuracy(fit):
    x, y = images(channels=3)
    recorder = Recorder("model")
    trainer = fit(LitResnet(), loader(x, y), callbacks=[MixupCallback(alpha=1.0, mode="elem", seed=SEED), recorder])
    accuracies = []
    for step in recorder.steps:
        _, labels = step.batch
        out = step.call("model").output
        reference = per_sample_reference(F.nll_loss, F.log_softmax(out, 1), labels)
        torch.testing.assert_close(step.loss, reference)
        accuracies.append((out.argmax(1) == dominant(labels)).float().mean())
    check_dominance_matters([step.batch[1] for step in recorder.steps])
    torch.testing.assert_close(trainer.callback_metrics["train_acc"], torch.stack(accuracies).mean())
