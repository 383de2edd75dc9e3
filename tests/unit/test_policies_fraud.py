"""Fraud policy: velocity and order rules, noisy-OR with the model, thresholds per scene and channel, reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from agents.fraud.explain import feature_row, inputs_of, probes, top_features
from agents.fraud.policy import combine_risk, decide_fraud, fallback_action, rule_score, rules_hit, thresholds_for
from agents.profiles.counters import VelocityCounters
from agents.profiles.update import update_profile
from agents.profiles.velocity import order_mark
from agents.tables import MemoryWindowedStore
from schemas.events import EVENT_ADAPTER, Order
from schemas.reasons import Reason
from streams.settings import FraudPolicy, FraudThresholds, ProfilePolicy, SceneRoute, SceneRoutes

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)
KEY = "test-pii-key-0123"
POLICY = FraudPolicy()


def order(n: int, amount: float, at: datetime, card: str = "card-A", ship: str = "US", age: int = 0,
          **fields: Any) -> Order:  # fmt: skip
    return EVENT_ADAPTER.validate_python(
        {"kind": "order", "event_id": f"e{n}", "ts": at.isoformat(), "user_id": "u", "channel": "web",
         "country": "US", "order_id": f"o{n}", "items": [{"product_id": "p", "quantity": 1, "unit_price": amount}],
         "amount": amount, "currency": "USD", "payment": {"method": "card", "card_hash": card},
         "billing_country": "US", "shipping_country": ship, "account_age_days": age, **fields}
    )  # fmt: skip


def hits_after(history: list[Order], current: Order, policy: FraudPolicy = POLICY) -> list[str]:
    """The rules ``current`` hits after ``history``, with velocity from the windowed counters as staging reads it."""
    profiles = ProfilePolicy()
    counters = VelocityCounters(MemoryWindowedStore(), profiles.velocity_bucket_s * 1000)
    profile = velocity = None
    for event in (*history, current):
        after = update_profile(profile, event, categories=(), policy=profiles, pii_key=KEY)
        if isinstance(event, Order):
            velocity, after = counters.order_velocity(profile, after, order_mark(event, KEY), origin=None)
        profile = after
    return [h.value for h in rules_hit(current, velocity, policy)]


def burst() -> tuple[list[Order], Order]:
    prior = [order(n, 20.0, T0 + timedelta(minutes=2 * n)) for n in range(4)]
    return prior, order(4, 400.0, T0 + timedelta(minutes=9), card="card-B", ship="NG")


def test_the_fifth_large_order_in_ten_minutes_on_a_new_card_hits_every_rule() -> None:
    prior, fifth = burst()
    assert hits_after(prior, fifth) == ["velocity_orders_1h", "amount_spike", "new_card",
                                        "new_account_high_amount", "country_mismatch"]  # fmt: skip


def test_the_burst_blocks_even_when_the_model_is_unsure() -> None:
    prior, fifth = burst()
    hits = [Reason(h) for h in hits_after(prior, fifth)]
    assert decide_fraud(combine_risk(0.05, hits, POLICY.rule_weights), POLICY.thresholds) == "block"
    assert decide_fraud(combine_risk(0.0, hits[:2], POLICY.rule_weights), POLICY.thresholds) == "review"


def test_a_returning_customers_ordinary_order_hits_nothing_and_is_allowed() -> None:
    history = [order(n, 30.0 + n, T0 - timedelta(days=30 - n), age=800) for n in range(3)]
    today = order(3, 32.0, T0, age=830)
    assert hits_after(history, today) == []
    assert decide_fraud(combine_risk(0.002, [], POLICY.rule_weights), POLICY.thresholds) == "allow"


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"max_orders_24h": 3}, "velocity_orders_24h"),
        ({"max_cards_24h": 1}, "velocity_cards_24h"),
        ({"max_ship_countries_24h": 1}, "velocity_countries_24h"),
        ({"max_amount_24h": 100.0}, "velocity_amount_24h"),
    ],
)
def test_each_24h_velocity_rule_fires_past_its_setting(changes: dict[str, Any], rule: str) -> None:
    policy = FraudPolicy(**changes)
    prior, fifth = burst()
    assert rule in hits_after(prior, fifth, policy) and rule not in hits_after(prior, fifth)
    assert rule not in hits_after([], order(9, 20.0, T0), policy)


def test_a_prior_chargeback_is_remembered() -> None:
    first = order(1, 20.0, T0, age=300)
    chargeback = EVENT_ADAPTER.validate_python(
        {"kind": "chargeback", "event_id": "cb", "ts": (T0 + timedelta(days=2)).isoformat(), "user_id": "u",
         "channel": "web", "order_id": "o1"}
    )  # fmt: skip
    assert "prior_chargeback" in hits_after([first, chargeback], order(2, 20.0, T0 + timedelta(days=3), age=303))


def test_thresholds_come_from_the_channel_then_the_scene_then_the_defaults() -> None:
    routes = SceneRoutes(checkout=SceneRoute(fraud=FraudThresholds(review_at=0.1, block_at=0.5)))
    assert thresholds_for("web", routes.route("checkout"), POLICY).block_at == 0.5
    assert thresholds_for("web", routes.route("cart"), POLICY) == POLICY.thresholds
    assert thresholds_for("store", routes.route("checkout"), POLICY) == POLICY.by_channel["store"]
    risk = 0.6
    assert [decide_fraud(risk, thresholds_for(ch, routes.route("checkout"), POLICY)) for ch in ("web", "store")] == [
        "block", "review"]  # fmt: skip


def test_degraded_decisions_never_block() -> None:
    prior, fifth = burst()
    hits = [Reason(h) for h in hits_after(prior, fifth)]
    score = rule_score(hits, POLICY.rule_weights)
    assert score > POLICY.fallback_review_at and fallback_action(score, POLICY) == "review"
    assert fallback_action(1.0, POLICY) == "review"


def test_rule_weights_must_name_known_codes() -> None:
    with pytest.raises(ValidationError, match="unknown rule codes"):
        FraudPolicy(rule_weights={"velocity_orders_1h": 0.5, "made_up": 0.1})


def test_explanations_name_the_inputs_that_raise_the_score() -> None:
    _, fifth = burst()
    inputs = inputs_of(fifth)
    probed = probes(inputs, usual_amount=20.0, policy=POLICY)
    assert [r.value for r, _ in probed] == ["feature_amount", "feature_account_age", "feature_billing_mismatch",
                                            "feature_ip_country_mismatch"]  # fmt: skip
    weights = {Reason.FEATURE_AMOUNT: 0.30, Reason.FEATURE_ACCOUNT_AGE: 0.10, Reason.FEATURE_BILLING_MISMATCH: 0.25,
               Reason.FEATURE_IP_COUNTRY_MISMATCH: 0.005}  # fmt: skip
    score = 0.7
    named = top_features(score, [(r, score - weights[r]) for r, _ in probed], k=2, min_contribution=0.01)
    assert named == [Reason.FEATURE_AMOUNT, Reason.FEATURE_BILLING_MISMATCH]
    assert all(len(feature_row(p)) == len(feature_row(inputs)) for _, p in probed)


def test_a_benign_order_needs_no_probes() -> None:
    plain = order(1, 30.0, T0, age=900)
    assert probes(inputs_of(plain), usual_amount=None, policy=POLICY) == []
