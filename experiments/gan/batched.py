"""Many GANs at once, on the code users run: ``StudyGAN``'s own networks stacked with ``torch.func``.

For the stability study a few hundred small GANs must train on a CPU. Trained one after another through the
``Trainer``, each step of a small MLP is dominated by per-op and per-hook overhead; here ``N`` runs share every op:

- the networks are :class:`~experiments.gan.module.StudyGAN`'s own generator and discriminator, built exactly as the
  Lightning path builds them (``torch.manual_seed(seed)`` then ``StudyGAN(**model)``) and stacked with
  ``torch.func.stack_module_state``; forward passes are ``vmap(functional_call(...))``;
- the optimizers are ``torch.optim.Adam`` over the stacked tensors, in its ``foreach`` form (Adam is elementwise, so
  this is each run's own Adam), with the module's learning rates and betas;
- every random draw is the Lightning path's draw: real batch ``n`` from the data module's sampler with
  :func:`~experiments.gan.data.data_generator` ``(seed, 0, n)`` (or, for a fixed training set, the batches of the
  run's own :class:`~experiments.gan.data.SamplerDataModule` loader, epoch after epoch), latent codes from the
  module's stream (:func:`~lightning_mixup.gan.noise_generator` ``(seed, 0)``), and the mixing parameters of
  discriminator batch ``n`` from :func:`~lightning_mixup.engine.batch_generator` ``(seed, 0, n)`` with
  :func:`~lightning_mixup.functional.discriminator.sample_discriminator_mix`, exactly as ``MixupCallback(seed=seed)``
  draws them; the mixing itself is :func:`~lightning_mixup.functional.discriminator.apply_discriminator_mix`, called
  once for all runs on their concatenation (its per-element arithmetic is the per-run call's);
- the losses are :func:`~lightning_mixup.gan.soft_label_loss` and :func:`~lightning_mixup.gan.generator_loss`
  (vmapped), the schedule that of ``StudyGAN.training_step`` (``d_steps`` discriminator steps, then one generator
  step; or, with ``updates="simultaneous"``, both steps from one latent batch), and the metrics the functional
  twins of the :class:`~lightning_mixup.gan.GANStabilityCallback`'s.

So run ``i`` of a batch is the run ``Trainer(callbacks=[MixupCallback(alpha, discriminator_mode, seed)])`` trains
with ``seed_everything(seed)``, ``StudyGAN(**model, noise_seed=seed)`` and
``SamplerDataModule(sampler, num_samples, batch_size, seed)`` (:func:`lightning_run`), up to float rounding of
batched against single matmuls; a test trains one run both ways and compares the weights. ERM and mixup runs with the
same seed share initial weights, data and latent codes: only the mixing differs (a paired comparison).

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from experiments.gan.data import GaussianMixture, Sampler, SamplerDataModule, data_generator
from experiments.gan.module import StudyGAN
from lightning_mixup._device import to_device
from lightning_mixup.engine import batch_generator
from lightning_mixup.functional import MixParams
from lightning_mixup.functional.discriminator import (
    DISCRIMINATOR_MODES,
    apply_discriminator_mix,
    sample_discriminator_mix,
)
from lightning_mixup.gan import (
    classifier_coverage,
    classifier_mode_counts,
    coverage_from_counts,
    generator_loss,
    mode_histogram,
    noise_generator,
    soft_label_loss,
)

__all__ = [
    "MIX_METHODS",
    "BatchedGANResult",
    "EngineConfig",
    "GANRunSpec",
    "MixMethod",
    "check_num_samples",
    "lightning_run",
    "mix_runs",
    "train_gan_batch",
]

MixMethod = Literal["erm", "paper", "shuffle"]
MIX_METHODS: tuple[str, ...] = ("erm", *DISCRIMINATOR_MODES)


@dataclass(frozen=True)
class GANRunSpec:
    """One run of a batch: its seed (weights, data, codes and mixing all derive from it) and its mixing.

    Attributes:
        seed: the run's seed.
        method: ``"erm"`` (plain GAN), ``"paper"`` (Beta(α, α) real–fake pairs) or ``"shuffle"`` (the authors'
            code: U(0, α) over the shuffled real+fake batch). All runs of a batch share one method.
        alpha: mixup's α (unused by ``"erm"``).
    """

    seed: int
    method: MixMethod = "erm"
    alpha: float = 0.2

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


def check_num_samples(num_samples: int | None, batch_size: int) -> None:
    """``None`` (fresh samples) or a fixed training set of at least one batch.

    Example:
        >>> check_num_samples(100, batch_size=128)
        Traceback (most recent call last):
        ...
        ValueError: Expected argument `num_samples` to be None or an int >= batch_size (128), but got 100.
    """
    if num_samples is not None and (
        not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < batch_size
    ):
        raise ValueError(
            f"Expected argument `num_samples` to be None or an int >= batch_size ({batch_size}), but got "
            f"{num_samples!r}."
        )


@dataclass
class EngineConfig:
    """What all runs of a batch share.

    Attributes:
        sampler: the data (a :class:`~experiments.gan.data.GaussianMixture` or
            :class:`~experiments.gan.digits.StackedDigits`).
        model: :class:`~experiments.gan.module.StudyGAN` keyword arguments (architecture, optimizers, ``d_steps``,
            ``updates``, ``g_objective``; ``loss`` must be ``"bce"``; ``noise_seed`` is the run's seed).
        batch_size: real samples per discriminator step.
        num_samples: ``None``: a fresh real batch at every step; an int: a fixed training set of that size per run,
            reshuffled every epoch (``SamplerDataModule(num_samples=...)``; PacGAN trains on 100,000 samples).
        iterations: generator iterations to train.
        eval_every: evaluate every this many generator iterations (and at 0 and at the end).
        eval_samples: generated samples per evaluation, from latent codes shared by all runs.
        eval_seed: seed of those codes (the :class:`~lightning_mixup.gan.GANStabilityCallback`'s ``seed``).
        threshold: mixtures: high quality = within ``threshold · std`` of the nearest mode.
        classifier: images: the mode counter (then the sampler's modes are not used).
        confidence: images: the confident-share threshold.
        snapshot_steps: iterations at which to keep ``snapshot_samples`` generated samples (scatter plots).
        snapshot_samples: samples kept per snapshot.
    """

    sampler: Sampler
    model: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 128
    num_samples: int | None = None
    iterations: int = 1000
    eval_every: int = 100
    eval_samples: int = 2500
    eval_seed: int = 0
    threshold: float = 3.0
    classifier: Callable[[Tensor], Tensor] | None = None
    confidence: float = 0.5
    snapshot_steps: tuple[int, ...] = ()
    snapshot_samples: int = 512

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 2), ("iterations", 0), ("eval_every", 1), ("eval_samples", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"Expected argument `{name}` to be an int >= {low}, but got {value!r}.")
        check_num_samples(self.num_samples, self.batch_size)
        if any(not isinstance(s, int) or s < 0 or s > self.iterations for s in self.snapshot_steps):
            raise ValueError(
                f"Expected `snapshot_steps` to be ints in [0, iterations={self.iterations}], but got "
                f"{self.snapshot_steps!r}."
            )
        if self.classifier is None and not isinstance(self.sampler, GaussianMixture):
            raise ValueError("Expected a `classifier` to score samples that are not from a GaussianMixture.")

    def build(self, seed: int) -> StudyGAN:
        """The run's module, as the Lightning path builds it (global torch RNG seeded with ``seed``)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return StudyGAN(**{**self.model, "data_dim": self.sampler.data_dim, "noise_seed": seed})


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
        generator_state: stacked generator parameters and buffers, each ``(N, ...)``, by ``state_dict`` name.
        discriminator_state: the same for the discriminator.
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
    generator_state: dict[str, Tensor] = field(default_factory=dict)
    discriminator_state: dict[str, Tensor] = field(default_factory=dict)
    seconds: float = 0.0

    def state_dict(self, i: int) -> dict[str, Tensor]:
        """Run ``i``'s weights as a ``StudyGAN.state_dict()``."""
        out = {f"generator.{k}": v[i] for k, v in self.generator_state.items()}
        out.update({f"discriminator.{k}": v[i] for k, v in self.discriminator_state.items()})
        return out


def mix_runs(real: Tensor, fake: Tensor, params: Sequence[MixParams]) -> tuple[Tensor, Tensor]:
    """Discriminator mixup of ``N`` runs at once with one :func:`apply_discriminator_mix` call.

    Run ``r``'s parameters index its own ``cat([real[r], fake[r]])``; they are translated to positions in
    ``cat([real.flatten(0, 1), fake.flatten(0, 1)])``, mixed there in one call and gathered back, so every output
    element is computed by the same arithmetic as ``apply_discriminator_mix(real[r], fake[r], params[r])``.

    Args:
        real: ``(N, B, ...)`` real samples.
        fake: ``(N, B, ...)`` generated samples.
        params: ``N`` parameter sets from :func:`sample_discriminator_mix` (one form for all).

    Returns:
        ``(inputs, labels)``: ``(N, M, ...)`` and ``(N, M)``, ``M = B`` (paper) or ``2B`` (shuffle).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> real, fake = torch.ones(2, 3, 1), torch.zeros(2, 3, 1)
        >>> ps = [sample_discriminator_mix(3, alpha=0.5, mode="shuffle", generator=g) for _ in range(2)]
        >>> inputs, labels = mix_runs(real, fake, ps)
        >>> bool(torch.allclose(inputs[1], apply_discriminator_mix(real[1], fake[1], ps[1])[0]))
        True
    """
    n, b = real.shape[:2]
    sizes = {p.batch_size for p in params}
    if len(params) != n or len(sizes) != 1 or sizes.pop() not in (b, 2 * b):
        raise ValueError(f"Expected {n} parameter sets for {b} or {2 * b} samples each, but got {len(params)}.")
    real_flat, fake_flat = real.flatten(0, 1), fake.flatten(0, 1)
    rest = real.shape[2:]
    if params[0].batch_size == b:  # the paper's form: real i with fake i
        if any(not torch.equal(p.index, torch.arange(b, 2 * b)) for p in params):
            raise ValueError("Expected paper-form parameters (index = arange(B, 2B)) for B parameters per run.")
        joint = MixParams(lam=torch.cat([p.lam for p in params]), index=torch.arange(n * b, 2 * n * b))
        inputs, labels = apply_discriminator_mix(real_flat, fake_flat, joint)
        return inputs.view(n, b, *rest), labels.view(n, b)
    k = torch.arange(2 * b)
    position = torch.arange(n).unsqueeze(1) * b + torch.where(k < b, k, n * b + k - b)  # (N, 2B)
    lam = torch.empty(2 * n * b)
    index = torch.empty(2 * n * b, dtype=torch.long)
    lam[position] = torch.stack([p.lam for p in params])
    index[position] = position.gather(1, torch.stack([p.index for p in params]))
    inputs, labels = apply_discriminator_mix(real_flat, fake_flat, MixParams(lam=lam, index=index))
    flat_position = to_device(position.flatten(), inputs.device)
    return inputs[flat_position].view(n, 2 * b, *rest), labels[flat_position].view(n, 2 * b)


def _stack(
    modules: Sequence[nn.Module], device: torch.device
) -> tuple[nn.Module, dict[str, Tensor], dict[str, Tensor]]:
    params, buffers = stack_module_state(list(modules))  # type: ignore[arg-type]
    params = {k: v.detach().to(device).requires_grad_() for k, v in params.items()}
    buffers = {k: v.to(device) for k, v in buffers.items()}
    base = copy.deepcopy(modules[0]).to("meta")
    return base, params, buffers


def _fixed_set_batches(config: EngineConfig, seed: int) -> Iterator[Tensor]:
    """The real batches of run ``seed``'s fixed training set, epoch after epoch, as its Lightning run gets them."""
    data = SamplerDataModule(config.sampler, config.num_samples, config.batch_size, seed)
    data.setup("fit")
    loader = data.train_dataloader()  # one loader: its shuffling generator runs on across epochs, as in a fit
    while True:
        # an epoch takes len(loader) batches and never asks for one more, as Lightning's fit loop does: exhausting
        # the sampler would draw once more from the shuffling generator and change every later epoch's order
        batches = iter(loader)
        for _ in range(len(loader)):
            (batch,) = next(batches)
            yield batch


def _per_run_norm(grads: Sequence[Tensor]) -> Tensor:
    return torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()


def train_gan_batch(
    runs: Sequence[GANRunSpec],
    config: EngineConfig,
    *,
    device: str | torch.device = "cpu",
    progress: bool | Callable[[int], None] = False,
    description: str = "GAN runs",
) -> BatchedGANResult:
    """Train ``len(runs)`` GANs together and measure their stability.

    Args:
        runs: the runs; they must share one ``method``.
        config: the shared model, data and schedule.
        device: where the networks train (draws are taken on the CPU, as in the Lightning path).
        progress: ``True`` for a tqdm bar over generator iterations, or a callable given the number of iterations
            done since its last call.
        description: the progress bar's label.

    Returns:
        :class:`BatchedGANResult`.

    Raises:
        ValueError: if ``runs`` is empty or mixes methods.

    Example:
        >>> from lightning_mixup.gan import ring_modes
        >>> cfg = EngineConfig(GaussianMixture(ring_modes(), 0.01), {"g_hidden": 8, "d_hidden": 8, "d_steps": 2},
        ...                    batch_size=8, iterations=4, eval_every=2, eval_samples=64)
        >>> result = train_gan_batch([GANRunSpec(0), GANRunSpec(1)], cfg)
        >>> result.modes_captured.shape, result.eval_steps.tolist()
        (torch.Size([2, 3]), [0, 2, 4])
    """
    if not runs:
        raise ValueError("Expected at least one GANRunSpec in `runs`, but got none.")
    methods = {run.method for run in runs}
    if len(methods) != 1:
        raise ValueError(f"Expected all runs of a batch to share one method, but got {sorted(methods)}.")
    start = time.perf_counter()
    device = torch.device(device)
    n, b, method = len(runs), config.batch_size, runs[0].method
    modules = [config.build(run.seed) for run in runs]
    template = modules[0]
    d_steps, latent, simultaneous = template.d_steps, template.latent_dim, template.updates == "simultaneous"
    g_base, g_params, g_buffers = _stack([m.generator for m in modules], device)
    d_base, d_params, d_buffers = _stack([m.discriminator for m in modules], device)
    opt_g = torch.optim.Adam(list(g_params.values()), lr=template.lr_g, betas=template.betas, foreach=True)
    opt_d = torch.optim.Adam(list(d_params.values()), lr=template.lr_d, betas=template.betas, foreach=True)
    generate = vmap(lambda p, buf, z: functional_call(g_base, (p, buf), (z,)))
    discriminate = vmap(lambda p, buf, x: functional_call(d_base, (p, buf), (x,)).squeeze(-1))
    d_loss_fn = vmap(soft_label_loss)
    g_loss_fn = vmap(partial(generator_loss, objective=template.g_objective))
    noise_streams = [noise_generator(run.seed, 0) for run in runs]
    eval_z = torch.randn(config.eval_samples, latent, generator=torch.Generator().manual_seed(config.eval_seed))
    eval_z = eval_z.to(device).expand(n, -1, -1)
    erm_labels = torch.cat([torch.ones(b), torch.zeros(b)]).to(device).expand(n, 2 * b)
    modes = config.sampler.modes if isinstance(config.sampler, GaussianMixture) else None

    eval_steps: list[int] = []
    evals: list[dict[str, Tensor]] = []
    snapshots: dict[int, Tensor] = {}
    finite = torch.ones(n, dtype=torch.bool)

    def evaluate(step: int) -> None:
        g_base.eval()
        try:
            with torch.no_grad():
                samples = generate(g_params, g_buffers, eval_z).cpu()
        finally:
            g_base.train()
        finite.logical_and_(torch.isfinite(samples).flatten(1).all(1))
        if config.classifier is not None:
            per_run = []
            for i in range(n):
                with torch.no_grad():
                    counts, confident, total = classifier_mode_counts(
                        config.classifier(torch.nan_to_num(samples[i])), confidence=config.confidence
                    )
                per_run.append(classifier_coverage(counts, confident, total))
            metrics = {k: torch.stack([m[k] for m in per_run]) for k in per_run[0]}
        else:
            assert modes is not None and isinstance(config.sampler, GaussianMixture)
            counts, total = mode_histogram(samples, modes, config.sampler.std, threshold=config.threshold)
            metrics = coverage_from_counts(counts, total)
        eval_steps.append(step)
        evals.append(metrics)
        if step in config.snapshot_steps:
            snapshots[step] = samples[:, : config.snapshot_samples].clone()

    history: dict[str, list[Tensor]] = {"d_loss": [], "g_loss": [], "d_grad_norm": [], "g_grad_norm": []}
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iterations, desc=description, leave=False)
    evaluate(0)
    batch_number = 0

    fixed_sets = None if config.num_samples is None else [_fixed_set_batches(config, run.seed) for run in runs]

    def real_batch() -> Tensor:
        if fixed_sets is not None:
            return to_device(torch.stack([next(batches) for batches in fixed_sets]), device)
        return to_device(
            torch.stack([config.sampler.sample(b, data_generator(run.seed, 0, batch_number)) for run in runs]), device
        )

    def latent_batch() -> Tensor:
        return to_device(torch.stack([torch.randn(b, latent, generator=g) for g in noise_streams]), device)

    d_losses: list[Tensor] = []  # this iteration's discriminator losses and gradient norms
    d_norms: list[Tensor] = []

    def discriminator_backward(fake: Tensor) -> None:
        """Batch ``batch_number``'s discriminator loss on the real batch and ``fake``; its gradient into ``.grad``."""
        real = real_batch()
        if method == "erm":
            inputs, labels = torch.cat([real, fake], dim=1), erm_labels
        else:
            params = [
                sample_discriminator_mix(
                    b, alpha=run.alpha, mode=method, generator=batch_generator(run.seed, 0, batch_number)
                )
                for run in runs
            ]
            inputs, labels = mix_runs(real, fake, params)
        loss = d_loss_fn(discriminate(d_params, d_buffers, inputs), labels)
        opt_d.zero_grad()
        loss.sum().backward()
        d_norms.append(_per_run_norm([p.grad for p in d_params.values()]).detach())  # type: ignore[misc]
        d_losses.append(loss.detach())

    for iteration in range(1, config.iterations + 1):
        d_losses.clear()
        d_norms.clear()
        if simultaneous:  # one latent batch; both gradients before either network steps
            fake = generate(g_params, g_buffers, latent_batch())
            g_loss = g_loss_fn(discriminate(d_params, d_buffers, fake))
            grads = torch.autograd.grad(g_loss.sum(), list(g_params.values()))
            discriminator_backward(fake.detach())
            opt_d.step()
            batch_number += 1
        else:
            for _ in range(d_steps):
                with torch.no_grad():
                    fake = generate(g_params, g_buffers, latent_batch())
                discriminator_backward(fake)
                opt_d.step()
                batch_number += 1
            g_loss = g_loss_fn(discriminate(d_params, d_buffers, generate(g_params, g_buffers, latent_batch())))
            grads = torch.autograd.grad(g_loss.sum(), list(g_params.values()))
        opt_g.zero_grad()
        for p, grad in zip(g_params.values(), grads, strict=True):
            p.grad = grad
        opt_g.step()
        history["d_loss"].append(torch.stack(d_losses).mean(0))
        history["d_grad_norm"].append(torch.stack(d_norms).mean(0))
        history["g_loss"].append(g_loss.detach())
        history["g_grad_norm"].append(_per_run_norm(grads).detach())
        if iteration % config.eval_every == 0 or iteration == config.iterations or iteration in config.snapshot_steps:
            evaluate(iteration)
        if bar is not None:
            bar.update(1)
        elif callable(progress):
            progress(1)
    if bar is not None:
        bar.close()

    def hist(values: list[Tensor]) -> Tensor:
        return torch.stack(values, dim=1).cpu() if values else torch.zeros(n, 0)

    d_loss, g_loss_all = hist(history["d_loss"]), hist(history["g_loss"])
    finite &= torch.isfinite(d_loss).all(1) & torch.isfinite(g_loss_all).all(1)
    for p in (*g_params.values(), *d_params.values()):
        finite &= torch.isfinite(p.detach()).flatten(1).all(1).cpu()
    keep = [i for i, s in enumerate(eval_steps) if s % config.eval_every == 0 or s == config.iterations]
    return BatchedGANResult(
        runs=list(runs),
        eval_steps=torch.tensor([eval_steps[i] for i in keep]),
        modes_captured=torch.stack([evals[i]["modes_captured"] for i in keep], dim=1),
        high_quality_share=torch.stack([evals[i]["high_quality_share"] for i in keep], dim=1),
        reverse_kl=torch.stack([evals[i]["reverse_kl"] for i in keep], dim=1),
        d_loss=d_loss,
        g_loss=g_loss_all,
        d_grad_norm=hist(history["d_grad_norm"]),
        g_grad_norm=hist(history["g_grad_norm"]),
        finite=finite,
        snapshots=snapshots,
        generator_state={k: v.detach().cpu() for k, v in {**g_params, **g_buffers}.items()},
        discriminator_state={k: v.detach().cpu() for k, v in {**d_params, **d_buffers}.items()},
        seconds=time.perf_counter() - start,
    )


def lightning_run(
    run: GANRunSpec,
    config: EngineConfig,
    *,
    iterations: int | None = None,
    callbacks: Sequence[Any] = (),
    **trainer_kwargs: Any,
) -> StudyGAN:
    """Train one run the way users do: ``Trainer`` + ``StudyGAN`` + ``MixupCallback`` (the engine's reference).

    Args:
        run: the run.
        config: the model and data (``eval_*`` and snapshots are not used here).
        iterations: generator iterations (default ``config.iterations``).
        callbacks: extra callbacks (e.g. a :class:`~lightning_mixup.gan.GANStabilityCallback`).
        trainer_kwargs: more ``Trainer`` arguments.

    Returns:
        The trained module.
    """
    import lightning.pytorch as pl

    from lightning_mixup import MixupCallback

    steps = config.iterations if iterations is None else iterations
    pl.seed_everything(run.seed, verbose=False)
    model = StudyGAN(**{**config.model, "data_dim": config.sampler.data_dim, "noise_seed": run.seed})
    data = SamplerDataModule(config.sampler, config.num_samples, batch_size=config.batch_size, seed=run.seed)
    all_callbacks = list(callbacks)
    if run.method != "erm":
        all_callbacks.append(MixupCallback(alpha=run.alpha, discriminator_mode=run.method, seed=run.seed, log=False))
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "max_epochs": -1,
    }
    options.update(trainer_kwargs)
    trainer = pl.Trainer(max_steps=steps * (model.d_steps + 1), callbacks=all_callbacks, **options)
    trainer.fit(model, data)
    return model
