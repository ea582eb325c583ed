"""Put each measured effect beside the claim it tests, and say plainly whether the measurement agrees.

The claims (Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412; Verma et al., ICML 2019,
https://arxiv.org/abs/1806.05236; Thulasidasan et al., NeurIPS 2019, https://arxiv.org/abs/1905.11001):

1. UCI: mixup improves the average test error on 4 of 6 datasets and never underperforms ERM.
2. mixup models are more robust to single-step FGSM attacks.
3. little or no gain under multi-step PGD.
4. mixup models are better calibrated (lower ECE).
5. discriminator mixup stabilises GAN training (judged by modes captured *and* sample quality, see
   :func:`gan_claims`).

Rule: a paired difference (mixup − ERM over the same seeds) whose 95 % t-interval lies entirely on the claimed
side *agrees*; entirely on the other side *disagrees*; an interval that contains 0 is *inconclusive*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"


def interval_verdict(diff: Mapping[str, float], better: str) -> str:
    """Verdict on a paired-difference interval ``{"low", "high"}`` for a claim that mixup is ``better``.

    Args:
        diff: the 95 % interval of mixup − ERM.
        better: ``"higher"`` if a larger value favours mixup (accuracy), ``"lower"`` if smaller does (ECE).

    Example:
        >>> interval_verdict({"low": 0.01, "high": 0.05}, "higher")
        'agrees'
        >>> interval_verdict({"low": -0.1, "high": 0.2}, "lower")
        'inconclusive'
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"Expected argument `better` to be 'higher' or 'lower', but got {better!r}.")
    low, high = float(diff["low"]), float(diff["high"])
    if math.isnan(low) or math.isnan(high) or low <= 0 <= high:
        return INCONCLUSIVE
    favours_mixup = low > 0 if better == "higher" else high < 0
    return AGREES if favours_mixup else DISAGREES


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign-test p-value for ``wins`` against ``losses`` (ties dropped).

    Example:
        >>> round(sign_test(9, 1), 4), sign_test(0, 0)
        (0.0215, 1.0)
    """
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def _fmt(ci: Mapping[str, float], scale: float = 100.0, unit: str = " pp") -> str:
    return f"{ci['mean'] * scale:+.2f}{unit} [{ci['low'] * scale:+.2f}, {ci['high'] * scale:+.2f}]"


def classification_claims(studies: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Claims 1-4 from robustness studies keyed by dataset (outputs of ``run_robustness_study``).

    Returns:
        One row per claim and dataset: ``{"claim", "dataset", "measured", "verdict"}``.
    """
    rows: list[dict[str, Any]] = []
    for dataset, study in studies.items():
        summary = study["summary"]
        acc = summary["clean_accuracy"]["diff"]
        rows.append(
            {
                "claim": "1. lower test error than ERM",
                "dataset": dataset,
                "measured": f"accuracy {_fmt(acc)}",
                "verdict": interval_verdict(acc, "higher"),
            }
        )
        for attack, claim, better in (
            ("fgsm", "2. more robust to FGSM", "higher"),
            ("pgd", "3. little change under PGD", None),
        ):
            keys = [k for k in summary if k.startswith(f"{attack}@") and float(k.split("@")[1]) > 0]
            if not keys:
                continue
            verdicts = [interval_verdict(summary[k]["diff"], "higher") for k in keys]
            measured = "; ".join(f"ε={k.split('@')[1]}: {_fmt(summary[k]['diff'])}" for k in keys)
            if better is None:  # "little change": agreement means no interval excludes 0
                verdict = AGREES if all(v == INCONCLUSIVE for v in verdicts) else DISAGREES
                if verdict == DISAGREES:
                    side = "higher" if any(v == AGREES for v in verdicts) else "lower"
                    measured += f" (mixup {side} at some ε)"
            else:
                verdict = _majority(verdicts)
            rows.append({"claim": claim, "dataset": dataset, "measured": measured, "verdict": verdict})
        ece = summary["ece"]["diff"]
        rows.append(
            {
                "claim": "4. better calibrated (lower ECE)",
                "dataset": dataset,
                "measured": f"ECE {_fmt(ece)}; NLL {_fmt(summary['nll']['diff'], 1.0, '')}",
                "verdict": interval_verdict(ece, "lower"),
            }
        )
    return rows


def _majority(verdicts: Sequence[str]) -> str:
    """``agrees``/``disagrees`` if most ε-points say so, else ``inconclusive``."""
    for verdict in (AGREES, DISAGREES):
        if sum(v == verdict for v in verdicts) * 2 > len(verdicts):
            return verdict
    return INCONCLUSIVE


_PAIR_KEYS = ("dataset", "hidden", "depth", "lr", "latent_dim", "seed")


