"""The CUDA paths, checked on a GPU in one short run: results agree with the CPU, bf16-mixed trains, and the step cost.

    python -m benchmarks.cuda_check --out DIR            # on a machine with a GPU (about 3 minutes on an H200)
    python -m benchmarks.cuda_check --device cpu --quick # a dry run of the same code on the CPU

Checks (each recorded with its numbers in ``cuda_check.json``):

1. ``apply_mix`` (mixup, CutMix) and the mixed labels on the device equal the CPU results for the same parameters
   (float32 exactly; bf16 within its rounding).
2. The mixed cross-entropy on the device (fast path, ``ignore_index``, sequence labels) equals the CPU value.
3. A token model trains with embedding mixup on the device, and its attention mask is combined.
4. FGSM/PGD accuracies of ``evaluate_robustness`` on the device match the CPU ones for the same model and data.
5. A PreAct ResNet-18 trains on CIFAR-size batches with ``precision="bf16-mixed"`` and ``MixupCallback`` (mixup and
   CutMix), with a finite loss.
6. Step cost: the same ResNet-18 bf16-mixed step with and without ``MixupCallback``, interleaved, with an A/A
   control (target ≤ 1.02×).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixedLabels, MixupCallback
from lightning_mixup.functional import MixParams, apply_mix, sample_cutmix
from lightning_mixup.models import build_backbone


def check_ops(device: torch.device) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {}
    for shape in [(16, 3, 32, 32), (256, 20)]:
        x = torch.randn(shape, generator=g)
        x[1] = float("inf")
        params = MixParams(
            torch.cat([torch.tensor([1.0, 1.0]), torch.rand(shape[0] - 2, generator=g)]),
            torch.randperm(shape[0], generator=g),
        )
        cpu = apply_mix(x, params)
        dev = apply_mix(x.to(device), params).cpu()
        out[f"mixup {shape} equal"] = bool(torch.equal(cpu.isnan(), dev.isnan())) and bool(
            torch.allclose(cpu.nan_to_num(), dev.nan_to_num(), rtol=1e-6, atol=1e-6)
        )
        out[f"mixup {shape} unmixed rows exact"] = bool(torch.equal(dev[:2], x[:2]))
        bf = apply_mix(x.to(device, torch.bfloat16), params).float().cpu()
        out[f"mixup {shape} bf16 max error"] = float((bf - cpu).nan_to_num(0, 0, 0).abs().max())
    x = torch.randn(16, 3, 32, 32, generator=g)
    cut = sample_cutmix(16, (32, 32), alpha=1.0, mode="elem", generator=g)
    out["cutmix equal"] = bool(torch.equal(apply_mix(x, cut), apply_mix(x.to(device), cut).cpu()))
    return out


def check_losses(device: torch.device) -> dict[str, Any]:
    g = torch.Generator().manual_seed(1)
    out: dict[str, Any] = {}
    logits = torch.randn(64, 10, generator=g)
    y_a, y_b = torch.randint(10, (64,), generator=g), torch.randint(10, (64,), generator=g)
    y_a[:5] = -100
    lam = torch.rand(64, generator=g)
    labels = MixedLabels(y_a, y_b, lam)
    on_device = MixedLabels(y_a.to(device), y_b.to(device), lam.to(device))
    for reduction in ("mean", "sum", "none"):
        cpu = F.cross_entropy(logits, labels, reduction=reduction)
        dev = F.cross_entropy(logits.to(device), on_device, reduction=reduction).cpu()
        out[f"cross_entropy {reduction} max diff"] = float((cpu - dev).abs().max())
    seq = MixedLabels(torch.randint(10, (8, 12), generator=g), torch.randint(10, (8, 12), generator=g), lam[:8])
    seq_logits = torch.randn(8, 12, 10, generator=g)
    cpu = nn.CrossEntropyLoss()(seq_logits.view(-1, 10), seq.view(-1))
    dev_seq = MixedLabels(seq.y_a.to(device), seq.y_b.to(device), lam[:8].to(device))
    dev = nn.CrossEntropyLoss()(seq_logits.to(device).view(-1, 10), dev_seq.view(-1)).cpu()
    out["sequence cross_entropy diff"] = float((cpu - dev).abs())
    out["dominant equal"] = bool(torch.equal(labels.dominant, on_device.dominant.cpu()))
    return out


class TokenTagger(pl.LightningModule):
    """A Hugging Face-style token classifier: dict batches, embedding, CE on flattened labels with -100."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        self.encoder = nn.Sequential(nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 5)
        self.seen_masks: list[torch.Tensor] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:  # noqa: D102
        h = self.encoder(self.embed(batch["input_ids"])) * batch["attention_mask"].unsqueeze(-1)
        logits = self.head(h)
        self.seen_masks.append(batch["attention_mask"].detach().cpu())
        return nn.CrossEntropyLoss()(logits.view(-1, 5), batch["labels"].view(-1))

    def configure_optimizers(self) -> torch.optim.Optimizer:  # noqa: D102
        return torch.optim.AdamW(self.parameters(), lr=1e-3)


