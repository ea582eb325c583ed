"""Pins the Lightning contact points that are not public API (lightning_mixup._compat), so an upgrade breaks here."""

import inspect
import pickle

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import _compat
from lightning_mixup.demos import BoringClassifier


def test_strategy_batch_to_device_signature():
    params = list(inspect.signature(pl.strategies.Strategy.batch_to_device).parameters)
    assert params[:4] == ["self", "batch", "device", "dataloader_idx"]


class Probe(BoringClassifier):
    """Records the loop-progress numbers the callback reads, at transfer time and inside the step."""

    def __init__(self):
        super().__init__()
        self.at_transfer, self.in_step = [], []

    def on_after_batch_transfer(self, batch, dataloader_idx):
        if self.trainer.training and not self.trainer.sanity_checking:
            self.at_transfer.append(_compat.batches_fetched(self.trainer))
        return batch

    def training_step(self, batch, batch_idx):
        self.in_step.append(_compat.batches_before_current(self.trainer))
        x, y = batch
        return F.cross_entropy(self(x), y)


def test_batch_progress_counts_the_batches_before_the_current_one(make_trainer):
    model = Probe()
    data = DataLoader(TensorDataset(torch.randn(24, 8), torch.randint(3, (24,))), batch_size=8)
    make_trainer(max_epochs=2).fit(model, data)
    # at batch_to_device time (where the callback draws) and inside the step (where the mixin draws): 0, 1, 2, ...
    assert model.at_transfer == list(range(6)) == model.in_step


def test_patch_is_removable_in_any_order_and_picklable():
    class Strategy:
        def batch_to_device(self, batch, device=None, dataloader_idx=0):
            return batch + 1

    strategy = Strategy()
    first = _compat.patch_batch_to_device(strategy, lambda b: b * 10)
    second = _compat.patch_batch_to_device(strategy, lambda b: b + 100)
    assert strategy.batch_to_device(1) == 120
    first.remove()  # not the outermost: becomes a pass-through
    assert strategy.batch_to_device(1) == 102
    second.remove()  # the outermost: restores the attribute it found (the first wrapper, now inert)
    assert strategy.batch_to_device(1) == 2
    pickle.dumps(first)


def test_both_lightning_namespaces_are_recognised():
    import pytorch_lightning

    assert _compat.is_lightning_module(BoringClassifier())

    class Standalone(pytorch_lightning.LightningModule):
        pass

    assert _compat.is_lightning_module(Standalone())
    assert not _compat.is_lightning_module(torch.nn.Linear(1, 1))


def test_the_callback_is_a_callback_of_both_distributions():
    import lightning.pytorch
    import pytorch_lightning

    from lightning_mixup import MixupCallback

    callback = MixupCallback()
    assert isinstance(callback, lightning.pytorch.Callback) and isinstance(callback, pytorch_lightning.Callback)
    # the check a pytorch_lightning Trainer makes on its callbacks (raises "Expected a parent" for a foreign one)
    from pytorch_lightning.utilities.model_helpers import is_overridden

    assert is_overridden("setup", instance=callback)
