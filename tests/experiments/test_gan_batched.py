import pytest
import torch

from experiments.gan.batched import EngineConfig, GANRunSpec, lightning_run, mix_runs, train_gan_batch
from experiments.gan.data import GaussianMixture
from lightning_mixup.functional.discriminator import apply_discriminator_mix, sample_discriminator_mix
from lightning_mixup.gan import grid_modes, ring_modes

RING = GaussianMixture(ring_modes(), 0.01)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: a second thread only adds hand-off cost on a shared machine
    yield
    torch.set_num_threads(threads)


TINY = {"g_hidden": 8, "d_hidden": 8, "g_depth": 2, "d_depth": 2, "d_steps": 2}


def _config(**overrides):
    options = {"sampler": RING, "model": TINY, "batch_size": 8, "iterations": 4, "eval_every": 2, "eval_samples": 64}
    return EngineConfig(**{**options, **overrides})


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.mark.parametrize(
    ("method", "model"),
    [
        ("erm", TINY),
        ("paper", {**TINY, "g_objective": "saturating"}),
        ("shuffle", {**TINY, "g_objective": "saturating"}),
        # PacGAN's architecture: batch-normalised generator (running statistics too), maxout discriminator
        ("shuffle", {**TINY, "g_batchnorm": True, "d_maxout": 3, "init_std": 0.02, "betas": (0.8, 0.999)}),
        # PacGAN's schedule: both networks step on each batch, from one latent batch
        ("erm", {**TINY, "g_batchnorm": True, "d_maxout": 3, "d_steps": 1, "updates": "simultaneous"}),
        ("paper", {**TINY, "g_batchnorm": True, "d_maxout": 3, "d_steps": 1, "updates": "simultaneous"}),
    ],
)
def test_engine_trains_the_run_the_lightning_path_trains(method, model):
    """One run, same seed, both ways: Trainer + GANModule + MixupCallback, and the batched engine."""
    config = _config(model=model)
    run = GANRunSpec(seed=3, method=method, alpha=0.4)
    reference = lightning_run(run, config).state_dict()
    batched = train_gan_batch([GANRunSpec(seed=5, method=method, alpha=0.4), run], config)
    # 4 generator iterations = 12 optimizer steps; only float rounding (batched vs single matmuls) may differ
    assert _max_difference(reference, batched.state_dict(1)) < 1e-6
    untrained = config.build(3).state_dict()
    assert _max_difference(reference, untrained) > 1e-3  # the comparison is not between two untrained nets


@pytest.mark.parametrize(
    ("method", "model"),
    [("erm", TINY), ("paper", {**TINY, "g_batchnorm": True, "d_steps": 1, "updates": "simultaneous"})],
)
def test_engine_trains_on_a_fixed_training_set_as_the_lightning_path_does(method, model):
    """PacGAN's fixed training set: 24 samples in batches of 8, so the 8 (or 4) real batches cross epochs."""
    config = _config(model=model, num_samples=24)
    run = GANRunSpec(seed=3, method=method, alpha=0.4)
    reference = lightning_run(run, config).state_dict()
    batched = train_gan_batch([GANRunSpec(seed=5, method=method, alpha=0.4), run], config)
    assert _max_difference(reference, batched.state_dict(1)) < 1e-6
    fresh = train_gan_batch([run], _config(model=model))  # the same run on fresh samples trains differently
    assert _max_difference(reference, fresh.state_dict(0)) > 1e-4


def test_a_run_trained_in_a_batch_equals_the_run_trained_alone():
    config = _config(snapshot_steps=(0, 3), snapshot_samples=16)
    runs = [GANRunSpec(s, "shuffle", alpha=0.3) for s in (0, 1, 2)]
    together = train_gan_batch(runs, config)
    alone = train_gan_batch([runs[1]], config)
    assert _max_difference(together.state_dict(1), alone.state_dict(0)) < 1e-6
    assert torch.allclose(together.snapshots[3][1], alone.snapshots[3][0], atol=1e-6)
    assert torch.allclose(together.d_loss[1], alone.d_loss[0], atol=1e-6)
    assert together.eval_steps.tolist() == [0, 2, 4] and together.modes_captured.shape == (3, 3)
    assert together.d_loss.shape == together.g_grad_norm.shape == (3, 4)


@pytest.mark.parametrize("mode", ["paper", "shuffle"])
def test_mix_runs_is_the_per_run_functional_mix(mode):
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3, 5, 2, generator=g), torch.randn(3, 5, 2, generator=g)
    params = [sample_discriminator_mix(5, alpha=0.7, mode=mode, generator=g) for _ in range(3)]
    inputs, labels = mix_runs(real, fake, params)
    for i in range(3):
        ref_inputs, ref_labels = apply_discriminator_mix(real[i], fake[i], params[i])
        assert torch.equal(inputs[i], ref_inputs) and torch.equal(labels[i], ref_labels)


def test_erm_and_mixup_with_one_seed_share_initial_weights_and_codes():
    config = _config(iterations=0)
    erm = train_gan_batch([GANRunSpec(7)], config)
    mix = train_gan_batch([GANRunSpec(7, "paper")], config)
    other = train_gan_batch([GANRunSpec(8)], config)
    assert _max_difference(erm.state_dict(0), mix.state_dict(0)) == 0.0
    assert _max_difference(erm.state_dict(0), other.state_dict(0)) > 0.0


def test_a_diverging_run_is_flagged():
    config = _config(model={**TINY, "lr_d": 1e3, "lr_g": 1e3}, iterations=6)
    result = train_gan_batch([GANRunSpec(0)], config)
    assert result.finite.dtype == torch.bool and result.finite.shape == (1,)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: train_gan_batch([], _config()), "at least one GANRunSpec"),
        (lambda: train_gan_batch([GANRunSpec(0), GANRunSpec(1, "paper")], _config()), "share one method"),
        (lambda: GANRunSpec(0, "cutmix"), r"`method` to be one of \('erm', 'paper', 'shuffle'\)"),  # type: ignore[arg-type]
        (lambda: GANRunSpec(-1), "`seed` to be a non-negative int"),
        (lambda: GANRunSpec(0, "paper", alpha=0.0), "`alpha` > 0 for method='paper'"),
        (lambda: GANRunSpec(0, "shuffle", alpha=2.0), r"`alpha` in \(0, 1\] for method='shuffle'"),
        (lambda: _config(batch_size=1), "`batch_size` to be an int >= 2"),
        (lambda: _config(num_samples=7), r"`num_samples` to be None or an int >= batch_size \(8\), but got 7"),
        (lambda: _config(iterations=5, snapshot_steps=(6,)), r"`snapshot_steps` to be ints in \[0, iterations=5\]"),
        (lambda: _config(sampler=object()), "Expected a `classifier`"),
        (lambda: mix_runs(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1), []), "Expected 2 parameter sets"),
    ],
)
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_grid_problem_trains():
    config = _config(sampler=GaussianMixture(grid_modes(5, 0.5), 0.01), iterations=2)
    result = train_gan_batch([GANRunSpec(0, "paper", 0.2)], config)
    assert result.modes_captured.shape == (1, 2) and bool(result.finite.all())
