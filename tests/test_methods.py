"""``method=``: defaults, per-row weights of mixed labels, the engine's draws, and every refusal.

The losses against the papers' formulas on recorded Trainer batches are in
``tests/realistic/test_methods_classification.py`` and ``tests/realistic/test_methods_regression.py``.
"""

from __future__ import annotations

import copy
import pickle

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixedLabels, MixedLabelsError, MixupCallback, MixupMixin, MixupPolicy
from lightning_mixup.demos import BoringClassifier
from lightning_mixup.engine import MixupEngine, batch_generator
from lightning_mixup.functional.cmixup import CMIXUP_ALPHA
from lightning_mixup.functional.mit import MIT_ALPHA
from lightning_mixup.functional.regmixup import REGMIXUP_ALPHA, sample_regmixup
from lightning_mixup.functional.warping import KERNEL_ALPHA, sample_kernel_warping
from lightning_mixup.policy import METHODS


def _trainer(tmp_path, callback):
    return pl.Trainer(
        default_root_dir=tmp_path,
        callbacks=[callback],
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def _loader(y):
    return DataLoader(TensorDataset(torch.randn(len(y), 8), y), batch_size=4)


# ------------------------------------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("method", "alpha"),
    [
        ("mixup", 0.2),
        ("regmixup", REGMIXUP_ALPHA),
        ("kernel_warping", KERNEL_ALPHA),
        ("mixup_inference_training", MIT_ALPHA),
        ("cmixup", CMIXUP_ALPHA),
    ],
)
def test_alpha_none_is_the_papers_default(method, alpha):
    assert MixupCallback(method=method).policy.alpha == alpha
    assert MixupPolicy(method=method).alpha == alpha
    assert MixupPolicy(method=method, alpha=0.7).alpha == 0.7
    assert method in METHODS


def test_mixup_draws_as_before():
    """``method="mixup"`` with ``alpha=None`` is today's policy (α = 0.2), draw for draw."""
    x = torch.rand(6, 3)
    a = MixupPolicy().sample(x, torch.Generator().manual_seed(1))
    b = MixupPolicy(alpha=0.2).sample(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.lam, b.lam)
    torch.testing.assert_close(a.index, b.index)


def test_policy_draws_are_the_functional_samplers():
    x = torch.rand(6, 3)
    p = MixupPolicy(method="regmixup").sample(x, torch.Generator().manual_seed(2))
    q = sample_regmixup(6, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(p.lam, q.lam)
    torch.testing.assert_close(p.index, q.index)
    p = MixupPolicy(method="kernel_warping", mode="elem").sample(x, torch.Generator().manual_seed(2))
    q = sample_kernel_warping(x, mode="elem", generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(p.lam, q.lam)


# ------------------------------------------------------------------------------------------------ weighted labels


def _weighted():
    y_a, y_b = torch.tensor([0, 1, 2, 1]), torch.tensor([0, 1, 0, 2])
    lam, weight = torch.tensor([1.0, 1.0, 0.3, 0.6]), torch.tensor([1.0, 1.0, 0.5, 0.5])
    return MixedLabels(y_a, y_b, lam, weight=weight), y_a, y_b, lam, weight


def test_weight_scales_each_row_and_keeps_the_mean_denominator():
    labels, y_a, y_b, lam, weight = _weighted()
    logits = torch.randn(4, 3)
    per_row = lam * F.cross_entropy(logits, y_a, reduction="none") + (1 - lam) * F.cross_entropy(
        logits, y_b, reduction="none"
    )
    torch.testing.assert_close(F.cross_entropy(logits, labels), (weight * per_row).sum() / 4)
    torch.testing.assert_close(F.cross_entropy(logits, labels, reduction="none"), weight * per_row)
    torch.testing.assert_close(F.nll_loss(logits.log_softmax(1), labels), (weight * per_row).sum() / 4)
    torch.testing.assert_close(labels.mix_loss(F.cross_entropy, logits), (weight * per_row).sum() / 4)
    smoothed = F.cross_entropy(logits, labels, label_smoothing=0.1)  # the general path, weight included
    ref = lam * F.cross_entropy(logits, y_a, reduction="none", label_smoothing=0.1) + (1 - lam) * F.cross_entropy(
        logits, y_b, reduction="none", label_smoothing=0.1
    )
    torch.testing.assert_close(smoothed, (weight * ref).sum() / 4)


def test_weight_travels_with_the_labels():
    labels, *_ = _weighted()
    torch.testing.assert_close(labels.view(2, 2).weight, torch.tensor([[1.0, 1.0], [0.5, 0.5]]))
    torch.testing.assert_close(labels[2:].weight, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(labels.long().weight, labels.weight)
    torch.testing.assert_close(pickle.loads(pickle.dumps(labels)).weight, labels.weight)
    torch.testing.assert_close(copy.deepcopy(labels).weight, labels.weight)
    assert MixedLabels(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.5])).weight is None


def test_weight_refusals():
    labels, *_ = _weighted()
    with pytest.raises(MixedLabelsError, match="cannot carry the per-row loss weights"):
        labels.float()
    with pytest.raises(MixedLabelsError, match="cannot carry the per-row loss weights"):
        F.one_hot(labels, 3)
    with pytest.raises(TypeError, match="Expected argument `weight` to be a floating-point tensor"):
        MixedLabels(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.5]), weight=torch.tensor([1]))
    with pytest.raises(ValueError, match="Expected argument `weight` of shape"):
        MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([0.5, 1.0]), weight=torch.ones(3))


