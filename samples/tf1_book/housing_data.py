"""Offline stand-in for sklearn's California housing data set and StandardScaler.

The book's chapter 9 loads ``sklearn.datasets.fetch_california_housing()``; there is
no network (nor scikit-learn) here, so the programs import this module instead: the
same shape (20,640 districts x 8 features, target in $100k) drawn with a fixed seed
(42) by ``housing_like`` from samples/linear_regression.py, so both samples use one
data set. ``StandardScaler`` is the few lines of scikit-learn's the book uses.
"""
import os
import sys
from types import SimpleNamespace

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from linear_regression import FEATURES, housing_like  # noqa: E402


def fetch_california_housing(n_samples=20640, seed=42):
    data, target = housing_like(n_samples, seed)
    return SimpleNamespace(data=data, target=target, feature_names=list(FEATURES))


class StandardScaler:
    """(x - mean) / std per column, as sklearn.preprocessing.StandardScaler."""

    def fit(self, X):
        self.mean_, self.scale_ = X.mean(axis=0), X.std(axis=0)
        return self

    def transform(self, X):
        return (X - self.mean_) / self.scale_

    def fit_transform(self, X):
        return self.fit(X).transform(X)
