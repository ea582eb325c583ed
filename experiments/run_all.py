"""The main job (``make demo``): ERM vs mixup on classification and on GANs, a representative subset, end to end.

1. Classification (:mod:`experiments.classification.study`, configuration ``DEMO``): 10 small KEEL tables with
   10-fold cross-validation in the paper's setting; MNIST-1D's CNN and scikit-learn's digits with calibration and
   FGSM/PGD robustness; the statistics and verdicts of the full study on this subset.
   Issue #25's methods (RegMixup, kernel warping, MIT) are one arm each, at their papers' defaults, with OOD
   detection and mixup inference on MNIST-1D and digits.
2. Regression (:mod:`experiments.regression.study`): ERM, mixup and C-Mixup on the 13 offline tables, 10-fold CV
   (the demo: folds 0 and 1 of each), Wilcoxon across tables.
3. GAN stability: ``experiments.gan.suite.run(out, demo=True)``.
4. ``experiments/results/demo/REPORT.md`` and ``summary.json``: every measured effect beside the claim it tests,
   and the "Which method for which goal" table (:func:`experiments.report.which_method_markdown`).
   The full study (``make study``) writes the same files to ``experiments/results/`` (the committed results) and
   refreshes the README's results section from them.

    python -m experiments.run_all            # the demo (a few minutes on 2 CPU cores)
    python -m experiments.run_all --quick    # a smoke run of the classification part (no README refresh)

``python -m experiments.study`` (``make study``) runs everything at full scale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from experiments.classification import study as classification
from experiments.classification.report import claims_markdown
from experiments.paths import ROOT, relative
from experiments.report import which_method_markdown

README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"
METHODS_START, METHODS_END = "<!-- methods:start -->", "<!-- methods:end -->"
#: A smoke configuration: three tiny tables, two folds' worth of seeds, short MNIST-1D and digits runs.
QUICK = replace(
    classification.DEMO, keel=("iris", "tae", "hayes-roth"), folds=tuple(range(10)), mnist1d_seeds=(0, 1),
    mnist1d_steps=200, digits_folds=(0, 1), digits_epochs=2, workers=1, regression_tables=("islp_hitters",
    "sklearn_diabetes", "islp_boston"), regression_folds=(0,), name="quick",
    notes=["`--quick`: a smoke run; its numbers are not results."],
)  # fmt: skip


def run_regression(out: Path, config: classification.Config) -> dict[str, Any]:
    """The regression part: :func:`experiments.regression.study.run_study` and its claims."""
    from experiments.regression import study as regression

    tables = config.regression_tables or regression.REGRESSION_TABLES
    start, cpu = time.perf_counter(), time.process_time()
    result = regression.run_study(tables, regression.StudyConfig(max_steps=config.regression_steps),
                                  config.regression_folds, regression.ARMS, out,
                                  jobs=max(1, config.workers))  # fmt: skip
    result["claims"] = regression.regression_claims(result)
    result["markdown"] = regression.markdown_table(result)
    result["cpu_seconds_parent"] = time.process_time() - cpu
    result["seconds"] = time.perf_counter() - start
    return result


def run_gan(out: Path, demo: bool) -> dict[str, Any]:
    """The GAN part: :func:`experiments.gan.suite.run`."""
    from experiments.gan import suite

    return suite.run(out, demo=demo)


def run(
    out: Path, config: classification.Config, *, gan: bool = True, demo: bool = True, regression: bool = True
) -> dict[str, Any]:
    """Every part; returns what :func:`write_outputs` needs."""
    start = time.perf_counter()
    result = classification.run(config, out / "classification")
    reg_part = run_regression(out / "regression", config) if regression else None
    gan_part = run_gan(out / "gan", demo) if gan else None
    claims = list(result["claims"]) + (list(reg_part["claims"]) if reg_part else [])
    claims += list(gan_part["claims"]) if gan_part else []
    return {"classification": result, "regression": reg_part, "gan": gan_part, "claims": claims,
            "seconds": time.perf_counter() - start, "machine": classification.machine(),
            "config": config.name}  # fmt: skip


def report_markdown(result: dict[str, Any], out: Path, link_base: Path) -> str:
    cls = result["classification"]
    gan = result["gan"]
    parts = [f"{result['seconds'] / 60:.1f} minutes in all: classification {cls['seconds'] / 60:.1f}"]
    if result.get("regression"):
        parts.append(f"regression {result['regression']['seconds'] / 60:.1f}")
    if gan:
        parts.append(f"GAN {gan['seconds'] / 60:.1f}")
    lines = [
        f"Measured by `python -m experiments.{'study' if result['config'] == 'full' else 'run_all'}` (configuration "
        f"`{result['config']}`) on {result['machine']}: {', '.join(parts)}.",
        "",
        "### Claims against measurements",
        "",
        claims_markdown(result["claims"]),
        "",
        "### Which method for which goal",
        "",
        which_method_markdown(result["claims"]),
        "",
        f"Details: [classification]({relative(out / 'classification' / 'CLASSIFICATION.md', link_base)})"
        + (
            f", [regression]({relative(out / 'regression' / 'regression_study.md', link_base)})"
            if result.get("regression")
            else ""
        )
        + (f", [GAN]({relative(out / 'gan', link_base)})" if gan else "")
        + ".",
        "",
    ]
    return "\n".join(lines)


def full_markdown(result: dict[str, Any], out: Path) -> str:
    cls = result["classification"]
    text = report_markdown(result, out, out) + "\n## Classification\n\n"
    text += classification.report_module().markdown(cls, out / "classification", out)
    if result.get("regression"):
        text += "\n## Regression\n\n" + result["regression"]["markdown"] + "\n"
    if result["gan"]:
        gan_md = result["gan"]["markdown"]
        for path in result["gan"]["files"]:  # links relative to the GAN folder → relative to the report
            name = Path(path).name
            gan_md = gan_md.replace(f"]({name})", f"]({relative(path, out)})")
        text += "\n## GAN stability\n\n" + gan_md + "\n"
    return text


def refresh_readme(section: str, start: str = README_START, end: str = README_END) -> bool:
    """Replace the README's block between ``start`` and ``end`` with ``section``; False where it has none."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    if start not in text or end not in text:
        return False
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    readme.write_text(pattern.sub(lambda _: f"{start}\n{section}\n{end}", text))
    return True


