import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_mixup.functional import (
    MixParams,
    apply_mix,
    cutmix,
    identity_params,
    interpolate_loss,
    mix_targets,
    mixup,
    sample_cutmix,
    sample_mixup,
)


def reference_blend(x, params):
    """Slow, obviously-correct loop: out[i] = lam[i] * x[i] + (1 - lam[i]) * x[index[i]]."""
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        lam, j = float(params.lam[i]), int(params.index[i])
        out[i] = lam * x[i] + (1 - lam) * x[j]
    return out


def reference_paste(x, params):
    out = x.clone()
    for i in range(x.shape[0]):
        top, bottom, left, right = params.boxes[i].tolist()
        j = int(params.index[i])
        for r in range(top, bottom):
            for c in range(left, right):
                out[i, ..., r, c] = x[j, ..., r, c]
    return out


shapes = st.sampled_from([(5, 3), (4, 2, 3, 3), (7, 3, 64, 64), (3, 1, 70, 70)])


@given(shape=shapes, seed=st.integers(0, 2**31), mode=st.sampled_from(["batch", "pair", "elem"]))
@settings(max_examples=30, deadline=None)
def test_blend_matches_loop_reference_and_lies_between_sources(shape, seed, mode):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    params = sample_mixup(shape[0], alpha=0.7, mode=mode, generator=g)
    mixed = apply_mix(x, params)
    torch.testing.assert_close(mixed, reference_blend(x, params), rtol=1e-5, atol=1e-6)
    low = torch.minimum(x, x[params.index]) - 1e-6
    high = torch.maximum(x, x[params.index]) + 1e-6
    assert ((mixed >= low) & (mixed <= high)).all()


@pytest.mark.parametrize("shape", [(6, 4), (6, 3, 40, 40)])
def test_in_place_and_autograd_blends_agree(shape):
    # without grad the blend scales the gathered partners in place; with grad it is computed out of place
    x = torch.randn(shape)
    params = sample_mixup(shape[0], alpha=1.0, mode="elem", generator=torch.Generator().manual_seed(0))
    in_place = apply_mix(x, params)
    with_grad = apply_mix(x.clone().requires_grad_(), params)
    assert with_grad.requires_grad
    torch.testing.assert_close(in_place, with_grad.detach())


@given(shape=shapes, seed=st.integers(0, 2**31))
@settings(max_examples=20, deadline=None)
def test_lambda_one_is_the_identity(shape, seed):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    params = MixParams(lam=torch.ones(shape[0]), index=torch.randperm(shape[0]))
    assert torch.equal(apply_mix(x, params), x)
    assert torch.equal(apply_mix(x, identity_params(shape[0])), x)


@given(h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 2**31), mode=st.sampled_from(["batch", "elem"]))
@settings(max_examples=30, deadline=None)
def test_cutmix_paste_matches_reference_and_kept_share(h, w, seed, mode):
    g = torch.Generator().manual_seed(seed)
    x = torch.arange(4 * 2 * h * w, dtype=torch.float32).view(4, 2, h, w)  # every pixel distinct
    params = sample_cutmix(4, (h, w), alpha=1.0, mode=mode, generator=g)
    mixed = apply_mix(x, params)
    assert torch.equal(mixed, reference_paste(x, params))
    kept = (mixed == x).flatten(1).float().mean(1)
    self_partner = params.index == torch.arange(4)
    torch.testing.assert_close(kept[~self_partner], params.lam[~self_partner])


def test_inputs_are_never_modified_and_out_buffer_is_used():
    x = torch.rand(4, 3, 80, 80)
    before = x.clone()
    params = sample_mixup(4, alpha=1.0, generator=torch.Generator().manual_seed(0))
    out = torch.empty_like(x)
    result = apply_mix(x, params, out=out)
    assert result is out
    assert torch.equal(x, before)
    cut = sample_cutmix(4, (80, 80), alpha=1.0, generator=torch.Generator().manual_seed(0))
    apply_mix(x, cut)
    assert torch.equal(x, before)


def test_bf16_inputs_keep_their_dtype():
    x = torch.rand(4, 3, dtype=torch.bfloat16)
    params = sample_mixup(4, alpha=1.0, generator=torch.Generator().manual_seed(0))
    assert apply_mix(x, params).dtype == torch.bfloat16
    assert mix_targets(torch.tensor([0, 1, 2, 0]), params, num_classes=3).dtype == torch.float32


@given(seed=st.integers(0, 2**31), smoothing=st.sampled_from([0.0, 0.1, 0.3]), classes=st.integers(2, 9))
@settings(max_examples=30, deadline=None)
def test_soft_targets_sum_to_one_and_mix_linearly(seed, smoothing, classes):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (6,), generator=g)
    params = sample_mixup(6, alpha=0.5, mode="elem", generator=g)
    soft = mix_targets(y, params, num_classes=classes, label_smoothing=smoothing)
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    onehot = F.one_hot(y, classes).float() * (1 - smoothing) + smoothing / classes
    expected = params.lam[:, None] * onehot + (1 - params.lam[:, None]) * onehot[params.index]
    torch.testing.assert_close(soft, expected)


