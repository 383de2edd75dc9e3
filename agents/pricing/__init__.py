"""Pricing: the margin-maximising price within guardrails."""