def check_tokens(device: torch.device) -> dict[str, Any]:
    g = torch.Generator().manual_seed(2)
    n, t = 64, 16
    lengths = torch.randint(4, t + 1, (n,), generator=g)
    positions = torch.arange(t)
    mask = (positions < lengths[:, None]).long()
    ids = torch.randint(1, 100, (n, t), generator=g) * mask
    labels = torch.where(mask.bool(), torch.randint(5, (n, t), generator=g), torch.full((n, t), -100))
    data = [{"input_ids": ids[i], "attention_mask": mask[i], "labels": labels[i]} for i in range(n)]
    model = TokenTagger()
    trainer = _trainer(device, max_steps=4, callbacks=[MixupCallback(alpha=1.0, seed=0)])
    trainer.fit(model, DataLoader(data, batch_size=16))  # type: ignore[arg-type]
    first = model.seen_masks[0]
    return {
        "token steps": int(trainer.global_step),
        "attention masks combined": bool((first.sum(1) >= mask[:16].sum(1)).all()),
    }


def check_attacks(device: torch.device) -> dict[str, Any]:
    from lightning_mixup.evaluation import evaluate_robustness

    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    x, y = torch.rand(256, 1, 8, 8, generator=g), torch.randint(10, (256,), generator=g)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        F.cross_entropy(net(x), y).backward()
        optimizer.step()
    loader = DataLoader(TensorDataset(x, y), batch_size=64)
    results = {}
    for name, dev in (("cpu", torch.device("cpu")), ("device", device)):
        result = evaluate_robustness(
            net,
            loader,
            fgsm_eps=[0.0, 0.02, 0.05],
            pgd_eps=[0.02, 0.05],
            trainer_kwargs={"accelerator": "gpu" if dev.type == "cuda" else "cpu", "devices": 1},
        )
        results[name] = {"clean": result.clean_accuracy, **{k: dict(v) for k, v in result.robust_accuracy.items()}}
    cpu, dev_res = results["cpu"], results["device"]
    diffs = [
        abs(cpu[attack][eps] - dev_res[attack][eps])
        for attack in ("fgsm", "pgd")
        for eps in cpu[attack]
        if attack in dev_res and eps in dev_res[attack]
    ]
    return {"accuracies": results, "max accuracy difference cpu vs device": max(diffs)}


class ResNetModule(pl.LightningModule):
    """The paper's CIFAR-10 network, PreAct ResNet-18, with the plain cross-entropy step."""

    def __init__(self) -> None:
        super().__init__()
        self.net = build_backbone("preact_resnet18", (3, 32, 32), 10)
        self.losses: list[float] = []

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:  # noqa: D102
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:  # noqa: D102
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


class StepTimer(pl.Callback):
    """Wall time between consecutive training-batch ends, the device synchronised."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.intervals: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:  # noqa: D102
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        now = time.perf_counter()
        if self.last is not None:
            self.intervals.append(now - self.last)
        self.last = now


def _trainer(device: torch.device, **kwargs: Any) -> pl.Trainer:
    options: dict[str, Any] = {
        "accelerator": "gpu" if device.type == "cuda" else "cpu",
        "devices": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_checkpointing": False,
        "enable_model_summary": False,
    }
    options.update(kwargs)
    return pl.Trainer(**options)


def check_resnet(device: torch.device, steps: int, repeats: int, batch_size: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(4)
    n = steps * batch_size
    data = TensorDataset(torch.rand(n, 3, 32, 32, generator=g), torch.randint(10, (n,), generator=g))
    precision = "bf16-mixed"
    model = ResNetModule()
    trainer = _trainer(
        device, max_epochs=1, precision=precision, callbacks=[MixupCallback(alpha=1.0, cutmix_alpha=1.0)]
    )
    trainer.fit(model, DataLoader(data, batch_size=batch_size))
    out: dict[str, Any] = {
        "bf16-mixed mixup+cutmix steps": int(trainer.global_step),
        "bf16-mixed losses finite": all(map(lambda v: v == v and abs(v) < 1e4, model.losses)),
        "last loss": model.losses[-1],
    }
    variants = {"without": list, "without (A/A)": list, "with MixupCallback": lambda: [MixupCallback(alpha=0.2)]}
    intervals: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            timer = StepTimer()
            pl.seed_everything(0, verbose=False)
            trainer = _trainer(device, max_epochs=1, precision=precision, callbacks=[timer, *variants[name]()])
            trainer.fit(ResNetModule(), DataLoader(data, batch_size=batch_size, pin_memory=device.type == "cuda"))
            intervals[name].extend(timer.intervals[min(5, len(timer.intervals) // 2) :])
    medians = {name: statistics.median(values) for name, values in intervals.items()}
    base = medians["without"]
    out["median step ms"] = {k: round(v * 1e3, 3) for k, v in medians.items()}
    out["step ratio with/without"] = round(medians["with MixupCallback"] / base, 4)
    out["A/A ratio"] = round(medians["without (A/A)"] / base, 4)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    device = torch.device(args.device)
    result: dict[str, Any] = {
        "machine": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "lightning": pl.__version__,
    }
    checks = {
        "ops": lambda: check_ops(device),
        "losses": lambda: check_losses(device),
        "tokens": lambda: check_tokens(device),
        "attacks": lambda: check_attacks(device),
        "resnet": lambda: check_resnet(
            device, steps=4 if args.quick else 40, repeats=2 if args.quick else 4, batch_size=32 if args.quick else 128
        ),
    }
    for name, check in checks.items():
        start = time.perf_counter()
        try:
            result[name] = check()
        except Exception as error:  # record and go on: one run must report every check
            result[name] = {"error": f"{type(error).__name__}: {error}"}
        result[name]["seconds"] = round(time.perf_counter() - start, 1)
        print(name, json.dumps(result[name], default=str)[:2000], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cuda_check.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


if __name__ == "__main__":
    main()
