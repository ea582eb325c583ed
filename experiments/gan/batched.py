"""Many small GANs trained at once: stacked MLP weights and batched matmuls, one random stream set per run.

For the stability study a few hundred small GANs must train on a CPU. Trained one after another, each step of a
small MLP is dominated by per-op overhead; here all ``N`` runs of a group share every op: weights are stacked
``(N, fan_in, fan_out)`` tensors, layers are ``torch.baddbmm`` calls, the losses of the runs are summed (so each
run's gradient is exactly its own) and Adam works on the stacked tensors, elementwise, with a per-run learning
rate. Runs never interact: a run that diverges to NaN leaves the others untouched.

Randomness is per run and per purpose: every run owns five ``torch.Generator`` objects (weights, real data, latent
noise, mixing draws), seeded from ``(seed, purpose)``. The draws are taken run by run, in chunks of ``chunk``
generator iterations, before the batched compute, so a run trained inside a batch of ``N`` equals the same run
trained alone (up to float rounding of the batched matmul). Runs of ERM and mixup with the same seed share
initial weights, data and noise: only the mixing differs (a paired comparison).

Data are drawn fresh from the mixture at every step (an infinite training set), as in the mixup authors' code.
The discriminator loss is binary cross-entropy with (mixed) soft labels; the generator loss is non-saturating.

Discriminator mixup (Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412, §3.5) in the two forms of
:mod:`lightning_mixup.functional.discriminator`: ``"paper"`` (real ``i`` mixed with fake ``i``, λ ~ Beta(α, α))
and ``"shuffle"`` (the shuffled real+fake batch mixed with itself, λ ~ U(0, α)).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_mixup.functional.discriminator import DISCRIMINATOR_MODES
from lightning_mixup.functional.sampling import sample_beta
from lightning_mixup.gan.metrics import coverage_from_counts, mode_histogram

__all__ = [
    "MIX_METHODS",
    "BatchedGANConfig",
    "BatchedGANResult",
    "GANRunSpec",
    "MixMethod",
    "MixtureProblem",
    "run_generators",
    "train_gan_batch",
]

MixMethod = Literal["erm", "paper", "shuffle"]
MIX_METHODS: tuple[str, ...] = ("erm", *DISCRIMINATOR_MODES)


@dataclass(frozen=True)
class MixtureProblem:
    """A Gaussian mixture to learn: its name, ``(K, D)`` means and component std.

    Example:
        >>> from lightning_mixup.gan.data import ring_modes
        >>> MixtureProblem("ring", ring_modes(), 0.02).num_modes
        8
    """

    name: str
    modes: Tensor
    std: float

    @property
    def num_modes(self) -> int:
        """The number of components ``K``."""
        return int(self.modes.shape[0])


@dataclass(frozen=True)
class GANRunSpec:
    """One run of a batch: what may differ between the runs trained together.

    Attributes:
        problem: the mixture to learn.
        seed: the run's seed (weights, data, noise and mixing draws all derive from it).
        method: ``"erm"`` (plain GAN), ``"paper"`` or ``"shuffle"`` discriminator mixup. All runs of a batch
            must share one method (``"paper"`` gives the discriminator ``B`` inputs, the others ``2B``).
        alpha: mixup's α (unused by ``"erm"``).
        lr_d: Adam learning rate of the discriminator.
        lr_g: Adam learning rate of the generator.
    """

    problem: MixtureProblem
    seed: int
    method: MixMethod = "erm"
    alpha: float = 0.2
    lr_d: float = 1e-3
    lr_g: float = 1e-3

    def __post_init__(self) -> None:
        if self.method not in MIX_METHODS:
            raise ValueError(f"Expected argument `method` to be one of {MIX_METHODS}, but got {self.method!r}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"Expected argument `seed` to be a non-negative int, but got {self.seed!r}.")
        if self.method != "erm" and not (isinstance(self.alpha, (int, float)) and self.alpha > 0):
            raise ValueError(f"Expected argument `alpha` > 0 for method={self.method!r}, but got {self.alpha!r}.")
        if self.method == "shuffle" and self.alpha > 1:
            raise ValueError(
                f"Expected argument `alpha` in (0, 1] for method='shuffle' (λ ~ U(0, α)), but got {self.alpha!r}."
            )
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Expected argument `{name}` to be a positive float, but got {value!r}.")


@dataclass(frozen=True)
class BatchedGANConfig:
    """What all runs of a batch share (it fixes the tensor shapes).

    Attributes:
        latent_dim: generator input dimension.
        hidden: units per hidden layer (generator and discriminator).
        depth: hidden layers (generator and discriminator).
        batch_size: real (and generated) samples per discriminator step.
        d_steps: discriminator steps per generator iteration.
        iterations: generator iterations to train.
        betas: Adam betas.
        eps: Adam epsilon.
        eval_every: evaluate every this many generator iterations (and at 0 and at the end).
        eval_samples: generated samples per evaluation, from fixed per-run latent codes.
        snapshot_steps: iterations at which to keep ``snapshot_samples`` generated samples (for scatter plots).
        snapshot_samples: samples kept per snapshot.
        threshold: high quality = within ``threshold · std`` of the nearest mode.
        chunk: generator iterations whose random draws are taken at once (part of the definition of a run's
            random stream: changing it changes the draws).
    """

    latent_dim: int = 2
    hidden: int = 512
    depth: int = 3
    batch_size: int = 128
    d_steps: int = 5
    iterations: int = 1000
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    eval_every: int = 100
    eval_samples: int = 2048
    snapshot_steps: tuple[int, ...] = ()
    snapshot_samples: int = 512
    threshold: float = 3.0
    chunk: int = 25

    def __post_init__(self) -> None:
        for name, low in (
            ("latent_dim", 1),
            ("hidden", 1),
            ("depth", 0),
            ("batch_size", 1),
            ("d_steps", 1),
            ("iterations", 0),
            ("eval_every", 1),
            ("eval_samples", 1),
            ("snapshot_samples", 1),
            ("chunk", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"Expected argument `{name}` to be an int >= {low}, but got {value!r}.")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"Expected argument `betas` to be two floats in [0, 1), but got {self.betas!r}.")
        if any(not isinstance(s, int) or s < 0 or s > self.iterations for s in self.snapshot_steps):
            raise ValueError(
                f"Expected `snapshot_steps` to be ints in [0, iterations={self.iterations}], but got "
                f"{self.snapshot_steps!r}."
            )


@dataclass
class BatchedGANResult:
    """Everything measured on a batch of runs; per-run tensors have the run as their first dimension.

    Attributes:
        runs: the run specifications, in order.
        eval_steps: the generator iterations at which the runs were evaluated, ``(E,)``.
        modes_captured: ``(N, E)``.
        high_quality_share: ``(N, E)``.
        reverse_kl: ``(N, E)``.
        d_loss: ``(N, iterations)`` discriminator loss, mean over the ``d_steps`` steps of each iteration.
        g_loss: ``(N, iterations)`` generator loss.
        d_grad_norm: ``(N, iterations)`` discriminator gradient norm, mean over the ``d_steps`` steps.
        g_grad_norm: ``(N, iterations)`` generator gradient norm.
        finite: ``(N,)`` bool, whether losses, weights and samples stayed finite.
        snapshots: iteration -> ``(N, snapshot_samples, D)`` generated samples.
        generator_params: final generator weights and biases, each ``(N, ...)``.
        discriminator_params: final discriminator weights and biases, each ``(N, ...)``.
        seconds: wall time of the training.
    """

    runs: list[GANRunSpec]
    eval_steps: Tensor
    modes_captured: Tensor
    high_quality_share: Tensor
    reverse_kl: Tensor
    d_loss: Tensor
    g_loss: Tensor
    d_grad_norm: Tensor
    g_grad_norm: Tensor
    finite: Tensor
    snapshots: dict[int, Tensor] = field(default_factory=dict)
    generator_params: list[Tensor] = field(default_factory=list)
    discriminator_params: list[Tensor] = field(default_factory=list)
    seconds: float = 0.0


_PURPOSES = ("init", "data", "noise", "mix", "eval")


def run_generators(seed: int) -> dict[str, torch.Generator]:
    """The per-purpose CPU generators of one run: ``init``, ``data``, ``noise``, ``mix`` and ``eval``.

    Example:
        >>> a, b = run_generators(0), run_generators(0)
        >>> bool(torch.equal(torch.rand(2, generator=a["mix"]), torch.rand(2, generator=b["mix"])))
        True
    """
    out = {}
    for purpose in _PURPOSES:
        digest = hashlib.blake2b(f"gan-run:{seed}:{purpose}".encode(), digest_size=8).digest()
        out[purpose] = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
    return out


def _init_mlp(sizes: Sequence[int], generator: torch.Generator) -> list[Tensor]:
    """``nn.Linear``'s default initialisation, U(-1/√fan_in, 1/√fan_in) for weights and biases, from ``generator``.

    Weights are stored ``(fan_in, fan_out)`` (the transpose of ``nn.Linear.weight``) for ``baddbmm``.
    """
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / math.sqrt(fan_in)
        params.append((torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound)
        params.append((torch.rand(1, fan_out, generator=generator) * 2 - 1) * bound)
    return params


def _forward(params: Sequence[Tensor], x: Tensor) -> Tensor:
    """Stacked MLP: ``x`` ``(N, M, fan_in)`` through ReLU layers; the last layer is linear."""
    h = x
    last = len(params) // 2 - 1
    for layer in range(last + 1):
        h = torch.baddbmm(params[2 * layer + 1], h, params[2 * layer])
        if layer < last:
            h = torch.relu(h)
    return h


def _per_run_norm(grads: Sequence[Tensor]) -> Tensor:
    return torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()


class _StackedAdam:
    """Adam (as ``torch.optim.Adam`` with ``foreach=False``) over stacked per-run tensors, with a per-run lr."""

    def __init__(self, params: Sequence[Tensor], lr: Tensor, betas: tuple[float, float], eps: float) -> None:
        self.params = list(params)
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        self.t += 1
        bias_correction1 = 1 - self.beta1**self.t
        bias_correction2_sqrt = math.sqrt(1 - self.beta2**self.t)
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq, strict=True):
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.eps)
            step_size = (self.lr / bias_correction1).view(-1, *([1] * (p.ndim - 1)))
            p.sub_(step_size * m / denom)


def _stack(tensors: Sequence[Tensor]) -> Tensor:
    return torch.stack(list(tensors))


def _batch_validation(runs: Sequence[GANRunSpec]) -> None:
    if not runs:
        raise ValueError("Expected at least one GANRunSpec in `runs`, but got none.")
    methods = {run.method for run in runs}
    if len(methods) != 1:
        raise ValueError(
            f"Expected all runs of a batch to share one method, but got {sorted(methods)}. Train each method in its "
            "own batch (run_gan_study does)."
        )
    dims = {int(run.problem.modes.shape[1]) for run in runs}
    if len(dims) != 1:
        raise ValueError(f"Expected all problems of a batch to share one data dimension, but got {sorted(dims)}.")


def train_gan_batch(
    runs: Sequence[GANRunSpec],
    config: BatchedGANConfig,
    *,
    progress: bool | Callable[[int], None] = False,
    description: str = "GAN runs",
) -> BatchedGANResult:
    """Train ``len(runs)`` GANs together and measure their stability.

    Args:
        runs: the runs; they must share one ``method`` and one data dimension.
        config: the shared architecture and schedule.
        progress: ``True`` for a tqdm bar over generator iterations, or a callable given the number of iterations
            done since its last call.
        description: the progress bar's label.

    Returns:
        :class:`BatchedGANResult`.

    Raises:
        ValueError: if ``runs`` is empty or mixes methods or data dimensions.

    Example:
        >>> from lightning_mixup.gan.data import ring_modes
        >>> ring = MixtureProblem("ring", ring_modes(), 0.02)
        >>> cfg = BatchedGANConfig(hidden=16, depth=1, batch_size=16, iterations=4, eval_every=2, eval_samples=64)
        >>> result = train_gan_batch([GANRunSpec(ring, seed=0), GANRunSpec(ring, seed=1)], cfg)
        >>> result.modes_captured.shape, result.eval_steps.tolist()
        (torch.Size([2, 3]), [0, 2, 4])
    """
    import time

    _batch_validation(runs)
    start = time.perf_counter()
    n = len(runs)
    method = runs[0].method
    data_dim = int(runs[0].problem.modes.shape[1])
    b, d_steps, chunk = config.batch_size, config.d_steps, config.chunk
    gens = [run_generators(run.seed) for run in runs]
    g_sizes = [config.latent_dim, *([config.hidden] * config.depth), data_dim]
    d_sizes = [data_dim, *([config.hidden] * config.depth), 1]
    g_params = [_stack(t).requires_grad_() for t in zip(*(_init_mlp(g_sizes, g["init"]) for g in gens), strict=True)]
    d_params = [_stack(t).requires_grad_() for t in zip(*(_init_mlp(d_sizes, g["init"]) for g in gens), strict=True)]
    opt_g = _StackedAdam(g_params, torch.tensor([r.lr_g for r in runs]), config.betas, config.eps)
    opt_d = _StackedAdam(d_params, torch.tensor([r.lr_d for r in runs]), config.betas, config.eps)
    eval_z = _stack([torch.randn(config.eval_samples, config.latent_dim, generator=g["eval"]) for g in gens])
    ones_b = torch.ones(b)
    erm_labels = torch.cat([ones_b, torch.zeros(b)]).expand(n, 2 * b)

    problems: dict[str, tuple[MixtureProblem, list[int]]] = {}
    for i, run in enumerate(runs):
        problems.setdefault(run.problem.name, (run.problem, []))[1].append(i)

    eval_steps: list[int] = []
    evals: list[dict[str, Tensor]] = []
    snapshots: dict[int, Tensor] = {}
    finite = torch.ones(n, dtype=torch.bool)

    def evaluate(step: int) -> None:
        with torch.no_grad():
            samples = _forward(g_params, eval_z)
        metrics = {k: torch.zeros(n) for k in ("modes_captured", "high_quality_share", "reverse_kl")}
        for problem, idx in problems.values():
            counts, total = mode_histogram(samples[idx], problem.modes, problem.std, threshold=config.threshold)
            for k, v in coverage_from_counts(counts, total).items():
                metrics[k][idx] = v
        finite.logical_and_(torch.isfinite(samples).flatten(1).all(1))
        eval_steps.append(step)
        evals.append(metrics)
        if step in config.snapshot_steps:
            snapshots[step] = samples[:, : config.snapshot_samples].clone()

    d_loss_hist, g_loss_hist, d_norm_hist, g_norm_hist = [], [], [], []
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iterations, desc=description, leave=False)
    evaluate(0)
    for chunk_start in range(0, config.iterations, chunk):
        steps = min(chunk, config.iterations - chunk_start)
        n_d = steps * d_steps
        # per-run draws, run by run, in a fixed order: the batch never changes what a run draws
        real = _stack([sample_chunk(run.problem, n_d * b, g["data"]) for run, g in zip(runs, gens, strict=True)])
        real = real.view(n, n_d, b, data_dim)
        z_d = _stack([torch.randn(n_d, b, config.latent_dim, generator=g["noise"]) for g in gens])
        z_g = _stack([torch.randn(steps, b, config.latent_dim, generator=g["noise"]) for g in gens])
        lam, index = _draw_mix(runs, gens, n_d, b)
        for s in range(steps):
            d_losses, d_norms = [], []
            for k in range(d_steps):
                t = s * d_steps + k
                with torch.no_grad():
                    fake = _forward(g_params, z_d[:, t])
                if method == "erm":
                    inputs, labels = torch.cat([real[:, t], fake], dim=1), erm_labels
                else:
                    inputs, labels = _apply_mix(real[:, t], fake, lam[:, t], index[:, t], method)
                logits = _forward(d_params, inputs).squeeze(-1)
                loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1)
                grads = torch.autograd.grad(loss.sum(), d_params)
                opt_d.step(grads)
                d_losses.append(loss.detach())
                d_norms.append(_per_run_norm(grads))
            logits = _forward(d_params, _forward(g_params, z_g[:, s])).squeeze(-1)
            g_loss = F.binary_cross_entropy_with_logits(logits, ones_b.expand_as(logits), reduction="none").mean(1)
            g_grads = torch.autograd.grad(g_loss.sum(), g_params)
            opt_g.step(g_grads)
            d_loss_hist.append(torch.stack(d_losses).mean(0))
            d_norm_hist.append(torch.stack(d_norms).mean(0))
            g_loss_hist.append(g_loss.detach())
            g_norm_hist.append(_per_run_norm(g_grads))
            step = chunk_start + s + 1
            if step % config.eval_every == 0 or step == config.iterations or step in config.snapshot_steps:
                evaluate(step)
        if bar is not None:
            bar.update(steps)
        elif callable(progress):
            progress(steps)
    if bar is not None:
        bar.close()

    def hist(values: list[Tensor]) -> Tensor:
        return torch.stack(values, dim=1) if values else torch.zeros(n, 0)

    d_loss, g_loss_all = hist(d_loss_hist), hist(g_loss_hist)
    finite &= torch.isfinite(d_loss).all(1) & torch.isfinite(g_loss_all).all(1)
    for p in (*g_params, *d_params):
        finite &= torch.isfinite(p.detach()).flatten(1).all(1)
    keep = [i for i, step in enumerate(eval_steps) if step % config.eval_every == 0 or step == config.iterations]
    return BatchedGANResult(
        runs=list(runs),
        eval_steps=torch.tensor([eval_steps[i] for i in keep]),
        modes_captured=torch.stack([evals[i]["modes_captured"] for i in keep], dim=1),
        high_quality_share=torch.stack([evals[i]["high_quality_share"] for i in keep], dim=1),
        reverse_kl=torch.stack([evals[i]["reverse_kl"] for i in keep], dim=1),
        d_loss=d_loss,
        g_loss=g_loss_all,
        d_grad_norm=hist(d_norm_hist),
        g_grad_norm=hist(g_norm_hist),
        finite=finite,
        snapshots=snapshots,
        generator_params=[p.detach() for p in g_params],
        discriminator_params=[p.detach() for p in d_params],
        seconds=time.perf_counter() - start,
    )


def sample_chunk(problem: MixtureProblem, num_samples: int, generator: torch.Generator) -> Tensor:
    """Real samples of ``problem`` (as :func:`~lightning_mixup.gan.data.sample_mixture`, without the import cost)."""
    component = torch.randint(problem.num_modes, (num_samples,), generator=generator)
    noise = torch.randn(num_samples, problem.modes.shape[1], generator=generator)
    return problem.modes[component] + problem.std * noise


def _draw_mix(
    runs: Sequence[GANRunSpec], gens: Sequence[dict[str, torch.Generator]], n_d: int, b: int
) -> tuple[Tensor, Tensor]:
    """Per-run mixing draws for ``n_d`` discriminator steps: λ ``(N, n_d, M)`` and partner index ``(N, n_d, M)``."""
    method = runs[0].method
    if method == "erm":
        return torch.ones(len(runs), n_d, 2 * b), torch.zeros(len(runs), n_d, 2 * b, dtype=torch.long)
    lams, indices = [], []
    for run, g in zip(runs, gens, strict=True):
        if method == "paper":
            lams.append(sample_beta(run.alpha, n_d * b, generator=g["mix"]).view(n_d, b))
            indices.append(torch.arange(b, 2 * b).expand(n_d, b))
        else:
            lams.append(torch.rand(n_d, 2 * b, generator=g["mix"]) * run.alpha)
            indices.append(torch.argsort(torch.rand(n_d, 2 * b, generator=g["mix"]), dim=1))
    return _stack(lams), _stack(indices)


def _apply_mix(real: Tensor, fake: Tensor, lam: Tensor, index: Tensor, method: str) -> tuple[Tensor, Tensor]:
    """Batched :func:`~lightning_mixup.functional.discriminator.apply_discriminator_mix` over runs.

    ``real``/``fake`` ``(N, B, D)``, ``lam``/``index`` ``(N, M)`` with ``M = B`` (paper) or ``2B`` (shuffle).
    """
    n, b, d = real.shape
    both = torch.cat([real, fake], dim=1)
    labels = torch.cat([real.new_ones(n, b), real.new_zeros(n, b)], dim=1)
    if method == "paper":
        lam_full = torch.cat([lam, torch.ones_like(lam)], dim=1)
        index_full = torch.cat([index, torch.arange(b).expand(n, b)], dim=1)
    else:
        lam_full, index_full = lam, index
    partners = torch.gather(both, 1, index_full.unsqueeze(-1).expand(n, 2 * b, d))
    mixed = torch.lerp(partners, both, lam_full.unsqueeze(-1))
    mixed_labels = torch.lerp(torch.gather(labels, 1, index_full), labels, lam_full)
    if method == "paper":
        return mixed[:, :b], mixed_labels[:, :b]
    return mixed, mixed_labels
