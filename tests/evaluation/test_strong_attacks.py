"""PGD with a clean start and restarts, AutoAttack, transfer attacks, and the cells a failed sanity check marks."""

import copy
import warnings

import pytest
import torch
import torchattacks
from torch import Tensor, nn

from lightning_mixup.evaluation import (
    AttackModel,
    RobustnessSanityWarning,
    build_autoattack,
    evaluate_robustness,
)
from lightning_mixup.evaluation.attacks import as_attack_input, seeded_rng
from tests.evaluation.conftest import Probe, loader, make_images


class _Trap(nn.Module):
    """Class 0's margin ``1 - 100 (x₀ - 0.45)²`` peaks at x₀ = 0.45 and crosses 0 at 0.55 (class 1 beyond).

    At x₀ = 0.5 with ε = 0.1 the loss gradient points up, to the boundary: FGSM (and PGD from the clean input) break
    every example. A random start below 0.45 sees the gradient point down, to the edge of the ball where the margin
    is still positive: a single random-start PGD run leaves those examples (about a quarter) unbroken.
    """

    def forward(self, x: Tensor) -> Tensor:
        x0 = x.flatten(1)[:, 0]
        margin = 1 - 100 * (x0 - 0.45) ** 2
        return torch.stack([margin, torch.zeros_like(margin)], dim=1)


def _trap_data(n: int = 40):
    x = torch.rand(n, 2, generator=torch.Generator().manual_seed(0))
    x[:, 0] = 0.5
    return loader(x, torch.zeros(n, dtype=torch.long), batch_size=n)


def test_pgd_with_a_clean_start_is_not_weaker_than_fgsm_where_one_random_start_is():
    grid = {"fgsm_eps": [0.0, 0.1], "pgd_eps": [0.0, 0.1], "pgdl2_eps": [], "large_linf_eps": 1.0}
    with pytest.warns(RobustnessSanityWarning, match=r"pgd_not_weaker_than_fgsm.*section 'pgd-weaker'"):
        single = evaluate_robustness(_Trap(), _trap_data(), pgd_restarts=1, pgd_clean_start=False, **grid)
    assert single.robust_accuracy["fgsm"][0.1] == 0.0
    assert 0.1 < single.robust_accuracy["pgd"][0.1] < 0.5  # the random starts that fell below 0.45
    assert single.failed_cells == {"pgd": [0.1]}
    assert not single.cell_passed("pgd", 0.1) and single.cell_passed("pgd", 0.0) and single.cell_passed("fgsm", 0.1)
    assert "ε=0.1: 0." in single.summary() and "(!)" in single.summary()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RobustnessSanityWarning)
        default = evaluate_robustness(_Trap(), _trap_data(), **grid)
    assert default.robust_accuracy["pgd"][0.1] == 0.0
    assert default.failed_cells == {} and default.passed
    assert default.config["pgd_restarts"] == 1 and default.config["pgd_clean_start"] is True


def test_restarts_only_add_broken_examples(cnn, images):
    """The clean-start run is deterministic and comes first: restarts can only break more examples."""
    x, y = images
    grid = {"fgsm_eps": [], "pgd_eps": [0.05, 0.1], "pgdl2_eps": [0.3], "pgd_steps": 3}
    clean_only = evaluate_robustness(cnn, loader(x, y), pgd_restarts=0, **grid)
    restarted = evaluate_robustness(cnn, loader(x, y), pgd_restarts=3, **grid)
    for attack in ("pgd", "pgdl2"):
        for eps, flags in restarted.robust_correct[attack].items():
            assert bool((flags <= clean_only.robust_correct[attack][eps]).all()), (attack, eps)
    # the clean-start run is torchattacks' PGD without a random start
    reference = torchattacks.PGD(cnn, eps=0.1, alpha=2.5 * 0.1 / 3, steps=3, random_start=False)(x, y)
    with torch.no_grad():
        assert torch.equal(clean_only.robust_correct["pgd"][0.1], cnn(reference).argmax(1) == y)


def test_transfer_from_the_model_itself_is_the_white_box_attack(cnn, images):
    x, y = images
    grid = {"fgsm_eps": [0.0, 0.05, 0.2], "pgd_eps": [0.1], "pgdl2_eps": [], "pgd_steps": 3, "pgd_restarts": 0}
    result = evaluate_robustness(cnn, loader(x, y), transfer_from=copy.deepcopy(cnn), **grid)
    assert result.robust_accuracy["transfer_fgsm"] == result.robust_accuracy["fgsm"]
    assert result.robust_accuracy["transfer_pgd"] == result.robust_accuracy["pgd"]
    assert torch.equal(result.robust_correct["transfer_pgd"][0.1], result.robust_correct["pgd"][0.1])
    assert result.passed and result.config["transfer_from"] == "Sequential"


def _bn_source(seed: int = 1) -> nn.Sequential:
    torch.manual_seed(seed)
    source = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.BatchNorm1d(16), Probe(), nn.Dropout(0.5),
                           nn.ReLU(), nn.Linear(16, 3))  # fmt: skip
    x, y = make_images(96, seed=7)
    optimizer = torch.optim.Adam(source.parameters(), lr=0.05)
    for _ in range(40):
        optimizer.zero_grad()
        nn.functional.cross_entropy(source(x), y).backward()
        optimizer.step()
    return source


