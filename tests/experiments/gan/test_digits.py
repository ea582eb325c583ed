import pytest
import torch

from experiments.gan.digits import (
    ClassifierModeCoverage,
    StackedDigitClassifier,
    StackedDigits,
    StackedDigitsDataModule,
    train_digit_classifier,
)
from lightning_mixup.gan import classifier_coverage, classifier_mode_counts


def test_stacked_digits_modes_are_the_digit_triples():
    data = StackedDigits()
    x, modes = data.sample_with_modes(50, torch.Generator().manual_seed(0))
    images = x.view(50, 3, 64)
    for c, place in enumerate((100, 10, 1)):
        digit = (modes // place) % 10
        # every channel is one of scikit-learn's digits of that class
        for i in range(5):
            matches = (data.images == images[i, c]).all(1)
            assert matches.any() and bool((data.labels[matches] == digit[i]).all())


def test_the_classifier_recovers_the_modes_of_real_samples():
    data = StackedDigits()
    x, modes = data.sample_with_modes(400, torch.Generator().manual_seed(1))
    classifier = StackedDigitClassifier(train_digit_classifier())
    logits = classifier(x)
    assert logits.shape == (400, 3, 10)
    predicted = (logits.argmax(-1) * torch.tensor([100, 10, 1])).sum(-1)
    assert (predicted == modes).float().mean() > 0.8  # about 0.97^3 with a 97 % digit classifier
    metric = ClassifierModeCoverage(num_modes=1000)
    metric.update(logits)
    expected = classifier_coverage(*classifier_mode_counts(logits))
    for key, value in metric.compute().items():
        assert torch.equal(value, expected[key])
    assert metric.compute()["modes_captured"] == len(set(predicted.tolist()))


def test_datamodule_batches_and_errors():
    dm = StackedDigitsDataModule(batch_size=8)
    dm.setup("fit")
    (x,) = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 192) and float(x.min()) >= 0 and float(x.max()) <= 1
    with pytest.raises(ValueError, match="`channels` to be an int >= 1"):
        StackedDigits(channels=0)
    with pytest.raises(ValueError, match="`num_modes` to be an int >= 1"):
        ClassifierModeCoverage(num_modes=0)
    with pytest.raises(ValueError, match=r"`confidence` to be a float in \[0, 1\]"):
        ClassifierModeCoverage(num_modes=4, confidence=2.0)
    with pytest.raises(ValueError, match="Expected logits for 4 modes"):
        ClassifierModeCoverage(num_modes=4).update(torch.zeros(2, 3))
