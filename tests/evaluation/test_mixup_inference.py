import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_mixup.evaluation.mixup_inference import (
    MixupInference,
    apply_mixup_inference,
    mixup_inference,
    sample_mixup_partners,
)
from tests.evaluation.conftest import make_images


@pytest.fixture
def pool():
    return make_images(n=30, seed=7)


def loop_reference(model, x, pool_x, partners, lam):
    """Mean softmax over the draws, one mixture at a time (Algorithm 1 of Pang et al. / the official loops)."""
    rows = []
    for i in range(x.shape[0]):
        total = 0
        for k in range(partners.shape[0]):
            mixed = lam * x[i] + (1 - lam) * pool_x[partners[k, i]]
            total = total + torch.softmax(model(mixed.unsqueeze(0)), dim=1)
        rows.append(total / partners.shape[0])
    return torch.cat(rows)


@pytest.mark.parametrize("variant", ["pl", "ol"])
def test_lam_one_is_the_undefended_model(cnn, images, pool, variant):
    x = images[0][:10]
    defended = MixupInference(cnn, *pool, lam=1.0, num_samples=5, variant=variant)
    out = defended(x)
    torch.testing.assert_close(out, torch.log_softmax(cnn(x), dim=1), atol=1e-6, rtol=1e-5)


def soft_model() -> nn.Module:
    """An untrained linear model: unsaturated softmax, where averaging probabilities and logits differ."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    with torch.no_grad():
        model[1].weight.mul_(8)  # logits that vary with the partner, softmax far from saturated
    return model


@pytest.mark.parametrize("variant", ["pl", "ol"])
@pytest.mark.parametrize("kind", ["trained", "untrained"])
def test_output_averages_the_drawn_mixtures(cnn, images, pool, variant, kind):
    if kind == "untrained":
        cnn = soft_model()
    x, pool_x, pool_y = images[0][:6], *pool
    defended = MixupInference(
        cnn, pool_x, pool_y, lam=0.6, num_samples=7, variant=variant, generator=torch.Generator().manual_seed(3)
    )
    out = defended(x)
    predicted = cnn(x).argmax(dim=1)
    partners = sample_mixup_partners(
        predicted, pool_y, num_samples=7, variant=variant, generator=torch.Generator().manual_seed(3)
    )
    expected = loop_reference(cnn, x, pool_x, partners, 0.6)
    torch.testing.assert_close(out.exp(), expected, atol=1e-6, rtol=1e-5)
    if kind == "untrained":  # the reference tells the softmax average from the logit average
        mixed = 0.6 * x.unsqueeze(0) + 0.4 * pool_x[partners]
        logit_mean = torch.softmax(cnn(mixed.flatten(0, 1)).reshape(7, 6, 3).mean(0), dim=1)
        assert (logit_mean - expected).abs().max() > 1e-4  # 100x the tolerance above
    # the same seed gives the same prediction; the next call draws new partners
    again = mixup_inference(
        cnn, x, pool_x, pool_y, lam=0.6, num_samples=7, variant=variant, generator=torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(again, out)
    assert not torch.allclose(defended(x), out)


def test_partner_draws_follow_the_variant():
    pool_y = torch.tensor([0] * 2 + [1] * 10 + [2] * 4 + [3] * 4)  # unbalanced pool
    predicted = torch.tensor([1, 3, 0])
    gen = torch.Generator().manual_seed(0)
    pl = sample_mixup_partners(predicted, pool_y, num_samples=4000, variant="pl", generator=gen)
    assert pl.shape == (4000, 3)
    assert (pool_y[pl] == predicted).all()
    # uniform within the class: the 10 samples of class 1 each about 1/10 of the time
    counts = torch.bincount(pl[:, 0], minlength=20)[2:12].double() / 4000
    assert (counts - 0.1).abs().max() < 0.02
    ol = sample_mixup_partners(predicted, pool_y, num_samples=6000, variant="ol", generator=gen)
    labels = pool_y[ol]
    assert (labels != predicted).all()
    # a class uniform among the other three, whatever its share of the pool (class 0 has 2 samples, class 1 ten)
    for row, pred in enumerate(predicted.tolist()):
        freq = torch.bincount(labels[:, row], minlength=4).double() / 6000
        others = [c for c in range(4) if c != pred]
        assert (freq[others] - 1 / 3).abs().max() < 0.03
    # a predicted class absent from the pool: MI-OL draws uniformly over all pool classes
    absent = sample_mixup_partners(torch.tensor([9]), pool_y, num_samples=4000, variant="ol", generator=gen)
    assert ((torch.bincount(pool_y[absent[:, 0]], minlength=4).double() / 4000 - 0.25).abs() < 0.03).all()


def test_gradient_flows_through_the_mixing(cnn, images, pool):
    x, pool_x, pool_y = images[0][:4], *pool
    y = images[1][:4]
    x1 = x.clone().requires_grad_(True)
    out = mixup_inference(cnn, x1, pool_x, pool_y, lam=0.5, num_samples=6, generator=torch.Generator().manual_seed(1))
    F.cross_entropy(out, y).backward()
    partners = sample_mixup_partners(
        cnn(x).argmax(1), pool_y, num_samples=6, variant="pl", generator=torch.Generator().manual_seed(1)
    )
    x2 = x.clone().requires_grad_(True)
    reference = loop_reference(cnn, x2, pool_x, partners, 0.5)
    F.nll_loss(reference.log(), y).backward()
    assert x1.grad is not None and x2.grad is not None
    assert x1.grad.abs().sum() > 0
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-6, rtol=1e-4)


def test_eotpgd_attacks_the_randomised_prediction(cnn, images, pool):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = images[0][:24], images[1][:24]
    defended = MixupInference(cnn, *pool, lam=0.5, num_samples=8, generator=torch.Generator().manual_seed(0)).eval()

    def defended_loss(inputs, seed):
        probe = MixupInference(cnn, *pool, lam=0.5, num_samples=32, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return F.cross_entropy(probe(inputs), y).item()

    eps = 0.3
    attack = torchattacks.EOTPGD(defended, eps=eps, alpha=0.05, steps=10, eot_iter=4, random_start=False)
    adv = attack(x, y)
    assert adv.shape == x.shape
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert not torch.equal(adv, x)
    # the adaptive attack raises the loss of the defended prediction (fresh draws, not the attack's own)
    assert defended_loss(adv, 123) > defended_loss(x, 123) + 0.1


def test_module_moves_its_pool_and_reaches_the_model(cnn, pool):
    defended = MixupInference(cnn, *pool, num_samples=2)
    assert "pool_x" not in defended.state_dict() and "model.0.weight" in defended.state_dict()
    defended.eval()
    assert not cnn.training
    defended.double()
    assert defended.pool_x.dtype == torch.float64
    assert "variant='pl', lam=0.5, num_samples=2, pool=30" in repr(defended)


def test_bad_arguments(cnn, images, pool):
    pool_x, pool_y = pool
    with pytest.raises(ValueError, match=r"Expected argument `lam` to be a float in \(0, 1\], but got 0.0"):
        MixupInference(cnn, pool_x, pool_y, lam=0.0)
    with pytest.raises(ValueError, match=r"Expected argument `lam` to be a float in \(0, 1\], but got 1.5"):
        mixup_inference(cnn, images[0], pool_x, pool_y, lam=1.5)
    with pytest.raises(ValueError, match="Expected argument `num_samples` to be an int >= 1, but got 0"):
        MixupInference(cnn, pool_x, pool_y, num_samples=0)
    with pytest.raises(ValueError, match=r"Expected argument `variant` to be one of \('pl', 'ol'\), but got 'PL'"):
        MixupInference(cnn, pool_x, pool_y, variant="PL")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`generator` to be a torch.Generator or None, but got 0"):
        MixupInference(cnn, pool_x, pool_y, generator=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`model` to be a torch.nn.Module"):
        MixupInference(lambda x: x, pool_x, pool_y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"same P >= 1, but got shapes \(30, 1, 4, 4\) and \(29,\)"):
        MixupInference(cnn, pool_x, pool_y[:-1])
    with pytest.raises(TypeError, match="`pool_y` to be an integer tensor"):
        MixupInference(cnn, pool_x, pool_y.float())
    with pytest.raises(ValueError, match="at least 2 classes for variant='ol'"):
        MixupInference(cnn, pool_x[pool_y == 0], pool_y[pool_y == 0], variant="ol")
    with pytest.raises(ValueError, match=r"`x` of shape \(B, 1, 4, 4\) to match the pool's features, but got"):
        MixupInference(cnn, pool_x, pool_y)(torch.zeros(2, 16))
    # MI-PL needs a partner of the predicted class
    only_zero = MixupInference(cnn, pool_x[pool_y == 0], pool_y[pool_y == 0], num_samples=2)
    x, y = images
    with pytest.raises(ValueError, match=r"has none of class\(es\) \[1, 2\] \(pool classes: \[0\]\)"):
        only_zero(x[y > 0])
    with pytest.raises(ValueError, match=r"`partners` of shape \(N, 2\), but got shape \(3,\)"):
        apply_mixup_inference(
            nn.Flatten(), torch.zeros(2, 3), torch.zeros(4, 3), torch.zeros(3, dtype=torch.long), lam=1
        )
