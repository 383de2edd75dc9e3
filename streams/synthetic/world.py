"""The synthetic world: products, campaigns and users built from a seed, and the latent truth.

The latent truth functions :func:`p_click`, :func:`p_convert` and :func:`p_fraud`
are pure and take the same inputs as :mod:`agents.features`, so a model trained on
those features can in principle recover them exactly. Their constants are tuned to
DESIGN.md §6: display CTR ≈ 0.5 %, search-ad CTR ≈ 3 %, view→purchase ≈ 1 %,
price elasticity ≈ −2.5, chargebacks ≈ 0.2 % of orders.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Final

import numpy as np

from schemas.catalog import Campaign, Product
from schemas.common import CATEGORIES
from streams.synthetic.vocabulary import BRANDS, PRODUCT_NOUNS

CURRENCY: Final = "USD"

COUNTRY_LOCALES: Final[dict[str, str]] = {
    "US": "en-US", "CA": "en-US", "CN": "zh-CN", "SG": "zh-CN",
    "ES": "es-ES", "MX": "es-MX", "AR": "es-MX", "CO": "es-MX",
}  # fmt: skip
COUNTRY_WEIGHTS: Final[dict[str, float]] = {
    "US": 0.35, "CA": 0.05, "CN": 0.30, "SG": 0.03, "ES": 0.10, "MX": 0.12, "AR": 0.03, "CO": 0.02,
}  # fmt: skip
CHANNEL_MIX: Final[dict[str, tuple[float, float, float, float, float]]] = {
    "default": (0.35, 0.35, 0.05, 0.15, 0.10),
    "zh": (0.15, 0.40, 0.30, 0.10, 0.05),
}
"""Mean share of sessions per channel (order of ``KNOWN_CHANNELS``), by language."""
CHANNEL_CONCENTRATION: Final = 5.0
CATEGORY_AFFINITY_CONCENTRATION: Final = 0.6

CATEGORY_MEDIAN_PRICE: Final[dict[str, float]] = {
    "electronics": 180.0, "fashion": 45.0, "home": 60.0, "beauty": 25.0,
    "sports": 55.0, "grocery": 8.0, "toys": 30.0, "books": 15.0,
}  # fmt: skip
PRICE_SPREAD: Final = 0.6
"""Log-normal sigma of list prices around the category median."""
MIN_LIST_PRICE: Final = 1.99
PRICE_CENTS_ENDING: Final = 0.99
MIN_PRICE_SHARE: Final = (0.75, 0.9)
MAX_PRICE_SHARE: Final = (1.1, 1.3)
UNIT_COST_SHARE_OF_MIN: Final = (0.45, 0.85)
STOCK_RANGE: Final = (0, 500)

CATEGORY_ELASTICITY: Final[dict[str, float]] = {
    "electronics": -3.0, "fashion": -2.8, "home": -2.4, "beauty": -2.2,
    "sports": -2.5, "grocery": -2.0, "toys": -2.6, "books": -2.5,
}  # fmt: skip
ELASTICITY_SPREAD: Final = 0.25

CATEGORY_MAX_CPC: Final[dict[str, float]] = {
    "electronics": 1.2, "fashion": 0.8, "home": 0.7, "beauty": 0.9,
    "sports": 0.7, "grocery": 0.3, "toys": 0.6, "books": 0.4,
}  # fmt: skip
MAX_CPC_SPREAD: Final = 0.4
MIN_MAX_CPC: Final = 0.05
DAILY_BUDGET_MEDIAN: Final = 500.0
DAILY_BUDGET_SPREAD: Final = 0.8
CAMPAIGN_LOCALES: Final[tuple[tuple[tuple[str, ...], float], ...]] = (
    ((), 0.5),
    (("en-US",), 0.2),
    (("zh-CN",), 0.15),
    (("es-ES", "es-MX"), 0.15),
)
"""Targeting options of a campaign with their shares; empty = every locale."""

ACCOUNT_AGE_MEDIAN_DAYS: Final = 400.0
ACCOUNT_AGE_SPREAD: Final = 1.2
MAX_ACCOUNT_AGE_DAYS: Final = 36_000
NEW_ACCOUNT_SHARE: Final = 0.03
"""Share of legitimate users whose account is younger than a week."""
FRAUDSTER_ACCOUNT_AGE_DAYS: Final = (0, 2)
ACTIVITY_SPREAD: Final = 1.0
HASH_HEX_CHARS: Final = 32
HASH_SALT_RANGE: Final = 2**62
CARD_BIN_RANGE: Final = (400_000, 560_000)
MODEL_CODE_LETTERS: Final = 26
MODEL_CODE_NUMBERS: Final = 97

# Latent truth: click ----------------------------------------------------------------
CLICK_SCENE_BASE: Final[dict[str, float]] = {"search": -4.8, "browse": -6.12, "product": -6.47}
CLICK_CHANNEL: Final[dict[str, float]] = {"web": 0.0, "app": 0.25, "mini_program": 0.35, "store": -0.6, "partner": -0.3}
CLICK_CATEGORY: Final[dict[str, float]] = {
    "electronics": 0.1, "fashion": 0.2, "home": -0.1, "beauty": 0.15,
    "sports": 0.0, "grocery": -0.2, "toys": 0.1, "books": -0.15,
}  # fmt: skip
CLICK_CATEGORY_MATCH: Final = 1.6
CLICK_LOCALE_MISMATCH: Final = -1.6
CLICK_FLOOR: Final = 0.2
CLICK_MAX_CPC: Final = 0.25
CLICK_EVENING: Final = 0.3
EVENING_PEAK_HOUR: Final = 20.0

# Latent truth: conversion -----------------------------------------------------------
CONVERT_BASE: Final = -5.0
CONVERT_CATEGORY: Final[dict[str, float]] = {
    "electronics": -0.4, "fashion": -0.1, "home": 0.0, "beauty": 0.2,
    "sports": 0.0, "grocery": 0.7, "toys": 0.1, "books": 0.3,
}  # fmt: skip
CONVERT_CHANNEL: Final[dict[str, float]] = {"web": 0.0, "app": 0.3, "mini_program": 0.2, "store": 0.8, "partner": -0.3}
CONVERT_PRICE_LEVEL: Final = -0.3
"""Logit change per unit of log(list_price / category median): dear items sell less."""
CONVERT_EVENING: Final = 0.2
DEFAULT_ELASTICITY: Final = -2.5

# Latent truth: fraud ----------------------------------------------------------------
FRAUD_BASE: Final = -9.6
FRAUD_NEW_ACCOUNT: Final = 2.5
"""Account younger than a day."""
FRAUD_YOUNG_ACCOUNT: Final = 2.0
"""Account younger than a week."""
YOUNG_ACCOUNT_DAYS: Final = 7
FRAUD_UNKNOWN_AGE: Final = 1.0
FRAUD_AMOUNT: Final = 1.0
"""Logit per unit of log1p(amount) above the reference amount."""
FRAUD_REFERENCE_AMOUNT: Final = 150.0
FRAUD_BILLING_MISMATCH: Final = 3.0
FRAUD_GEO_MISMATCH: Final = 1.5
FRAUD_MISSING_CARD_HASH: Final = 2.5
CARD_METHODS: Final[frozenset[str]] = frozenset({"card", "wallet"})
FRAUD_METHOD: Final[dict[str, float]] = {
    "card": 0.0, "wallet": 0.3, "bank_transfer": -0.5, "cod": -1.5, "gift_card": 2.0,
}  # fmt: skip
FRAUD_CHANNEL: Final[dict[str, float]] = {"web": 0.0, "app": -0.2, "mini_program": -0.2, "store": -2.0, "partner": 0.5}
FRAUD_NIGHT: Final = 0.4
NIGHT_HOURS: Final = (0.0, 6.0)
UNKNOWN_EFFECT: Final = 0.0


def sigmoid(z: float) -> float:
    """The logistic function, safe for large ``|z|``.

    Examples
    --------
    >>> sigmoid(0.0), round(sigmoid(40.0), 6), round(sigmoid(-800.0), 6)
    (0.5, 1.0, 0.0)
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def evening_curve(hour: float) -> float:
    """Time-of-day activity: 1 at the evening peak, −1 twelve hours later.

    Examples
    --------
    >>> evening_curve(20.0), round(evening_curve(8.0), 6)
    (1.0, -1.0)
    """
    return math.cos(2 * math.pi * (hour - EVENING_PEAK_HOUR) / 24)


