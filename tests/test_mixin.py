import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_mixup import MixedLabels, MixupCallback, MixupMixin
from lightning_mixup.demos import BoringClassifier


def dataset(n=16):
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 8, generator=g), torch.randint(3, (n,), generator=g))


class Custom(MixupMixin, BoringClassifier):
    def __init__(self):
        super().__init__()
        self.records = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        mixed_x, targets = self.mix_batch(x, y)
        loss = self.mixup_loss(F.cross_entropy, self(mixed_x), targets)
        self.records.append((x.clone(), mixed_x, targets, loss.detach()))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.records.append(("val", *self.mix_batch(x, y)))


def test_mix_batch_and_mixup_loss_in_a_custom_step(make_trainer):
    model = Custom()
    trainer = make_trainer(callbacks=[MixupCallback(alpha=1.0)], num_sanity_val_steps=1, limit_val_batches=1)
    data = dataset()
    trainer.fit(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    train = [r for r in model.records if r[0] != "val"]
    val = [r for r in model.records if r[0] == "val"]
    assert len(train) == 2 and len(val) == 2
    for x, mixed_x, targets, _ in train:
        assert isinstance(targets, MixedLabels) and not torch.equal(x, mixed_x)
    for _, _, y in val:  # sanity check and validation: unmixed
        assert type(y) is torch.Tensor
    assert 0 < float(trainer.callback_metrics["mixup/mixed_share"]) <= 1


def test_callback_does_not_mix_a_mixin_module_by_itself(make_trainer):
    class NoMix(MixupMixin, BoringClassifier):
        def training_step(self, batch, batch_idx):
            x, y = batch
            assert type(y) is torch.Tensor
            return F.cross_entropy(self(x), y)

    make_trainer(callbacks=[MixupCallback(alpha=1.0)]).fit(NoMix(), DataLoader(dataset(), batch_size=8))


def test_mixin_draws_are_reproducible(make_trainer):
    def run():
        model = Custom()
        make_trainer(callbacks=[MixupCallback(alpha=1.0, seed=3)]).fit(model, DataLoader(dataset(), batch_size=8))
        return torch.cat([r[2].lam for r in model.records])

    assert torch.equal(run(), run())


class Manifold(MixupMixin, BoringClassifier):
    def __init__(self, layers=None):
        super().__init__()
        self.layers = layers
        self.hidden = []
        self.net[2].register_forward_hook(lambda m, a, out: self.hidden.append(out.detach().clone()))

    def training_step(self, batch, batch_idx):
        x, y = batch
        with self.manifold_mixup(x, y, layers=self.layers) as (x, targets):
            logits = self(x)
        assert not self.mixup_engine.pending()  # disarmed: a later forward in the step is not mixed
        return F.cross_entropy(logits, targets)


def test_manifold_mixup_context(make_trainer):
    model = Manifold(layers=["net.1"])
    make_trainer(max_steps=1, callbacks=[MixupCallback(alpha=1.0, seed=0)]).fit(
        model, DataLoader(dataset(8), batch_size=8)
    )
    with torch.no_grad():
        clean = model.net[2](model.net[1](model.net[0](dataset(8).tensors[0])))
    # the ReLU output seen in training was mixed: it differs from the clean one (weights moved only one step)
    assert not torch.allclose(model.hidden[0], clean, atol=1e-2)


def test_manifold_errors(make_trainer):
    with pytest.raises(ValueError, match="Expected Manifold Mixup layers: pass `layers="):
        make_trainer(callbacks=[MixupCallback(alpha=1.0)]).fit(Manifold(), DataLoader(dataset(), batch_size=8))

    class Unused(Manifold):
        def training_step(self, batch, batch_idx):
            x, y = batch
            with self.manifold_mixup(x, y, layers=["net.3"]) as (x, targets):
                pass
            return F.cross_entropy(self(x), targets)

    with pytest.raises(RuntimeError, match="Manifold Mixup chose layer 'net.3', but it was not called inside"):
        make_trainer(callbacks=[MixupCallback(alpha=1.0)]).fit(Unused(), DataLoader(dataset(), batch_size=8))


def test_mixin_without_the_callback_is_erm(make_trainer):
    model = Custom()
    make_trainer().fit(model, DataLoader(dataset(), batch_size=8))
    for x, mixed_x, targets, _ in model.records:
        assert torch.equal(x, mixed_x) and type(targets) is torch.Tensor
    assert model.mixup_callback is None


def test_mixin_outside_a_lightning_module():
    class Plain(MixupMixin):
        pass

    with pytest.raises(TypeError, match="MixupMixin must be mixed into a LightningModule"):
        Plain().mix_batch(torch.zeros(2, 2), torch.zeros(2))


def test_mixup_loss_on_plain_targets_is_the_loss():
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(Custom().mixup_loss(F.cross_entropy, logits, y), F.cross_entropy(logits, y))


class GANLike(MixupMixin, BoringClassifier):
    def __init__(self):
        super().__init__(in_features=2, num_classes=1)
        self.automatic_optimization = False
        self.seen = []

    def training_step(self, batch, batch_idx):
        real = batch[0][:, :2]
        fake = torch.randn_like(real)
        inputs, labels = self.mix_discriminator(real, fake)
        self.seen.append(labels)
        loss = F.binary_cross_entropy_with_logits(self(inputs).squeeze(1), labels)
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()


@pytest.mark.parametrize("mode", ["paper", "shuffle"])
def test_discriminator_mixup_through_the_mixin(make_trainer, mode):
    model = GANLike()
    make_trainer(callbacks=[MixupCallback(alpha=0.5, discriminator_mode=mode)]).fit(
        model, DataLoader(dataset(), batch_size=8)
    )
    for labels in model.seen:
        assert labels.shape == ((8,) if mode == "paper" else (16,))
        assert ((labels > 0) & (labels < 1)).any()

    erm = GANLike()
    make_trainer(callbacks=[MixupCallback(alpha=0.0)]).fit(erm, DataLoader(dataset(), batch_size=8))
    assert torch.equal(erm.seen[0], torch.cat([torch.ones(8), torch.zeros(8)]))


def test_discriminator_apply_probability():
    engine = MixupCallback(alpha=0.5, prob=0.5, seed=0).engine
    engine.start(torch.nn.Linear(2, 2), seed=0, rank=0)
    engine.reseed(0)
    real, fake = torch.ones(4, 2), torch.zeros(4, 2)
    mixed = [engine.mix_discriminator(real, fake, epoch=0)[1].shape[0] == 4 for _ in range(400)]
    assert 0.4 < sum(mixed) / 400 < 0.6  # paper form: 4 mixed inputs; unmixed: the 8 of cat([real, fake])
