import pytest
import torch
import torch.nn.functional as F

from lightning_mixup.functional.discriminator import (
    apply_discriminator_mix,
    mix_discriminator,
    sample_discriminator_mix,
)


def test_paper_form_matches_hand_computation():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    params = sample_discriminator_mix(5, alpha=0.5, generator=torch.Generator().manual_seed(1))
    inputs, labels = apply_discriminator_mix(real, fake, params)
    lam = params.lam[:, None]
    torch.testing.assert_close(inputs, lam * real + (1 - lam) * fake)
    torch.testing.assert_close(labels, params.lam)
    # the loss the discriminator minimises: BCE(D(λ·real + (1-λ)·fake), λ)
    logits = inputs.sum(1)
    hand = -(params.lam * F.logsigmoid(logits) + (1 - params.lam) * F.logsigmoid(-logits)).mean()
    torch.testing.assert_close(F.binary_cross_entropy_with_logits(logits, labels), hand)


def test_shuffle_form_mixes_the_concatenated_batch():
    real, fake = torch.ones(4, 1), torch.zeros(4, 1)
    inputs, labels = mix_discriminator(
        real, fake, alpha=0.3, mode="shuffle", generator=torch.Generator().manual_seed(0)
    )
    assert inputs.shape == (8, 1) and labels.shape == (8,)
    torch.testing.assert_close(inputs[:, 0], labels)  # real=1/fake=0 inputs make inputs equal labels
    params = sample_discriminator_mix(4, alpha=0.3, mode="shuffle", generator=torch.Generator().manual_seed(0))
    assert (params.lam <= 0.3).all() and sorted(params.index.tolist()) == list(range(8))


def test_inputs_not_modified():
    real, fake = torch.randn(3, 2), torch.randn(3, 2)
    before = real.clone(), fake.clone()
    mix_discriminator(real, fake, alpha=1.0)
    assert torch.equal(real, before[0]) and torch.equal(fake, before[1])


def test_errors():
    with pytest.raises(ValueError, match="Expected argument `mode` to be one of"):
        sample_discriminator_mix(2, alpha=1.0, mode="hinge")
    with pytest.raises(ValueError, match=r"Expected argument `alpha` in \[0, 1\] for mode='shuffle'"):
        sample_discriminator_mix(2, alpha=2.0, mode="shuffle")
    with pytest.raises(ValueError, match="Expected `real` and `fake` of the same shape"):
        mix_discriminator(torch.zeros(2, 2), torch.zeros(3, 2), alpha=1.0)
    with pytest.raises(TypeError, match="Expected argument `real` to be a floating-point tensor"):
        mix_discriminator(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2), alpha=1.0)
    params = sample_discriminator_mix(2, alpha=1.0)
    with pytest.raises(ValueError, match="Expected parameters for 3 or 6 samples, but got 2"):
        apply_discriminator_mix(torch.zeros(3, 1), torch.zeros(3, 1), params)