# ------------------------------------------------------------------------------------------------ engine


def _engine(**policy):
    engine = MixupEngine(MixupPolicy(**policy))
    engine.start(nn.Linear(3, 2), seed=0, rank=0)
    engine.reseed(0)
    return engine


def test_regmixup_batch_and_masks_double():
    engine = _engine(method="regmixup", regmixup_eta=0.5)
    batch = {"x": torch.rand(4, 3), "attention_mask": torch.tensor([[1, 0]] * 4), "labels": torch.tensor([0, 1, 1, 0])}
    mixed = engine.mix_container(nn.Linear(3, 2), batch, epoch=0)
    assert mixed["x"].shape == (8, 3) and mixed["attention_mask"].shape == (8, 2)
    torch.testing.assert_close(mixed["x"][:4], batch["x"])
    labels = mixed["labels"]
    torch.testing.assert_close(labels.y_a, torch.cat([batch["labels"]] * 2))
    torch.testing.assert_close(labels.weight, torch.tensor([1.0] * 4 + [0.5] * 4))
    torch.testing.assert_close(labels.lam[:4], torch.ones(4))
    engine.stop()


def test_regmixup_float_targets():
    engine = _engine(method="regmixup")
    y = torch.rand(4, 2)
    x, targets = engine.mix(nn.Linear(3, 2), torch.rand(4, 3), y, epoch=0)
    engine.reseed(0)
    params = engine.policy.sample(torch.rand(4, 3), engine.generator)
    lam = params.lam.view(-1, 1)
    torch.testing.assert_close(targets, torch.cat([y, lam * y + (1 - lam) * y[params.index]]))
    assert x.shape == (8, 3)


def test_same_seed_same_draws_different_rank_differs():
    x, y = torch.rand(6, 3), torch.rand(6)
    out = []
    for rank in (0, 0, 1):
        engine = MixupEngine(MixupPolicy(method="cmixup"))
        engine.start(nn.Linear(3, 1), seed=4, rank=rank)
        engine.reseed(2)
        out.append(engine.mix(nn.Linear(3, 1), x, y, epoch=0)[1])
    torch.testing.assert_close(out[0], out[1])
    assert not torch.allclose(out[0], out[2])
    params = MixupPolicy(method="cmixup").sample(x, batch_generator(4, 0, 2), y=y)
    torch.testing.assert_close(out[0], params.lam * y + (1 - params.lam) * y[params.index])


# ------------------------------------------------------------------------------------------------ refusals


def test_unknown_method():
    with pytest.raises(ValueError, match="Expected argument `method` to be one of"):
        MixupCallback(method="mixupp")


@pytest.mark.parametrize("method", ["regmixup", "kernel_warping", "cmixup", "mixup_inference_training"])
def test_mixup_only_options_are_refused(method):
    with pytest.raises(ValueError, match="the method has no CutMix form"):
        MixupCallback(method=method, cutmix_alpha=1.0)
    with pytest.raises(ValueError, match="Manifold Mixup is a form of method='mixup' only"):
        MixupCallback(method=method, manifold_layers=["layer"])
    with pytest.raises(ValueError, match="is an option of method='mixup'"):
        MixupCallback(method=method, prob=0.5)
    with pytest.raises(ValueError, match="builds its own targets"):
        MixupCallback(method=method, target_mode="soft")


