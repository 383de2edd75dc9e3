"""Labelled training data drawn from the synthetic world through :mod:`agents.features`.

Rows are drawn with the generator's own draws (:mod:`streams.synthetic.draws`) and
labelled by the latent truth (:func:`~streams.synthetic.world.p_click`, ``p_convert``,
``p_fraud``); features come from the serving feature functions, never re-implemented.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
from tqdm.auto import tqdm

from agents.features import MODEL_FEATURES, conversion_features, ctr_feature_block, fraud_features, locale_matches
from streams.synthetic import draws
from streams.synthetic.world import World, p_click, p_convert, p_fraud

MODELS: Final[tuple[str, ...]] = ("ctr", "conversion", "fraud")

SCENE_MIX: Final = draws.Weighted.of({"search": 0.47, "product": 0.29, "browse": 0.24})
"""Share of ad impressions by scene in the generator's stream (measured on ``iter_events``)."""
DAY_START: Final = datetime(2026, 1, 1, tzinfo=UTC)
SECONDS_PER_DAY: Final = 86_400
SPLIT_SHARES: Final = (0.6, 0.15, 0.25)
"""Train, calibration and test shares of the rows."""
PROGRESS_EVERY_ROWS: Final = 10_000


@dataclass(frozen=True)
class Dataset:
    """Features ``x`` (float32, ``[n, d]``) and 0/1 labels ``y`` (float32, ``[n]``)."""

    x: np.ndarray
    y: np.ndarray

    @property
    def rows(self) -> int:
        """Number of rows."""
        return len(self.y)

    @property
    def positive_rate(self) -> float:
        """Share of positive labels."""
        return float(self.y.mean()) if len(self.y) else 0.0


@dataclass(frozen=True)
class Splits:
    """Disjoint train, calibration and held-out test sets of one model."""

    name: str
    train: Dataset
    calibration: Dataset
    test: Dataset
    description: str


def _random_ts(rng: random.Random) -> datetime:
    return DAY_START + timedelta(seconds=rng.uniform(0, SECONDS_PER_DAY))


def _hour(ts: datetime) -> float:
    return ts.hour + ts.minute / 60 + ts.second / 3600


def ctr_row(rng: random.Random, world: World) -> tuple[list[float], float]:
    """Features and click probability of one won ad slot."""
    user = draws.draw_user(rng, world)
    channel = draws.draw_channel(rng, user)
    scene = draws.pick(rng, SCENE_MIX)
    category: str | None = draws.draw_category(rng, user)
    if scene == "browse":
        category = draws.draw_page(rng, category)[1]
    floor_cpm = draws.draw_floor_cpm(rng, scene)
    campaign = world.campaigns[draws.choose_campaign(rng, world, category)]
    ts = _random_ts(rng)
    features = ctr_feature_block(
        channel=channel, scene=scene, ts=ts, locale=user.locale, floor_cpm=floor_cpm,
        context_category=category, campaigns=[campaign],
    )[0].tolist()  # fmt: skip
    proba = p_click(
        channel=channel,
        scene=scene,
        hour=_hour(ts),
        locale_match=locale_matches(user.locale, campaign),
        category_match=1.0 if category == campaign.category else 0.0,
        floor_cpm=floor_cpm,
        max_cpc=campaign.max_cpc,
        campaign_category=campaign.category,
    )
    return features, proba


def conversion_row(rng: random.Random, world: World) -> tuple[list[float], float]:
    """Features and purchase probability of one product view at its shown price."""
    user = draws.draw_user(rng, world)
    channel = draws.draw_channel(rng, user)
    index = draws.draw_product(rng, world, draws.draw_category(rng, user))
    product = world.products[index]
    price = draws.draw_shown_price(rng, product)
    ts = _random_ts(rng)
    features = conversion_features(channel=channel, ts=ts, product=product, prices=np.array([price]))[0]
    proba = p_convert(
        rel_price=math.log(price / product.list_price),
        category=product.category,
        channel=channel,
        hour=_hour(ts),
        list_price=product.list_price,
        elasticity=world.elasticities[index],
    )
    return features.tolist(), float(proba)


