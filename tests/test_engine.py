"""The mixing engine and what the callback builds on it: keys, masks, seeds, resume, pickling, checks."""

import pickle

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixedLabels, MixupCallback, MixupEngine, MixupMixin, MixupPolicy
from lightning_mixup._batch import detect_keys
from lightning_mixup.demos import BoringClassifier


def dataset(n=24, features=8, classes=3, seed=0, label_dtype=torch.long):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(
        torch.randn(n, features, generator=g), torch.randint(classes, (n,), generator=g).to(label_dtype)
    )


class Lams(BoringClassifier):
    def __init__(self):
        super().__init__()
        self.lams = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.lams.append(y.lam.clone() if isinstance(y, MixedLabels) else None)
        return F.cross_entropy(self(x), y)


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        (
            {"input_ids": 0, "attention_mask": 0, "token_type_ids": 0, "labels": 0},
            (["input_ids"], "labels", ["attention_mask"]),
        ),
        ({"pixel_values": 0, "label": 0}, (["pixel_values"], "label", [])),
        ({"features": 0, "target": 0, "id": 0}, (["features"], "target", [])),
        ((0, 0), ([0], 1, [])),
        ([0, 0], ([0], 1, [])),
    ],
)
def test_batch_keys_are_detected_from_conventional_names(batch, expected):
    assert detect_keys(batch, None, None) == expected


@pytest.mark.parametrize(
    ("batch", "keys", "match"),
    [
        (
            {"x": 0, "inputs": 0, "y": 0},
            (None, None),
            r"several input candidates \['inputs', 'x'\].*keys \['x', 'inputs', 'y'\]",
        ),
        ({"data": 0, "y": 0}, (None, None), r"no entry with a conventional input name.*keys \['data', 'y'\]"),
        ({"x": 0, "labels": 0, "y": 0}, (None, None), r"several target candidates \['labels', 'y'\]"),
        ((0, 0, 0), (None, None), r"a tuple of length 3: with more than two entries it is ambiguous"),
        (torch.zeros(3), (None, None), "a Tensor of shape .3,.*for a GAN use MixupMixin.mix_discriminator"),
        ({"x": 0, "y": 0}, ("z", None), r"entry at input_key='z', but got a dict with keys \['x', 'y'\]"),
    ],
)
def test_batch_key_errors_list_the_keys(batch, keys, match):
    with pytest.raises(ValueError, match=match):
        detect_keys(batch, *keys)


def test_explicit_keys_win_and_lists_of_inputs():
    assert detect_keys({"x": 0, "inputs": 0, "y": 0}, "x", "y") == (["x"], "y", [])
    assert detect_keys((0, 0, 0), [0, 1], 2) == ([0, 1], 2, [])


def test_attention_masks_of_a_mixed_pair_are_combined():
    engine = MixupEngine(MixupPolicy(alpha=1.0))
    module = nn.Embedding(10, 4)
    holder = nn.Sequential(module)
    engine.start(holder, seed=0, rank=0)
    engine.reseed(0)
    batch = {
        "input_ids": torch.tensor([[1, 2, 0], [3, 0, 0], [4, 5, 6]]),
        "attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]]),
        "labels": torch.tensor([0, 1, 2]),
    }
    mixed = engine.mix_container(holder, batch, epoch=0)
    labels = mixed["labels"]
    assert torch.equal(mixed["input_ids"], batch["input_ids"])  # ids are not blended: their embeddings are
    partner = batch["attention_mask"][torch.tensor([labels.y_b.tolist().index(int(b)) for b in labels.y_b])]
    for i in range(3):
        j = int((batch["labels"] == labels.y_b[i]).nonzero()[0])
        expected = torch.maximum(batch["attention_mask"][i], batch["attention_mask"][j])
        if labels.lam[i] < 1 and i != j:
            assert torch.equal(mixed["attention_mask"][i], expected)
    assert partner is not None
    assert batch["attention_mask"][1].tolist() == [1, 0, 0]  # the batch itself is not modified
    engine.reseed(0)
    with pytest.warns(DeprecationWarning, match=r"mix_batch\(module, batch\) is deprecated: use MixupEngine.mix_con"):
        again = engine.mix_batch(holder, batch, epoch=0)
    assert torch.equal(again["attention_mask"], mixed["attention_mask"])
    assert torch.equal(again["labels"].lam, labels.lam)
    engine.stop()


def test_seed_none_is_read_at_every_fit_not_latched(make_trainer):
    callback = MixupCallback(alpha=1.0, mode="elem")

    def run(seed):
        pl.seed_everything(seed, verbose=False)
        model = Lams()
        make_trainer(max_steps=2, callbacks=[callback]).fit(model, DataLoader(dataset(), batch_size=8))
        return torch.cat(model.lams)

    first, second, again = run(1), run(2), run(1)
    assert not torch.equal(first, second)  # a new seed_everything gives new draws with the same callback
    assert torch.equal(first, again)


def test_callback_and_trainer_pickle_during_fit(make_trainer):
    class Pickles(BoringClassifier):
        def training_step(self, batch, batch_idx):
            restored = pickle.loads(pickle.dumps(self.trainer.callbacks[0]))
            assert isinstance(restored, MixupCallback) and restored.engine.policy.alpha == 1.0
            pickle.dumps(self.trainer.strategy.batch_to_device)
            x, y = batch
            return F.cross_entropy(self(x), y)

    make_trainer(max_steps=1, callbacks=[MixupCallback(alpha=1.0)]).fit(Pickles(), DataLoader(dataset(), batch_size=8))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32])
