import pytest
import torch

from experiments.gan.batched import (
    BatchedGANConfig,
    GANRunSpec,
    MixtureProblem,
    _apply_mix,
    run_generators,
    sample_chunk,
    train_gan_batch,
)
from lightning_mixup.functional import MixParams
from lightning_mixup.functional.discriminator import apply_discriminator_mix
from lightning_mixup.functional.sampling import sample_beta
from lightning_mixup.gan import generator_loss, grid_modes, mlp, ring_modes, soft_label_loss

RING = MixtureProblem("ring", ring_modes(), 0.02)
GRID = MixtureProblem("grid", grid_modes(), 0.05)
CFG = BatchedGANConfig(
    hidden=8,
    depth=2,
    batch_size=8,
    d_steps=2,
    iterations=7,
    eval_every=3,
    eval_samples=64,
    chunk=3,
    snapshot_steps=(0, 5),
    snapshot_samples=16,
)


def _close(a, b, atol=1e-5):
    return all(torch.allclose(x, y, atol=atol, rtol=1e-4) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("method", ["erm", "paper", "shuffle"])
def test_batched_runs_equal_runs_trained_alone(method):
    runs = [
        GANRunSpec(RING, 0, method, alpha=0.4),
        GANRunSpec(GRID, 1, method, alpha=0.4, lr_d=3e-3),
        GANRunSpec(RING, 2, method, alpha=0.4, lr_g=1e-4),
    ]
    together = train_gan_batch(runs, CFG)
    for i, run in enumerate(runs):
        alone = train_gan_batch([run], CFG)
        assert _close([p[i] for p in together.generator_params], [p[0] for p in alone.generator_params])
        assert _close([p[i] for p in together.discriminator_params], [p[0] for p in alone.discriminator_params])
        for step in (0, 5):
            assert torch.allclose(together.snapshots[step][i], alone.snapshots[step][0], atol=1e-5)
        assert torch.allclose(together.d_loss[i], alone.d_loss[0], atol=1e-5)
        assert torch.equal(together.modes_captured[i], alone.modes_captured[0])


def _reference_run(run: GANRunSpec, cfg: BatchedGANConfig) -> list[torch.Tensor]:
    """One GAN, the plain way: nn.Sequential, torch.optim.Adam, the library's discriminator mixup."""
    init = train_gan_batch([run], BatchedGANConfig(**{**cfg.__dict__, "iterations": 0, "snapshot_steps": ()}))
    nets = []
    for params in (init.generator_params, init.discriminator_params):
        sizes = [params[0].shape[1]] + [p.shape[2] for p in params[::2]]
        net = mlp(sizes[0], sizes[-1], hidden=sizes[1], depth=len(sizes) - 2)
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for layer, (w, b) in zip(linears, zip(params[::2], params[1::2], strict=True), strict=True):
                layer.weight.copy_(w[0].T)
                layer.bias.copy_(b[0, 0])
        nets.append(net)
    gen, disc = nets
    opt_g = torch.optim.Adam(gen.parameters(), lr=run.lr_g, betas=cfg.betas, foreach=False)
    opt_d = torch.optim.Adam(disc.parameters(), lr=run.lr_d, betas=cfg.betas, foreach=False)
    g = run_generators(run.seed)
    b = cfg.batch_size
    for start in range(0, cfg.iterations, cfg.chunk):
        steps = min(cfg.chunk, cfg.iterations - start)
        n_d = steps * cfg.d_steps
        real = sample_chunk(run.problem, n_d * b, g["data"]).view(n_d, b, 2)
        z_d = torch.randn(n_d, b, cfg.latent_dim, generator=g["noise"])
        z_g = torch.randn(steps, b, cfg.latent_dim, generator=g["noise"])
        if run.method == "paper":
            lam = sample_beta(run.alpha, n_d * b, generator=g["mix"]).view(n_d, b)
        elif run.method == "shuffle":
            lam = torch.rand(n_d, 2 * b, generator=g["mix"]) * run.alpha
            index = torch.argsort(torch.rand(n_d, 2 * b, generator=g["mix"]), dim=1)
        for s in range(steps):
            for k in range(cfg.d_steps):
                t = s * cfg.d_steps + k
                with torch.no_grad():
                    fake = gen(z_d[t])
                if run.method == "paper":
                    params = MixParams(lam=lam[t], index=torch.arange(b, 2 * b))
                elif run.method == "shuffle":
                    params = MixParams(lam=lam[t], index=index[t])
                else:
                    params = MixParams(lam=torch.ones(2 * b), index=torch.arange(2 * b))
                inputs, labels = apply_discriminator_mix(real[t], fake, params)
                opt_d.zero_grad()
                soft_label_loss(disc(inputs).squeeze(-1), labels).backward()
                opt_d.step()
            opt_g.zero_grad()
            generator_loss(disc(gen(z_g[s])).squeeze(-1)).backward()
            opt_g.step()
    return [p.detach() for net in nets for p in net.parameters()]


@pytest.mark.parametrize("method", ["erm", "paper", "shuffle"])
def test_batched_engine_matches_a_plain_loop_reference(method):
    run = GANRunSpec(RING, 4, method, alpha=0.3, lr_d=2e-3)
    result = train_gan_batch([run, GANRunSpec(GRID, 5, method, alpha=0.3)], CFG)
    ours = []
    for params in (result.generator_params, result.discriminator_params):
        for w, b in zip(params[::2], params[1::2], strict=True):
            ours += [w[0].T, b[0, 0]]
    assert _close(ours, _reference_run(run, CFG), atol=1e-5)


@pytest.mark.parametrize("method", ["paper", "shuffle"])
def test_batched_mixing_equals_the_functional_mix(method):
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3, 5, 2, generator=g), torch.randn(3, 5, 2, generator=g)
    if method == "paper":
        lam, index = torch.rand(3, 5, generator=g), torch.arange(5, 10).expand(3, 5)
    else:
        lam, index = torch.rand(3, 10, generator=g), torch.stack([torch.randperm(10, generator=g) for _ in range(3)])
    inputs, labels = _apply_mix(real, fake, lam, index, method)
    for i in range(3):
        ref_inputs, ref_labels = apply_discriminator_mix(real[i], fake[i], MixParams(lam=lam[i], index=index[i]))
        assert torch.allclose(inputs[i], ref_inputs, atol=1e-6) and torch.allclose(labels[i], ref_labels, atol=1e-6)


