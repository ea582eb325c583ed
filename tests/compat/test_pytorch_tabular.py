"""pytorch-tabular's own models through its own ``TabularModel.fit(..., callbacks=[MixupCallback(...)])``:
CategoryEmbedding, FT-Transformer and TabNet classifiers and a CategoryEmbedding regression, at random init.

pytorch-tabular builds the standalone ``pytorch_lightning`` Trainer; its batches are dicts
``{"target": (B, 1), "continuous": (B, n_cont) float, "categorical": (B, n_cat) int64}`` and its step computes
``self.loss(y_hat[:, 0:C], y[:, 0])`` (classification) or ``self.loss(y_hat[:, 0], y[:, 0])`` (regression).
The loader shuffles, so each check uses what the step recorded: the mixed batch, ``y_a``, ``y_b`` and λ.
"""

from __future__ import annotations

import logging
import warnings

import pytest

pytest.importorskip("pytorch_tabular")

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pytorch_tabular import TabularModel
from pytorch_tabular.config import DataConfig, OptimizerConfig, TrainerConfig
from pytorch_tabular.models import (
    CategoryEmbeddingModelConfig,
    FTTransformerConfig,
    TabNetModelConfig,
)

from lightning_mixup import MixedLabels, MixupCallback
from tests.compat._common import SEED, PLRecorder, mixed, parts

PACKAGE = "pytorch-tabular"
BOTH = ["continuous", "categorical"]


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """pytorch-tabular writes `.pt_tmp/exp_version_manager.yml` in the working directory: not in the clone."""
    monkeypatch.chdir(tmp_path)


def table(n: int = 32, regression: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.integers(0, 3, n), "d": rng.integers(0, 4, n)}
    )
    # regression: a target linear in the continuous column `a`, so mixed targets must follow the mixed `a`
    df["target"] = 2.0 * df["a"] + 1.0 if regression else rng.integers(0, 3, n)
    return df


def fit_tabular(tmp_path, model_config, *, regression: bool = False, **callback):
    data = DataConfig(
        target=["target"], continuous_cols=["a", "b"], categorical_cols=["c", "d"], normalize_continuous_features=False
    )
    trainer = TrainerConfig(
        batch_size=8,
        max_epochs=1,
        accelerator="cpu",
        checkpoints=None,
        early_stopping=None,
        progress_bar="none",
        load_best=False,
        trainer_kwargs={"max_steps": 2, "enable_model_summary": False, "num_sanity_val_steps": 0},
    )
    model = TabularModel(
        data_config=data,
        model_config=model_config,
        optimizer_config=OptimizerConfig(),
        trainer_config=trainer,
        verbose=False,
    )
    recorder = PLRecorder()
    df = table(regression=regression)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytorch-tabular's own deprecation and data-size warnings
        logging.disable(logging.WARNING)
        try:
            model.fit(train=df, validation=df, callbacks=[MixupCallback(seed=SEED, **callback), recorder])
        finally:
            logging.disable(logging.NOTSET)
    assert len(recorder.steps) == 2
    return recorder.steps


def check_classification(steps) -> None:
    for step in steps:
        labels = step.batch["target"]
        assert isinstance(labels, MixedLabels)
        assert bool((parts(labels)[2] < 1).any())  # the batch was mixed
        logits = step.call().output["logits"]
        torch.testing.assert_close(step.loss, mixed(F.cross_entropy, logits, labels, prepare=lambda t: t[:, 0]))


@pytest.mark.verdict(
    package=PACKAGE,
    module="CategoryEmbeddingModel (TabularModel.fit)",
    loss="ce",
    expected="exact",
    note="with no input_key: `continuous` + `categorical` are detected (categories by embedding mixup)",
)
def test_category_embedding_keys_detected(tmp_path):
    steps = fit_tabular(tmp_path, CategoryEmbeddingModelConfig(task="classification", layers="16-8"), alpha=1.0)
    check_classification(steps)
    for step in steps:  # both inputs were mixed: the continuous rows are not the table's rows
        original = torch.tensor(table()[["a", "b"]].to_numpy(), dtype=torch.float32)
        assert not bool((step.batch["continuous"][:, None, :] == original[None]).all(-1).any(1).all())