def p_click(
    *,
    channel: str,
    scene: str,
    hour: float,
    locale_match: float,
    category_match: float,
    floor_cpm: float,
    max_cpc: float,
    campaign_category: str,
    logit_shift: float = 0.0,
) -> float:
    """True probability that a shown ad is clicked.

    Parameters
    ----------
    channel, scene
        Session channel and slot scene (``search``, ``browse`` or ``product``).
    hour
        Hour of day in 0..24 (fractional).
    locale_match, category_match
        1.0 when the campaign targets the event's language / the page's category.
    floor_cpm, max_cpc
        Slot floor and campaign's maximum cost per click (USD).
    campaign_category
        Category of the advertised campaign.
    logit_shift
        Added to the logit by a drift scenario.

    Returns
    -------
    float
        Click probability in (0, 1).

    Examples
    --------
    >>> kw = dict(channel="web", hour=12.0, locale_match=1.0, floor_cpm=1.0, max_cpc=1.0, campaign_category="sports")
    >>> search = p_click(scene="search", category_match=1.0, **kw)
    >>> browse = p_click(scene="browse", category_match=0.0, **kw)
    >>> 0.02 < search < 0.15, 0.001 < browse < 0.01
    (True, True)
    """
    z = (
        CLICK_SCENE_BASE[scene]
        + CLICK_CHANNEL.get(channel, UNKNOWN_EFFECT)
        + CLICK_CATEGORY.get(campaign_category, UNKNOWN_EFFECT)
        + CLICK_CATEGORY_MATCH * category_match
        + CLICK_LOCALE_MISMATCH * (1.0 - locale_match)
        + CLICK_FLOOR * math.log1p(floor_cpm)
        + CLICK_MAX_CPC * math.log(max_cpc)
        + CLICK_EVENING * evening_curve(hour)
        + logit_shift
    )
    return sigmoid(z)


