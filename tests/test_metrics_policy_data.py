import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy

from lightning_mixup import MixedLabels, MixupAccuracy, MixupPolicy
from lightning_mixup.data import SklearnDataModule
from lightning_mixup.functional import identity_params, mix_targets, sample_mixup


def test_mixup_accuracy_is_lambda_weighted():
    preds = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9]])
    labels = MixedLabels(torch.tensor([0, 0, 2]), torch.tensor([1, 1, 2]), torch.tensor([0.6, 0.3, 0.5]))
    metric = MixupAccuracy()
    metric.update(preds, labels)
    # sample 0: predicts 0 = y_a (0.6); sample 1: predicts 1 = y_b (0.7); sample 2: both sides are 2 (1.0)
    torch.testing.assert_close(metric.compute(), torch.tensor((0.6 + 0.7 + 1.0) / 3))


def test_mixup_accuracy_equals_plain_accuracy_on_plain_labels():
    g = torch.Generator().manual_seed(0)
    preds, target = torch.randn(50, 4, generator=g), torch.randint(4, (50,), generator=g)
    plain = MulticlassAccuracy(num_classes=4, average="micro")(preds, target)
    torch.testing.assert_close(MixupAccuracy()(preds, target), plain)
    params = sample_mixup(50, alpha=1.0, generator=g)
    labels = MixedLabels(target, target[params.index], params.lam)
    soft = mix_targets(target, params, num_classes=4)
    torch.testing.assert_close(MixupAccuracy()(preds, labels), MixupAccuracy()(preds, soft))


