"""MixupCallback on real Trainer runs (CPU)."""

from collections import namedtuple

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lightning_mixup import MixedLabels, MixupCallback
from lightning_mixup.demos import BoringClassifier, RandomClassificationDataModule

Pair = namedtuple("Pair", ["image", "label"])


class Recorder(BoringClassifier):
    """The unchanged classifier, recording what its steps receive and the loss it computes."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.train_seen, self.val_seen = [], []

    def training_step(self, batch, batch_idx):
        x, y = self.unpack(batch)
        loss = F.cross_entropy(self(x), y)
        self.train_seen.append((x.detach().clone(), y, loss.detach(), self(x).detach()))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = self.unpack(batch)
        self.val_seen.append((x.clone(), y))
        return F.cross_entropy(self(x), y)

    def test_step(self, batch, batch_idx):
        self.val_seen.append(tuple(self.unpack(batch)))

    def predict_step(self, batch, batch_idx):
        self.val_seen.append(tuple(self.unpack(batch)))
        return self(self.unpack(batch)[0])

    @staticmethod
    def unpack(batch):
        if isinstance(batch, dict):
            return batch["image"], batch["label"]
        if hasattr(batch, "_fields"):
            return batch.image, batch.label
        return batch[0], batch[1]


def dataset(n=24, features=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, features, generator=g), torch.randint(classes, (n,), generator=g))


def test_zero_code_change_loss_is_the_mixup_loss(make_trainer):
    data = dataset()
    x_all, y_all = data.tensors[0].clone(), data.tensors[1].clone()
    model = Recorder()
    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=1.0, seed=0)], limit_val_batches=2)
    trainer.fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    assert len(model.train_seen) == 3
    for k, (x, y, loss, logits) in enumerate(model.train_seen):
        assert isinstance(y, MixedLabels)
        x0, y0 = x_all[8 * k : 8 * k + 8], y_all[8 * k : 8 * k + 8]
        assert not torch.equal(x, x0)
        lam = y.lam
        # every mixed input is λ·x_i + (1-λ)·x_j with y_a = y_i and y_b = y_j
        torch.testing.assert_close(y.y_a, y0)
        expected = lam[:, None] * x0 + (1 - lam[:, None]) * _partner(x0, y, x)
        torch.testing.assert_close(x, expected)
        hand = lam * F.cross_entropy(logits, y.y_a, reduction="none") + (1 - lam) * F.cross_entropy(
            logits, y.y_b, reduction="none"
        )
        torch.testing.assert_close(loss, hand.mean())
    # the dataset's tensors are untouched; validation batches are the dataset's, unmixed
    assert torch.equal(data.tensors[0], x_all) and torch.equal(data.tensors[1], y_all)
    for x, y in model.val_seen:
        assert type(y) is torch.Tensor
        assert any(torch.equal(x, x_all[i : i + len(x)]) for i in range(0, 24, 8))


def _partner(x0, labels, mixed):
    """Recover the partner rows from the mixed batch: x̃ = λx + (1-λ)x_j, so x_j = (x̃ - λx)/(1-λ)."""
    lam = labels.lam[:, None]
    partner = torch.where(lam < 1, (mixed - lam * x0) / (1 - lam).clamp_min(1e-6), x0)
    # snap to the nearest real row of the batch, which must match exactly its y_b
    dists = torch.cdist(partner, x0)
    idx = dists.argmin(1)
    torch.testing.assert_close(labels.y_b, torch.stack([labels.y_a[i] for i in idx]))
    return x0[idx]


class SlicingDataset(Dataset):
    """Yields whole batches that are views of the dataset's own tensors, inside containers it keeps."""

    def __init__(self):
        self.x, self.y = dataset().tensors
        self.x_before, self.y_before = self.x.clone(), self.y.clone()
        self.yielded = []

    def __len__(self):
        return 3

    def __getitem__(self, i):
        batch = [self.x[8 * i : 8 * i + 8], self.y[8 * i : 8 * i + 8]]
        self.yielded.append((batch, list(batch)))
        return batch