def p_convert(
    *,
    rel_price: float | np.ndarray,
    category: str,
    channel: str,
    hour: float,
    list_price: float,
    elasticity: float = DEFAULT_ELASTICITY,
    logit_shift: float = 0.0,
) -> float | np.ndarray:
    """True probability that a product view ends in a purchase at the shown price.

    Parameters
    ----------
    rel_price
        ``log(price / list_price)``; an array gives one probability per price.
    category, list_price
        Of the viewed product.
    channel, hour
        Session channel and hour of day (0..24).
    elasticity
        The product's price elasticity (logit slope in ``rel_price``; ≈ −2.5).
    logit_shift
        Added to the logit by a drift scenario.

    Returns
    -------
    float or numpy.ndarray
        Purchase probability, shaped like ``rel_price``.

    Examples
    --------
    >>> kw = dict(category="home", channel="web", hour=12.0, list_price=60.0)
    >>> at_list = p_convert(rel_price=0.0, **kw)
    >>> 0.005 < at_list < 0.02
    True
    >>> cheaper, dearer = p_convert(rel_price=np.log([0.9, 1.1]), **kw)
    >>> round(float(np.log(cheaper / dearer) / np.log(1.1 / 0.9)), 1)
    2.5
    """
    z = (
        CONVERT_BASE
        + CONVERT_CATEGORY.get(category, UNKNOWN_EFFECT)
        + CONVERT_CHANNEL.get(channel, UNKNOWN_EFFECT)
        + CONVERT_PRICE_LEVEL * math.log(list_price / CATEGORY_MEDIAN_PRICE.get(category, list_price))
        + CONVERT_EVENING * evening_curve(hour)
        + logit_shift
    )
    if isinstance(rel_price, float | int):
        return sigmoid(z + elasticity * rel_price)
    return 1.0 / (1.0 + np.exp(-(z + elasticity * np.asarray(rel_price, dtype=np.float64))))