def test_label_dtypes_behave_as_plain_cross_entropy_does(make_trainer, dtype):
    seen = []

    class Step(BoringClassifier):
        def training_step(self, batch, batch_idx):
            x, y = batch
            logits = self(x)
            assert isinstance(y, MixedLabels) and y.dtype == dtype  # the batch's label dtype is kept
            if dtype == torch.int32:  # plain cross_entropy refuses int32 targets, and so do mixed ones
                with pytest.raises(RuntimeError, match="Long"):
                    F.cross_entropy(logits, y.y_a)
                with pytest.raises(RuntimeError, match="Long"):
                    F.cross_entropy(logits, y)
                y = y.long()
            loss = F.cross_entropy(logits, y)
            per_sample = [F.cross_entropy(logits, t.long(), reduction="none") for t in (y.y_a, y.y_b)]
            reference = (y.lam * per_sample[0] + (1 - y.lam) * per_sample[1]).mean()
            seen.append((float(loss), float(reference), float(y.lam.min())))
            return loss

    make_trainer(max_steps=1, callbacks=[MixupCallback(alpha=1.0)]).fit(
        Step(), DataLoader(dataset(label_dtype=dtype), batch_size=8)
    )
    assert len(seen) == 1
    loss, reference, lam_min = seen[0]
    assert lam_min < 1.0 and loss == pytest.approx(reference, rel=1e-5)


def test_out_of_range_labels_get_torchs_message(make_trainer):
    data = TensorDataset(torch.randn(8, 8), torch.tensor([0, 1, 2, 7, 0, 1, 2, 0]))
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        make_trainer(max_steps=1, callbacks=[MixupCallback(alpha=1.0)]).fit(
            BoringClassifier(), DataLoader(data, batch_size=8)
        )


class GAN(MixupMixin, pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.d = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        real = batch[0]
        inputs, labels = self.mix_discriminator(real, torch.randn_like(real))
        loss = F.binary_cross_entropy_with_logits(self.d(inputs).squeeze(1), labels)
        self.manual_backward(loss)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_cutmix_only_never_silently_skips_the_discriminator(make_trainer):
    trainer = make_trainer(max_steps=1, callbacks=[MixupCallback(alpha=0.0, cutmix_alpha=1.0)])
    with pytest.raises(ValueError, match="CutMix has no discriminator form, so the discriminator would never be mixed"):
        trainer.fit(GAN(), DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4))


class StatefulLoader(DataLoader):
    """A loader that resumes mid-epoch (Lightning saves and restores `state_dict` of loaders that have one)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skip = 0
        self.served = 0

    def __iter__(self):
        iterator = super().__iter__()
        for _ in range(self.skip):
            next(iterator)
        self.served, self.skip = self.skip, 0
        for batch in iterator:
            self.served += 1
            yield batch

    def state_dict(self):
        return {"served": self.served}

    def load_state_dict(self, state):
        self.skip = state["served"]


@pytest.mark.parametrize("stateful", [True, False])
def test_mid_epoch_resume_is_exact_with_a_stateful_loader_only(make_trainer, tmp_path, stateful):
    from lightning.pytorch.callbacks import ModelCheckpoint

    def loader():
        data = dataset(n=32)
        g = torch.Generator().manual_seed(5)
        order = torch.randperm(32, generator=g).tolist()  # a fixed order, the same in every run
        cls = StatefulLoader if stateful else DataLoader
        return cls(torch.utils.data.Subset(data, order), batch_size=4)

    def fit(max_steps, ckpt_path=None, every=None):
        pl.seed_everything(0, verbose=False)
        model = BoringClassifier()
        callbacks = [MixupCallback(alpha=1.0)]
        if every:
            callbacks.append(
                ModelCheckpoint(dirpath=tmp_path / f"ck{stateful}", every_n_train_steps=every, save_top_k=-1)
            )
        trainer = make_trainer(
            max_steps=max_steps, max_epochs=-1, callbacks=callbacks, enable_checkpointing=bool(every)
        )
        trainer.fit(model, loader(), ckpt_path=ckpt_path)
        return model

    full = fit(6)
    fit(3, every=3)  # a checkpoint after 3 of the 8 batches of the first epoch
    checkpoint = next((tmp_path / f"ck{stateful}").glob("*step=3*.ckpt"))
    resumed = fit(6, ckpt_path=checkpoint)
    same = all(torch.equal(a, b) for a, b in zip(full.parameters(), resumed.parameters(), strict=True))
    assert same is stateful  # a plain loader restarts its epoch: same draws, other batches


def test_log_false_logs_nothing(make_trainer):
    # Lightning attaches the module's `log` method to every callback: the switch must not live in `callback.log`
    for log in (True, False):
        trainer = make_trainer(max_epochs=1, callbacks=[MixupCallback(alpha=1.0, log=log)])
        trainer.fit(BoringClassifier(), DataLoader(dataset(), batch_size=8))
        assert ("mixup/lam" in trainer.callback_metrics) is log


def test_the_unused_step_argument_is_deprecated():
    engine = MixupEngine(MixupPolicy(alpha=1.0), warmup_epochs=1, stop_epoch=2)
    assert [engine.should_apply(epoch) for epoch in range(3)] == [False, True, False]
    with pytest.warns(DeprecationWarning, match="`step` argument of MixupEngine.should_apply is deprecated"):
        assert engine.should_apply(1, 10**6)
    engine.start(nn.Linear(2, 2), seed=0, rank=0)
    engine.reseed(0)
    with pytest.warns(DeprecationWarning, match="`step` argument of MixupEngine.mix is deprecated"):
        _, y = engine.mix(nn.Linear(2, 2), torch.rand(4, 2), torch.tensor([0, 1, 1, 0]), epoch=1, step=0)
    assert isinstance(y, MixedLabels)
    engine.stop()
