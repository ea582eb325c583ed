"""Lightning data modules over data that ships with the install (scikit-learn's datasets) and toy data."""

from lightning_mixup.data.sklearn import SKLEARN_DATASETS, SklearnDataModule

__all__ = ["SKLEARN_DATASETS", "SklearnDataModule"]
