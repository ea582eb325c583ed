"""The bad-input matrix (issue #10): hostile or mistaken inputs to the public API, each with its clear error or its
defined result. Evaluation, GAN and CLI cases live beside their modules' tests; this file covers the core:
functional ops, MixedLabels, the policy, the engine, the callback and the mixin."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixedLabels, MixupCallback, MixupEngine, MixupMixin, MixupPolicy
from lightning_mixup.demos import BoringClassifier
from lightning_mixup.functional import (
    MixParams,
    apply_mix,
    cutmix,
    identity_params,
    interpolate_loss,
    mix_targets,
    mixup,
    sample_beta,
    sample_cutmix,
    sample_mixup,
)
from lightning_mixup.functional.discriminator import apply_discriminator_mix, mix_discriminator

X, Y = torch.rand(4, 3), torch.tensor([0, 1, 2, 0])

ERRORS = [
    # functional: arguments
    ("mixup list x", lambda: mixup([1, 2], Y, alpha=1.0, num_classes=3), TypeError, "`x` to be a torch.Tensor"),
    ("mixup 0-d x", lambda: mixup(torch.tensor(1.0), Y, alpha=1.0), ValueError, r"`x` of shape \(B, ...\)"),
    ("mixup list y", lambda: mixup(X, [0, 1, 2, 0], alpha=1.0, num_classes=3), TypeError, "`y` to be a torch.Tensor"),
    ("cutmix 0-d x", lambda: cutmix(torch.tensor(1.0), Y, alpha=1.0), ValueError, r"\(B, ..., H, W\) for CutMix"),
    ("alpha nan", lambda: sample_mixup(4, alpha=math.nan), ValueError, "`alpha` to be a positive finite float"),
    ("alpha inf", lambda: sample_mixup(4, alpha=math.inf), ValueError, "`alpha` to be a positive finite float"),
    ("alpha subnormal", lambda: sample_mixup(4, alpha=1e-320), ValueError, "but got 1e-320"),
    ("alpha bool", lambda: sample_mixup(4, alpha=True), ValueError, "`alpha` to be a positive finite float"),
    ("alpha str", lambda: sample_mixup(4, alpha="1"), ValueError, "`alpha` to be a positive finite float"),
    ("batch size bool", lambda: sample_mixup(True, alpha=1.0), ValueError, "`batch_size` to be an int >= 0"),
    ("batch size float", lambda: sample_mixup(4.0, alpha=1.0), ValueError, "`batch_size` to be an int >= 0"),
    ("mode typo", lambda: sample_mixup(4, alpha=1.0, mode="batches"), ValueError, "`mode` to be one of"),
    ("prob > 1", lambda: sample_mixup(4, alpha=1.0, prob=1.01), ValueError, r"`prob` to be a float in \[0, 1\]"),
    ("beta n < 0", lambda: sample_beta(1.0, -1), ValueError, "`n` to be an int >= 0"),
    ("beta alpha 0", lambda: sample_beta(0.0, 3), ValueError, "to be positive to draw from Beta"),
    ("cutmix size", lambda: sample_cutmix(4, (8,), alpha=1.0), ValueError, "`size` to be a pair of positive ints"),
    ("cutmix flat", lambda: cutmix(X, Y, alpha=1.0, num_classes=3), ValueError, r"shape \(B, ..., H, W\) for CutMix"),
    ("params lam > 1", lambda: MixParams(torch.tensor([1.5]), torch.tensor([0])), ValueError, r"`lam` in \[0, 1\]"),
    ("params index len", lambda: MixParams(torch.ones(2), torch.tensor([0])), TypeError, r"of shape \(2,\)"),
    ("params cuda-like", lambda: MixParams(torch.ones(2, 1), torch.tensor([0, 1])), TypeError, "1-D floating-point"),
    (
        "apply index range",
        lambda: apply_mix(X, MixParams(torch.ones(4), torch.tensor([0, 1, 2, 9]))),
        ValueError,
        r"in \[0, 4\)",
    ),
    (
        "apply batch size",
        lambda: apply_mix(X, identity_params(3)),
        ValueError,
        "batch size of the mixing parameters, 3",
    ),
    ("apply out aliasing", lambda: apply_mix(X, identity_params(4), out=X[:]), ValueError, "not to share memory"),
    (
        "apply int blend",
        lambda: apply_mix(torch.ones(4, 3, dtype=torch.long), sample_mixup(4, alpha=1.0)),
        TypeError,
        "embedding mixup",
    ),
    (
        "targets no classes",
        lambda: mix_targets(Y, identity_params(4)),
        ValueError,
        "`num_classes` to be a positive int",
    ),
    (
        "targets out of range",
        lambda: mix_targets(Y, identity_params(4), num_classes=2),
        ValueError,
        r"labels in \[0, 2\)",
    ),
    ("targets bool", lambda: mix_targets(Y > 0, identity_params(4), num_classes=2), TypeError, "bool labels"),
    (
        "targets smoothing 1",
        lambda: mix_targets(Y, identity_params(4), num_classes=3, label_smoothing=1.0),
        ValueError,
        r"in \[0, 1\)",
    ),
    ("loss shapes", lambda: interpolate_loss(torch.ones(2), torch.ones(3), torch.ones(2)), ValueError, "same shape"),
    (
        "disc int real",
        lambda: mix_discriminator(torch.ones(2, 2, dtype=torch.long), torch.ones(2, 2), alpha=1.0),
        TypeError,
        "floating-point",
    ),
    ("disc shapes", lambda: mix_discriminator(torch.ones(2, 2), torch.ones(3, 2), alpha=1.0), ValueError, "same shape"),
    (
        "disc shuffle alpha",
        lambda: mix_discriminator(torch.ones(2, 2), torch.ones(2, 2), alpha=2.0, mode="shuffle"),
        ValueError,
        r"in \[0, 1\] for mode='shuffle'",
    ),
    (
        "disc params range",
        lambda: apply_discriminator_mix(
            torch.ones(2, 1), torch.ones(2, 1), MixParams(torch.ones(2), torch.tensor([0, 7]))
        ),
        ValueError,
        r"in \[0, 4\)",
    ),
    # MixedLabels
    (
        "labels float y_a",
        lambda: MixedLabels(torch.ones(2), torch.tensor([0, 1]), torch.ones(2)),
        TypeError,
        "integer label tensor",
    ),
    (
        "labels shapes",
        lambda: MixedLabels(torch.tensor([0, 1]), torch.tensor([0]), torch.ones(2)),
        ValueError,
        "same shape",
    ),
    (
        "labels lam list",
        lambda: MixedLabels(torch.tensor([0, 1]), torch.tensor([0, 1]), [1.0, 1.0]),
        TypeError,
        "floating-point tensor",
    ),
    (
        "labels smoothing 2x",
        lambda: F.cross_entropy(
            torch.zeros(2, 3),
            MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.ones(2), 0.1),
            label_smoothing=0.1,
        ),
        ValueError,
        "applied twice",
    ),
    (
        "labels as input",
        lambda: F.cross_entropy(
            MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.ones(2)), torch.tensor([0, 1])
        ),
        ValueError,
        "must be the `target`",
    ),
    (
        "labels mse",
        lambda: F.mse_loss(torch.zeros(2), MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.ones(2))),
        ValueError,
        "would see only one side",
    ),
    (
        "labels reduction",
        lambda: MixedLabels(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.ones(2)).mix_loss(
            F.multi_margin_loss, torch.zeros(2, 2), reduction="avg"
        ),
        ValueError,
        "`reduction` to be one of",
    ),
    (
        "labels oob",
        lambda: F.cross_entropy(
            torch.zeros(2, 3), MixedLabels(torch.tensor([0, 3]), torch.tensor([1, 0]), torch.ones(2) / 2)
        ),
        IndexError,
        "Target 3 is out of bounds",
    ),
    # policy, engine, callback constructors
    (
        "policy smoothing",
        lambda: MixupPolicy(label_smoothing=-0.1),
        ValueError,
        r"`label_smoothing` to be a float in \[0, 1\)",
    ),
    (
        "policy num_classes bool",
        lambda: MixupPolicy(num_classes=True),
        ValueError,
        "`num_classes` to be an int >= 1 or None",
    ),
    ("engine policy type", lambda: MixupEngine({"alpha": 1.0}), TypeError, "`policy` to be a MixupPolicy"),
    (
        "callback warmup bool",
        lambda: MixupCallback(warmup_epochs=True),
        ValueError,
        "`warmup_epochs` to be an int >= 0, but got True",
    ),
    (
        "callback stop < warmup",
        lambda: MixupCallback(warmup_epochs=2, stop_epoch=1),
        ValueError,
        "`stop_epoch` to be an int >= 2",
    ),
    ("callback seed float", lambda: MixupCallback(seed=1.5), ValueError, "`seed` to be an int >= 0 or None"),
    ("callback key dict", lambda: MixupCallback(input_key={"a": 1}), ValueError, "int index, a str key"),
    (
        "callback layers str",
        lambda: MixupCallback(manifold_layers="net.1"),
        ValueError,
        "non-empty list of module names",
    ),
    ("callback layers empty", lambda: MixupCallback(manifold_layers=[]), ValueError, "non-empty list of module names"),
    (
        "callback disc mode",
        lambda: MixupCallback(discriminator_mode="both"),
        ValueError,
        "`discriminator_mode` to be one of",
    ),
    ("callback label reads", lambda: MixupCallback(label_reads=None), ValueError, "`label_reads` to be one of"),
    (
        "callback switch prob",
        lambda: MixupCallback(switch_prob=-1),
        ValueError,
        r"`switch_prob` to be a float in \[0, 1\]",
    ),
]


@pytest.mark.parametrize(("case", "call", "error", "match"), ERRORS, ids=[case[0] for case in ERRORS])
def test_bad_input_gets_a_clear_error(case, call, error, match):
    with pytest.raises(error, match=match):
        call()


def fit(make_trainer, model, data, **callback):
    make_trainer(max_steps=2, callbacks=[MixupCallback(**callback)]).fit(model, DataLoader(data, batch_size=4))


class Step(BoringClassifier):
    def __init__(self, step):
        super().__init__(in_features=3)
        self.step = step

    def training_step(self, batch, batch_idx):
        return self.step(self, batch)


FLOATS = TensorDataset(torch.rand(8, 3), torch.randint(3, (8,)))

TRAINING_ERRORS = [
    (
        "ignores labels",
        lambda m, b: F.mse_loss(m(b[0]), b[0][:, :3].repeat(1, 1)[:, :3].sum(1, keepdim=True).expand(-1, 3)),
        FLOATS,
        {},
        ValueError,
        "never reached a loss",
    ),
    (
        "copies one side",
        lambda m, b: F.cross_entropy(m(b[0]), torch.tensor(b[1].y_a.tolist())),
        FLOATS,
        {},
        ValueError,
        "never reached a loss",
    ),
    (
        "focal gather",
        lambda m, b: -F.log_softmax(m(b[0]), 1).gather(1, b[1].view(-1, 1)).mean(),
        FLOATS,
        {},
        ValueError,
        "reads the label values while building a loss",
    ),
    (
        "strict accuracy",
        lambda m, b: F.cross_entropy(m(b[0]), b[1]) + 0 * (m(b[0]).argmax(1) == b[1]).float().mean(),
        FLOATS,
        {"label_reads": "strict"},
        ValueError,
        "label_reads='strict'",
    ),
    (
        "float targets smoothed",
        lambda m, b: F.binary_cross_entropy_with_logits(m(b[0]), b[1]),
        TensorDataset(torch.rand(8, 3), torch.rand(8, 3)),
        {"label_smoothing": 0.1},
        ValueError,
        "Expected integer labels when `label_smoothing` > 0",
    ),
    (
        "cutmix on vectors",
        lambda m, b: F.cross_entropy(m(b[0]), b[1]),
        FLOATS,
        {"alpha": 0.0, "cutmix_alpha": 1.0},
        ValueError,
        r"image inputs of shape \(B, ..., H, W\)",
    ),
    (
        "three-entry batch",
        lambda m, b: F.cross_entropy(m(b[0]), b[1]),
        TensorDataset(torch.rand(8, 3), torch.randint(3, (8,)), torch.arange(8)),
        {},
        ValueError,
        "ambiguous which are the inputs",
    ),
    # (B, 2) integer labels with (B, C) logits: torch's own error, as without the callback
    (
        "labels (B, 2)",
        lambda m, b: F.cross_entropy(m(b[0]), b[1]),
        TensorDataset(torch.rand(8, 3), torch.randint(3, (8, 2))),
        {},
        RuntimeError,
        "0D or 1D target tensor expected",
    ),
    (
        "ids, no embedding",
        lambda m, b: F.cross_entropy(m(b[0].float()), b[1]),
        TensorDataset(torch.randint(5, (8, 3)), torch.randint(3, (8,))),
        {},
        ValueError,
        "has no nn.Embedding or nn.EmbeddingBag.*manifold_layers",
    ),
    (
        "manifold missing layer",
        lambda m, b: F.cross_entropy(m(b[0]), b[1]),
        FLOATS,
        {"manifold_layers": ["nope"]},
        ValueError,
        "to name submodules of Step",
    ),
]


@pytest.mark.parametrize(
    ("case", "step", "data", "options", "error", "match"), TRAINING_ERRORS, ids=[c[0] for c in TRAINING_ERRORS]
)
def test_bad_training_setups_get_a_clear_error(make_trainer, case, step, data, options, error, match):
    with pytest.raises(error, match=match):
        fit(make_trainer, Step(step), data, **{"alpha": 1.0, **options})


class NotAModule(MixupMixin):
    pass


def test_mixin_outside_a_lightning_module():
    with pytest.raises(TypeError, match="must be mixed into a LightningModule"):
        NotAModule().mix_batch(X, Y)


def test_mixin_without_callback_is_erm():
    class Plain(MixupMixin, BoringClassifier):
        pass

    model = Plain()
    assert model.mix_batch(X, Y) == (X, Y)  # not attached to a trainer: unmixed
    _, labels = model.mix_discriminator(torch.ones(2, 2), torch.zeros(2, 2))
    assert labels.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_integer_images_with_cutmix_only_are_pasted_as_they_are(make_trainer):
    class Images(BoringClassifier):
        def training_step(self, batch, batch_idx):
            x, y = batch
            assert x.dtype == torch.uint8
            return F.cross_entropy(self(x.float() / 255), y)

    data = TensorDataset(torch.randint(0, 255, (8, 1, 4, 4), dtype=torch.uint8), torch.randint(3, (8,)))
    fit(make_trainer, Images(in_features=16), data, alpha=0.0, cutmix_alpha=1.0)


def test_nan_in_an_unselected_sample_stays_in_that_sample(make_trainer):
    # prob < 1 in "elem" mode: unselected samples are exact copies; a nan never reaches them from a partner
    x = torch.rand(8, 3)
    x[0] = math.nan
    seen = []

    def step(model, batch):
        xb, yb = batch
        seen.append((xb.clone(), yb.lam.clone(), yb.y_b.clone(), yb.y_a.clone()))
        return F.cross_entropy(model(torch.nan_to_num(xb)), yb)

    make_trainer(max_steps=1, callbacks=[MixupCallback(alpha=1.0, prob=0.5, mode="elem", seed=1)]).fit(
        Step(step), DataLoader(TensorDataset(x, torch.arange(8) % 3), batch_size=8)
    )
    xb, lam, _, _ = seen[0]
    unselected = lam == 1
    assert unselected[1:].any()
    for i in torch.nonzero(unselected).flatten().tolist():
        assert torch.equal(xb[i], x[i]) or (i == 0 and torch.isnan(xb[i]).all())
