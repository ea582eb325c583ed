import copy
import pickle
import re

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


def test_weighted_mean_is_the_lambda_weighted_sum_of_the_two_weighted_means():
    # with one λ per batch the mixed loss is exactly λ·L(y_a) + (1-λ)·L(y_b), each reduced by torch itself
    y_a, y_b = torch.tensor([0, 1, 2, 1]), torch.tensor([2, 1, 0, 0])
    labels = MixedLabels(y_a, y_b, torch.full((4,), 0.3))
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(3))
    weight = torch.tensor([1.0, 2.0, 0.5])
    expected = 0.3 * F.cross_entropy(logits, y_a, weight=weight) + 0.7 * F.cross_entropy(logits, y_b, weight=weight)
    torch.testing.assert_close(F.cross_entropy(logits, labels, weight=weight), expected)
    # per-sample λ: each side's λ-weighted sum over that side's torch denominator
    labels, y_a, y_b = make()
    numerator_a = (labels.lam * weight[y_a] * F.cross_entropy(logits, y_a, reduction="none")).sum()
    numerator_b = ((1 - labels.lam) * weight[y_b] * F.cross_entropy(logits, y_b, reduction="none")).sum()
    expected = numerator_a / weight[y_a].sum() + numerator_b / weight[y_b].sum()
    torch.testing.assert_close(F.cross_entropy(logits, labels, weight=weight), expected)


def test_sequence_labels_flattened_with_ignore_index_give_the_exact_loss():
    # Hugging Face token classification: CrossEntropyLoss()(logits.view(-1, C), labels.view(-1)), -100 on padding
    g = torch.Generator().manual_seed(8)
    y_a = torch.tensor([[0, 1, 2, -100], [1, -100, -100, -100], [2, 2, 0, 1]])
    y_b = y_a[[2, 0, 1]]
    logits = torch.randn(3, 4, 3, generator=g)
    labels = MixedLabels(y_a, y_b, torch.full((3,), 0.35))
    flat = labels.view(-1)
    assert isinstance(flat, MixedLabels) and flat.lam.shape == (12,)
    for kwargs in ({}, {"weight": torch.tensor([1.0, 2.0, 0.5])}, {"label_smoothing": 0.1}):
        loss = nn.CrossEntropyLoss(**kwargs)(logits.view(-1, 3), flat)
        expected = 0.35 * F.cross_entropy(logits.view(-1, 3), y_a.view(-1), **kwargs) + 0.65 * F.cross_entropy(
            logits.view(-1, 3), y_b.view(-1), **kwargs
        )
        torch.testing.assert_close(loss, expected)
    # causal-LM style shifted labels stay mixed: labels[..., 1:] keeps one λ per element
    shifted = labels[..., 1:].contiguous()
    assert isinstance(shifted, MixedLabels) and torch.equal(shifted.y_b, y_b[..., 1:])


def test_lambda_one_is_exact_even_when_the_partner_loss_is_infinite():
    logits = torch.tensor([[0.0, -1e30], [0.0, 0.0]])  # log p(1) = -inf for the first sample
    y_a, y_b = torch.tensor([0, 0]), torch.tensor([1, 1])
    labels = MixedLabels(y_a, y_b, torch.tensor([1.0, 0.5]))
    loss = F.cross_entropy(logits, labels, reduction="none")
    assert torch.isfinite(loss).all()
    torch.testing.assert_close(loss[0], F.cross_entropy(logits, y_a, reduction="none")[0])
    weighted = F.cross_entropy(logits, labels, weight=torch.ones(2), reduction="none")
    torch.testing.assert_close(weighted, loss)


