import json
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassCalibrationError

from lightning_mixup.evaluation import (
    RobustnessEvaluator,
    RobustnessSanityWarning,
    evaluate_robustness,
    load_checkpoint,
)
from tests.evaluation.conftest import SMALL_GRID, Probe, TinyLitClassifier, loader


def evaluate(model, data, test_trainer, **kwargs):
    options = {**SMALL_GRID, **kwargs}
    return evaluate_robustness(model, data, trainer=test_trainer(), **options)


def test_result_matches_direct_computation_and_checks_pass(cnn, images, test_trainer):
    x, y = images
    with warnings.catch_warnings():
        warnings.simplefilter("error", RobustnessSanityWarning)
        result = evaluate(cnn, loader(x, y), test_trainer)
    with torch.no_grad():
        logits = cnn(x)
    correct = logits.argmax(1) == y
    assert result.num_examples == len(y)
    assert torch.equal(result.clean_correct, correct)
    assert result.clean_accuracy == pytest.approx(correct.float().mean().item())
    assert result.nll == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    ece = MulticlassCalibrationError(3, n_bins=15, norm="l1")(logits.softmax(1), y).item()
    assert result.ece == pytest.approx(ece, abs=1e-6)
    assert result.reliability.ece == pytest.approx(ece, abs=1e-6)
    assert torch.allclose(result.confidence, logits.softmax(1).amax(1))
    for attack in ("fgsm", "pgd", "pgdl2"):
        assert torch.equal(result.robust_correct[attack][0.0], correct), attack  # ε = 0 is clean, per example
        for eps, flags in result.robust_correct[attack].items():
            assert result.robust_accuracy[attack][eps] == pytest.approx(flags.float().mean().item())
    assert result.clean_accuracy > 0.9
    assert result.robust_accuracy["pgd"][0.5] <= 0.1
    assert result.passed, result.failed_checks
    assert {c.name for c in result.sanity} >= {
        "eps0_is_clean[fgsm]",
        "monotone_in_eps[pgd]",
        "pgd_not_weaker_than_fgsm",
        "large_eps_near_zero[pgd]",
        "buffers_unchanged",
        "eval_mode_during_attacks",
        "outputs_are_logits",
    }
    json.dumps(result.to_dict(include_flags=True))
    assert "fgsm" in result.summary()


def test_fgsm_sweep_gives_torchattacks_accuracies(cnn, images, test_trainer):
    x, y = images
    swept = evaluate(cnn, loader(x, y), test_trainer, pgd_eps=[], pgdl2_eps=[], fgsm_sweep=True)
    per_eps = evaluate(cnn, loader(x, y), test_trainer, pgd_eps=[], pgdl2_eps=[], fgsm_sweep=False)
    assert swept.robust_accuracy == per_eps.robust_accuracy
    for eps in SMALL_GRID["fgsm_eps"]:
        assert torch.equal(swept.robust_correct["fgsm"][eps], per_eps.robust_correct["fgsm"][eps])
        adv = torchattacks.FGSM(cnn, eps=eps)(x, y)
        with torch.no_grad():
            reference = cnn(adv).argmax(1) == y
        assert torch.equal(swept.robust_correct["fgsm"][eps], reference)


