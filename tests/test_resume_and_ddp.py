"""Exact resumption from a checkpoint, and DDP with one random stream per rank (2 CPU processes)."""

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_mixup import MixedLabels, MixupCallback
from lightning_mixup.demos import BoringClassifier, RandomClassificationDataModule
from tests.conftest import retry_ddp_exit_abort


def fit(make_trainer, tmp_path, epochs, ckpt_path=None, global_seed=0):
    pl.seed_everything(global_seed)
    model = BoringClassifier()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=0)
    trainer = make_trainer(
        max_epochs=epochs,
        callbacks=[MixupCallback(alpha=1.0), checkpoint],
        enable_checkpointing=True,
        limit_val_batches=0,
    )
    trainer.fit(model, RandomClassificationDataModule(num_samples=40, batch_size=8), ckpt_path=ckpt_path)
    return model


def test_resumed_run_mixes_exactly_as_the_uninterrupted_run(make_trainer, tmp_path):
    full = fit(make_trainer, tmp_path / "full", epochs=4)
    fit(make_trainer, tmp_path / "part", epochs=2)
    last = tmp_path / "part" / "last.ckpt"
    # a different global seed at resume: only the checkpointed callback state can make the mixing match
    resumed = fit(make_trainer, tmp_path / "resumed", epochs=4, ckpt_path=last, global_seed=123)
    for a, b in zip(full.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)

    # negative control: without the callback's state the resumed run diverges, so the test above can fail
    checkpoint = torch.load(last, weights_only=False)
    del checkpoint["lightning_mixup"]
    stripped = tmp_path / "stripped.ckpt"
    torch.save(checkpoint, stripped)
    diverged = fit(make_trainer, tmp_path / "stripped", epochs=4, ckpt_path=stripped, global_seed=123)
    assert not all(torch.equal(a, b) for a, b in zip(full.parameters(), diverged.parameters(), strict=True))


class RankRecorder(BoringClassifier):
    def __init__(self, out_dir: str):
        super().__init__()
        self.out_dir = out_dir
        self.lams: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        assert isinstance(y, MixedLabels)
        self.lams.append(y.lam.clone())
        return F.cross_entropy(self(x), y)

    def on_train_end(self):
        torch.save(torch.cat(self.lams), f"{self.out_dir}/rank{self.global_rank}.pt")


def _fit_on_two_ranks(tmp_path) -> pl.Trainer:
    pl.seed_everything(0)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        limit_val_batches=0,
        callbacks=[MixupCallback(alpha=1.0, mode="elem")],
    )
    trainer.fit(RankRecorder(str(tmp_path)), RandomClassificationDataModule(num_samples=32, batch_size=4))
    return trainer


@pytest.mark.slow  # DDP: two spawned processes
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
def test_ddp_spawn_two_cpu_processes_have_their_own_streams(tmp_path):
    records = [tmp_path / f"rank{r}.pt" for r in (0, 1)]
    trainer = retry_ddp_exit_abort(
        lambda: _fit_on_two_ranks(tmp_path), cleanup=lambda: [r.unlink(missing_ok=True) for r in records]
    )
    lam0, lam1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert lam0.shape == lam1.shape == (4 * 4 * 2,)  # 4 batches of 4 per rank and epoch, 2 epochs
    assert ((lam0 > 0) & (lam0 < 1)).any() and ((lam1 > 0) & (lam1 < 1)).any()
    assert not torch.equal(lam0, lam1)
    assert "mixup/lam" in trainer.callback_metrics