def test_mixup_accuracy_errors():
    with pytest.raises(ValueError, match=r"Expected `preds` of shape \(B, C\) or \(B,\)"):
        MixupAccuracy().update(torch.zeros(2, 2, 2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="Expected `target` to be MixedLabels, integer labels"):
        MixupAccuracy().update(torch.zeros(2, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="Expected `preds` and `target` with the same batch size, but got 2 and 3"):
        MixupAccuracy().update(torch.zeros(2, 2), torch.zeros(3, dtype=torch.long))


def test_policy_switches_between_mixup_and_cutmix():
    policy = MixupPolicy(alpha=1.0, cutmix_alpha=1.0, switch_prob=0.5)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 6, 6)
    kinds = [policy.sample(x, g).is_cutmix for _ in range(400)]
    assert 0.4 < sum(kinds) / 400 < 0.6
    assert not any(policy.sample(x, g, spatial=False).is_cutmix for _ in range(20))


def test_policy_unmixed_targets_keep_one_kind_of_target():
    y = torch.tensor([0, 2])
    assert policy_targets("auto", 0.0, y) is y
    smoothed = policy_targets("auto", 0.1, y)
    assert isinstance(smoothed, MixedLabels) and smoothed.label_smoothing == 0.1
    soft = policy_targets("soft", 0.0, y)
    torch.testing.assert_close(soft, mix_targets(y, identity_params(2), num_classes=3))


def policy_targets(mode, smoothing, y):
    return MixupPolicy(target_mode=mode, num_classes=3, label_smoothing=smoothing).unmixed_targets(y)


def test_policy_target_errors():
    policy = MixupPolicy()
    with pytest.raises(TypeError, match="Expected the targets to be a torch.Tensor, but got list"):
        policy.targets([0, 1], identity_params(2))
    with pytest.raises(ValueError, match=r"Expected targets with the batch size of the inputs, 2.*shape \(3,\)"):
        policy.targets(torch.tensor([0, 1, 2]), identity_params(2))


@pytest.mark.parametrize(("name", "sizes"), [("digits", (1078, 359, 360)), ("wine", (106, 36, 36))])
def test_sklearn_splits_are_fixed_disjoint_and_stratified(name, sizes):
    a, b = SklearnDataModule(name), SklearnDataModule(name)
    a.setup("fit")
    b.setup("fit")
    assert (len(a.train_set), len(a.val_set), len(a.test_set)) == sizes
    assert torch.equal(a.test_set.tensors[0], b.test_set.tensors[0])
    rows = {tuple(r.flatten().tolist()) for r in a.train_set.tensors[0]}
    assert not rows & {tuple(r.flatten().tolist()) for r in a.test_set.tensors[0]}
    counts = torch.bincount(a.test_set.tensors[1]).float()
    assert counts.min() / counts.max() > 0.5
    if name == "digits":
        x = a.train_set.tensors[0]
        assert x.shape[1:] == (1, 8, 8) and x.min() >= 0 and x.max() <= 1
    else:
        torch.testing.assert_close(a.train_set.tensors[0].mean(0), torch.zeros(13), atol=1e-5, rtol=0)


def test_sklearn_datamodule_errors():
    with pytest.raises(ValueError, match="Expected argument `name` to be one of"):
        SklearnDataModule("mnist")
    with pytest.raises(ValueError, match="Expected argument `batch_size` to be an int >= 1"):
        SklearnDataModule(batch_size=0)
    with pytest.raises(ValueError, match="Expected `val_fraction` and `test_fraction` in"):
        SklearnDataModule(val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(RuntimeError, match=r"setup\(\) has not been called"):
        SklearnDataModule().train_dataloader()


def test_float_targets_with_smoothing_fail_from_the_first_batch():
    policy = MixupPolicy(alpha=1.0, label_smoothing=0.1)
    with pytest.raises(ValueError, match="Expected integer labels when `label_smoothing` > 0, but got float targets"):
        policy.unmixed_targets(torch.zeros(2, 3))


def test_low_precision_inputs_and_targets_share_the_rounded_lambda():
    policy = MixupPolicy(alpha=0.2, mode="elem")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 4, dtype=torch.bfloat16)
    params = policy.sample(x, g)
    assert torch.equal(params.lam, params.lam.bfloat16().float())
    targets = policy.targets(torch.randint(3, (64,)), params)
    assert torch.equal(targets.lam, params.lam)


def test_mixup_accuracy_top_k_macro_and_binary():
    preds = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    labels = MixedLabels(torch.tensor([1, 2, 0]), torch.tensor([0, 0, 1]), torch.tensor([0.75, 0.5, 0.25]))
    # top-1 hits: sample 0 predicts 0 = y_b (0.25); sample 1 predicts 2 = y_a (0.5); sample 2 predicts 1 = y_b (0.75)
    torch.testing.assert_close(MixupAccuracy()(preds, labels), torch.tensor((0.25 + 0.5 + 0.75) / 3))
    # top-2: sample 0 {0, 1} covers both sides (1.0); sample 1 {2, 1}: y_a (0.5); sample 2 {1, 0}: both (1.0)
    torch.testing.assert_close(MixupAccuracy(top_k=2)(preds, labels), torch.tensor((1.0 + 0.5 + 1.0) / 3))
    # macro: per class, the weight of correct predictions over the class's target weight
    macro = MixupAccuracy(num_classes=3, average="macro")(preds, labels)
    class0 = (0.25 + 0.0) / (0.25 + 0.5 + 0.25)  # weights 0.25 (s0), 0.5 (s1), 0.25 (s2); only s0 predicts 0
    class1 = 0.75 / (0.75 + 0.75)  # s0 (0.75, predicts 0) and s2 (0.75, predicts 1)
    class2 = 0.5 / 0.5
    torch.testing.assert_close(macro, torch.tensor((class0 + class1 + class2) / 3))
    # on plain labels, torchmetrics' own numbers
    g = torch.Generator().manual_seed(1)
    logits, target = torch.randn(40, 5, generator=g), torch.randint(5, (40,), generator=g)
    for kwargs in ({"top_k": 2, "average": "micro"}, {"top_k": 1, "average": "macro"}):
        expected = MulticlassAccuracy(num_classes=5, **kwargs)(logits, target)
        torch.testing.assert_close(MixupAccuracy(num_classes=5, **kwargs)(logits, target), expected)
    # binary: the mixed target t scores t·[p̂ = 1] + (1-t)·[p̂ = 0]
    binary = MixedLabels(torch.tensor([1, 0]), torch.tensor([0, 0]), torch.tensor([0.7, 0.5]))
    torch.testing.assert_close(
        MixupAccuracy(task="binary")(torch.tensor([0.9, 0.2]), binary), torch.tensor((0.7 + 1.0) / 2)
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "multilabel"}, r"Expected argument `task` to be one of \('multiclass', 'binary'\)"),
        ({"average": "weighted"}, r"Expected argument `average` to be one of \('micro', 'macro'\)"),
        ({"top_k": 0}, "Expected argument `top_k` to be an int >= 1"),
        ({"average": "macro"}, "Expected argument `num_classes` with average='macro'"),
        ({"task": "binary", "top_k": 2}, "Expected argument `top_k` to be 1 for task='binary'"),
        ({"num_classes": 3, "top_k": 4}, r"Expected argument `top_k` <= num_classes \(3\)"),
    ],
)
def test_mixup_accuracy_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixupAccuracy(**kwargs)
