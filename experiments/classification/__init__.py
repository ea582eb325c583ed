"""ERM against mixup on classification: tabular cross-validation (KEEL, scikit-learn) and MNIST-1D (issue #11).

The batched training engine (:mod:`.engine`), the studies (:mod:`.tabular`, :mod:`.mnist1d`) and their report.
"""