def test_dataset_tensors_and_batch_containers_are_never_modified(make_trainer):
    data = SlicingDataset()
    model = Recorder()
    make_trainer(callbacks=[MixupCallback(alpha=1.0)]).fit(model, DataLoader(data, batch_size=None))
    assert all(isinstance(y, MixedLabels) for _, y, _, _ in model.train_seen)
    # in-place mixing would have written through these views into the dataset
    assert torch.equal(data.x, data.x_before) and torch.equal(data.y, data.y_before)
    for container, items in data.yielded:
        assert len(container) == 2 and all(a is b for a, b in zip(container, items, strict=True))


def test_seed_none_keeps_the_erm_run_data_order(make_trainer):
    def order(callbacks):
        pl.seed_everything(3)
        model = Recorder()
        make_trainer(max_epochs=2, callbacks=callbacks).fit(model, DataLoader(dataset(), batch_size=8, shuffle=True))
        return torch.cat([y.y_a if isinstance(y, MixedLabels) else y for _, y, _, _ in model.train_seen])

    assert torch.equal(order([]), order([MixupCallback(alpha=1.0)]))


def test_no_mixing_in_sanity_validation_test_predict(make_trainer):
    data = dataset()
    model = Recorder()
    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=1.0)], num_sanity_val_steps=2)
    loader = DataLoader(data, batch_size=8)
    trainer.fit(model, loader, loader)
    trainer.validate(model, loader, verbose=False)
    trainer.test(model, loader, verbose=False)
    trainer.predict(model, loader)
    assert len(model.val_seen) == 2 + 3 + 3 + 3 + 3
    for x, y in model.val_seen:
        assert type(y) is torch.Tensor
        assert any(torch.equal(x, data.tensors[0][i : i + 8]) for i in range(0, 24, 8))


def test_patch_restored_after_fit_and_after_exception(make_trainer):
    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback()])
    original = type(trainer.strategy).batch_to_device
    trainer.fit(BoringClassifier(), DataLoader(dataset(), batch_size=8))
    assert "batch_to_device" not in vars(trainer.strategy)

    class Boom(BoringClassifier):
        def training_step(self, batch, batch_idx):
            raise RuntimeError("boom")

    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback()])
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Boom(), DataLoader(dataset(), batch_size=8))
    assert "batch_to_device" not in vars(trainer.strategy)
    assert type(trainer.strategy).batch_to_device is original


class DictData(Dataset):
    def __init__(self, kind):
        self.base = dataset()
        self.kind = kind

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        if self.kind == "dict":
            return {"label": y, "image": x, "id": i}
        return Pair(x, y)


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("dict", {"input_key": "image", "target_key": "label"}),
        ("namedtuple", {}),
        ("namedtuple", {"input_key": "image", "target_key": "label"}),
    ],
)
def test_batch_containers(make_trainer, kind, keys):
    model = Recorder()
    collate = None
    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=1.0, **keys)])
    trainer.fit(model, DataLoader(DictData(kind), batch_size=8, collate_fn=collate))
    assert all(isinstance(y, MixedLabels) for _, y, _, _ in model.train_seen)


def test_tuple_batches_from_a_custom_collate(make_trainer):
    def collate(items):
        return tuple(torch.stack(t) for t in zip(*items, strict=True))

    model = Recorder()
    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=1.0)])
    trainer.fit(model, DataLoader(dataset(), batch_size=8, collate_fn=collate))
    assert all(isinstance(y, MixedLabels) for _, y, _, _ in model.train_seen)


def test_odd_batches_and_a_batch_of_one(make_trainer):
    model = Recorder()
    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=1.0)])
    trainer.fit(model, DataLoader(dataset(n=8), batch_size=7))  # batches of 7 and 1
    (_, y7, _, _), (x1, y1, _, _) = model.train_seen
    assert isinstance(y7, MixedLabels) and len(y7) == 7
    assert type(y1) is torch.Tensor and torch.equal(x1, dataset(n=8).tensors[0][7:])


