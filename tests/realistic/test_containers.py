"""Batch containers: lists, namedtuples and dicts, keys found by their conventional names or refused clearly."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from lightning_mixup import MixedLabels, MixupCallback
from tests.realistic.modules.containers import ContainerClassifier, Items, Sample, loader
from tests.realistic.modules.data import images, rows
from tests.realistic.recording import Recorder, check_partners, contract_params, mix_rows, mixed_reference

SEED = 19


@pytest.mark.parametrize(("container", "kind"), [("list", list), ("namedtuple", Sample), ("dict", dict)])
def test_list_namedtuple_and_dict_batches(fit, container, kind):
    x, y = images()
    recorder = Recorder("net", "criterion")
    data = Items(container, image=x, label=y)
    fit(ContainerClassifier(), loader(data), callbacks=[MixupCallback(alpha=1.0, seed=SEED), recorder])
    assert len(recorder.steps) == 2
    for n, step in enumerate(recorder.steps):
        assert type(step.batch) is kind
        inputs, labels = step.call("net").args[0], step.call("criterion").args[1]
        assert isinstance(labels, MixedLabels)
        params = contract_params(SEED, n, rows(x, n))
        check_partners(labels, params)
        torch.testing.assert_close(inputs, mix_rows(rows(x, n), params))
        logits = step.call("criterion").args[0]
        torch.testing.assert_close(step.loss, mixed_reference(F.cross_entropy, logits, labels))


@pytest.mark.parametrize(
    "keys",
    [("x", "inputs", "y"), ("pixels", "cls")],
    ids=["ambiguous-inputs", "no-conventional-names"],
)
def test_dict_batches_without_one_input_and_one_target_name_are_refused(fit, keys):
    x, y = images()
    data = Items("dict", keys=keys, **dict(zip(keys, (x, x.clone(), y)[-len(keys) :], strict=True)))
    with pytest.raises(ValueError, match=re.escape(repr(keys[0]))) as error:
        fit(ContainerClassifier(keys=keys[-2:]), loader(data), callbacks=[MixupCallback(alpha=1.0, seed=SEED)])
    assert all(repr(key) in str(error.value) for key in keys)  # the message lists the batch's keys


def test_explicit_keys_win_over_conventional_names(fit):
    x, y = images()
    other = torch.rand_like(x)
    data = Items("dict", keys=("x", "inputs", "y"), x=other, inputs=x, y=y)
    recorder = Recorder("net", "criterion")
    callback = MixupCallback(alpha=1.0, seed=SEED, input_key="inputs", target_key="y")
    fit(ContainerClassifier(keys=("inputs", "y")), loader(data), callbacks=[callback, recorder])
    for n, step in enumerate(recorder.steps):
        assert torch.equal(step.batch["x"], rows(other, n))  # not an input: left alone
        params = contract_params(SEED, n, rows(x, n))
        check_partners(step.batch["y"], params)
        torch.testing.assert_close(step.call("net").args[0], mix_rows(rows(x, n), params))
