"""The studies' datasets: KEEL and scikit-learn tables in fixed 10-fold cross-validation, and MNIST-1D."""