@pytest.mark.verdict(
    package=PACKAGE,
    module="CategoryEmbeddingModel (TabularModel.fit)",
    loss="ce",
    expected="exact",
    note="input_key=['continuous', 'categorical']: categories by embedding mixup",
)
def test_category_embedding(tmp_path):
    config = CategoryEmbeddingModelConfig(task="classification", layers="16-8")
    check_classification(fit_tabular(tmp_path, config, alpha=1.0, input_key=BOTH))


@pytest.mark.verdict(
    package=PACKAGE,
    module="FTTransformerModel (TabularModel.fit)",
    loss="ce",
    expected="exact",
    note="input_key=['continuous', 'categorical']",
)
def test_ft_transformer(tmp_path):
    config = FTTransformerConfig(task="classification", num_heads=2, num_attn_blocks=1, input_embed_dim=8)
    check_classification(fit_tabular(tmp_path, config, alpha=1.0, input_key=BOTH))


@pytest.mark.verdict(
    package=PACKAGE,
    module="TabNetModel (TabularModel.fit)",
    loss="ce",
    expected="clear refusal",
    note="pytorch-tabnet's EmbeddingGenerator copies the ids (`x[:, i].long()`) before its embeddings",
)
def test_tabnet_refuses_copied_category_ids(tmp_path):
    config = TabNetModelConfig(task="classification", n_d=4, n_a=4, n_steps=2)
    with pytest.raises(ValueError, match=r"no nn\.Embedding of the model looked them up"):
        fit_tabular(tmp_path, config, alpha=1.0, input_key=BOTH)


@pytest.mark.verdict(
    package=PACKAGE,
    module="TabNetModel (TabularModel.fit)",
    loss="ce",
    expected="exact",
    note="input_key='continuous': the categories stay unmixed, as the user chose",
)
def test_tabnet_continuous_only(tmp_path):
    config = TabNetModelConfig(task="classification", n_d=4, n_a=4, n_steps=2)
    steps = fit_tabular(tmp_path, config, alpha=1.0, input_key="continuous")
    for step in steps:
        labels = step.batch["target"]
        logits = step.call().output["logits"]
        reference = mixed(F.cross_entropy, logits, labels, prepare=lambda t: t[:, 0])
        # TabNet adds its sparsity regularisation to the loss (output["regularization"] * lambda_sparse)
        reg = step.call().output.get("regularization", 0.0)
        torch.testing.assert_close(step.loss, reference + reg)


@pytest.mark.verdict(
    package=PACKAGE,
    module="CategoryEmbeddingModel, regression (TabularModel.fit)",
    loss="mse",
    expected="documented behaviour",
    note="float targets are interpolated with the inputs' λ (mixup for regression); MSE of them",
)
def test_regression_interpolates_targets(tmp_path):
    config = CategoryEmbeddingModelConfig(task="regression", layers="16-8")
    steps = fit_tabular(tmp_path, config, regression=True, alpha=1.0, input_key=BOTH)
    for step in steps:
        target, continuous = step.batch["target"], step.batch["continuous"]
        assert type(target) is torch.Tensor and target.dtype == torch.float32
        # target = 2·a + 1 row by row, so the mixed target is 2·(mixed a) + 1 exactly when both used the same λ
        torch.testing.assert_close(target[:, 0], 2.0 * continuous[:, 0] + 1.0)
        original = torch.tensor(table(regression=True)["a"].to_numpy(), dtype=torch.float32)
        assert not bool(torch.isclose(continuous[:, :1], original).any(1).all())  # the rows were mixed
        pred = step.call().output["logits"]
        torch.testing.assert_close(step.loss, F.mse_loss(pred[:, 0], target[:, 0]))