def test_mode_per_method():
    with pytest.raises(
        ValueError, match=r"Expected argument `mode` to be one of \('batch', 'elem'\) with method='cmixup'"
    ):
        MixupCallback(method="cmixup", mode="pair")
    with pytest.raises(ValueError, match="with method='mixup_inference_training'"):
        MixupCallback(method="mixup_inference_training", mode="elem")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"regmixup_eta": -1.0}, "Expected argument `regmixup_eta`"),
        ({"kernel_tau_max": 0.0}, "Expected argument `tau_max`"),
        ({"kernel_tau_std": -1.0}, "Expected argument `tau_std`"),
        ({"kernel_warping": "cdf"}, "Expected argument `kernel_warping` to be one of"),
        ({"kernel_distance": "logits"}, "Expected argument `kernel_distance` to be one of"),
        ({"cmixup_bandwidth": 0.0}, "Expected argument `cmixup_bandwidth`"),
        ({"method": "mixup_inference_training", "alpha": 0.0}, "MIT needs two distinct mixtures"),
    ],
)
def test_option_checks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixupCallback(**kwargs)


def test_cmixup_refuses_integer_labels(tmp_path):
    trainer = _trainer(tmp_path, MixupCallback(method="cmixup"))
    with pytest.raises(ValueError, match="Expected float regression targets .* for method='cmixup'"):
        trainer.fit(BoringClassifier(), _loader(torch.randint(3, (8,))))


def test_regmixup_eta_refused_for_float_targets():
    engine = _engine(method="regmixup", regmixup_eta=0.5)
    with pytest.raises(ValueError, match="Expected regmixup_eta=1 for float targets"):
        engine.mix(nn.Linear(3, 2), torch.rand(4, 3), torch.rand(4, 2), epoch=0)


def test_methods_refuse_integer_inputs():
    engine = _engine(method="kernel_warping")
    with pytest.raises(ValueError, match="Expected floating-point inputs with method='kernel_warping'"):
        engine.mix(nn.Linear(3, 2), torch.randint(5, (4, 3)), torch.tensor([0, 1, 1, 0]), epoch=0)


def test_callback_alone_refuses_mit(tmp_path):
    trainer = _trainer(tmp_path, MixupCallback(method="mixup_inference_training"))
    with pytest.raises(
        ValueError, match=r"Derive the module from lightning_mixup.MixupMixin and return `self.mit_loss"
    ):
        trainer.fit(BoringClassifier(), _loader(torch.randint(3, (8,))))


def test_callback_alone_refuses_embedding_distances(tmp_path):
    trainer = _trainer(tmp_path, MixupCallback(method="kernel_warping", kernel_distance="embeddings"))
    with pytest.raises(ValueError, match=r"self.mix_batch\(x, y, features=emb\)"):
        trainer.fit(BoringClassifier(), _loader(torch.randint(3, (8,))))


def test_engine_refusals():
    with pytest.raises(ValueError, match="Expected `features` for kernel_distance='embeddings'"):
        _engine(method="kernel_warping", kernel_distance="embeddings").mix(
            nn.Linear(3, 2), torch.rand(4, 3), torch.tensor([0, 1, 1, 0]), epoch=0
        )
    with pytest.raises(ValueError, match="Expected `features` only with method='kernel_warping'"):
        _engine().mix(nn.Linear(3, 2), torch.rand(4, 3), torch.tensor([0, 1, 1, 0]), epoch=0, features=torch.rand(4, 2))
    with pytest.raises(ValueError, match="Expected `features` with the batch size of the inputs"):
        _engine(method="kernel_warping").mix(
            nn.Linear(3, 2), torch.rand(4, 3), torch.tensor([0, 1, 1, 0]), epoch=0, features=torch.rand(3, 2)
        )
    with pytest.raises(ValueError, match="Expected no Manifold Mixup `layers` with method='regmixup'"):
        _engine(method="regmixup").mix(nn.Linear(3, 2), torch.rand(4, 3), torch.tensor([0, 1, 1, 0]), epoch=0,
                                       layers=["input"])  # fmt: skip
    with pytest.raises(ValueError, match="Expected method='mixup' for GAN discriminator mixup"):
        _engine(method="regmixup").mix_discriminator(torch.rand(4, 3), torch.rand(4, 3), epoch=0)
    with pytest.raises(ValueError, match=r"return `self.mit_loss\(x, y\)`"):
        _engine(method="mixup_inference_training").mix(
            nn.Linear(3, 2), torch.rand(4, 3), torch.tensor([0, 1, 1, 0]), epoch=0
        )
    with pytest.raises(ValueError, match="Expected method='mixup_inference_training' for `mit_loss`"):
        _engine().mit_params(torch.rand(4, 3), torch.tensor([0, 1, 1, 0]), epoch=0)
    with pytest.raises(ValueError, match=r"Expected integer class labels of shape \(4,\) for MIT"):
        _engine(method="mixup_inference_training").mit_params(torch.rand(4, 3), torch.zeros(4, 2).long(), epoch=0)
    with pytest.raises(ValueError, match="needs the model's outputs on two mixtures"):
        MixupPolicy(method="mixup_inference_training").sample(torch.rand(4, 3), None)