def test_schedule_warmup_and_stop_epoch_and_logging(make_trainer):
    model = Recorder()
    callback = MixupCallback(alpha=1.0, warmup_epochs=1, stop_epoch=3)
    trainer = make_trainer(max_epochs=4, callbacks=[callback], limit_val_batches=0)
    logged = []

    class Spy(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            logged.append(dict(trainer.callback_metrics))

    trainer.callbacks.append(Spy())
    trainer.fit(model, DataLoader(dataset(), batch_size=8))
    kinds = [type(y) for _, y, _, _ in model.train_seen]
    assert kinds == [torch.Tensor] * 3 + [MixedLabels] * 6 + [torch.Tensor] * 3
    assert [callback.should_apply(e) for e in range(4)] == [False, True, True, False]
    with pytest.warns(DeprecationWarning, match="`step` argument of MixupCallback.should_apply is deprecated"):
        assert callback.should_apply(1, 0) and not callback.should_apply(3, 0)
    metrics = trainer.callback_metrics
    assert "mixup/lam" in metrics and "mixup/mixed_share" in metrics
    assert float(logged[1]["mixup/mixed_share"]) > 0.5
    assert float(logged[3]["mixup/mixed_share"]) == 0.0


def test_soft_targets_mode_and_label_smoothing(make_trainer):
    model = Recorder()
    callback = MixupCallback(alpha=1.0, target_mode="soft", num_classes=3, label_smoothing=0.1)
    trainer = make_trainer(max_epochs=1, callbacks=[callback])
    trainer.fit(model, DataLoader(dataset(), batch_size=8))
    for _, y, _, _ in model.train_seen:
        assert y.dtype == torch.float32 and y.shape == (8, 3)
        torch.testing.assert_close(y.sum(1), torch.ones(8))
        assert y.min() >= 0.1 / 3 - 1e-6


class MultiLabel(BoringClassifier):
    def training_step(self, batch, batch_idx):
        x, y = batch
        self.targets = [*getattr(self, "targets", []), y]
        return F.binary_cross_entropy_with_logits(self(x), y)


def test_multilabel_bce_targets(make_trainer):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 8, generator=g), (torch.rand(16, 3, generator=g) > 0.5).float())
    model = MultiLabel()
    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=1.0)])
    trainer.fit(model, DataLoader(data, batch_size=8))
    for y in model.targets:
        assert y.dtype == torch.float32 and ((y > 0) & (y < 1)).any()


class TinyCNN(BoringClassifier):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.append((x.clone(), y))
        return F.cross_entropy(self(x), y)


def image_data(n=16):
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(n, 1, 8, 8, generator=g), torch.randint(3, (n,), generator=g))


def test_cutmix_on_images(make_trainer):
    data = image_data()
    model = TinyCNN()
    trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=0.0, cutmix_alpha=1.0, seed=1)])
    trainer.fit(model, DataLoader(data, batch_size=8))
    for k, (x, y) in enumerate(model.seen):
        original = data.tensors[0][8 * k : 8 * k + 8]
        kept = (x == original).flatten(1).float().mean(1)
        moved = y.y_a != y.y_b
        torch.testing.assert_close(kept[moved], y.lam[moved])  # λ is the kept area


def test_bf16_mixed_precision_and_gradient_accumulation(make_trainer):
    model = TinyCNN()
    trainer = make_trainer(
        max_epochs=1,
        precision="bf16-mixed",
        accumulate_grad_batches=2,
        callbacks=[MixupCallback(alpha=1.0, cutmix_alpha=1.0)],
    )
    trainer.fit(model, DataLoader(image_data(32), batch_size=8))
    assert len(model.seen) == 4 and trainer.global_step == 2
    for x, y in model.seen:
        assert x.dtype == torch.float32 and y.lam.dtype == torch.float32


def test_same_seed_same_mixing_different_seed_different(make_trainer):
    def run(seed):
        pl.seed_everything(0)
        model = Recorder()
        make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=1.0, seed=seed)]).fit(
            model, DataLoader(dataset(), batch_size=8)
        )
        return torch.cat([y.lam for _, y, _, _ in model.train_seen])

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_seed_none_follows_seed_everything(make_trainer):
    def run():
        pl.seed_everything(7)
        model = Recorder()
        make_trainer(callbacks=[MixupCallback(alpha=1.0)]).fit(model, DataLoader(dataset(), batch_size=8))
        return torch.cat([y.lam for _, y, _, _ in model.train_seen])

    assert torch.equal(run(), run())


class ManifoldNet(BoringClassifier):
    def __init__(self):
        super().__init__()
        self.hidden_inputs = []
        self.net[2].register_forward_pre_hook(lambda m, args: self.hidden_inputs.append(args[0].detach().clone()))


