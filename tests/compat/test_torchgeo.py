"""torchgeo's own trainers under ``MixupCallback``: ClassificationTask, MultiLabelClassificationTask and
SemanticSegmentationTask (CE with ``ignore_index`` and class weights, BCE, Jaccard and focal losses), at random init.

Batches are torchgeo's dicts, ``{"image", "label"}`` for classification and ``{"image", "mask"}`` for segmentation.
Each test recomputes the task's own criterion on the recorded logits (the output of the task's ``model``).

smp's losses show the contract of ``F.one_hot`` on mixed labels (issue #24 item 4): its JaccardLoss one-hot encodes
them and gets mixup's soft targets ỹ = λ·onehot(y_a) + (1-λ)·onehot(y_b), so its loss is the soft Jaccard of ỹ (checked
against a plain-tensor Jaccard of ỹ), not λ·J(y_a) + (1-λ)·J(y_b); its FocalLoss compares ``y == c`` and is refused.
For both, ``y.mix_loss(criterion, output, reduction=None)`` (the route the refusal names) gives the exact
λ-combination: :class:`MixLossRoute` puts it in place of the task's criterion.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torchgeo.trainers")

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchgeo.trainers import ClassificationTask, MultiLabelClassificationTask, SemanticSegmentationTask

from lightning_mixup import MixedLabels, MixedLabelsError, MixupCallback
from tests.compat._common import SEED, Recorder, contract_params, dict_loader, generator, mixed, parts, rows

PACKAGE = "torchgeo"


def images(n: int = 16, classes: int = 4, size: int = 32):
    g = generator(0)
    x = torch.rand(n, 3, size, size, generator=g)
    return x, torch.randint(classes, (n,), generator=g), torch.randint(classes, (n, size, size), generator=g)


def train(fit, task, loader, **callback):
    recorder = Recorder("model")
    fit(task, loader, val=loader, limit_val_batches=1, callbacks=[MixupCallback(seed=SEED, **callback), recorder])
    assert len(recorder.steps) == 2
    return recorder.steps


class MixLossRoute(nn.Module):
    """A task's criterion the way the refusal and the docs say: ``y.mix_loss(criterion, output, reduction=None)``.

    On a training batch's mixed labels; plain labels (validation) go to the criterion itself.
    """

    def __init__(self, criterion: nn.Module) -> None:
        super().__init__()
        self.criterion = criterion

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        if isinstance(target, MixedLabels):
            return target.mix_loss(self.criterion, output, reduction=None)
        return self.criterion(output, target)


def soft_targets(labels, num_classes: int) -> Tensor:
    """Mixup's own target ỹ = λ·onehot(y_a) + (1-λ)·onehot(y_b), classes last, from the recorded parts."""
    y_a, y_b, lam = parts(labels)
    lam = lam.unsqueeze(-1)
    return lam * F.one_hot(y_a, num_classes).float() + (1 - lam) * F.one_hot(y_b, num_classes).float()


def soft_jaccard_loss(logits: Tensor, target: Tensor, classes: list[int] | None = None) -> Tensor:
    """smp's multiclass ``JaccardLoss`` (from logits, smooth 0, eps 1e-7) on class-probability targets, by hand.

    ``logits`` ``(B, C, ...)``, ``target`` ``(B, ..., C)``. smp flattens to ``(B, C, N)``, scores each class over the
    batch and the pixels with its Tversky form ``I / (I + FP + FN)`` where ``I = (ΣP + ΣT - Σ|P - T|) / 2``, which is
    the fuzzy-set ``Σ min(P, T) / Σ max(P, T)``; a class with no target mass counts 0, then ``classes`` are kept
    (torchgeo's ``ignore_index``) and averaged.
    """
    b, c = logits.shape[:2]
    prob = logits.softmax(1).reshape(b, c, -1)
    target = target.reshape(b, -1, c).permute(0, 2, 1)
    score = torch.minimum(prob, target).sum((0, 2)) / torch.maximum(prob, target).sum((0, 2)).clamp_min(1e-7)
    loss = (1 - score) * (target.sum((0, 2)) > 0).float()
    return (loss if classes is None else loss[classes]).mean()


