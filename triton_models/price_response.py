"""The conversion model's price response: a real-data prior while fitting, the learned elasticity after.

The conversion features start with ``log(price / list_price)`` (:func:`agents.features.conversion_features`),
so the slope of the model in that column is a price elasticity. While fitting, a penalty pulls
the mean slope of the logit towards the orangeJuice estimate (:mod:`triton_models.orange_juice`);
the synthetic traffic then only has to teach how categories, channels and hours deviate from it.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import torch
from torch import nn

from schemas.common import CATEGORIES
from triton_models.card import OrangeJuiceElasticity, PriceResponse

PRICE_COLUMN: Final = 0
"""``log(price / list_price)`` in the conversion features."""
CATEGORY_COLUMNS: Final = slice(1, 1 + len(CATEGORIES))
"""The category one-hot in the conversion features."""
LOG_PRICE_STEP: Final = 0.05
"""Half-width of the central difference in log price (±5 %, inside the tested price range)."""
PRIOR_ROWS: Final = 256
"""Rows of each batch the prior penalty looks at (the mean slope needs no more)."""


def shifted(x: torch.Tensor, step: float) -> torch.Tensor:
    """``x`` with the log price moved by ``step``.

    Examples
    --------
    >>> shifted(torch.zeros(1, 3), 0.5).tolist()
    [[0.5, 0.0, 0.0]]
    """
    out = x.clone()
    out[:, PRICE_COLUMN] += step
    return out


def mean_logit_slope(net: nn.Module, x: torch.Tensor, step: float = LOG_PRICE_STEP) -> torch.Tensor:
    """Mean over rows of d logit / d log price (central difference; differentiable).

    Examples
    --------
    >>> net = nn.Linear(3, 1)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[-2.5, 1.0, 0.0]]))
    >>> round(float(mean_logit_slope(net, torch.randn(4, 3)).detach()), 4)
    -2.5
    """
    return (net(shifted(x, step)) - net(shifted(x, -step))).mean() / (2 * step)


def prior_penalty(net: nn.Module, x: torch.Tensor, elasticity: float, weight: float) -> torch.Tensor:
    """``weight × (mean logit slope − elasticity)²`` on the first :data:`PRIOR_ROWS` rows of ``x``."""
    return weight * (mean_logit_slope(net, x[:PRIOR_ROWS]) - elasticity) ** 2


def elasticities(model: nn.Module, x: np.ndarray, step: float = LOG_PRICE_STEP) -> np.ndarray:
    """Per row, d log p(purchase) / d log price of a model returning probabilities (central difference).

    Examples
    --------
    >>> class Demand(nn.Module):
    ...     def forward(self, x):
    ...         return torch.exp(-2.0 * x[:, :1] - 4.0)
    >>> elasticities(Demand(), np.zeros((2, 3), dtype=np.float32)).round(3)
    array([-2., -2.])
    """
    rows = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    with torch.inference_mode():
        up = model(shifted(rows, step)).double().ravel()
        down = model(shifted(rows, -step)).double().ravel()
    return ((torch.log(up) - torch.log(down)) / (2 * step)).numpy()


def price_response(
    model: nn.Module,
    x: np.ndarray,
    world_elasticity: float,
    prior: OrangeJuiceElasticity | None,
    prior_weight: float,
) -> PriceResponse:
    """The card's :class:`PriceResponse` of ``model`` on held-out rows ``x``, overall and by category."""
    per_row = elasticities(model, x)
    category = np.asarray(x)[:, CATEGORY_COLUMNS].argmax(axis=1)
    by_category = {
        name: float(per_row[category == k].mean()) for k, name in enumerate(CATEGORIES) if (category == k).any()
    }
    return PriceResponse(
        elasticity=float(per_row.mean()),
        elasticity_by_category=by_category,
        world_elasticity=world_elasticity,
        prior=prior,
        prior_weight=prior_weight if prior is not None else 0.0,
    )
