"""A segmentation module trained unchanged under CutMix: the masks get the images' boxes (issue #24, item 1).

Style imitated: a small fully convolutional net on ``{"image": (B, 3, H, W), "mask": (B, H, W)}`` batches (the
dict a segmentation ``Dataset`` returns, e.g. MONAI's or segmentation_models.pytorch's examples) and
``F.cross_entropy(logits, mask, ignore_index=255)`` (255 marks unlabelled pixels, as in Pascal VOC). Under CutMix each
pixel must be scored against the label of the image it comes from (French et al. 2020,
https://arxiv.org/abs/1906.01916): the test recomputes the loss from the recorded logits and a mask pasted pixel by
pixel from the drawn boxes, and checks that the old box-area λ loss differs.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lightning_mixup import MixedLabels, MixupCallback
from tests.realistic.modules.data import BATCH, rows
from tests.realistic.recording import Recorder, contract_params

SEED = 3
IGNORE = 255
CLASSES = 4
SIZE = (12, 10)


class SegmentationNet(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, CLASSES, 1))

    def training_step(self, batch, batch_idx):
        logits = self.net(batch["image"])
        return F.cross_entropy(logits, batch["mask"], ignore_index=IGNORE)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Pairs(Dataset):
    def __init__(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        self.images, self.masks = images, masks

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "mask": self.masks[i]}


def data(n: int = 16):
    """Images whose pixels show their class (channel ``c`` lit for class ``c``; 255 pixels dark), and their masks."""
    g = torch.Generator().manual_seed(0)
    masks = torch.randint(CLASSES, (n, *SIZE), generator=g)
    masks = torch.where(torch.rand(n, *SIZE, generator=g) < 0.25, IGNORE, masks)
    lit = F.one_hot(masks.clamp_max(CLASSES), CLASSES + 1)[..., :3].permute(0, 3, 1, 2).float()
    return 4 * lit + torch.randn(n, 3, *SIZE, generator=g), masks


def pasted_by_pixel(masks: torch.Tensor, boxes: list[list[int]], index: list[int]) -> torch.Tensor:
    """Each pixel's label: its partner's inside the sample's box, its own elsewhere."""
    out = torch.empty_like(masks)
    for i in range(masks.shape[0]):
        top, bottom, left, right = boxes[i]
        for r in range(masks.shape[1]):
            for c in range(masks.shape[2]):
                inside = top <= r < bottom and left <= c < right
                out[i, r, c] = masks[index[i] if inside else i, r, c]
    return out


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_cutmix_pastes_the_masks_and_the_unchanged_step_gets_the_per_pixel_loss(fit, mode):
    images, masks = data()
    recorder = Recorder("net")
    callback = MixupCallback(alpha=0.0, cutmix_alpha=1.0, mode=mode, seed=SEED, input_key="image", target_key="mask")
    torch.manual_seed(0)  # the network's initialisation, whatever ran before
    fit(SegmentationNet(), DataLoader(Pairs(images, masks), batch_size=BATCH), callbacks=[callback, recorder])
    assert len(recorder.steps) == 2
    ignored_inside = ignored_outside = 0
    for n, step in enumerate(recorder.steps):
        x, y = rows(images, n), rows(masks, n)
        params = contract_params(SEED, n, x, alpha=0.0, cutmix_alpha=1.0, mode=mode)
        boxes, index = params.boxes.tolist(), params.index.tolist()
        expected = pasted_by_pixel(y, boxes, index)
        assert type(step.batch["mask"]) is torch.Tensor
        assert torch.equal(step.batch["mask"], expected)
        logits = step.call("net").output
        torch.testing.assert_close(step.loss, F.cross_entropy(logits, expected, ignore_index=IGNORE))
        # the old targets: every pixel of sample i weighted by its box-area λ against both images' labels
        area = MixedLabels(y, y[params.index], params.lam)
        per_pixel = F.cross_entropy(logits, expected, ignore_index=IGNORE, reduction="none")
        old_per_pixel = F.cross_entropy(logits, area, ignore_index=IGNORE, reduction="none")
        assert float((per_pixel - old_per_pixel).abs().max()) > 0.1
        moved = torch.zeros_like(y, dtype=torch.bool)
        reference = x.clone()
        for i, (top, bottom, left, right) in enumerate(boxes):
            if index[i] != i:
                moved[i, top:bottom, left:right] = True
                reference[i, :, top:bottom, left:right] = x[index[i], :, top:bottom, left:right]
        assert torch.equal(step.batch["image"], reference)  # the image pixels came from the same samples
        inside = expected != y
        assert bool(inside.any()) and bool((inside <= moved).all())
        ignored_inside += int(((expected == IGNORE) & moved).sum())
        ignored_outside += int(((expected == IGNORE) & ~moved).sum())
    # ignore_index pixels were pasted in from partners and kept outside the boxes
    assert ignored_inside > 0 and ignored_outside > 0


def test_masks_at_another_resolution_are_refused(fit):
    images, masks = data()
    callback = MixupCallback(alpha=0.0, cutmix_alpha=1.0, seed=SEED, input_key="image", target_key="mask")
    with pytest.raises(ValueError, match=r"Resize the masks to the input's size"):
        fit(SegmentationNet(), DataLoader(Pairs(images, masks[:, ::2, ::2]), batch_size=BATCH), callbacks=[callback])