@pytest.mark.verdict(
    package=PACKAGE, module="ClassificationTask (multiclass)", loss="ce, class weights", expected="exact"
)
def test_classification_cross_entropy_with_class_weights(fit):
    x, y, _ = images()
    weights = [1.0, 2.0, 0.5, 1.5]
    task = ClassificationTask(model="resnet10t", num_classes=4, loss="ce", class_weights=weights)
    steps = train(fit, task, dict_loader(image=x, label=y), alpha=1.0)
    for n, step in enumerate(steps):
        labels = step.batch["label"]
        torch.testing.assert_close(parts(labels)[0], rows(y, n))
        torch.testing.assert_close(parts(labels)[1], rows(y, n)[contract_params(SEED, n, rows(x, n)).index])
        logits = step.call("model").output
        reference = mixed(lambda o, t: F.cross_entropy(o, t, weight=torch.tensor(weights)), logits, labels)
        torch.testing.assert_close(step.loss, reference)


@pytest.mark.verdict(
    package=PACKAGE,
    module="MultiLabelClassificationTask",
    loss="bce",
    expected="exact",
    note="`y.float()` gives the mixed multi-hot targets; BCE is linear in them",
)
def test_multilabel_bce(fit):
    x, _, _ = images()
    y = (torch.rand(16, 5, generator=generator(3)) > 0.5).long()
    with pytest.warns(
        DeprecationWarning, match="ClassificationTask"
    ):  # torchgeo 0.8 deprecates it for ClassificationTask(task="multilabel")
        task = MultiLabelClassificationTask(model="resnet10t", num_classes=5, loss="bce")
    steps = train(fit, task, dict_loader(image=x, label=y), alpha=1.0)
    for step in steps:
        logits = step.call("model").output
        reference = mixed(F.binary_cross_entropy_with_logits, logits, step.batch["label"], prepare=lambda t: t.float())
        torch.testing.assert_close(step.loss, reference)


@pytest.mark.verdict(package=PACKAGE, module="ClassificationTask (multilabel)", loss="bce", expected="exact")
def test_classification_task_multilabel_bce(fit):
    x, _, _ = images()
    y = (torch.rand(16, 5, generator=generator(4)) > 0.5).long()
    task = ClassificationTask(model="resnet10t", task="multilabel", num_labels=5, loss="bce")
    steps = train(fit, task, dict_loader(image=x, label=y), alpha=1.0, mode="elem")
    for step in steps:
        logits, labels = step.call("model").output, step.batch["label"]
        y_a, y_b, lam = parts(labels)
        # per-sample λ: the mean over samples and labels of λ_i·l(y_a) + (1-λ_i)·l(y_b)
        loss_a = F.binary_cross_entropy_with_logits(logits, y_a.float(), reduction="none")
        loss_b = F.binary_cross_entropy_with_logits(logits, y_b.float(), reduction="none")
        torch.testing.assert_close(step.loss, (lam * loss_a + (1 - lam) * loss_b).mean())


JACCARD_NOTE = (
    "F.one_hot gives the soft targets ỹ: the loss is smp's soft Jaccard of ỹ, not the λ-combination (checked by hand "
    "on ỹ); exact with `y.mix_loss(criterion, output, reduction=None)`"
)
FOCAL_NOTE = (
    "it compares `y == c` per class: the refusal names that comparison and `y.mix_loss(criterion, output, "
    "reduction=None)`, which is exact (next row)"
)
# the refusal of a loss built from `y == c` reads, and the route it names
FOCAL_REFUSAL = r"never reached a loss.*`y == c` per class.*y\.mix_loss\(criterion, output, reduction=None\)"


