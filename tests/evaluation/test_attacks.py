import pytest
import torch
import torchattacks
from torch import nn

from lightning_mixup.evaluation import AttackModel, AttackSuite, RobustnessEvaluator, fgsm_eps_sweep
from lightning_mixup.evaluation.attacks import as_attack_input, seeded_rng

EPS8 = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]


def test_fgsm_sweep_is_bitwise_torchattacks_per_eps(cnn, images):
    x, y = images
    # boundary pixels (exact 0 and 1) are in the data: the recovered sign is 0 there when the gradient points out
    assert bool((x == 0).any() and (x == 1).any())
    sweep = fgsm_eps_sweep(torchattacks.FGSM(cnn, eps=max(EPS8)), x, y, EPS8)
    for eps, adv in zip(EPS8, sweep, strict=True):
        reference = torchattacks.FGSM(cnn, eps=eps)(x, y)
        assert torch.equal(adv, reference), eps
    # a reference ε outside the grid works as well
    other = fgsm_eps_sweep(torchattacks.FGSM(cnn, eps=0.37), x, y, EPS8)
    assert all(torch.equal(a, b) for a, b in zip(other, sweep, strict=True))


def test_fgsm_sweep_recovers_sign_where_not_clamped(cnn, images):
    x, y = images
    x = x.clone().requires_grad_(True)
    loss = nn.CrossEntropyLoss()(cnn(x), y)
    sign = torch.autograd.grad(loss, x)[0].sign()
    x = x.detach()
    adv = fgsm_eps_sweep(torchattacks.FGSM(cnn, eps=1.0), x, y, [0.01])[0]
    interior = (x > 0.01) & (x < 0.99)
    assert torch.equal(((adv - x) / 0.01).round()[interior], sign[interior])


def test_fgsm_sweep_errors(cnn, images):
    x, y = images
    with pytest.raises(TypeError, match="Expected argument `attack` to be a torchattacks.FGSM"):
        fgsm_eps_sweep(torchattacks.PGD(cnn, eps=0.1), x, y, [0.1])
    with pytest.raises(ValueError, match="finite non-negative floats"):
        fgsm_eps_sweep(torchattacks.FGSM(cnn, eps=0.1), x, y, [-0.1])
    with pytest.raises(ValueError, match="reference `eps` to be at least the machine epsilon"):
        fgsm_eps_sweep(torchattacks.FGSM(cnn, eps=1e-9), x, y, [0.1])


def test_attack_model_normalises_and_reshapes():
    net = nn.Flatten()
    model = AttackModel(net, normalize_mean=[0.5, 0.25], normalize_std=[0.5, 0.25])
    model.sample_shape = (2,)
    x = torch.tensor([[0.5, 0.75]])
    assert torch.allclose(model(as_attack_input(x)), torch.tensor([[0.0, 2.0]]))
    with pytest.raises(ValueError, match="both `normalize_mean` and `normalize_std`"):
        AttackModel(net, normalize_mean=[0.5])
    with pytest.raises(ValueError, match="same non-zero length with finite std > 0"):
        AttackModel(net, normalize_mean=[0.5], normalize_std=[0.5, 0.5])
    with pytest.raises(ValueError, match="same non-zero length with finite std > 0"):
        AttackModel(net, normalize_mean=[0.5], normalize_std=[0.0])
    with pytest.raises(TypeError, match="Expected argument `model` to be a torch.nn.Module"):
        AttackModel(lambda x: x)  # type: ignore[arg-type]
    model.sample_shape = (3,)
    with pytest.raises(ValueError, match="Expected inputs with 2 channels"):
        model(torch.zeros(1, 3))


def test_tabular_inputs_respect_the_norm_balls():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    model = AttackModel(net)
    x, y = torch.rand(12, 5), torch.randint(3, (12,))
    model.sample_shape = (5,)
    suite = AttackSuite(model, torch.device("cpu"), fgsm_eps=[0.2], pgd_eps=[0.2], pgdl2_eps=[0.0, 0.3], pgd_steps=3)
    with torch.enable_grad(), seeded_rng(0, torch.device("cpu")):
        out = {(name, eps): adv for name, eps, adv in suite.run(as_attack_input(x), y)}
    for (name, eps), adv in out.items():
        delta = (adv.flatten(1) - x).detach()
        assert adv.shape == (12, 5, 1, 1)
        assert bool((adv >= 0).all() and (adv <= 1).all())
        if name == "pgdl2":
            assert bool((delta.norm(dim=1) <= eps + 1e-5).all()), (name, eps)
        else:
            assert bool((delta.abs().amax(dim=1) <= eps + 1e-6).all()), (name, eps)
    # torchattacks' PGDL2 gives nan at ε = 0 (0/0 in its projection); the suite returns the clean inputs there
    assert torch.isnan(torchattacks.PGDL2(model, eps=0.0, alpha=0.0, steps=2)(as_attack_input(x), y)).any()
    assert torch.equal(out[("pgdl2", 0.0)], as_attack_input(x))


def test_attacks_are_built_for_the_device_the_model_ends_on():
    evaluator = RobustnessEvaluator(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), num_classes=3)
    assert evaluator.suite is None  # nothing is built at construction, when the model may still move
    evaluator.to("meta")  # stands in for the Trainer moving the module to an accelerator
    suite = evaluator.build_attacks()
    assert suite.attacks
    assert {str(attack.device) for attack in suite.attacks} == {"meta"}


def test_seeded_rng_restores_the_global_stream():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded_rng(7, torch.device("cpu")):
        inside = torch.rand(2)
    assert torch.equal(torch.rand(3), expected)
    with seeded_rng(7, torch.device("cpu")):
        assert torch.equal(torch.rand(2), inside)


class _Confident(nn.Module):
    """Class 0 iff x[:, 0] > 0.5, with a margin of 80·|x0 - 0.5|: a saturated softmax far from the boundary."""

    def forward(self, x):
        z = 80.0 * (x.flatten(1)[:, :1] - 0.5)
        return torch.cat([z, -z], dim=1)


def test_l2_pgd_does_not_stall_on_saturated_softmax():
    model = AttackModel(_Confident())
    model.sample_shape = (2,)
    x = torch.tensor([[0.9, 0.5]] * 4 + [[0.1, 0.5]] * 4)
    y = torch.tensor([0] * 4 + [1] * 4)
    images = as_attack_input(x)
    # torchattacks' default eps_for_division (1e-10) dwarfs these gradient norms: its L2 PGD does not move
    stalled = torchattacks.PGDL2(model, eps=0.6, alpha=0.15, steps=10, random_start=False)(images, y)
    assert bool((model(stalled).argmax(1) == y).all())
    suite = AttackSuite(model, torch.device("cpu"), pgdl2_eps=[0.6], pgd_steps=10, pgd_restarts=0)
    with torch.enable_grad():
        ((_, _, adv),) = list(suite.run(images, y))
    assert bool((model(adv).argmax(1) != y).all())
    assert bool(((adv - images).flatten(1).norm(dim=1) <= 0.6 + 1e-5).all())


def test_fgsm_sweep_is_exact_for_inputs_just_outside_the_unit_box():
    import torchattacks

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    x = torch.rand(6, 1, 2, 2)
    x[:3], x[3:] = 1 + 5e-7, -5e-7  # within the evaluator's tolerance of [0, 1]
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    eps = [0.0, 0.1, 0.3]
    sweep = fgsm_eps_sweep(torchattacks.FGSM(model, eps=0.3), x, y, eps)
    for adv, e in zip(sweep, eps, strict=True):
        assert torch.equal(adv, torchattacks.FGSM(model, eps=e)(x, y))
