"""Small torch MLPs that turn a feature row into a calibrated probability."""

from __future__ import annotations

import math
from typing import Any, Final

import torch
from torch import nn

DEFAULT_HIDDEN: Final[tuple[int, ...]] = (64, 32)
MIN_STD: Final = 1e-6
MIN_PRIOR: Final = 1e-6
ARTIFACT_FORMAT: Final = 1


class MLP(nn.Module):
    """Standardise the features, then ReLU layers down to one logit.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = MLP(4, (8,))
    >>> net(torch.zeros(3, 4)).shape
    torch.Size([3, 1])
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...] = DEFAULT_HIDDEN) -> None:
        super().__init__()
        self.in_features = in_features
        self.hidden = tuple(hidden)
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))
        layers: list[nn.Module] = []
        width = in_features
        for size in self.hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def set_standardisation(self, x: torch.Tensor) -> None:
        """Centre and scale inputs with the mean and spread of training rows ``x``."""
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(MIN_STD))

    def set_prior(self, positive_rate: float) -> None:
        """Start the output at the log-odds of ``positive_rate``, so rare labels need no warm-up.

        Examples
        --------
        >>> net = MLP(2, (3,))
        >>> net.set_prior(0.5)
        >>> float(net.layers[-1].bias.detach())
        0.0
        """
        rate = min(max(positive_rate, MIN_PRIOR), 1 - MIN_PRIOR)
        with torch.no_grad():
            self.layers[-1].bias.fill_(math.log(rate / (1 - rate)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``[rows, 1]``."""
        return self.layers((x - self.mean) / self.std)


class CalibratedClassifier(nn.Module):
    """An :class:`MLP` followed by Platt scaling and per-feature offsets: ``sigmoid(logit / T + bias + x·offsets)``.

    ``offsets`` is zero except where a refit corrected one segment's calibration: on a
    one-hot block (e.g. the ad's campaign category) it adds a logit offset per segment.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = CalibratedClassifier(MLP(4, (8,)), temperature=2.0, bias=-1.0)
    >>> p = model(torch.zeros(5, 4))
    >>> p.shape, bool(((p > 0) & (p < 1)).all())
    (torch.Size([5, 1]), True)
    >>> model.offsets[1] = 2.0
    >>> x = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    >>> bool(model(x) > CalibratedClassifier(model.net, 2.0, -1.0)(x))
    True
    """

    def __init__(self, net: MLP, temperature: float = 1.0, bias: float = 0.0) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.register_buffer("bias", torch.tensor(float(bias)))
        self.register_buffer("offsets", torch.zeros(net.in_features))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated logits of shape ``[rows, 1]``."""
        return self.net(x) / self.temperature + self.bias + (x @ self.offsets).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities of shape ``[rows, 1]``."""
        return torch.sigmoid(self.logits(x))


def to_artifact(model: CalibratedClassifier) -> dict[str, Any]:
    """What ``weights.pt`` stores: the architecture and the state (tensors only, ``weights_only``-safe)."""
    return {
        "format": ARTIFACT_FORMAT,
        "in_features": model.net.in_features,
        "hidden": list(model.net.hidden),
        "state_dict": model.state_dict(),
    }


def from_artifact(artifact: dict[str, Any]) -> CalibratedClassifier:
    """Rebuild the model saved by :func:`to_artifact`, in eval mode.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = CalibratedClassifier(MLP(3, (4,)), temperature=1.5)
    >>> again = from_artifact(to_artifact(model))
    >>> x = torch.randn(2, 3)
    >>> bool(torch.equal(model(x), again(x)))
    True
    """
    if artifact.get("format") != ARTIFACT_FORMAT:
        raise ValueError(f"weights format {artifact.get('format')!r} is not {ARTIFACT_FORMAT}")
    model = CalibratedClassifier(MLP(int(artifact["in_features"]), tuple(artifact["hidden"])))
    state = dict(artifact["state_dict"])
    state.setdefault("offsets", model.offsets)  # versions written before segment offsets existed
    model.load_state_dict(state)
    return model.eval()
