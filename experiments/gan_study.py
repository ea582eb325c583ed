"""GAN training stability, ERM against discriminator mixup (issue #12): run the study's settings.

Each setting (``authors``: the mixup authors' GAN code; ``pacgan``: the PacGAN/VEEGAN 2D benchmark with PacGAN's
GAN as the baseline; ``digits``: stacked digits, 1,000 modes; see ``experiments.gan.suite``) trains its cells over
several seeds on the batched engine and writes ``<setting>.json``, ``<setting>.md`` and figures to ``--out``;
``gan_report.md`` collects them with the claim rows.

    python -m experiments.gan_study --demo                       # the make-demo subset (about a minute)
    python -m experiments.gan_study                              # every setting at the study's CPU size
    python -m experiments.gan_study --setting authors --set iterations=20001 --set 'model={"g_hidden": 512}'
        --device cuda --out experiments/results/gan/full          # a setting at the original size, on a GPU

``--set KEY=VALUE`` overrides a :class:`~experiments.gan.study.SettingConfig` field (VALUE is JSON; ``model`` is
merged into the setting's model). Reference: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", "--quick", action="store_true", help="the small make-demo subset")
    parser.add_argument("--setting", nargs="+", choices=["authors", "pacgan", "digits"], help="settings to run")
    parser.add_argument("--out", default="experiments/results/gan", help="output folder (default: %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", type=_override, default=[], help="KEY=JSON")
    parser.add_argument("--device", help="where the networks train (default: cpu)")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from experiments.gan import suite
    from experiments.gan.study import SettingConfig, run_setting

    if args.setting is None and not args.overrides and args.device is None:
        result = suite.run(Path(args.out), demo=args.demo)
        print(result["markdown"])
        return 0
    start = time.perf_counter()
    for cfg in suite.settings(args.demo):
        if args.setting is not None and cfg.name not in args.setting:
            continue
        fields = dataclasses.asdict(cfg)
        for key, value in args.overrides:
            fields[key] = {**fields["model"], **value} if key == "model" else value
        if args.device is not None:
            fields["device"] = args.device
        if "iterations" in dict(args.overrides):
            n = fields["iterations"]
            if "eval_every" not in dict(args.overrides):
                fields["eval_every"] = max(1, n // 6)
            fields["snapshot_steps"] = sorted({10, 100, 1000, n // 2, n} & set(range(n + 1)))
        result = run_setting(SettingConfig(**fields), args.out, progress=args.progress)
        print(result["markdown"], flush=True)
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
