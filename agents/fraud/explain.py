"""Which model inputs drive an order's fraud score: occlusion against a benign reference order.

For each input group that differs from the reference (amount, account age,
billing/shipping mismatch, …) one probe row replaces just that group; the
group's contribution is the score drop. The probe rows ride in the same batched
request as the order's own row, so explanations cost rows, not round trips.
Probes go through :func:`agents.features.fraud_features`, so they follow any
change of the model's feature layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from agents.features import fraud_features
from schemas.events import Order
from schemas.reasons import Reason
from streams.settings import FraudPolicy

REFERENCE_CHANNEL = "web"
REFERENCE_METHOD = "card"
CONTRIBUTION_DECIMALS = 3


@dataclass(frozen=True)
class FraudInputs:
    """The raw inputs of the fraud model's features for one order."""

    channel: str
    ts: datetime
    amount: float
    n_items: int
    account_age_days: int | None
    payment_method: str
    has_card_hash: bool
    billing_country: str | None
    shipping_country: str | None
    country: str | None


def inputs_of(order: Order) -> FraudInputs:
    """The model inputs of ``order``."""
    return FraudInputs(
        channel=order.channel,
        ts=order.ts,
        amount=order.amount,
        n_items=len(order.items),
        account_age_days=order.account_age_days,
        payment_method=order.payment.method,
        has_card_hash=order.payment.card_hash is not None,
        billing_country=order.billing_country,
        shipping_country=order.shipping_country,
        country=order.country,
    )


def feature_row(inputs: FraudInputs) -> list[float]:
    """The fraud model's input row."""
    return fraud_features(**asdict(inputs))


def probes(inputs: FraudInputs, usual_amount: float | None, policy: FraudPolicy) -> list[tuple[Reason, FraudInputs]]:
    """One probe per input group that differs from the benign reference, with that group set to the reference.

    Examples
    --------
    >>> from datetime import UTC
    >>> x = FraudInputs("web", datetime(2026, 1, 1, tzinfo=UTC), 500.0, 1, 0, "card", True, "US", "NG", "US")
    >>> for reason, probe in probes(x, 20.0, FraudPolicy()):
    ...     print(reason.value, probe.amount, probe.account_age_days, probe.billing_country, probe.country)
    feature_amount 20.0 0 US US
    feature_account_age 500.0 365 US US
    feature_billing_mismatch 500.0 0 NG US
    feature_ip_country_mismatch 500.0 0 US NG
    """
    reference_amount = usual_amount or policy.reference_amount
    reference_age = policy.reference_account_age_days
    out: list[tuple[Reason, FraudInputs]] = []
    if inputs.amount > reference_amount:
        out.append((Reason.FEATURE_AMOUNT, replace(inputs, amount=reference_amount)))
    if inputs.n_items > 1:
        out.append((Reason.FEATURE_ITEMS, replace(inputs, n_items=1)))
    if inputs.account_age_days is None or inputs.account_age_days < reference_age:
        out.append((Reason.FEATURE_ACCOUNT_AGE, replace(inputs, account_age_days=reference_age)))
    ship = inputs.shipping_country
    if inputs.billing_country and ship and inputs.billing_country != ship:
        out.append((Reason.FEATURE_BILLING_MISMATCH, replace(inputs, billing_country=ship)))
    if inputs.country and ship and inputs.country != ship:
        out.append((Reason.FEATURE_IP_COUNTRY_MISMATCH, replace(inputs, country=ship)))
    if not inputs.has_card_hash:
        out.append((Reason.FEATURE_MISSING_CARD_HASH, replace(inputs, has_card_hash=True)))
    if inputs.payment_method != REFERENCE_METHOD:
        out.append((Reason.FEATURE_PAYMENT_METHOD, replace(inputs, payment_method=REFERENCE_METHOD)))
    if inputs.channel != REFERENCE_CHANNEL:
        out.append((Reason.FEATURE_CHANNEL, replace(inputs, channel=REFERENCE_CHANNEL)))
    return out


def top_features(
    score: float, probe_scores: Sequence[tuple[Reason, float]], k: int, min_contribution: float
) -> list[Reason]:
    """The ``k`` groups whose reference value lowers the score most (by at least ``min_contribution``).

    Examples
    --------
    >>> top_features(0.6, [(Reason.FEATURE_AMOUNT, 0.5), (Reason.FEATURE_ACCOUNT_AGE, 0.2),
    ...                    (Reason.FEATURE_CHANNEL, 0.599)], k=2, min_contribution=0.01)
    [<Reason.FEATURE_ACCOUNT_AGE: 'feature_account_age'>, <Reason.FEATURE_AMOUNT: 'feature_amount'>]
    """
    drops = [(round(score - s, CONTRIBUTION_DECIMALS), reason) for reason, s in probe_scores]
    ranked = sorted((d for d in drops if d[0] >= min_contribution), key=lambda d: (-d[0], d[1].value))
    return [reason for _, reason in ranked[:k]]