def _paired_signs(gan: Mapping[str, Any], dataset: str, method: str, metric: str) -> tuple[int, int, int]:
    """Wins, ties and losses of ``method`` against ERM on the same cell and seed, for a higher-is-better metric."""
    erm = {tuple(r[k] for k in _PAIR_KEYS): r for r in gan["runs"] if r["method"] == "erm"}
    wins = ties = losses = 0
    for run in gan["runs"]:
        base = erm.get(tuple(run[k] for k in _PAIR_KEYS))
        if run["dataset"] != dataset or run["method"] != method or base is None:
            continue
        diff = run[metric] - base[metric]
        wins, ties, losses = wins + (diff > 0), ties + (diff == 0), losses + (diff < 0)
    return wins, ties, losses


def gan_claims(gan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Claim 5 from a GAN study (output of ``experiments.gan.suite.run_gan_study``), per dataset and mixup form.

    More modes alone is no evidence of stability: a blurry generator "captures" modes by chance (the study's
    uniform-smear reference shows how many). So, paired by seed against ERM with sign tests (p < 0.05): mixup
    *agrees* if it captures more modes, does not lose high-quality share, and converges at least as often;
    *disagrees* if ERM wins on modes or converges more often without losing quality; otherwise the result is
    *inconclusive*, with the trade-off spelled out.
    """
    rows = []
    smear = {r["dataset"]: r for r in gan.get("reference_samplers", []) if r.get("sampler") == "uniform smear"}
    for dataset in dict.fromkeys(entry["dataset"] for entry in gan["summary"]):
        by_method = {e["method"]: e for e in gan["summary"] if e["dataset"] == dataset}
        erm = by_method.get("erm")
        for method, entry in by_method.items():
            if method == "erm" or erm is None:
                continue
            modes = _paired_signs(gan, dataset, method, "modes_captured")
            quality = _paired_signs(gan, dataset, method, "high_quality_share")
            p_modes, p_quality = sign_test(modes[0], modes[2]), sign_test(quality[0], quality[2])
            more_modes, fewer_modes = p_modes < 0.05 and modes[0] > modes[2], p_modes < 0.05 and modes[2] > modes[0]
            worse_quality = p_quality < 0.05 and quality[2] > quality[0]
            better_quality = p_quality < 0.05 and quality[0] > quality[2]
            converged = entry["converged"] - erm["converged"]
            if more_modes and not worse_quality and converged >= 0:
                verdict = AGREES
            elif (fewer_modes and not better_quality) or (converged < 0 and not more_modes):
                verdict = DISAGREES
            else:
                verdict = INCONCLUSIVE
            measured = (
                f"converged {entry['converged']:.0%} vs ERM {erm['converged']:.0%}; modes "
                f"{entry['modes_captured']['mean']:.1f} vs {erm['modes_captured']['mean']:.1f} of {entry['num_modes']} "
                f"(paired better/tie/worse {modes[0]}/{modes[1]}/{modes[2]}, p = {p_modes:.3f}); high-quality "
                f"{entry['high_quality_share']['mean']:.0%} vs {erm['high_quality_share']['mean']:.0%} "
                f"({quality[0]}/{quality[1]}/{quality[2]}, p = {p_quality:.3f})"
            )
            if more_modes and worse_quality:
                measured += "; more modes but blurrier samples"
            if dataset in smear:
                ref = smear[dataset]
                measured += (
                    f"; a uniform smear scores {ref['modes_captured']['mean']:.1f} modes at "
                    f"{ref['high_quality_share']['mean']:.0%} high quality"
                )
            rows.append(
                {
                    "claim": "5. discriminator mixup stabilises GANs",
                    "dataset": dataset,
                    "measured": measured,
                    "verdict": verdict,
                }
            )
    return rows


def claims_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The claims table in Markdown.

    Example:
        >>> print(claims_markdown([{"claim": "c", "dataset": "d", "measured": "m", "verdict": "agrees"}]))
        | claim | dataset | measured (mixup − ERM, 95 % CI) | verdict |
        |---|---|---|---|
        | c | d | m | **agrees** |
    """
    lines = ["| claim | dataset | measured (mixup − ERM, 95 % CI) | verdict |", "|---|---|---|---|"]
    lines += [f"| {r['claim']} | {r['dataset']} | {r['measured']} | **{r['verdict']}** |" for r in rows]
    return "\n".join(lines)


#: The goals of the README's "Which method for which goal" table, in order: (goal, what a claim row must test).
GOALS: tuple[str, ...] = (
    "accuracy",
    "calibration (ECE)",
    "calibration after temperature scaling",
    "OOD detection",
    "robustness to FGSM",
    "robustness to adaptive attacks",
    "regression RMSE",
    "GAN stability",
)
_METRIC_GOAL = {
    "accuracy": "accuracy",
    "ece15": "calibration (ECE)",
    "ts_ece15": "calibration after temperature scaling",
}
_METHOD_NAMES = {
    "mixup": "mixup", "regmixup": "RegMixup", "kernel_warping": "kernel warping",
    "mixup_inference_training": "MIT", "mixup_inference": "mixup inference", "cmixup": "C-Mixup",
}  # fmt: skip


def claim_evidence(row: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(goal, method, verdict)`` triples a claims-table row is evidence for (empty when it is about no goal).

    Rows of issue #25's methods carry ``method`` and per-metric ``parts``; mixup's rows are recognised by their claim
    text. A "little or no gain under PGD" row that *agrees* is evidence that mixup does *not* help (a *disagrees*
    for the goal), and "mixup can raise regression RMSE" likewise.

    Example:
        >>> parts = {"accuracy": "agrees", "ece15": "disagrees", "auroc_reversed_msp": "inconclusive"}
        >>> for e in claim_evidence({"claim": "RegMixup", "method": "regmixup", "verdict": "x", "parts": parts}):
        ...     print(e)
        ('accuracy', 'regmixup', 'agrees')
        ('calibration (ECE)', 'regmixup', 'disagrees')
        ('OOD detection', 'regmixup', 'inconclusive')
        >>> claim_evidence({"claim": "3. little or no gain under PGD", "verdict": "agrees"})
        [('robustness to adaptive attacks', 'mixup', 'disagrees')]
    """
    claim, verdict, method = str(row.get("claim", "")), str(row.get("verdict", "")), row.get("method")
    flip = {AGREES: DISAGREES, DISAGREES: INCONCLUSIVE, INCONCLUSIVE: INCONCLUSIVE}
    if method == "mixup_inference":
        return [("robustness to adaptive attacks", "mixup_inference", verdict)]
    if method == "cmixup":
        return [("regression RMSE", "cmixup", verdict)]
    if method == "mixup_regression":  # "mixup can raise RMSE": agreeing means mixup hurts, disagreeing that it helps
        return [("regression RMSE", "mixup", {AGREES: DISAGREES, DISAGREES: AGREES}.get(verdict, INCONCLUSIVE))]
    if method:
        out = []
        for metric, part in dict(row.get("parts", {})).items():
            goal = "OOD detection" if metric.startswith("auroc_") else _METRIC_GOAL.get(metric)
            if goal:
                out.append((goal, str(method), str(part)))
        return out
    if "GAN" in claim:
        return [("GAN stability", "mixup", verdict)]
    if claim.startswith("1."):
        return [("accuracy", "mixup", verdict)]
    if claim.startswith("4."):
        goal = "calibration after temperature scaling" if "temperature" in claim else "calibration (ECE)"
        return [(goal, "mixup", verdict)]
    if claim.startswith("2.") and "transferred" not in claim:
        return [("robustness to FGSM", "mixup", verdict)]
    if claim.startswith("3"):  # little or no gain under PGD / AutoAttack: agreeing is evidence of no help
        return [("robustness to adaptive attacks", "mixup", flip[verdict])]
    return []


def which_method_markdown(claims: Sequence[Mapping[str, Any]]) -> str:
    """The README's "Which method for which goal" table, written from the claims table's rows.

    Per goal, each method's settings are counted as agreeing (it helps there), disagreeing (it does not, or it
    hurts) or inconclusive. A method is *recommended* for a goal when it helps in at least one setting and in none
    is the verdict against it; when no method is, the row says that none helps.

    Example:
        >>> rows = [{"claim": "1. lower test error than ERM", "verdict": "agrees"},
        ...         {"claim": "1. lower test error than ERM", "verdict": "inconclusive"},
        ...         {"claim": "C-Mixup ...", "method": "cmixup", "verdict": "disagrees"}]
        >>> print(which_method_markdown(rows))
        | goal | use | evidence (settings: helps / against / inconclusive) |
        |---|---|---|
        | accuracy | mixup | mixup 1/0/1 |
        | regression RMSE | none helps here | C-Mixup 0/1/0 |
    """
    counts: dict[str, dict[str, list[int]]] = {}
    for row in claims:
        for goal, method, verdict in claim_evidence(row):
            tally = counts.setdefault(goal, {}).setdefault(method, [0, 0, 0])
            tally[{AGREES: 0, DISAGREES: 1}.get(verdict, 2)] += 1
    lines = ["| goal | use | evidence (settings: helps / against / inconclusive) |", "|---|---|---|"]
    for goal in GOALS:
        if goal not in counts:
            continue
        methods = counts[goal]
        best = sorted((m for m, (a, d, _) in methods.items() if a > 0 and d == 0), key=lambda m: -methods[m][0])
        use = ", ".join(_METHOD_NAMES.get(m, m) for m in best) if best else "none helps here"
        evidence = "; ".join(f"{_METHOD_NAMES.get(m, m)} {a}/{d}/{i}" for m, (a, d, i) in methods.items())
        lines.append(f"| {goal} | {use} | {evidence} |")
    return "\n".join(lines)