def test_manifold_mixup_mixes_a_named_layer_by_hook(make_trainer):
    pl.seed_everything(0)
    model = ManifoldNet()
    plain = ManifoldNet()
    plain.load_state_dict(model.state_dict())
    callback = MixupCallback(alpha=1.0, manifold_layers=["net.1"], seed=0)
    data = dataset(n=8)
    trainer = make_trainer(max_steps=1, callbacks=[callback], limit_val_batches=0)
    trainer.fit(model, DataLoader(data, batch_size=8))
    mixed_hidden = model.hidden_inputs[0]
    with torch.no_grad():
        clean_hidden = plain.net[1](plain.net[0](data.tensors[0]))
    assert not torch.equal(mixed_hidden, clean_hidden)
    assert not model.net[1]._forward_hooks  # the one-shot hook is gone
    # the mixed hidden state is a convex combination of the clean hidden states of the batch
    assert (mixed_hidden <= clean_hidden.max(0).values + 1e-5).all()


def test_manifold_layer_errors(make_trainer):
    trainer = make_trainer(callbacks=[MixupCallback(manifold_layers=["net.9"])])
    with pytest.raises(ValueError, match=r"Expected `manifold_layers` to name submodules of BoringClassifier.*net.9"):
        trainer.fit(BoringClassifier(), DataLoader(dataset(), batch_size=8))

    class Skip(BoringClassifier):
        def __init__(self):
            super().__init__()
            self.unused = nn.Linear(2, 2)

    trainer = make_trainer(callbacks=[MixupCallback(alpha=1.0, manifold_layers=["unused"])])
    model = Skip()
    with pytest.raises(RuntimeError, match="layer 'unused', but that layer was not called during the training step"):
        trainer.fit(model, DataLoader(dataset(), batch_size=8))
    assert not model.unused._forward_hooks  # removed on the exception


def test_dataloader_iter_step_is_refused(make_trainer):
    class IterModel(BoringClassifier):
        def training_step(self, dataloader_iter):
            x, y = next(dataloader_iter)[0]
            return F.cross_entropy(self(x), y)

    trainer = make_trainer(callbacks=[MixupCallback()])
    with pytest.raises(ValueError, match=r"cannot mix batches that `training_step\(dataloader_iter\)` fetches"):
        trainer.fit(IterModel(), DataLoader(dataset(), batch_size=8))


def test_unsupported_loss_fails_loudly(make_trainer):
    class MSE(BoringClassifier):
        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.mse_loss(self(x).argmax(1).float(), y)

    trainer = make_trainer(callbacks=[MixupCallback()])
    with pytest.raises(ValueError, match="`mse_loss` would see only one side of each mixed pair"):
        trainer.fit(MSE(), DataLoader(dataset(), batch_size=8))


