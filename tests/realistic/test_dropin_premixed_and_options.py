"""Batches mixed before the callback (issue #24 item 6), and timm's ``cutmix_minmax`` and ``bce_target_thresh``."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixupCallback
from lightning_mixup.functional import mix_targets, sample_cutmix
from tests.realistic.modules.data import rows
from tests.realistic.modules.geo_segmentation import ClassificationTask, segmentation_data
from tests.realistic.modules.own_mixup import MultiLabelBCE, SoftTargetClassifier, mixup_collate, premixed_loader
from tests.realistic.recording import Recorder, contract_params, mix_rows, parts

SEED = 7


def features(n: int = 16, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 6, generator=g), torch.arange(n) % 4


def test_targets_mixed_in_the_collate_function_warn_once(fit):
    x, y = features()
    recorder = Recorder("net")
    with pytest.warns(UserWarning, match="mixed twice") as record:
        fit(SoftTargetClassifier(), premixed_loader(x, y, 4), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert sum("mixed twice" in str(w.message) for w in record) == 1
    collate = mixup_collate(4)  # the same seeded draws as the loader's
    for n, step in enumerate(recorder.steps):
        xs, ys = collate(list(zip(rows(x, n), rows(y, n), strict=True)))
        params = contract_params(SEED, n, xs)
        torch.testing.assert_close(step.call("net").args[0], mix_rows(xs, params))
        torch.testing.assert_close(step.batch[1], mix_rows(ys, params))
        torch.testing.assert_close(step.loss, F.cross_entropy(step.call("net").output, mix_rows(ys, params)))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_one_hot_and_smoothed_targets_do_not_warn(fit, smoothing):
    x, y = features()
    loader = premixed_loader(x, y, 4, alpha=0.0, smoothing=smoothing)
    recorder = Recorder("net")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*mixed twice")
        fit(SoftTargetClassifier(), loader, callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    for step in recorder.steps:
        assert bool((step.batch[1].max(1).values < 1 - smoothing).any())  # the callback did mix them


def test_cutmix_minmax_box_sides_from_the_range_and_the_loss(fit):
    x, m = segmentation_data()
    y = m[:, 0, 0]
    options = {"alpha": 0.0, "cutmix_alpha": 1.0, "cutmix_minmax": (0.25, 0.75)}
    recorder = Recorder("model")
    data = DataLoader([{"image": x[i], "label": y[i]} for i in range(16)], batch_size=8)
    fit(ClassificationTask("ce"), data, callbacks=[MixupCallback(seed=SEED, **options), recorder])
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(x, n), **options)
        top, bottom, left, right = params.boxes[0].tolist()
        assert 2 <= bottom - top < 6 and 2 <= right - left < 6  # [int(8·0.25), int(8·0.75))
        lam = 1 - (bottom - top) * (right - left) / 64
        torch.testing.assert_close(float(params.lam[0]), lam)
        pasted = rows(x, n).clone()
        pasted[:, :, top:bottom, left:right] = rows(x, n)[params.index][:, :, top:bottom, left:right]
        torch.testing.assert_close(step.call("model").args[0], pasted)
        y_a, y_b, _ = parts(step.batch["label"])
        logits = step.call("model").output
        torch.testing.assert_close(
            step.loss, lam * F.cross_entropy(logits, y_a) + (1 - lam) * F.cross_entropy(logits, y_b)
        )


def test_cutmix_minmax_draws_cover_the_range():
    g = torch.Generator().manual_seed(0)
    params = sample_cutmix(400, (10, 20), alpha=1.0, mode="elem", minmax=(0.2, 0.6), generator=g)
    top, bottom, left, right = params.boxes.unbind(1)
    assert set((bottom - top).tolist()) == set(range(2, 6)) and set((right - left).tolist()) == set(range(4, 12))
    assert bool((top >= 0).all() & (bottom <= 10).all() & (left >= 0).all() & (right <= 20).all())
    torch.testing.assert_close(params.lam, 1 - ((bottom - top) * (right - left)).float() / 200)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cutmix_minmax": (0.2, 0.5)}, r"`cutmix_alpha` > 0 with cutmix_minmax"),
        ({"cutmix_alpha": 1.0, "cutmix_minmax": (0.6, 0.5)}, r"`cutmix_minmax` to be None or a pair \(lo, hi\)"),
        ({"bce_target_thresh": 0.2}, r"target_mode='soft' with bce_target_thresh=0.2"),
        ({"target_mode": "soft", "bce_target_thresh": 1.0}, r"Expected argument `bce_target_thresh`"),
    ],
)
def test_option_checks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixupCallback(**kwargs)


def test_bce_target_thresh_binarises_the_soft_targets(fit):
    x, y = features()
    options = {"alpha": 1.0, "target_mode": "soft", "num_classes": 4, "label_smoothing": 0.1}
    recorder = Recorder("net")
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    fit(MultiLabelBCE(), loader, callbacks=[MixupCallback(seed=SEED, bce_target_thresh=0.2, **options), recorder])
    for n, step in enumerate(recorder.steps):
        params = contract_params(SEED, n, rows(x, n))
        soft = mix_targets(rows(y, n), params, num_classes=4, label_smoothing=0.1)
        expected = (soft > 0.2).float()
        torch.testing.assert_close(step.batch[1], expected)
        torch.testing.assert_close(step.loss, F.binary_cross_entropy_with_logits(step.call("net").output, expected))


def test_cutmix_minmax_samples_left_out_by_prob_keep_their_image():
    g = torch.Generator().manual_seed(1)
    params = sample_cutmix(64, (8, 8), alpha=1.0, mode="elem", prob=0.5, minmax=(0.5, 1.0), generator=g)
    top, bottom, left, right = params.boxes.unbind(1)
    empty = (bottom == top) | (right == left)
    assert bool(empty.any()) and bool((~empty).any())
    torch.testing.assert_close(params.lam[empty], torch.ones(int(empty.sum())))
    assert bool(((bottom - top)[~empty] >= 4).all())  # int(8 · 0.5): a drawn box is never below the range