class _MixinMit(MixupMixin, BoringClassifier):
    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.mit_loss(x, y)


def test_mixin_mit_loss_needs_the_mit_method(tmp_path):
    trainer = _trainer(tmp_path, MixupCallback(alpha=1.0))
    with pytest.raises(ValueError, match="Expected method='mixup_inference_training' for `mit_loss`, but the"):
        trainer.fit(_MixinMit(), _loader(torch.randint(3, (8,))))


def test_mixin_mit_trains(tmp_path):
    trainer = _trainer(tmp_path, MixupCallback(method="mixup_inference_training", seed=0))
    trainer.fit(_MixinMit(), _loader(torch.randint(3, (8,))))
    assert trainer.global_step == 1


# ------------------------------------------------------------------------------------------------ CLI


@pytest.mark.parametrize(
    ("config", "method"),
    [
        ("digits_regmixup", "regmixup"),
        ("digits_kernel_warping", "kernel_warping"),
        ("digits_mit", "mixup_inference_training"),
        ("diabetes_cmixup", "cmixup"),
    ],
)
def test_method_configs_train_through_the_cli(config, method, tmp_path):
    from lightning_mixup.cli import main

    args = ["--trainer.fast_dev_run=2", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false"]
    cli = main(["fit", "--config", config, *args, f"--trainer.default_root_dir={tmp_path}"])
    assert cli.trainer.state.finished and cli.trainer.global_step == 2
    (callback,) = [cb for cb in cli.trainer.callbacks if isinstance(cb, MixupCallback)]
    assert callback.policy.method == method


def test_diabetes_is_a_regression_table():
    from lightning_mixup.data import SklearnDataModule

    dm = SklearnDataModule("diabetes", batch_size=16)
    dm.setup("fit")
    x, y = dm.train_set.tensors
    assert x.shape == (len(y), 10)
    assert dm.is_regression and dm.num_classes == 0 and dm.num_features == 10
    assert y.dtype == torch.float32 and y.ndim == 1
    assert abs(float(y.mean())) < 1e-5 and abs(float(y.std()) - 1) < 1e-5
    assert len(dm.train_set) + len(dm.val_set) + len(dm.test_set) == 442


# ------------------------------------------------------------------------------------------------ resume


@pytest.mark.parametrize(
    ("module", "kwargs"),
    [
        (BoringClassifier, {"method": "regmixup", "regmixup_eta": 0.5}),
        (BoringClassifier, {"method": "kernel_warping", "mode": "elem"}),
        (_MixinMit, {"method": "mixup_inference_training"}),
    ],
)
def test_a_resumed_run_is_the_uninterrupted_run(tmp_path, module, kwargs):
    data = TensorDataset(torch.randn(16, 8, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 3)

    def fit(max_epochs, ckpt_path=None, save=False):
        pl.seed_everything(0, verbose=False)
        model = module()
        trainer = pl.Trainer(
            default_root_dir=tmp_path,
            callbacks=[MixupCallback(**kwargs)],
            max_epochs=max_epochs,
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(model, DataLoader(data, batch_size=4), ckpt_path=ckpt_path)
        if save:
            trainer.save_checkpoint(tmp_path / "epoch1.ckpt")
        return model

    full = fit(2)
    fit(1, save=True)
    resumed = fit(2, ckpt_path=tmp_path / "epoch1.ckpt")
    once = fit(1)
    for a, b in zip(full.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not all(torch.equal(a, c) for a, c in zip(full.parameters(), once.parameters(), strict=True))