def test_out_of_range_and_odd_dtype_labels_get_torchs_own_errors():
    logits = torch.zeros(2, 3)
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        F.cross_entropy(logits, MixedLabels(torch.tensor([0, 5]), torch.tensor([1, 1]), torch.ones(2) * 0.5))
    with pytest.raises(IndexError, match="Target -2 is out of bounds"):
        F.cross_entropy(logits, MixedLabels(torch.tensor([0, 1]), torch.tensor([-2, 1]), torch.ones(2) * 0.5))
    # uint8 labels work as they do in torch; bool labels fail as they do in torch
    y8 = MixedLabels(torch.tensor([0, 2], dtype=torch.uint8), torch.tensor([1, 1], dtype=torch.uint8), torch.ones(2))
    torch.testing.assert_close(F.cross_entropy(logits, y8), F.cross_entropy(logits, torch.tensor([0, 2])))
    yb = MixedLabels(torch.tensor([True, False]), torch.tensor([False, False]), torch.ones(2))
    with pytest.raises(RuntimeError) as plain:  # torch's own message, whatever its version says
        F.cross_entropy(logits, torch.tensor([True, False]))
    with pytest.raises(RuntimeError, match=re.escape(str(plain.value))):
        F.cross_entropy(logits, yb)
    # (B, 1) labels: torch's own message, and squeeze(1) keeps them mixed
    column = MixedLabels(torch.tensor([[0], [1]]), torch.tensor([[1], [1]]), torch.tensor([0.5, 0.5]))
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected, multi-target not supported"):
        F.cross_entropy(logits, column)
    assert isinstance(column.squeeze(1), MixedLabels)


def test_reads_outside_a_loss_see_the_dominant_label():
    labels, _, _ = make()  # λ = (0.7, 0.2, 1.0, 0.5): dominant = y_a, y_b, y_a, y_a (λ ≥ 0.5)
    dominant = torch.tensor([0, 1, 2, 1])
    assert torch.equal(labels.dominant, dominant)
    preds = torch.tensor([0, 0, 2, 0])
    assert torch.equal(preds == labels, preds == dominant)
    assert labels.tolist() == dominant.tolist()
    assert labels.cpu().numpy().tolist() == dominant.tolist()
    assert int(labels[2]) == 2 and labels[1].item() == 1
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(9), requires_grad=True)
    top2 = logits.topk(2, dim=1).indices
    assert torch.equal(top2.eq(labels.view(-1, 1)).any(1), top2.eq(dominant.view(-1, 1)).any(1))
    assert labels.tracker.reads >= 1 and not labels.tracker.consumed  # a read is not a loss


def test_torchmetrics_see_the_dominant_label():
    from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

    labels, _, _ = make()
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(10), requires_grad=True)
    for metric in (MulticlassAccuracy(num_classes=3), MulticlassF1Score(num_classes=3)):
        expected = metric.clone()(logits.detach(), labels.dominant)
        torch.testing.assert_close(metric(logits, labels), expected)


def test_float_casts_and_one_hot_give_the_mixed_targets():
    labels, y_a, y_b = make()
    lam = labels.lam
    expected = lam * y_a + (1 - lam) * y_b
    logits = torch.zeros(4, 1)
    for cast in (labels.float(), labels.to(torch.float32), labels.type_as(logits).view(-1), labels.double().float()):
        assert type(cast) is torch.Tensor and cast.is_floating_point()
        torch.testing.assert_close(cast, expected)
    one_hot = F.one_hot(labels, 3)
    torch.testing.assert_close(one_hot, lam[:, None] * F.one_hot(y_a, 3) + (1 - lam[:, None]) * F.one_hot(y_b, 3))
    assert labels.tracker.consumed
    # BCE on the cast is exactly the λ-weighted sum of the two BCE losses (BCE is linear in its target)
    binary = MixedLabels(torch.tensor([1, 0, 1]), torch.tensor([0, 0, 1]), torch.full((3,), 0.3))
    out = torch.randn(3, 1, generator=torch.Generator().manual_seed(11))
    loss = F.binary_cross_entropy_with_logits(out, binary.view(-1, 1).type_as(out))
    expected = 0.3 * F.binary_cross_entropy_with_logits(out, binary.y_a.view(-1, 1).float()) + (
        0.7 * F.binary_cross_entropy_with_logits(out, binary.y_b.view(-1, 1).float())
    )
    torch.testing.assert_close(loss, expected)
    # integer multi-hot labels (B, K), as multi-label text models cast them
    multi = MixedLabels(
        torch.tensor([[1, 0, 1], [0, 1, 0]]), torch.tensor([[0, 1, 0], [0, 1, 1]]), torch.tensor([0.25, 0.5])
    )
    torch.testing.assert_close(multi.float(), torch.tensor([[0.25, 0.75, 0.25], [0.0, 1.0, 0.5]]))
    with pytest.raises(MixedLabelsError, match="which a float cast cannot apply"):
        MixedLabels(y_a, y_b, lam, label_smoothing=0.1).float()