def p_fraud(
    *,
    amount: float,
    account_age_days: int | None,
    payment_method: str,
    has_card_hash: bool,
    billing_country: str | None,
    shipping_country: str | None,
    country: str | None,
    channel: str,
    hour: float,
    logit_shift: float = 0.0,
) -> float:
    """True probability that an order is charged back.

    Risk rises with new accounts, large amounts, billing ≠ shipping country, an
    IP country ≠ shipping country, a card payment without a card hash, gift cards
    and partner traffic; it falls in stores and for cash on delivery.

    Parameters
    ----------
    amount
        Order amount (USD).
    account_age_days
        Age of the buyer's account, ``None`` when unknown.
    payment_method, has_card_hash
        Payment method and whether a card fingerprint came with it.
    billing_country, shipping_country, country
        ISO country codes (``country`` is where the request came from).
    channel, hour
        Channel and hour of day (0..24).
    logit_shift
        Added to the logit by a drift scenario.

    Returns
    -------
    float
        Chargeback probability in (0, 1).

    Examples
    --------
    >>> normal = p_fraud(amount=40.0, account_age_days=800, payment_method="card", has_card_hash=True,
    ...                  billing_country="US", shipping_country="US", country="US", channel="app", hour=14.0)
    >>> risky = p_fraud(amount=900.0, account_age_days=0, payment_method="gift_card", has_card_hash=False,
    ...                 billing_country="US", shipping_country="NG", country="RU", channel="web", hour=3.0)
    >>> normal < 0.001, risky > 0.8
    (True, True)
    """
    z = FRAUD_BASE + FRAUD_METHOD.get(payment_method, UNKNOWN_EFFECT) + FRAUD_CHANNEL.get(channel, UNKNOWN_EFFECT)
    if account_age_days is None:
        z += FRAUD_UNKNOWN_AGE
    else:
        z += FRAUD_NEW_ACCOUNT * (account_age_days < 1) + FRAUD_YOUNG_ACCOUNT * (account_age_days < YOUNG_ACCOUNT_DAYS)
    z += FRAUD_AMOUNT * max(0.0, math.log1p(amount) - math.log1p(FRAUD_REFERENCE_AMOUNT))
    if billing_country and shipping_country and billing_country != shipping_country:
        z += FRAUD_BILLING_MISMATCH
    if country and shipping_country and country != shipping_country:
        z += FRAUD_GEO_MISMATCH
    if not has_card_hash and payment_method in CARD_METHODS:
        z += FRAUD_MISSING_CARD_HASH
    if NIGHT_HOURS[0] <= hour < NIGHT_HOURS[1]:
        z += FRAUD_NIGHT
    return sigmoid(z + logit_shift)


def opaque_hash(*parts: object) -> str:
    """A stable opaque hex token standing in for hashed personal data.

    Examples
    --------
    >>> opaque_hash("card", 7) == opaque_hash("card", 7), len(opaque_hash("ip", 1))
    (True, 32)
    """
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=HASH_HEX_CHARS // 2).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    """A shopper (or fraudster) with stable habits."""

    user_id: str
    country: str
    locale: str
    channel_cum_weights: tuple[float, ...]
    category_cum_weights: tuple[float, ...]
    account_age_days: int
    is_fraudster: bool
    card_hash: str
    card_bin: str
    ip_hash: str

    @property
    def language(self) -> str:
        """The language subtag of the user's locale (``en``, ``zh`` or ``es``)."""
        return self.locale.split("-")[0]