def test_normalisation_is_applied_inside_the_attacked_model(cnn, images, test_trainer):
    """The model expects (x - 0.5) / 0.25; attacks must still perturb [0, 1] pixels by ε."""
    x, y = images
    mean, std = 0.5, 0.25
    normalised_model = nn.Sequential(cnn)  # a model that expects normalised inputs
    pixel_model = nn.Sequential(_Affine(mean, std), cnn)  # the same classifier on pixels, by hand
    eps = 0.1
    with pytest.raises(ValueError, match=r"Expected inputs in \[0, 1\], but got values in"):
        evaluate(normalised_model, loader((x - mean) / std, y), test_trainer)
    result = evaluate(
        normalised_model,
        loader(x, y),
        test_trainer,
        normalize_mean=[mean],
        normalize_std=[std],
        fgsm_eps=[0.0, eps],
        pgd_eps=[],
        pgdl2_eps=[],
    )
    x_adv = torchattacks.FGSM(pixel_model, eps=eps)(x, y)
    with torch.no_grad():
        clean = pixel_model(x).argmax(1) == y
        adv = pixel_model(x_adv).argmax(1) == y
    assert torch.equal(result.clean_correct, clean)
    assert torch.equal(result.robust_correct["fgsm"][eps], adv)
    assert result.config["normalize_mean"] == [mean]
    # the same classifier on pixels without a normaliser gives identical numbers
    plain = evaluate(pixel_model, loader(x, y), test_trainer, fgsm_eps=[0.0, eps], pgd_eps=[], pgdl2_eps=[])
    assert plain.robust_accuracy == result.robust_accuracy


class _Affine(nn.Module):
    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def test_input_range_warn_and_off(cnn, images, test_trainer):
    x, y = images
    shifted = x + 0.5
    with pytest.warns(RobustnessSanityWarning, match="input-range"):
        evaluate(cnn, loader(shifted, y), test_trainer, input_check="warn", fgsm_eps=[0.0], pgd_eps=[], pgdl2_eps=[])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RobustnessSanityWarning)
        result = evaluate(
            cnn,
            loader(shifted, y),
            test_trainer,
            input_check="off",
            fgsm_eps=[0.1],
            pgd_eps=[],
            pgdl2_eps=[],
            monotone_tol=1.0,
        )
    assert result.num_examples == len(y)


def test_inference_mode_is_refused(cnn, images, test_trainer):
    x, y = images
    with pytest.raises(ValueError, match="inference_mode=False"):
        evaluate_robustness(cnn, loader(x, y), trainer=test_trainer(inference_mode=True))
    with pytest.raises(ValueError, match="inference_mode=False"):
        evaluate_robustness(cnn, loader(x, y), trainer_kwargs={"inference_mode": True})
    with pytest.raises(ValueError, match="either `trainer` or `trainer_kwargs`"):
        evaluate_robustness(cnn, loader(x, y), trainer=test_trainer(), trainer_kwargs={"devices": 1})
    evaluator = RobustnessEvaluator(cnn, num_classes=3, fgsm_eps=[0.1], pgd_eps=[], pgdl2_eps=[])
    with pytest.raises(RuntimeError, match=r"Use `Trainer\(inference_mode=False\)`"):
        test_trainer(inference_mode=True).test(evaluator, loader(x, y), verbose=False)


def _bn_dropout_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(16, 16), nn.BatchNorm1d(16), Probe(), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 3)
    )


def test_eval_mode_during_attacks_and_modes_restored(images, test_trainer):
    x, y = images
    model = _bn_dropout_model()
    model.train()
    model[4].eval()  # a mixed configuration must come back exactly
    before = {name: m.training for name, m in model.named_modules()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    first = evaluate(model, loader(x, y), test_trainer)
    assert model[3].modes and not any(model[3].modes)  # every forward, attacks included, ran in eval mode
    assert {name: m.training for name, m in model.named_modules()} == before
    assert all(torch.equal(b, buffers[name]) for name, b in model.named_buffers())  # BN statistics untouched
    assert [c.passed for c in first.sanity if c.name in ("buffers_unchanged", "eval_mode_during_attacks")] == [True] * 2
    second = evaluate(model, loader(x, y), test_trainer)  # deterministic: no dropout, same seed
    assert second.robust_accuracy == first.robust_accuracy
    assert torch.equal(second.robust_correct["pgd"][0.1], first.robust_correct["pgd"][0.1])


class _StuckBatchNorm(nn.BatchNorm1d):
    """A batch norm whose train() ignores eval(), as some custom layers do."""

    def train(self, mode: bool = True) -> "_StuckBatchNorm":
        return super().train(True)


def test_model_stuck_in_train_mode_is_reported(images, test_trainer):
    x, y = images
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), _StuckBatchNorm(8), nn.Linear(8, 3))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", RobustnessSanityWarning)
        result = evaluate(model, loader(x, y), test_trainer, fgsm_eps=[0.1], pgd_eps=[], pgdl2_eps=[])
    messages = [str(w.message) for w in record if w.category is RobustnessSanityWarning]
    assert any("section 'train-mode'" in m for m in messages)
    assert any("section 'buffers'" in m for m in messages)  # its running statistics moved
    failed = {c.name for c in result.failed_checks}
    assert {"eval_mode_during_attacks", "buffers_unchanged"} <= failed
    assert not result.passed


