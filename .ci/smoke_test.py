"""Packaging checks that .ci/run runs outside the test suite (they need a build or a fresh environment).

    python .ci/smoke_test.py dists DIST_DIR            # the sdist and wheel hold what they should
    python .ci/smoke_test.py installed --requests V    # in a fresh venv, from outside the repository
    python .ci/smoke_test.py versions FILE             # the installed versions are the pins of FILE

Exits non-zero with a message on the first failed check.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def check(condition: bool, message: str) -> None:
    """Print ``ok: message``, or exit with ``message`` when ``condition`` is false."""
    if not condition:
        sys.exit(f"smoke test FAILED: {message}")
    print(f"ok: {message}")


def dists(directory: Path) -> None:
    """The wheel holds only the package (configs included); the sdist holds what its test suite needs."""
    (wheel,) = directory.glob("*.whl")
    (sdist,) = directory.glob("*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    check(
        tops == {"lightning_mixup", wheel.name.split("-py3")[0] + ".dist-info"},
        f"the wheel holds only lightning_mixup and its metadata: {sorted(tops)}",
    )
    configs = sorted(p.name for p in (ROOT / "lightning_mixup" / "configs").glob("*.yaml"))
    packaged = sorted(Path(n).name for n in names if n.startswith("lightning_mixup/configs/") and n.endswith(".yaml"))
    check(packaged == configs, f"the wheel carries the {len(configs)} configs")
    check("lightning_mixup/py.typed" in names, "the wheel carries py.typed")
    check(any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel carries the LICENSE")
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    check("License-Expression: Apache-2.0" in meta, "the wheel's license is Apache-2.0")
    check(
        all("extra ==" in line for line in requires if "torchattacks" in line or "matplotlib" in line),
        "torchattacks and matplotlib are extras only",
    )
    check(not any("torchvision" in line or "requests" in line for line in requires), "no torchvision / requests")
    with tarfile.open(sdist) as archive:
        members = {Path(*Path(name).parts[1:]).as_posix() for name in archive.getnames()}
    for needed in (
        "pyproject.toml", "MANIFEST.in", "LICENSE", "README.md", "Makefile", "constraints.txt", "constraints-min.txt",
        "mkdocs.yml", ".ci/run", "tests/conftest.py", "experiments/__init__.py", "benchmarks/__init__.py",
        "docs/index.md", "lightning_mixup/configs/digits_mixup.yaml",
    ):  # fmt: skip
        check(needed in members, f"the sdist has {needed}")
    check(not any("__pycache__" in m for m in members), "the sdist has no __pycache__")


def installed(requests_before: str) -> None:
    """What a pip user gets, checked from a directory outside the repository."""
    import lightning_mixup

    location = Path(lightning_mixup.__file__).resolve()
    check(ROOT not in location.parents, f"lightning_mixup is the installed one ({location.parent})")
    import lightning
    import requests
    import torchmetrics

    check(True, f"import lightning {lightning.__version__}, torchmetrics {torchmetrics.__version__}")
    check(requests.__version__ == requests_before, f"requests stays {requests_before} (now {requests.__version__})")
    try:
        metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        check(True, "no torchvision was installed")
    else:
        check(False, "a torchvision was installed")

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from lightning_mixup import MixupCallback

    g = torch.Generator().manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(16, 4, generator=g), torch.randint(3, (16,), generator=g)), 8)

    def fit(pl):
        class Model(pl.LightningModule):
            def __init__(self):
                super().__init__()
                self.net = torch.nn.Linear(4, 3)

            def training_step(self, batch, batch_idx):
                x, y = batch
                return torch.nn.functional.cross_entropy(self.net(x), y)

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.1)

        trainer = pl.Trainer(
            max_steps=2, callbacks=[MixupCallback(alpha=1.0)], logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=tempfile.mkdtemp(),
        )  # fmt: skip
        trainer.fit(Model(), data)
        return float(trainer.callback_metrics["mixup/mixed_share"])

    check(fit(lightning.pytorch) > 0.5, "a 2-step lightning Trainer.fit with MixupCallback mixes")
    import pytorch_lightning

    check(fit(pytorch_lightning) > 0.5, "a 2-step pytorch_lightning Trainer.fit with MixupCallback mixes")

    with tempfile.TemporaryDirectory() as cwd:
        command = ["lightning-mixup", "fit", "--config", "digits_mixup", "--trainer.fast_dev_run=1"]
        result = subprocess.run([*command, "--trainer.enable_progress_bar=false"], cwd=cwd, capture_output=True)
        check(result.returncode == 0, f"`{' '.join(command)}` exits 0 from {cwd}\n{result.stderr.decode()[-3000:]}")

    from lightning_mixup.evaluation import evaluate_robustness

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    images = DataLoader(TensorDataset(torch.rand(16, 1, 2, 2, generator=g), torch.randint(3, (16,), generator=g)), 8)
    result = evaluate_robustness(model, images, fgsm_eps=[0.0, 0.1], pgd_eps=[0.1], pgdl2_eps=[])
    check(
        result.robust_accuracy["fgsm"][0.0] == result.clean_accuracy,
        "evaluate_robustness runs with torchattacks installed --no-deps",
    )


def versions(constraints: Path) -> None:
    """Every `name==version` pin of the file is the installed version (torch's local label aside)."""
    for line in constraints.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, version = line.split("==")
        got = metadata.version(name).split("+")[0]
        check(got == version, f"{name} {got} is the pinned {version}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("dists").add_argument("directory", type=Path)
    sub.add_parser("installed").add_argument("--requests", required=True)
    sub.add_parser("versions").add_argument("constraints", type=Path)
    args = parser.parse_args()
    if args.what == "dists":
        dists(args.directory)
    elif args.what == "installed":
        installed(args.requests)
    else:
        versions(args.constraints)