def check_soft_jaccard(steps, key: str, criterion: nn.Module, classes: list[int] | None = None) -> None:
    """The loss is smp's Jaccard of ỹ (by hand), and it is not the λ-combination of the two Jaccard losses."""
    for step in steps:
        logits, labels = step.call("model").output, step.batch[key]
        torch.testing.assert_close(step.loss, soft_jaccard_loss(logits, soft_targets(labels, 4), classes))
        assert not torch.allclose(step.loss, mixed(criterion, logits, labels), atol=1e-4, rtol=0)


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationTask (multiclass)",
    loss="jaccard (smp)",
    expected="documented behaviour",
    note=JACCARD_NOTE,
)
def test_classification_jaccard(fit):
    x, y, _ = images()
    task = ClassificationTask(model="resnet10t", num_classes=4, loss="jaccard")
    steps = train(fit, task, dict_loader(image=x, label=y), alpha=1.0)
    check_soft_jaccard(steps, "label", smp.losses.JaccardLoss(mode="multiclass"))


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationTask (multiclass)",
    loss="jaccard (smp) through `y.mix_loss(..., reduction=None)`",
    expected="exact",
    note="the task's criterion wrapped in `y.mix_loss(criterion, output, reduction=None)`",
)
def test_classification_jaccard_mix_loss_route(fit):
    x, y, _ = images()
    task = ClassificationTask(model="resnet10t", num_classes=4, loss="jaccard")
    criterion = task.criterion
    task.criterion = MixLossRoute(criterion)
    for step in train(fit, task, dict_loader(image=x, label=y), alpha=1.0):
        torch.testing.assert_close(step.loss, mixed(criterion, step.call("model").output, step.batch["label"]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationTask (multiclass)",
    loss="focal (smp)",
    expected="clear refusal",
    note=FOCAL_NOTE,
)
def test_classification_focal(fit):
    x, y, _ = images()
    task = ClassificationTask(model="resnet10t", num_classes=4, loss="focal")
    with pytest.raises(MixedLabelsError, match=FOCAL_REFUSAL):
        train(fit, task, dict_loader(image=x, label=y), alpha=1.0)


@pytest.mark.verdict(
    package=PACKAGE,
    module="ClassificationTask (multiclass)",
    loss="focal (smp) through `y.mix_loss(..., reduction=None)`",
    expected="exact",
    note="the refusal's route: the task's criterion wrapped in `y.mix_loss(criterion, output, reduction=None)`",
)
def test_classification_focal_mix_loss_route(fit):
    x, y, _ = images()
    task = ClassificationTask(model="resnet10t", num_classes=4, loss="focal")
    task.criterion = MixLossRoute(task.criterion)
    criterion = smp.losses.FocalLoss(mode="multiclass", normalized=True)  # an independent instance for the reference
    for step in train(fit, task, dict_loader(image=x, label=y), alpha=1.0):
        torch.testing.assert_close(step.loss, mixed(criterion, step.call("model").output, step.batch["label"]))


def segmentation(loss: str, **kwargs):
    return SemanticSegmentationTask(model="unet", backbone="resnet18", num_classes=4, loss=loss, **kwargs)


@pytest.mark.verdict(
    package=PACKAGE,
    module="SemanticSegmentationTask (unet)",
    loss="ce, ignore_index",
    expected="exact",
    note="with no input_key/target_key: the `mask` key is detected",
)
def test_segmentation_mask_key_detected(fit):
    x, _, m = images()
    steps = train(fit, segmentation("ce", ignore_index=0), dict_loader(image=x, mask=m), alpha=1.0)
    for step in steps:
        reference = mixed(
            lambda o, t: F.cross_entropy(o, t, ignore_index=0), step.call("model").output, step.batch["mask"]
        )
        torch.testing.assert_close(step.loss, reference)


@pytest.mark.verdict(
    package=PACKAGE,
    module="SemanticSegmentationTask (unet)",
    loss="ce, ignore_index, weights",
    expected="exact",
    note="with target_key='mask'",
)
def test_segmentation_cross_entropy_ignore_index(fit):
    x, _, m = images()
    weights = [1.0, 0.5, 2.0, 1.0]
    task = segmentation("ce", ignore_index=0, class_weights=weights)
    steps = train(fit, task, dict_loader(image=x, mask=m), alpha=1.0, target_key="mask")
    for n, step in enumerate(steps):
        masks = step.batch["mask"]
        torch.testing.assert_close(parts(masks)[0], rows(m, n))
        assert bool((parts(masks)[0] == 0).any())  # ignored pixels are in the batch
        loss = lambda o, t: F.cross_entropy(o, t, ignore_index=0, weight=torch.tensor(weights))  # noqa: E731
        torch.testing.assert_close(step.loss, mixed(loss, step.call("model").output, masks))


@pytest.mark.verdict(
    package=PACKAGE,
    module="SemanticSegmentationTask (unet)",
    loss="jaccard (smp), ignore_index",
    expected="documented behaviour",
    note="with target_key='mask'; torchgeo passes `classes` without the ignored one. " + JACCARD_NOTE,
)
def test_segmentation_jaccard(fit):
    x, _, m = images()
    task = segmentation("jaccard", ignore_index=0)
    steps = train(fit, task, dict_loader(image=x, mask=m), alpha=1.0, target_key="mask")
    check_soft_jaccard(steps, "mask", smp.losses.JaccardLoss(mode="multiclass", classes=[1, 2, 3]), classes=[1, 2, 3])


@pytest.mark.verdict(
    package=PACKAGE,
    module="SemanticSegmentationTask (unet)",
    loss="jaccard (smp), ignore_index, through `y.mix_loss(..., reduction=None)`",
    expected="exact",
    note="with target_key='mask'; the task's criterion wrapped in `y.mix_loss(criterion, output, reduction=None)`",
)
def test_segmentation_jaccard_mix_loss_route(fit):
    x, _, m = images()
    task = segmentation("jaccard", ignore_index=0)
    task.criterion = MixLossRoute(task.criterion)
    criterion = smp.losses.JaccardLoss(mode="multiclass", classes=[1, 2, 3])
    for step in train(fit, task, dict_loader(image=x, mask=m), alpha=1.0, target_key="mask"):
        torch.testing.assert_close(step.loss, mixed(criterion, step.call("model").output, step.batch["mask"]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="SemanticSegmentationTask (unet)",
    loss="focal (smp), ignore_index",
    expected="clear refusal",
    note="with target_key='mask'; " + FOCAL_NOTE,
)
def test_segmentation_focal(fit):
    x, _, m = images()
    with pytest.raises(MixedLabelsError, match=FOCAL_REFUSAL):
        train(fit, segmentation("focal", ignore_index=0), dict_loader(image=x, mask=m), alpha=1.0, target_key="mask")


@pytest.mark.verdict(
    package=PACKAGE,
    module="SemanticSegmentationTask (unet)",
    loss="focal (smp), ignore_index, through `y.mix_loss(..., reduction=None)`",
    expected="exact",
    note="with target_key='mask'; the refusal's route, the task's criterion wrapped in `y.mix_loss(...)`",
)
def test_segmentation_focal_mix_loss_route(fit):
    x, _, m = images()
    task = segmentation("focal", ignore_index=0)
    task.criterion = MixLossRoute(task.criterion)
    criterion = smp.losses.FocalLoss(mode="multiclass", ignore_index=0, normalized=True)
    for n, step in enumerate(train(fit, task, dict_loader(image=x, mask=m), alpha=1.0, target_key="mask")):
        assert bool((rows(m, n) == 0).any())  # ignored pixels are in the batch
        torch.testing.assert_close(step.loss, mixed(criterion, step.call("model").output, step.batch["mask"]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="SemanticSegmentationTask (unet)",
    loss="ce, CutMix",
    expected="exact",
    note="with target_key='mask'; the reference pastes the partner's mask",
)
def test_segmentation_cutmix_pastes_the_mask(fit):
    x, _, m = images()
    steps = train(fit, segmentation("ce"), dict_loader(image=x, mask=m), alpha=0.0, cutmix_alpha=1.0, target_key="mask")
    for n, step in enumerate(steps):
        params = contract_params(SEED, n, rows(x, n), alpha=0.0, cutmix_alpha=1.0)
        assert params.boxes is not None
        pasted, pasted_x = rows(m, n).clone(), rows(x, n).clone()
        for i, (top, bottom, left, right) in enumerate(params.boxes.tolist()):
            pasted[i, top:bottom, left:right] = rows(m, n)[params.index[i], top:bottom, left:right]
            pasted_x[i, :, top:bottom, left:right] = rows(x, n)[params.index[i], :, top:bottom, left:right]
        torch.testing.assert_close(step.call("model").args[0], pasted_x)  # the images are pasted alike
        torch.testing.assert_close(step.loss, F.cross_entropy(step.call("model").output, pasted))
