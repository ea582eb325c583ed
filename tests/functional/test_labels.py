import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_mixup.functional import MixedLabels, MixedLabelsError


def make(lam=(0.7, 0.2, 1.0, 0.5)):
    y_a = torch.tensor([0, 1, 2, 1])
    y_b = torch.tensor([2, 1, 0, 0])
    return MixedLabels(y_a, y_b, torch.tensor(lam)), y_a, y_b


def hand_loss(logits, y_a, y_b, lam, **kwargs):
    per_a = F.cross_entropy(logits, y_a, reduction="none", **kwargs)
    per_b = F.cross_entropy(logits, y_b, reduction="none", **kwargs)
    return lam * per_a + (1 - lam) * per_b


def test_cross_entropy_is_the_mixup_loss():
    labels, y_a, y_b = make()
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    expected = hand_loss(logits, y_a, y_b, labels.lam)
    torch.testing.assert_close(F.cross_entropy(logits, labels), expected.mean())
    torch.testing.assert_close(F.cross_entropy(logits, labels, reduction="sum"), expected.sum())
    torch.testing.assert_close(F.cross_entropy(logits, labels, reduction="none"), expected)
    torch.testing.assert_close(nn.CrossEntropyLoss()(logits, labels), expected.mean())
    F.cross_entropy(logits, labels).backward()
    assert logits.grad is not None


def test_nll_loss_and_label_smoothing():
    labels, y_a, y_b = make()
    logp = torch.log_softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(1)), 1)
    torch.testing.assert_close(F.nll_loss(logp, labels), hand_loss(logp, y_a, y_b, labels.lam).mean())
    smooth = MixedLabels(y_a, y_b, labels.lam, label_smoothing=0.1)
    expected = hand_loss(logp, y_a, y_b, labels.lam, label_smoothing=0.1).mean()
    torch.testing.assert_close(F.cross_entropy(logp, smooth), expected)
    torch.testing.assert_close(F.nll_loss(logp, smooth), expected)


def test_lambda_one_reduces_to_plain_cross_entropy_with_weights_and_ignore_index():
    y = torch.tensor([0, -100, 2, 1])
    labels = MixedLabels(y, torch.tensor([2, 1, -100, 0]), torch.ones(4))
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    weight = torch.tensor([1.0, 2.0, 0.5])
    torch.testing.assert_close(
        F.cross_entropy(logits, labels, weight=weight), F.cross_entropy(logits, y, weight=weight)
    )
    torch.testing.assert_close(F.cross_entropy(logits, labels), F.cross_entropy(logits, y))


def test_weighted_mean_divides_by_lambda_weighted_target_weights():
    labels, y_a, y_b = make()
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(3))
    weight = torch.tensor([1.0, 2.0, 0.5])
    numerator = hand_loss(logits, y_a, y_b, labels.lam, weight=weight).sum()
    denominator = (labels.lam * weight[y_a] + (1 - labels.lam) * weight[y_b]).sum()
    torch.testing.assert_close(F.cross_entropy(logits, labels, weight=weight), numerator / denominator)


def test_segmentation_shaped_labels_broadcast_lambda():
    g = torch.Generator().manual_seed(4)
    y_a, y_b = torch.randint(3, (2, 4, 4), generator=g), torch.randint(3, (2, 4, 4), generator=g)
    lam = torch.tensor([0.3, 0.9])
    logits = torch.randn(2, 3, 4, 4, generator=g)
    expected = (
        lam.view(2, 1, 1) * F.cross_entropy(logits, y_a, reduction="none")
        + (1 - lam.view(2, 1, 1)) * F.cross_entropy(logits, y_b, reduction="none")
    ).mean()
    torch.testing.assert_close(F.cross_entropy(logits, MixedLabels(y_a, y_b, lam)), expected)


def test_metadata_and_conversions_keep_the_pair():
    labels, _, _ = make()
    assert labels.shape == (4,) and labels.ndim == 1 and labels.size(0) == 4 and len(labels) == 4
    assert labels.dtype == torch.long and labels.device.type == "cpu" and labels.numel() == 4
    for converted in (labels.long(), labels.to("cpu"), labels.view(-1), labels.detach(), labels.clone()):
        assert isinstance(converted, MixedLabels)
        assert torch.equal(converted.y_b, labels.y_b) and torch.equal(converted.lam, labels.lam)
    column = MixedLabels(labels.y_a[:, None], labels.y_b[:, None], labels.lam)
    assert isinstance(column.squeeze(1), MixedLabels)
    assert "MixedLabels(y_a=" in repr(labels) and f"{labels}".startswith("MixedLabels")
    for restored in (pickle.loads(pickle.dumps(labels)), copy.deepcopy(labels)):
        assert isinstance(restored, MixedLabels) and torch.equal(restored.lam, labels.lam)


