"""An online logistic model (river) over the same feature vectors the served models take."""

from __future__ import annotations

from collections.abc import Sequence

from river import compose, linear_model, optim, preprocessing

LEARNING_RATE = 0.05


def as_dict(row: Sequence[float]) -> dict[int, float]:
    """A feature vector as river's dict, keyed by position.

    Examples
    --------
    >>> as_dict([0.5, 0.0, 2.0])
    {0: 0.5, 1: 0.0, 2: 2.0}
    """
    return {i: float(v) for i, v in enumerate(row)}


class OnlineModel:
    """Standardise, then logistic regression, learnt one labelled example at a time.

    Serves as the fallback when Triton is unavailable and as a challenger to the live model.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> model = OnlineModel()
    >>> for _ in range(2000):
    ...     x = [rng.random(), rng.random()]
    ...     model.learn_one(x, x[0] > 0.5)
    >>> model.predict_proba_one([0.9, 0.5]) > 0.8, model.predict_proba_one([0.1, 0.5]) < 0.2
    (True, True)
    >>> model.n_learned
    2000
    """

    def __init__(self, learning_rate: float = LEARNING_RATE) -> None:
        self.pipeline = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate)),
        )
        self.n_learned = 0

    def learn_one(self, row: Sequence[float], label: bool) -> None:
        """Update on one labelled example."""
        self.pipeline.learn_one(as_dict(row), bool(label))
        self.n_learned += 1

    def predict_proba_one(self, row: Sequence[float]) -> float:
        """Probability of the positive class (0.5 before any learning)."""
        return float(self.pipeline.predict_proba_one(as_dict(row)).get(True, 0.0))
