import math

import pytest
import torch

from lightning_mixup.functional import MixParams
from lightning_mixup.functional.discriminator import apply_discriminator_mix
from lightning_mixup.gan import generator_loss, mlp, soft_label_loss


def _bce(logit: float, label: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(label * math.log(p) + (1 - label) * math.log(1 - p))


def _linear_discriminator() -> torch.nn.Module:
    d = mlp(2, 1, hidden=1, depth=0)  # logit = x0 + 2 x1 - 1
    with torch.no_grad():
        d[0].weight.copy_(torch.tensor([[1.0, 2.0]]))
        d[0].bias.fill_(-1.0)
    return d


REAL = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
FAKE = torch.tensor([[0.0, 0.0], [2.0, 2.0]])


def test_paper_form_loss_by_hand():
    # mixed_0 = 0.25 real_0 + 0.75 fake_0 = (0.25, 0), label 0.25, logit -0.75
    # mixed_1 = 0.5 real_1 + 0.5 fake_1 = (1, 1.5), label 0.5, logit 3
    params = MixParams(lam=torch.tensor([0.25, 0.5]), index=torch.tensor([2, 3]))
    inputs, labels = apply_discriminator_mix(REAL, FAKE, params)
    loss = soft_label_loss(_linear_discriminator()(inputs).squeeze(-1), labels)
    expected = (_bce(-0.75, 0.25) + _bce(3.0, 0.5)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_shuffle_form_loss_by_hand():
    # cat([real, fake]) = r0, r1, f0, f1 with labels 1, 1, 0, 0; partners index = (2, 0, 3, 1)
    params = MixParams(lam=torch.tensor([0.5, 1.0, 0.0, 0.25]), index=torch.tensor([2, 0, 3, 1]))
    inputs, labels = apply_discriminator_mix(REAL, FAKE, params)
    # 0: 0.5 r0 + 0.5 f0 = (0.5, 0), y 0.5 | 1: r1, y 1 | 2: f1 = (2, 2), y 0
    # 3: 0.25 f1 + 0.75 r1 = (0.5, 1.25), y 0.75
    expected_logits = [-0.5, 1.0, 5.0, 2.0]
    expected = sum(_bce(z, y) for z, y in zip(expected_logits, [0.5, 1.0, 0.0, 0.75], strict=True)) / 4
    loss = soft_label_loss(_linear_discriminator()(inputs).squeeze(-1), labels)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_unmixed_bce_is_the_mean_over_real_and_fake():
    real, fake = torch.tensor([0.3, -1.0, 2.0]), torch.tensor([0.5, -0.2, 0.1])
    expected = sum(_bce(z, 1.0) for z in real.tolist()) + sum(_bce(z, 0.0) for z in fake.tolist())
    assert soft_label_loss(torch.cat([real, fake]), torch.tensor([1.0] * 3 + [0.0] * 3)).item() == pytest.approx(
        expected / 6, rel=1e-6
    )


def test_generator_losses_by_hand():
    fake = torch.tensor([-0.5, 1.0])
    assert generator_loss(fake).item() == pytest.approx((_bce(-0.5, 1.0) + _bce(1.0, 1.0)) / 2, rel=1e-6)
    # saturating: mean log(1 - sigmoid(z)) = -(BCE against label 0)
    expected = -(_bce(-0.5, 0.0) + _bce(1.0, 0.0)) / 2
    assert generator_loss(fake, objective="saturating").item() == pytest.approx(expected, rel=1e-6)


def test_unknown_objective_raises():
    with pytest.raises(ValueError, match=r"`objective` to be one of \('non_saturating', 'saturating'\), but got 'x'"):
        generator_loss(torch.zeros(1), objective="x")  # type: ignore[arg-type]