def test_probability_outputs_are_reported(cnn, images, test_trainer):
    x, y = images
    model = nn.Sequential(cnn, nn.Softmax(dim=1))
    with pytest.warns(RobustnessSanityWarning, match="probabilities"):
        result = evaluate(model, loader(x, y), test_trainer, fgsm_eps=[0.1], pgd_eps=[], pgdl2_eps=[])
    assert "outputs_are_logits" in {c.name for c in result.failed_checks}


class _RoundInputs(nn.Module):
    """Quantises its input: zero gradient everywhere (gradient masking)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.round(x * 2) / 2


def test_gradient_masking_fails_the_large_eps_check(cnn, images, test_trainer):
    x, y = images
    masked = nn.Sequential(_RoundInputs(), cnn)
    with pytest.warns(RobustnessSanityWarning, match="large-eps"):
        result = evaluate(masked, loader(x, y), test_trainer, fgsm_eps=[0.0, 0.5], pgd_eps=[0.0, 0.5], pgdl2_eps=[])
    assert "large_eps_near_zero[pgd]" in {c.name for c in result.failed_checks}
    assert result.robust_accuracy["pgd"][0.5] > 0.5  # the attack barely moved it


def test_checkpoints_load_weights_only(images, test_trainer, tmp_path):
    x, y = images
    module = TinyLitClassifier()
    trainer = test_trainer(max_epochs=2)
    trainer.fit(module, loader(x, y))
    path = tmp_path / "tiny.ckpt"
    trainer.save_checkpoint(path)
    grid = {"fgsm_eps": [0.0, 0.1], "pgd_eps": [0.1], "pgdl2_eps": []}
    direct = evaluate_robustness(module, loader(x, y), trainer=test_trainer(), **grid)
    from_path = evaluate_robustness(
        str(path), loader(x, y), checkpoint_class=TinyLitClassifier, trainer=test_trainer(), **grid
    )
    assert from_path.robust_accuracy == direct.robust_accuracy
    plain = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    load_checkpoint(path, model=plain, prefix="net.")
    assert torch.equal(plain[1].weight, module.net[1].weight)
    with pytest.raises(TypeError, match="Expected `checkpoint_class`"):
        evaluate_robustness(str(path), loader(x, y))
    with pytest.raises(TypeError, match="Expected exactly one of `module_class`"):
        load_checkpoint(path)
    with pytest.raises(TypeError, match=r"LightningModule \(or nn.Module\) subclass"):
        load_checkpoint(path, int)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.ckpt", TinyLitClassifier)
    with pytest.raises(ValueError, match="starting with 'head.'"):
        load_checkpoint(path, model=plain, prefix="head.")
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": module.state_dict(), "extra": _Pickled()}, unsafe)
    with pytest.raises(ValueError, match="weights-only"):
        load_checkpoint(unsafe, model=TinyLitClassifier())
    load_checkpoint(unsafe, model=TinyLitClassifier(), weights_only=False)  # trusted: allowed when asked


class _Pickled:
    pass


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_classes": 1}, ValueError, "`num_classes` to be an int >= 2"),
        ({"pgd_steps": 0}, ValueError, "`pgd_steps` to be an int >= 1"),
        ({"pgd_rel_step": -1.0}, ValueError, "`pgd_rel_step` to be a finite float >= 1e-06"),
        ({"input_check": "maybe"}, ValueError, "`input_check` to be one of"),
        ({"fgsm_eps": [-0.1]}, ValueError, "`fgsm_eps` to hold finite non-negative floats"),
        ({"pgd_eps": [0.1, 0.1]}, ValueError, "`pgd_eps` without repeated values"),
        ({"pgdl2_eps": "0.5"}, TypeError, "`pgdl2_eps` to be a sequence of floats"),
        ({"input_key": 1.5}, ValueError, "`input_key` to be an int index or a str key"),
        ({"model": "net"}, TypeError, "`model` to be a torch.nn.Module"),
    ],
)
def test_constructor_errors(kwargs, error, match):
    options = {"model": nn.Linear(2, 3), "num_classes": 3, **kwargs}
    with pytest.raises(error, match=match):
        RobustnessEvaluator(**options)


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        ({"x": torch.rand(4, 16)}, "Expected a batch with inputs at 0 and targets at 1"),
        ((torch.randint(2, (4, 16)), torch.zeros(4, dtype=torch.long)), r"Expected float inputs in \[0, 1\]"),
        ((torch.rand(4, 16), torch.zeros(4)), r"Expected integer targets of shape \(4,\)"),
        ((torch.rand(4, 16), torch.zeros(3, dtype=torch.long)), r"Expected integer targets of shape \(4,\)"),
    ],
)
def test_batch_errors(batch, match, test_trainer):
    evaluator = RobustnessEvaluator(nn.Linear(16, 3), num_classes=3, fgsm_eps=[0.1], pgd_eps=[], pgdl2_eps=[])
    with pytest.raises(ValueError, match=match):
        test_trainer().test(evaluator, DataLoader([batch], batch_size=None), verbose=False)


@pytest.mark.filterwarnings("ignore:.*sampler has shuffling enabled.*")
def test_wrong_number_of_classes_and_other_errors(cnn, images, test_trainer):
    x, y = images
    with pytest.raises(ValueError, match=r"logits of shape \(16, 5\), but got a torch.float32 tensor of shape \(16, 3"):
        evaluate(cnn, loader(x, y), test_trainer, num_classes=5)
    with pytest.raises(TypeError, match="`dataloader` to be a torch DataLoader"):
        evaluate_robustness(cnn, [(x, y)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="nn.Module or a checkpoint path"):
        evaluate_robustness(42, loader(x, y))  # type: ignore[arg-type]
    shuffled = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
    with pytest.warns(UserWarning, match="per-example flags will be in a random order"):
        evaluate(cnn, shuffled, test_trainer, fgsm_eps=[0.1], pgd_eps=[], pgdl2_eps=[])


def test_tabular_inputs_and_dict_batches(test_trainer):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    x, y = torch.rand(20, 5), torch.randint(2, (20,))
    data = [{"features": x[:10], "label": y[:10]}, {"features": x[10:], "label": y[10:]}]
    evaluator = RobustnessEvaluator(
        net,
        num_classes=2,
        input_key="features",
        target_key="label",
        fgsm_eps=[0.0, 0.2],
        pgd_eps=[0.2],
        pgdl2_eps=[0.0, 0.3],
        pgd_steps=3,
    )
    test_trainer().test(evaluator, DataLoader(data, batch_size=None), verbose=False)
    result = evaluator.result
    assert result is not None and result.num_examples == 20
    assert result.robust_accuracy["pgdl2"][0.0] == result.clean_accuracy
    assert not math.isnan(result.robust_accuracy["pgdl2"][0.3])


def test_same_seed_same_pgd(cnn, images, test_trainer):
    x, y = images
    runs = [evaluate(cnn, loader(x, y), test_trainer, fgsm_eps=[], pgd_eps=[0.1], pgdl2_eps=[], seed=s) for s in (3, 3)]
    assert torch.equal(runs[0].robust_correct["pgd"][0.1], runs[1].robust_correct["pgd"][0.1])