def fraud_row(rng: random.Random, world: World) -> tuple[list[float], float]:
    """Features and chargeback probability of one order (fraudsters at their share of orders)."""
    fraud = rng.random() < draws.FRAUD_ORDER_SHARE
    user = draws.draw_fraudster(rng, world) if fraud else draws.draw_user(rng, world)
    channel = draws.draw_channel(rng, user)
    country = draws.draw_session_country(rng, user)
    order = draws.draw_order(rng, world, user, draws.draw_first_line(rng, world, user), elapsed_days=0)
    ts = _random_ts(rng)
    features = fraud_features(
        channel=channel,
        ts=ts,
        amount=order.amount,
        n_items=len(order.lines),
        account_age_days=order.account_age_days,
        payment_method=order.payment_method,
        has_card_hash=order.card_hash is not None,
        billing_country=order.billing_country,
        shipping_country=order.shipping_country,
        country=country,
    )
    proba = p_fraud(
        amount=order.amount,
        account_age_days=order.account_age_days,
        payment_method=order.payment_method,
        has_card_hash=order.card_hash is not None,
        billing_country=order.billing_country,
        shipping_country=order.shipping_country,
        country=country,
        channel=channel,
        hour=_hour(ts),
    )
    return features, proba


ROW_DRAWERS: Final[dict[str, Callable[[random.Random, World], tuple[list[float], float]]]] = {
    "ctr": ctr_row,
    "conversion": conversion_row,
    "fraud": fraud_row,
}
DESCRIPTIONS: Final[dict[str, str]] = {
    "ctr": "won ad slots (search, browse, product) labelled by the latent p_click",
    "conversion": "product views at list or randomised test prices labelled by the latent p_convert",
    "fraud": "orders (fraudsters at their share of orders) labelled by the latent p_fraud",
}


def draw_dataset(name: str, world: World, rows: int, seed: int, progress: bool = False) -> Dataset:
    """``rows`` labelled rows for model ``name``.

    Parameters
    ----------
    name
        ``ctr``, ``conversion`` or ``fraud``.
    world
        The synthetic world to draw from.
    rows
        Number of rows.
    seed
        Seeds the draws and the Bernoulli labels.
    progress
        Show a tqdm bar.

    Examples
    --------
    >>> from streams.synthetic.world import WorldConfig
    >>> w = World.from_seed(1, WorldConfig(products_per_category=4, campaigns_per_category=2, n_users=100))
    >>> d = draw_dataset("ctr", w, rows=50, seed=0)
    >>> d.x.shape, d.x.dtype, set(np.unique(d.y)) <= {0.0, 1.0}
    ((50, 31), dtype('float32'), True)
    >>> bool((d.x == draw_dataset("ctr", w, rows=50, seed=0).x).all())
    True
    """
    if name not in ROW_DRAWERS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    rng = random.Random(f"{name}/{seed}")
    draw = ROW_DRAWERS[name]
    x = np.empty((rows, MODEL_FEATURES[name]), dtype=np.float32)
    y = np.empty(rows, dtype=np.float32)
    with tqdm(total=rows, desc=f"{name}: data", unit="row", disable=not progress, leave=False) as bar:
        for i in range(rows):
            features, proba = draw(rng, world)
            x[i] = features
            y[i] = 1.0 if rng.random() < proba else 0.0
            if (i + 1) % PROGRESS_EVERY_ROWS == 0:
                bar.update(PROGRESS_EVERY_ROWS)
        bar.update(rows % PROGRESS_EVERY_ROWS)
    return Dataset(x, y)


def split(data: Dataset, seed: int, shares: tuple[float, float, float] = SPLIT_SHARES) -> tuple[Dataset, ...]:
    """Shuffle ``data`` and cut it into train, calibration and test sets.

    Examples
    --------
    >>> d = Dataset(np.arange(20, dtype=np.float32).reshape(10, 2), np.zeros(10, dtype=np.float32))
    >>> [part.rows for part in split(d, seed=0, shares=(0.6, 0.2, 0.2))]
    [6, 2, 2]
    """
    order = np.random.default_rng(seed).permutation(data.rows)
    cuts = np.cumsum([round(s * data.rows) for s in shares[:-1]])
    return tuple(Dataset(data.x[ix], data.y[ix]) for ix in np.split(order, cuts))


def build_splits(name: str, world: World, rows: int, seed: int, progress: bool = False) -> Splits:
    """Draw ``rows`` rows for ``name`` and split them into train, calibration and test sets."""
    train, calibration, test = split(draw_dataset(name, world, rows, seed, progress), seed)
    return Splits(name, train, calibration, test, DESCRIPTIONS[name])