def test_batch_structure_errors(make_trainer):
    trainer = make_trainer(callbacks=[MixupCallback(input_key="x", target_key="y")])
    with pytest.raises(
        ValueError, match=r"entry at input_key='x', but got a dict with keys \['label', 'image', 'id'\]"
    ):
        trainer.fit(Recorder(), DataLoader(DictData("dict"), batch_size=8))
    trainer = make_trainer(callbacks=[MixupCallback(target_key=2)])
    with pytest.raises(ValueError, match="entry at target_key=2, but got a list of length 2"):
        trainer.fit(Recorder(), DataLoader(dataset(), batch_size=8))
    trainer = make_trainer(callbacks=[MixupCallback(target_key="id", input_key="image")])
    with pytest.raises(
        TypeError, match=r"Expected the batch's targets to be a tensor of shape \(B, ...\), but got \[0"
    ):
        trainer.fit(
            Recorder(),
            DataLoader(
                DictData("dict"),
                batch_size=8,
                collate_fn=lambda b: {"image": torch.stack([i["image"] for i in b]), "id": [i["id"] for i in b]},
            ),
        )
    trainer = make_trainer(callbacks=[MixupCallback(), MixupCallback()])
    with pytest.raises(ValueError, match="Expected one MixupCallback in Trainer.callbacks=...., but found 2"):
        trainer.fit(Recorder(), DataLoader(dataset(), batch_size=8))
    assert "batch_to_device" not in vars(trainer.strategy)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": -0.1}, ValueError, r"`alpha` to be a positive finite float \(0 switches mixing off.*but got -0.1"),
        ({"alpha": 1e-320}, ValueError, r"`alpha` to be a positive finite float \(0 switches.*but got 1e-320"),
        ({"alpha": True}, ValueError, "Expected argument `alpha` to be a positive finite float"),
        ({"cutmix_alpha": -1}, ValueError, "Expected argument `cutmix_alpha`"),
        ({"switch_prob": 2.0}, ValueError, r"Expected argument `switch_prob` to be a float in \[0, 1\]"),
        ({"mode": "row"}, ValueError, "Expected argument `mode` to be one of"),
        ({"target_mode": "hard"}, ValueError, r"Expected argument `target_mode` to be one of \('auto', 'soft'\)"),
        ({"num_classes": 0}, ValueError, "Expected argument `num_classes` to be an int >= 1 or None"),
        ({"num_classes": True}, ValueError, "Expected argument `num_classes` to be an int >= 1 or None"),
        ({"label_smoothing": 1.0}, ValueError, r"Expected argument `label_smoothing` to be a float in \[0, 1\)"),
        ({"input_key": 1.5}, ValueError, "Expected argument `input_key` to be an int index, a str key or None"),
        ({"input_key": [0, True]}, ValueError, "Expected argument `input_key` to be an int index, a str key"),
        ({"target_key": 0.5}, ValueError, "Expected argument `target_key` to be an int index, a str key or None"),
        ({"input_key": 1, "target_key": 1}, ValueError, "Expected `input_key` and `target_key` to differ"),
        ({"input_key": []}, ValueError, "Expected argument `input_key` to be a key, a non-empty list of keys"),
        (
            {"label_reads": "loose"},
            ValueError,
            r"Expected argument `label_reads` to be one of \('dominant', 'strict'\)",
        ),
        ({"log": 1}, ValueError, "Expected argument `log` to be a bool"),
        ({"correct_lam": "yes"}, ValueError, "Expected argument `correct_lam` to be a bool"),
        ({"manifold_layers": "net.1"}, ValueError, "Expected argument `manifold_layers` to be a non-empty list"),
        ({"warmup_epochs": -1}, ValueError, "Expected argument `warmup_epochs` to be an int >= 0"),
        ({"warmup_epochs": True}, ValueError, "Expected argument `warmup_epochs` to be an int >= 0, but got True"),
        ({"warmup_epochs": 3, "stop_epoch": 2}, ValueError, "Expected argument `stop_epoch` to be an int >= 3 or None"),
        ({"seed": -3}, ValueError, "Expected argument `seed` to be an int >= 0 or None"),
        ({"seed": False}, ValueError, "Expected argument `seed` to be an int >= 0 or None"),
        ({"discriminator_mode": "x"}, ValueError, "Expected argument `discriminator_mode` to be one of"),
        ({"discriminator_mode": "shuffle", "alpha": 2.0}, ValueError, r"with discriminator_mode='shuffle'"),
    ],
)
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        MixupCallback(**kwargs)


def test_draws_before_setup_errors():
    with pytest.raises(RuntimeError, match="The mixing engine has no seed yet"):
        MixupCallback().engine.reseed(0)


def test_cutmix_on_flat_inputs_errors(make_trainer):
    trainer = make_trainer(callbacks=[MixupCallback(alpha=0.0, cutmix_alpha=1.0)])
    with pytest.raises(ValueError, match=r"Expected image inputs of shape \(B, ..., H, W\) for CutMix"):
        trainer.fit(BoringClassifier(), DataLoader(dataset(), batch_size=8))
    trainer = make_trainer(callbacks=[MixupCallback(alpha=0.0, cutmix_alpha=1.0, manifold_layers=["net.1"])])
    with pytest.raises(ValueError, match="CutMix pastes image regions and has no form for hidden layers"):
        trainer.fit(BoringClassifier(), DataLoader(dataset(), batch_size=8))


def test_datamodule_with_on_after_batch_transfer(make_trainer):
    class DM(RandomClassificationDataModule):
        def on_after_batch_transfer(self, batch, dataloader_idx):
            x, y = batch
            return [x * 2, y]

    model = Recorder()
    make_trainer(callbacks=[MixupCallback(alpha=1.0)]).fit(model, DM())
    assert all(isinstance(y, MixedLabels) for _, y, _, _ in model.train_seen)