def test_label_smoothing_is_applied_once():
    soft = mix_targets(torch.tensor([0, 1]), identity_params(2), num_classes=4, label_smoothing=0.2)
    # once: 1 - 0.2 + 0.2/4 = 0.85 on the true class; twice would give 0.7175
    torch.testing.assert_close(soft[0], torch.tensor([0.85, 0.05, 0.05, 0.05]))


def test_multilabel_float_targets_are_interpolated():
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    params = MixParams(lam=torch.tensor([0.25, 0.5]), index=torch.tensor([1, 0]))
    torch.testing.assert_close(mix_targets(y, params), torch.tensor([[0.25, 0.75, 0.25], [0.5, 0.5, 0.5]]))


def test_mixed_loss_equals_lambda_weighted_sum_for_soft_targets():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(3, (8,), generator=g)
    params = sample_mixup(8, alpha=1.0, mode="elem", generator=g)
    logits = torch.randn(8, 3, generator=g)
    soft = mix_targets(y, params, num_classes=3)
    per_sample = interpolate_loss(
        F.cross_entropy(logits, y, reduction="none"),
        F.cross_entropy(logits, y[params.index], reduction="none"),
        params.lam,
    )
    torch.testing.assert_close(F.cross_entropy(logits, soft), per_sample.mean())


def test_one_call_mixup_and_cutmix_are_reproducible():
    x, y = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    a = mixup(x, y, alpha=0.4, num_classes=3, generator=torch.Generator().manual_seed(1))
    b = mixup(x, y, alpha=0.4, num_classes=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = cutmix(x, y, alpha=1.0, num_classes=3, generator=torch.Generator().manual_seed(1))
    d = cutmix(x, y, alpha=1.0, num_classes=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(c[0], d[0]) and torch.equal(c[1], d[1])


def test_apply_errors():
    params = identity_params(3)
    with pytest.raises(TypeError, match=r"Expected argument `x` to be a torch.Tensor, but got \[1, 2, 3\]"):
        apply_mix([1, 2, 3], params)
    with pytest.raises(ValueError, match=r"Expected argument `x` of shape \(B, ...\), but got shape \(\)"):
        apply_mix(torch.tensor(1.0), params)
    with pytest.raises(TypeError, match="Expected argument `params` to be a MixParams, but got dict"):
        apply_mix(torch.zeros(3, 2), {"lam": 1})
    with pytest.raises(ValueError, match=r"Expected `params.index` values in \[0, 3\)"):
        apply_mix(torch.zeros(3, 2), MixParams(torch.ones(3), torch.tensor([0, 1, 7])))
    with pytest.raises(ValueError, match=r"batch size of the mixing parameters, 3.*got shape \(4, 2\)"):
        apply_mix(torch.zeros(4, 2), params)
    with pytest.raises(ValueError, match=r"Expected argument `out` to match `x` \(shape \(3, 2\)"):
        apply_mix(torch.zeros(3, 2), params, out=torch.zeros(3, 3))
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="Expected argument `out` not to share memory with `x`"):
        apply_mix(x, params, out=x)
    cut = MixParams(params.lam, params.index, torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"at least 3 dimensions \(B, ..., H, W\) for CutMix"):
        apply_mix(torch.zeros(3, 2), cut)
    with pytest.raises(ValueError, match=r"Expected argument `x` of shape \(B, ..., H, W\) for CutMix"):
        cutmix(torch.zeros(3, 2), torch.zeros(3), alpha=1.0)


def test_target_errors():
    params = identity_params(2)
    with pytest.raises(ValueError, match="Expected argument `num_classes` to be a positive int"):
        mix_targets(torch.tensor([0, 1]), params)
    with pytest.raises(ValueError, match="Expected argument `num_classes` to be an int >= 1, but got True"):
        mix_targets(torch.tensor([0, 1]), params, num_classes=True)
    with pytest.raises(ValueError, match=r"Expected integer labels in \[0, 2\), but got values in \[0, 5\]"):
        mix_targets(torch.tensor([0, 5]), params, num_classes=2)
    with pytest.raises(TypeError, match="Expected integer class labels, but got bool labels"):
        mix_targets(torch.tensor([True, False]), params, num_classes=2)
    assert mix_targets(torch.zeros(2, 5, dtype=torch.long), params, num_classes=2).shape == (2, 5, 2)  # sequences
    with pytest.raises(ValueError, match="Expected integer labels when `label_smoothing` > 0"):
        mix_targets(torch.zeros(2, 3), params, label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"`label_smoothing` to be a float in \[0, 1\)"):
        mix_targets(torch.tensor([0, 1]), params, num_classes=2, label_smoothing=1.0)
    with pytest.raises(TypeError, match="Expected argument `y` to be a torch.Tensor"):
        mix_targets([0, 1], params, num_classes=2)
    with pytest.raises(ValueError, match="batch size of the mixing parameters, 2"):
        mix_targets(torch.tensor([0, 1, 1]), params, num_classes=2)
    with pytest.raises(ValueError, match="Expected the two losses to have the same shape"):
        interpolate_loss(torch.zeros(2), torch.zeros(3), torch.ones(2))
    with pytest.raises(ValueError, match=r"Expected per-sample losses of shape \(B, ...\) with B = 2"):
        interpolate_loss(torch.zeros(3), torch.zeros(3), torch.ones(2))


def test_integer_inputs_blend_raises_but_cutmix_works():
    x = torch.randint(0, 255, (4, 1, 6, 6), dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"Expected floating-point inputs to blend \(mixup\), but got torch.uint8"):
        apply_mix(x, sample_mixup(4, alpha=1.0, generator=torch.Generator().manual_seed(0)))
    pasted = apply_mix(x, sample_cutmix(4, (6, 6), alpha=1.0, generator=torch.Generator().manual_seed(0)))
    assert pasted.dtype == torch.uint8


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 40, 40)], ids=["rows", "images"])
def test_unmixed_rows_are_exact_copies_whatever_their_values(shape):
    # λ = 1 (not selected by `prob`) or a sample that is its own partner: an exact copy, inf and nan included,
    # and a non-finite partner never leaks into it; λ = 0 is an exact copy of the partner
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    x[1].fill_(float("inf"))
    x[2].fill_(float("nan"))
    params = MixParams(torch.tensor([1.0, 1.0, 0.5, 0.0]), torch.tensor([1, 2, 2, 0]))
    for out in (None, torch.empty_like(x)):
        mixed = apply_mix(x, params, out=out)
        assert torch.equal(mixed[0], x[0])  # partner is inf: still an exact copy
        assert torch.isinf(mixed[1]).all()  # inf itself stays inf (a lerp at weight 1 turns it into nan)
        assert torch.isnan(mixed[2]).all()  # its own partner: a copy
        assert torch.equal(mixed[3], x[0])  # λ = 0: the partner exactly


