import math

import pytest

from experiments.plots import plot_accuracy_curves, plot_reliability_diagrams, pool_bins
from lightning_mixup.evaluation import ReliabilityBins


def test_pooling_and_plots(tmp_path):
    a = ReliabilityBins([0.0, 0.5, 1.0, 1.0], [2, 2, 0], [0.3, 0.7, math.nan], [0.5, 1.0, math.nan])
    b = ReliabilityBins([0.0, 0.5, 1.0, 1.0], [0, 2, 2], [math.nan, 0.9, 1.0], [math.nan, 0.5, 1.0])
    pooled = pool_bins([a, b])
    assert pooled.count == [2, 4, 2]
    assert pooled.confidence[1] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="same edges"):
        pool_bins([a, ReliabilityBins([0.0, 1.0], [1], [0.5], [1.0])])
    with pytest.raises(ValueError, match="at least one ReliabilityBins"):
        pool_bins([])
    curves = {"ERM": {"fgsm": {"eps": [0, 0.1], "mean": [0.9, 0.3], "low": [0.8, math.nan], "high": [1.0, 0.4]}}}
    assert plot_accuracy_curves(curves, tmp_path / "a.png").stat().st_size > 1000
    assert plot_reliability_diagrams({"ERM": a, "mixup": pooled}, tmp_path / "r.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="at least one attack curve"):
        plot_accuracy_curves({"ERM": {}}, tmp_path / "b.png")
    with pytest.raises(ValueError, match="at least one entry in `bins`"):
        plot_reliability_diagrams({}, tmp_path / "c.png")