def verdict_counts_markdown(claims: list[dict[str, Any]]) -> str:
    """Per method, how many of its claims' settings agree, disagree or are inconclusive (the README's summary)."""
    counts: dict[str, dict[str, int]] = {}
    for row in claims:
        method = str(row.get("method") or "mixup")
        tally = counts.setdefault(method, {})
        tally[row["verdict"]] = tally.get(row["verdict"], 0) + 1
    lines = ["| method | claims that agree | disagree | inconclusive |", "|---|---:|---:|---:|"]
    for method, tally in counts.items():
        lines.append(
            f"| {method} | {tally.get('agrees', 0)} | {tally.get('disagrees', 0)} | {tally.get('inconclusive', 0)} |"
        )
    return "\n".join(lines)


def readme_summary(summary: dict[str, Any], out: Path) -> str:
    """The README's results section, from a run's ``summary.json``: where and how long, and the claims per method."""
    parts_run = [part for part in ("classification", "regression", "gan") if summary.get(part)]
    minutes = {part: summary[part]["seconds"] / 60 for part in parts_run}
    parts = [f"{summary['seconds'] / 60:.1f} minutes in all: classification {minutes.pop('classification'):.1f}"]
    parts += [f"{'GAN' if part == 'gan' else part} {value:.1f}" for part, value in minutes.items()]
    report = relative(out / "REPORT.md", ROOT)
    script = "study" if summary["config"] == "full" else "run_all"
    return (
        f"Measured by `python -m experiments.{script}` (configuration `{summary['config']}`) on {summary['machine']}: "
        f"{', '.join(parts)}.\n\nClaims per method (every claim, setting and number: [{report}]({report})):\n\n"
        + verdict_counts_markdown(summary["claims"])
    )


def methods_section(result: dict[str, Any], out: Path) -> str:
    """The README's "Which method for which goal" block: the goal table and where it was measured."""
    report = relative(out / "REPORT.md", ROOT)
    return (
        f"From `{'make study' if result['config'] == 'full' else 'make demo'}` (configuration `{result['config']}`, "
        f"[{report}]({report})); a method is listed for a goal when it helps in at least one setting and no verdict "
        "goes against it.\n\n" + which_method_markdown(result["claims"])
    )


def write_outputs(result: dict[str, Any], out: Path, readme: bool) -> Path:
    """``REPORT.md`` and ``summary.json`` in ``out``; the README's results section too if ``readme``."""
    report = out / "REPORT.md"
    report.write_text("# ERM vs mixup: the report\n\n" + full_markdown(result, out))
    summary = {
        "machine": result["machine"],
        "seconds": result["seconds"],
        "config": result["config"],
        "claims": result["claims"],
        "classification": {"seconds": result["classification"]["seconds"],
                           "timings": result["classification"]["timings"]},
        "regression": ({"seconds": result["regression"]["seconds"], "arms": result["regression"]["arms"],
                        "wilcoxon": result["regression"]["wilcoxon"]} if result.get("regression") else None),
        "gan": {"seconds": result["gan"]["seconds"]} if result["gan"] else None,
        "which_method": which_method_markdown(result["claims"]),
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if readme:  # the study: a short summary in the README, the tables in REPORT.md
        refresh_readme(readme_summary(summary, out))
    text = (ROOT / "README.md").read_text()
    from_study = "`make study`" in text.partition(METHODS_START)[2].partition(METHODS_END)[0]
    if readme or (result["config"] == "demo" and not from_study):  # the study's goal table, or the demo's until then
        refresh_readme(methods_section(result, out), METHODS_START, METHODS_END)
    return report


def main(argv: list[str] | None = None, *, full: bool = False, description: str | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=description or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of the classification part")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: experiments/results for the study, experiments/results/demo for the demo)",
    )
    parser.add_argument("--no-gan", action="store_true", help="skip the GAN part")
    parser.add_argument("--no-regression", action="store_true", help="skip the regression part")
    parser.add_argument(
        "--no-readme", action="store_true", help="do not refresh the README's results section (the study refreshes it)"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes for the tabular part (default 2)")
    parser.add_argument(
        "--readme-from", type=Path, default=None, metavar="SUMMARY_JSON",
        help="only rewrite the README's results section from a run's summary.json (experiments/results/summary.json)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.readme_from is not None:
        refresh_readme(readme_summary(json.loads(args.readme_from.read_text()), args.readme_from.parent))
        return {}
    config = QUICK if args.quick else classification.FULL if full else classification.DEMO
    if args.workers is not None:
        config = replace(config, workers=args.workers)
    # the committed results are the study's (experiments/results/); the demo writes beside them, in demo/, and only
    # the study refreshes the README's results section
    out = args.out or ROOT / "experiments" / "results" / ("quick" if args.quick else "" if full else "demo")
    out.mkdir(parents=True, exist_ok=True)
    result = run(out, config, gan=not args.no_gan and not args.quick, demo=not full,
                 regression=not args.no_regression)  # fmt: skip
    report = write_outputs(result, out, readme=full and not args.no_readme and not args.quick)
    print(f"\nReport: {report}\nSummary: {out / 'summary.json'} ({result['seconds'] / 60:.1f} minutes)")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