def test_transfer_attacks_are_crafted_on_the_source_and_scored_on_the_model(cnn, images):
    x, y = images
    source = _bn_source()
    source.train()
    source[4].eval()  # a mixed configuration must come back exactly
    modes = {name: m.training for name, m in source.named_modules()}
    buffers = {name: b.clone() for name, b in source.named_buffers()}
    source[3].modes.clear()
    grid = {"fgsm_eps": [0.0, 0.1, 0.3], "pgd_eps": [0.1], "pgdl2_eps": [], "pgd_steps": 3, "pgd_restarts": 0}
    result = evaluate_robustness(cnn, loader(x, y), transfer_from=source, **grid)
    assert source[3].modes and not any(source[3].modes)  # every source forward ran in eval mode
    assert {name: m.training for name, m in source.named_modules()} == modes
    assert all(torch.equal(b, buffers[name]) for name, b in source.named_buffers())
    source.eval()
    for eps in (0.1, 0.3):
        crafted = torchattacks.FGSM(source, eps=eps)(x, y)
        with torch.no_grad():
            expected = cnn(crafted).argmax(1) == y
        assert torch.equal(result.robust_correct["transfer_fgsm"][eps], expected), eps
    crafted = torchattacks.PGD(source, eps=0.1, alpha=2.5 * 0.1 / 3, steps=3, random_start=False)(x, y)
    with torch.no_grad():
        assert torch.equal(result.robust_correct["transfer_pgd"][0.1], cnn(crafted).argmax(1) == y)
    assert {c.name for c in result.sanity} >= {
        "white_box_not_weaker_than_transfer[fgsm]",
        "white_box_not_weaker_than_transfer[pgd]",
        "eps0_is_clean[transfer_fgsm]",
    }


class _Masked(nn.Module):
    """Rounds its input to a grid before the classifier: zero input gradient everywhere (gradient masking)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.round(x * 4) / 4)


def test_transfer_attack_exposes_gradient_masking(cnn, images):
    x, y = images
    masked = _Masked(cnn)
    grid = {"fgsm_eps": [0.0, 0.2, 0.3], "pgd_eps": [], "pgdl2_eps": []}
    with pytest.warns(RobustnessSanityWarning, match="section 'transfer-stronger'"):
        result = evaluate_robustness(masked, loader(x, y), transfer_from=cnn, **grid)
    assert result.robust_accuracy["fgsm"][0.3] == result.clean_accuracy  # the white-box attack cannot move
    assert result.robust_accuracy["transfer_fgsm"][0.3] < result.clean_accuracy - 0.2
    check = next(c for c in result.sanity if c.name == "white_box_not_weaker_than_transfer[fgsm]")
    assert check.passed is False and ("fgsm", 0.3) in check.cells
    assert 0.3 in result.failed_cells["fgsm"] and "transfer_fgsm" not in result.failed_cells


def test_autoattack_components_follow_torchattacks_and_the_number_of_classes():
    net = AttackModel(nn.Sequential(nn.Flatten(), nn.Linear(4, 10)))
    reference = torchattacks.AutoAttack(net, norm="Linf", eps=0.1, version="standard", n_classes=10, seed=3)
    attack, names = build_autoattack(net, 0.1, num_classes=10, version="standard", seed=3)
    assert names == ["APGD-CE", "APGD-T", "FAB-T", "Square(5000)"]
    for ours, theirs in zip(attack.attacks, reference._autoattack.attacks, strict=True):
        assert type(ours) is type(theirs)
        assert {k: v for k, v in vars(ours).items() if k not in ("model", "_attacks")} == {
            k: v for k, v in vars(theirs).items() if k not in ("model", "_attacks")
        }
    assert build_autoattack(net, 0.1, num_classes=3, version="standard")[1] == ["APGD-CE", "FAB-T", "Square(5000)"]
    assert build_autoattack(net, 0.1, num_classes=3, version="fast")[1] == ["APGD-CE", "APGD-DLR", "Square(1000)"]
    assert build_autoattack(net, 0.1, num_classes=10, version="fast")[1] == ["APGD-CE", "APGD-T", "Square(1000)"]
    assert build_autoattack(net, 0.1, num_classes=2, version="rand")[1] == ["APGD-CE(EOT 20)"]
    attack, _ = build_autoattack(net, 0.1, num_classes=10, device=torch.device("meta"))
    assert {str(a.device) for a in [attack, *attack.attacks]} == {"meta"}


def test_autoattack_through_the_evaluator(cnn, images):
    x, y = images
    grid = {"fgsm_eps": [0.3], "pgd_eps": [0.3], "pgdl2_eps": [], "autoattack_eps": [0.0, 0.3]}
    result = evaluate_robustness(cnn, loader(x, y, batch_size=48), autoattack_version="fast", **grid)
    assert result.robust_accuracy["autoattack"][0.0] == result.clean_accuracy  # ε = 0: the clean input
    assert result.robust_accuracy["autoattack"][0.3] <= result.robust_accuracy["pgd"][0.3] + 1 / 48
    assert result.config["autoattack_components"] == ["APGD-CE", "APGD-DLR", "Square(1000)"]
    assert {"autoattack_not_weaker_than_pgd", "large_eps_near_zero[autoattack]"} <= {c.name for c in result.sanity}
    # the same adversarial examples as the ensemble called directly, with the evaluator's seeds
    model = AttackModel(cnn).eval()
    model.sample_shape = (1, 4, 4)
    attack, _ = build_autoattack(model, 0.3, num_classes=3, version="fast", seed=0)
    with torch.enable_grad(), seeded_rng(0, torch.device("cpu")):
        adv = attack(as_attack_input(x), y)
    with torch.no_grad():
        assert torch.equal(result.robust_correct["autoattack"][0.3], cnn(adv).argmax(1) == y)