def test_finite_extremes_do_not_overflow():
    big = torch.finfo(torch.float32).max
    x = torch.tensor([[big], [-big], [big]])
    params = MixParams(torch.tensor([0.5, 0.25, 1.0]), torch.tensor([1, 0, 0]))
    mixed = apply_mix(x, params)
    assert torch.isfinite(mixed).all()
    torch.testing.assert_close(mixed[0], torch.tensor([0.0]))
    # the autograd path (Manifold Mixup of activations) too
    xg = x.clone().requires_grad_(True)
    assert torch.isfinite(apply_mix(xg, params)).all()


def test_mixed_values_and_interpolated_losses_are_exact_at_the_ends():
    lam = torch.tensor([1.0, 0.0, 0.5])
    a, b = torch.tensor([1.0, float("inf"), 2.0]), torch.tensor([float("inf"), 3.0, 4.0])
    torch.testing.assert_close(interpolate_loss(a, b, lam), torch.tensor([1.0, 3.0, 3.0]))


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"lam": torch.tensor([0.5, 1.5]), "index": torch.tensor([1, 0])}, ValueError, r"`lam` in \[0, 1\]"),
        ({"lam": torch.tensor([-0.5, 1.0]), "index": torch.tensor([1, 0])}, ValueError, r"`lam` in \[0, 1\]"),
        ({"lam": torch.tensor([float("nan"), 1.0]), "index": torch.tensor([1, 0])}, ValueError, r"`lam` in \[0, 1\]"),
        (
            {"lam": torch.tensor([0.5, 1.0]), "index": torch.tensor([1])},
            TypeError,
            r"`index` to be an int64 CPU tensor of shape \(2,\)",
        ),
        ({"lam": torch.tensor([0.5, 1.0]), "index": torch.tensor([1.0, 0.0])}, TypeError, "`index` to be an int64"),
        ({"lam": torch.tensor([0.5, 1.0]), "index": torch.tensor([1, -1])}, ValueError, "non-negative `index`"),
        ({"lam": [0.5, 1.0], "index": torch.tensor([1, 0])}, TypeError, "`lam` to be a 1-D floating-point CPU tensor"),
        (
            {
                "lam": torch.tensor([0.5, 1.0]),
                "index": torch.tensor([1, 0]),
                "boxes": torch.zeros(2, 3, dtype=torch.long),
            },
            TypeError,
            r"`boxes` to be None or an int64 tensor of shape \(2, 4\)",
        ),
    ],
)
def test_hand_built_params_are_checked(fields, error, match):
    with pytest.raises(error, match=match):
        MixParams(**fields)