def test_a_diverging_run_does_not_touch_the_others():
    runs = [GANRunSpec(RING, 0), GANRunSpec(RING, 1, lr_d=1e30, lr_g=1e30), GANRunSpec(RING, 2)]
    together = train_gan_batch(runs, CFG)
    assert together.finite.tolist() == [True, False, True]
    for i in (0, 2):
        alone = train_gan_batch([runs[i]], CFG)
        assert _close([p[i] for p in together.generator_params], [p[0] for p in alone.generator_params])


def test_erm_and_mixup_with_one_seed_share_initial_weights():
    zero = BatchedGANConfig(**{**CFG.__dict__, "iterations": 0, "snapshot_steps": ()})
    erm = train_gan_batch([GANRunSpec(RING, 7)], zero)
    mix = train_gan_batch([GANRunSpec(RING, 7, "paper")], zero)
    other = train_gan_batch([GANRunSpec(RING, 8)], zero)
    assert all(torch.equal(a, b) for a, b in zip(erm.generator_params, mix.generator_params, strict=True))
    assert not torch.equal(erm.generator_params[0], other.generator_params[0])


def test_records_have_the_documented_shapes():
    result = train_gan_batch([GANRunSpec(RING, 0), GANRunSpec(RING, 1)], CFG)
    assert result.eval_steps.tolist() == [0, 3, 6, 7]
    assert result.modes_captured.shape == result.reverse_kl.shape == (2, 4)
    assert result.d_loss.shape == result.g_grad_norm.shape == (2, 7)
    assert result.snapshots[5].shape == (2, 16, 2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: train_gan_batch([], CFG), "at least one GANRunSpec"),
        (lambda: train_gan_batch([GANRunSpec(RING, 0), GANRunSpec(RING, 1, "paper")], CFG), "share one method"),
        (
            lambda: train_gan_batch(
                [GANRunSpec(RING, 0), GANRunSpec(MixtureProblem("3d", torch.zeros(2, 3), 0.1), 1)], CFG
            ),
            "share one data dimension",
        ),
        (lambda: GANRunSpec(RING, 0, "cutmix"), r"`method` to be one of \('erm', 'paper', 'shuffle'\)"),  # type: ignore[arg-type]
        (lambda: GANRunSpec(RING, -1), "`seed` to be a non-negative int"),
        (lambda: GANRunSpec(RING, 0, "paper", alpha=0.0), "`alpha` > 0 for method='paper'"),
        (lambda: GANRunSpec(RING, 0, "shuffle", alpha=2.0), r"`alpha` in \(0, 1\] for method='shuffle'"),
        (lambda: GANRunSpec(RING, 0, lr_g=0.0), "`lr_g` to be a positive float"),
        (lambda: BatchedGANConfig(hidden=0), "`hidden` to be an int >= 1"),
        (lambda: BatchedGANConfig(betas=(0.9, 1.5)), r"`betas` to be two floats in \[0, 1\)"),
        (
            lambda: BatchedGANConfig(iterations=5, snapshot_steps=(6,)),
            r"`snapshot_steps` to be ints in \[0, iterations=5\]",
        ),
    ],
)
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