@pytest.mark.parametrize(
    "op",
    [
        lambda y: y == 1,
        lambda y: F.one_hot(y, 3),
        lambda y: y.float(),
        lambda y: y[0],
        lambda y: F.mse_loss(torch.zeros(4), y),
        lambda y: y.to(torch.float32),
    ],
)
def test_value_reading_ops_raise_with_advice(op):
    labels, _, _ = make()
    with pytest.raises(MixedLabelsError, match="is not defined on mixed labels.*MixupAccuracy"):
        op(labels)


def test_mix_loss_for_any_loss():
    labels, y_a, y_b = make()
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(5))
    expected = labels.lam * F.multi_margin_loss(logits, y_a, reduction="none") + (1 - labels.lam) * F.multi_margin_loss(
        logits, y_b, reduction="none"
    )
    torch.testing.assert_close(labels.mix_loss(F.multi_margin_loss, logits), expected.mean())
    torch.testing.assert_close(labels.mix_loss(F.multi_margin_loss, logits, reduction="sum"), expected.sum())


def test_errors():
    labels, y_a, y_b = make()
    logits = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="Label smoothing would be applied twice"):
        F.cross_entropy(logits, MixedLabels(y_a, y_b, labels.lam, 0.1), label_smoothing=0.1)
    with pytest.raises(ValueError, match="Expected argument `reduction` to be one of"):
        F.cross_entropy(logits, labels, reduction="avg")
    with pytest.raises(TypeError, match="deprecated `size_average`/`reduce`"):
        F.cross_entropy(logits, labels, size_average=True)
    with pytest.raises(ValueError, match="Label smoothing with class weights is only supported by F.cross_entropy"):
        F.nll_loss(logits, MixedLabels(y_a, y_b, labels.lam, 0.1), weight=torch.ones(3))
    with pytest.raises(TypeError, match="Expected argument `y_a` to be an integer label tensor, but got torch.float32"):
        MixedLabels(torch.zeros(4), y_b, labels.lam)
    with pytest.raises(ValueError, match=r"Expected `y_a` and `y_b` of the same shape"):
        MixedLabels(y_a, y_b[:3], labels.lam)
    with pytest.raises(ValueError, match=r"Expected argument `lam` of shape \(4,\)"):
        MixedLabels(y_a, y_b, torch.ones(3))
    with pytest.raises(TypeError, match="Mixed labels must be the `target` of F.cross_entropy"):
        F.cross_entropy(labels, torch.zeros(4, dtype=torch.long))


def test_fast_and_general_paths_agree_with_ignored_labels():
    # no class weights takes the one-log-softmax path; all-ones weights take the two-cross-entropy path
    labels = MixedLabels(
        torch.tensor([0, -100, 2, 1]), torch.tensor([2, 1, -100, -100]), torch.tensor([0.3, 0.6, 0.8, 1.0])
    )
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(6))
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(
            F.cross_entropy(logits, labels, reduction=reduction),
            F.cross_entropy(logits, labels, weight=torch.ones(3), reduction=reduction),
        )


def test_mix_loss_routes_cross_entropy_through_the_mixed_labels():
    # at λ = 1 the mixin's loss helper must equal torch, with smoothing and class weights
    y = torch.tensor([0, 1, 2, 1])
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(7))
    weight = torch.tensor([1.0, 2.0, 0.5])
    smooth = MixedLabels(y, y, torch.ones(4), label_smoothing=0.1)
    torch.testing.assert_close(
        smooth.mix_loss(F.cross_entropy, logits), F.cross_entropy(logits, y, label_smoothing=0.1)
    )
    plain = MixedLabels(y, y, torch.ones(4))
    torch.testing.assert_close(
        plain.mix_loss(F.cross_entropy, logits, weight=weight), F.cross_entropy(logits, y, weight=weight)
    )
    with pytest.raises(MixedLabelsError, match="only F.cross_entropy and F.nll_loss apply; `multi_margin_loss`"):
        smooth.mix_loss(F.multi_margin_loss, logits)
