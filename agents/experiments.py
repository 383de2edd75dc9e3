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
    """:func:`thompson_pick` for many decisions at once, in one set of array operations.

    A micro-batch prices dozens of views; one at a time, each paid a dozen numpy calls on
    arrays of a few hundred numbers. Decisions with fewer options are padded with options that
    may not be chosen, and every value is computed as one at a time would (float32 draws,
    float64 expectations), so each pick, propensity and greedy flag is the same.

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
    draws = {noise.shape[0] for noise in noises}
    if len(draws) != 1:
        raise ValueError(f"every decision needs the same number of draws, got {sorted(draws)}")
    rows, width = len(means), max(len(mean) for mean in means)
    mean32, std32, payoff32 = (np.zeros((rows, width), dtype=np.float32) for _ in range(3))
    expected = np.full((rows, width), -np.inf)
    allowed = np.zeros((rows, width), dtype=bool)
    noise = np.zeros((rows, draws.pop(), width), dtype=np.float32)
    for row, (m, s, p, a, n) in enumerate(zip(means, stds, payoffs, alloweds, noises, strict=True)):
        k = len(m)
        mean32[row, :k], std32[row, :k], payoff32[row, :k] = m, s, p
        expected[row, :k] = np.where(a, m * p, -np.inf)
        allowed[row, :k] = a
        noise[row, :, :k] = n
    values = (mean32[:, None, :] + std32[:, None, :] * noise) * payoff32[:, None, :]
    values[~np.broadcast_to(allowed[:, None, :], values.shape)] = -np.inf
    winners = values.argmax(axis=2)
    chosen = winners[:, 0]
    propensity = np.count_nonzero(winners == chosen[:, None], axis=1) / winners.shape[1]
    greedy = chosen == expected.argmax(axis=1)
    return [Pick(index=int(c), propensity=float(p), greedy=bool(g)) for c, p, g in zip(chosen, propensity, greedy)]
