import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_mixup.evaluation import RobustnessCallback
from tests.evaluation.conftest import Probe, loader, make_images


class BNClassifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3)
        )
        self.probe = Probe()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.probe(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)


def test_logs_every_n_epochs_on_a_fixed_subset(test_trainer):
    torch.manual_seed(0)
    x, y = make_images(48)
    callback = RobustnessCallback(every_n_epochs=2, max_batches=2, fgsm_eps=[0.0, 0.1], pgd_eps=[0.1], pgd_steps=3)
    module = BNClassifier()
    trainer = test_trainer(max_epochs=4, callbacks=[callback], num_sanity_val_steps=1, inference_mode=True)
    trainer.fit(module, loader(x, y), loader(x, y))
    assert [h["epoch"] for h in callback.history] == [1.0, 3.0]  # not the sanity check, every second epoch
    metrics = trainer.callback_metrics
    assert {"robust/clean_acc", "robust/fgsm_acc@0", "robust/fgsm_acc@0.1", "robust/pgd_acc@0.1"} <= set(metrics)
    last = callback.history[-1]
    assert last["fgsm_acc@0"] == last["clean_acc"]
    module.eval()
    with torch.no_grad():
        expected = (module(x[:32]).argmax(1) == y[:32]).float().mean().item()  # the subset: 2 batches of 16
    assert last["clean_acc"] == pytest.approx(expected)
    assert metrics["robust/clean_acc"].item() == pytest.approx(expected)


def test_attacks_in_eval_mode_and_restores_modes_and_statistics(test_trainer):
    torch.manual_seed(0)
    x, y = make_images(32)
    callback = RobustnessCallback(fgsm_eps=[0.1], pgd_eps=[0.1], pgd_steps=2)
    module = BNClassifier()
    trainer = test_trainer(max_epochs=1, callbacks=[callback], num_sanity_val_steps=0)
    trainer.fit(module, loader(x, y), loader(x, y))
    # call the hook again, as during fit, with the module in training mode
    module.train()
    module.probe.modes.clear()
    buffers = {name: b.clone() for name, b in module.named_buffers()}
    grads = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
    values = callback.measure(trainer, module)
    assert set(values) == {"epoch", "clean_acc", "fgsm_acc@0.1", "pgd_acc@0.1"}
    assert module.probe.modes and not any(module.probe.modes)  # attacked in eval mode
    assert all(m.training for m in module.modules())  # and put back in training mode
    assert all(torch.equal(b, buffers[name]) for name, b in module.named_buffers())  # BN statistics untouched
    for p, g in zip(module.parameters(), grads, strict=True):  # only input gradients were computed
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)


def test_callback_errors(test_trainer):
    with pytest.raises(ValueError, match="Expected argument `every_n_epochs` to be an int >= 1, but got 0"):
        RobustnessCallback(every_n_epochs=0)
    with pytest.raises(ValueError, match="Expected argument `max_batches` to be an int >= 1, but got True"):
        RobustnessCallback(max_batches=True)
    with pytest.raises(ValueError, match="`pgd_rel_step` to be a finite float >= 1e-06"):
        RobustnessCallback(pgd_rel_step=0.0)
    with pytest.raises(ValueError, match="`pgd_eps` without repeated values"):
        RobustnessCallback(pgd_eps=[0.1, 0.1])
    with pytest.raises(ValueError, match="Expected at least one PGD run"):
        RobustnessCallback(pgd_restarts=0, pgd_clean_start=False)
    with pytest.raises(ValueError, match="at least one ε"):
        RobustnessCallback(fgsm_eps=[], pgd_eps=[])
    with pytest.raises(ValueError, match="both `normalize_mean` and `normalize_std`"):
        RobustnessCallback(normalize_mean=[0.5])
    x, y = make_images(16)
    trainer = test_trainer(
        max_epochs=1, callbacks=[RobustnessCallback(fgsm_eps=[0.1], pgd_eps=[])], num_sanity_val_steps=0
    )
    with pytest.raises(ValueError, match=r"Expected validation inputs in \[0, 1\]"):
        trainer.fit(BNClassifier(), loader(x, y), loader(x * 4 - 2, y))


def test_a_pytorch_lightning_trainer_accepts_the_callback(tmp_path):
    import pytorch_lightning

    class Standalone(pytorch_lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))

        def forward(self, x: Tensor) -> Tensor:
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.cross_entropy(self(x), y)

        def validation_step(self, batch, batch_idx):
            pass

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    x, y = make_images(32)
    callback = RobustnessCallback(max_batches=1, fgsm_eps=[0.0], pgd_eps=[])
    assert isinstance(callback, pytorch_lightning.Callback) and isinstance(callback, pl.Callback)
    module = Standalone()
    trainer = pytorch_lightning.Trainer(
        max_epochs=1, callbacks=[callback], default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0, inference_mode=False,
    )  # fmt: skip
    trainer.fit(module, loader(x, y), loader(x, y))
    with torch.no_grad():
        expected = (module(x[:16]).argmax(1) == y[:16]).float().mean().item()
    assert [h["epoch"] for h in callback.history] == [0.0]
    assert callback.history[0]["clean_acc"] == pytest.approx(expected) == callback.history[0]["fgsm_acc@0"]