def test_integer_maps_of_the_labels_stay_mixed():
    labels, y_a, y_b = make()
    shifted = labels + 1
    assert isinstance(shifted, MixedLabels) and torch.equal(shifted.y_a, y_a + 1) and torch.equal(shifted.y_b, y_b + 1)
    masked = labels.masked_fill(torch.tensor([True, False, False, False]), -100)
    assert isinstance(masked, MixedLabels) and masked.y_b[0] == -100
    table = torch.tensor([10, 11, 12])
    remapped = table[labels]
    assert isinstance(remapped, MixedLabels) and torch.equal(remapped.y_b, table[y_b])
    copy_ = labels.clone()
    copy_[copy_ == 2] = 0  # in place: both sides alike
    assert not (copy_.y_a == 2).any() and not (copy_.y_b == 2).any()


def test_a_label_read_while_building_a_loss_is_refused():
    labels, _, _ = make()
    logp = torch.log_softmax(torch.randn(4, 3, requires_grad=True), 1)
    with pytest.raises(MixedLabelsError, match="`gather` reads the label values while building a loss"):
        logp.gather(1, labels.view(-1, 1))
    with pytest.raises(MixedLabelsError, match="reads the label values while building a loss"):
        labels * logp[:, 0]
    with torch.no_grad():  # the same read in a metric is fine
        assert logp.gather(1, labels.view(-1, 1)).shape == (4, 1)


@pytest.mark.parametrize(
    ("op", "match"),
    [
        (lambda y: y == 1, "`__eq__` reads the label values"),
        (lambda y: y.tolist(), "`tolist` reads the label values"),
        (lambda y: y[0].item(), "`item` reads the label values"),
        (lambda y: y.argmax(), "`argmax` reads the label values"),
    ],
)
def test_strict_label_reads_refuse_every_read(op, match):
    y_a, y_b = torch.tensor([0, 1, 2, 1]), torch.tensor([2, 1, 0, 0])
    labels = MixedLabels(y_a, y_b, torch.full((4,), 0.4), label_reads="strict")
    with pytest.raises(MixedLabelsError, match=match):
        op(labels)
    # losses, casts and shape changes still work under strict reads
    assert isinstance(labels.view(-1), MixedLabels)
    F.cross_entropy(torch.zeros(4, 3), labels)


@pytest.mark.parametrize(
    ("loss", "name"),
    [
        (lambda y: F.mse_loss(torch.zeros(4), y), "mse_loss"),
        (lambda y: F.binary_cross_entropy_with_logits(torch.zeros(4), y), "binary_cross_entropy_with_logits"),
        (lambda y: F.multi_margin_loss(torch.zeros(4, 3), y), "multi_margin_loss"),
    ],
)
def test_other_losses_are_refused_with_advice(loss, name):
    labels, _, _ = make()
    with pytest.raises(MixedLabelsError, match=f"`{name}` would see only one side.*mix_loss"):
        loss(labels)


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
    with pytest.raises(ValueError, match=r"Expected argument `lam` of shape \(4,\) or \(4,\)"):
        MixedLabels(y_a, y_b, torch.ones(3))
    with pytest.raises(TypeError, match=r"Expected argument `lam` to be a floating-point tensor, but got \[0.5, "):
        MixedLabels(y_a, y_b, [0.5] * 4)
    with pytest.raises(TypeError, match="Expected argument `lam` to be a floating-point tensor, but got a torch.int64"):
        MixedLabels(y_a, y_b, torch.ones(4, dtype=torch.long))
    with pytest.raises(ValueError, match="Expected argument `label_reads` to be one of"):
        MixedLabels(y_a, y_b, labels.lam, label_reads="maybe")
    with pytest.raises(MixedLabelsError, match="Mixed labels must be the `target` of F.cross_entropy"):
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