@dataclass(frozen=True)
class WorldConfig:
    """Sizes of the synthetic world."""

    products_per_category: int = 60
    campaigns_per_category: int = 8
    n_users: int = 5000
    fraudster_share: float = 0.01


@dataclass(frozen=True)
class World:
    """Everything the generator draws from, built deterministically by :meth:`from_seed`.

    Examples
    --------
    >>> w = World.from_seed(3, WorldConfig(products_per_category=2, campaigns_per_category=1, n_users=20))
    >>> len(w.products), len(w.campaigns), len(w.users) + len(w.fraudsters)
    (16, 8, 20)
    >>> w.products[0] == World.from_seed(3, w.config).products[0]
    True
    """

    seed: int
    config: WorldConfig
    products: tuple[Product, ...]
    elasticities: tuple[float, ...]
    campaigns: tuple[Campaign, ...]
    users: tuple[User, ...]
    fraudsters: tuple[User, ...]
    products_by_category: dict[str, tuple[int, ...]] = field(repr=False)
    campaigns_by_category: dict[str, tuple[int, ...]] = field(repr=False)
    user_cum_activity: tuple[float, ...] = field(repr=False)

    @classmethod
    def from_seed(cls, seed: int, config: WorldConfig | None = None) -> World:
        """Build the world of ``seed`` (same seed and config → same world)."""
        config = config or WorldConfig()
        rng = np.random.default_rng(seed)
        products, elasticities = _build_products(rng, config)
        campaigns = _build_campaigns(rng, config)
        people = _build_users(rng, config)
        users = tuple(u for u in people if not u.is_fraudster)
        fraudsters = tuple(u for u in people if u.is_fraudster)
        activity = rng.lognormal(0.0, ACTIVITY_SPREAD, size=len(users))
        return cls(
            seed=seed,
            config=config,
            products=products,
            elasticities=elasticities,
            campaigns=campaigns,
            users=users,
            fraudsters=fraudsters,
            products_by_category=_index_by_category(p.category for p in products),
            campaigns_by_category=_index_by_category(c.category for c in campaigns),
            user_cum_activity=tuple(accumulate(float(a) for a in activity)),
        )


def _index_by_category(categories: Iterable[str]) -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = {c: [] for c in CATEGORIES}
    for i, c in enumerate(categories):
        out[c].append(i)
    return {c: tuple(ix) for c, ix in out.items()}


def _model_code(n: int) -> str:
    """A model code for product titles, e.g. ``B12``."""
    return f"{chr(ord('A') + n % MODEL_CODE_LETTERS)}{n % MODEL_CODE_NUMBERS}"


def _money(x: float) -> float:
    return round(float(x), 2)


def _build_products(rng: np.random.Generator, config: WorldConfig) -> tuple[tuple[Product, ...], tuple[float, ...]]:
    products: list[Product] = []
    elasticities: list[float] = []
    nouns = PRODUCT_NOUNS["en"]
    for category in CATEGORIES:
        for _ in range(config.products_per_category):
            n = len(products)
            drawn = CATEGORY_MEDIAN_PRICE[category] * rng.lognormal(0.0, PRICE_SPREAD)
            list_price = max(MIN_LIST_PRICE, math.floor(drawn) + PRICE_CENTS_ENDING)
            min_price = _money(list_price * rng.uniform(*MIN_PRICE_SHARE))
            brand = BRANDS[category][int(rng.integers(len(BRANDS[category])))]
            noun = nouns[category][int(rng.integers(len(nouns[category])))]
            products.append(
                Product(
                    product_id=f"p-{n:05d}",
                    title=f"{brand.title()} {noun} {_model_code(n)}",
                    category=category,
                    currency=CURRENCY,
                    list_price=list_price,
                    unit_cost=_money(min_price * rng.uniform(*UNIT_COST_SHARE_OF_MIN)),
                    min_price=min_price,
                    max_price=_money(list_price * rng.uniform(*MAX_PRICE_SHARE)),
                    stock=int(rng.integers(*STOCK_RANGE)),
                )
            )
            elasticities.append(CATEGORY_ELASTICITY[category] + ELASTICITY_SPREAD * float(rng.standard_normal()))
    return tuple(products), tuple(elasticities)


