"""The batched and cached pricing paths decide exactly as the simple versions they replaced.

Each reference below is the code as it was written before it was batched or cached; the
tests compare on random inputs, including ties, options that may not be chosen and
non-finite values, and require equal results (not approximately equal).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.experiments import Pick, normal_draws, thompson_picks, thompson_picks_packed

EXAMPLES = 300
DRAWS = (16, 128)


def reference_picks(means: list[np.ndarray], stds: list[np.ndarray], payoffs: list[np.ndarray],
                    alloweds: list[np.ndarray], noises: list[np.ndarray]) -> list[Pick]:  # fmt: skip
    """Thompson picks as computed before options were laid out by option: ``[decision, draw, option]``, ``argmax``."""
    rows, width = len(means), max(len(mean) for mean in means)
    mean32, std32, payoff32 = (np.zeros((rows, width), dtype=np.float32) for _ in range(3))
    expected = np.full((rows, width), -np.inf)
    allowed = np.zeros((rows, width), dtype=bool)
    noise = np.zeros((rows, noises[0].shape[0], width), dtype=np.float32)
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


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=1, max_value=30),
    st.booleans(),
    st.sampled_from(["plain", "ties", "nan", "none_allowed", "all_allowed", "overflow"]),
    st.sampled_from(DRAWS),
)
def test_packed_picks_equal_the_picks_of_the_padded_argmax(seed: int, rows: int, same_width: bool, case: str,
                                                          draws: int) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 25))] * rows if same_width else [int(rng.integers(1, 25)) for _ in range(rows)]
    means = [rng.uniform(0.001, 0.1, k) for k in widths]
    stds = [rng.uniform(0.0, 0.02, k) for k in widths]
    payoffs = [rng.uniform(-1.0, 30.0, k) for k in widths]
    alloweds = [rng.uniform(size=k) > 0.3 for k in widths]
    if case == "ties":  # options alike but for a few noiseless ones: draws tie across options
        for mean, std, payoff in zip(means, stds, payoffs, strict=True):
            mean[:], std[:], payoff[:] = 0.02, rng.choice([0.0, 0.01], len(std)), rng.choice([5.0, 6.0], len(payoff))
    elif case == "nan":
        row = int(rng.integers(0, rows))
        means[row][int(rng.integers(0, widths[row]))] = np.nan
    elif case == "none_allowed":
        alloweds[int(rng.integers(0, rows))][:] = False
    elif case == "all_allowed":
        for allowed in alloweds:
            allowed[:] = True
    elif case == "overflow":  # float32 values of +-inf
        payoffs[0][:] = 1e39
    noises = [normal_draws(draws, k, "exp", f"{seed}-{i}") for i, k in enumerate(widths)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = reference_picks(means, stds, payoffs, alloweds, noises)
        assert thompson_picks(means, stds, payoffs, alloweds, noises) == expected
        packed = [np.concatenate(arrays) for arrays in (means, stds, payoffs, alloweds)]
        assert thompson_picks_packed(*packed, widths, noises) == expected


def test_picks_need_one_number_of_draws() -> None:
    with pytest.raises(ValueError, match="same number of draws"):
        thompson_picks_packed(np.zeros(4), np.zeros(4), np.ones(4), np.ones(4, bool), [2, 2],
                              [normal_draws(16, 2, "a"), normal_draws(32, 2, "b")])  # fmt: skip
