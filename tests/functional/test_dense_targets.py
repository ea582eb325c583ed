"""CutMix of dense targets (segmentation masks): the images' boxes pasted into the label maps.

French et al. 2020, https://arxiv.org/abs/1906.01916: every pixel keeps the label of the image it comes from.
"""

import pytest
import torch
import torch.nn.functional as F

from lightning_mixup.functional import MixParams, apply_mix, cutmix, mix_targets, sample_cutmix, sample_mixup
from lightning_mixup.functional.apply import mix_values, paste_targets
from lightning_mixup.policy import MixupPolicy

IGNORE = 255


def reference_paste(y, params):
    """Pixel by pixel: inside sample i's box the pixel is its partner's, elsewhere its own."""
    out = y.clone()
    for i in range(y.shape[0]):
        top, bottom, left, right = params.boxes[i].tolist()
        j = int(params.index[i])
        for r in range(y.shape[-2]):
            for c in range(y.shape[-1]):
                if top <= r < bottom and left <= c < right:
                    out[i, ..., r, c] = y[j, ..., r, c]
    return out


def masks(batch, height, width, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (batch, height, width), generator=g)
    return torch.where(torch.rand(batch, height, width, generator=g) < 0.2, IGNORE, y)


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("seed", range(4))
def test_pasted_masks_equal_the_loop_reference_and_follow_the_image_pixels(mode, seed):
    batch, height, width = 6, 7, 9
    params = sample_cutmix(batch, (height, width), alpha=1.0, mode=mode, generator=torch.Generator().manual_seed(seed))
    assert params.size == (height, width)
    y = masks(batch, height, width, seed=seed)
    pasted = paste_targets(y, params)
    assert pasted.dtype == y.dtype
    assert torch.equal(pasted, reference_paste(y, params))
    # an image whose pixels name the sample they belong to: each mask pixel is from the same sample as its pixel
    ids = torch.arange(batch, dtype=torch.float32).view(-1, 1, 1, 1).expand(batch, 3, height, width)
    source = apply_mix(ids, params)[:, 0].long()
    assert torch.equal(pasted, y[source, torch.arange(height).view(-1, 1), torch.arange(width)])
    # float maps (B, C, H, W) alike, through mix_values (the policy's path for float targets)
    maps = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(mix_values(maps, params), reference_paste(maps, params))


def test_some_pixels_come_from_the_partner():
    # the parametrised test above is not vacuous: boxes are non-empty and move labels between samples
    params = sample_cutmix(6, (7, 9), alpha=1.0, mode="elem", generator=torch.Generator().manual_seed(0))
    y = masks(6, 7, 9)
    assert not torch.equal(paste_targets(y, params), y)


def test_one_hot_and_one_call_cutmix_paste_before_encoding():
    params = sample_cutmix(4, (5, 5), alpha=1.0, mode="elem", generator=torch.Generator().manual_seed(1))
    y = masks(4, 5, 5, classes=3).clamp_max(2)
    soft = mix_targets(y, params, num_classes=3, label_smoothing=0.1)
    expected = F.one_hot(reference_paste(y, params), 3).float() * 0.9 + 0.1 / 3
    torch.testing.assert_close(soft, expected)
    x = torch.rand(4, 1, 5, 5)
    mixed, targets = cutmix(x, y, alpha=1.0, num_classes=3, generator=torch.Generator().manual_seed(2))
    again = sample_cutmix(4, (5, 5), alpha=1.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(targets, F.one_hot(reference_paste(y, again), 3).float())
    assert torch.equal(mixed, reference_paste(x, again))


def test_policy_pastes_masks_and_keeps_the_area_lambda_for_class_labels():
    policy = MixupPolicy(alpha=0.0, cutmix_alpha=1.0, mode="elem")
    x = torch.rand(6, 3, 7, 9)
    params = policy.sample(x, torch.Generator().manual_seed(3))
    y = masks(6, 7, 9)
    targets = policy.targets(y, params)
    assert type(targets) is torch.Tensor  # a plain mask: every per-pixel loss sees hard labels
    assert torch.equal(targets, reference_paste(y, params))
    labels = policy.targets(torch.arange(6), params)  # classification: the kept area share
    assert torch.equal(labels.lam, params.lam) and torch.equal(labels.y_b, params.index)
    # label smoothing still reaches F.cross_entropy: λ = 1 labels that carry it
    smoothed = MixupPolicy(alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.1).targets(y, params)
    assert torch.equal(smoothed.y_a, targets) and bool((smoothed.lam == 1).all())
    logits = torch.randn(6, 4, 7, 9)
    torch.testing.assert_close(
        F.cross_entropy(logits, smoothed, ignore_index=IGNORE),
        F.cross_entropy(logits, targets, ignore_index=IGNORE, label_smoothing=0.1),
    )
    # soft targets: one-hot of the pasted mask, or its values
    soft = MixupPolicy(alpha=0.0, cutmix_alpha=1.0, target_mode="soft", num_classes=4)
    clean = y.clamp_max(3)
    torch.testing.assert_close(soft.targets(clean, params), F.one_hot(reference_paste(clean, params), 4).float())
    values = MixupPolicy(alpha=0.0, cutmix_alpha=1.0, target_mode="soft").targets(y, params)
    assert torch.equal(values, reference_paste(y, params).float())


def test_mixup_on_masks_stays_lambda_per_element():
    policy = MixupPolicy(alpha=1.0)
    params = policy.sample(torch.rand(4, 3, 5, 5), torch.Generator().manual_seed(0))
    y = masks(4, 5, 5)
    labels = policy.targets(y, params)
    assert torch.equal(labels.y_b, y[params.index])
    assert torch.equal(labels.lam, params.lam.view(-1, 1, 1).expand(4, 5, 5))


def test_dense_targets_of_another_size_are_refused():
    params = sample_cutmix(4, (8, 8), alpha=1.0, generator=torch.Generator().manual_seed(0))
    match = r"Expected dense targets \(B, ..., H, W\) of the images' spatial size \(H, W\) = \(8, 8\) under CutMix"
    with pytest.raises(ValueError, match=match):
        MixupPolicy(alpha=0.0, cutmix_alpha=1.0).targets(torch.zeros(4, 4, 4, dtype=torch.long), params)
    with pytest.raises(ValueError, match=match):
        mix_targets(torch.zeros(4, 4, 4, dtype=torch.long), params, num_classes=2)
    with pytest.raises(ValueError, match="Resize the masks to the input's size"):
        mix_values(torch.zeros(4, 2, 8, 4), params)
    no_size = MixParams(params.lam, params.index, params.boxes)
    with pytest.raises(ValueError, match=r"Expected CutMix parameters with `boxes` and `size`"):
        paste_targets(torch.zeros(4, 8, 8, dtype=torch.long), no_size)
    with pytest.raises(ValueError, match="Expected CutMix parameters with `boxes` and `size`"):
        paste_targets(torch.zeros(4, 8, 8, dtype=torch.long), sample_mixup(4, alpha=1.0))
    with pytest.raises(ValueError, match=r"Expected argument `size` to be a pair of positive ints \(H, W\) or None"):
        MixParams(params.lam, params.index, params.boxes, size=(8, 0))
    with pytest.raises(ValueError, match="Expected argument `y` to have the batch size"):
        paste_targets(torch.zeros(3, 8, 8, dtype=torch.long), params)
    with pytest.raises(ValueError, match=r"Expected argument `y` of shape \(B, ..., H, W\)"):
        paste_targets(torch.zeros(4, 8), params)