def _build_campaigns(rng: np.random.Generator, config: WorldConfig) -> tuple[Campaign, ...]:
    campaigns: list[Campaign] = []
    locale_options = [loc for loc, _ in CAMPAIGN_LOCALES]
    locale_p = np.array([w for _, w in CAMPAIGN_LOCALES])
    for category in CATEGORIES:
        for _ in range(config.campaigns_per_category):
            n = len(campaigns)
            locales = locale_options[int(rng.choice(len(locale_options), p=locale_p / locale_p.sum()))]
            campaigns.append(
                Campaign(
                    campaign_id=f"c-{n:04d}",
                    ad_id=f"ad-{n:04d}",
                    category=category,
                    locales=list(locales),
                    max_cpc=_money(max(MIN_MAX_CPC, CATEGORY_MAX_CPC[category] * rng.lognormal(0.0, MAX_CPC_SPREAD))),
                    daily_budget=_money(DAILY_BUDGET_MEDIAN * rng.lognormal(0.0, DAILY_BUDGET_SPREAD)),
                    currency=CURRENCY,
                )
            )
    return tuple(campaigns)


def _build_users(rng: np.random.Generator, config: WorldConfig) -> list[User]:
    countries = list(COUNTRY_WEIGHTS)
    country_p = np.array(list(COUNTRY_WEIGHTS.values()))
    n_fraudsters = max(1, round(config.n_users * config.fraudster_share))
    fraudster_ix = set(rng.choice(config.n_users, size=n_fraudsters, replace=False).tolist())
    users: list[User] = []
    for n in range(config.n_users):
        country = countries[int(rng.choice(len(countries), p=country_p / country_p.sum()))]
        locale = COUNTRY_LOCALES[country]
        mix = np.array(CHANNEL_MIX.get(locale.split("-")[0], CHANNEL_MIX["default"]))
        channels = rng.dirichlet(mix * CHANNEL_CONCENTRATION)
        affinity = rng.dirichlet(np.full(len(CATEGORIES), CATEGORY_AFFINITY_CONCENTRATION))
        is_fraudster = n in fraudster_ix
        if is_fraudster:
            age = int(rng.integers(FRAUDSTER_ACCOUNT_AGE_DAYS[0], FRAUDSTER_ACCOUNT_AGE_DAYS[1] + 1))
        elif rng.random() < NEW_ACCOUNT_SHARE:
            age = int(rng.integers(0, YOUNG_ACCOUNT_DAYS))
        else:
            age = int(min(MAX_ACCOUNT_AGE_DAYS, ACCOUNT_AGE_MEDIAN_DAYS * rng.lognormal(0.0, ACCOUNT_AGE_SPREAD)))
        users.append(
            User(
                user_id=f"u-{n:06d}",
                country=country,
                locale=locale,
                channel_cum_weights=tuple(accumulate(float(c) for c in channels)),
                category_cum_weights=tuple(accumulate(float(a) for a in affinity)),
                account_age_days=age,
                is_fraudster=is_fraudster,
                card_hash=opaque_hash("card", int(rng.integers(HASH_SALT_RANGE))),
                card_bin=f"{int(rng.integers(*CARD_BIN_RANGE)):06d}",
                ip_hash=opaque_hash("ip", int(rng.integers(HASH_SALT_RANGE))),
            )
        )
    return users

