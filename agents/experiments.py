"""Experiment layer: stable arm assignment by hashed unit id, and Thompson sampling with logged propensities.

Assignment hashes ``(experiment name, user_id)``, so a user stays in one arm for
the experiment's life and arms split by their configured shares. Inside an arm,
Thompson sampling draws each option's value from its posterior and takes the
best; the logged propensity is the probability that this policy picks the
chosen option, estimated from the same seeded draws, so inverse-propensity
estimates of uplift are unbiased.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streams.settings import ExperimentArm

HASH_BYTES = 8
HASH_SPACE = float(2 ** (8 * HASH_BYTES))


def unit_bucket(unit_id: str, salt: str) -> float:
    """A uniform number in [0, 1) that depends only on ``(salt, unit_id)``.

    Examples
    --------
    >>> unit_bucket("u-1", "exp") == unit_bucket("u-1", "exp"), 0 <= unit_bucket("u-1", "exp") < 1
    (True, True)
    >>> unit_bucket("u-1", "exp") != unit_bucket("u-1", "other")
    True
    """
    digest = hashlib.blake2b(f"{salt}\x1f{unit_id}".encode(), digest_size=HASH_BYTES).digest()
    return int.from_bytes(digest, "big") / HASH_SPACE


def assign_arm(unit_id: str, salt: str, arms: Sequence[ExperimentArm]) -> ExperimentArm:
    """The arm of ``unit_id``: arms take consecutive slices of [0, 1) by their shares.

    Examples
    --------
    >>> arms = [ExperimentArm(name="a", strategy="optimise", share=0.3),
    ...         ExperimentArm(name="b", strategy="list_price", share=0.7)]
    >>> picks = [assign_arm(f"u{i}", "exp", arms).name for i in range(10_000)]
    >>> round(picks.count("a") / len(picks), 2)
    0.3
    """
    bucket = unit_bucket(unit_id, salt)
    edge = 0.0
    for arm in arms:
        edge += arm.share
        if bucket < edge:
            return arm
    return arms[-1]


NORMAL_TABLE_SIZE = 1 << 20
NORMAL_TABLE_SEED = 20_261_123
_NORMALS = np.random.default_rng(NORMAL_TABLE_SEED).standard_normal(NORMAL_TABLE_SIZE).astype(np.float32)
_NORMALS.flags.writeable = False


def normal_draws(rows: int, cols: int, *parts: object) -> np.ndarray:
    """``rows × cols`` standard normal draws picked by hashing ``parts``: the same event always draws the same.

    The draws are a slice of one fixed table of independent normals at an offset
    chosen by the hash, so an event's draws cost a hash instead of seeding a
    generator (several times cheaper per price decision).

    Examples
    --------
    >>> a, b = normal_draws(4, 3, "exp", "e1"), normal_draws(4, 3, "exp", "e1")
    >>> a.shape, bool((a == b).all()), bool((a != normal_draws(4, 3, "exp", "e2")).any())
    ((4, 3), True, True)
    """
    need = rows * cols
    if need > NORMAL_TABLE_SIZE:
        raise ValueError(f"{need} draws > table of {NORMAL_TABLE_SIZE}")
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=HASH_BYTES).digest()
    offset = int.from_bytes(digest, "big") % (NORMAL_TABLE_SIZE - need + 1)
    return _NORMALS[offset : offset + need].reshape(rows, cols)


@dataclass(slots=True)
class Pick:
    """The option Thompson sampling chose, the probability it had of being chosen, and whether it was greedy."""

    index: int
    propensity: float
    greedy: bool


def thompson_pick(
    mean: np.ndarray, std: np.ndarray, payoff: np.ndarray, allowed: np.ndarray, noise: np.ndarray
) -> Pick:
    """Thompson sampling over options with Gaussian posteriors of a rate, scaled by a payoff each.

    Draws are not clipped to [0, 1]: only their order matters. The first draw
    decides; all draws estimate how often each option wins, which is the
    chosen option's propensity (at least ``1 / draws``).

    Parameters
    ----------
    mean, std
        Posterior mean and standard deviation of each option's rate.
    payoff
        What a success of each option is worth (e.g. the margin at that price).
    allowed
        Options that may be chosen.
    noise
        The event's standard normal draws, shape ``[draws, options]`` (:func:`normal_draws`).

    Examples
    --------
    >>> mean, std = np.array([0.02, 0.03, 0.01]), np.array([0.001, 0.001, 0.001])
    >>> pick = thompson_pick(mean, std, np.ones(3), np.array([True, True, True]), normal_draws(128, 3, "e"))
    >>> pick.index, pick.propensity, pick.greedy
    (1, 1.0, True)
    >>> close = thompson_pick(np.array([0.02, 0.0201]), np.array([0.01, 0.01]), np.ones(2),
    ...                       np.array([True, True]), normal_draws(128, 2, "e"))
    >>> 0.3 < close.propensity < 0.7
    True
    """
    return thompson_picks([mean], [std], [payoff], [allowed], [noise])[0]


def thompson_picks(
    means: Sequence[np.ndarray],
    stds: Sequence[np.ndarray],
    payoffs: Sequence[np.ndarray],
    alloweds: Sequence[np.ndarray],
    noises: Sequence[np.ndarray],
) -> list[Pick]:
    """:func:`thompson_pick` for many decisions at once (:func:`thompson_picks_packed` of their options end to end).

    Examples
    --------
    >>> means, stds = [np.array([0.02, 0.03, 0.01]), np.array([0.02, 0.0201])], [np.full(3, 1e-3), np.full(2, 1e-2)]
    >>> picks = thompson_picks(means, stds, [np.ones(3), np.ones(2)], [np.ones(3, bool), np.ones(2, bool)],
    ...                        [normal_draws(128, 3, "e"), normal_draws(128, 2, "e")])
    >>> picks == [thompson_pick(*args) for args in zip(means, stds, [np.ones(3), np.ones(2)],
    ...           [np.ones(3, bool), np.ones(2, bool)], [normal_draws(128, 3, "e"), normal_draws(128, 2, "e")])]
    True
    >>> thompson_picks([], [], [], [], [])
    []
    """
    if not means:
        return []
    return thompson_picks_packed(
        np.concatenate(means), np.concatenate(stds), np.concatenate(payoffs), np.concatenate(alloweds),
        [len(mean) for mean in means], noises,
    )  # fmt: skip


def thompson_picks_packed(
    mean: np.ndarray,
    std: np.ndarray,
    payoff: np.ndarray,
    allowed: np.ndarray,
    widths: Sequence[int],
    noises: Sequence[np.ndarray],
) -> list[Pick]:
    """:func:`thompson_pick` for many decisions whose options lie end to end: decision ``i`` owns the next ``widths[i]``.

    A micro-batch prices dozens of views; one at a time, each paid a dozen numpy calls on
    arrays of a few hundred numbers. Here every decision's draws go in one array laid out
    ``[option, decision, draw]`` (decisions with fewer options padded with options that may
    not be chosen), so each array operation runs along the draws, not along a row of a few
    options. Every value is computed as one at a time would (float32 draws, float64
    expectations), so each pick, propensity and greedy flag is the same. A draw's winner
    is the chosen option when that option reaches the draw's best value and no earlier
    option does (the first maximum, as ``argmax`` takes it); a draw without a finite best
    value falls back to ``argmax`` itself.

    Examples
    --------
    >>> picks = thompson_picks_packed(np.array([0.02, 0.03, 0.01, 0.02, 0.0201]), np.array([1e-3] * 3 + [1e-2] * 2),
    ...                               np.ones(5), np.ones(5, bool), [3, 2],
    ...                               [normal_draws(128, 3, "e"), normal_draws(128, 2, "e")])
    >>> picks == thompson_picks([np.array([0.02, 0.03, 0.01]), np.array([0.02, 0.0201])],
    ...                         [np.full(3, 1e-3), np.full(2, 1e-2)], [np.ones(3), np.ones(2)],
    ...                         [np.ones(3, bool), np.ones(2, bool)], [normal_draws(128, 3, "e"), normal_draws(128, 2, "e")])
    True
    """
    if not widths:
        return []
    draws = {noise.shape[0] for noise in noises}
    if len(draws) != 1:
        raise ValueError(f"every decision needs the same number of draws, got {sorted(draws)}")
    rows, width = len(widths), max(widths)
    mean64, payoff64, mean32, std32, payoff32, allowed_at = _padded(
        width, widths, (mean, np.float64), (payoff, np.float64), (mean, np.float32), (std, np.float32),
        (payoff, np.float32), (allowed, np.bool_),
    )  # fmt: skip
    values = np.zeros((width, rows, draws.pop()), dtype=np.float32)
    for row, (k, n) in enumerate(zip(widths, noises, strict=True)):
        values[:k, row] = n.T
    values *= std32[:, :, None]
    values += mean32[:, :, None]
    values *= payoff32[:, :, None]
    values[~allowed_at] = -np.inf
    chosen = values[:, :, 0].argmax(axis=0)
    best = values.max(axis=0)
    if np.isfinite(best).all():
        at_chosen = values[chosen, np.arange(rows)]
        values[np.arange(width)[:, None] >= chosen] = -np.inf
        wins = (at_chosen == best) & (values.max(axis=0) < best)
    else:
        wins = values.argmax(axis=0) == chosen[:, None]
    propensity = wins.sum(axis=1) / wins.shape[1]
    greedy = chosen == np.where(allowed_at, mean64 * payoff64, -np.inf).argmax(axis=0)
    return [Pick(c, p, g) for c, p, g in zip(chosen.tolist(), propensity.tolist(), greedy.tolist())]


def _padded(width: int, widths: Sequence[int], *packed: tuple[np.ndarray, type]) -> list[np.ndarray]:
    """Each packed array (cast to the dtype given with it) as ``[width, len(widths)]``: decision ``i``'s column holds
    its ``widths[i]`` entries, then zeros (False)."""
    rows = len(widths)
    if len(packed[0][0]) == rows * width:
        return [np.asarray(values, dtype=dtype).reshape(rows, width).T for values, dtype in packed]
    filled = np.arange(width) < np.array(widths)[:, None]
    out = []
    for values, dtype in packed:
        padded = np.zeros((rows, width), dtype=dtype)
        padded[filled] = values
        out.append(padded.T)
    return out
