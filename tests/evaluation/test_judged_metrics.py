"""What the new methods are judged on, through ``trainer.test``: AURC, OOD detection, mixup inference vs EOTPGD,
regression RMSE/NLL; each number equals the pure function on the same outputs."""

import pytest
import torch
import torchattacks
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup.evaluation import (
    MixupInference,
    aurc,
    evaluate_regression,
    evaluate_robustness,
    ood_detection,
    regression_metrics,
)
from lightning_mixup.evaluation.attacks import seeded_rng
from tests.evaluation.conftest import loader, make_images, tiny_cnn

NO_ATTACKS = {"fgsm_eps": [], "pgd_eps": [], "pgdl2_eps": []}


@pytest.fixture(scope="module")
def weak_cnn() -> nn.Module:
    return tiny_cnn(train_steps=4)  # not saturated: AURC, OOD and MI numbers are not all 0 or 1


def test_aurc_and_ood_equal_the_functions_on_the_same_logits(weak_cnn):
    x, y = make_images(40)
    y[::4] = (y[::4] + 1) % 3  # some errors, so the risk-coverage curve is not flat at 0
    ood_x = torch.rand(30, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    ood_loader = DataLoader(TensorDataset(ood_x, torch.full((30,), 99)), batch_size=7)  # OOD labels are not read
    result = evaluate_robustness(weak_cnn, loader(x, y, batch_size=16), ood_dataloader=ood_loader, **NO_ATTACKS)
    with torch.no_grad():
        id_logits, ood_logits = weak_cnn(x), weak_cnn(ood_x)
    assert result.aurc == pytest.approx(float(aurc(id_logits, y)), abs=1e-6) and 0 < result.aurc < 1
    assert set(result.ood) == {"msp", "entropy"}
    for score, got in result.ood.items():
        expected = ood_detection(id_logits, ood_logits, score=score)
        assert (got.num_id, got.num_ood) == (40, 30)
        assert got.auroc == pytest.approx(expected.auroc, abs=1e-6) and 0.5 < got.auroc < 1
        assert got.fpr_at_95_tpr == pytest.approx(expected.fpr_at_95_tpr, abs=1e-9)
    saved = result.to_dict()
    assert saved["ood"]["entropy"]["auroc"] == result.ood["entropy"].auroc and saved["aurc"] == result.aurc
    assert "OOD (msp): AUROC" in result.summary()
    plain = evaluate_robustness(weak_cnn, loader(x, y), **NO_ATTACKS)
    assert plain.ood is None and plain.aurc == pytest.approx(result.aurc, abs=1e-9)
    bare_inputs = DataLoader(TensorDataset(ood_x), batch_size=8)  # batches (x,) without targets
    assert evaluate_robustness(weak_cnn, loader(x, y), ood_dataloader=bare_inputs, **NO_ATTACKS).ood == result.ood


def test_mixup_inference_numbers_come_from_eotpgd_on_the_defended_model(weak_cnn):
    x, y = make_images(24)
    pool_x, pool_y = make_images(30, seed=7)
    eps, steps, eot_iter = 0.2, 5, 3
    result = evaluate_robustness(
        weak_cnn, loader(x, y, batch_size=24), fgsm_eps=[], pgd_eps=[0.0, eps], pgdl2_eps=[], pgd_steps=steps,
        pgd_restarts=0, mixup_inference={"pool": (pool_x, pool_y), "num_samples": 4, "variant": "ol"},
        eot_iter=eot_iter,
    )  # fmt: skip
    # the same draws by hand: the evaluator seeds the global RNG and MI's generator with the seed (0, batch 0)
    with seeded_rng(0, torch.device("cpu")):
        mi = MixupInference(weak_cnn, pool_x, pool_y, num_samples=4, variant="ol", generator=torch.Generator())
        mi.generator.manual_seed(0)

        def accuracy(inputs: Tensor) -> float:
            with torch.no_grad():
                return float((mi(inputs).argmax(dim=1) == y).float().mean())

        clean = accuracy(x)
        undefended = {0.0: accuracy(x)}
        for e in (0.0, eps):
            adv = torchattacks.PGD(weak_cnn, eps=e, alpha=2.5 * e / steps, steps=steps, random_start=False)(x, y)
            if e:
                undefended[e] = accuracy(adv)
        eotpgd = {0.0: accuracy(x)}
        attack = torchattacks.EOTPGD(mi, eps=eps, alpha=2.5 * eps / steps, steps=steps, eot_iter=eot_iter)
        eotpgd[eps] = accuracy(attack(x, y))
    got = result.mixup_inference
    assert got is not None and got.clean_accuracy == pytest.approx(clean, abs=1e-6)
    assert got.eotpgd == pytest.approx(eotpgd, abs=1e-6)
    assert got.pgd_undefended_gradient == pytest.approx(undefended, abs=1e-6)
    assert got.eotpgd[eps] < got.clean_accuracy  # the adaptive attack bites
    assert result.config["mixup_inference"]["adaptive_attack"].startswith("torchattacks.EOTPGD through MixupInference")
    saved = result.to_dict()["mixup_inference"]
    assert set(saved) == {"clean_accuracy", "eotpgd", "pgd_undefended_gradient"}  # never the undefended numbers alone
    assert "EOTPGD, adaptive" in result.summary() and "PGD, undefended gradient" in result.summary()


def test_mixup_inference_pool_from_a_loader_and_bad_options(weak_cnn):
    x, y = make_images(12)
    pool_x, pool_y = make_images(18, seed=3)
    options = {"num_samples": 2, "lam": 0.6}
    common = {"fgsm_eps": [], "pgd_eps": [0.1], "pgdl2_eps": [], "pgd_steps": 2, "eot_iter": 1}
    from_tensors = evaluate_robustness(weak_cnn, loader(x, y), mixup_inference={"pool": (pool_x, pool_y), **options},
                                       **common)  # fmt: skip
    from_loader = evaluate_robustness(weak_cnn, loader(x, y), mixup_inference={"pool": loader(pool_x, pool_y, 5),
                                      **options}, **common)  # fmt: skip
    assert from_loader.mixup_inference == from_tensors.mixup_inference
    assert from_loader.config["mixup_inference"]["pool_size"] == 18
    with pytest.raises(ValueError, match=r"Expected a non-empty `pgd_eps` with `mixup_inference`"):
        evaluate_robustness(weak_cnn, loader(x, y), mixup_inference={"pool": (pool_x, pool_y)}, **NO_ATTACKS)
    with pytest.raises(ValueError, match=r"Expected argument `mixup_inference` to be a dict with a `pool`"):
        evaluate_robustness(weak_cnn, loader(x, y), mixup_inference={"pool": (pool_x, pool_y), "lamda": 0.5}, **common)
    with pytest.raises(ValueError, match=r"Expected mixup-inference pool inputs in \[0, 1\]"):
        evaluate_robustness(weak_cnn, loader(x, y), mixup_inference={"pool": (pool_x * 3, pool_y)}, **common)


class MeanVar(nn.Module):
    def __init__(self, with_var: bool) -> None:
        super().__init__()
        self.linear, self.with_var = nn.Linear(3, 2), with_var

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        out = self.linear(x)
        return (out[:, :1], out[:, 1:].exp()) if self.with_var else out[:, :1]  # (B, 1) for (B,) targets


@pytest.mark.parametrize("with_var", [False, True])
def test_regression_metrics_equal_the_function_on_the_same_outputs(with_var):
    torch.manual_seed(0)
    model = MeanVar(with_var)
    x, y = torch.randn(10, 3), torch.randn(10)
    result = evaluate_regression(model, DataLoader(TensorDataset(x, y), batch_size=4))
    with torch.no_grad():
        out = model(x)
    mean, var = (out[0].flatten(), out[1].flatten()) if with_var else (out.flatten(), None)
    rmse, nll = regression_metrics(mean, y, var)
    assert result.num_examples == 10 and result.rmse == pytest.approx(float(rmse), abs=1e-6)
    assert (result.nll is None) == (not with_var)
    if with_var:
        assert result.nll == pytest.approx(float(nll), abs=1e-6)
    import pytorch_lightning

    trainer = pytorch_lightning.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    assert evaluate_regression(model, DataLoader(TensorDataset(x, y), batch_size=4), trainer=trainer) == result


def test_regression_errors():
    data = DataLoader(TensorDataset(torch.randn(4, 3), torch.randn(4)), batch_size=2)
    with pytest.raises(ValueError, match=r"Expected the model to return a mean of the targets' shape"):
        evaluate_regression(nn.Linear(3, 2), data)
    with pytest.raises(ValueError, match=r"Expected argument `var` to be finite and positive"):
        evaluate_regression(_NegativeVar(), data)
    with pytest.raises(TypeError, match=r"Expected argument `trainer` to be a lightning.pytorch or pytorch_lightning"):
        evaluate_regression(MeanVar(False), data, trainer="cpu")


class _NegativeVar(nn.Module):
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[:, 0], -torch.ones(x.shape[0])


def test_a_pytorch_lightning_trainer_runs_the_robustness_evaluation():
    import pytorch_lightning

    net = tiny_cnn(train_steps=4)
    x, y = make_images(16)
    grid = {"fgsm_eps": [0.0, 0.1], "pgd_eps": [0.1], "pgdl2_eps": []}
    trainer = pytorch_lightning.Trainer(
        inference_mode=False, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False,
    )  # fmt: skip
    standalone = evaluate_robustness(net, loader(x, y), trainer=trainer, **grid)
    default = evaluate_robustness(net, loader(x, y), **grid)
    assert standalone.robust_accuracy == default.robust_accuracy and standalone.aurc == default.aurc
    assert torch.equal(standalone.clean_correct, default.clean_correct)
    with pytest.raises(ValueError, match="inference_mode=False"):
        evaluate_robustness(net, loader(x, y), trainer=pytorch_lightning.Trainer(logger=False), **grid)
