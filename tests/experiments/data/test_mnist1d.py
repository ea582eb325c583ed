import random

import numpy as np
import pytest
import torch

from experiments.data.mnist1d import MNIST1DDataModule, make_mnist1d
from experiments.models import build_backbone

pytest.importorskip("mnist1d")


def test_standard_split_and_global_generators_untouched():
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    data = make_mnist1d()
    assert (random.random(), np.random.rand()) == expected
    assert data["x"].shape == (4000, 40) and data["x_test"].shape == (1000, 40)
    assert sorted(np.unique(data["y"]).tolist()) == list(range(10))
    assert abs(float(np.concatenate([data["x"], data["x_test"]]).std()) - 1.0) < 1e-3


def test_inner_validation_split_is_stratified():
    dm = MNIST1DDataModule(val_size=500)
    dm.setup()
    (_, y_val), (_, y_train) = dm.val_set.tensors, dm.train_set.tensors
    expected = 500 * torch.bincount(torch.cat([y_val, y_train])) / 4000
    assert (torch.bincount(y_val) - expected).abs().max() <= 1
    full = MNIST1DDataModule(val_size=0)
    full.setup()
    assert len(full.train_set) == 4000 and len(full.val_set) == 0


@pytest.mark.parametrize(("arch", "params"), [("mnist1d_mlp", 15210), ("mnist1d_cnn", 5210)])
def test_mnist1d_networks_have_the_published_sizes(arch, params):
    net = build_backbone(arch, (40,), 10)
    assert sum(p.numel() for p in net.parameters()) == params
    assert net(torch.zeros(3, 40)).shape == (3, 10)


def test_mnist1d_errors():
    with pytest.raises(ValueError, match="Expected argument `val_size`"):
        MNIST1DDataModule(val_size=-1)
    with pytest.raises(RuntimeError, match="setup\\(\\) has not been called"):
        MNIST1DDataModule().train_dataloader()
