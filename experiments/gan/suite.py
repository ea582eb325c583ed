"""The GAN part of ``make study`` / ``make demo``: four settings, one report, claim rows (issue #12).

Settings (each ERM against discriminator mixup, paired by seed):

1. ``authors`` — the mixup authors' own GAN code (hongyi-zhang/mixup ``gan/example_gan.py``): ring of 8 on the unit
   circle and 5×5 grid with spacing 0.5, std 0.01, fresh samples at every step; 3-hidden-layer ReLU MLPs; Adam
   (lr 1e-3, betas 0.9/0.999); batch 128; 5 discriminator steps per generator step; the *saturating* generator loss;
   mixup as their code does it (λ ~ U(0, α) on the shuffled real+fake batch, the ``"shuffle"`` form) for
   α ∈ {0.1, 0.2, 0.5, 1} at latent size 2, α = 0.2 at latent sizes 5 and 10.
2. ``pacgan`` — the PacGAN/VEEGAN 2D benchmark with PacGAN's GAN (fjxmlzn/PacGAN ``synthetic_data_experiments``
   configs): ring radius 1 std 0.01, grid {-4, …, 4}² std 0.05 (their fixed set of 100,000 samples is replaced by
   fresh samples); generator
   4 BN-ReLU layers, discriminator 3 maxout-5 layers, N(0, 0.02²) weights; Adam lr 1e-4, β1 0.8; batch 100; one
   discriminator step per generator step; non-saturating loss; 2,500 samples scored, high quality within 3σ. The
   baseline is compared with PacGAN Table 1's GAN row before mixup is judged.
3. ``forms`` — the paper's Beta(α, α) real–fake form beside the code's U(0, α) shuffle form: paper-form cells are
   trained inside setting 1 (same ERM runs) and reported here side by side.
4. ``digits`` — stacked scikit-learn digits (three digits as channels, 1,000 modes), a digit classifier as the mode
   counter, ERM against mixup discriminators.

The CPU cannot train the original sizes (3×512 MLPs for 20,001 generator iterations; PacGAN's 400 epochs), so the
networks are narrower and the runs shorter; every setting states what it cut, and
``experiments/configs/gan_*.yaml`` are the full runs.

Entry point for the orchestration: :func:`run` ``(out, demo=...)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.gan.study import SettingConfig, _mean_std, run_setting
from lightning_mixup.gan import VERDICTS

__all__ = [
    "ANCHORS",
    "CLAIM",
    "PACGAN_FULL_WIDTH",
    "PACGAN_MODEL",
    "claims",
    "run",
    "run_gan_study",
    "run_settings",
    "settings",
]

CLAIM = "5. discriminator mixup stabilises GANs"

#: Published numbers beside ours (modes captured, high-quality share in %, reverse KL).
ANCHORS: tuple[dict[str, Any], ...] = (
    {"source": "PacGAN Table 1", "model": "GAN", "data": "ring", "modes": 6.3, "high_quality": 98.2},
    {"source": "PacGAN Table 1", "model": "GAN", "data": "grid", "modes": 17.3, "high_quality": 94.8},
)
ANCHOR_NOTE = (
    "PacGAN Table 1 (Lin et al., NeurIPS 2018, https://arxiv.org/abs/1712.04086; 10 trials, 400 epochs of 100,000 "
    "samples). The protocol (ring radius 1 std 0.01, grid {-4, …, 4}² std 0.05, 2,500 scored samples, 3σ, "
    "non-saturating loss, architecture) was checked against the authors' configs and code (fjxmlzn/PacGAN, "
    "synthetic_data_experiments/2DRing_GAN&PacGAN/config.py, 2DGrid_GAN&PacGAN/pacgan_task.py, "
    "PacGAN/pacgan/extensions.py); the table's values are those quoted in issue #12 (GAN row) and the previous "
    "anchors of this project: the table is an image in the authors' repository and its text could not be re-read "
    "here. Stacked MNIST (VEEGAN Table 2, PacGAN Tables 2-3) counts modes of 26,000 samples with an MNIST classifier "
    "(PacGAN's VEEGAN_experiment config); its published values could not be read as text here either, so they are "
    "not quoted."
)


#: PacGAN's 2D networks (fjxmlzn/PacGAN synthetic_data_experiments): a BN-ReLU generator and a maxout-5
#: discriminator, N(0, 0.02²) weights, Adam (1e-4, β 0.8/0.999), one discriminator step per generator step; at the
#: CPU study's widths (4×100 / 3×50). Their own widths are :data:`PACGAN_FULL_WIDTH`.
PACGAN_MODEL: dict[str, Any] = {
    "g_hidden": 100,
    "g_depth": 4,
    "g_batchnorm": True,
    "d_hidden": 50,
    "d_depth": 3,
    "d_maxout": 5,
    "init_std": 0.02,
    "lr_g": 1e-4,
    "lr_d": 1e-4,
    "betas": (0.8, 0.999),
    "d_steps": 1,
}
#: PacGAN's own hidden widths (generator 4×400, discriminator 3×200).
PACGAN_FULL_WIDTH: dict[str, int] = {"g_hidden": 400, "d_hidden": 200}


def _authors(demo: bool) -> SettingConfig:
    cells: list[dict[str, Any]] = [{"latent_dim": 2, "method": "erm", "alpha": 0.0}]
    if demo:
        cells.append({"latent_dim": 2, "method": "shuffle", "alpha": 0.2})
    else:
        cells += [{"latent_dim": 2, "method": "shuffle", "alpha": a} for a in (0.1, 0.2, 0.5, 1.0)]
        cells += [{"latent_dim": 2, "method": "paper", "alpha": a} for a in (0.2, 1.0)]
        for latent in (5, 10):
            cells += [
                {"latent_dim": latent, "method": "erm", "alpha": 0.0},
                {"latent_dim": latent, "method": "shuffle", "alpha": 0.2},
            ]
    iterations = 400 if demo else 800
    return SettingConfig(
        name="authors",
        title="Setting 1: the mixup authors' GAN code (hongyi-zhang/mixup gan/example_gan.py)",
        datasets=["ring", "grid"],
        ring={"radius": 1.0, "std": 0.01},
        grid={"spacing": 0.5, "std": 0.01},
        model={
            "g_hidden": 64,
            "g_depth": 3,
            "d_hidden": 64,
            "d_depth": 3,
            "lr_g": 1e-3,
            "lr_d": 1e-3,
            "betas": (0.9, 0.999),
            "d_steps": 5,
            "g_objective": "saturating",
        },
        cells=cells,
        seeds=5,
        batch_size=128,
        iterations=iterations,
        eval_every=iterations // 6,
        eval_samples=2500,
        snapshot_steps=[10, 100, iterations // 2, iterations],
        reference=(
            "their code trains 3×512 MLPs for 20,001 generator iterations for every α ∈ {0, 0.1, 0.2, 0.5, 1} and "
            "latent size ∈ {2, 5, 10}; here 3×64 MLPs for "
            f"{iterations} iterations, all α at latent size 2 and α = 0.2 at latent sizes 5 and 10"
            + (" (demo: α = 0.2 at latent size 2 only)" if demo else "")
            + ". Their mixup draws a second shuffled real+fake batch as partners; the shuffle form pairs the batch "
            "with a permutation of itself. Full run: experiments/configs/gan_authors_*.yaml."
        ),
    )


def _pacgan(demo: bool) -> SettingConfig:
    iterations = 3000 if demo else 4000
    cells = [{"latent_dim": 2, "method": "erm", "alpha": 0.0}, {"latent_dim": 2, "method": "paper", "alpha": 0.2}]
    return SettingConfig(
        name="pacgan",
        title="Setting 2: the PacGAN/VEEGAN 2D benchmark with PacGAN's GAN as the baseline",
        datasets=["ring", "grid"],
        ring={"radius": 1.0, "std": 0.01},
        grid={"spacing": 2.0, "std": 0.05},
        model=dict(PACGAN_MODEL),
        cells=cells,
        seeds=5,
        batch_size=100,
        iterations=iterations,
        eval_every=iterations // 6,
        eval_samples=2500,
        snapshot_steps=[100, iterations // 2, iterations],
        reference=(
            "PacGAN trains a 4×400 BN-ReLU generator and a 3×200 maxout-5 discriminator for 400 epochs of 100,000 "
            "samples (400,000 iterations, simultaneous updates of both networks on each batch); here 4×100 and "
            f"3×50 for {iterations} alternating iterations on fresh samples. Full run: "
            "experiments/configs/gan_pacgan_*.yaml."
        ),
    )


def _digits(demo: bool) -> SettingConfig:
    iterations = 400 if demo else 1500
    return SettingConfig(
        name="digits",
        title="Setting 4: stacked digits (three scikit-learn digits as channels, 1,000 modes)",
        datasets=["digits"],
        model={
            "g_hidden": 128,
            "g_depth": 2,
            "d_hidden": 128,
            "d_depth": 2,
            "g_output": "sigmoid",
            "lr_g": 2e-4,
            "lr_d": 2e-4,
            "betas": (0.5, 0.999),
            "d_steps": 1,
        },
        cells=[{"latent_dim": 16, "method": "erm", "alpha": 0.0}, {"latent_dim": 16, "method": "paper", "alpha": 0.2}],
        seeds=5 if not demo else 3,
        batch_size=64,
        iterations=iterations,
        eval_every=iterations // 4,
        eval_samples=10_000,
        snapshot_steps=[],
        verdict_min_modes_share=0.9,
        verdict_max_reverse_kl=0.5,
        reference=(
            "VEEGAN/PacGAN stack three 28×28 MNIST digits and train DCGANs (lr 2e-4, β1 0.5, batch 64, 50 epochs of "
            "128,000 samples), counting modes of 26,000 samples; here 8×8 scikit-learn digits, 2×128 MLPs for "
            f"{iterations} iterations, 10,000 samples scored. Verdict: converged = at least 900 modes and reverse KL "
            "≤ 0.5 (the true distribution scores about 1,000 and 0.05 with this many samples)."
        ),
    )


def _cost(cfg: SettingConfig) -> float:
    """A rough relative training cost: runs × iterations × (discriminator steps + 1) × width²."""
    model = {"g_hidden": 512, "d_steps": 5, **cfg.model}
    runs = len(cfg.datasets) * len(cfg.cells) * cfg.seeds
    return runs * cfg.iterations * (model["d_steps"] + 1) * model["g_hidden"] ** 2


def settings(demo: bool) -> list[SettingConfig]:
    """The settings of ``make study`` (``demo=False``) or of ``make demo`` (a small subset)."""
    if demo:
        return [_authors(True), _digits(True)]
    return [_authors(False), _pacgan(False), _digits(False)]


def _rate(p: Mapping[str, Any], key: str) -> str:
    e = p[key]
    return f"{e['mixup']:.0%} vs {e['erm']:.0%}"


def _verdict(p: Mapping[str, Any], min_high_quality: float = 0.5) -> str:
    """The claim verdict of one paired cell (95 % intervals of the paired differences).

    *agrees*: mixup converges more often or collapses less, or it captures more modes while its samples are sharp
    (mean high-quality share at least ``min_high_quality``, not below ERM's), and it diverges no more often; more
    modes from blurry samples are no evidence (a uniform smear "captures" most modes). *disagrees*: mixup converges
    less often, collapses or diverges more often, or loses modes or sample quality, and gains neither convergence
    nor modes. Otherwise *inconclusive*.
    """
    conv, coll, div = p["converged"], p["mode-collapsed"], p["diverged"]
    modes, hq = p["modes_captured"], p["high_quality_share"]

    def above(e: Mapping[str, float]) -> bool:
        return math.isfinite(e["low"]) and e["low"] > 0

    def below(e: Mapping[str, float]) -> bool:
        return math.isfinite(e["high"]) and e["high"] < 0

    sharp_modes = above(modes) and hq["mixup"] >= min_high_quality and not below(hq)
    better = (above(conv) or below(coll) or sharp_modes) and not above(div)
    worse = (below(conv) or above(coll) or above(div) or below(modes) or below(hq)) and not (
        above(conv) or above(modes)
    )
    if better and not worse:
        return "agrees"
    if worse and not better:
        return "disagrees"
    return "inconclusive"


def claims(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Claim-5 rows: one per paired mixup cell (at the first latent size of each setting, plus latent sweeps)."""
    rows = []
    for result in results:
        smear = {r["dataset"]: r for r in result["reference_samplers"] if r["sampler"] == "uniform smear"}
        for p in result["paired"]:
            m, hq, kl = p["modes_captured"], p["high_quality_share"], p["reverse_kl"]
            measured = (
                f"modes {m['mixup']:.1f} vs ERM {m['erm']:.1f} of {p['num_modes']} (Δ {m['diff']:+.1f} "
                f"[{m['low']:+.1f}, {m['high']:+.1f}], better/tie/worse {m['better']}/{m['tie']}/{m['worse']}); "
                f"HQ {hq['mixup']:.0%} vs {hq['erm']:.0%} (Δ {100 * hq['diff']:+.0f} points "
                f"[{100 * hq['low']:+.0f}, {100 * hq['high']:+.0f}]); reverse KL {kl['mixup']:.2f} vs {kl['erm']:.2f}; "
                f"converged {_rate(p, 'converged')}, collapsed {_rate(p, 'mode-collapsed')}, diverged "
                f"{_rate(p, 'diverged')} ({p['pairs']} seeds)"
            )
            if p["dataset"] in smear:
                ref = smear[p["dataset"]]
                measured += (
                    f"; a uniform smear scores {ref['modes_captured']['mean']:.1f} modes at "
                    f"{ref['high_quality_share']['mean']:.1%} HQ"
                )
            rows.append(
                {
                    "claim": CLAIM,
                    "setting": f"{p['dataset']}, latent {p['latent_dim']}, {p['method']}",
                    "measured": measured,
                    "verdict": _verdict(p, float(result["config"]["verdict_min_high_quality"])),
                }
            )
    return rows


def _forms_section(authors: Mapping[str, Any]) -> str:
    """Setting 3: paper (Beta) against shuffle (U) forms at the same α, from setting 1's runs."""
    rows = [p for p in authors["paired"] if p["latent_dim"] == 2 and p["alpha"] in (0.2, 1.0)]
    if not any(p["form"] == "paper" for p in rows):
        return ""
    lines = [
        "## Setting 3: the paper's Beta(α, α) real–fake form beside the code's U(0, α) shuffle form",
        "",
        "Trained inside setting 1 (same data, networks and ERM runs). The paper mixes each real sample with one "
        "generated sample, λ ~ Beta(α, α), target λ; the released code mixes the shuffled real+fake batch with "
        "itself, λ ~ U(0, α) (so most mixed samples sit close to one of the two). Paired against the same ERM runs:",
        "",
        "| data | arm | Δ modes | Δ HQ (points) | Δ reverse KL | converged (mixup vs ERM) | collapsed | diverged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted(rows, key=lambda r: (r["dataset"], r["alpha"], r["form"])):
        m, hq, kl = p["modes_captured"], p["high_quality_share"], p["reverse_kl"]
        lines.append(
            f"| {p['dataset']} | {p['method']} | {m['diff']:+.1f} [{m['low']:+.1f}, {m['high']:+.1f}] | "
            f"{100 * hq['diff']:+.0f} [{100 * hq['low']:+.0f}, {100 * hq['high']:+.0f}] | {kl['diff']:+.2f} | "
            f"{_rate(p, 'converged')} | {_rate(p, 'mode-collapsed')} | {_rate(p, 'diverged')} |"
        )
    return "\n".join(lines) + "\n"


def _baseline_section(pacgan: Mapping[str, Any]) -> str:
    lines = [
        "## The baseline against PacGAN Table 1",
        "",
        "| data | model | modes | HQ % | reverse KL |",
        "|---|---|---|---|---|",
    ]
    for cell in pacgan["cells"]:
        if cell["form"] == "erm":
            lines.append(
                f"| {cell['dataset']} | our GAN (ERM), {pacgan['architecture']}, "
                f"{pacgan['config']['iterations']} it. | "
                f"{cell['modes_captured']['mean']:.1f} | {100 * cell['high_quality_share']['mean']:.1f} | "
                f"{cell['reverse_kl']['mean']:.2f} |"
            )
    for a in ANCHORS:
        lines.append(f"| {a['data']} | {a['source']}: {a['model']} | {a['modes']} | {a['high_quality']} | n/a |")
    lines += ["", ANCHOR_NOTE, ""]
    return "\n".join(lines)


def _anchor_check(pacgan: Mapping[str, Any]) -> str:
    """Whether the baseline reproduces PacGAN's GAN row (modes within 1.5, HQ within 5 points)."""
    out = []
    for cell in pacgan["cells"]:
        if cell["form"] != "erm":
            continue
        data = str(cell["dataset"]).split(" ")[0]
        anchor = next(a for a in ANCHORS if a["data"] == data and a["model"] == "GAN")
        modes, hq = cell["modes_captured"]["mean"], 100 * cell["high_quality_share"]["mean"]
        ok = abs(modes - anchor["modes"]) <= 1.5 and abs(hq - anchor["high_quality"]) <= 5
        out.append(
            f"{data}: {modes:.1f} modes / {hq:.1f} % HQ against {anchor['modes']} / {anchor['high_quality']} % — "
            + ("reproduced" if ok else "NOT reproduced")
        )
    return "; ".join(out)


def _run_one(args: tuple[SettingConfig, str, bool]) -> dict[str, Any]:
    return run_setting(args[0], args[1], progress=args[2])


def run_settings(
    configs: Sequence[SettingConfig], out: Path, *, workers: int, progress: bool = False
) -> list[dict[str, Any]]:
    """:func:`run_setting` for each setting (results in the given order), in ``workers`` processes at once.

    ``progress``: a tqdm bar per group of runs (each process writes its own to standard error).
    """
    if workers <= 1 or len(configs) <= 1:
        return [run_setting(cfg, out, progress=progress) for cfg in configs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # longest first, so the shorter settings share the other workers
    order = sorted(range(len(configs)), key=lambda i: -_cost(configs[i]))
    with ProcessPoolExecutor(min(workers, len(configs)), mp_context=multiprocessing.get_context("spawn")) as pool:
        done = dict(zip(order, pool.map(_run_one, [(configs[i], str(out), progress) for i in order]), strict=True))
    return [done[i] for i in range(len(configs))]


def run(out: Path, *, demo: bool, workers: int | None = None) -> dict[str, Any]:
    """Run the GAN settings; write JSON, Markdown and figures under ``out``.

    Each setting trains on one torch thread; with ``workers`` > 1 the settings run in that many processes at once
    (one per CPU core: the study's small networks gain nothing from a second thread inside one process). ``None``:
    2 for the study, 1 for the demo (whose settings are too short to repay starting the processes).

    Returns:
        ``{"markdown": str, "claims": list[dict], "files": list[str], "seconds": float}``; claim rows are
        ``{"claim", "setting", "measured", "verdict"}`` with verdict ``"agrees"``, ``"disagrees"`` or
        ``"inconclusive"``.
    """
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = run_settings(settings(demo), out, workers=(1 if demo else 2) if workers is None else workers)
    sections = [
        "# GAN training stability: ERM against discriminator mixup" + (" (demo subset)" if demo else ""),
        "",
        "Claim (Zhang et al., ICLR 2018, §3.5): mixup of real and generated samples stabilises the discriminator and "
        "so GAN training. Every mixup run is paired by seed with an ERM run that has the same initial weights, data "
        "and latent codes. Modes: modes captured (a mode is captured if it is the nearest mode of at least one "
        "high-quality sample; images: a label of the digit classifier); HQ: share of samples within 3 std of their "
        "nearest mode (images: confidently classified); reverse KL: KL(mode histogram ‖ uniform). Verdict per run "
        "over its last 3 evaluations: diverged (non-finite, or a mean HQ below the share a uniform smear over the "
        "data's square scores by chance, see the reference samplers; images: below 5 %), converged (in each: all "
        "modes, reverse KL ≤ 0.1, HQ ≥ 50 %), mode-collapsed (modes missing or uneven), unconverged (even but blurry). "
        "Loss variance and gradient norms over the second half of training. Intervals: 95 % t-intervals of the "
        "paired differences.",
        "",
    ]
    for result in results:
        sections.append(result["markdown"])
        if result["config"]["name"] == "authors":
            sections.append(_forms_section(result))
        if result["config"]["name"] == "pacgan":
            sections.append(_baseline_section(result))
            sections.append(f"Baseline check: {_anchor_check(result)}.\n")
        if "classifier_held_out_accuracy" in result:
            sections.append(
                f"Digit classifier (the mode counter): {result['classifier_held_out_accuracy']:.1%} accuracy on 297 "
                "held-out digits.\n"
            )
    rows = claims(results)
    sections += ["## Claim rows", "", "| claim | setting | measured | verdict |", "|---|---|---|---|"]
    sections += [f"| {r['claim']} | {r['setting']} | {r['measured']} | **{r['verdict']}** |" for r in rows]
    seconds = time.perf_counter() - start
    sections += ["", f"GAN part wall time: {seconds:.0f} s."]
    text = "\n".join(sections) + "\n"
    report = out / "gan_report.md"
    report.write_text(text)
    files = [str(report)] + [p for r in results for p in r["files"].values()]
    return {"markdown": text, "claims": rows, "files": files, "seconds": seconds}


def run_gan_study(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The earlier one-setting entry point of the GAN study (``experiments.run_all`` now calls :func:`run`).

    Runs the ``make demo`` subset of setting 1 (``quick``: 150 iterations, 3 seeds) with the given
    :class:`SettingConfig` overrides, and adds the per-arm ``"summary"`` (ERM labelled ``"erm"``) that
    ``experiments.report.gan_claims`` reads. The full study is :func:`run`.
    """
    opts = dict(options or {})
    out = opts.pop("out", None)
    quick = bool(opts.pop("quick", False))
    opts.pop("progress", None)
    base = dataclasses.asdict(settings(demo=True)[0])
    if quick:
        base.update(iterations=150, eval_every=25, seeds=3, snapshot_steps=[10, 75, 150])
    result = run_setting(SettingConfig(**{**base, **opts}), out)
    for run in result["runs"]:
        if run["form"] == "erm":
            run["method"] = "erm"
    summary = []
    for dataset in dict.fromkeys(r["dataset"] for r in result["runs"]):
        for method in dict.fromkeys(r["method"] for r in result["runs"] if r["dataset"] == dataset):
            members = [r for r in result["runs"] if r["dataset"] == dataset and r["method"] == method]
            entry: dict[str, Any] = {"dataset": dataset, "method": method, "runs": len(members)}
            entry["num_modes"] = members[0]["num_modes"]
            for metric in ("modes_captured", "high_quality_share", "reverse_kl"):
                entry[metric] = _mean_std([m[metric] for m in members])
            for verdict in VERDICTS:
                entry[verdict] = sum(m["verdict"] == verdict for m in members) / len(members)
            summary.append(entry)
    result["summary"] = summary
    return result
